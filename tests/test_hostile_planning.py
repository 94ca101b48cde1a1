"""Hostile and careless input to the planning commands: plan.py, forecast.py and recommend.py with a history.

Each command-line case runs as a real process (see tests/hostile.py): item masters, state files,
sales histories and known futures that are not what they claim (a kernel file, a FIFO, a
directory, binary, empty, a repeated column), bad options, and outputs that are a symlink, a
device, a FIFO or a directory. Every output a case could write goes to ``out/CASE`` (or where the
case points): nothing may appear there, and the prepared inputs must be left as they were.

In-process: the ``assortment:`` key of a scenario and the multi-SKU keys of a csv demand (``sku``,
``start``, ``end``), each refused in one line naming the scenario file and the key, or the item
master and its line.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from envs.errors import UserError
from envs.scenario import load_scenario
from tests.hostile import Case, artifacts, assert_one_line_error, copy_of, shared_batch
from tests.test_hostile_commands import with_defaults
from tests.test_hostile_scenarios import MAX_MESSAGE

DAYS = 60
SKUS = ("SKU-A", "SKU-B", "SKU-C")
ITEMS = """sku,lead_time,unit_cost,holding_cost,shortage_cost,max_order,pack_size,min_order,volume,demand_mean
SKU-A,2,10,0.5,9,100,6,10,1,4
SKU-B,1,5,0.2,4,100,1,0,2,3
SKU-C,1:0.5 3:0.5,1,0.1,9,50,1,20,1,2
"""
PLAN_STATE = "sku,on_hand,on_order\nSKU-A,3,2\nSKU-B,0,0\nSKU-C,5,0\n"
# the forecast-driven policy of prepare() observes the stock and the pipeline of a lead time of 2
POLICY_STATE = "sku,on_hand,arriving_in_0,arriving_in_1\nSKU-A,5,5,5\nSKU-B,5,5,5\n"
FORECAST_SCENARIO = """\
horizon: 80
demand: {dist: poisson, mean: 8}
lead_time: 2
holding_cost: 1
shortage_cost: 9
max_order: 40
forecast: {model: moving_average, warmup: 28}
"""


def history_text(days: int = DAYS) -> str:
    """A sales history of the SKUs over ``days`` days from 2024-01-01, with price and promotion."""
    import datetime

    rows = ["sku,date,demand,price,promotion"]
    for k, sku in enumerate(SKUS):
        for day in range(days):
            date = datetime.date(2024, 1, 1) + datetime.timedelta(days=day)
            rows.append(f"{sku},{date},{(3 * day + k) % 7},{5 + k}.5,{int(day % 10 == 0)}")
    return "\n".join(rows) + "\n"


def future_text(days: int) -> str:
    """The known signals (price, promotion) of ``days`` days after the history."""
    import datetime

    rows = ["sku,date,price,promotion"]
    for sku in SKUS:
        for day in range(days):
            rows.append(f"{sku},{datetime.date(2024, 1, 1) + datetime.timedelta(days=DAYS + day)},5.5,0")
    return "\n".join(rows) + "\n"


def plan(case: str, *argv: str, mentions: tuple[str, ...] = (), out: str = "", **kwargs) -> Case:
    defaults = {"--items": "{tmp}/items.csv", "--state": "{tmp}/plan-state.csv"}
    full, untouched = with_defaults(argv, defaults, out or f"out/{case}.csv")
    return Case(f"plan-{case}", "plan", full, mentions, untouched=untouched, **kwargs)


def forecast(case: str, command: str, *argv: str, mentions: tuple[str, ...] = (), out: str = "", **kwargs) -> Case:
    defaults = {} if command == "generate" else {"--history": "{tmp}/history.csv"}
    if command == "predict" and "--model-dir" not in argv:
        defaults["--model"] = "moving_average"
    full, untouched = with_defaults(argv, defaults, out or f"out/{case}")
    return Case(f"forecast-{case}", "forecast", (command, *full), mentions, untouched=untouched, **kwargs)


def recommend(case: str, *argv: str, mentions: tuple[str, ...] = (), **kwargs) -> Case:
    defaults = {"--policy": "{tmp}/forecast-policy", "--state": "{tmp}/policy-state.csv"}
    full, untouched = with_defaults(argv, defaults, f"out/{case}.csv")
    return Case(f"recommend-{case}", "recommend", full, mentions, untouched=untouched, **kwargs)


KNOWN = ("--known", "price,promotion")
NOT_REGULAR = "not a regular file"
KERNEL = "file of the kernel"
REPEATED = "appears more than once in the header"

CASES = [
    # ---- plan.py: the item master
    plan("items-proc", "--items", "/proc/self/environ", mentions=("/proc/self/environ", KERNEL)),
    plan("items-fifo", "--items", "{tmp}/fifo", mentions=("fifo", NOT_REGULAR)),
    plan("items-directory", "--items", "{tmp}/empty-dir", mentions=("empty-dir", "is a directory")),
    plan("items-missing", "--items", "{tmp}/missing.csv", mentions=("missing.csv", "item master not found")),
    plan("items-binary", "--items", "{tmp}/binary.csv", mentions=("binary.csv", "binary file")),
    plan("items-empty", "--items", "{tmp}/empty.csv", mentions=("empty.csv", "is empty")),
    plan("items-header-only", "--items", "{tmp}/items-header-only.csv", mentions=("header but no rows",)),
    plan("items-repeated-column", "--items", "{tmp}/items-repeated.csv", mentions=("items-repeated.csv", REPEATED)),
    plan("items-no-column", "--items", "{tmp}/plan-state.csv", mentions=("plan-state.csv", "no column 'lead_time'")),
    plan("items-no-valid-row", "--items", "{tmp}/items-all-bad.csv", mentions=("items-all-bad.csv", "no valid row")),
    plan("items-open-quote", "--items", "{tmp}/items-open-quote.csv", mentions=("items-open-quote.csv",)),
    # ---- plan.py: the state file
    plan("state-proc", "--state", "/proc/self/environ", mentions=("/proc/self/environ", KERNEL)),
    plan("state-fifo", "--state", "{tmp}/fifo", mentions=("fifo", NOT_REGULAR)),
    plan("state-directory", "--state", "{tmp}/empty-dir", mentions=("empty-dir", "is a directory")),
    plan("state-missing", "--state", "{tmp}/missing.csv", mentions=("missing.csv", "state file not found")),
    plan("state-empty", "--state", "{tmp}/empty.csv", mentions=("empty.csv", "is empty")),
    plan("state-binary", "--state", "{tmp}/binary.csv", mentions=("binary.csv", "not a readable CSV")),
    plan("state-repeated-column", "--state", "{tmp}/state-repeated.csv", mentions=("'on_hand'", REPEATED)),
    plan("state-no-sku", "--state", "{tmp}/state-no-sku.csv", mentions=("state-no-sku.csv", "no column 'sku'")),
    # ---- plan.py: options
    plan("limit-text", "--limit", "lots", mentions=("--limit", "invalid float value")),
    plan("limit-negative", "--limit", "-5", mentions=("--limit", "positive")),
    plan("limit-infinite", "--limit", "inf", mentions=("--limit", "positive")),
    plan("limit-nan", "--limit", "nan", mentions=("--limit", "positive")),
    plan("price-negative", "--price", "-1", mentions=("--price",)),
    plan("price-nan", "--price", "nan", mentions=("--price",)),
    plan("chunk-rows-zero", "--chunk-rows", "0", mentions=("--chunk-rows", "in 1..")),
    plan("chunk-rows-exponent", "--chunk-rows", "1e9", mentions=("--chunk-rows", "must be an integer")),
    plan("policy-unknown", "--policy", "magic", mentions=("--policy", "invalid choice")),
    plan("limit-kind-unknown", "--limit", "10", "--limit-kind", "volume", mentions=("--limit-kind",)),
    plan("model-unknown", "--history", "{tmp}/history.csv", "--model", "magic", mentions=("--model",)),
    plan("known-without-history", *KNOWN, mentions=("--known and --future go with --history",)),
    plan("unknown-option", "--colour", "red", mentions=("unrecognized arguments: --colour",)),
    # ---- plan.py: demand from a history
    plan("history-proc", "--history", "/proc/self/environ", mentions=("/proc/self/environ", KERNEL)),
    plan("history-repeated-column", "--history", "{tmp}/history-repeated.csv", mentions=("'demand'", REPEATED)),
    plan(
        "history-known-not-a-column",
        "--history",
        "{tmp}/history.csv",
        "--known",
        "weather",
        "--future",
        "{tmp}/future.csv",
        mentions=("known signal 'weather' is not a column",),
    ),
    plan(
        "history-future-short",
        "--history",
        "{tmp}/history.csv",
        *KNOWN,
        "--future",
        "{tmp}/future-short.csv",
        mentions=("future-short.csv", "no known signals"),
    ),
    # ---- plan.py: where the lines go
    plan("out-symlink", out="link-file", mentions=("--out", "symbolic link")),
    plan("out-device", out="/dev/full", mentions=("--out", NOT_REGULAR)),
    plan("out-directory", out="empty-dir", mentions=("--out", "is a directory")),
    plan("out-fifo", out="fifo", mentions=("--out", NOT_REGULAR)),
    plan("out-parent-a-file", out="a-file/orders.csv", mentions=("--out",)),
    # ---- forecast.py generate
    forecast("generate-skus-huge", "generate", "--skus", "1000000000", mentions=("--skus", "in 1..1000000")),
    forecast("generate-days-short", "generate", "--days", "27", mentions=("--days", "in 28..")),
    forecast("generate-rows-huge", "generate", "--skus", "100000", "--days", "36000", mentions=("100,000,000 rows",)),
    forecast("generate-seed-negative", "generate", "--seed", "-5", mentions=("--seed", "in 0..4294967295")),
    forecast("generate-start-bad", "generate", "--start", "2024-13-01", mentions=("--start", "YYYY-MM-DD")),
    forecast("generate-horizon-huge", "generate", "--horizon", "100000", mentions=("--horizon", "in 1..366")),
    forecast("generate-out-symlink", "generate", out="link-file", mentions=("--out", "symbolic link")),
    forecast("generate-future-out-device", "generate", "--future-out", "/dev/full", mentions=("--future-out",)),
    forecast("no-command", "", mentions=("invalid choice",)),
    # ---- forecast.py predict
    forecast("history-proc", "predict", "--history", "/proc/self/environ", mentions=("/proc/self/environ", KERNEL)),
    forecast("history-fifo", "predict", "--history", "{tmp}/fifo", mentions=("fifo", NOT_REGULAR)),
    forecast("history-directory", "predict", "--history", "{tmp}/empty-dir", mentions=("is a directory",)),
    forecast("history-empty", "predict", "--history", "{tmp}/empty.csv", mentions=("empty.csv", "is empty")),
    forecast("history-binary", "predict", "--history", "{tmp}/binary.csv", mentions=("binary.csv", "binary file")),
    forecast(
        "history-repeated-column",
        "predict",
        "--history",
        "{tmp}/history-repeated.csv",
        mentions=("history-repeated.csv", "'demand'", REPEATED),
    ),
    forecast("history-no-date", "predict", "--history", "{tmp}/items.csv", mentions=("items.csv", "no column")),
    forecast(
        "known-not-a-column",
        "predict",
        "--known",
        "weather",
        "--future",
        "{tmp}/future.csv",
        mentions=("known signal 'weather' is not a column",),
    ),
    forecast("known-without-future", "predict", *KNOWN, mentions=("--future", "needed with --known")),
    forecast(
        "future-short",
        "predict",
        *KNOWN,
        "--future",
        "{tmp}/future-short.csv",
        "--horizon",
        "7",
        mentions=("future-short.csv", "no known signals"),
    ),
    forecast("future-proc", "predict", *KNOWN, "--future", "/proc/self/environ", mentions=(KERNEL,)),
    forecast(
        "future-repeated-column",
        "predict",
        *KNOWN,
        "--future",
        "{tmp}/future-repeated.csv",
        mentions=("future-repeated.csv", "'price'", REPEATED),
    ),
    forecast("horizon-zero", "predict", "--horizon", "0", mentions=("--horizon", "in 1..366")),
    forecast("horizon-huge", "predict", "--horizon", "1000000000", mentions=("--horizon", "in 1..366")),
    forecast("seed-negative", "predict", "--seed", "-1", mentions=("--seed",)),
    forecast("model-unknown", "predict", "--model", "magic", mentions=("--model", "invalid choice")),
    forecast("model-dir-empty", "predict", "--model-dir", "{tmp}/empty-dir", mentions=("--model-dir", "not a direc")),
    forecast("predict-out-device", "predict", out="/dev/full", mentions=("--out", NOT_REGULAR)),
    forecast("predict-out-directory", "predict", out="empty-dir", mentions=("--out", "is a directory")),
    forecast("predict-out-symlink", "predict", out="link-file", mentions=("--out", "symbolic link")),
    # ---- forecast.py backtest and fit
    forecast(
        "backtest-models-unknown", "backtest", "--models", "moving_average,magic", mentions=("--models", "'magic'")
    ),
    forecast("backtest-models-empty", "backtest", "--models", ",", mentions=("--models",)),
    forecast(
        "backtest-cutoffs-too-many",
        "backtest",
        "--models",
        "moving_average",
        "--cutoffs",
        "1000",
        mentions=("history.csv", "1000 cutoffs"),
    ),
    forecast("backtest-out-file", "backtest", out="a-file", mentions=("--out", "not a directory")),
    forecast("backtest-out-symlink", "backtest", out="link-dir", mentions=("--out", "symbolic link")),
    forecast("backtest-out-not-its-own", "backtest", out="outputs/notes", mentions=("--out",)),
    forecast("fit-out-file", "fit", "--model", "moving_average", out="a-file", mentions=("--out", "not a directory")),
    forecast("fit-model-unknown", "fit", "--model", "magic", mentions=("--model", "invalid choice")),
    # ---- recommend.py with a history: the forecasts come from the policy's model
    recommend("history-proc", "--history", "/proc/self/environ", mentions=("/proc/self/environ", KERNEL)),
    recommend("history-fifo", "--history", "{tmp}/fifo", mentions=("fifo", NOT_REGULAR)),
    recommend("history-empty", "--history", "{tmp}/empty.csv", mentions=("empty.csv", "is empty")),
    recommend("history-repeated-column", "--history", "{tmp}/history-repeated.csv", mentions=("'demand'", REPEATED)),
    recommend("history-no-column", "--history", "{tmp}/items.csv", mentions=("items.csv", "no column")),
    recommend(
        "history-known-without-future",
        "--history",
        "{tmp}/history.csv",
        *KNOWN,
        mentions=("--future", "needed with --known"),
    ),
    recommend(
        "history-known-not-a-column",
        "--history",
        "{tmp}/history.csv",
        "--known",
        "weather",
        "--future",
        "{tmp}/future.csv",
        mentions=("known signal 'weather' is not a column",),
    ),
    recommend(
        "history-future-short",
        "--history",
        "{tmp}/history.csv",
        *KNOWN,
        "--future",
        "{tmp}/future-short.csv",
        mentions=("future-short.csv", "no known signals"),
    ),
    recommend(
        "history-future-fifo",
        "--history",
        "{tmp}/history.csv",
        *KNOWN,
        "--future",
        "{tmp}/fifo",
        mentions=("fifo", NOT_REGULAR),
    ),
    recommend("known-without-history", *KNOWN, "--future", "{tmp}/future.csv", mentions=("go with --history",)),
    recommend(
        "history-for-a-policy-without-forecasts",
        "--policy",
        "{tmp}/policy",
        "--history",
        "{tmp}/history.csv",
        mentions=("--history", "observes no forecast"),
    ),
    recommend("state-repeated-column", "--state", "{tmp}/state-repeated.csv", mentions=("'on_hand'", REPEATED)),
]


def prepare(tmp: Path, made: Path) -> None:
    """The inputs the cases point at (see the module docstring); ``made``: the session's artifacts."""
    from agents.deploy.export import classic_source, export_policy

    (tmp / "items.csv").write_text(ITEMS)
    (tmp / "items-header-only.csv").write_text(ITEMS.splitlines()[0] + "\n")
    (tmp / "items-repeated.csv").write_text(ITEMS.replace("sku,lead_time,unit_cost", "sku,lead_time,lead_time", 1))
    (tmp / "items-all-bad.csv").write_text(ITEMS.replace(",10,0.5,", ",-10,0.5,").replace(",5,0.2,", ",x,0.2,")
                                           .replace(",1,0.1,", ",1,-0.1,"))  # fmt: skip
    (tmp / "items-open-quote.csv").write_text(ITEMS + '"SKU-D,1,1,0.1,9,50,1,0,1,5\nSKU-E,1,1,0.1,9,50,1,0,1,5\n')
    (tmp / "plan-state.csv").write_text(PLAN_STATE)
    (tmp / "state-repeated.csv").write_text("sku,on_hand,on_hand,arriving_in_0,arriving_in_1\nSKU-A,3,9,0,0\n")
    (tmp / "state-no-sku.csv").write_text("item,on_hand\nSKU-A,3\n")
    (tmp / "policy-state.csv").write_text(POLICY_STATE)
    (tmp / "history.csv").write_text(history_text())
    (tmp / "history-repeated.csv").write_text(history_text().replace("promotion\n", "demand\n", 1))
    (tmp / "future.csv").write_text(future_text(14))
    (tmp / "future-short.csv").write_text(future_text(2))
    (tmp / "future-repeated.csv").write_text(future_text(14).replace("promotion\n", "price\n", 1))
    (tmp / "binary.csv").write_bytes(bytes(range(256)) * 8)
    (tmp / "empty.csv").write_text("")
    os.mkfifo(tmp / "fifo")
    (tmp / "a-file").write_text("keep me\n")
    (tmp / "empty-dir").mkdir()
    (tmp / "link-dir").symlink_to(tmp / "empty-dir")
    (tmp / "link-file").symlink_to(tmp / "a-file")
    (tmp / "out").mkdir()
    (tmp / "outputs" / "notes").mkdir(parents=True)
    (tmp / "outputs" / "notes" / "notes.txt").write_text("mine\n")
    copy_of(made / "policy", tmp / "policy")  # base_stock: observes no forecast
    (tmp / "forecast.yaml").write_text(FORECAST_SCENARIO)
    scenario = load_scenario(str(tmp / "forecast.yaml"))
    export_policy(classic_source("forecast_order_up_to", scenario, 20), tmp / "forecast-policy", 200)


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    made = artifacts(tmp_path_factory)
    return shared_batch(tmp_path_factory, "planning", lambda tmp: prepare(tmp, made), CASES)


