"""The run directory: everything a training run writes, each file written whole.

A run directory ``runs/SCENARIO_ALGO_seedS/`` holds::

    config.yaml                     algo, scenario, seed and the hyperparameters as resolved
    scenario.yaml                   the scenario trained on, overrides applied
    command.txt                     the command of every invocation (the first, then each resume)
    versions.json                   Python, platform and package versions
    model.zip                       the final model ...
    model.vecnormalize.json         ... and its VecNormalize statistics
    best_model.zip                  the model the run stands for: the best of its evaluations, the final one
                                    included (+ best_model.vecnormalize.json)
    checkpoints/step_N/             model.zip, model.vecnormalize.json, replay_buffer.npz (DQN), state.json
    tensorboard/                    the event files
    summary.json                    the best model's evaluation (KPIs, gaps to the references), the final one's
    .lock                           locked (flock) by the process that writes the run

Every file and checkpoint is written through :mod:`envs.files`, so a kill leaves no
half-written file: the directory itself appears complete with its config, a checkpoint appears
complete or not at all. One process at a time writes a run: :meth:`RunDirectory.lock`. Its
files are read without running code from them (:mod:`agents.rl.serialization`).
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.off_policy_algorithm import OffPolicyAlgorithm

from agents.provenance import package_versions
from agents.rl.config import MAX_SEED, RunConfig, check_fits, validate_hyperparameters
from agents.rl.hyperparameters import ALGOS, MAX_TIMESTEPS
from agents.rl.serialization import (
    load_model,
    normalizer_json,
    replay_buffer_writer,
    restore_replay_buffer,
    stats_file,
)
from agents.rl.training import make_training_env
from envs.errors import UserError
from envs.files import (
    Content,
    DirectoryLock,
    atomic_write,
    check_output_directory,
    write_directory,
    write_files,
    write_new_directory,
)
from envs.inputs import read_text, read_yaml, shown_path
from envs.limits import Int, Real
from envs.scenario import format_validation_error, load_scenario

# Packages whose versions are recorded in a run directory.
RECORDED_PACKAGES = ("numpy", "scipy", "torch", "stable-baselines3", "gymnasium", "pydantic", "pyyaml", "tensorboard")
# Run directories of one scenario, algo and seed: the first name, then _2, _3, ...
MAX_RUNS_PER_NAME = 10_000


def model_files(model: BaseAlgorithm, model_file: Path) -> dict[Path, Content]:
    """What saving a model writes: the model at ``model_file`` and its VecNormalize statistics next to it (JSON)."""
    normalizer = model.get_vec_normalize_env()
    if normalizer is None:  # every training env here is a VecNormalize (make_training_env)
        raise ValueError("the model has no VecNormalize env, whose statistics are saved with it")
    return {model_file: model.save, stats_file(model_file): normalizer_json(normalizer)}


class BestEvaluation(BaseModel):
    """The best evaluation of a run so far: its average cost and when."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    avg_cost: Real
    timesteps: Int = Field(ge=0, le=MAX_TIMESTEPS)


