"""Scenarios: validated descriptions of one inventory system, loaded from YAML.

A scenario is a YAML mapping in ``configs/scenarios/NAME.yaml`` (or any path). It is loaded by
name or path with :func:`load_scenario`, with optional keyword overrides of any key, and
validated with pydantic: a mistake is reported as one line naming the file and the key.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal, get_args

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from envs.demand import CsvDemand, DemandConfig, SeasonalDemand
from envs.errors import UserError
from envs.inputs import read_yaml
from envs.limits import (
    MAX_CHAIN_LENGTH,
    MAX_COST,
    MAX_FORECAST_HORIZON,
    MAX_HORIZON,
    MAX_LEAD_TIME,
    MAX_MEAN_DEMAND,
    MAX_OBSERVED_PERIODS,
    MAX_STOCK_POINTS,
    MAX_UNITS,
    PLAIN_NAME,
    Flag,
    Int,
    PlainName,
    Real,
)
from envs.rules import PARAMETERS as CLASSIC_PARAMETERS
from envs.rules import normal_form

SCENARIO_DIR = Path(__file__).resolve().parent.parent / "configs" / "scenarios"


class LeadTimeDistribution(BaseModel):
    """Stochastic lead time: each order draws its own lead time from ``values`` with ``probs``.

    With ``overtaking: false`` an order never arrives before one placed earlier (its arrival is
    delayed to the previous order's arrival period if needed); with ``true`` it may.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    values: tuple[Int, ...] = Field(min_length=1, max_length=MAX_LEAD_TIME + 1)
    probs: tuple[Real, ...] = Field(min_length=1, max_length=MAX_LEAD_TIME + 1)
    overtaking: Flag = False

    @model_validator(mode="after")
    def _valid(self) -> LeadTimeDistribution:
        if len(self.values) != len(self.probs):
            raise ValueError("values and probs must have the same length")
        if min(self.values) < 0 or max(self.values) > MAX_LEAD_TIME:
            raise ValueError(f"lead times must be non-negative integers (at most {MAX_LEAD_TIME})")
        if min(self.probs) < 0 or abs(sum(self.probs) - 1.0) > 1e-9:
            raise ValueError("probs must be non-negative and sum to 1")
        return self


def _check_lead_time(lead: Any) -> Any:
    # without this, 1.5 or -1 would be reported as a failed match of the distribution branch
    if (
        isinstance(lead, bool)
        or not isinstance(lead, (int, dict, LeadTimeDistribution))
        or (isinstance(lead, int) and not 0 <= lead <= MAX_LEAD_TIME)
    ):
        raise ValueError(
            f"must be a non-negative integer (at most {MAX_LEAD_TIME}) or a distribution, got {str(lead)[:40]}"
        )
    return lead


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class _Supply(_Strict):
    """How one stock point is replenished and what its stock costs."""

    lead_time: Int | LeadTimeDistribution = Field(description="periods from shipment to arrival")
    holding_cost: Real = Field(ge=0, le=MAX_COST, description="per unit on hand at period end")
    transit_holding_cost: Real = Field(default=0.0, ge=0, le=MAX_COST, description="per unit in transit at period end")
    fixed_order_cost: Real = Field(default=0.0, ge=0, le=MAX_COST)
    unit_cost: Real = Field(default=0.0, ge=0, le=MAX_COST, description="per unit shipped to the stock point")
    max_order: Int = Field(ge=1, le=MAX_UNITS)
    pack_size: Int = Field(default=1, ge=1, le=MAX_UNITS, description="orders are whole packs of this many units")
    min_order: Int = Field(default=0, ge=0, le=MAX_UNITS, description="minimum order quantity (MOQ), in units")
    initial_on_hand: Int = Field(default=0, ge=0, le=MAX_UNITS)
    max_level: Int | None = Field(
        default=None, ge=1, le=MAX_UNITS, description="highest order-up-to level; default (lead times + 1) * max_order"
    )
    max_correction: Int | None = Field(
        default=None,
        ge=1,
        le=MAX_UNITS,
        description="with action_meaning: correction, the largest correction in "
        "units (an action of 1 adds it, -1 takes it off); default max_order",
    )

    _lead_time_integer = field_validator("lead_time", mode="before")(_check_lead_time)

    @model_validator(mode="after")
    def _orderable(self) -> _Supply:
        smallest = -(-max(self.min_order, 1) // self.pack_size) * self.pack_size
        if smallest > self.max_order:
            raise ValueError(
                f"max_order {self.max_order} is below the smallest order allowed by pack_size {self.pack_size} "
                f"and min_order {self.min_order} ({smallest})"
            )
        return self

    @property
    def order_rounding(self) -> bool:
        """Whether orders are rounded to packs or raised to a minimum (then the exact formulas do not hold)."""
        return self.pack_size > 1 or self.min_order > 0

    @property
    def lead_time_values(self) -> np.ndarray:
        """Possible lead times (one entry when the lead time is deterministic)."""
        if isinstance(self.lead_time, int):
            return np.array([self.lead_time])
        return np.asarray(self.lead_time.values)

    @property
    def lead_time_probs(self) -> np.ndarray:
        """Probabilities of :attr:`lead_time_values`."""
        if isinstance(self.lead_time, int):
            return np.array([1.0])
        return np.asarray(self.lead_time.probs)

    @property
    def max_lead_time(self) -> int:
        return int(self.lead_time_values.max())

    @property
    def deterministic_lead_time(self) -> bool:
        return isinstance(self.lead_time, int)

    @property
    def overtaking(self) -> bool:
        return isinstance(self.lead_time, LeadTimeDistribution) and self.lead_time.overtaking


class ForecastSettings(_Strict):
    """Demand forecasts the agent and forecast-driven policies see, as exogenous paths.

    At every period t of every path, ``model`` forecasts the mean and the ``levels`` quantiles of
    each of the next ``horizon`` periods (t included) from the demand before t (and the demand
    features, taken as known in advance), refitted every ``refit_every`` periods on the data
    before the refit and conditioned on newer demand in between (``forecasting.rolling``): no
    forecast looks ahead. ``warmup`` periods of demand are drawn before each episode so that the
    first forecast has a history to fit on.
    """

    model: str = "moving_average"
    horizon: Int | None = Field(
        default=None, ge=1, le=MAX_FORECAST_HORIZON, description="periods ahead; default lead time + 1"
    )
    levels: tuple[Real, ...] = Field(default=(0.1, 0.9), min_length=1, max_length=99)
    refit_every: Int = Field(default=28, ge=1, le=MAX_HORIZON)
    warmup: Int = Field(default=56, ge=28, le=3650)

    @field_validator("model")
    @classmethod
    def _known_model(cls, model: str) -> str:
        from forecasting import MODELS

        if model not in MODELS:
            raise ValueError(f"unknown forecasting model '{model}' (models: {', '.join(MODELS)})")
        return model

    @field_validator("levels")
    @classmethod
    def _levels(cls, levels: tuple[float, ...]) -> tuple[float, ...]:
        if any(not 0 < level < 1 for level in levels) or list(levels) != sorted(set(levels)):
            raise ValueError("quantile levels must be increasing and inside (0, 1)")
        return levels


class _Options(_Strict):
    """Keys of every scenario: the episode, and what the agent sees and does.

    Its validator checks the demand of every stock point over the whole timeline an episode
    draws (``demand_history + horizon + feature_lookahead`` periods): a seasonal mean with a
    trend grows with it.
    """

    name: PlainName
    description: str = Field(default="", max_length=10_000)
    horizon: Int = Field(ge=1, le=MAX_HORIZON, description="periods per episode")
    action: Literal["discrete", "continuous"] = "discrete"
    action_meaning: Literal["quantity", "level", "correction"] = Field(
        default="quantity",
        description=(
            "the action is the order quantity, an order-up-to level of the (echelon) inventory position, "
            "or a correction of action_base's order (continuous actions)"
        ),
    )
    demand_history: Int = Field(default=0, ge=0, le=MAX_OBSERVED_PERIODS, description="observe the last k demands")
    feature_lookahead: Int = Field(
        default=0, ge=0, le=MAX_OBSERVED_PERIODS, description="observe demand features of the next m periods"
    )

    forecast: ForecastSettings | None = Field(
        default=None, description="observe demand forecasts (see ForecastSettings)"
    )

    @property
    def periods_before(self) -> int:
        """Periods of demand drawn before an episode: the observed history, and a forecaster's warm-up."""
        return max(self.demand_history, self.forecast.warmup if self.forecast is not None else 0)

    @model_validator(mode="after")
    def _demand_within_bounds(self) -> _Options:
        length = self.periods_before + self.horizon + self.feature_lookahead
        for demand in demand_processes(self):  # type: ignore[arg-type]  # self is a whole scenario here
            if isinstance(demand, SeasonalDemand) and not demand.peak_mean(length) <= MAX_MEAN_DEMAND:
                raise ValueError(
                    f"demand: the seasonal mean reaches {demand.peak_mean(length):.3g} units per period "
                    f"within {length} periods (base_mean x weekly x yearly x trend x promotion); "
                    f"at most {MAX_MEAN_DEMAND:,}"
                )
        return self


class ClassicRule(_Strict):
    """A classic policy an agent's actions correct (``action_meaning: correction``), in the
    parameters the classic policy's own name takes: base_stock ``S``; capped_base_stock ``S``,
    ``cap``; s_S ``s``, ``S``; eoq ``r``, ``Q``."""

    policy: Literal["base_stock", "capped_base_stock", "s_S", "eoq"]
    S: Int | None = Field(default=None, ge=0, le=MAX_UNITS)
    s: Int | None = Field(default=None, ge=-MAX_UNITS, le=MAX_UNITS)
    cap: Int | None = Field(default=None, ge=1, le=MAX_UNITS)
    r: Int | None = Field(default=None, ge=-MAX_UNITS, le=MAX_UNITS)
    Q: Int | None = Field(default=None, ge=1, le=MAX_UNITS)

    @model_validator(mode="after")
    def _its_parameters(self) -> ClassicRule:
        needed = CLASSIC_PARAMETERS[self.policy]
        given = {key for key in ("S", "s", "cap", "r", "Q") if getattr(self, key) is not None}
        if given != set(needed):
            raise ValueError(f"{self.policy} takes {', '.join(needed)} (given: {', '.join(sorted(given)) or 'none'})")
        if self.policy == "s_S" and not self.s < self.S:  # type: ignore[operator]
            raise ValueError(f"s_S needs S > s, got s={self.s}, S={self.S}")
        return self

    def highest_level(self) -> int:
        """The highest inventory position the rule orders up to (with (r, Q): r + Q)."""
        _, order_up_to, batch, _ = self.normal_form()
        return order_up_to + batch - 1

    def normal_form(self) -> tuple[int, int, int, int]:
        """(reorder point, order-up-to level, batch, cap) of :func:`envs.rules.reorder_rule`."""
        return normal_form(self.policy, **self.model_dump(exclude={"policy"}, exclude_none=True))


def _check_corrections(scenario: _Options, has_base: bool, has_range: bool) -> None:
    """Corrections need continuous actions; action_base and max_correction are for corrections only."""
    if scenario.action_meaning == "correction" and scenario.action != "continuous":
        raise ValueError("action_meaning: correction needs action: continuous")
    for key, given in (("action_base", has_base), ("max_correction", has_range)):
        if given and scenario.action_meaning != "correction":
            raise ValueError(f"{key} is for a correction of a classic policy: set action_meaning: correction")


class EchelonBaseStockRule(_Strict):
    """The echelon base-stock policy a network agent's actions correct (``action_meaning: correction``):
    each stock point orders up to its level on its echelon inventory position (Clark and Scarf 1960)."""

    policy: Literal["echelon_base_stock"]
    levels: dict[str, Int] = Field(description="the echelon order-up-to level of every stock point, by name")

    @field_validator("levels")
    @classmethod
    def _in_range(cls, levels: dict[str, int]) -> dict[str, int]:
        for name, level in levels.items():
            if not 0 <= level <= MAX_UNITS:
                raise ValueError(f"{name[:80]}: {level} is outside 0..{MAX_UNITS:,}")
        return levels

    def normal_forms(self, names: tuple[str, ...]) -> np.ndarray:
        """(J, 4) int64: each point's (reorder point, order-up-to level, batch, cap) of
        :func:`envs.rules.reorder_rule`, in the order of ``names``."""
        return np.array([normal_form("base_stock", S=self.levels[name]) for name in names], dtype=np.int64)


class Scenario(_Options, _Supply):
    """One single-item, periodic-review inventory system (see the README for every key)."""

    demand: DemandConfig
    lost_sales: Flag = True
    shortage_cost: Real = Field(ge=0, le=MAX_COST, description="per unit lost, or per unit backlogged per period")
    price: Real = Field(default=0.0, ge=0, le=MAX_COST, description="revenue per unit sold; turns reward into profit")
    action_base: ClassicRule | None = Field(
        default=None,
        description="with action_meaning: correction, the classic policy whose order the action corrects "
        "(train.py tunes it when it is not given)",
    )

    @model_validator(mode="after")
    def _corrections(self) -> Scenario:
        _check_corrections(self, self.action_base is not None, self.max_correction is not None)
        return self

    @model_validator(mode="after")
    def _backorders_need_both_costs(self) -> Scenario:
        # with a free backlog or free stock the problem is degenerate (never order / order without end)
        if not self.lost_sales and (self.holding_cost == 0 or self.shortage_cost == 0):
            raise ValueError(
                "with backorders (lost_sales: false), holding_cost and shortage_cost must both be positive"
            )
        return self

    @property
    def action_range(self) -> int:
        """The largest action value: ``max_order`` for quantities, the highest level for levels."""
        if self.action_meaning == "correction":
            return self.max_correction if self.max_correction is not None else self.max_order
        if self.action_meaning == "quantity":
            return self.max_order
        return self.max_level if self.max_level is not None else (self.max_lead_time + 1) * self.max_order

    def draw_lead_times(self, rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
        """Lead times for every order of ``shape`` (systems x periods)."""
        if isinstance(self.lead_time, int):
            return np.full(shape, self.lead_time, dtype=np.int64)
        return rng.choice(np.asarray(self.lead_time.values, dtype=np.int64), size=shape, p=self.lead_time.probs)


class StockPoint(_Supply):
    """One stock point of a network: its supplier, supply and costs, and its customers if it has any.

    ``supplier`` names another stock point, or is left out for the outside supplier (unlimited
    stock). A stock point with a ``demand`` serves outside customers first, then the stock
    points it supplies.
    """

    name: PlainName
    supplier: str | None = Field(default=None, description="the stock point it orders from; none: outside")
    demand: DemandConfig | None = None
    lost_sales: Flag = True
    shortage_cost: Real = Field(default=0.0, ge=0, le=MAX_COST, description="per unit lost, or backlogged per period")
    price: Real = Field(default=0.0, ge=0, le=MAX_COST)
    priority: Int = Field(
        default=0,
        ge=-MAX_STOCK_POINTS,
        le=MAX_STOCK_POINTS,
        description="under the priority rule, lower is served first",
    )
    unfilled_order_cost: Real = Field(
        default=0.0,
        ge=0,
        le=MAX_COST,
        description="per unit of its order its supplier could not ship (awaiting at period end)",
    )
    volume: Real = Field(default=1.0, gt=0, le=MAX_COST, description="space one unit takes, for shared capacities")
    overflow_cost: Real | None = Field(
        default=None,
        ge=0,
        le=MAX_COST,
        description="per unit its storage limit rejects (default: the limit's cost x weight)",
    )

    @model_validator(mode="after")
    def _customers(self) -> StockPoint:
        if self.demand is None and (self.shortage_cost or self.price):
            raise ValueError(f"stock point '{self.name}': shortage_cost and price need customers (a demand)")
        if self.supplier is None and self.unfilled_order_cost:
            raise ValueError(f"stock point '{self.name}': unfilled_order_cost needs a supplier (the outside ships all)")
        if self.demand is not None and not self.lost_sales and (self.holding_cost == 0 or self.shortage_cost == 0):
            raise ValueError(
                f"stock point '{self.name}': with backorders, holding_cost and shortage_cost must both be positive"
            )
        return self


class Capacity(_Strict):
    """A limit several stock points share each period, and how it is shared when it binds.

    ``storage``: the weighted stock on hand after this period's arrivals may not exceed ``limit``
    (a warehouse's volume); arrivals beyond it are rejected, at ``overflow_cost`` per unit of
    weight, as in MABIM/ReplenishmentEnv. Its members must be supplied from outside.
    ``orders``: the weighted orders placed in the period may not exceed ``limit`` (a purchasing
    budget with weight ``unit_cost``, a truck with weight ``volume``); orders beyond it are cut.
    ``rule``: ``proportional`` (every member's quantity scaled by the same factor, the units left
    over by largest remainder) or ``value`` (members by shortage cost per unit of weight, highest
    first, each served in full while the limit allows).
    """

    name: PlainName
    kind: Literal["storage", "orders"]
    limit: Real = Field(gt=0, le=MAX_COST * MAX_UNITS)
    weight: Literal["volume", "unit_cost", "units"] = "volume"
    members: tuple[str, ...] | None = Field(default=None, description="stock points sharing it; none: all")
    rule: Literal["proportional", "value"] = "proportional"
    overflow_cost: Real = Field(default=0.0, ge=0, le=MAX_COST, description="storage: per unit of weight rejected")


class NetworkScenario(_Options):
    """A network of stock points (a serial chain or a distribution tree) reviewed once per period.

    Each stock point has one supplier: another stock point, or the outside supplier. A supplier
    ships what it has on hand; what it cannot ship is backordered and shipped first when stock
    arrives (``internal_backorders: true``, the Clark-Scarf convention) or cancelled (``false``,
    as in OR-Gym). When several stock points draw on a supplier that is short, ``allocation``
    shares what it has: in proportion to what each asks for, by ``priority``, or in a random
    order drawn each period (Kaynov et al. 2024).
    """

    stock_points: tuple[StockPoint, ...] = Field(min_length=1, max_length=MAX_STOCK_POINTS)
    allocation: Literal["proportional", "priority", "random"] = "proportional"
    internal_backorders: Flag = True
    capacities: tuple[Capacity, ...] = ()

    action_base: EchelonBaseStockRule | None = Field(
        default=None,
        description="with action_meaning: correction, the echelon base-stock levels whose orders the actions "
        "correct (train.py optimises them when they are not given)",
    )

    @model_validator(mode="after")
    def _corrections(self) -> NetworkScenario:
        ranged = [p.name for p in self.stock_points if p.max_correction is not None]
        if ranged and self.action_meaning != "correction":
            raise ValueError(
                f"stock point '{ranged[0]}': max_correction is for a correction of a classic policy: "
                "set action_meaning: correction"
            )
        _check_corrections(self, self.action_base is not None, False)
        if self.action_base is not None:
            names = [p.name for p in self.stock_points]
            unknown = sorted(set(self.action_base.levels) - set(names))
            missing = [name for name in names if name not in self.action_base.levels]
            if unknown:
                raise ValueError(f"action_base.levels: '{unknown[0][:80]}' is not a stock point")
            if missing:
                raise ValueError(f"action_base.levels: no level for stock point '{missing[0]}'")
        return self

    @model_validator(mode="after")
    def _capacities(self) -> NetworkScenario:
        points = {p.name: p for p in self.stock_points}
        claimed: dict[tuple[str, str], str] = {}
        for capacity in self.capacities:
            members = capacity.members if capacity.members is not None else tuple(points)
            for member in members:
                if member not in points:
                    raise ValueError(f"capacities: '{capacity.name}': '{member}' is not a stock point")
                if capacity.kind == "storage" and points[member].supplier is not None:
                    raise ValueError(
                        f"capacities: '{capacity.name}': storage limits stock points supplied from outside; "
                        f"'{member}' has a supplier"
                    )
                if (capacity.kind, member) in claimed:
                    raise ValueError(
                        f"capacities: '{member}' is in two {capacity.kind} limits "
                        f"('{claimed[capacity.kind, member]}' and '{capacity.name}')"
                    )
                claimed[capacity.kind, member] = capacity.name
        for point in self.stock_points:
            if point.overflow_cost is not None and ("storage", point.name) not in claimed:
                raise ValueError(f"stock point '{point.name}': overflow_cost needs a storage limit among capacities")
        return self

    @field_validator("stock_points")
    @classmethod
    def _a_tree(cls, points: tuple[StockPoint, ...]) -> tuple[StockPoint, ...]:
        names = [p.name for p in points]
        seen: set[str] = set()
        for name in names:
            if name in seen:
                raise ValueError(f"two stock points are named '{name}'")
            seen.add(name)
        supplier_of = {p.name: p.supplier for p in points}
        for point in points:
            if point.supplier == point.name:
                raise ValueError(f"stock point '{point.name}': supplier: a stock point cannot supply itself")
            if point.supplier is not None and point.supplier not in supplier_of:
                known = ", ".join(names[:10]) + (f" and {len(names) - 10} more" if len(names) > 10 else "")
                raise ValueError(
                    f"stock point '{point.name}': supplier: '{point.supplier[:60]}' is not a stock point "
                    f"(known: {known}; leave supplier out for the outside supplier)"
                )
        for point in points:
            chain, current = [point.name], point.supplier
            while current is not None:
                if current in chain:
                    cycle = " -> ".join([*chain[chain.index(current) :], current])
                    raise ValueError(f"stock point '{point.name}': supplier: the suppliers form a cycle ({cycle})")
                chain.append(current)
                if len(chain) > MAX_CHAIN_LENGTH:
                    raise ValueError(
                        f"stock point '{point.name}': supplier: a chain of more than {MAX_CHAIN_LENGTH} stock points"
                    )
                current = supplier_of[current]
        supplies = {p.supplier for p in points}
        for point in points:
            if point.demand is None and point.name not in supplies:
                raise ValueError(
                    f"stock point '{point.name}': has no customers (no demand) and supplies no stock point"
                )
        return points

    @property
    def action_range(self) -> int:
        """Largest action value over the stock points (see :meth:`action_ranges`)."""
        return max(self.action_ranges)

    @property
    def action_ranges(self) -> tuple[int, ...]:
        """The largest action value of each stock point: its max_order, or its highest echelon level."""
        if self.action_meaning == "quantity":
            return tuple(p.max_order for p in self.stock_points)
        if self.action_meaning == "correction":
            return tuple(p.max_correction if p.max_correction is not None else p.max_order for p in self.stock_points)
        return tuple(
            p.max_level if p.max_level is not None else (self.echelon_lead_time(p.name) + 1) * p.max_order
            for p in self.stock_points
        )

    def echelon_lead_time(self, name: str) -> int:
        """Longest sum of maximal lead times from the stock point ``name`` down to a customer-facing one."""
        point = next(p for p in self.stock_points if p.name == name)
        below = [self.echelon_lead_time(p.name) for p in self.stock_points if p.supplier == name]
        return point.max_lead_time + max(below, default=0)


AnyScenario = Scenario | NetworkScenario


# Errors that only say "this union branch has the wrong type": a problem inside the branch that
# matches the input is more useful to the user.
_TYPE_MISMATCH = {"int_type", "int_parsing", "int_from_float", "model_type", "dict_type", "model_attributes_type"}
# Union branch tags pydantic puts in error locations (demand.poisson.mean, lead_time.int):
# the lead-time branches and every demand distribution's ``dist`` name.
_UNION_TAGS = {"int", "LeadTimeDistribution"} | {
    get_args(branch.model_fields["dist"].annotation)[0] for branch in get_args(get_args(DemandConfig)[0])
}


def format_validation_error(source: str, error: ValidationError) -> str:
    """One line naming the file and the key of the most telling error pydantic found."""
    errors = error.errors()
    # a problem that is not a type mismatch of a union branch; else the most specific mismatch
    first = next((e for e in errors if e["type"] not in _TYPE_MISMATCH), max(errors, key=lambda e: len(e["loc"])))
    parts = [str(part) for part in first["loc"]]
    key = (
        ".".join(p for p in parts if p not in _UNION_TAGS and not p.startswith(("function-", "tagged-union[")))
        or "(top level)"
    )
    message = "unknown key" if first["type"] == "extra_forbidden" else first["msg"].removeprefix("Value error, ")
    # one line whatever the input held (a name with a line break, a terminal escape)
    return "".join(c if c.isprintable() else "?" for c in f"{source}: {key}: {message}")


def resolve_scenario_path(name_or_path: str | Path) -> Path:
    """A scenario file from a name in configs/scenarios or a path; unknown names are a :class:`UserError`.

    Only the path is resolved here; :func:`load_scenario` refuses what is not a regular file.
    """
    text = str(name_or_path)
    if not text or "\0" in text:
        raise UserError(f"{text!r}: not a scenario name or path")
    candidate = Path(name_or_path)
    try:
        exists = os.path.lexists(candidate)
    except OSError as error:  # a name too long
        raise UserError(f"{text[:80]}: not a scenario name or path ({error.strerror})") from None
    if candidate.suffix in (".yaml", ".yml") or exists or os.sep in text:
        return candidate
    path = SCENARIO_DIR / f"{name_or_path}.yaml"
    if not PLAIN_NAME.fullmatch(text) or not path.is_file():
        known = ", ".join(sorted(p.stem for p in SCENARIO_DIR.glob("*.yaml")))
        raise UserError(f"{text[:80]}: no such scenario (known: {known})")
    return path


def _absolute_history_paths(raw: dict[str, Any], scenario_file: Path) -> None:
    """Make every CSV history path (relative to the scenario file) absolute, so the scenario travels."""
    demands = [raw] + [p for p in raw.get("stock_points") or () if isinstance(p, dict)]
    for holder in demands:
        demand = holder.get("demand")
        if (
            isinstance(demand, dict)
            and demand.get("dist") == "csv"
            and isinstance(demand.get("path"), str)
            and demand["path"]
        ):
            # abspath, not resolve: it never fails (a NUL byte, a symlink loop), the reading does, in one line
            holder["demand"] = {**demand, "path": os.path.abspath(scenario_file.resolve().parent / demand["path"])}


def load_scenario(name_or_path: str | Path | AnyScenario, **overrides: Any) -> AnyScenario:
    """Load, override and validate a scenario: one item (:class:`Scenario`) or a network (:class:`NetworkScenario`).

    A YAML mapping with ``stock_points`` is a network; without, a single item.

    Args:
        name_or_path: a name in configs/scenarios (``lost_sales_L2_p9``), a YAML path, or a
            scenario (then only the overrides are applied).
        overrides: replacements for top-level keys, e.g. ``shortage_cost=19``.

    Raises:
        UserError: one line naming the file and the key that is wrong.
    """
    if isinstance(name_or_path, (Scenario, NetworkScenario)):
        raw = name_or_path.model_dump()
        source = name_or_path.name
    else:
        path = resolve_scenario_path(name_or_path)
        source = str(path)
        raw = read_yaml(path, "scenario")
        if not isinstance(raw, dict):
            raise UserError(f"{path}: a scenario must be a YAML mapping of keys")
        raw.setdefault("name", path.stem)
        _absolute_history_paths(raw, path)
        if "assortment" in raw:  # an item master: one stock point per SKU
            from envs.assortment import expand_assortment

            raw = expand_assortment(raw, path)
    model: type[Scenario] | type[NetworkScenario] = NetworkScenario if "stock_points" in raw else Scenario
    unknown = sorted(set(overrides) - set(model.model_fields))
    if unknown:
        raise UserError(f"{source}: {unknown[0]}: unknown key (override)")
    raw.update(overrides)
    try:
        scenario = model.model_validate(raw)
    except ValidationError as error:
        raise UserError(format_validation_error(source, error)) from None
    for demand in demand_processes(scenario):
        if isinstance(demand, CsvDemand):
            if scenario.forecast is not None and demand.mode == "bootstrap":
                raise UserError(
                    f"{source}: forecast: the forecasts of a replayed history are made on the history itself, "
                    "so its paths must be windows of it (demand mode: window, not bootstrap)"
                )
            demand.load()
    return scenario


def single_item(scenario: AnyScenario, what: str) -> Scenario:
    """``scenario`` if it is a single item; else a :class:`UserError` saying that ``what`` needs one."""
    if isinstance(scenario, NetworkScenario):
        raise UserError(
            f"{scenario.name}: {what} is for a single stock point; this is a network of {len(scenario.stock_points)}"
        )
    return scenario


def demand_processes(scenario: AnyScenario) -> list[Any]:
    """The demand process of every stock point that faces customers, in stock-point order."""
    if isinstance(scenario, Scenario):
        return [scenario.demand]
    return [p.demand for p in scenario.stock_points if p.demand is not None]
