"""The base (s, S) policy of every item (a general policy's action held at 0) as an order policy, and
what it costs each item: what train_general.py scales rewards by and the benchmark compares with.

Kept apart from :mod:`envs.general`, which recommend.py imports, because it needs the scenario,
the observation and the simulator.
"""

from __future__ import annotations

import numpy as np

from envs.assortment import SkuView
from envs.batch import run_batch
from envs.errors import UserError
from envs.general import MAX_LEAD_TIME, ItemParameters, level_orders, positions
from envs.paths import ExogenousPaths
from envs.scenario import AnyScenario


def items_of(
    scenario: AnyScenario, view: SkuView, max_lead_time: int = MAX_LEAD_TIME, parameters: np.ndarray | None = None
) -> ItemParameters:
    """The parameters of a scenario's items (``view.parameters``, or ``parameters`` of the same shape, e.g.
    estimated on other days), or a UserError naming what a general policy cannot order for."""
    items = ItemParameters.from_view(view.parameters if parameters is None else parameters)
    reason = items.out_of_range(max_lead_time)
    if reason is not None:
        raise UserError(f"{scenario.name}: a general policy cannot order for items with {reason}")
    return items


class BasePolicy:
    """The base (s, S) policy of every item (a general policy's action held at 0), as an order policy
    (see :class:`envs.policy.Policy`) of a single item or an assortment."""

    name = "base"

    def __init__(self, scenario: AnyScenario, view: SkuView | None = None, items: ItemParameters | None = None) -> None:
        self.view = view if view is not None else SkuView(scenario)
        self.items = items if items is not None else items_of(scenario, self.view)
        self.single = self.view.layout.system.single

    def actions(self, rows: np.ndarray) -> np.ndarray:
        """The actions (n, J) for SkuView rows (n, J, width): 0, the base policy itself."""
        return np.zeros(rows.shape[:2])

    def act(self, obs: np.ndarray) -> np.ndarray:
        rows = self.view.rows(np.asarray(obs, dtype=np.float32))
        orders = level_orders(self.actions(rows), positions(rows, self.items), self.items)
        return orders[:, 0] if self.single else orders

    def params(self) -> dict[str, str]:
        return {"policy": "base (s, S) of envs.general"}


def base_costs(
    scenario: AnyScenario, view: SkuView, paths: ExogenousPaths, warmup: int, items: ItemParameters | None = None
) -> np.ndarray:
    """Each item's average cost per period (J,) under the base policy (of ``items``, default the scenario's)
    on ``paths`` (all episodes pooled)."""
    result = run_batch(BasePolicy(scenario, view, items), scenario, paths, warmup=warmup)
    return result.point_kpis["avg_cost"].mean(axis=0)
