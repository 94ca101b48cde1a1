"""recommend.py: order lines from an exported policy, bad rows, explanations, and no torch on the way."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import recommend
import train
from agents.classic import BaseStock
from agents.deploy.explain import explanation_groups
from agents.deploy.export import ExportSource, export_policy, learned_source, rollout_observations
from agents.deploy.graphs import classic_graph, table_graph
from agents.deploy.orders import ORDER_COLUMNS
from agents.deploy.orders import recommend as recommend_orders
from agents.deploy.runtime import OnnxPolicy
from agents.deploy.state import read_state
from agents.exact import OptimalPolicy
from agents.references import optimal_policy
from envs.layout import ObservationLayout
from envs.scenario import load_scenario, single_item
from tests.conftest import layout

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "state.csv"


@pytest.fixture(scope="module")
def policies(tmp_path_factory) -> dict[str, Path]:
    """lost_sales_L2_p9 exported three ways: the DP optimum, base stock S = 19, and a tiny PPO run."""
    root = tmp_path_factory.mktemp("policies")
    scenario = single_item(load_scenario("lost_sales_L2_p9"), "this test")
    optimal, reason = optimal_policy(scenario)
    assert isinstance(optimal, OptimalPolicy), reason
    table = ExportSource("optimal", "optimal", optimal, scenario, *table_graph(optimal, 3), optimal.params())
    export_policy(table, root / "optimal", 3000)
    base_stock = BaseStock(19, layout(2))
    graph, mapping = classic_graph(base_stock, 3, scenario.max_order)
    rule = ExportSource("base_stock", "classic", base_stock, scenario, graph, mapping, base_stock.params())
    export_policy(rule, root / "base_stock", 3000)
    argv = [
        "--algo",
        "ppo",
        "--scenario",
        "lost_sales_L2_p9",
        "--timesteps",
        "512",
        "--n-envs",
        "8",
        "--run-dir",
        str(root / "runs"),
    ]
    for param in [
        "env.horizon=60",
        "eval_freq=100000",
        "eval_episodes=2",
        "checkpoint_freq=100000",
        "n_steps=64",
        "batch_size=128",
        "policy_kwargs.ortho_init=false",
    ]:
        argv += ["-p", param]
    train.main(argv)
    export_policy(learned_source(root / "runs" / "lost_sales_L2_p9_ppo_seed0"), root / "ppo", 3000)
    return {"optimal": root / "optimal", "base_stock": root / "base_stock", "ppo": root / "ppo"}


def read_orders(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def run(argv: list[str]) -> int | str | None:
    try:
        return recommend.main(argv)
    except SystemExit as exit_info:
        return exit_info.code


def test_example_state_file(policies, tmp_path, capsys):
    out = tmp_path / "orders.csv"
    assert run(["--policy", str(policies["optimal"]), "--state", str(EXAMPLE), "--out", str(out)]) == 0
    with open(out, newline="") as handle:
        assert tuple(next(csv.reader(handle))) == ORDER_COLUMNS
    lines = read_orders(out)
    state = np.loadtxt(EXAMPLE, delimiter=",", skiprows=1, usecols=(1, 2, 3), dtype=np.float32)
    optimal, _ = optimal_policy(load_scenario("lost_sales_L2_p9"))
    assert [int(line["order_quantity"]) for line in lines] == optimal.act(state).tolist()
    assert {line["policy"] for line in lines} == {"optimal"}
    assert {line["expected_arrival_period"] for line in lines} == {"2"}
    assert [line["inventory_position"] for line in lines] == [str(int(s)) for s in state.sum(axis=1)]
    assert all("inventory position" in line["explanation"] for line in lines)
    assert all("2-period lead time" in line["explanation"] for line in lines)
    assert f"{out}: 10 SKUs" in capsys.readouterr().err


BAD_ROWS = textwrap.dedent("""\
    sku,on_hand,arriving_in_0,arriving_in_1
    G-1,4,5,6
    B-missing,4,,6
    B-negative,-3,5,6
    B-text,4,five,6
    B-fraction,4.5,5,6
    B-fields,4,5
    G-1,1,1,1
    ,1,1,1

    B-infinite,inf,1,1
    G-2,0,0,0
    B-several,-1,x,
    G-3, 7 , 1.0 ,2
    B-huge,20000000,0,0
