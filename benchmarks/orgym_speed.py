"""The network VecEnv against OR-Gym's own InvManagement-v1 environment, measured in one run.

    python benchmarks/orgym_speed.py [--systems 4096] [--seconds 5] [--venv .cache/orgym-venv]

OR-Gym (hubbs5/or-gym 0.5.0) pins gym<=0.19, which no longer builds; it installs and runs in a
virtual environment of its own with gym 0.26 and numpy < 2 (the commands below, run by this
script when the environment is missing; package registries only). Its InvManagementLostSalesEnv
(InvManagement-v1) steps one system at a time with a fixed order of 20 per stage; our
InventoryVecEnv steps N systems of orgym_inventory_v1 (the same 3-stage system, README
"Networks") with fixed actions. The two are timed alternately, ours, OR-Gym's, ours again, and
the ratio of env steps per second is written to benchmarks/results/orgym_speed.md.
"""

from __future__ import annotations

import argparse
import platform
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from envs.files import atomic_write
from envs.vec_env import InventoryVecEnv

RESULTS = Path(__file__).resolve().parent / "results" / "orgym_speed.md"
INSTALL = (
    ["--no-deps", "or-gym==0.5.0"],
    ["gym==0.26.2", "numpy<2", "pandas<2.3", "matplotlib<3.10", "scipy", "networkx"],
)
ORGYM_LOOP = """
import sys, time, numpy as np
from or_gym.envs.supply_chain.inventory_management import InvManagementLostSalesEnv
env = InvManagementLostSalesEnv()
env.reset()
action = np.array([20, 20, 20])
steps, start = 0, time.perf_counter()
while time.perf_counter() - start < float(sys.argv[1]):
    _, _, done, _ = env.step(action)
    steps += 1
    if done:
        env.reset()
print(steps / (time.perf_counter() - start))
"""


def orgym_python(venv: Path) -> Path:
    """The Python of a virtual environment with OR-Gym, made if missing."""
    python = venv / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        for packages in INSTALL:
            subprocess.run([str(python), "-m", "pip", "install", "--quiet", *packages], check=True)
    return python


def orgym_steps_per_second(python: Path, seconds: float) -> float:
    done = subprocess.run([str(python), "-c", ORGYM_LOOP, str(seconds)], capture_output=True, text=True, check=True)
    return float(done.stdout.strip().splitlines()[-1])


def ours_steps_per_second(env: InventoryVecEnv, seconds: float) -> float:
    actions = np.zeros((env.num_envs, 3), dtype=np.float32)  # continuous: order 0.5 x capacity at every stage
    env.reset()
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        env.step(actions)
        steps += 1
    return steps * env.num_envs / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--systems", type=int, default=4096)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--venv", type=Path, default=Path(".cache/orgym-venv"))
    args = parser.parse_args()
    python = orgym_python(args.venv)
    env = InventoryVecEnv("orgym_inventory_v1", args.systems, seed=0)
    ours_steps_per_second(env, 1.0)  # compile and warm up
    ours = [ours_steps_per_second(env, args.seconds)]
    theirs = orgym_steps_per_second(python, args.seconds)
    ours.append(ours_steps_per_second(env, args.seconds))
    rate = float(np.mean(ours))
    text = "\n".join(
        [
            "# The network VecEnv against OR-Gym's InvManagement-v1",
            "",
            f"Command: `python benchmarks/orgym_speed.py --systems {args.systems} --seconds {args.seconds}`",
            f"Date: {date.today()}; machine: {platform.machine()}, Python {platform.python_version()}, 2 cores shared; "
            "timed alternately in one run. OR-Gym 0.5.0 runs in its own virtual environment (gym 0.26.2, numpy < 2: "
            "its pinned gym 0.19 no longer builds).",
            "",
            "| environment | systems per step | env steps / s |",
            "|---|---:|---:|",
            f"| OR-Gym InvManagementLostSalesEnv (InvManagement-v1) | 1 | {theirs:,.0f} |",
            f"| InventoryVecEnv, orgym_inventory_v1 | {args.systems} | {rate:,.0f} (runs: "
            f"{', '.join(f'{r:,.0f}' for r in ours)}) |",
            "",
            f"Ratio: **{rate / theirs:,.0f}x** (target: at least 100x).",
            "",
        ]
    )
    print(text)
    atomic_write(RESULTS, text)


if __name__ == "__main__":
    main()
