"""Reinforcement-learning agents: PPO and DQN from stable-baselines3, trained on the batched env.

What ``train.py`` calls, in order:

- :func:`resolve_config`: the algo YAML (``configs/algos/ALGO.yaml``: the ``default`` block, then
  the block named after the scenario, then ``-p`` overrides), validated by
  :class:`PPOHyperparameters` or :class:`DQNHyperparameters`, with the scenario and the seed.
- :class:`RunDirectory`: everything a run writes, created only once the input is valid.
- :func:`make_training_env` and :func:`new_model`, or :meth:`Checkpoint.restore` on resume.
- the callbacks :class:`EpisodeKpiLogger`, :class:`Evaluator` and :class:`Checkpointer`.

And what the evaluator calls: :func:`load_run`, which returns an :class:`SB3Policy`, the
adapter that makes a trained model meet the policy protocol of :mod:`envs.policy`.

A run directory holds::

    config.yaml                     algo, scenario, seed and the hyperparameters as resolved
    scenario.yaml                   the scenario trained on, overrides applied
    command.txt                     the command of every invocation (the first, then each resume)
    versions.json                   Python, platform and package versions
    model.zip                       the final model ...
    model.vecnormalize.pkl          ... and its VecNormalize statistics
    best_model.zip                  the model of the best evaluation (+ best_model.vecnormalize.pkl)
    checkpoints/step_N/             model.zip, model.vecnormalize.pkl, replay_buffer.pkl (DQN), state.json
    tensorboard/                    the event files
    summary.json                    the final evaluation: KPIs, reference costs, gaps
"""

from __future__ import annotations

import json
import math
import os
import shlex
import shutil
import sys
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
import torch
import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    NonNegativeFloat,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
    ValidationError,
    field_validator,
    model_validator,
)
from stable_baselines3 import DQN, PPO
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.logger import HumanOutputFormat, Logger, TensorBoardOutputFormat
from stable_baselines3.common.off_policy_algorithm import OffPolicyAlgorithm
from stable_baselines3.common.utils import set_random_seed
from stable_baselines3.common.vec_env import VecEnv, VecMonitor, VecNormalize
from torch import nn
from torch.utils.tensorboard import SummaryWriter

from agents.provenance import package_versions
from agents.references import reference_costs
from envs.batch import evaluation_paths, run_batch
from envs.errors import UserError
from envs.kernel import KPI_NAMES, ExogenousPaths, orders_from_actions
from envs.scenario import Scenario, format_validation_error, load_scenario
from envs.vec_env import InventoryVecEnv

ALGO_DIR = Path(__file__).resolve().parent.parent / "configs" / "algos"
# Seed of the paths every evaluation during training runs on: fixed, so evaluations are comparable;
# it differs from agents.references.TUNING_SEED, so the references are not judged on their tuning paths.
EVAL_SEED = 2_000_003
# Packages whose versions are recorded in a run directory.
RECORDED_PACKAGES = ("numpy", "scipy", "torch", "stable-baselines3", "gymnasium", "pydantic", "pyyaml", "tensorboard")

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "tanh": nn.Tanh,
    "relu": nn.ReLU,
    "elu": nn.ELU,
    "leaky_relu": nn.LeakyReLU,
    "gelu": nn.GELU,
}


# ---------------------------------------------------------------------------------------------
# Hyperparameters: one pydantic model per algorithm; an SB3 key left out keeps SB3's default.


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Normalization(_Strict):
    """VecNormalize: scale observations by their running mean and std, rewards by the std of the discounted return."""

    obs: bool
    reward: bool


class PolicyKwargs(_Strict):
    """SB3's ``policy_kwargs``: hidden layer sizes and the activation, by name."""

    net_arch: list[PositiveInt] | None = None
    activation_fn: Literal[tuple(ACTIVATIONS)] | None = None  # type: ignore[valid-type]

    def sb3(self) -> dict[str, Any]:
        """The keyword arguments SB3's policy takes (the activation as its torch class)."""
        kwargs = self.model_dump(exclude_unset=True)
        if kwargs.get("activation_fn") is not None:
            kwargs["activation_fn"] = ACTIVATIONS[kwargs["activation_fn"]]
        return kwargs


