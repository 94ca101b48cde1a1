"""The kernel: one period of N inventory systems of stock points, written once, compiled with numba.

Event order in a period, for every system (a single item is a network of one stock point):

1. **Order.** Every stock point places its order q (0..max_order), all at once, on the state
   at the start of the period. A positive order below the minimum order quantity (min_order)
   is raised to it if it is at least half of it, else dropped; then it is rounded up to whole
   packs (pack_size), at most the largest number of packs within max_order (``feasible_order``).
   Cost: fixed_order_cost if q > 0. Orders beyond a shared order limit (a budget, a truck) are
   cut by its rule (``share_capacity``), in whole packs; an order cut below its minimum is dropped.
2. Then the stock points are taken in supply order, every supplier before the points it
   supplies (from the top of the tree down). At stock point j:

   a. **Supply from outside.** If j's supplier is the outside supplier, the order q ships now
      in full. Every shipment enters j's pipeline with its lead time L: it arrives L periods
      later (L = 0: in this very period, in step b). unit_cost is paid per unit shipped.
   b. **Arrival.** The shipment due now arrives and joins j's stock on hand. Arrivals from
      outside that would overfill a shared storage limit (a warehouse's volume, counted on the
      stock on hand of its members) are rejected by its rule, at overflow_cost per unit of weight.
   c. **Customers.** If j faces customers, demand D arrives. With backorders the customer
      backlog is served first; sales = min(on hand, D); the rest is lost (shortage_cost per
      unit) or backordered (shortage_cost per unit in backlog at the end of each period).
   d. **Downstream.** j ships to the stock points it supplies from what is left on hand:
      first what it owes them from earlier periods (internal backorders), then this period's
      orders. When it cannot ship everything, the scenario's allocation rule shares what it
      has (in proportion to what each asks for, by priority, or in a random order); the rest
      is backordered at j and shipped first when stock arrives (or cancelled, with
      ``internal_backorders: false``). Each shipment enters the receiving point's pipeline
      (step a), so with lead time 0 it arrives in this same period.

3. **Costs.** holding_cost per unit on hand at the end of the period, transit_holding_cost
   per unit in transit to the point (shipped, not arrived), shortage costs as in 2c, and
   unfilled_order_cost per unit of the point's order its supplier could not ship (with internal
   backorders: per unit still awaited at the period's end).
   Reward = price x units shipped to customers - the period's total cost, summed over points.

With one stock point this is Zipkin's convention: order, arrival of the order due now,
demand, holding cost on what is left; lead time 1 arrives next period.

The state of point j in system i: ``on_hand[i, j]``, the customer ``backlog[i, j]``,
``awaiting[i, j]`` (ordered by j, not yet shipped by its supplier) and ``pipeline[i, j, k]``
(arriving k periods from now; the last slot is empty between periods). The net inventory of
j is its on hand minus its customer backlog minus what it owes the points it supplies; its
inventory position adds the pipeline and what it awaits; its echelon inventory position is
the sum of the inventory positions of j and every point below it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numba
import numpy as np

if TYPE_CHECKING:  # the kernel needs only the System's arrays: importing it would load scenarios and scipy
    from envs.system import System


# Per-point quantities of a period (int64 array (N, J, len(FLOWS))).
FLOWS = (
    "ordered",  # placed this period
    "shipped_in",  # shipped to the point this period (enters its pipeline)
    "arrived",
    "demand",  # customer demand (0 where the point has no customers)
    "sales",  # customer demand of this period met from stock
    "backlog_filled",  # earlier customer backorders shipped this period
    "lost",
    "backordered",  # new customer backorders of this period
    "shipped_out",  # shipped to the points it supplies
    "on_hand",  # at period end
    "backlog",  # customer backlog at period end
    "awaiting",  # ordered by the point, not yet shipped by its supplier, at period end
    "in_transit",  # in the pipeline at period end
    "cut",  # of the order, what a shared order limit cut (ordered is what was left)
    "rejected",  # of the arrival, what a shared storage limit rejected
)
# Per-point money of a period (float64 array (N, J, len(MONEY))); cost = ordering + holding + transit + shortage.
MONEY = ("ordering_cost", "holding_cost", "transit_holding_cost", "shortage_cost", "overflow_cost", "revenue", "cost")
# Running sums per point from which the KPIs are computed (float64 array (N, J, len(TOTALS))).
TOTALS = (
    "cost", "revenue", "demand", "sales", "shipped", "lost", "on_hand", "backlog", "in_transit", "stockouts", "orders",
)  # fmt: skip

(ORDERED, SHIPPED_IN, ARRIVED, DEMAND, SALES, FILLED, LOST, BACKORDERED, SHIPPED_OUT, ON_HAND, BACKLOG, AWAITING,
 IN_TRANSIT, CUT, REJECTED) = range(len(FLOWS))  # fmt: skip
ORDERING, HOLDING_COST, TRANSIT_COST, SHORTAGE_COST, OVERFLOW_COST, REVENUE, COST = range(len(MONEY))
STORAGE, ORDER_LIMIT = range(2)  # capacity kinds (envs.system.CAPACITY_KINDS)
SHARE_PROPORTIONAL, SHARE_BY_VALUE = range(2)  # capacity rules (envs.system.CAPACITY_RULES)
(T_COST, T_REVENUE, T_DEMAND, T_SALES, T_SHIPPED, T_LOST, T_ON_HAND, T_BACKLOG, T_IN_TRANSIT, T_STOCKOUTS,
 T_ORDERS) = range(len(TOTALS))  # fmt: skip
# Columns of System.costs.
C_HOLDING, C_TRANSIT, C_SHORTAGE, C_FIXED, C_UNIT, C_PRICE, C_UNFILLED, C_OVERFLOW = range(8)
PROPORTIONAL, PRIORITY, RANDOM = range(3)


@numba.njit(cache=True)
def _share(available, requests, count, rule, order, weights, shipped):
    """Add to ``shipped[:count]`` a share of ``available`` units among ``requests[:count]`` (their sum exceeds it).

    proportional: floor(available * r / total) each, the units left over one by one by largest
    remainder (ties: listed first); priority or random: in the given ``order``, each in full.
    """
    if rule == PROPORTIONAL:
        total = 0
        for k in range(count):
            total += requests[k]
        given = 0
        for k in range(count):
            share = available * requests[k] // total
            shipped[k] += share
            given += share
            weights[k] = (available * requests[k]) % total
        for _ in range(available - given):
            best = 0
            for k in range(1, count):
                if weights[k] > weights[best]:
                    best = k
            shipped[best] += 1
            weights[best] = -1
    else:
        left = available
        for k in range(count):
            give = min(left, requests[order[k]])
            shipped[order[k]] += give
            left -= give


@numba.njit(cache=True)
def share_capacity(quantities, weights, values, limit, rule, out):
    """Whole units of ``quantities`` (m,) whose weighted sum fits ``limit``, into ``out`` (m,).

    proportional: every quantity scaled by limit / (weighted total), rounded down, then one more
    unit at a time to the largest remainders while the limit allows; value: members by ``values``
    (value per unit of weight), highest first, each in full while the limit allows, the one that
    no longer fits cut to what does.
    """
    m = quantities.shape[0]
    total = 0.0
    for k in range(m):
        total += weights[k] * quantities[k]
    if total <= limit:
        for k in range(m):
            out[k] = quantities[k]
        return
    left = limit
    if rule == SHARE_PROPORTIONAL:
        factor = limit / total
        remainders = np.empty(m)
        for k in range(m):
            scaled = quantities[k] * factor
            out[k] = int(np.floor(scaled))
            remainders[k] = scaled - out[k]
            left -= weights[k] * out[k]
        for k in np.argsort(-remainders):
            if out[k] < quantities[k] and weights[k] <= left + 1e-9:
                out[k] += 1
                left -= weights[k]
    else:
        for k in np.argsort(-values):
            give = min(quantities[k], int(np.floor((left + 1e-9) / weights[k])))
            out[k] = give
            left -= weights[k] * give


@numba.njit(cache=True)
def feasible_order(q, pack, minimum, max_order):
    """The order placed for a wish of ``q`` units under a pack size and a minimum order quantity.

    0 stays 0. A positive q below ``minimum`` becomes the minimum if q >= minimum / 2, else 0
    (the nearer of the two; a tie is raised). What is left is rounded up to whole packs (a buyer
    orders whole cases, and rounding up keeps an order-up-to level covered), and capped at the
    largest whole number of packs within ``max_order`` (validation keeps the minimum below it).
    """
    if q <= 0:
        return 0
    if q < minimum:
        if 2 * q < minimum:
            return 0
        q = minimum
    q = -(-q // pack) * pack
    return min(q, max_order // pack * pack)


@numba.njit(cache=True)
def limit_orders(kind, limit, rule, start, members, weights, values, pack, minimum, max_order, orders, effective,
                  cut):  # fmt: skip
    """Round every order to packs and minimums, then cut them to each shared order limit in whole packs
    (``effective``: what is left; ``cut``: what the limits took off the rounded order). Also what
    plan.py calls (one system, every SKU a member), so that a plan rounds and cuts as the simulation does."""
    n = orders.shape[0]
    for i in range(n):
        for j in range(orders.shape[1]):
            effective[i, j] = orders[i, j]
            if pack[j] > 1 or minimum[j] > 0:
                effective[i, j] = feasible_order(orders[i, j], pack[j], minimum[j], max_order[j])
            cut[i, j] = 0
    for g in range(kind.shape[0]):
        if kind[g] != ORDER_LIMIT:
            continue
        group = members[start[g] : start[g + 1]]
        packs = pack[group]
        pack_weights = weights[start[g] : start[g + 1]] * packs  # the limit is shared in whole packs
        wanted = np.empty(group.shape[0], dtype=np.int64)
        allowed = np.empty(group.shape[0], dtype=np.int64)
        for i in range(n):
            for k in range(group.shape[0]):
                wanted[k] = effective[i, group[k]] // packs[k]
            share_capacity(wanted, pack_weights, values[start[g] : start[g + 1]], limit[g], rule[g], allowed)
            for k in range(group.shape[0]):
                j = group[k]
                units = allowed[k] * packs[k]
                if units < minimum[j]:
                    units = 0
                cut[i, j] = effective[i, j] - units
                effective[i, j] = units


@numba.njit(cache=True)
def _limit_storage(kind, limit, rule, start, members, weights, values, on_hand, pipeline, rejected):
    """Reject the arrivals due now that would overfill a shared storage limit (what is left stays in slot 0)."""
    n = on_hand.shape[0]
    for i in range(n):
        for j in range(on_hand.shape[1]):
            rejected[i, j] = 0
    for g in range(kind.shape[0]):
        if kind[g] != STORAGE:
            continue
        group = members[start[g] : start[g + 1]]
        w = weights[start[g] : start[g + 1]]
        arriving = np.empty(group.shape[0], dtype=np.int64)
        admitted = np.empty(group.shape[0], dtype=np.int64)
        for i in range(n):
            stored = 0.0
            for k in range(group.shape[0]):
                stored += w[k] * on_hand[i, group[k]]
                arriving[k] = pipeline[i, group[k], 0]
            share_capacity(arriving, w, values[start[g] : start[g + 1]], max(limit[g] - stored, 0.0), rule[g],
                           admitted)  # fmt: skip
            for k in range(group.shape[0]):
                pipeline[i, group[k], 0] = admitted[k]
                rejected[i, group[k]] = arriving[k] - admitted[k]


@numba.njit(cache=True)
def apply_period(
    supplier, child_start, children, demand_column, lost_sales, costs, overtaking, allocation, internal_backorders,
    pack, minimum, max_order,
    capacity_kind, capacity_limit, capacity_rule, capacity_start, capacity_points, capacity_weights, capacity_values,
    on_hand, backlog, awaiting, pipeline, latest,
    orders, demand, lead, keys,
    record, flows, money, reward, totals, shipped_in, unfilled, effective, cut, rejected,
):  # fmt: skip
    """Apply one period to every system (event order in the module docstring).

    Stock points are taken one at a time in supply order, each for all systems at once (the inner
    loop runs over systems with the point's parameters fixed, so it compiles to straight-line code).
    Adds to ``totals`` and writes ``reward``; with ``record``, also every flow and cost into
    ``flows`` and ``money``. ``shipped_in`` and ``unfilled`` (N, J) are scratch space. No calls in
    the common path: a compiled call with array arguments costs more than the period of a single item
    (the allocation rule runs only when a point cannot ship what two or more children ask for; the
    passes for packs, minimums and shared limits only when the system has them).
    ``effective``, ``cut`` and ``rejected`` (N, J) receive the orders after the shared order limits,
    what those cut, and the arrivals the shared storage limits rejected.
    """
    n, points = orders.shape
    slots = pipeline.shape[2]
    capacity = (capacity_kind, capacity_limit, capacity_rule, capacity_start, capacity_points, capacity_weights,
                capacity_values)  # fmt: skip
    # 1. the orders, rounded to packs and minimums, cut to the shared order limits (with none, as placed)
    rounded = capacity_kind.shape[0] > 0
    for j in range(points):
        rounded |= pack[j] > 1 or minimum[j] > 0
    if rounded:
        limit_orders(*capacity, pack, minimum, max_order, orders, effective, cut)
    else:
        effective[:] = orders
        cut[:] = 0
    # 2a. the outside supplier ships every order placed with it now
    for j in range(points):
        if supplier[j] >= 0:
            continue
        for i in range(n):
            q = effective[i, j]
            if q > 0:
                arrival = lead[i, j]
                if not overtaking[j]:  # not before an earlier shipment
                    arrival = max(arrival, latest[i, j])
                    latest[i, j] = arrival
                pipeline[i, j, arrival] += q
    # what is due now may not overfill a shared storage limit
    if capacity_kind.shape[0] > 0:
        _limit_storage(*capacity, on_hand, pipeline, rejected)
    else:
        rejected[:] = 0
    shipped = np.zeros(points, dtype=np.int64)  # to each child of the point being supplied
    requests = np.zeros(points, dtype=np.int64)
    weights = np.zeros(points, dtype=np.int64)
    order = np.zeros(points, dtype=np.int64)
    shipped_in[:] = 0
    for j in range(points):
        if supplier[j] < 0:
            for i in range(n):
                shipped_in[i, j] = effective[i, j]
    unfilled[:] = 0
    reward[:] = 0.0
    for j in range(points):
        column = demand_column[j]
        lost_sales_j = lost_sales[j]
        backorders_j = column >= 0 and not lost_sales_j
        first, count = child_start[j], child_start[j + 1] - child_start[j]
        c_fixed, c_unit, c_holding = costs[j, C_FIXED], costs[j, C_UNIT], costs[j, C_HOLDING]
        c_transit, c_shortage, c_price = costs[j, C_TRANSIT], costs[j, C_SHORTAGE], costs[j, C_PRICE]
        c_unfilled, c_overflow = costs[j, C_UNFILLED], costs[j, C_OVERFLOW]
        for i in range(n):
            q = effective[i, j]
            # b. the shipment due now arrives (a: shipped from outside above)
            arrived = pipeline[i, j, 0]
            stock = on_hand[i, j] + arrived
            # c. customers: the backlog first, then this period's demand
            d = 0
            filled = 0
            if column >= 0:
                d = demand[i, column]
                if backorders_j:
                    filled = min(backlog[i, j], stock)
                    stock -= filled
                    backlog[i, j] -= filled
            sales = min(stock, d)
            stock -= sales
            unmet = d - sales
            lost = unmet if lost_sales_j else 0
            if backorders_j:
                backlog[i, j] += unmet
            # d. downstream: what is owed from earlier periods first, then this period's orders
            sent = 0
            if count > 0:
                wanted = 0
                for k in range(count):
                    c = children[first + k]
                    wanted += awaiting[i, c] + effective[i, c]
                if wanted <= stock or count == 1:  # nothing to share: each child gets what it asks, or what is left
                    for k in range(count):
                        c = children[first + k]
                        shipped[k] = min(awaiting[i, c] + effective[i, c], stock - sent)
                        sent += shipped[k]
                else:
                    for k in range(count):
                        shipped[k] = 0
                        order[k] = k
                    if allocation == RANDOM:  # this period's random order: the children sorted by their keys
                        for a in range(count):
                            for b in range(a + 1, count):
                                if keys[i, children[first + order[b]]] < keys[i, children[first + order[a]]]:
                                    order[a], order[b] = order[b], order[a]
                    for phase in range(2):
                        wanted = 0
                        for k in range(count):
                            c = children[first + k]
                            requests[k] = awaiting[i, c] if phase == 0 else effective[i, c]
                            wanted += requests[k]
                        if wanted <= stock - sent:
                            for k in range(count):
                                shipped[k] += requests[k]
                            sent += wanted
                        else:
                            _share(stock - sent, requests, count, allocation, order, weights, shipped)
                            sent = stock
                for k in range(count):
                    c, units = children[first + k], shipped[k]
                    unfilled[i, c] = awaiting[i, c] + effective[i, c] - units
                    awaiting[i, c] = unfilled[i, c] if internal_backorders else 0
                    if units > 0:
                        arrival = lead[i, c]
                        if not overtaking[c]:
                            arrival = max(arrival, latest[i, c])
                            latest[i, c] = arrival
                        pipeline[i, c, arrival] += units
                        shipped_in[i, c] += units
                stock -= sent
            on_hand[i, j] = stock
            # the pipeline moves one period on
            transit = 0
            for k in range(1, slots):
                transit += pipeline[i, j, k]
                pipeline[i, j, k - 1] = pipeline[i, j, k]
            pipeline[i, j, slots - 1] = 0
            if latest[i, j] > 0:
                latest[i, j] -= 1

            # costs; unit costs are paid on what was shipped to the point (its supplier came before it)
            ordering = c_fixed * (q > 0) + c_unit * shipped_in[i, j]
            holding = c_holding * stock
            transit_cost = c_transit * transit
            shortage = c_shortage * (lost if lost_sales_j else backlog[i, j]) + c_unfilled * unfilled[i, j]
            overflow = c_overflow * rejected[i, j]
            revenue = c_price * (sales + filled)
            cost = ordering + holding + transit_cost + shortage + overflow
            reward[i] += revenue - cost
            totals[i, j, T_COST] += cost
            totals[i, j, T_REVENUE] += revenue
            totals[i, j, T_DEMAND] += d
            totals[i, j, T_SALES] += sales
            totals[i, j, T_SHIPPED] += sales + filled
            totals[i, j, T_LOST] += lost
            totals[i, j, T_ON_HAND] += stock
            totals[i, j, T_BACKLOG] += backlog[i, j]
            totals[i, j, T_IN_TRANSIT] += transit
            totals[i, j, T_STOCKOUTS] += sales < d
            totals[i, j, T_ORDERS] += q > 0
            if record:
                flows[i, j, ORDERED] = q
                flows[i, j, SHIPPED_IN] = shipped_in[i, j]
                flows[i, j, ARRIVED] = arrived
                flows[i, j, DEMAND] = d
                flows[i, j, SALES] = sales
                flows[i, j, FILLED] = filled
                flows[i, j, LOST] = lost
                flows[i, j, BACKORDERED] = unmet - lost
                flows[i, j, SHIPPED_OUT] = sent
                flows[i, j, ON_HAND] = stock
                flows[i, j, BACKLOG] = backlog[i, j]
                flows[i, j, AWAITING] = awaiting[i, j]
                flows[i, j, IN_TRANSIT] = transit
                flows[i, j, CUT] = cut[i, j]
                flows[i, j, REJECTED] = rejected[i, j]
                money[i, j, OVERFLOW_COST] = overflow
                money[i, j, ORDERING] = ordering
                money[i, j, HOLDING_COST] = holding
                money[i, j, TRANSIT_COST] = transit_cost
                money[i, j, SHORTAGE_COST] = shortage
                money[i, j, REVENUE] = revenue
                money[i, j, COST] = cost


@numba.njit(cache=True)
def positions(supplier, child_start, children, on_hand, backlog, awaiting, pipeline, echelon, out):
    """Inventory positions of every point (``echelon``: of every echelon) into ``out`` (N, J).

    The inventory position of j is its net inventory (on hand - customer backlog - what it owes
    the points it supplies) + its pipeline + what it awaits from its supplier; its echelon
    position is the sum over j and every point below it. Points are in supply order, so the
    echelon sums are gathered bottom-up in one reverse pass.
    """
    n, points = on_hand.shape
    for i in range(n):
        for j in range(points):
            owed = 0
            for k in range(child_start[j], child_start[j + 1]):
                owed += awaiting[i, children[k]]
            value = on_hand[i, j] - backlog[i, j] - owed + awaiting[i, j]
            for k in range(pipeline.shape[2]):
                value += pipeline[i, j, k]
            out[i, j] = value
        if echelon:
            for j in range(points - 1, -1, -1):
                if supplier[j] >= 0:
                    out[i, supplier[j]] += out[i, j]


@dataclass
class PeriodOutcome:
    """What happened in one period: per-point arrays (N, J) and per-system ``reward`` and ``cost`` (N,).

    Views into the kernel's buffers: valid until the next period is applied (copy what you keep).
    """

    flows: np.ndarray  # int64 (N, J, len(FLOWS))
    money: np.ndarray  # float64 (N, J, len(MONEY))
    reward: np.ndarray  # float64 (N,)
    names: tuple[str, ...]
    recorded: bool = True

    def per_point(self, name: str) -> np.ndarray:
        """The quantity ``name`` (one of FLOWS or MONEY) of every system and stock point, (N, J)."""
        if not self.recorded:
            raise AttributeError(f"{name}: the period was applied with record=False (only the reward was kept)")
        if name in FLOWS:
            return self.flows[:, :, FLOWS.index(name)]
        if name in MONEY:
            return self.money[:, :, MONEY.index(name)]
        raise AttributeError(name)

    def __getattr__(self, name: str) -> np.ndarray:
        if name in FLOWS + MONEY:
            return self.per_point(name)
        raise AttributeError(name)

    @property
    def cost(self) -> np.ndarray:
        """Total cost of the period per system (N,); per point: ``per_point("cost")``."""
        return self.per_point("cost").sum(axis=1)

    def row(self, i: int) -> dict[str, object]:
        """System ``i``'s period as plain Python numbers: with one stock point a flat mapping of every
        quantity; with several, ``cost`` and ``reward`` and one mapping per stock point under ``stock_points``."""
        per_point = [
            {
                **dict(zip(FLOWS, self.flows[i, j].tolist(), strict=True)),
                **dict(zip(MONEY, self.money[i, j].tolist(), strict=True)),
            }
            for j in range(len(self.names))
        ]
        total = {"cost": float(self.money[i, :, COST].sum()), "reward": float(self.reward[i])}
        if len(self.names) == 1:
            return {**per_point[0], **total}
        return {**total, "stock_points": dict(zip(self.names, per_point, strict=True))}


class InventoryKernel:
    """State and one-period dynamics of ``n`` copies of an inventory system (see the module docstring).

    State arrays (int64): ``on_hand``, ``backlog``, ``awaiting`` (N, J) and ``pipeline``
    (N, J, longest lead time + 1), where ``pipeline[:, j, k]`` arrives at point j k periods
    from now; ``totals`` (N, J, len(TOTALS)) sums the KPIs' ingredients since the last
    :meth:`clear_totals`.
    """

    def __init__(self, system: System, n: int) -> None:
        self.system = system
        self.n = n
        points = system.n_points
        self.on_hand = np.zeros((n, points), dtype=np.int64)
        self.backlog = np.zeros((n, points), dtype=np.int64)
        self.awaiting = np.zeros((n, points), dtype=np.int64)
        self.pipeline = np.zeros((n, points, system.pipeline_length), dtype=np.int64)
        # periods until the latest shipment to the point arrives; later ones may not arrive before it
        self.latest_arrival = np.zeros((n, points), dtype=np.int64)
        self.totals = np.zeros((n, points, len(TOTALS)))
        self.periods = 0
        self._flows = np.zeros((n, points, len(FLOWS)), dtype=np.int64)
        self._money = np.zeros((n, points, len(MONEY)))
        self._reward = np.zeros(n)
        self._no_keys = np.zeros((n, points))
        # shipped_in, unfilled, effective orders, cut and rejected: per period, per system and point
        self._scratch = tuple(np.zeros((n, points), dtype=np.int64) for _ in range(5))

    def reset(self) -> None:
        """Put every system back in the starting state (initial on hand, nothing on order or owed)."""
        self.on_hand[:] = self.system.initial_on_hand
        self.backlog[:] = 0
        self.awaiting[:] = 0
        self.pipeline[:] = 0
        self.latest_arrival[:] = 0
        self.clear_totals()

    def clear_totals(self) -> None:
        self.totals[:] = 0.0
        self.periods = 0

    def step(
        self,
        orders: np.ndarray,
        demand: np.ndarray,
        lead_times: np.ndarray,
        keys: np.ndarray | None = None,
        record: bool = True,
    ) -> PeriodOutcome:
        """Apply one period to every system.

        Args:
            orders: units ordered by every point, integers >= 0, (N, J) (a single item: (N,) too).
            demand: this period's customer demand per demand column (N, D) (a single item: (N,) too).
            lead_times: the lead time a shipment to each point would get this period (N, J) (or (N,)).
            keys: random allocation keys (N, J), needed under the random allocation rule.
            record: keep every flow and cost of the period in the outcome; without, only the
                reward and the KPI totals are kept (faster).
        """
        s, n, points = self.system, self.n, self.system.n_points
        orders = np.ascontiguousarray(orders, dtype=np.int64).reshape(n, points)
        demand = np.ascontiguousarray(demand, dtype=np.int64).reshape(n, -1)
        lead_times = np.ascontiguousarray(lead_times, dtype=np.int64).reshape(n, points)
        apply_period(
            s.supplier, s.child_start, s.children, s.demand_column, s.lost_sales, s.costs, s.overtaking,
            s.allocation, s.internal_backorders, s.pack_size, s.min_order, s.max_order,
            s.capacity_kind, s.capacity_limit, s.capacity_rule, s.capacity_start, s.capacity_points,
            s.capacity_weights, s.capacity_values,
            self.on_hand, self.backlog, self.awaiting, self.pipeline, self.latest_arrival,
            orders, demand, lead_times, self._no_keys if keys is None else keys,
            record, self._flows, self._money, self._reward, self.totals, *self._scratch,
        )  # fmt: skip
        self.periods += 1
        return PeriodOutcome(self._flows, self._money, self._reward, s.names, record)

    def positions(self, echelon: bool) -> np.ndarray:
        """Inventory positions (N, J) of every point, or of every echelon (see :func:`positions`)."""
        s = self.system
        out = np.empty((self.n, s.n_points), dtype=np.int64)
        positions(s.supplier, s.child_start, s.children, self.on_hand, self.backlog, self.awaiting, self.pipeline,
                  echelon, out)  # fmt: skip
        return out
