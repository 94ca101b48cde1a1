"""One general single-item policy on the lost-sales grid and the held-out systems (issue 14).

    python -m benchmarks.general_policy --policy zoo/general [--episodes 2000] [--seed 12345]

The policy (trained once by train_general.py, on a population drawn from the held-out design
with another seed, selected on the training instances) orders for each of the 16 grid scenarios
(configs/scenarios/lost_sales_L*_p*.yaml) and the 16 held-out systems
(benchmarks/heldout/scenarios/heldout/), with no retraining and no per-system setting. On the
same ``--episodes`` episodes of ``--seed`` (paths that played no part in training or selection),
each over 365 periods with the first 50 left out, run:

- the general policy, and the same network with its output held at 0 (its base (s, S) policy
  alone: what training added is the difference);
- the best classic policy: the four classic policies tuned on the paths of seed 1,000,003, the
  cheapest there (agents.references.cheapest_classic), with the paired 95% CI of the general
  policy's cost minus it;
- the optimal policy (the DP) where it is tractable; elsewhere the reference is the best classic.

Gaps are in percent of the reference (the optimum where known). Results go to
benchmarks/results/general_policy.md and .json.
"""

from __future__ import annotations

import argparse
import json
import platform
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
from torch import nn

from agents.evaluation import mean_ci
from agents.references import cheapest_classic, optimal_policy
from agents.rl.general import GeneralPolicy, load_general
from benchmarks.heldout.instances import HELDOUT
from envs.batch import evaluation_paths, run_batch
from envs.general_base import BasePolicy
from envs.scenario import SCENARIO_DIR, Scenario, load_scenario

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"
WARMUP = 50


def grid_files() -> list[Path]:
    return sorted(SCENARIO_DIR.glob("lost_sales_L*_p*.yaml"), key=lambda p: (len(p.stem), p.stem))


def judge(path: Path, actor: nn.Sequential, meta: dict[str, Any], episodes: int, seed: int) -> dict[str, Any]:
    """Every policy of the module docstring on one scenario."""
    scenario = load_scenario(str(path))
    assert isinstance(scenario, Scenario)
    paths = evaluation_paths(scenario, episodes, seed)

    def run(policy: Any) -> np.ndarray:
        return run_batch(policy, scenario, paths, warmup=WARMUP).avg_cost

    general = run(GeneralPolicy(actor, scenario, trained_range=meta.get("range")))
    base = run(BasePolicy(scenario))
    classic_name, classic, _ = cheapest_classic(scenario)
    classic_costs = run(classic.policy)
    optimal, why = optimal_policy(scenario)
    optimum = float(run(optimal).mean()) if optimal is not None else None
    reference = optimum if optimum is not None else float(classic_costs.mean())
    difference = mean_ci(general - classic_costs)
    return {
        "scenario": path.stem,
        "description": scenario.description,
        "optimal": optimum,
        "no_optimum_because": why or None,
        "reference": reference,
        "general": float(general.mean()),
        "base": float(base.mean()),
        "best_classic": classic_name,
        "best_classic_params": classic.policy.params(),
        "best_classic_cost": float(classic_costs.mean()),
        "general_minus_classic": difference,
        "gap": 100 * (float(general.mean()) / reference - 1),
        "base_gap": 100 * (float(base.mean()) / reference - 1),
        "classic_gap": 100 * (float(classic_costs.mean()) / reference - 1),
    }


def verdict(difference: tuple[float, float, float]) -> str:
    _, low, high = difference
    return "better" if high < 0 else "worse" if low > 0 else "same"


def summary(rows: list[dict[str, Any]]) -> str:
    gaps = [r["gap"] for r in rows]
    base, classic = np.mean([r["base_gap"] for r in rows]), np.mean([r["classic_gap"] for r in rows])
    verdicts = [verdict(r["general_minus_classic"]) for r in rows]
    return (
        f"mean gap {np.mean(gaps):+.2f}%, worst {max(gaps):+.2f}%; its base policy alone {base:+.2f}%; best classic "
        f"{classic:+.2f}%; significantly better than the best classic on {verdicts.count('better')}, worse on "
        f"{verdicts.count('worse')} of {len(rows)}"
    )


