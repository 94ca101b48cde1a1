"""Assortments: many SKUs supplied from outside that share a capacity, made from an item master.

An assortment is a network scenario whose stock points are all supplied from outside (a forest
of single points) and share the scenario's ``capacities`` (a warehouse's volume, a purchasing
budget, a truck): the one kernel simulates it, with the shared limits applied inside each
period (see :mod:`envs.kernel`). A scenario file names an item master instead of listing the
stock points::

    horizon: 100
    demand_history: 21
    assortment:
      items: ../data/mabim_items.csv        # relative to the scenario file (envs.items: the columns)
      history: ../data/retail_history.csv.gz  # or demand_mean / demand_variance in the item master
      history_from: 2024-01-22               # the days replayed (default: the whole history)
      history_to: 2024-12-30
      replay: window                         # or bootstrap, in blocks of block_length days
    capacities:
      - {name: warehouse, kind: storage, limit: 20000, weight: volume}

Each row of the item master becomes one stock point named by its SKU. With a history, every SKU's
demand replays its own sales on the same days as every other SKU (a ``csv`` demand with ``sku``,
:class:`envs.demand.CsvDemand`).

:class:`SkuView` reads an assortment's observation as one row per SKU (its stock, pipeline and
demand history, padded to a common width) beside a table of the SKU's parameters: the shape a
single policy for every SKU needs (one model, each SKU's parameters in its input).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from envs.errors import UserError
from envs.general import PARAMETERS
from envs.items import Items, read_items
from envs.layout import ObservationLayout
from envs.limits import MAX_HORIZON, MAX_STOCK_POINTS, Date, Flag, Int, plain_name
from envs.scenario import AnyScenario, NetworkScenario, Scenario, StockPoint, format_validation_error


class AssortmentSettings(BaseModel):
    """The ``assortment`` key of a scenario (see the module docstring)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    items: str = Field(min_length=1, max_length=4096, description="the item master CSV, relative to the scenario file")
    history: str | None = Field(
        default=None, min_length=1, max_length=4096, description="a long-format sales history to replay"
    )
    history_from: Date | None = Field(default=None, description="first day replayed (ISO date)")
    history_to: Date | None = Field(default=None, description="last day replayed (ISO date)")
    replay: Literal["window", "bootstrap"] = "window"
    block_length: Int = Field(default=28, ge=1, le=MAX_HORIZON)
    skus: Int | None = Field(
        default=None, ge=1, le=MAX_STOCK_POINTS, description="only the first N SKUs of the item master"
    )
    lost_sales: Flag = True

    @model_validator(mode="after")
    def _days_of_a_history(self) -> AssortmentSettings:
        if (self.history_from is not None or self.history_to is not None) and self.history is None:
            raise ValueError("history_from and history_to select days of the history: they need history")
        if self.history_from is not None and self.history_to is not None and self.history_to < self.history_from:
            raise ValueError(f"history_to {self.history_to} is before history_from {self.history_from}")
        return self


class _AssortmentKey(BaseModel):
    """The ``assortment`` key alone, so that a validation error names it as the scenario's other keys are named."""

    assortment: AssortmentSettings


def is_assortment(scenario: AnyScenario) -> bool:
    """A network of stock points all supplied from outside and all facing customers (a forest of items)."""
    return isinstance(scenario, NetworkScenario) and all(
        p.supplier is None and p.demand is not None for p in scenario.stock_points
    )


def _demand(items: Items, row: int, settings: AssortmentSettings, history: str | None) -> dict[str, Any]:
    if history is not None:
        return {"dist": "csv", "path": history, "sku": str(items.skus[row]), "start": settings.history_from,
                "end": settings.history_to, "mode": settings.replay, "block_length": settings.block_length}  # fmt: skip
    mean, variance = float(items.demand_mean[row]), float(items.demand_variance[row])
    if not np.isfinite(mean) or mean <= 0:
        raise ValueError("demand_mean must be given and positive (no history)")
    if np.isfinite(variance) and variance > mean:
        return {"dist": "negative_binomial", "mean": mean, "variance": variance}
    return {"dist": "poisson", "mean": mean}


