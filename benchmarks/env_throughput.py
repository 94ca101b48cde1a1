"""Env steps per second of every face of the kernel, measured in one run.

    python benchmarks/env_throughput.py [--scenario lost_sales_L2_p9] [--seconds 3]

Faces: InventoryEnv alone; SB3 DummyVecEnv over InventoryEnv with N=64; InventoryVecEnv at
N = 1, 64, 4096, 65536. Actions are random integers drawn up front, so the policy costs
nothing. The table and the ratio of InventoryVecEnv (N=4096) to DummyVecEnv (N=64) are printed
and written to benchmarks/results/env_throughput.md.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from datetime import date
from pathlib import Path

import numpy as np
from stable_baselines3.common.vec_env import DummyVecEnv

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from envs import InventoryEnv
from envs.files import atomic_write
from envs.scenario import single_item
from envs.vec_env import InventoryVecEnv

RESULTS = Path(__file__).resolve().parent / "results" / "env_throughput.md"


def steps_per_second(step, n_envs: int, seconds: float, max_order: int) -> float:
    """Call ``step(actions)`` repeatedly for about ``seconds``; return env steps per second."""
    actions = np.random.default_rng(0).integers(0, max_order + 1, size=(64, n_envs))
    step(actions[0])  # warm up
    calls, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        for row in actions[:8]:
            step(row)
        calls += 8
    return calls * n_envs / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", default="lost_sales_L2_p9")
    parser.add_argument("--seconds", type=float, default=3.0, help="time per measurement")
    args = parser.parse_args()

    rows = []
    env = InventoryEnv(args.scenario)
    env.reset(seed=0)
    max_order = single_item(env.scenario, "this benchmark").max_order

    def single_step(actions: np.ndarray) -> None:
        _, _, _, truncated, _ = env.step(actions[0])
        if truncated:
            env.reset()

    rows.append(("InventoryEnv (gymnasium)", 1, steps_per_second(single_step, 1, args.seconds, max_order)))
    dummy = DummyVecEnv([lambda: InventoryEnv(args.scenario) for _ in range(64)])
    dummy.seed(0)
    dummy.reset()
    rows.append(("DummyVecEnv over InventoryEnv", 64, steps_per_second(dummy.step, 64, args.seconds, max_order)))
    for n in (1, 64, 4096, 65536):
        vec = InventoryVecEnv(args.scenario, n, seed=0)
        vec.reset()
        rows.append(("InventoryVecEnv", n, steps_per_second(vec.step, n, args.seconds, max_order)))

    dummy_rate = rows[1][2]
    vec_4096 = next(rate for face, n, rate in rows if face == "InventoryVecEnv" and n == 4096)
    lines = [
        "# Env throughput",
        "",
        f"Command: `python benchmarks/env_throughput.py --scenario {args.scenario} --seconds {args.seconds}`",
        f"Date: {date.today()}; machine: {platform.processor() or platform.machine()}, "
        f"Python {platform.python_version()}, 2 cores shared "
        "(numbers are indicative; the ratio is measured in one run).",
        "Steps include automatic resets at the end of each 365-period episode.",
        "",
        "| face | N | env steps / s |",
        "|---|---:|---:|",
        *[f"| {face} | {n} | {rate:,.0f} |" for face, n, rate in rows],
        "",
        f"InventoryVecEnv at N=4096 / DummyVecEnv at N=64: **{vec_4096 / dummy_rate:,.0f}x** (target: at least 100x).",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(RESULTS, text)


if __name__ == "__main__":
    main()