@pytest.mark.parametrize("case", [case.param() for case in CASES])
def test_a_hostile_planning_command_is_refused_in_one_line_and_writes_nothing(batch, case):
    assert_one_line_error(batch.outcomes[case.id], [m.replace("{tmp}", str(batch.tmp)) for m in case.mentions])
    batch.unchanged(*case.untouched)


def test_the_inputs_of_the_cases_are_left_as_they_were(batch):
    batch.unchanged("items.csv", "plan-state.csv", "policy-state.csv", "history.csv", "future.csv", "a-file")
    batch.unchanged("empty-dir", "link-dir", "link-file", "policy", "forecast-policy", "outputs")


def test_the_templates_of_the_cases_are_valid_input(tmp_path, tmp_path_factory):
    """So that each case above fails for its own change: the unchanged inputs plan, forecast and recommend."""
    import forecast
    import plan
    import recommend

    prepare(tmp_path, artifacts(tmp_path_factory))
    files = {name: str(tmp_path / name) for name in ("items.csv", "plan-state.csv", "history.csv", "future.csv")}
    assert plan.main(["--items", files["items.csv"], "--state", files["plan-state.csv"], "--out",
                      str(tmp_path / "plan.csv")]) == 0  # fmt: skip
    assert plan.main(["--items", files["items.csv"], "--state", files["plan-state.csv"], "--history",
                      files["history.csv"], *KNOWN, "--future", files["future.csv"], "--out",
                      str(tmp_path / "plan-history.csv")]) == 0  # fmt: skip
    assert forecast.main(["predict", "--history", files["history.csv"], *KNOWN, "--future", files["future.csv"],
                          "--model", "moving_average", "--out", str(tmp_path / "forecast.csv")]) == 0  # fmt: skip
    assert recommend.main(["--policy", str(tmp_path / "forecast-policy"), "--state",
                           str(tmp_path / "policy-state.csv"), "--history", files["history.csv"], *KNOWN,
                           "--future", files["future.csv"], "--out", str(tmp_path / "orders.csv")]) == 0  # fmt: skip


