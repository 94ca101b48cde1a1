"""The references of every instance: the DP optimum where tractable and each classic policy, tuned.

Every number comes from ``evaluate.py`` (run as a subprocess, as a user would): the four classic
policies are tuned on ``agents.references.TUNING_SEED``'s paths, then they and the DP optimum
(where ``agents.references.optimal_policy`` gives one: iid demand, a fixed lead time, at most
10^6 states) run on the same evaluation paths. An instance's *reference* is the optimum where it
is known, else the best classic policy on those paths.

Writes benchmarks/results/heldout_references.json (what the agent table and the tests read) and
benchmarks/results/heldout_references.md.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

import yaml

from agents.references import optimal_policy
from benchmarks.heldout.instances import SETS, InstanceSet
from envs.files import atomic_write
from envs.scenario import load_scenario, single_item

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "benchmarks" / "results"
REFERENCES_JSON = RESULTS / "heldout_references.json"
REFERENCES_MD = RESULTS / "heldout_references.md"
CLASSIC = ("base_stock", "capped_base_stock", "s_S", "eoq")
EPISODES = 2000
EVAL_SEED = 12345  # as benchmarks/agents_vs_optimum.py; disjoint from TUNING_SEED, train.py's EVAL_SEED and training


def relative(path: Path) -> str:
    """``path`` relative to the repository root (as recorded in the results)."""
    return str(path.resolve().relative_to(ROOT))


def run_evaluate(
    scenario: Path, learned: list[str], episodes: int, seed: int
) -> tuple[list[dict[str, Any]], list[str]]:
    """``evaluate.py`` on ``scenario`` with the classic policies, the optimum and the ``learned`` ones.

    Returns:
        the records of its results.json, in the order classic policies, optimum (if tractable), learned;
        and the warnings it printed (the DP's, when a truncation bound is reached).

    Raises:
        RuntimeError: evaluate.py failed (its output in the message).
    """
    policies = [*CLASSIC, "optimal", *learned]
    with tempfile.TemporaryDirectory() as out:
        command = [sys.executable, str(ROOT / "evaluate.py"), "--scenario", str(scenario)]
        command += [arg for policy in policies for arg in ("--policy", policy)]
        command += ["--episodes", str(episodes), "--seed", str(seed), "--out", out]
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(command[1:])} failed ({done.returncode}):\n{done.stderr[-2000:]}")
        records: list[dict[str, Any]] = json.loads((Path(out) / "results.json").read_text())
    warnings = [line.split("Warning: ", 1)[1] for line in done.stderr.splitlines() if "Warning: " in line]
    return records, warnings


def summarize_references(records: list[dict[str, Any]]) -> dict[str, Any]:
    """The references of one instance from evaluate.py's records (classic policies and the optimum)."""
    by_name = {r["policy"]: r for r in records}
    classic = {
        name: {"params": by_name[name]["params"], "avg_cost": by_name[name]["avg_cost"], "ci95": by_name[name]["ci95"]}
        for name in CLASSIC
    }
    best = min(CLASSIC, key=lambda name: classic[name]["avg_cost"])
    entry: dict[str, Any] = {"classic": classic, "best_classic": best}
    if "optimal" in by_name:
        details = by_name["optimal"]["details"]
        entry["optimal"] = {
            "exact_cost": details["average_cost"],
            "states": details["n_states"],
            "avg_cost": by_name["optimal"]["avg_cost"],
            "ci95": by_name["optimal"]["ci95"],
        }
        entry["reference"], entry["reference_cost"] = "optimal", entry["optimal"]["avg_cost"]
    else:
        entry["reference"], entry["reference_cost"] = best, classic[best]["avg_cost"]
    return entry


def compute(instance_set: InstanceSet, episodes: int = EPISODES, seed: int = EVAL_SEED) -> dict[str, Any]:
    """The references of every instance of a set, printed as they come."""
    out: dict[str, Any] = {}
    for path in instance_set.files():
        start = time.perf_counter()
        records, warnings = run_evaluate(path, [], episodes, seed)
        entry = summarize_references(records)
        if warnings:
            entry["warnings"] = warnings
        entry["scenario"] = relative(path)
        entry["description"] = str(yaml.safe_load(path.read_text())["description"])
        if "optimal" not in entry:
            entry["no_optimum"] = optimal_policy(single_item(load_scenario(path), "the DP"))[1]
        entry["seconds"] = round(time.perf_counter() - start, 1)
        out[path.stem] = entry
        print(f"{path.stem}: reference {entry['reference']} {entry['reference_cost']:.4f}", flush=True)
    return out


def format_params(params: dict[str, Any]) -> str:
    return ", ".join(f"{key}={value}" for key, value in params.items())


def markdown(references: dict[str, Any], command: str, today: str) -> str:
    """heldout_references.md: one table per set."""
    meta = references["meta"]
    lines = [
        "# References of the held-out and training instances (issue 14)",
        "",
        f"Command: `{command}` (from the repository root); date {today}.  ",
        "Every cost is `python evaluate.py --scenario FILE --policy base_stock --policy capped_base_stock "
        f"--policy s_S --policy eoq --policy optimal --episodes {meta['episodes']} --seed {meta['seed']}`: "
        "average cost per period over 365 periods with the first 50 left out. The classic policies are tuned by "
        "evaluate.py on 200 other episodes (seed 1,000,003; exact formulas where they apply), then every policy runs "
        "on the same evaluation paths. *exact* is the DP's long-run cost, *simulated* the optimal policy's cost on "
        "the evaluation paths; the DP is out of reach with a stochastic lead time or above 10^6 states, and the "
        "reference is then the best classic policy. Gaps are in percent of the reference.",
        "",
        "The scenario files are in `benchmarks/heldout/scenarios/` (drawn by `python -m benchmarks.heldout generate`: "
        "see `benchmarks/heldout/instances.py` for the design). The held-out set is only ever used to judge a recipe; "
        "the training set is for searching one.",
    ]
    for set_name in SETS:
        lines += [
            "",
            f"## {set_name} set (seed {SETS[set_name].seed})",
            "",
            "| instance | system | optimal exact | optimal simulated (95% CI) | base-stock | capped base-stock "
            "| (s, S) | EOQ (r, Q) | best classic | its gap % |",
            "|---|---|---:|---|---|---|---|---|---|---:|",
        ]
        for name, entry in references[set_name].items():
            reference = entry["reference_cost"]
            optimal = entry.get("optimal")
            cells = [
                name,
                entry["description"],
                f"{optimal['exact_cost']:.4f} ({optimal['states']:,} states)"
                if optimal
                else f"— ({entry['no_optimum']})",
                f"{optimal['avg_cost']:.4f} ({optimal['ci95'][0]:.4f}..{optimal['ci95'][1]:.4f})" if optimal else "—",
            ]
            for policy in CLASSIC:
                result = entry["classic"][policy]
                gap = 100 * (result["avg_cost"] / reference - 1)
                cells.append(f"{result['avg_cost']:.4f} ({format_params(result['params'])}; {gap:+.2f}%)")
            best = entry["classic"][entry["best_classic"]]
            cells += [entry["best_classic"], f"{100 * (best['avg_cost'] / reference - 1):+.2f}"]
            lines.append("| " + " | ".join(cells) + " |")
        notes = [f"- {name}: {w}" for name, entry in references[set_name].items() for w in entry.get("warnings", [])]
        if notes:
            lines += ["", "Warnings evaluate.py printed:", "", *notes]
    return "\n".join(lines) + "\n"


def main(episodes: int, seed: int, command: str) -> None:
    """Compute the references of both sets and write the JSON and Markdown files."""
    references: dict[str, Any] = {"meta": {"episodes": episodes, "seed": seed, "date": str(date.today())}}
    for set_name, instance_set in SETS.items():
        references[set_name] = compute(instance_set, episodes, seed)
    atomic_write(REFERENCES_JSON, json.dumps(references, indent=1) + "\n")
    atomic_write(REFERENCES_MD, markdown(references, command, str(date.today())))
    print(f"written {relative(REFERENCES_JSON)} and {relative(REFERENCES_MD)}")
