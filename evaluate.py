"""Evaluate order policies side by side on one inventory scenario.

    python evaluate.py --scenario lost_sales_L2_p9                       # every classic policy + optimum
    python evaluate.py --scenario lost_sales_L2_p9 --policy base_stock --policy runs/lost_sales_L2_p9_ppo_seed0
    python evaluate.py --scenario seasonal_promo --forecast lightgbm --episodes 200 \
        --policy base_stock --policy forecast_order_up_to --policy forecast_order_up_to:moving_average
    python evaluate.py --scenario mabim_standard_test --tune-on mabim_standard --chunk-episodes 50 --ray

Classic policies are tuned on their own paths, then every policy runs on the same evaluation
demand (common random numbers). Prints the comparison table and writes results.json,
meta.json, results.csv, results.md, cost.png and sample_paths.png to --out.

Each policy runs on chunks of --chunk-episodes episodes (default: all at once); with --ray or
--ray-address the classic policies are tuned side by side, and the chunks of every policy run side
by side, on Ray workers, with the same results.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tqdm import tqdm

from agents.classic.assortment import ASSORTMENT_POLICIES
from agents.evaluation import (
    NETWORK_POLICY_NAMES,
    POLICY_NAMES,
    evaluate,
    point_table,
    policy_names,
    resolve_policies,
    text_table,
    tuning_and_evaluation_paths,
    with_forecast_model,
    write_results,
)
from envs import distributed
from envs.arguments import MAX_SEED, ArgumentParser, integer
from envs.errors import UserError, exit_on_user_error
from envs.files import check_output_directory
from envs.limits import MAX_EPISODES
from envs.scenario import load_scenario


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = ArgumentParser(description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenario", required=True, help="scenario name in configs/scenarios or a YAML path")
    parser.add_argument(
        "--policy",
        action="append",
        default=[],
        metavar="P",
        help=f"one of {', '.join(POLICY_NAMES)} (a network: {', '.join(NETWORK_POLICY_NAMES)}; an assortment: "
        f"{', '.join(ASSORTMENT_POLICIES)}); "
        "with forecasts: forecast_order_up_to, or forecast_order_up_to:MODEL on the same demand with MODEL's "
        "forecasts; random; a run directory / model zip, or an exported policy directory "
        "(repeatable); "
        "default: every classic policy and the optimum where tractable",
    )
    parser.add_argument(
        "--episodes", type=integer(1, MAX_EPISODES), default=1000, help="evaluation episodes (default 1000)"
    )
    parser.add_argument(
        "--seed", type=integer(0, MAX_SEED), default=0, help="seed of the evaluation demand (default 0)"
    )
    parser.add_argument(
        "--warmup",
        type=integer(0),
        default=50,
        help="periods at the start of each episode left out of the KPIs (default 50)",
    )
    parser.add_argument(
        "--service-level",
        type=float,
        metavar="CSL",
        help="choose the eoq policy's reorder point for this cycle service level (0..1) instead of by cost",
    )
    parser.add_argument(
        "--forecast",
        metavar="MODEL",
        help="give the scenario demand forecasts by this model (a forecast block, its defaults where the "
        "scenario has none), observed by forecast_order_up_to and by agents trained with forecasts",
    )
    parser.add_argument(
        "--tune-on",
        metavar="SCENARIO",
        help="tune the classic policies on this scenario instead (the same system on another part of a demand "
        "history, e.g. the year before the one evaluated)",
    )
    parser.add_argument(
        "--tuning-episodes", type=integer(1, MAX_EPISODES), default=200, help="episodes classic policies are tuned on"
    )
    parser.add_argument(
        "--chunk-episodes",
        type=integer(1, MAX_EPISODES),
        metavar="N",
        help="run each policy on chunks of N episodes, the units Ray spreads over its workers (default: all at once)",
    )
    parser.add_argument("--out", default="results", help="output directory (default results/)")
    distributed.add_arguments(parser)
    return parser.parse_args(argv)


def load_learned(path: str):
    """A trained run or an exported policy directory, and its scenario.

    Imported here so that evaluating classic policies or an export never loads torch.
    """
    if (Path(path) / "policy.json").is_file():
        from agents.deploy.export import load_exported

        return load_exported(path)
    from agents.rl.policy import load_run

    return load_run(path)


@exit_on_user_error
def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    check_output_directory(args.out, replaceable=lambda existing: True)  # results join what is there
    if args.service_level is not None and not 0 < args.service_level < 1:
        raise UserError(f"--service-level must be between 0 and 1, got {args.service_level}")
    scenario = load_scenario(args.scenario)
    if args.forecast is not None:
        scenario = with_forecast_model(scenario, args.forecast)
    if not 0 <= args.warmup < scenario.horizon:
        raise UserError(f"--warmup must be in 0..{scenario.horizon - 1} (the scenario's horizon), got {args.warmup}")
    tune_on = load_scenario(args.tune_on) if args.tune_on is not None else None
    if tune_on is not None and not 0 <= args.warmup < tune_on.horizon:
        raise UserError(f"--warmup must be in 0..{tune_on.horizon - 1} (the --tune-on horizon), got {args.warmup}")
    tuning, paths = tuning_and_evaluation_paths(scenario, args.episodes, args.seed, args.tuning_episodes, tune_on)
    with distributed.workers(args.ray, args.ray_address) as workers:  # Ray missing or out of reach fails before tuning
        names = args.policy or list(policy_names(scenario))
        policies, notes = resolve_policies(
            scenario, names, tuning, args.warmup, load_learned, args.service_level, workers=workers
        )
        print(
            f"{scenario.name}: {args.episodes} episodes x {scenario.horizon} periods, "
            f"first {args.warmup} periods left out, evaluation seed {args.seed}\n",
            flush=True,  # the work starts: a reader of a pipe sees it now
        )
        bar = tqdm(
            total=len(policies) * args.episodes,
            desc="evaluating",
            unit="episode",
            file=sys.stderr,
            disable=not sys.stderr.isatty(),  # a bar in a log file is noise, and stderr keeps one line for an error
        )
        with bar:

            def advance(episodes: int) -> None:
                bar.update(episodes)

            results = evaluate(
                policies, scenario, paths, args.warmup, advance, workers=workers, chunk_episodes=args.chunk_episodes
            )

    meta = {
        "scenario": scenario.name,
        "episodes": args.episodes,
        "seed": args.seed,
        "warmup": args.warmup,
        "tuning_episodes": args.tuning_episodes,
        "tuned_on": tuning.scenario.name,
        "chunk_episodes": args.chunk_episodes,
        "forecast": scenario.forecast.model_dump() if scenario.forecast is not None else None,
        "command": " ".join(sys.argv),
    }
    write_results(results, scenario, args.out, meta, args.warmup)
    print(text_table(results) + point_table(results, markdown=False))
    for note in notes:
        print(f"note: {note}")
    print(f"results written to {args.out}/")


if __name__ == "__main__":
    main()