# ---------------------------------------------------------------------------------------------
# The assortment key of a scenario, and the multi-SKU keys of a csv demand (in-process)

ASSORTMENT = """\
horizon: 10
assortment:
  items: items.csv
  history: history.csv
{extra}capacities:
  - {{name: warehouse, kind: storage, limit: 200, weight: volume}}
"""
CSV_SKU = """\
horizon: 10
demand: {{dist: csv, path: history.csv, sku: SKU-A{extra}}}
lead_time: 1
holding_cost: 1
shortage_cost: 4
max_order: 20
"""


def assortment(extra: str = "", items: str = "items.csv") -> str:
    return ASSORTMENT.format(extra=extra).replace("items: items.csv", f"items: {items}")


# (id, scenario text, what the message must name, a phrase of the message); the files beside it: see write_inputs
SCENARIO_CASES: list[tuple[str, str, str, str]] = [
    ("assortment-items-empty", assortment(items="''"), "assortment.items", "at least 1 character"),
    ("assortment-items-number", assortment(items="5"), "assortment.items", "valid string"),
    ("assortment-items-proc", assortment(items="/proc/self/environ"), "environ", KERNEL),
    ("assortment-items-fifo", assortment(items="fifo"), "fifo", NOT_REGULAR),
    ("assortment-items-directory", assortment(items="empty-dir"), "empty-dir", "is a directory"),
    ("assortment-items-missing", assortment(items="missing.csv"), "missing.csv", "item master not found"),
    ("assortment-items-repeated-column", assortment(items="items-repeated.csv"), "line 1", REPEATED),
    ("assortment-items-bad-row", assortment(items="items-bad-row.csv"), "line 3", "unit_cost"),
    ("assortment-items-formula-sku", assortment(items="items-formula.csv"), "line 5", "runs as a formula"),
    ("assortment-items-path-sku", assortment(items="items-path.csv"), "line 5", "not a plain name"),
    (
        "assortment-history-proc",
        ASSORTMENT.format(extra="").replace("history.csv", "/proc/self/environ"),
        "environ",
        KERNEL,
    ),
    (
        "assortment-history-repeated-column",
        ASSORTMENT.format(extra="").replace("history.csv", "history-repeated.csv"),
        "line 1",
        REPEATED,
    ),
    ("assortment-sku-not-in-history", assortment(items="items-other.csv"), "line 5", "has no rows in the history"),
    ("assortment-skus-zero", assortment("  skus: 0\n"), "assortment.skus", "greater than or equal to 1"),
    ("assortment-skus-bool", assortment("  skus: true\n"), "assortment.skus", "valid integer"),
    ("assortment-skus-text", assortment("  skus: '2'\n"), "assortment.skus", "valid integer"),
    ("assortment-skus-fraction", assortment("  skus: 1.5\n"), "assortment.skus", "valid integer"),
    ("assortment-skus-huge", assortment("  skus: 1000000000000\n"), "assortment.skus", "less than or equal"),
    ("assortment-block-huge", assortment("  block_length: 1000000000\n"), "assortment.block_length", "less than"),
    ("assortment-block-bool", assortment("  block_length: true\n"), "assortment.block_length", "valid integer"),
    ("assortment-lost-sales-number", assortment("  lost_sales: 1\n"), "assortment.lost_sales", "valid boolean"),
    ("assortment-lost-sales-text", assortment("  lost_sales: 'yes'\n"), "assortment.lost_sales", "valid boolean"),
    ("assortment-replay-unknown", assortment("  replay: sometimes\n"), "assortment.replay", "'window' or"),
    ("assortment-from-number", assortment("  history_from: 5\n"), "assortment.history_from", "YYYY-MM-DD"),
    (
        "assortment-from-time",
        assortment("  history_from: 2024-01-05 10:00:00\n"),
        "assortment.history_from",
        "YYYY-MM-DD",
    ),
    ("assortment-from-text", assortment("  history_from: yesterday\n"), "assortment.history_from", "date"),
    ("assortment-from-impossible", assortment("  history_from: 2024-13-01\n"), ".yaml", "month must be in 1..12"),
    (
        "assortment-to-before-from",
        assortment("  history_from: 2024-02-20\n  history_to: 2024-01-10\n"),
        "assortment",
        "history_to 2024-01-10 is before history_from 2024-02-20",
    ),
    ("assortment-from-after-history", assortment("  history_from: 2030-01-01\n"), "history.csv", "no days between"),
    (
        "assortment-dates-without-history",
        assortment("  history_from: 2024-01-10\n").replace("  history: history.csv\n", ""),
        "assortment",
        "they need history",
    ),
    ("assortment-unknown-key", assortment("  colour: red\n"), "assortment.colour", "unknown key"),
    ("assortment-a-list", "horizon: 10\nassortment: [1, 2]\n", "assortment", "valid dictionary"),
    ("assortment-empty", "horizon: 10\nassortment:\n", "assortment", "valid dictionary"),
    (
        "assortment-and-stock-points",
        "horizon: 10\nassortment: {items: items.csv}\nstock_points: []\n",
        "assortment",
        "not both",
    ),
    ("csv-sku-unknown", CSV_SKU.format(extra="").replace("SKU-A", "SKU-Z"), "history.csv", "no SKU 'SKU-Z'"),
    ("csv-sku-number", CSV_SKU.format(extra="").replace("SKU-A", "5"), "demand.sku", "valid string"),
    ("csv-sku-empty", CSV_SKU.format(extra="").replace("SKU-A", "''"), "demand.sku", "at least 1 character"),
    ("csv-sku-long", CSV_SKU.format(extra="").replace("SKU-A", "s" * 300), "demand.sku", "at most 200 characters"),
    (
        "csv-sku-single-history",
        CSV_SKU.format(extra="").replace("history.csv", "single.csv"),
        "single.csv",
        "no column 'sku'",
    ),
    (
        "csv-sku-repeated-column",
        CSV_SKU.format(extra="").replace("history.csv", "history-repeated.csv"),
        "line 1",
        REPEATED,
    ),
    ("csv-sku-proc", CSV_SKU.format(extra="").replace("history.csv", "/proc/self/environ"), "environ", KERNEL),
    ("csv-sku-column", CSV_SKU.format(extra=", column: sales"), "demand", "in the 'demand' column"),
    ("csv-start-number", CSV_SKU.format(extra=", start: 5"), "demand.start", "YYYY-MM-DD"),
    ("csv-start-time", CSV_SKU.format(extra=", start: 2024-01-05 10:00:00"), "demand.start", "YYYY-MM-DD"),
    ("csv-start-text", CSV_SKU.format(extra=", start: yesterday"), "demand.start", "date"),
    ("csv-start-impossible", CSV_SKU.format(extra=", start: 2024-02-30"), ".yaml", "day is out of range"),
    (
        "csv-end-before-start",
        CSV_SKU.format(extra=", start: 2024-02-10, end: 2024-01-10"),
        "demand",
        "end 2024-01-10 is before start 2024-02-10",
    ),
    ("csv-start-after-history", CSV_SKU.format(extra=", start: 2030-01-01"), "history.csv", "no days between"),
    (
        "csv-start-without-sku",
        CSV_SKU.format(extra="").replace(", sku: SKU-A", ", start: 2024-01-10"),
        "demand",
        "they need sku",
    ),
]


