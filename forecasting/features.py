"""Features the global models (LightGBM, LSTM) share: calendar, and signals made comparable across SKUs.

A global model learns from all SKUs at once, so a signal's level must mean the same for each:
every signal also enters as its ratio to the SKU's own mean over the fitted history (a price
of 0.8 means 20% below the usual price of that SKU, whatever the currency amount), when that
mean is positive.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from forecasting.data import Panel


def calendar(dates: pd.DatetimeIndex) -> tuple[np.ndarray, tuple[str, ...]]:
    """(T, 4) weekday and day-of-year as points on the unit circle, and their names."""
    week = 2 * np.pi * dates.dayofweek.to_numpy() / 7
    year = 2 * np.pi * (dates.dayofyear.to_numpy() - 1) / 365.25
    return np.stack([np.sin(week), np.cos(week), np.sin(year), np.cos(year)], axis=1), (
        "week_sin",
        "week_cos",
        "year_sin",
        "year_cos",
    )


def signal_means(panel: Panel) -> np.ndarray:
    """(n, F) each series' mean of each signal over its observed demand periods (0 where none)."""
    observed = ~np.isnan(panel.demand)
    values = np.where(observed[:, :, None], panel.signals[:, : panel.periods], 0.0)
    count = np.maximum(observed.sum(axis=1), 1)[:, None]
    return values.sum(axis=1) / count


def relative_signals(signals: np.ndarray, means: np.ndarray) -> np.ndarray:
    """(n, T, F) signals divided by their series mean where that mean is positive, else unchanged."""
    positive = means > 0
    return np.where(positive[:, None, :], signals / np.where(positive, means, 1.0)[:, None, :], signals)


def series_scale(panel: Panel) -> np.ndarray:
    """(n,) each series' mean demand over its history, at least 0.1 (so that scaled demand stays finite)."""
    observed = ~np.isnan(panel.demand)  # a new item has no demand before its first day
    total = np.where(observed, panel.demand, 0.0).sum(axis=1)
    mean = total / np.maximum(observed.sum(axis=1), 1)
    return np.maximum(mean, 0.1)
