"""Demand histories: reading and checking a long-format CSV, and the panel every forecaster works on.

The file format (one row per SKU and day, any order)::

    sku,date,demand,price,promotion,holiday,temperature
    A-1,2024-01-01,12,2.49,0,1,3.5

- ``sku``: any text; ``date``: ISO dates (YYYY-MM-DD), daily; ``demand``: an integer >= 0.
- Every other column is a numeric *signal*. Signals named as *known* (``known=("price",
  "promotion")``, the CLI's ``--known``) are known in advance: their future values are given at
  forecast time and forecasters use them at the date they forecast. The others are observed only
  in the past and used only lagged.
- Bad rows (an unparseable date, a negative, fractional or non-numeric demand, a repeated (sku,
  date), a non-numeric signal, a blank line) are all reported with their line number and
  skipped. A missing column, an empty, unparseable or binary file is one :class:`UserError`.
- Gaps: a day missing between an SKU's first row and the last date of the file counts as zero
  demand, its signals carried forward from the SKU's previous day (point-of-sale extracts leave
  out days without sales). A skipped bad row leaves such a gap. Before its first row an SKU is
  not yet sold (a new item): its demand there is NaN, and forecasters see a shorter history.

A :class:`Panel` holds n series on one daily calendar as arrays: demand (n, T) and signals
(n, T', F) with T' >= T, so that known signals can run past the last demand (the future).
"""

from __future__ import annotations

import dataclasses
import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from envs.errors import UserError
from envs.inputs import check_unique_columns, csv_header, formula_problem, read_bytes

MAX_HISTORY_BYTES = 1 << 30  # a sales history file (compressed or not)
Compression = Literal["gzip", "zip", "bz2", "xz", "zstd"]
COMPRESSION: dict[str, Compression] = {".gz": "gzip", ".zip": "zip", ".bz2": "bz2", ".xz": "xz", ".zst": "zstd"}

REQUIRED = ("sku", "date", "demand")
FREQ = "D"


@dataclass(frozen=True)
class Panel:
    """n demand series on one daily calendar, with their signals.

    Attributes:
        skus: the n series names.
        start: the date of period 0.
        demand: (n, T) float array; NaN before a series' first day (not yet sold).
        signals: (n, T', F) float array, T' >= T; known signals may run past T (their future).
            Observed-only signals past T are NaN once the panel is cut at a forecast origin.
        signal_names: the F signal names.
        known: the names of the signals known in advance (a subset of ``signal_names``).
    """

    skus: tuple[str, ...]
    start: pd.Timestamp
    demand: np.ndarray
    signals: np.ndarray
    signal_names: tuple[str, ...] = ()
    known: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        n, periods = self.demand.shape
        if (
            self.signals.shape[0] != n
            or self.signals.shape[1] < periods
            or self.signals.shape[2] != len(self.signal_names)
        ):
            raise ValueError(f"signals {self.signals.shape} do not fit demand {self.demand.shape}")
        unknown = set(self.known) - set(self.signal_names)
        if unknown:
            raise ValueError(f"known signals {sorted(unknown)} are not among {self.signal_names}")

    @property
    def n(self) -> int:
        return int(self.demand.shape[0])

    @property
    def periods(self) -> int:
        return int(self.demand.shape[1])

    @property
    def known_mask(self) -> np.ndarray:
        """(F,) bool: which signals are known in advance."""
        return np.array([name in self.known for name in self.signal_names], dtype=bool)

    def dates(self, periods: int | None = None) -> pd.DatetimeIndex:
        return pd.date_range(self.start, periods=self.periods if periods is None else periods, freq=FREQ)

    def first_day(self) -> np.ndarray:
        """(n,) int: the period of each series' first observed demand (T if it has none)."""
        observed = ~np.isnan(self.demand)
        return np.where(observed.any(axis=1), observed.argmax(axis=1), self.periods)

    def cut(self, origin: int, horizon: int = 0) -> Panel:
        """What a forecaster may see at ``origin``: demand before it, known signals until origin + horizon.

        Observed-only signals at or after ``origin`` are NaN. Known signals past the end of the
        panel are carried forward from its last period (the caller gave no later values).
        """
        if not 0 < origin <= self.periods:
            raise ValueError(f"origin {origin} outside 1..{self.periods}")
        end = origin + horizon
        signals = self.signals[:, : min(end, self.signals.shape[1])]
        if signals.shape[1] < end:
            pad = np.repeat(signals[:, -1:], end - signals.shape[1], axis=1)
            signals = np.concatenate([signals, pad], axis=1)
        signals = signals.copy()
        signals[:, origin:, ~self.known_mask] = np.nan
        return dataclasses.replace(self, demand=self.demand[:, :origin], signals=signals)

    def select(self, rows: np.ndarray | Sequence[int]) -> Panel:
        rows = np.asarray(rows)
        return dataclasses.replace(
            self,
            skus=tuple(self.skus[i] for i in rows),
            demand=self.demand[rows],
            signals=self.signals[rows],
        )

    @classmethod
    def from_arrays(
        cls,
        demand: np.ndarray,
        signals: np.ndarray | None = None,
        signal_names: Sequence[str] = (),
        known: Sequence[str] = (),
        start: str | pd.Timestamp = "2024-01-01",
        skus: Sequence[str] | None = None,
    ) -> Panel:
        """A panel from arrays: demand (n, T) and signals (n, T' >= T, F) or None."""
        demand = np.asarray(demand, dtype=float)
        if demand.ndim != 2:
            raise ValueError(f"demand must be (n, T), got shape {demand.shape}")
        n, periods = demand.shape
        signals = np.zeros((n, periods, 0)) if signals is None else np.asarray(signals, dtype=float)
        names = tuple(skus) if skus is not None else tuple(str(i) for i in range(n))
        return cls(names, pd.Timestamp(start), demand, signals, tuple(signal_names), tuple(known))

    def to_frame(self) -> pd.DataFrame:
        """The long format (sku, date, demand, signals...), without the days before each first sale."""
        n, periods = self.demand.shape
        frame = pd.DataFrame(
            {
                "sku": np.repeat(np.array(self.skus, dtype=object), periods),
                "date": np.tile(self.dates(), n),
                "demand": self.demand.reshape(-1),
            }
        )
        for j, name in enumerate(self.signal_names):
            frame[name] = self.signals[:, :periods, j].reshape(-1)
        frame = frame[~np.isnan(frame["demand"].to_numpy())].reset_index(drop=True)
        frame["demand"] = frame["demand"].astype(np.int64)
        return frame


