"""Baselines: the seasonal naive forecast and the moving average, batched over series and origins.

Both ignore the signals; every better model has to beat them. Their quantiles are empirical:

- :class:`MovingAverage`: the mean of the last ``window`` days, for every step; its quantiles are
  those of the demands in that window (the empirical distribution of recent demand).
- :class:`SeasonalNaive`: the demand of the same weekday one season (7 days) earlier
  (y_{t+s} = y_{t+s-7k}); its quantiles add to it the empirical quantiles of the seasonal naive
  errors y_tau - y_{tau-7} over the last ``window`` days (Hyndman & Athanasopoulos, Forecasting:
  Principles and Practice, 3rd ed., section 5.5, bootstrapped residuals).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from forecasting.base import LEVELS, Forecast, Forecaster, check_levels, tidy
from forecasting.data import Panel

ORIGIN_BLOCK = 64  # origins per batch: bounds the (n, origins, window) arrays


def _windows(demand: np.ndarray, origins: np.ndarray, window: int) -> np.ndarray:
    """(n, k, window): demand[:, t - window : t] for each origin t, NaN where before period 0."""
    index = origins[:, None] - window + np.arange(window)[None, :]
    values = demand[:, np.maximum(index, 0)]
    values[:, index < 0] = np.nan
    return values


def _quantiles(values: np.ndarray, levels: Sequence[float]) -> np.ndarray:
    """Quantiles over the last axis, moved to the end: (..., Q); NaN-aware only when needed."""
    if np.isnan(values).any():
        with warnings.catch_warnings():  # an all-NaN window (before a launch) gives NaN, made 0 by tidy()
            warnings.simplefilter("ignore", RuntimeWarning)
            result = np.nanquantile(values, levels, axis=-1)
    else:
        result = np.quantile(values, levels, axis=-1)
    return np.moveaxis(result, 0, -1)


class _Baseline(Forecaster):
    """Baselines have nothing to fit: a forecast is a function of the recent demand."""

    saveable = True

    def fit(self, panel: Panel) -> Forecaster:
        return self

    def state(self) -> tuple[dict[str, Any], dict[str, bytes]]:
        return {}, {}

    def restore(self, settings: dict[str, Any], files: dict[str, bytes]) -> None:
        pass

    def predict(self, panel: Panel, horizon: int, levels: Sequence[float] = LEVELS) -> Forecast:
        return self._predict_at_end(panel, horizon, levels)

    def predict_origins(
        self, panel: Panel, origins: Sequence[int], horizon: int, levels: Sequence[float] = LEVELS
    ) -> Forecast:
        levels = check_levels(levels)
        starts = np.asarray(origins, dtype=int)
        means, quantiles = [], []
        for block in range(0, len(starts), ORIGIN_BLOCK):
            mean, quantile = self._forecast(panel.demand, starts[block : block + ORIGIN_BLOCK], horizon, levels)
            means.append(mean)
            quantiles.append(quantile)
        return tidy(np.concatenate(means, axis=1), np.concatenate(quantiles, axis=1), levels)

    def _forecast(
        self, demand: np.ndarray, origins: np.ndarray, horizon: int, levels: tuple[float, ...]
    ) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError


class MovingAverage(_Baseline):
    """The mean of the last ``window`` periods, with the empirical quantiles of that window."""

    def __init__(self, window: int = 28) -> None:
        self.window = window
        self.name = "moving_average"
        self.min_history = 1

    def _forecast(
        self, demand: np.ndarray, origins: np.ndarray, horizon: int, levels: tuple[float, ...]
    ) -> tuple[np.ndarray, np.ndarray]:
        values = _windows(demand, origins, self.window)
        with warnings.catch_warnings():  # all-NaN windows: made 0 by tidy()
            warnings.simplefilter("ignore", RuntimeWarning)
            mean = np.nanmean(values, axis=-1) if np.isnan(values).any() else values.mean(axis=-1)
        quantiles = _quantiles(values, levels)
        return (
            np.repeat(mean[..., None], horizon, axis=-1),
            np.repeat(quantiles[:, :, None, :], horizon, axis=2),
        )


class SeasonalNaive(_Baseline):
    """Last season's demand on the same weekday, with bootstrapped seasonal-naive errors as spread."""

    def __init__(self, season: int = 7, window: int = 56) -> None:
        self.season = season
        self.window = window
        self.name = "seasonal_naive"
        self.min_history = season

    def _forecast(
        self, demand: np.ndarray, origins: np.ndarray, horizon: int, levels: tuple[float, ...]
    ) -> tuple[np.ndarray, np.ndarray]:
        steps = np.arange(horizon)
        back = origins[:, None] - self.season + steps[None, :] % self.season  # (k, h)
        mean = demand[:, np.maximum(back, 0)]
        mean[:, back < 0] = np.nan
        recent = _windows(demand, origins, self.window + self.season)
        errors = recent[..., self.season :] - recent[..., : -self.season]
        spread = _quantiles(errors, levels)  # (n, k, Q)
        return mean, mean[..., None] + spread[:, :, None, :]
