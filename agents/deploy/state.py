"""The state file of recommend.py: one row per SKU, read and checked row by row.

A bad row is left out with its line number and every problem found in it; the other rows are
still used. numpy and the csv module only (pandas takes longer to import than the rest of recommend.py).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from envs.errors import UserError
from envs.inputs import check_unique_columns, decode_text, formula_problem, read_bytes

# Largest state file: read at once (a million SKUs of a few dozen columns are well below it).
MAX_STATE_BYTES = 1 << 30
# Largest count of units in a state file: float32, the ONNX input, holds whole numbers exactly up to 2^24.
MAX_UNITS = 1 << 24


@dataclass
class StateRows:
    """The valid rows of a state file, and the problems of the rows left out.

    Attributes:
        skus: the SKU of each valid row.
        obs: float32 (n_valid, obs_dim), the observation of each valid row.
        lines: the line number of each valid row in the file.
        problems: ``(line, problem)`` of each row left out, in file order.
    """

    skus: list[str]
    obs: np.ndarray
    lines: np.ndarray
    problems: list[tuple[int, str]]


Entries = list[dict[str, Any]]


def read_state(path: str | Path, entries: Entries | Callable[[Sequence[str]], Entries]) -> StateRows:
    """Read and check a state file: a header with ``sku`` and one column per entry.

    An entry is a dict: ``name``, ``whole_number`` (it counts units), ``min`` (None: any sign) and,
    optionally, ``flag`` (true: the cells are true, false, 1 or 0, read as 1 and 0). ``entries`` may
    also be a function of the header giving them (for a state whose optional columns may be left out).

    Columns may come in any order and extra columns are ignored. A row is left out, with its
    line number and every problem found in it, when a value is missing, not a number, not a
    whole number where units are counted (or beyond :data:`MAX_UNITS`), negative where that is
    impossible, when it has the wrong number of fields, no SKU, an SKU a spreadsheet would take for a formula
    (:func:`envs.inputs.formula_problem`), or the SKU of an earlier row.
    Blank lines are skipped.

    The file is read as every input is (:func:`envs.inputs.read_bytes`): a regular file of at
    most :data:`MAX_STATE_BYTES`, not a device, FIFO or file of the kernel.

    Raises:
        UserError: if the file is missing, unreadable, not a regular file, not UTF-8, or lacks or repeats a column.
    """
    path = Path(path)
    content = decode_text(read_bytes(path, "state file", MAX_STATE_BYTES), path, "state file")
    problems: list[tuple[int, str]] = []
    lines, rows = [], []
    try:
        reader = csv.reader(io.StringIO(content, newline=""))
        header = [name.strip() for name in next(reader, [])]
        check_unique_columns(header, str(path))
        entries = entries(header) if callable(entries) else entries
        required = ["sku", *(entry["name"] for entry in entries)]
        missing = [name for name in required if name not in header]
        if missing:
            raise UserError(f"{path}: missing column(s) {', '.join(missing)} (the policy needs {','.join(required)})")
        for row in reader:
            if len(row) == len(header) and any(row):
                lines.append(reader.line_num)
                rows.append(row)
            elif any(cell.strip() for cell in row):
                problems.append((reader.line_num, f"has {len(row)} fields, the header has {len(header)}"))
    except csv.Error as error:
        raise UserError(f"{path}: not a readable CSV ({error})") from None

    columns = list(zip(*rows, strict=True)) or [()] * len(header)
    text = {name: [cell.strip() for cell in columns[header.index(name)]] for name in required}
    lines_array = np.array(lines, dtype=np.int64)
    values = np.empty((len(rows), len(entries)), dtype=np.float64)
    row_problems: dict[int, list[str]] = {}

    def flag(bad: np.ndarray, describe: Callable[[int], str]) -> None:
        for i in np.flatnonzero(bad):
            row_problems.setdefault(int(i), []).append(describe(int(i)))

    skus = text["sku"]
    blank_sku = np.array([sku == "" for sku in skus], dtype=bool)
    flag(blank_sku, lambda i: "sku: missing")
    flag(np.array([bool(formula_problem(sku)) for sku in skus], dtype=bool), lambda i: formula_problem(skus[i]))
    first_line: dict[str, int] = {}
    for sku, line in zip(skus, lines, strict=True):
        first_line.setdefault(sku, line)
    repeated = np.array([first_line[sku] != line for sku, line in zip(skus, lines, strict=True)], dtype=bool)
    flag(repeated & ~blank_sku, lambda i: f"sku {skus[i]!r} repeats line {first_line[skus[i]]}")
    for j, entry in enumerate(entries):
        values[:, j] = _checked_numbers(entry, text[entry["name"]], flag)

    valid = np.ones(len(rows), dtype=bool)
    valid[list(row_problems)] = False
    problems += [(int(lines_array[i]), "; ".join(found)) for i, found in row_problems.items()]
    problems.sort()
    return StateRows(
        skus=[sku for sku, keep in zip(skus, valid, strict=True) if keep],
        obs=values[valid].astype(np.float32),
        lines=lines_array[valid],
        problems=problems,
    )


Flag = Callable[[np.ndarray, Callable[[int], str]], None]


FLAGS = {"true": 1.0, "false": 0.0, "1": 1.0, "0": 0.0}


def _number(cell: str) -> float:
    """``cell`` as a number, NaN if it is none (a decimal or exponent number, inf or nan; not '1_000',
    which Python's float() alone would take)."""
    if "_" in cell:
        return np.nan
    try:
        return float(cell)
    except ValueError:
        return np.nan


def _checked_numbers(entry: dict[str, Any], cells: list[str], flag: Flag) -> np.ndarray:
    """The values of one column as numbers (NaN where there is none); ``flag(rows, describe)`` is given
    the rows with each problem: missing, not a (finite) number, not whole or beyond :data:`MAX_UNITS`
    where units are counted, below the entry's minimum."""
    name = entry["name"]
    blank = np.array([cell == "" for cell in cells], dtype=bool)
    flag(blank, lambda i: f"{name}: missing")
    if entry.get("flag"):
        number = np.array([FLAGS.get(cell.lower(), np.nan) for cell in cells], dtype=np.float64)
        flag(np.isnan(number) & ~blank, lambda i: f"{name}: not true, false, 1 or 0 ({cells[i]!r})")
        return number
    number = np.array([_number(cell) for cell in cells], dtype=np.float64)
    finite = np.isfinite(number)
    flag(np.isnan(number) & ~blank, lambda i: f"{name}: not a number ({cells[i]!r})")
    flag(np.isinf(number), lambda i: f"{name}: not a finite number ({cells[i]!r})")
    if entry["whole_number"]:
        flag(finite & (number != np.round(number)), lambda i: f"{name}: not a whole number ({cells[i]})")
        flag(finite & (np.abs(number) > MAX_UNITS), lambda i: f"{name}: beyond {MAX_UNITS:,} units ({cells[i]})")
    if entry["min"] is not None:
        flag(finite & (number < entry["min"]), lambda i: f"{name}: negative ({cells[i]})")
    return number
