"""Classic policies for an assortment sharing a capacity: per-SKU rules, coupled by a price on capacity.

Every SKU of an assortment (:mod:`envs.assortment`) follows its own classic rule on its own
inventory position: base-stock, (s, S), or a forecast-driven (s, S) whose levels follow the last
demands it observed. What couples the SKUs is the shared limit (a warehouse's volume). Two
baselines handle it:

- **Kernel allocation** (``sku_*``): each SKU's parameters are tuned as if it were alone, and the
  kernel shares the limit when it binds (arrivals scaled down, or by value, per the scenario's rule).
- **Lagrangian price** (``lagrangian_*``): a price lambda per unit of capacity-period is added to
  every SKU's holding cost (h_j + lambda v_j), each SKU is tuned for that cost, and lambda is
  searched by simulating the whole assortment under the real limit. This is the generalised
  Lagrange multiplier method of Everett (1963, "Generalized Lagrange multiplier method for solving
  problems of optimum allocation of resources", Operations Research 11(3)): for any lambda >= 0,
  the per-SKU minimisers of cost_j + lambda v_j E[on hand_j] together minimise the total cost among
  all policies that use no more capacity on average than they do, so one scalar searched over
  spans the efficient frontier of cost against capacity; Hadley and Whitin (1963, Analysis of
  Inventory Systems, sec. 2.7 and 4.x) apply it to multi-item lot sizes under a floor-space or
  budget limit. Since the kernel's limit binds period by period rather than on average, lambda
  is chosen by the simulated cost under the limit, not by the average use alone.

Per-SKU tuning is by simulation with common random numbers: the assortment without its limit is
simulated once for K candidate parameter vectors (candidate k of every SKU in one run: without
the limit the SKUs do not interact), which gives every SKU's cost and mean stock for each of
its K candidates; for any lambda the best candidate of each SKU is then read off, with no new
simulation. The forecast-driven rule needs no per-SKU search: its fractile and lot size carry
lambda directly (below).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from agents.classic.tuning import MAX_CELLS, TunedPolicy
from envs.assortment import is_assortment
from envs.batch import InventoryBatch, run_batch
from envs.layout import ObservationLayout
from envs.paths import ExogenousPaths
from envs.scenario import AnyScenario, NetworkScenario
from forecasting.order_up_to import gamma_levels

RULES = ("base_stock", "s_S", "forecast_order_up_to")
# evaluate.py's names: the rule tuned alone with the kernel sharing the limit, or with the Lagrangian price
ASSORTMENT_POLICIES = {
    **{f"sku_{rule}": (rule, False) for rule in RULES},
    **{f"lagrangian_{rule}": (rule, True) for rule in RULES},
}
# candidate lot sizes of the (s, S) search, in days of mean demand
LOT_DAYS = (1, 2, 4, 7, 14, 28)


def position_starts(layout: ObservationLayout) -> tuple[np.ndarray, int]:
    """Where each SKU's stock entry starts and where the last pipeline ends: each SKU's inventory position
    is the sum of the consecutive columns from its start to the next one's (``np.add.reduceat``)."""
    starts, stop = [], 0
    for point in layout.system.names:
        stock, pipeline = layout.block("stock", point), layout.block("pipeline", point)
        assert stock is not None and stock.start == stop, "an assortment's stock and pipeline blocks come first"
        starts.append(stock.start)
        stop = pipeline.stop if pipeline is not None else stock.stop
    return np.array(starts, dtype=np.int64), stop


def sku_positions(obs: np.ndarray, starts: np.ndarray, stop: int) -> np.ndarray:
    """Every SKU's inventory position (n, J) (see :func:`position_starts`)."""
    return np.rint(np.add.reduceat(np.asarray(obs, dtype=np.float64)[:, :stop], starts, axis=1)).astype(np.int64)


class SkuReorderLevels:
    """Per SKU j: when its inventory position is at or below ``s_j``, order up to ``S_j`` (base-stock: s = S - 1).

    Args:
        reorder, order_up_to: (J,) levels in the layout's stock-point order, or (n, J).
        layout: the assortment's observation layout.
        name: the label in tables.
        details: what the parameters came from (kept in results).
    """

    def __init__(
        self, reorder: np.ndarray, order_up_to: np.ndarray, layout: ObservationLayout, name: str, lam: float = 0.0
    ) -> None:
        self.reorder = np.asarray(reorder, dtype=np.int64)
        self.order_up_to = np.asarray(order_up_to, dtype=np.int64)
        self.starts, self.stop = position_starts(layout)
        self.name = name
        self.lam = lam

    def act(self, obs: np.ndarray) -> np.ndarray:
        position = sku_positions(obs, self.starts, self.stop)
        return np.where(position <= self.reorder, np.maximum(self.order_up_to - position, 0), 0)

    def params(self) -> dict[str, Any]:
        return {
            "lambda": self.lam,
            "mean S": float(np.mean(self.order_up_to)),
            "mean s": float(np.mean(self.reorder)),
        }