def write_inputs(tmp: Path) -> None:
    """The files the scenarios of SCENARIO_CASES name, beside them."""
    (tmp / "items.csv").write_text(ITEMS)
    (tmp / "items-repeated.csv").write_text(ITEMS.replace("sku,lead_time,unit_cost", "sku,lead_time,lead_time", 1))
    (tmp / "items-bad-row.csv").write_text(ITEMS.replace("SKU-B,1,5,", "SKU-B,1,-5,"))
    (tmp / "items-formula.csv").write_text(ITEMS + '"=HYPERLINK(""http://x"")",1,1,0.1,9,50,1,0,1,5\n')
    (tmp / "items-path.csv").write_text(ITEMS + "../../etc,1,1,0.1,9,50,1,0,1,5\n")
    (tmp / "items-other.csv").write_text(ITEMS + "SKU-Z,1,1,0.1,9,50,1,0,1,5\n")
    (tmp / "history.csv").write_text(history_text())
    (tmp / "history-repeated.csv").write_text(history_text().replace("promotion\n", "demand\n", 1))
    (tmp / "single.csv").write_text("demand\n3\n4\n5\n")
    (tmp / "empty-dir").mkdir()
    os.mkfifo(tmp / "fifo")


@pytest.mark.parametrize("content, named, phrase", [pytest.param(c, n, p, id=i) for i, c, n, p in SCENARIO_CASES])
def test_a_hostile_assortment_or_sku_history_is_refused_in_one_line(tmp_path, content, named, phrase):
    write_inputs(tmp_path)
    path = tmp_path / "scenario.yaml"
    path.write_text(content)
    with pytest.raises(UserError) as caught:
        load_scenario(str(path))
    text = str(caught.value)
    assert "\n" not in text and len(text) <= MAX_MESSAGE, text
    if not any(text.startswith(prefix) for prefix in (str(path), "items ", "demand history ", "/proc/", str(tmp_path))):
        raise AssertionError(f"the message names no file: {text}")
    assert named in text and phrase in text, text


