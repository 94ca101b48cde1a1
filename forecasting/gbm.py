"""A global gradient-boosted model over all SKUs: LightGBM through mlforecast, mean and quantiles.

One LightGBM model per output: the mean (Tweedie objective, for counts with many zeros) and one
per quantile level (quantile objective), all trained on every SKU's history at once. Features of
the target day tau (mlforecast's lags, rolling means and date features, plus the signals):

- demand lags H .. H + 6, H + 7 and H + 14 days, and rolling means (7, 28 days) and a rolling
  standard deviation (28 days) of the lag H, where H is the model's horizon;
- weekday, day of year and month;
- known signals at tau, raw and relative to the SKU's mean (:mod:`forecasting.features`);
  observed-only signals H days earlier;
- the SKU's mean demand over the fitted history.

Every demand feature is at least H days old, so the model forecasts each of the next H days
directly, without feeding its own forecasts back (the non-recursive scheme of many top M5
solutions; Makridakis, Spiliotis & Assimakopoulos 2022, "M5 accuracy competition: results,
findings, and conclusions", Int. J. Forecasting 38(4)). The forecast for day tau is then the same
from every origin in tau - H + 1 .. tau, so rolling-origin forecasts cost one prediction per day.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from forecasting.base import LEVELS, Forecast, Forecaster, check_levels, require, tidy
from forecasting.data import Panel
from forecasting.features import relative_signals, series_scale, signal_means

DATE_FEATURES = ("dayofweek", "dayofyear", "month")


class LightGBMForecaster(Forecaster):
    """Global LightGBM models (mean and quantiles) over all SKUs, fitted through mlforecast.

    Args:
        horizon: H, the longest horizon it will be asked for (the shortest demand lag).
        levels: the quantile levels it fits (a forecast may ask for any subset).
        n_estimators, learning_rate, num_leaves: LightGBM settings of every model.
        n_jobs: LightGBM threads.
        seed: seed of LightGBM's bagging and of the row sample.
        max_rows: train on at most this many (SKU, day) rows, drawn at random (None: all); the fit
            time grows with the rows, the accuracy much less.
    """

    def __init__(
        self,
        horizon: int = 14,
        levels: Sequence[float] = LEVELS,
        n_estimators: int = 100,
        learning_rate: float = 0.1,
        num_leaves: int = 31,
        n_jobs: int = 1,
        seed: int = 0,
        max_rows: int | None = None,
    ) -> None:
        require("mlforecast", "lightgbm")
        require("lightgbm", "lightgbm")
        self.name = "lightgbm"
        self.pooled = True
        self.horizon = horizon
        self.levels = check_levels(levels)
        self.params: dict[str, Any] = {
            "n_estimators": n_estimators,
            "learning_rate": learning_rate,
            "num_leaves": num_leaves,
            "min_child_samples": 50,
            "max_bin": 63,
            "subsample": 0.8,
            "subsample_freq": 1,
            "colsample_bytree": 0.8,
            "n_jobs": n_jobs,
            "random_state": seed,
            "verbosity": -1,
        }
        self.max_rows = max_rows
        self.seed = seed
        self.lags = [*range(horizon, horizon + 7), horizon + 7, horizon + 14]
        self.min_history = horizon + 14
        self._models: dict[str, Any] = {}

    saveable = True

    def _engine(self) -> Any:
        from mlforecast import MLForecast
        from mlforecast.lag_transforms import RollingMean, RollingStd

        return MLForecast(
            models=[],
            freq="D",
            lags=self.lags,
            lag_transforms={self.horizon: [RollingMean(7), RollingMean(28), RollingStd(28)]},
            date_features=list(DATE_FEATURES),
        )

    def _features(self, panel: Panel, first: int, end: int) -> tuple[pd.DataFrame, np.ndarray]:
        """mlforecast's features for days first .. end - 1 of every series: (X, y) with y NaN where unknown."""
        lookback = max(0, first - max(self.lags) - 28)
        periods = end - lookback
        demand = np.full((panel.n, periods), np.nan)
        known_demand = panel.demand[:, lookback : min(end, panel.periods)]
        demand[:, : known_demand.shape[1]] = known_demand
        signals = panel.signals[:, lookback:end]
        relative = relative_signals(signals, self._signal_means)
        frame: dict[str, Any] = {
            "unique_id": np.repeat(np.arange(panel.n), periods),
            "ds": np.tile(pd.date_range(panel.start + pd.Timedelta(days=lookback), periods=periods, freq="D"), panel.n),
            # lags never reach a day without demand (H >= every step); 0 there keeps mlforecast content
            "y": np.nan_to_num(demand, nan=0.0).reshape(-1),
            "series_mean": np.repeat(self._scale, periods),
        }
        for j, name in enumerate(panel.signal_names):
            if name in panel.known:
                frame[name] = signals[:, :, j].reshape(-1)
                frame[f"{name}_relative"] = relative[:, :, j].reshape(-1)
            else:
                shifted = np.full((panel.n, periods), np.nan)
                shifted[:, self.horizon :] = panel.signals[:, lookback : end - self.horizon, j]
                frame[f"{name}_lag{self.horizon}"] = shifted.reshape(-1)
        table = pd.DataFrame(frame)
        features = self._engine().preprocess(table, static_features=[], dropna=False)
        keep = (features["ds"] >= panel.start + pd.Timedelta(days=first)).to_numpy()
        target = demand.reshape(-1)[keep]
        return features.loc[keep].drop(columns=["unique_id", "ds", "y"]).reset_index(drop=True), target

    def fit(self, panel: Panel) -> LightGBMForecaster:
        from lightgbm import LGBMRegressor

        self._scale = series_scale(panel)
        self._signal_means = signal_means(panel)
        features, target = self._features(panel, 0, panel.periods)
        rows = np.flatnonzero(~np.isnan(target))
        if self.max_rows is not None and len(rows) > self.max_rows:
            rows = np.sort(np.random.default_rng(self.seed).choice(rows, self.max_rows, replace=False))
        features, target = features.iloc[rows], target[rows]
        self._models = {"mean": LGBMRegressor(objective="tweedie", tweedie_variance_power=1.2, **self.params)}
        for level in self.levels:
            self._models[str(level)] = LGBMRegressor(objective="quantile", alpha=level, **self.params)
        for model in self._models.values():
            model.fit(features, target)
        return self

    def state(self) -> tuple[dict[str, Any], dict[str, bytes]]:
        settings = {"scale": self._scale.tolist(), "signal_means": self._signal_means.tolist()}
        files = {f"{name}.txt": model.booster_.model_to_string().encode() for name, model in self._models.items()}
        return settings, files

    def restore(self, settings: dict[str, Any], files: dict[str, bytes]) -> None:
        from lightgbm import Booster

        self._scale = np.array(settings["scale"], dtype=float)
        self._signal_means = np.array(settings["signal_means"], dtype=float)
        names = ["mean", *(str(level) for level in self.levels)]
        self._models = {name: Booster(model_str=files[f"{name}.txt"].decode()) for name in names}

    def _predict_days(self, panel: Panel, first: int, end: int) -> dict[str, np.ndarray]:
        features, _ = self._features(panel, first, end)
        return {name: model.predict(features).reshape(panel.n, end - first) for name, model in self._models.items()}

    def _check(self, horizon: int, levels: Sequence[float]) -> tuple[float, ...]:
        levels = check_levels(levels)
        if horizon > self.horizon:
            raise ValueError(f"{self.name} was built for horizons up to {self.horizon}, asked for {horizon}")
        missing = set(levels) - set(self.levels)
        if missing:
            raise ValueError(f"{self.name} was fitted for levels {self.levels}, asked for {sorted(missing)}")
        return levels

    def predict(self, panel: Panel, horizon: int, levels: Sequence[float] = LEVELS) -> Forecast:
        levels = self._check(horizon, levels)
        days = self._predict_days(panel, panel.periods, panel.periods + horizon)
        quantiles = np.stack([days[str(level)] for level in levels], axis=-1)
        return tidy(days["mean"], quantiles, levels)

    def predict_origins(
        self, panel: Panel, origins: Sequence[int], horizon: int, levels: Sequence[float] = LEVELS
    ) -> Forecast:
        levels = self._check(horizon, levels)
        starts = np.asarray(origins, dtype=int)
        first, end = int(starts.min()), int(starts.max()) + horizon
        # each day's features are >= H days old: demand after an origin never enters its forecast
        masked = panel.cut(min(end, panel.periods), end - min(end, panel.periods))
        days = self._predict_days(masked, first, end)
        index = (starts - first)[:, None] + np.arange(horizon)[None, :]
        quantiles = np.stack([days[str(level)][:, index] for level in levels], axis=-1)
        return tidy(days["mean"][:, index], quantiles, levels)
