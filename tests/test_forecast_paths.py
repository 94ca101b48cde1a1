"""Forecasts as exogenous paths: in the observation, without look-ahead, and driving an order-up-to policy."""

from __future__ import annotations

import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env
from scipy import stats

from agents.classic.forecast_policy import ForecastOrderUpTo
from envs import InventoryEnv
from envs.layout import ObservationLayout
from envs.paths import ExogenousPaths, PathSampler
from tests.conftest import make_scenario

FORECAST = {"model": "moving_average", "warmup": 28}


def scenario(**changes):
    return make_scenario(**{"horizon": 60, "lead_time": 2, "forecast": FORECAST, **changes})


def test_forecast_entries_are_in_the_observation_and_the_env_passes_the_checker():
    sc = scenario()
    names = ObservationLayout(sc).names
    assert names[:3] == ["on_hand", "arriving_in_0", "arriving_in_1"]
    assert names[3:6] == ["forecast_mean_ahead_0", "forecast_q0.1_ahead_0", "forecast_q0.9_ahead_0"]
    assert len(names) == 3 + 3 * 3  # lead time + 1 periods ahead, a mean and two quantiles each
    env = InventoryEnv(sc)
    check_env(env, skip_render_check=True)
    obs, _ = env.reset(seed=1)
    assert obs[3] > 0  # a forecast of Poisson(5) demand from 28 periods of history


def test_the_forecast_made_at_a_period_does_not_see_its_demand_or_later():
    sc = scenario()
    sampler = PathSampler(sc)
    paths = sampler.draw(np.random.default_rng(0), 8)
    t = sc.periods_before + 10  # an origin inside the episode
    changed = paths.demand.copy()
    changed[t:] = 1000  # the demand of period t and every later one
    again = sampler.with_forecasts(
        ExogenousPaths(
            changed, paths.features, paths.lead_times, paths.keys, paths.forecasts[:, :, :0], paths.history_rows
        )
    )
    np.testing.assert_array_equal(again.forecasts[: t + 1], paths.forecasts[: t + 1])
    assert not np.array_equal(again.forecasts[t + 1 :], paths.forecasts[t + 1 :])


def test_the_order_up_to_level_is_the_poisson_quantile_of_the_protection_interval():
    sc = scenario(holding_cost=1, shortage_cost=9)
    layout = ObservationLayout(sc)
    policy = ForecastOrderUpTo(sc, layout)
    obs = np.zeros((2, layout.dim), dtype=np.float32)
    obs[:, :3] = [[4, 3, 2], [20, 0, 0]]  # positions 9 and 20
    for k in range(3):  # mean 5 a period; an 80% interval narrower than Poisson's: the variance is floored at 5
        obs[:, layout.names.index(f"forecast_mean_ahead_{k}")] = 5
        obs[:, layout.names.index(f"forecast_q0.1_ahead_{k}")] = 4
        obs[:, layout.names.index(f"forecast_q0.9_ahead_{k}")] = 6
    level = int(stats.poisson.ppf(0.9, 15))  # p / (p + h) = 0.9 of Poisson(3 x 5)
    assert policy.order_up_to(obs).tolist() == [level, level]
    assert policy.act(obs).tolist() == [level - 9, max(level - 20, 0)]


def test_the_policy_needs_forecasts_that_cover_the_protection_interval():
    with pytest.raises(ValueError, match="forecast block"):
        ForecastOrderUpTo(make_scenario(), ObservationLayout(make_scenario()))
    short = scenario(forecast={**FORECAST, "horizon": 2})
    with pytest.raises(ValueError, match="lead time \\+ 1 = 3 periods"):
        ForecastOrderUpTo(short, ObservationLayout(short))


def test_a_forecast_driven_policy_exports_and_recommends_from_a_history(tmp_path):
    import csv
    import json

    import pandas as pd

    import export
    import recommend

    scenario_file = tmp_path / "seasonal.yaml"
    scenario_file.write_text(
        "horizon: 80\ndemand: {dist: poisson, mean: 8}\nlead_time: 2\nholding_cost: 1\nshortage_cost: 9\n"
        "max_order: 40\nforecast: {model: moving_average, warmup: 28}\n"
    )
    policy_dir = tmp_path / "policy"
    export.main(["forecast_order_up_to", "--scenario", str(scenario_file), "--out", str(policy_dir),
                 "--parity-observations", "2000"])  # fmt: skip
    meta = json.loads((policy_dir / "policy.json").read_text())
    assert meta["parity"]["mismatches"] == 0 and meta["forecast"]["model"] == "moving_average"
    days = pd.date_range("2025-01-01", periods=40).date.astype(str)
    history = tmp_path / "history.csv"
    pd.DataFrame({"sku": ["A"] * 40 + ["B"] * 40, "date": list(days) * 2, "demand": [6] * 40 + [12] * 40}).to_csv(
        history, index=False
    )
    state = tmp_path / "state.csv"
    state.write_text("sku,on_hand,arriving_in_0,arriving_in_1\nA,5,5,5\nB,5,5,5\nC,5,5,5\n")
    out = tmp_path / "orders.csv"
    code = recommend.main(["--policy", str(policy_dir), "--state", str(state), "--history", str(history),
                           "--out", str(out)])  # fmt: skip
    assert code == 3  # C has no history: skipped, reported
    with out.open() as file:
        lines = {row["sku"]: row for row in csv.DictReader(file)}
    assert set(lines) == {"A", "B"}
    # a flat history of 6 (and 12): forecasts of 18 (36) over the 3 periods, the policy orders up to their quantile
    assert float(lines["A"]["expected_demand_through_arrival"]) == 18.0
    assert float(lines["B"]["expected_demand_through_arrival"]) == 36.0
    assert "the moving_average forecast of 36" in lines["B"]["explanation"]
    assert int(lines["B"]["order_quantity"]) > int(lines["A"]["order_quantity"])