class ActorCriticPolicyKwargs(PolicyKwargs):
    """PPO's network: the actor and the critic each get ``net_arch`` hidden layers."""

    ortho_init: bool | None = None
    log_std_init: float | None = None


class RunSettings(_Strict):
    """The keys of the run itself, which SB3 does not take."""

    total_timesteps: PositiveInt = Field(description="env steps to train for (--timesteps)")
    n_envs: PositiveInt = Field(description="systems simulated in parallel (--n-envs)")
    normalize: Normalization
    eval_freq: PositiveInt = Field(description="env steps between evaluations")
    eval_episodes: PositiveInt = Field(description="episodes per evaluation, on fixed paths")
    checkpoint_freq: PositiveInt = Field(description="env steps between checkpoints")
    env: dict[str, Any] = Field(default_factory=dict, description="scenario keys to override, e.g. action")

    @field_validator("env")
    @classmethod
    def _scenario_keys(cls, env: dict[str, Any]) -> dict[str, Any]:
        unknown = sorted(set(env) - set(Scenario.model_fields))
        if unknown:
            raise ValueError(f"{unknown[0]} is not a scenario key")
        return env


class Hyperparameters(RunSettings):
    """Keys every algorithm config has: the run's own and SB3's common ones."""

    # required: VecNormalize discounts the rewards it scales with it too
    gamma: float = Field(gt=0, le=1)
    learning_rate: PositiveFloat | None = None
    learning_rate_schedule: Literal["constant", "linear"] = Field(
        default="constant", description="linear: from learning_rate down to 0 at total_timesteps"
    )
    max_grad_norm: PositiveFloat | None = None
    stats_window_size: PositiveInt | None = None
    policy_kwargs: PolicyKwargs = Field(default_factory=PolicyKwargs)

    @model_validator(mode="after")
    def _schedule_needs_a_rate(self) -> Hyperparameters:
        if self.learning_rate_schedule == "linear" and self.learning_rate is None:
            raise ValueError("learning_rate_schedule: linear needs a learning_rate to start from")
        return self

    def sb3_kwargs(self) -> dict[str, Any]:
        """The keyword arguments of the SB3 algorithm's constructor."""
        kwargs = self.model_dump(exclude_unset=True, exclude={*RunSettings.model_fields, "learning_rate_schedule"})
        kwargs["gamma"] = self.gamma
        kwargs["policy_kwargs"] = self.policy_kwargs.sb3()
        if self.learning_rate_schedule == "linear":
            kwargs["learning_rate"] = linear_schedule(self.learning_rate)
        return kwargs


def linear_schedule(initial: float) -> Callable[[float], float]:
    """SB3 learning-rate schedule falling linearly from ``initial`` to 0 (SB3 passes the progress
    remaining, 1 at the start of training and 0 at ``total_timesteps``, also across a resume)."""

    def rate(progress_remaining: float) -> float:
        return initial * progress_remaining

    return rate


class PPOHyperparameters(Hyperparameters):
    """PPO: the keys of ``stable_baselines3.PPO`` (schedules and custom classes aside)."""

    n_steps: PositiveInt | None = None
    batch_size: PositiveInt | None = None
    n_epochs: PositiveInt | None = None
    gae_lambda: float | None = Field(default=None, ge=0, le=1)
    clip_range: PositiveFloat | None = None
    clip_range_vf: PositiveFloat | None = None
    normalize_advantage: bool | None = None
    ent_coef: NonNegativeFloat | None = None
    vf_coef: NonNegativeFloat | None = None
    use_sde: bool | None = None
    sde_sample_freq: int | None = None
    target_kl: PositiveFloat | None = None
    policy_kwargs: ActorCriticPolicyKwargs = Field(default_factory=ActorCriticPolicyKwargs)


