"""InventoryVecEnv: N inventory systems stepped in one numpy call, as a stable-baselines3 VecEnv."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.utils import seeding
from stable_baselines3.common.vec_env.base_vec_env import VecEnv, VecEnvIndices, VecEnvObs, VecEnvStepReturn

from envs.inventory_env import make_spaces
from envs.kernel import InventoryBatch, KPI_NAMES, ExogenousPaths, draw_paths, observation_names, orders_from_actions
from envs.scenario import Scenario, load_scenario


class InventoryVecEnv(VecEnv):
    """``num_envs`` copies of a scenario, stepped together on the batched kernel.

    Follows SB3's conventions: episodes end together after ``horizon`` periods and are reset
    automatically; the info of an ended episode holds ``terminal_observation``,
    ``TimeLimit.truncated`` (always true: episodes are cut by the horizon) and ``episode_kpis``.
    Each environment has its own generator: after ``seed(s)`` environment i draws the same
    demand as ``InventoryEnv`` reset with seed ``s + i``, so both faces give identical
    trajectories. Per-period quantities are not copied into the step infos (that would cost
    more than the step itself); they are in :attr:`last_outcome` as arrays.
    """

    def __init__(self, scenario: str | Scenario, num_envs: int, seed: int | None = None, **overrides: Any) -> None:
        self.scenario = load_scenario(scenario, **overrides)
        self.observation_names = observation_names(self.scenario)
        self.render_mode = None
        observation_space, action_space = make_spaces(self.scenario)
        super().__init__(num_envs, observation_space, action_space)
        self._batch = InventoryBatch(self.scenario, num_envs)
        self._generators: list[np.random.Generator] = [seeding.np_random(None)[0] for _ in range(num_envs)]
        self._actions: np.ndarray | None = None
        self._obs: np.ndarray | None = None  # the observation the pending actions were taken on
        self.last_outcome = None
        if seed is not None:
            self.seed(seed)

    def _begin(self) -> np.ndarray:
        for i, seed in enumerate(self._seeds):
            if seed is not None:
                self._generators[i] = seeding.np_random(seed)[0]
        self._reset_seeds()
        self._batch.begin(ExogenousPaths.stack([draw_paths(self.scenario, g, 1) for g in self._generators]))
        self._obs = self._batch.observe()
        return self._obs

    def reset(self) -> VecEnvObs:
        obs = self._begin()
        self.reset_infos = [{} for _ in range(self.num_envs)]
        return obs

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = actions

    def step_wait(self) -> VecEnvStepReturn:
        outcome = self._batch.step(orders_from_actions(self.scenario, self._actions, self._obs))
        self.last_outcome = outcome
        rewards = outcome.reward.astype(np.float32)
        if not self._batch.done:
            self._obs = self._batch.observe()
            return self._obs, rewards, np.zeros(self.num_envs, dtype=bool), [{} for _ in range(self.num_envs)]
        terminal_obs = self._batch.observe()
        kpis = self._batch.kernel.totals.kpis()
        infos = [
            {
                "terminal_observation": terminal_obs[i],
                "TimeLimit.truncated": True,
                "episode_kpis": {name: kpis[name][i].item() for name in KPI_NAMES},
            }
            for i in range(self.num_envs)
        ]
        return self._begin(), rewards, np.ones(self.num_envs, dtype=bool), infos

    def close(self) -> None:
        pass

    def get_attr(self, attr_name: str, indices: VecEnvIndices = None) -> list[Any]:
        return [getattr(self, attr_name) for _ in self._get_indices(indices)]

    def set_attr(self, attr_name: str, value: Any, indices: VecEnvIndices = None) -> None:
        setattr(self, attr_name, value)

    def env_method(
        self, method_name: str, *method_args: Any, indices: VecEnvIndices = None, **method_kwargs: Any
    ) -> list[Any]:
        raise NotImplementedError("InventoryVecEnv has no per-environment objects to call methods on")

    def env_is_wrapped(self, wrapper_class: type[gym.Wrapper], indices: VecEnvIndices = None) -> list[bool]:
        return [False for _ in self._get_indices(indices)]

    def get_images(self) -> Sequence[np.ndarray | None]:
        return [None for _ in range(self.num_envs)]
