"""Base-stock policies for networks of stock points: one order-up-to level per point.

- Echelon base-stock: point j orders up to S_j on its echelon inventory position (its own
  inventory position plus those of every point below it). Clark and Scarf (1960) showed it
  optimal for serial systems with backorders (:mod:`agents.exact.serial` gives the levels);
  for distribution systems it is the standard heuristic (with an allocation rule for a short
  warehouse: the scenario's).
- Installation base-stock: point j orders up to S_j on its own inventory position (net
  inventory + in transit + awaited), seeing nothing below it.

Each point's order is capped by its max_order by the face that runs the policy; what a short
supplier ships is shared by the scenario's allocation rule. Levels may be one row (J,) or one
row per observation (n, J), so that many candidate levels are simulated in one batch.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from envs.layout import ObservationLayout

KINDS = ("echelon", "installation")


class NetworkBaseStock:
    """Order up to a level per stock point on its echelon (or installation) inventory position.

    Args:
        levels: the order-up-to levels, (J,) in the layout's stock-point order, or (n, J).
        layout: the scenario's observation layout.
        kind: ``echelon`` or ``installation``.
    """

    def __init__(self, levels: np.ndarray, layout: ObservationLayout, kind: str = "echelon") -> None:
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
        self.levels = np.asarray(levels, dtype=np.int64)
        self.kind = kind
        self.name = f"{kind}_base_stock"
        self.stock_points = layout.system.names
        self.matrix = layout.position_matrix(echelon=kind == "echelon")

    def act(self, obs: np.ndarray) -> np.ndarray:
        positions = np.rint(np.asarray(obs, dtype=np.float32) @ self.matrix).astype(np.int64)
        return np.maximum(self.levels - positions, 0)

    def params(self) -> dict[str, Any]:
        levels = self.levels.reshape(-1, len(self.stock_points))[0]
        return {point: int(level) for point, level in zip(self.stock_points, levels, strict=True)}
