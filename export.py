"""Export a policy as policy.onnx + policy.json, the one format recommend.py (and any ONNX runtime) reads.

    python export.py runs/lost_sales_L2_p9_ppo_seed0 [--out policies/ppo_L2_p9]      # a trained run or model zip
    python export.py optimal --scenario lost_sales_L2_p9 --out policies/optimal_L2_p9  # the DP optimum
    python export.py base_stock --scenario lost_sales_L2_p9                              # a tuned classic policy
    python export.py runs/general/best --out policies/general                              # a general policy

Classic policies (eoq, s_S, base_stock, capped_base_stock) are tuned as evaluate.py tunes them;
their fitted parameters become constants of the graph. The export is checked on observations of
the policy's own rollouts: the ONNX orders must equal the policy's (SB3: predict(deterministic=True)
mapped to orders); the result is printed and kept in policy.json. The logic lives in agents/deploy/export.py.

A general single-item policy (a directory of train_general.py with general_policy.json) needs no
--scenario: each SKU brings its parameters to recommend.py. Its actor (features -> action) is
exported and checked on features of its rollouts on several single-item scenarios: the ONNX
actions must equal the torch actor's and give the same orders (agents/deploy/general_export.py).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from agents.deploy.export import (
    MAX_PARITY_OBSERVATIONS,
    NETWORK_POLICY_NAMES,
    PARITY_OBSERVATIONS,
    POLICY_NAMES,
    classic_source,
    export_policy,
    learned_source,
)
from agents.evaluation import format_params
from envs.arguments import ArgumentParser, integer
from envs.errors import UserError, exit_on_user_error
from envs.limits import MAX_EPISODES
from envs.scenario import load_scenario


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "source",
        metavar="RUN_DIR_OR_MODEL",
        help=f"a run directory, a model zip in one, or one of {', '.join(POLICY_NAMES)} "
        f"(a network: {', '.join(NETWORK_POLICY_NAMES)})",
    )
    parser.add_argument("--scenario", help="scenario name or YAML path (for a classic policy or the optimum)")
    parser.add_argument("--out", help="the policy directory to write (default: policies/NAME, NAME from the source)")
    parser.add_argument(
        "--parity-observations",
        type=integer(1, MAX_PARITY_OBSERVATIONS),
        default=PARITY_OBSERVATIONS,
        help=f"rollout observations the ONNX orders are checked on (default {PARITY_OBSERVATIONS:,})",
    )
    parser.add_argument(
        "--tuning-episodes",
        type=integer(1, MAX_EPISODES),
        default=200,
        help="episodes a classic policy is tuned on (default 200)",
    )
    return parser.parse_args(argv)


@exit_on_user_error
def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.source not in {*POLICY_NAMES, *NETWORK_POLICY_NAMES} and Path(args.source).is_dir():
        from agents.rl.general import is_general_policy  # torch: a learned policy is exported

        if is_general_policy(args.source):
            export_general_policy(args)
            return
    if args.source in {*POLICY_NAMES, *NETWORK_POLICY_NAMES}:
        if not args.scenario:
            raise UserError(f"{args.source}: --scenario is needed to tune or solve a policy")
        source = classic_source(args.source, load_scenario(args.scenario), args.tuning_episodes)
        default_out = Path("policies") / f"{args.source}_{source.scenario.name}"
    elif Path(args.source).exists():
        if args.scenario:
            raise UserError("--scenario is for classic policies; a run is exported with the scenario it was trained on")
        source = learned_source(args.source)
        default_out = Path("policies") / source.name
    else:
        raise UserError(
            f"{args.source}: no such run directory or model, and not a policy name "
            f"({', '.join(dict.fromkeys((*POLICY_NAMES, *NETWORK_POLICY_NAMES)))})"
        )

    out = Path(args.out) if args.out else default_out
    meta = export_policy(source, out, args.parity_observations)
    parity = meta["parity"]
    params = format_params({key: value for key, value in source.params.items() if not isinstance(value, dict)})
    print(f"exported {source.name} ({params}) for {source.scenario.name} to {out}/")
    print(f"  action mapping: {meta['action_mapping']}")
    equal = parity["observations"] - parity["mismatches"]
    print(
        f"  parity on {parity['observations']:,} rollout observations: {equal:,} orders equal, "
        f"{parity['mismatches']:,} differ (largest difference {parity['largest_difference']})"
    )
    if "sanity" in meta:  # one item: a monotonicity check
        print(
            f"  one more unit on hand does not raise the order in "
            f"{100 * meta['sanity']['share_where_one_more_on_hand_does_not_raise_the_order']:.2f}% of them"
        )
    print(f"  policy.onnx sha256 {meta['hashes']['policy.onnx']}")
    if parity["mismatches"]:
        print(
            f"warning: the ONNX orders differ from the policy's on {parity['mismatches']} observations", file=sys.stderr
        )


def export_general_policy(args: argparse.Namespace) -> None:
    """Export a general policy directory and print its parity check."""
    from agents.deploy.general_export import export_general  # torch: only for a learned policy

    if args.scenario:
        raise UserError("--scenario: a general policy orders for any single item in its range; export it without")
    out = Path(args.out) if args.out else Path("policies") / Path(args.source).resolve().name
    meta = export_general(args.source, out, args.parity_observations)
    parity = meta["parity"]
    print(f"exported the general policy {args.source} to {out}/")
    print(f"  action mapping: {meta['action_mapping']}")
    print(
        f"  parity on {parity['features']:,} rollout features of {len(parity['scenarios'])} scenarios: largest "
        f"action difference {parity['largest_action_difference']:.2g}, {parity['order_mismatches']:,} orders differ"
    )
    print(f"  policy.onnx sha256 {meta['hashes']['policy.onnx']}")
    if parity["order_mismatches"] or parity["largest_action_difference"] > parity["tolerance"]:
        print("warning: the ONNX actions differ from the torch actor's beyond the tolerance", file=sys.stderr)


if __name__ == "__main__":
    main()
