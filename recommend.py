"""Recommend purchase orders for many SKUs from an exported policy, with an explanation per line.

    python recommend.py --policy policies/optimal_lost_sales_L2_p9 --state examples/state.csv [--out orders.csv]
                        [--format csv|json] [--review-above N]

The state file has one row per SKU: a `sku` column and one column per observation entry of the
policy, named as in its policy.json (for lost_sales_L2_p9: on_hand, arriving_in_0, arriving_in_1;
arriving_in_0 arrives this period). Only policy.onnx and policy.json are read, with onnxruntime:
no torch, no stable-baselines3, no pickle. One line per valid SKU is written (zero orders too, so
the explanation of every SKU is there), atomically.

For a policy that observes forecasts, --history (with --known and --future where its model uses
known signals) fits the policy's forecasting model on a sales history and fills the forecast
columns, so the state file needs only the stock and pipeline columns.

For a general single-item policy (exported from train_general.py) each row brings its SKU's
parameters beside its state (agents/deploy/general.py); columns in any order, extras ignored:

    sku                    the SKU
    on_hand                units on hand (lost sales, or no backlog), or instead
    net_inventory          on hand minus backorders (negative for a backlog; not under lost sales)
    arriving_in_0 .. _3    units arriving in k periods (arriving_in_0: this period); a column left out
                           is 0; units arriving in 4 periods or later: the row is refused
    mean_demand            mean demand per period (> 0)
    demand_variance        variance of demand per period (optional; default: the mean, Poisson)
    lead_time              mean lead time in periods, 0 to 4
    lead_time_variance     variance of the lead time (optional; default 0, a fixed lead time)
    holding_cost           per unit and period (> 0)
    shortage_cost          per unit short (> 0)
    fixed_order_cost       per order placed (optional; default 0)
    lost_sales             true/false or 1/0: demand not met is lost (true) or backordered (false)
    max_order              the largest order (a whole number > 0)

A row with a bad value (missing, not a number, negative, a zero mean demand, holding or
shortage cost, a lead time above 4) is skipped and reported with its line. Each order line
says the SKU's base (s, S) policy (envs/general.py: s a quantile of demand over the protection
interval, S - s the EOQ), its inventory position, the level the policy chose and the order.
The order_up_to_level column is the level an order lifts the position to, or the policy's level
where it orders nothing; no order is flagged for review unless --review-above is given (there
are no simulated orders of the SKU).

For a network policy (exported for a network scenario) a row is one item stocked across the
network: `sku` and the entries named as in policy.json (`warehouse.on_hand`, `retailer_1.arriving_in_0`...);
one line is written per row and stock point (agents/deploy/network.py).

Exit codes: 0 every row was used; 3 partial success: some rows were skipped (each reported on stderr
with its line number) and the others written; 2 bad input (missing file or column, not a policy
directory, no valid row), one line on stderr.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np

from agents.deploy.network import recommend_network, write_network_orders
from agents.deploy.orders import Recommendations, recommend, write_orders
from agents.deploy.runtime import OnnxPolicy, is_general, read_policy_directory
from agents.deploy.state import StateRows, read_state
from envs.arguments import ArgumentParser, integer
from envs.errors import UserError, exit_on_user_error
from envs.files import check_output_path

PARTIAL_SUCCESS = 3


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--policy", required=True, metavar="DIR", help="a policy directory written by export.py")
    parser.add_argument("--state", required=True, metavar="CSV", help="the state of every SKU, one row each")
    parser.add_argument("--out", help="where the order lines go (default: orders.csv or orders.json)")
    parser.add_argument(
        "--format",
        choices=("csv", "json"),
        default="csv",
        help="csv (default) or json (adds the attributions and the skipped rows)",
    )
    parser.add_argument(
        "--history",
        metavar="CSV",
        help="a sales history (sku, date, demand, signals): for a policy that observes forecasts, its forecasting "
        "model is fitted on it and forecasts the days ahead, so the state file needs no forecast columns",
    )
    parser.add_argument("--known", default="", help="with --history: the signals known in advance, comma-separated")
    parser.add_argument(
        "--future", metavar="CSV", help="with --known: sku, date and the known signals of the days ahead"
    )
    parser.add_argument(
        "--review-above",
        type=integer(0),
        metavar="N",
        help="flag orders above N units for review (default: the policy's 99th percentile "
        "of simulated orders, in policy.json)",
    )
    return parser.parse_args(argv)


def read_state_and_forecasts(args: argparse.Namespace, policy: OnnxPolicy) -> StateRows:
    """The state file; with --history, the forecast entries come from the policy's forecasting model instead."""
    entries = policy.metadata["observation"]
    if not args.history:
        if args.known or args.future:
            raise UserError("--known and --future go with --history (the sales history the forecasts are made from)")
        return read_state(args.state, entries)
    settings = policy.metadata.get("forecast")
    if settings is None:
        raise UserError(f"--history: {args.policy} observes no forecast; the state file alone says what it needs")
    from forecasting.latest import latest_forecasts  # pandas and the forecasting models: only here

    horizon = sum(entry["name"].startswith("forecast_mean_ahead_") for entry in entries)
    known = [name for name in args.known.split(",") if name]
    latest = latest_forecasts(args.history, settings["model"], horizon, settings["levels"], known, args.future)
    own = [entry for entry in entries if not entry["name"].startswith("forecast_")]
    state = read_state(args.state, own)
    row_of = {sku: i for i, sku in enumerate(latest.skus)}
    keep = [i for i, sku in enumerate(state.skus) if sku in row_of]
    problems = state.problems + [
        (int(state.lines[i]), f"sku {sku!r}: not in the history {args.history}")
        for i, sku in enumerate(state.skus)
        if sku not in row_of
    ]
    obs = np.zeros((len(keep), len(entries)), dtype=np.float32)
    own_names = [entry["name"] for entry in own]
    for j, entry in enumerate(entries):
        name = entry["name"]
        if name in own_names:
            obs[:, j] = state.obs[keep, own_names.index(name)]
        else:
            obs[:, j] = latest.columns[name][[row_of[state.skus[i]] for i in keep]]
    return StateRows([state.skus[i] for i in keep], obs, state.lines[keep], sorted(problems))


