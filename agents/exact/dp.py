"""The exact optimal policy of a single-item periodic-review inventory system.

Long-run average cost, integer demand iid over periods with a known pmf, deterministic lead
time ``L``, fixed plus linear ordering cost, holding cost on end-of-period on hand, and a
shortage cost per unit lost (lost sales) or per unit backordered at the end of a period.

Event order in a period (Zipkin's convention, the project's): the order ``q`` is placed, the
order due now arrives (with ``L = 0`` that is ``q`` itself), demand happens, sales are lost or
backordered, holding cost is charged on the end inventory.

Two formulations, both solved by modified relative value iteration (greedy Bellman steps
alternated with sweeps that evaluate the greedy policy; the Odoni bounds
``min(TV - V) <= g* <= max(TV - V)`` certify the average cost ``g*`` when they meet):

- **Backorders**: the optimal policy depends only on the inventory position ``z`` (net
  inventory plus pipeline). Ordering up to ``y`` at ``t`` fixes the expected holding and
  backorder cost of period ``t + L``, ``G(y) = E[h (y - D_{L+1})^+ + b (D_{L+1} - y)^+]``, so
  the DP is one-dimensional on ``z in [lo, hi]`` with ``z' = y - D``. The linear ordering cost
  does not steer the policy (every demanded unit is ordered once) and is added as
  ``unit_cost * E[D]``. Positions below ``lo`` are lumped into ``lo``: exact as long as the
  policy orders at ``lo`` (then the value is flat below), which the solver checks.
- **Lost sales**: with ``L >= 1`` only ``x + a_0`` matters of the on hand ``x`` and the
  arrival ``a_0``, so the state is ``(x + a_0, a_1, ..., a_{L-1})`` (one-dimensional for
  ``L = 1``); with ``L = 0`` it is the on hand. States with inventory position above the
  bound ``B`` are left out and orders keep the position within it.

Automatic bounds: the upper position bound is the newsvendor quantile of the ``(L+1)``-period
demand, ``F_{L+1}^{-1}(p / (p + h))`` -- the backorder base-stock level, above which
Morton (1971) shows optimal lost-sales orders never raise the position when ``K = 0`` --
plus one, plus the EOQ ``sqrt(2 K E[D] / h)``
when there is a fixed cost (an (s, S) policy orders about that far above ``s``). For
backorders the lower bound is that quantile minus the same margin. After solving, if the
optimal policy reaches a bound with positive stationary probability (or, for backorders,
does not order at ``lo``), an automatic bound is widened and the DP solved again; a bound
given by the caller is kept and a ``RuntimeWarning`` is issued instead.
"""

from __future__ import annotations

import math
import time
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import sparse

from agents.exact.formulas import (
    check_pmf,
    critical_fractile,
    expected_cost_function,
    lead_time_demand_pmf,
    truncate_tail,
)
from envs.layout import ObservationLayout

# Stationary probability above which reaching a truncation bound counts as binding.
BINDING_MASS = 1e-9
# Damping of the value update (P -> TAU P + (1 - TAU) I): removes periodicity, e.g. under
# deterministic demand, without changing the optimal policy or the bounds on g*.
TAU = 0.95
# Widenings of an automatic bound before giving up with a warning.
MAX_WIDENINGS = 6


class DPTooLarge(ValueError):
    """The truncated state space has more states than ``max_states`` allows."""


