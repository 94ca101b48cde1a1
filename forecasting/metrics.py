"""Forecast accuracy: WAPE, MASE, bias, pinball loss and interval coverage.

Definitions (REFERENCE.md, "Forecast accuracy metrics"; Hyndman & Koehler 2006 for MASE;
Koenker & Bassett 1978 for the pinball, or quantile, loss):

- WAPE = sum |y - f| / sum y, over every SKU, origin and step of a group;
- bias = sum (f - y) / sum y (positive: forecasts too high);
- MASE of one forecast = mean |y - f| over its steps / the in-sample mean absolute error of the
  seasonal naive forecast (y_t - y_{t-m}, m = 7 for daily data) on the history before its
  origin; a group's MASE is the mean over its forecasts (forecasts with a zero scale left out);
- pinball loss at level q: max(q (y - f_q), (q - 1)(y - f_q)), summed and divided by sum y,
  so that it reads like WAPE (the pinball loss at 0.5 is half the absolute error of the median);
- coverage of the central interval of level c (f_{(1-c)/2} .. f_{(1+c)/2}): the share of actuals
  inside it, ends included; well calibrated when close to c.
"""

from __future__ import annotations

import numpy as np

SEASON = 7


def pinball(actual: np.ndarray, quantile: np.ndarray, level: float) -> np.ndarray:
    """Elementwise pinball loss of the ``level`` quantile forecast."""
    error = actual - quantile
    return np.maximum(level * error, (level - 1) * error)


def seasonal_naive_scale(history: np.ndarray, season: int = SEASON) -> np.ndarray:
    """(n,) in-sample mean absolute error of the seasonal naive forecast, NaN (before launch) left out."""
    history = np.atleast_2d(history)
    error = np.abs(history[:, season:] - history[:, :-season])
    with np.errstate(invalid="ignore"):
        return np.nanmean(error, axis=1) if error.shape[1] else np.full(history.shape[0], np.nan)


def wape(actual: np.ndarray, forecast: np.ndarray) -> float:
    total = float(np.sum(actual))
    return float(np.sum(np.abs(actual - forecast)) / total) if total > 0 else float("nan")


def bias(actual: np.ndarray, forecast: np.ndarray) -> float:
    total = float(np.sum(actual))
    return float(np.sum(forecast - actual) / total) if total > 0 else float("nan")


def mase(actual: np.ndarray, forecast: np.ndarray, scale: np.ndarray) -> float:
    """Mean over forecasts (rows of ``actual``, (k, h)) of their MAE over ``scale`` (k,); zero scales left out."""
    usable = np.isfinite(scale) & (scale > 0)
    if not usable.any():
        return float("nan")
    return float(np.mean(np.abs(actual - forecast)[usable].mean(axis=1) / scale[usable]))


def scaled_pinball(actual: np.ndarray, quantile: np.ndarray, level: float) -> float:
    total = float(np.sum(actual))
    return float(np.sum(pinball(actual, quantile, level)) / total) if total > 0 else float("nan")


def coverage(actual: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> float:
    return float(np.mean((actual >= lower) & (actual <= upper)))
