"""Pack sizes and minimum order quantities in the kernel: the rounding rule and whole periods by hand."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from agents.classic import tune_base_stock
from agents.references import optimal_policy
from envs.batch import evaluation_paths
from envs.kernel import InventoryKernel, feasible_order
from envs.scenario import NetworkScenario
from envs.system import compile_system
from tests.conftest import make_scenario


@pytest.mark.parametrize(
    ("wish", "placed"),
    [
        (0, 0),
        (4, 0),  # below half the MOQ of 10: dropped
        (5, 12),  # half the MOQ: raised to 10, then up to two packs of 6
        (7, 12),
        (12, 12),
        (13, 18),  # up to whole packs
        (35, 36),
        (39, 36),  # 42 would exceed max_order 40: the largest whole number of packs within it
    ],
)
def test_the_order_placed_for_a_wish(wish, placed):
    assert feasible_order(wish, 6, 10, 40) == placed


def test_a_period_with_a_pack_size_and_a_minimum_by_hand():
    scenario = make_scenario(lead_time=0, pack_size=6, min_order=10, max_order=40, fixed_order_cost=5, unit_cost=2,
                             initial_on_hand=3)  # fmt: skip
    kernel = InventoryKernel(compile_system(scenario), 2)
    kernel.reset()
    # system 0 asks for 7: raised to the minimum 10, rounded up to 12 (two packs), arriving now (lead time 0);
    # system 1 asks for 4: below half the minimum, dropped
    out = kernel.step(np.array([7, 4]), np.array([4, 4]), np.array([0, 0]))
    assert out.ordered.tolist() == [[12], [0]]
    assert out.on_hand.tolist() == [[11], [0]]  # 3 + 12 - 4, and 3 - 3 sold (1 lost)
    # fixed 5 + 2 x 12 units + holding 11; the other: lost 1 x 4
    assert out.cost.tolist() == pytest.approx([5 + 24 + 11, 4.0])


def two_items(capacity, b_minimum=0):
    item = {"lead_time": 0, "holding_cost": 1, "max_order": 50, "demand": {"dist": "poisson", "mean": 3},
            "shortage_cost": 9}  # fmt: skip
    return NetworkScenario.model_validate(
        {
            "name": "two",
            "horizon": 5,
            "stock_points": [
                {"name": "a", "unit_cost": 10, "pack_size": 5, **item},
                {"name": "b", "unit_cost": 20, "min_order": b_minimum, **item},
            ],
            "capacities": [capacity],
        }
    )


def step_once(scenario, orders):
    kernel = InventoryKernel(compile_system(scenario), 1)
    kernel.reset()
    return kernel.step(np.array([orders]), np.zeros((1, 2)), np.zeros((1, 2))).row(0)["stock_points"]


def test_an_order_budget_is_shared_in_whole_packs():
    budget = {"name": "budget", "kind": "orders", "limit": 100.0, "weight": "unit_cost"}
    out = step_once(two_items(budget), [10, 5])
    # a: 2 packs of 5 at 50 a pack, b: 5 units at 20: 200 into 100, factor 1/2 -> a 1 pack (50), b 2.5 -> 2 (40);
    # 10 left: b's remainder needs 20, so nothing more
    assert (out["a"]["ordered"], out["b"]["ordered"]) == (5, 2)
    assert (out["a"]["cut"], out["b"]["cut"]) == (5, 3)
    # an order cut below its minimum is dropped (and the budget it frees stays unused this period)
    out = step_once(two_items(budget, b_minimum=3), [10, 5])
    assert (out["a"]["ordered"], out["b"]["ordered"]) == (5, 0)
    assert out["b"]["cut"] == 5


def test_a_stock_point_may_carry_its_own_overflow_cost():
    storage = {"name": "warehouse", "kind": "storage", "limit": 6.0, "weight": "units", "overflow_cost": 1.0}
    scenario = two_items(storage)
    points = [dict(p) for p in scenario.model_dump()["stock_points"]]
    points[1]["overflow_cost"] = 7.5
    scenario = NetworkScenario.model_validate({**scenario.model_dump(), "stock_points": points})
    out = step_once(scenario, [10, 6])
    # 16 arrive (lead time 0) into 6: factor 3/8 -> 3.75 and 2.25 -> 3 and 2, one more unit to a (remainder .75)
    assert (out["a"]["arrived"], out["b"]["arrived"]) == (4, 2)
    assert out["a"]["overflow_cost"] == pytest.approx(6 * 1.0)  # the limit's cost per unit of weight
    assert out["b"]["overflow_cost"] == pytest.approx(4 * 7.5)  # its own


def test_an_overflow_cost_without_a_storage_limit_is_refused():
    budget = {"name": "budget", "kind": "orders", "limit": 100.0}
    points = [dict(p) for p in two_items(budget).model_dump()["stock_points"]]
    points[0]["overflow_cost"] = 1.0
    with pytest.raises(ValidationError, match="overflow_cost needs a storage limit"):
        NetworkScenario.model_validate({**two_items(budget).model_dump(), "stock_points": points})


def test_a_max_order_below_the_smallest_order_is_refused():
    with pytest.raises(ValidationError, match="smallest order allowed by pack_size 6 and min_order 10 \\(12\\)"):
        make_scenario(pack_size=6, min_order=10, max_order=11)


def test_the_exact_methods_step_aside_when_orders_are_rounded():
    scenario = make_scenario(lost_sales=False, shortage_cost=9, lead_time=1, pack_size=4)
    policy, reason = optimal_policy(scenario)
    assert policy is None and "packs" in reason
    tuned = tune_base_stock(scenario, evaluation_paths(scenario, 16, 3))
    assert tuned.method == "simulation"
