"""One policy for many items: what a general single-item policy observes of an item and what its action means.

A general policy orders for any single-item system in a range (demand level and dispersion,
cost ratio, lead time, order cost, lost sales or backorders) without retraining, so the system's
parameters are part of its input, and every quantity is measured in the item's own mean demand
(a policy that works for mean 5 then reads mean 15 the same way). Per item (one row of an
:class:`envs.assortment.SkuView`, a single item being one row) it observes :data:`FEATURES`:

- ``stock``, ``arriving_in_0`` .. ``arriving_in_3``: the stock entry (on hand, or net inventory
  with backorders) and the pipeline, divided by the mean demand mu, zero beyond the item's lead
  time (lead times up to :data:`MAX_LEAD_TIME`);
- ``position_gap``: (inventory position - reorder point s) / action scale, see below;
- the parameters: mean lead time / 4, log(p / h) / 4, log(mu) / 3, (variance / mu - 1) / 4
  (0 for Poisson demand), log(1 + K / (h mu)) / 3, 1 for lost sales, max_order / (10 mu).

Its action a in [-1, 1] moves the order-up-to level of a base (s, S) policy:
level = s + Q [position <= s] + a * scale, order = round(level - inventory position), clipped to
0..max_order, so that the untrained policy (a = 0) orders up to S = s + Q when the position is at or
below s and nothing above it. Q is the economic order quantity sqrt(2 K mu / h) (Harris 1913), 0
without a fixed order cost. The reorder point s is a quantile of demand over the protection
interval of L + 1 periods, mu_P + z sigma_P with mu_P = (L + 1) mu and sigma_P^2 = (L + 1) sigma^2
+ mu^2 Var(L) for a random lead time L (a normal approximation), at the fractile
min(p / (p + h), 1 - h Q / (p mu)): without a fixed cost the critical fractile, which makes s the
optimal base-stock level of the backorder model (Zipkin, Foundations of Inventory Management
(2000), sections 6.2 and 7.3); with one, the (r, Q) approximation of Hadley and Whitin, Analysis
of Inventory Systems (1963), chapter 4, P(demand over the protection interval > s) = h Q / (p mu);
z is clipped to -2..3. The scale, 2 sigma_P + 4 mu, reaches the levels an (s, S) policy needs (an
EOQ of up to 4 periods of demand above the reorder point).

The reward an item earns in training is minus its period cost divided by what the base policy
costs it per period (:func:`envs.general_base.base_costs`), so that items whose costs differ by orders of magnitude
weigh alike and the sum of rewards is the mean relative cost the policy is judged by.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from statistics import NormalDist

import numpy as np

# Longest lead time a general policy observes (its pipeline entries).
MAX_LEAD_TIME = 4
FEATURES = (
    "stock", *(f"arriving_in_{k}" for k in range(MAX_LEAD_TIME)), "position_gap",
    "lead_time", "log_cost_ratio", "log_mean_demand", "dispersion", "order_cost", "lost_sales", "max_order",
)  # fmt: skip
FRACTILE_Z = (-2.0, 3.0)  # the base level's safety factor is clipped to this range
# The columns of an item's parameter table (envs.assortment.SkuView.parameters, recommend's state rows).
PARAMETERS = ("mean_lead_time", "holding_cost", "shortage_cost", "fixed_order_cost", "unit_cost", "pack_size",
              "min_order", "volume", "max_order", "mean_demand", "demand_variance", "lost_sales", "max_lead_time",
              "lead_time_variance")  # fmt: skip


@dataclass(frozen=True)
class ItemParameters:
    """The parameters of J items as arrays (J,), from :attr:`envs.assortment.SkuView.parameters`."""

    mean: np.ndarray
    variance: np.ndarray
    lead_time: np.ndarray  # mean lead time
    lead_variance: np.ndarray
    max_lead_time: np.ndarray
    holding: np.ndarray
    shortage: np.ndarray
    fixed: np.ndarray
    lost_sales: np.ndarray
    max_order: np.ndarray

    @staticmethod
    def from_view(parameters: np.ndarray) -> ItemParameters:
        """From a parameter table (J, len(PARAMETERS)), e.g. :attr:`envs.assortment.SkuView.parameters`."""
        column = {name: parameters[:, k].astype(np.float64) for k, name in enumerate(PARAMETERS)}
        return ItemParameters(
            mean=column["mean_demand"], variance=column["demand_variance"], lead_time=column["mean_lead_time"],
            lead_variance=column["lead_time_variance"], max_lead_time=column["max_lead_time"],
            holding=column["holding_cost"], shortage=column["shortage_cost"], fixed=column["fixed_order_cost"],
            lost_sales=column["lost_sales"], max_order=column["max_order"],
        )  # fmt: skip

    def out_of_range(self, max_lead_time: int = MAX_LEAD_TIME) -> str | None:
        """Why a general policy cannot order for these items, or None (each must have a positive mean
        demand and holding and shortage cost, and a lead time of at most ``max_lead_time``, the longest
        the policy observes)."""
        if np.any(self.max_lead_time > max_lead_time):
            return f"a lead time above {max_lead_time} periods (the longest a general policy observes)"
        if np.any(self.mean <= 0):
            return "no demand (mean demand 0)"
        if np.any(self.holding <= 0) or np.any(self.shortage <= 0):
            return "a holding or shortage cost of 0 (the cost ratio p / h is part of the input)"
        return None

    def priced(self, volume: np.ndarray, price: float) -> ItemParameters:
        """The items with a capacity price: holding cost h + price x volume per unit and period, the
        Lagrangian relaxation of a shared storage limit (Everett 1963; see
        :mod:`agents.classic.assortment`), so that every quantity derived from h (the reorder point's
        fractile, the EOQ, the cost-ratio features) sees the price."""
        return replace(self, holding=self.holding + price * np.asarray(volume, dtype=np.float64))

    def _range_values(self) -> dict[str, np.ndarray]:
        """Each item's value of every quantity of :data:`envs.population.RANGE`."""
        return {
            "mean_demand": self.mean,
            "cost_ratio": self.shortage / self.holding,
            "dispersion": self.variance / self.mean,
            "mean_lead_time": self.lead_time,
            "order_cycle": self.order_quantity / self.mean,
        }

    def outside(self, ranges: dict[str, list[float] | tuple[float, float]]) -> list[str]:
        """The quantities of :data:`envs.population.RANGE` for which some item lies outside ``ranges``,
        each as "name low..high" with the items' own extremes."""
        values = self._range_values()
        return [
            f"{name} {values[name].min():.3g}..{values[name].max():.3g} (trained on {low:g}..{high:g})"
            for name, (low, high) in ranges.items()
            if name in values and bool(np.any((values[name] < low - 1e-6) | (values[name] > high + 1e-6)))
        ]

    def outside_each(self, ranges: dict[str, list[float] | tuple[float, float]]) -> list[str]:
        """Per item, its quantities outside ``ranges`` ("name value (trained on low..high)", joined; "" if none)."""
        values = self._range_values()
        texts: list[list[str]] = [[] for _ in range(len(self.mean))]
        for name, (low, high) in ranges.items():
            if name not in values:
                continue
            for j in np.flatnonzero((values[name] < low - 1e-6) | (values[name] > high + 1e-6)):
                texts[j].append(f"{name} {values[name][j]:.3g} (trained on {low:g}..{high:g})")
        return ["; ".join(t) for t in texts]

    @property
    def protection_sd(self) -> np.ndarray:
        """Standard deviation of demand over the protection interval (L + 1 periods, L random)."""
        return np.sqrt((self.lead_time + 1) * self.variance + self.mean**2 * self.lead_variance)

    @property
    def reorder_point(self) -> np.ndarray:
        """The base policy's s: mu_P + z sigma_P at the fractile of the module docstring."""
        fractile = np.minimum(
            self.shortage / (self.shortage + self.holding),
            1 - self.holding * self.order_quantity / (self.shortage * self.mean),
        )
        quantile = np.vectorize(NormalDist().inv_cdf, otypes=[float])  # the standard library's: no scipy to import
        z = np.clip(quantile(np.clip(fractile, 1e-9, 1 - 1e-9)), *FRACTILE_Z)
        return (self.lead_time + 1) * self.mean + z * self.protection_sd

    @property
    def order_quantity(self) -> np.ndarray:
        """The base policy's S - s: the EOQ sqrt(2 K mu / h), 0 without a fixed order cost."""
        return np.sqrt(2 * self.fixed * self.mean / self.holding)

    @property
    def action_scale(self) -> np.ndarray:
        """Units of level per unit of action: 2 sigma_P + 4 mu."""
        return 2 * self.protection_sd + 4 * self.mean

    def parameter_features(self) -> np.ndarray:
        """(J, 7) float32: the parameter entries of :data:`FEATURES` (from ``lead_time`` on)."""
        return np.stack(
            [
                self.lead_time / MAX_LEAD_TIME,
                np.log(self.shortage / self.holding) / 4,
                np.log(self.mean) / 3,
                (self.variance / self.mean - 1) / 4,
                np.log1p(self.fixed / (self.holding * self.mean)) / 3,
                self.lost_sales,
                self.max_order / (10 * self.mean),
            ],
            axis=1,
        ).astype(np.float32)


