"""Item masters and assortment scenarios: reading and checking rows, one stock point per SKU, joint history replay."""

from __future__ import annotations

import datetime
import gc
import weakref

import numpy as np
import pandas as pd
import pytest
import yaml

from envs.assortment import SkuView, is_assortment
from envs.batch import evaluation_paths
from envs.errors import UserError
from envs.general import PARAMETERS
from envs.items import read_items, stripped
from envs.layout import ObservationLayout
from envs.scenario import NetworkScenario, load_scenario

MASTER = """sku,lead_time,unit_cost,holding_cost,holding_rate,shortage_cost,service_level,max_order,pack_size,\
min_order,volume,demand_mean,demand_variance
A,2,10,0.5,,9,,40,6,10,2.5,4,
B,1:0.25 3:0.75,20,,0.05,,0.95,100,,,,6,12
C,0,1,0.1,,1,,10,,,,2,1
"""


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_an_item_master_is_read_into_arrays(tmp_path):
    items, problems = read_items(write(tmp_path, "items.csv", MASTER))
    assert problems == []
    assert items.skus.tolist() == ["A", "B", "C"] and items.lines.tolist() == [2, 3, 4]
    assert items.lead_values[0] is None and items.lead_values[1] == (1, 3)
    assert items.lead_mean[1] == pytest.approx(0.25 * 1 + 0.75 * 3)
    assert items.lead_variance[1] == pytest.approx(0.25 + 0.75 * 9 - 2.5**2)
    # B: holding 5% of its unit cost; a 95% service level stands for p = h s / (1 - s) = 1 x 19
    assert items.holding_cost[1] == pytest.approx(1.0)
    assert items.shortage_cost[1] == pytest.approx(19.0)
    assert items.pack_size.tolist() == [6, 1, 1] and items.min_order.tolist() == [10, 0, 0]
    assert items.volume.tolist() == [2.5, 1.0, 1.0]
    assert np.isnan(items.demand_variance[0]) and items.demand_variance[1] == 12


def test_every_bad_row_is_reported_with_its_line(tmp_path):
    header = MASTER.splitlines()[0]
    rows = [
        "A,2,10,0.5,,9,,40,,,,4,",  # good
        "B,2,-1,0.5,,9,,40,,,,4,",  # negative unit cost
        "C,2,10,0.5,0.1,9,,40,,,,4,",  # both holding columns
        "D,2,10,,,9,,40,,,,4,",  # neither
        "E,two,10,0.5,,9,,40,,,,4,",  # lead time
        "F,2,10,0.5,,,1.2,40,,,,4,",  # service level outside (0, 1)
        "G,2,10,0.5,,9,,40,6,10,,4,",  # ... fine: 12 <= 40
        "H,2,10,0.5,,9,,11,6,10,,4,",  # max_order below the smallest order (12)
        "A,2,10,0.5,,9,,40,,,,4,",  # repeated sku
        "I,2,10,0.5,,9,,4.5,,,,4,",  # fractional max_order
        "J,1:0.5 2:0.6,10,0.5,,9,,40,,,,4,",  # probabilities do not sum to 1
    ]
    items, problems = read_items(write(tmp_path, "items.csv", "\n".join([header, *rows]) + "\n"))
    assert items.skus.tolist() == ["A", "G"]
    lines = dict(problems)
    assert sorted(lines) == [3, 4, 5, 6, 7, 9, 10, 11, 12]
    assert "unit_cost -1 is negative" in lines[3]
    assert "give holding_cost or holding_rate, not both" in lines[4]
    assert "no holding_cost and no holding_rate" in lines[5]
    assert "lead_time 'two'" in lines[6]
    assert "service_level 1.2 is not inside (0, 1)" in lines[7]
    assert "smallest order its pack_size and min_order allow (12)" in lines[9]
    assert "repeats sku A" in lines[10]
    assert "max_order 4.5 is not a whole number" in lines[11]
    assert "sum to 1" in lines[12]


def test_cells_padded_with_white_space_are_read_as_their_values(tmp_path):
    header = MASTER.splitlines()[0]
    rows = [
        " A , 2 ,\t10 , 0.5 ,  ,9,,\xa040\xa0,6,10, 2.5,4, ",  # padded numbers (a no-break space too), blank cells
        "B, 1:0.25 3:0.75 ,20,,0.05,,0.95,100,,,,6,12",
        "C,2,ten ,0.5,,9,,40,,,,4,",  # not a number: reported as written, without the padding
    ]
    items, problems = read_items(write(tmp_path, "items.csv", "\n".join([header, *rows]) + "\n"))
    assert problems == [(4, "unit_cost 'ten' is not a number")]
    assert items.skus.tolist() == ["A", "B"]
    assert items.lead_mean.tolist() == [2.0, 2.5] and items.unit_cost.tolist() == [10.0, 20.0]
    assert items.max_order.tolist() == [40, 100] and items.volume.tolist() == [2.5, 1.0]
    assert items.holding_cost[0] == 0.5  # the blank holding_rate is left out, not a second holding column
    assert np.isnan(items.demand_variance[0])


