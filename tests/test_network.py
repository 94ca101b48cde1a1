"""Networks of stock points on the one kernel: periods computed by hand, allocation rules, conservation,
and a one-point network that is the single item."""

from __future__ import annotations

import numpy as np
import pytest

from envs.kernel import InventoryKernel
from envs.layout import ObservationLayout
from envs.paths import PathSampler
from envs.scenario import NetworkScenario, load_scenario
from envs.system import compile_system
from tests.conftest import BASE, make_scenario


def network(points, **keys):
    return NetworkScenario.model_validate({"name": "net", "horizon": 10, "stock_points": points, **keys})


def kernel_for(scenario, n=1):
    kernel = InventoryKernel(compile_system(scenario), n)
    kernel.reset()
    return kernel


SERIAL = [
    {"name": "warehouse", "lead_time": 1, "holding_cost": 1, "max_order": 50, "initial_on_hand": 5},
    {
        "name": "retailer", "supplier": "warehouse", "lead_time": 1, "holding_cost": 2, "transit_holding_cost": 0.5,
        "max_order": 50, "initial_on_hand": 3, "demand": {"dist": "poisson", "mean": 4}, "lost_sales": False,
        "shortage_cost": 10,
    },
]  # fmt: skip


def test_a_serial_system_period_by_period():
    kernel = kernel_for(network(SERIAL))
    names = kernel.system.names
    assert names == ("warehouse", "retailer")
    # period 1: the warehouse orders 4 (from outside, arrives next period), the retailer 6; the
    # warehouse has 5: it ships 5 (arriving next period) and owes 1; the retailer sells 3 of 4, backlog 1
    first = kernel.step(np.array([[4, 6]]), np.array([[4]]), np.array([[1, 1]])).row(0)
    wh, rt = first["stock_points"]["warehouse"], first["stock_points"]["retailer"]
    assert (wh["shipped_in"], wh["shipped_out"], wh["on_hand"], wh["in_transit"]) == (4, 5, 0, 4)
    assert (rt["shipped_in"], rt["sales"], rt["backordered"], rt["backlog"], rt["awaiting"]) == (5, 3, 1, 1, 1)
    # holding 0 + 0, transit 0.5 x 5 at the retailer, backlog 1 x 10
    assert first["cost"] == pytest.approx(12.5)
    # period 2: 4 arrive at the warehouse; it ships the 1 it owes, then the new order of 2; the
    # retailer gets its 5, fills the backlog of 1, sells 2 of 2, keeps 2
    second = kernel.step(np.array([[0, 2]]), np.array([[2]]), np.array([[1, 1]])).row(0)
    wh, rt = second["stock_points"]["warehouse"], second["stock_points"]["retailer"]
    assert (wh["arrived"], wh["shipped_out"], wh["on_hand"]) == (4, 3, 1)
    assert (rt["arrived"], rt["backlog_filled"], rt["sales"], rt["on_hand"], rt["awaiting"]) == (5, 1, 2, 2, 0)
    assert second["cost"] == pytest.approx(1 + 4 + 0.5 * 3)


def test_lead_time_zero_inside_the_network_arrives_the_same_period():
    points = [dict(p) for p in SERIAL]
    points[1] = {**points[1], "lead_time": 0}
    kernel = kernel_for(network(points))
    out = kernel.step(np.array([[0, 4]]), np.array([[6]]), np.array([[1, 0]])).row(0)["stock_points"]["retailer"]
    # 3 on hand + 4 shipped and arrived now = 7; demand 6
    assert (out["arrived"], out["sales"], out["on_hand"]) == (4, 6, 1)


def distribution(rule, priorities=(0, 0)):
    retailer = {"lead_time": 1, "holding_cost": 1, "max_order": 50, "demand": {"dist": "poisson", "mean": 3},
                "shortage_cost": 5}  # fmt: skip
    return network(
        [
            {"name": "dc", "lead_time": 1, "holding_cost": 0.5, "max_order": 50, "initial_on_hand": 10},
            {"name": "a", "supplier": "dc", "priority": priorities[0], **retailer},
            {"name": "b", "supplier": "dc", "priority": priorities[1], **retailer},
        ],
        allocation=rule,
    )


