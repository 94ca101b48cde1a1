"""Rolling-origin evaluation: fit at several cutoffs, forecast the next h days, score by model and demand class.

At each cutoff c (the last ``cutoffs`` origins, ``step`` days apart, the last forecast ending on
the last day of the history) every forecaster is fitted on the days before c and forecasts
c .. c + h - 1; SKUs with fewer than ``min_history`` days before c are left out (all models are
scored on the same SKUs). Each SKU is put in its Syntetos-Boylan class by its history before
the cutoff (:mod:`forecasting.classes`), and scored by :mod:`forecasting.metrics`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from forecasting import metrics
from forecasting.base import LEVELS, Forecaster, check_levels
from forecasting.classes import CLASSES, classify
from forecasting.data import Panel

COLUMNS = (
    "model",
    "class",
    "forecasts",
    "wape",
    "mase",
    "bias",
    "pinball_50",
    "pinball_90",
    "pinball_95",
    "coverage_80",
    "coverage_90",
    "fit_seconds",
)


@dataclass(frozen=True)
class Backtest:
    """Everything a backtest produced.

    Attributes:
        table: accuracy by model and class (``COLUMNS``; class ``all`` for every SKU).
        actual: (k, h) actuals of the k scored (cutoff, SKU) pairs.
        forecasts: model name -> (mean (k, h), quantiles (k, h, Q)).
        rows: (k,) the SKU index of each pair; cutoffs: (k,) its cutoff; classes: (k,) its class.
        levels: the quantile levels.
    """

    table: pd.DataFrame
    actual: np.ndarray
    forecasts: dict[str, tuple[np.ndarray, np.ndarray]]
    rows: np.ndarray
    cutoffs: np.ndarray
    classes: np.ndarray
    levels: tuple[float, ...]


def cutoff_days(periods: int, cutoffs: int, horizon: int, step: int) -> list[int]:
    """The cutoff periods, oldest first; the last one's forecast ends on the last period."""
    days = [periods - horizon - step * (cutoffs - 1 - i) for i in range(cutoffs)]
    if days[0] < 28:
        raise ValueError(f"{cutoffs} cutoffs {step} days apart with horizon {horizon} need more than {periods} days")
    return days


def run_backtest(
    panel: Panel,
    forecasters: Sequence[Forecaster],
    cutoffs: int = 4,
    horizon: int = 14,
    step: int | None = None,
    levels: Sequence[float] = LEVELS,
    min_history: int = 28,
    progress: bool = True,
) -> Backtest:
    """Fit and score every forecaster at every cutoff (see the module docstring)."""
    levels = check_levels(levels)
    for needed in (0.05, 0.1, 0.5, 0.9, 0.95):
        if needed not in levels:
            raise ValueError(f"the backtest scores the quantile {needed}; it must be among the levels")
    days = cutoff_days(panel.periods, cutoffs, horizon, step or horizon)
    launch = panel.first_day()
    actual, rows, cut, classes, scale = [], [], [], [], []
    for day in days:
        eligible = np.flatnonzero(day - launch >= min_history)
        actual.append(panel.demand[eligible, day : day + horizon])
        rows.append(eligible)
        cut.append(np.full(len(eligible), day))
        classes.append(classify(panel.demand[eligible, :day]))
        scale.append(metrics.seasonal_naive_scale(panel.demand[eligible, :day]))
    forecasts: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    seconds: dict[str, float] = {}
    bar = tqdm(total=len(days) * len(forecasters), desc="backtest", disable=not progress)
    for forecaster in forecasters:
        means, quantiles = [], []
        seconds[forecaster.name] = 0.0
        for day, eligible in zip(days, rows, strict=True):
            bar.set_postfix_str(f"{forecaster.name} at {panel.dates(day + 1)[-1].date()}")
            start = pd.Timestamp.now()
            part = panel.select(eligible)
            forecaster.fit(part.cut(day))
            forecast = forecaster.predict(part.cut(day, horizon), horizon, levels)
            seconds[forecaster.name] += (pd.Timestamp.now() - start).total_seconds()
            means.append(forecast.mean)
            quantiles.append(forecast.quantiles)
            bar.update()
        forecasts[forecaster.name] = (np.concatenate(means), np.concatenate(quantiles))
    bar.close()
    result = Backtest(
        pd.DataFrame(),
        np.concatenate(actual),
        forecasts,
        np.concatenate(rows),
        np.concatenate(cut),
        np.concatenate(classes),
        levels,
    )
    table = accuracy_table(result, np.concatenate(scale), seconds)
    return Backtest(
        table, *[getattr(result, f) for f in ("actual", "forecasts", "rows", "cutoffs", "classes", "levels")]
    )


def accuracy_table(result: Backtest, scale: np.ndarray, seconds: dict[str, float]) -> pd.DataFrame:
    """Accuracy by model and class (and ``all``), as in :mod:`forecasting.metrics`."""
    records = []
    for name, (mean, quantiles) in result.forecasts.items():
        for group in ("all", *CLASSES):
            pick = np.ones(len(result.classes), bool) if group == "all" else result.classes == group
            if not pick.any():
                continue
            y, f, q = result.actual[pick], mean[pick], quantiles[pick]

            def at(level: float, q: np.ndarray = q) -> np.ndarray:
                return q[..., result.levels.index(level)]

            records.append(
                {
                    "model": name,
                    "class": group,
                    "forecasts": int(pick.sum()),
                    "wape": metrics.wape(y, f),
                    "mase": metrics.mase(y, f, scale[pick]),
                    "bias": metrics.bias(y, f),
                    "pinball_50": metrics.scaled_pinball(y, at(0.5), 0.5),
                    "pinball_90": metrics.scaled_pinball(y, at(0.9), 0.9),
                    "pinball_95": metrics.scaled_pinball(y, at(0.95), 0.95),
                    "coverage_80": metrics.coverage(y, at(0.1), at(0.9)),
                    "coverage_90": metrics.coverage(y, at(0.05), at(0.95)),
                    "fit_seconds": seconds.get(name, float("nan")),
                }
            )
    return pd.DataFrame.from_records(records, columns=list(COLUMNS))


def markdown(table: pd.DataFrame) -> str:
    """The accuracy table as a Markdown table (3 decimals, seconds as integers)."""
    header = (
        "| "
        + " | ".join(table.columns)
        + " |\n|"
        + "|".join("---" if c in ("model", "class") else "---:" for c in table.columns)
        + "|\n"
    )
    lines = []
    for record in table.itertuples(index=False):
        cells = []
        for column, value in zip(table.columns, record, strict=True):
            if isinstance(value, float):
                cells.append(f"{value:.0f}" if column == "fit_seconds" else f"{value:.3f}")
            else:
                cells.append(str(value))
        lines.append("| " + " | ".join(cells) + " |")
    return header + "\n".join(lines) + "\n"
