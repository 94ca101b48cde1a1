"""The latest forecast of every SKU of a history, named as a policy observes it (what recommend.py fills in).

A policy that observes forecasts (the forecast-driven order-up-to policy, an agent trained with a
``forecast`` block) reads ``forecast_mean_ahead_k`` and ``forecast_q<level>_ahead_k`` for the
periods from now on. Given a sales history instead of those columns, recommend.py fits the
policy's own forecasting model on the whole history and forecasts the days after it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from envs.errors import UserError
from forecasting import make_forecaster
from forecasting.data import History, read_future, read_history


@dataclass(frozen=True)
class LatestForecasts:
    """Forecast entries per SKU: ``columns[name]`` is an array over ``skus``; ``history`` is what was read."""

    skus: tuple[str, ...]
    columns: dict[str, np.ndarray]
    history: History


def latest_forecasts(
    history_path: str | Path,
    model: str,
    horizon: int,
    levels: Sequence[float],
    known: Sequence[str] = (),
    future_path: str | Path | None = None,
) -> LatestForecasts:
    """Fit ``model`` on the whole history and forecast the ``horizon`` days after it, every SKU.

    Args:
        history_path: the long-format history (sku, date, demand, signals; ``forecasting.data``).
        model: the forecasting model (one of ``forecasting.MODELS``).
        horizon: days ahead.
        levels: quantile levels, as the policy observes them.
        known: the signals known in advance; their values for the days ahead come from ``future_path``.
        future_path: sku, date and the known signals of the days ahead (needed with ``known``).

    Raises:
        UserError: one line, for a bad history or future file, or a missing ``future_path``.
    """
    history = read_history(history_path, known)
    panel = history.panel
    if known and future_path is None:
        raise UserError("--future: needed with --known (the known signals of the days to forecast)")
    if future_path is not None:
        panel = read_future(future_path, panel, horizon)
    forecaster = make_forecaster(model, horizon)
    forecaster.fit(panel.cut(panel.periods))
    forecast = forecaster.predict(panel.cut(panel.periods, horizon), horizon, tuple(levels))
    columns: dict[str, np.ndarray] = {}
    for k in range(horizon):
        columns[f"forecast_mean_ahead_{k}"] = forecast.mean[:, k]
        for q, level in enumerate(levels):
            columns[f"forecast_q{level:g}_ahead_{k}"] = forecast.quantiles[:, k, q]
    return LatestForecasts(tuple(panel.skus), columns, history)