@dataclass(frozen=True)
class History:
    """A demand history read from a file: the panel, and what was skipped or filled on the way."""

    panel: Panel
    rows: int
    problems: list[tuple[int, str]]
    filled_days: int


def _read_table(path: Path, what: str) -> pd.DataFrame:
    """The CSV file ``path`` (compressed by its extension) as strings, read as
    :func:`envs.inputs.read_bytes` reads any input: a regular file of bounded size, never a
    device, FIFO or kernel pseudo-file."""
    data = read_bytes(path, what, MAX_HISTORY_BYTES)
    compression = COMPRESSION.get(path.suffix.lower())
    if compression is None and b"\x00" in data[:4096]:
        raise UserError(f"{what} {path}: is a binary file, not a CSV")
    try:
        # blank lines are kept (and reported) so that line numbers stay true
        frame = pd.read_csv(
            io.BytesIO(data), dtype=str, keep_default_na=False, skip_blank_lines=False, compression=compression
        )
    except pd.errors.EmptyDataError:
        raise UserError(f"{what} {path}: is empty") from None
    except (pd.errors.ParserError, UnicodeDecodeError, OSError, EOFError, ValueError) as error:
        raise UserError(f"{what} {path}: not a readable CSV ({str(error).splitlines()[0]})") from None
    check_unique_columns(csv_header(io.BytesIO(data), compression), f"{what} {path}")
    frame.columns = [str(column).strip() for column in frame.columns]
    return frame


