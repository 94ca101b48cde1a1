"""One general single-item policy: its observation and action (envs.general), the SKU-wise VecEnv, the
population it trains on, its files, evaluate.py with it, and train_general.py end to end."""

from __future__ import annotations

import json
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import yaml
from scipy import stats

from agents.classic.policies import BaseStock
from agents.references import optimal_policy
from agents.rl.general import META_FILE, WEIGHTS_FILE, GeneralPolicy, actor_network, load_general, save_general
from envs.assortment import SkuView
from envs.batch import evaluation_paths, run_batch
from envs.errors import UserError
from envs.general import FEATURES, MAX_LEAD_TIME, ItemParameters, item_features, level_orders
from envs.general_base import items_of as general_items
from envs.layout import ObservationLayout
from envs.paths import PathSampler
from envs.population import RANGE, draw_instances, population_scenario
from envs.scenario import load_scenario
from envs.sku_vec_env import SkuVecEnv
from tests.conftest import make_scenario

ROOT = Path(__file__).resolve().parent.parent


def items_of(scenario) -> ItemParameters:
    return general_items(scenario, SkuView(scenario))


def zero_actor():
    return actor_network([(np.zeros((1, len(FEATURES))), np.zeros(1))], "tanh")


def test_the_base_level_is_the_critical_fractile_of_protection_interval_demand():
    items = items_of(load_scenario("lost_sales_L2_p9"))  # Poisson(5), lead time 2, h = 1, p = 9
    # mu_P = 3 x 5 = 15, sigma_P = sqrt(3 x 5), z = Phi^-1(0.9) = 1.2816
    assert items.reorder_point[0] == pytest.approx(15 + stats.norm.ppf(0.9) * np.sqrt(15))
    assert items.action_scale[0] == pytest.approx(2 * np.sqrt(15) + 20)
    # a random lead time adds mu^2 Var(L): lead 1 or 3 with probability 1/2 each, Var(L) = 1
    random_lead = items_of(make_scenario(lead_time={"values": [1, 3], "probs": [0.5, 0.5]}, shortage_cost=1))
    assert random_lead.protection_sd[0] == pytest.approx(np.sqrt(3 * 5 + 25 * 1))
    assert random_lead.reorder_point[0] == pytest.approx(15)  # p = h: z = 0


def test_features_are_in_units_of_mean_demand_and_padded_to_the_longest_lead_time():
    scenario = load_scenario("lost_sales_L2_p9")
    items = items_of(scenario)
    rows = np.array([[[10, 5, 0]]], dtype=np.float32)  # on hand 10, 5 arriving now, none next
    features = dict(zip(FEATURES, item_features(rows, items)[0, 0].tolist(), strict=True))
    assert (features["stock"], features["arriving_in_0"]) == (2.0, 1.0)
    assert features["arriving_in_1"] == features[f"arriving_in_{MAX_LEAD_TIME - 1}"] == 0.0
    assert features["position_gap"] == pytest.approx((15 - items.reorder_point[0]) / items.action_scale[0], rel=1e-6)
    assert features["lead_time"] == pytest.approx(2 / MAX_LEAD_TIME)
    assert features["log_cost_ratio"] == pytest.approx(np.log(9) / 4, rel=1e-6)
    assert (features["lost_sales"], features["dispersion"]) == (1.0, pytest.approx(0, abs=1e-6))


def test_an_action_moves_the_order_up_to_level_of_the_base_policy():
    items = items_of(load_scenario("lost_sales_L2_p9"))  # max_order 20
    base, scale = items.reorder_point[0], items.action_scale[0]
    position = np.array([[12.0], [12.0], [12.0], [40.0]])
    actions = np.array([[0.0], [0.25], [-1.0], [0.0]])
    orders = level_orders(actions, position, items)
    assert orders[:, 0].tolist() == [round(base - 12), min(round(base + 0.25 * scale - 12), 20), 0, 0]
    assert level_orders(np.array([[5.0]]), np.array([[0.0]]), items)[0, 0] == 20  # clipped to 1, then max_order


