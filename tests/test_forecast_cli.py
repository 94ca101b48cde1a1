"""forecast.py: generate, backtest and predict end to end; bad input is one line and exit code 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import forecast
from forecasting.data import read_history
from forecasting.synthetic import generate_history

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ROOT / "configs" / "data" / "retail_history.csv.gz"


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("forecast")
    history, future = root / "history.csv.gz", root / "future.csv"
    argv = ["generate", "--skus", "40", "--days", "200", "--seed", "1", "--out", str(history)]
    assert forecast.main([*argv, "--future-out", str(future), "--horizon", "7"]) == 0
    return {"root": root, "history": history, "future": future}


def test_generate_writes_the_history_and_the_future_known_signals(files):
    history = read_history(files["history"], ["price", "promotion", "holiday"])
    assert history.panel.n == 40 and history.panel.periods == 200 and not history.problems
    future = pd.read_csv(files["future"])
    assert list(future.columns) == ["sku", "date", "price", "promotion", "holiday"] and len(future) == 40 * 7
    expected = generate_history(40, 207, seed=1).frame
    np.testing.assert_array_equal(
        history.panel.to_frame()["demand"], expected[expected["date"] < "2024-07-19"]["demand"]
    )


def test_backtest_writes_table_and_plots(files, capsys):
    out = files["root"] / "backtest"
    argv = ["backtest", "--history", str(files["history"]), "--known", "price,promotion,holiday"]
    code = forecast.main(
        [*argv, "--models", "seasonal_naive,moving_average", "--cutoffs", "2", "--horizon", "7", "--out", str(out)]
    )
    assert code == 0
    table = pd.read_csv(out / "accuracy.csv")
    assert set(table["model"]) == {"seasonal_naive", "moving_average"}
    assert {"all", "smooth"} <= set(table["class"])
    every = table[table["class"] == "all"].set_index("model")
    assert every.loc["seasonal_naive", "forecasts"] == 80  # 40 SKUs x 2 cutoffs
    assert (every["wape"] > 0).all() and ((every["coverage_90"] > 0.5) & (every["coverage_90"] <= 1)).all()
    assert (out / "examples.png").read_bytes()[:4] == b"\x89PNG" and (
        out / "accuracy_by_class.png"
    ).stat().st_size > 1000
    assert "| seasonal_naive | all |" in capsys.readouterr().out
    # the same command replaces its own directory
    assert (
        forecast.main([*argv, "--models", "moving_average", "--cutoffs", "1", "--horizon", "7", "--out", str(out)]) == 0
    )
    assert set(pd.read_csv(out / "accuracy.csv")["model"]) == {"moving_average"}


def test_predict_writes_the_documented_format(files):
    out = files["root"] / "forecasts.csv"
    argv = ["predict", "--history", str(files["history"]), "--known", "price,promotion,holiday"]
    assert (
        forecast.main(
            [*argv, "--future", str(files["future"]), "--model", "seasonal_naive", "--horizon", "7", "--out", str(out)]
        )
        == 0
    )
    frame = pd.read_csv(out)
    assert list(frame.columns) == [
        "sku",
        "cutoff",
        "date",
        "step",
        "model",
        "mean",
        "q0.05",
        "q0.1",
        "q0.5",
        "q0.9",
        "q0.95",
    ]
    assert len(frame) == 40 * 7 and frame["step"].tolist()[:7] == list(range(1, 8))
    assert (frame["cutoff"] == "2024-07-18").all() and frame["date"].iloc[0] == "2024-07-19"
    assert (frame["q0.95"] >= frame["q0.5"]).all()


def test_predict_needs_the_future_of_known_signals(files, capsys):
    argv = ["predict", "--history", str(files["history"]), "--known", "price", "--out", str(files["root"] / "x.csv")]
    with pytest.raises(SystemExit) as exit_:
        forecast.main(argv)
    assert exit_.value.code == 2 and "--future: needed with --known" in capsys.readouterr().err


def test_bad_rows_are_listed_and_exit_code_is_3(tmp_path):
    history = tmp_path / "h.csv"
    rows = [f"A,2024-01-{day:02d},{day % 5}" for day in range(1, 31)] + ["A,2024-01-31,-2", "A,2024-02-01,x"]
    history.write_text("sku,date,demand\n" + "\n".join(rows) + "\n")
    command = [sys.executable, "forecast.py", "predict", "--history", str(history), "--model", "moving_average"]
    result = subprocess.run(
        [*command, "--out", str(tmp_path / "f.csv")], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode == 3, result.stderr
    assert (
        "line 32: demand '-2' is negative" in result.stderr and "line 33: demand 'x' is not a number" in result.stderr
    )
    assert "2 of 32 rows skipped" in result.stderr and (tmp_path / "f.csv").is_file()


def test_unusable_history_is_one_line_and_exit_code_2(tmp_path):
    history = tmp_path / "h.csv"
    history.write_text("sku,day,demand\nA,2024-01-01,1\n")
    out = tmp_path / "f.csv"
    command = [sys.executable, "forecast.py", "predict", "--history", str(history), "--out", str(out)]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and "no column 'date'" in result.stderr
    assert not out.exists()


def test_shipped_history_is_the_documented_generator_output():
    """configs/data/retail_history.csv.gz is `forecast.py generate --skus 300 --days 730 --seed 0`."""
    shipped = pd.read_csv(SHIPPED)
    expected = generate_history(300, 730, seed=0).frame
    assert len(shipped) == len(expected)
    np.testing.assert_array_equal(shipped["demand"].to_numpy(), expected["demand"].to_numpy())
    np.testing.assert_allclose(shipped["price"].to_numpy(), expected["price"].to_numpy())


@pytest.mark.slow
@pytest.mark.parametrize("model", ["lightgbm", "lstm"])
def test_a_saved_model_forecasts_as_the_fitted_one(files, model):
    """fit + predict --model-dir gives what predict --model gives (same seed), and loads no pickle."""
    if model == "lightgbm":
        pytest.importorskip("mlforecast")
    root = files["root"]
    common = ["--history", str(files["history"]), "--known", "price,promotion,holiday", "--horizon", "7"]
    assert forecast.main(["fit", *common, "--model", model, "--out", str(root / model)]) == 0
    manifest = json.loads((root / model / "forecaster.json").read_text())
    assert manifest["model"] == model and len(manifest["skus"]) == 40 and manifest["fitted_periods"] == 200
    future = ["--future", str(files["future"])]
    assert (
        forecast.main(["predict", *common, *future, "--model-dir", str(root / model), "--out", str(root / "a.csv")])
        == 0
    )
    assert forecast.main(["predict", *common, *future, "--model", model, "--out", str(root / "b.csv")]) == 0
    pd.testing.assert_frame_equal(pd.read_csv(root / "a.csv"), pd.read_csv(root / "b.csv"))


def test_fit_refuses_a_model_without_a_safe_format_and_a_foreign_history(files, tmp_path, capsys):
    pytest.importorskip("statsforecast")
    common = ["--history", str(files["history"]), "--horizon", "7"]
    with pytest.raises(SystemExit) as exit_:
        forecast.main(["fit", *common, "--model", "auto_ets", "--out", str(tmp_path / "ets")])
    assert exit_.value.code == 2 and "cannot be saved without pickle" in capsys.readouterr().err
    assert not (tmp_path / "ets").exists()
    assert forecast.main(["fit", *common, "--model", "moving_average", "--out", str(tmp_path / "ma")]) == 0
    other = tmp_path / "other.csv"
    other.write_text("sku,date,demand\nZ,2024-01-01,1\n")
    with pytest.raises(SystemExit):
        forecast.main(
            ["predict", "--history", str(other), "--model-dir", str(tmp_path / "ma"), "--out", str(tmp_path / "f.csv")]
        )
    assert "SKUs differ from those the model was fitted on" in capsys.readouterr().err