class DQNHyperparameters(Hyperparameters):
    """DQN: the keys of ``stable_baselines3.DQN`` (``train_freq`` in steps)."""

    buffer_size: PositiveInt | None = None
    learning_starts: NonNegativeInt | None = None
    batch_size: PositiveInt | None = None
    tau: float | None = Field(default=None, gt=0, le=1)
    train_freq: PositiveInt | None = None
    gradient_steps: int | None = Field(default=None, ge=-1)
    target_update_interval: PositiveInt | None = None
    exploration_fraction: float | None = Field(default=None, ge=0, le=1)
    exploration_initial_eps: float | None = Field(default=None, ge=0, le=1)
    exploration_final_eps: float | None = Field(default=None, ge=0, le=1)


@dataclass(frozen=True)
class Algorithm:
    """An SB3 algorithm, the model of its config and the action spaces it can learn."""

    sb3_class: type[BaseAlgorithm]
    hyperparameters: type[Hyperparameters]
    actions: tuple[str, ...]


ALGOS: dict[str, Algorithm] = {
    "ppo": Algorithm(PPO, PPOHyperparameters, ("continuous", "discrete")),
    "dqn": Algorithm(DQN, DQNHyperparameters, ("discrete",)),
}


def _validated(model: type[Hyperparameters], raw: Any, source: str) -> Hyperparameters:
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
        _validated(model, _merged(blocks["default"], block), f"{path}: {name}")
    resolved = _merged(blocks["default"], blocks.get(scenario_name, {}))
    return _validated(model, _merged(resolved, overrides or {}), "command line")


@dataclass(frozen=True)
class RunConfig:
    """Everything that defines a training run."""

    algo: str
    scenario: Scenario  # with the config's env overrides applied
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
    hyperparameters = load_hyperparameters(ALGO_DIR / f"{algo}.yaml", algo, base_scenario.name, overrides)
    # nested keys (-p env.demand.mean=7) change one entry of a mapping, not the whole mapping
    merged = _merged(base_scenario.model_dump(), hyperparameters.env)
    trained_on = load_scenario(base_scenario, **{key: merged[key] for key in hyperparameters.env})
    if trained_on.action not in ALGOS[algo].actions:
        known = ", ".join(ALGOS[algo].actions)
        raise UserError(f"{algo}: env.action: cannot learn {trained_on.action} actions (only {known})")
    return RunConfig(algo, trained_on, seed, hyperparameters)


# ---------------------------------------------------------------------------------------------
# The run directory: written atomically piece by piece, so a kill leaves no half-written file.


def stats_file(model_file: Path) -> Path:
    """Where the VecNormalize statistics of a model are kept: ``X.zip`` -> ``X.vecnormalize.pkl``."""
    return model_file.with_suffix(".vecnormalize.pkl")


def _write_atomically(path: Path, write: Callable[[Path], object]) -> None:
    """``write(temporary path)``, then rename onto ``path`` (a rename replaces a file in one step)."""
    temporary = path.with_name(f".tmp-{path.name}")
    write(temporary)
    os.replace(temporary, path)


def save_model(model: BaseAlgorithm, model_file: Path) -> None:
    """Save the model and its VecNormalize statistics next to it."""
    _write_atomically(model_file, model.save)
    _write_atomically(stats_file(model_file), model.get_vec_normalize_env().save)