@exit_on_user_error
def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    out = check_output_path(args.out or f"orders.{args.format}")  # a bad --out fails before the work
    model_bytes, meta = read_policy_directory(args.policy)
    if is_general(meta):
        return recommend_general_orders(args, out, model_bytes, meta)
    policy = OnnxPolicy(model_bytes, meta)
    state = read_state_and_forecasts(args, policy)
    report_skipped(args.state, state)
    if "stock_points" in policy.metadata:  # a network: one line per row and stock point
        network = recommend_network(policy, state.obs, args.review_above)
        write_network_orders(out, args.format, policy, state, network, args.state)
        flagged = int((network.orders > network.review_above).sum())
        print(
            f"{out}: {len(state.skus):,} networks of {len(network.points)} stock points, "
            f"{int((network.orders > 0).sum()):,} orders of {int(network.orders.sum()):,} units ({policy.name}), "
            f"{flagged:,} flagged for review{skipped_text(state)}",
            file=sys.stderr,
        )
        return PARTIAL_SUCCESS if state.problems else 0
    recs = recommend(policy, state.obs, args.review_above)
    write_orders(out, args.format, policy, state, recs, args.state)
    return summarise(out, state, recs, policy.name)


def recommend_general_orders(args: argparse.Namespace, out: Path, model_bytes: bytes, meta: dict[str, Any]) -> int:
    """Orders from a general policy, each state row bringing its SKU's parameters (agents/deploy/general.py)."""
    if args.history or args.known or args.future:
        raise UserError(f"--history: {args.policy} is a general policy, which observes no forecast")
    from agents.deploy.general import GeneralActor, read_general_state, recommend_general

    actor = GeneralActor(model_bytes, meta)
    general = read_general_state(args.state)
    state = general.rows
    report_skipped(args.state, state)
    recs = recommend_general(actor, general, args.review_above)
    write_orders(out, args.format, actor, state, recs, args.state)
    return summarise(out, state, recs, actor.name)


def report_skipped(state_file: str, state: StateRows) -> None:
    """Each row left out on stderr with its line; a UserError when none is left."""
    for line, problem in state.problems:
        print(f"skipped {state_file} line {line}: {problem}", file=sys.stderr)
    if not state.skus:
        raise UserError(f"{state_file}: no valid row to recommend an order for")


def skipped_text(state: StateRows) -> str:
    return f"; {len(state.problems):,} rows skipped" if state.problems else ""


def summarise(out: Path, state: StateRows, recs: Recommendations, name: str) -> int:
    """One line on stderr about the orders written; the exit code (:data:`PARTIAL_SUCCESS` if rows were skipped)."""
    flagged = (
        "no review cap"
        if recs.review_above is None
        else f"{int(recs.needs_review.sum()):,} above {recs.review_above} flagged for review"
    )
    print(
        f"{out}: {len(state.skus):,} SKUs, {int((recs.orders > 0).sum()):,} orders of {int(recs.orders.sum()):,} "
        f"units ({name}), {flagged}{skipped_text(state)}",
        file=sys.stderr,
    )
    return PARTIAL_SUCCESS if state.problems else 0


if __name__ == "__main__":
    sys.exit(main())
