"""Exogenous paths: everything random in a batch of episodes, drawn up front from a seeded generator.

Drawing whole paths first lets different policies run on the same demand (common random
numbers), lets histories replay naturally, and keeps the kernel free of random draws.

How a path is drawn from a generator (its stream, so the same seed gives the same path on
every face): when every demand process is iid, one row of uniforms per episode, used in this
order: each demand point's demands (history + horizon + lookahead periods, by inversion of
its cdf), each stochastic lead time (horizon periods, by inversion), the random allocation
keys (horizon x stock points). Otherwise the demand processes draw their own paths (seasonal
demand, replayed histories), then the lead times and keys from uniforms.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any

import numba
import numpy as np
from numba import typed

from envs.demand import CsvDemand
from envs.layout import forecast_horizon
from envs.sampling import DiscreteInverse
from envs.scenario import AnyScenario, demand_processes
from envs.system import ALLOCATION_RULES, System, compile_system

RANDOM_ALLOCATION = ALLOCATION_RULES.index("random")


@dataclass
class ExogenousPaths:
    """The random inputs of ``n`` episodes.

    The timeline has ``history + horizon + lookahead`` periods: the first ``history`` demands
    are the ones observed before the episode starts, the last ``lookahead`` periods only supply
    features the policy can see ahead. Arrays are time-major (period, episode, ...), so that one
    period of every episode is one contiguous block for the kernel.
    """

    demand: np.ndarray  # int64 (timeline, n, demand points)
    features: np.ndarray  # float32 (timeline, n, features)
    lead_times: np.ndarray  # int64 (horizon, n, stock points): the lead time a shipment to the point would get
    keys: np.ndarray  # float64 (horizon, n, stock points) under random allocation, else (horizon, n, 0)
    forecasts: np.ndarray  # float32 (timeline, n, demand points x forecast entries), see envs.layout.forecast_names
    # int64 (timeline, n, demand points): the row of its history each demand replays (-1: drawn), or
    # (timeline, n, 0) when no demand point replays a history
    history_rows: np.ndarray

    @property
    def n(self) -> int:
        """Episodes."""
        return self.demand.shape[1]

    @staticmethod
    def stack(parts: list[ExogenousPaths]) -> ExogenousPaths:
        """One batch from several (e.g. one per separately seeded environment)."""
        return ExogenousPaths(
            *(np.concatenate([getattr(p, f.name) for p in parts], axis=1) for f in fields(ExogenousPaths))
        )

    def subset(self, rows: slice | np.ndarray) -> ExogenousPaths:
        """The episodes ``rows``."""
        return ExogenousPaths(*(np.ascontiguousarray(getattr(self, f.name)[:, rows]) for f in fields(self)))

    def tile(self, copies: int) -> ExogenousPaths:
        """The whole batch ``copies`` times over (candidate k runs on episodes k*n .. (k+1)*n - 1)."""
        return ExogenousPaths(*(np.tile(getattr(self, f.name), (1, copies, 1)) for f in fields(self)))


class PathSampler:
    """Draws :class:`ExogenousPaths` for a scenario (see the module docstring for the order of draws)."""

    def __init__(self, scenario: AnyScenario, system: System | None = None) -> None:
        self.system = system if system is not None else compile_system(scenario)
        self.horizon = scenario.horizon
        self.timeline = scenario.periods_before + scenario.horizon + scenario.feature_lookahead
        self.demands = demand_processes(scenario)
        self.stochastic = [j for j, values in enumerate(self.system.lead_values) if len(values) > 1]
        self.lead_times = [
            DiscreteInverse(self.system.lead_probs[j], self.system.lead_values[j]) for j in self.stochastic
        ]
        self.random_keys = self.system.allocation == RANDOM_ALLOCATION
        self.uniform_driven = all(hasattr(d, "invert") for d in self.demands)
        self.forecast = scenario.forecast
        self.forecast_horizon = forecast_horizon(scenario) if scenario.forecast is not None else 0
        points = self.system.n_points
        self.uniforms = (
            self.timeline * len(self.demands)
            + self.horizon * len(self.stochastic)
            + self.random_keys * self.horizon * points
        )

    def draw(self, rng: np.random.Generator, n: int) -> ExogenousPaths:
        """``n`` episodes from ``rng``."""
        if self.uniform_driven:
            return self.with_forecasts(self.from_uniforms(rng.random((n, self.uniforms))))
        return self.with_forecasts(self._draw_demand_and_supply(rng, n))

    def _draw_demand_and_supply(self, rng: np.random.Generator, n: int) -> ExogenousPaths:
        """Paths from the demand processes' own samplers (not iid demand), without forecasts."""
        parts, rows = [], np.full((self.timeline, n, len(self.demands)), -1, dtype=np.int64)
        joint: dict[tuple[Any, ...], np.ndarray] = {}  # the days SKUs of one history replay together
        for d, process in enumerate(self.demands):
            if isinstance(process, CsvDemand):
                key = process.joint_key
                if key is None or key not in joint:
                    replayed = process.rows(rng, n, self.timeline)
                    if key is not None:
                        joint[key] = replayed
                else:
                    replayed = joint[key]
                rows[:, :, d] = replayed.T
                parts.append(process.replay(replayed))
            else:
                parts.append(process.sample(rng, n, self.timeline))
        demand = np.stack([p[0].T for p in parts], axis=-1).astype(np.int64)
        features = np.concatenate([p[1].transpose(1, 0, 2) for p in parts], axis=-1).astype(np.float32)
        rest = rng.random((n, self.uniforms - self.timeline * len(self.demands)))
        replays = any(isinstance(process, CsvDemand) for process in self.demands)
        return self._with_supply(demand, features, rest, rows if replays else rows[:, :, :0])

    def draw_each(self, generators: Sequence[np.random.Generator]) -> ExogenousPaths:
        """One episode from each generator: row i equals ``draw(generators[i], 1)``.

        Given a numba typed List of generators (what the VecEnv keeps), the uniforms are drawn in
        one compiled loop; numba's generators continue numpy's streams, so the draws are the same.
        """
        if not self.uniform_driven:
            return self.with_forecasts(ExogenousPaths.stack([self._draw_demand_and_supply(g, 1) for g in generators]))
        uniforms = np.empty((len(generators), self.uniforms))
        if isinstance(generators, typed.List):
            _fill_uniforms(generators, uniforms)
        else:
            for row, generator in zip(uniforms, generators, strict=True):
                generator.random(out=row)
        return self.with_forecasts(self.from_uniforms(uniforms))

    def from_uniforms(self, uniforms: np.ndarray) -> ExogenousPaths:
        """The paths that rows of uniforms in [0, 1) stand for (iid demand only)."""
        n, span = len(uniforms), self.timeline * len(self.demands)
        demand = np.empty((self.timeline, n, len(self.demands)), dtype=np.int64)
        for d, process in enumerate(self.demands):
            process.invert_transposed(uniforms[:, d * self.timeline : (d + 1) * self.timeline], demand[:, :, d])
        features = np.zeros((self.timeline, n, 0), dtype=np.float32)
        return self._with_supply(demand, features, uniforms[:, span:], np.zeros((self.timeline, n, 0), np.int64))

    def _with_supply(
        self, demand: np.ndarray, features: np.ndarray, uniforms: np.ndarray, history_rows: np.ndarray
    ) -> ExogenousPaths:
        n, points = demand.shape[1], self.system.n_points
        lead_times = np.empty((self.horizon, n, points), dtype=np.int64)
        for j, values in enumerate(self.system.lead_values):
            lead_times[:, :, j] = values[0]
        for k, j in enumerate(self.stochastic):
            block = uniforms[:, k * self.horizon : (k + 1) * self.horizon]
            self.lead_times[k].transposed_into(block, lead_times[:, :, j])
        used = len(self.stochastic) * self.horizon
        if self.random_keys:
            keys = uniforms[:, used : used + self.horizon * points].reshape(n, self.horizon, points).transpose(1, 0, 2)
        else:
            keys = np.zeros((self.horizon, n, 0))
        forecasts = np.zeros((self.timeline, n, 0), dtype=np.float32)
        return ExogenousPaths(demand, features, lead_times, np.ascontiguousarray(keys), forecasts, history_rows)

    def with_forecasts(self, paths: ExogenousPaths) -> ExogenousPaths:
        """``paths`` with the scenario's rolling-origin forecasts of every demand point (none: as given).

        Each demand point's paths are forecast together (one series per episode) by
        :func:`forecasting.rolling.rolling_forecasts`; the forecast stored at period t was made
        from the demand before t only. The features of a demand point are its known signals. A
        replayed history's forecasts are made on the history and replayed with it
        (:meth:`envs.demand.CsvDemand.history_forecasts`).
        """
        if self.forecast is None:
            return paths
        from forecasting import make_forecaster
        from forecasting.rolling import rolling_forecasts

        settings, horizon = self.forecast, self.forecast_horizon
        blocks, offset = [], 0
        for d, process in enumerate(self.demands):
            names = process.feature_names
            signals = paths.features[:, :, offset : offset + len(names)].transpose(1, 0, 2)
            offset += len(names)
            if isinstance(process, CsvDemand):
                replayed = process.history_forecasts(
                    settings.model, horizon, settings.levels, settings.refit_every, settings.warmup
                )
                blocks.append(replayed[paths.history_rows[:, :, d]])
                continue
            rolled = rolling_forecasts(
                paths.demand[:, :, d].T, signals, names, names, make_forecaster(settings.model, horizon), horizon,
                levels=settings.levels, refit_every=settings.refit_every, first_origin=settings.warmup,
            )  # fmt: skip
            # per period ahead: the mean, then the quantiles (envs.layout.forecast_names); none before the warm-up
            entries = np.concatenate([rolled.mean[..., None], rolled.quantiles], axis=-1).reshape(
                paths.n, self.timeline, -1
            )
            blocks.append(np.nan_to_num(entries, nan=0.0).transpose(1, 0, 2))
        forecasts = np.ascontiguousarray(np.concatenate(blocks, axis=-1), dtype=np.float32)
        return ExogenousPaths(paths.demand, paths.features, paths.lead_times, paths.keys, forecasts, paths.history_rows)


@numba.njit(cache=True)
def _fill_uniforms(generators, out):
    for i in range(len(generators)):
        generator = generators[i]
        for k in range(out.shape[1]):
            out[i, k] = generator.random()


def draw_paths(scenario: AnyScenario, rng: np.random.Generator, n: int) -> ExogenousPaths:
    """Draw the exogenous paths of ``n`` episodes of ``scenario`` from ``rng``."""
    return PathSampler(scenario).draw(rng, n)