@dataclass(frozen=True)
class Checkpoint:
    """A saved training state: model, VecNormalize statistics, DQN's replay buffer, callback state."""

    path: Path
    # the state of a run that has no checkpoint yet
    INITIAL_STATE: ClassVar[dict[str, Any]] = {"timesteps": 0, "best": None}

    @property
    def model_file(self) -> Path:
        return self.path / "model.zip"

    @property
    def replay_buffer_file(self) -> Path:
        return self.path / "replay_buffer.pkl"

    @property
    def state(self) -> dict[str, Any]:
        """``timesteps`` and the best evaluation so far (``best``: avg_cost and timesteps, or None)."""
        return json.loads((self.path / "state.json").read_text())

    @staticmethod
    def write(directory: Path, model: BaseAlgorithm, state: dict[str, Any]) -> Checkpoint:
        """Save a checkpoint as ``directory/step_N``; it only appears there once complete."""
        final = directory / f"step_{model.num_timesteps:012d}"
        staging = directory / f".tmp-{final.name}"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        checkpoint = Checkpoint(staging)
        save_model(model, checkpoint.model_file)
        if isinstance(model, OffPolicyAlgorithm):
            model.save_replay_buffer(checkpoint.replay_buffer_file)
        (staging / "state.json").write_text(json.dumps({"timesteps": model.num_timesteps, **state}))
        os.replace(staging, final)
        return Checkpoint(final)

    def restore(self, config: RunConfig, seed: int) -> BaseAlgorithm:
        """The model on a new training env with the saved statistics, ready to continue learning."""
        env = make_training_env(config, seed, stats=stats_file(self.model_file))
        # seed= replaces the saved seed, so the resumed segment draws new demand
        model = config.algorithm.sb3_class.load(self.model_file, env=env, seed=seed, device="cpu")
        if self.replay_buffer_file.exists():
            model.load_replay_buffer(self.replay_buffer_file)
        return model


@dataclass(frozen=True)
class RunDirectory:
    """The directory of one training run (layout in the module docstring)."""

    path: Path

    @property
    def config_file(self) -> Path:
        return self.path / "config.yaml"

    @property
    def scenario_file(self) -> Path:
        return self.path / "scenario.yaml"

    @property
    def model_file(self) -> Path:
        return self.path / "model.zip"

    @property
    def best_model_file(self) -> Path:
        return self.path / "best_model.zip"

    @property
    def checkpoints_dir(self) -> Path:
        return self.path / "checkpoints"

    @property
    def tensorboard_dir(self) -> Path:
        return self.path / "tensorboard"

    @property
    def summary_file(self) -> Path:
        return self.path / "summary.json"

    @staticmethod
    def create(parent: str | Path, config: RunConfig) -> RunDirectory:
        """A new directory ``parent/SCENARIO_ALGO_seedS`` (``_2``, ``_3``... if taken) with the config written.

        It is filled under a hidden name and renamed, so it exists only complete.
        """
        parent = Path(parent)
        base = f"{config.scenario.name}_{config.algo}_seed{config.seed}"
        try:
            parent.mkdir(parents=True, exist_ok=True)
            staging = Path(
                tempfile.mkdtemp(prefix=f".tmp-{base}-", dir=parent)
            )  # its own, even for runs started together
        except OSError as error:
            raise UserError(f"--run-dir {parent}: cannot create a directory in it ({error.strerror})") from None
        (staging / "config.yaml").write_text(config.to_yaml())
        (staging / "scenario.yaml").write_text(yaml.safe_dump(config.scenario.model_dump(mode="json"), sort_keys=False))
        (staging / "versions.json").write_text(json.dumps(package_versions(RECORDED_PACKAGES), indent=2) + "\n")
        for name in (base, *(f"{base}_{i}" for i in range(2, 10_000))):
            try:
                staging.rename(parent / name)  # fails on a taken name (a run directory is never empty)
            except OSError:
                continue
            return RunDirectory(parent / name)
        shutil.rmtree(staging)
        raise UserError(f"--run-dir {parent}: every name {base}_N is taken")

    @staticmethod
    def find(path: str | Path) -> RunDirectory:
        """The run directory ``path`` or the one holding it (a model file, a checkpoint)."""
        path = Path(path).resolve()
        for candidate in (path, *path.parents[:3]):
            if (candidate / "config.yaml").is_file():
                return RunDirectory(candidate)
        raise UserError(f"{path}: not a run directory (no config.yaml in it or above it)")

    def read_config(self) -> RunConfig:
        raw = yaml.safe_load(self.config_file.read_text())
        if not isinstance(raw, dict) or raw.get("algo") not in ALGOS or not {"scenario", "seed"} <= set(raw):
            raise UserError(f"{self.config_file}: not the config of a training run (algo, scenario, seed...)")
        algo, seed = raw.pop("algo"), raw.pop("seed")
        del raw["scenario"]  # the scenario itself, overrides applied, is in scenario.yaml
        hyperparameters = _validated(ALGOS[algo].hyperparameters, raw, str(self.config_file))
        return RunConfig(algo, load_scenario(self.scenario_file), seed, hyperparameters)

    def latest_checkpoint(self) -> Checkpoint | None:
        checkpoints = sorted(self.checkpoints_dir.glob("step_*"))
        return Checkpoint(checkpoints[-1]) if checkpoints else None

    def record_command(self, argv: Sequence[str]) -> None:
        """Append the command (and when and where it ran) to command.txt."""
        with (self.path / "command.txt").open("a") as file:
            file.write(f"# {datetime.now().isoformat(timespec='seconds')} in {os.getcwd()}\n{shlex.join(argv)}\n")

    def write_summary(self, summary: dict[str, Any]) -> None:
        _write_atomically(self.summary_file, lambda path: path.write_text(json.dumps(summary, indent=2) + "\n"))


