"""Tuning the classic policies: exact where theory gives the optimum, else by simulation.

Tuning is exact where theory gives the optimum (Zheng-Federgruen (s, S) and the newsvendor
base-stock level for backorders with iid demand and a fixed lead time) and otherwise a
simulation search with common random numbers on the batched kernel: every candidate runs on
the same demand paths, first a coarse screen of the whole grid on few episodes, then the
best candidates again on more.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from agents.classic.policies import BaseStock, CappedBaseStock, ReorderPointQuantity, SSPolicy
from agents.exact import eoq, newsvendor_base_stock, reorder_point_for_service, zheng_federgruen
from envs.batch import run_batch
from envs.layout import ObservationLayout
from envs.paths import ExogenousPaths
from envs.policy import Policy
from envs.scenario import AnyScenario, Scenario

# Most system-periods simulated at once in a tuning batch: with the demand, lead-time and
# feature arrays tiled per candidate this keeps a batch to a few hundred MB.
MAX_CELLS = 1 << 24


@dataclass
class TunedPolicy:
    """A policy with fitted parameters, how they were found and the cost they were judged by."""

    policy: Any
    method: str  # "exact" or "simulation"
    expected_cost: float  # exact long-run cost, or the simulated mean on the tuning paths
    details: dict[str, Any] = field(default_factory=dict)


def _exact_applies(scenario: Scenario, largest_order: int) -> bool:
    """Whether the exact backorder formulas hold: iid demand, a fixed lead time, and a capacity
    that never cuts the policy's orders (``largest_order`` is its largest possible order)."""
    return (
        not scenario.lost_sales
        and not scenario.order_rounding
        and scenario.demand.stationary
        and scenario.deterministic_lead_time
        and largest_order <= scenario.max_order
    )


def _largest_demand(scenario: Scenario) -> int:
    """Largest one-period demand with more than 1e-12 probability (iid demand only)."""
    return len(scenario.demand.pmf()) - 1


def eoq_batch(scenario: Scenario) -> int:
    """The EOQ rounded to a whole batch of at least 1 and at most max_order (max_order when holding is free)."""
    if scenario.holding_cost == 0:
        return scenario.max_order
    quantity = eoq(scenario.fixed_order_cost, scenario.holding_cost, scenario.demand.mean_demand()).Q
    return min(max(1, round(quantity)), scenario.max_order)


def _lowest_reorder_level(scenario: Scenario, upper: int) -> int:
    """Lowest s or r searched: -1 for lost sales; with backorders a large fixed cost makes a deep
    backlog before reordering pay, by up to about an EOQ beyond the lead-time demand."""
    return -1 if scenario.lost_sales else -(upper + eoq_batch(scenario))