@pytest.mark.parametrize(
    ("rule", "priorities", "keys", "expected"),
    [
        # 10 units for orders of 8 and 4: 6 and 3 by floor(10 r / 12), the last unit to the larger remainder
        ("proportional", (0, 0), None, (7, 3)),
        ("priority", (1, 0), None, (6, 4)),  # b first
        ("random", (0, 0), [0.0, 0.9, 0.1], (6, 4)),  # b's key is smaller: b first
        ("random", (0, 0), [0.0, 0.2, 0.7], (8, 2)),
    ],
)
def test_a_short_supplier_shares_by_the_allocation_rule(rule, priorities, keys, expected):
    kernel = kernel_for(distribution(rule, priorities))
    keys = None if keys is None else np.array([keys])
    out = kernel.step(np.array([[0, 8, 4]]), np.array([[0, 0]]), np.array([[1, 1, 1]]), keys).row(0)
    points = out["stock_points"]
    assert (points["a"]["shipped_in"], points["b"]["shipped_in"]) == expected
    assert (points["a"]["awaiting"], points["b"]["awaiting"]) == (8 - expected[0], 4 - expected[1])


def test_what_is_owed_ships_before_new_orders():
    kernel = kernel_for(distribution("proportional"))
    kernel.awaiting[0] = [0, 3, 0]  # a is owed 3 from earlier periods
    out = kernel.step(np.array([[0, 8, 4]]), np.array([[0, 0]]), np.array([[1, 1, 1]])).row(0)["stock_points"]
    # 3 owed first; 7 left for 8 and 4: 4 (+1 by remainder) and 2
    assert (out["a"]["shipped_in"], out["b"]["shipped_in"]) == (3 + 5, 2)
    assert (out["a"]["awaiting"], out["b"]["awaiting"]) == (3, 2)


def test_without_internal_backorders_what_cannot_ship_is_cancelled():
    scenario = distribution("proportional").model_copy(update={"internal_backorders": False})
    kernel = kernel_for(scenario)
    out = kernel.step(np.array([[0, 8, 4]]), np.array([[0, 0]]), np.array([[1, 1, 1]])).row(0)["stock_points"]
    assert (out["a"]["shipped_in"], out["b"]["shipped_in"]) == (7, 3)
    assert (out["a"]["awaiting"], out["b"]["awaiting"]) == (0, 0)


@pytest.mark.parametrize("rule", ["proportional", "priority", "random"])
@pytest.mark.parametrize("backorders", [True, False])
def test_units_are_conserved_in_a_network(rule, backorders):
    scenario = distribution(rule, (1, 0)).model_copy(update={"internal_backorders": backorders})
    sampler = PathSampler(scenario)
    n, periods = 32, 300
    rng = np.random.default_rng(3)
    kernel = kernel_for(scenario, n)
    entered = np.full(n, kernel.system.initial_on_hand.sum())  # initial stock + what the outside supplier ships
    left = np.zeros(n, dtype=np.int64)  # units sold to customers
    for _ in range(periods):
        paths = sampler.draw(rng, n)
        orders = rng.integers(0, 9, (n, 3))
        keys = paths.keys[0] if paths.keys.shape[2] else None
        out = kernel.step(orders, paths.demand[0], paths.lead_times[0], keys)
        assert (out.on_hand >= 0).all() and (out.awaiting >= 0).all()
        # a supplier never ships more than it has, and what it ships is what its children receive
        assert (out.shipped_out[:, 0] == out.shipped_in[:, 1] + out.shipped_in[:, 2]).all()
        if not backorders:
            assert (out.awaiting == 0).all()
        entered += out.shipped_in[:, 0]
        left += (out.sales + out.backlog_filled).sum(axis=1)
    in_system = kernel.on_hand.sum(axis=1) + kernel.pipeline.sum(axis=(1, 2))
    np.testing.assert_array_equal(entered, left + in_system)


