"""InventoryEnv: one inventory system (a single item or a network of stock points) as a Gymnasium environment."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from envs.actions import ActionMap, observation_space
from envs.batch import InventoryBatch
from envs.kpis import KPI_NAMES, POINT_KPI_NAMES, point_kpis
from envs.paths import PathSampler
from envs.scenario import AnyScenario, load_scenario


class InventoryEnv(gym.Env):
    """
    ## Description

    An inventory system reviewed once per period: a single stocked item, or a network of stock
    points (a serial chain or a distribution tree) in which each point has one supplier,
    another point or the outside supplier. Each period, in this order: every stock point
    orders (paying fixed_order_cost if it orders); then, from the top of the tree down, each
    point receives what its supplier ships, takes in the shipment due now (lead time 0: what
    was just shipped), serves its customers' demand (the unmet part lost or backordered; a
    backlog is served first), and ships to the points it supplies, backordering what it cannot
    ship (shared by the scenario's allocation rule when it is short); holding cost is charged
    on what is left and transit holding cost on what is on its way. The full event order is in
    ``envs.kernel``. Lead times may be stochastic, with or without overtaking. Demand is
    parametric, seasonal with promotions, or replayed from a CSV history (``envs.demand``).

    ## Action Space

    One stock point: ``Discrete(R + 1)`` (``action: discrete``, for DQN), or ``Box(-1, 1, (1,))``
    mapped linearly onto 0..R and rounded (``action: continuous``, for PPO). A network of J
    points, one agent ordering for all: ``MultiDiscrete([R_1 + 1, ..., R_J + 1])`` or
    ``Box(-1, 1, (J,))``, in the order of :attr:`stock_points`. With ``action_meaning:
    quantity`` (the default) the value is the order quantity and R = max_order; with ``level``
    it is an order-up-to level y of the point's echelon inventory position (one point: its
    inventory position), the order is max(0, y - position) clipped to max_order, and R =
    max_level. Levels keep random exploration from piling up stock, and a constant action is a
    (echelon) base-stock policy. With ``correction`` (one point, continuous actions) the order is
    the order of the classic policy ``action_base`` at the inventory position plus round(a * R),
    R = max_correction (default max_order), clipped to 0..max_order: a = 0 is that policy.

    ## Observation Space

    A float32 ``Box`` whose entries are named by :attr:`observation_names` (blocks in
    ``envs.layout``; a network's names are prefixed with the stock point, ``warehouse.on_hand``):

    | Entry                  | Meaning                                                       | Min    | Max |
    |------------------------|---------------------------------------------------------------|--------|-----|
    | on_hand / net_inventory| units on hand (minus customer backlog and what it owes below) | 0/-inf | inf |
    | arriving_in_k          | units in transit arriving k periods from now, k < max lead    | 0      | inf |
    | awaiting               | units ordered, not yet shipped by its (internal) supplier     | 0      | inf |
    | demand_lag_k           | customer demand k periods ago, k = 1..demand_history          | 0      | inf |
    | FEATURE_ahead_j        | demand feature of period t + j, j < feature_lookahead         | -inf   | inf |

    ## Rewards

    Minus the period's cost over all stock points (ordering + holding + transit holding +
    shortage), plus price times units shipped to customers where a price is given.

    ## Starting State

    ``initial_on_hand`` units at each point, nothing in transit or owed, no backlog. A new
    demand path (and lead-time path) is drawn from the environment's generator at every reset.

    ## Episode End

    The episode is truncated after ``horizon`` periods; it never terminates. The last step's
    info carries ``episode_kpis`` (average cost per period, fill rate, cycle service level,
    average on hand, turnover, lost units, order frequency) and, for a network,
    ``stock_point_kpis`` (per point: the same plus average backlog and echelon stock).

    ## Arguments

    ``gymnasium.make("Inventory-v1", scenario="lost_sales_L2_p9", **overrides)``: a scenario name
    in configs/scenarios, a YAML path or a scenario object, and keyword overrides of any
    top-level scenario key (``shortage_cost=19``, ``action="continuous"``).

    Each step's info holds the period's ordered, shipped_in, arrived, demand, sales,
    backlog_filled, lost, backordered, shipped_out, on_hand, backlog, awaiting, in_transit and
    the cost split (ordering_cost, holding_cost, transit_holding_cost, shortage_cost, revenue,
    cost); for a network, ``cost``, ``reward`` and one such mapping per point under ``stock_points``.

    ## Version History

    - v1: networks of stock points (serial and distribution systems, allocation rules,
      internal backorders, transit holding costs); the kernel compiled with numba; iid demand
      and stochastic lead times drawn by inversion of their cdf from one uniform each (the same
      distributions as v0, other random streams: a seed gives other paths than under v0); info
      keys added (shipped_in, shipped_out, awaiting, in_transit, transit_holding_cost). A single
      item's observation and action layouts are those of v0. Added since, as optional scenario
      keys that leave the layout of a scenario without them as it was: ``forecast`` (observation
      entries ``forecast_mean_ahead_k`` and ``forecast_q{level}_ahead_k``), ``pack_size`` and
      ``min_order``, shared ``capacities`` with ``volume`` and ``overflow_cost``, assortments
      from an item master, ``sku``/``start``/``end`` of a csv demand, and ``action_meaning:
      correction`` with ``action_base`` and ``max_correction``.
    - v0: a single item (numpy kernel).
    """

    metadata = {"render_modes": ["ansi"]}  # noqa: RUF012  (gymnasium declares it an instance attribute)

    def __init__(
        self, scenario: str | AnyScenario = "lost_sales_L2_p9", render_mode: str | None = None, **overrides: Any
    ):
        self.scenario = load_scenario(scenario, **overrides)
        self._batch = InventoryBatch(self.scenario, 1)
        self.observation_names = self._batch.layout.names
        self.stock_points = list(self._batch.system.names)
        self.observation_space = observation_space(self._batch.layout)
        self._actions = ActionMap(self.scenario, self._batch.layout)
        self.action_space = self._actions.space
        self._sampler = PathSampler(self.scenario, self._batch.system)
        self.render_mode = render_mode
        self._last_info: dict[str, Any] = {}

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        self._batch.begin(self._sampler.draw(self.np_random, 1))
        self._last_info = {}
        return self._batch.observe()[0].copy(), {}

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        orders = self._actions.orders(np.asarray(action).reshape(1, -1), self._batch.observe())
        outcome = self._batch.step(orders)
        info: dict[str, Any] = outcome.row(0)
        truncated = self._batch.done
        if truncated:
            kpis = self._batch.kpis()
            info["episode_kpis"] = {name: kpis[name][0].item() for name in KPI_NAMES}
            if len(self.stock_points) > 1:
                by_point = point_kpis(self._batch.kernel.totals, self._batch.kernel.periods, self._batch.system)
                info["stock_point_kpis"] = {
                    point: {name: by_point[name][0, j].item() for name in POINT_KPI_NAMES}
                    for j, point in enumerate(self.stock_points)
                }
        self._last_info = info
        return self._batch.observe()[0].copy(), float(outcome.reward[0]), False, truncated, info

    def render(self) -> str | None:
        if self.render_mode != "ansi":
            return None
        info = self._last_info
        if not info:
            return f"t=0 on_hand={self._batch.system.initial_on_hand.tolist()}"
        fields = ("ordered", "arrived", "demand", "sales", "lost", "backlog", "on_hand")
        if len(self.stock_points) == 1:
            text = " ".join(f"{f}={info[f]}" for f in fields)
        else:
            text = " | ".join(
                f"{point}: " + " ".join(f"{f}={values[f]}" for f in fields)
                for point, values in info["stock_points"].items()
            )
        return f"t={self._batch.t} {text} cost={info['cost']:.2f}"