def test_evaluate_runs_each_forecaster_on_the_same_demand_and_scores_its_forecasts(tmp_path):
    import json

    import evaluate
    from agents.evaluation import forecast_accuracy
    from envs.batch import evaluation_paths

    out = tmp_path / "out"
    evaluate.main(["--scenario", "lost_sales_L2_p9", "--forecast", "moving_average", "--episodes", "30",
                   "--warmup", "20", "--policy", "forecast_order_up_to", "--policy",
                   "forecast_order_up_to:seasonal_naive", "--out", str(out)])  # fmt: skip
    records = {r["policy"]: r for r in json.loads((out / "results.json").read_text())}
    assert json.loads((out / "meta.json").read_text())["forecast"]["model"] == "moving_average"
    moving, naive = records["forecast_order_up_to"], records["forecast_order_up_to:seasonal_naive"]
    assert moving["forecast"]["model"] == "moving_average" and naive["forecast"]["model"] == "seasonal_naive"
    # the accuracy recorded is that of the forecasts on the evaluation paths, recomputed here by hand
    sc = evaluate.with_forecast_model(evaluate.load_scenario("lost_sales_L2_p9"), "seasonal_naive")
    paths = evaluation_paths(sc, 30, 0)
    now, lead = sc.periods_before, 3
    errors = demand = 0.0
    for t in range(20, sc.horizon - lead + 1):
        forecast = paths.forecasts[now + t, :, [0, 3, 6]].sum(axis=0)  # the means ahead 0, 1 and 2
        actual = paths.demand[now + t : now + t + lead, :, 0].sum(axis=0)
        errors += np.abs(forecast - actual).sum()
        demand += actual.sum()
    by_hand = errors / demand
    assert naive["forecast"]["protection_interval_wape"] == pytest.approx(by_hand, rel=1e-6)
    assert forecast_accuracy(sc, paths, 20)["protection_interval_wape"] == pytest.approx(by_hand, rel=1e-6)
    # iid Poisson demand: the 28-day mean forecasts better than last week's same day, and costs less
    assert moving["forecast"]["protection_interval_wape"] < naive["forecast"]["protection_interval_wape"]
    assert naive["paired_vs_best_classic"]["against"] == "forecast_order_up_to"
    assert naive["paired_vs_best_classic"]["ci95"][0] > 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--policy", "forecast_order_up_to:seasonal_naive"], "lost_sales_L2_p9 has no forecast block (add one"),
        (["--forecast", "moving_average", "--policy", "forecast_order_up_to:oracle"], "unknown forecasting model"),
        (["--forecast", "prophet"], "--forecast prophet: unknown forecasting model"),
    ],
)
def test_bad_forecast_choices_are_one_line_and_exit_2(tmp_path, capsys, args, message):
    import evaluate

    with pytest.raises(SystemExit) as caught:
        evaluate.main(["--scenario", "lost_sales_L2_p9", "--episodes", "5", "--out", str(tmp_path / "out"), *args])
    err = capsys.readouterr().err.strip()
    assert caught.value.code == 2 and message in err and "\n" not in err
    assert not (tmp_path / "out").exists()


def test_a_learned_policy_sees_the_forecasts_it_was_trained_with():
    from agents.evaluation import _observed_forecasts
    from envs.errors import UserError

    evaluated = scenario()
    assert _observed_forecasts("run", evaluated, scenario()) is None
    trained = scenario(forecast={**FORECAST, "model": "seasonal_naive"})
    assert _observed_forecasts("run", evaluated, trained).model == "seasonal_naive"
    with pytest.raises(UserError, match="warm-up of 35 periods"):
        _observed_forecasts("run", evaluated, scenario(forecast={**FORECAST, "warmup": 35}))


