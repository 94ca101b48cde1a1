"""What each observation entry means: one layout object with named blocks, used by every face and policy.

An observation is a float32 vector. Its entries come in blocks:

| block           | per                | entries                                                          |
|-----------------|--------------------|------------------------------------------------------------------|
| stock           | stock point        | on hand, or net inventory (on hand - backlog - owed downstream)   |
| pipeline        | stock point        | units arriving k periods from now, k = 0 .. max lead time - 1     |
| awaiting        | supplied point     | units ordered, not yet shipped by its supplier (internal backorders) |
| demand_history  | demand point       | demand 1 .. k periods ago                                        |
| features        | demand point       | demand features of this and the next m - 1 periods               |
| forecasts       | demand point       | the forecast mean and quantiles of this and the next h - 1 periods |

A single item's entries keep their plain names (``on_hand``, ``arriving_in_0``, ``demand_lag_1``,
``promotion_ahead_0``); a network's are prefixed with the stock point (``retailer_1.on_hand``).
Policies, the DP, export and recommend ask the layout for the columns they need (the
inventory position of a point, the echelon position, a block by name) instead of counting
columns, and policy.json records it (:meth:`ObservationLayout.to_dict`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numba
import numpy as np

from envs.scenario import AnyScenario, demand_processes
from envs.system import System, compile_system

# What an observation column reads (the compiled form of the layout).
NET_INVENTORY, PIPELINE, AWAITING, DEMAND_LAG, FEATURE, FORECAST = range(6)


@dataclass(frozen=True)
class Block:
    """Consecutive observation columns of one kind, for one stock point (``None``: the whole system)."""

    kind: str
    stock_point: str | None
    start: int
    names: tuple[str, ...]

    @property
    def stop(self) -> int:
        return self.start + len(self.names)

    @property
    def columns(self) -> slice:
        return slice(self.start, self.stop)


class ObservationLayout:
    """The blocks of a scenario's observation, and how to fill them from the kernel's state and the paths.

    Args:
        scenario: the scenario (its demand_history and feature_lookahead).
        system: its compiled arrays (compiled here if not given).
    """

    def __init__(self, scenario: AnyScenario, system: System | None = None) -> None:
        self.system = system = system if system is not None else compile_system(scenario)
        self.blocks: list[Block] = []
        program: list[tuple[int, int, int]] = []
        single = system.single

        def add(kind: str, point: str | None, names: list[str], sources: list[tuple[int, int, int]]) -> None:
            if names:
                prefix = "" if single or point is None else f"{point}."
                self.blocks.append(Block(kind, point, len(program), tuple(prefix + name for name in names)))
                program.extend(sources)

        has_children = np.diff(system.child_start) > 0
        for j, point in enumerate(system.names):
            owes = has_children[j] and system.internal_backorders
            backorders = system.demand_column[j] >= 0 and not system.lost_sales[j]
            add("stock", point, ["net_inventory" if owes or backorders else "on_hand"], [(NET_INVENTORY, j, 0)])
            lead = int(system.max_lead_time[j])
            add("pipeline", point, [f"arriving_in_{k}" for k in range(lead)], [(PIPELINE, j, k) for k in range(lead)])
            if system.supplier[j] >= 0 and system.internal_backorders:
                add("awaiting", point, ["awaiting"], [(AWAITING, j, 0)])
        demand_points = [system.names[j] for j in np.flatnonzero(system.demand_column >= 0)]
        history = scenario.demand_history
        for d, point in enumerate(demand_points):
            lags = range(1, history + 1)
            add("demand_history", point, [f"demand_lag_{k}" for k in lags], [(DEMAND_LAG, d, k) for k in lags])
        offset = 0
        for process, point in zip(demand_processes(scenario), demand_points, strict=True):
            names = process.feature_names
            entries = [(f"{name}_ahead_{a}", (FEATURE, offset + f, a))
                       for a in range(scenario.feature_lookahead) for f, name in enumerate(names)]  # fmt: skip
            add("features", point, [e[0] for e in entries], [e[1] for e in entries])
            offset += len(names)
        self.forecast_names = forecast_names(scenario)
        for d, point in enumerate(demand_points):
            width = len(self.forecast_names)
            add("forecasts", point, list(self.forecast_names), [(FORECAST, d * width + k, 0) for k in range(width)])
        self.names = [name for block in self.blocks for name in block.names]
        self.now = scenario.periods_before  # the first period of an episode on the paths' timeline
        program_array = np.array(program, dtype=np.int64).reshape(-1, 3)
        self._kind, self._a, self._b = (np.ascontiguousarray(program_array[:, k]) for k in range(3))

    @property
    def dim(self) -> int:
        return len(self.names)

    def block(self, kind: str, stock_point: str | None = None) -> Block | None:
        """The block of ``kind`` for ``stock_point`` (a single item's: leave it out), or None if there is none."""
        point = self.system.names[0] if stock_point is None and self.system.single else stock_point
        return next((b for b in self.blocks if b.kind == kind and b.stock_point == point), None)

    def position_matrix(self, echelon: bool = False) -> np.ndarray:
        """A (dim, J) 0/1 matrix: ``obs @ matrix`` is every point's inventory position (or echelon position).

        The inventory position of a point is its stock entry (net inventory) plus its pipeline plus
        what it awaits; its echelon position adds the inventory positions of every point below it.
        """
        system = self.system
        matrix = np.zeros((self.dim, system.n_points), dtype=np.float32)
        for j in range(system.n_points):
            members = system.subtree(j) if echelon else [j]
            for member in members:
                for kind in ("stock", "pipeline", "awaiting"):
                    block = self.block(kind, system.names[member])
                    if block is not None:
                        matrix[block.columns, j] = 1.0
        return matrix

    def position_columns(self) -> slice:
        """A single item's inventory-position columns (stock and pipeline): ``obs[:, columns].sum(1)``."""
        if not self.system.single:
            raise ValueError("position_columns is for a single item; use position_matrix for a network")
        return slice(0, 1 + int(self.system.max_lead_time[0]))

    def observe(self, kernel: Any, paths: Any, t: int, out: np.ndarray) -> np.ndarray:
        """Fill ``out`` (n, dim) float32 with the observation in period ``t`` of the episodes on ``paths``."""
        system = self.system
        _observe(
            self._kind, self._a, self._b, system.child_start, system.children,
            kernel.on_hand, kernel.backlog, kernel.awaiting, kernel.pipeline,
            paths.demand, paths.features, paths.forecasts, self.now + t, out,
        )  # fmt: skip
        return out

    def to_dict(self) -> dict[str, Any]:
        """The layout as plain data (for policy.json): the entry names, the blocks and the stock points."""
        return {
            "names": list(self.names),
            "blocks": [{**asdict(b), "names": list(b.names), "stop": b.stop} for b in self.blocks],
            "stock_points": list(self.system.names),
        }


def forecast_names(scenario: AnyScenario) -> tuple[str, ...]:
    """The forecast entries of one demand point, in order: for each period ahead k, the mean then each quantile."""
    settings = scenario.forecast
    if settings is None:
        return ()
    return tuple(
        name
        for k in range(forecast_horizon(scenario))
        for name in (f"forecast_mean_ahead_{k}", *(f"forecast_q{level:g}_ahead_{k}" for level in settings.levels))
    )


def forecast_horizon(scenario: AnyScenario) -> int:
    """Periods ahead the forecasts cover: as set, else the longest lead time + 1 (a protection interval)."""
    assert scenario.forecast is not None
    if scenario.forecast.horizon is not None:
        return scenario.forecast.horizon
    return int(compile_system(scenario).max_lead_time.max()) + 1


@numba.njit(cache=True)
def _observe(
    kind, a, b, child_start, children, on_hand, backlog, awaiting, pipeline, demand, features, forecasts, now, out
):
    n = out.shape[0]
    for c in range(kind.shape[0]):  # column by column: one kind of entry per inner loop
        k, x, y = kind[c], a[c], b[c]
        if k == NET_INVENTORY:
            for i in range(n):
                value = on_hand[i, x] - backlog[i, x]
                for m in range(child_start[x], child_start[x + 1]):
                    value -= awaiting[i, children[m]]
                out[i, c] = value
        elif k == PIPELINE:
            for i in range(n):
                out[i, c] = pipeline[i, x, y]
        elif k == AWAITING:
            for i in range(n):
                out[i, c] = awaiting[i, x]
        elif k == DEMAND_LAG:
            for i in range(n):
                out[i, c] = demand[now - y, i, x]
        elif k == FEATURE:
            for i in range(n):
                out[i, c] = features[now + y, i, x]
        else:
            for i in range(n):
                out[i, c] = forecasts[now, i, x]
