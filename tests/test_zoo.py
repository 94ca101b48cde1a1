"""The shipped trained policies load, and do what benchmarks/results/agents_vs_optimum.md says."""

from __future__ import annotations

from pathlib import Path

import pytest

from agents.classic import tune_base_stock
from agents.evaluation import mean_ci
from agents.references import TUNING_SEED, optimal_policy
from agents.rl import load_run
from envs.batch import evaluation_paths, run_batch
from envs.scenario import load_scenario

ZOO = Path(__file__).resolve().parent.parent / "zoo"
ENTRIES = sorted(path.relative_to(ZOO).as_posix() for path in ZOO.glob("*/*") if (path / "model.zip").is_file())


def test_the_zoo_is_not_empty():
    assert ENTRIES


@pytest.mark.parametrize("entry", ENTRIES)
def test_zoo_policy_is_near_the_optimum_and_beats_base_stock(entry):
    policy, trained_on = load_run(ZOO / entry)
    scenario = load_scenario(entry.split("/")[1])
    assert trained_on.name == scenario.name
    paths = evaluation_paths(scenario, 300, 12345)
    costs = run_batch(policy, scenario, paths, warmup=50).avg_cost
    optimal, _ = optimal_policy(scenario)
    optimal_costs = run_batch(optimal, scenario, paths, warmup=50).avg_cost
    base_stock = tune_base_stock(scenario, evaluation_paths(scenario, 200, TUNING_SEED), 50).policy
    base_stock_costs = run_batch(base_stock, scenario, paths, warmup=50).avg_cost
    gap = 100 * (costs.mean() - optimal_costs.mean()) / optimal_costs.mean()
    assert gap < 1.5, f"{entry}: {gap:.2f}% above the optimum"
    _, _, high = mean_ci(costs - base_stock_costs)
    assert high < 0, f"{entry}: not significantly below the best base-stock"