def test_a_one_point_network_is_the_single_item():
    single = make_scenario(lead_time=2, initial_on_hand=4, fixed_order_cost=3, unit_cost=1, horizon=50)
    point = {k: v for k, v in BASE.items() if k not in ("name", "horizon")}
    one = network([{**point, "name": "item", "lead_time": 2, "initial_on_hand": 4, "fixed_order_cost": 3,
                    "unit_cost": 1}], horizon=50)  # fmt: skip
    assert ObservationLayout(one).names == ObservationLayout(single).names
    rng_a, rng_b = np.random.default_rng(9), np.random.default_rng(9)
    paths_a, paths_b = PathSampler(single).draw(rng_a, 16), PathSampler(one).draw(rng_b, 16)
    np.testing.assert_array_equal(paths_a.demand, paths_b.demand)
    ka, kb = kernel_for(single, 16), kernel_for(one, 16)
    orders = np.random.default_rng(0).integers(0, 12, (50, 16))
    for t in range(50):
        a = ka.step(orders[t], paths_a.demand[t], paths_a.lead_times[t]).flows.copy()
        b = kb.step(orders[t], paths_b.demand[t], paths_b.lead_times[t]).flows.copy()
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    ("points", "message"),
    [
        ([{"name": "a", "supplier": "a"}], "cannot supply itself"),
        ([{"name": "a", "supplier": "x"}], "'x' is not a stock point"),
        ([{"name": "a", "supplier": "b"}, {"name": "b", "supplier": "a"}], "cycle (a -> b -> a)"),
        ([{"name": "a"}, {"name": "a"}], "two stock points are named 'a'"),
        ([{"name": "a", "demand": None}], "has no customers (no demand) and supplies no stock point"),
        ([{"name": "a", "lead_time": -1}], "lead_time"),
    ],
)
def test_malformed_networks_are_refused_in_one_line(write_scenario, points, message):
    base = {"lead_time": 1, "holding_cost": 1, "max_order": 10, "demand": {"dist": "poisson", "mean": 2}}
    path = write_scenario({"horizon": 10, "stock_points": [{**base, **p} for p in points]})
    from envs.errors import UserError

    with pytest.raises(UserError) as caught:
        load_scenario(str(path))
    text = str(caught.value)
    assert "\n" not in text and text.startswith(str(path)) and "stock_points" in text and message in text


def test_sharing_a_capacity_by_proportion_and_by_value():
    from envs.kernel import SHARE_BY_VALUE, SHARE_PROPORTIONAL, share_capacity

    out = np.zeros(3, dtype=np.int64)
    quantities, weights, values = np.array([6, 3, 0]), np.array([1.0, 2.0, 1.0]), np.array([1.0, 5.0, 9.0])
    share_capacity(quantities, weights, values, 20.0, SHARE_PROPORTIONAL, out)
    assert out.tolist() == [6, 3, 0]  # 12 fits in 20: nothing cut
    # 12 of weight into 8: factor 2/3 -> 4 and 2 (8 of weight), nothing left for the remainders
    share_capacity(quantities, weights, values, 8.0, SHARE_PROPORTIONAL, out)
    assert out.tolist() == [4, 2, 0]
    # 12 into 9: 4.5 -> 4 and 2.25 -> 2 use 8; the unit left goes to the larger remainder that fits
    share_capacity(quantities, weights, values, 9.0, SHARE_PROPORTIONAL, out)
    assert out.tolist() == [5, 2, 0]
    # by value per unit of weight: the second first (2.5 per unit of weight), in full (6), then 3 of the first
    share_capacity(quantities, weights, values / weights, 9.0, SHARE_BY_VALUE, out)
    assert out.tolist() == [3, 3, 0]


def assortment(kind, limit, rule="proportional", overflow=0.0, weight="volume"):
    item = {"lead_time": 0, "holding_cost": 1, "max_order": 50, "demand": {"dist": "poisson", "mean": 3},
            "shortage_cost": 9}  # fmt: skip
    return network(
        [
            {"name": "a", "volume": 1.0, "unit_cost": 10, "initial_on_hand": 2, **item},
            {"name": "b", "volume": 2.0, "unit_cost": 20, "initial_on_hand": 1, **item, "shortage_cost": 30},
        ],
        capacities=[
            {"name": "shared", "kind": kind, "limit": limit, "rule": rule, "overflow_cost": overflow, "weight": weight}
        ],
    )


