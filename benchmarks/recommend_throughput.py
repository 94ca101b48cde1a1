"""Seconds for recommend.py to turn the state of 100,000 SKUs into explained purchase-order lines.

    python benchmarks/recommend_throughput.py [--skus 100000] [--repeat 3] [--run RUN_DIR]

Policies, all for lost_sales_L2_p9: the DP optimum (lookup table), a tuned base-stock policy
(a few ONNX nodes) and a PPO policy (the 64x64 MLP of configs/algos/ppo.yaml with VecNormalize
folded in): RUN_DIR if given, else a short run trained here (its skill does not matter, its
network's cost does). The state file holds 100,000 states met by the optimal policy in
simulation. Measured: the whole command in a fresh Python (start-up and imports included, CSV
and JSON), and in one process the stages: reading and checking the state file, the orders
alone, the orders with Shapley attributions and sentences, writing the CSV. Medians of
--repeat runs, printed and written to benchmarks/results/recommend_throughput.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np
import onnxruntime

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from agents.deploy.export import classic_source, export_policy, learned_source, rollout_observations  # noqa: E402
from agents.deploy.orders import recommend, write_orders  # noqa: E402
from agents.deploy.runtime import OnnxPolicy  # noqa: E402
from agents.deploy.state import read_state  # noqa: E402
from envs.files import atomic_write  # noqa: E402
from envs.scenario import load_scenario, single_item  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "recommend_throughput.md"
SCENARIO = "lost_sales_L2_p9"


def median_seconds(run, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def write_state(path: Path, policy: OnnxPolicy, skus: int) -> None:
    states = rollout_observations(policy, load_scenario(SCENARIO), skus, seed=99).reshape(-1, 3)[:skus].astype(np.int64)
    lines = [f"SKU-{i:06d},{a},{b},{c}" for i, (a, b, c) in enumerate(states.tolist())]
    path.write_text("sku,on_hand,arriving_in_0,arriving_in_1\n" + "\n".join(lines) + "\n")


def trained_run(work: Path) -> Path:
    command = [
        sys.executable,
        str(ROOT / "train.py"),
        "--algo",
        "ppo",
        "--scenario",
        SCENARIO,
        "--timesteps",
        "4096",
        "--n-envs",
        "16",
        "--run-dir",
        str(work / "runs"),
    ]
    for param in ("eval_freq=1000000", "eval_episodes=2", "checkpoint_freq=1000000", "env.horizon=60"):
        command += ["-p", param]
    subprocess.run(command, check=True, capture_output=True)
    return work / "runs" / f"{SCENARIO}_ppo_seed0"


def stage_seconds(
    name: str, directory: Path, state: Path, work: Path, repeat: int
) -> tuple[str, float, float, float, float, float, float]:
    """Median seconds of the whole command (CSV, JSON) and of each stage in one process, for one policy."""
    command = [sys.executable, str(ROOT / "recommend.py"), "--policy", str(directory), "--state", str(state)]
    as_csv = [*command, "--out", str(work / "o.csv")]
    as_json = [*command, "--out", str(work / "o.json"), "--format", "json"]
    cli_csv = median_seconds(lambda: subprocess.run(as_csv, check=True, capture_output=True), repeat)
    cli_json = median_seconds(lambda: subprocess.run(as_json, check=True, capture_output=True), repeat)
    policy = OnnxPolicy.load(directory)
    read = median_seconds(lambda: read_state(state, policy.metadata["observation"]), repeat)
    rows_read = read_state(state, policy.metadata["observation"])
    orders = median_seconds(lambda: policy.act(rows_read.obs), repeat)
    explained = median_seconds(lambda: recommend(policy, rows_read.obs), repeat)
    recs = recommend(policy, rows_read.obs)
    written = median_seconds(lambda: write_orders(work / "o.csv", "csv", policy, rows_read, recs, str(state)), repeat)
    print(f"{name}: command {cli_csv:.2f} s (csv), {cli_json:.2f} s (json)", flush=True)
    return name, cli_csv, cli_json, read, orders, explained, written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skus", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--run", help="a PPO run directory to benchmark (default: train a short one)")
    args = parser.parse_args()

    scenario = single_item(load_scenario(SCENARIO), "this benchmark")
    load_before = os.getloadavg()[0]
    imports = median_seconds(
        lambda: subprocess.run([sys.executable, "-c", "import recommend"], cwd=ROOT, check=True), args.repeat
    )
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        export_policy(classic_source("optimal", scenario), work / "optimal")
        export_policy(classic_source("base_stock", scenario), work / "base_stock")
        export_policy(learned_source(args.run or trained_run(work)), work / "ppo")
        state = work / "state.csv"
        write_state(state, OnnxPolicy.load(work / "optimal"), args.skus)

        rows = [stage_seconds(name, work / name, state, work, args.repeat) for name in ("optimal", "base_stock", "ppo")]

    run_option = f" --run {args.run}" if args.run else ""
    lines = [
        "# recommend.py throughput",
        "",
        f"Command: `python benchmarks/recommend_throughput.py --skus {args.skus} --repeat {args.repeat}{run_option}`",
        f"Date: {date.today()}; machine: {platform.machine()}, {os.cpu_count()} cores shared with other jobs "
        f"(load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after: numbers are indicative), "
        f"Python {platform.python_version()}, onnxruntime {onnxruntime.__version__}.",
        f"{args.skus:,} SKUs of {SCENARIO} (3 observation entries, 3 explanation groups: 8 model runs per SKU for the "
        f"Shapley values); medians of {args.repeat} runs, in seconds.",
        "",
        "| policy | whole command, CSV | whole command, JSON | read + check state | orders only "
        "| orders + explanations | write CSV |",
        "|---|---:|---:|---:|---:|---:|---:|",
        *[
            f"| {name} | {cli_csv:.2f} | {cli_json:.2f} | {read:.2f} | {orders:.3f} | {explained:.2f} | {written:.2f} |"
            for name, cli_csv, cli_json, read, orders, explained, written in rows
        ],
        "",
        f'The whole command includes Python start-up and imports: `python -c "import recommend"` takes '
        f"{imports:.2f} s, most of it numpy, pandas and onnxruntime (recommend_startup.md breaks it down).",
        "",
    ]
    atomic_write(RESULTS, "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
