"""Closed-form and exact algorithms for the classic inventory policies.

Pure numpy, no dependency on the rest of the project, so the optimum the learned policies are
held against is computed by code that shares nothing with the simulator.

Conventions (the project's event order, periodic review, unmet demand backordered):

- an order placed at the start of a period arrives ``lead_time`` periods later, before that
  period's demand (``lead_time=0``: it arrives at once);
- demand per period is iid on ``0 .. len(pmf) - 1`` with probabilities ``pmf``;
- holding cost ``h`` per unit on hand and backorder cost ``b`` per unit backlogged, both at
  the end of each period; fixed cost ``K`` per order; unit cost ``c`` per unit ordered.

The inventory position ``y`` after ordering in period ``t`` is exactly the net inventory at
the end of period ``t + L`` plus the demand of periods ``t .. t + L``, so the expected cost
charged to that decision is ``G(y) = E[h (y - D_{L+1})^+ + b (D_{L+1} - y)^+]``, with
``D_{L+1}`` the demand of ``L + 1`` periods.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

# Mass dropped from the upper tail of a convolved demand pmf: far below any cost tolerance,
# and it keeps the support of long lead times from growing with every convolution.
TAIL_MASS = 1e-12
# How far a given pmf may sum from 1 before it is taken for a mistake rather than a truncation.
PMF_SUM_TOLERANCE = 1e-6


# G evaluated at one integer gives a float, at an integer array an array.
CostFunction = Callable[[int | np.ndarray], float | np.ndarray]


@dataclass(frozen=True)
class SSResult:
    """An optimal (s, S) policy: order up to ``S`` when the inventory position is <= ``s``.

    Attributes:
        s: reorder point.
        S: order-up-to level.
        average_cost: long-run average cost per period.
    """

    s: int
    S: int
    average_cost: float


class BaseStockResult(NamedTuple):
    """An optimal base-stock level and its expected cost per period."""

    S: int
    average_cost: float


class EOQResult(NamedTuple):
    """The Economic Order Quantity and its holding plus ordering cost per unit of time."""

    Q: float
    cost: float


def lead_time_demand_pmf(pmf: npt.ArrayLike, periods: int) -> np.ndarray:
    """Pmf of the total demand over ``periods`` iid periods.

    Args:
        pmf: demand pmf of one period over ``0 .. len(pmf) - 1``; must sum to 1.
        periods: number of periods summed, >= 0 (0 gives the point mass at 0).

    Returns:
        pmf of the sum over ``0 .. n - 1``, with the upper tail of mass below
        ``TAIL_MASS`` dropped and the rest renormalized to sum to 1.
    """
    pmf = check_pmf(pmf)
    _check_int("periods", periods, minimum=0)
    total = np.ones(1)
    for _ in range(periods):
        total = truncate_tail(np.convolve(total, pmf))
    return total


def ss_average_cost(
    pmf: npt.ArrayLike,
    s: int,
    S: int,
    holding_cost: float,
    backorder_cost: float,
    fixed_order_cost: float,
    lead_time: int = 0,
    unit_cost: float = 0.0,
) -> float:
    """Exact long-run average cost per period of a given (s, S) policy with backorders.

    Renewal formula of Zheng & Federgruen (1991): with ``m(j)`` the expected number of periods
    the inventory position spends at ``S - j`` in one cycle started at ``S``, and ``M(n)`` the
    sum of ``m(0 .. n - 1)`` (the expected cycle length),
    ``c(s, S) = (K + sum_{j < S - s} m(j) G(S - j)) / M(S - s)``, plus ``c * E[D]``.

    Args:
        pmf: demand pmf of one period over ``0 .. len(pmf) - 1``.
        s: reorder point: order when the inventory position is <= s.
        S: order-up-to level, > s.
        holding_cost: h >= 0, per unit on hand at the end of a period.
        backorder_cost: b >= 0, per unit backlogged at the end of a period.
        fixed_order_cost: K >= 0, per order.
        lead_time: L >= 0, periods from placing an order to its arrival.
        unit_cost: c >= 0, per unit ordered.

    Returns:
        the average cost per period.
    """
    pmf = check_pmf(pmf)
    _check_int("s", s)
    _check_int("S", S)
    if s >= S:
        raise ValueError(f"S must be > s, got s={s}, S={S}")
    _check_costs(holding_cost, backorder_cost, fixed_order_cost, unit_cost, positive=False)
    _check_int("lead_time", lead_time, minimum=0)
    cost = _SSCost(pmf, holding_cost, backorder_cost, fixed_order_cost, lead_time)
    return cost(s, S) + unit_cost * _mean(pmf)


def zheng_federgruen(
    pmf: npt.ArrayLike,
    holding_cost: float,
    backorder_cost: float,
    fixed_order_cost: float,
    lead_time: int = 0,
    unit_cost: float = 0.0,
) -> SSResult:
    """Optimal (s, S) policy with backorders, by the algorithm of Zheng & Federgruen (1991).

    "Finding optimal (s, S) policies is about as simple as evaluating a single policy",
    Operations Research 39(4), 654-665. Starting from the minimizer ``y*`` of ``G``, the
    algorithm lowers ``s`` until ``c(s, y*) <= G(s)``, then raises ``S`` while ``G(S)`` is
    still below the best cost found, moving ``s`` up whenever ``S`` improves. The unit cost
    does not change the optimal policy with backorders; it adds ``c * E[D]`` to the cost.

    Args:
        pmf: demand pmf of one period over ``0 .. len(pmf) - 1``.
        holding_cost: h > 0 (with h = 0 stocking up is free and ``S`` has no optimum).
        backorder_cost: b > 0 (with b = 0 never ordering is optimal).
        fixed_order_cost: K >= 0.
        lead_time: L >= 0.
        unit_cost: c >= 0.

    Returns:
        the optimal ``s``, ``S`` and average cost per period.
    """
    pmf = check_pmf(pmf)
    _check_costs(holding_cost, backorder_cost, fixed_order_cost, unit_cost, positive=True)
    _check_int("lead_time", lead_time, minimum=0)
    cost = _SSCost(pmf, holding_cost, backorder_cost, fixed_order_cost, lead_time)
    G = cost.G
    y_star = critical_fractile(cost.lead_demand, holding_cost, backorder_cost)

    s, S0 = y_star - 1, y_star
    while cost(s, S0) > G(s):
        s -= 1
    c0 = cost(s, S0)

    S = S0 + 1
    # An optimal S has G(S) <= its cost, and G rises beyond y*: stop at the first G(S) > c0.
    while G(S) <= c0:
        if cost(s, S) < c0:
            S0 = S
            # The bound s + 1 < S0 only binds at K = 0, where c(S0 - 1, S0) = G(S0).
            while s + 1 < S0 and cost(s, S0) <= G(s + 1):
                s += 1
            c0 = cost(s, S0)
        S += 1
    return SSResult(s=s, S=S0, average_cost=c0 + unit_cost * _mean(pmf))


def newsvendor_base_stock(
    pmf: npt.ArrayLike,
    holding_cost: float,
    backorder_cost: float,
    lead_time: int = 0,
) -> BaseStockResult:
    """Optimal base-stock level with backorders, by the critical fractile.

    ``S`` is the smallest level with ``P(D_{L+1} <= S) >= b / (b + h)``, the demand summed
    over the ``L + 1`` periods an order-up-to decision covers; its cost per period is ``G(S)``.

    Args:
        pmf: demand pmf of one period over ``0 .. len(pmf) - 1``.
        holding_cost: h > 0.
        backorder_cost: b > 0.
        lead_time: L >= 0.

    Returns:
        the base-stock level ``S`` and its expected cost per period.
    """
    pmf = check_pmf(pmf)
    _check_costs(holding_cost, backorder_cost, 0.0, 0.0, positive=True)
    _check_int("lead_time", lead_time, minimum=0)
    lead_demand = lead_time_demand_pmf(pmf, lead_time + 1)
    S = critical_fractile(lead_demand, holding_cost, backorder_cost)
    G = expected_cost_function(lead_demand, holding_cost, backorder_cost)
    return BaseStockResult(S=S, average_cost=float(G(S)))


def eoq(fixed_order_cost: float, holding_cost: float, mean_demand: float) -> EOQResult:
    """Economic Order Quantity: ``Q* = sqrt(2 K d / h)``, cost ``sqrt(2 K h d)``.

    Costs and demand share one time unit (a year, a period); the cost is the ordering plus
    holding cost per that unit of time, without the purchase cost.

    Args:
        fixed_order_cost: K >= 0, per order.
        holding_cost: h > 0, per unit held per unit of time.
        mean_demand: d > 0, units per unit of time.

    Returns:
        the order quantity and its cost per unit of time.
    """
    _check_nonnegative("fixed_order_cost", fixed_order_cost)
    _check_positive("holding_cost", holding_cost)
    _check_positive("mean_demand", mean_demand)
    return EOQResult(
        Q=math.sqrt(2.0 * fixed_order_cost * mean_demand / holding_cost),
        cost=math.sqrt(2.0 * fixed_order_cost * holding_cost * mean_demand),
    )


def reorder_point_for_service(pmf: npt.ArrayLike, lead_time: int, cycle_service_level: float) -> int:
    """Reorder point of a periodic-review (r, Q) policy with backorders for a cycle service level.

    Returns the smallest ``r`` with ``P(D_{L+1} <= r) >= cycle_service_level``, where
    ``D_{L+1}`` is the demand of ``L + 1`` periods, not ``L``. The policy orders at the start
    of period ``t`` when the inventory position is <= r; the order arrives before the demand of
    period ``t + L``, so a cycle is stock-out free when the net inventory at the end of period
    ``t + L - 1`` is >= 0 (no backlog when the order arrives). The last inventory position
    known to exceed ``r`` is the one after ordering in period ``t - 1``, which must cover the
    demand of periods ``t - 1 .. t + L - 1``: L + 1 periods. Counting only L periods from
    ``r`` ignores the undershoot below ``r`` at review, which with periodic review is about
    one period's demand, and misses the target (badly at L = 0).

    The answer is exact for geometric demand (its undershoot has the distribution of one
    period's demand, whatever ``Q``) and conservative for log-concave demand such as Poisson
    or binomial (smaller undershoot).

    Args:
        pmf: demand pmf of one period over ``0 .. len(pmf) - 1``.
        lead_time: L >= 0.
        cycle_service_level: target probability of no stock-out per cycle, in (0, 1).

    Returns:
        the reorder point ``r``.
    """
    pmf = check_pmf(pmf)
    _check_int("lead_time", lead_time, minimum=0)
    if not 0.0 < cycle_service_level < 1.0:
        raise ValueError(f"cycle_service_level must be in (0, 1), got {cycle_service_level}")
    cdf = np.cumsum(lead_time_demand_pmf(pmf, lead_time + 1))
    return min(int(np.searchsorted(cdf, cycle_service_level)), cdf.size - 1)


class _SSCost:
    """``G`` and ``c(s, S)`` for one demand model, with the renewal masses grown on demand."""

    def __init__(
        self,
        pmf: np.ndarray,
        holding_cost: float,
        backorder_cost: float,
        fixed_order_cost: float,
        lead_time: int,
    ) -> None:
        self.pmf = pmf
        self.fixed_order_cost = fixed_order_cost
        self.lead_demand = lead_time_demand_pmf(pmf, lead_time + 1)
        self.G = expected_cost_function(self.lead_demand, holding_cost, backorder_cost)
        self.m = np.empty(0)

    def __call__(self, s: int, S: int) -> float:
        n = S - s
        self._grow(n)
        weighted = float(self.m[:n] @ self.G(S - np.arange(n)))
        return (self.fixed_order_cost + weighted) / float(self.m[:n].sum())

    def _grow(self, n: int) -> None:
        """Extend ``m`` to at least ``n`` terms, doubling so the searches stay linear."""
        start = self.m.size
        if n <= start:
            return
        m = np.concatenate([self.m, np.empty(max(n, 2 * start) - start)])
        p = self.pmf
        # m(j) = 1{j=0} + sum_{l=0..j} p(l) m(j-l): the position stays put with probability
        # p(0), so solve for m(j) instead of summing over l = 0.
        for j in range(start, m.size):
            lags = min(j, p.size - 1)
            renewal = float(p[1 : lags + 1] @ m[j - 1 :: -1][:lags]) if lags else 0.0
            m[j] = ((j == 0) + renewal) / (1.0 - p[0])
        self.m = m


def expected_cost_function(demand_pmf: np.ndarray, holding_cost: float, backorder_cost: float) -> CostFunction:
    """``G(y) = E[h (y - X)^+ + b (X - y)^+]`` for X ~ ``demand_pmf``, for any integers y."""
    x = np.arange(demand_pmf.size)
    # Prepending 0 lets y < 0 index the empty partial sums.
    cdf = np.concatenate([[0.0], np.cumsum(demand_pmf)])
    partial_mean = np.concatenate([[0.0], np.cumsum(x * demand_pmf)])
    total, mean = cdf[-1], partial_mean[-1]

    def G(y: int | np.ndarray) -> float | np.ndarray:
        y = np.asarray(y)
        idx = np.clip(y, -1, demand_pmf.size - 1) + 1
        over = y * cdf[idx] - partial_mean[idx]
        short = (mean - partial_mean[idx]) - y * (total - cdf[idx])
        result = holding_cost * over + backorder_cost * short
        return float(result) if result.ndim == 0 else result

    return G


def critical_fractile(demand_pmf: np.ndarray, holding_cost: float, backorder_cost: float) -> int:
    """Smallest y with ``P(X <= y) >= b / (b + h)``, the minimizer of ``G``."""
    cdf = np.cumsum(demand_pmf)
    fractile = backorder_cost / (backorder_cost + holding_cost)
    return min(int(np.searchsorted(cdf, fractile)), cdf.size - 1)


def truncate_tail(pmf: np.ndarray) -> np.ndarray:
    """Drop the upper tail of mass below ``TAIL_MASS`` and renormalize the rest."""
    tail = np.cumsum(pmf[::-1])[::-1]
    keep = max(1, int(np.count_nonzero(tail >= TAIL_MASS)))
    kept = pmf[:keep]
    return kept / kept.sum()


def _mean(pmf: np.ndarray) -> float:
    return float(np.arange(pmf.size) @ pmf)


def check_pmf(pmf: npt.ArrayLike) -> np.ndarray:
    """A valid demand pmf as a float array renormalized to sum to exactly 1."""
    arr = np.asarray(pmf, dtype=float)
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"pmf must be a non-empty 1-d array, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)) or np.any(arr < 0):
        raise ValueError("pmf must hold finite non-negative probabilities")
    if abs(arr.sum() - 1.0) > PMF_SUM_TOLERANCE:
        raise ValueError(f"pmf must sum to 1, got {arr.sum():.9g}")
    if arr[0] >= 1.0 - PMF_SUM_TOLERANCE:
        raise ValueError("pmf must have a positive mean, got all mass at 0")
    return arr / arr.sum()


def _check_costs(
    holding_cost: float,
    backorder_cost: float,
    fixed_order_cost: float,
    unit_cost: float,
    positive: bool,
) -> None:
    check = _check_positive if positive else _check_nonnegative
    check("holding_cost", holding_cost)
    check("backorder_cost", backorder_cost)
    _check_nonnegative("fixed_order_cost", fixed_order_cost)
    _check_nonnegative("unit_cost", unit_cost)


def _check_positive(name: str, value: float) -> None:
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be > 0, got {value}")


def _check_nonnegative(name: str, value: float) -> None:
    if not (math.isfinite(value) and value >= 0):
        raise ValueError(f"{name} must be >= 0, got {value}")


def _check_int(name: str, value: int, minimum: int | None = None) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
