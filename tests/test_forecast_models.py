"""Forecasters, rolling forecasts without look-ahead, and forecast-driven order-up-to levels."""

from __future__ import annotations

import importlib.util
from typing import Any

import numpy as np
import pytest
from scipy import stats

from envs.errors import UserError
from forecasting import make_forecaster
from forecasting.baselines import MovingAverage, SeasonalNaive
from forecasting.data import Panel
from forecasting.order_up_to import critical_fractile, order_up_to_levels, variance_from_quantiles
from forecasting.rolling import rolling_forecasts

NAMES = ("price", "promotion", "temperature")
KNOWN = ("price", "promotion")
LEVELS = (0.05, 0.1, 0.5, 0.9, 0.95)


def paths(n: int = 30, periods: int = 140, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Weekly-seasonal Poisson paths whose mean doubles on promotion days, with a price and a temperature."""
    rng = np.random.default_rng(seed)
    promotion = (rng.random((n, periods)) < 0.1).astype(float)
    price = np.where(promotion == 1, 0.8, 1.0)
    temperature = rng.normal(15, 5, (n, periods))
    weekly = 1 + 0.4 * np.sin(2 * np.pi * np.arange(periods) / 7)
    demand = rng.poisson(5 * weekly * (1 + promotion))
    return demand, np.stack([price, promotion, temperature], axis=-1)


def test_baselines_by_hand():
    demand = np.array([[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14]], dtype=float)
    panel = Panel.from_arrays(demand)
    naive = SeasonalNaive(window=7).fit(panel).predict(panel, 9, (0.5,))
    np.testing.assert_array_equal(naive.mean[0], [8, 9, 10, 11, 12, 13, 14, 8, 9])
    np.testing.assert_array_equal(naive.quantiles[0, :, 0], naive.mean[0] + 7)  # every seasonal error is 7
    average = MovingAverage(window=4).fit(panel).predict(panel, 2, (0.5, 0.95))
    np.testing.assert_allclose(average.mean[0], [12.5, 12.5])
    np.testing.assert_allclose(average.quantiles[0, 0], np.quantile([11, 12, 13, 14], [0.5, 0.95]))


def forecaster_cases() -> list:
    cases = [pytest.param("seasonal_naive", id="seasonal_naive"), pytest.param("moving_average", id="moving_average")]
    forecast_extra = all(importlib.util.find_spec(m) is not None for m in ("statsforecast", "mlforecast", "lightgbm"))
    skip = pytest.mark.skipif(not forecast_extra, reason='needs pip install -e ".[forecast]"')
    cases.append(pytest.param("lightgbm", marks=[skip, pytest.mark.slow], id="lightgbm"))
    cases.append(pytest.param("tsb", marks=[skip, pytest.mark.slow], id="tsb"))
    cases.append(pytest.param("auto_ets", marks=[skip, pytest.mark.slow], id="auto_ets"))
    cases.append(pytest.param("lstm", marks=pytest.mark.slow, id="lstm"))
    return cases


def small(name: str, horizon: int) -> Any:
    forecaster: Any = make_forecaster(name, horizon)
    if name == "lightgbm":
        forecaster.params.update(n_estimators=20)
    if name == "lstm":
        forecaster.epochs, forecaster.samples_per_epoch = 1, 2_000
    return forecaster


@pytest.mark.parametrize("name", forecaster_cases())
def test_rolling_forecasts_never_look_ahead(name):
    """Changing demand at or after t, observed signals at or after t and known signals at or
    after t + h leaves the forecast made at origin t unchanged; changing earlier demand does not."""
    demand, features = paths()
    horizon, t = 3, 100
    run = {"horizon": horizon, "levels": LEVELS, "refit_every": 14, "first_origin": 56}
    base = rolling_forecasts(demand, features, NAMES, KNOWN, small(name, horizon), **run)
    later_demand, later_features = demand.copy(), features.copy()
    rng = np.random.default_rng(1)
    later_demand[:, t:] = rng.poisson(50, later_demand[:, t:].shape)
    later_features[:, t:, 2] += 30  # temperature, observed only
    later_features[:, t + horizon :, :2] = rng.random(later_features[:, t + horizon :, :2].shape)
    changed = rolling_forecasts(later_demand, later_features, NAMES, KNOWN, small(name, horizon), **run)
    assert base.mean.shape == (30, 140, horizon) and base.quantiles.shape == (30, 140, horizon, len(LEVELS))
    assert np.isnan(base.mean[:, :56]).all() and np.isfinite(base.mean[:, 56:]).all()
    np.testing.assert_array_equal(changed.mean[:, : t + 1], base.mean[:, : t + 1])
    np.testing.assert_array_equal(changed.quantiles[:, : t + 1], base.quantiles[:, : t + 1])
    assert not np.allclose(changed.mean[:, t + 1 :], base.mean[:, t + 1 :])
    assert (np.diff(base.quantiles[:, 56:], axis=-1) >= 0).all()


@pytest.mark.slow
def test_lightgbm_batched_origins_equal_one_forecast_at_a_time():
    pytest.importorskip("mlforecast")
    demand, features = paths(n=20, periods=120)
    panel = Panel.from_arrays(demand, features, NAMES, KNOWN)
    forecaster = small("lightgbm", 4).fit(panel.cut(80))
    batched = forecaster.predict_origins(panel, [80, 85, 90], 4, LEVELS)
    for k, t in enumerate([80, 85, 90]):
        single = forecaster.predict(panel.cut(t, 4), 4, LEVELS)
        np.testing.assert_allclose(batched.mean[:, k], single.mean, rtol=1e-9)
        np.testing.assert_allclose(batched.quantiles[:, k], single.quantiles, rtol=1e-9)


@pytest.mark.slow
def test_lightgbm_learns_promotions_and_beats_the_moving_average():
    pytest.importorskip("mlforecast")
    demand, features = paths(n=60, periods=300)
    panel = Panel.from_arrays(demand, features, NAMES, KNOWN)
    gbm = make_forecaster("lightgbm", 7).fit(panel.cut(280))
    forecast = gbm.predict(panel.cut(280, 7), 7, LEVELS)
    actual = demand[:, 280:287]
    promoted = features[:, 280:287, 1] == 1
    assert forecast.mean[promoted].mean() > 1.5 * forecast.mean[~promoted].mean()
    average = MovingAverage().predict(panel.cut(280, 7), 7, LEVELS)
    assert np.abs(forecast.mean - actual).sum() < 0.9 * np.abs(average.mean - actual).sum()


@pytest.mark.slow
def test_statsforecast_models_give_quantiles_and_fall_back_on_short_series():
    pytest.importorskip("statsforecast")
    demand, features = paths(n=6, periods=120)
    demand = demand.astype(float)
    demand[0, :100] = np.nan  # a new item: 20 days of history
    panel = Panel.from_arrays(demand, features, NAMES, KNOWN)
    for name in ("auto_ets", "croston_sba", "auto_arima"):
        forecaster = make_forecaster(name, 7).fit(panel.cut(113))
        forecast = forecaster.predict(panel.cut(113, 7), 7, LEVELS)
        assert forecast.mean.shape == (6, 7) and np.isfinite(forecast.quantiles).all()
        assert (forecast.quantile(0.95) >= forecast.quantile(0.5)).all()
        fallback = MovingAverage().predict(panel.select([0]).cut(113, 7), 7, LEVELS)
        np.testing.assert_allclose(forecast.mean[0], fallback.mean[0])


def test_a_model_without_its_package_is_one_line(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "statsforecast" else real(name))
    with pytest.raises(UserError, match=r'pip install -e "\.\[forecast\]"'):
        make_forecaster("auto_ets", 7)


def test_order_up_to_level_is_the_poisson_quantile_of_the_protection_interval():
    """Poisson demand with mean 5 and lead time 2: S is the Poisson(15) quantile at p / (p + h)."""
    fractile = critical_fractile(holding_cost=1.0, shortage_cost=9.0)
    assert fractile == pytest.approx(0.9)
    means = np.full((4, 3), 5.0)
    levels = order_up_to_levels(means, means.copy(), fractile)
    assert levels.tolist() == [int(stats.poisson.ppf(0.9, 15))] * 4 == [20] * 4
    # summing per-period 0.9 quantiles would give 3 * 8 = 24: much too high
    assert 3 * stats.poisson.ppf(0.9, 5) == 24


def test_order_up_to_level_negative_binomial_and_normal_by_hand():
    means = np.array([[2.0, 3.0], [0.0, 0.0]])
    variances = np.array([[6.0, 9.0], [0.0, 1.0]])
    levels = order_up_to_levels(means, variances, 0.95)
    mu, var = 5.0, 15.0
    r, p = mu**2 / (var - mu), mu / var
    assert levels[0] == stats.nbinom.ppf(0.95, r, p) and levels[1] == 0
    normal = order_up_to_levels(means, variances, 0.95, distribution="normal")
    assert normal[0] == int(np.ceil(5 + stats.norm.ppf(0.95) * np.sqrt(15)))


def test_variance_from_quantiles_recovers_a_normal_spread_and_floors_at_poisson():
    mean = np.array([50.0, 4.0])
    sigma = np.array([10.0, 0.5])
    quantiles = mean[:, None] + sigma[:, None] * stats.norm.ppf(LEVELS)[None, :]
    variance = variance_from_quantiles(mean, quantiles, LEVELS)
    np.testing.assert_allclose(variance, [100.0, 4.0])  # the second is floored at its mean
