"""Learned policies against the optimum and the best base-stock, on evaluate.py's numbers.

    # retrain one instance from scratch (train.py, shipped config, fixed seed), then evaluate it
    python benchmarks/agents_vs_optimum.py train --algo ppo --scenario lost_sales_L1_p4 [--seed 0]
                                                 [--timesteps N] [-p KEY=VALUE ...] [--note TEXT]
    # re-evaluate an existing run directory or model zip (no training)
    python benchmarks/agents_vs_optimum.py eval runs/bench/.../lost_sales_L1_p4_ppo_seed0 [--note TEXT]
    # evaluate every policy under zoo/<algo>/<scenario>/ (no training); writes the zoo table
    python benchmarks/agents_vs_optimum.py zoo
    # ship a trained model: copy it (and what agents.rl.load_run needs) to zoo/<algo>/<scenario>/
    python benchmarks/agents_vs_optimum.py promote runs/bench/.../lost_sales_L1_p4_ppo_seed0/best_model.zip

Every evaluation is `python evaluate.py --scenario S --policy optimal --policy base_stock
--policy capped_base_stock --policy AGENT --episodes 2000 --seed 12345` (warmup 50, the default),
so the agent faces the same demand as the references, on a seed disjoint from training
(train.py's own evaluations use seed 2,000,003, the tuning of classic policies 1,000,003).

`train` evaluates both the final model and best_model.zip (the best of train.py's periodic
evaluations, on its own paths). `train` and `eval` print one row and append it to the log table of
benchmarks/results/agents_vs_optimum.md (--no-append: print only); `zoo` rewrites the zoo table
between the markers in that file. Gaps are in percent of the optimum (or, where no optimum is
known, of the best classic policy).
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from envs.files import atomic_write  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "agents_vs_optimum.md"
ZOO = ROOT / "zoo"
REFERENCES = ("optimal", "base_stock", "capped_base_stock", "s_S")
LOG_MARKER = "<!-- log: rows are appended below this line -->"
ZOO_BEGIN, ZOO_END = "<!-- zoo table begin -->", "<!-- zoo table end -->"
LOG_HEADER = (
    "| date | scenario | algo | agent | steps | train s | optimal | base-stock | capped b-s | agent cost "
    "| gap to opt % | gap to best b-s % | settings / note |\n"
    "|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"
)


def evaluate(scenario: str, agent: str, episodes: int, seed: int, extra: tuple[str, ...] = ()) -> dict[str, Any]:
    """Average cost per period of the references and the agent (key "agent") from evaluate.py, and
    (key "paired") the agent's paired difference to the best classic policy with its 95% CI."""
    with tempfile.TemporaryDirectory() as out:
        policies = [arg for name in (*REFERENCES, *extra) for arg in ("--policy", name)]
        command = [
            sys.executable,
            str(ROOT / "evaluate.py"),
            "--scenario",
            scenario,
            *policies,
            "--policy",
            agent,
            "--episodes",
            str(episodes),
            "--seed",
            str(seed),
            "--out",
            out,
        ]
        subprocess.run(command, cwd=ROOT, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        records = json.loads((Path(out) / "results.json").read_text())
    costs = {r["policy"]: r["avg_cost"] for r in records[:-1]}
    costs["agent"] = records[-1]["avg_cost"]  # learned policies come last
    costs["paired"] = records[-1].get("paired_vs_best_classic")
    return costs


def paired_text(paired: dict[str, Any] | None) -> str:
    """``vs best classic s_S: -0.512 (-0.60..-0.42)``: the agent's paired cost difference and its 95% CI."""
    if not paired:
        return ""
    low, high = paired["ci95"]
    return f"vs best classic {paired['against']}: {paired['mean_difference']:+.3f} ({low:+.3f}..{high:+.3f})"


def row(scenario: str, algo: str, agent: str, steps: object, seconds: object, costs: dict[str, Any], note: str) -> str:
    reference = costs.get("optimal") or min(costs[name] for name in REFERENCES if name in costs)
    best_bs = min(costs.get("base_stock", float("inf")), costs.get("capped_base_stock", float("inf")))

    def cost(name: str) -> str:
        return f"{costs[name]:.4f}" if name in costs else "—"

    return (
        f"| {date.today()} | {scenario} | {algo} | {agent} | {steps} | {seconds} | {cost('optimal')} "
        f"| {cost('base_stock')} | {cost('capped_base_stock')} | {costs['agent']:.4f} "
        f"| {100 * (costs['agent'] / reference - 1):+.2f} | {100 * (costs['agent'] / best_bs - 1):+.2f} | {note} |"
    )


def append_log(line: str) -> None:
    text = RESULTS.read_text() if RESULTS.exists() else f"# Agents against the optimum\n\n{LOG_MARKER}\n{LOG_HEADER}\n"
    if LOG_MARKER not in text:
        text += f"\n## Log\n\n{LOG_MARKER}\n{LOG_HEADER}\n"
    atomic_write(RESULTS, text.rstrip("\n") + "\n" + line + "\n")


def run_info(path: Path) -> tuple[str, str, object]:
    """Algo, scenario and trained steps of a run directory (or the one holding a model zip)."""
    run = path if path.is_dir() else path.parent
    summary = json.loads((run / "summary.json").read_text()) if (run / "summary.json").exists() else {}
    config = (run / "config.yaml").read_text()
    match = re.search(r"^algo: (\S+)", config, re.M)
    assert match, f"{run}/config.yaml names no algo"
    algo = match.group(1)
    steps = summary.get("timesteps", "?")
    if path.name == "best_model.zip" and summary.get("best"):
        steps = summary["best"]["timesteps"]
    return algo, summary.get("scenario", "?"), steps


def train(args: argparse.Namespace) -> None:
    Path(args.run_dir).mkdir(parents=True, exist_ok=True)
    # a fresh parent per call, so runs started in the same second (parallel streams) stay apart
    run_parent = Path(
        tempfile.mkdtemp(prefix=f"{args.scenario}_{args.algo}_{time.strftime('%Y%m%d-%H%M%S')}_", dir=args.run_dir)
    )
    command = [
        sys.executable,
        str(ROOT / "train.py"),
        "--algo",
        args.algo,
        "--scenario",
        args.scenario,
        "--seed",
        str(args.seed),
        "--run-dir",
        str(run_parent),
    ]
    if args.timesteps:
        command += ["--timesteps", str(args.timesteps)]
    for param in args.params:
        command += ["-p", param]
    print("$", " ".join(command[1:]), flush=True)
    start = time.perf_counter()
    with open(run_parent.with_suffix(".log"), "w") as log:  # SB3's training log
        returncode = subprocess.run(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT).returncode
    if returncode != 0:
        sys.exit(f"train.py failed (exit code {returncode}); its output is in {run_parent.with_suffix('.log')}")
    seconds = time.perf_counter() - start
    run = next(p for p in run_parent.iterdir() if p.is_dir())
    settings = " ".join(f"-p {p}" for p in args.params)
    report(run / "model.zip", args, seconds, extra_note=settings)
    if (run / "best_model.zip").exists():  # chosen on train.py's evaluation paths (seed 2,000,003), not on these
        report(run / "best_model.zip", args, seconds, extra_note=settings)


def report(agent: Path, args: argparse.Namespace, seconds: object = "—", extra_note: str = "") -> None:
    algo, scenario, steps = run_info(agent)
    costs = evaluate(args.scenario or scenario, str(agent), args.episodes, args.eval_seed)
    note = "; ".join(part for part in (extra_note, args.note, paired_text(costs["paired"])) if part)
    shown = agent.relative_to(ROOT) if agent.is_relative_to(ROOT) else agent
    line = row(
        args.scenario or scenario,
        algo,
        str(shown),
        steps,
        f"{seconds:.0f}" if isinstance(seconds, float) else seconds,
        costs,
        note,
    )
    print(LOG_HEADER.splitlines()[0])
    print(line)
    if not args.no_append:
        append_log(line)


def natural_order(name: str) -> list[object]:
    """Sort key that puts lost_sales_L1_p4 before lost_sales_L1_p19."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def zoo(args: argparse.Namespace) -> None:
    """Evaluate every zoo policy; one row per scenario with the agents side by side."""
    by_scenario: dict[str, dict[str, dict[str, Any]]] = {}
    for summary_file in sorted(ZOO.glob("*/*/summary.json")):
        agent = summary_file.parent
        algo, scenario = agent.parent.name, agent.name
        print(f"evaluating {agent.relative_to(ROOT)}", flush=True)
        by_scenario.setdefault(scenario, {})[algo] = evaluate(scenario, str(agent), args.episodes, args.eval_seed)
    lines = [
        f"Command: `python benchmarks/agents_vs_optimum.py zoo` ({args.episodes} episodes x 365 periods, first 50 "
        f"left out, evaluation seed {args.eval_seed}); {date.today()}. Gaps in percent of the optimum, or where "
        "none is known (seasonal_promo) of the best classic policy; the last columns are each agent's paired "
        "difference in cost per period to the best classic policy, with its 95% CI.\n",
        "| scenario | optimal | base-stock | capped b-s | (s, S) | PPO | PPO gap % | DQN | DQN gap % "
        "| PPO − best classic | DQN − best classic |",  # noqa: RUF001 (a minus sign in the table)
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    grid_gaps: dict[str, list[float]] = {"ppo": [], "dqn": []}
    for scenario in sorted(by_scenario, key=natural_order):
        algos = by_scenario[scenario]
        refs = next(iter(algos.values()))
        reference = refs.get("optimal") or min(refs[name] for name in REFERENCES if name in refs)
        cells, paired = [], []
        for algo in ("ppo", "dqn"):
            if algo in algos:
                cost = algos[algo]["agent"]
                gap = 100 * (cost / reference - 1)
                cells += [f"{cost:.4f}", f"{gap:+.2f}"]
                if scenario.startswith("lost_sales_L"):
                    grid_gaps[algo].append(gap)
                paired.append(paired_text(algos[algo]["paired"]).removeprefix("vs best classic "))
            else:
                cells += ["—", "—"]
                paired.append("—")
        classic = [f"{refs[name]:.4f}" if name in refs else "—" for name in REFERENCES]
        lines.append(f"| {scenario} | " + " | ".join([*classic, *cells, *paired]) + " |")
    averages = [f"{sum(gaps) / len(gaps):+.2f} (mean of {len(gaps)})" if gaps else "—" for gaps in grid_gaps.values()]
    lines.append(f"| lost-sales grid, mean gap | | | | | | {averages[0]} | | {averages[1]} | | |")
    table = "\n".join(lines)
    print(table)
    if args.no_append:
        return
    text = RESULTS.read_text() if RESULTS.exists() else f"# Agents against the optimum\n\n{LOG_MARKER}\n{LOG_HEADER}\n"
    block = f"{ZOO_BEGIN}\n{table}\n{ZOO_END}"
    if ZOO_BEGIN in text:
        text = re.sub(re.escape(ZOO_BEGIN) + ".*?" + re.escape(ZOO_END), lambda _: block, text, flags=re.S)
    else:
        text = text.replace(LOG_MARKER, f"## Zoo\n\n{block}\n\n## Log\n\n{LOG_MARKER}", 1)
    atomic_write(RESULTS, text)


def promote(args: argparse.Namespace) -> None:
    """Copy a trained model and what load_run needs into zoo/<algo>/<scenario>/ (as model.zip)."""
    from agents.rl.serialization import stats_file  # torch: only for this command

    model = args.model.resolve()
    run = model.parent
    algo, scenario, steps = run_info(model)
    target = ZOO / algo / scenario
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    shutil.copy(model, target / "model.zip")
    shutil.copy(stats_file(model), stats_file(target / "model.zip"))
    for name in ("config.yaml", "scenario.yaml", "summary.json", "command.txt", "versions.json"):
        if (run / name).exists():
            shutil.copy(run / name, target / name)
    provenance = {
        "source_run": run.name,
        "source_model": model.name,
        "timesteps": steps,
        "note": "summary.json is the source run's: its top-level KPIs are the run's final model; "
        "when source_model is best_model.zip, the shipped model is the one of summary.json's 'best'",
    }
    atomic_write(target / "provenance.json", json.dumps(provenance, indent=2) + "\n")
    print(f"{model} -> {target.relative_to(ROOT)}/")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--episodes", type=int, default=2000, help="evaluation episodes (default 2000)")
    common.add_argument("--eval-seed", type=int, default=12345, help="evaluation seed (default 12345)")
    common.add_argument("--no-append", action="store_true", help="print the row, do not append it to the results file")
    common.add_argument("--note", default="", help="text for the last column")
    t = sub.add_parser("train", parents=[common], help="train from scratch, then evaluate")
    t.add_argument("--algo", required=True)
    t.add_argument("--scenario", required=True)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--timesteps", type=int)
    t.add_argument("-p", dest="params", action="append", default=[], metavar="KEY=VALUE")
    t.add_argument("--run-dir", default=str(ROOT / "runs" / "bench"))
    e = sub.add_parser("eval", parents=[common], help="evaluate a run directory or model zip")
    e.add_argument("agent", type=Path)
    e.add_argument("--scenario", help="default: the scenario the run was trained on")
    sub.add_parser("zoo", parents=[common], help="evaluate everything under zoo/")
    pr = sub.add_parser("promote", help="copy a model (e.g. a run's best_model.zip) into zoo/<algo>/<scenario>/")
    pr.add_argument("model", type=Path)
    args = parser.parse_args(argv)
    if args.command == "train":
        train(args)
    elif args.command == "eval":
        report(args.agent.resolve(), args)
    elif args.command == "promote":
        promote(args)
    else:
        zoo(args)


if __name__ == "__main__":
    main()