def test_the_templates_of_the_scenario_cases_are_valid(tmp_path):
    write_inputs(tmp_path)
    for name, text in (("assortment", assortment()), ("sku", CSV_SKU.format(extra=", start: 2024-01-10"))):
        path = tmp_path / f"{name}.yaml"
        path.write_text(text)
        assert load_scenario(str(path)).horizon == 10


# ---------------------------------------------------------------------------------------------
# SKUs a spreadsheet would run as formulas (CSV injection): skipped naming their line, never written

FORMULAS = ['=HYPERLINK("http://evil.example","click")', "+1+cmd|' /C calc'!A0", "-2+3", "@SUM(A1:A9)", "\t=1+1"]


def write_rows(path: Path, header: list[str], rows: list[list[str]]) -> str:
    import csv

    with path.open("w", newline="") as handle:
        csv.writer(handle).writerows([header, *rows])
    return str(path)


def assert_skipped_and_not_written(err: str, source: str, out: Path, formula: str) -> None:
    shown = formula.strip()[:20]  # cells are read stripped: a leading tab is gone, the formula stays
    assert f"{source} line 3: sku '{shown}" in err and "which a spreadsheet runs as a formula" in err, err
    assert formula not in out.read_text() and "SKU-A" in out.read_text()


@pytest.mark.parametrize("formula", FORMULAS)
def test_recommend_skips_a_formula_sku(tmp_path, tmp_path_factory, capsys, formula):
    import recommend

    header = ["sku", "on_hand", "arriving_in_0", "arriving_in_1"]
    state = write_rows(tmp_path / "state.csv", header, [["SKU-A", "1", "1", "1"], [formula, "1", "1", "1"]])
    out = tmp_path / "orders.csv"
    code = recommend.main(
        ["--policy", str(artifacts(tmp_path_factory) / "policy"), "--state", state, "--out", str(out)]
    )
    assert code == 3
    assert_skipped_and_not_written(capsys.readouterr().err, state, out, formula)