def test_stripping_a_column_leaves_no_reference_cycle():
    # pandas' .str accessor and its Series refer to each other: read in chunks, each chunk's text stayed
    # in memory until the cyclic collector ran (+22 MB a chunk of 100,000 item rows)
    cells = pd.Series([" A ", "\tB", "C\xa0", "", np.nan], dtype=object)
    alive = weakref.ref(cells)
    gc.disable()
    try:
        values = stripped(cells).tolist()
        del cells
        assert alive() is None
    finally:
        gc.enable()
    assert values[:4] == ["A", "B", "C", ""] and values[4] != values[4]  # NaN kept as it is


def test_a_missing_column_is_one_error(tmp_path):
    with pytest.raises(UserError, match=r"items\.csv: no column 'max_order'"):
        read_items(write(tmp_path, "items.csv", "sku,lead_time,unit_cost,holding_cost,shortage_cost\nA,1,1,1,1\n"))
    with pytest.raises(UserError, match="no column 'shortage_cost' or 'service_level'"):
        read_items(write(tmp_path, "items.csv", "sku,lead_time,unit_cost,holding_cost,max_order\nA,1,1,1,5\n"))


def scenario_file(tmp_path, assortment, **keys):
    mapping = {"horizon": 20, "assortment": assortment, **keys}
    return write(tmp_path, "shop.yaml", yaml.safe_dump(mapping))


def test_an_item_master_with_demand_parameters_makes_an_assortment(tmp_path):
    write(tmp_path, "items.csv", MASTER)
    capacity = {"name": "warehouse", "kind": "storage", "limit": 50, "weight": "volume"}
    scenario = load_scenario(scenario_file(tmp_path, {"items": "items.csv"}, capacities=[capacity]))
    assert isinstance(scenario, NetworkScenario) and is_assortment(scenario)
    a, b, c = scenario.stock_points
    assert (a.name, a.lead_time, a.pack_size, a.min_order, a.volume, a.shortage_cost) == ("A", 2, 6, 10, 2.5, 9)
    assert b.lead_time.values == (1, 3) and b.shortage_cost == pytest.approx(19.0)
    assert a.demand.dist == "poisson" and b.demand.dist == "negative_binomial" and b.demand.variance == 12
    assert c.demand.dist == "poisson"  # a variance not above the mean: Poisson
    paths = evaluation_paths(scenario, 4, 0)
    assert paths.demand.shape == (20, 4, 3)


def test_a_bad_item_row_in_a_scenario_is_one_error_naming_its_line(tmp_path):
    write(tmp_path, "items.csv", MASTER.replace("C,0,1,0.1", "C,0,1,-0.1"))
    with pytest.raises(UserError, match=r"items\.csv: line 4: holding_cost -0\.1 is negative \(1 bad rows\)"):
        load_scenario(scenario_file(tmp_path, {"items": "items.csv"}))
    write(tmp_path, "items.csv", MASTER)
    with pytest.raises(UserError, match=r"shop\.yaml: assortment\.replay: "):
        load_scenario(scenario_file(tmp_path, {"items": "items.csv", "replay": "sometimes"}))


HISTORY_DAYS = 60


def write_history(tmp_path):
    rng = np.random.default_rng(5)
    lines = ["sku,date,demand,price"]
    dates = np.datetime64("2024-03-01") + np.arange(HISTORY_DAYS)
    for sku, mean in (("A", 3), ("B", 8), ("C", 1)):
        for date, demand in zip(dates, rng.poisson(mean, HISTORY_DAYS), strict=True):
            lines.append(f"{sku},{date},{demand},1.0")
    return write(tmp_path, "history.csv", "\n".join(lines) + "\n")


