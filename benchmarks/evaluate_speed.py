"""Seconds to evaluate each policy over 10,000 episodes x 365 periods in one batch.

Each classic policy is tuned first (timed separately), then run with the evaluator's batch
runner on the same 10,000 pre-drawn episodes; the DP optimum too where it is tractable. Also
times the whole ``evaluate.py`` command on the same settings.

Run from the repository root: ``python -m benchmarks.evaluate_speed [--scenario lost_sales_L2_p9]``.
Writes benchmarks/results/evaluate_speed.md with the command and the date.
"""

from __future__ import annotations

import argparse
import datetime
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from agents.classic import TUNERS
from agents.references import TUNING_SEED, optimal_policy
from envs.batch import evaluation_paths, run_batch
from envs.files import atomic_write
from envs.scenario import load_scenario, single_item

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "benchmarks" / "results" / "evaluate_speed.md"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", default="lost_sales_L2_p9")
    parser.add_argument("--episodes", type=int, default=10_000)
    args = parser.parse_args()

    scenario = single_item(load_scenario(args.scenario), "this benchmark")
    start = time.perf_counter()
    paths = evaluation_paths(scenario, args.episodes, 0)
    draw_seconds = time.perf_counter() - start
    tuning = evaluation_paths(scenario, 200, TUNING_SEED)
    rows = []
    for name, tuner in TUNERS.items():
        start = time.perf_counter()
        policy = tuner(scenario, tuning, 50).policy
        tuned = time.perf_counter() - start
        start = time.perf_counter()
        cost = run_batch(policy, scenario, paths, warmup=50).avg_cost.mean()
        rows.append((name, tuned, time.perf_counter() - start, cost))
    start = time.perf_counter()
    optimal, _ = optimal_policy(scenario)
    if optimal is not None:
        solved = time.perf_counter() - start
        start = time.perf_counter()
        cost = run_batch(optimal, scenario, paths, warmup=50).avg_cost.mean()
        rows.append(("optimal", solved, time.perf_counter() - start, cost))

    with tempfile.TemporaryDirectory() as out:
        command = [
            sys.executable,
            "evaluate.py",
            "--scenario",
            args.scenario,
            "--episodes",
            str(args.episodes),
            "--out",
            out,
        ]
        start = time.perf_counter()
        subprocess.run(command, cwd=ROOT, check=True, capture_output=True)
        whole = time.perf_counter() - start

    lines = [
        "# Evaluation speed",
        "",
        f"Command: `python -m benchmarks.evaluate_speed --scenario {args.scenario} --episodes {args.episodes}` "
        "(from the repository root)  ",
        f"Date: {datetime.date.today()}; machine: {platform.machine()}, Python {platform.python_version()}, "
        "2 cores shared (numbers are indicative).",
        "",
        f"{args.episodes:,} episodes x {scenario.horizon} periods of {args.scenario}, drawn once in "
        f"{draw_seconds:.2f} s; each policy runs on all of them in one batch.",
        "",
        "| policy | tuning / solving s | evaluation s | avg cost |",
        "|---|---:|---:|---:|",
        *[f"| {name} | {tuned:.2f} | {evaluated:.2f} | {cost:.3f} |" for name, tuned, evaluated, cost in rows],
        "",
        f"The whole `evaluate.py --scenario {args.scenario} --episodes {args.episodes}` command (every classic "
        f"policy and the optimum, tables, files and plots): {whole:.1f} s.",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    atomic_write(OUT, text)


if __name__ == "__main__":
    main()
