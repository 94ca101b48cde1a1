"""Exported network policies: what policy.json records for them, and one order per stock point with its reason.

A network policy's state file has one row per network (an item stocked at every point of the
network): ``sku``, then one column per observation entry, named as in policy.json
(``warehouse.on_hand``, ``retailer_1.arriving_in_0``...). The order file has one line per row
and stock point: the order, when it arrives, the point's echelon inventory position, the level
the order lifts it to, and a sentence. The sentence compares the row with the policy's typical
state: the difference between the point's order and its typical order is shared (exact Shapley
values, :func:`agents.deploy.explain.shapley_attributions`) among three groups of entries: the
point's own (stock, pipeline, awaited), its supplier's, and the rest of the network.

numpy and onnxruntime only on the recommend side: the layout arrives as plain data (policy.json).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from agents.deploy.explain import (
    REVIEW_QUANTILE,
    ExplanationGroup,
    format_numbers,
    shapley_attributions,
    typical_state,
)
from agents.deploy.orders import csv_text
from agents.deploy.runtime import OnnxPolicy
from agents.deploy.state import StateRows
from envs.files import atomic_write

if TYPE_CHECKING:
    from envs.layout import ObservationLayout

ORDER_COLUMNS = (
    "sku",
    "stock_point",
    "order_quantity",
    "expected_arrival_period",
    "policy",
    "needs_review",
    "echelon_position",
    "order_up_to_level",
    "explanation",
)
# The blocks of a stock point's own state.
OWN_BLOCKS = ("stock", "pipeline", "awaiting")


def network_metadata(
    layout: ObservationLayout,
    act: Callable[[np.ndarray], np.ndarray],
    settled: np.ndarray,
    whole_number: np.ndarray,
    described: dict[str, Any],
) -> dict[str, Any]:
    """What recommend.py reads for a network: its stock points, their suppliers, capacities and lead
    times, the columns of each point's own state and echelon position, and the explanation reference
    (the typical state, each point's typical order and order-up-to level, the review caps)."""
    system = layout.system
    points = list(system.names)
    echelon = layout.position_matrix(echelon=True)
    typical = typical_state(settled, whole_number)
    orders = act(settled)
    positions = np.rint(settled @ echelon)
    levels = [
        int(np.rint(np.median(positions[orders[:, j] > 0, j] + orders[orders[:, j] > 0, j])))
        if (orders[:, j] > 0).any()
        else None
        for j in range(len(points))
    ]
    return {
        "stock_points": {
            point: {
                "supplier": None if system.supplier[j] < 0 else points[system.supplier[j]],
                "max_order": int(system.max_order[j]),
                "lead_time": {
                    "values": system.lead_values[j].tolist(),
                    "probs": system.lead_probs[j].tolist(),
                    "mean": float(system.lead_values[j] @ system.lead_probs[j]),
                },
                "own_columns": [
                    c
                    for b in layout.blocks
                    if b.stock_point == point and b.kind in OWN_BLOCKS
                    for c in range(b.start, b.stop)
                ],
                "echelon_columns": np.flatnonzero(echelon[:, j]).tolist(),
            }
            for j, point in enumerate(points)
        },
        "explanation": {
            **described,
            "typical_state": typical.tolist(),
            "typical_orders": act(typical[None])[0].tolist(),
            "order_up_to_levels": levels,
            "review_above": np.quantile(orders, REVIEW_QUANTILE, axis=0).astype(int).tolist(),
        },
    }


@dataclass
class NetworkRecommendations:
    """Orders (n, J) for n networks of J stock points, with what explains them."""

    points: list[str]
    orders: np.ndarray
    positions: np.ndarray  # echelon inventory positions (n, J)
    attributions: np.ndarray  # (n, J, 3): own state, supplier's, rest of the network
    review_above: np.ndarray  # (J,)
    explanations: list[list[str]]  # [row][point]


def _groups(meta: dict[str, Any], point: str, dim: int) -> list[ExplanationGroup]:
    """The point's own entries, its supplier's, and everything else."""
    points = meta["stock_points"]
    own = points[point]["own_columns"]
    supplier = points[point]["supplier"]
    upstream = points[supplier]["own_columns"] if supplier else []
    rest = [c for c in range(dim) if c not in set(own) | set(upstream)]
    groups = [ExplanationGroup("own", own, lambda _: "its own stock and pipeline")]
    if upstream:
        groups.append(ExplanationGroup("supplier", upstream, lambda _: f"{supplier}'s stock and pipeline"))
    groups.append(ExplanationGroup("rest", rest, lambda _: "the rest of the network"))
    return groups


def _corrected_policy(meta: dict[str, Any], points: list[str]) -> list[tuple[int, int]] | None:
    """Each point's (echelon level, max_order) of the echelon base-stock policy a learned network policy
    corrects (``action_meaning: correction``), in ``points`` order; None for any other policy."""
    scenario = meta.get("scenario") or {}
    base = scenario.get("action_base") if scenario.get("action_meaning") == "correction" else None
    if not isinstance(base, dict) or base.get("policy") != "echelon_base_stock":
        return None
    return [(int(base["levels"][p]), int(meta["stock_points"][p]["max_order"])) for p in points]


def recommend_network(policy: OnnxPolicy, obs: np.ndarray, review_above: int | None = None) -> NetworkRecommendations:
    """Orders for every stock point of every row of ``obs``, with Shapley attributions and sentences.

    Args:
        policy: an exported network policy.
        obs: float32 (n, obs_dim), one row per network, in the policy's observation layout.
        review_above: flag orders above this many units; default: per point, policy.json's
            ``explanation.review_above`` (the 99th percentile of its simulated orders).
    """
    meta = policy.metadata
    points = list(meta["stock_points"])
    explanation = meta["explanation"]
    reference = np.asarray(explanation["typical_state"], dtype=np.float32)
    n, dim = obs.shape
    orders = np.asarray(policy.act(obs)).reshape(n, len(points))
    positions = np.stack([obs[:, meta["stock_points"][p]["echelon_columns"]].sum(axis=1) for p in points], axis=1)
    attributions = np.zeros((n, len(points), 3))
    caps = np.full(len(points), review_above) if review_above is not None else np.array(explanation["review_above"])
    corrected = _corrected_policy(meta, points)
    sentences: list[list[str]] = [[] for _ in range(n)]
    for j, point in enumerate(points):
        groups = _groups(meta, point, dim)

        def act_j(x: np.ndarray, j: int = j) -> np.ndarray:
            return np.asarray(policy.act(x)).reshape(len(x), len(points))[:, j]

        _, values, typical_order = shapley_attributions(act_j, obs, reference, groups)
        columns = [0, 1, 2] if len(groups) == 3 else [0, 2]
        attributions[:, j, columns] = values
        orders_text, positions_text = format_numbers(orders[:, j]), format_numbers(positions[:, j])
        levels_text = format_numbers(positions[:, j] + orders[:, j])
        for i in range(n):
            parts = [
                f"{group.describe('')} {'raised' if value > 0 else 'lowered'} it by {format_numbers([abs(value)])[0]}"
                for group, value in zip(groups, values[i], strict=True)
                if abs(value) >= 0.05
            ]
            reason = "; ".join(parts) if parts else "as in the typical state"
            head = (
                f"Order {orders_text[i]} at {point}, up to {levels_text[i]} on its echelon position {positions_text[i]}"
                if orders[i, j] > 0
                else f"No order at {point}: echelon position {positions_text[i]}"
            )
            review = f" Above {caps[j]}: review." if orders[i, j] > caps[j] else ""
            base = ""
            if corrected is not None:
                level, capacity = corrected[j]
                base_order = int(min(max(level - np.rint(positions[i, j]), 0), capacity))
                change = int(orders[i, j]) - base_order
                effect = f"adds {change}" if change > 0 else f"takes off {-change}" if change < 0 else "changes nothing"
                base = f" Echelon base-stock (level {level}) orders {base_order}; the learned correction {effect}."
            sentences[i].append(f"{head}.{base} Against the typical state (order {typical_order:g}): {reason}.{review}")
    return NetworkRecommendations(points, orders, positions, attributions, caps, sentences)


def write_network_orders(
    path: str | Path, fmt: str, policy: OnnxPolicy, state: StateRows, recs: NetworkRecommendations, state_file: str
) -> None:
    """One line per network row and stock point, as CSV or JSON (with the attributions), atomically."""
    meta = policy.metadata["stock_points"]
    typical = np.array([np.nan if v is None else v for v in policy.metadata["explanation"]["order_up_to_levels"]])
    # where nothing is ordered, the level the policy typically orders up to
    levels = np.where(recs.orders > 0, recs.positions + recs.orders, typical[None, :])
    numbers = format_numbers if fmt == "csv" else (lambda values: np.asarray(values, dtype=float).ravel().tolist())
    positions, level_values = numbers(recs.positions), numbers(levels)
    rows = [
        (sku, point, int(recs.orders[i, j]), round(meta[point]["lead_time"]["mean"]), policy.name,
         bool(recs.orders[i, j] > recs.review_above[j]), positions[i * len(recs.points) + j],
         level_values[i * len(recs.points) + j], recs.explanations[i][j])
        for i, sku in enumerate(state.skus)
        for j, point in enumerate(recs.points)
    ]  # fmt: skip
    if fmt == "csv":
        text = csv_text(ORDER_COLUMNS, rows)
    else:
        lines = [
            json.dumps(
                {
                    **dict(zip(ORDER_COLUMNS, row, strict=True)),
                    "attributions": dict(
                        zip(
                            ("own", "supplier", "rest"),
                            recs.attributions[k // len(recs.points), k % len(recs.points)].round(3).tolist(),
                            strict=True,
                        )
                    ),
                }
            )
            for k, row in enumerate(rows)
        ]
        head = json.dumps(
            {
                "policy": {"name": policy.name, "sha256": policy.metadata["hashes"]["policy.onnx"]},
                "state_file": state_file,
                "skipped_rows": [{"line": line, "problem": problem} for line, problem in state.problems],
            },
            indent=1,
        )
        text = head[:-2] + ',\n "orders": [\n' + ",\n".join(lines) + "\n ]\n}\n"
    atomic_write(path, text)
