"""Forecast demand per SKU: generate a synthetic history, backtest models, forecast the next days.

    python forecast.py generate --skus 1000 --days 730 --seed 0 --out history.csv.gz
                               [--future-out future.csv --horizon 14]
    python forecast.py backtest --history history.csv.gz --known price,promotion,holiday --out results/forecast
                                [--models seasonal_naive,auto_ets,lightgbm] [--cutoffs 4] [--horizon 14]
    python forecast.py predict --history history.csv.gz --known price,promotion,holiday --future future.csv
                               --model lightgbm --horizon 14 --out forecasts.csv
    python forecast.py fit --history history.csv.gz --known price,promotion,holiday --model lightgbm --out models/lgbm
    python forecast.py predict --model-dir models/lgbm --history newer.csv.gz --known ... --future future.csv
                               --out f.csv

The history is long format: sku, date (YYYY-MM-DD, daily), demand (integer >= 0), then any
numeric signal columns; --known names those whose future values are known at forecast time (the
others are used only as past values). Bad rows are reported with their line number and skipped
(exit code 3 when any was); a day missing after an SKU's first row counts as zero demand.
`predict` fits on the whole history (or loads a model saved by `fit`, which then conditions on the
newer history without refitting) and writes one row per SKU and day ahead: sku, cutoff, date,
step, model, mean, q0.05, q0.1, q0.5, q0.9, q0.95. `fit` saves the baselines, lightgbm and lstm
(in formats that load without running code); statsforecast models only pickle and are not saved.
Models: seasonal_naive, moving_average, auto_ets, auto_arima, croston_sba, tsb, adida, imapa
(statsforecast), lightgbm (mlforecast), lstm (torch); the statsforecast and LightGBM ones need
`pip install -e ".[forecast]"`.

Exit codes: 0 done; 3 done, but some rows of the history were skipped; 2 bad input, one line.
"""

from __future__ import annotations

import argparse
import datetime
import sys
from pathlib import Path
from typing import Literal

from envs.arguments import MAX_SEED, ArgumentParser, integer
from envs.errors import UserError, exit_on_user_error
from envs.files import Content, atomic_write, check_output_directory, check_output_path, write_directory
from envs.limits import MAX_FORECAST_HORIZON
from forecasting import LEVELS, MODELS, make_forecaster, saved
from forecasting.data import History, describe_problems, forecast_frame, read_future, read_history
from forecasting.saved import load_forecaster, save_forecaster

PARTIAL_SUCCESS = 3
DEFAULT_MODELS = "seasonal_naive,moving_average,auto_ets,croston_sba,tsb,lightgbm"


# Bounds of a synthetic history: a million SKUs, a century of days, 100 million rows in all.
MAX_SKUS, MAX_DAYS, MAX_GENERATED_ROWS = 1_000_000, 36_525, 100_000_000


def names(text: str) -> list[str]:
    return [name.strip() for name in text.split(",") if name.strip()]


def models(text: str) -> list[str]:
    """Comma-separated model names, each one of :data:`forecasting.MODELS`."""
    chosen = names(text)
    unknown = [name for name in chosen if name not in MODELS]
    if unknown or not chosen:
        raise argparse.ArgumentTypeError(f"{unknown[0][:40] if unknown else text!r}: not one of {', '.join(MODELS)}")
    return chosen


def iso_date(text: str) -> str:
    try:
        return datetime.date.fromisoformat(text).isoformat()
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a date YYYY-MM-DD, got {text[:40]!r}") from None


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)

    generate = commands.add_parser("generate", help="write a synthetic retail history")
    generate.add_argument("--skus", type=integer(1, MAX_SKUS), default=1000)
    generate.add_argument("--days", type=integer(28, MAX_DAYS), default=730)
    generate.add_argument("--seed", type=integer(0, MAX_SEED), default=0)
    generate.add_argument("--start", type=iso_date, default="2024-01-01", help="first date (default 2024-01-01)")
    generate.add_argument("--out", required=True, help="the history CSV (.csv.gz to compress)")
    generate.add_argument("--items-out", help="also write each SKU's class and effect parameters here")
    generate.add_argument("--future-out", help="hold out the last --horizon days: their known signals go here")
    generate.add_argument("--horizon", type=integer(1, MAX_FORECAST_HORIZON), default=14)

    for name, text in (
        ("backtest", "rolling-origin accuracy by model and demand class"),
        ("fit", "fit a model on the whole history and save it"),
        ("predict", "forecast the next --horizon days"),
    ):
        command = commands.add_parser(name, help=text)
        command.add_argument("--history", required=True, help="long-format CSV: sku, date, demand, signals")
        command.add_argument("--known", type=names, default=[], help="comma-separated signals known in advance")
        command.add_argument(
            "--horizon", type=integer(1, MAX_FORECAST_HORIZON), default=14, help="days ahead (default 14)"
        )
        command.add_argument("--n-jobs", type=integer(1, 1024), default=1, help="threads / processes of the models")
        command.add_argument("--seed", type=integer(0, MAX_SEED), default=0, help="seed of LightGBM and the LSTM")
        command.add_argument("--out", required=True)
    backtest = commands.choices["backtest"]
    backtest.add_argument("--models", type=models, default=names(DEFAULT_MODELS), help=f"default {DEFAULT_MODELS}")
    backtest.add_argument("--cutoffs", type=integer(1, MAX_DAYS), default=4)
    backtest.add_argument("--step", type=integer(1, MAX_DAYS), help="days between cutoffs (default: the horizon)")
    commands.choices["fit"].add_argument("--model", default="lightgbm", choices=MODELS)
    predict = commands.choices["predict"]
    predict.add_argument("--model", default="lightgbm", choices=MODELS, help="fit this model now (default lightgbm)")
    predict.add_argument("--model-dir", help="instead, a model saved by fit (same SKUs and signals)")
    predict.add_argument("--future", help="known signals of the --horizon days after the history (needed with --known)")
    return parser.parse_args(argv)


