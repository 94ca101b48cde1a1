"""Tuned classic policies against the exact optimum on Zipkin's (2008) lost-sales grid.

For each of the 16 instances (Poisson mean 5, h = 1, p in {4, 9, 19, 39}, lead time 1..4):
base-stock, capped base-stock and (s, S) are tuned by simulation on their own paths, then
every policy, the DP optimum included, runs on the same evaluation paths (common random
numbers). The table gives the simulated average costs and each heuristic's gap to the
optimum in percent, with Zipkin's published optimal and best base-stock costs beside them.

Run from the repository root: ``python -m benchmarks.classic_vs_optimal [--episodes 1000]``.
Writes benchmarks/results/classic_vs_optimal.md with the command and the date.
"""

from __future__ import annotations

import argparse
import datetime
import platform
import time
from pathlib import Path

import numpy as np

from agents.classic import TUNERS
from agents.references import TUNING_SEED, optimal_policy
from benchmarks.dp_solve_time import ZIPKIN
from envs.batch import evaluation_paths, run_batch
from envs.files import atomic_write
from envs.scenario import load_scenario, single_item

# Zipkin (2008), Table 3: best base-stock cost, by p, for L = 1..4.
ZIPKIN_BASE_STOCK = {
    4: (4.16, 4.64, 4.98, 5.20),
    9: (5.55, 6.32, 6.86, 7.27),
    19: (6.73, 7.84, 8.60, 9.23),
    39: (7.86, 9.19, 10.22, 11.06),
}
HEURISTICS = ("base_stock", "capped_base_stock", "s_S")
OUT = Path(__file__).resolve().parent / "results" / "classic_vs_optimal.md"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=1000, help="evaluation episodes per instance")
    parser.add_argument("--tuning-episodes", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0, help="seed of the evaluation paths")
    args = parser.parse_args()

    lines = [
        "| L | p | optimal (Zipkin) | optimal, simulated | base-stock (Zipkin) | base-stock | gap % "
        "| capped base-stock | gap % | (s, S) | gap % | seconds |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    gaps: dict[str, list[float]] = {name: [] for name in HEURISTICS}
    for lead_time in (1, 2, 3, 4):
        for p in (4, 9, 19, 39):
            start = time.perf_counter()
            scenario = single_item(load_scenario(f"lost_sales_L{lead_time}_p{p}"), "the grid")
            tuning = evaluation_paths(scenario, args.tuning_episodes, TUNING_SEED)
            paths = evaluation_paths(scenario, args.episodes, args.seed)
            optimal, reason = optimal_policy(scenario)
            assert optimal is not None, reason  # the grid's instances all have one
            optimum = run_batch(optimal, scenario, paths, warmup=args.warmup).avg_cost.mean()
            cells = []
            for name in HEURISTICS:
                tuned = TUNERS[name](scenario, tuning, args.warmup)
                cost = run_batch(tuned.policy, scenario, paths, warmup=args.warmup).avg_cost.mean()
                gap = 100.0 * (cost - optimum) / optimum
                gaps[name].append(gap)
                cells.append(
                    f"{cost:.3f} ({', '.join(f'{k}={v}' for k, v in tuned.policy.params().items())}) | {gap:+.2f}"
                )
            base_stock_cell, capped_cell, ss_cell = cells
            lines.append(
                f"| {lead_time} | {p} | {ZIPKIN[p][lead_time - 1]:.2f} | {optimum:.3f} | "
                f"{ZIPKIN_BASE_STOCK[p][lead_time - 1]:.2f} | {base_stock_cell} | {capped_cell} | {ss_cell} | "
                f"{time.perf_counter() - start:.1f} |"
            )
            print(lines[-1], flush=True)
    summary = ", ".join(
        f"{name} {np.mean(values):+.2f}% (worst {np.max(values):+.2f}%)" for name, values in gaps.items()
    )
    text = (
        "\n".join(
            [
                "# Tuned classic policies against the optimum on the lost-sales grid",
                "",
                f"Command: `python -m benchmarks.classic_vs_optimal --episodes {args.episodes} --tuning-episodes "
                f"{args.tuning_episodes} --warmup {args.warmup} --seed {args.seed}` (from the repository root)  ",
                f"Date: {datetime.date.today()}; machine: {platform.machine()}, Python {platform.python_version()}, "
                "2 cores shared.  ",
                f"Heuristics tuned on {args.tuning_episodes} episodes (seed {TUNING_SEED}), every policy then run on "
                f"the same {args.episodes} episodes x 365 periods (seed {args.seed}), first {args.warmup} periods left "
                "out. Gaps are to the DP optimum simulated on the same paths; the Zipkin columns are Table 3's "
                "long-run values.",
                "",
                *lines,
                "",
                f"Mean gap to the optimum over the grid: {summary}.",
            ]
        )
        + "\n"
    )
    print(text.splitlines()[-1])
    atomic_write(OUT, text)


if __name__ == "__main__":
    main()
