"""A trained stable-baselines3 model as an order policy, and loading one from its run directory."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.vec_env import VecNormalize

from agents.rl.run_directory import RunDirectory
from agents.rl.serialization import has_stats, load_model, load_normalizer, stats_file
from envs.actions import ActionMap
from envs.errors import UserError
from envs.inputs import shown_path
from envs.layout import ObservationLayout
from envs.scenario import AnyScenario
from envs.vec_env import InventoryVecEnv


class SB3Policy:
    """A trained SB3 model as an order policy (see :class:`envs.policy.Policy`).

    Observations are normalised with the run's VecNormalize statistics, the model acts
    deterministically and its actions are mapped to order quantities as the env does.

    Args:
        model: the trained PPO or DQN model.
        scenario: the scenario it was trained on (its action space and max_order).
        normalizer: the VecNormalize whose observation statistics the model was trained with.
        name: the policy's name in tables.
    """

    def __init__(
        self, model: BaseAlgorithm, scenario: AnyScenario, normalizer: VecNormalize | None, name: str = "rl"
    ) -> None:
        self.model, self.scenario, self.normalizer, self.name = model, scenario, normalizer, name
        self.action_map = ActionMap(scenario, ObservationLayout(scenario))

    def act(self, obs: np.ndarray) -> np.ndarray:
        scaled = self.normalizer.normalize_obs(obs) if self.normalizer is not None else obs
        actions, _ = self.model.predict(scaled, deterministic=True)
        return self.action_map.orders(actions, obs)

    def params(self) -> dict[str, Any]:
        return {"algo": type(self.model).__name__, "timesteps": self.model.num_timesteps}


def load_run(path: str | Path) -> tuple[SB3Policy, AnyScenario]:
    """A trained policy and the scenario it was trained on, nothing of the files unpickled.

    Args:
        path: a finished run directory (the model it stands for: ``best_model.zip``, the best of
            the run's evaluations, or ``model.zip`` where there is none) or a model file in one
            (``best_model.zip``, ``checkpoints/step_N/model.zip``); the VecNormalize statistics
            are found next to the model, the config in the run directory. The model is rebuilt
            from the config and the weights (:func:`agents.rl.serialization.load_model`).

    Raises:
        UserError: no model (a run still training, or interrupted: resume it), no statistics,
            not inside a run directory, or a file that is corrupt or not of this run.
    """
    path = Path(path)
    model_file = path / "model.zip" if path.is_dir() else path
    if path.is_dir() and model_file.is_file() and (path / "best_model.zip").is_file():  # a finished run: its best
        model_file = path / "best_model.zip"
    if not model_file.is_file():
        run = path if path.is_dir() else None
        unfinished = run is not None and (run / "config.yaml").is_file() and (run / "checkpoints").is_dir()
        hint = (
            f"the run has not finished: resume it with train.py --resume {path}, or evaluate a checkpoint's model.zip"
            if unfinished
            else "a run directory gets model.zip when training ends"
        )
        raise UserError(f"{shown_path(path)}: no trained model here ({hint})")
    if not has_stats(model_file):
        missing = stats_file(model_file).name
        raise UserError(f"{shown_path(model_file)}: its VecNormalize statistics {missing} are missing")
    config = RunDirectory.find(model_file.parent).read_config()
    venv = InventoryVecEnv(config.scenario, 1)
    model = load_model(model_file, config, env=venv)
    normalizer = load_normalizer(model_file, venv)
    normalizer.training = False
    return SB3Policy(model, config.scenario, normalizer, name=config.algo), config.scenario
