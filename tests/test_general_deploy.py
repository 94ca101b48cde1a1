"""A general single-item policy deployed: export.py (ONNX actor, parity with torch) and recommend.py with a
state file whose rows bring each SKU's parameters."""

from __future__ import annotations

import csv
import itertools
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import export
import recommend
from agents.deploy.explain import format_number
from agents.deploy.export import rollout_observations
from agents.deploy.general import GeneralActor, read_general_state, recommend_general
from agents.deploy.general_export import ACTION_TOLERANCE, PARITY_SCENARIOS
from agents.deploy.runtime import OnnxPolicy, sha256
from agents.rl.general import GeneralPolicy, load_general, save_general
from envs.assortment import SkuView
from envs.errors import UserError
from envs.general import FEATURES, MAX_LEAD_TIME, PARAMETERS, ItemParameters, item_features, level_orders
from envs.population import RANGE
from envs.scenario import load_scenario
from tests.conftest import make_scenario

ROOT = Path(__file__).resolve().parent.parent
PARITY = 2000  # rollout features the export is checked on here (its default is 10,000)


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> tuple[Path, Path]:
    """A general policy of random weights (large enough that its actions range over [-1, 1]) and its export."""
    root = tmp_path_factory.mktemp("general")
    rng = np.random.default_rng(14)
    sizes = [len(FEATURES), 16, 16, 1]
    layers = [
        (rng.normal(size=(b, a)) * 1.5 / np.sqrt(a), rng.normal(size=b) * 0.3) for a, b in itertools.pairwise(sizes)
    ]
    save_general(root / "general", layers, "tanh", {"timesteps": 0, "trained_on": {"size": 4}, "range": RANGE})
    export.main([str(root / "general"), "--out", str(root / "exported"), "--parity-observations", str(PARITY)])
    return root / "general", root / "exported"


def run(argv: list[str]) -> int | str | None:
    try:
        return recommend.main(argv)
    except SystemExit as exit_info:
        return exit_info.code


def read_orders(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def test_export_is_the_torch_actor_and_records_its_check(exported):
    source, out = exported
    meta = json.loads((out / "policy.json").read_text())
    assert meta["kind"] == "general" and meta["features"] == list(FEATURES) and meta["max_lead_time"] == MAX_LEAD_TIME
    assert meta["trained"]["trained_on"] == {"size": 4} and meta["onnx"]["input"] == "features"
    assert "mean_demand" in meta["parameter_columns"] and "onnxruntime" in meta["versions"]
    assert meta["hashes"]["source"]["sha256"] == sha256((source / "general_policy.npz").read_bytes())
    parity = meta["parity"]
    assert [s["scenario"] for s in parity["scenarios"]] == [load_scenario(name).name for name in PARITY_SCENARIOS]
    assert parity["features"] >= PARITY
    assert parity["order_mismatches"] == 0 and parity["largest_action_difference"] <= ACTION_TOLERANCE

    # beyond the rollouts: features spread over and beyond the range a policy meets
    actor, _ = load_general(source)
    features = np.random.default_rng(3).normal(scale=2.0, size=(5000, len(FEATURES))).astype(np.float32)
    with torch.no_grad():
        expected = actor(torch.from_numpy(features)).numpy()[:, 0]
    got = GeneralActor.load(out).actions(features)
    np.testing.assert_allclose(got, expected, atol=ACTION_TOLERANCE)
    assert expected.min() < -1 and expected.max() > 1  # the actions the test covers reach the clipping


def scenario_state(path: Path, scenario, obs: np.ndarray) -> None:
    """A state file of one row per observation of a single item, with the item's parameters (as SkuView has them)."""
    view = SkuView(scenario)
    p = dict(zip(PARAMETERS, view.parameters[0].tolist(), strict=True))
    rows = view.rows(obs)[:, 0, : 1 + int(p["max_lead_time"])]
    stock = "on_hand" if scenario.lost_sales else "net_inventory"
    columns = [stock, *(f"arriving_in_{k}" for k in range(rows.shape[1] - 1))]
    parameters = {
        "mean_demand": p["mean_demand"], "demand_variance": p["demand_variance"], "lead_time": p["mean_lead_time"],
        "lead_time_variance": p["lead_time_variance"], "holding_cost": p["holding_cost"],
        "shortage_cost": p["shortage_cost"], "fixed_order_cost": p["fixed_order_cost"],
        "lost_sales": str(bool(p["lost_sales"])).lower(), "max_order": int(p["max_order"]),
    }  # fmt: skip
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["sku", *columns, *parameters])
        for i, row in enumerate(rows.tolist()):
            writer.writerow(
                [
                    f"item{i}",
                    *(int(v) for v in row),
                    *(v if isinstance(v, str) else repr(v) for v in parameters.values()),
                ]
            )


