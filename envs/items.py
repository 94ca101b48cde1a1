"""The item master: one row per SKU with its supply, costs and order rules, read and checked in chunks.

The file is a CSV (optionally compressed), one row per SKU:

- ``sku``: any text, unique (required).
- ``lead_time``: periods from order to arrival, an integer or a distribution written as
  value:probability pairs, ``1:0.2 2:0.5 3:0.3`` (required).
- ``unit_cost``: paid per unit received (required).
- ``holding_cost`` (per unit on hand per period) or ``holding_rate`` (that as a share of
  ``unit_cost``): one of them.
- ``shortage_cost`` (per unit lost, or backordered per period) or ``service_level`` (a target in
  (0, 1)): one of them.
- ``max_order``: most units in one order (required).
- ``pack_size``, ``min_order``: orders are whole packs, at least the minimum (default 1 and 0; the
  rule: :func:`envs.kernel.feasible_order`).
- ``volume``: space one unit takes in a shared storage or truck limit (default 1).
- ``fixed_order_cost``, ``price``, ``initial_on_hand``, ``overflow_cost``: as the stock point keys
  of a scenario (default 0; no overflow_cost: the limit's).
- ``demand_mean``, ``demand_variance``: demand per period, Poisson when the variance is left out or
  not above the mean, else negative binomial (needed when no history is given).

A ``service_level`` s stands for the shortage cost that makes s the critical fractile of the
newsvendor, p / (p + h) = s, i.e. p = h s / (1 - s) (Zipkin 2000, Foundations of Inventory
Management, ch. 6; for lost sales the usual approximation). An empty cell is a column left out
for that row. A bad row (a missing or non-numeric value, a negative cost, a service level outside
(0, 1), both or neither of a pair, a max_order below the smallest order its pack and minimum
allow, a repeated SKU, an SKU a spreadsheet would take for a formula) is reported with its line
number; a missing column is one :class:`~envs.errors.UserError`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from envs.errors import UserError
from envs.inputs import MAX_TABLE_BYTES, check_input_file, check_unique_columns, csv_header, formula_problem

REQUIRED = ("sku", "lead_time", "unit_cost", "max_order")
EITHER = (("holding_cost", "holding_rate"), ("shortage_cost", "service_level"))
OPTIONAL_DEFAULTS = {
    "pack_size": 1.0,
    "min_order": 0.0,
    "volume": 1.0,
    "fixed_order_cost": 0.0,
    "price": 0.0,
    "initial_on_hand": 0.0,
    "overflow_cost": np.nan,
    "demand_mean": np.nan,
    "demand_variance": np.nan,
}
INTEGER_COLUMNS = ("max_order", "pack_size", "min_order", "initial_on_hand")
# Largest integer accepted in a quantity column: far above any real order, far below int64 overflow.
MAX_UNITS = 10**12


@dataclass
class Items:
    """Checked item rows as arrays (one entry per good row, in file order).

    ``lead_values``/``lead_probs`` hold the distribution of each row whose lead time is not a plain
    integer (else None); ``lead_mean``/``lead_variance`` are its mean and variance for every row.
    """

    skus: np.ndarray  # object
    lines: np.ndarray  # int64: line numbers in the file (the header is line 1)
    lead_mean: np.ndarray
    lead_variance: np.ndarray
    lead_values: list[tuple[int, ...] | None]
    lead_probs: list[tuple[float, ...] | None]
    unit_cost: np.ndarray
    holding_cost: np.ndarray
    shortage_cost: np.ndarray
    max_order: np.ndarray  # int64
    pack_size: np.ndarray  # int64
    min_order: np.ndarray  # int64
    volume: np.ndarray
    fixed_order_cost: np.ndarray
    price: np.ndarray
    initial_on_hand: np.ndarray  # int64
    overflow_cost: np.ndarray  # NaN: none given
    demand_mean: np.ndarray  # NaN: none given
    demand_variance: np.ndarray  # NaN: none given

    def __len__(self) -> int:
        return len(self.skus)

    def select(self, rows: np.ndarray | slice) -> Items:
        """The rows ``rows`` (a boolean mask, indices or a slice)."""
        picked = np.arange(len(self))[rows]
        fields: dict[str, Any] = {}
        for name in self.__dataclass_fields__:
            value = getattr(self, name)
            fields[name] = [value[i] for i in picked] if isinstance(value, list) else value[picked]
        return Items(**fields)

    @staticmethod
    def concat(chunks: list[Items]) -> Items:
        """The rows of several chunks, in order."""
        fields: dict[str, Any] = {}
        for name in Items.__dataclass_fields__:
            values = [getattr(chunk, name) for chunk in chunks]
            fields[name] = (
                [v for part in values for v in part] if isinstance(values[0], list) else np.concatenate(values)
            )
        return Items(**fields)

    @property
    def max_lead_time(self) -> np.ndarray:
        """The longest lead time of each row (int64)."""
        return np.array(
            [int(self.lead_mean[i]) if v is None else max(v) for i, v in enumerate(self.lead_values)], dtype=np.int64
        )

    def lead_time(self, row: int) -> int | dict:
        """Row ``row``'s lead time as a scenario key: an integer or ``{values, probs}``."""
        values = self.lead_values[row]
        if values is None:
            return int(self.lead_mean[row])
        return {"values": list(values), "probs": list(self.lead_probs[row] or ())}


