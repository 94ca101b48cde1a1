"""plan.py: one order per SKU under a shared limit, cut as the kernel cuts, streamed in chunks, bad input refused."""

from __future__ import annotations

import csv
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import plan
from envs.kernel import InventoryKernel
from envs.scenario import NetworkScenario
from envs.system import compile_system
from forecasting.order_up_to import gamma_levels

ITEMS = """sku,lead_time,unit_cost,holding_cost,shortage_cost,fixed_order_cost,max_order,pack_size,min_order,volume,\
demand_mean,demand_variance
A,2,10,0.5,9,0,100,6,10,1,4,
B,1,5,0.2,4,0,100,1,0,2,3,6
C,1:0.5 3:0.5,1,0.1,9,0,50,1,20,1,2,
D,1,1,0.1,9,0,50,1,0,1,5,
"""
STATE = "sku,on_hand,on_order\nA,3,2\nB,0,0\nC,5,0\nD,10,0\n"


@pytest.fixture
def files(tmp_path):
    (tmp_path / "items.csv").write_text(ITEMS)
    (tmp_path / "state.csv").write_text(STATE)
    return tmp_path


def run(files, *options, chunk_rows=100_000):
    argv = ["--items", str(files / "items.csv"), "--state", str(files / "state.csv"), "--out", str(files / "o.csv"),
            "--chunk-rows", str(chunk_rows), *options]  # fmt: skip
    code = plan.main(argv)
    with open(files / "o.csv", newline="") as handle:
        return code, {row["sku"]: row for row in csv.DictReader(handle)}


def test_levels_and_wishes_without_a_limit(files):
    code, rows = run(files)
    assert code == 0 and list(rows) == ["A", "B", "C", "D"]
    # A: demand 4 over 2 + 1 periods (variance: Poisson), fractile 9 / 9.5; position 3 + 2
    level = int(gamma_levels(np.array([12.0]), np.array([12.0]), 9 / 9.5)[0])
    assert rows["A"]["order_up_to_level"] == str(level)
    wish = level - 5
    assert rows["A"]["wanted_quantity"] == str(-(-max(wish, 10) // 6) * 6)  # packs of 6, at least 10
    # C: stochastic lead time 1 or 3: mean 2, variance 1; demand variance 2 x 3 + 2^2 x 1
    level_c = int(gamma_levels(np.array([6.0]), np.array([10.0]), 9 / 9.1)[0])
    assert rows["C"]["order_up_to_level"] == str(level_c)
    assert rows["B"]["explanation"].startswith("Order up to")


def test_a_warehouse_limit_by_hand(files):
    assert run(files, "--limit", "40")[0] == 0
    rows = run(files, "--limit", "40")[1]
    # expected stock at arrival: A 5 - 8 -> 0, B 0, C 5 - 4 = 1, D 10 - 5 = 5: room 34 of 40.
    # wishes A 18 (3 packs, volume 6 a pack), B 13 (volume 2), C 20, D 9: 73 of volume into 34, factor 0.466:
    # A 1 pack, B 6, C 9, D 4 (31); the 3 left by largest remainder: A's pack (6) does not fit, C +1, D +1;
    # then A's 6 and C's 10 are below their minimums (10, 20): dropped
    got = {sku: (int(r["order_quantity"]), int(r["wanted_quantity"])) for sku, r in rows.items()}
    assert got == {"A": (0, 18), "B": (6, 13), "C": (0, 20), "D": (5, 9)}
    assert rows["B"]["explanation"].endswith("Cut from 13 to 6 by the warehouse limit.")
    assert rows["B"]["cut_by_limit"] == "7"


def test_the_plan_cuts_as_the_kernel_does(files):
    _, rows = run(files, "--limit", "100", "--limit-kind", "orders", "--weight", "unit_cost")
    wanted_raw = []
    for sku in "ABCD":
        position = int(rows[sku]["inventory_position"])
        wanted_raw.append(max(int(rows[sku]["order_up_to_level"]) - position, 0))
    points = [
        {"name": "A", "lead_time": 2, "unit_cost": 10, "pack_size": 6, "min_order": 10},
        {"name": "B", "lead_time": 1, "unit_cost": 5, "volume": 2},
        {"name": "C", "lead_time": 1, "unit_cost": 1, "min_order": 20},
        {"name": "D", "lead_time": 1, "unit_cost": 1},
    ]
    shortage = {"A": 9, "B": 4, "C": 9, "D": 9}
    scenario = NetworkScenario.model_validate(
        {
            "name": "kernel",
            "horizon": 1,
            "stock_points": [
                {
                    "holding_cost": 1,
                    "max_order": 100,
                    "demand": {"dist": "poisson", "mean": 1},
                    "shortage_cost": shortage[p["name"]],
                    **p,
                }
                for p in points
            ],
            "capacities": [{"name": "budget", "kind": "orders", "limit": 100, "weight": "unit_cost"}],
        }
    )
    kernel = InventoryKernel(compile_system(scenario), 1)
    kernel.reset()
    out = kernel.step(np.array([wanted_raw]), np.zeros((1, 4)), np.ones((1, 4)))
    assert [int(rows[sku]["order_quantity"]) for sku in "ABCD"] == out.ordered[0].tolist()


def test_chunks_change_nothing(files):
    _, whole = run(files, "--limit", "40")
    _, chunked = run(files, "--limit", "40", chunk_rows=1)
    assert whole == chunked


def test_bad_rows_are_skipped_with_their_lines_and_exit_3(files, capsys):
    (files / "state.csv").write_text(STATE + "X,1,1\nB,1,1\nE,-1,0\nF,2.5,0\n")
    (files / "items.csv").write_text(ITEMS + "G,1,1,-1,9,0,5,1,0,1,1,\n")
    code, rows = run(files)
    assert code == 3 and list(rows) == ["A", "B", "C", "D"]
    err = capsys.readouterr().err
    assert "items.csv line 6: holding_cost -1 is negative" in err
    assert "state.csv line 6: sku 'X' is not in the item master" in err
    assert "state.csv line 7: repeats an earlier sku" in err
    assert "state.csv line 8: on_hand '-1' is not a whole number >= 0" in err
    assert "state.csv line 9: on_hand '2.5' is not a whole number >= 0" in err


def test_state_cells_padded_with_white_space_are_read_as_their_values(files):
    _, plain = run(files, "--limit", "40")
    (files / "state.csv").write_text("sku,on_hand,on_order\n A ,3 ,\t2\nB,\xa00\xa0, \nC, 5,0\nD,10 ,\n")
    code, padded = run(files, "--limit", "40")
    assert code == 0 and padded == plain


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"items.csv": "sku,lead_time,unit_cost,holding_cost,shortage_cost\nA,1,1,1,1\n"}, "no column 'max_order'"),
        ({"state.csv": "sku,onhand\nA,1\n"}, "no column 'on_hand'"),
        ({"state.csv": "sku,on_hand\nZ,1\n"}, "no valid row to plan"),
        ({"items.csv": ITEMS.replace(",demand_mean,demand_variance", ",x,y")}, "no column 'demand_mean'"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_no_output(files, change, message, capsys):
    for name, text in change.items():
        (files / name).write_text(text)
    (files / "o.csv").write_text("old\n")
    with pytest.raises(SystemExit) as stopped:
        run(files)
    assert stopped.value.code == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if not line.startswith("skipped ")]
    assert len(errors) == 1 and errors[0].startswith("error: ") and message in errors[0]
    assert (files / "o.csv").read_text() == "old\n"  # never half-written, never replaced by a failed run