@dataclass(frozen=True)
class DPResult:
    """The solved DP: the optimal average cost and the order table.

    Attributes:
        average_cost: optimal long-run average cost per period (midpoint of the bounds).
        cost_bounds: certified lower and upper bounds on the optimal average cost of the
            truncated problem; the greedy policy's own average cost lies between them too.
        states: int64 array (n_states, d), one row per state. Backorders: the inventory
            position (d = 1). Lost sales: the on hand for ``L = 0``, else
            ``(on hand + a_0, a_1, ..., a_{L-1})`` (d = L).
        policy: int64 array (n_states,), the optimal order quantity in each state.
        stationary: float array (n_states,), the stationary law of the state under the
            optimal policy.
        lead_time: deterministic lead time ``L`` in periods.
        lost_sales: True for lost sales, False for backorders.
        max_order: largest order quantity allowed.
        bounds: ``(lo, hi)``, the range of inventory positions covered (``lo = 0`` for
            lost sales).
        bound_probability: stationary probability of the states where a bound may cut
            the optimal order: it orders up to ``hi``, or (backorders) ``lo`` is cut (orders
            nothing, or ``max_order`` while visited). Zero means the truncation does not bind.
        max_order_probability: stationary probability of ordering exactly ``max_order``
            (zero means ``max_order`` does not bind).
        n_states: number of states.
        iterations: number of greedy Bellman steps (the last one certifies the cost).
        sweeps: number of policy-evaluation sweeps in between.
        solve_seconds: wall time of the whole solve, including widened re-solves.
    """

    average_cost: float
    cost_bounds: tuple[float, float]
    states: np.ndarray
    policy: np.ndarray
    stationary: np.ndarray
    lead_time: int
    lost_sales: bool
    max_order: int
    bounds: tuple[int, int]
    bound_probability: float
    max_order_probability: float
    n_states: int
    iterations: int
    sweeps: int
    solve_seconds: float


def solve_dp(
    pmf: np.ndarray,
    lead_time: int,
    lost_sales: bool,
    holding_cost: float,
    shortage_cost: float,
    fixed_order_cost: float = 0.0,
    unit_cost: float = 0.0,
    max_order: int = 100,
    max_position: int | None = None,
    min_position: int | None = None,
    max_states: int = 1_000_000,
    tol: float = 1e-6,
    sweeps: int = 10,
    max_iterations: int = 10_000,
) -> DPResult:
    """Solve the average-cost DP exactly on a truncated state space.

    Args:
        pmf: demand pmf over ``0 .. len(pmf) - 1``; must sum to 1 (within 1e-6), its tail
            beyond mass ``agents.exact.formulas.TAIL_MASS`` is cut.
        lead_time: periods between placing and receiving an order (0 = arrives now).
        lost_sales: True if unmet demand is lost, False if it is backordered.
        holding_cost: cost per unit on hand at the end of a period.
        shortage_cost: cost per unit lost, or per unit backordered at the end of a period.
        fixed_order_cost: cost per period with a positive order.
        unit_cost: cost per unit ordered.
        max_order: largest order quantity allowed (>= 1).
        max_position: upper bound on the inventory position; automatic if None.
        min_position: backorders only: lowest inventory position kept; automatic if None.
        max_states: refuse (``DPTooLarge``) state spaces larger than this.
        tol: stop when the bounds on the average cost are this close (absolute).
        sweeps: policy-evaluation sweeps between greedy steps.
        max_iterations: give up (``RuntimeError``) after this many greedy steps.

    Returns:
        the solution, see :class:`DPResult`.
    """
    start = time.perf_counter()
    pmf = truncate_tail(check_pmf(pmf))
    _check_parameters(
        lead_time,
        holding_cost,
        shortage_cost,
        fixed_order_cost,
        unit_cost,
        max_order,
        max_states,
        tol,
        sweeps,
        max_iterations,
    )
    if lost_sales and min_position is not None:
        raise ValueError("min_position applies to backorders only; lost-sales positions start at 0")
    mean = float(np.arange(pmf.size) @ pmf)
    if not lost_sales and (max_order < mean or (max_order == mean and pmf.max() < 1.0)):
        raise ValueError(
            f"max_order={max_order} must exceed the mean demand {mean:.4g} "
            "under backorders, or the backlog grows without bound"
        )
    lead_pmf = lead_time_demand_pmf(pmf, lead_time + 1)
    lead_sd = math.sqrt(float(np.arange(lead_pmf.size) ** 2 @ lead_pmf) - (mean * (lead_time + 1)) ** 2)
    margin = 1 + (
        math.ceil(math.sqrt(2 * fixed_order_cost * mean / holding_cost))
        if fixed_order_cost > 0 and holding_cost > 0
        else 0
    )
    newsvendor = critical_fractile(lead_pmf, holding_cost, shortage_cost)
    auto_hi = max_position is None
    auto_lo = min_position is None
    hi = newsvendor + margin if max_position is None else int(max_position)
    lo = 0 if lost_sales else (min(newsvendor - margin, -1) if min_position is None else int(min_position))
    if hi <= lo or hi < 0:
        raise ValueError(f"max_position={hi} must be >= 0 and above min_position={lo}")
    step = max(2, math.ceil(lead_sd))
    costs = (holding_cost, shortage_cost, fixed_order_cost, unit_cost)
    for widening in range(MAX_WIDENINGS + 1):
        if lost_sales:
            model = _lost_sales_model(pmf, lead_time, hi, max_order, max_states, costs)
        else:
            model = _backorder_model(pmf, lead_pmf, lo, hi, max_order, max_states, costs)
        solution = _solve(model, pmf, tol, sweeps, max_iterations)
        hit_hi, hit_lo = _bound_hits(model, solution, hi, lost_sales, max_order)
        widen_hi = hit_hi > BINDING_MASS and auto_hi
        widen_lo = hit_lo and auto_lo
        if not (widen_hi or widen_lo) or widening == MAX_WIDENINGS:
            break
        hi += step if widen_hi else 0
        lo -= step if widen_lo else 0
    binding = []
    if hit_hi > BINDING_MASS:
        binding.append(f"orders up to {hi} with stationary probability {hit_hi:.3g}")
    if hit_lo:
        binding.append(f"is cut at {lo}")
    if binding:
        warnings.warn(
            f"the position bounds ({lo}, {hi}) bind: the optimal policy "
            f"{' and '.join(binding)}; widen max_position / min_position",
            RuntimeWarning,
            stacklevel=2,
        )
    lower, upper = solution.lower, solution.upper
    if not lost_sales:
        lower, upper = lower + unit_cost * mean, upper + unit_cost * mean
    return DPResult(
        average_cost=0.5 * (lower + upper),
        cost_bounds=(lower, upper),
        states=model.states,
        policy=solution.policy,
        stationary=solution.stationary,
        lead_time=lead_time,
        lost_sales=lost_sales,
        max_order=max_order,
        bounds=(lo, hi),
        bound_probability=float(hit_hi + (solution.stationary[0] if hit_lo else 0.0)),
        max_order_probability=float(solution.stationary[solution.policy == max_order].sum()),
        n_states=model.n_states,
        iterations=solution.iterations,
        sweeps=solution.sweeps,
        solve_seconds=time.perf_counter() - start,
    )