def _check_rows(frame: pd.DataFrame, value_columns: Sequence[str], with_demand: bool) -> tuple[pd.DataFrame, list]:
    """Parse the columns; return the good rows (typed) and every problem as (line, message)."""
    lines = frame.index.to_numpy() + 2
    problems: list[tuple[int, str]] = []
    bad = np.zeros(len(frame), dtype=bool)

    def report(mask: np.ndarray, message) -> None:
        nonlocal bad
        new = mask & ~bad
        for row in np.flatnonzero(new):
            problems.append((int(lines[row]), message(row)))
        bad |= new

    cells = frame.to_numpy(dtype=object)
    blank = np.array([all(str(cell).strip() == "" for cell in row) for row in cells]) if len(frame) else bad
    report(blank, lambda row: "blank line")
    sku = frame["sku"].str.strip()
    report((sku == "").to_numpy(), lambda row: "sku is empty")
    report(np.array([bool(formula_problem(s)) for s in sku], dtype=bool), lambda row: formula_problem(sku.iloc[row]))
    raw_date = frame["date"].str.strip()
    date = pd.to_datetime(raw_date, format="ISO8601", errors="coerce")
    report(date.isna().to_numpy(), lambda row: f"date '{raw_date.iloc[row]}' is not a date (YYYY-MM-DD)")
    values = {}
    for column in value_columns:
        raw = frame[column].str.strip()
        number = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=float)
        values[column] = number
        if with_demand and column == "demand":
            report(~np.isfinite(number), lambda row, raw=raw: f"demand '{raw.iloc[row]}' is not a number")
            report(number < 0, lambda row, raw=raw: f"demand '{raw.iloc[row]}' is negative")
            report(number != np.round(number), lambda row, raw=raw: f"demand '{raw.iloc[row]}' is not a whole number")
        else:
            report(
                ~np.isfinite(number),
                lambda row, raw=raw, column=column: f"{column} '{raw.iloc[row]}' is not a finite number",
            )
    # only well-formed rows can be duplicates; the first of a repeated (sku, date) is kept
    good = pd.DataFrame({"sku": sku, "date": date.dt.normalize(), **values})
    duplicate = np.zeros(len(good), dtype=bool)
    duplicate[~bad] = good[~bad].duplicated(["sku", "date"]).to_numpy()
    first_line = good.assign(line=lines)[~bad].drop_duplicates(["sku", "date"]).set_index(["sku", "date"])
    report(
        duplicate,
        lambda row: (
            f"repeats sku {sku.iloc[row]} on {raw_date.iloc[row]} "
            f"(first on line {first_line.loc[(sku.iloc[row], good['date'].iloc[row]), 'line']})"
        ),
    )
    problems.sort()
    return good[~bad].reset_index(drop=True), problems


def read_history(path: str | Path, known: Sequence[str] = (), what: str = "history") -> History:
    """Read a long-format demand history (see the module docstring) into a :class:`Panel`.

    Args:
        path: a CSV file, optionally compressed (``.gz``, ``.zip``... by its extension).
        known: the signal columns known in advance.
        what: how the file was given, for messages.

    Returns:
        The panel from the first date in the file to the last, with every bad row listed in
        ``problems`` as (line number, reason) and skipped, and the number of gap days filled.

    Raises:
        UserError: no such file; empty, binary or unparseable; a required or known column missing;
            no valid row.
    """
    path = Path(path)
    frame = _read_table(path, what)
    for column in REQUIRED:
        if column not in frame.columns:
            raise UserError(f"{what} {path}: no column '{column}' (columns: {', '.join(frame.columns)})")
    signal_names = [column for column in frame.columns if column not in REQUIRED]
    for name in known:
        if name not in signal_names:
            raise UserError(
                f"{what} {path}: known signal '{name}' is not a column (signals: {', '.join(signal_names)})"
            )
    if frame.empty:
        raise UserError(f"{what} {path}: has a header but no rows")
    good, problems = _check_rows(frame, ["demand", *signal_names], with_demand=True)
    if good.empty:
        raise UserError(f"{what} {path}: no valid row ({len(problems):,} rows skipped)")
    panel, filled = _to_panel(good, signal_names, tuple(known))
    return History(panel, len(frame), problems, filled)


def _to_panel(good: pd.DataFrame, signal_names: Sequence[str], known: tuple[str, ...]) -> tuple[Panel, int]:
    skus = sorted(good["sku"].unique())
    start, end = good["date"].min(), good["date"].max()
    periods = (end - start).days + 1
    row = good["sku"].map({sku: i for i, sku in enumerate(skus)}).to_numpy()
    col = ((good["date"] - start).dt.days).to_numpy()
    demand = np.full((len(skus), periods), np.nan)
    demand[row, col] = good["demand"].to_numpy()
    signals = np.full((len(skus), periods, len(signal_names)), np.nan)
    for j, name in enumerate(signal_names):
        signals[row, col, j] = good[name].to_numpy()
    first = np.full(len(skus), periods)
    np.minimum.at(first, row, col)
    after_first = np.arange(periods)[None, :] >= first[:, None]
    gaps = after_first & np.isnan(demand)
    demand[gaps] = 0.0
    signals = _carry_forward(signals)
    # before an item's first day its signals are unknown; a forecaster never reads them, keep them finite
    signals = np.where(np.isnan(signals), _first_valid(signals), signals)
    panel = Panel(tuple(str(s) for s in skus), pd.Timestamp(start), demand, signals, tuple(signal_names), known)
    return panel, int(gaps.sum())


