"""The run directory: everything a training run writes, each file written whole.

A run directory ``runs/SCENARIO_ALGO_seedS/`` holds::

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

Every file and checkpoint is written through :mod:`envs.files`, so a kill leaves no
half-written file: the directory itself appears complete with its config, a checkpoint appears
complete or not at all.
"""

from __future__ import annotations

import json
import os
import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

import yaml
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.off_policy_algorithm import OffPolicyAlgorithm

from agents.provenance import package_versions
from agents.rl.config import RunConfig, validate_hyperparameters
from agents.rl.hyperparameters import ALGOS
from agents.rl.training import make_training_env
from envs.errors import UserError
from envs.files import Content, atomic_write, write_directory, write_new_directory
from envs.scenario import load_scenario

# Packages whose versions are recorded in a run directory.
RECORDED_PACKAGES = ("numpy", "scipy", "torch", "stable-baselines3", "gymnasium", "pydantic", "pyyaml", "tensorboard")
# Run directories of one scenario, algo and seed: the first name, then _2, _3, ...
MAX_RUNS_PER_NAME = 10_000


def stats_file(model_file: Path) -> Path:
    """Where the VecNormalize statistics of a model are kept: ``X.zip`` -> ``X.vecnormalize.pkl``."""
    return model_file.with_suffix(".vecnormalize.pkl")


def model_files(model: BaseAlgorithm, model_file: Path) -> dict[Path, Content]:
    """What saving a model writes: the model at ``model_file`` and its VecNormalize statistics next to it."""
    normalizer = model.get_vec_normalize_env()
    if normalizer is None:  # every training env here is a VecNormalize (make_training_env)
        raise ValueError("the model has no VecNormalize env, whose statistics are saved with it")
    return {model_file: model.save, stats_file(model_file): lambda path: normalizer.save(str(path))}


def save_model(model: BaseAlgorithm, model_file: Path) -> None:
    """Save the model and its VecNormalize statistics next to it, each file written whole."""
    for path, content in model_files(model, model_file).items():
        atomic_write(path, content, what="model file")


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
        final = Checkpoint(directory / f"step_{model.num_timesteps:012d}")
        files: dict[str, Content] = {
            path.name: content for path, content in model_files(model, final.model_file).items()
        }
        if isinstance(model, OffPolicyAlgorithm):
            files[final.replay_buffer_file.name] = model.save_replay_buffer
        files["state.json"] = json.dumps({"timesteps": model.num_timesteps, **state})
        write_directory(final.path, files, what="checkpoint")
        return final

    def restore(self, config: RunConfig, seed: int) -> BaseAlgorithm:
        """The model on a new training env with the saved statistics, ready to continue learning."""
        env = make_training_env(config, seed, stats=stats_file(self.model_file))
        # seed= replaces the saved seed, so the resumed segment draws new demand
        model = config.algorithm.sb3_class.load(self.model_file, env=env, seed=seed, device="cpu")
        if isinstance(model, OffPolicyAlgorithm) and self.replay_buffer_file.exists():
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
        hyperparameters = validate_hyperparameters(ALGOS[algo].hyperparameters, raw, str(self.config_file))
        return RunConfig(algo, load_scenario(self.scenario_file), seed, hyperparameters)

    def latest_checkpoint(self) -> Checkpoint | None:
        checkpoints = sorted(self.checkpoints_dir.glob("step_*"))
        return Checkpoint(checkpoints[-1]) if checkpoints else None

    def record_command(self, argv: Sequence[str]) -> None:
        """Add the command (and when and where it ran) to command.txt."""
        command_file = self.path / "command.txt"
        earlier = command_file.read_text() if command_file.exists() else ""
        entry = f"# {datetime.now().isoformat(timespec='seconds')} in {os.getcwd()}\n{shlex.join(argv)}\n"
        atomic_write(command_file, earlier + entry, what="run directory")

    def write_summary(self, summary: dict[str, Any]) -> None:
        """Write summary.json (the run's final evaluation); a run with one is finished."""
        atomic_write(self.summary_file, json.dumps(summary, indent=2) + "\n", what="run directory")


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
