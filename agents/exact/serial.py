"""The optimal echelon base-stock levels of a serial system with backorders, and their exact cost.

Clark and Scarf (1960) showed that echelon base-stock policies are optimal for a serial system
with iid demand at the most downstream stage, backorders, fixed lead times and no fixed order
costs; Chen and Zheng (1994) gave the recursion below, in the discrete-time form of Snyder and
Shen, Fundamentals of Supply Chain Theory (2nd ed., section 6.2; stockpyl's
``ssm_serial.optimize_base_stock_levels``). Stages are numbered from the customer: stage 1 faces
demand, stage N orders from outside. With echelon holding costs h_j = h'_j - h'_(j+1) (local
holding costs h', h'_(N+1) = 0), stockout cost p and D_j the demand over stage j's lead time
L_j::

    g_0(x) = (p + h'_1) max(-x, 0)
    for j = 1..N:   ĝ_j(x) = h_j x + g_(j-1)(x)                  (g_(j-1) with its level applied)
                    g_j(y) = E[ĝ_j(y - D_j)],   S_j = argmin_y g_j(y)
                    g_j(x) <- g_j(min(S_j, x))
    optimal cost C* = g_N(S_N)

Mapping to this project's event order (README, "Networks"): in the sources' form the lead time
of stage 1 is its whole protection interval; here a lead time L protects L + 1 periods (the
current one too), so stage 1's lead time here is the sources' L_1 - 1, and the other stages keep
theirs. The echelon level S_j then protects against the demand of the lead times of j and every
stage below it, plus the current period. The sources charge the stock in transit to stage j at
the upstream stage's local holding cost h'_(j+1); in-transit stock has the same mean under every
policy (mean demand x lead time, by Little's law), so the cost here is C* minus that term plus
this project's own transit and unit costs: mean x sum_j (transit_holding_cost_j x L_j + unit_cost_j).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from agents.exact.formulas import lead_time_demand_pmf
from envs.scenario import NetworkScenario
from envs.system import compile_system


@dataclass(frozen=True)
class SerialOptimum:
    """The optimal echelon base-stock levels of a serial system and their long-run cost per period.

    Attributes:
        levels: echelon base-stock level per stock point name.
        cost: long-run cost per period under this project's event order and costs.
        source_cost: C*, the cost in the sources' form (stock in transit charged upstream).
        source_lead_times: the lead times of stages 1..N in the sources' form.
        echelon_holding: echelon holding costs of stages 1..N.
    """

    levels: dict[str, int]
    cost: float
    source_cost: float
    source_lead_times: tuple[int, ...]
    echelon_holding: tuple[float, ...]


def serial_chain(scenario: NetworkScenario) -> list[int] | str:
    """Indices (in supply order) of a serial system's stock points from the customer up, or why it is not one
    the exact method covers."""
    system = compile_system(scenario)
    if np.any(np.diff(system.child_start) > 1):
        return "not a serial system (a stock point supplies several)"
    customers = np.flatnonzero(system.demand_column >= 0)
    if len(customers) != 1 or np.diff(system.child_start)[customers[0]] != 0:
        return "demand must be at the most downstream stock point only"
    chain = [int(customers[0])]
    while system.supplier[chain[-1]] >= 0:
        chain.append(int(system.supplier[chain[-1]]))
    return chain


def why_not_exact(scenario: NetworkScenario) -> str | None:
    """Why the Clark-Scarf recursion does not give this scenario's optimum, or None if it does."""
    chain = serial_chain(scenario)
    if isinstance(chain, str):
        return chain
    points = {p.name: p for p in scenario.stock_points}
    system = compile_system(scenario)
    customer = points[system.names[chain[0]]]
    if customer.lost_sales:
        return "the customer-facing stock point has lost sales (the recursion needs backorders)"
    if customer.demand is None or not customer.demand.stationary:
        return "demand is not iid"
    if not scenario.internal_backorders:
        return "internal shortages are cancelled (the recursion needs internal backorders)"
    for j in chain:
        point = points[system.names[j]]
        if not point.deterministic_lead_time:
            return f"stock point '{point.name}' has a stochastic lead time"
        if point.fixed_order_cost > 0:
            return f"stock point '{point.name}' has a fixed order cost (base-stock policies are not optimal then)"
        if point.unfilled_order_cost > 0:
            return f"stock point '{point.name}' has an unfilled_order_cost"
        if point.order_rounding:
            return f"stock point '{point.name}' orders in packs or with a minimum order quantity"
    local = [points[system.names[j]].holding_cost for j in chain]
    if any(below < above for below, above in itertools.pairwise(local)):
        return "a stock point holds stock more cheaply than its supplier (negative echelon holding cost)"
    return None


def serial_optimum(scenario: NetworkScenario, levels: dict[str, int] | None = None) -> SerialOptimum:
    """The exact optimal echelon base-stock levels and their cost (see the module docstring), or, given
    ``levels``, the exact cost of those echelon levels (the same recursion with S_j fixed).

    Raises:
        ValueError: when the scenario is not a system the recursion covers (:func:`why_not_exact`).
    """
    reason = why_not_exact(scenario)
    if reason is not None:
        raise ValueError(f"{scenario.name}: no exact serial optimum: {reason}")
    system = compile_system(scenario)
    chain = serial_chain(scenario)
    assert isinstance(chain, list)
    points = {p.name: p for p in scenario.stock_points}
    stages = [points[system.names[j]] for j in chain]  # stage 1 (customer) .. N
    assert stages[0].demand is not None
    pmf = stages[0].demand.pmf()
    mean = float(np.arange(len(pmf)) @ pmf)
    local = [s.holding_cost for s in stages] + [0.0]
    echelon = [local[j] - local[j + 1] for j in range(len(stages))]
    lead = [stages[0].max_lead_time + 1] + [s.max_lead_time for s in stages[1:]]  # deterministic here
    p = stages[0].shortage_cost
    demand_pmfs = [lead_time_demand_pmf(pmf, periods) for periods in lead]
    reach = sum(len(d) for d in demand_pmfs) + 10 + max([0, *(levels or {}).values()])  # the grid covers the levels
    x = np.arange(-reach, reach + 1)
    g_below = (p + local[0]) * np.maximum(-x, 0.0)
    found, valid_from = [], 0  # g is exact from index valid_from on: y - D stays on the grid
    for j, stage in enumerate(stages):
        g_hat = echelon[j] * x + g_below
        spread = len(demand_pmfs[j]) - 1
        g = np.full(len(x), np.inf)
        g[valid_from + spread :] = np.convolve(g_hat[valid_from:], demand_pmfs[j])[spread : len(x) - valid_from]
        valid_from += spread
        best = int(np.argmin(g)) if levels is None else int(levels[stage.name]) + reach
        found.append(int(x[best]))
        g_below = np.where(x < x[best], g, g[best])
    source_cost = float(g[best])
    in_transit_upstream = mean * sum(local[j + 1] * lead[j] for j in range(len(stages)))
    own = mean * sum(s.transit_holding_cost * s.max_lead_time + s.unit_cost for s in stages)
    return SerialOptimum(
        levels={s.name: level for s, level in zip(stages, found, strict=True)},
        cost=source_cost - in_transit_upstream + own,
        source_cost=source_cost,
        source_lead_times=tuple(lead),
        echelon_holding=tuple(echelon),
    )
