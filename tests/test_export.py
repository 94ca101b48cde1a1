"""Export: ONNX graphs equal to the policies they come from (classic, DP table, PPO, DQN), and the export CLI."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

import export
import train
from agents.classic import BaseStock, CappedBaseStock, ReorderPointQuantity, SSPolicy
from agents.deploy.export import PARITY_OBSERVATIONS, learned_source, load_exported, rollout_observations
from agents.deploy.graphs import classic_graph, table_graph
from agents.deploy.runtime import OnnxPolicy, sha256
from agents.references import optimal_policy
from envs.batch import evaluation_paths, run_batch
from envs.scenario import load_scenario
from tests.conftest import layout


def onnx_policy(graph, obs_dim: int) -> OnnxPolicy:
    entries = [{"name": f"x{i}"} for i in range(obs_dim)]
    return OnnxPolicy(graph.SerializeToString(), {"name": "test", "observation": entries})


def random_observations(rng: np.random.Generator, n: int, obs_dim: int, low: int, high: int) -> np.ndarray:
    """Whole numbers in low..high, a share of them off by exactly or almost half a unit (rounding edges)."""
    obs = rng.integers(low, high + 1, size=(n, obs_dim)).astype(np.float32)
    obs[: n // 10] += 0.5
    obs[n // 10 : n // 5] += rng.uniform(-0.49, 0.49, size=(n // 5 - n // 10, obs_dim)).astype(np.float32)
    return obs


@pytest.mark.parametrize("lead_time", [0, 1, 3])
@pytest.mark.parametrize(
    "make",
    [
        lambda n: BaseStock(17, layout(n)),
        lambda n: CappedBaseStock(17, 6, layout(n)),
        lambda n: SSPolicy(4, 30, layout(n)),
        lambda n: SSPolicy(-5, 12, layout(n)),
        lambda n: ReorderPointQuantity(5, 7, layout(n)),
        lambda n: ReorderPointQuantity(-3, 4, layout(n)),
    ],
)
def test_classic_graphs_equal_the_numpy_policies(make, lead_time):
    policy = make(lead_time)
    obs_dim = 1 + lead_time + 2  # two extra columns (history, features) the rule must ignore
    graph, _ = classic_graph(policy, obs_dim, max_order=20)
    obs = random_observations(np.random.default_rng(lead_time), 20_000, obs_dim, -30, 40)
    np.testing.assert_array_equal(onnx_policy(graph, obs_dim).act(obs), np.clip(policy.act(obs), 0, 20))


@pytest.mark.parametrize(
    "scenario, overrides",
    [
        ("lost_sales_L1_p4", {}),
        ("lost_sales_L1_p4", {"lead_time": 0}),
        ("lost_sales_L3_p9", {}),
        ("backorder_K64", {}),
        ("backorder_K64", {"lead_time": 2}),
    ],
)
def test_dp_table_reproduces_the_optimal_policy(scenario, overrides):
    """Inside and outside the table (positions above the bound, negative entries, below lo)."""
    policy, _ = optimal_policy(load_scenario(scenario, **overrides))
    L, (lo, hi) = policy.result.lead_time, policy.result.bounds
    obs_dim = 1 + L + 1
    graph, _ = table_graph(policy, obs_dim)
    rng = np.random.default_rng(1)
    spread = max(hi // max(L, 1), 4)
    obs = random_observations(rng, 40_000, obs_dim, -3, spread + 3)
    if not policy.result.lost_sales:
        obs[:, 0] = rng.integers(lo - 60, hi + 10, size=len(obs))
    np.testing.assert_array_equal(onnx_policy(graph, obs_dim).act(obs), policy.act(obs))


@pytest.mark.slow
def test_dp_table_of_the_largest_grid_instance_stays_small():
    """lead time 4, p = 39: position bound 36, a dense 38^4 int8 table (about 2 MB)."""
    policy, _ = optimal_policy(load_scenario("lost_sales_L4_p39"))
    graph, mapping = table_graph(policy, 5)
    assert policy.result.bounds[1] == 36 and "38^4 int8" in mapping
    assert len(graph.SerializeToString()) < 2.5e6
    obs = random_observations(np.random.default_rng(2), 20_000, 5, -2, 12)
    np.testing.assert_array_equal(onnx_policy(graph, 5).act(obs), policy.act(obs))


def test_export_a_tuned_classic_policy_by_name(tmp_path):
    out = tmp_path / "base_stock"
    export.main(["base_stock", "--scenario", "lost_sales_L1_p4", "--out", str(out)])
    meta = json.loads((out / "policy.json").read_text())
    assert meta["format"] == "inventory-policy/2" and meta["kind"] == "classic" and meta["name"] == "base_stock"
    assert meta["hashes"]["policy.onnx"] == sha256((out / "policy.onnx").read_bytes())
    assert meta["parity"] == {**meta["parity"], "observations": PARITY_OBSERVATIONS, "mismatches": 0}
    assert [e["name"] for e in meta["observation"]] == ["on_hand", "arriving_in_0"]
    assert meta["scenario"]["name"] == "lost_sales_L1_p4" and meta["costs"]["shortage_cost"] == 4
    assert {"numpy", "onnx", "onnxruntime"} <= set(meta["versions"])
    assert meta["sanity"]["share_where_one_more_on_hand_does_not_raise_the_order"] == 1.0
    S = meta["params"]["S"]
    assert meta["explanation"]["order_up_to_level"] == S

    # the evaluator can run an exported policy; it acts as the policy it came from
    policy, scenario = load_exported(out)
    paths = evaluation_paths(scenario, 20, 7)
    expected = run_batch(BaseStock(S, layout(1)), scenario, paths).avg_cost
    np.testing.assert_array_equal(run_batch(policy, scenario, paths).avg_cost, expected)


def test_export_replaces_an_earlier_export_whole(tmp_path):
    out = tmp_path / "optimal"
    for scenario in ("lost_sales_L1_p4", "lost_sales_L2_p9"):
        export.main(["optimal", "--scenario", scenario, "--out", str(out), "--parity-observations", "2000"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["optimal"]
    meta = json.loads((out / "policy.json").read_text())
    assert meta["scenario"]["name"] == "lost_sales_L2_p9" and meta["parity"]["mismatches"] == 0
    assert OnnxPolicy.load(out).observation_names == ["on_hand", "arriving_in_0", "arriving_in_1"]


@pytest.mark.parametrize(
    "argv, message",
    [
        (["best_policy", "--scenario", "lost_sales_L1_p4"], "best_policy: no such run directory or model"),
        (["s_S"], "s_S: --scenario is needed"),
        (["optimal", "--scenario", "seasonal_promo"], "optimal: cannot be computed for seasonal_promo"),
        (["optimal", "--scenario", "no_such_scenario"], "no_such_scenario: no such scenario"),
    ],
)
def test_export_user_errors_are_one_line(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        export.main(argv)
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and message in err and err.count("\n") == 1


def test_export_refuses_to_overwrite_another_directory(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(SystemExit) as exit_info:
        export.main(["optimal", "--scenario", "lost_sales_L1_p4", "--out", str(tmp_path)])
    assert exit_info.value.code == 2 and "is not a directory this command wrote" in capsys.readouterr().err
    assert (tmp_path / "notes.txt").read_text() == "mine"


# ---------------------------------------------------------------------------------------------
# Learned policies: tiny PPO and DQN runs made with train.py


def train_tiny(algo: str, run_dir: Path, action_meaning: str = "quantity") -> Path:
    """1024 steps on lost_sales_L2_p9 with short episodes: the network has its full size, its skill is irrelevant."""
    params = {
        # without the orthogonal init's tiny last layer PPO's orders vary from the start
        "ppo": ["n_steps=64", "batch_size=128", "n_epochs=2", "policy_kwargs.ortho_init=false"],
        "dqn": ["learning_starts=64", "buffer_size=2000", "exploration_fraction=0.5"],
    }[algo]
    argv = [
        "--algo",
        algo,
        "--scenario",
        "lost_sales_L2_p9",
        "--timesteps",
        "1024",
        "--n-envs",
        "8",
        "--run-dir",
        str(run_dir),
    ]
    meaning = ["correct_classic=true"]
    if action_meaning != "correction":
        meaning = ["correct_classic=false", f"env.action_meaning={action_meaning}"]
    for param in [
        "env.horizon=60",
        *meaning,
        "eval_freq=100000",
        "eval_episodes=2",
        "checkpoint_freq=100000",
        *params,
    ]:
        argv += ["-p", param]
    train.main(argv)
    return run_dir / f"lost_sales_L2_p9_{algo}_seed0"


@pytest.mark.slow
@pytest.mark.parametrize(
    "algo, action_meaning",
    [("ppo", "quantity"), ("ppo", "level"), ("ppo", "correction"), ("dqn", "quantity"), ("dqn", "level")],
)
def test_learned_export_parity(algo, action_meaning, tmp_path, single_threaded_torch, capsys):
    """ONNX orders == SB3 predict(deterministic=True) mapped by orders_from_actions, on 10,000 rollout
    observations (the export's own check) and on 20,000 states spread over the state space."""
    from agents.rl import load_run

    run = train_tiny(algo, tmp_path / "runs", action_meaning)
    out = tmp_path / "policy"
    export.main([str(run), "--out", str(out)])
    meta = json.loads((out / "policy.json").read_text())
    assert meta["parity"]["observations"] == PARITY_OBSERVATIONS
    assert meta["parity"]["mismatches"] == 0
    assert meta["hashes"]["source"]["sha256"] == sha256((run / "model.zip").read_bytes())
    assert meta["kind"] == "learned" and meta["params"]["algo"] == algo.upper()
    action_range = 60 if action_meaning == "level" else 20  # lead time 2: (2 + 1) * max_order
    expected_mapping = {"dqn": "argmax of the Q-values", "ppo": f"round((a + 1) / 2 * {action_range})"}[algo]
    if action_meaning == "correction":
        trained_on = load_scenario(run / "scenario.yaml")
        expected_mapping = f"round(a * {trained_on.action_range}) + the order of {trained_on.action_base.policy}"
    assert expected_mapping in meta["action_mapping"]
    assert ("inventory position" in meta["action_mapping"]) == (action_meaning != "quantity")

    sb3_policy, scenario = load_run(run)
    exported = OnnxPolicy.load(out)
    rollouts = rollout_observations(sb3_policy, scenario, PARITY_OBSERVATIONS).reshape(-1, 3)[:PARITY_OBSERVATIONS]
    np.testing.assert_array_equal(exported.act(rollouts), sb3_policy.act(rollouts))
    spread = random_observations(np.random.default_rng(3), 20_000, 3, 0, 25)
    expected = sb3_policy.act(spread)
    np.testing.assert_array_equal(exported.act(spread), expected)
    assert len(np.unique(expected)) > 1

    # another model of the run is named after it
    for suffix in (".zip", ".vecnormalize.json"):
        shutil.copy(run / f"model{suffix}", run / f"best_model{suffix}")
    assert learned_source(run / "best_model.zip").name == f"{run.name}_best_model"

    share = meta["sanity"]["share_where_one_more_on_hand_does_not_raise_the_order"]
    with capsys.disabled():
        print(f"\n{algo}: one more unit on hand does not raise the order in {100 * share:.1f}% of the rollout states")
