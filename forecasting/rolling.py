"""Rolling-origin forecasts over simulated demand paths: what order policies will observe.

At every origin t of every path, the forecast of periods t .. t + h - 1 from a forecaster that
saw only demand before t (and known-in-advance signals up to t + h). Refitting at every origin is
too slow, so the forecaster is refitted every ``refit_every`` periods on the data before that
refit origin, and between refits conditions on the newer demand without refitting
(:meth:`Forecaster.predict_origins`). No forecast looks ahead: the one at origin t depends only on
demand before t, observed-only signals before t and known signals before t + h.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from tqdm.auto import tqdm

from forecasting.base import LEVELS, Forecaster, check_levels
from forecasting.data import Panel


@dataclass(frozen=True)
class RollingForecasts:
    """Forecasts at every origin.

    Attributes:
        mean: (n, T, h) forecast means; row t is the forecast made at origin t of periods t .. t + h - 1.
            NaN for origins before ``first_origin``.
        quantiles: (n, T, h, Q) quantile forecasts at ``levels``, NaN where ``mean`` is.
        levels: the Q quantile levels.
        refits: the origins where the forecaster was refitted.
    """

    mean: np.ndarray
    quantiles: np.ndarray
    levels: tuple[float, ...]
    refits: tuple[int, ...]


def rolling_forecasts(
    demand: np.ndarray,
    features: np.ndarray | None,
    feature_names: Sequence[str],
    known: Sequence[str],
    forecaster: Forecaster,
    horizon: int,
    levels: Sequence[float] = LEVELS,
    refit_every: int = 28,
    first_origin: int | None = None,
    start: str = "2024-01-01",
    progress: bool = False,
) -> RollingForecasts:
    """Forecast every path from every origin without look-ahead.

    Args:
        demand: (n, T) demand paths (integers >= 0).
        features: (n, T, F) signals of the paths, or None; known signals past T are taken as
            their value at T - 1.
        feature_names: the F signal names.
        known: which of them are known in advance.
        forecaster: any :class:`~forecasting.base.Forecaster`.
        horizon: h, periods per forecast.
        levels: quantile levels.
        refit_every: k, periods between refits.
        first_origin: the first origin with a forecast (default: 4 weeks, or the forecaster's
            ``min_history`` if longer); earlier rows are NaN.
        start: the calendar date of period 0 (weekday and season features depend on it).
        progress: show a progress bar over refits.

    Returns:
        :class:`RollingForecasts` with means (n, T, h) and quantiles (n, T, h, Q).
    """
    levels = check_levels(levels)
    panel = Panel.from_arrays(demand, features, feature_names, known, start)
    n, periods = panel.demand.shape
    first = max(28, forecaster.min_history) if first_origin is None else first_origin
    if not 1 <= first < periods:
        raise ValueError(f"first origin {first} must be in 1..{periods - 1}")
    mean = np.full((n, periods, horizon), np.nan)
    quantiles = np.full((n, periods, horizon, len(levels)), np.nan)
    refits = tuple(range(first, periods, refit_every))
    for refit in tqdm(refits, desc=f"rolling {forecaster.name}", disable=not progress):
        forecaster.fit(panel.cut(refit))
        origins = list(range(refit, min(refit + refit_every, periods)))
        forecast = forecaster.predict_origins(panel, origins, horizon, levels)
        mean[:, origins] = forecast.mean
        quantiles[:, origins] = forecast.quantiles
    return RollingForecasts(mean, quantiles, levels, refits)
