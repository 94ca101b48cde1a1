"""Classic policies: their order rules, their tuning, and the optimum against them."""

from __future__ import annotations

import numpy as np
import pytest

from agents.classic import (
    TUNERS,
    BaseStock,
    CappedBaseStock,
    ReorderPointQuantity,
    SSPolicy,
    tune_base_stock,
    tune_eoq,
    tune_s_S,
)
from agents.evaluation import mean_ci
from agents.exact import ss_average_cost, zheng_federgruen
from agents.references import optimal_policy
from envs.batch import evaluation_paths, run_batch
from envs.scenario import load_scenario
from tests.conftest import layout, make_scenario

# observation rows: on hand, arriving_in_0, arriving_in_1, then a feature the policies must ignore
OBS = np.array(
    [[3, 2, 1, 99], [10, 0, 0, 99], [-4, 1, 0, 99], [0, 0, 0, 99]], dtype=np.float32
)  # positions 6, 10, -3, 0


def test_order_rules_on_the_inventory_position():
    assert BaseStock(8, layout(2)).act(OBS).tolist() == [2, 0, 11, 8]
    assert CappedBaseStock(8, 5, layout(2)).act(OBS).tolist() == [2, 0, 5, 5]
    assert SSPolicy(5, 12, layout(2)).act(OBS).tolist() == [0, 0, 15, 12]
    assert SSPolicy(6, 12, layout(2)).act(OBS).tolist() == [6, 0, 15, 12]
    # (r, Q): smallest multiple of Q that lifts the position above r
    assert ReorderPointQuantity(6, 4, layout(2)).act(OBS).tolist() == [4, 0, 12, 8]


def test_parameters_can_be_one_per_row():
    assert BaseStock(np.array([6, 12, 0, 1]), layout(2)).act(OBS).tolist() == [0, 2, 3, 1]


def test_bad_parameters_are_refused():
    with pytest.raises(ValueError, match="S > s"):
        SSPolicy(10, 8, layout(1))
    with pytest.raises(ValueError, match="Q >= 1"):
        ReorderPointQuantity(3, 0, layout(1))


def test_exact_s_S_on_backorder_K64_and_its_simulated_cost():
    scenario = load_scenario("backorder_K64")
    tuned = tune_s_S(scenario, evaluation_paths(scenario, 10, 1))
    assert tuned.method == "exact" and tuned.policy.params() == {"s": 6, "S": 40}
    assert tuned.expected_cost == pytest.approx(35.022, abs=1e-3)
    # the renewal-formula cost equals the simulated long-run cost of the same policy
    costs = run_batch(tuned.policy, scenario, evaluation_paths(scenario, 400, 7), warmup=30).avg_cost
    _, low, high = mean_ci(costs)
    assert low <= 35.022 <= high
    assert ss_average_cost(scenario.demand.pmf(), 6, 40, 1, 9, 64) == pytest.approx(tuned.expected_cost)


@pytest.mark.parametrize(("lead_time", "best_base_stock"), [(1, 4.16), (2, 4.64)])
def test_simulated_base_stock_reproduces_zipkin(lead_time, best_base_stock):
    scenario = load_scenario(f"lost_sales_L{lead_time}_p4")
    tuned = tune_base_stock(scenario, evaluation_paths(scenario, 200, 1), warmup=50)
    assert tuned.method == "simulation"
    costs = run_batch(tuned.policy, scenario, evaluation_paths(scenario, 600, 2), warmup=50).avg_cost
    _, low, high = mean_ci(costs)
    assert low - 0.005 <= best_base_stock <= high + 0.005  # Zipkin rounds to two decimals


def test_eoq_batch_size_and_service_level_reorder_point():
    scenario = load_scenario("backorder_K64")
    tuned = tune_eoq(scenario, evaluation_paths(scenario, 50, 1), service_level=0.9)
    assert round(np.sqrt(2 * 64 * 10 / 1)) == tuned.policy.Q  # 36
    costs = run_batch(tuned.policy, scenario, evaluation_paths(scenario, 200, 3), warmup=30)
    assert costs.kpis["cycle_service_level"].mean() >= 0.9 - 0.01
    with pytest.raises(ValueError, match="fixed lead time"):
        tune_eoq(load_scenario("csv_history"), evaluation_paths(load_scenario("csv_history"), 5, 1), service_level=0.9)


