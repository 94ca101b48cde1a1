"""N systems stepping in lockstep through pre-drawn paths, and the evaluator's batch runner.

:class:`InventoryBatch` joins the kernel, the episode clock, the exogenous paths and the
observation layout; the Gymnasium env, the SB3 VecEnv and :func:`run_batch` are thin faces
over it. Running different policies on the same :class:`~envs.paths.ExogenousPaths` gives them
common random numbers, so their paired cost differences have far less noise than independent runs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from envs.kernel import InventoryKernel, PeriodOutcome
from envs.kpis import KPI_NAMES, point_kpis, system_kpis
from envs.layout import ObservationLayout
from envs.paths import ExogenousPaths, draw_paths
from envs.policy import Policy
from envs.scenario import AnyScenario
from envs.system import compile_system

# Per-period quantities kept when a sample path is recorded.
TRACE_FIELDS = ("on_hand", "backlog", "ordered", "arrived", "demand", "sales", "lost", "cost")


class InventoryBatch:
    """``n`` systems of one scenario stepping in lockstep, each through its own pre-drawn exogenous path."""

    def __init__(self, scenario: AnyScenario, n: int) -> None:
        self.scenario = scenario
        self.system = compile_system(scenario)
        self.layout = ObservationLayout(scenario, self.system)
        self.kernel = InventoryKernel(self.system, n)
        self.n = n
        self.t = 0
        self.paths: ExogenousPaths | None = None
        self._obs = np.zeros((n, self.layout.dim), dtype=np.float32)
        self._no_keys = np.zeros((n, self.system.n_points))

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
        """The observation of every system, float32 (n, dim), in a buffer the next call overwrites."""
        if self.paths is None:
            raise RuntimeError("no episode running: call begin() first")
        return self.layout.observe(self.kernel, self.paths, self.t, self._obs)

    def step(self, orders: np.ndarray, record: bool = True) -> PeriodOutcome:
        """Apply one period with the given orders ((n,) for one stock point, (n, J)) and advance the clock
        (``record``: keep every flow of the period in the outcome, see :meth:`InventoryKernel.step`)."""
        if self.paths is None or self.done:
            raise RuntimeError("no episode running: call begin() first")
        paths, t = self.paths, self.t
        keys = paths.keys[t] if paths.keys.shape[2] else self._no_keys
        demand = paths.demand[self.scenario.periods_before + t]
        outcome = self.kernel.step(orders, demand, paths.lead_times[t], keys, record)
        self.t += 1
        return outcome

    def kpis(self) -> dict[str, np.ndarray]:
        """Episode KPIs per system since the last :meth:`InventoryKernel.clear_totals` (see :mod:`envs.kpis`)."""
        return system_kpis(self.kernel.totals, self.kernel.periods, self.system)


@dataclass
class BatchResult:
    """Per-episode KPIs (arrays of length n_episodes), per stock point (n_episodes, J), and traces if asked."""

    kpis: dict[str, np.ndarray]
    point_kpis: dict[str, np.ndarray]
    trace: dict[str, np.ndarray] | None = None  # field -> (n_traced, horizon, J)

    @property
    def avg_cost(self) -> np.ndarray:
        return self.kpis["avg_cost"]

    @staticmethod
    def concatenate(parts: list[BatchResult]) -> BatchResult:
        """One result from the results of consecutive chunks of episodes (the trace is the first chunk's)."""
        if len(parts) == 1:
            return parts[0]
        return BatchResult(
            {name: np.concatenate([part.kpis[name] for part in parts]) for name in parts[0].kpis},
            {name: np.concatenate([part.point_kpis[name] for part in parts]) for name in parts[0].point_kpis},
            parts[0].trace,
        )


def evaluation_paths(scenario: AnyScenario, n_episodes: int, seed: int) -> ExogenousPaths:
    """The exogenous paths of ``n_episodes`` episodes drawn from ``seed`` (same seed, same paths)."""
    return draw_paths(scenario, np.random.default_rng(seed), n_episodes)


def run_batch(
    policy: Policy,
    scenario: AnyScenario,
    paths: ExogenousPaths,
    warmup: int = 0,
    trace_rows: int = 0,
    progress: Callable[[int], None] | None = None,
) -> BatchResult:
    """Run ``policy`` on every episode of ``paths`` in one batch.

    Args:
        policy: anything with ``act(obs_batch) -> orders``; orders are clipped to 0..max_order.
        scenario: the inventory system.
        paths: one row per episode.
        warmup: periods at the start of each episode left out of the KPIs, so long-run
            averages are not biased by the starting state.
        trace_rows: record the per-period trace of this many first episodes.
        progress: called with the number of periods done after each period.
    """
    if not 0 <= warmup < scenario.horizon:
        raise ValueError(f"warmup must be in 0..horizon-1, got {warmup}")
    batch = InventoryBatch(scenario, paths.n)
    batch.begin(paths)
    max_order = batch.system.max_order
    shape = (paths.n, batch.system.n_points)
    trace = {f: np.zeros((trace_rows, scenario.horizon, shape[1])) for f in TRACE_FIELDS} if trace_rows else None
    while not batch.done:
        if batch.t == warmup:
            batch.kernel.clear_totals()
        t = batch.t
        orders = np.clip(np.asarray(policy.act(batch.observe())).reshape(shape), 0, max_order)
        outcome = batch.step(orders, record=trace is not None)
        if trace is not None:
            for field in TRACE_FIELDS:
                trace[field][:, t] = outcome.per_point(field)[:trace_rows]
        if progress is not None:
            progress(batch.t)
    kpis = batch.kpis()
    return BatchResult(
        {name: kpis[name] for name in KPI_NAMES},
        point_kpis(batch.kernel.totals, batch.kernel.periods, batch.system),
        trace,
    )
