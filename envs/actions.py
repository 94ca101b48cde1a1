"""Action and observation spaces of a scenario, and the mapping from an agent's actions to orders.

One stock point: ``Discrete(R + 1)`` (``action: discrete``) or ``Box(-1, 1, (1,))`` mapped
linearly onto 0..R and rounded (``action: continuous``). A network of J stock points, one agent
ordering for all: ``MultiDiscrete([R_1 + 1, ..., R_J + 1])`` or ``Box(-1, 1, (J,))``, in the
layout's stock-point order. With ``action_meaning: quantity`` the value is the order and R is
``max_order``; with ``level`` it is an order-up-to level of the point's echelon inventory
position (for one stock point, its inventory position): the order is the level minus that
position, at least 0. With ``correction`` (continuous actions) the action corrects the order
of a classic policy, ``action_base``: the order is that policy's order plus round(a * R),
R = ``max_correction`` (default max_order), so an agent starts from the classic policy (a = 0)
and learns where to depart from it. For a network the classic policy is echelon base-stock
(each point orders up to its level on its echelon inventory position) and each point's action
corrects its own order. Orders are clipped to 0..max_order.
"""

from __future__ import annotations

import numba
import numpy as np
from gymnasium import spaces

from envs.errors import UserError
from envs.layout import ObservationLayout
from envs.rules import reorder_rule
from envs.scenario import AnyScenario, Scenario

# What an action means (the scenario's action_meaning), as the compiled mapping reads it.
MEANINGS = {"quantity": 0, "level": 1, "correction": 2}
QUANTITY, LEVEL, CORRECTION = MEANINGS.values()


_compiled_rule = numba.njit(cache=True)(reorder_rule)


def observation_space(layout: ObservationLayout) -> spaces.Box:
    """Non-negative entries, except net inventories (a backlog makes them negative) and demand features."""
    low = np.zeros(layout.dim, dtype=np.float32)
    for block in layout.blocks:
        if block.kind == "features" or (block.kind == "stock" and block.names[0].endswith("net_inventory")):
            low[block.columns] = -np.inf
    return spaces.Box(low=low, high=np.inf, shape=(layout.dim,), dtype=np.float32)


class ActionMap:
    """The action space of a scenario and how its actions become orders (see the module docstring)."""

    def __init__(self, scenario: AnyScenario, layout: ObservationLayout) -> None:
        system = layout.system
        self.single = system.single
        self.continuous = scenario.action == "continuous"
        self.meaning = MEANINGS[scenario.action_meaning]
        # action_base in envs.rules' normal form, one row per stock point
        self.rule = np.zeros((system.n_points, 4), dtype=np.int64)
        if self.meaning == CORRECTION:
            if scenario.action_base is None:
                example = "{policy: base_stock, S: 20}" if self.single else "{policy: echelon_base_stock, levels: ...}"
                raise UserError(
                    f"{scenario.name}: action_meaning: correction needs action_base, the policy it corrects "
                    f"(e.g. {example}); train.py finds one with correct_classic: true"
                )
            if isinstance(scenario, Scenario):
                self.rule[0] = scenario.action_base.normal_form()
            else:
                self.rule[:] = scenario.action_base.normal_forms(system.names)
        self.ranges = system.action_ranges
        self.max_order = system.max_order
        self._range_f32 = self.ranges.astype(np.float32)
        # the observation columns whose sum is each point's echelon position (CSR: point j's are
        # _columns[_start[j]:_start[j + 1]])
        matrix = layout.position_matrix(echelon=True)
        self._columns = np.flatnonzero(matrix.T.reshape(-1)) % layout.dim
        self._start = np.concatenate([[0], np.cumsum((matrix > 0).sum(axis=0))]).astype(np.int64)
        points = system.n_points
        if self.continuous:
            self.space: spaces.Space = spaces.Box(low=-1.0, high=1.0, shape=(points,), dtype=np.float32)
        elif self.single:
            self.space = spaces.Discrete(int(self.ranges[0]) + 1)
        else:
            self.space = spaces.MultiDiscrete(self.ranges + 1)

    def orders(self, actions: np.ndarray, obs: np.ndarray) -> np.ndarray:
        """Orders for ``actions`` taken on observations ``obs``: (n,) for one stock point, (n, J) for a network.

        A continuous action a in [-1, 1] (clipped) maps to round((a + 1) / 2 * R) in float32, half
        to even (as the exported ONNX graphs compute it); a level becomes the level minus the
        echelon inventory position read from ``obs`` (rounded); a correction is round(a * R) in
        float32 plus the order of ``action_base`` at that position.
        """
        obs = np.ascontiguousarray(obs, dtype=np.float32)
        n = len(obs)
        actions = np.ascontiguousarray(actions, dtype=np.float32 if self.continuous else np.int64).reshape(n, -1)
        orders = np.empty((n, len(self.max_order)), dtype=np.int64)
        _map_actions(
            actions,
            self.continuous,
            self._range_f32,
            self.meaning,
            self.rule,
            self._start,
            self._columns,
            obs,
            self.max_order,
            orders,
        )
        return orders[:, 0] if self.single else orders


@numba.njit(cache=True)
def _map_actions(actions, continuous, ranges, meaning, rule, start, columns, obs, max_order, out):
    n, points = out.shape
    one, two = np.float32(1.0), np.float32(2.0)
    for i in range(n):
        for j in range(points):
            a = actions[i, j]
            position = np.int64(0)
            if meaning != QUANTITY:
                total = np.float32(0.0)
                for k in range(start[j], start[j + 1]):
                    total += obs[i, columns[k]]
                position = np.int64(np.rint(total))
            if meaning == CORRECTION:
                base = _compiled_rule(position, rule[j, 0], rule[j, 1], rule[j, 2], rule[j, 3])
                value = np.int64(np.rint(min(max(a, -one), one) * ranges[j])) + base
            else:
                # a continuous action in float32, as the exported graphs compute it
                clipped = min(max(a, -one), one)
                value = np.int64(np.rint((clipped + one) / two * ranges[j])) if continuous else np.int64(a)
                if meaning == LEVEL:
                    value -= position
            out[i, j] = min(max(value, 0), max_order[j])
