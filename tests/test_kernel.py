"""The batched kernel against periods computed by hand, and its conservation laws."""

from __future__ import annotations

import numpy as np
import pytest

from agents.classic import BaseStock, CappedBaseStock, ReorderPointQuantity, SSPolicy
from envs.actions import ActionMap
from envs.kernel import InventoryKernel
from envs.layout import ObservationLayout
from envs.rules import reorder_rule
from envs.system import compile_system
from tests.conftest import make_scenario


def new_kernel(scenario, n):
    kernel = InventoryKernel(compile_system(scenario), n)
    kernel.reset()
    return kernel


def orders_from_actions(scenario, actions, obs):
    return ActionMap(scenario, ObservationLayout(scenario)).orders(actions, obs)


def run_periods(scenario, orders, demands, lead_times=None):
    kernel = new_kernel(scenario, 1)
    outcomes = []
    for t, (q, d) in enumerate(zip(orders, demands, strict=True)):
        lead = scenario.lead_time if lead_times is None else lead_times[t]
        outcomes.append(kernel.step(np.array([q]), np.array([d]), np.array([lead])).row(0))
        outcomes[-1]["pipeline"] = kernel.pipeline[0, 0, : scenario.max_lead_time].tolist()
    return outcomes


def test_lost_sales_lead_time_0_order_arrives_before_demand():
    sc = make_scenario(lead_time=0, initial_on_hand=3, holding_cost=1, shortage_cost=4)
    first, second = run_periods(sc, orders=[2, 4], demands=[7, 1])
    # 3 on hand + 2 arriving now = 5 available; demand 7: 5 sold, 2 lost at 4 each
    assert (first["arrived"], first["sales"], first["lost"], first["on_hand"]) == (2, 5, 2, 0)
    assert first["cost"] == pytest.approx(8.0)
    # 0 + 4 arriving, demand 1: 3 left, holding 3
    assert (second["arrived"], second["sales"], second["on_hand"], second["cost"]) == (4, 1, 3, 3.0)


def test_lost_sales_lead_time_1_order_arrives_next_period():
    sc = make_scenario(lead_time=1, initial_on_hand=5, holding_cost=1, shortage_cost=9)
    first, second = run_periods(sc, orders=[3, 0], demands=[4, 6])
    assert (first["arrived"], first["sales"], first["on_hand"], first["pipeline"]) == (0, 4, 1, [3])
    assert first["cost"] == pytest.approx(1.0)
    # 1 on hand + 3 arriving = 4, demand 6: 2 lost at 9
    assert (second["arrived"], second["sales"], second["lost"], second["on_hand"]) == (3, 4, 2, 0)
    assert second["cost"] == pytest.approx(18.0)


def test_lost_sales_lead_time_3_with_fixed_order_cost():
    sc = make_scenario(
        lead_time=3, initial_on_hand=6, holding_cost=0.5, shortage_cost=2, fixed_order_cost=10, unit_cost=1
    )
    periods = run_periods(sc, orders=[8, 0, 2, 0], demands=[3, 2, 4, 5])
    assert [p["pipeline"] for p in periods] == [[0, 0, 8], [0, 8, 0], [8, 0, 2], [0, 2, 0]]
    assert [p["on_hand"] for p in periods] == [3, 1, 0, 3]
    assert [p["lost"] for p in periods] == [0, 0, 3, 0]
    # ordering 10 + 8; holding 1.5 | holding 0.5 | ordering 10 + 2; shortage 6 | 8 arrive: holding 1.5
    assert [p["cost"] for p in periods] == pytest.approx([19.5, 0.5, 18.0, 1.5])


def test_backorders_lead_time_3_fixed_cost_and_price():
    sc = make_scenario(
        lead_time=3,
        lost_sales=False,
        initial_on_hand=4,
        holding_cost=1,
        shortage_cost=5,
        fixed_order_cost=10,
        unit_cost=2,
        price=3,
    )
    periods = run_periods(sc, orders=[6, 0, 0, 1], demands=[5, 2, 0, 2])
    assert [p["backordered"] for p in periods] == [1, 2, 0, 0]
    assert [p["backlog"] for p in periods] == [1, 3, 3, 0]
    # the 6 arriving in period 3 first fill the backlog of 3, then 2 of new demand, 1 left
    assert (periods[3]["arrived"], periods[3]["backlog_filled"], periods[3]["sales"], periods[3]["on_hand"]) == (
        6,
        3,
        2,
        1,
    )
    assert [p["shortage_cost"] for p in periods] == pytest.approx([5, 15, 15, 0])
    assert [p["ordering_cost"] for p in periods] == pytest.approx([22, 0, 0, 12])
    assert [p["revenue"] for p in periods] == pytest.approx([12, 0, 0, 15])
    assert periods[3]["reward"] == pytest.approx(15 - 12 - 1)


