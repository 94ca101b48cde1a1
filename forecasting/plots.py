"""Backtest plots: actuals against forecasts with intervals, and accuracy by demand class."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from forecasting.backtest import Backtest
from forecasting.classes import CLASSES
from forecasting.data import Panel

HISTORY_SHOWN = 42


def plot_examples(path: Path, panel: Panel, result: Backtest, model: str) -> None:
    """One SKU per class at the last cutoff: its recent history, the actuals, every model's mean
    and ``model``'s 80% and 90% intervals."""
    last = result.cutoffs == result.cutoffs.max()
    candidates = [np.flatnonzero(last & (result.classes == group)) for group in CLASSES]
    picks = [
        (group, c[np.argmax(result.actual[c].sum(axis=1))])
        for group, c in zip(CLASSES, candidates, strict=True)
        if len(c)
    ]
    figure, axes = plt.subplots(len(picks), 1, figsize=(10, 2.6 * max(1, len(picks))), squeeze=False)
    levels = result.levels
    for axis, (group, k) in zip(axes[:, 0], picks, strict=True):
        row, cutoff = result.rows[k], result.cutoffs[k]
        horizon = result.actual.shape[1]
        past = np.arange(max(0, cutoff - HISTORY_SHOWN), cutoff)
        ahead = np.arange(cutoff, cutoff + horizon)
        axis.plot(past, panel.demand[row, past], color="black", lw=1, label="history")
        axis.plot(ahead, result.actual[k], color="black", lw=1.5, ls="--", marker=".", label="actual")
        quantiles = result.forecasts[model][1]
        for low, high, alpha, width in ((0.05, 0.95, 0.15, "90%"), (0.1, 0.9, 0.25, "80%")):
            lower, upper = quantiles[k, :, levels.index(low)], quantiles[k, :, levels.index(high)]
            axis.fill_between(ahead, lower, upper, alpha=alpha, color="C0", label=f"{model} {width}")
        for i, (name, (means, _)) in enumerate(result.forecasts.items()):
            axis.plot(ahead, means[k], lw=1.2, color=f"C{i}", label=name)
        axis.set_title(f"{panel.skus[row]} ({group})", fontsize=9)
        axis.set_ylabel("demand")
    axes[0, 0].legend(fontsize=7, ncol=4, loc="upper left")
    axes[-1, 0].set_xlabel("day")
    figure.tight_layout()
    figure.savefig(path, format="png", dpi=100)
    plt.close(figure)


def plot_accuracy(path: Path, result: Backtest) -> None:
    """WAPE and 90% interval coverage by class, one bar per model."""
    table = result.table
    models = list(dict.fromkeys(table["model"]))
    groups = [g for g in ("all", *CLASSES) if g in set(table["class"])]
    figure, axes = plt.subplots(1, 2, figsize=(12, 4))
    width = 0.8 / len(models)
    for axis, column, title in (
        (axes[0], "wape", "WAPE (lower is better)"),
        (axes[1], "coverage_90", "90% interval coverage (target 0.9)"),
    ):
        for i, model in enumerate(models):
            part = table[table["model"] == model].set_index("class").reindex(groups)
            axis.bar(np.arange(len(groups)) + i * width, part[column], width, label=model)
        axis.set_xticks(np.arange(len(groups)) + width * (len(models) - 1) / 2, groups)
        axis.set_title(title, fontsize=10)
    axes[1].axhline(0.9, color="black", lw=0.8, ls="--")
    axes[0].legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path, format="png", dpi=100)
    plt.close(figure)
