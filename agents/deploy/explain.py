"""Why a policy orders what it orders: Shapley attributions against its typical state, in sentences.

At export, :func:`explanation_reference` finds the policy's typical state (its average state in
simulation), its typical order-up-to level and the review cap. At recommendation time each
SKU's order is compared with the typical state's: :func:`shapley_attributions` gives each group
of observation entries its share of the difference, :func:`explain_orders` puts it in words.
numpy only: the policy comes in as a function from observations to orders.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from agents.deploy.runtime import CHUNK_ROWS, position_columns

# Explanations use exact Shapley values over groups of observation entries: 2^groups model runs
# per row. With more groups than this the demand features are explained as one group.
MAX_GROUPS = 6
# By default orders above this quantile of the policy's simulated orders are flagged for review.
REVIEW_QUANTILE = 0.99


@dataclass(frozen=True)
class ExplanationGroup:
    """Observation entries explained together, and how to name one of their values."""

    key: str
    columns: list[int]
    describe: Callable[[str], str]  # the group's (mean) value, formatted, as a phrase


def format_numbers(values: Any) -> list[str]:
    """Each value with 1 decimal, or none when it is a whole number at that precision ("" for NaN).

    Vectorised: formatting one number at a time would dominate the run time of 100,000 explanations.
    """
    values = np.asarray(values, dtype=np.float64).ravel()
    nearest = np.rint(np.nan_to_num(values))
    text = list(map(str, nearest.astype(np.int64).tolist()))
    for i in np.flatnonzero(np.abs(values - nearest) >= 0.05).tolist():
        text[i] = f"{values[i]:.1f}"
    for i in np.flatnonzero(np.isnan(values)).tolist():
        text[i] = ""
    return text


def format_number(value: float) -> str:
    """One value as :func:`format_numbers` formats it."""
    return format_numbers([value])[0]


def _arrival(k: int) -> str:
    return "this period" if k == 0 else "next period" if k == 1 else f"in {k} periods"


def _arriving(k: int) -> Callable[[str], str]:
    """How to name the units arriving in ``k`` periods."""
    return lambda value: f"{value} arriving {_arrival(k)}"


def _feature_ahead(feature: str) -> Callable[[str], str]:
    """How to name the value of a demand feature over the periods ahead."""
    return lambda value: f"{feature} ahead at {value}"


def explanation_groups(names: list[str]) -> list[ExplanationGroup]:
    """Readable groups of the observation entries: the stock, each pipeline slot, the recent
    demand, each demand feature (all features as one group beyond :data:`MAX_GROUPS` groups)."""
    by_key: dict[str, list[int]] = {}
    describers: dict[str, Callable[[str], str]] = {}
    features: dict[str, list[int]] = {}
    for i, name in enumerate(names):
        if name == "on_hand":
            key, describe = name, lambda v: f"{v} on hand"
        elif name == "net_inventory":
            key, describe = name, lambda v: f"net inventory {v}"
        elif name.startswith("arriving_in_"):
            key, describe = name, _arriving(int(name.removeprefix("arriving_in_")))
        elif name.startswith("demand_lag_"):
            key, describe = "recent_demand", lambda v: f"recent demand of {v} per period"
        elif name.startswith("forecast_mean_ahead_"):
            key, describe = "forecast", lambda v: f"a forecast of {v} per period"
        elif name.startswith("forecast_q"):
            key, describe = "forecast_spread", lambda v: f"forecast quantiles averaging {v}"
        else:
            feature = name.rsplit("_ahead_", 1)[0]
            features.setdefault(feature, []).append(i)
            continue
        by_key.setdefault(key, []).append(i)
        describers[key] = describe
    groups = [ExplanationGroup(key, columns, describers[key]) for key, columns in by_key.items()]
    if len(groups) + len(features) <= MAX_GROUPS:
        groups += [
            ExplanationGroup(f"{feature}_ahead", columns, _feature_ahead(feature))
            for feature, columns in features.items()
        ]
    elif features:
        columns = sorted(i for feature_columns in features.values() for i in feature_columns)
        groups.append(ExplanationGroup("demand_features_ahead", columns, lambda v: "the demand features ahead"))
    return groups


def shapley_attributions(
    act: Callable[[np.ndarray], np.ndarray], obs: np.ndarray, reference: np.ndarray, groups: list[ExplanationGroup]
) -> tuple[np.ndarray, np.ndarray, float]:
    """Exact Shapley values of groups of observation entries, against a reference state.

    The order of a row is ``act`` on the row; a coalition of groups takes those groups' entries
    from the row and the others from ``reference``. A group's value is its average marginal
    effect on the order over all coalitions, so the values of a row add up exactly to its
    order minus the reference's. Costs ``2^len(groups)`` evaluations of ``act`` per row.

    Returns:
        the orders (n,), the attributions (n, n_groups) and the reference's order.
    """
    k, n, d = len(groups), len(obs), obs.shape[1]
    masks = np.arange(1 << k)
    member = ((masks[:, None] >> np.arange(k)) & 1).astype(bool)
    owner = np.empty(d, dtype=np.int64)
    for j, group in enumerate(groups):
        owner[group.columns] = j
    take = member[:, owner]
    orders = np.empty((len(masks), n))
    rows = max(1, CHUNK_ROWS // len(masks))
    for start in range(0, n, rows):
        part = obs[start : start + rows]
        coalitions = np.where(take[:, None, :], part[None], reference[None, None, :]).astype(np.float32)
        orders[:, start : start + rows] = act(coalitions.reshape(-1, d)).reshape(len(masks), len(part))
    size = member.sum(axis=1)
    # the Shapley weight of a coalition of s groups that leaves out the one being valued (s < k)
    weight = np.array(
        [math.factorial(s) * math.factorial(k - s - 1) / math.factorial(k) if s < k else 0.0 for s in size]
    )
    attributions = np.empty((n, k))
    for j in range(k):
        without = masks[~member[:, j]]
        attributions[:, j] = weight[without] @ (orders[without | (1 << j)] - orders[without])
    return orders[-1].astype(np.int64), attributions, float(orders[0, 0]) if n else math.nan


def typical_state(settled: np.ndarray, whole_number: np.ndarray) -> np.ndarray:
    """The mean of the observations a policy meets, entries that count units rounded (float32)."""
    mean = settled.mean(axis=0)
    return np.where(whole_number, np.rint(mean), mean).astype(np.float32)


def explanation_reference(
    act: Callable[[np.ndarray], np.ndarray], settled: np.ndarray, whole_number: np.ndarray, position: slice
) -> dict[str, Any]:
    """What the explanations of a policy compare against, from the states it meets in simulation.

    Args:
        act: the policy (observations to orders).
        settled: float32 (n, obs_dim), observations of the policy's rollouts after a warm-up.
        whole_number: bool (obs_dim,), the entries that count units (rounded in the typical state).
        position: the columns whose sum is the inventory position (stock and pipeline entries).

    Returns:
        ``typical_state`` (the mean observation), ``typical_order`` (the order there),
        ``order_up_to_level`` (the median level the policy's orders lift the inventory position
        to; None if it never orders) and ``review_above`` (the :data:`REVIEW_QUANTILE` quantile
        of its orders), as policy.json's ``explanation`` holds them.
    """
    typical = typical_state(settled, whole_number)
    orders = act(settled)
    ordering = orders > 0
    reached = settled[ordering, position].sum(axis=1) + orders[ordering]
    return {
        "typical_state": typical.tolist(),
        "typical_order": int(act(typical[None])[0]),
        "order_up_to_level": int(np.rint(np.median(reached))) if len(reached) else None,
        "review_above": int(np.quantile(orders, REVIEW_QUANTILE)),
    }


def expected_demand_through_arrival(metadata: dict[str, Any], obs: np.ndarray) -> np.ndarray:
    """Mean demand from this period through the period an order placed now arrives (lead time + 1 periods),
    per row: the row's forecast where the policy observes one, else the scenario's mean demand.

    Args:
        metadata: policy.json's content (``mean_demand``, ``lead_time``, ``forecast``).
        obs: (n, obs_dim), the states.
    """
    forecast = metadata.get("forecast")
    if forecast is not None:
        return obs[:, forecast["mean_columns_through_arrival"]].sum(axis=1, dtype=np.float64)
    return np.full(len(obs), metadata["mean_demand"] * (metadata["lead_time"]["mean"] + 1))


def _demand_context(lead: dict[str, Any], demand: str, forecast: str | None) -> str:
    """The demand the inventory position is held against (``demand`` formatted), with the lead time in words;
    ``forecast`` names the model whose forecast it is, if any."""
    what = f"the {forecast} forecast of {demand}" if forecast else f"an expected demand of {demand}"
    if lead["values"] == [0]:
        return f"{what} this period (the order arrives at once)"
    if len(lead["values"]) == 1:
        return f"{what} over this period and the {lead['values'][0]}-period lead time"
    return (
        f"{what} over this period and the lead time of {min(lead['values'])} to {max(lead['values'])} periods "
        f"({lead['mean']:.1f} on average)"
    )


def explain_orders(
    obs: np.ndarray,
    orders: np.ndarray,
    attributions: np.ndarray,
    groups: list[ExplanationGroup],
    *,
    metadata: dict[str, Any],
    position: np.ndarray,
    order_up_to: np.ndarray,
    typical_order: float,
    needs_review: np.ndarray,
    review_above: int,
) -> list[str]:
    """One sentence per row: the order, the inventory position against the demand it has to cover,
    the (up to three) largest reasons it differs from the typical order, and the review flag.

    Args:
        obs: (n, obs_dim), the states.
        orders: (n,), the policy's orders.
        attributions: (n, n_groups), from :func:`shapley_attributions`.
        groups: the groups the attributions are of.
        metadata: policy.json's content (lead time, mean demand, pipeline length, the typical
            state and order-up-to level, observation names).
        position: (n,), the inventory positions.
        order_up_to: (n,), the level each order lifts the position to (the typical one where
            nothing is ordered).
        typical_order: the order in the typical state.
        needs_review: bool (n,), the orders above ``review_above``.
        review_above: the review cap.

    Returns:
        The sentences, one per row.
    """
    columns = position_columns(metadata)
    has_pipeline = columns.stop - columns.start > 1
    reference = np.asarray(metadata["explanation"]["typical_state"], dtype=np.float32)
    typical_level = metadata["explanation"]["order_up_to_level"]
    model = (metadata.get("forecast") or {}).get("model")
    contexts = [
        _demand_context(metadata["lead_time"], text, model)
        for text in format_numbers(expected_demand_through_arrival(metadata, obs))
    ]
    typical_text = "" if typical_level is None else f"; it typically orders up to {typical_level}"
    typical_order_text = format_number(typical_order)
    stock = "{} on hand" if metadata["observation"][0]["name"] == "on_hand" else "net inventory {}"
    on_order = [f" + {text} on order" if has_pipeline else "" for text in format_numbers(position - obs[:, 0])]
    stock_texts = format_numbers(obs[:, 0])
    position_texts, level_texts = format_numbers(position), format_numbers(order_up_to)
    reason_texts = []  # per group, per row: what the group did to the order, or "" when it did nothing
    for j, group in enumerate(groups):
        typical_value = format_number(reference[group.columns].mean())
        typically = "" if group.key == "demand_features_ahead" else f" (typically {typical_value})"
        values = format_numbers(obs[:, group.columns].mean(axis=1))
        effects = format_numbers(np.abs(attributions[:, j]))
        directions = np.where(attributions[:, j] > 0, "raised", "lowered").tolist()
        shown = (np.abs(attributions[:, j]) >= 0.05).tolist()
        reason_texts.append(
            [
                f"{group.describe(value)}{typically} {direction} it by {effect}" if show else ""
                for value, effect, direction, show in zip(values, effects, directions, shown, strict=True)
            ]
        )
    ranked = np.argsort(-np.abs(attributions), axis=1, kind="stable")[:, :3].tolist()

    explanations = []
    for i, (order, review) in enumerate(zip(orders.tolist(), needs_review.tolist(), strict=True)):
        stock_text = stock.format(stock_texts[i])
        situation = f"inventory position {position_texts[i]} ({stock_text}{on_order[i]}) against {contexts[i]}"
        if order > 0:
            sentence = f"Order {order}, up to {level_texts[i]}: {situation}."
        else:
            sentence = f"No order: {situation}{typical_text}."
        reasons = [reason_texts[j][i] for j in ranked[i] if reason_texts[j][i]]
        if reasons:
            sentence += f" Against a typical state (order {typical_order_text}): {'; '.join(reasons)}."
        else:
            sentence += f" As in a typical state (order {typical_order_text})."
        if review:
            sentence += f" Above the review cap of {review_above}: check before ordering."
        explanations.append(sentence)
    return explanations
