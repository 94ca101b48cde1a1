"""SkuVecEnv: every item of a population of single-item systems as an environment of its own, for one
general policy (see :mod:`envs.general` for what each item observes and what its action means);
ConstrainedSkuVecEnv: the same for the items of an assortment sharing a warehouse, as the
constrained general policy sees them (:mod:`envs.constrained`)."""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces
from stable_baselines3.common.vec_env.base_vec_env import VecEnvObs, VecEnvStepReturn

from envs.assortment import SkuView
from envs.batch import InventoryBatch
from envs.constrained import CONSTRAINED_FEATURES, CONSTRAINED_MAX_LEAD_TIME, ConstrainedItems, StorageLimit, floored
from envs.errors import UserError
from envs.general import FEATURES, PARAMETERS, ItemParameters, item_features, level_orders, positions
from envs.general_base import base_costs, items_of
from envs.kernel import PeriodOutcome
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

    features: tuple[str, ...] = FEATURES  # what an item observes
    shares_limits = False  # whether the items may share limits

    def __init__(self, scenario: AnyScenario, copies: int, seed: int | None = None, scale_episodes: int = 16) -> None:
        batch = InventoryBatch(scenario, copies)
        self.view = SkuView(scenario, batch.layout)
        if batch.system.capacity_kind.size and not self.shares_limits:
            raise UserError(f"{scenario.name}: a general policy trains on items without shared limits")
        self.items = self._items(scenario, batch)
        self.n_items = batch.system.n_points
        box = spaces.Box(low=-np.inf, high=np.inf, shape=(len(self.features),), dtype=np.float32)
        super().__init__(batch, self.n_items, box, spaces.Box(-1.0, 1.0, (1,), dtype=np.float32))
        self.observation_names = list(self.features)
        scale_paths = PathSampler(scenario, batch.system).draw(np.random.default_rng(SCALE_SEED), scale_episodes)
        costs = base_costs(scenario, self.view, scale_paths, scenario.horizon // 4, self.items)
        self.cost_scale = np.maximum(costs, 1e-9)
        self._rows = np.zeros((copies, self.n_items, len(self.view.names)), dtype=np.float32)
        if seed is not None:
            self.seed(seed)

    def _items(self, scenario: AnyScenario, batch: InventoryBatch) -> ItemParameters:
        """The items' parameters the base policy orders with (and the reward scale is measured on)."""
        return items_of(scenario, self.view)

    def _features(self, rows: np.ndarray) -> np.ndarray:
        """The features (n, J, len(features)) of SkuView rows (n, J, width)."""
        return item_features(rows, self.items)

    def _period_costs(self, outcome: PeriodOutcome) -> np.ndarray:
        """What each item's reward charges it for a period (copies, J): its cost."""
        return outcome.per_point("cost")

    def _observe(self) -> np.ndarray:
        """Each item's features (num_envs, len(features)); the rows they came from stay in ``_rows``."""
        self._rows = self.view.rows(self._batch.observe())
        return self._features(self._rows).reshape(self.num_envs, -1)

    def reset(self) -> VecEnvObs:
        self._begin()
        self.reset_infos = [{} for _ in range(self.num_envs)]
        return self._observe()

    def step_wait(self) -> VecEnvStepReturn:
        actions = np.asarray(self._pending_actions(), dtype=np.float64).reshape(self._batch.n, self.n_items)
        orders = level_orders(actions, positions(self._rows, self.items), self.items)
        outcome = self._batch.step(orders, record=True)
        rewards = (-self._period_costs(outcome) / self.cost_scale).reshape(-1).astype(np.float32)
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


class ConstrainedSkuVecEnv(SkuVecEnv):
    """:class:`SkuVecEnv` over an assortment whose items share a storage limit (the kernel turns away
    arrivals beyond it, :mod:`envs.kernel`), each item observing :data:`envs.constrained.CONSTRAINED_FEATURES`
    with the capacity price ``price`` (mean demand floored, :func:`envs.constrained.floored`); its action
    moves the order-up-to level of its priced base policy.

    Its reward is minus its Lagrangian period cost, its own cost (including the overflow cost of its
    arrivals turned away) plus ``price`` x volume x its stock on hand at the period's end, over what
    the priced base policy costs it under the limit (its cost alone: a scale). The price term charges
    each item for the room it takes from the others (Everett 1963: at the right price the items'
    separate problems together solve the constrained one); rewarded with its own cost alone, each
    item gains by holding more, and the others pay in arrivals turned away (a first run, 8M steps
    without the term, raised the training items' cost by 5%).
    """

    features = CONSTRAINED_FEATURES
    shares_limits = True

    def __init__(
        self, scenario: AnyScenario, copies: int, price: float, seed: int | None = None, scale_episodes: int = 16
    ) -> None:
        self.price = price
        super().__init__(scenario, copies, seed, scale_episodes)

    def _items(self, scenario: AnyScenario, batch: InventoryBatch) -> ItemParameters:
        raw = items_of(scenario, self.view, CONSTRAINED_MAX_LEAD_TIME, floored(self.view.parameters))
        volume = self.view.parameters[:, PARAMETERS.index("volume")]
        self.constrained = ConstrainedItems(raw, volume, self.price, StorageLimit.of(batch.system))
        return self.constrained.priced

    def _features(self, rows: np.ndarray) -> np.ndarray:
        return self.constrained.features(rows)

    def _period_costs(self, outcome: PeriodOutcome) -> np.ndarray:
        return outcome.per_point("cost") + self.price * self.constrained.volume * outcome.per_point("on_hand")
