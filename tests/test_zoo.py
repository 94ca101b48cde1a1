"""The shipped trained policies load, and do what benchmarks/results/agents_vs_optimum.md (and, for the
networks, network_agents.md) says.

Each zoo policy runs on 1,000 episodes of seed 12345 (the benchmark's evaluation seed, disjoint from
training) next to the references of its scenario: the DP optimum where it can be computed, and the
stationary classic policies tuned as evaluate.py tunes them.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import numpy as np
import pytest

from agents.classic import TUNERS
from agents.classic.meio import optimise_base_stock
from agents.evaluation import mean_ci
from agents.references import TUNING_SEED, optimal_policy
from agents.rl import load_run
from envs.batch import evaluation_paths, run_batch
from envs.scenario import NetworkScenario, load_scenario, single_item

ZOO = Path(__file__).resolve().parent.parent / "zoo"
ENTRIES = sorted(path.relative_to(ZOO).as_posix() for path in ZOO.glob("*/*") if (path / "model.zip").is_file())
EPISODES, SEED, WARMUP = 1000, 12345, 50
# Largest gap to the optimum, in percent, each entry must keep (issue 6: PPO within 1.5% on every grid
# instance, DQN within 2% on average over the grid; both within 2% of the optimal (s, S) on backorder_K64).
GRID_MAX_GAP = {"ppo": 1.5, "dqn": 3.0}
OTHER_MAX_GAP = 2.0
CLASSIC = ("base_stock", "capped_base_stock", "s_S")


@cache
def reference_costs(scenario_name: str) -> dict[str, np.ndarray]:
    """Per-episode costs of the optimum and, on the grid, the tuned base-stock; where no optimum
    can be computed, of every tuned stationary classic policy."""
    scenario = single_item(load_scenario(scenario_name), "the zoo")
    paths = evaluation_paths(scenario, EPISODES, SEED)
    costs = {}
    optimal, _ = optimal_policy(scenario)
    if optimal is not None:
        costs["optimal"] = run_batch(optimal, scenario, paths, warmup=WARMUP).avg_cost
    classic = CLASSIC if optimal is None else ("base_stock",) if scenario_name.startswith("lost_sales_") else ()
    tuning_paths = evaluation_paths(scenario, 200, TUNING_SEED)
    for name in classic:
        costs[name] = run_batch(
            TUNERS[name](scenario, tuning_paths, WARMUP).policy, scenario, paths, warmup=WARMUP
        ).avg_cost
    return costs


def test_the_zoo_is_not_empty():
    assert ENTRIES


@pytest.mark.slow
@pytest.mark.parametrize("entry", ENTRIES)
def test_zoo_policy_keeps_its_claims(entry, single_threaded_torch):
    algo, scenario_name = entry.split("/")
    policy, trained_on = load_run(ZOO / entry)
    if isinstance(load_scenario(scenario_name), NetworkScenario):
        assert trained_on.name == scenario_name
        network_keeps_its_claims(policy, load_scenario(scenario_name))
        return
    scenario = single_item(load_scenario(scenario_name), "the zoo")
    assert trained_on.name == scenario.name
    costs = run_batch(policy, scenario, evaluation_paths(scenario, EPISODES, SEED), warmup=WARMUP).avg_cost
    references = reference_costs(scenario_name)
    grid = scenario_name.startswith("lost_sales_")
    if "optimal" in references:
        gap = 100 * (costs.mean() / references["optimal"].mean() - 1)
        assert gap < (GRID_MAX_GAP[algo] if grid else OTHER_MAX_GAP), f"{entry}: {gap:.2f}% above the optimum"
    if (grid and algo == "ppo") or "optimal" not in references:
        # below the best base-stock (issue 6), or the best stationary classic where no optimum is known
        against = "base_stock" if grid else min(CLASSIC, key=lambda name: references[name].mean())
        _, _, high = mean_ci(costs - references[against])
        assert high < 0, f"{entry}: not significantly below {against}"


def network_keeps_its_claims(policy, scenario: NetworkScenario) -> None:
    """A network's PPO (benchmarks/results/network_agents.md): within 1% of the exact optimum where it is
    known (issue 14), and never significantly worse than echelon base-stock at Monte Carlo optimised levels."""
    paths = evaluation_paths(scenario, EPISODES, SEED)
    costs = run_batch(policy, scenario, paths, warmup=WARMUP).avg_cost
    optimal, _ = optimal_policy(scenario)
    if optimal is not None:
        gap = 100 * (costs.mean() / run_batch(optimal, scenario, paths, warmup=WARMUP).avg_cost.mean() - 1)
        assert gap < 1.0, f"{scenario.name}: {gap:.2f}% above the optimum"
    echelon = optimise_base_stock(scenario, seed=TUNING_SEED, warmup=WARMUP, final_episodes=200).policy
    _, low, _ = mean_ci(costs - run_batch(echelon, scenario, paths, warmup=WARMUP).avg_cost)
    assert low <= 0, f"{scenario.name}: significantly worse than echelon base-stock"
