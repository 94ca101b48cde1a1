"""The held-out and training instances of issue 14: single-item systems drawn at random, seeded.

Two sets of the same design, drawn from the same ranges with different seeds:

- ``scenarios/heldout/`` (seed :data:`HELDOUT_SEED`): what the default recipe is judged on. Nothing is
  ever tuned, selected or retried on these.
- ``scenarios/training/`` (seed :data:`TRAINING_SEED`): for hyperparameter searches of the recipe.

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

``write_set`` writes one scenario YAML per instance (named by its file: ``heldout_01`` ...);
the committed files are exactly what it writes (tests/test_heldout_benchmark.py checks this).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from envs.demand import NegativeBinomialDemand, PoissonDemand
from envs.files import write_directory

HERE = Path(__file__).resolve().parent
SCENARIOS = HERE / "scenarios"
HELDOUT_DIR = SCENARIOS / "heldout"
TRAINING_DIR = SCENARIOS / "training"
HELDOUT_SEED = 14_001  # issue 14
TRAINING_SEED = 14_002
SET_SIZE = 16

MEAN_RANGE = (2.0, 20.0)
RATIO_RANGE = (2.0, 50.0)  # p / h
HOLDING_RANGE = (0.1, 10.0)
DISPERSION_RANGE = (1.5, 5.0)  # variance / mean of negative binomial demand
CYCLE_RANGE = (1.5, 4.0)  # periods of mean demand an EOQ covers, when there is a fixed cost
MAX_LEAD_TIME = 4
HORIZON = 365


@dataclass(frozen=True)
class InstanceSet:
    """A named set of instances: where its YAML files live, the seed that draws them, their name prefix."""

    name: str
    directory: Path
    seed: int
    size: int = SET_SIZE

    def files(self) -> list[Path]:
        """The committed scenario files of the set, in order."""
        return sorted(self.directory.glob(f"{self.name}_*.yaml"))


HELDOUT = InstanceSet("heldout", HELDOUT_DIR, HELDOUT_SEED)
TRAINING = InstanceSet("training", TRAINING_DIR, TRAINING_SEED)
SETS = {s.name: s for s in (HELDOUT, TRAINING)}


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


def _describe(instance: dict[str, Any]) -> str:
    """A one-line description of an instance, for its ``description`` key."""
    demand = instance["demand"]
    if demand["dist"] == "poisson":
        law = f"Poisson mean {demand['mean']}"
    else:
        law = f"negative binomial mean {demand['mean']} variance {demand['variance']}"
    lead = instance["lead_time"]
    if isinstance(lead, int):
        lead_text = f"lead time {lead}"
    else:
        lead_text = "lead time " + "/".join(map(str, lead["values"])) + " w.p. " + "/".join(map(str, lead["probs"]))
    kind = "Lost sales" if instance["lost_sales"] else "Backorders"
    fixed = f", K={instance['fixed_order_cost']}" if instance["fixed_order_cost"] else ""
    return f"{kind}, {law}, h={instance['holding_cost']}, p={instance['shortage_cost']}{fixed}, {lead_text}"


def _flow(value: Any) -> str:
    """A YAML flow-style rendering of numbers, booleans, strings, lists and mappings (as the shipped scenarios)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{key}: {_flow(item)}" for key, item in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_flow(item) for item in value) + "]"
    return str(value)


def scenario_yaml(instance: dict[str, Any], set_name: str, seed: int) -> str:
    """The scenario file of one instance."""
    lines = [
        f"# Drawn for the {set_name} set of issue 14 (seed {seed}) by `python -m benchmarks.heldout generate`;",
        "# regenerated exactly by it (a test checks): do not edit by hand.",
        f"description: {_describe(instance)}",
        f"horizon: {HORIZON}",
        *(f"{key}: {_flow(value)}" for key, value in instance.items()),
    ]
    return "\n".join(lines) + "\n"


def set_files(instance_set: InstanceSet) -> dict[str, str]:
    """File name -> content of every scenario file of ``instance_set``, as drawn from its seed."""
    instances = draw_instances(instance_set.seed, instance_set.size)
    return {
        f"{instance_set.name}_{i:02d}.yaml": scenario_yaml(instance, instance_set.name, instance_set.seed)
        for i, instance in enumerate(instances, start=1)
    }


def write_set(instance_set: InstanceSet, directory: Path | None = None) -> Path:
    """Write the scenario files of ``instance_set`` into ``directory`` (default: its own), replacing it whole."""
    target = directory or instance_set.directory
    # only a directory of scenario files is replaced
    write_directory(
        target,
        set_files(instance_set),
        replaceable=lambda existing: all(path.suffix == ".yaml" for path in existing.iterdir()),
        what="instance set",
    )
    return target