def check_columns(columns: list[str], path: Path | str, what: str, need_demand: bool) -> None:
    """A :class:`UserError` naming the first required column that is missing."""
    for column in REQUIRED:
        if column not in columns:
            raise UserError(f"{what} {path}: no column '{column}' (columns: {', '.join(columns)})")
    for pair in EITHER:
        if not any(column in columns for column in pair):
            raise UserError(f"{what} {path}: no column '{pair[0]}' or '{pair[1]}' (columns: {', '.join(columns)})")
    if need_demand and "demand_mean" not in columns:
        raise UserError(f"{what} {path}: no column 'demand_mean' and no demand history to take demand from")


def parse_lead_time(text: str) -> tuple[tuple[int, ...], tuple[float, ...]]:
    """``"1:0.2 2:0.8"`` as ((1, 2), (0.2, 0.8)); ValueError with the reason if it is not one."""
    values, probs = [], []
    for pair in text.replace(";", " ").split():
        value, _, prob = pair.partition(":")
        if not value.strip().isdigit() or not prob:
            raise ValueError(f"lead_time '{text}' is not an integer or value:probability pairs")
        values.append(int(value))
        probs.append(float(prob))
    if not values or min(probs) < 0 or abs(sum(probs) - 1) > 1e-6 or len(set(values)) != len(values):
        raise ValueError(f"lead_time '{text}': probabilities must be >= 0 and sum to 1, values distinct")
    return tuple(values), tuple(p / sum(probs) for p in probs)


def stripped(cells: pd.Series) -> pd.Series:
    """Text cells without surrounding white space (other cells as they are).

    Not ``cells.str.strip()``: pandas' ``.str`` accessor and its Series refer to each other, a
    reference cycle that keeps the Series, and with it the chunk's whole block of text, alive until
    Python's cyclic garbage collector happens to run: hundreds of MB held over a large file read in
    chunks.
    """
    return pd.Series([v.strip() if isinstance(v, str) else v for v in cells.to_numpy()], index=cells.index,
                     dtype=object)  # fmt: skip


