"""Reference costs a learned policy is held against: the best base-stock policy and the optimum."""

from __future__ import annotations

from agents.classic import tune_base_stock
from agents.exact import DPTooLarge, OptimalPolicy, solve_dp
from envs.batch import evaluation_paths, run_batch
from envs.layout import ObservationLayout
from envs.paths import ExogenousPaths
from envs.scenario import Scenario

# Seed of the paths classic policies are tuned on; evaluation seeds must differ from it.
TUNING_SEED = 1_000_003


def optimal_policy(scenario: Scenario) -> tuple[OptimalPolicy | None, str]:
    """The DP-optimal policy of a scenario, or None and the reason it is out of reach."""
    if not scenario.demand.stationary:
        return None, f"demand '{scenario.demand.dist}' is not stationary"
    if not isinstance(scenario.lead_time, int):
        return None, "the lead time is stochastic"
    try:
        result = solve_dp(
            scenario.demand.pmf(),
            scenario.lead_time,
            scenario.lost_sales,
            scenario.holding_cost,
            scenario.shortage_cost,
            scenario.fixed_order_cost,
            scenario.unit_cost,
            scenario.max_order,
        )
    except (DPTooLarge, ValueError, RuntimeError) as error:  # too large, max_order too small, no convergence
        return None, str(error)
    return OptimalPolicy(result, ObservationLayout(scenario)), ""


def reference_costs(
    scenario: Scenario, paths: ExogenousPaths, warmup: int = 0, tuning_episodes: int = 200
) -> dict[str, float]:
    """Average cost per period of the reference policies on ``paths``.

    The base-stock level is tuned on separate paths (seed ``TUNING_SEED``) and then run on
    ``paths``, so the reference faces the same demand as the policy compared with it.
    Keys: ``base_stock`` always, ``optimal`` when the DP is tractable for the scenario.
    """
    tuned = tune_base_stock(scenario, evaluation_paths(scenario, tuning_episodes, TUNING_SEED), warmup)
    costs = {"base_stock": float(run_batch(tuned.policy, scenario, paths, warmup=warmup).avg_cost.mean())}
    optimal, _ = optimal_policy(scenario)
    if optimal is not None:
        costs["optimal"] = float(run_batch(optimal, scenario, paths, warmup=warmup).avg_cost.mean())
    return costs
