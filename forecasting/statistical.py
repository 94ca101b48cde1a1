"""Statistical models per series, fast over thousands of series: statsforecast.

- ``auto_ets``: AutoETS with a weekly season (Hyndman et al. 2008), its own prediction intervals;
- ``auto_arima``: AutoARIMA with a weekly season and the known signals as exogenous regressors
  (Hyndman & Khandakar 2008), its own prediction intervals; where it cannot be fitted (collinear
  regressors, e.g. a price that changes only on promotion days) AutoETS is used instead;
- ``croston_sba``, ``tsb``, ``adida``, ``imapa``: the intermittent-demand methods (Syntetos &
  Boylan 2005; Teunter, Syntetos & Babai 2011; Nikolopoulos et al. 2011; Petropoulos &
  Kourentzes 2015), which have no native intervals: statsforecast's conformal intervals
  (``ConformalIntervals``, from the errors of refits on the last windows of each series).

Quantiles come from the central intervals: level q > 0.5 is the upper end of the 2q - 1
interval, q < 0.5 the lower end of the 1 - 2q one, and 0.5 the point forecast (these intervals
are symmetric around it). A series too short for a model (a new item) gets the moving-average
forecast instead (:class:`~forecasting.baselines.MovingAverage`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from forecasting.base import LEVELS, Forecast, Forecaster, check_levels, require, tidy
from forecasting.baselines import MovingAverage
from forecasting.data import Panel

MODELS = ("auto_ets", "auto_arima", "croston_sba", "tsb", "adida", "imapa")
SEASON = 7


def _interval(level: float) -> int:
    """The central interval (in percent) whose end is the ``level`` quantile."""
    return round(100 * abs(2 * level - 1))


class StatsForecaster(Forecaster):
    """One statsforecast model over every series.

    Args:
        model: one of ``MODELS``.
        horizon: the longest horizon it will be asked for (sizes the conformal windows).
        n_jobs: processes statsforecast uses.
        max_history: ETS and ARIMA are fitted on the last ``max_history`` days of each series only
            (their cost grows with the length; a year holds every weekly pattern).
        conformal_windows: windows of ``horizon`` days whose errors make the conformal intervals of
            the intermittent methods (2 covered 64% instead of 90% on the synthetic history, 10 covered 83%).
    """

    def __init__(
        self, model: str, horizon: int = 14, n_jobs: int = 1, max_history: int = 364, conformal_windows: int = 10
    ) -> None:
        if model not in MODELS:
            raise ValueError(f"unknown statsforecast model {model}; choose from {', '.join(MODELS)}")
        require("statsforecast", model)
        self.name = model
        self.horizon = horizon
        self.n_jobs = n_jobs
        self.conformal_windows = conformal_windows
        # conformal intervals refit on the last windows; ETS and ARIMA want a few seasons
        conformal = model not in ("auto_ets", "auto_arima")
        self.min_history = max(8 * SEASON, (self.conformal_windows + 1) * horizon + SEASON if conformal else 0)
        self.max_history = max_history
        self._fallback = MovingAverage()

    def _model(self) -> Any:
        from statsforecast import models
        from statsforecast.utils import ConformalIntervals

        conformal = ConformalIntervals(h=self.horizon, n_windows=self.conformal_windows)
        return {
            "auto_ets": lambda: models.AutoETS(season_length=SEASON, model="ZNZ", alias="model"),
            "auto_arima": lambda: models.AutoARIMA(
                season_length=SEASON, max_p=2, max_q=2, max_P=1, max_Q=1, approximation=True, alias="model"
            ),
            "croston_sba": lambda: models.CrostonSBA(prediction_intervals=conformal, alias="model"),
            "tsb": lambda: models.TSB(alpha_d=0.1, alpha_p=0.1, prediction_intervals=conformal, alias="model"),
            "adida": lambda: models.ADIDA(prediction_intervals=conformal, alias="model"),
            "imapa": lambda: models.IMAPA(prediction_intervals=conformal, alias="model"),
        }[self.name]()

    def _fallback_model(self) -> Any:
        """Where ARIMA cannot be fitted (collinear regressors: a price that changes only on promotion days), ETS."""
        from statsforecast import models

        return models.AutoETS(season_length=SEASON, model="ZNZ") if self.name == "auto_arima" else None

    def _exogenous(self, panel: Panel) -> list[int]:
        """Signals used as regressors: the known ones, for ARIMA only."""
        if self.name != "auto_arima":
            return []
        return [j for j, name in enumerate(panel.signal_names) if name in panel.known]

    def _frame(self, panel: Panel, rows: np.ndarray, first: int, end: int, with_target: bool) -> pd.DataFrame:
        """Long frame (unique_id, ds, [y], exogenous...) of ``rows`` over days first .. end - 1 (from each launch)."""
        dates = panel.dates(end)
        launch = panel.first_day()[rows]
        frames = []
        for row, start in zip(rows, np.maximum(launch, first), strict=True):
            part: dict[str, Any] = {"unique_id": row, "ds": dates[start:end]}
            if with_target:
                part["y"] = panel.demand[row, start:end]
            for j in self._exogenous(panel):
                part[f"x{j}"] = panel.signals[row, start:end, j]
            frames.append(pd.DataFrame(part))
        return pd.concat(frames, ignore_index=True)

    def fit(self, panel: Panel) -> StatsForecaster:
        from statsforecast import StatsForecast

        self._fallback.fit(panel)
        history = panel.periods - panel.first_day()
        self._rows = np.flatnonzero(history >= self.min_history)
        self._fitted_periods = panel.periods
        self._engine = StatsForecast(
            models=[self._model()], freq="D", n_jobs=self.n_jobs, fallback_model=self._fallback_model()
        )
        if len(self._rows):
            frame = self._frame(panel, self._rows, self._first(panel), panel.periods, with_target=True)
            self._drop_constant_regressors(frame)
            self._engine.fit(frame)
        return self

    def _drop_constant_regressors(self, frame: pd.DataFrame) -> None:
        """ARIMA cannot estimate a regressor that never changes in a series (e.g. no promotion yet): set to 0 there."""
        for column in [c for c in frame.columns if c.startswith("x")]:
            constant = frame.groupby("unique_id")[column].transform("nunique") <= 1
            frame.loc[constant, column] = 0.0
        self._constant = {
            column: frame.groupby("unique_id")[column].nunique().le(1) for column in frame.columns if column[0] == "x"
        }

    def predict(self, panel: Panel, horizon: int, levels: Sequence[float] = LEVELS) -> Forecast:
        levels = check_levels(levels)
        if horizon > self.horizon:
            raise ValueError(f"{self.name} was built for horizons up to {self.horizon}, asked for {horizon}")
        forecast = self._fallback.predict(panel, horizon, levels)
        mean, quantiles = forecast.mean.copy(), forecast.quantiles.copy()
        if not len(self._rows):
            return forecast
        intervals = sorted({_interval(level) for level in levels if level != 0.5})
        if panel.periods == self._fitted_periods:
            result = self._engine.predict(h=horizon, X_df=self._future(panel, horizon), level=intervals or None)
        elif self.name == "auto_ets":
            result = self._forward(panel, horizon, intervals)
        else:  # the intermittent methods have no forward (and refit as fast); ARIMA's drops regressors
            frame = self._frame(panel, self._rows, self._first(panel), panel.periods, with_target=True)
            self._drop_constant_regressors(frame)
            future = self._future(panel, horizon)
            result = self._engine.forecast(h=horizon, df=frame, X_df=future, level=intervals or None)
        result = result.sort_values(["unique_id", "ds"])
        point = result["model"].to_numpy().reshape(len(self._rows), horizon)
        mean[self._rows] = point
        for q, level in enumerate(levels):
            if level == 0.5:
                quantiles[self._rows, :, q] = point
            else:
                side = "hi" if level > 0.5 else "lo"
                column = f"model-{side}-{_interval(level)}"
                quantiles[self._rows, :, q] = result[column].to_numpy().reshape(len(self._rows), horizon)
        return tidy(mean, quantiles, levels)

    def _future(self, panel: Panel, horizon: int) -> pd.DataFrame | None:
        """The regressors' future values (ARIMA), with the columns zeroed at fit zeroed again."""
        if not self._exogenous(panel):
            return None
        future = self._frame(panel, self._rows, panel.periods, panel.periods + horizon, with_target=False)
        for column, constant in self._constant.items():
            future.loc[future["unique_id"].map(constant).to_numpy(), column] = 0.0
        return future

    def _first(self, panel: Panel) -> int:
        """The first day a model fits on: ETS and ARIMA see the last ``max_history`` days only (for speed)."""
        if self.name in ("auto_ets", "auto_arima"):
            return max(0, panel.periods - self.max_history)
        return 0

    def _forward(self, panel: Panel, horizon: int, intervals: list[int]) -> pd.DataFrame:
        """Apply each series' fitted model to its longer history without refitting (statsforecast's forward)."""
        start = np.maximum(panel.first_day(), self._first(panel))
        parts = []
        for k, row in enumerate(self._rows):
            model = self._engine.fitted_[k, 0]
            result = model.forward(y=panel.demand[row, start[row] :], h=horizon, level=intervals or None)
            part = {"unique_id": row, "ds": np.arange(horizon), "model": result["mean"]}
            for interval in intervals:
                part[f"model-lo-{interval}"] = result[f"lo-{interval}"]
                part[f"model-hi-{interval}"] = result[f"hi-{interval}"]
            parts.append(pd.DataFrame(part))
        return pd.concat(parts, ignore_index=True)