def text_numbers(cells: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Numbers from a column read as text: the values (NaN where a cell is empty or not a number) and
    a mask of the empty cells (blank after stripping white space).

    pandas parses the column as it is (surrounding spaces and tabs are accepted); only the cells it
    could not read are stripped and read again, so that a clean column is never copied as stripped
    Python strings (an object array of a million cells costs seconds and tens of MB).
    """
    values = pd.to_numeric(cells, errors="coerce").to_numpy(dtype=float)
    empty = np.zeros(len(values), dtype=bool)
    unread = np.flatnonzero(np.isnan(values))
    if len(unread):
        text = stripped(cells.iloc[unread])
        empty[unread] = (text == "").to_numpy()
        values[unread] = pd.to_numeric(text, errors="coerce").to_numpy(dtype=float)
    return values, empty


def parse_items(frame: pd.DataFrame, first_line: int) -> tuple[Items, list[tuple[int, str]]]:
    """Check rows of an item master read as text (``dtype=str``); return the good rows and every problem.

    Args:
        frame: the rows, every cell a string ('' for empty).
        first_line: the line number of the first row in the file.
    """
    n = len(frame)
    lines = np.arange(first_line, first_line + n, dtype=np.int64)
    bad = np.zeros(n, dtype=bool)
    problems: list[tuple[int, str]] = []

    def report(mask: np.ndarray, message) -> None:
        new = np.asarray(mask, dtype=bool) & ~bad
        for row in np.flatnonzero(new):
            problems.append((int(lines[row]), message(row)))
        bad[new] = True

    def cell(column: str, row: int) -> str:
        return str(frame[column].iloc[row]).strip() if column in frame.columns else ""

    def number(column: str) -> tuple[np.ndarray, np.ndarray]:
        """The column's values (NaN: empty or not a number) and its empty cells (a missing column: all)."""
        if column not in frame.columns:
            return np.full(n, np.nan), np.ones(n, dtype=bool)
        return text_numbers(frame[column])

    def not_a_number(column: str) -> Callable[[int], str]:
        return lambda row: f"{column} '{cell(column, row)}' is not a number"

    sku = stripped(frame["sku"]) if "sku" in frame.columns else pd.Series([""] * n, index=frame.index)
    report((sku == "").to_numpy(), lambda row: "sku is empty")
    report(np.array([bool(formula_problem(s)) for s in sku], dtype=bool), lambda row: formula_problem(sku.iloc[row]))
    values: dict[str, np.ndarray] = {}
    for column in ("unit_cost", "max_order"):
        values[column], _ = number(column)
        report(~np.isfinite(values[column]), not_a_number(column))
    for column, default in OPTIONAL_DEFAULTS.items():
        values[column], empty = number(column)
        report(~empty & ~np.isfinite(values[column]), not_a_number(column))
        values[column] = np.where(empty, default, values[column])
    for first, second in EITHER:
        (values[first], empty_a), (values[second], empty_b) = number(first), number(second)
        report(~empty_a & ~empty_b, lambda row, f=first, s=second: f"give {f} or {s}, not both")
        report(empty_a & empty_b, lambda row, f=first, s=second: f"no {f} and no {s}")
        for column, empty in ((first, empty_a), (second, empty_b)):
            report(~empty & ~np.isfinite(values[column]), not_a_number(column))
    for column in ("unit_cost", "holding_cost", "holding_rate", "shortage_cost", "volume", "fixed_order_cost",
                   "price", "overflow_cost", "demand_mean", "demand_variance", *INTEGER_COLUMNS):  # fmt: skip
        report(values[column] < 0, lambda row, c=column: f"{c} {values[c][row]:g} is negative")
    for column in INTEGER_COLUMNS:
        v = values[column]
        report(
            (v != np.round(v)) | (v > MAX_UNITS), lambda row, c=column: f"{c} {values[c][row]:g} is not a whole number"
        )
    report(values["max_order"] < 1, lambda row: "max_order must be at least 1")
    report(values["pack_size"] < 1, lambda row: "pack_size must be at least 1")
    report(values["volume"] == 0, lambda row: "volume must be positive")
    level = values["service_level"]
    report((level <= 0) | (level >= 1), lambda row: f"service_level {level[row]:g} is not inside (0, 1)")
    pack = np.maximum(values["pack_size"], 1)
    smallest = np.ceil(np.maximum(values["min_order"], 1) / pack) * pack
    report(
        smallest > values["max_order"],
        lambda row: (
            f"max_order {values['max_order'][row]:g} is below the smallest order its pack_size and "
            f"min_order allow ({smallest[row]:g})"
        ),
    )
    report(
        np.isfinite(values["demand_variance"]) & ~np.isfinite(values["demand_mean"]),
        lambda row: "demand_variance without demand_mean",
    )
    # lead times: integers read as numbers, anything else parsed as a distribution
    lead, _ = number("lead_time")
    integral = np.isfinite(lead) & (lead == np.round(lead)) & (lead >= 0) & (lead <= 10_000)
    lead_values: list[tuple[int, ...] | None] = [None] * n
    lead_probs: list[tuple[float, ...] | None] = [None] * n
    lead_mean, lead_variance = np.where(integral, lead, 0.0), np.zeros(n)
    lead_text = frame["lead_time"].to_numpy(dtype=object) if "lead_time" in frame.columns else np.full(n, "")
    for row in np.flatnonzero(~integral & ~bad):
        try:
            dist_values, dist_probs = parse_lead_time(str(lead_text[row]).strip())
        except ValueError as error:
            problems.append((int(lines[row]), str(error)))
            bad[row] = True
            continue
        lead_values[row], lead_probs[row] = dist_values, dist_probs
        v, p = np.array(dist_values, dtype=float), np.array(dist_probs)
        lead_mean[row], lead_variance[row] = v @ p, (v**2) @ p - (v @ p) ** 2
    # a SKU seen twice: the first is kept
    repeated = np.zeros(n, dtype=bool)
    repeated[~bad] = sku[~bad].duplicated().to_numpy()
    report(repeated, lambda row: f"repeats sku {sku.iloc[row]}")
    problems.sort()
    good = ~bad
    holding = np.where(
        np.isfinite(values["holding_cost"]), values["holding_cost"], values["holding_rate"] * values["unit_cost"]
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        from_service = holding * level / (1 - level)
    shortage = np.where(np.isfinite(values["shortage_cost"]), values["shortage_cost"], from_service)
    keep = np.flatnonzero(good)
    items = Items(
        skus=sku.to_numpy(dtype=object)[good],
        lines=lines[good],
        lead_mean=lead_mean[good],
        lead_variance=lead_variance[good],
        lead_values=[lead_values[i] for i in keep],
        lead_probs=[lead_probs[i] for i in keep],
        unit_cost=values["unit_cost"][good],
        holding_cost=holding[good],
        shortage_cost=shortage[good],
        max_order=values["max_order"][good].astype(np.int64),
        pack_size=values["pack_size"][good].astype(np.int64),
        min_order=values["min_order"][good].astype(np.int64),
        volume=values["volume"][good],
        fixed_order_cost=values["fixed_order_cost"][good],
        price=values["price"][good],
        initial_on_hand=values["initial_on_hand"][good].astype(np.int64),
        overflow_cost=values["overflow_cost"][good],
        demand_mean=values["demand_mean"][good],
        demand_variance=values["demand_variance"][good],
    )
    return items, problems


def _open_checked(path: Path, what: str) -> None:
    check_input_file(path, "item master", MAX_TABLE_BYTES)  # a regular file: not a FIFO, a device or /proc
    with open(path, "rb") as handle:
        head = handle.read(4096)
    if b"\x00" in head and not head.startswith(b"\x1f\x8b"):
        raise UserError(f"{what} {path}: is a binary file, not a CSV")


def item_chunks(
    path: str | Path, chunk_rows: int = 200_000, what: str = "--items", need_demand: bool = False
) -> Iterator[tuple[Items, list[tuple[int, str]]]]:
    """The item master in chunks of ``chunk_rows`` rows: the good rows of each and its problems.

    Raises:
        UserError: no such file, or not a regular file (a directory, device, FIFO or kernel file);
            binary, empty or unreadable; a required column missing or a column repeated.
    """
    path = Path(path)
    _open_checked(path, what)
    try:
        reader = pd.read_csv(path, dtype=str, keep_default_na=False, skip_blank_lines=False, chunksize=chunk_rows)
        line = 2
        for number, frame in enumerate(reader):
            frame.columns = [str(column).strip() for column in frame.columns]
            if number == 0:
                check_unique_columns(csv_header(path), f"{what} {path}")
                check_columns(list(frame.columns), path, what, need_demand)
            yield parse_items(frame, line)
            line += len(frame)
    except pd.errors.EmptyDataError:
        raise UserError(f"{what} {path}: is empty") from None
    except (pd.errors.ParserError, UnicodeDecodeError, OSError, EOFError, ValueError) as error:
        raise UserError(f"{what} {path}: not a readable CSV ({str(error).splitlines()[0]})") from None


def read_items(path: str | Path, what: str = "items", need_demand: bool = False) -> tuple[Items, list[tuple[int, str]]]:
    """The whole item master (see :func:`item_chunks`); a file with no good row is a :class:`UserError`."""
    parts = list(item_chunks(path, what=what, need_demand=need_demand))
    if not parts:
        raise UserError(f"{what} {path}: has a header but no rows")
    problems = [problem for _, chunk_problems in parts for problem in chunk_problems]
    merged = Items.concat([items for items, _ in parts])
    repeated = pd.Series(merged.skus).duplicated().to_numpy()  # across chunks
    if repeated.any():
        problems += [(int(merged.lines[row]), f"repeats sku {merged.skus[row]}") for row in np.flatnonzero(repeated)]
        merged = merged.select(~repeated)
    if len(merged) == 0:
        raise UserError(f"{what} {path}: no valid row ({len(problems):,} rows skipped)")
    return merged, sorted(problems)
