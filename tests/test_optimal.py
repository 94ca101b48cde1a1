"""Tests of agents.exact.dp against published optima, hand-solved cases and simulation."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import poisson

from agents.exact import DPTooLarge, OptimalPolicy, dp, solve_dp
from envs.policy import Policy
from tests.conftest import layout


def poisson_pmf(mean: float) -> np.ndarray:
    return poisson.pmf(np.arange(int(mean + 20 * np.sqrt(mean) + 20)), mean)


# Zipkin (2008), Table 3: lost sales, Poisson mean 5, h = 1, no ordering cost.
ZIPKIN = {
    (1, 4): 4.04,
    (1, 9): 5.44,
    (1, 19): 6.68,
    (1, 39): 7.84,
    (2, 4): 4.40,
    (2, 9): 6.09,
    (2, 19): 7.66,
    (2, 39): 9.11,
    (3, 4): 4.60,
    (3, 9): 6.53,
    (3, 19): 8.36,
    (3, 39): 10.04,
    (4, 4): 4.73,
    (4, 9): 6.84,
    (4, 19): 8.89,
    (4, 39): 10.79,
}


@pytest.mark.parametrize("lead_time, p", sorted(ZIPKIN))
def test_zipkin_lost_sales(lead_time, p):
    result = solve_dp(poisson_pmf(5), lead_time, True, 1.0, p, max_order=20)
    # The table has two decimals: the exact value rounds to it.
    assert abs(result.average_cost - ZIPKIN[lead_time, p]) <= 0.006
    assert result.cost_bounds[1] - result.cost_bounds[0] <= 1e-6
    assert result.max_order_probability == 0.0
    assert result.bound_probability == 0.0


@pytest.mark.parametrize(
    "mean, b, K, cost, s, S",
    [
        (10, 9.0, 64.0, 35.022, 6, 40),  # Zheng & Federgruen (1991)
        (6, 4.0, 5.0, 8.0341, 4, 10),  # Snyder & Shen, Example 4.7
        (6, 4.0, 0.0, 3.5701, 7, 8),  # the same without K: base stock 8
    ],
)
def test_backorders_published(mean, b, K, cost, s, S):
    result = solve_dp(poisson_pmf(mean), 0, False, 1.0, b, fixed_order_cost=K, max_order=100)
    assert result.average_cost == pytest.approx(cost, abs=1e-3 if K == 64 else 1e-4)
    params = OptimalPolicy(result, layout(result.lead_time)).params()
    assert (params["s"], params["S"]) == (s, S)


def test_backorder_lead_time_and_unit_cost_shift_the_levels():
    """With backorders a lead time L is a newsvendor on L + 1 periods; c adds c E[D]."""
    pmf = poisson_pmf(6)
    result = solve_dp(pmf, 2, False, 1.0, 4.0, unit_cost=2.0, max_order=100)
    lead = np.convolve(np.convolve(pmf, pmf), pmf)
    d = np.arange(lead.size)
    G = [lead @ (np.maximum(y - d, 0) + 4.0 * np.maximum(d - y, 0)) for y in range(40)]
    assert result.average_cost == pytest.approx(min(G) + 2.0 * 6, abs=1e-6)
    assert OptimalPolicy(result, layout(result.lead_time)).params()["S"] == int(np.argmin(G))


@pytest.mark.parametrize("lost_sales, lead_time", [(False, 0), (False, 2), (True, 0), (True, 2)])
def test_deterministic_demand_by_hand(lost_sales, lead_time):
    """Demand 2 every period, K = 10, h = 1, shortage prohibitive.

    Ordering 2n units every n periods costs (K + 2(0 + 1 + ... + (n-1))) / n = 10/n + n - 1
    per period: 6, 5.33, 5.5 for n = 2, 3, 4, so the optimum is 16/3.
    """
    pmf = np.array([0.0, 0.0, 1.0])
    result = solve_dp(pmf, lead_time, lost_sales, 1.0, 100.0, fixed_order_cost=10.0, max_order=12)
    assert result.average_cost == pytest.approx(16 / 3, abs=1e-6)
    visited = result.stationary > 1e-9
    assert sorted(result.policy[visited]) == [0, 0, 6]


def test_lost_sales_matches_brute_force_on_the_full_state():
    """Value iteration on (on hand, a_0, a_1) with the event order spelled out.

    Checks the state reduction, the fixed and unit costs and the truncation.
    """
    h, p, K, c, bound, max_order = 1.0, 6.0, 3.0, 0.5, 14, 8
    pmf = poisson.pmf(np.arange(25), 2.0)
    pmf /= pmf.sum()
    states = [
        (x, a0, a1)
        for x in range(bound + 1)
        for a0 in range(bound + 1)
        for a1 in range(bound + 1)
        if x + a0 + a1 <= bound
    ]
    index = {s: i for i, s in enumerate(states)}
    n, n_actions = len(states), max_order + 1
    cost = np.full((n, n_actions), np.inf)
    P = np.zeros((n, n_actions, n))
    for i, (x, a0, a1) in enumerate(states):
        for q in range(min(max_order, bound - x - a0 - a1) + 1):
            available = x + a0
            cost[i, q] = K * (q > 0) + c * q
            for d, prob in enumerate(pmf):
                cost[i, q] += prob * (h * max(available - d, 0) + p * max(d - available, 0))
                P[i, q, index[(max(available - d, 0), a1, q)]] += prob
    V = np.zeros(n)
    for _ in range(5000):
        gain = np.min(cost + P @ V, axis=1) - V
        if gain.max() - gain.min() < 1e-10:
            break
        V += gain - gain[0]
    result = solve_dp(
        pmf, 2, True, h, p, fixed_order_cost=K, unit_cost=c, max_order=max_order, max_position=bound, tol=1e-9
    )
    assert result.average_cost == pytest.approx(gain.mean(), abs=1e-8)


def test_act_matches_table_lost_sales():
    result = solve_dp(poisson_pmf(5), 3, True, 1.0, 9.0, max_order=20)
    policy = OptimalPolicy(result, layout(result.lead_time))
    assert isinstance(policy, Policy) and policy.name == "optimal"
    y, a1, a2 = result.states.T
    rng = np.random.default_rng(0)
    arriving = rng.integers(0, y + 1)  # any split of y into on hand + arriving now
    extra = rng.normal(size=(y.size, 2))  # features after the pipeline are ignored
    obs = np.column_stack([y - arriving, arriving, a1, a2, extra]).astype(float)
    np.testing.assert_array_equal(policy.act(obs), result.policy)
    hi = result.bounds[1]
    outside = np.array([[hi + 1, 0, 0, 0], [hi, 1, 0, 0], [-3.0, 0, 0, 0]])
    assert policy.act(outside).tolist() == [0, 0, policy.act(np.zeros((1, 4)))[0]]


def test_act_matches_table_backorders():
    result = solve_dp(poisson_pmf(10), 1, False, 1.0, 9.0, fixed_order_cost=64.0, max_order=100)
    policy = OptimalPolicy(result, layout(result.lead_time))
    s, S = policy.params()["s"], policy.params()["S"]
    position = result.states[:, 0]
    obs = np.column_stack([position - 3, np.full(position.size, 3.0)])
    np.testing.assert_array_equal(policy.act(obs), result.policy)
    lo, hi = result.bounds
    # Below the table: the same order-up-to rule, capped at max_order; above it: nothing.
    far = np.array([[lo - 1.0, 0.0], [lo - 100.0, 0.0], [hi + 1.0, 0.0]])
    assert policy.act(far).tolist() == [S - lo + 1, 100, 0]
    assert policy.act(np.array([[s, 0.0], [s + 1, 0.0]])).tolist() == [S - s, 0]


def test_act_reaches_the_dp_cost_in_simulation():
    """Run the table on the project's event order; its cost must be the DP's."""
    h, p, lead_time = 1.0, 9.0, 2
    result = solve_dp(poisson_pmf(5), lead_time, True, h, p, max_order=20)
    policy = OptimalPolicy(result, layout(result.lead_time))
    rng = np.random.default_rng(1)
    n, periods, burn_in = 2000, 600, 100
    on_hand = np.zeros(n)
    pipeline = np.zeros((n, lead_time))
    total = 0.0
    for t in range(periods):
        q = policy.act(np.column_stack([on_hand, pipeline]))
        available = on_hand + pipeline[:, 0]
        pipeline = np.column_stack([pipeline[:, 1:], q])
        demand = rng.poisson(5, n)
        cost = h * np.maximum(available - demand, 0) + p * np.maximum(demand - available, 0)
        on_hand = np.maximum(available - demand, 0)
        total += cost.sum() if t >= burn_in else 0.0
    assert total / (n * (periods - burn_in)) == pytest.approx(result.average_cost, abs=0.03)


def test_stationary_law_is_a_distribution():
    result = solve_dp(poisson_pmf(5), 2, True, 1.0, 4.0, max_order=20)
    assert result.stationary.sum() == pytest.approx(1.0)
    assert result.stationary.min() >= 0.0
    assert result.n_states == result.states.shape[0] == result.policy.size


def test_simplex_rank_is_the_enumeration_order():
    for width in (1, 2, 4):
        states = dp._simplex_states(9, width)
        binomial = dp._binomial_table(9 + width + 1, width)
        np.testing.assert_array_equal(dp._simplex_rank(states, 9, binomial), np.arange(states.shape[0]))


def test_automatic_bound_widens_until_it_does_not_bind(monkeypatch):
    monkeypatch.setattr(dp, "critical_fractile", lambda pmf, holding_cost, shortage_cost: 0)
    result = solve_dp(poisson_pmf(5), 1, True, 1.0, 39.0, max_order=20)
    assert result.bounds[1] > 1
    assert abs(result.average_cost - 7.84) <= 0.006


def test_caller_bound_that_binds_warns():
    with pytest.warns(RuntimeWarning, match="bind"):
        solve_dp(poisson_pmf(5), 1, True, 1.0, 19.0, max_position=8, max_order=20)
    with pytest.warns(RuntimeWarning, match="cut at 10"):
        solve_dp(poisson_pmf(10), 0, False, 1.0, 9.0, 64.0, min_position=10, max_order=100)


def test_too_large():
    with pytest.raises(DPTooLarge, match="max_states=1,000,000"):
        solve_dp(poisson_pmf(5), 6, True, 1.0, 39.0)
    with pytest.raises(ValueError, match="states"):
        solve_dp(poisson_pmf(5), 2, True, 1.0, 4.0, max_states=100)


@pytest.mark.parametrize(
    "change, match",
    [
        ({"holding_cost": -1.0}, "holding_cost"),
        ({"shortage_cost": -1.0}, "shortage_cost"),
        ({"fixed_order_cost": -1.0}, "fixed_order_cost"),
        ({"unit_cost": float("nan")}, "unit_cost"),
        ({"pmf": np.array([])}, "non-empty"),
        ({"pmf": np.array([1.0, 0.0])}, "positive mean"),
        ({"pmf": np.array([0.5, 0.4])}, "sum to 1"),
        ({"pmf": np.array([1.5, -0.5])}, "non-negative"),
        ({"lead_time": -1}, "lead_time"),
        ({"lead_time": 1.5}, "lead_time"),
        ({"max_order": 0}, "max_order"),
        ({"lost_sales": False, "max_order": 4}, "mean demand"),
        ({"min_position": -5}, "backorders only"),
        ({"max_position": 0}, "max_position"),
    ],
)
def test_bad_input(change, match):
    args = {
        "pmf": poisson_pmf(5),
        "lead_time": 1,
        "lost_sales": True,
        "holding_cost": 1.0,
        "shortage_cost": 4.0,
        "max_order": 20,
    }
    with pytest.raises(ValueError, match=match) as info:
        solve_dp(**{**args, **change})
    assert "\n" not in str(info.value)


def test_act_rejects_short_observations():
    result = solve_dp(poisson_pmf(5), 2, True, 1.0, 4.0, max_order=20)
    with pytest.raises(ValueError, match="shape"):
        OptimalPolicy(result, layout(result.lead_time)).act(np.zeros((3, 2)))
