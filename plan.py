"""Plan purchase orders for a whole assortment under a shared limit, one order line per SKU with its explanation.

    python plan.py --items items.csv --state state.csv --out orders.csv
                   [--policy order_up_to|s_S] [--price LAMBDA]
                   [--limit 20000 --limit-kind storage|orders --weight volume|unit_cost|units --rule proportional|value]
                   [--history history.csv [--known price,promotion --future future.csv] [--model moving_average]]
                   [--ray | --ray-address ADDR]

The item master (envs/items.py: lead time, costs or service level, pack size, minimum order,
maximum order, volume, demand_mean/demand_variance) and the state file (sku, on_hand, on_order,
backlog) are read in chunks, twice: first every SKU's order under its rule, before the limit;
then, with the limit shared as the simulation shares it (packs, minimums, proportional or by
value), the lines are written. Demand comes from the item master, or from --history: the
forecasting model's forecast of the days ahead (the whole history is then read at once).

With --ray or --ray-address the first pass's chunks of the state file run on Ray workers (the item
table is sent to them once); the limit is shared and the lines are written here. The output is
the same byte for byte as without Ray.

Exit codes: 0 every row was used; 3 partial success: some rows were skipped (each on stderr with
its file and line) and the others planned; 2 bad input (no such file, a missing column, no valid
row, a bad option), one line on stderr. The output is written complete or not at all.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from agents.deploy.planning import (
    FIRST_PASS_ONLY,
    POLICIES,
    ItemTable,
    Limit,
    first_pass,
    forecast_demand,
    return_freed_arrays_to_the_system,
    share,
    write_lines,
)
from envs import distributed
from envs.arguments import ArgumentParser, integer
from envs.errors import UserError, exit_on_user_error
from envs.files import atomic_write, check_output_path
from forecasting import MODELS

PARTIAL_SUCCESS = 3


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", required=True, metavar="CSV", help="the item master")
    parser.add_argument("--state", required=True, metavar="CSV", help="sku, on_hand[, on_order, backlog]")
    parser.add_argument("--out", default="orders.csv", help="where the order lines go (default orders.csv)")
    parser.add_argument("--policy", choices=POLICIES, default="order_up_to", help="the rule of every SKU")
    parser.add_argument("--price", type=float, default=0.0, metavar="LAMBDA",
                        help="price of a unit of capacity per period, added to holding costs (default 0)")  # fmt: skip
    parser.add_argument("--limit", type=float, metavar="X", help="a shared limit (default: none)")
    parser.add_argument("--limit-kind", choices=("storage", "orders"), default="storage",
                        help="storage: the stock expected when the orders arrive; orders: the orders")  # fmt: skip
    parser.add_argument("--weight", choices=("volume", "unit_cost", "units"), default="volume")
    parser.add_argument("--rule", choices=("proportional", "value"), default="proportional")
    parser.add_argument("--history", metavar="CSV", help="a sales history to forecast demand from")
    parser.add_argument("--known", default="", help="with --history: signals known in advance, comma-separated")
    parser.add_argument("--future", metavar="CSV", help="with --known: the known signals of the days ahead")
    parser.add_argument(
        "--model", default="moving_average", choices=MODELS, help="with --history: the forecasting model"
    )
    parser.add_argument(
        "--chunk-rows", type=integer(1, 10_000_000), default=25_000, help="rows read at a time (default 25000)"
    )
    distributed.add_arguments(parser)
    return parser.parse_args(argv)


@exit_on_user_error
def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    out = check_output_path(args.out)  # a bad --out fails before the work
    if args.limit is not None and not (np.isfinite(args.limit) and args.limit > 0):
        raise UserError(f"--limit must be a positive number, got {args.limit}")
    if not (np.isfinite(args.price) and args.price >= 0):
        raise UserError(f"--price must be a number >= 0, got {args.price}")
    if (args.known or args.future) and not args.history:
        raise UserError("--known and --future go with --history (the sales history demand is forecast from)")
    limit = Limit(args.limit, args.limit_kind, args.weight, args.rule) if args.limit is not None else None
    return_freed_arrays_to_the_system()

    # the items, then demand (from the item master or a forecast), then every SKU's wish, the limit, the lines
    with distributed.workers(args.ray, args.ray_address) as workers:  # Ray missing or out of reach fails here
        table = ItemTable(args.items, args.chunk_rows, need_demand=args.history is None)
        if args.history:
            horizon = int(np.ceil(table.columns["lead_mean"].max())) + 1
            known = [name for name in args.known.split(",") if name]
            table.set_demand(*forecast_demand(args.history, known, args.future, args.model, horizon))
        plan = first_pass(table, args.state, args.chunk_rows, args.policy, args.price, workers)
    table.drop(FIRST_PASS_ONLY)  # at 1,000,000 SKUs, 40 MB less for the share and the lines
    for source, problems in ((args.items, table.problems), (args.state, plan.problems)):
        for line, problem in problems:
            print(f"skipped {source} line {line}: {problem}", file=sys.stderr)
    planned = int(plan.planned.sum())
    if planned == 0:
        raise UserError(f"--state {args.state}: no valid row to plan an order for")
    share(table, plan, limit)
    atomic_write(out, write_lines(out, table, plan, args.state, args.chunk_rows, args.policy, limit))
    cut = int((plan.wanted - plan.order).sum())
    limit_text = f"; {cut:,} units cut by the limit (room {plan.room:,.0f})" if limit is not None else ""
    print(f"{out}: {planned:,} SKUs, {int((plan.order > 0).sum()):,} orders of {int(plan.order.sum()):,} units"
          f"{limit_text}", file=sys.stderr)  # fmt: skip
    return PARTIAL_SUCCESS if table.problems or plan.problems else 0


if __name__ == "__main__":
    sys.exit(main())