def test_a_storage_limit_rejects_arrivals_beyond_it_at_an_overflow_cost():
    kernel = kernel_for(assortment("storage", 10.0, overflow=0.5))
    # on hand 2 x 1 + 1 x 2 = 4 of volume; orders 5 and 5 arrive now (lead time 0): 15 more, 6 fit
    out = kernel.step(np.array([[5, 5]]), np.array([[0, 0]]), np.array([[0, 0]])).row(0)["stock_points"]
    # factor 6/15: 2 of a (2 of volume) and 2 of b (4): 6; the remainders (0.0, 0.0) add nothing
    assert (out["a"]["arrived"], out["b"]["arrived"]) == (2, 2)
    assert (out["a"]["rejected"], out["b"]["rejected"]) == (3, 3)
    assert (out["a"]["on_hand"], out["b"]["on_hand"]) == (4, 3) and 4 * 1 + 3 * 2 == 10
    # rejected units still cost their purchase (shipped), and overflow per unit of volume
    assert out["a"]["overflow_cost"] == pytest.approx(0.5 * 3 * 1.0)
    assert out["b"]["overflow_cost"] == pytest.approx(0.5 * 3 * 2.0)


def test_an_order_budget_cuts_orders_beyond_it():
    kernel = kernel_for(assortment("orders", 100.0, weight="unit_cost"))
    out = kernel.step(np.array([[5, 5]]), np.array([[0, 0]]), np.array([[0, 0]])).row(0)["stock_points"]
    # 5 x 10 + 5 x 20 = 150 > 100: factor 2/3 -> 3 and 3 (90), then one more unit of a (10) fits
    assert (out["a"]["ordered"], out["b"]["ordered"]) == (4, 3)
    assert (out["a"]["cut"], out["b"]["cut"]) == (1, 2)
    assert out["a"]["ordering_cost"] + out["b"]["ordering_cost"] == pytest.approx(100.0)
    by_value = kernel_for(assortment("orders", 100.0, rule="value", weight="unit_cost"))
    out = by_value.step(np.array([[5, 5]]), np.array([[0, 0]]), np.array([[0, 0]])).row(0)["stock_points"]
    # b's shortage cost per unit of weight 30/20 beats a's 9/10: b in full (100), nothing left for a
    assert (out["a"]["ordered"], out["b"]["ordered"]) == (0, 5)


@pytest.mark.parametrize(
    ("capacity", "message"),
    [
        ({"members": ["a", "x"]}, "'x' is not a stock point"),
        ({"kind": "storage", "members": ["b"]}, "storage limits stock points supplied from outside"),
    ],
)
def test_malformed_capacities_are_refused(capacity, message):
    from pydantic import ValidationError

    points = [{"name": "a", "lead_time": 1, "holding_cost": 1, "max_order": 5},
              {"name": "b", "supplier": "a", "lead_time": 1, "holding_cost": 1, "max_order": 5,
               "demand": {"dist": "poisson", "mean": 1}}]  # fmt: skip
    with pytest.raises(ValidationError, match=message):
        network(points, capacities=[{"name": "c", "kind": "orders", "limit": 5, **capacity}])


def test_a_network_correction_names_a_level_for_every_stock_point_and_no_other(write_scenario):
    from envs.errors import UserError

    point = {"name": "a", "lead_time": 1, "holding_cost": 1, "max_order": 10, "demand": {"dist": "poisson", "mean": 2}}
    corrections = {"action": "continuous", "action_meaning": "correction"}
    for levels, message in (({"b": 3}, "action_base.levels: 'b' is not a stock point"),
                            ({}, "action_base.levels: no level for stock point 'a'")):  # fmt: skip
        base = {"policy": "echelon_base_stock", "levels": levels}
        path = write_scenario({"horizon": 10, **corrections, "action_base": base, "stock_points": [point]})
        with pytest.raises(UserError, match=message) as caught:
            load_scenario(str(path))
        assert "\n" not in str(caught.value) and str(caught.value).startswith(str(path))
    path = write_scenario({"horizon": 10, "stock_points": [{**point, "max_correction": 3}]})
    with pytest.raises(UserError, match="max_correction is for a correction of a classic policy"):
        load_scenario(str(path))
