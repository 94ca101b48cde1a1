"""An inventory system as arrays over its stock points: what the kernel and the layout read.

A single item is one stock point supplied from outside; a network is a tree of stock points.
:func:`compile_system` turns either kind of scenario into a :class:`System`, with the stock
points in supply order (by depth below the outside supplier, then as listed), so that a
period can be applied from the top of the tree down in one pass.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from envs.scenario import AnyScenario, NetworkScenario, Scenario, StockPoint

ALLOCATION_RULES = ("proportional", "priority", "random")
CAPACITY_KINDS = ("storage", "orders")
CAPACITY_RULES = ("proportional", "value")


@dataclass(frozen=True, eq=False)
class System:
    """The arrays of a system of ``J`` stock points, indexed in supply order.

    Attributes:
        names: stock point names (a single item's one point is called ``item``).
        supplier: index of each point's supplier, -1 for the outside supplier.
        depth: 0 for points supplied from outside, their suppliers' depth + 1 below.
        child_start, children: the points supplied by point j are
            ``children[child_start[j]:child_start[j + 1]]``, ordered by priority.
        demand_column: the column of the demand paths each point serves, -1 if it has no customers.
        demands: the demand process of each demand column.
        lost_sales: per point, whether unmet customer demand is lost (else backordered).
        costs: float (J, 8): holding, transit holding, shortage, fixed order, unit, price, unfilled order,
            and overflow (per unit rejected by the point's shared storage limit: its cost x weight).
        max_order: the order capacity of each point.
        pack_size, min_order: each point's pack size and minimum order quantity (orders are rounded
            by the kernel, see :func:`envs.kernel.feasible_order`).
        initial_on_hand: each point's stock at the start of an episode.
        lead_values, lead_probs: the lead-time distribution of each point (deterministic: one value).
        overtaking: per point, whether a shipment may arrive before an earlier one.
        allocation: index into :data:`ALLOCATION_RULES`.
        internal_backorders: whether what a supplier cannot ship is backordered (else cancelled).
        action_ranges: the largest action value of each point.
        capacity_kind, capacity_limit, capacity_rule, capacity_overflow: per shared capacity g, its
            kind and rule (indices into :data:`CAPACITY_KINDS`, :data:`CAPACITY_RULES`), limit and
            overflow cost; its members are ``capacity_points[capacity_start[g]:capacity_start[g + 1]]``
            with weights ``capacity_weights`` and values (shortage cost per unit of weight, for the
            ``value`` rule) ``capacity_values`` at the same positions.
    """

    names: tuple[str, ...]
    supplier: np.ndarray
    depth: np.ndarray
    child_start: np.ndarray
    children: np.ndarray
    demand_column: np.ndarray
    demands: tuple[Any, ...]
    lost_sales: np.ndarray
    costs: np.ndarray
    max_order: np.ndarray
    pack_size: np.ndarray
    min_order: np.ndarray
    initial_on_hand: np.ndarray
    lead_values: tuple[np.ndarray, ...]
    lead_probs: tuple[np.ndarray, ...]
    overtaking: np.ndarray
    allocation: int
    internal_backorders: bool
    action_ranges: np.ndarray
    capacity_kind: np.ndarray
    capacity_limit: np.ndarray
    capacity_rule: np.ndarray
    capacity_overflow: np.ndarray
    capacity_start: np.ndarray
    capacity_points: np.ndarray
    capacity_weights: np.ndarray
    capacity_values: np.ndarray

    @property
    def n_points(self) -> int:
        return len(self.names)

    @property
    def single(self) -> bool:
        """True for a single item (one stock point supplied from outside)."""
        return len(self.names) == 1

    @property
    def max_lead_time(self) -> np.ndarray:
        """Largest lead time of each point."""
        return np.array([values.max() for values in self.lead_values], dtype=np.int64)

    @property
    def deterministic_lead_time(self) -> np.ndarray:
        return np.array([len(values) == 1 for values in self.lead_values])

    @property
    def pipeline_length(self) -> int:
        """Slots of the pipeline array: the longest lead time plus the slot an order of it enters."""
        return int(self.max_lead_time.max()) + 1

    def subtree(self, j: int) -> np.ndarray:
        """Indices of point ``j`` and every point below it (its echelon)."""
        members = [j]
        for member in members:
            members.extend(self.children[self.child_start[member] : self.child_start[member + 1]].tolist())
        return np.array(sorted(members), dtype=np.int64)


def _points(scenario: AnyScenario) -> tuple[list[StockPoint | Scenario], list[int]]:
    if isinstance(scenario, Scenario):
        return [scenario], [-1]
    names = [p.name for p in scenario.stock_points]
    return list(scenario.stock_points), [
        -1 if p.supplier is None else names.index(p.supplier) for p in scenario.stock_points
    ]


def compile_system(scenario: AnyScenario) -> System:
    """The arrays of a validated scenario, stock points in supply order."""
    points, supplier_listed = _points(scenario)
    depth_listed = []
    for j in range(len(points)):
        depth, current = 0, supplier_listed[j]
        while current != -1:
            depth, current = depth + 1, supplier_listed[current]
        depth_listed.append(depth)
    order = sorted(range(len(points)), key=lambda j: (depth_listed[j], j))
    position = {listed: new for new, listed in enumerate(order)}
    points = [points[j] for j in order]
    supplier = np.array([-1 if supplier_listed[j] == -1 else position[supplier_listed[j]] for j in order])
    priority = [getattr(p, "priority", 0) for p in points]
    children_of = [
        sorted((c for c in range(len(points)) if supplier[c] == j), key=lambda c: (priority[c], c))
        for j in range(len(points))
    ]
    child_start = np.cumsum([0] + [len(c) for c in children_of])
    demands: list[Any] = []
    demand_column: list[int] = []
    for point in points:
        demand_column.append(len(demands) if point.demand is not None else -1)
        if point.demand is not None:
            demands.append(point.demand)
    if isinstance(scenario, NetworkScenario):
        listed_ranges = scenario.action_ranges  # computed once: each access walks the tree
        ranges = [listed_ranges[order[j]] for j in range(len(points))]
        allocation, internal_backorders = ALLOCATION_RULES.index(scenario.allocation), scenario.internal_backorders
        capacities = scenario.capacities
    else:
        ranges, allocation, internal_backorders, capacities = [scenario.action_range], 0, True, ()
    index = {getattr(p, "name", "item"): j for j, p in enumerate(points)}
    members = [[index[m] for m in (c.members or index)] for c in capacities]
    weights = [
        [1.0 if c.weight == "units" else getattr(points[j], c.weight) for j in group]
        for c, group in zip(capacities, members, strict=True)
    ]
    overflow = np.zeros(len(points))  # per unit rejected by the point's shared storage limit
    for c, group, ws in zip(capacities, members, weights, strict=True):
        if c.kind == "storage":
            for j, w in zip(group, ws, strict=True):
                own = getattr(points[j], "overflow_cost", None)
                overflow[j] = c.overflow_cost * w if own is None else own
    costs = np.array(
        [
            [
                p.holding_cost,
                p.transit_holding_cost,
                p.shortage_cost,
                p.fixed_order_cost,
                p.unit_cost,
                p.price,
                getattr(p, "unfilled_order_cost", 0.0),
                overflow[j],
            ]
            for j, p in enumerate(points)
        ],
        dtype=np.float64,
    )
    values = [
        [points[j].shortage_cost / w for j, w in zip(group, ws, strict=True)]
        for group, ws in zip(members, weights, strict=True)
    ]
    return System(
        names=tuple("item" if isinstance(p, Scenario) else p.name for p in points),
        supplier=supplier.astype(np.int64),
        depth=np.array([depth_listed[j] for j in order], dtype=np.int64),
        child_start=child_start.astype(np.int64),
        children=np.array([c for cs in children_of for c in cs], dtype=np.int64),
        demand_column=np.array(demand_column, dtype=np.int64),
        demands=tuple(demands),
        lost_sales=np.array([p.lost_sales for p in points]),
        costs=costs,
        max_order=np.array([p.max_order for p in points], dtype=np.int64),
        pack_size=np.array([p.pack_size for p in points], dtype=np.int64),
        min_order=np.array([p.min_order for p in points], dtype=np.int64),
        initial_on_hand=np.array([p.initial_on_hand for p in points], dtype=np.int64),
        lead_values=tuple(p.lead_time_values.astype(np.int64) for p in points),
        lead_probs=tuple(p.lead_time_probs.astype(np.float64) for p in points),
        overtaking=np.array([p.overtaking for p in points]),
        allocation=allocation,
        internal_backorders=internal_backorders,
        action_ranges=np.array(ranges, dtype=np.int64),
        capacity_kind=np.array([CAPACITY_KINDS.index(c.kind) for c in capacities], dtype=np.int64),
        capacity_limit=np.array([c.limit for c in capacities], dtype=np.float64),
        capacity_rule=np.array([CAPACITY_RULES.index(c.rule) for c in capacities], dtype=np.int64),
        capacity_overflow=np.array([c.overflow_cost for c in capacities], dtype=np.float64),
        capacity_start=np.cumsum([0] + [len(group) for group in members]).astype(np.int64),
        capacity_points=np.array([j for group in members for j in group], dtype=np.int64),
        capacity_weights=np.array([w for group in weights for w in group], dtype=np.float64),
        capacity_values=np.array([v for group in values for v in group], dtype=np.float64),
    )