def simulated_costs(
    make_policy: Callable[..., Policy],
    candidates: np.ndarray,
    scenario: AnyScenario,
    paths: ExogenousPaths,
    warmup: int,
) -> np.ndarray:
    """Mean cost per period of every candidate (rows of ``candidates``) on the same paths.

    The candidates run side by side in one batch (in chunks that keep a batch to a few hundred
    MB): ``make_policy(*columns)`` gets one array per parameter, one entry per simulated system.
    """
    per_chunk = max(1, MAX_CELLS // (paths.demand.size + paths.lead_times.size))
    costs = np.empty(len(candidates))
    for start in range(0, len(candidates), per_chunk):
        chunk = candidates[start : start + per_chunk]
        columns = [np.repeat(chunk[:, j], paths.n) for j in range(chunk.shape[1])]
        result = run_batch(make_policy(*columns), scenario, paths.tile(len(chunk)), warmup=warmup)
        costs[start : start + len(chunk)] = result.avg_cost.reshape(len(chunk), paths.n).mean(axis=1)
    return costs


def simulation_search(
    make_policy,
    candidates: np.ndarray,
    scenario: Scenario,
    paths: ExogenousPaths,
    warmup: int = 0,
    screen_episodes: int = 32,
    finalists: int = 12,
    coarse_size: int = 300,
) -> tuple[np.ndarray, float]:
    """The candidate with the lowest simulated cost, found with common random numbers.

    A large grid is first screened on a coarse sub-grid (every k-th value of each parameter);
    the neighbourhoods of the best coarse points are screened in full; screening uses the first
    ``screen_episodes`` paths; the ``finalists`` best are rerun on all of ``paths``.

    Returns the winning parameter row and its mean cost per period on all of ``paths``.
    """
    candidates = np.asarray(candidates, dtype=np.int64).reshape(len(candidates), -1)
    screen = paths.subset(slice(0, screen_episodes))
    if len(candidates) > coarse_size:
        stride = math.ceil((len(candidates) / coarse_size) ** (1 / candidates.shape[1]))
        coarse = candidates[(candidates % stride == 0).all(axis=1)]
        best = coarse[np.argsort(simulated_costs(make_policy, coarse, scenario, screen, warmup))[:3]]
        near = (np.abs(candidates[:, None, :] - best[None, :, :]) <= stride).all(axis=2).any(axis=1)
        candidates = candidates[near]
    if len(candidates) > finalists:
        costs = simulated_costs(make_policy, candidates, scenario, screen, warmup)
        candidates = candidates[np.argsort(costs)[:finalists]]
    costs = simulated_costs(make_policy, candidates, scenario, paths, warmup)
    best_index = int(np.argmin(costs))
    return candidates[best_index], float(costs[best_index])


def _demand_scale(scenario: Scenario, paths: ExogenousPaths) -> tuple[int, int]:
    """Upper bounds for the search grids: the largest demand over a lead time plus one period
    (an order-up-to level above it never pays) and the largest one-period demand, from the paths."""
    periods = scenario.max_lead_time + 1
    demand = paths.demand[:, :, 0].astype(np.float64)
    window = np.lib.stride_tricks.sliding_window_view(demand, periods, axis=0).sum(axis=-1)
    return int(window.max()) + 1, int(demand.max()) + 1


def tune_base_stock(scenario: Scenario, paths: ExogenousPaths, warmup: int = 0) -> TunedPolicy:
    """Best base-stock level: newsvendor critical fractile when exact, else a simulation search."""
    layout = ObservationLayout(scenario)
    # a base-stock policy orders last period's demand
    if (
        scenario.demand.stationary
        and isinstance(scenario.lead_time, int)
        and _exact_applies(scenario, _largest_demand(scenario))
    ):
        S, cost = newsvendor_base_stock(
            scenario.demand.pmf(), scenario.holding_cost, scenario.shortage_cost, scenario.lead_time
        )
        pmf = scenario.demand.pmf()
        cost += scenario.fixed_order_cost * (1.0 - pmf[0]) + scenario.unit_cost * scenario.demand.mean_demand()
        return TunedPolicy(BaseStock(S, layout), "exact", cost)
    upper, _ = _demand_scale(scenario, paths)
    (S,), cost = simulation_search(
        lambda S: BaseStock(S, layout), np.arange(upper + 1)[:, None], scenario, paths, warmup
    )
    return TunedPolicy(BaseStock(int(S), layout), "simulation", cost)


def tune_capped_base_stock(scenario: Scenario, paths: ExogenousPaths, warmup: int = 0) -> TunedPolicy:
    """Best (S, cap) by simulation search on the grid S <= lead-time demand bound, cap <= max_order."""
    layout = ObservationLayout(scenario)
    upper, single = _demand_scale(scenario, paths)
    caps = np.arange(1, min(scenario.max_order, 2 * single) + 1)
    grid = np.array([(S, cap) for S in range(upper + 1) for cap in caps])
    (S, cap), cost = simulation_search(lambda S, cap: CappedBaseStock(S, cap, layout), grid, scenario, paths, warmup)
    return TunedPolicy(CappedBaseStock(int(S), int(cap), layout), "simulation", cost)


def tune_s_S(scenario: Scenario, paths: ExogenousPaths, warmup: int = 0) -> TunedPolicy:
    """Best (s, S): Zheng-Federgruen when exact, else a simulation search over s < S."""
    layout = ObservationLayout(scenario)
    if scenario.demand.stationary and not scenario.lost_sales and isinstance(scenario.lead_time, int):
        result = zheng_federgruen(
            scenario.demand.pmf(),
            scenario.holding_cost,
            scenario.shortage_cost,
            scenario.fixed_order_cost,
            scenario.lead_time,
            scenario.unit_cost,
        )
        # the position falls at most one period's demand below s before the order
        if _exact_applies(scenario, result.S - result.s - 1 + _largest_demand(scenario)):
            return TunedPolicy(SSPolicy(result.s, result.S, layout), "exact", result.average_cost)
    upper, _ = _demand_scale(scenario, paths)
    lowest_s = _lowest_reorder_level(scenario, upper)
    grid = np.array(
        [
            (s, S)
            for S in range(1, upper + scenario.max_order + 1)
            for s in range(lowest_s, S)
            if S - s <= scenario.max_order
        ]
    )
    (s, S), cost = simulation_search(lambda s, S: SSPolicy(s, S, layout), grid, scenario, paths, warmup)
    return TunedPolicy(SSPolicy(int(s), int(S), layout), "simulation", cost)


def tune_eoq(
    scenario: Scenario, paths: ExogenousPaths, warmup: int = 0, service_level: float | None = None
) -> TunedPolicy:
    """(r, Q) with Q from the EOQ formula and r for a cycle service level or by simulated cost."""
    layout = ObservationLayout(scenario)
    Q = eoq_batch(scenario)
    details = {"eoq": Q, "service_level": service_level}
    if service_level is not None:
        if not (scenario.demand.stationary and isinstance(scenario.lead_time, int)):
            raise ValueError("a service-level reorder point needs iid demand and a fixed lead time")
        r = reorder_point_for_service(scenario.demand.pmf(), scenario.lead_time, service_level)
        policy = ReorderPointQuantity(r, Q, layout)
        cost = float(run_batch(policy, scenario, paths, warmup=warmup).avg_cost.mean())
        return TunedPolicy(policy, "service level", cost, details)
    upper, _ = _demand_scale(scenario, paths)
    lowest_r = _lowest_reorder_level(scenario, upper)
    (r,), cost = simulation_search(
        lambda r: ReorderPointQuantity(r, Q, layout),
        np.arange(lowest_r, upper + 1)[:, None],
        scenario,
        paths,
        warmup,
    )
    return TunedPolicy(ReorderPointQuantity(int(r), Q, layout), "simulation", cost, details)


TUNERS = {
    "eoq": tune_eoq,
    "s_S": tune_s_S,
    "base_stock": tune_base_stock,
    "capped_base_stock": tune_capped_base_stock,
}