def stock_points(items: Items, settings: AssortmentSettings, history: str | None) -> list[dict[str, Any]]:
    """The stock point of every item (a dict a scenario validates); ValueError names the item's line."""
    points = []
    for row in range(len(items)):
        try:
            demand = _demand(items, row, settings, history)
        except ValueError as error:
            raise ValueError(f"line {items.lines[row]}: {error}") from None
        point: dict[str, Any] = {
            "name": str(items.skus[row]),
            "lead_time": items.lead_time(row),
            "holding_cost": float(items.holding_cost[row]),
            "unit_cost": float(items.unit_cost[row]),
            "fixed_order_cost": float(items.fixed_order_cost[row]),
            "max_order": int(items.max_order[row]),
            "pack_size": int(items.pack_size[row]),
            "min_order": int(items.min_order[row]),
            "initial_on_hand": int(items.initial_on_hand[row]),
            "volume": float(items.volume[row]),
            "demand": demand,
            "lost_sales": settings.lost_sales,
            "shortage_cost": float(items.shortage_cost[row]),
            "price": float(items.price[row]),
        }
        if np.isfinite(items.overflow_cost[row]):
            point["overflow_cost"] = float(items.overflow_cost[row])
        points.append(point)
    return points


def expand_assortment(raw: dict[str, Any], scenario_file: Path) -> dict[str, Any]:
    """A scenario mapping with an ``assortment`` key turned into one with ``stock_points`` (one per item).

    Raises:
        UserError: one line naming the scenario file and key, or the item master and its first bad row.
    """
    if "stock_points" in raw:
        raise UserError(f"{scenario_file}: assortment: give an assortment or stock_points, not both")
    try:
        settings = _AssortmentKey.model_validate({"assortment": raw.pop("assortment")}).assortment
    except ValidationError as error:  # named as a scenario's keys are: assortment.skus
        raise UserError(format_validation_error(str(scenario_file), error)) from None
    base = scenario_file.resolve().parent
    items_path = (base / settings.items).resolve()
    history = str((base / settings.history).resolve()) if settings.history is not None else None
    items, problems = read_items(items_path, need_demand=history is None)
    if problems:
        line, message = problems[0]
        raise UserError(f"items {items_path}: line {line}: {message} ({len(problems):,} bad rows)")
    if settings.skus is not None:
        items = items.select(slice(0, settings.skus))
    for row, sku in enumerate(items.skus):  # it names a stock point, then columns and files: a formula is no name
        try:
            plain_name(str(sku))
        except ValueError as error:
            raise UserError(f"items {items_path}: line {items.lines[row]}: sku {error}") from None
    if history is not None:
        from envs.demand import long_history

        in_history = set(long_history(history).skus)
        missing = [i for i, sku in enumerate(items.skus) if sku not in in_history]
        if missing:
            raise UserError(
                f"items {items_path}: line {items.lines[missing[0]]}: sku {items.skus[missing[0]]} has no rows in "
                f"the history {history} ({len(missing):,} SKUs without)"
            )
    try:
        raw["stock_points"] = stock_points(items, settings, history)
    except ValueError as error:
        raise UserError(f"items {items_path}: {error}") from None
    return raw


def select_items(scenario: NetworkScenario, start: int, stop: int, limit: float | None = None) -> NetworkScenario:
    """The assortment of the SKUs ``start`` .. ``stop - 1`` (0-based, in item-master order) of ``scenario``,
    every capacity's limit replaced by ``limit`` if given; a UserError if the range holds no SKU."""
    points = scenario.stock_points[start:stop]
    if not points:
        raise UserError(f"{scenario.name}: no SKUs in {start}..{stop - 1} (it has {len(scenario.stock_points)})")
    capacities = scenario.capacities
    if limit is not None:
        capacities = tuple(c.model_copy(update={"limit": limit}) for c in capacities)
    return scenario.model_copy(update={"stock_points": points, "capacities": capacities})