def item_features(rows: np.ndarray, items: ItemParameters, max_lead_time: int = MAX_LEAD_TIME) -> np.ndarray:
    """The general policy's input (n, J, len(FEATURES)) float32 from SkuView rows (n, J, width).

    The rows' first 1 + P entries are the stock and the pipeline (P = the longest lead time among
    the items, at most ``max_lead_time``); demand lags after them are not observed. With another
    ``max_lead_time`` than MAX_LEAD_TIME the pipeline entries run to ``arriving_in_{max_lead_time - 1}``
    (the layout of :data:`envs.constrained.ITEM_FEATURES`), the other entries as in FEATURES.
    """
    n, points, _ = rows.shape
    slots = int(items.max_lead_time.max()) if points else 0
    stock_and_pipeline = rows[:, :, : 1 + slots].astype(np.float64)
    out = np.zeros((n, points, len(FEATURES) + max_lead_time - MAX_LEAD_TIME), dtype=np.float32)
    out[:, :, : 1 + slots] = stock_and_pipeline / items.mean[:, None]
    position = stock_and_pipeline.sum(axis=2)
    out[:, :, 1 + max_lead_time] = (position - items.reorder_point) / items.action_scale
    out[:, :, 2 + max_lead_time :] = items.parameter_features()
    return out


