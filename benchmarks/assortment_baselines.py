"""Classic baselines on the MABIM-like assortment: per-SKU rules, the warehouse shared by the kernel or priced.

    nice -n 10 python -m benchmarks.assortment_baselines [--tuning-episodes 64] [--episodes 200]

Every policy of :mod:`agents.classic.assortment` is tuned on the first year of the history
(``mabim_standard``, seed TUNING_SEED) and judged on the second year (``mabim_standard_test``,
seed 12345): other days, other paths. Rows: each rule tuned alone with the kernel sharing the
limit in proportion (MABIM's rule) or by value (greedy by shortage cost per unit of volume: the
kernel's ``value`` rule), and with the Lagrangian price on capacity. The table gives the cost
per day with its 95% CI, the paired difference to the best kernel-allocation row, MABIM's profit
(margin x demand - cost, see configs/data/make_mabim_items.py), fill rate, warehouse use (stock
after arrivals over the limit), the share of days it is full, units turned away per day, and the
tuning time. A second table transfers the price: lambda searched on the first 150 SKUs (capacity
halved to 10,000) and applied unchanged to the other 150 (the forecast-driven rule has no other
parameter, so those SKUs played no part in its tuning). Per-SKU results go to
benchmarks/results/assortment_baselines_per_sku.csv.
"""

from __future__ import annotations

import argparse
import io
import platform
import time
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from agents.classic.assortment import ForecastReorderLevels, capacity_use, tune_assortment
from agents.evaluation import mean_ci
from agents.references import TUNING_SEED
from envs.batch import evaluation_paths, run_batch
from envs.files import atomic_write
from envs.layout import ObservationLayout
from envs.scenario import NetworkScenario, load_scenario

RESULTS = Path(__file__).resolve().parent / "results"
RULES = ("base_stock", "s_S", "forecast_order_up_to")
EVALUATION_SEED = 12345


def assortment(name: str, **changes: Any) -> NetworkScenario:
    scenario = load_scenario(name)
    assert isinstance(scenario, NetworkScenario)
    return scenario.model_copy(update=changes) if changes else scenario


def with_rule(scenario: NetworkScenario, rule: str) -> NetworkScenario:
    capacities = tuple(c.model_copy(update={"rule": rule}) for c in scenario.capacities)
    return scenario.model_copy(update={"capacities": capacities})


def half(scenario: NetworkScenario, first: bool) -> NetworkScenario:
    points = scenario.stock_points[:150] if first else scenario.stock_points[150:]
    capacities = tuple(c.model_copy(update={"limit": c.limit / 2}) for c in scenario.capacities)
    return scenario.model_copy(update={"stock_points": points, "capacities": capacities})


def days(scenario: NetworkScenario) -> str:
    """The days of the history an assortment replays, as ``first..last``."""
    demand = scenario.stock_points[0].demand
    return f"{getattr(demand, 'start', None)}..{getattr(demand, 'end', None)}"