def _demand_moments(demand: Any) -> tuple[float, float]:
    """Mean and variance of one period's demand: of its pmf when demand is iid, else the mean and that of a
    Poisson with that mean (a replayed history or seasonal demand has no single pmf)."""
    if demand.stationary:
        pmf = demand.pmf()
        values = np.arange(len(pmf))
        mean = float(values @ pmf)
        return mean, float((values - mean) ** 2 @ pmf)
    mean = demand.mean_demand()
    return mean, mean


class SkuView:
    """An assortment's observation as one row per SKU, and each SKU's parameters (a single item: one row).

    ``rows(obs)`` turns (n, dim) observations into (n, J, width): per SKU its stock entry, its
    pipeline (``arriving_in_0`` ..., zero-padded to the longest lead time of the assortment) and
    its demand history (lag 1 first). ``parameters`` is (J, len(PARAMETERS)): what differs between
    SKUs and stays fixed over an episode, so that one model can order for every SKU from
    ``concat(rows, parameters)``.

    Args:
        scenario: a single item, or an assortment (see :func:`is_assortment`).
        layout: its observation layout (built here if not given).
    """

    def __init__(self, scenario: AnyScenario, layout: ObservationLayout | None = None) -> None:
        if not (isinstance(scenario, Scenario) or is_assortment(scenario)):
            raise ValueError(
                f"{scenario.name}: neither a single item nor an assortment (every stock point supplied from "
                "outside, with demand)"
            )
        self.layout = layout = layout if layout is not None else ObservationLayout(scenario)
        system = layout.system
        pipeline = int(system.max_lead_time.max())
        history = scenario.demand_history
        self.names = ("stock", *(f"arriving_in_{k}" for k in range(pipeline)),
                      *(f"demand_lag_{k}" for k in range(1, history + 1)))  # fmt: skip
        index = np.full((system.n_points, len(self.names)), layout.dim, dtype=np.int64)  # dim: the zero column
        for j, point in enumerate(system.names):
            stock = layout.block("stock", point)
            assert stock is not None
            index[j, 0] = stock.start
            block = layout.block("pipeline", point)
            if block is not None:
                index[j, 1 : 1 + len(block.names)] = np.arange(block.start, block.stop)
            block = layout.block("demand_history", point)
            if block is not None:
                index[j, 1 + pipeline :] = np.arange(block.start, block.stop)
        self.index = index
        items: dict[str, StockPoint | Scenario] = (
            {p.name: p for p in scenario.stock_points} if isinstance(scenario, NetworkScenario) else {}
        )
        rows: list[list[float]] = []
        for name in system.names:
            item = items[name] if items else scenario  # a single item is its own point
            assert isinstance(item, StockPoint | Scenario) and item.demand is not None
            mean, variance = _demand_moments(item.demand)
            values, probs = item.lead_time_values, item.lead_time_probs
            lead = float(values @ probs)
            entries = {
                "mean_lead_time": lead, "mean_demand": mean, "demand_variance": variance,
                "lost_sales": float(item.lost_sales), "max_lead_time": float(values.max()),
                "lead_time_variance": float((values - lead) ** 2 @ probs),
            }  # fmt: skip
            # the costs and order keys as the item has them (a single item has no volume: 1)
            rows.append([entries[key] if key in entries else float(getattr(item, key, 1.0)) for key in PARAMETERS])
        self.parameters = np.array(rows, dtype=np.float64)

    def rows(self, obs: np.ndarray) -> np.ndarray:
        """(n, J, width) per-SKU rows of a batch of observations (n, dim)."""
        obs = np.asarray(obs)
        padded = np.concatenate([obs, np.zeros((len(obs), 1), dtype=obs.dtype)], axis=1)
        return padded[:, self.index]