@pytest.mark.parametrize(
    "name", PARITY_SCENARIOS[1:], ids=lambda name: Path(name).stem
)  # backorders and lost sales, random lead times, order costs
def test_exported_orders_equal_the_general_policy_on_a_scenario_state(name, exported, tmp_path):
    source, out = exported
    scenario = load_scenario(name)
    policy = GeneralPolicy(load_general(source)[0], scenario)
    obs = rollout_observations(policy, scenario, 500)
    obs = obs.reshape(-1, obs.shape[-1])[:500]
    scenario_state(tmp_path / "state.csv", scenario, obs)
    state = read_general_state(tmp_path / "state.csv")
    assert state.rows.problems == [] and len(state.rows.skus) == 500
    recs = recommend_general(GeneralActor.load(out), state)
    expected = policy.act(obs)
    np.testing.assert_array_equal(recs.orders, expected)
    assert len(np.unique(expected)) > 3


def expected_order(actor, scenario, stock: float, pipeline: list[float]) -> tuple[int, ItemParameters]:
    """The order of the general policy for one item of ``scenario`` recomputed from envs.general and the torch actor."""
    items = ItemParameters.from_view(SkuView(scenario).parameters)
    rows = np.array([[[stock, *pipeline]]])
    with torch.no_grad():
        action = actor(torch.from_numpy(item_features(rows, items)[0])).numpy().astype(np.float64)
    return int(level_orders(action, np.array([[stock + sum(pipeline)]]), items)[0, 0]), items