""")


def test_bad_rows_are_reported_with_their_line_and_the_rest_is_written(policies, tmp_path, capsys):
    state, out = tmp_path / "state.csv", tmp_path / "orders.csv"
    state.write_text(BAD_ROWS)
    exit_code = run(["--policy", str(policies["base_stock"]), "--state", str(state), "--out", str(out)])
    assert exit_code == recommend.PARTIAL_SUCCESS
    assert [line["sku"] for line in read_orders(out)] == ["G-1", "G-2", "G-3"]
    assert [line["order_quantity"] for line in read_orders(out)] == ["4", "19", "9"]
    stderr = capsys.readouterr().err.splitlines()
    skipped = [line.removeprefix(f"skipped {state} ") for line in stderr if line.startswith("skipped")]
    assert skipped == [
        "line 3: arriving_in_0: missing",
        "line 4: on_hand: negative (-3)",
        "line 5: arriving_in_0: not a number ('five')",
        "line 6: on_hand: not a whole number (4.5)",
        "line 7: has 3 fields, the header has 4",
        "line 8: sku 'G-1' repeats line 2",
        "line 9: sku: missing",
        "line 11: on_hand: not a finite number ('inf')",
        "line 13: on_hand: negative (-1); arriving_in_0: not a number ('x'); arriving_in_1: missing",
        "line 15: on_hand: beyond 16,777,216 units (20000000)",
    ]


def test_columns_in_any_order_and_extra_columns(policies, tmp_path):
    state = tmp_path / "state.csv"
    state.write_text("arriving_in_1,description,sku,arriving_in_0,on_hand\n6,blue widget,A,5,4\n")
    rows = read_state(state, OnnxPolicy.load(policies["base_stock"]).metadata["observation"])
    assert rows.skus == ["A"] and rows.obs.tolist() == [[4, 5, 6]] and rows.problems == []


@pytest.mark.parametrize(
    "case, message",
    [
        ("no_state_file", "state file not found"),
        ("missing_column", "missing column(s) arriving_in_1"),
        ("no_valid_row", "no valid row"),
        ("not_a_policy", "not an exported policy"),
        ("tampered_model", "its sha256 differs from the one in policy.json"),
        ("incomplete_metadata", "incomplete policy description (missing: explanation)"),
        ("edited_observation", "its digest does not match policy.json and policy.onnx together"),
        ("unwritable_output", "cannot be checked (Not a directory)"),
    ],
)
def test_bad_input_is_one_line_and_exit_code_2(case, message, policies, tmp_path, capsys):
    policy, state = policies["base_stock"], tmp_path / "state.csv"
    state.write_text("sku,on_hand,arriving_in_0,arriving_in_1\nA,1,2,3\n")
    if case == "no_state_file":
        state = tmp_path / "missing.csv"
    elif case == "missing_column":
        state.write_text("sku,on_hand,arriving_in_0\nA,1,2\n")
    elif case == "no_valid_row":
        state.write_text("sku,on_hand,arriving_in_0,arriving_in_1\nA,-1,2,3\n")
    elif case == "not_a_policy":
        policy = tmp_path
    elif case == "tampered_model":
        policy = tmp_path / "policy"
        policy.mkdir()
        (policy / "policy.json").write_bytes((policies["base_stock"] / "policy.json").read_bytes())
        (policy / "policy.onnx").write_bytes((policies["optimal"] / "policy.onnx").read_bytes())
    elif case == "incomplete_metadata":
        policy = tmp_path / "policy"
        policy.mkdir()
        metadata = json.loads((policies["base_stock"] / "policy.json").read_text())
        del metadata["explanation"]
        (policy / "policy.json").write_text(json.dumps(metadata))
        (policy / "policy.onnx").write_bytes((policies["base_stock"] / "policy.onnx").read_bytes())
    elif case == "edited_observation":  # the ONNX file and its sha256 unchanged: the columns swapped
        policy = tmp_path / "policy"
        policy.mkdir()
        metadata = json.loads((policies["base_stock"] / "policy.json").read_text())
        first, second = metadata["observation"][1]["name"], metadata["observation"][2]["name"]
        metadata["observation"][1]["name"], metadata["observation"][2]["name"] = second, first
        (policy / "policy.json").write_text(json.dumps(metadata))
        (policy / "policy.onnx").write_bytes((policies["base_stock"] / "policy.onnx").read_bytes())
    out = tmp_path / "orders.csv"
    if case == "unwritable_output":
        (tmp_path / "blocker").write_text("a file where a directory is needed")
        out = tmp_path / "blocker" / "orders.csv"
    assert run(["--policy", str(policy), "--state", str(state), "--out", str(out)]) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if not line.startswith("skipped")]
    assert len(errors) == 1 and errors[0].startswith("error: ") and message in errors[0]
    assert not out.exists()


def test_json_with_review_cap_and_atomic_replacement(policies, tmp_path):
    out = tmp_path / "orders.json"
    out.write_text("an older file")
    assert (
        run(
            [
                "--policy",
                str(policies["base_stock"]),
                "--state",
                str(EXAMPLE),
                "--out",
                str(out),
                "--format",
                "json",
                "--review-above",
                "10",
            ]
        )
        == 0
    )
    result = json.loads(out.read_text())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["orders.json"]  # no temporary file left
    orders = result["orders"]
    assert result["review_above"] == 10 and result["skipped_rows"] == []
    assert [o["needs_review"] for o in orders] == [o["order_quantity"] > 10 for o in orders]
    assert any(o["needs_review"] for o in orders)
    flagged = next(o for o in orders if o["needs_review"])
    assert "Above the review cap of 10: check before ordering." in flagged["explanation"]
    for order in orders:  # Shapley values add up to the order minus the typical state's order
        difference = order["order_quantity"] - result["typical_order"]
        assert sum(order["attributions"].values()) == pytest.approx(difference, abs=0.01)
        if order["order_quantity"] > 0:
            assert order["order_up_to_level"] == order["inventory_position"] + order["order_quantity"] == 19


def rollout_states(policy: OnnxPolicy, n: int = 5000) -> np.ndarray:
    """States a policy meets, widened by random ones (empty pipelines, overstock)."""
    scenario = single_item(load_scenario("lost_sales_L2_p9"), "this test")
    seen = rollout_observations(policy, scenario, n, seed=11).reshape(-1, 3)[:n]
    wide = np.random.default_rng(4).integers(0, 30, size=(n, 3)).astype(np.float32)
    return np.concatenate([seen, wide])


def test_base_stock_explanations_are_sane(policies):
    """More on hand never means a larger order, and the on-hand attribution has the sign of its deviation."""
    policy = OnnxPolicy.load(policies["base_stock"])
    states = rollout_states(policy)
    orders = policy.act(states)
    for extra in (1, 2, 5):
        more = states.copy()
        more[:, 0] += extra
        assert np.all(policy.act(more) <= orders)
    recs = recommend_orders(policy, states)
    typical_on_hand = policy.metadata["explanation"]["typical_state"][0]
    on_hand_effect = recs.attributions[:, recs.groups.index("on_hand")]
    assert np.all(on_hand_effect[states[:, 0] > typical_on_hand] <= 0)
    assert np.all(on_hand_effect[states[:, 0] < typical_on_hand] >= 0)
    np.testing.assert_allclose(recs.attributions.sum(axis=1), recs.orders - recs.typical_order, atol=1e-9)


def test_trained_policy_explanations_report(policies, capsys):
    """How often the trained policy's orders and attributions follow the base-stock logic (reported, not required)."""
    policy = OnnxPolicy.load(policies["ppo"])
    states = rollout_states(policy)
    more = states.copy()
    more[:, 0] += 1
    monotone = float(np.mean(policy.act(more) <= policy.act(states)))
    recs = recommend_orders(policy, states)
    np.testing.assert_allclose(recs.attributions.sum(axis=1), recs.orders - recs.typical_order, atol=1e-9)
    deviation = states[:, 0] - policy.metadata["explanation"]["typical_state"][0]
    effect = recs.attributions[:, recs.groups.index("on_hand")]
    signed = float(np.mean(effect[deviation != 0] * deviation[deviation != 0] <= 0))
    with capsys.disabled():
        print(
            f"\ntiny PPO on {len(states):,} test states: one more unit on hand does not raise the order in "
            f"{100 * monotone:.1f}%; the on-hand attribution has the base-stock sign in {100 * signed:.1f}%"
        )
    assert 0.0 <= monotone <= 1.0