class CheckpointState(BaseModel):
    """``state.json`` of a checkpoint: the steps trained and the best evaluation so far."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    timesteps: Int = Field(ge=0, le=MAX_TIMESTEPS)
    best: BestEvaluation | None


def save_model(model: BaseAlgorithm, model_file: Path) -> None:
    """Save the model and its VecNormalize statistics next to it: both files replaced, or neither."""
    files = {path.name: content for path, content in model_files(model, model_file).items()}
    write_files(model_file.parent, files, what="model file")


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
        return self.path / "replay_buffer.npz"

    @property
    def legacy_replay_buffer_file(self) -> Path:
        """Where checkpoints written before the npz format kept the replay buffer (a pickle)."""
        return self.path / "replay_buffer.pkl"

    @property
    def state(self) -> dict[str, Any]:
        """``timesteps`` and the best evaluation so far (``best``: avg_cost and timesteps, or None).

        Raises:
            UserError: state.json is missing, not JSON or not a checkpoint's state.
        """
        path = self.path / "state.json"
        try:
            raw = json.loads(read_text(path, "checkpoint state"))
        except ValueError as error:
            raise UserError(f"{shown_path(path)}: not valid JSON ({str(error)[:80]})") from None
        try:
            return CheckpointState.model_validate(raw).model_dump()
        except ValidationError as error:
            raise UserError(format_validation_error(shown_path(path), error)) from None

    @staticmethod
    def write(directory: Path, model: BaseAlgorithm, state: dict[str, Any]) -> Checkpoint:
        """Save a checkpoint as ``directory/step_N``; it only appears there once complete."""
        final = Checkpoint(directory / f"step_{model.num_timesteps:012d}")
        files: dict[str, Content] = {
            path.name: content for path, content in model_files(model, final.model_file).items()
        }
        if isinstance(model, OffPolicyAlgorithm) and model.replay_buffer is not None:
            files[final.replay_buffer_file.name] = replay_buffer_writer(model.replay_buffer)
        files["state.json"] = json.dumps({"timesteps": model.num_timesteps, **state})
        write_directory(final.path, files, what="checkpoint")
        return final

    def restore(self, config: RunConfig, seed: int) -> BaseAlgorithm:
        """The model on a new training env with the saved statistics, ready to continue learning.

        Raises:
            UserError: a file of the checkpoint is missing, corrupt or not of this run.
        """
        env = make_training_env(config, seed, stats_of=self.model_file)
        # seed= replaces the saved seed, so the resumed segment draws new demand
        model = load_model(self.model_file, config, env=env, seed=seed)
        if isinstance(model, OffPolicyAlgorithm) and model.replay_buffer is not None:
            restore_replay_buffer(model.replay_buffer, self.replay_buffer_file, self.legacy_replay_buffer_file)
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

        It is filled under a hidden name and renamed, so it exists only complete; runs started
        together each get their own.
        """
        base = f"{config.scenario.name}_{config.algo}_seed{config.seed}"
        names = [base, *(f"{base}_{i}" for i in range(2, MAX_RUNS_PER_NAME))]
        files = {
            "config.yaml": config.to_yaml(),
            "scenario.yaml": yaml.safe_dump(config.scenario.model_dump(mode="json"), sort_keys=False),
            "versions.json": json.dumps(package_versions(RECORDED_PACKAGES), indent=2) + "\n",
        }
        return RunDirectory(write_new_directory(parent, names, files, what="--run-dir"))

    @staticmethod
    def find(path: str | Path) -> RunDirectory:
        """The run directory ``path`` or the one holding it (a model file, a checkpoint)."""
        try:
            path = Path(path).resolve()
        except (OSError, RuntimeError, ValueError) as error:  # a symlink loop, a NUL byte
            raise UserError(f"{shown_path(path)}: not a run directory ({error})") from None
        for candidate in (path, *path.parents[:3]):
            if (candidate / "config.yaml").is_file():
                return RunDirectory(candidate)
        raise UserError(f"{shown_path(path)}: not a run directory (no config.yaml in it or above it)")

    def read_config(self) -> RunConfig:
        """The run's config: config.yaml and scenario.yaml, validated as a new run's would be.

        Raises:
            UserError: either file is unreadable, not YAML, or not a valid config; one line naming it.
        """
        raw = read_yaml(self.config_file, "run config")
        if not isinstance(raw, dict) or raw.get("algo") not in ALGOS or not {"scenario", "seed"} <= set(raw):
            raise UserError(f"{self.config_file}: not the config of a training run (algo, scenario, seed...)")
        algo, seed = raw.pop("algo"), raw.pop("seed")
        if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
            raise UserError(f"{self.config_file}: seed: must be an integer in 0..{MAX_SEED}")
        del raw["scenario"]  # the scenario itself, overrides applied, is in scenario.yaml
        hyperparameters = validate_hyperparameters(ALGOS[algo].hyperparameters, raw, str(self.config_file))
        scenario = load_scenario(self.scenario_file)
        check_fits(algo, scenario, hyperparameters)
        return RunConfig(algo, scenario, seed, hyperparameters)

    def check_writable(self) -> None:
        """Refuse a run whose subdirectories are symlinks or not directories (a run from elsewhere
        could point ``tensorboard/`` or ``checkpoints/`` anywhere; event files and checkpoints
        would be written there).

        Raises:
            UserError: one line naming the subdirectory.
        """
        for directory in (self.checkpoints_dir, self.tensorboard_dir):
            check_output_directory(directory, replaceable=lambda existing: True, what="run directory")

    def lock(self) -> DirectoryLock:
        """The lock of this run, for ``with``: one process at a time writes it (see :class:`envs.files.DirectoryLock`).

        Entering it raises a :class:`UserError` when another process is writing the run.
        """
        return DirectoryLock(self.path, "run directory")

    def abandon(self, created_here: bool) -> str:
        """After a failed or interrupted training: what is left of the run, in words for the user.

        A run this process created that has no checkpoint yet holds nothing to resume from: it
        is removed, so that no run directory without a model stays behind. Any other run keeps
        its checkpoints and is resumed with ``--resume``; until then it has no model.zip, and
        loading it for evaluation says so.
        """
        if created_here and self.latest_checkpoint() is None:
            shutil.rmtree(self.path, ignore_errors=True)
            return f"{self.path} removed (it had no checkpoint to resume from)"
        return f"{self.path} kept: continue it with train.py --resume {shlex.quote(str(self.path))}"

    def latest_checkpoint(self) -> Checkpoint | None:
        checkpoints = sorted(self.checkpoints_dir.glob("step_*"))
        return Checkpoint(checkpoints[-1]) if checkpoints else None

    def record_command(self, argv: Sequence[str]) -> None:
        """Add the command (and when and where it ran) to command.txt."""
        command_file = self.path / "command.txt"
        earlier = read_text(command_file, "command file") if command_file.exists() else ""
        entry = f"# {datetime.now().isoformat(timespec='seconds')} in {os.getcwd()}\n{shlex.join(argv)}\n"
        atomic_write(command_file, earlier + entry, what="run directory")

    def write_summary(self, summary: dict[str, Any]) -> None:
        """Write summary.json (the run's final evaluation); a run with one is finished."""
        atomic_write(self.summary_file, json.dumps(summary, indent=2) + "\n", what="run directory")


def open_for_resume(path: str | Path) -> tuple[RunDirectory, RunConfig, Checkpoint]:
    """The run at ``path``, its config and its latest checkpoint (lock the run before writing to it).

    Raises:
        UserError: not a run directory (or a symlink to one), it is finished, or it has no
            checkpoint; one line naming it.
    """
    run = RunDirectory(Path(path))
    if run.path.is_symlink():
        raise UserError(f"--resume {shown_path(path)}: is a symbolic link; give the run directory itself")
    if not run.path.is_dir() or not run.config_file.is_file():
        raise UserError(f"--resume {shown_path(path)}: not a run directory (no config.yaml)")
    if run.summary_file.exists():
        raise UserError(f"--resume {shown_path(path)}: the run is finished (summary.json exists)")
    run.check_writable()
    checkpoint = run.latest_checkpoint()
    if checkpoint is None:
        raise UserError(f"--resume {shown_path(path)}: no checkpoint to resume from yet (start a new run)")
    return run, run.read_config(), checkpoint