def test_recommend_end_to_end_with_two_skus_of_different_parameters(exported, tmp_path):
    source, out = exported
    state = tmp_path / "state.csv"
    state.write_text(
        "sku,net_inventory,arriving_in_0,arriving_in_1,arriving_in_2,mean_demand,demand_variance,lead_time,"
        "holding_cost,shortage_cost,fixed_order_cost,lost_sales,max_order,note\n"
        "WIDGET-1,3,4,0,6,5,5,3,1,9,0,true,20,a fast mover\n"
        "GADGET-2,-7,0,2,0,12,30,2,2.5,40,100,false,200,backordered\n"
    )
    done = subprocess.run(
        [sys.executable, str(ROOT / "recommend.py"), "--policy", str(out), "--state", str(state), "--out", "o.csv"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    lines = read_orders(tmp_path / "o.csv")
    actor, _ = load_general(source)
    widget = make_scenario(lead_time=3, holding_cost=1.0, shortage_cost=9.0, max_order=20)  # Poisson(5), lost sales
    gadget = make_scenario(
        demand={"dist": "negative_binomial", "mean": 12, "variance": 30}, lead_time=2, lost_sales=False,
        holding_cost=2.5, shortage_cost=40.0, fixed_order_cost=100.0, max_order=200,
    )  # fmt: skip
    for line, scenario, stock, pipeline in [(lines[0], widget, 3, [4, 0, 6]), (lines[1], gadget, -7, [0, 2])]:
        order, items = expected_order(actor, scenario, stock, pipeline)
        assert int(line["order_quantity"]) == order
        assert float(line["inventory_position"]) == stock + sum(pipeline)
        assert line["expected_arrival_period"] == str(scenario.lead_time)
        s, big_s = items.reorder_point[0], items.reorder_point[0] + items.order_quantity[0]
        assert f"s {format_number(s)}, S {format_number(big_s)}" in line["explanation"]
        assert line["explanation"].startswith(f"Order {order}, up to" if order else "No order")
    assert "(Q 31)" in lines[1]["explanation"]  # the EOQ sqrt(2 x 100 x 12 / 2.5) = 30.98
    assert "(base stock)" in lines[0]["explanation"] and "net inventory -7" in lines[1]["explanation"]


def test_bad_rows_are_reported_with_their_line_and_the_rest_written(exported, tmp_path, capsys):
    _, out = exported
    state = tmp_path / "state.csv"
    head = (
        "sku,on_hand,arriving_in_0,arriving_in_4,mean_demand,lead_time,holding_cost,shortage_cost,lost_sales,max_order"
    )
    state.write_text(
        f"{head}\n"
        "A,3,1,0,5,2,1,9,1,20\n"
        "B,3,1,0,0,2,1,9,1,20\n"  # no demand
        "C,3,1,0,5,5,1,9,1,20\n"  # lead time above 4
        "D,3,1,0,5,2,0,9,1,20\n"  # no holding cost
        "E,3,1,0,5,2,1,-9,yes,20\n"  # negative shortage cost, not a flag
        "=F,3,1,0,5,2,1,9,0,20\n"  # a formula
        "G,3,1,2,5,2,1,9,0,20\n"  # units arriving in 4 periods
        "H,3,1,0,x,2,1,9,0,20\n"
    )
    assert run(["--policy", str(out), "--state", str(state), "--out", str(tmp_path / "o.csv")]) == 3
    skipped = [line for line in capsys.readouterr().err.splitlines() if line.startswith("skipped")]
    assert [line.split(":")[0] for line in skipped] == [f"skipped {state} line {k}" for k in range(3, 10)]
    assert "mean_demand: 0" in skipped[0] and "lead_time: above 4" in skipped[1] and "holding_cost: 0" in skipped[2]
    assert "shortage_cost: negative (-9)" in skipped[3] and "lost_sales: not true, false, 1 or 0" in skipped[3]
    assert "formula" in skipped[4] and "arriving_in_4" in skipped[5] and "not a number ('x')" in skipped[6]
    assert [line["sku"] for line in read_orders(tmp_path / "o.csv")] == ["A"]


@pytest.mark.parametrize(
    "header, message",
    [
        ("sku,on_hand,lead_time,holding_cost,shortage_cost,lost_sales,max_order", "missing column(s) mean_demand"),
        ("sku,on_hand,net_inventory,mean_demand,lead_time,holding_cost,shortage_cost,lost_sales,max_order", "both"),
        ("sku,arriving_in_0,mean_demand,lead_time,holding_cost,shortage_cost,lost_sales,max_order", "neither"),
    ],
)
def test_a_missing_column_is_one_line_and_exit_code_2(header, message, exported, tmp_path, capsys):
    _, out = exported
    state = tmp_path / "state.csv"
    state.write_text(f"{header}\n" + ",".join(["A"] + ["1"] * (header.count(","))) + "\n")
    assert run(["--policy", str(out), "--state", str(state), "--out", str(tmp_path / "o.csv")]) == 2
    errors = capsys.readouterr().err.splitlines()
    assert len(errors) == 1 and errors[0].startswith("error: ") and message in errors[0]
    assert not (tmp_path / "o.csv").exists()


def test_an_edited_policy_json_is_refused(exported, tmp_path, capsys):
    _, out = exported
    policy = tmp_path / "policy"
    policy.mkdir()
    meta = json.loads((out / "policy.json").read_text())
    meta["max_lead_time"] = 3
    (policy / "policy.json").write_text(json.dumps(meta))
    (policy / "policy.onnx").write_bytes((out / "policy.onnx").read_bytes())
    state = tmp_path / "state.csv"
    state.write_text(
        "sku,on_hand,mean_demand,lead_time,holding_cost,shortage_cost,lost_sales,max_order\nA,1,5,1,1,9,1,20\n"
    )
    assert run(["--policy", str(policy), "--state", str(state), "--out", str(tmp_path / "o.csv")]) == 2
    errors = capsys.readouterr().err.splitlines()
    assert len(errors) == 1 and "its digest does not match policy.json and policy.onnx together" in errors[0]
    assert not (tmp_path / "o.csv").exists()


def test_an_exported_general_policy_is_not_a_scenario_policy(exported):
    with pytest.raises(UserError, match="a general policy"):
        OnnxPolicy.load(exported[1])


def test_export_of_a_general_policy_takes_no_scenario(exported, capsys):
    with pytest.raises(SystemExit) as exit_info:
        export.main([str(exported[0]), "--scenario", "lost_sales_L2_p9"])
    assert exit_info.value.code == 2
    errors = capsys.readouterr().err.splitlines()
    assert len(errors) == 1 and "--scenario: a general policy" in errors[0]


def test_the_example_state_file_is_valid(exported, tmp_path, capsys):
    out = tmp_path / "orders.json"
    example = ROOT / "examples" / "general_state.csv"
    assert run(["--policy", str(exported[1]), "--state", str(example), "--out", str(out), "--format", "json"]) == 0
    orders = json.loads(out.read_text())["orders"]
    assert [line["sku"] for line in orders] == ["SKU-001", "SKU-002", "SKU-003", "SKU-004"]
    assert [line["expected_arrival_period"] for line in orders] == [2, 2, 3, 1]
    assert "lead time (1.4 periods on average)" in orders[3]["explanation"]
    assert "4 SKUs" in capsys.readouterr().err


def test_a_sku_outside_the_trained_range_says_so_in_its_line(exported, tmp_path):
    _, policy = exported
    out = tmp_path / "orders.csv"
    assert run(
        ["--policy", str(policy), "--state", str(ROOT / "examples" / "general_state.csv"), "--out", str(out)]
    ) in (0, None)
    lines = {row["sku"]: row["explanation"] for row in read_orders(out)}
    # SKU-002: K = 150, h = 0.5, mean 18.5: an EOQ of 105 units, 5.7 periods of demand (trained on up to 4)
    assert "Outside the range the policy was trained on: order_cycle 5.69 (trained on 0..4)." in lines["SKU-002"]
    assert "Outside" not in lines["SKU-001"]


def test_the_general_recommend_path_imports_no_training_simulation_or_scipy_module(tmp_path):
    heavy = ("torch", "stable_baselines3", "onnx", "scipy", "pandas", "numba", "envs.scenario", "envs.kernel")
    probe = (
        f"import sys; sys.path.insert(0, {str(ROOT)!r}); import recommend, agents.deploy.general; "
        f"print(','.join(name for name in {heavy!r} if name in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "", f"the general recommend path imports {done.stdout.strip()}"
