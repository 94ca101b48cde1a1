"""An agent's actions on a network as corrections of echelon base-stock: a zero correction is that
policy, others shift each point's order; train.py starts from the exact or Monte Carlo optimised
levels; the exported graph orders as the trained model does."""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pytest
import torch
import yaml
from stable_baselines3 import PPO

import export
import train
from agents import rl
from agents.classic.echelon import NetworkBaseStock
from agents.classic.meio import demand_served
from agents.deploy.network import recommend_network
from agents.deploy.runtime import OnnxPolicy
from envs.actions import ActionMap
from envs.batch import InventoryBatch, evaluation_paths, run_batch
from envs.layout import ObservationLayout
from envs.scenario import load_scenario
from envs.system import compile_system

OWMR = "owmr_4_identical_lost_sales"
LEVELS = {"warehouse": 100, "retailer_1": 14, "retailer_2": 15, "retailer_3": 16, "retailer_4": 17}


def rollout_like(scenario, n: int) -> np.ndarray:
    """``n`` observations of the scenario from echelon-base-stock-like episodes (the first periods of random paths)."""
    layout = ObservationLayout(scenario)
    batch = InventoryBatch(scenario, n)
    batch.begin(evaluation_paths(scenario, n, 11))
    for _ in range(5):
        batch.step(np.random.default_rng(1).integers(0, 10, size=(n, layout.system.n_points)))
    return batch.observe().copy()


def corrected(name: str = OWMR, levels: dict[str, int] = LEVELS, **keys):
    base = {"policy": "echelon_base_stock", "levels": levels}
    return load_scenario(name, action="continuous", action_meaning="correction", action_base=base, **keys)


def test_a_zero_correction_is_echelon_base_stock_and_others_shift_each_points_order():
    scenario = corrected()
    layout = ObservationLayout(scenario)
    names = layout.system.names
    echelon = NetworkBaseStock(np.array([LEVELS[p] for p in names]), layout)
    paths = evaluation_paths(scenario, 8, 5)
    observations = []

    class Recording(NetworkBaseStock):
        def act(self, obs):
            observations.append(obs.copy())
            return super().act(obs)

    run_batch(Recording(echelon.levels, layout), scenario, paths)
    obs = np.concatenate(observations)
    classic = np.minimum(echelon.act(obs), layout.system.max_order)
    action_map = ActionMap(scenario, layout)
    zero = action_map.orders(np.zeros((len(obs), len(names)), dtype=np.float32), obs)
    np.testing.assert_array_equal(zero, classic)
    assert len(np.unique(classic[:, 0])) > 2 and len(np.unique(classic[:, 1])) > 2
    # +0.5 of each point's range: round(0.5 * max_order) more (warehouse 50 -> 25, retailers 20 -> 10)
    ranges = np.array([scenario.stock_points[names.index(p)].max_order for p in names])
    half = action_map.orders(np.full((len(obs), len(names)), 0.5, dtype=np.float32), obs)
    np.testing.assert_array_equal(half, np.minimum(classic + np.rint(0.5 * ranges).astype(int), ranges))
    # a correction on one point only moves that point's order
    one = np.zeros((len(obs), len(names)), dtype=np.float32)
    one[:, 2] = -1.0
    moved = action_map.orders(one, obs)
    np.testing.assert_array_equal(moved[:, 2], 0)
    np.testing.assert_array_equal(np.delete(moved, 2, axis=1), np.delete(classic, 2, axis=1))


def test_a_correction_without_its_policy_or_of_too_large_a_network_is_one_line():
    from envs.errors import UserError

    scenario = load_scenario(OWMR, action="continuous", action_meaning="correction")
    with pytest.raises(UserError, match="correction needs action_base") as caught:
        ActionMap(scenario, ObservationLayout(scenario))
    assert "\n" not in str(caught.value) and "echelon_base_stock" in str(caught.value)
    with pytest.raises(UserError, match="mabim_standard: correct_classic: the echelon levels of 300 stock") as big:
        rl.resolve_config("ppo", "mabim_standard", params=["correct_classic=true"])
    assert "\n" not in str(big.value) and "correct_classic=false" in str(big.value)


