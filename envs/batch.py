"""The evaluator's face of the kernel: many episodes of one policy at once, on pre-drawn demand.

Running different policies on the same :class:`~envs.kernel.ExogenousPaths` gives them common
random numbers, so their paired cost differences have far less noise than independent runs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from envs.policy import Policy
from envs.kernel import KPI_NAMES, ExogenousPaths, InventoryBatch, draw_paths
from envs.scenario import Scenario

# Per-period quantities kept when a sample path is recorded.
TRACE_FIELDS = ("on_hand", "backlog", "ordered", "arrived", "demand", "sales", "lost", "cost")


@dataclass
class BatchResult:
    """Per-episode KPIs (arrays of length n_episodes) and, if asked, the trace of some episodes."""

    kpis: dict[str, np.ndarray]
    trace: dict[str, np.ndarray] | None = None  # field -> (n_traced, horizon)

    @property
    def avg_cost(self) -> np.ndarray:
        return self.kpis["avg_cost"]


def evaluation_paths(scenario: Scenario, n_episodes: int, seed: int) -> ExogenousPaths:
    """The exogenous paths of ``n_episodes`` episodes drawn from ``seed`` (same seed, same paths)."""
    return draw_paths(scenario, np.random.default_rng(seed), n_episodes)


def run_batch(
    policy: Policy,
    scenario: Scenario,
    paths: ExogenousPaths,
    warmup: int = 0,
    trace_rows: int = 0,
    progress: Callable[[int], None] | None = None,
) -> BatchResult:
    """Run ``policy`` on every episode of ``paths`` in one batch.

    Args:
        policy: anything with ``act(obs_batch) -> orders``.
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
    trace = {field: np.zeros((trace_rows, scenario.horizon)) for field in TRACE_FIELDS} if trace_rows else None
    while not batch.done:
        if batch.t == warmup:
            batch.kernel.totals.clear()
        t = batch.t
        orders = policy.act(batch.observe())
        outcome = batch.step(np.clip(orders, 0, scenario.max_order))
        if trace is not None:
            for field in TRACE_FIELDS:
                trace[field][:, t] = getattr(outcome, field)[:trace_rows]
        if progress is not None:
            progress(batch.t)
    kpis = batch.kernel.totals.kpis()
    return BatchResult({name: kpis[name] for name in KPI_NAMES}, trace)