def open_for_resume(path: str | Path) -> tuple[RunDirectory, RunConfig, Checkpoint]:
    """The run at ``path``, its config and its latest checkpoint; a :class:`UserError` if it cannot resume."""
    if not Path(path).is_dir() or not (Path(path) / "config.yaml").is_file():
        raise UserError(f"{path}: not a run directory (no config.yaml)")
    run = RunDirectory(Path(path))
    if run.summary_file.exists():
        raise UserError(f"{path}: the run is finished (summary.json exists)")
    checkpoint = run.latest_checkpoint()
    if checkpoint is None:
        raise UserError(f"{path}: no checkpoint to resume from yet (start a new run)")
    return run, run.read_config(), checkpoint


# ---------------------------------------------------------------------------------------------
# Training


def setup_torch(seed: int) -> None:
    """Seed Python, numpy and torch; make torch deterministic (same seed, same model) and single-threaded.

    The networks are small: more threads only add overhead, and on a busy machine their
    spin-waiting stalled a PPO run from 10,000 to 270 env steps per second.
    """
    set_random_seed(seed)
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)


def make_training_env(
    config: RunConfig, seed: int, venv: VecEnv | None = None, stats: Path | None = None
) -> VecNormalize:
    """The training env: ``venv`` (default: an InventoryVecEnv of ``n_envs`` systems) with episode
    statistics (VecMonitor) and normalisation (VecNormalize, new or loaded from ``stats``)."""
    hp = config.hyperparameters
    monitored = VecMonitor(venv or InventoryVecEnv(config.scenario, hp.n_envs, seed=seed))
    if stats is not None:
        return VecNormalize.load(str(stats), monitored)
    return VecNormalize(monitored, norm_obs=hp.normalize.obs, norm_reward=hp.normalize.reward, gamma=hp.gamma)


def new_model(config: RunConfig, env: VecEnv, seed: int, verbose: int = 1) -> BaseAlgorithm:
    """A new SB3 model of the configured algorithm, MLP policy, on CPU."""
    kwargs = config.hyperparameters.sb3_kwargs()
    return config.algorithm.sb3_class("MlpPolicy", env, seed=seed, device="cpu", verbose=verbose, **kwargs)


class _TensorBoardFrom(TensorBoardOutputFormat):
    """SB3's TensorBoard output with ``purge_step``: TensorBoard then hides the events that earlier
    files of the directory hold at steps >= ``purge_step`` (what a killed run logged after its
    last checkpoint), so a resumed run's curves continue without a fold."""

    def __init__(self, folder: str, purge_step: int | None) -> None:
        self.writer = SummaryWriter(log_dir=folder, purge_step=purge_step)
        self._is_closed = False