class OptimalPolicy:
    """The DP's optimal order table as a :class:`envs.policy.Policy`.

    Observations are rounded to integers. Outside the table: a lost-sales state whose
    inventory position exceeds the bound orders 0 (the bound is at or above the largest
    optimal order-up-to level), and negative entries count as 0; a backorder position above
    ``hi`` orders 0, and one below ``lo`` orders up to the same level as ``lo`` does (the
    policy is order-up-to there), capped at ``max_order``.

    Args:
        result: a solution from :func:`solve_dp`.
        layout: the observation layout of the scenario it was solved for (its stock and pipeline
            entries are the DP's state).
    """

    name = "optimal"

    def __init__(self, result: DPResult, layout: ObservationLayout) -> None:
        self.result = result
        self.columns = layout.position_columns()
        if self.columns.stop - self.columns.start != 1 + result.lead_time:
            pipeline = self.columns.stop - self.columns.start - 1
            raise ValueError(f"the layout has {pipeline} pipeline entries, the DP's lead time is {result.lead_time}")
        L = result.lead_time
        self._lo, self._hi = result.bounds
        if result.lost_sales:
            width = max(L, 1)
            self._binomial = _binomial_table(self._hi + width + 1, width)

    def act(self, obs: np.ndarray) -> np.ndarray:
        """Optimal order quantities for a batch of observations.

        Args:
            obs: float array (n, obs_dim) in the layout given at construction: its on hand (net
                inventory under backorders) and pipeline ``a_0 .. a_{L-1}`` entries are read.

        Returns:
            int64 array (n,), the order quantities.
        """
        r = self.result
        L = r.lead_time
        obs = np.asarray(obs, dtype=float)
        if obs.ndim != 2 or obs.shape[1] < self.columns.stop:
            raise ValueError(f"obs must have shape (n, >= {self.columns.stop}) for lead time {L}, got {obs.shape}")
        cols = np.rint(obs[:, self.columns]).astype(np.int64)
        if not r.lost_sales:
            position = cols.sum(axis=1)
            index = np.clip(position, self._lo, self._hi) - self._lo
            orders = r.policy[index] + np.maximum(self._lo - position, 0)
            return np.where(position > self._hi, 0, np.minimum(orders, r.max_order))
        cols = np.maximum(cols, 0)
        state = cols[:, :1] if L == 0 else np.column_stack([cols[:, 0] + cols[:, 1], cols[:, 2:]])
        inside = state.sum(axis=1) <= self._hi
        index = _simplex_rank(np.where(inside[:, None], state, 0), self._hi, self._binomial)
        return np.where(inside, r.policy[index], 0)

    def params(self) -> dict[str, Any]:
        """Size and cost of the solution, and ``s``, ``S`` when the table is an (s, S) rule.

        The (s, S) form is looked for in one-dimensional tables (backorders, lost sales with
        ``L <= 1``), in inventory-position terms: order ``min(S - z, max_order)`` when the
        position ``z <= s``. A base-stock level S shows as ``s = S - 1``.
        """
        r = self.result
        out: dict[str, Any] = {
            "average_cost": r.average_cost,
            "lead_time": r.lead_time,
            "lost_sales": r.lost_sales,
            "n_states": r.n_states,
            "bounds": r.bounds,
        }
        if r.states.shape[1] == 1:
            out.update(_implied_s_S(r.states[:, 0], r.policy, r.max_order))
        return out


