"""PPO's default recipe on supply networks against echelon base-stock, on demand no training or tuning saw.

    # train.py with the shipped default recipe (no per-instance setting), then ship the run's best model
    python -m benchmarks.network_agents train [--scenario S ...] [--seed 0]
    # evaluate every shipped network model (no training); writes benchmarks/results/network_agents.md
    python -m benchmarks.network_agents [--scenario S ...] [--episodes 1000] [--seed 12345]

The default recipe on a network (configs/algos/ppo.yaml: its ``default`` and ``networks`` blocks,
``correct_classic: true``, corrections of at most one period of the demand a point serves): each
stock point's action corrects the order of echelon base-stock, at the exact optimal levels of a serial
system with backorders (Chen and Zheng 1994) or at the levels Monte Carlo optimisation finds
(agents.classic.meio, on paths of seed 1,000,003); the untrained model is that policy, and the
run's best model is chosen by train.py's own evaluations (seed 2,000,003). The judge is
``evaluate.py --policy echelon_base_stock [--policy optimal] --policy zoo/ppo/S`` on ``--episodes``
episodes of ``--seed`` (first 50 periods left out), disjoint from both.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

from benchmarks.agents_vs_optimum import ROOT, ZOO, promote
from envs.files import atomic_write

RESULTS = ROOT / "benchmarks" / "results" / "network_agents.md"
SCENARIOS = (
    "serial_snyder_shen_6_1",
    "serial_shang_song_9",
    "owmr_4_identical_lost_sales",
    "owmr_10_nonidentical_lost_sales",
)


def train(scenario: str, seed: int, run_dir: Path) -> None:
    """train.py's default recipe on ``scenario``; its best model goes to zoo/ppo/<scenario>/."""
    parent = Path(tempfile.mkdtemp(prefix=f"{scenario}_", dir=run_dir))
    command = [sys.executable, str(ROOT / "train.py"), "--algo", "ppo", "--scenario", scenario, "--seed", str(seed),
               "--run-dir", str(parent)]  # fmt: skip
    print("$", " ".join(command[1:]), flush=True)
    start = time.perf_counter()
    with open(parent.with_suffix(".log"), "w") as log:
        if subprocess.run(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT).returncode != 0:
            sys.exit(f"train.py failed; its output is in {parent.with_suffix('.log')}")
    run = next(p for p in parent.iterdir() if p.is_dir())
    promote(argparse.Namespace(model=run / "best_model.zip"))
    target = ZOO / "ppo" / scenario
    provenance = json.loads((target / "provenance.json").read_text())
    provenance["train_seconds"] = round(time.perf_counter() - start, 1)
    atomic_write(target / "provenance.json", json.dumps(provenance, indent=2) + "\n")


def judge(scenario: str, episodes: int, seed: int) -> dict[str, Any]:
    """evaluate.py's records of echelon base-stock, the exact optimum where known, and zoo/ppo/<scenario>."""
    with tempfile.TemporaryDirectory() as out:
        command = [sys.executable, str(ROOT / "evaluate.py"), "--scenario", scenario, "--episodes", str(episodes),
                   "--seed", str(seed), "--out", out, "--policy", "echelon_base_stock", "--policy", "optimal",
                   "--policy", str(ZOO / "ppo" / scenario)]  # fmt: skip
        subprocess.run(command, cwd=ROOT, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        records = json.loads((Path(out) / "results.json").read_text())
    return {r["policy"] if r["policy"] in ("echelon_base_stock", "optimal") else "ppo": r for r in records}


def row(scenario: str, records: dict[str, Any]) -> str:
    ppo, echelon = records["ppo"], records["echelon_base_stock"]
    optimal = records.get("optimal")
    paired = ppo["paired_vs_best_classic"]
    assert paired["against"] == "echelon_base_stock", paired
    low, high = paired["ci95"]
    verdict = "better" if high < 0 else "worse" if low > 0 else "no significant difference"
    provenance = json.loads((ZOO / "ppo" / scenario / "provenance.json").read_text())
    reference = optimal["avg_cost"] if optimal else echelon["avg_cost"]
    gap = 100.0 * (ppo["avg_cost"] - reference) / reference
    optimum = f"{optimal['avg_cost']:.3f}" if optimal else "—"
    return (
        f"| {scenario} | {optimum} | {echelon['avg_cost']:.3f} | {ppo['avg_cost']:.3f} | {gap:+.2f}% | "
        f"{paired['mean_difference']:+.3f} ({low:+.3f}, {high:+.3f}) | {verdict} | {provenance['timesteps']:,} | "
        f"{provenance.get('train_seconds', 0) / 60:.1f} |"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", nargs="?", choices=("train", "judge"), default="judge")
    parser.add_argument("--scenario", action="append", help="default: " + ", ".join(SCENARIOS))
    parser.add_argument("--seed", type=int, default=None, help="train: 0; judge: 12345")
    parser.add_argument("--episodes", type=int, default=1000)
    parser.add_argument("--run-dir", type=Path, default=ROOT / "runs" / "networks")
    args = parser.parse_args(argv)
    scenarios = args.scenario or list(SCENARIOS)
    if args.command == "train":
        args.run_dir.mkdir(parents=True, exist_ok=True)
        for scenario in scenarios:
            train(scenario, 0 if args.seed is None else args.seed, args.run_dir)
        return
    seed = 12345 if args.seed is None else args.seed
    lines = [
        "# PPO on supply networks, default recipe",
        "",
        f"Command: `python -m benchmarks.network_agents --episodes {args.episodes} --seed {seed}`  ",
        f"Date: {date.today()}; machine: 2 shared cores. Models: zoo/ppo/<scenario>/ (`python -m "
        "benchmarks.network_agents train`: train.py's default recipe, seed 0, no per-instance setting; the "
        "run's best model by its own evaluations on seed 2,000,003).",
        "",
        f"Judged by evaluate.py on {args.episodes:,} episodes of seed {seed} (first 50 periods left out). Exact "
        "optimum: Chen-Zheng's optimal echelon levels simulated on the same demand (serial systems with "
        "backorders). Echelon base-stock: levels Monte Carlo optimised on paths of seed 1,000,003. Gap: to the "
        "exact optimum where known, else to echelon base-stock. Paired difference: PPO minus echelon "
        "base-stock per episode, 95% CI.",
        "",
        "| scenario | exact optimum | echelon base-stock | PPO | gap | paired diff (95% CI) | PPO vs echelon "
        "base-stock | steps of the model | wall-min of the training run |",
        "|---|---:|---:|---:|---:|---|---|---:|---:|",
    ]
    for scenario in scenarios:
        lines.append(row(scenario, judge(scenario, args.episodes, seed)))
        print(lines[-1], flush=True)
    atomic_write(RESULTS, "\n".join(lines) + "\n")
    print(f"written to {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