def positions(rows: np.ndarray, items: ItemParameters) -> np.ndarray:
    """Inventory positions (n, J) from SkuView rows: the stock entry plus the pipeline."""
    slots = int(items.max_lead_time.max()) if rows.shape[1] else 0
    return rows[:, :, : 1 + slots].astype(np.float64).sum(axis=2)


def base_levels(position: np.ndarray, items: ItemParameters) -> np.ndarray:
    """The base (s, S) policy's order-up-to level (n, J) at inventory positions (n, J): S at or below s, else s."""
    s = items.reorder_point
    return s + items.order_quantity * (position <= s)


def chosen_levels(actions: np.ndarray, position: np.ndarray, items: ItemParameters) -> np.ndarray:
    """The order-up-to levels (n, J) actions (n, J) in [-1, 1] (clipped) choose at inventory positions (n, J)."""
    return base_levels(position, items) + np.clip(actions, -1.0, 1.0) * items.action_scale


def level_orders(actions: np.ndarray, position: np.ndarray, items: ItemParameters) -> np.ndarray:
    """Orders (n, J) int64 for actions (n, J) in [-1, 1] (clipped) at inventory positions (n, J)."""
    level = chosen_levels(actions, position, items)
    return np.clip(np.rint(level - position), 0, items.max_order).astype(np.int64)