@pytest.mark.parametrize("where", ["items", "state"])
def test_plan_skips_a_formula_sku(tmp_path, capsys, where):
    formula = FORMULAS[0]
    items_rows = [line.split(",") for line in ITEMS.splitlines()]
    state_rows = [line.split(",") for line in PLAN_STATE.splitlines()]
    (items_rows if where == "items" else state_rows).insert(2, [formula, *(["1"] * (len(items_rows[0]) - 1))])
    if where == "items":
        state_rows.append([formula, "1", "0"])  # the state names it too: it is skipped as unknown there
    items = write_rows(tmp_path / "items.csv", items_rows[0], items_rows[1:])
    state = write_rows(tmp_path / "state.csv", state_rows[0], state_rows[1:])
    out = tmp_path / "orders.csv"
    import plan

    assert plan.main(["--items", items, "--state", state, "--out", str(out)]) == 3
    assert_skipped_and_not_written(capsys.readouterr().err, items if where == "items" else state, out, formula)


def test_forecast_skips_the_rows_of_a_formula_sku(tmp_path, capsys):
    import forecast

    lines = history_text().splitlines()
    rows = [line.split(",") for line in lines]
    rows.insert(2, [FORMULAS[0], *rows[1][1:]])
    history = write_rows(tmp_path / "history.csv", rows[0], rows[1:])
    out = tmp_path / "forecast.csv"
    assert forecast.main(["predict", "--history", history, "--model", "moving_average", "--out", str(out)]) == 3
    err = capsys.readouterr().err
    assert "line 3" in err and "which a spreadsheet runs as a formula" in err, err
    assert FORMULAS[0] not in out.read_text() and "SKU-A" in out.read_text()