def test_with_a_fixed_order_cost_the_base_policy_is_s_S_with_the_eoq():
    items = items_of(make_scenario(fixed_order_cost=10.0, max_order=60))  # Poisson(5), lead 1, h = 1, p = 4
    s, q = items.reorder_point[0], items.order_quantity[0]
    assert q == pytest.approx(10.0)  # sqrt(2 x 10 x 5 / 1)
    # Hadley-Whitin: P(demand over 2 periods > s) = h Q / (p mu) = 10 / 20, below p / (p + h) = 0.8: s = the mean
    assert s == pytest.approx(10.0)
    position = np.array([[np.floor(s)], [np.floor(s) + 1], [s + q]])
    orders = level_orders(np.zeros((3, 1)), position, items)[:, 0]
    assert orders.tolist() == [round(s + q - np.floor(s)), 0, 0]  # at or below s: up to S = s + Q; above: nothing


def test_an_untrained_general_policy_is_base_stock_at_the_rounded_base_level():
    scenario = load_scenario("lost_sales_L2_p9")
    paths = evaluation_paths(scenario, 50, 3)
    general = run_batch(GeneralPolicy(zero_actor(), scenario), scenario, paths).avg_cost
    base_stock = run_batch(BaseStock(20, ObservationLayout(scenario)), scenario, paths).avg_cost  # round(19.96)
    np.testing.assert_allclose(general, base_stock)


def test_a_population_is_its_systems_side_by_side():
    instances = draw_instances(7, 8)
    scenario = population_scenario(instances, "pop", horizon=20)
    assert [p.name for p in scenario.stock_points] == [f"item_{k:03d}" for k in range(8)]
    for point, instance in zip(scenario.stock_points, instances, strict=True):
        assert (point.holding_cost, point.shortage_cost, point.lost_sales, point.max_order) == (
            instance["holding_cost"], instance["shortage_cost"], instance["lost_sales"], instance["max_order"]
        )  # fmt: skip


def test_the_sku_vec_env_is_every_item_of_every_copy():
    scenario = population_scenario(draw_instances(7, 4), "pop", horizon=5)
    env = SkuVecEnv(scenario, copies=3, seed=11)
    assert env.num_envs == 12 and env.observation_space.shape == (len(FEATURES),)
    obs = env.reset()
    np.testing.assert_array_equal(obs, SkuVecEnv(scenario, copies=3, seed=11).reset())  # seeded: same demand
    returns = np.zeros(12)
    for _ in range(5):
        env.step_async(np.zeros((12, 1), dtype=np.float32))
        obs, rewards, dones, infos = env.step_wait()
        returns += rewards
    assert dones.all() and set(infos[5]) == {"terminal_observation", "TimeLimit.truncated", "episode_kpis"}
    # copy m draws from seed 11 + 4 m; action 0 is every item's base level: the batch runner with the
    # untrained general policy on those paths gives every item's cost, environment m * 4 + j = item j of copy m
    paths = PathSampler(scenario).draw_each([np.random.default_rng(11 + 4 * m) for m in range(3)])
    expected = run_batch(GeneralPolicy(zero_actor(), scenario), scenario, paths).point_kpis["avg_cost"]
    episode_costs = [info["episode_kpis"]["avg_cost"] for info in infos]
    np.testing.assert_allclose(episode_costs, expected.reshape(-1))
    # the reward is minus the item's cost over its base policy's average cost
    np.testing.assert_allclose(-returns / 5 * np.tile(env.cost_scale, 3), expected.reshape(-1), rtol=1e-5)


def test_items_out_of_range_are_refused_in_one_line():
    with pytest.raises(UserError, match="lead time above 4"):
        GeneralPolicy(zero_actor(), make_scenario(lead_time=5))
    serial = load_scenario("serial_snyder_shen_6_1")
    with pytest.raises(UserError, match="neither a single item nor an assortment"):
        GeneralPolicy(zero_actor(), serial)


