"""Tests of agents.exact.formulas against published values, brute force and simulation."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import poisson

from agents.exact import (
    eoq,
    lead_time_demand_pmf,
    newsvendor_base_stock,
    reorder_point_for_service,
    ss_average_cost,
    zheng_federgruen,
)


def poisson_pmf(mean: float) -> np.ndarray:
    return poisson.pmf(np.arange(int(mean + 20 * np.sqrt(mean) + 20)), mean)


def geometric_pmf(mean: float) -> np.ndarray:
    q = mean / (1.0 + mean)
    return (1.0 - q) * q ** np.arange(200)


# Zheng & Federgruen (1991), h = 1, p = 9, K = 64, L = 0; Snyder & Shen Example 4.7.
PUBLISHED_SS = [
    (10, 1.0, 9.0, 64.0, 6, 40, 35.022),
    (15, 1.0, 9.0, 64.0, 10, 49, 42.698),
    (20, 1.0, 9.0, 64.0, 14, 62, 49.173),
    (6, 1.0, 4.0, 5.0, 4, 10, 8.0341),
]


@pytest.mark.parametrize("mean, h, b, K, s, S, cost", PUBLISHED_SS)
def test_zheng_federgruen_published(mean, h, b, K, s, S, cost):
    result = zheng_federgruen(poisson_pmf(mean), h, b, K)
    assert (result.s, result.S) == (s, S)
    assert result.average_cost == pytest.approx(cost, abs=1e-3)
    assert ss_average_cost(poisson_pmf(mean), s, S, h, b, K) == pytest.approx(cost, abs=1e-3)


def markov_chain_cost(pmf, s, S, h, b, K, lead_time, unit_cost):
    """Average cost of (s, S) from the stationary law of the position after ordering."""
    lead = np.ones(1)
    for _ in range(lead_time + 1):
        lead = np.convolve(lead, pmf)
    x = np.arange(lead.size)
    states = np.arange(s + 1, S + 1)
    G = np.array([lead @ (h * np.maximum(y - x, 0) + b * np.maximum(x - y, 0)) for y in states])
    n = states.size
    P = np.zeros((n, n))
    order_prob = np.zeros(n)
    for i, y in enumerate(states):
        for d, p in enumerate(pmf):
            if y - d <= s:
                P[i, n - 1] += p
                order_prob[i] += p
            else:
                P[i, y - d - s - 1] += p
    A = np.vstack([P.T - np.eye(n), np.ones(n)])
    pi = np.linalg.lstsq(A, np.r_[np.zeros(n), 1.0], rcond=None)[0]
    return pi @ G + K * pi @ order_prob + unit_cost * np.arange(pmf.size) @ pmf


@pytest.mark.parametrize(
    "pmf, s, S, lead_time",
    [
        (poisson_pmf(10), 6, 40, 0),
        (poisson_pmf(3), 5, 17, 2),
        (np.array([0.5, 0.2, 0.0, 0.3]), -1, 6, 1),  # p(0) > 0 exercises the renewal's self-loop
    ],
)
def test_ss_average_cost_matches_markov_chain(pmf, s, S, lead_time):
    args = (pmf, s, S, 1.5, 7.0, 20.0, lead_time, 2.0)
    assert ss_average_cost(*args) == pytest.approx(markov_chain_cost(*args), rel=1e-9)


@pytest.mark.parametrize(
    "pmf, h, b, K, lead_time, s_range, S_max",
    [
        (poisson_pmf(10), 1.0, 9.0, 64.0, 0, range(-5, 20), 75),
        (poisson_pmf(2), 2.0, 5.0, 30.0, 2, range(-3, 12), 35),
        (np.array([0.6, 0.1, 0.1, 0.2]), 1.0, 3.0, 10.0, 1, range(-4, 8), 25),
    ],
)
def test_zheng_federgruen_is_grid_argmin(pmf, h, b, K, lead_time, s_range, S_max):
    result = zheng_federgruen(pmf, h, b, K, lead_time)
    grid = {(s, S): ss_average_cost(pmf, s, S, h, b, K, lead_time) for s in s_range for S in range(s + 1, S_max)}
    best = min(grid, key=grid.get)
    assert best[0] not in (s_range[0], s_range[-1]) and best[1] < S_max - 1, "grid too small"
    assert result.average_cost == pytest.approx(grid[best], rel=1e-12)
    assert grid[(result.s, result.S)] == pytest.approx(grid[best], rel=1e-12)


def test_zheng_federgruen_without_fixed_cost_is_base_stock():
    pmf = poisson_pmf(6)
    result = zheng_federgruen(pmf, 1.0, 4.0, 0.0, lead_time=2, unit_cost=3.0)
    base = newsvendor_base_stock(pmf, 1.0, 4.0, lead_time=2)
    assert result.S == base.S
    assert result.average_cost == pytest.approx(base.average_cost + 3.0 * 6.0, rel=1e-9)


def test_newsvendor_published():
    S, cost = newsvendor_base_stock(poisson_pmf(6), 1.0, 4.0)
    assert S == 8
    assert cost == pytest.approx(3.5701, abs=1e-4)


def test_newsvendor_beats_neighbours_with_lead_time():
    pmf, h, b, L = poisson_pmf(4), 2.0, 11.0, 3
    S, cost = newsvendor_base_stock(pmf, h, b, L)
    # Base-stock is (S - 1, S) with K = 0, costed by the independent renewal formula.
    for other in (S - 1, S + 1):
        assert ss_average_cost(pmf, other - 1, other, h, b, 0.0, L) > cost
    assert ss_average_cost(pmf, S - 1, S, h, b, 0.0, L) == pytest.approx(cost, rel=1e-12)


def test_lead_time_demand_pmf():
    pmf = poisson_pmf(3)
    total = lead_time_demand_pmf(pmf, 4)
    assert total.sum() == pytest.approx(1.0, abs=1e-15)
    np.testing.assert_allclose(total, poisson.pmf(np.arange(total.size), 12), atol=1e-12)
    assert poisson.sf(total.size - 1, 12) < 1e-11
    np.testing.assert_array_equal(lead_time_demand_pmf(pmf, 0), [1.0])


def test_eoq_published():
    Q, cost = eoq(8.0, 0.225, 1300.0)
    assert pytest.approx(304.0468, abs=1e-4) == Q
    assert cost == pytest.approx(68.4105, abs=1e-4)


def simulated_cycle_service(demand: np.ndarray, r: int, Q: int, lead_time: int) -> float:
    """Share of arriving orders that find no backlog, in a backorder (r, nQ) system."""
    n, horizon = demand.shape
    net = np.full(n, r + Q)
    pipeline = np.zeros((n, lead_time + 1), dtype=np.int64)  # column j arrives in j periods
    met = arrivals = 0
    for t in range(horizon):
        position = net + pipeline.sum(axis=1)
        pipeline[:, lead_time] = -(-np.maximum(r + 1 - position, 0) // Q) * Q
        arriving = pipeline[:, 0] > 0
        if t >= 50:  # warm-up
            met += int(np.count_nonzero(arriving & (net >= 0)))
            arrivals += int(np.count_nonzero(arriving))
        net += pipeline[:, 0]
        pipeline[:, :-1] = pipeline[:, 1:]
        pipeline[:, -1] = 0
        net -= demand[:, t]
    return met / arrivals


@pytest.mark.parametrize("lead_time, target, Q", [(0, 0.90, 10), (2, 0.89, 25)])
def test_reorder_point_is_exact_for_geometric_demand(lead_time, target, Q):
    pmf = geometric_pmf(4.0)
    r = reorder_point_for_service(pmf, lead_time, target)
    demand = np.random.default_rng(0).geometric(1.0 / 5.0, size=(4000, 500)) - 1
    achieved = simulated_cycle_service(demand, r, Q, lead_time)
    assert achieved >= target
    predicted = lead_time_demand_pmf(pmf, lead_time + 1)[: r + 1].sum()
    assert achieved == pytest.approx(predicted, abs=2e-3)
    assert simulated_cycle_service(demand, r - 1, Q, lead_time) < target


def test_reorder_point_is_conservative_for_poisson_demand():
    r = reorder_point_for_service(poisson_pmf(5), 1, 0.95)
    demand = np.random.default_rng(1).poisson(5.0, size=(2000, 500))
    assert simulated_cycle_service(demand, r, 12, 1) >= 0.95


GOOD_PMF = poisson_pmf(5)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: zheng_federgruen(GOOD_PMF, -1.0, 9.0, 64.0), "holding_cost"),
        (lambda: zheng_federgruen(GOOD_PMF, 1.0, 0.0, 64.0), "backorder_cost"),
        (lambda: zheng_federgruen(GOOD_PMF, 1.0, 9.0, -1.0), "fixed_order_cost"),
        (lambda: zheng_federgruen(GOOD_PMF, 1.0, 9.0, 64.0, unit_cost=-2.0), "unit_cost"),
        (lambda: zheng_federgruen(GOOD_PMF, 1.0, 9.0, 64.0, lead_time=-1), "lead_time"),
        (lambda: zheng_federgruen([], 1.0, 9.0, 64.0), "pmf"),
        (lambda: zheng_federgruen([1.0, 0.0], 1.0, 9.0, 64.0), "pmf"),
        (lambda: zheng_federgruen([0.5, 0.4], 1.0, 9.0, 64.0), "pmf"),
        (lambda: zheng_federgruen([0.5, -0.1, 0.6], 1.0, 9.0, 64.0), "pmf"),
        (lambda: ss_average_cost(GOOD_PMF, 5, 5, 1.0, 9.0, 64.0), "S"),
        (lambda: ss_average_cost(GOOD_PMF, 2.5, 5, 1.0, 9.0, 64.0), "s"),  # type: ignore[arg-type]
        (lambda: newsvendor_base_stock(GOOD_PMF, 1.0, -4.0), "backorder_cost"),
        (lambda: newsvendor_base_stock(GOOD_PMF, 1.0, 4.0, lead_time=1.5), "lead_time"),  # type: ignore[arg-type]
        (lambda: eoq(-8.0, 0.225, 1300.0), "fixed_order_cost"),
        (lambda: eoq(8.0, 0.0, 1300.0), "holding_cost"),
        (lambda: eoq(8.0, 0.225, 0.0), "mean_demand"),
        (lambda: reorder_point_for_service(GOOD_PMF, 1, 1.0), "cycle_service_level"),
        (lambda: reorder_point_for_service(GOOD_PMF, 1, 0.0), "cycle_service_level"),
        (lambda: reorder_point_for_service(GOOD_PMF, -2, 0.9), "lead_time"),
        (lambda: lead_time_demand_pmf(GOOD_PMF, -1), "periods"),
    ],
)
def test_bad_inputs_raise(call, match):
    with pytest.raises(ValueError, match=rf"^{match} "):
        call()
