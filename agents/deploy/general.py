"""A general single-item policy at run time: each SKU's state and parameters, its order, and why.

An exported general policy (``kind: general`` in policy.json, written by
:mod:`agents.deploy.general_export`) has no scenario: every row of the state file brings the
SKU's parameters beside its stock and pipeline (:data:`STATE_COLUMNS`, :data:`PARAMETER_COLUMNS`).
From them :mod:`envs.general` computes what the network observes (:func:`envs.general.item_features`),
the ONNX actor gives the action, and :func:`envs.general.level_orders` the order: the same code the
policy was trained and evaluated with. Each order line says the SKU's base (s, S) policy, its
inventory position, the level the policy chose and the order.

onnxruntime and numpy (envs.general uses the standard library's normal quantile): no torch, no
scipy, no pandas, no numba (a test checks).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from agents.deploy.explain import format_numbers
from agents.deploy.orders import Recommendations
from agents.deploy.runtime import is_general, onnx_session, read_policy_directory
from agents.deploy.state import Entries, StateRows, read_state
from envs.errors import UserError
from envs.general import (
    FEATURES,
    MAX_LEAD_TIME,
    PARAMETERS,
    ItemParameters,
    base_levels,
    chosen_levels,
    item_features,
    level_orders,
)

STOCK_COLUMNS = ("on_hand", "net_inventory")  # one of the two: on hand (never negative) or net of backorders
PIPELINE_COLUMNS = tuple(f"arriving_in_{k}" for k in range(MAX_LEAD_TIME))  # optional, 0 when left out
# The parameters of a SKU: column -> default when the column is left out (None: required). A default
# "mean_demand" is the row's mean demand (Poisson demand).
PARAMETER_COLUMNS: dict[str, float | str | None] = {
    "mean_demand": None,
    "demand_variance": "mean_demand",
    "lead_time": None,
    "lead_time_variance": 0.0,
    "holding_cost": None,
    "shortage_cost": None,
    "fixed_order_cost": 0.0,
    "lost_sales": None,
    "max_order": None,
}
# Parameters that must be positive (read_state refuses negative ones): 0 is outside a general policy's range.
_POSITIVE = ("mean_demand", "holding_cost", "shortage_cost", "max_order")


def state_columns() -> dict[str, Any]:
    """The state file's columns as policy.json records them (for readers other than recommend.py)."""
    return {
        "sku": "the SKU, one row each",
        "stock": f"one of {' or '.join(STOCK_COLUMNS)} (net inventory: negative for a backlog)",
        "pipeline": list(PIPELINE_COLUMNS),
        "pipeline_note": "arriving_in_k: units arriving in k periods (0: this period); a column left out is 0",
        "parameters": {name: "required" if default is None else default for name, default in PARAMETER_COLUMNS.items()},
    }


class GeneralActor:
    """An exported general policy's actor: onnxruntime on policy.onnx (features -> action).

    Args:
        model_bytes: the ONNX model (input ``features`` float32 [n, len(FEATURES)], output ``action`` [n]).
        metadata: policy.json's content.

    Raises:
        UserError: if policy.json is not a general policy's, or one of other features than this version computes.
    """

    def __init__(self, model_bytes: bytes, metadata: dict[str, Any]) -> None:
        if not is_general(metadata):
            raise UserError(f"{metadata.get('name')}: not a general policy")
        if metadata["features"] != list(FEATURES) or metadata["max_lead_time"] != MAX_LEAD_TIME:
            raise UserError(
                f"{metadata['name']}: a general policy of other features than this version computes; export it again"
            )
        self.metadata = metadata
        self.name: str = metadata["name"]
        self._input, self._output = metadata["onnx"]["input"], metadata["onnx"]["output"]
        self._session = onnx_session(model_bytes)

    @classmethod
    def load(cls, directory: str | Path) -> GeneralActor:
        """Read an exported general policy (checked as :func:`agents.deploy.runtime.read_policy_directory` checks)."""
        return cls(*read_policy_directory(directory))

    def actions(self, features: np.ndarray) -> np.ndarray:
        """The actor's actions (n,) float64 for features (n, len(FEATURES))."""
        features = np.ascontiguousarray(features, dtype=np.float32)
        if len(features) == 0:
            return np.zeros(0)
        return self._session.run([self._output], {self._input: features})[0].reshape(-1).astype(np.float64)