def test_backorders_lead_time_0_and_1():
    sc0 = make_scenario(lead_time=0, lost_sales=False, initial_on_hand=0, holding_cost=1, shortage_cost=9)
    p0 = run_periods(sc0, orders=[3, 10], demands=[5, 4])
    assert [p["backlog"] for p in p0] == [2, 0]
    assert [p["on_hand"] for p in p0] == [0, 4]
    assert [p["cost"] for p in p0] == pytest.approx([18, 4])
    sc1 = make_scenario(lead_time=1, lost_sales=False, initial_on_hand=2, holding_cost=1, shortage_cost=9)
    p1 = run_periods(sc1, orders=[7, 0], demands=[5, 1])
    assert [p["backlog"] for p in p1] == [3, 0]
    assert [p["on_hand"] for p in p1] == [0, 3]


def test_orders_above_capacity_are_clipped_by_the_face_not_the_kernel():
    sc = make_scenario(max_order=5)
    obs = np.zeros((3, 2))
    assert orders_from_actions(sc, np.array([0, 3, 9]), obs).tolist() == [0, 3, 5]
    cont = make_scenario(max_order=10, action="continuous")
    assert orders_from_actions(cont, np.array([[-1.0], [0.0], [1.0], [3.0]]), np.zeros((4, 2))).tolist() == [
        0,
        5,
        10,
        10,
    ]


def test_level_actions_order_up_to_the_inventory_position():
    # lead time 2: observation = (on hand, arriving now, arriving next period); position = their sum
    obs = np.array([[3.0, 2.0, 1.0], [0.0, 0.0, 0.0], [9.0, 4.0, 4.0], [-4.0, 0.0, 2.0]])
    sc = make_scenario(lead_time=2, max_order=5, action_meaning="level")
    assert sc.action_range == 15  # (2 + 1) * max_order
    # levels 10, 4, 12, 0 against positions 6, 0, 17, -2: orders 4, 4, 0 (never negative), 2
    assert orders_from_actions(sc, np.array([10, 4, 12, 0]), obs).tolist() == [4, 4, 0, 2]
    # a level far above the position orders at most max_order
    assert orders_from_actions(sc, np.array([15]), obs[1:2]).tolist() == [5]
    cont = make_scenario(lead_time=2, max_order=5, action="continuous", action_meaning="level", max_level=20)
    # -1 -> level 0, 0 -> level 10, 1 -> level 20
    assert orders_from_actions(cont, np.array([[-1.0], [0.0], [1.0], [1.0]]), obs).tolist() == [0, 5, 3, 5]


def test_the_reorder_rule_by_hand():
    # (r, Q) = (5, 4): positions 6, 5, 2, -3 order 0, 4 (5 -> 9), 4 (2 -> 6), 12 (-3 -> 9)
    assert reorder_rule(np.array([6, 5, 2, -3]), 5, 6, 4, 10**7).tolist() == [0, 4, 4, 12]
    # capped base stock S = 10, cap 3: positions 10, 9, 2 order 0, 1, 3
    assert reorder_rule(np.array([10, 9, 2]), 9, 10, 1, 3).tolist() == [0, 1, 3]
    # (s, S) = (4, 12): positions 5, 4, -1 order 0, 8, 13
    assert reorder_rule(np.array([5, 4, -1]), 4, 12, 1, 10**7).tolist() == [0, 8, 13]


@pytest.mark.parametrize(
    "base, make",
    [
        ({"policy": "base_stock", "S": 10}, lambda lay: BaseStock(10, lay)),
        ({"policy": "capped_base_stock", "S": 10, "cap": 3}, lambda lay: CappedBaseStock(10, 3, lay)),
        ({"policy": "s_S", "s": 4, "S": 12}, lambda lay: SSPolicy(4, 12, lay)),
        ({"policy": "eoq", "r": 5, "Q": 4}, lambda lay: ReorderPointQuantity(5, 4, lay)),
    ],
)
def test_a_correction_of_zero_is_the_classic_policy_and_others_shift_its_order(base, make):
    sc = make_scenario(lead_time=2, max_order=20, action="continuous", action_meaning="correction", action_base=base)
    obs = np.random.default_rng(0).integers(-5, 15, size=(500, 3)).astype(np.float32)
    obs[:, 1:] = np.abs(obs[:, 1:])  # the pipeline is never negative
    classic = make(ObservationLayout(sc)).act(obs)
    assert len(np.unique(classic)) > 2
    np.testing.assert_array_equal(orders_from_actions(sc, np.zeros((500, 1)), obs), classic)
    # a = 0.25 adds round(0.25 * max_order) = 5 units; a = -1 takes 20 off: clipped to 0..max_order
    np.testing.assert_array_equal(orders_from_actions(sc, np.full((500, 1), 0.25), obs), np.minimum(classic + 5, 20))
    np.testing.assert_array_equal(orders_from_actions(sc, np.full((500, 1), -1.0), obs), np.zeros(500))


