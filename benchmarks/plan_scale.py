"""plan.py on 100,000 and 1,000,000 SKUs: wall time and peak memory, measured by /usr/bin/time -v.

    nice -n 10 python benchmarks/plan_scale.py [--skus 100000 1000000]

For each size, a synthetic item master (lead times 1 to 8, a tenth of them stochastic; pack sizes
and minimum orders on a third of the SKUs; volumes 0.1 to 3; demand means 0.05 to 50 with over-
dispersion) and a state file (in another order than the items) are written to a temporary
directory. plan.py then runs twice, each time in a fresh process under /usr/bin/time -v:
``--policy s_S`` without a limit, then with ``--limit L``, a warehouse limit set so that it binds:
L = the volume of the stock expected when the orders arrive (on hand + on order - mean demand over
the mean lead time, at least 0, as plan.py defines it) + 60% of the volume the unconstrained plan
ordered. Reported per run: the elapsed wall time and the maximum resident set size of that process,
the lines written and the size of the files. The start-up of plan.py alone (``plan.py --help``:
Python and the imports) is given for reference. Results go to benchmarks/results/plan_scale.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import subprocess
import sys
import tempfile
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "plan_scale.md"


def write_inputs(directory: Path, skus: int, seed: int = 0) -> tuple[Path, Path, float]:
    """The item master and the state file of ``skus`` SKUs, and the volume of the stock expected when orders
    placed now arrive (what a storage limit counts before the orders)."""
    rng = np.random.default_rng(seed)
    names = np.char.add("SKU-", np.arange(skus).astype(str))
    mean = np.round(np.exp(rng.uniform(np.log(0.05), np.log(50), skus)), 3)
    lead_mean = rng.integers(1, 9, skus).astype(float)
    lead = lead_mean.astype(int).astype(object)
    stochastic = rng.random(skus) < 0.1
    low = rng.integers(1, 6, int(stochastic.sum()))
    lead[stochastic] = [f"{v}:0.5 {v + 2}:0.5" for v in low]
    lead_mean[stochastic] = low + 1
    packed = rng.random(skus) < 1 / 3
    pack = np.where(packed, rng.choice([6, 12, 24], skus), 1)
    volume = np.round(rng.uniform(0.1, 3, skus), 2)
    items = pd.DataFrame(
        {
            "sku": names,
            "lead_time": lead,
            "unit_cost": np.round(rng.uniform(1, 100, skus), 2),
            "holding_rate": 0.002,
            "service_level": np.round(rng.uniform(0.85, 0.99, skus), 3),
            "fixed_order_cost": 10.0,
            "max_order": np.maximum(np.ceil(60 * mean), 48).astype(int),
            "pack_size": pack,
            "min_order": np.where(packed, pack * 2, 0),
            "volume": volume,
            "demand_mean": mean,
            "demand_variance": np.round(mean * rng.uniform(1, 3, skus), 3),
        }
    )
    on_hand, on_order = rng.poisson(mean * 5), rng.poisson(mean * 3)
    projected = float(volume @ np.maximum(on_hand + on_order - mean * lead_mean, 0.0))
    order = rng.permutation(skus)  # the state file lists the SKUs in another order
    state = pd.DataFrame({"sku": names[order], "on_hand": on_hand[order], "on_order": on_order[order]})
    items_path, state_path = directory / "items.csv", directory / "state.csv"
    items.to_csv(items_path, index=False)
    state.to_csv(state_path, index=False)
    return items_path, state_path, projected


def ordered_volume(items: Path, orders: Path) -> float:
    """The volume of the units an orders file orders."""
    volume = pd.read_csv(items, usecols=["sku", "volume"]).set_index("sku")["volume"]
    lines = pd.read_csv(orders, usecols=["sku", "order_quantity"])
    return float((lines["order_quantity"] * volume.reindex(lines["sku"]).to_numpy()).sum())


def timed(command: list[str]) -> tuple[float, float, str]:
    """Wall seconds and peak RSS (MB) of ``command`` run under /usr/bin/time -v, and its stderr."""
    done = subprocess.run(["/usr/bin/time", "-v", *command], capture_output=True, text=True, cwd=ROOT)
    if done.returncode not in (0, 3):
        raise RuntimeError(f"{command} failed:\n{done.stderr}")
    wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (?:(\d+):)?(\d+):([\d.]+)", done.stderr)
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", done.stderr)
    assert wall is not None and rss is not None
    hours, minutes, seconds = (float(g) if g else 0.0 for g in wall.groups())
    return hours * 3600 + minutes * 60 + seconds, int(rss.group(1)) / 1024, done.stderr


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--skus", type=int, nargs="+", default=[100_000, 1_000_000])
    args = parser.parse_args()
    help_seconds, help_rss, _ = timed([sys.executable, "plan.py", "--help"])
    rows = []
    with tempfile.TemporaryDirectory() as work:
        for skus in args.skus:
            directory = Path(work) / str(skus)
            directory.mkdir()
            items, state, projected = write_inputs(directory, skus)
            out = directory / "orders.csv"
            base = [sys.executable, "plan.py", "--items", str(items), "--state", str(state), "--out", str(out),
                    "--policy", "s_S"]  # fmt: skip
            for limited in (False, True):  # the unconstrained plan first: the limit is set from what it ordered
                limit = projected + 0.6 * ordered_volume(items, out) if limited else None
                seconds, rss, stderr = timed(base + ([] if limit is None else ["--limit", f"{limit:.0f}"]))
                summary = next(line for line in stderr.splitlines() if line.startswith(str(out)))
                with open(out) as handle:
                    lines = sum(1 for _ in handle) - 1
                sizes = [p.stat().st_size / 1e6 for p in (items, state, out)]
                limit_text = "none" if limit is None else f"{limit:,.0f}"
                rows.append((skus, limit_text, seconds, rss, lines, sizes, summary.split(": ", 1)[1]))
                print(rows[-1], flush=True)
    text = [
        "# plan.py at scale",
        "",
        f"Command: `nice -n 10 python benchmarks/plan_scale.py --skus {' '.join(map(str, args.skus))}`",
        f"Date: {date.today()}; machine: {platform.machine()}, {os.cpu_count()} cores shared with other work, "
        f"Python {platform.python_version()}. Each run is a fresh process under `/usr/bin/time -v` (wall time, "
        "maximum resident set size, so Python start-up and imports included); `plan.py --policy s_S`, first "
        "without a limit, then with a warehouse limit L that binds: the volume of the stock expected when the "
        "orders arrive + 60% of the volume the unconstrained plan ordered.",
        "",
        f"`plan.py --help` (Python start-up and imports alone): {help_seconds:.2f} s, {help_rss:.0f} MB.",
        "",
        "| SKUs | limit L | wall s | peak RSS MB | lines written | items / state / orders MB | plan.py's summary |",
        "|---:|---:|---:|---:|---:|---|---|",
    ]
    for skus, limit_text, seconds, rss, lines, sizes, summary in rows:
        text.append(
            f"| {skus:,} | {limit_text} | {seconds:.1f} | {rss:.0f} | {lines:,} | "
            f"{' / '.join(f'{s:.1f}' for s in sizes)} | {summary} |"
        )
    sys.path.insert(0, str(ROOT))
    from envs.files import atomic_write

    atomic_write(RESULTS, "\n".join(text) + "\n")
    print("\n".join(text))


if __name__ == "__main__":
    main()
