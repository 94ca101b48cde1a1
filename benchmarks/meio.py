"""Monte Carlo optimisation of base-stock levels: quality against the exact serial optimum, and time.

    python -m benchmarks.meio

For each serial instance: the exact optimal echelon levels and cost (agents/exact/serial.py),
the levels the Monte Carlo search finds (agents/classic/meio.py, default settings), the exact
cost of those levels and its gap to the optimum, and the search time. For the distribution
systems: the echelon and installation levels found, their cost on fresh paths with a 95%
confidence interval, and the time (the issue's target: under 2 minutes for one warehouse and
ten retailers on this 2-core machine). Results go to benchmarks/results/meio.md.
"""

from __future__ import annotations

import platform
import time
from datetime import date
from pathlib import Path

from agents.classic.meio import optimise_base_stock
from agents.exact.serial import serial_optimum
from envs.files import atomic_write
from envs.scenario import NetworkScenario, load_scenario

RESULTS = Path(__file__).resolve().parent / "results" / "meio.md"
SERIAL = ["serial_snyder_shen_6_1", "serial_shang_song_1", "serial_shang_song_9", "serial_shang_song_17",
          "serial_shang_song_25"]  # fmt: skip
DISTRIBUTION = ["owmr_4_identical_lost_sales", "owmr_4_identical_backorders", "owmr_10_nonidentical_lost_sales"]


def network(name: str) -> NetworkScenario:
    scenario = load_scenario(name)
    assert isinstance(scenario, NetworkScenario)
    return scenario


def main() -> None:
    lines = [
        "# Monte Carlo optimisation of base-stock levels",
        "",
        "Command: `python -m benchmarks.meio`",
        f"Date: {date.today()}; machine: {platform.machine()}, Python {platform.python_version()}, 2 cores shared "
        "with other work (times are wall-clock).",
        "",
        "Serial systems, echelon levels from the top stage down; exact cost of the levels found "
        "(Chen-Zheng recursion):",
        "",
        "| scenario | exact optimal levels | optimal cost | levels found | their exact cost | gap | seconds |",
        "|---|---|---:|---|---:|---:|---:|",
    ]
    for name in SERIAL:
        scenario = network(name)
        best = serial_optimum(scenario)
        start = time.perf_counter()
        found = optimise_base_stock(scenario)
        seconds = time.perf_counter() - start
        levels = found.policy.params()
        cost = serial_optimum(scenario, levels=levels).cost
        lines.append(
            f"| {name} | {', '.join(str(best.levels[p]) for p in levels)} | {best.cost:.3f} "
            f"| {', '.join(map(str, levels.values()))} | {cost:.3f} | {100 * (cost - best.cost) / best.cost:+.2f}% "
            f"| {seconds:.1f} |"
        )
    lines += [
        "",
        "Distribution systems (warehouse first), cost on 1,000 fresh episodes x 365 periods (first 50 left out):",
        "",
        "| scenario | stock points | kind | levels found | cost per period (95% CI) "
        "| candidate-episodes simulated | seconds |",
        "|---|---|---|---|---|---:|---:|",
    ]
    for name in DISTRIBUTION:
        scenario = network(name)
        for kind in ("echelon", "installation"):
            start = time.perf_counter()
            found = optimise_base_stock(scenario, kind)
            seconds = time.perf_counter() - start
            low, high = found.details["ci95"]
            levels = ", ".join(map(str, found.policy.params().values()))
            lines.append(
                f"| {name} | {len(scenario.stock_points)} | {kind} | {levels} "
                f"| {found.expected_cost:.3f} ({low:.3f}..{high:.3f}) "
                f"| {found.details['candidate_episodes_simulated']:,} | {seconds:.1f} |"
            )
    text = "\n".join(lines) + "\n"
    print(text)
    atomic_write(RESULTS, text)


if __name__ == "__main__":
    main()
