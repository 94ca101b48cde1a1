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


class BatchVecEnv(VecEnv):
    """What the VecEnv faces over an :class:`InventoryBatch` share: the batch's systems stepping together,
    each seen by the agent as ``envs_per_system`` environments, each system drawing its demand at every
    reset from its own generator (after ``seed(s)``: the generator of seed ``s + e``, e the index of the
    system's first environment), and SB3's attribute plumbing (no per-environment objects)."""

    def __init__(
        self,
        batch: InventoryBatch,
        envs_per_system: int,
        observation_space: gym.spaces.Space,
        action_space: gym.spaces.Space,
    ) -> None:
        self.scenario = scenario = batch.scenario
        self._batch = batch
        systems = batch.n
        self._per_system = envs_per_system
        self.render_mode = None
        super().__init__(systems * envs_per_system, observation_space, action_space)
        self._sampler = PathSampler(scenario, self._batch.system)
        # in a numba typed List, so that the demand of every system is drawn in one compiled loop
        self._generators = typed.List([seeding.np_random(None)[0] for _ in range(systems)])
        self._empty_infos: list[Any] = [EMPTY_INFO] * self.num_envs
        self._actions: np.ndarray | None = None

    def _begin(self) -> None:
        """New episodes for every system (the seeds given since the last reset applied first)."""
        for i, seed in enumerate(self._seeds[:: self._per_system]):
            if seed is not None:
                self._generators[i] = seeding.np_random(seed)[0]
        self._reset_seeds()
        self._batch.begin(self._sampler.draw_each(self._generators))

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = actions

    def _pending_actions(self) -> np.ndarray:
        if self._actions is None:
            raise RuntimeError("step_wait() before step_async(actions)")
        return self._actions

    def close(self) -> None:
        pass

    def get_attr(self, attr_name: str, indices: VecEnvIndices = None) -> list[Any]:
        return [getattr(self, attr_name) for _ in self._get_indices(indices)]

    def set_attr(self, attr_name: str, value: Any, indices: VecEnvIndices = None) -> None:
        setattr(self, attr_name, value)

    def env_method(
        self, method_name: str, *method_args: Any, indices: VecEnvIndices = None, **method_kwargs: Any
    ) -> list[Any]:
        raise NotImplementedError(f"{type(self).__name__} has no per-environment objects to call methods on")

    def env_is_wrapped(self, wrapper_class: type[gym.Wrapper], indices: VecEnvIndices = None) -> list[bool]:
        return [False for _ in self._get_indices(indices)]

    def get_images(self) -> Sequence[np.ndarray | None]:
        return [None for _ in range(self.num_envs)]


class InventoryVecEnv(BatchVecEnv):
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
        batch = InventoryBatch(load_scenario(scenario, **overrides), num_envs)
        layout = batch.layout
        self._action_map = ActionMap(batch.scenario, layout)
        super().__init__(batch, 1, observation_space(layout), self._action_map.space)
        self.observation_names = layout.names
        self.stock_points = list(layout.system.names)
        self._obs = np.zeros((num_envs, layout.dim), dtype=np.float32)  # what the pending actions saw
        self.record = record
        self.last_outcome: PeriodOutcome | None = None
        if seed is not None:
            self.seed(seed)

    def _observe_start(self) -> np.ndarray:
        self._begin()
        self._obs = self._batch.observe().copy()
        return self._obs

    def reset(self) -> VecEnvObs:
        obs = self._observe_start()
        self.reset_infos = [{} for _ in range(self.num_envs)]
        return obs

    def step_wait(self) -> VecEnvStepReturn:
        actions = self._pending_actions()
        outcome = self._batch.step(self._action_map.orders(actions, self._obs), record=self.record)
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
        return self._observe_start(), rewards, np.ones(self.num_envs, dtype=bool), infos