@dataclass(frozen=True)
class _Model:
    """A DP in the shape the solver takes.

    Each (state, order) pair ``j`` moves, on demand ``d``, to state ``base[j] + (y[j] - d)^+``
    and costs ``cost[j]``; pairs are grouped by state (``starts``) with orders ascending from 0.
    """

    states: np.ndarray
    starts: np.ndarray
    order: np.ndarray
    base: np.ndarray
    y: np.ndarray
    cost: np.ndarray

    @property
    def n_states(self) -> int:
        return self.states.shape[0]


@dataclass(frozen=True)
class _Solution:
    lower: float
    upper: float
    policy: np.ndarray
    stationary: np.ndarray
    iterations: int
    sweeps: int


class _Kernel:
    """Expectation over demand of ``V[base + (y - D)^+]`` for a fixed set of (base, y).

    Entries are sorted by ``y`` descending so that the demands ``d < y`` touch a prefix.
    """

    def __init__(self, base: np.ndarray, y: np.ndarray, pmf: np.ndarray, tail: np.ndarray):
        self.perm = np.argsort(-y, kind="stable")
        y = y[self.perm]
        self.base = base[self.perm]
        self.top = self.base + y
        self.tail = tail[np.minimum(y, tail.size - 1)]
        depth = min(pmf.size, int(y[0]))
        self.prefix = np.searchsorted(-y, -np.arange(depth), side="left")
        self.pmf = pmf

    def expect(self, V: np.ndarray) -> np.ndarray:
        """The expectations, in the caller's entry order."""
        out = self.tail * V[self.base]
        for d, n in enumerate(self.prefix):
            out[:n] += self.pmf[d] * V[self.top[:n] - d]
        result = np.empty_like(out)
        result[self.perm] = out
        return result

    def matrix(self, n_states: int) -> sparse.csr_matrix:
        """The sparse matrix of the same transitions, rows in the caller's entry order."""
        rows = [self.perm]
        cols = [self.base]
        vals = [self.tail]
        for d, n in enumerate(self.prefix):
            rows.append(self.perm[:n])
            cols.append(self.top[:n] - d)
            vals.append(np.full(n, self.pmf[d]))
        return sparse.csr_matrix(
            (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(self.perm.size, n_states)
        )


def _solve(model: _Model, pmf: np.ndarray, tol: float, sweeps: int, max_iterations: int) -> _Solution:
    """Modified relative value iteration with Odoni bounds as the stopping rule."""
    tail = np.append(np.cumsum(pmf[::-1])[::-1], 0.0)
    pairs = _Kernel(model.base, model.y, pmf, tail)
    V = np.zeros(model.n_states)
    n_sweeps = 0
    for iteration in range(1, max_iterations + 1):
        Q = model.cost + pairs.expect(V)
        TV = np.minimum.reduceat(Q, model.starts)
        is_min = np.repeat(TV, np.diff(np.append(model.starts, Q.size))) == Q
        policy = np.minimum.reduceat(np.where(is_min, model.order, np.iinfo(np.int64).max), model.starts)
        gain = TV - V
        lower, upper = float(gain.min()), float(gain.max())
        chosen = model.starts + policy
        kernel = _Kernel(model.base[chosen], model.y[chosen], pmf, tail)
        if upper - lower <= tol:
            stationary = _stationary(kernel.matrix(model.n_states))
            return _Solution(lower, upper, policy, stationary, iteration, n_sweeps)
        V = V + TAU * gain
        V -= V[0]
        cost = model.cost[chosen]
        for _ in range(sweeps):
            V += TAU * (cost + kernel.expect(V) - V)
            V -= V[0]
        n_sweeps += sweeps
    raise RuntimeError(
        f"value iteration did not reach tol={tol} in {max_iterations} iterations (bounds {lower:.6g} .. {upper:.6g})"
    )


def _stationary(P: sparse.csr_matrix, tol: float = 1e-13, max_steps: int = 100_000) -> np.ndarray:
    """Stationary law of a unichain transition matrix by damped power iteration.

    A direct sparse solve suffers heavy fill-in on the lost-sales pipeline structure.
    """
    PT = (TAU * P.T + (1.0 - TAU) * sparse.identity(P.shape[0], format="csr")).tocsr()
    pi = np.full(P.shape[0], 1.0 / P.shape[0])
    for _ in range(max_steps):
        new = PT @ pi
        if np.abs(new - pi).sum() <= tol:
            break
        pi = new
    return new / new.sum()


def _bound_hits(model: _Model, solution: _Solution, hi: int, lost_sales: bool, max_order: int) -> tuple[float, bool]:
    """Stationary probability of ordering up to ``hi``; whether the backorder floor ``lo`` cuts.

    Lumping positions below ``lo`` into ``lo`` is exact when ``lo`` orders up to the same
    level as every lower position would; it is not if ``lo`` orders nothing, and only
    approximately so if ``lo`` is limited by ``max_order`` and is visited.
    """
    policy, stationary = solution.policy, solution.stationary
    at_hi = (model.states.sum(axis=1) + policy == hi) & (policy > 0)
    cut_lo = not lost_sales and (policy[0] == 0 or (policy[0] == max_order and stationary[0] > BINDING_MASS))
    return float(stationary[at_hi].sum()), bool(cut_lo)


def _lost_sales_model(
    pmf: np.ndarray, L: int, hi: int, max_order: int, max_states: int, costs: tuple[float, float, float, float]
) -> _Model:
    h, p, K, c = costs
    width = max(L, 1)
    n = math.comb(hi + width, width)
    if n > max_states:
        raise DPTooLarge(
            f"lost-sales DP with lead time {L} and position bound {hi} has {n:,} states > max_states={max_states:,}"
        )
    states = _simplex_states(hi, width)
    position = states.sum(axis=1)
    n_actions = np.minimum(max_order, hi - position) + 1
    owner = np.repeat(np.arange(n), n_actions)
    order = _ragged_arange(n_actions)
    starts = np.concatenate([[0], np.cumsum(n_actions)[:-1]])
    G = np.asarray(expected_cost_function(pmf, h, p)(np.arange(hi + 1)))
    if L == 0:
        y = states[owner, 0] + order
        base = np.zeros_like(y)
    else:
        # The order joins the pipeline; a_1 becomes the next period's arrival, which adds
        # to whatever on hand survives demand -- so it shifts the first coordinate.
        y = states[owner, 0]
        shifted = np.column_stack([states[owner, 1:], order])
        base = _simplex_rank(shifted, hi, _binomial_table(hi + width + 1, width))
    cost = G[y] + K * (order > 0) + c * order
    return _Model(states, starts, order, base, y, cost)


def _backorder_model(
    pmf: np.ndarray,
    lead_pmf: np.ndarray,
    lo: int,
    hi: int,
    max_order: int,
    max_states: int,
    costs: tuple[float, float, float, float],
) -> _Model:
    h, b, K, _ = costs
    n = hi - lo + 1
    if n > max_states:
        raise DPTooLarge(f"backorder DP on positions {lo}..{hi} has {n:,} states > max_states={max_states:,}")
    index = np.arange(n)
    n_actions = np.minimum(max_order, hi - lo - index) + 1
    owner = np.repeat(index, n_actions)
    order = _ragged_arange(n_actions)
    starts = np.concatenate([[0], np.cumsum(n_actions)[:-1]])
    y = owner + order
    G = np.asarray(expected_cost_function(lead_pmf, h, b)(np.arange(lo, hi + 1)))
    cost = G[y] + K * (order > 0)
    return _Model((lo + index)[:, None], starts, order, np.zeros_like(y), y, cost)


def _simplex_states(hi: int, width: int) -> np.ndarray:
    """All nonnegative integer vectors of length ``width`` with sum <= ``hi``.

    Ordered with the first coordinate fastest, so that :func:`_simplex_rank` is their index.
    """
    coords = [np.arange(hi + 1)]
    room = hi - coords[0]
    for _ in range(width - 1):
        counts = room + 1
        coords = [np.repeat(col, counts) for col in coords]
        new = _ragged_arange(counts)
        room = np.repeat(room, counts) - new
        coords.append(new)
    return np.column_stack(coords[::-1]).astype(np.int64)


def _simplex_rank(coords: np.ndarray, hi: int, binomial: np.ndarray) -> np.ndarray:
    """Index of each row of ``coords`` in the order of :func:`_simplex_states`."""
    width = coords.shape[1]
    rank = coords[:, 0].copy()
    room = np.full(coords.shape[0], hi, dtype=np.int64)
    # States before a row: for each slower coordinate j, those agreeing above j and smaller
    # at j -- a hockey-stick sum of simplex sizes.
    for j in range(width - 1, 0, -1):
        rank += binomial[room + j + 1, j + 1] - binomial[room - coords[:, j] + j + 1, j + 1]
        room = room - coords[:, j]
    return rank


def _binomial_table(n_max: int, k_max: int) -> np.ndarray:
    table = np.zeros((n_max + 1, k_max + 2), dtype=np.int64)
    for k in range(k_max + 2):
        table[:, k] = [math.comb(n, k) for n in range(n_max + 1)]
    return table


def _ragged_arange(lengths: np.ndarray) -> np.ndarray:
    """Concatenation of ``arange(m)`` for each ``m`` in ``lengths``."""
    ends = np.cumsum(lengths)
    return np.arange(ends[-1]) - np.repeat(ends - lengths, lengths)


def _check_parameters(
    lead_time: int,
    h: float,
    p: float,
    K: float,
    c: float,
    max_order: int,
    max_states: int,
    tol: float,
    sweeps: int,
    max_iterations: int,
) -> None:
    if not isinstance(lead_time, (int, np.integer)) or lead_time < 0:
        raise ValueError(f"lead_time must be an integer >= 0, got {lead_time!r}")
    for name, value in [("holding_cost", h), ("shortage_cost", p), ("fixed_order_cost", K), ("unit_cost", c)]:
        if not np.isfinite(value) or value < 0:
            raise ValueError(f"{name} must be finite and >= 0, got {value!r}")
    if h + p == 0:
        raise ValueError("holding_cost and shortage_cost are both 0: every policy is optimal")
    if not isinstance(max_order, (int, np.integer)) or max_order < 1:
        raise ValueError(f"max_order must be an integer >= 1, got {max_order!r}")
    if max_states < 1 or tol <= 0 or sweeps < 0 or max_iterations < 1:
        raise ValueError("max_states and max_iterations must be >= 1, tol > 0, sweeps >= 0")


def _implied_s_S(position: np.ndarray, policy: np.ndarray, max_order: int) -> dict[str, int]:
    """``{"s": s, "S": S}`` if the table orders ``min(S - z, max_order)`` exactly when z <= s."""
    ordering = policy > 0
    if not ordering.any() or ordering.all():
        return {}
    s = int(position[ordering].max())
    S = int((position + policy)[ordering].max())
    if np.any(ordering != (position <= s)) or np.any(policy[ordering] != np.minimum(S - position[ordering], max_order)):
        return {}
    return {"s": s, "S": S}
