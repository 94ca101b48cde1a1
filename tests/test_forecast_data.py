"""forecasting.data, .synthetic, .classes, .metrics: reading histories, generated histories, classes, metrics."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from envs.errors import UserError
from forecasting import metrics
from forecasting.classes import adi_cv2, classify
from forecasting.data import Panel, read_future, read_history
from forecasting.synthetic import POST_PROMO_DAYS, generate_history

GOOD = "sku,date,demand,price,temperature\n"


def write(tmp_path: Path, text: str, name: str = "history.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_every_bad_row_is_reported_with_its_line_and_skipped(tmp_path):
    rows = [
        "A,2024-01-01,3,1.0,5",  # line 2
        "A,2024-01-02,x,1.0,5",  # 3: not a number
        "A,2024-13-01,2,1.0,5",  # 4: bad date
        "A,2024-01-03,-1,1.0,5",  # 5: negative
        "A,2024-01-04,1.5,1.0,5",  # 6: fractional
        "A,2024-01-05,2,cheap,5",  # 7: bad signal
        "",  # 8: blank
        "A,2024-01-01,4,1.0,5",  # 9: repeats line 2
        "B,2024-01-03,7,2.0,6",  # 10
        "A,2024-01-06,5,1.1,4",  # 11
    ]
    history = read_history(write(tmp_path, GOOD + "\n".join(rows) + "\n"), known=["price"])
    problems = dict(history.problems)
    assert sorted(problems) == [3, 4, 5, 6, 7, 8, 9]
    assert "not a number" in problems[3] and "not a date" in problems[4] and "negative" in problems[5]
    assert "whole number" in problems[6] and "price 'cheap'" in problems[7] and problems[8] == "blank line"
    assert "first on line 2" in problems[9]
    panel = history.panel
    assert panel.skus == ("A", "B") and panel.periods == 6 and panel.known == ("price",)
    # A: day 1 = 3, days 2-5 skipped or missing -> 0, day 6 = 5; B starts on day 3 (NaN before), then gaps -> 0
    np.testing.assert_array_equal(panel.demand[0], [3, 0, 0, 0, 0, 5])
    np.testing.assert_array_equal(panel.demand[1], [np.nan, np.nan, 7, 0, 0, 0])
    assert history.filled_days == 4 + 3
    # signals carried forward over gaps
    np.testing.assert_array_equal(panel.signals[0, :, 0], [1.0, 1.0, 1.0, 1.0, 1.0, 1.1])


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "is empty"),
        ("sku,date\nA,2024-01-01\n", "no column 'demand'"),
        ("sku,date,demand\n", "no rows"),
        ("sku,date,demand\nA,bad,-1\n", "no valid row"),
    ],
)
def test_unusable_files_are_one_user_error(tmp_path, content, message):
    with pytest.raises(UserError, match=message) as error:
        read_history(write(tmp_path, content))
    assert "\n" not in str(error.value)


def test_binary_and_missing_files_and_unknown_known_signal(tmp_path):
    binary = tmp_path / "model.bin"
    binary.write_bytes(b"\x00\x01\x02garbage\x00" * 10)
    with pytest.raises(UserError, match="binary"):
        read_history(binary)
    with pytest.raises(UserError, match="not found"):
        read_history(tmp_path / "nothing.csv")
    with pytest.raises(UserError, match="known signal 'promo' is not a column"):
        read_history(write(tmp_path, GOOD + "A,2024-01-01,1,1,1\n"), known=["promo"])


def test_gzip_history_reads_like_plain(tmp_path):
    text = GOOD + "A,2024-01-01,1,1.0,3\nA,2024-01-02,2,1.0,3\n"
    packed = tmp_path / "history.csv.gz"
    packed.write_bytes(gzip.compress(text.encode()))
    np.testing.assert_array_equal(read_history(packed).panel.demand, read_history(write(tmp_path, text)).panel.demand)


def test_cut_hides_observed_signals_from_the_origin_on_and_extends_known_ones():
    signals = np.arange(2 * 5 * 2, dtype=float).reshape(2, 5, 2)
    panel = Panel.from_arrays(np.ones((2, 5)), signals, ("price", "temperature"), ("price",))
    cut = panel.cut(3, horizon=4)
    assert cut.demand.shape == (2, 3) and cut.signals.shape == (2, 7, 2)
    assert np.isnan(cut.signals[:, 3:, 1]).all() and not np.isnan(cut.signals[:, :3, 1]).any()
    np.testing.assert_array_equal(cut.signals[0, :, 0], [0, 2, 4, 6, 8, 8, 8])  # carried past the end


def test_future_file_must_cover_every_sku_and_day(tmp_path):
    history = read_history(write(tmp_path, GOOD + "A,2024-01-01,1,1.0,3\nB,2024-01-01,2,2.0,3\n"), known=["price"])
    future = write(tmp_path, "sku,date,price\nA,2024-01-02,0.9\nB,2024-01-02,1.8\nA,2024-01-03,0.8\n", "future.csv")
    with pytest.raises(UserError, match="no known signals for sku B on 2024-01-03"):
        read_future(future, history.panel, horizon=2)
    extended = read_future(future, history.panel, horizon=1)
    np.testing.assert_array_equal(extended.signals[:, 1, 0], [0.9, 1.8])
    assert np.isnan(extended.signals[:, 1, 1]).all()  # temperature is not known in advance


def test_syntetos_boylan_classes_by_hand():
    smooth = [5, 6, 5, 6, 5, 6]  # ADI 1, CV^2 small
    erratic = [1, 20, 1, 20, 1, 20]  # ADI 1, CV^2 0.82
    intermittent = [0, 3, 0, 3, 0, 4]  # ADI 2
    lumpy = [0, 1, 0, 30, 0, 1]
    adi, cv2 = adi_cv2(np.array([smooth, erratic, intermittent, lumpy], dtype=float))
    np.testing.assert_allclose(adi, [1, 1, 2, 2])
    assert cv2[1] == pytest.approx(np.var([1, 20]) / np.mean([1, 20]) ** 2)
    assert list(classify(np.array([smooth, erratic, intermittent, lumpy]))) == [
        "smooth",
        "erratic",
        "intermittent",
        "lumpy",
    ]


def test_metrics_by_hand():
    actual = np.array([[10.0, 0.0, 5.0]])
    forecast = np.array([[8.0, 1.0, 5.0]])
    assert metrics.wape(actual, forecast) == pytest.approx(3 / 15)
    assert metrics.bias(actual, forecast) == pytest.approx(-1 / 15)
    assert metrics.pinball(np.array(10.0), np.array(8.0), 0.9) == pytest.approx(1.8)
    assert metrics.pinball(np.array(0.0), np.array(1.0), 0.9) == pytest.approx(0.1)
    history = np.array([[1, 2, 3, 4, 5, 6, 7, 3, 2, 3, 4, 5, 6, 7]], dtype=float)
    scale = metrics.seasonal_naive_scale(history)
    assert scale[0] == pytest.approx((2 + 0 + 0 + 0 + 0 + 0 + 0) / 7)
    assert metrics.mase(actual, forecast, scale) == pytest.approx(1.0 / scale[0])
    assert metrics.coverage(actual, forecast - 1, forecast + 1) == pytest.approx(2 / 3)


@pytest.fixture(scope="module")
def synthetic():
    return generate_history(skus=400, days=730, seed=3)


def panel_of(synthetic) -> np.ndarray:
    frame = synthetic.frame
    table = frame.pivot(index="sku", columns="date", values="demand").reindex(synthetic.items["sku"])
    return table.to_numpy(dtype=float)


def test_generated_classes_land_in_their_syntetos_boylan_quadrants(synthetic):
    demand = panel_of(synthetic)
    landed = classify(demand) == synthetic.items["class"].to_numpy()
    assert landed.mean() >= 0.98
    assert set(synthetic.items["class"]) == {"smooth", "erratic", "intermittent", "lumpy"}


def test_generation_is_seeded_and_has_new_items(synthetic):
    again = generate_history(skus=400, days=730, seed=3)
    pd.testing.assert_frame_equal(again.frame, synthetic.frame)
    first = pd.to_datetime(synthetic.frame.groupby("sku")["date"].min())
    assert (first > pd.Timestamp("2024-06-01")).mean() == pytest.approx(0.1, abs=0.05)


def test_promotions_and_prices_move_demand_as_documented(synthetic):
    """On a promotion day, demand against the same weekday a week earlier (a regular day) is
    (1 + uplift) * (price ratio) ** -elasticity, as the module docstring says; after it, a dip."""
    frame = synthetic.frame
    items = synthetic.items.set_index("sku")
    frequent = items.index[items["class"].isin(["smooth", "erratic"])]
    observed, documented, after, before = 0.0, 0.0, 0.0, 0.0
    for sku, rows in frame[frame["sku"].isin(frequent)].groupby("sku"):
        demand = rows["demand"].to_numpy(float)
        price = rows["price"].to_numpy()
        promo = rows["promotion"].to_numpy()
        holiday = rows["holiday"].to_numpy()
        item = items.loc[sku]
        for t in np.flatnonzero(promo[7:] == 1) + 7:
            if promo[t - 7] or holiday[t] or holiday[t - 7] or promo[max(0, t - 14) : t - 7].any():
                continue
            ratio = (1 + item["promo_uplift"]) * (price[t] / price[t - 7]) ** -item["elasticity"]
            observed += demand[t]
            documented += demand[t - 7] * ratio
        ends = np.flatnonzero((promo[:-1] == 1) & (promo[1:] == 0)) + 1
        for end in ends:
            start = end - np.argmax(promo[:end][::-1] == 0) if (promo[:end] == 0).any() else 0
            window = slice(end, end + POST_PROMO_DAYS)
            earlier = slice(start - POST_PROMO_DAYS, start)
            if (
                start < POST_PROMO_DAYS
                or end + POST_PROMO_DAYS > len(demand)
                or promo[window].any()
                or promo[earlier].any()
            ):
                continue
            after += demand[window].sum() / (1 - item["post_promo_dip"])
            before += demand[earlier].sum()
    assert observed / documented == pytest.approx(1.0, abs=0.1)
    # undoing the documented dip brings the post-promotion week back to the level of the week before
    assert after / before == pytest.approx(1.0, abs=0.1)