def load(args: argparse.Namespace) -> History:
    history = read_history(args.history, args.known)
    for line in describe_problems(history.problems, args.history, history.rows):
        print(line, file=sys.stderr)
    panel = history.panel
    print(
        f"{args.history}: {panel.n:,} SKUs, {panel.periods} days from {panel.start.date()}, "
        f"signals {', '.join(panel.signal_names) or 'none'} (known: {', '.join(panel.known) or 'none'}); "
        f"{history.filled_days:,} missing days counted as zero demand",
        flush=True,  # stdout: stderr keeps one line for an error found after it (a bad --future)
    )
    return history


def generate(args: argparse.Namespace) -> int:
    from forecasting.synthetic import generate_history, split_future

    if args.skus * args.days > MAX_GENERATED_ROWS:
        raise UserError(f"--skus {args.skus} x --days {args.days}: more than {MAX_GENERATED_ROWS:,} rows")
    history = generate_history(args.skus, args.days + (args.horizon if args.future_out else 0), args.seed, args.start)
    frame = history.frame
    if args.future_out:
        frame, future = split_future(history, args.horizon)
        atomic_write(args.future_out, lambda path: future.to_csv(path, index=False), "--future-out")
    compression: Literal["gzip"] | None = (
        "gzip" if args.out.endswith(".gz") else None
    )  # the temporary file's name says nothing
    atomic_write(args.out, lambda path: frame.to_csv(path, index=False, compression=compression), "--out")
    if args.items_out:
        atomic_write(args.items_out, lambda path: history.items.to_csv(path, index=False), "--items-out")
    classes = history.items["class"].value_counts().to_dict()
    print(f"{args.out}: {args.skus:,} SKUs x {args.days} days, {len(frame):,} rows; classes {classes}", file=sys.stderr)
    return 0


def backtest_replaceable(directory: Path) -> bool:
    """Whether a backtest may write over ``directory``: it is empty or holds an earlier backtest."""
    return not any(directory.iterdir()) or (directory / "accuracy.csv").is_file()


def backtest(args: argparse.Namespace) -> int:
    from forecasting.backtest import markdown, run_backtest
    from forecasting.plots import plot_accuracy, plot_examples

    history = load(args)
    forecasters = [make_forecaster(name, args.horizon, args.n_jobs, args.seed) for name in args.models]
    try:
        result = run_backtest(history.panel, forecasters, args.cutoffs, args.horizon, args.step, LEVELS)
    except ValueError as error:
        raise UserError(f"{args.history}: {error}") from None
    print(markdown(result.table))
    best = result.table[result.table["class"] == "all"].sort_values("wape")["model"].iloc[0]
    files: dict[str, Content] = {
        "accuracy.csv": result.table.to_csv(index=False),
        "accuracy.md": markdown(result.table),
        "examples.png": lambda path: plot_examples(path, history.panel, result, best),
        "accuracy_by_class.png": lambda path: plot_accuracy(path, result),
    }
    write_directory(args.out, files, replaceable=backtest_replaceable)
    print(f"{args.out}: accuracy.csv, accuracy.md, examples.png ({best}), accuracy_by_class.png", file=sys.stderr)
    return PARTIAL_SUCCESS if history.problems else 0


def fit(args: argparse.Namespace) -> int:
    history = load(args)
    forecaster = make_forecaster(args.model, args.horizon, args.n_jobs, args.seed)
    forecaster.check_saveable()  # before the fit, not after
    forecaster.fit(history.panel)
    save_forecaster(forecaster, history.panel, args.out, args.seed)
    print(
        f"{args.out}: {args.model} fitted on {history.panel.n:,} SKUs x {history.panel.periods} days", file=sys.stderr
    )
    return PARTIAL_SUCCESS if history.problems else 0


def predict(args: argparse.Namespace) -> int:
    history = load(args)
    panel = history.panel
    if args.known and not args.future:
        raise UserError("--future: needed with --known (the known signals of the days to forecast)")
    if args.future:
        panel = read_future(args.future, panel, args.horizon)
    if args.model_dir:
        forecaster = load_forecaster(args.model_dir, panel)
    else:
        forecaster = make_forecaster(args.model, args.horizon, args.n_jobs, args.seed)
        forecaster.fit(panel.cut(panel.periods))
    try:
        forecast = forecaster.predict(panel.cut(panel.periods, args.horizon), args.horizon, LEVELS)
    except ValueError as error:  # e.g. a longer horizon than the saved model was fitted for
        raise UserError(f"--horizon {args.horizon}: {error}") from None
    frame = forecast_frame(panel.cut(panel.periods), forecast.mean, forecast.quantiles, LEVELS, forecaster.name)
    atomic_write(args.out, lambda path: frame.round(3).to_csv(path, index=False), "--out")
    print(f"{args.out}: {panel.n:,} SKUs x {args.horizon} days ({forecaster.name})", file=sys.stderr)
    return PARTIAL_SUCCESS if history.problems else 0


@exit_on_user_error
def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # a bad output fails before the work: a file, or a directory written whole
    if args.command == "backtest":
        check_output_directory(args.out, backtest_replaceable)
    elif args.command == "fit":
        check_output_directory(args.out, saved.replaceable)
    else:
        check_output_path(args.out)
    for option in ("future_out", "items_out"):
        if getattr(args, option, None):
            check_output_path(getattr(args, option), f"--{option.replace('_', '-')}")
    return {"generate": generate, "backtest": backtest, "fit": fit, "predict": predict}[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