def _carry_forward(values: np.ndarray) -> np.ndarray:
    """Fill NaN along axis 1 with the last earlier finite value (per series and signal)."""
    periods = values.shape[1]
    index = np.where(np.isnan(values), 0, np.arange(periods)[None, :, None])
    np.maximum.accumulate(index, axis=1, out=index)
    return np.take_along_axis(values, index, axis=1)


def _first_valid(values: np.ndarray) -> np.ndarray:
    finite = ~np.isnan(values)
    first = np.where(finite.any(axis=1), finite.argmax(axis=1), 0)
    fill = np.take_along_axis(values, first[:, None, :], axis=1)
    return np.nan_to_num(fill, nan=0.0)


def read_future(path: str | Path, panel: Panel, horizon: int, what: str = "--future") -> Panel:
    """Extend the known signals of ``panel`` by ``horizon`` days from a long-format file.

    The file has ``sku``, ``date`` and one column per known signal, for the ``horizon`` days after
    the last date of the history. Bad rows are refused (one line naming the first): a forecast
    made on a guessed promotion is worse than none.

    Raises:
        UserError: missing file, column, SKU or day, or a bad value.
    """
    path = Path(path)
    frame = _read_table(path, what)
    for column in ("sku", "date", *panel.known):
        if column not in frame.columns:
            raise UserError(f"{what} {path}: no column '{column}' (columns: {', '.join(frame.columns)})")
    good, problems = _check_rows(frame, list(panel.known), with_demand=False)
    if problems:
        line, message = problems[0]
        raise UserError(f"{what} {path}: line {line}: {message} ({len(problems)} bad rows)")
    days = pd.date_range(panel.start + pd.Timedelta(days=panel.periods), periods=horizon, freq=FREQ)
    good = good[good["date"].isin(days)]
    index = pd.MultiIndex.from_product([panel.skus, days], names=["sku", "date"])
    table = good.set_index(["sku", "date"]).reindex(index)
    missing = table[list(panel.known)].isna().any(axis=1)
    if missing.any():
        sku, date = missing[missing].index[0]
        raise UserError(
            f"{what} {path}: no known signals for sku {sku} on {date.date()} "
            f"({int(missing.sum()):,} of {len(index):,} sku-days missing; the forecast needs {horizon} days)"
        )
    future = np.zeros((panel.n, horizon, len(panel.signal_names)))
    for j, name in enumerate(panel.signal_names):
        if name in panel.known:
            future[:, :, j] = table[name].to_numpy().reshape(panel.n, horizon)
        else:
            future[:, :, j] = np.nan
    signals = np.concatenate([panel.signals[:, : panel.periods], future], axis=1)
    return dataclasses.replace(panel, signals=signals)


def describe_problems(problems: list[tuple[int, str]], path: str | Path, rows: int) -> list[str]:
    """Lines for stderr: every skipped row with its line number, then how many in all."""
    lines = [f"skipped {path} line {line}: {message}" for line, message in problems]
    if problems:
        lines.append(f"{path}: {len(problems):,} of {rows:,} rows skipped; their days count as gaps (zero demand)")
    return lines


def forecast_frame(
    panel: Panel, mean: np.ndarray, quantiles: np.ndarray, levels: Sequence[float], model: str
) -> pd.DataFrame:
    """The forecast file: one row per SKU and day ahead.

    Columns: ``sku``, ``cutoff`` (the last day of history), ``date`` (the day forecast), ``step``
    (1 = the day after the cutoff), ``model``, ``mean``, then one column per quantile level named
    ``q0.05``, ``q0.5``, ... (units of demand, >= 0).
    """
    n, horizon = mean.shape
    cutoff = panel.start + pd.Timedelta(days=panel.periods - 1)
    dates = pd.date_range(cutoff + pd.Timedelta(days=1), periods=horizon, freq=FREQ)
    frame = pd.DataFrame(
        {
            "sku": np.repeat(np.array(panel.skus, dtype=object), horizon),
            "cutoff": cutoff.strftime("%Y-%m-%d"),
            "date": np.tile(dates.strftime("%Y-%m-%d"), n),
            "step": np.tile(np.arange(1, horizon + 1), n),
            "model": model,
            "mean": mean.reshape(-1),
        }
    )
    for q, level in enumerate(levels):
        frame[f"q{level:g}"] = quantiles[:, :, q].reshape(-1)
    return frame
