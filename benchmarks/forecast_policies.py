"""Do better forecasts lower cost? Forecast-driven order-up-to against base stock and PPO, paired on the same demand.

    python benchmarks/forecast_policies.py seasonal [--episodes 200] [--agent RUN_DIR ...]
    python benchmarks/forecast_policies.py skus [--per-class 10] [--episodes 100]
    python benchmarks/forecast_policies.py report

1. ``seasonal``: evaluate.py on seasonal_promo with LightGBM forecasts: the stationary base stock
   (tuned on its own paths), the forecast-driven order-up-to policy with each forecaster, and the
   trained agents given with --agent (an agent trained without forecasts sees the same
   observation without them), all on the same demand paths.
2. ``skus``: SKUs of the shipped retail history (configs/data/retail_history.csv.gz), --per-class
   of each Syntetos-Boylan class of their first year, drawn with a fixed seed. Per SKU, a scenario
   replays windows of its history: the base stock is tuned on the first year (2024, evaluate.py
   --tune-on), and every policy is judged on windows of the second (2025); each forecast is made
   from the history before its day only (rolling origin over the file, refitted every 28 days;
   LightGBM is one pooled model over all 300 SKUs of the file, as it would be used).
3. ``report``: writes benchmarks/results/forecast_policies.md (and .json) from what 1 and 2 wrote
   under --work (default .cache/forecast_policies; both are resumable: finished SKUs are kept).

Evaluation demand is drawn from seed 5,000,011, which no training run or tuning uses. Run it with
``nice -n 10`` on a shared machine; 40 SKUs take about an hour on two cores, most of it LightGBM.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import evaluate
from agents.evaluation import mean_ci
from envs.files import atomic_write
from forecasting.classes import CLASSES, classify
from forecasting.data import read_history

ROOT = Path(__file__).resolve().parent.parent
HISTORY = ROOT / "configs" / "data" / "retail_history.csv.gz"
RESULTS = ROOT / "benchmarks" / "results" / "forecast_policies"
SEED = 5_000_011  # evaluation demand: not a training, tuning or model-selection seed
SAMPLE_SEED = 0
FORECASTERS = ("moving_average", "seasonal_naive", "auto_ets", "croston_sba")  # beside the scenario's LightGBM
SIGNALS = ["price", "promotion", "holiday"]  # known in advance; temperature is not
SPLIT = date(2025, 1, 1)  # first day of the evaluation year
WARMUP = 28  # days of a window before its episode (forecasts are made from the whole history before a day)
HORIZON = 105  # periods per episode, the first KPI_WARMUP left out of the costs
KPI_WARMUP = 14
LEAD_TIME = 2


def forecast_policies() -> list[str]:
    return ["forecast_order_up_to", *(f"forecast_order_up_to:{model}" for model in FORECASTERS)]


def run_seasonal(work: Path, episodes: int, agents: list[str]) -> None:
    out = work / "seasonal_promo"
    args = ["--scenario", "seasonal_promo", "--forecast", "lightgbm", "--episodes", str(episodes),
            "--seed", str(SEED), "--out", str(out), "--policy", "base_stock"]  # fmt: skip
    for policy in [*forecast_policies(), *agents]:
        args += ["--policy", policy]
    evaluate.main(args)


def sample_skus(per_class: int) -> list[tuple[str, str, float]]:
    """``per_class`` SKUs of each class of their first year, among those on sale for at least 300 of its
    days (items launched later are left out: the base stock would have no year to be tuned on)."""
    panel = read_history(HISTORY, SIGNALS).panel
    first_year = int((panel.dates().date < SPLIT).sum())
    demand = panel.demand[:, :first_year]
    observed = (~np.isnan(demand)).sum(axis=1)
    classes = classify(demand)
    rng = np.random.default_rng(SAMPLE_SEED)
    chosen = []
    for name in CLASSES:
        candidates = np.flatnonzero((classes == name) & (observed >= 300))
        for row in sorted(rng.choice(candidates, size=min(per_class, len(candidates)), replace=False)):
            chosen.append((panel.skus[row], name, float(np.nanmax(demand[row]))))
    return chosen


def sku_scenarios(sku: str, largest_demand: float) -> tuple[dict[str, Any], dict[str, Any]]:
    """The first-year (tuning) and second-year (evaluation) scenarios of one SKU."""
    demand = {"dist": "csv", "path": str(HISTORY), "sku": sku, "features": SIGNALS, "mode": "window"}
    base = {
        "horizon": HORIZON,
        "lead_time": LEAD_TIME,
        "lost_sales": True,
        "holding_cost": 1,
        "shortage_cost": 9,
        "max_order": int(3 * largest_demand + 5),  # room for the level to follow a promotion up
        "initial_on_hand": 0,
    }
    tuning = {**base, "description": f"{sku} in 2024", "demand": {**demand, "end": str(SPLIT - timedelta(days=1))}}
    evaluation = {
        **base,
        "description": f"{sku} in 2025, each day forecast from the history before it",
        "demand": {**demand, "start": str(SPLIT - timedelta(days=WARMUP))},
        "forecast": {"model": "lightgbm", "warmup": WARMUP},
    }
    return tuning, evaluation


def run_skus(work: Path, per_class: int, episodes: int) -> None:
    chosen = sample_skus(per_class)
    atomic_write(work / "skus.json", json.dumps([{"sku": s, "class": c} for s, c, _ in chosen], indent=1))
    for i, (sku, name, largest) in enumerate(chosen):
        folder = work / "skus" / sku
        if (folder / "out" / "results.json").is_file():
            continue
        print(f"[{i + 1}/{len(chosen)}] {sku} ({name})", flush=True)
        tuning, evaluation = sku_scenarios(sku, largest)
        atomic_write(folder / "tune.yaml", yaml.safe_dump(tuning, sort_keys=False))
        atomic_write(folder / "evaluate.yaml", yaml.safe_dump(evaluation, sort_keys=False))
        args = ["--scenario", str(folder / "evaluate.yaml"), "--tune-on", str(folder / "tune.yaml"),
                "--episodes", str(episodes), "--seed", str(SEED), "--warmup", str(KPI_WARMUP),
                "--out", str(folder / "out"), "--policy", "base_stock"]  # fmt: skip
        for policy in forecast_policies():
            args += ["--policy", policy]
        evaluate.main(args)


def label(record: dict[str, Any]) -> str:
    """A table label: the forecast-driven policies by their forecaster."""
    forecast = record.get("forecast")
    if record["policy"].startswith("forecast_order_up_to") and forecast:
        return f"order-up-to, {forecast['model']}"
    return record["policy"]


def sku_table(records: list[tuple[str, list[dict[str, Any]]]]) -> tuple[str, dict[str, Any]]:
    """Per class and over all SKUs: each policy's cost relative to the base stock of the same SKU
    (mean over SKUs, with its 95% CI across SKUs), fill rate, stock, turnover and forecast WAPE."""
    groups = {name: [r for c, r in records if c == name] for name in CLASSES}
    groups["all"] = [r for _, r in records]
    lines: list[str] = []
    summary: dict[str, dict[str, Any]] = {}
    header = ("| class | SKUs | policy | cost / period | cost vs base stock % (95% CI over SKUs) "
              "| SKUs cheaper | fill rate | avg on hand | turnover | protection-interval WAPE |")  # fmt: skip
    lines += [header, "|---|---:|---|---:|---|---:|---:|---:|---:|---:|"]
    for name, group in groups.items():
        if not group:
            continue
        labels = [label(r) for r in group[0]]
        base = np.array([next(r["avg_cost"] for r in sku if r["policy"] == "base_stock") for sku in group])
        summary[name] = {}
        for policy in labels:
            rows = [next(r for r in sku if label(r) == policy) for sku in group]
            cost = np.array([r["avg_cost"] for r in rows])
            change = 100 * (cost / base - 1)
            mean, low, high = mean_ci(change)
            wapes = [r["forecast"]["protection_interval_wape"] for r in rows if r.get("forecast")]
            entry: dict[str, Any] = {
                "skus": len(group),
                "cost": float(cost.mean()),
                "change_pct": [mean, low, high],
                "cheaper": int((cost < base).sum()),
                "fill_rate": float(np.mean([r["fill_rate"] for r in rows])),
                "avg_on_hand": float(np.mean([r["avg_on_hand"] for r in rows])),
                "turnover": float(np.nanmean([math.nan if r["turnover"] is None else r["turnover"] for r in rows])),
                "wape": float(np.mean(wapes)) if wapes else math.nan,
            }
            summary[name][policy] = entry
            ci = "—" if policy == "base_stock" else f"{mean:+.1f} ({low:+.1f}, {high:+.1f})"
            cheaper = "—" if policy == "base_stock" else f"{entry['cheaper']}"
            wape = "—" if math.isnan(entry["wape"]) else f"{entry['wape']:.3f}"
            lines.append(
                f"| {name} | {len(group)} | {policy} | {entry['cost']:.2f} | {ci} | {cheaper} "
                f"| {entry['fill_rate']:.3f} | {entry['avg_on_hand']:.1f} | {entry['turnover']:.1f} | {wape} |"
            )
    return "\n".join(lines) + "\n", summary


def report(work: Path) -> None:
    parts = [
        "# Forecast-driven replenishment: do better forecasts lower cost?\n",
        f"Written by `python benchmarks/forecast_policies.py report` from the runs of `seasonal` and `skus` "
        f"(module docstring). Evaluation seed {SEED:,}, used by no training, tuning or model selection.\n",
    ]
    summary: dict[str, Any] = {}
    seasonal = work / "seasonal_promo"
    if (seasonal / "results.md").is_file():
        meta = json.loads((seasonal / "meta.json").read_text())
        parts += [
            "\n## seasonal_promo\n",
            f"`{meta['command']}`\n",
            "\n" + (seasonal / "results.md").read_text(),
        ]
        summary["seasonal_promo"] = json.loads((seasonal / "results.json").read_text())
    skus = work / "skus.json"
    if skus.is_file():
        records = []
        for entry in json.loads(skus.read_text()):
            results = work / "skus" / entry["sku"] / "out" / "results.json"
            if results.is_file():
                records.append((entry["class"], json.loads(results.read_text())))
        table, summary["skus"] = sku_table(records)
        parts += [
            "\n## SKUs of the shipped retail history\n",
            f"{len(records)} SKUs (`skus.json` in the work directory), lead time {LEAD_TIME}, lost sales, holding cost "
            f"1 and lost-sale cost 9 per unit (critical fractile 0.9); base stock tuned on 2024, every policy judged "
            f"on windows of 2025 ({HORIZON} periods, the first {KPI_WARMUP} left out), each forecast made from the "
            "history before its day (rolling origin over the whole file, refitted every 28 days; LightGBM one pooled "
            "model over all 300 SKUs of the file, the others per SKU).\n\n",
            table,
        ]
    atomic_write(RESULTS.with_suffix(".md"), "".join(parts))
    atomic_write(RESULTS.with_suffix(".json"), json.dumps(summary, indent=1, default=str) + "\n")
    print(RESULTS.with_suffix(".md").read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("part", choices=("seasonal", "skus", "report"))
    parser.add_argument("--work", type=Path, default=ROOT / ".cache" / "forecast_policies")
    parser.add_argument("--episodes", type=int, default=None, help="default: 200 (seasonal), 100 (per SKU)")
    parser.add_argument("--per-class", type=int, default=10)
    parser.add_argument("--agent", action="append", default=[], help="a trained run for seasonal_promo")
    args = parser.parse_args()
    if args.part == "seasonal":
        run_seasonal(args.work, args.episodes or 200, args.agent)
    elif args.part == "skus":
        run_skus(args.work, args.per_class, args.episodes or 100)
    report(args.work)


if __name__ == "__main__":
    main()