def test_explanation_groups_stay_few():
    seasonal = ObservationLayout(load_scenario("seasonal_promo")).names
    keys = [g.key for g in explanation_groups(seasonal)]
    assert keys == ["on_hand", "arriving_in_0", "arriving_in_1", "recent_demand", "demand_features_ahead"]
    history = ObservationLayout(load_scenario("csv_history")).names
    keys = [g.key for g in explanation_groups(history)]
    assert keys == ["on_hand", "arriving_in_0", "arriving_in_1", "arriving_in_2", "promotion_ahead"]


def test_recommend_runs_with_torch_and_sb3_unimportable(policies, tmp_path):
    """A learned policy's recommendations in a Python where torch, stable_baselines3 and pickle fail."""
    blocker = tmp_path / "blocker"
    blocker.mkdir()
    (blocker / "sitecustomize.py").write_text(
        textwrap.dedent("""\
        import pickle, sys

        class Blocker:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in ("torch", "stable_baselines3"):
                    raise ImportError(f"{name} is blocked in this test")

        def refuse(*args, **kwargs):
            raise RuntimeError("pickle is blocked in this test")

        sys.meta_path.insert(0, Blocker())
        pickle.load = pickle.loads = refuse
    """)
    )
    env = {**os.environ, "PYTHONPATH": str(blocker)}
    probe = subprocess.run([sys.executable, "-c", "import torch"], env=env, capture_output=True, text=True)
    assert probe.returncode != 0 and "blocked" in probe.stderr
    out = tmp_path / "orders.csv"
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "recommend.py"),
            "--policy",
            str(policies["ppo"]),
            "--state",
            str(EXAMPLE),
            "--out",
            str(out),
        ],
        env=env,
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    policy = OnnxPolicy.load(policies["ppo"])
    state = read_state(EXAMPLE, policy.metadata["observation"])
    assert [int(line["order_quantity"]) for line in read_orders(out)] == policy.act(state.obs).tolist()


# What importing the recommend path may not load: the training and export stacks, and scipy
# (envs.scenario and envs.demand import scipy.stats). gymnasium is loaded: importing envs registers
# Inventory-v1 with it, as it always has.
HEAVY_MODULES = ("torch", "stable_baselines3", "onnx", "ml_dtypes", "scipy", "envs.scenario", "envs.demand")


def test_the_recommend_path_imports_no_training_export_or_scipy_module(tmp_path):
    probe = textwrap.dedent(f"""\
        import sys
        sys.path.insert(0, {str(ROOT)!r})
        import recommend
        print(",".join(name for name in {HEAVY_MODULES!r} if name in sys.modules))
        print(recommend.__file__)
    """)
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    loaded, imported_from = done.stdout.splitlines()
    assert loaded == "", f"the recommend path imports {loaded}"
    assert Path(imported_from).parent == ROOT
