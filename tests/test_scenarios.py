"""Scenario loading: every shipped scenario loads; every bad one is refused in one line naming file and key."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from envs.errors import UserError
from envs.scenario import SCENARIO_DIR, load_scenario
from tests.conftest import BASE

SHIPPED = sorted(p.stem for p in SCENARIO_DIR.glob("*.yaml"))


def test_the_benchmark_scenarios_ship():
    grid = {f"lost_sales_L{L}_p{p}" for L in (1, 2, 3, 4) for p in (4, 9, 19, 39)}
    assert grid | {"backorder_K64", "seasonal_promo", "csv_history"} <= set(SHIPPED)


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_scenarios_load(name):
    scenario = load_scenario(name)
    assert scenario.name == name and scenario.horizon >= 1


def test_grid_scenario_values():
    sc = load_scenario("lost_sales_L3_p19")
    assert (sc.lead_time, sc.shortage_cost, sc.holding_cost, sc.lost_sales, sc.demand.mean) == (3, 19, 1, True, 5)
    bo = load_scenario("backorder_K64")
    assert (bo.fixed_order_cost, bo.shortage_cost, bo.lost_sales, bo.lead_time, bo.demand.mean) == (64, 9, False, 0, 10)


def test_load_by_path_and_overrides(write_scenario):
    path = write_scenario(BASE, "mine.yaml")
    sc = load_scenario(str(path), shortage_cost=19)
    assert sc.shortage_cost == 19 and sc.name == "test"


@pytest.mark.parametrize(
    ("change", "key", "message"),
    [
        ({"colour": "red"}, "colour", "unknown key"),
        ({"holding_cost": -1}, "holding_cost", "greater than or equal to 0"),
        ({"shortage_cost": -0.5}, "shortage_cost", "greater than or equal to 0"),
        ({"fixed_order_cost": -64}, "fixed_order_cost", "greater than or equal to 0"),
        ({"lead_time": -1}, "lead_time", "non-negative integer"),
        ({"lead_time": 1.5}, "lead_time", "non-negative integer"),
        ({"lead_time": "two"}, "lead_time", "non-negative integer"),
        ({"lead_time": {"values": [1, 2], "probs": [0.5, 0.6]}}, "lead_time", "sum to 1"),
        ({"lead_time": {"values": [-1, 2], "probs": [0.5, 0.5]}}, "lead_time", "non-negative"),
        ({"max_order": 0}, "max_order", "greater than or equal to 1"),
        ({"shortage_cost": float("inf")}, "shortage_cost", "finite number"),
        ({"demand": {"dist": "poisson", "mean": float("nan")}}, "demand.mean", "finite number"),
        (
            {"lost_sales": False, "holding_cost": 0},
            "(top level)",
            "holding_cost and shortage_cost must both be positive",
        ),
        ({"horizon": 0}, "horizon", "greater than or equal to 1"),
        ({"demand": {"dist": "poisson", "mean": -2}}, "demand.mean", "greater than 0"),
        ({"demand": {"dist": "negative_binomial", "mean": 5, "variance": 3}}, "demand", "variance must exceed"),
        ({"demand": {"dist": "normal", "mean": 5, "std": 0}}, "demand.std", "greater than 0"),
        ({"demand": {"dist": "uniform", "low": 5, "high": 2}}, "demand", "high must be at least low"),
        ({"demand": {"dist": "gamma", "mean": 5}}, "demand", "does not match any of the expected tags"),
        ({"demand": {"dist": "poisson", "mean": 5, "sd": 1}}, "demand.sd", "unknown key"),
        ({"demand": {"dist": "csv", "path": "missing.csv"}}, "missing.csv", "not found"),
        ({"action_meaning": "correction"}, "(top level)", "correction needs action: continuous"),
        (
            {"action_base": {"policy": "base_stock", "S": 4}},
            "(top level)",
            "action_base is for a correction of a classic policy",
        ),
        ({"max_correction": 4}, "(top level)", "max_correction is for a correction of a classic policy"),
        (
            {"action": "continuous", "action_meaning": "correction", "action_base": {"policy": "s_S", "S": 4}},
            "action_base",
            "s_S takes s, S (given: S)",
        ),
        (
            {"action": "continuous", "action_meaning": "correction", "action_base": {"policy": "s_S", "s": 4, "S": 4}},
            "action_base",
            "s_S needs S > s",
        ),
        (
            {"action": "continuous", "action_meaning": "correction", "action_base": {"policy": "eoq", "r": 4, "Q": 0}},
            "action_base.Q",
            "greater than or equal to 1",
        ),
    ],
)
def test_bad_scenarios_are_refused_naming_file_and_key(write_scenario, change, key, message):
    path = write_scenario({**BASE, **change})
    with pytest.raises(UserError) as caught:
        load_scenario(str(path))
    text = str(caught.value)
    assert "\n" not in text
    assert text.startswith(str(path)) or key == "missing.csv"
    assert key in text and message in text


def test_unknown_override_and_unknown_name_are_refused():
    with pytest.raises(UserError, match=r"lost_sales_L2_p9\.yaml: colour: unknown key"):
        load_scenario("lost_sales_L2_p9", colour="red")
    with pytest.raises(UserError, match="no_such: no such scenario"):
        load_scenario("no_such")


def test_malformed_yaml_is_refused(tmp_path: Path):
    path = tmp_path / "broken.yaml"
    path.write_text("horizon: [1, 2\n")
    with pytest.raises(UserError, match=r"broken\.yaml: line 2: not valid YAML"):
        load_scenario(str(path))


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ("demand\n3\n4\nabc\n", "line 4: demand 'abc' is not an integer in 0..10000000"),
        ("demand\n3\n-1\n", "line 3: demand '-1' is not an integer"),
        ("demand\n3\n2.5\n", "line 3: demand '2.5' is not an integer"),
        ("demand\n3\ninf\n", "line 3: demand 'inf' is not an integer"),
        ("demand\n3\n1e30\n", "line 3: demand '1e30' is not an integer"),
        # a blank line is a missing value; every bad row is listed
        ("demand\n3\n\n4\nx\n", "2 rows where demand is not an integer in 0..10000000: line 3 '', line 5 'x'"),
        ("demand\n3\n4\n", None),
        ("sales\n3\n", "no column 'demand'"),
        ("demand,promotion\n3,1\n4,yes\n", "line 3: promotion 'yes' is not a finite number"),
        ("demand,promotion\n3,1\n4,inf\n", "line 3: promotion 'inf' is not a finite number"),
    ],
)
def test_bad_csv_history_rows_are_refused_with_line_numbers(write_scenario, tmp_path, rows, message):
    (tmp_path / "history.csv").write_text(rows)
    features = ["promotion"] if "promotion" in rows else []
    path = write_scenario(
        {**BASE, "demand": {"dist": "csv", "path": "history.csv", "features": features, "mode": "bootstrap"}}
    )
    if message is None:
        assert load_scenario(str(path)).demand.history_length == 2
        return
    with pytest.raises(UserError) as caught:
        load_scenario(str(path))
    assert "history.csv" in str(caught.value) and message in str(caught.value)


def test_csv_window_longer_than_history_is_refused(write_scenario, tmp_path):
    (tmp_path / "history.csv").write_text("demand\n" + "3\n" * 5)
    path = write_scenario({**BASE, "demand": {"dist": "csv", "path": "history.csv"}})
    from envs import InventoryEnv

    with pytest.raises(UserError, match="history has 5 rows, an episode needs 10"):
        InventoryEnv(str(path)).reset(seed=0)


LONG_HISTORY = (
    "sku,date,demand,promotion\n"
    "B,2025-01-01,9,0\n"
    "A,2025-01-02,3,0\n"  # A starts on day 2: zero demand on day 1 (not sold yet)
    "A,2025-01-03,4,1\n"
    "A,2025-01-05,6,0\n"  # no row on the 4th: zero demand, the promotion carried forward
    "B,2025-01-05,1,0\n"
)


@pytest.mark.parametrize(
    ("selection", "demand", "promotion"),
    [
        ({}, [0, 3, 4, 0, 6], [0, 0, 1, 1, 0]),
        ({"start": "2025-01-03"}, [4, 0, 6], [1, 1, 0]),
        ({"start": "2025-01-01", "end": "2025-01-04"}, [0, 3, 4, 0], [0, 0, 1, 1]),
    ],
)
def test_one_sku_of_a_long_history_replays_its_days_with_gaps_as_zero(write_scenario, tmp_path, selection, demand,
                                                                       promotion):  # fmt: skip
    (tmp_path / "history.csv").write_text(LONG_HISTORY)
    spec = {"dist": "csv", "path": "history.csv", "sku": "A", "features": ["promotion"], **selection}
    process = load_scenario(str(write_scenario({**BASE, "demand": spec}))).demand
    assert process.history_length == len(demand)
    paths, features = process.sample(np.random.default_rng(0), 1, len(demand))
    assert paths[0].tolist() == demand and features[0, :, 0].tolist() == promotion


@pytest.mark.parametrize(
    ("history", "selection", "message"),
    [
        (LONG_HISTORY, {"sku": "C"}, "no SKU 'C' (2 SKUs: A, B)"),
        (
            LONG_HISTORY,
            {"sku": "A", "start": "2025-02-01"},
            "no days between 2025-02-01 and the end (the history runs from 2025-01-01",
        ),
        (LONG_HISTORY, {"start": "2025-01-01"}, "start and end select days of a multi-SKU history: they need sku"),
        (LONG_HISTORY, {"sku": "A", "start": "2025-02-01", "end": "2025-01-01"}, "end 2025-01-01 is before start"),
        (LONG_HISTORY.replace("A,2025-01-03,4", "A,2025-01-03,-4"), {"sku": "A"}, "line 4:"),
        (LONG_HISTORY, {"sku": "A", "features": ["price"]}, "known signal 'price' is not a column"),
    ],
)
def test_a_bad_sku_selection_or_row_is_one_line_naming_the_file(write_scenario, tmp_path, history, selection,
                                                                 message):  # fmt: skip
    (tmp_path / "history.csv").write_text(history)
    with pytest.raises(UserError) as caught:
        load_scenario(str(write_scenario({**BASE, "demand": {"dist": "csv", "path": "history.csv", **selection}})))
    assert message in str(caught.value) and "\n" not in str(caught.value)
