"""The batched inventory kernel: the dynamics of N systems, written once, as numpy.

Event order in a period (Zipkin's convention):

1. The policy sees the state and orders q units (0..max_order). Cost: fixed_order_cost if
   q > 0, plus unit_cost * q.
2. The order due now arrives (with lead time 0, the order just placed; with lead time 1, the
   order placed last period).
3. Demand D arrives. With backorders the backlog is served first from what arrived.
   Sales = min(on hand, D); the rest is lost (shortage_cost per unit) or backordered
   (shortage_cost per unit in backlog at the end of each period).
4. holding_cost per unit left on hand at the end of the period.

Reward = price * units shipped - the period's total cost.

Everything here works on arrays of N systems in lockstep: :class:`InventoryKernel` holds the
state and applies one period; :class:`InventoryBatch` adds pre-drawn exogenous paths (demand,
lead times, features), the episode clock and the observation. The Gymnasium env, the SB3 VecEnv
and the evaluator's batch runner are thin faces over :class:`InventoryBatch`.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from envs.scenario import Scenario


@dataclass
class PeriodOutcome:
    """What happened in one period, one entry per system."""

    ordered: np.ndarray
    arrived: np.ndarray
    demand: np.ndarray
    sales: np.ndarray  # demand of this period met from stock
    backlog_filled: np.ndarray  # earlier backorders shipped this period
    lost: np.ndarray
    backordered: np.ndarray  # new backorders of this period
    on_hand: np.ndarray  # at period end
    backlog: np.ndarray  # at period end
    ordering_cost: np.ndarray  # fixed + unit
    holding_cost: np.ndarray
    shortage_cost: np.ndarray
    revenue: np.ndarray
    cost: np.ndarray
    reward: np.ndarray

    def row(self, i: int) -> dict[str, float | int]:
        """The outcome of system ``i`` as plain Python numbers (for a Gymnasium info dict)."""
        return {f.name: getattr(self, f.name)[i].item() for f in fields(self)}


KPI_NAMES = ("avg_cost", "fill_rate", "cycle_service_level", "avg_on_hand", "turnover", "lost_units", "order_frequency")


class KpiTotals:
    """Running sums per system from which the episode KPIs are computed."""

    def __init__(self, n: int) -> None:
        self.cost = np.zeros(n)
        self.demand = np.zeros(n)
        self.sales = np.zeros(n)
        self.shipped = np.zeros(n)
        self.lost = np.zeros(n)
        self.on_hand = np.zeros(n)
        self.stockout_periods = np.zeros(n)
        self.orders = np.zeros(n)
        self.periods = np.zeros(n)

    def clear(self) -> None:
        for total in vars(self).values():
            total[:] = 0.0

    def add(self, outcome: PeriodOutcome) -> None:
        self.cost += outcome.cost
        self.demand += outcome.demand
        self.sales += outcome.sales
        self.shipped += outcome.sales + outcome.backlog_filled
        self.lost += outcome.lost
        self.on_hand += outcome.on_hand
        self.stockout_periods += outcome.sales < outcome.demand
        self.orders += outcome.ordered > 0
        self.periods += 1

    def kpis(self) -> dict[str, np.ndarray]:
        """Episode KPIs per system.

        - avg_cost: total cost per period (excluding revenue).
        - fill_rate: share of demand met from stock in its own period.
        - cycle_service_level: share of periods with no stockout.
        - avg_on_hand: mean end-of-period on hand.
        - turnover: units shipped over the episode divided by the average on hand (NaN if zero).
        - lost_units: total units of lost sales.
        - order_frequency: orders placed per period.
        """
        periods = np.maximum(self.periods, 1)
        avg_on_hand = self.on_hand / periods
        with np.errstate(divide="ignore", invalid="ignore"):
            fill_rate = np.where(self.demand > 0, self.sales / np.maximum(self.demand, 1), 1.0)
            turnover = np.where(avg_on_hand > 0, self.shipped / avg_on_hand, np.nan)
        return {
            "avg_cost": self.cost / periods,
            "fill_rate": fill_rate,
            "cycle_service_level": 1.0 - self.stockout_periods / periods,
            "avg_on_hand": avg_on_hand,
            "turnover": turnover,
            "lost_units": self.lost.copy(),
            "order_frequency": self.orders / periods,
        }


class InventoryKernel:
    """State and one-period dynamics of ``n`` copies of a scenario's inventory system.

    State: ``on_hand`` (>= 0), ``backlog`` (>= 0, only with backorders) and ``pipeline``, where
    ``pipeline[:, k]`` holds the units arriving k periods from now (k = 0: this period, after the
    order is placed). The last column is empty between periods: it only receives an order of
    the longest lead time while a period is applied.
    """

    def __init__(self, scenario: Scenario, n: int) -> None:
        self.scenario = scenario
        self.n = n
        self.on_hand = np.zeros(n, dtype=np.int64)
        self.backlog = np.zeros(n, dtype=np.int64)
        self.pipeline = np.zeros((n, scenario.max_lead_time + 1), dtype=np.int64)
        # periods until the latest outstanding order arrives; later orders may not arrive before it
        self.latest_arrival = np.zeros(n, dtype=np.int64)
        self.totals = KpiTotals(n)
        self._rows = np.arange(n)

    def reset(self) -> None:
        """Put every system back in the starting state (initial on hand, nothing on order)."""
        self.on_hand[:] = self.scenario.initial_on_hand
        self.backlog[:] = 0
        self.pipeline[:] = 0
        self.latest_arrival[:] = 0
        self.totals.clear()

    def step(self, orders: np.ndarray, demand: np.ndarray, lead_times: np.ndarray) -> PeriodOutcome:
        """Apply one period to every system.

        Args:
            orders: units ordered now, integers in 0..max_order (shape (n,)).
            demand: this period's demand (shape (n,)).
            lead_times: the lead time each order would get (shape (n,)); ignored for q = 0.
        """
        sc = self.scenario
        orders = np.asarray(orders, dtype=np.int64)
        if not sc.overtaking and not sc.deterministic_lead_time:
            lead_times = np.where(orders > 0, np.maximum(lead_times, self.latest_arrival), lead_times)
            self.latest_arrival = np.where(orders > 0, lead_times, self.latest_arrival)
        self.pipeline[self._rows, lead_times] += orders
        arrived = self.pipeline[:, 0].copy()
        available = self.on_hand + arrived
        if sc.lost_sales:
            backlog_filled = np.zeros_like(available)
        else:
            backlog_filled = np.minimum(self.backlog, available)
            available = available - backlog_filled
            self.backlog = self.backlog - backlog_filled
        sales = np.minimum(available, demand)
        unmet = demand - sales
        self.on_hand = available - sales
        if sc.lost_sales:
            lost, backordered = unmet, np.zeros_like(unmet)
            shortage_cost = sc.shortage_cost * lost
        else:
            lost, backordered = np.zeros_like(unmet), unmet
            self.backlog = self.backlog + backordered
            shortage_cost = sc.shortage_cost * self.backlog
        self.pipeline[:, :-1] = self.pipeline[:, 1:]
        self.pipeline[:, -1] = 0
        np.maximum(self.latest_arrival - 1, 0, out=self.latest_arrival)

        ordering_cost = sc.fixed_order_cost * (orders > 0) + sc.unit_cost * orders
        holding_cost = sc.holding_cost * self.on_hand
        cost = ordering_cost + holding_cost + shortage_cost
        revenue = sc.price * (sales + backlog_filled)
        outcome = PeriodOutcome(
            ordered=orders,
            arrived=arrived,
            demand=demand,
            sales=sales,
            backlog_filled=backlog_filled,
            lost=lost,
            backordered=backordered,
            on_hand=self.on_hand,
            backlog=self.backlog,
            ordering_cost=ordering_cost,
            holding_cost=holding_cost,
            shortage_cost=shortage_cost,
            revenue=revenue,
            cost=cost,
            reward=revenue - cost,
        )
        self.totals.add(outcome)
        return outcome


@dataclass
class ExogenousPaths:
    """Everything random in a batch of episodes, drawn up front.

    The timeline has ``history + horizon + lookahead`` periods: the first ``history`` demands
    are the ones observed before the episode starts, the last ``lookahead`` periods only supply
    features the policy can see ahead.
    """

    demand: np.ndarray  # int64 (n, timeline)
    features: np.ndarray  # float32 (n, timeline, n_features)
    lead_times: np.ndarray  # int64 (n, horizon)

    @property
    def n(self) -> int:
        return len(self.demand)

    @staticmethod
    def stack(parts: list[ExogenousPaths]) -> ExogenousPaths:
        """One batch from several (e.g. one per separately seeded environment)."""
        return ExogenousPaths(
            np.concatenate([p.demand for p in parts]),
            np.concatenate([p.features for p in parts]),
            np.concatenate([p.lead_times for p in parts]),
        )


def draw_paths(scenario: Scenario, rng: np.random.Generator, n: int) -> ExogenousPaths:
    """Draw the demand, features and lead times of ``n`` episodes from ``rng``."""
    timeline = scenario.demand_history + scenario.horizon + scenario.feature_lookahead
    demand, features = scenario.demand.sample(rng, n, timeline)
    lead_times = scenario.draw_lead_times(rng, (n, scenario.horizon))
    return ExogenousPaths(demand.astype(np.int64), features, lead_times)


def observation_names(scenario: Scenario) -> list[str]:
    """The name of every observation entry, in order."""
    names = ["net_inventory" if not scenario.lost_sales else "on_hand"]
    names += [f"arriving_in_{k}" for k in range(scenario.max_lead_time)]
    names += [f"demand_lag_{k}" for k in range(1, scenario.demand_history + 1)]
    names += [
        f"{feature}_ahead_{j}" for j in range(scenario.feature_lookahead) for feature in scenario.demand.feature_names
    ]
    return names


def inventory_position(obs: np.ndarray, n_pipeline: int) -> np.ndarray:
    """On hand (net of backlog) plus everything on order, per row of ``obs`` (layout: :func:`observation_names`)."""
    return obs[:, : 1 + n_pipeline].sum(axis=1)


def orders_from_actions(scenario: Scenario, actions: np.ndarray, obs: np.ndarray) -> np.ndarray:
    """Map raw agent actions, taken on observations ``obs``, to order quantities.

    A discrete action is a value 0..action_range; a continuous action in [-1, 1] maps linearly onto
    0..action_range and is rounded (values outside [-1, 1] are clipped). With ``action_meaning:
    quantity`` the value is the order; with ``level`` it is an order-up-to level ``y`` and the order
    is ``y`` minus the inventory position read from ``obs``, at least 0. Orders are clipped to
    0..max_order.
    """
    actions = np.asarray(actions)
    if scenario.action == "continuous":
        fraction = (np.clip(actions.reshape(len(actions), -1)[:, 0], -1.0, 1.0) + 1.0) / 2.0
        values = np.rint(fraction * scenario.action_range).astype(np.int64)
    else:
        values = actions.reshape(-1).astype(np.int64)
    if scenario.action_meaning == "level":
        values = values - np.rint(inventory_position(np.asarray(obs), scenario.max_lead_time)).astype(np.int64)
    return np.clip(values, 0, scenario.max_order)


class InventoryBatch:
    """``n`` systems stepping in lockstep through their own pre-drawn exogenous paths."""

    def __init__(self, scenario: Scenario, n: int) -> None:
        self.scenario = scenario
        self.kernel = InventoryKernel(scenario, n)
        self.n = n
        self.t = 0
        self.paths: ExogenousPaths | None = None

    def begin(self, paths: ExogenousPaths) -> None:
        """Start new episodes for every system on the given paths (one per system)."""
        if paths.n != self.n:
            raise ValueError(f"got paths for {paths.n} systems, the batch has {self.n}")
        self.paths = paths
        self.kernel.reset()
        self.t = 0

    @property
    def done(self) -> bool:
        return self.t >= self.scenario.horizon

    def observe(self) -> np.ndarray:
        """The observation of every system, float32 (n, obs_dim); layout in :func:`observation_names`."""
        sc, k = self.scenario, self.kernel
        now = sc.demand_history + self.t
        parts = [(k.on_hand - k.backlog)[:, None], k.pipeline[:, : sc.max_lead_time]]
        if sc.demand_history:
            parts.append(self.paths.demand[:, now - sc.demand_history : now][:, ::-1])  # most recent first
        if sc.feature_lookahead:
            parts.append(self.paths.features[:, now : now + sc.feature_lookahead].reshape(self.n, -1))
        return np.concatenate(parts, axis=1, dtype=np.float32)

    def step(self, orders: np.ndarray) -> PeriodOutcome:
        """Apply one period with the given order quantities and advance the clock."""
        if self.paths is None or self.done:
            raise RuntimeError("no episode running: call begin() first")
        now = self.scenario.demand_history + self.t
        outcome = self.kernel.step(orders, self.paths.demand[:, now], self.paths.lead_times[:, self.t])
        self.t += 1
        return outcome
