"""The config of a training run: the algo YAML's blocks, the ``-p`` overrides, the scenario and the seed.

:func:`resolve_config` is what ``train.py`` calls first: the algo YAML
(``configs/algos/ALGO.yaml``: the ``default`` block, then the block named after the scenario,
then ``-p`` overrides), validated by the algorithm's model in
:mod:`agents.rl.hyperparameters`, with the scenario and the seed, as one :class:`RunConfig`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from agents.rl.hyperparameters import ALGOS, Algorithm, Hyperparameters
from envs.errors import UserError
from envs.scenario import AnyScenario, NetworkScenario, format_validation_error, load_scenario

# The shipped algo configs: package data of `configs`, in a checkout and when installed.
ALGO_DIR = Path(str(files("configs") / "algos"))


def validate_hyperparameters(model: type[Hyperparameters], raw: Any, source: str) -> Hyperparameters:
    """``raw`` validated by ``model``.

    Raises:
        UserError: one line naming ``source`` and the key.
    """
    try:
        return model.model_validate(raw)
    except ValidationError as error:
        raise UserError(format_validation_error(source, error)) from None


def _merged(base: Mapping[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` with ``changes`` applied; mappings are merged key by key, anything else replaced."""
    merged = dict(base)
    for key, value in changes.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            value = _merged(merged[key], value)
        merged[key] = value
    return merged


def parse_overrides(pairs: Sequence[str]) -> dict[str, Any]:
    """``KEY=VALUE`` strings as a nested mapping: dotted keys reach into mappings, values are parsed as YAML.

    >>> parse_overrides(["learning_rate=1e-4", "policy_kwargs.net_arch=[32, 32]"])
    {'learning_rate': '1e-4', 'policy_kwargs': {'net_arch': [32, 32]}}
    """
    overrides: dict[str, Any] = {}
    for pair in pairs:
        key, separator, text = pair.partition("=")
        if not separator or not key:
            raise UserError(f"-p {pair}: expected KEY=VALUE")
        try:
            value = yaml.safe_load(text)
        except yaml.YAMLError:
            raise UserError(f"-p {pair}: the value is not valid YAML") from None
        *parents, leaf = key.split(".")
        target = overrides
        for part in parents:
            target = target.setdefault(part, {})
            if not isinstance(target, dict):
                raise UserError(f"-p {pair}: {part} is given a value and keys")
        target[leaf] = value
    return overrides


def load_hyperparameters(
    path: Path, algo: str, scenario_name: str, overrides: Mapping[str, Any] | None = None
) -> Hyperparameters:
    """The hyperparameters of ``algo`` for a scenario: ``default`` block, scenario block, overrides.

    Every block of the file is validated (merged onto ``default``), so a mistake in any block is
    reported, whichever scenario is trained.

    Raises:
        UserError: one line naming the file (or the command line), the block and the key.
    """
    model = ALGOS[algo].hyperparameters
    try:
        blocks = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as error:
        raise UserError(f"{path}: cannot read ({str(error).splitlines()[0]})") from None
    if not isinstance(blocks, dict) or not isinstance(blocks.get("default"), dict):
        raise UserError(f"{path}: must be a mapping with a 'default' block")
    for name, block in blocks.items():
        if not isinstance(block, dict):
            raise UserError(f"{path}: {name}: must be a mapping of hyperparameters")
        validate_hyperparameters(model, _merged(blocks["default"], block), f"{path}: {name}")
    resolved = _merged(blocks["default"], blocks.get(scenario_name, {}))
    return validate_hyperparameters(model, _merged(resolved, overrides or {}), "command line")


@dataclass(frozen=True)
class RunConfig:
    """Everything that defines a training run."""

    algo: str
    scenario: AnyScenario  # with the config's env overrides applied
    seed: int
    hyperparameters: Hyperparameters

    @property
    def algorithm(self) -> Algorithm:
        return ALGOS[self.algo]

    def to_yaml(self) -> str:
        hyperparameters = self.hyperparameters.model_dump(mode="json", exclude_unset=True)
        header = {"algo": self.algo, "scenario": self.scenario.name, "seed": self.seed}
        return yaml.safe_dump({**header, **hyperparameters}, sort_keys=False)


def resolve_config(
    algo: str,
    scenario: str,
    seed: int = 0,
    params: Sequence[str] = (),
    total_timesteps: int | None = None,
    n_envs: int | None = None,
) -> RunConfig:
    """Validate everything a new run is given.

    Args:
        algo: ``ppo`` or ``dqn``.
        scenario: a scenario name in configs/scenarios or a YAML path.
        seed: the seed of every random draw of the run.
        params: ``KEY=VALUE`` overrides of the algo config (``-p``).
        total_timesteps: replaces the config's ``total_timesteps`` if given.
        n_envs: replaces the config's ``n_envs`` if given.

    Raises:
        UserError: one line naming what is wrong.
    """
    if algo not in ALGOS:
        raise UserError(f"--algo {algo}: unknown algorithm (known: {', '.join(ALGOS)})")
    overrides = parse_overrides(params)
    for key, value in (("total_timesteps", total_timesteps), ("n_envs", n_envs)):
        if value is not None:
            overrides[key] = value
    base_scenario = load_scenario(scenario)
    if isinstance(base_scenario, NetworkScenario) and not ALGOS[algo].networks:
        points = len(base_scenario.stock_points)
        able = " or ".join(name for name, a in ALGOS.items() if a.networks)
        raise UserError(
            f"--algo {algo}: learns for one stock point; {base_scenario.name} is a network of {points} "
            f"(use {able}, which orders for every stock point at once)"
        )
    hyperparameters = load_hyperparameters(ALGO_DIR / f"{algo}.yaml", algo, base_scenario.name, overrides)
    unknown = sorted(set(hyperparameters.env) - set(type(base_scenario).model_fields))
    if unknown:
        raise UserError(
            f"{algo}: env.{unknown[0]}: not a key of {base_scenario.name} (a {type(base_scenario).__name__})"
        )
    # nested keys (-p env.demand.mean=7) change one entry of a mapping, not the whole mapping
    merged = _merged(base_scenario.model_dump(), hyperparameters.env)
    trained_on = load_scenario(base_scenario, **{key: merged[key] for key in hyperparameters.env})
    if trained_on.action not in ALGOS[algo].actions:
        known = ", ".join(ALGOS[algo].actions)
        raise UserError(f"{algo}: env.action: cannot learn {trained_on.action} actions (only {known})")
    return RunConfig(algo, trained_on, seed, hyperparameters)