def _entries(header: Sequence[str]) -> Entries:
    """The columns to read of a state file with ``header``: the stock column it has, the pipeline and optional
    parameter columns it has, the required parameters (a missing one is reported by :func:`read_state`)."""
    stock = [name for name in STOCK_COLUMNS if name in header]
    if len(stock) != 1:
        given = "both" if stock else "neither"
        raise UserError(f"a general policy's state file has {' or '.join(STOCK_COLUMNS)}: this one has {given}")
    pipeline = [name for name in header if name.startswith("arriving_in_")]
    parameters = [name for name, default in PARAMETER_COLUMNS.items() if default is None or name in header]
    return [
        {"name": stock[0], "whole_number": True, "min": 0 if stock[0] == "on_hand" else None},
        *({"name": name, "whole_number": True, "min": 0} for name in pipeline),
        *(
            {"name": name, "whole_number": name == "max_order", "min": 0, "flag": name == "lost_sales"}
            for name in parameters
        ),
    ]


def _slot(name: str) -> int | None:
    """k of a column ``arriving_in_k``, None if k is not a whole number."""
    k = name.removeprefix("arriving_in_")
    return int(k) if k.isdigit() else None


@dataclass
class GeneralState:
    """The valid rows of a general policy's state file.

    Attributes:
        rows: the rows, their ``obs`` being each SKU's stock entry and pipeline (n, 1 + MAX_LEAD_TIME).
        items: the SKUs' parameters.
        stock_name: ``on_hand`` or ``net_inventory``, as the file names the stock entry.
    """

    rows: StateRows
    items: ItemParameters
    stock_name: str


def read_general_state(path: str | Path) -> GeneralState:
    """Read a general policy's state file: each SKU's stock, pipeline and parameters.

    Besides :func:`agents.deploy.state.read_state`'s checks a row is left out when its mean demand,
    holding or shortage cost or max_order is not positive, its lead time is above
    :data:`envs.general.MAX_LEAD_TIME`, units arrive in MAX_LEAD_TIME periods or later, or it has a
    backlog (negative net inventory) under lost sales.

    Returns:
        The valid rows and the SKUs' parameters (the longest lead time of each being MAX_LEAD_TIME:
        its pipeline entries beyond those given are 0, as an item's beyond its lead time are in simulation).

    Raises:
        UserError: if a required column is missing, the file has both or neither stock column, or a
            column arriving_in_k has no whole k; and as :func:`read_state`.
    """
    entries: Entries = []

    def choose(header: Sequence[str]) -> Entries:
        entries.extend(_entries(header))
        return entries

    state = read_state(path, choose)
    names = [entry["name"] for entry in entries]
    column = {name: state.obs[:, j].astype(np.float64) for j, name in enumerate(names)}
    slots = {name: _slot(name) for name in names if name.startswith("arriving_in_")}
    unnamed = [name for name, k in slots.items() if k is None]
    if unnamed:
        raise UserError(f"{path}: column {unnamed[0]}: arriving_in_k with k a whole number of periods expected")
    n = len(state.skus)
    found: dict[int, list[str]] = {}

    def flag(bad: np.ndarray, problem: str) -> None:
        for i in np.flatnonzero(bad).tolist():
            found.setdefault(i, []).append(problem)

    for name in _POSITIVE:
        flag(column[name] == 0, f"{name}: 0 (a general policy orders for items with a positive {name})")
    flag(
        column["lead_time"] > MAX_LEAD_TIME, f"lead_time: above {MAX_LEAD_TIME} (the longest a general policy observes)"
    )
    for name, k in slots.items():
        if k is not None and k >= MAX_LEAD_TIME:
            flag(column[name] > 0, f"{name}: units arriving beyond the longest lead time a general policy observes")
    if "net_inventory" in column:
        flag((column["net_inventory"] < 0) & (column["lost_sales"] == 1), "net_inventory: a backlog under lost sales")

    valid = np.ones(n, dtype=bool)
    valid[list(found)] = False
    keep = np.flatnonzero(valid)
    rows = np.zeros((len(keep), 1 + MAX_LEAD_TIME))
    rows[:, 0] = column[names[0]][keep]
    for name, k in slots.items():
        if k is not None and k < MAX_LEAD_TIME:
            rows[:, 1 + k] = column[name][keep]
    parameters = {
        name: column[name][keep]
        if name in column
        else column[default][keep]
        if isinstance(default, str)
        else np.full(len(keep), default)
        for name, default in PARAMETER_COLUMNS.items()
    }
    problems = sorted(state.problems + [(int(state.lines[i]), "; ".join(texts)) for i, texts in found.items()])
    rows_read = StateRows([state.skus[i] for i in keep.tolist()], rows.astype(np.float32), state.lines[keep], problems)
    return GeneralState(rows_read, item_parameters(parameters), names[0])