def test_a_device_as_output_is_refused(files):
    with pytest.raises(SystemExit):
        plan.main(["--items", str(files / "items.csv"), "--state", str(files / "state.csv"), "--out", "/dev/null"])


def test_demand_from_a_history(files):
    days = 60
    rng = np.random.default_rng(3)
    lines = ["sku,date,demand"]
    for sku, mean in zip("ABCD", (4, 3, 2, 5), strict=True):
        for day, demand in zip(np.datetime64("2024-01-01") + np.arange(days), rng.poisson(mean, days), strict=True):
            lines.append(f"{sku},{day},{demand}")
    (files / "history.csv").write_text("\n".join(lines) + "\n")
    (files / "items.csv").write_text(ITEMS.replace(",demand_mean,demand_variance", ",x,y"))
    code, rows = run(files, "--history", str(files / "history.csv"))
    assert code == 0
    # the moving average of the last 28 days is the forecast
    recent = np.array([int(line.split(",")[2]) for line in lines[1:] if line.startswith("D,")])[-28:]
    assert float(rows["D"]["mean_demand"]) == pytest.approx(recent.mean(), abs=1e-3)


# What plan.py may not import: the scenarios and demand processes (pydantic models, scipy.stats; ~50 MB of
# its 500 MB budget at 1,000,000 SKUs), the training and export stacks.
NOT_FOR_PLANNING = ("scipy.stats", "envs.scenario", "envs.demand", "torch", "stable_baselines3", "onnx")


def test_plan_py_imports_no_scenario_or_scipy_stats_module(tmp_path):
    root = Path(plan.__file__).resolve().parent
    probe = textwrap.dedent(f"""\
        import sys
        sys.path.insert(0, {str(root)!r})
        import plan
        print(",".join(name for name in {NOT_FOR_PLANNING!r} if name in sys.modules))
    """)
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "", f"plan.py imports {done.stdout.strip()}"
