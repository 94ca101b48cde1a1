"""Monte Carlo multi-echelon inventory optimisation: base-stock levels for any network, by simulation.

The cost of a vector of base-stock levels (one per stock point, echelon or installation) is
estimated on the batched kernel, and the levels are searched by coordinate pattern search on
the integers (Hooke and Jeeves 1961): from a starting point, every level is moved up and down
by its step, all 2J neighbours are simulated in one batch on the same demand (common random
numbers, so that differences between neighbours are not drowned in noise), the best improving
neighbour is taken; when none improves, the steps are halved; when every step is 1, the number
of episodes is doubled (more paths as the search closes in) until the most allowed. The levels
found are then simulated on fresh, independent paths for an unbiased cost with a 95% confidence
interval (Law, Simulation Modeling and Analysis, 5th ed., ch. 12: simulation-based optimisation
and the need to re-estimate the selected design on new replications).
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np

from agents.classic.echelon import KINDS, NetworkBaseStock
from agents.classic.tuning import TunedPolicy, simulated_costs
from envs.batch import run_batch
from envs.layout import ObservationLayout
from envs.paths import draw_paths
from envs.scenario import NetworkScenario
from envs.system import System, compile_system

# The network base-stock policies by name, and the kind of levels each has.
NETWORK_POLICIES = {f"{kind}_base_stock": kind for kind in KINDS}


def demand_served(system: System) -> np.ndarray:
    """Mean customer demand per period that each stock point's subtree serves (J,)."""
    means = np.array([d.mean_demand() for d in system.demands])
    served = np.zeros(system.n_points)
    for j in range(system.n_points - 1, -1, -1):  # supply order: every point before those it supplies
        if system.demand_column[j] >= 0:
            served[j] += means[system.demand_column[j]]
        if system.supplier[j] >= 0:
            served[system.supplier[j]] += served[j]
    return served


def starting_levels(scenario: NetworkScenario, system: System, kind: str) -> np.ndarray:
    """Levels to start the search from: mean demand over each point's protection interval plus one
    standard deviation of a Poisson with that mean (the interval: the point's expected lead time and,
    for echelon levels, the longest chain of expected lead times below it, plus one period)."""
    lead = np.array(
        [float(values @ probs) for values, probs in zip(system.lead_values, system.lead_probs, strict=True)]
    )
    below = np.zeros(system.n_points)  # longest chain of expected lead times below each point
    for j in range(system.n_points - 1, -1, -1):
        parent = system.supplier[j]
        if parent >= 0:
            below[parent] = max(below[parent], lead[j] + below[j])
    interval = lead + 1 + (below if kind == "echelon" else 0)
    protected = demand_served(system) * interval
    return np.ceil(protected + np.sqrt(protected)).astype(np.int64)


def optimise_base_stock(
    scenario: NetworkScenario,
    kind: str = "echelon",
    seed: int = 1_000_003,
    warmup: int = 50,
    start_episodes: int = 32,
    max_episodes: int = 512,
    final_episodes: int = 1000,
    start: np.ndarray | None = None,
) -> TunedPolicy:
    """The base-stock levels of lowest simulated cost (see the module docstring).

    Args:
        scenario: any network.
        kind: ``echelon`` or ``installation`` levels.
        seed: seed of the search paths; the final estimate uses paths of ``seed + 1``.
        warmup: periods at the start of each episode left out of the costs.
        start_episodes, max_episodes: episodes per candidate at the start and at the end.
        final_episodes: episodes of the final, independent estimate.
        start: levels to start from (default: :func:`starting_levels`).

    Returns:
        the policy, ``method`` "simulation", ``expected_cost`` the final estimate, and
        ``details``: ci95, the search cost, candidates simulated, seconds, the search trace.
    """
    began = time.perf_counter()
    layout = ObservationLayout(scenario)
    system = compile_system(scenario)
    paths = draw_paths(scenario, np.random.default_rng(seed), max_episodes)
    current = starting_levels(scenario, system, kind) if start is None else np.asarray(start, dtype=np.int64)
    steps = np.maximum(1, np.rint(0.2 * current)).astype(np.int64)
    episodes = start_episodes
    simulated = 0
    trace: list[dict[str, Any]] = []

    def costs(candidates: np.ndarray) -> np.ndarray:
        nonlocal simulated
        simulated += len(candidates) * episodes

        def make(*levels: np.ndarray) -> NetworkBaseStock:
            return NetworkBaseStock(np.column_stack(levels), layout, kind)

        return simulated_costs(make, candidates, scenario, paths.subset(slice(0, episodes)), warmup)

    current_cost = float(costs(current[None])[0])
    while True:
        moves = np.concatenate([np.diag(steps), -np.diag(steps)])
        neighbours = np.maximum(current[None] + moves, 0)
        neighbours = neighbours[(neighbours != current).any(axis=1)]
        neighbour_costs = costs(neighbours)
        best = int(np.argmin(neighbour_costs))
        trace.append({"episodes": episodes, "levels": current.tolist(), "cost": current_cost})
        if neighbour_costs[best] < current_cost:
            current, current_cost = neighbours[best], float(neighbour_costs[best])
        elif steps.max() > 1:
            steps = np.maximum(1, np.ceil(steps / 2)).astype(np.int64)
        elif episodes < max_episodes:
            episodes = min(2 * episodes, max_episodes)
            current_cost = float(costs(current[None])[0])
        else:
            break
    policy = NetworkBaseStock(current, layout, kind)
    final = draw_paths(scenario, np.random.default_rng(seed + 1), final_episodes)
    per_episode = run_batch(policy, scenario, final, warmup=warmup).avg_cost
    mean = float(per_episode.mean())
    half = 1.96 * float(per_episode.std(ddof=1)) / math.sqrt(len(per_episode))
    details = {
        "ci95": [mean - half, mean + half],
        "search_cost": current_cost,
        "candidate_episodes_simulated": simulated,
        "seconds": time.perf_counter() - began,
        "final_episodes": final_episodes,
        "search": trace,
    }
    return TunedPolicy(policy, "simulation", mean, details)
