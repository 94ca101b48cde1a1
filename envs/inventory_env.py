"""InventoryEnv: one inventory system as a Gymnasium environment."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from envs.kernel import InventoryBatch, KPI_NAMES, draw_paths, observation_names, orders_from_actions
from envs.scenario import Scenario, load_scenario


def make_spaces(scenario: Scenario) -> tuple[spaces.Box, spaces.Space]:
    """Observation and action spaces of a scenario (shared by every face)."""
    dim = len(observation_names(scenario))
    low = np.zeros(dim, dtype=np.float32)
    if not scenario.lost_sales:
        low[0] = -np.inf  # net inventory goes negative with a backlog
    n_features = len(scenario.demand.feature_names) * scenario.feature_lookahead
    if n_features:
        low[-n_features:] = -np.inf  # features are whatever the history or calendar says
    observation_space = spaces.Box(low=low, high=np.inf, shape=(dim,), dtype=np.float32)
    if scenario.action == "continuous":
        action_space: spaces.Space = spaces.Box(low=-1.0, high=1.0, shape=(1,), dtype=np.float32)
    else:
        action_space = spaces.Discrete(scenario.action_range + 1)
    return observation_space, action_space


class InventoryEnv(gym.Env):
    """
    ## Description

    A single stocked item reviewed once per period. Each period, in this order: the agent orders
    q units (paying fixed_order_cost if q > 0 plus unit_cost * q); the order due now arrives
    (lead time 0: the order just placed; 1: last period's); demand is drawn and met from stock,
    the unmet part lost or backordered (a backlog is served first from arrivals); holding cost is
    charged on what is left. Lead times may be stochastic, with or without overtaking. Demand is
    parametric, seasonal with promotions, or replayed from a CSV history (see ``envs.demand``).

    ## Action Space

    ``Discrete(R + 1)`` (``action: discrete``, for DQN), or ``Box(-1, 1, (1,))`` mapped linearly
    onto 0..R and rounded (``action: continuous``, for PPO). With ``action_meaning: quantity``
    (the default) the value is the order quantity and R = max_order; with ``level`` it is an
    order-up-to level y, the order is max(0, y - inventory position) clipped to max_order, and
    R = max_level (default (max lead time + 1) * max_order). Levels keep random exploration
    from piling up stock, and a constant action is a base-stock policy.

    ## Observation Space

    A float32 ``Box`` whose entries are named by :attr:`observation_names`:

    | Entry                  | Meaning                                                     | Min   | Max |
    |------------------------|-------------------------------------------------------------|-------|-----|
    | on_hand / net_inventory| units on hand (minus backlog when backordering)             | 0/-inf| inf |
    | arriving_in_k          | units on order arriving k periods from now, k < max lead    | 0     | inf |
    | demand_lag_k           | demand k periods ago, k = 1..demand_history                 | 0     | inf |
    | FEATURE_ahead_j        | demand feature of period t + j, j < feature_lookahead       | -inf  | inf |

    ## Rewards

    Minus the period's cost (ordering + holding + shortage), plus price times units shipped
    when the scenario has a price.

    ## Starting State

    ``initial_on_hand`` units on hand, nothing on order, no backlog. A new demand path (and
    lead-time path) is drawn from the environment's generator at every reset.

    ## Episode End

    The episode is truncated after ``horizon`` periods; it never terminates. The last step's
    info carries ``episode_kpis``: average cost per period, fill rate, cycle service level,
    average on hand, turnover, lost units and order frequency.

    ## Arguments

    ``gymnasium.make("Inventory-v0", scenario="lost_sales_L2_p9", **overrides)``: a scenario name
    in configs/scenarios, a YAML path or a :class:`~envs.scenario.Scenario`, and keyword
    overrides of any scenario key (``shortage_cost=19``, ``action="continuous"``).

    Each step's info holds the period's ordered, arrived, demand, sales, backlog_filled, lost,
    backordered, on_hand, backlog, and the cost split: ordering_cost, holding_cost,
    shortage_cost, revenue, cost.
    """

    metadata = {"render_modes": ["ansi"]}

    def __init__(self, scenario: str | Scenario = "lost_sales_L2_p9", render_mode: str | None = None, **overrides: Any):
        self.scenario = load_scenario(scenario, **overrides)
        self.observation_space, self.action_space = make_spaces(self.scenario)
        self.observation_names = observation_names(self.scenario)
        self.render_mode = render_mode
        self._batch = InventoryBatch(self.scenario, 1)
        self._last_info: dict[str, Any] = {}

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        self._batch.begin(draw_paths(self.scenario, self.np_random, 1))
        self._last_info = {}
        return self._batch.observe()[0], {}

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        order = orders_from_actions(self.scenario, np.asarray(action).reshape(1, -1), self._batch.observe())
        outcome = self._batch.step(order)
        info: dict[str, Any] = outcome.row(0)
        truncated = self._batch.done
        if truncated:
            kpis = self._batch.kernel.totals.kpis()
            info["episode_kpis"] = {name: kpis[name][0].item() for name in KPI_NAMES}
        self._last_info = info
        return self._batch.observe()[0], float(outcome.reward[0]), False, truncated, info

    def render(self) -> str | None:
        if self.render_mode != "ansi":
            return None
        info = self._last_info
        if not info:
            return f"t=0 on_hand={self.scenario.initial_on_hand}"
        return (
            f"t={self._batch.t} ordered={info['ordered']} arrived={info['arrived']} demand={info['demand']} "
            f"sales={info['sales']} lost={info['lost']} backlog={info['backlog']} on_hand={info['on_hand']} "
            f"cost={info['cost']:.2f}"
        )