def markdown(results: dict[str, Any]) -> str:
    meta = results["policy"]
    lines = [
        "# One general single-item policy on the grid and the held-out systems",
        "",
        f"Command: `{results['command']}`  ",
        f"Date: {results['date']}; machine: {platform.machine()}, Python {platform.python_version()}, "
        "2 cores shared.  ",
        f"Policy: `{results['policy_dir']}`, trained by train_general.py for {meta.get('timesteps', 0):,} steps on "
        f"a population of {meta['trained_on']['size']} systems (seed {meta['trained_on']['seed']}), selected on the "
        f"training instances (score {meta.get('selection_score', float('nan')):.4f}). "
        f"One model for every row: no retraining, no per-system setting. Every policy runs on {results['episodes']:,} "
        f"episodes of seed {results['seed']} (365 periods, the first {WARMUP} left out). Gaps are in percent of the "
        "reference: the DP optimum simulated on the same paths where tractable, else the best classic policy. "
        "*base* is the same policy with its network's output held at 0, its base (s, S) policy. *vs best classic*: "
        "the paired 95% CI "
        "of the general policy's cost minus the best classic policy's.",
        "",
    ]
    for name, rows in results["sets"].items():
        lines += [f"## {name}", "", summary(rows) + ".", ""]
        lines += [
            "| system | reference | general | gap % | base gap % | best classic | its gap % | vs best classic |",
            "|---|---:|---:|---:|---:|---|---:|---|",
        ]
        for r in rows:
            mean, low, high = r["general_minus_classic"]
            params = ", ".join(f"{k}={v}" for k, v in r["best_classic_params"].items())
            paired = f"{mean:+.4f} ({low:+.4f}..{high:+.4f}), {verdict(r['general_minus_classic'])}"
            lines.append(
                f"| {r['scenario']}: {r['description']} | {r['reference']:.4f}{'' if r['optimal'] else ' (classic)'} | "
                f"{r['general']:.4f} | {r['gap']:+.2f} | {r['base_gap']:+.2f} | {r['best_classic']} ({params}) | "
                f"{r['classic_gap']:+.2f} | {paired} |"
            )
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--markdown-only", action="store_true", help="rewrite the .md from the recorded .json")
    parser.add_argument("--policy", type=Path, default=ROOT / "zoo" / "general")
    parser.add_argument("--episodes", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=12345)
    args = parser.parse_args(argv)
    if args.markdown_only:
        (RESULTS / "general_policy.md").write_text(markdown(json.loads((RESULTS / "general_policy.json").read_text())))
        return
    actor, meta = load_general(args.policy)
    sets = {"Lost-sales grid": grid_files(), "Held-out systems": HELDOUT.files()}
    results: dict[str, Any] = {
        "command": f"python -m benchmarks.general_policy --policy {args.policy} --episodes {args.episodes} "
        f"--seed {args.seed}",
        "date": str(date.today()),
        "policy_dir": str(args.policy),
        "policy": meta,
        "episodes": args.episodes,
        "seed": args.seed,
        "sets": {},
    }
    for name, files in sets.items():
        rows = []
        for path in files:
            rows.append(judge(path, actor, meta, args.episodes, args.seed))
            r = rows[-1]
            print(f"{r['scenario']}: gap {r['gap']:+.2f}% (base {r['base_gap']:+.2f}%, "
                  f"best classic {r['classic_gap']:+.2f}%)", flush=True)  # fmt: skip
        results["sets"][name] = rows
        print(f"{name}: {summary(rows)}", flush=True)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "general_policy.json").write_text(json.dumps(results, indent=2) + "\n")
    (RESULTS / "general_policy.md").write_text(markdown(results))


if __name__ == "__main__":
    main()
