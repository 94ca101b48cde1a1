"""Purchase orders from an exported policy: :func:`recommend` for a batch of states, :func:`write_orders`.

One line per SKU with the order, when it arrives, the inventory position, the expected demand
it has to cover, the order-up-to level, a review flag and a sentence explaining it
(:mod:`agents.deploy.explain`); written as CSV or JSON through :func:`envs.files.atomic_write`.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from agents.deploy.explain import (
    expected_demand_through_arrival,
    explain_orders,
    explanation_groups,
    format_numbers,
    shapley_attributions,
)
from agents.deploy.runtime import ExportedPolicy, OnnxPolicy, position_columns
from agents.deploy.state import StateRows
from envs.files import atomic_write


@dataclass
class Recommendations:
    """Orders for a batch of states, and what a buyer needs to judge them.

    Attributes:
        orders: int64 (n,), the order quantities.
        position: (n,), the inventory position: on hand (net) plus everything on order.
        order_up_to: (n,), the level the order lifts the position to; when nothing is ordered,
            the policy's typical order-up-to level.
        demand_through_arrival: the expected demand from this period through the period an
            order placed now arrives (the lead time plus one period: what the inventory position
            has to cover under this project's event order).
        arrival_period: periods until the order arrives (the rounded mean for a stochastic
            lead time; the explanation gives the range), for every row or (n,) one per row.
        groups: the keys of the attribution groups.
        attributions: (n, n_groups), what each group added to the order (Shapley values
            against the policy's typical state; they add up to order minus typical_order).
        typical_order: the order in the typical state (None: no typical state, as for a general policy).
        review_above: the cap above which an order needs review (None: no cap, nothing flagged).
        needs_review: bool (n,), the order exceeds ``review_above``.
        explanations: one sentence per row.
    """

    orders: np.ndarray
    position: np.ndarray
    order_up_to: np.ndarray
    demand_through_arrival: np.ndarray
    arrival_period: int | np.ndarray
    groups: list[str]
    attributions: np.ndarray
    typical_order: float | None
    review_above: int | None
    needs_review: np.ndarray
    explanations: list[str]


def recommend(policy: OnnxPolicy, obs: np.ndarray, review_above: int | None = None) -> Recommendations:
    """Orders, attributions and a sentence per row of ``obs``.

    Args:
        policy: the exported policy.
        obs: float32 (n, obs_dim), one row per SKU, in the policy's observation layout.
        review_above: flag orders above this many units; default: policy.json's
            ``explanation.review_above`` (the 99th percentile of its simulated orders).
    """
    meta = policy.metadata
    explanation = meta["explanation"]
    groups = explanation_groups(policy.observation_names)
    reference = np.asarray(explanation["typical_state"], dtype=np.float32)
    orders, attributions, typical_order = shapley_attributions(policy.act, obs, reference, groups)
    position = obs[:, position_columns(meta)].sum(axis=1, dtype=np.float64)
    typical_level = explanation["order_up_to_level"]
    order_up_to = np.where(orders > 0, position + orders, np.nan if typical_level is None else typical_level)
    review_above = explanation["review_above"] if review_above is None else review_above
    needs_review = orders > review_above
    explanations = explain_orders(
        obs,
        orders,
        attributions,
        groups,
        metadata=meta,
        position=position,
        order_up_to=order_up_to,
        typical_order=typical_order,
        needs_review=needs_review,
        review_above=review_above,
    )
    return Recommendations(
        orders=orders,
        position=position,
        order_up_to=order_up_to,
        demand_through_arrival=expected_demand_through_arrival(meta, obs),
        arrival_period=round(meta["lead_time"]["mean"]),
        groups=[g.key for g in groups],
        attributions=attributions,
        typical_order=typical_order,
        review_above=review_above,
        needs_review=needs_review,
        explanations=explanations,
    )


ORDER_COLUMNS = (
    "sku",
    "order_quantity",
    "expected_arrival_period",
    "policy",
    "needs_review",
    "inventory_position",
    "expected_demand_through_arrival",
    "order_up_to_level",
    "explanation",
)


def csv_text(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """``header`` and ``rows`` as CSV text (every value quoted where it needs to be, lines ending in \\n)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def _plain_numbers(values: np.ndarray) -> list[int | float | None]:
    """Whole numbers as int, others as float, NaN as None (for JSON)."""
    return [
        None if v != v else int(v) if v.is_integer() else round(v, 3)
        for v in np.asarray(values, dtype=np.float64).tolist()
    ]


def write_orders(
    path: str | Path, fmt: str, policy: ExportedPolicy, state: StateRows, recs: Recommendations, state_file: str
) -> None:
    """Write one purchase-order line per SKU as CSV or JSON, atomically (:func:`envs.files.atomic_write`).

    The columns are :data:`ORDER_COLUMNS`. JSON also carries every attribution and the rows
    left out of the state file; it has one order per line, so a large file stays readable and
    quick to write.
    """
    n = len(state.skus)
    numbers = format_numbers if fmt == "csv" else _plain_numbers
    rows = zip(
        state.skus,
        recs.orders.tolist(),
        np.broadcast_to(recs.arrival_period, (n,)).tolist(),
        [policy.name] * n,
        recs.needs_review.tolist(),
        numbers(recs.position),
        numbers(recs.demand_through_arrival),
        numbers(recs.order_up_to),
        recs.explanations,
        strict=True,
    )
    if fmt == "csv":
        text = csv_text(ORDER_COLUMNS, rows)
    else:
        orders = [
            json.dumps(
                {
                    **dict(zip(ORDER_COLUMNS, row, strict=True)),
                    "attributions": dict(zip(recs.groups, attributions, strict=True)),
                }
            )
            for row, attributions in zip(rows, recs.attributions.round(3).tolist(), strict=True)
        ]
        head = json.dumps(
            {
                "policy": {"name": policy.name, "sha256": policy.metadata["hashes"]["policy.onnx"]},
                "state_file": state_file,
                "typical_order": recs.typical_order,
                "review_above": recs.review_above,
                "skipped_rows": [{"line": line, "problem": problem} for line, problem in state.problems],
            },
            indent=1,
        )
        text = head[:-2] + ',\n "orders": [\n' + ",\n".join(orders) + "\n ]\n}\n"
    atomic_write(path, text)
