"""Networks through evaluate.py, export.py and recommend.py: the same policy on the same demand,
ONNX parity, one order per stock point with an explanation that adds up."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

import evaluate
import export
import recommend
from agents.classic.echelon import NetworkBaseStock
from agents.deploy.export import load_exported
from agents.deploy.network import recommend_network
from agents.deploy.runtime import OnnxPolicy
from envs.batch import evaluation_paths, run_batch
from envs.layout import ObservationLayout
from envs.scenario import load_scenario

SERIAL = "serial_snyder_shen_6_1"


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """The exact optimal echelon levels of the serial system, exported."""
    out = tmp_path_factory.mktemp("policy") / "optimal"
    export.main(["optimal", "--scenario", SERIAL, "--out", str(out), "--parity-observations", "3000"])
    return out


def test_evaluate_compares_network_policies_with_per_point_kpis(tmp_path, capsys):
    out = tmp_path / "results"
    evaluate.main(["--scenario", SERIAL, "--episodes", "60", "--policy", "installation_base_stock", "--policy",
                   "optimal", "--out", str(out)])  # fmt: skip
    records = {r["policy"]: r for r in json.loads((out / "results.json").read_text())}
    assert records["optimal"]["params"] == {"exact_cost": 52.0467, "stage1": 9, "stage2": 15, "stage3": 26}
    points = records["optimal"]["stock_points"]
    assert list(points) == ["stage3", "stage2", "stage1"]
    assert points["stage1"]["fill_rate"] > 0.9 and np.isnan(points["stage3"]["fill_rate"] or np.nan)
    # echelon stock at the top covers everything below it
    assert points["stage3"]["avg_echelon_stock"] > points["stage2"]["avg_echelon_stock"] > 0
    # installation levels see nothing downstream: worse than the optimal echelon levels, significantly
    paired = records["optimal"]["paired_vs_best_classic"]
    assert paired["against"] == "installation_base_stock" and paired["ci95"][1] < 0
    assert "per stock point:" in capsys.readouterr().out


def test_an_exported_network_policy_acts_as_the_policy_it_came_from(exported):
    meta = json.loads((exported / "policy.json").read_text())
    assert meta["parity"]["mismatches"] == 0 and list(meta["stock_points"]) == ["stage3", "stage2", "stage1"]
    assert meta["stock_points"]["stage1"]["supplier"] == "stage2"
    policy, scenario = load_exported(exported)
    layout = ObservationLayout(scenario)
    paths = evaluation_paths(scenario, 20, 3)
    expected = run_batch(NetworkBaseStock(np.array([26, 15, 9]), layout), scenario, paths).avg_cost
    np.testing.assert_array_equal(run_batch(policy, scenario, paths).avg_cost, expected)


def test_recommend_writes_one_order_per_stock_point_with_attributions_that_add_up(exported, tmp_path):
    policy = OnnxPolicy.load(exported)
    names = policy.observation_names
    state = tmp_path / "state.csv"
    # stage 3: 10 on hand, 5 + 4 arriving; stage 2: 2 on hand, 3 arriving, awaits 0; stage 1: backlog 2, awaits 1
    rows = [["A", 10, 5, 4, 2, 3, 0, -2, 1], ["B", 0, 0, 0, 0, 0, 0, 0, 0]]
    state.write_text(",".join(["sku", *names]) + "\n" + "\n".join(",".join(map(str, r)) for r in rows) + "\n")
    out = tmp_path / "orders.json"
    assert (
        recommend.main(["--policy", str(exported), "--state", str(state), "--out", str(out), "--format", "json"]) == 0
    )
    lines = json.loads(out.read_text())["orders"]
    assert [(line["sku"], line["stock_point"]) for line in lines] == [
        (sku, point) for sku in "AB" for point in ("stage3", "stage2", "stage1")
    ]
    # echelon positions: stage 1: -2 + 1 = -1; stage 2: 2 + 3 + 0 + (-1) = 4; stage 3: 10 + 9 + 4 = 23
    assert [line["echelon_position"] for line in lines[:3]] == [23, 4, -1]
    assert [line["order_quantity"] for line in lines[:3]] == [26 - 23, 15 - 4, 9 + 1]
    obs = np.array([r[1:] for r in rows], dtype=np.float32)
    recs = recommend_network(policy, obs)
    typical = np.array(policy.metadata["explanation"]["typical_orders"])
    np.testing.assert_allclose(recs.attributions.sum(axis=2), recs.orders - typical[None, :], atol=1e-9)
    assert "Order 10 at stage1, up to 9 on its echelon position -1" in lines[2]["explanation"]
    recommend.main(["--policy", str(exported), "--state", str(state), "--out", str(out.with_suffix(".csv"))])
    with out.with_suffix(".csv").open() as file:
        assert len(list(csv.DictReader(file))) == 6


def test_a_single_item_policy_is_refused_for_a_network_and_the_other_way_round(tmp_path):
    with pytest.raises(SystemExit) as caught:
        evaluate.main(["--scenario", SERIAL, "--policy", "base_stock", "--out", str(tmp_path / "r")])
    assert caught.value.code == 2
    with pytest.raises(SystemExit) as caught:
        evaluate.main(["--scenario", "lost_sales_L1_p4", "--policy", "echelon_base_stock", "--out", str(tmp_path)])
    assert caught.value.code == 2
    assert load_scenario(SERIAL).name == SERIAL