def test_every_sku_replays_its_history_on_the_same_days(tmp_path):
    history = write_history(tmp_path)
    write(tmp_path, "items.csv", MASTER)
    settings = {
        "items": "items.csv",
        "history": "history.csv",
        "history_from": "2024-03-11",
        "history_to": "2024-04-19",
    }
    scenario = load_scenario(scenario_file(tmp_path, settings, demand_history=3))
    frame = pd.read_csv(history, parse_dates=["date"]).set_index("date")
    days = pd.date_range("2024-03-11", "2024-04-19")
    series = {sku: frame[frame["sku"] == sku]["demand"].reindex(days, fill_value=0).to_numpy() for sku in "ABC"}
    assert len(series["A"]) == 40
    paths = evaluation_paths(scenario, 16, 1)  # 3 days before each episode, then 20
    for episode in range(16):
        path = paths.demand[:, episode, 0]
        start = next(d for d in range(40 - 23 + 1) if (series["A"][d : d + 23] == path).all())
        for j, sku in enumerate("ABC"):
            assert (paths.demand[:, episode, j] == series[sku][start : start + 23]).all()


def test_an_sku_missing_from_the_history_is_refused(tmp_path):
    write_history(tmp_path)
    write(tmp_path, "items.csv", MASTER + "D,1,1,1,,1,,5,,,,,\n")
    with pytest.raises(UserError, match=r"line 5: sku D has no rows in the history"):
        load_scenario(scenario_file(tmp_path, {"items": "items.csv", "history": "history.csv"}))


def test_the_sku_view_gathers_each_skus_entries_and_parameters(tmp_path):
    write(tmp_path, "items.csv", MASTER)
    scenario = load_scenario(scenario_file(tmp_path, {"items": "items.csv"}, demand_history=2))
    layout = ObservationLayout(scenario)
    view = SkuView(scenario, layout)
    obs = np.arange(layout.dim, dtype=np.float32)[None, :] + 1
    rows = view.rows(obs)
    assert rows.shape == (1, 3, len(view.names)) and view.names[:1] == ("stock",)
    # B's longest lead time is 3: three pipeline slots, the widest; C (lead time 0) has none: zero-padded
    assert view.names == ("stock", "arriving_in_0", "arriving_in_1", "arriving_in_2", "demand_lag_1", "demand_lag_2")
    for j, point in enumerate(layout.system.names):
        for k, entry in enumerate(view.names):
            name = f"{point}.{'on_hand' if entry == 'stock' else entry}"
            expected = obs[0, layout.names.index(name)] if name in layout.names else 0.0
            assert rows[0, j, k] == expected
    column = {name: view.parameters[:, k] for k, name in enumerate(PARAMETERS)}
    assert column["mean_lead_time"].tolist() == [2.0, 2.5, 0.0]
    assert column["max_lead_time"].tolist() == [2, 3, 0]
    assert column["mean_demand"].tolist() == pytest.approx([4, 6, 2], rel=1e-6)
    # A and C are Poisson (no variance above the mean given), B negative binomial with variance 12
    assert column["demand_variance"].tolist() == pytest.approx([4, 12, 2], rel=1e-6)
    assert column["lost_sales"].tolist() == [1, 1, 1]


def test_the_sku_view_of_a_single_item_is_one_row():
    scenario = load_scenario("lost_sales_L2_p9")
    layout = ObservationLayout(scenario)
    view = SkuView(scenario, layout)
    rows = view.rows(np.array([[7, 3, 4]], dtype=np.float32))  # on hand, arriving in 0 and 1 periods
    assert view.names == ("stock", "arriving_in_0", "arriving_in_1") and rows.tolist() == [[[7, 3, 4]]]
    column = dict(zip(PARAMETERS, view.parameters[0].tolist(), strict=True))
    assert (column["mean_lead_time"], column["shortage_cost"], column["holding_cost"], column["lost_sales"]) == (
        2,
        9,
        1,
        1,
    )
    assert column["mean_demand"] == pytest.approx(5, rel=1e-9) and column["demand_variance"] == pytest.approx(5, 1e-6)


def test_the_shipped_mabim_item_master_is_what_its_script_makes(tmp_path):
    import importlib.util

    from envs.scenario import SCENARIO_DIR

    data = SCENARIO_DIR.parent / "data"
    spec = importlib.util.spec_from_file_location("make_mabim_items", data / "make_mabim_items.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    out = tmp_path / "items.csv"
    module.make_items().to_csv(out, index=False)
    assert out.read_text() == (data / "mabim_items.csv").read_text()
    train, test = load_scenario("mabim_standard"), load_scenario("mabim_standard_test")
    assert len(train.stock_points) == len(test.stock_points) == 300
    assert train.capacities[0].limit == 20_000 and train.demand_history == 21 and train.horizon == 100
    assert (train.stock_points[0].demand.end, test.stock_points[0].demand.start) == (
        datetime.date(2024, 12, 30),
        datetime.date(2024, 12, 31),
    )
