"""Reference policies a learned policy is held against: the best base-stock policy and the optimum.

For a single item: the tuned base-stock level and the optimum of the dynamic programme. For a
network: echelon base-stock levels optimised by simulation (:mod:`agents.classic.meio`) and, for
a serial system with backorders, the exact optimal echelon levels (Clark and Scarf).
"""

from __future__ import annotations

import numpy as np

from agents.classic import TUNERS, TunedPolicy, tune_base_stock
from agents.classic.echelon import NetworkBaseStock
from agents.classic.meio import optimise_base_stock
from agents.exact import DPTooLarge, OptimalPolicy, solve_dp
from agents.exact.serial import serial_optimum, why_not_exact
from envs.batch import evaluation_paths, run_batch
from envs.layout import ObservationLayout
from envs.paths import ExogenousPaths
from envs.policy import Policy
from envs.scenario import AnyScenario, ClassicRule, EchelonBaseStockRule, NetworkScenario, Scenario

# Seed of the paths classic policies are tuned on; evaluation seeds must differ from it.
TUNING_SEED = 1_000_003


def optimal_policy(scenario: AnyScenario) -> tuple[Policy | None, str]:
    """The optimal policy of a scenario, or None and the reason it is out of reach.

    A single item: the DP's optimal table. A network: the exact optimal echelon base-stock levels
    of a serial system with backorders (:func:`agents.exact.serial.serial_optimum`).
    """
    layout = ObservationLayout(scenario)
    if isinstance(scenario, NetworkScenario):
        reason = why_not_exact(scenario)
        if reason is not None:
            return None, reason
        levels = serial_optimum(scenario).levels
        return NetworkBaseStock(np.array([levels[p] for p in layout.system.names]), layout, "echelon"), ""
    if not scenario.demand.stationary:
        return None, f"demand '{scenario.demand.dist}' is not stationary"
    if not isinstance(scenario.lead_time, int):
        return None, "the lead time is stochastic"
    if scenario.order_rounding:
        return None, "orders are rounded to packs or a minimum order quantity (the DP orders any quantity)"
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
    return OptimalPolicy(result, layout), ""


def reference_costs(
    scenario: AnyScenario, paths: ExogenousPaths, warmup: int = 0, tuning_episodes: int = 200
) -> dict[str, float]:
    """Average cost per period of the reference policies on ``paths``.

    The base-stock levels are tuned on separate paths (seed ``TUNING_SEED``) and then run on
    ``paths``, so the reference faces the same demand as the policy compared with it. Keys:
    ``base_stock`` (a single item) or ``echelon_base_stock`` (a network) always, ``optimal``
    where the optimum is known.
    """
    if isinstance(scenario, NetworkScenario):
        tuned = optimise_base_stock(scenario, seed=TUNING_SEED, warmup=warmup, final_episodes=tuning_episodes)
        name = "echelon_base_stock"
    else:
        tuned = tune_base_stock(scenario, evaluation_paths(scenario, tuning_episodes, TUNING_SEED), warmup)
        name = "base_stock"
    costs = {name: float(run_batch(tuned.policy, scenario, paths, warmup=warmup).avg_cost.mean())}
    optimal, _ = optimal_policy(scenario)
    if optimal is not None:
        costs["optimal"] = float(run_batch(optimal, scenario, paths, warmup=warmup).avg_cost.mean())
    return costs


def cheapest_classic(scenario: Scenario, tuning_episodes: int = 200) -> tuple[str, TunedPolicy, dict[str, float]]:
    """The best classic policy of a single item: its name, the tuned policy and every policy's cost.

    Each classic policy (base stock, capped base stock, (s, S), (r, Q)) is tuned on the paths of
    ``TUNING_SEED`` and then run on those same paths; the cheapest wins (common random numbers,
    so exact and simulated tunings are judged alike).
    """
    paths = evaluation_paths(scenario, tuning_episodes, TUNING_SEED)
    tuned: dict[str, TunedPolicy] = {name: tune(scenario, paths) for name, tune in TUNERS.items()}
    costs = {name: float(run_batch(t.policy, scenario, paths).avg_cost.mean()) for name, t in tuned.items()}
    name = min(costs, key=costs.__getitem__)
    return name, tuned[name], costs


def best_classic(scenario: Scenario, tuning_episodes: int = 200) -> tuple[ClassicRule, dict[str, float]]:
    """The best classic policy of a single item (:func:`cheapest_classic`) as the rule an agent's
    corrections start from, and every policy's cost."""
    name, tuned, costs = cheapest_classic(scenario, tuning_episodes)
    return ClassicRule.model_validate({"policy": name, **tuned.policy.params()}), costs


def best_echelon_levels(scenario: NetworkScenario) -> EchelonBaseStockRule:
    """The echelon base-stock levels an agent's corrections of a network start from: the exact optimal
    levels of a serial system with backorders (:func:`agents.exact.serial.serial_optimum`), else the
    levels Monte Carlo optimisation finds (:func:`agents.classic.meio.optimise_base_stock`, on paths of
    ``TUNING_SEED``; episodes of 200 periods or more leave their first 50 out, shorter ones count whole)."""
    if why_not_exact(scenario) is None:
        levels = serial_optimum(scenario).levels
    else:
        warmup = 50 if scenario.horizon >= 200 else 0
        tuned = optimise_base_stock(scenario, seed=TUNING_SEED, warmup=warmup, final_episodes=200)
        levels = tuned.policy.params()
    return EchelonBaseStockRule(policy="echelon_base_stock", levels={name: int(v) for name, v in levels.items()})
