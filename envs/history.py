"""Sales histories replayed as demand: each file read once per process, every SKU's series cut from it.

An assortment scenario makes one :class:`~envs.demand.HistoryDemand` per SKU, all on one file;
the file is read and checked once (:func:`forecasting.data.read_history`) and kept, keyed by its
path and modification time. For a scenario every row must be good: a bad row is a
:class:`~envs.errors.UserError` naming its line (a simulation on silently thinned demand would
mislead), unlike the command-line readers, which skip bad rows and exit 3.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

import numpy as np
import pandas as pd

from envs.errors import UserError


@functools.lru_cache(maxsize=4)
def _read(path: str, modified: float) -> tuple[dict[str, int], pd.Timestamp, np.ndarray]:
    from forecasting.data import read_history

    history = read_history(path, what="history")
    if history.problems:
        line, message = history.problems[0]
        raise UserError(f"history {path}: line {line}: {message} ({len(history.problems):,} bad rows)")
    panel = history.panel
    demand = np.nan_to_num(panel.demand, nan=0.0).astype(np.int64)  # before a first sale: not sold yet
    return {sku: i for i, sku in enumerate(panel.skus)}, panel.start, demand


def read_panel(path: str | Path) -> tuple[dict[str, int], pd.Timestamp, np.ndarray]:
    """The SKUs of a history (name -> row), its first date and its demand (SKUs x days, int64)."""
    path = str(Path(path).resolve())
    try:
        modified = os.stat(path).st_mtime
    except OSError:
        raise UserError(f"history {path}: file not found") from None
    return _read(path, modified)


def day_range(path: str | Path, start: str | None, end: str | None) -> slice:
    """The days of a history from ``start`` to ``end`` (ISO dates, both included; None: its ends)."""
    _, first, demand = read_panel(path)
    days = demand.shape[1]

    def day(text: str, key: str) -> int:
        try:
            return (pd.Timestamp(text) - first).days
        except ValueError:
            raise UserError(f"history {path}: {key} '{text}' is not a date (YYYY-MM-DD)") from None

    begin = 0 if start is None else day(start, "start")
    stop = days if end is None else day(end, "end") + 1
    if not 0 <= begin < stop <= days:
        last = (first + pd.Timedelta(days=days - 1)).date()
        raise UserError(f"history {path}: dates {start}..{end} are not inside the history ({first.date()}..{last})")
    return slice(begin, stop)


def history_series(path: str | Path, sku: str, start: str | None = None, end: str | None = None) -> np.ndarray:
    """One SKU's daily demand from ``start`` to ``end`` (int64)."""
    rows, _, demand = read_panel(path)
    if sku not in rows:
        raise UserError(f"history {path}: no rows for sku {sku}")
    return demand[rows[sku], day_range(path, start, end)]