@pytest.mark.parametrize("name", sorted(TUNERS))
def test_every_tuner_handles_non_stationary_and_stochastic_lead_time_scenarios(name):
    scenario = load_scenario("csv_history", horizon=60)
    tuned = TUNERS[name](scenario, evaluation_paths(scenario, 40, 1), warmup=10)
    assert tuned.method == "simulation" and np.isfinite(tuned.expected_cost)
    # the cost it reports is the simulated cost of the winner on the tuning paths
    rerun = run_batch(tuned.policy, scenario, evaluation_paths(scenario, 40, 1), warmup=10).avg_cost.mean()
    assert rerun == pytest.approx(tuned.expected_cost)


def test_optimum_is_out_of_reach_for_non_stationary_or_stochastic_lead_times():
    assert optimal_policy(load_scenario("seasonal_promo"))[1] == "demand 'seasonal' is not stationary"
    assert (
        optimal_policy(make_scenario(lead_time={"values": [1, 2], "probs": [0.5, 0.5]}))[1]
        == "the lead time is stochastic"
    )


GRID = [(L, p) for L in (1, 2, 3, 4) for p in (4, 9, 19, 39)]


@pytest.mark.slow
@pytest.mark.parametrize(("lead_time", "shortage_cost"), GRID)
def test_optimum_is_never_beaten_by_a_tuned_heuristic_on_the_grid(lead_time, shortage_cost):
    scenario = load_scenario(f"lost_sales_L{lead_time}_p{shortage_cost}")
    policy, _ = optimal_policy(scenario)
    paths = evaluation_paths(scenario, 150, 11)
    optimal_costs = run_batch(policy, scenario, paths, warmup=50).avg_cost
    # the DP's own exact cost agrees with its simulated cost
    _, low, high = mean_ci(optimal_costs)
    assert low <= policy.result.average_cost <= high
    tuning = evaluation_paths(scenario, 64, 1)
    for name in ("base_stock", "capped_base_stock", "s_S"):
        heuristic = TUNERS[name](scenario, tuning, warmup=50).policy
        difference = optimal_costs - run_batch(heuristic, scenario, paths, warmup=50).avg_cost
        diff_mean, diff_low, _ = mean_ci(difference)
        assert diff_low <= 0, f"{name} beats the optimum: paired difference {diff_mean:.4f}"


def test_exact_formulas_give_way_to_search_when_capacity_binds():
    scenario = load_scenario("backorder_K64", max_order=30)  # Zheng-Federgruen's (6, 40) needs orders up to ~60
    tuned = tune_s_S(scenario, evaluation_paths(scenario, 200, 1), warmup=50)
    assert tuned.method == "simulation" and tuned.policy.S - tuned.policy.s <= 30
    policy, _ = optimal_policy(scenario)
    paths = evaluation_paths(scenario, 300, 4)
    difference = (
        run_batch(tuned.policy, scenario, paths, warmup=50).avg_cost
        - run_batch(policy, scenario, paths, warmup=50).avg_cost
    )
    mean, _, _ = mean_ci(difference)
    assert -0.02 < mean < 0.01 * policy.result.average_cost  # not below the capped optimum, within 1% of it


@pytest.mark.slow
def test_search_grid_reaches_deep_reorder_points_of_large_fixed_costs():
    # a one-point lead-time distribution forces the simulation search on a case Zheng-Federgruen solves
    scenario = make_scenario(
        demand={"dist": "poisson", "mean": 10},
        lost_sales=False,
        holding_cost=1,
        shortage_cost=1,
        fixed_order_cost=500,
        lead_time={"values": [0], "probs": [1.0]},
        max_order=200,
        horizon=365,
        initial_on_hand=40,
    )
    tuned = tune_s_S(scenario, evaluation_paths(scenario, 200, 1), warmup=50)
    assert tuned.method == "simulation"
    exact = zheng_federgruen(scenario.demand.pmf(), 1, 1, 500)
    assert exact.s < -50  # far below the old grid's edge at minus one period's largest demand
    found = ss_average_cost(scenario.demand.pmf(), tuned.policy.s, tuned.policy.S, 1, 1, 500)
    assert found <= exact.average_cost * 1.01