def test_a_policy_trained_without_forecasts_is_evaluated_beside_those_with_them(tmp_path):
    import json

    import evaluate
    import export

    export.main(["base_stock", "--scenario", "lost_sales_L2_p9", "--out", str(tmp_path / "bs"),
                 "--parity-observations", "500"])  # fmt: skip
    level = json.loads((tmp_path / "bs" / "policy.json").read_text())["params"]["S"]
    out = tmp_path / "out"
    evaluate.main(["--scenario", "lost_sales_L2_p9", "--forecast", "moving_average", "--episodes", "20",
                   "--warmup", "10", "--policy", str(tmp_path / "bs"), "--policy", "forecast_order_up_to",
                   "--out", str(out)])  # fmt: skip
    exported = {r["policy"]: r for r in json.loads((out / "results.json").read_text())}["bs"]
    assert exported["params"]["forecasts"] == "not observed" and "forecast" not in exported
    # the exported base stock, fed the observation without forecasts, orders as BaseStock(S) on the same paths
    from agents.classic import BaseStock
    from envs.batch import evaluation_paths, run_batch

    sc = evaluate.with_forecast_model(evaluate.load_scenario("lost_sales_L2_p9"), "moving_average")
    paths = evaluation_paths(sc, 20, 0)
    by_hand = run_batch(BaseStock(level, ObservationLayout(sc)), sc, paths, warmup=10).avg_cost.mean()
    assert exported["avg_cost"] == pytest.approx(by_hand, rel=1e-9)


def _history_scenario(folder, history, **changes):
    """A scenario replaying ``history`` as the demand of SKU X, written with the history into ``folder``."""
    import yaml

    from envs.scenario import load_scenario

    folder.mkdir(exist_ok=True)
    days = np.datetime_as_string(np.arange(np.datetime64("2024-01-01"), np.datetime64("2024-01-01") + len(history)))
    lines = ["sku,date,demand,promotion", *(f"X,{d},{q},{int(q > 8)}" for d, q in zip(days, history, strict=True))]
    (folder / "history.csv").write_text("\n".join(lines) + "\n")
    spec = {"dist": "csv", "path": "history.csv", "sku": "X", "features": ["promotion"]}
    mapping = {"horizon": 20, "lead_time": 1, "holding_cost": 1, "shortage_cost": 9, "max_order": 40,
               "demand": spec, "forecast": {"model": "seasonal_naive", "warmup": 28}, **changes}  # fmt: skip
    (folder / "history.yaml").write_text(yaml.safe_dump(mapping))
    return load_scenario(str(folder / "history.yaml"))


def test_a_replayed_history_is_forecast_once_on_its_own_days(tmp_path):
    from forecasting import make_forecaster
    from forecasting.rolling import rolling_forecasts

    demand = np.random.default_rng(0).poisson(6, 120)
    sc = _history_scenario(tmp_path, demand)
    paths = PathSampler(sc).draw(np.random.default_rng(1), 30)
    rows = paths.history_rows[:, :, 0]
    np.testing.assert_array_equal(paths.demand[:, :, 0], demand[rows])  # windows of the history
    # the forecast at a path's period is the one made on the history at the row it replays...
    rolled = rolling_forecasts(demand[None].astype(float), None, [], [], make_forecaster("seasonal_naive", 2), 2,
                               first_origin=28, start="2024-01-01")  # fmt: skip
    now = sc.periods_before
    for i in range(30):
        for t in range(sc.horizon):
            row = rows[now + t, i]
            assert paths.forecasts[now + t, i, 0] == pytest.approx(rolled.mean[0, row, 0], rel=1e-6)
            assert paths.forecasts[now + t, i, 3] == pytest.approx(rolled.mean[0, row, 1], rel=1e-6)
    # ...so two windows over the same day see the same forecast of it
    same_day = rows[now + 5, 0] == rows[now:, :]
    assert (paths.forecasts[now:][same_day] == paths.forecasts[now + 5, 0]).all()


def test_a_replayed_history_forecast_does_not_see_its_day_or_later(tmp_path):
    demand = np.random.default_rng(0).poisson(6, 120)
    changed = demand.copy()
    changed[70:] = 30
    before, after = _history_scenario(tmp_path / "a", demand), _history_scenario(tmp_path / "b", changed)
    settings = ("moving_average", 2, (0.1, 0.9), 28, 28)
    old, new = before.demand.history_forecasts(*settings), after.demand.history_forecasts(*settings)
    np.testing.assert_array_equal(old[:71], new[:71])  # the forecast made at day 70 saw days up to 69
    assert (new[72:] > old[72:]).any()
    assert (old[:28] == 0).all()  # no forecast before the warm-up


def test_forecasts_of_a_bootstrapped_history_are_refused(tmp_path):
    from envs.errors import UserError

    demand = np.random.default_rng(0).poisson(6, 120)
    with pytest.raises(UserError, match="demand mode: window, not bootstrap"):
        _history_scenario(tmp_path, demand, demand={"dist": "csv", "path": "history.csv",
                          "sku": "X", "mode": "bootstrap"})  # fmt: skip


def test_an_sku_is_forecast_from_its_whole_history_before_the_days_replayed(tmp_path):
    demand = np.random.default_rng(0).poisson(6, 120)
    whole = _history_scenario(tmp_path / "a", demand)
    later = _history_scenario(tmp_path / "b", demand, demand={"dist": "csv", "path": "history.csv", "sku": "X",
                              "features": ["promotion"], "start": "2024-03-01"})  # fmt: skip
    settings = ("seasonal_naive", 2, (0.1, 0.9), 28, 28)
    assert later.demand.history_length == 120 - 60
    np.testing.assert_array_equal(
        later.demand.history_forecasts(*settings), whole.demand.history_forecasts(*settings)[60:]
    )
