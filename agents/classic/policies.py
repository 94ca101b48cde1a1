"""Classic order policies: base-stock, capped base-stock, (s, S) and (r, Q).

Every policy acts on the inventory position (on hand net of backlog plus everything on order)
and accepts its parameters as scalars or as arrays with one entry per row of the observation
batch, so that a whole grid of candidate parameters is simulated in one batched run.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from envs.layout import ObservationLayout
from envs.rules import normal_form, reorder_rule

IntOrArray = int | np.ndarray


class _OrderUpToPolicy:
    name = "classic"

    def __init__(self, layout: ObservationLayout) -> None:
        self.columns = layout.position_columns()  # a single item's stock and pipeline entries
        self._ones = np.ones(self.columns.stop - self.columns.start, dtype=np.float32)

    def _position(self, obs: np.ndarray) -> np.ndarray:
        # a product with ones, not .sum(axis=1): numpy sums short rows one at a time (50 times slower)
        return np.rint(np.asarray(obs, dtype=np.float32)[:, self.columns] @ self._ones).astype(np.int64)


class BaseStock(_OrderUpToPolicy):
    """Order up to ``S`` on the inventory position every period."""

    name = "base_stock"

    def __init__(self, S: IntOrArray, layout: ObservationLayout) -> None:
        super().__init__(layout)
        self.S = S

    def act(self, obs: np.ndarray) -> np.ndarray:
        return reorder_rule(self._position(obs), *normal_form(self.name, S=self.S))

    def params(self) -> dict[str, Any]:
        return {"S": int(self.S)}


class CappedBaseStock(_OrderUpToPolicy):
    """Order up to ``S`` but never more than ``cap`` units at once (strong for lost sales)."""

    name = "capped_base_stock"

    def __init__(self, S: IntOrArray, cap: IntOrArray, layout: ObservationLayout) -> None:
        super().__init__(layout)
        self.S, self.cap = S, cap

    def act(self, obs: np.ndarray) -> np.ndarray:
        return reorder_rule(self._position(obs), *normal_form(self.name, S=self.S, cap=self.cap))

    def params(self) -> dict[str, Any]:
        return {"S": int(self.S), "cap": int(self.cap)}


class SSPolicy(_OrderUpToPolicy):
    """(s, S): when the inventory position is at or below ``s``, order up to ``S``."""

    name = "s_S"

    def __init__(self, s: IntOrArray, S: IntOrArray, layout: ObservationLayout) -> None:
        super().__init__(layout)
        if np.any(np.asarray(S) <= np.asarray(s)):
            raise ValueError(f"(s, S) needs S > s, got s={s}, S={S}")
        self.s, self.S = s, S

    def act(self, obs: np.ndarray) -> np.ndarray:
        return reorder_rule(self._position(obs), *normal_form(self.name, s=self.s, S=self.S))

    def params(self) -> dict[str, Any]:
        return {"s": int(self.s), "S": int(self.S)}


class ReorderPointQuantity(_OrderUpToPolicy):
    """(r, Q) with the EOQ batch: when the position is at or below ``r``, order the smallest
    multiple of ``Q`` that lifts it above ``r``."""

    name = "eoq"

    def __init__(self, r: IntOrArray, Q: IntOrArray, layout: ObservationLayout) -> None:
        super().__init__(layout)
        if np.any(np.asarray(Q) < 1):
            raise ValueError(f"(r, Q) needs Q >= 1, got Q={Q}")
        self.r, self.Q = r, Q

    def act(self, obs: np.ndarray) -> np.ndarray:
        return reorder_rule(self._position(obs), *normal_form(self.name, r=self.r, Q=self.Q))

    def params(self) -> dict[str, Any]:
        return {"r": int(self.r), "Q": int(self.Q)}


class RandomOrders:
    """Orders drawn uniformly from 0..max_order for every stock point, every period: the floor any
    policy worth running must clear. Seeded: the same seed gives the same orders.

    Args:
        max_order: the capacity of each stock point (J,).
        seed: seed of the orders.
        single: return (n,) orders (one stock point) instead of (n, J).
    """

    name = "random"

    def __init__(self, max_order: np.ndarray, seed: int, single: bool) -> None:
        self.max_order, self.seed, self.single = np.asarray(max_order), seed, single
        self._rng = np.random.default_rng(seed)

    def act(self, obs: np.ndarray) -> np.ndarray:
        orders = self._rng.integers(0, self.max_order + 1, size=(len(obs), len(self.max_order)))
        return orders[:, 0] if self.single else orders

    def params(self) -> dict[str, Any]:
        return {"seed": self.seed}
