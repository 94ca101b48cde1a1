"""rolling_forecasts with LightGBM on 1,000 paths x 400 periods: the cost of refitting, and of training rows.

    python benchmarks/forecast_rolling.py [--paths 1000] [--periods 400]

The paths are the first 400 days of the 1,000-SKU synthetic history of forecast_backtest.py;
horizon 3 (a lead time of 2). Variants: refit every 28 or 91 periods, all training rows or a
random 100,000. Each variant's seconds and its WAPE of the one-step-ahead mean over the origins
from day 112 on (the same origins for all) are appended to benchmarks/results/forecast_backtest.md.
Run it with `nice -n 10` on a shared machine.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.forecast_backtest import RESULTS, synthetic_panel
from envs.files import atomic_write
from forecasting.gbm import LightGBMForecaster
from forecasting.rolling import rolling_forecasts
from forecasting.synthetic import KNOWN_SIGNALS, SIGNALS

ROOT = Path(__file__).resolve().parent.parent

SCORED_FROM = 112


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--paths", type=int, default=1000)
    parser.add_argument("--periods", type=int, default=400)
    args = parser.parse_args()
    panel = synthetic_panel(args.paths, 730)
    demand = np.nan_to_num(panel.demand[:, : args.periods], nan=0.0).astype(np.int64)
    features = panel.signals[:, : args.periods]
    load_before = os.getloadavg()[0]
    rows = []
    for refit_every, max_rows in ((28, None), (28, 100_000), (91, None), (91, 100_000)):
        forecaster = LightGBMForecaster(horizon=3, max_rows=max_rows)
        start = time.perf_counter()
        rolled = rolling_forecasts(demand, features, SIGNALS, KNOWN_SIGNALS, forecaster, 3, refit_every=refit_every)
        seconds = time.perf_counter() - start
        actual = demand[:, SCORED_FROM:]
        error = np.abs(rolled.mean[:, SCORED_FROM:, 0] - actual).sum() / actual.sum()
        rows.append(f"| {refit_every} | {max_rows or 'all'} | {seconds:.0f} | {error:.3f} |")
        print(rows[-1])
    lines = [
        "",
        (
            f"### LightGBM rolling variants (`nice -n 10 python benchmarks/forecast_rolling.py --paths {args.paths} "
            f"--periods {args.periods}`)"
        ),
        "",
        (
            f"Load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after. WAPE of the one-step-ahead "
            f"mean over origins {SCORED_FROM}..{args.periods - 1}."
        ),
        "",
        "| refit every | training rows | seconds | WAPE, step 1 |",
        "|---:|---:|---:|---:|",
        *rows,
        "",
    ]
    atomic_write(RESULTS, RESULTS.read_text() + "\n".join(lines))
    print(f"appended to {RESULTS}")


if __name__ == "__main__":
    main()
