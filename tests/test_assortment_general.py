"""The general policy under a shared warehouse limit (issue 15): its features (envs.constrained), the env,
its files, and train_constrained.py's config errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from torch import nn

from agents.classic.assortment import capacity_use
from agents.rl.general import (
    CONSTRAINED_FORMAT,
    META_FILE,
    ConstrainedGeneralPolicy,
    GeneralPolicy,
    actor_network,
    load_general,
    save_general,
    widened_layers,
)
from envs.assortment import SkuView, select_items
from envs.batch import run_batch
from envs.constrained import CONSTRAINED_FEATURES, MIN_MEAN_DEMAND, ConstrainedItems, StorageLimit, floored
from envs.errors import UserError
from envs.general import FEATURES, PARAMETERS, ItemParameters
from envs.general_base import items_of
from envs.paths import PathSampler
from envs.scenario import NetworkScenario
from envs.sku_vec_env import ConstrainedSkuVecEnv, SkuVecEnv

ROOT = Path(__file__).resolve().parent.parent


def warehouse(limit: float | None = 30.0, horizon: int = 6, history: int = 2) -> NetworkScenario:
    """Two SKUs sharing a warehouse: A (Poisson 4, lead 2, volume 1), B (Poisson 2, lead 1, volume 2)."""
    points = [
        {"name": "A", "demand": {"dist": "poisson", "mean": 4}, "lead_time": 2, "holding_cost": 1, "shortage_cost": 9,
         "fixed_order_cost": 0, "unit_cost": 0, "max_order": 30, "volume": 1.0, "initial_on_hand": 8,
         "lost_sales": True},
        {"name": "B", "demand": {"dist": "poisson", "mean": 2}, "lead_time": 1, "holding_cost": 0.5,
         "shortage_cost": 4, "fixed_order_cost": 0, "unit_cost": 0, "max_order": 30, "volume": 2.0,
         "initial_on_hand": 3, "lost_sales": True},
    ]  # fmt: skip
    capacities = [] if limit is None else [{"name": "w", "kind": "storage", "limit": limit, "weight": "volume"}]
    return NetworkScenario.model_validate({"name": "warehouse", "horizon": horizon, "demand_history": history,
                                           "stock_points": points, "capacities": capacities})  # fmt: skip


def constrained_items(scenario: NetworkScenario, price: float) -> ConstrainedItems:
    view = SkuView(scenario)
    items = ItemParameters.from_view(view.parameters)
    return ConstrainedItems(items, view.parameters[:, PARAMETERS.index("volume")], price,
                            StorageLimit.of(view.layout.system))  # fmt: skip


def test_the_constraint_features_by_hand():
    items = constrained_items(warehouse(), price=0.5)
    # rows: stock, arriving_in_0, arriving_in_1, demand_lag_1, demand_lag_2 (A lead 2, B lead 1: B's slot 1 is 0)
    rows = np.array([[[10, 3, 4, 2, 6], [5, 1, 0, 1, 1]]], dtype=np.float32)
    features = items.features(rows)
    assert features.shape == (1, 2, len(CONSTRAINED_FEATURES))
    got = [dict(zip(CONSTRAINED_FEATURES, features[0, j].tolist(), strict=True)) for j in range(2)]
    for f in got:  # the warehouse: the same for both SKUs
        assert f["warehouse_fill"] == pytest.approx((10 * 1 + 5 * 2) / 30)
        assert f["warehouse_due"] == pytest.approx((3 * 1 + 1 * 2) / 30)
        assert f["warehouse_inbound"] == pytest.approx((7 * 1 + 1 * 2) / 30)
    assert got[0]["fair_share"] == pytest.approx(np.log(30 / (2 * 1 * 4)) / 3)
    assert got[1]["fair_share"] == pytest.approx(np.log(30 / (2 * 2 * 2)) / 3)
    assert got[0]["capacity_price"] == pytest.approx(np.log1p(0.5 * 1 / 1) / 4)
    assert got[1]["capacity_price"] == pytest.approx(np.log1p(0.5 * 2 / 0.5) / 4)
    assert got[0]["recent_demand"] == pytest.approx(4 / 4 - 1) and got[1]["recent_demand"] == pytest.approx(-0.5)
    # the item part: in units of mean demand, the cost ratio priced (h + lambda v)
    assert (got[0]["stock"], got[0]["arriving_in_1"], got[0]["arriving_in_7"]) == (2.5, 1.0, 0.0)
    assert got[1]["log_cost_ratio"] == pytest.approx(np.log(4 / (0.5 + 0.5 * 2)) / 4)


def test_the_price_raises_the_holding_cost_of_the_base_policy():
    scenario = warehouse()
    priced = constrained_items(scenario, price=0.25).priced
    np.testing.assert_allclose(priced.holding, [1 + 0.25, 0.5 + 0.25 * 2])
    unpriced = constrained_items(scenario, price=0.0).priced
    assert np.all(priced.reorder_point < unpriced.reorder_point)  # a lower fractile p / (p + h + lambda v)


def test_without_a_limit_the_warehouse_features_are_zero():
    features = constrained_items(warehouse(limit=None), 0.0).features(np.ones((3, 2, 5), dtype=np.float32))
    for name in ("warehouse_fill", "warehouse_due", "warehouse_inbound", "fair_share"):
        assert not features[:, :, CONSTRAINED_FEATURES.index(name)].any()


def test_a_mean_demand_of_zero_is_floored():
    view = SkuView(warehouse())
    table = view.parameters.copy()
    table[0, PARAMETERS.index("mean_demand")] = 0.0
    assert floored(table)[0, PARAMETERS.index("mean_demand")] == MIN_MEAN_DEMAND
    with pytest.raises(UserError, match="mean demand 0"):
        items_of(warehouse(), view, parameters=table)


def test_the_env_under_the_limit_gives_the_kernels_costs():
    scenario = warehouse(limit=12.0, horizon=8)  # tight: arrivals are turned away
    env = ConstrainedSkuVecEnv(scenario, copies=3, price=0.1, seed=5)
    assert env.num_envs == 6 and env.observation_space.shape == (len(CONSTRAINED_FEATURES),)
    env.reset()
    returns = np.zeros(6)
    for _ in range(8):
        env.step_async(np.zeros((6, 1), dtype=np.float32))
        _, rewards, dones, infos = env.step_wait()
        returns += rewards
    assert dones.all()
    # copy m draws from seed 5 + 2 m; action 0 is the priced base policy
    paths = PathSampler(scenario).draw_each([np.random.default_rng(5 + 2 * m) for m in range(3)])
    zero = actor_network([(np.zeros((1, len(CONSTRAINED_FEATURES))), np.zeros(1))], "tanh")
    result = run_batch(ConstrainedGeneralPolicy(zero, scenario, 0.1), scenario, paths)
    expected = result.point_kpis["avg_cost"]
    np.testing.assert_allclose([info["episode_kpis"]["avg_cost"] for info in infos], expected.reshape(-1))
    policy = ConstrainedGeneralPolicy(zero, scenario, 0.1)
    assert capacity_use(policy, scenario, paths)["rejected"] > 0  # the limit binds: arrivals are turned away
    # the reward charges the Lagrangian cost: the item's cost + price x volume x its stock at the period's end
    lagrangian = expected + 0.1 * np.array([1.0, 2.0]) * result.point_kpis["avg_on_hand"]
    np.testing.assert_allclose(-returns / 8 * np.tile(env.cost_scale, 3), lagrangian.reshape(-1), rtol=1e-5)


def test_the_single_item_env_still_refuses_shared_limits():
    with pytest.raises(UserError, match="without shared limits"):
        SkuVecEnv(warehouse(), copies=1)


def zoo_layers() -> tuple[list[tuple[np.ndarray, np.ndarray]], dict]:
    actor, meta = load_general(ROOT / "zoo" / "general")
    linears = [m for m in actor if isinstance(m, nn.Linear)]
    return [(m.weight.detach().numpy(), m.bias.detach().numpy()) for m in linears], meta


def test_the_widened_zoo_policy_at_price_0_without_a_limit_orders_as_the_zoo_policy():
    scenario = warehouse(limit=None, horizon=20)
    layers, meta = zoo_layers()
    wide = actor_network(widened_layers(layers, FEATURES, CONSTRAINED_FEATURES), meta["activation"])
    paths = PathSampler(scenario).draw(np.random.default_rng(3), 4)
    old = run_batch(GeneralPolicy(actor_network(layers, meta["activation"]), scenario), scenario, paths)
    new = run_batch(ConstrainedGeneralPolicy(wide, scenario, 0.0), scenario, paths)
    np.testing.assert_array_equal(old.point_kpis["avg_cost"], new.point_kpis["avg_cost"])
    # with a price the base levels move, and so do the costs
    priced = run_batch(ConstrainedGeneralPolicy(wide, scenario, 1.0), scenario, paths)
    assert not np.array_equal(old.point_kpis["avg_cost"], priced.point_kpis["avg_cost"])


def test_a_constrained_policy_round_trips_and_is_refused_where_a_single_item_policy_is_expected(tmp_path):
    layers, meta = zoo_layers()
    wide = widened_layers(layers, FEATURES, CONSTRAINED_FEATURES)
    save_general(tmp_path / "p", wide, meta["activation"], {"capacity_price": 0.25}, CONSTRAINED_FORMAT)
    actor, loaded = load_general(tmp_path / "p", CONSTRAINED_FORMAT)
    assert loaded["format"] == CONSTRAINED_FORMAT and loaded["features"] == list(CONSTRAINED_FEATURES)
    assert loaded["capacity_price"] == 0.25 and loaded["max_lead_time"] == 8
    for module, (weight, bias) in zip([m for m in actor if isinstance(m, nn.Linear)], wide, strict=True):
        np.testing.assert_array_equal(module.weight.detach().numpy(), weight)
        np.testing.assert_array_equal(module.bias.detach().numpy(), bias)
    with pytest.raises(UserError, match="not a general-single-item-policy/2 file but general-constrained-policy/1"):
        load_general(tmp_path / "p")
    with pytest.raises(UserError, match="not a general-constrained-policy/1 file"):
        load_general(ROOT / "zoo" / "general", CONSTRAINED_FORMAT)
    text = json.loads((tmp_path / "p" / META_FILE).read_text())
    (tmp_path / "p" / META_FILE).write_text(json.dumps({**text, "capacity_price": -1}))
    with pytest.raises(UserError, match="capacity_price"):
        load_general(tmp_path / "p", CONSTRAINED_FORMAT)


def test_select_items_takes_a_range_and_replaces_the_limit():
    part = select_items(warehouse(), 1, 2, limit=7.0)
    assert [p.name for p in part.stock_points] == ["B"] and part.capacities[0].limit == 7.0
    with pytest.raises(UserError, match=r"no SKUs in 2\.\.2"):
        select_items(warehouse(), 2, 3)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"learning_rate_typo": 1}, "learning_rate_typo"),
        ({"training": {"scenario": "mabim_standard", "first_sku": 5, "last_sku": 5, "limit": 10}}, "training"),
        ({"price": {"episodes": 0, "seed": 1, "warmup": 0}}, "price.episodes"),
    ],
)
def test_a_bad_config_is_one_line_naming_file_and_key_and_exit_2(tmp_path, change, message):
    config = yaml.safe_load((ROOT / "configs" / "algos" / "general_constrained.yaml").read_text())
    config.update(change)
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(config))
    done = subprocess.run([sys.executable, str(ROOT / "train_constrained.py"), "--config", str(path), "--out",
                           str(tmp_path / "run")], capture_output=True, text=True, cwd=ROOT)  # fmt: skip
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and str(path) in lines[0] and message in lines[0], done.stderr
    assert not (tmp_path / "run").exists()


def test_evaluate_runs_the_shipped_constrained_policy_as_the_benchmark_builds_it(tmp_path):
    """evaluate.py --policy zoo/general_constrained: the policy at its stored capacity price, on the same
    paths the same costs as ConstrainedGeneralPolicy built by hand."""
    import evaluate
    from envs.batch import evaluation_paths

    scenario = warehouse(horizon=30)
    path = tmp_path / "warehouse.yaml"
    path.write_text(yaml.safe_dump(scenario.model_dump(mode="json")))
    out = tmp_path / "results"
    evaluate.main(["--scenario", str(path), "--policy", str(ROOT / "zoo" / "general_constrained"),
                   "--episodes", "40", "--warmup", "5", "--seed", "3", "--out", str(out)])  # fmt: skip
    record = json.loads((out / "results.json").read_text())[-1]
    actor, meta = load_general(ROOT / "zoo" / "general_constrained", CONSTRAINED_FORMAT)
    assert record["params"]["capacity_price"] == pytest.approx(meta["capacity_price"])
    policy = ConstrainedGeneralPolicy(actor, scenario, meta["capacity_price"])
    expected = run_batch(policy, scenario, evaluation_paths(scenario, 40, 3), warmup=5).avg_cost.mean()
    assert record["avg_cost"] == pytest.approx(expected)
