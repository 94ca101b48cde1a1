"""Demand processes: moments, pmfs, seasonality and promotions, history replay."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pydantic import TypeAdapter
from scipy import stats

from envs.demand import DemandConfig
from envs.scenario import load_scenario

ADAPTER: TypeAdapter[DemandConfig] = TypeAdapter(DemandConfig)


@pytest.mark.parametrize(
    ("config", "mean", "variance"),
    [
        ({"dist": "poisson", "mean": 5}, 5, 5),
        ({"dist": "negative_binomial", "mean": 6, "variance": 15}, 6, 15),
        ({"dist": "normal", "mean": 20, "std": 4}, 20, 16 + 1 / 12),  # rounding adds 1/12
        ({"dist": "uniform", "low": 2, "high": 8}, 5, (7**2 - 1) / 12),
        ({"dist": "deterministic", "value": 7}, 7, 0),
    ],
)
def test_stationary_draws_and_pmf_agree_with_the_moments(config, mean, variance):
    demand = ADAPTER.validate_python(config)
    draws, features = demand.sample(np.random.default_rng(0), 2000, 100)
    assert draws.dtype == np.int64 and draws.shape == (2000, 100) and features.shape == (2000, 100, 0)
    assert draws.min() >= 0
    assert draws.mean() == pytest.approx(mean, abs=0.02 * mean)
    assert draws.var() == pytest.approx(variance, abs=0.03 * variance + 1e-9)
    pmf = demand.pmf()
    k = np.arange(len(pmf))
    assert pmf.sum() == pytest.approx(1.0)
    assert k @ pmf == pytest.approx(mean, rel=1e-6) and demand.mean_demand() == pytest.approx(mean, rel=1e-6)
    assert (k**2) @ pmf - (k @ pmf) ** 2 == pytest.approx(variance, rel=1e-3, abs=1e-9)
    # the empirical frequencies match the pmf
    freq = np.bincount(draws.ravel(), minlength=len(pmf))[: len(pmf)] / draws.size
    assert np.abs(freq - pmf).max() < 0.005


def test_normal_demand_is_truncated_at_zero():
    demand = ADAPTER.validate_python({"dist": "normal", "mean": 1, "std": 3})
    draws, _ = demand.sample(np.random.default_rng(1), 100, 100)
    # everything below 0.5 rounds or truncates to 0: P = Phi((0.5 - 1) / 3)
    assert draws.min() == 0 and demand.pmf()[0] == pytest.approx(stats.norm.cdf(-1 / 6))
    assert (draws == 0).mean() == pytest.approx(stats.norm.cdf(-1 / 6), abs=0.02)


def test_seasonal_weekly_pattern_and_promotion_uplift_show_in_draws():
    demand = ADAPTER.validate_python(
        {
            "dist": "seasonal",
            "base_mean": 10,
            "weekly": [1, 1, 1, 1, 1, 2, 0.5],
            "promotion_probability": 0.05,
            "promotion_duration": 4,
            "promotion_uplift": 1.0,
            "random_start": False,
        }
    )
    draws, features = demand.sample(np.random.default_rng(2), 3000, 70)
    promo = features[..., 4] > 0
    weekday = np.arange(70) % 7
    plain = draws[:, (weekday < 5)][~promo[:, weekday < 5]]
    saturday = draws[:, weekday == 5][~promo[:, weekday == 5]]
    assert plain.mean() == pytest.approx(10, rel=0.03)
    assert saturday.mean() == pytest.approx(20, rel=0.03)
    assert draws[:, weekday < 5][promo[:, weekday < 5]].mean() == pytest.approx(20, rel=0.03)
    # promotions last their duration: each run of the flag is a multiple-start union of 4-day blocks
    share = promo.mean()
    assert share == pytest.approx(1 - 0.95**4, abs=0.02)
    assert demand.feature_names[4] == "promotion"


def test_seasonal_features_are_the_calendar():
    demand = ADAPTER.validate_python({"dist": "seasonal", "base_mean": 5, "random_start": False, "start_day": 3})
    _, features = demand.sample(np.random.default_rng(0), 1, 10)
    day = 3 + np.arange(10)
    np.testing.assert_allclose(features[0, :, 0], np.sin(2 * np.pi * (day % 7) / 7), atol=1e-6)
    np.testing.assert_allclose(features[0, :, 3], np.cos(2 * np.pi * day / 365), atol=1e-6)


def test_csv_window_replays_contiguous_history_and_bootstrap_replays_blocks():
    scenario = load_scenario("csv_history")
    history = pd.read_csv(scenario.demand.path)
    demand = scenario.demand
    draws, features = demand.sample(np.random.default_rng(0), 10, 365)
    series = history["demand"].to_numpy()
    promo = history["promotion"].to_numpy()
    for path, feats in zip(draws, features, strict=True):
        # bootstrap: every 28-day block is a contiguous (circular) piece of the history
        for start in range(0, 365, 28):
            block = path[start : start + 28]
            offsets = [
                o
                for o in range(len(series))
                if np.array_equal(np.take(series, range(o, o + len(block)), mode="wrap"), block)
            ]
            # (a short last block may match several offsets; one of them must carry the same features)
            assert any(
                np.array_equal(np.take(promo, range(o, o + len(block)), mode="wrap"), feats[start : start + 28, 0])
                for o in offsets
            ), "block not found in history"
    window = load_scenario("csv_history", demand={**demand.model_dump(), "mode": "window"}).demand
    draws, _ = window.sample(np.random.default_rng(1), 20, 100)
    for path in draws:
        starts = [o for o in range(len(series) - 99) if np.array_equal(series[o : o + 100], path)]
        assert starts


def test_shipped_history_matches_its_generator():
    from configs.scenarios.data.make_demand_history import OUT, make_history

    shipped = pd.read_csv(OUT)
    pd.testing.assert_frame_equal(shipped, make_history(), check_dtype=False)
