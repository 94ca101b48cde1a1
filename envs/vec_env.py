"""InventoryVecEnv: N inventory systems stepped in one compiled call, as a stable-baselines3 VecEnv."""

from __future__ import annotations

from collections.abc import Sequence
from types import MappingProxyType
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.utils import seeding
from numba import typed
from stable_baselines3.common.vec_env.base_vec_env import VecEnv, VecEnvIndices, VecEnvObs, VecEnvStepReturn

from envs.actions import ActionMap, observation_space
from envs.batch import InventoryBatch
from envs.kernel import PeriodOutcome
from envs.kpis import KPI_NAMES
from envs.paths import PathSampler
from envs.scenario import AnyScenario, load_scenario

# The info of a step in the middle of an episode: empty, and read-only so that a shared one is safe.
EMPTY_INFO: MappingProxyType[str, Any] = MappingProxyType({})


class InventoryVecEnv(VecEnv):
    """``num_envs`` copies of a scenario, stepped together on the compiled kernel.

    Follows SB3's conventions: episodes end together after ``horizon`` periods and are reset
    automatically; the info of an ended episode holds ``terminal_observation``,
    ``TimeLimit.truncated`` (always true: episodes are cut by the horizon) and ``episode_kpis``;
    the info of any other step is an empty read-only mapping. Each environment has its own
    generator: after ``seed(s)`` environment i draws the same paths as ``InventoryEnv`` reset
    with seed ``s + i``, so both faces give identical trajectories. Per-period quantities are
    not copied into the step infos (that would cost more than the step itself); with
    ``record=True`` they are in :attr:`last_outcome` as arrays (N, stock points).
    """

    def __init__(
        self,
        scenario: str | AnyScenario,
        num_envs: int,
        seed: int | None = None,
        record: bool = False,
        **overrides: Any,
    ) -> None:
        self.scenario = load_scenario(scenario, **overrides)
        self._batch = InventoryBatch(self.scenario, num_envs)
        self.observation_names = self._batch.layout.names
        self.stock_points = list(self._batch.system.names)
        self.render_mode = None
        self._action_map = ActionMap(self.scenario, self._batch.layout)
        super().__init__(num_envs, observation_space(self._batch.layout), self._action_map.space)
        self._sampler = PathSampler(self.scenario, self._batch.system)
        # in a numba typed List, so that the demand of every environment is drawn in one compiled loop
        self._generators = typed.List([seeding.np_random(None)[0] for _ in range(num_envs)])
        self._empty_infos: list[Any] = [EMPTY_INFO] * num_envs
        self._actions: np.ndarray | None = None
        self._obs = np.zeros((num_envs, self._batch.layout.dim), dtype=np.float32)  # what the pending actions saw
        self.record = record
        self.last_outcome: PeriodOutcome | None = None
        if seed is not None:
            self.seed(seed)

    def _begin(self) -> np.ndarray:
        for i, seed in enumerate(self._seeds):
            if seed is not None:
                self._generators[i] = seeding.np_random(seed)[0]
        self._reset_seeds()
        self._batch.begin(self._sampler.draw_each(self._generators))
        self._obs = self._batch.observe().copy()
        return self._obs

    def reset(self) -> VecEnvObs:
        obs = self._begin()
        self.reset_infos = [{} for _ in range(self.num_envs)]
        return obs

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = actions

    def step_wait(self) -> VecEnvStepReturn:
        if self._actions is None:
            raise RuntimeError("step_wait() before step_async(actions)")
        outcome = self._batch.step(self._action_map.orders(self._actions, self._obs), record=self.record)
        self.last_outcome = outcome if self.record else None
        rewards = outcome.reward.astype(np.float32)
        if not self._batch.done:
            self._obs = self._batch.observe().copy()
            return self._obs, rewards, np.zeros(self.num_envs, dtype=bool), list(self._empty_infos)
        terminal_obs = self._batch.observe().copy()
        kpis = self._batch.kpis()
        per_env = zip(*(kpis[name].tolist() for name in KPI_NAMES), strict=True)
        infos = [
            {
                "terminal_observation": terminal_obs[i],
                "TimeLimit.truncated": True,
                "episode_kpis": dict(zip(KPI_NAMES, values, strict=True)),
            }
            for i, values in enumerate(per_env)
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