def test_correct_classic_starts_a_serial_system_from_its_exact_optimal_levels():
    config = rl.resolve_config(
        "ppo", "serial_snyder_shen_6_1", params=["correct_classic=true", "correction_periods=1.5"]
    )
    scenario = config.scenario
    assert scenario.action_meaning == "correction" and scenario.action == "continuous"
    assert scenario.action_base.levels == {"stage1": 9, "stage2": 15, "stage3": 26}  # Snyder and Shen, Example 6.1
    served = demand_served(compile_system(scenario))
    assert served.tolist() == pytest.approx([5.0, 5.0, 5.0])  # Poisson(5) at stage 1, served by every echelon
    assert [p.max_correction for p in scenario.stock_points] == [math.ceil(1.5 * 5)] * 3
    # levels the scenario gives are kept (else Monte Carlo optimised ones: agents.references.best_echelon_levels)
    base = f"env.action_base={{policy: echelon_base_stock, levels: {json.dumps(LEVELS)}}}"
    given = rl.resolve_config("ppo", OWMR, params=["correct_classic=true", base, "env.action_meaning=correction"])
    assert given.scenario.action_base.levels == LEVELS


@pytest.mark.slow
def test_a_network_correction_policy_trains_and_exports_with_parity(tmp_path, single_threaded_torch):
    argv = ["--algo", "ppo", "--scenario", "serial_snyder_shen_6_1", "--timesteps", "1024", "--n-envs", "8",
            "--run-dir", str(tmp_path / "runs")]  # fmt: skip
    for param in ("env.horizon=60", "eval_freq=100000", "eval_episodes=2", "checkpoint_freq=100000", "n_steps=64",
                  "batch_size=128", "n_epochs=2", "policy_kwargs.ortho_init=false"):  # fmt: skip
        argv += ["-p", param]
    train.main(argv)
    run = tmp_path / "runs" / "serial_snyder_shen_6_1_ppo_seed0"
    model = PPO.load(run / "model.zip", device="cpu")  # corrections of both signs, for the sentences below
    with torch.no_grad():
        model.policy.action_net.bias[:] = torch.tensor([0.3, -0.2, 0.05])
    model.save(run / "model.zip")
    out = tmp_path / "policy"
    export.main([str(run), "--out", str(out), "--parity-observations", "3000"])
    meta = json.loads((out / "policy.json").read_text())
    assert meta["parity"]["mismatches"] == 0
    assert "the order of echelon_base_stock" in meta["action_mapping"]
    assert "echelon inventory position" in meta["action_mapping"]
    sb3_policy, scenario = rl.load_run(run)
    exported = OnnxPolicy.load(out)
    paths = evaluation_paths(scenario, 16, 9)
    np.testing.assert_array_equal(
        run_batch(exported, scenario, paths).avg_cost, run_batch(sb3_policy, scenario, paths).avg_cost
    )
    # recommend's sentences split each order into echelon base-stock's and the learned correction
    recommendations = recommend_network(exported, rollout_like(scenario, 60))
    levels = scenario.action_base.levels
    for i, row in enumerate(recommendations.explanations):
        for j, point in enumerate(recommendations.points):
            found = re.search(r"Echelon base-stock \(level (\d+)\) orders (\d+); the learned correction "
                              r"(adds (\d+)|takes off (\d+)|changes nothing)", row[j])  # fmt: skip
            assert found, row[j]
            level, base = int(found[1]), int(found[2])
            change = int(found[4] or 0) - int(found[5] or 0)
            assert level == levels[point]
            assert base == min(max(level - int(recommendations.positions[i, j]), 0), 60)
            assert base + change == recommendations.orders[i, j]


def test_the_networks_block_of_the_algo_config_applies_to_networks_only(tmp_path):
    default = yaml.safe_load((rl.ALGO_DIR / "ppo.yaml").read_text())["default"]
    path = tmp_path / "ppo.yaml"
    blocks = {
        "default": {**default, "learning_rate": 0.001},
        "networks": {"correction_periods": 1, "learning_rate": 0.002},
        OWMR: {"learning_rate": 0.003},
    }
    path.write_text(yaml.safe_dump(blocks))
    single = rl.load_hyperparameters(path, "ppo", "lost_sales_L1_p4")
    assert single.correction_periods is None and single.learning_rate == 0.001
    network = rl.load_hyperparameters(path, "ppo", "serial_shang_song_1", network=True)
    assert network.correction_periods == 1 and network.learning_rate == 0.002
    own = rl.load_hyperparameters(path, "ppo", OWMR, {"n_envs": 8}, network=True)  # the scenario's block wins
    assert own.correction_periods == 1 and own.learning_rate == 0.003 and own.n_envs == 8
    # the shipped config: every network corrects by at most one period of the demand a point serves
    shipped = rl.resolve_config("ppo", "serial_shang_song_1")
    assert [p.max_correction for p in shipped.scenario.stock_points] == [4, 4, 4, 4]  # Poisson(4)
