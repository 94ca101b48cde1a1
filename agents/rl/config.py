"""The config of a training run: the algo YAML's blocks, the ``-p`` overrides, the scenario and the seed.

:func:`resolve_config` is what ``train.py`` calls first: the algo YAML
(``configs/algos/ALGO.yaml``: the ``default`` block, then the block named after the scenario,
then ``-p`` overrides), validated by the algorithm's model in
:mod:`agents.rl.hyperparameters`, with the scenario and the seed, as one :class:`RunConfig`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from agents.classic.meio import demand_served
from agents.exact.serial import why_not_exact
from agents.references import best_classic, best_echelon_levels
from agents.rl.hyperparameters import ALGOS, Algorithm, DQNHyperparameters, Hyperparameters, sb3_default
from envs.arguments import MAX_SEED
from envs.errors import UserError
from envs.inputs import load_yaml, read_yaml
from envs.layout import ObservationLayout
from envs.scenario import AnyScenario, NetworkScenario, Scenario, format_validation_error, load_scenario
from envs.system import compile_system

# The shipped algo configs: package data of `configs`, in a checkout and when installed.
ALGO_DIR = Path(str(files("configs") / "algos"))
# Actions of a discrete action space: its network has one output per action.
MAX_DISCRETE_ACTIONS = 100_000
# The block of an algo config that applies to every network (after `default`, before the scenario's own).
NETWORK_BLOCK = "networks"
# Largest network (other than a serial one with exact levels) whose echelon base-stock levels
# train.py optimises by simulation before a correcting run (owmr_10_nonidentical_lost_sales, 11
# points, takes about 40 s).
MAX_POINTS_OPTIMISED = 16
# Memory DQN's replay buffer may take (observations and next observations, float32).
MAX_REPLAY_BYTES = 8 << 30


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
    """``KEY=VALUE`` strings as a nested mapping: dotted keys reach into mappings, values are parsed as YAML
    (by :func:`envs.inputs.load_yaml`: ``1e-4`` is a float).

    >>> parse_overrides(["learning_rate=1e-4", "policy_kwargs.net_arch=[32, 32]"])
    {'learning_rate': 0.0001, 'policy_kwargs': {'net_arch': [32, 32]}}
    """
    overrides: dict[str, Any] = {}
    for pair in pairs:
        key, separator, text = pair.partition("=")
        if not separator or not all(key.split(".")):
            raise UserError(f"-p {pair[:80]}: expected KEY=VALUE (KEY: names joined by dots)")
        value = load_yaml(text, f"-p {key}")
        *parents, leaf = key.split(".")
        target = overrides
        for part in parents:
            target = target.setdefault(part, {})
            if not isinstance(target, dict):
                raise UserError(f"-p {pair}: {part} is given a value and keys")
        target[leaf] = value
    return overrides


def load_hyperparameters(
    path: Path, algo: str, scenario_name: str, overrides: Mapping[str, Any] | None = None, network: bool = False
) -> Hyperparameters:
    """The hyperparameters of ``algo`` for a scenario: ``default`` block, for a network the
    :data:`NETWORK_BLOCK` block, the scenario's block, overrides.

    Every block of the file is validated (merged onto ``default``), so a mistake in any block is
    reported, whichever scenario is trained.

    Raises:
        UserError: one line naming the file (or the command line), the block and the key.
    """
    model = ALGOS[algo].hyperparameters
    blocks = read_yaml(path, "algo config")
    if not isinstance(blocks, dict) or not isinstance(blocks.get("default"), dict):
        raise UserError(f"{path}: must be a mapping with a 'default' block")
    for name, block in blocks.items():
        if not isinstance(block, dict):
            raise UserError(f"{path}: {name}: must be a mapping of hyperparameters")
        validate_hyperparameters(model, _merged(blocks["default"], block), f"{path}: {name}")
    resolved = _merged(blocks["default"], blocks.get(NETWORK_BLOCK, {}) if network else {})
    resolved = _merged(resolved, blocks.get(scenario_name, {}))
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
        raise UserError(f"--algo {str(algo)[:40]}: unknown algorithm (known: {', '.join(ALGOS)})")
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
        raise UserError(f"--seed {str(seed)[:40]}: must be an integer in 0..{MAX_SEED}")
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
    network = isinstance(base_scenario, NetworkScenario)
    hyperparameters = load_hyperparameters(ALGO_DIR / f"{algo}.yaml", algo, base_scenario.name, overrides, network)
    unknown = sorted(set(hyperparameters.env) - set(type(base_scenario).model_fields))
    if unknown:
        raise UserError(
            f"{algo}: env.{unknown[0]}: not a key of {base_scenario.name} (a {type(base_scenario).__name__})"
        )
    # nested keys (-p env.demand.mean=7) change one entry of a mapping, not the whole mapping
    merged = _merged(base_scenario.model_dump(), hyperparameters.env)
    trained_on = load_scenario(base_scenario, **{key: merged[key] for key in hyperparameters.env})
    if hyperparameters.max_level_from_classic is not None and isinstance(trained_on, Scenario):
        trained_on = levels_from_best_classic(trained_on, hyperparameters.max_level_from_classic, hyperparameters.env)
    if hyperparameters.correct_classic and "continuous" not in ALGOS[algo].actions:
        raise UserError(f"{algo}: correct_classic: a correction is a continuous action; {algo} learns discrete ones")
    if hyperparameters.correct_classic:
        trained_on = correcting_best_classic(trained_on, hyperparameters.correction_periods, hyperparameters.env)
    if trained_on.action not in ALGOS[algo].actions:
        known = ", ".join(ALGOS[algo].actions)
        raise UserError(f"{algo}: env.action: cannot learn {trained_on.action} actions (only {known})")
    check_fits(algo, trained_on, hyperparameters)
    return RunConfig(algo, trained_on, seed, hyperparameters)


def correcting_best_classic(
    scenario: AnyScenario, periods: float | None = None, env: Mapping[str, Any] | None = None
) -> AnyScenario:
    """``scenario`` with continuous actions that correct its best classic policy, or the ``action_base``
    it already names. A single item: the best tuned classic policy (:func:`agents.references.best_classic`);
    a network: echelon base-stock at the best levels known (:func:`agents.references.best_echelon_levels`).
    The largest correction: ``periods`` periods of the mean demand a point serves if given (at most its
    max_order), else the scenario's ``max_correction`` (default max_order).

    Raises:
        UserError: the algo config's ``env`` block asks for other actions.
    """
    for key, value in (env or {}).items():
        if (key, value) in (("action", "discrete"), ("action_meaning", "quantity"), ("action_meaning", "level")):
            raise UserError(
                f"env.{key}: {value} contradicts correct_classic: true (-p correct_classic=false to use it)"
            )
    corrections = {"action": "continuous", "action_meaning": "correction"}
    if isinstance(scenario, NetworkScenario):
        points = len(scenario.stock_points)
        if scenario.action_base is None and points > MAX_POINTS_OPTIMISED and why_not_exact(scenario) is not None:
            raise UserError(
                f"{scenario.name}: correct_classic: the echelon levels of {points} stock points are not optimised at "
                f"train time (at most {MAX_POINTS_OPTIMISED}); give env.action_meaning=correction and env.action_base, "
                "or -p correct_classic=false"
            )
        levels = scenario.action_base if scenario.action_base is not None else best_echelon_levels(scenario)
        served = demand_served(compile_system(scenario))
        stock_points = [
            point.model_dump()
            if periods is None
            else {**point.model_dump(), "max_correction": min(point.max_order, max(1, math.ceil(periods * mean)))}
            for point, mean in zip(scenario.stock_points, served, strict=True)
        ]
        return load_scenario(scenario, **corrections, action_base=levels.model_dump(), stock_points=stock_points)
    base = scenario.action_base
    if base is None:
        base, _ = best_classic(scenario)
    largest = scenario.max_correction
    if periods is not None:
        largest = min(scenario.max_order, max(1, math.ceil(periods * scenario.demand.mean_demand())))
    changes = {"action_base": base.model_dump(exclude_none=True), "max_correction": largest}
    return load_scenario(scenario, **corrections, **changes)


def levels_from_best_classic(scenario: Scenario, multiple: float, env: Mapping[str, Any]) -> Scenario:
    """``scenario`` with ``max_level`` at ``multiple`` times the highest level its best tuned classic
    policy (:func:`agents.references.best_classic`) orders up to; unchanged unless its actions are levels.

    Raises:
        UserError: the algo config's env block sets max_level too.
    """
    if scenario.action_meaning != "level":
        return scenario
    if "max_level" in env:
        raise UserError("env.max_level contradicts max_level_from_classic (-p max_level_from_classic=null to use it)")
    base, _ = best_classic(scenario)
    levelled = load_scenario(scenario, max_level=max(1, math.ceil(multiple * base.highest_level())))
    assert isinstance(levelled, Scenario)
    return levelled


def check_fits(algo: str, scenario: AnyScenario, hyperparameters: Hyperparameters) -> None:
    """Refuse settings that SB3 accepts but cannot run on this scenario, before anything is built.

    Raises:
        UserError: gSDE with discrete actions (SB3 asserts), a discrete action space too large
            for a network's output layer, or a replay buffer that would not fit in memory.
    """
    discrete = scenario.action == "discrete"
    if discrete:
        ranges = scenario.action_ranges if isinstance(scenario, NetworkScenario) else (scenario.action_range,)
        actions = sum(value + 1 for value in ranges)  # one output per value of every stock point's action
        if actions > MAX_DISCRETE_ACTIONS:
            raise UserError(
                f"{scenario.name}: a discrete action has {actions:,} values (max_order or max_level); "
                f"at most {MAX_DISCRETE_ACTIONS:,}: use action: continuous, or a smaller max_order or max_level"
            )
    if discrete and getattr(hyperparameters, "use_sde", None):
        raise UserError(f"{algo}: use_sde: gSDE needs continuous actions (env.action: continuous)")
    if isinstance(hyperparameters, DQNHyperparameters):
        buffer_size = hyperparameters.buffer_size or sb3_default(ALGOS[algo].sb3_class, "buffer_size")
        needed = 2 * 4 * buffer_size * ObservationLayout(scenario).dim
        if needed > MAX_REPLAY_BYTES:
            raise UserError(
                f"{algo}: buffer_size: {buffer_size:,} observations of {ObservationLayout(scenario).dim} entries "
                f"need {needed / (1 << 30):.1f} GiB; at most {MAX_REPLAY_BYTES >> 30} GiB"
            )
