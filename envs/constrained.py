"""A general policy under a shared storage limit: what it observes of the warehouse, and its priced base policy.

The general single-item policy (:mod:`envs.general`) orders for each item from the item's own
state and parameters. Items that share a warehouse (a storage limit of an assortment,
:mod:`envs.assortment`; arrivals beyond it are turned away by the kernel, :mod:`envs.kernel`)
compete for it, so the constrained variant sees, besides the item's features, the warehouse, and
its base policy carries a price on capacity:

- **The price.** Each item's holding cost h is replaced by h + lambda v (v its volume, lambda the
  capacity price per unit of volume and period, fixed for a policy and recorded with it), the
  Lagrangian relaxation of the limit (Everett 1963, "Generalized Lagrange multiplier method for
  solving problems of optimum allocation of resources", Operations Research 11(3); the per-SKU
  baselines of :mod:`agents.classic.assortment` use the same price). The base (s, S) policy, the
  action scale and the parameter features of :mod:`envs.general` are all computed from the priced
  items (:meth:`envs.general.ItemParameters.priced`), so that a = 0 is the priced base policy.
- **The features** (:data:`CONSTRAINED_FEATURES`): the item features of :mod:`envs.general` with
  the pipeline observed up to :data:`CONSTRAINED_MAX_LEAD_TIME` periods (the MABIM-like items have
  lead times up to 7), then, with V the limit and v_j the weight of item j in it:

  - ``warehouse_fill``: sum_j v_j max(stock_j, 0) / V, the warehouse's fill before this period's
    arrivals (what the kernel compares them with);
  - ``warehouse_due``: sum_j v_j arriving_in_0_j / V, what arrives this period (fill + due above 1:
    arrivals are turned away);
  - ``warehouse_inbound``: sum_j v_j (whole pipeline of j) / V;
  - ``fair_share``: log(V / (m v_j mu_j)) / 3, the periods of the item's own mean demand mu_j that
    its equal share of the warehouse (m items in the limit) holds;
  - ``capacity_price``: log(1 + lambda v_j / h_j) / 4, the price against the item's own holding cost;
  - ``recent_demand``: the mean of the demand the item observed (its ``demand_lag`` entries) / mu_j - 1,
    0 when the scenario observes no demand history.

  The three warehouse entries are the same for every item of one system; without a storage limit
  they are 0 (and ``fair_share`` is 0).

The items' mean demand and variance are floored at :data:`MIN_MEAN_DEMAND` (:func:`floored`): an item
of an item master may have sold nothing on the days its mean was estimated on.

Only numpy is needed here (the deploy path stays light).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from envs.general import FEATURES, MAX_LEAD_TIME, PARAMETERS, ItemParameters, item_features

# Longest lead time the constrained policy observes (its pipeline entries).
CONSTRAINED_MAX_LEAD_TIME = 8
ITEM_FEATURES = (
    "stock", *(f"arriving_in_{k}" for k in range(CONSTRAINED_MAX_LEAD_TIME)), *FEATURES[1 + MAX_LEAD_TIME :],
)  # fmt: skip
CONSTRAINT_FEATURES = ("warehouse_fill", "warehouse_due", "warehouse_inbound", "fair_share", "capacity_price")
CONSTRAINED_FEATURES = (*ITEM_FEATURES, *CONSTRAINT_FEATURES, "recent_demand")
STORAGE_KIND = 0  # envs.system.CAPACITY_KINDS.index("storage"), as envs.kernel.STORAGE
# An item whose estimated mean demand is below this (e.g. no sales in the days it was estimated on) is
# ordered for as if its mean demand and variance were this: the features are in units of the mean.
MIN_MEAN_DEMAND = 0.1


def floored(parameters: np.ndarray) -> np.ndarray:
    """A parameter table (J, len(PARAMETERS)) with mean demand and demand variance at least MIN_MEAN_DEMAND."""
    out = np.array(parameters, dtype=np.float64)
    for name in ("mean_demand", "demand_variance"):
        column = PARAMETERS.index(name)
        out[:, column] = np.maximum(out[:, column], MIN_MEAN_DEMAND)
    return out


@dataclass(frozen=True)
class StorageLimit:
    """The first storage limit of a system: its limit V and each item's weight in it (J,), 0 for non-members."""

    limit: float
    weights: np.ndarray

    @staticmethod
    def of(system: Any) -> StorageLimit:
        """From a compiled :class:`envs.system.System`; without a storage limit an infinite V and zero weights."""
        weights = np.zeros(system.n_points)
        for g in range(len(system.capacity_kind)):
            if system.capacity_kind[g] == STORAGE_KIND:
                members = slice(system.capacity_start[g], system.capacity_start[g + 1])
                weights[system.capacity_points[members]] = system.capacity_weights[members]
                return StorageLimit(float(system.capacity_limit[g]), weights)
        return StorageLimit(float("inf"), weights)


class ConstrainedItems:
    """The items of one assortment as the constrained policy sees them: their parameters, the priced ones
    its base policy uses (:attr:`priced`), and the warehouse.

    Args:
        items: the items' parameters (:class:`envs.general.ItemParameters`), unpriced.
        volume: (J,) each item's volume (the price is per unit of volume).
        price: the capacity price lambda per unit of volume and period (>= 0).
        storage: the storage limit the items share.
    """

    def __init__(self, items: ItemParameters, volume: np.ndarray, price: float, storage: StorageLimit) -> None:
        if not price >= 0:
            raise ValueError(f"the capacity price must be at least 0, got {price}")
        self.items, self.volume, self.price, self.storage = items, np.asarray(volume, dtype=np.float64), price, storage
        self.priced = items.priced(self.volume, price)

    def constraint_features(self, rows: np.ndarray) -> np.ndarray:
        """(n, J, len(CONSTRAINT_FEATURES) + 1): the warehouse entries, ``fair_share``, ``capacity_price``
        and ``recent_demand`` (see the module docstring) from SkuView rows (n, J, width)."""
        n, points, width = rows.shape
        slots = int(self.items.max_lead_time.max()) if points else 0
        values = rows.astype(np.float64)
        limit, weights = self.storage.limit, self.storage.weights
        out = np.zeros((n, points, len(CONSTRAINT_FEATURES) + 1), dtype=np.float32)
        if np.isfinite(limit):
            out[:, :, 0] = (np.maximum(values[:, :, 0], 0) @ weights / limit)[:, None]
            if slots:
                out[:, :, 1] = (values[:, :, 1] @ weights / limit)[:, None]
                out[:, :, 2] = (values[:, :, 1 : 1 + slots].sum(axis=2) @ weights / limit)[:, None]
            members = int(np.count_nonzero(weights))
            share = np.where(weights > 0, limit / np.maximum(members * weights * self.items.mean, 1e-12), 1.0)
            out[:, :, 3] = np.log(share) / 3
        out[:, :, 4] = np.log1p(self.price * self.volume / self.items.holding) / 4
        if width > 1 + slots:
            out[:, :, 5] = values[:, :, 1 + slots :].mean(axis=2) / self.items.mean - 1
        return out

    def features(self, rows: np.ndarray) -> np.ndarray:
        """The constrained policy's input (n, J, len(CONSTRAINED_FEATURES)) float32 from SkuView rows (n, J, width):
        the item features of the priced items (pipeline to CONSTRAINED_MAX_LEAD_TIME), then the constraint's."""
        own = item_features(rows, self.priced, CONSTRAINED_MAX_LEAD_TIME)
        return np.concatenate([own, self.constraint_features(rows)], axis=2)