def make_logger(folder: Path, resumed_from: int | None = None) -> Logger:
    """SB3's logger writing to stdout and to TensorBoard event files in ``folder``.

    :param folder: the TensorBoard directory.
    :param resumed_from: the step of the checkpoint a resumed run starts from; what was logged
        at that step (the evaluation the checkpoint holds) is kept, anything later is hidden.
    """
    purge_step = None if resumed_from is None else resumed_from + 1
    return Logger(str(folder), [HumanOutputFormat(sys.stdout), _TensorBoardFrom(str(folder), purge_step)])


def _mean(values: Sequence[float] | np.ndarray) -> float:
    """Mean ignoring NaN (turnover is NaN when nothing was on hand); NaN if all are."""
    values = np.asarray(values, dtype=float)
    return float(values[~np.isnan(values)].mean()) if (~np.isnan(values)).any() else math.nan


def crossed(num_timesteps: int, n_envs: int, freq: int) -> bool:
    """True if the last vectorised step (``n_envs`` env steps) crossed a multiple of ``freq``."""
    return num_timesteps // freq > (num_timesteps - n_envs) // freq


class EpisodeKpiLogger(BaseCallback):
    """Logs the KPIs of the training episodes as ``rollout/kpi_NAME`` (mean since the last dump)."""

    def _on_step(self) -> bool:
        ended = [info["episode_kpis"] for info in self.locals["infos"] if "episode_kpis" in info]
        if not ended:
            return True
        for name in KPI_NAMES:
            value = _mean([kpis[name] for kpis in ended])
            if not math.isnan(value):
                self.logger.record_mean(f"rollout/kpi_{name}", value)
        return True


@dataclass
class EvaluationSet:
    """The fixed paths every evaluation of a run uses, and the reference policies' costs on them."""

    paths: ExogenousPaths
    references: dict[str, float]

    @classmethod
    def for_config(cls, config: RunConfig) -> EvaluationSet:
        """``eval_episodes`` episodes drawn from :data:`EVAL_SEED`; the references are tuned here."""
        paths = evaluation_paths(config.scenario, config.hyperparameters.eval_episodes, EVAL_SEED)
        return cls(paths, reference_costs(config.scenario, paths))

    def evaluate(self, model: BaseAlgorithm, scenario: Scenario) -> dict[str, Any]:
        """Mean KPIs of ``model`` on the paths and its gaps in percent to the references."""
        policy = SB3Policy(model, scenario, model.get_vec_normalize_env())
        kpis = {name: _mean(values) for name, values in run_batch(policy, scenario, self.paths).kpis.items()}
        gaps = {name: 100.0 * (kpis["avg_cost"] - cost) / cost for name, cost in self.references.items() if cost > 0}
        return {"kpis": kpis, "gap_pct": gaps}


class Evaluator(BaseCallback):
    """Every ``eval_freq`` env steps, run the current policy on fixed evaluation paths.

    Each evaluation logs the mean KPIs under ``eval/``, the gap in
    percent to every reference policy under ``gap_pct/`` (``base_stock``, and ``optimal`` where
    the optimum is known), and saves ``best_model.zip`` when the average cost improves.

    :param config: the run's config.
    :param run: where the best model goes.
    :param evaluation: the evaluation paths and reference costs.
    :param best: the best evaluation so far (from a checkpoint): avg_cost and timesteps.
    """

    def __init__(
        self, config: RunConfig, run: RunDirectory, evaluation: EvaluationSet, best: dict[str, float] | None = None
    ) -> None:
        super().__init__()
        self.config = config
        self.scenario = config.scenario
        self.eval_freq = config.hyperparameters.eval_freq
        self.evaluation = evaluation
        self.run = run
        self.best = best

    def evaluate(self, model: BaseAlgorithm) -> dict[str, Any]:
        """Mean KPIs of ``model`` on the evaluation paths and its gaps in percent to the references."""
        return self.evaluation.evaluate(model, self.scenario)

    def _on_step(self) -> bool:
        if not crossed(self.num_timesteps, self.training_env.num_envs, self.eval_freq):
            return True
        result = self.evaluate(self.model)
        for name, value in result["kpis"].items():
            self.logger.record(f"eval/{name}", value)
        for name, gap in result["gap_pct"].items():
            self.logger.record(f"gap_pct/{name}", gap)
        if self.best is None or result["kpis"]["avg_cost"] < self.best["avg_cost"]:
            self.best = {"avg_cost": result["kpis"]["avg_cost"], "timesteps": self.num_timesteps}
            save_model(self.model, self.run.best_model_file)
        self.logger.dump(self.num_timesteps)
        return True

    def summarize(self, model: BaseAlgorithm) -> dict[str, Any]:
        """The content of summary.json: the final model's evaluation and the best one's."""
        return {
            "algo": self.config.algo,
            "scenario": self.scenario.name,
            "seed": self.config.seed,
            "timesteps": model.num_timesteps,
            "eval_seed": EVAL_SEED,
            "eval_episodes": self.evaluation.paths.n,
            **self.evaluate(model),
            "references": self.evaluation.references,
            "best": self.best,
        }