def test_items_outside_the_trained_range_are_ordered_for_with_a_warning():
    inside = make_scenario(demand={"dist": "poisson", "mean": 5}, shortage_cost=9)
    far = make_scenario(demand={"dist": "poisson", "mean": 40}, max_order=200, shortage_cost=90)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        GeneralPolicy(zero_actor(), inside, trained_range=RANGE)
    with pytest.warns(UserWarning, match=r"mean_demand 40\.\.40 \(trained on 2\.\.20\); cost_ratio 90\.\.90"):
        GeneralPolicy(zero_actor(), far, trained_range=RANGE)


def test_each_item_outside_the_range_is_named():
    scenario = population_scenario(
        [
            {**draw_instances(7, 4)[0], "demand": {"dist": "poisson", "mean": 40}, "max_order": 200},
            draw_instances(7, 4)[1],
        ],
        "two",
    )
    texts = items_of(scenario).outside_each(RANGE)
    assert texts[0].startswith("mean_demand 40 (trained on 2..20)") and texts[1] == ""


def test_policy_files_round_trip_and_refuse_tampering(tmp_path):
    rng = np.random.default_rng(0)
    layers = [(rng.normal(size=(8, len(FEATURES))), rng.normal(size=8)), (rng.normal(size=(1, 8)), rng.normal(size=1))]
    save_general(tmp_path / "p", layers, "tanh", {"timesteps": 5})
    actor, meta = load_general(tmp_path / "p")
    assert meta["timesteps"] == 5
    x = rng.normal(size=(3, len(FEATURES))).astype(np.float32)
    expected = np.tanh(x @ layers[0][0].T + layers[0][1]) @ layers[1][0].T + layers[1][1]
    np.testing.assert_allclose(actor(__import__("torch").from_numpy(x)).detach().numpy(), expected, rtol=1e-5)
    # weights that are not the ones the JSON names
    np.savez(tmp_path / "p" / WEIGHTS_FILE, w_0=layers[0][0], b_0=layers[0][1], w_1=layers[1][0], b_1=layers[1][1] * 2)
    with pytest.raises(UserError, match="digest differs"):
        load_general(tmp_path / "p")
    meta_path = tmp_path / "p" / META_FILE
    meta_path.write_text(json.dumps({**json.loads(meta_path.read_text()), "features": ["stock"]}))
    with pytest.raises(UserError, match="other features"):
        load_general(tmp_path / "p")
    meta_path.write_text("{not json")
    with pytest.raises(UserError, match="not a general policy"):
        load_general(tmp_path / "p")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny train_general.py run: 4 systems, 2 copies, about 2,000 steps, selection on two scenarios."""
    tmp = tmp_path_factory.mktemp("general")
    selection = tmp / "selection"
    selection.mkdir()
    for name in ("lost_sales_L1_p4", "lost_sales_L2_p9"):
        (selection / f"{name}.yaml").write_text((ROOT / "configs" / "scenarios" / f"{name}.yaml").read_text())
    config = yaml.safe_load((ROOT / "configs" / "algos" / "general.yaml").read_text())
    config.update(population={"seed": 7, "size": 4, "horizon": 16}, copies=2, total_timesteps=2000)
    config["selection"].update(scenarios=str(selection), episodes=2, every=1000)
    config["ppo"].update(n_steps=16, batch_size=64, n_epochs=1)
    (tmp / "general.yaml").write_text(yaml.safe_dump(config))
    out = tmp / "run"
    result = subprocess.run(
        [sys.executable, "train_general.py", "--config", str(tmp / "general.yaml"), "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return tmp, out


@pytest.mark.slow
def test_train_general_writes_the_best_and_final_policy(trained):
    _, out = trained
    scores = (out / "selection.csv").read_text().splitlines()
    assert scores[0] == "timesteps,score" and scores[1] == "0,1.000000"  # the untrained policy is the baseline
    for name in ("best", "final"):
        _, meta = load_general(out / name)
        assert meta["trained_on"] == {"seed": 7, "size": 4, "horizon": 16}
    assert (out / "config.yaml").is_file() and any((out / "tb").iterdir())


@pytest.mark.slow
def test_evaluate_runs_a_general_policy_on_any_item_in_its_range(trained, tmp_path):
    _, out = trained
    result = subprocess.run(
        [sys.executable, "evaluate.py", "--scenario", "lost_sales_L3_p19", "--policy", str(out / "best"),
         "--policy", "base_stock", "--episodes", "20", "--out", str(tmp_path / "results")],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "best" in result.stdout and "base_stock" in result.stdout
    refused = subprocess.run(
        [sys.executable, "evaluate.py", "--scenario", "serial_snyder_shen_6_1", "--policy", str(out / "best"),
         "--episodes", "5", "--out", str(tmp_path / "refused")],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert refused.returncode == 2 and len(refused.stderr.strip().splitlines()) == 1
    assert "neither a single item nor an assortment" in refused.stderr


def test_a_bad_seed_is_one_line_and_exit_code_2(tmp_path):
    result = subprocess.run(
        [sys.executable, "train_general.py", "--seed", "-1", "--out", str(tmp_path / "run")],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == ["error: argument --seed: must be in 0..4294967295, got -1"]
    assert not (tmp_path / "run").exists()


def test_a_selection_warmup_beyond_the_horizon_is_one_line_and_exit_code_2(tmp_path):
    config = yaml.safe_load((ROOT / "configs" / "algos" / "general.yaml").read_text())
    config.update(population={"seed": 7, "size": 4, "horizon": 16}, copies=1, total_timesteps=10)
    config["selection"]["warmup"] = 400  # the training instances have 365 periods
    config["ppo"].update(n_steps=16, batch_size=64)  # a rollout of 64: no warning of SB3's about the batch
    (tmp_path / "warm.yaml").write_text(yaml.safe_dump(config))
    result = subprocess.run(
        [sys.executable, "train_general.py", "--config", str(tmp_path / "warm.yaml"), "--out", str(tmp_path / "run")],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1
    assert "selection.warmup: 400 periods, not below the horizon 365" in result.stderr
    assert not (tmp_path / "run").exists()


def test_a_bad_config_key_is_one_line_and_exit_code_2(tmp_path):
    config = yaml.safe_load((ROOT / "configs" / "algos" / "general.yaml").read_text())
    config["ppo"]["n_stepz"] = 5
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(config))
    result = subprocess.run(
        [sys.executable, "train_general.py", "--config", str(tmp_path / "bad.yaml"), "--out", str(tmp_path / "run")],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 2 and result.stderr.strip().splitlines() == [
        f"error: {tmp_path / 'bad.yaml'}: ppo.n_stepz: unknown key"
    ]
    assert not (tmp_path / "run").exists()


def test_the_shipped_general_policy_learned_something_on_a_system_it_never_saw():
    """zoo/general on lost_sales_L2_p9 (not in its population, not a selection instance): cheaper than
    its base (s, S) policy and within 3% of the optimum (the benchmark's +1.4% there, on fewer episodes)."""
    actor, meta = load_general(ROOT / "zoo" / "general")
    assert meta["range"] == {key: list(value) for key, value in RANGE.items()}
    scenario = load_scenario("lost_sales_L2_p9")
    paths = evaluation_paths(scenario, 200, 12345)
    general = run_batch(GeneralPolicy(actor, scenario), scenario, paths, warmup=50).avg_cost.mean()
    base = run_batch(GeneralPolicy(zero_actor(), scenario), scenario, paths, warmup=50).avg_cost.mean()
    dp, _ = optimal_policy(scenario)
    assert dp is not None
    optimal = run_batch(dp, scenario, paths, warmup=50).avg_cost.mean()
    assert general < base and general < 1.03 * optimal
