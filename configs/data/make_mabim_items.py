"""Make the item master of the MABIM-like assortment (mabim_items.csv) from the shipped synthetic items.

One row per SKU of retail_history.csv.gz (300 SKUs), in the costs of MABIM's standard setting
(Yang et al. 2023, "MABIM: Multi-agent benchmark for inventory management", the ReplenishmentEnv
repository; its profit ``reward2``) turned into costs to minimise:

- selling price p: the SKU's ``base_price`` in retail_items.csv; procurement cost c = p / markup,
  the markup drawn uniformly in [1.05, 1.6] (MABIM keeps SKUs with p >= 1.05 c);
- MABIM pays c on each unit sold (profit (p - c) x sales), so a lost sale loses the margin p - c
  plus the backlog penalty 0.1 (p - c): ``shortage_cost`` = 1.1 (p - c), ``unit_cost`` = 0. Then
  our cost = (p - c) x total demand - MABIM's profit, exactly: demand is exogenous, so the two
  rank policies alike;
- ``fixed_order_cost`` 10 per order (MABIM's unit_order_cost, per SKU ordered);
- ``holding_cost`` 0.002 per unit per day (its unit_storage_cost, volume 1);
- ``overflow_cost`` 0.5 c per unit the warehouse turns away (its overflow/excess ratio 0.5);
- ``lead_time``: MABIM reads a vendor lead time per SKU from its data; here drawn uniformly from
  1..7 days;
- ``max_order`` 30 days of the SKU's mean demand (at least 10); ``initial_on_hand`` its mean demand
  of the first 21 days times (lead time + 1), a stand-in for MABIM's warm-up (replenish by last demand).

Run from anywhere (deterministic, fixed seed; a test checks the shipped file matches):

    python configs/data/make_mabim_items.py
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
OUT = HERE / "mabim_items.csv"


def make_items(seed: int = 15) -> pd.DataFrame:
    items = pd.read_csv(HERE / "retail_items.csv")
    history = pd.read_csv(HERE / "retail_history.csv.gz", usecols=["sku", "date", "demand"])
    mean = history.groupby("sku")["demand"].mean().reindex(items["sku"]).to_numpy()
    first_days = history[history["date"] < "2024-01-22"].groupby("sku")["demand"].mean()
    early = first_days.reindex(items["sku"]).fillna(0.0).to_numpy()
    rng = np.random.default_rng(seed)
    price = items["base_price"].to_numpy()
    procurement = price / rng.uniform(1.05, 1.6, size=len(items))
    lead_time = rng.integers(1, 8, size=len(items))
    return pd.DataFrame(
        {
            "sku": items["sku"],
            "lead_time": lead_time,
            "unit_cost": 0.0,
            "holding_cost": 0.002,
            "shortage_cost": np.round(1.1 * (price - procurement), 4),
            "fixed_order_cost": 10.0,
            "max_order": np.maximum(10, np.ceil(30 * mean)).astype(int),
            "volume": 1.0,
            "overflow_cost": np.round(0.5 * procurement, 4),
            "initial_on_hand": np.round(early * (lead_time + 1)).astype(int),
        }
    )


if __name__ == "__main__":
    make_items().to_csv(OUT, index=False)
    print(f"wrote {OUT}")
