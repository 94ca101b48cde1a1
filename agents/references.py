"""Reference costs a learned policy is held against: the best base-stock policy and the optimum."""

from __future__ import annotations

from agents.classic import tune_base_stock
from envs.batch import evaluation_paths, run_batch
from envs.kernel import ExogenousPaths
from envs.scenario import Scenario

# Seed of the paths classic policies are tuned on; evaluation seeds must differ from it.
TUNING_SEED = 1_000_003


def reference_costs(scenario: Scenario, paths: ExogenousPaths, warmup: int = 0, tuning_episodes: int = 200) -> dict[str, float]:
    """Average cost per period of the reference policies on ``paths``.

    The base-stock level is tuned on separate paths (seed ``TUNING_SEED``) and then run on
    ``paths``, so the reference faces the same demand as the policy compared with it.
    Keys: ``base_stock`` always.
    """
    tuned = tune_base_stock(scenario, evaluation_paths(scenario, tuning_episodes, TUNING_SEED), warmup)
    return {"base_stock": float(run_batch(tuned.policy, scenario, paths, warmup=warmup).avg_cost.mean())}
