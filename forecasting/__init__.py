"""Demand forecasting: histories, forecasters, backtests, and forecasts for order policies.

Modules, one job each:

- :mod:`forecasting.data`: read and check a long-format history; the :class:`Panel` of series.
- :mod:`forecasting.synthetic`: realistic synthetic retail histories.
- :mod:`forecasting.classes`: Syntetos-Boylan demand classes.
- :mod:`forecasting.metrics`: WAPE, MASE, bias, pinball loss, coverage.
- :mod:`forecasting.base`: the :class:`Forecaster` protocol and :class:`Forecast`.
- :mod:`forecasting.baselines`, :mod:`forecasting.statistical` (statsforecast),
  :mod:`forecasting.gbm` (LightGBM through mlforecast), :mod:`forecasting.lstm` (torch): forecasters.
- :mod:`forecasting.backtest`, :mod:`forecasting.plots`: rolling-origin evaluation.
- :mod:`forecasting.rolling`: forecasts at every origin of simulated paths, without look-ahead.
- :mod:`forecasting.order_up_to`: order-up-to levels from forecasts.

statsforecast, mlforecast and lightgbm are optional (``pip install -e ".[forecast]"``); the
baselines, the LSTM and everything else work without them.
"""

from __future__ import annotations

from forecasting.base import LEVELS, Forecast, Forecaster
from forecasting.data import Panel, read_history

MODELS = (
    "seasonal_naive",
    "moving_average",
    "auto_ets",
    "auto_arima",
    "croston_sba",
    "tsb",
    "adida",
    "imapa",
    "lightgbm",
    "lstm",
)


def make_forecaster(name: str, horizon: int, n_jobs: int = 1, seed: int = 0) -> Forecaster:
    """A forecaster by name (one of ``MODELS``), built for horizons up to ``horizon``.

    Raises:
        UserError: the model needs an optional package that is not installed.
        ValueError: no such model.
    """
    from forecasting.baselines import MovingAverage, SeasonalNaive

    if name == "seasonal_naive":
        return SeasonalNaive()
    if name == "moving_average":
        return MovingAverage()
    if name == "lightgbm":
        from forecasting.gbm import LightGBMForecaster

        return LightGBMForecaster(horizon=horizon, n_jobs=n_jobs, seed=seed)
    if name == "lstm":
        from forecasting.lstm import LSTMForecaster

        return LSTMForecaster(horizon=horizon, seed=seed)
    from forecasting.statistical import MODELS as STATS_MODELS
    from forecasting.statistical import StatsForecaster

    if name in STATS_MODELS:
        return StatsForecaster(name, horizon=horizon, n_jobs=n_jobs)
    raise ValueError(f"unknown model {name}; choose from {', '.join(MODELS)}")


__all__ = ["LEVELS", "MODELS", "Forecast", "Forecaster", "Panel", "make_forecaster", "read_history"]
