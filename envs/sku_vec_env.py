"""SkuVecEnv: every item of a population of single-item systems as an environment of its own, for one
general policy (see :mod:`envs.general` for what each item observes and what its action means)."""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces
from stable_baselines3.common.vec_env.base_vec_env import VecEnvObs, VecEnvStepReturn

from envs.assortment import SkuView
from envs.batch import InventoryBatch
from envs.errors import UserError
from envs.general import FEATURES, item_features, level_orders, positions
from envs.general_base import base_costs, items_of
from envs.kpis import POINT_KPI_NAMES, point_kpis
from envs.paths import PathSampler
from envs.scenario import AnyScenario
from envs.vec_env import BatchVecEnv

# Seed of the episodes each item's reward scale (its base policy's cost) is measured on.
SCALE_SEED = 3_000_017


class SkuVecEnv(BatchVecEnv):
    """``copies`` copies of a population (an assortment without shared limits, e.g.
    :func:`envs.population.population_scenario`), each of its J items one environment: ``copies * J``
    environments, environment ``m * J + j`` being item j of copy m.

    Observation: ``FEATURES`` of the item (float32); action: ``Box(-1, 1, (1,))``, the shift of the
    order-up-to level of the item's base policy; reward: minus the item's period cost divided by its
    base policy's average cost per period (:func:`envs.general_base.base_costs`, on ``scale_episodes``
    episodes of seed :data:`SCALE_SEED`, the first quarter of each left out). Episodes of all items end together after
    ``horizon`` periods and are reset automatically, each copy drawing the demand of all its
    items from its own generator (after ``seed(s)``: copy m from seed ``s + m * J``). The info of
    an ended episode holds ``terminal_observation``, ``TimeLimit.truncated`` and the item's
    ``episode_kpis``; any other step's info is an empty read-only mapping.
    """

    def __init__(self, scenario: AnyScenario, copies: int, seed: int | None = None, scale_episodes: int = 16) -> None:
        batch = InventoryBatch(scenario, copies)
        self.view = SkuView(scenario, batch.layout)
        self.items = items_of(scenario, self.view)
        if batch.system.capacity_kind.size:
            raise UserError(f"{scenario.name}: a general policy trains on items without shared limits")
        self.n_items = batch.system.n_points
        box = spaces.Box(low=-np.inf, high=np.inf, shape=(len(FEATURES),), dtype=np.float32)
        super().__init__(batch, self.n_items, box, spaces.Box(-1.0, 1.0, (1,), dtype=np.float32))
        self.observation_names = list(FEATURES)
        scale_paths = PathSampler(scenario, batch.system).draw(np.random.default_rng(SCALE_SEED), scale_episodes)
        self.cost_scale = np.maximum(base_costs(scenario, self.view, scale_paths, scenario.horizon // 4), 1e-9)
        self._rows = np.zeros((copies, self.n_items, len(self.view.names)), dtype=np.float32)
        if seed is not None:
            self.seed(seed)

    def _observe(self) -> np.ndarray:
        """Each item's features (num_envs, len(FEATURES)); the rows they came from stay in ``_rows``."""
        self._rows = self.view.rows(self._batch.observe())
        return item_features(self._rows, self.items).reshape(self.num_envs, -1)

    def reset(self) -> VecEnvObs:
        self._begin()
        self.reset_infos = [{} for _ in range(self.num_envs)]
        return self._observe()

    def step_wait(self) -> VecEnvStepReturn:
        actions = np.asarray(self._pending_actions(), dtype=np.float64).reshape(self._batch.n, self.n_items)
        orders = level_orders(actions, positions(self._rows, self.items), self.items)
        outcome = self._batch.step(orders, record=True)
        rewards = (-outcome.per_point("cost") / self.cost_scale).reshape(-1).astype(np.float32)
        if not self._batch.done:
            return self._observe(), rewards, np.zeros(self.num_envs, dtype=bool), list(self._empty_infos)
        terminal = self._observe()
        kpis = point_kpis(self._batch.kernel.totals, self._batch.kernel.periods, self._batch.system)
        columns = [kpis[name].reshape(-1).tolist() for name in POINT_KPI_NAMES]
        infos: list[dict[str, Any]] = [
            {
                "terminal_observation": terminal[e],
                "TimeLimit.truncated": True,
                "episode_kpis": dict(zip(POINT_KPI_NAMES, values, strict=True)),
            }
            for e, values in enumerate(zip(*columns, strict=True))
        ]
        self._begin()
        return self._observe(), rewards, np.ones(self.num_envs, dtype=bool), infos