def item_parameters(columns: dict[str, np.ndarray]) -> ItemParameters:
    """The items of the state's parameter columns, through the parameter table of :class:`envs.assortment.SkuView`
    (what the policy was trained with); the entries a general policy does not observe are neutral."""
    n = len(columns["mean_demand"])
    table = {
        "mean_lead_time": columns["lead_time"],
        "max_lead_time": np.full(n, float(MAX_LEAD_TIME)),
        **{name: columns[name] for name in PARAMETER_COLUMNS if name != "lead_time"},
        **{name: np.full(n, value) for name, value in (("unit_cost", 0.0), ("pack_size", 1.0), ("min_order", 0.0),
                                                       ("volume", 1.0))},
    }  # fmt: skip
    return ItemParameters.from_view(np.stack([table[name] for name in PARAMETERS], axis=1))


def recommend_general(actor: GeneralActor, state: GeneralState, review_above: int | None = None) -> Recommendations:
    """Orders and a sentence per SKU from a general policy.

    Args:
        actor: the exported general policy.
        state: each SKU's stock, pipeline and parameters (:func:`read_general_state`).
        review_above: flag orders above this many units (None: no cap; a general policy has no
            simulated orders of the SKU to draw one from).
    """
    obs, items = state.rows.obs, state.items
    rows = obs.astype(np.float64)[None]
    position = rows[0].sum(axis=1)
    actions = actor.actions(item_features(rows, items)[0])
    orders = level_orders(actions[None], position[None], items)[0]
    s, q = items.reorder_point, items.order_quantity
    base_level = base_levels(position[None], items)[0]
    level = chosen_levels(actions[None], position[None], items)[0]
    outside = items.outside_each(actor.metadata.get("trained", {}).get("range", {}))
    needs_review = orders > review_above if review_above is not None else np.zeros(len(orders), dtype=bool)
    demand = items.mean * (items.lead_time + 1)
    numbers = {"stock": obs[:, 0], "on_order": obs[:, 1:].sum(axis=1), "position": position, "s": s, "S": s + q,
               "Q": q, "level": level, "base": base_level, "shift": np.abs(level - base_level), "demand": demand,
               "lead": items.lead_time, "up_to": position + orders}  # fmt: skip
    texts = {key: format_numbers(values) for key, values in numbers.items()}
    stock = "{} on hand" if state.stock_name == "on_hand" else "net inventory {}"
    explanations = []
    for i, order in enumerate(orders.tolist()):
        t = {key: values[i] for key, values in texts.items()}
        if items.lead_variance[i] > 0:
            over = f"over this period and the lead time ({t['lead']} periods on average)"
        else:
            over = (
                "this period (the order arrives at once)"
                if items.lead_time[i] == 0
                else (f"over this period and the {t['lead']}-period lead time")
            )
        situation = (
            f"inventory position {t['position']} ({stock.format(t['stock'])} + {t['on_order']} on order) against "
            f"an expected demand of {t['demand']} {over}"
        )
        base = f"base (s, S) policy s {t['s']}, S {t['S']}" + (f" (Q {t['Q']})" if q[i] > 0 else " (base stock)")
        sign = "+" if level[i] >= base_level[i] else "-"
        chose = f"the policy set the level to {t['level']} (the base's {t['base']} {sign} {t['shift']})"
        if order > 0:
            sentence = f"Order {order}, up to {t['up_to']}: {situation}; {base}; {chose}."
            if np.rint(level[i] - position[i]) > order:
                sentence += f" Capped at max_order {int(items.max_order[i])}."
        else:
            where = "below the position" if level[i] < position[i] else "at most half a unit above the position"
            sentence = f"No order: {situation}; {base}; {chose}, {where}."
        if outside[i]:
            sentence += f" Outside the range the policy was trained on: {outside[i]}."
        if needs_review[i]:
            sentence += f" Above the review cap of {review_above}: check before ordering."
        explanations.append(sentence)
    return Recommendations(
        orders=orders,
        position=position,
        order_up_to=np.where(orders > 0, position + orders, level),
        demand_through_arrival=demand,
        arrival_period=np.rint(items.lead_time).astype(np.int64),
        groups=[],
        attributions=np.zeros((len(orders), 0)),
        typical_order=None,
        review_above=review_above,
        needs_review=needs_review,
        explanations=explanations,
    )
