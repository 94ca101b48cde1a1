"""The held-out and training instances of issue 14: single-item systems drawn at random, seeded.

Two sets of the same design, drawn from the same ranges with different seeds:

- ``scenarios/heldout/`` (seed :data:`HELDOUT_SEED`): what the default recipe is judged on. Nothing is
  ever tuned, selected or retried on these.
- ``scenarios/training/`` (seed :data:`TRAINING_SEED`): for hyperparameter searches of the recipe.

Both sets follow the design of :mod:`envs.population` (its ranges, drawn by
:func:`envs.population.draw_instances`), the range a general single-item policy covers too.

``write_set`` writes one scenario YAML per instance (named by its file: ``heldout_01`` ...);
the committed files are exactly what it writes (tests/test_heldout_benchmark.py checks this).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from envs.files import write_directory
from envs.population import HORIZON, draw_instances

HERE = Path(__file__).resolve().parent
SCENARIOS = HERE / "scenarios"
HELDOUT_DIR = SCENARIOS / "heldout"
TRAINING_DIR = SCENARIOS / "training"
HELDOUT_SEED = 14_001  # issue 14
TRAINING_SEED = 14_002
SET_SIZE = 16


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
