"""The one protocol every forecaster meets, and what a forecast is.

A forecaster is fitted on a :class:`~forecasting.data.Panel` cut at an origin (demand before it,
known signals as far as they go) and then predicts the ``horizon`` periods after the end of the
panel it is given, which may be longer than the one it was fitted on: it then conditions on the
newer demand without refitting (the lags of a boosted model, the state of an exponential
smoothing model, the window of a moving average). That is what makes rolling-origin forecasts
cheap (:func:`forecasting.rolling.rolling_forecasts`).
"""

from __future__ import annotations

import importlib.util
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from envs.errors import UserError
from forecasting.data import Panel

LEVELS = (0.05, 0.1, 0.5, 0.9, 0.95)
"""Default quantile levels: the median, 0.9 and 0.95, and the lower ends of the central 80% and 90% intervals."""


@dataclass(frozen=True)
class Forecast:
    """Forecasts of n series for h periods.

    Attributes:
        mean: (n, h) expected demand.
        quantiles: (n, h, Q) quantiles at ``levels``, non-decreasing along the last axis, >= 0.
        levels: the Q quantile levels, increasing.
    """

    mean: np.ndarray
    quantiles: np.ndarray
    levels: tuple[float, ...]

    def quantile(self, level: float) -> np.ndarray:
        """(n, h) the quantile at ``level`` (one of ``levels``)."""
        return self.quantiles[..., self.levels.index(level)]


def check_levels(levels: Sequence[float]) -> tuple[float, ...]:
    levels = tuple(float(level) for level in levels)
    if not levels or any(not 0 < level < 1 for level in levels) or list(levels) != sorted(set(levels)):
        raise ValueError(f"quantile levels must be increasing and inside (0, 1), got {levels}")
    return levels


def tidy(mean: np.ndarray, quantiles: np.ndarray, levels: Sequence[float]) -> Forecast:
    """A :class:`Forecast` with demand's constraints applied: nothing below zero, quantiles sorted."""
    mean = np.maximum(np.nan_to_num(mean, nan=0.0), 0.0)
    quantiles = np.sort(np.maximum(np.nan_to_num(quantiles, nan=0.0), 0.0), axis=-1)
    return Forecast(mean, quantiles, tuple(levels))


class Forecaster(ABC):
    """Fit on history up to a cutoff; predict mean and quantiles for the next periods.

    Attributes:
        name: how the model is called in tables and files.
        min_history: periods of history a series needs before the first fit.
        saveable: whether :meth:`state` can save it (in a format that loads without running code).
        pooled: whether one model is fitted across all series (a global model), so that the
            forecast of a series depends on the others it is fitted with.
    """

    name: str = "forecaster"
    min_history: int = 14
    saveable: bool = False
    pooled: bool = False

    @abstractmethod
    def fit(self, panel: Panel) -> Forecaster:
        """Fit on the whole of ``panel`` (its demand is the history before the cutoff). Returns self."""

    @abstractmethod
    def predict(self, panel: Panel, horizon: int, levels: Sequence[float] = LEVELS) -> Forecast:
        """Forecast the ``horizon`` periods after the end of ``panel.demand``.

        Args:
            panel: the same series as in :meth:`fit`, with demand up to the forecast origin (at
                least as long as the fitted history) and known signals until origin + horizon.
            horizon: periods ahead, h >= 1.
            levels: quantile levels, increasing, in (0, 1).
        """

    def check_saveable(self) -> None:
        """Raise a one-line :class:`UserError` if this forecaster cannot be saved."""
        if not self.saveable:
            raise UserError(
                f"model {self.name} cannot be saved without pickle; use predict --model {self.name}, "
                "which fits and forecasts in one step"
            )

    def state(self) -> tuple[dict[str, Any], dict[str, bytes]]:
        """What :meth:`restore` needs to forecast again without refitting: JSON settings and data files.

        Only formats that load without running code (JSON, LightGBM's text models, tensors read
        with ``torch.load(weights_only=True)``). Forecasters without one refuse.

        Raises:
            UserError: this forecaster has no safe saved form.
        """
        self.check_saveable()
        raise NotImplementedError

    def restore(self, settings: dict[str, Any], files: dict[str, bytes]) -> None:
        """Load what :meth:`state` returned (the fitted state of the same series, in the same order)."""
        raise UserError(f"model {self.name} cannot be loaded")

    def _predict_at_end(self, panel: Panel, horizon: int, levels: Sequence[float]) -> Forecast:
        """:meth:`predict` by :meth:`predict_origins`, for forecasters whose batched computation is that one."""
        forecast = self.predict_origins(panel, [panel.periods], horizon, levels)
        return Forecast(forecast.mean[:, 0], forecast.quantiles[:, 0], forecast.levels)

    def predict_origins(
        self, panel: Panel, origins: Sequence[int], horizon: int, levels: Sequence[float] = LEVELS
    ) -> Forecast:
        """Forecasts made at each of ``origins`` from the fitted model: mean (n, k, h), quantiles (n, k, h, Q).

        The forecast at origin t sees ``panel.cut(t, horizon)`` only. Subclasses replace this loop
        by one batched computation where they can.
        """
        forecasts = [self.predict(panel.cut(t, horizon), horizon, levels) for t in origins]
        return Forecast(
            np.stack([f.mean for f in forecasts], axis=1),
            np.stack([f.quantiles for f in forecasts], axis=1),
            tuple(levels),
        )


def require(module: str, model: str) -> None:
    """Raise a one-line :class:`UserError` if the optional ``module`` needed by ``model`` is missing."""
    if importlib.util.find_spec(module) is None:
        raise UserError(f'model {model} needs {module}, which is not installed: pip install -e ".[forecast]"')