class ForecastReorderLevels:
    """Forecast-driven (s, S) per SKU from the demand history it observes (a moving-average forecast).

    Each period, for SKU j with mean lead time L_j, the forecast of daily demand is the mean mu of
    the last k observed demands and its variance their sample variance (at least mu). The reorder
    level s is the critical-fractile quantile of demand over the protection interval (L_j + 1
    days: mean and variance times L_j + 1; Silver, Pyke and Thomas 2017, ch. 6), from a gamma
    distribution with those two moments, rounded up (Burgin 1975, "The gamma distribution and
    inventory control", Operational Research Quarterly 26(3): fast for thousands of SKUs a period,
    and close to the negative binomial fit of :mod:`forecasting.order_up_to`) at the fractile
    p_j / (p_j + h_j + lambda v_j); the lot S - s is the EOQ sqrt(2 K_j mu / (h_j + 2 lambda v_j))
    (Harris 1913; with the capacity price as in Hadley and Whitin 1963, sec. 2.7: a lot of Q
    occupies Q v_j at its arrival), at least 1 and at most max_order. The inventory position is
    raised to S when it is at or below s.

    Args:
        scenario: an assortment with ``demand_history`` >= 2.
        layout: its observation layout.
        lam: the price per unit of capacity per period.
    """

    def __init__(self, scenario: NetworkScenario, layout: ObservationLayout, lam: float = 0.0, name: str = "") -> None:
        if scenario.demand_history < 2:
            raise ValueError(
                f"{scenario.name}: the forecast-driven rule needs demand_history >= 2 (it forecasts from it)"
            )
        system = layout.system
        self.name = name or "forecast_order_up_to"
        self.lam = lam
        self.starts, self.stop = position_starts(layout)
        blocks = [layout.block("demand_history", point) for point in system.names]
        self.lag_columns = np.array([np.arange(b.start, b.stop) for b in blocks if b is not None])  # (J, k)
        points = {p.name: p for p in scenario.stock_points}
        ordered = [points[name] for name in system.names]
        self.interval = np.array([float(p.lead_time_values @ p.lead_time_probs) + 1 for p in ordered])
        volume = np.array([p.volume for p in ordered])
        holding = np.array([p.holding_cost for p in ordered])
        shortage = np.array([p.shortage_cost for p in ordered])
        self.fractile = np.clip(shortage / (shortage + holding + lam * volume), 1e-6, 1 - 1e-6)
        self.lot_holding = np.maximum(holding + 2 * lam * volume, 1e-12)
        self.fixed = np.array([p.fixed_order_cost for p in ordered])
        self.max_order = np.array([p.max_order for p in ordered])

    def levels(self, obs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(s, S) of every row and SKU, (n, J) each."""
        lags = np.asarray(obs, dtype=np.float64)[:, self.lag_columns]  # (n, J, k)
        mu = lags.mean(axis=2)
        var = np.maximum(lags.var(axis=2, ddof=1), mu)
        reorder = gamma_levels(mu * self.interval, var * self.interval, self.fractile[None, :])
        lot = np.clip(np.rint(np.sqrt(2 * self.fixed * mu / self.lot_holding)), 1, self.max_order)
        return reorder, (reorder + lot).astype(np.int64)

    def act(self, obs: np.ndarray) -> np.ndarray:
        reorder, order_up_to = self.levels(obs)
        position = sku_positions(obs, self.starts, self.stop)
        return np.where(position <= reorder, np.maximum(order_up_to - position, 0), 0)

    def params(self) -> dict[str, Any]:
        return {"lambda": self.lam, "mean fractile": float(self.fractile.mean())}


def without_limits(scenario: NetworkScenario) -> NetworkScenario:
    """The assortment with no shared capacity: its SKUs no longer interact."""
    return scenario.model_copy(update={"capacities": ()})


def _candidates(rule: str, scenario: NetworkScenario, layout: ObservationLayout, paths: ExogenousPaths, count: int):
    """(K, J) reorder and order-up-to levels: K candidates of every SKU, spread over its demand scale."""
    system = layout.system
    timeline = paths.demand[scenario.periods_before :].astype(np.float64)  # (T, n, J)
    mean = np.maximum(timeline.mean(axis=(0, 1)), 1e-9)
    protection = system.max_lead_time + 1
    upper = np.array(
        [
            np.lib.stride_tricks.sliding_window_view(timeline[:, :, j], int(protection[j]), axis=0).sum(-1).max()
            for j in range(system.n_points)
        ]
    )
    if rule == "base_stock":
        grid = np.rint(np.linspace(0, 1, count)[:, None] * (upper + 1)).astype(np.int64)
        return grid - 1, grid
    levels = math.ceil(count / len(LOT_DAYS))
    reorder = np.rint(np.linspace(0, 1, levels)[:, None] * upper).astype(np.int64)
    lots = np.clip(np.rint(np.array(LOT_DAYS)[:, None] * mean), 1, system.max_order).astype(np.int64)
    s = np.repeat(reorder, len(LOT_DAYS), axis=0)
    return s, s + np.tile(lots, (levels, 1))


def sku_costs(
    rule: str, scenario: NetworkScenario, paths: ExogenousPaths, warmup: int, count: int = 48
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Every SKU's simulated cost and mean stock on hand for K candidate levels, without the limit.

    Returns:
        reorder, order_up_to, cost, on_hand: (K, J) each; candidate k of SKU j is (reorder[k, j],
        order_up_to[k, j]) with cost per period cost[k, j] and mean end-of-period stock on_hand[k, j].
    """
    alone = without_limits(scenario)
    layout = ObservationLayout(alone)
    reorder, order_up_to = _candidates(rule, alone, layout, paths, count)
    per_batch = max(1, MAX_CELLS // (paths.demand.size + paths.lead_times.size))
    cost, on_hand = np.empty(reorder.shape), np.empty(reorder.shape)
    for start in range(0, len(reorder), per_batch):
        rows = slice(start, min(start + per_batch, len(reorder)))
        k = rows.stop - rows.start
        policy = SkuReorderLevels(np.repeat(reorder[rows], paths.n, axis=0), np.repeat(order_up_to[rows], paths.n,
                                  axis=0), layout, rule)  # fmt: skip
        result = run_batch(policy, alone, paths.tile(k), warmup=warmup)
        cost[rows] = result.point_kpis["avg_cost"].reshape(k, paths.n, -1).mean(axis=1)
        on_hand[rows] = result.point_kpis["avg_on_hand"].reshape(k, paths.n, -1).mean(axis=1)
    return reorder, order_up_to, cost, on_hand


def priced_choice(cost: np.ndarray, on_hand: np.ndarray, volume: np.ndarray, lam: float) -> np.ndarray:
    """Each SKU's candidate minimising cost + lam x volume x mean stock (K, J) -> (J,) candidate indices."""
    return np.argmin(cost + lam * volume[None, :] * on_hand, axis=0)


def _volume(scenario: NetworkScenario, layout: ObservationLayout) -> np.ndarray:
    points = {p.name: p for p in scenario.stock_points}
    return np.array([points[name].volume for name in layout.system.names])


def search_price(
    judged: Callable[[float], float], scenario: NetworkScenario, prices: int = 12, refine: int = 6
) -> list[tuple[float, float]]:
    """The lambdas tried and their costs ``judged(lambda)``: 0, a log grid of ``prices`` values from 1e-2 to
    1e4 times the mean holding cost of ``scenario`` (+ 1e-3), then ``refine`` golden-section steps on
    log lambda between the best grid point's neighbours (the best lambda is the trace's cheapest)."""
    trace = [(0.0, judged(0.0))]
    scale = float(np.mean([p.holding_cost + 1e-3 for p in scenario.stock_points]))
    grid = scale * np.geomspace(1e-2, 1e4, prices)
    trace += [(float(lam), judged(float(lam))) for lam in grid]
    best = min(range(len(trace)), key=lambda i: trace[i][1])
    if best > 0:  # golden section on log lambda between the best grid point's neighbours
        low = math.log(trace[best - 1][0]) if best > 1 else math.log(grid[0]) - math.log(grid[1] / grid[0])
        high = math.log(trace[best + 1][0]) if best + 1 < len(trace) else math.log(grid[-1] * grid[1] / grid[0])
        ratio = (math.sqrt(5) - 1) / 2
        a, b = high - ratio * (high - low), low + ratio * (high - low)
        fa, fb = judged(math.exp(a)), judged(math.exp(b))
        trace += [(math.exp(a), fa), (math.exp(b), fb)]
        for _ in range(refine - 2):
            if fa <= fb:
                high, b, fb = b, a, fa
                a = high - ratio * (high - low)
                fa = judged(math.exp(a))
                trace.append((math.exp(a), fa))
            else:
                low, a, fa = a, b, fb
                b = low + ratio * (high - low)
                fb = judged(math.exp(b))
                trace.append((math.exp(b), fb))
    return trace


def tune_assortment(
    name: str,
    scenario: AnyScenario,
    paths: ExogenousPaths,
    warmup: int = 0,
    prices: int = 12,
    refine: int = 6,
    candidates: int = 48,
) -> TunedPolicy:
    """An assortment policy by name (:data:`ASSORTMENT_POLICIES`), tuned on ``paths``.

    ``sku_RULE``: each SKU tuned alone (lambda = 0). ``lagrangian_RULE``: lambda searched on a
    log grid of ``prices`` values from 1e-4 to 100 times the mean holding cost's scale (plus 0), then
    by ``refine`` golden-section steps on log lambda around the best, every lambda judged by the
    simulated cost of the whole assortment under its limit on ``paths``.

    Returns:
        the policy; ``expected_cost`` its simulated cost on ``paths``; ``details``: lambda, the search.
    """
    if not isinstance(scenario, NetworkScenario) or not is_assortment(scenario):
        raise ValueError(f"{getattr(scenario, 'name', scenario)}: not an assortment")
    rule, priced = ASSORTMENT_POLICIES[name]
    began = time.perf_counter()
    layout = ObservationLayout(scenario)
    volume = _volume(scenario, layout)

    if rule == "forecast_order_up_to":

        def make(lam: float) -> Any:
            return ForecastReorderLevels(scenario, layout, lam, name)

    else:
        reorder, order_up_to, cost, on_hand = sku_costs(rule, scenario, paths, warmup, candidates)
        columns = np.arange(reorder.shape[1])

        def make(lam: float) -> Any:
            pick = priced_choice(cost, on_hand, volume, lam)
            return SkuReorderLevels(reorder[pick, columns], order_up_to[pick, columns], layout, name, lam)

    def judged(lam: float) -> float:
        return float(run_batch(make(lam), scenario, paths, warmup=warmup).avg_cost.mean())

    trace = search_price(judged, scenario, prices, refine) if priced else [(0.0, judged(0.0))]
    lam, cost_found = min(trace, key=lambda entry: entry[1])
    details = {"lambda": lam, "search": [[x, c] for x, c in trace], "seconds": time.perf_counter() - began}
    return TunedPolicy(make(lam), "simulation", cost_found, details)


def capacity_use(policy: Any, scenario: NetworkScenario, paths: ExogenousPaths, warmup: int = 0) -> dict[str, Any]:
    """How a policy uses the assortment's first storage limit, and per-SKU KPIs, on ``paths``.

    Returns (means over episodes and the periods after ``warmup``): ``stored``, the weighted stock
    after each period's arrivals (what the limit caps) as a share of the limit; ``full``, the share
    of periods with less than one unit of the lightest SKU's weight free; ``rejected`` units per
    period; and per SKU (J,) ``sku_cost``, ``sku_fill_rate``, ``sku_rejected``.
    """
    batch = InventoryBatch(scenario, paths.n)
    batch.begin(paths)
    system = batch.system
    storage = [g for g in range(len(system.capacity_kind)) if system.capacity_kind[g] == 0]
    members = system.capacity_points[system.capacity_start[storage[0]] : system.capacity_start[storage[0] + 1]]
    weights = system.capacity_weights[system.capacity_start[storage[0]] : system.capacity_start[storage[0] + 1]]
    limit = float(system.capacity_limit[storage[0]])
    stored, full, rejected = [], [], np.zeros((paths.n, system.n_points))
    while not batch.done:
        if batch.t == warmup:
            batch.kernel.clear_totals()
        measured = batch.t >= warmup
        out = batch.step(np.asarray(policy.act(batch.observe())).reshape(paths.n, -1).clip(0, system.max_order))
        if measured:
            after_arrival = (out.on_hand + out.sales + out.backlog_filled)[:, members] @ weights
            stored.append(after_arrival / limit)
            full.append(after_arrival > limit - weights.min())
            rejected += out.rejected
    kpis = batch.kernel.totals
    from envs.kpis import point_kpis

    per_point = point_kpis(kpis, batch.kernel.periods, system)
    periods = max(batch.kernel.periods, 1)
    return {
        "stored": float(np.mean(stored)),
        "full": float(np.mean(full)),
        "rejected": float(rejected.sum(axis=1).mean() / periods),
        "sku_cost": per_point["avg_cost"].mean(axis=0),
        "sku_fill_rate": np.nanmean(per_point["fill_rate"], axis=0),
        "sku_rejected": rejected.mean(axis=0) / periods,
    }
