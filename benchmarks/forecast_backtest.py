"""Backtest time and accuracy on 1,000 synthetic SKUs x 2 years, and rolling-forecast time on 1,000 paths.

    python benchmarks/forecast_backtest.py [--skus 1000] [--days 730] [--cutoffs 4] [--horizon 14]
                                           [--models seasonal_naive,...,lstm] [--arima-skus 100]

1. A history from forecasting.synthetic (seed 0), backtested as `forecast.py backtest` does:
   every model fitted at each cutoff, the seconds each took, and the accuracy table.
2. AutoARIMA with the known signals as regressors, on the first --arima-skus SKUs only (it is
   far slower per series than the rest), one cutoff.
3. rolling_forecasts on 1,000 paths x 400 periods (the history's first 400 days as paths),
   horizon 3 (a lead time of 2), refit every 28 periods, with the baselines and LightGBM.

Writes benchmarks/results/forecast_backtest.md. Run it with `nice -n 10` on a shared machine.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from envs.files import atomic_write
from forecasting import make_forecaster
from forecasting.backtest import markdown, run_backtest
from forecasting.data import Panel
from forecasting.rolling import rolling_forecasts
from forecasting.synthetic import KNOWN_SIGNALS, SIGNALS, generate_history

ROOT = Path(__file__).resolve().parent.parent

RESULTS = ROOT / "benchmarks" / "results" / "forecast_backtest.md"
DEFAULT_MODELS = "seasonal_naive,moving_average,auto_ets,croston_sba,tsb,adida,imapa,lightgbm,lstm"


def synthetic_panel(skus: int, days: int) -> Panel:
    history = generate_history(skus, days, seed=0)
    frame = history.frame
    index = pd.MultiIndex.from_product(
        [history.items["sku"], pd.date_range("2024-01-01", periods=days).strftime("%Y-%m-%d")]
    )
    table = frame.set_index(["sku", "date"]).reindex(index)
    demand = table["demand"].to_numpy(dtype=float).reshape(skus, days)
    signals = table[list(SIGNALS)].bfill().to_numpy(dtype=float).reshape(skus, days, len(SIGNALS))
    return Panel.from_arrays(demand, signals, SIGNALS, KNOWN_SIGNALS, "2024-01-01", list(history.items["sku"]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--skus", type=int, default=1000)
    parser.add_argument("--days", type=int, default=730)
    parser.add_argument("--cutoffs", type=int, default=4)
    parser.add_argument("--horizon", type=int, default=14)
    parser.add_argument("--models", default=DEFAULT_MODELS)
    parser.add_argument("--arima-skus", type=int, default=100)
    parser.add_argument("--paths", type=int, default=1000)
    parser.add_argument("--periods", type=int, default=400)
    args = parser.parse_args()
    load_before = os.getloadavg()[0]

    start = time.perf_counter()
    panel = synthetic_panel(args.skus, args.days)
    generate_seconds = time.perf_counter() - start
    forecasters = [make_forecaster(name, args.horizon) for name in args.models.split(",")]
    start = time.perf_counter()
    result = run_backtest(panel, forecasters, args.cutoffs, args.horizon)
    backtest_seconds = time.perf_counter() - start
    print(markdown(result.table))

    arima = make_forecaster("auto_arima", args.horizon)
    subset = panel.select(np.arange(min(args.arima_skus, panel.n)))
    start = time.perf_counter()
    arima_result = run_backtest(subset, [arima], 1, args.horizon, progress=False)
    arima_seconds = time.perf_counter() - start
    arima_all = arima_result.table[arima_result.table["class"] == "all"]

    paths = panel.select(np.arange(min(args.paths, panel.n)))
    demand = np.nan_to_num(paths.demand[:, : args.periods], nan=0.0).astype(np.int64)
    features = paths.signals[:, : args.periods]
    rolling_rows = []
    for name in ("seasonal_naive", "moving_average", "lightgbm"):
        start = time.perf_counter()
        rolling_forecasts(demand, features, SIGNALS, KNOWN_SIGNALS, make_forecaster(name, 3), 3, refit_every=28)
        rolling_rows.append(f"| {name} | {time.perf_counter() - start:.1f} |")
    load_after = os.getloadavg()[0]

    seconds = result.table[result.table["class"] == "all"].set_index("model")["fit_seconds"]
    command = (
        f"nice -n 10 python benchmarks/forecast_backtest.py --skus {args.skus} --days {args.days} "
        f"--cutoffs {args.cutoffs} --horizon {args.horizon} --models {args.models} --arima-skus {args.arima_skus}"
    )
    machine = (
        f"{platform.machine()}, {os.cpu_count()} cores shared with other jobs (load average {load_before:.1f} "
        f"before, {load_after:.1f} after), Python {platform.python_version()}; every model single-threaded"
    )
    title = (
        f"## Backtest: {args.skus:,} SKUs x {args.days} days (forecasting.synthetic, seed 0), "
        f"{args.cutoffs} cutoffs {args.horizon} days apart, horizon {args.horizon}"
    )
    whole = (
        f"Generating the history: {generate_seconds:.1f} s. The whole backtest: {backtest_seconds:.0f} s "
        f"({backtest_seconds / 60:.1f} min). Fit + predict seconds over the {args.cutoffs} cutoffs, per model:"
    )
    note = (
        "Accuracy (forecasts = scored (cutoff, SKU) pairs; pinball losses divided by the sum of actuals; "
        "coverage of the central 80% and 90% intervals):"
    )
    lines = [
        "# Forecast backtest and rolling forecasts",
        "",
        f"Command: `{command}`",
        f"Date: {date.today()}; machine: {machine}.",
        "",
        title,
        "",
        whole,
        "",
        "| model | seconds |",
        "|---|---:|",
        *[f"| {model} | {value:.0f} |" for model, value in seconds.items()],
        f"| auto_arima ({len(subset.skus)} SKUs, 1 cutoff) | {arima_seconds:.0f} |",
        "",
        note,
        "",
        markdown(result.table),
        f"AutoARIMA (known signals as regressors) on the first {len(subset.skus)} SKUs, last cutoff only:",
        "",
        markdown(arima_all),
        f"## rolling_forecasts: {demand.shape[0]:,} paths x {demand.shape[1]} periods, horizon 3, refit every 28",
        "",
        "| forecaster | seconds |",
        "|---|---:|",
        *rolling_rows,
        "",
    ]
    atomic_write(RESULTS, "\n".join(lines))
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