@pytest.mark.parametrize("lost_sales", [True, False])
@pytest.mark.parametrize("lead_time", [0, 1, 3, {"values": [0, 2, 5], "probs": [0.3, 0.4, 0.3], "overtaking": True}])
def test_units_are_conserved_over_long_random_rollouts(lost_sales, lead_time):
    sc = make_scenario(lead_time=lead_time, lost_sales=lost_sales, initial_on_hand=7, fixed_order_cost=3, unit_cost=1)
    n, periods = 64, 500
    rng = np.random.default_rng(1)
    kernel = new_kernel(sc, n)
    ordered_total = np.zeros(n, dtype=np.int64)
    arrived_total = np.zeros(n, dtype=np.int64)
    for _ in range(periods):
        on_hand, backlog = kernel.on_hand[:, 0].copy(), kernel.backlog[:, 0].copy()
        orders = rng.integers(0, 12, n) * (rng.random(n) < 0.5)
        out = kernel.step(orders, rng.poisson(5, n), sc.draw_lead_times(rng, (n, 1))[:, 0])
        (arrived, sales, filled, on_hand_end, demand, lost, backordered, backlog_end) = (
            getattr(out, f)[:, 0]
            for f in ("arrived", "sales", "backlog_filled", "on_hand", "demand", "lost", "backordered", "backlog")
        )
        assert np.array_equal(on_hand + arrived - sales - filled, on_hand_end)
        assert np.array_equal(demand, sales + lost + backordered)
        assert np.array_equal(backlog - filled + backordered, backlog_end)
        assert (on_hand_end >= 0).all() and (backlog_end >= 0).all() and ((on_hand_end == 0) | (backlog_end == 0)).all()
        expected_cost = (
            sc.fixed_order_cost * (orders > 0)
            + sc.unit_cost * orders
            + sc.holding_cost * on_hand_end
            + sc.shortage_cost * (lost if lost_sales else backlog_end)
        )
        np.testing.assert_allclose(out.cost, expected_cost)
        ordered_total += orders
        arrived_total += arrived
    np.testing.assert_array_equal(ordered_total, arrived_total + kernel.pipeline[:, 0].sum(axis=1))


def test_stochastic_lead_times_without_overtaking_arrive_in_order():
    sc = make_scenario(lead_time={"values": [1, 4], "probs": [0.5, 0.5], "overtaking": False}, initial_on_hand=0)
    kernel = new_kernel(sc, 1)
    rng = np.random.default_rng(0)
    arrivals = []
    for t in range(200):
        # order t + 1 units, so each arrival tells which order it is
        out = kernel.step(np.array([t + 1]), np.array([0]), sc.draw_lead_times(rng, (1, 1))[0])
        arrivals.append(int(out.arrived[0, 0]))
    # orders never overtake: arrivals are sums of consecutive orders, in order of placement
    received, next_order = [], 1
    for arrived in arrivals:
        while arrived > 0:
            assert arrived >= next_order
            arrived -= next_order
            received.append(next_order)
            next_order += 1
    assert received == list(range(1, len(received) + 1)) and len(received) > 150


def test_stochastic_lead_times_with_overtaking_can_arrive_out_of_order():
    sc = make_scenario(lead_time={"values": [1, 4], "probs": [0.5, 0.5], "overtaking": True}, initial_on_hand=0)
    kernel = new_kernel(sc, 1)
    # an order with lead time 4 then one with lead time 1: the second arrives first
    kernel.step(np.array([10]), np.array([0]), np.array([4]))
    out = kernel.step(np.array([1]), np.array([0]), np.array([1]))
    assert out.arrived[0, 0] == 0
    assert kernel.step(np.array([0]), np.array([0]), np.array([1])).arrived[0, 0] == 1
