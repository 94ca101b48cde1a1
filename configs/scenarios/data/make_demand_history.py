"""Make the shipped demand history (demand_history.csv) for the csv_history scenario.

Two years of daily sales of one item: a weekly pattern, a slow upward trend, a summer peak and
promotions (about one a month, five days long) that double demand. Run from anywhere:

    python configs/scenarios/data/make_demand_history.py

The output is deterministic (fixed seed); a test checks that the shipped file matches it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

DAYS = 730
OUT = Path(__file__).resolve().parent / "demand_history.csv"


def make_history(seed: int = 2026) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    day = np.arange(DAYS)
    weekly = np.array([0.9, 0.95, 1.0, 1.0, 1.15, 1.3, 0.7])[day % 7]
    yearly = 1.0 + 0.25 * np.cos(2 * np.pi * (day - 190) / 365.0)
    trend = 1.0 + 0.15 * day / DAYS
    promotion = np.zeros(DAYS, dtype=int)
    for start in np.flatnonzero(rng.random(DAYS) < 1 / 30):
        promotion[start : start + 5] = 1
    mean = 12.0 * weekly * yearly * trend * (1.0 + promotion)
    # negative binomial with variance twice the mean
    demand = rng.negative_binomial(mean, 0.5)
    dates = pd.date_range("2024-01-01", periods=DAYS, freq="D")
    return pd.DataFrame({"date": dates.strftime("%Y-%m-%d"), "demand": demand, "promotion": promotion})


if __name__ == "__main__":
    make_history().to_csv(OUT, index=False)
    print(f"wrote {OUT}")