class Checkpointer(BaseCallback):
    """Every ``checkpoint_freq`` env steps, write a :class:`Checkpoint` with the evaluator's state.

    :param run: the run directory (checkpoints go to its ``checkpoints/``).
    :param freq: env steps between checkpoints.
    :param evaluator: whose best evaluation is kept in the checkpoint.
    """

    def __init__(self, run: RunDirectory, freq: int, evaluator: Evaluator) -> None:
        super().__init__()
        self.run, self.freq, self.evaluator = run, freq, evaluator

    def _on_step(self) -> bool:
        if crossed(self.num_timesteps, self.training_env.num_envs, self.freq):
            Checkpoint.write(self.run.checkpoints_dir, self.model, {"best": self.evaluator.best})
        return True


# ---------------------------------------------------------------------------------------------
# A trained model as a policy


class SB3Policy:
    """A trained SB3 model as an order policy (see :class:`envs.policy.Policy`).

    Observations are normalised with the run's VecNormalize statistics, the model acts
    deterministically and its actions are mapped to order quantities as the env does.

    :param model: the trained PPO or DQN model.
    :param scenario: the scenario it was trained on (its action space and max_order).
    :param normalizer: the VecNormalize whose observation statistics the model was trained with.
    :param name: the policy's name in tables.
    """

    def __init__(
        self, model: BaseAlgorithm, scenario: Scenario, normalizer: VecNormalize | None, name: str = "rl"
    ) -> None:
        self.model, self.scenario, self.normalizer, self.name = model, scenario, normalizer, name

    def act(self, obs: np.ndarray) -> np.ndarray:
        scaled = self.normalizer.normalize_obs(obs) if self.normalizer is not None else obs
        actions, _ = self.model.predict(scaled, deterministic=True)
        return orders_from_actions(self.scenario, actions, obs)

    def params(self) -> dict[str, Any]:
        return {"algo": type(self.model).__name__, "timesteps": self.model.num_timesteps}


def load_run(path: str | Path) -> tuple[SB3Policy, Scenario]:
    """A trained policy and the scenario it was trained on.

    Args:
        path: a run directory (its final ``model.zip`` is used) or a model file in one
            (``best_model.zip``, ``checkpoints/step_N/model.zip``); the VecNormalize statistics
            are found next to the model, the config in the run directory.

    Raises:
        UserError: if there is no model or it is not inside a run directory.
    """
    path = Path(path)
    model_file = path / "model.zip" if path.is_dir() else path
    if not model_file.is_file():
        raise UserError(f"{path}: no trained model here (a run directory gets model.zip when training ends)")
    if not stats_file(model_file).is_file():
        raise UserError(f"{model_file}: its VecNormalize statistics {stats_file(model_file).name} are missing")
    config = RunDirectory.find(model_file.parent).read_config()
    model = config.algorithm.sb3_class.load(model_file, device="cpu")
    normalizer = VecNormalize.load(str(stats_file(model_file)), InventoryVecEnv(config.scenario, 1))
    normalizer.training = False
    return SB3Policy(model, config.scenario, normalizer, name=config.algo), config.scenario