def margins(scenario: NetworkScenario) -> np.ndarray:
    """MABIM's margin p - c per SKU: the shortage cost is 1.1 (p - c) (make_mabim_items.py)."""
    return np.array([p.shortage_cost / 1.1 for p in scenario.stock_points])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tuning-episodes", type=int, default=64)
    parser.add_argument("--episodes", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=10)
    args = parser.parse_args()
    train, test = assortment("mabim_standard"), assortment("mabim_standard_test")
    tuning = evaluation_paths(train, args.tuning_episodes, TUNING_SEED)
    judging = evaluation_paths(test, args.episodes, EVALUATION_SEED)
    demand = judging.demand[test.periods_before + args.warmup :].mean(axis=(0, 1))  # per SKU and day
    margin_per_day = float(demand @ margins(test))

    rows, per_sku, costs = [], [], {}
    for rule in RULES:
        for priced in (False, True):
            name = f"{'lagrangian' if priced else 'sku'}_{rule}"
            began = time.perf_counter()
            tuned = tune_assortment(name, train, tuning, warmup=args.warmup)
            seconds = time.perf_counter() - began
            for share in ("proportional", "value") if not priced else ("proportional",):
                label = name if share == "proportional" else f"{name} (value rule)"
                scenario = with_rule(test, share)
                episode_costs = run_batch(tuned.policy, scenario, judging, warmup=args.warmup).avg_cost
                use = capacity_use(tuned.policy, scenario, judging, warmup=args.warmup)
                costs[label] = episode_costs
                rows.append((label, tuned, seconds, use))
                per_sku.append(
                    pd.DataFrame(
                        {
                            "sku": [p.name for p in test.stock_points],
                            "policy": label,
                            "cost_per_day": use["sku_cost"],
                            "fill_rate": use["sku_fill_rate"],
                            "rejected_per_day": use["sku_rejected"],
                        }
                    )
                )
                print(f"{label}: {episode_costs.mean():.1f} per day, lambda {tuned.details['lambda']:.4g}", flush=True)

    kernel_rows = [label for label, *_ in rows if label.startswith("sku_")]
    best_kernel = min(kernel_rows, key=lambda label: costs[label].mean())
    lines = [
        "# Classic baselines on the MABIM-like assortment",
        "",
        f"Command: `nice -n 10 python -m benchmarks.assortment_baselines --tuning-episodes {args.tuning_episodes} "
        f"--episodes {args.episodes} --warmup {args.warmup}`",
        f"Date: {date.today()}; machine: {platform.machine()}, Python {platform.python_version()}, 2 cores shared "
        "with other work (times are wall-clock).",
        "",
        f"Tuned on `mabim_standard` ({len(train.stock_points)} SKUs, days {days(train)} of the shipped history), "
        f"{args.tuning_episodes} episodes, seed {TUNING_SEED}; judged on `mabim_standard_test` (days "
        f"{days(test)}), {args.episodes} episodes of {test.horizon} days, seed {EVALUATION_SEED}, the first "
        f"{args.warmup} days left out. Warehouse limit {test.capacities[0].limit:,.0f} units. Cost per day of the "
        f"whole assortment; MABIM profit = margin x demand ({margin_per_day:,.0f} per day on these paths) - cost. "
        f"Paired difference: per episode, against the kernel-allocation row with the lowest mean cost on the "
        f"judging paths ({best_kernel}; chosen on these paths, a reference, not a selected policy). Episodes are "
        "random windows of one year, so they overlap: the CIs treat them as independent and are too narrow.",
        "",
        "| policy | lambda | cost / day | 95% CI | paired diff (95% CI) | MABIM profit / day | fill rate "
        "| warehouse use | days full | turned away / day | tuning s |",
        "|---|---:|---:|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for label, tuned, seconds, use in rows:
        mean, low, high = mean_ci(costs[label])
        diff = costs[label] - costs[best_kernel]
        d_mean, d_low, d_high = mean_ci(diff)
        paired = "—" if label == best_kernel else f"{d_mean:+,.1f} ({d_low:+,.1f}, {d_high:+,.1f})"
        fill = float(np.mean(use["sku_fill_rate"]))
        lines.append(
            f"| {label} | {tuned.details['lambda']:.4g} | {mean:,.1f} | {low:,.1f}..{high:,.1f} | {paired} "
            f"| {margin_per_day - mean:,.1f} | {fill:.3f} | {use['stored']:.3f} | {use['full']:.3f} "
            f"| {use['rejected']:,.1f} | {seconds:.0f} |"
        )
    ranked = sorted(costs, key=lambda label: costs[label].mean())
    best, second = ranked[0], ranked[1]
    d_mean, d_low, d_high = mean_ci(costs[second] - costs[best])
    lines += [
        "",
        f"Lowest cost per day on the judging paths: {best}; the next, {second}, costs {d_mean:+,.1f} per day more "
        f"(paired, 95% CI {d_low:+,.1f}..{d_high:+,.1f}; {d_mean / costs[best].mean():+.1%}).",
        "",
        "Fill rate: the mean over SKUs of each SKU's share of demand met from stock. Warehouse use: stock "
        "after each day's arrivals over the limit, averaged over days and episodes.",
        "",
        *transfer(args),
    ]
    atomic_write(RESULTS / "assortment_baselines.md", "\n".join(lines) + "\n")
    table = io.StringIO()
    pd.concat(per_sku).to_csv(table, index=False, float_format="%.4f")
    atomic_write(RESULTS / "assortment_baselines_per_sku.csv", table.getvalue())
    print("\n".join(lines))


def transfer(args: argparse.Namespace) -> list[str]:
    """The price searched on the first 150 SKUs, applied to the other 150 (forecast-driven rule)."""
    train = assortment("mabim_standard")
    first, second = half(train, True), half(assortment("mabim_standard_test"), False)
    tuned = tune_assortment(
        "lagrangian_forecast_order_up_to", first, evaluation_paths(first, args.tuning_episodes, TUNING_SEED),
        warmup=args.warmup,
    )  # fmt: skip
    lam = float(tuned.details["lambda"])
    judging = evaluation_paths(second, args.episodes, EVALUATION_SEED)
    layout = ObservationLayout(second)
    lines = [
        "Price transferred to SKUs not used in tuning: lambda searched on SKUs 1-150 (first year, limit 10,000), "
        "applied to SKUs 151-300 (second year, limit 10,000), forecast-driven (s, S):",
        "",
        "| policy on SKUs 151-300 | lambda | cost / day | 95% CI | paired diff to lambda 0 (95% CI) | fill rate "
        "| warehouse use | turned away / day |",
        "|---|---:|---:|---|---|---:|---:|---:|",
    ]
    unpriced = None
    for label, price in (("kernel allocation (lambda 0)", 0.0), ("lambda from SKUs 1-150", lam)):
        policy = ForecastReorderLevels(second, layout, price)
        cost = run_batch(policy, second, judging, warmup=args.warmup).avg_cost
        use = capacity_use(policy, second, judging, warmup=args.warmup)
        mean, low, high = mean_ci(cost)
        if unpriced is None:
            unpriced, paired = cost, "—"
        else:
            d_mean, d_low, d_high = mean_ci(cost - unpriced)
            paired = f"{d_mean:+,.1f} ({d_low:+,.1f}, {d_high:+,.1f})"
        lines.append(
            f"| {label} | {price:.4g} | {mean:,.1f} | {low:,.1f}..{high:,.1f} | {paired} "
            f"| {np.mean(use['sku_fill_rate']):.3f} | {use['stored']:.3f} | {use['rejected']:,.1f} |"
        )
    return lines


if __name__ == "__main__":
    main()
