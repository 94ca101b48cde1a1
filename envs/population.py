"""Single-item systems drawn at random from a range: the held-out and training instances of issue 14,
and the population a general single-item policy trains on (:mod:`envs.general`).

Each set of ``n`` instances is a stratified random design (a Latin hypercube), so that a small
set still covers the ranges:

- categorical attributes come in balanced shares, randomly permuted: lost sales or backorders
  (half each), Poisson or negative binomial demand (half each), the lead time 0..4 (each about
  ``n / 5`` times), a stochastic lead time (a quarter of the instances) and a fixed order cost
  (a quarter);
- continuous attributes are drawn on a log scale, one draw in each of ``n`` equal strata of the
  range, the strata permuted: mean demand 2..20, the ratio p/h 2..50, the holding cost h
  0.1..10 (the cost unit: the optimal policy does not depend on it, a learner's scaling may),
  and for negative binomial demand the variance-to-mean ratio 1.5..5.

Derived keys:

- stochastic lead time: the base lead time L and its neighbours within 0..4 (L - 1, L, L + 1),
  with probabilities in multiples of 0.05 (each at least 0.05), no order crossing;
- fixed order cost K = h * mean * c^2 / 2 with the order cycle c drawn in 1.5..4 periods (the
  EOQ is then c periods of mean demand), rounded to 2 significant digits;
- ``max_order`` = max(ceil(3 * mean), the 99.9th percentile of one period's demand), plus the
  EOQ rounded up when K > 0 (an (s, S) order covers the EOQ and the demand since the last one);
- ``initial_on_hand`` = the mean demand over the mean lead time plus one period, rounded;
- horizon 365, no unit cost, no price.

:func:`population_scenario` puts many drawn systems side by side as the stock points of one
network scenario (each supplied from outside, with its own demand and costs, no shared limit), so
that the one kernel steps all of them together.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from envs.demand import NegativeBinomialDemand, PoissonDemand
from envs.scenario import NetworkScenario

MEAN_RANGE = (2.0, 20.0)
RATIO_RANGE = (2.0, 50.0)  # p / h
HOLDING_RANGE = (0.1, 10.0)
DISPERSION_RANGE = (1.5, 5.0)  # variance / mean of negative binomial demand
CYCLE_RANGE = (1.5, 4.0)  # periods of mean demand an EOQ covers, when there is a fixed cost
MAX_LEAD_TIME = 4
HORIZON = 365
# The range of the design, as a general policy trained on it records it (envs.general.ItemParameters.outside)
RANGE = {
    "mean_demand": MEAN_RANGE,
    "cost_ratio": RATIO_RANGE,
    "dispersion": (1.0, DISPERSION_RANGE[1]),  # variance / mean; Poisson: 1
    "mean_lead_time": (0.0, float(MAX_LEAD_TIME)),
    "order_cycle": (0.0, CYCLE_RANGE[1]),  # EOQ in periods of mean demand, 0 without a fixed order cost
}


def _significant(value: float, digits: int = 2) -> float:
    """``value`` rounded to ``digits`` significant digits."""
    return float(f"{value:.{digits}g}")


def _log_strata(rng: np.random.Generator, n: int, low: float, high: float) -> np.ndarray:
    """One log-uniform draw in each of ``n`` equal strata of log(low)..log(high), in random order."""
    u = (rng.permutation(n) + rng.random(n)) / n
    return low * (high / low) ** u


def _balanced(rng: np.random.Generator, values: list[Any], n: int) -> list[Any]:
    """``values`` repeated to length ``n`` (as evenly as possible), in random order."""
    repeated = [values[i % len(values)] for i in range(n)]
    return [repeated[i] for i in rng.permutation(n)]


def draw_instances(seed: int, n: int) -> list[dict[str, Any]]:
    """The scenario mappings of ``n`` instances drawn from ``seed`` (see the module docstring).

    Args:
        seed: seed of the numpy Generator every draw comes from.
        n: number of instances (at least 4, so that every quarter share is non-empty).

    Returns:
        one scenario mapping per instance, with the keys of a scenario YAML.
    """
    if n < 4:
        raise ValueError(f"n must be at least 4, got {n}")
    rng = np.random.default_rng(seed)
    lost_sales = _balanced(rng, [True, False], n)
    negative_binomial = _balanced(rng, [False, True], n)
    lead_times = _balanced(rng, list(range(MAX_LEAD_TIME + 1)), n)
    stochastic_lead = _balanced(rng, [True, False, False, False], n)
    fixed_cost = _balanced(rng, [True, False, False, False], n)
    means = _log_strata(rng, n, *MEAN_RANGE)
    ratios = _log_strata(rng, n, *RATIO_RANGE)
    holding = _log_strata(rng, n, *HOLDING_RANGE)
    dispersion = _log_strata(rng, n, *DISPERSION_RANGE)
    cycles = rng.uniform(*CYCLE_RANGE, size=n)

    instances = []
    for i in range(n):
        mean = round(float(means[i]), 1)
        h = _significant(float(holding[i]))
        p = _significant(h * float(ratios[i]))
        if negative_binomial[i]:
            variance = round(mean * float(dispersion[i]), 1)
            demand: dict[str, Any] = {"dist": "negative_binomial", "mean": mean, "variance": variance}
            pmf = NegativeBinomialDemand(dist="negative_binomial", mean=mean, variance=variance).pmf()
        else:
            demand = {"dist": "poisson", "mean": mean}
            pmf = PoissonDemand(dist="poisson", mean=mean).pmf()
        base_lead = lead_times[i]
        lead_time: int | dict[str, Any] = base_lead
        mean_lead = float(base_lead)
        if stochastic_lead[i]:
            values = [v for v in (base_lead - 1, base_lead, base_lead + 1) if 0 <= v <= MAX_LEAD_TIME]
            counts = 1 + rng.multinomial(20 - len(values), [1 / len(values)] * len(values))
            probs = [int(c) / 20 for c in counts]
            lead_time = {"values": values, "probs": probs, "overtaking": False}
            mean_lead = float(np.dot(values, probs))
        K = _significant(h * mean * float(cycles[i]) ** 2 / 2) if fixed_cost[i] else 0.0
        q999 = int(np.searchsorted(np.cumsum(pmf), 0.999))
        max_order = max(math.ceil(3 * mean), q999)
        if K > 0:
            max_order += math.ceil(math.sqrt(2 * K * mean / h))
        instances.append(
            {
                "demand": demand,
                "lead_time": lead_time,
                "lost_sales": bool(lost_sales[i]),
                "holding_cost": h,
                "shortage_cost": p,
                "fixed_order_cost": K,
                "unit_cost": 0,
                "max_order": max_order,
                "initial_on_hand": round(mean * (mean_lead + 1)),
            }
        )
    return instances


def population_scenario(instances: list[dict[str, Any]], name: str, horizon: int = HORIZON) -> NetworkScenario:
    """The systems ``instances`` (mappings of :func:`draw_instances`) as the stock points of one scenario,
    named ``item_000``, ``item_001``, ...; each keeps its demand, lead time, costs and order limit."""
    width = max(3, len(str(len(instances) - 1)))
    points = [{"name": f"item_{k:0{width}d}", **instance} for k, instance in enumerate(instances)]
    return NetworkScenario.model_validate({"name": name, "horizon": horizon, "stock_points": points})
