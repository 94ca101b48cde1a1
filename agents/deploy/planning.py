"""Purchase orders for a whole assortment under a shared limit, streamed in chunks (what plan.py runs).

The inputs are the item master (:mod:`envs.items`), a state file (one row per SKU: ``sku``,
``on_hand``, and optionally ``on_order``, the units ordered and not yet received, and
``backlog``) and the demand per period of every SKU (the item master's ``demand_mean`` and
``demand_variance``, or forecasts from a sales history). Every SKU gets a classic rule:

- ``order_up_to``: order up to S, the critical-fractile quantile of demand over the protection
  interval (the lead time and this period): mean mu (L + 1), variance sigma^2 (L + 1) + mu^2 Var(L)
  for a stochastic lead time (Silver, Pyke and Thomas 2017, ch. 6), from a two-moment gamma fit
  (:func:`forecasting.order_up_to.gamma_levels`), at the fractile p / (p + h + lambda v);
- ``s_S``: when the inventory position is at or below that quantile s, order up to s + the EOQ
  sqrt(2 K mu / (h + 2 lambda v)) (Harris 1913; Hadley and Whitin 1963, sec. 2.7).

lambda (``--price``) is the price of a unit of capacity per period, as searched by simulation in
:mod:`agents.classic.assortment`. Each wish is rounded to packs and minimums and the shared limit
cut exactly as the simulation does (:func:`envs.kernel.limit_orders`, one system whose members are
all the SKUs): ``orders`` limits the weighted orders (a budget, a truck); ``storage`` the weighted
stock expected when the orders arrive, each SKU's on hand + on order - backlog - its mean demand
over the lead time (at least 0), plus its order.

A shared limit couples all SKUs, so the state file is read twice: the first pass computes every
SKU's wish and weight and keeps only numbers (about 60 bytes per SKU); the limit is shared; the
second pass reads the SKU names again and writes the lines, chunk by chunk, into a temporary file
renamed into place at the end (:func:`envs.files.atomic_write`). SKUs are matched between the
files by a 64-bit hash of their names (pandas' hash_array), so no table of names is kept.

The first pass's chunks are independent units (:func:`wishes`): plan.py runs them one at a time in
this process, or with ``--ray`` on Ray workers (:mod:`envs.distributed`), the item table sent to
the workers once; the share and the lines stay in the driving process (the share couples every SKU).
"""

from __future__ import annotations

import contextlib
import csv
import ctypes
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from envs.distributed import Workers
from envs.errors import UserError
from envs.inputs import MAX_TABLE_BYTES, check_input_file, check_unique_columns, csv_header, formula_problem
from envs.items import item_chunks, stripped, text_numbers
from envs.kernel import ORDER_LIMIT, SHARE_BY_VALUE, SHARE_PROPORTIONAL, limit_orders
from forecasting.order_up_to import gamma_levels

POLICIES = ("order_up_to", "s_S")
STATE_REQUIRED = ("sku", "on_hand")
STATE_OPTIONAL = ("on_order", "backlog")
MAX_UNITS = 10**12
COLUMNS = ("sku", "order_quantity", "wanted_quantity", "inventory_position", "reorder_level", "order_up_to_level",
           "mean_demand", "lead_time", "cut_by_limit", "explanation")  # fmt: skip


@dataclass(frozen=True)
class Limit:
    """A shared limit for the plan: ``kind`` orders or storage, its ``limit``, ``weight`` and ``rule``."""

    limit: float
    kind: str = "storage"
    weight: str = "volume"
    rule: str = "proportional"

    @property
    def description(self) -> str:
        return "the warehouse limit" if self.kind == "storage" else "the order limit"


def return_freed_arrays_to_the_system() -> None:
    """Have glibc give the memory of every freed array above 128 KiB back to the system at once.

    By default glibc raises its mmap threshold to the size of the largest block freed so far (up
    to 32 MiB), so once the first chunk's arrays are freed, later arrays of a few MB come from the
    heap and stay in the process's resident memory after they are freed: at 1,000,000 SKUs about
    60 MB of the peak. A fixed threshold (``mallopt(M_MMAP_THRESHOLD)``) keeps them mapped
    separately. Elsewhere than glibc (no ``mallopt``) this does nothing.
    """
    m_mmap_threshold = -3  # glibc's malloc.h
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).mallopt(m_mmap_threshold, 128 * 1024)


def sku_hash(skus: Any) -> np.ndarray:
    """64-bit hashes of SKU names (the same name, the same hash, in every chunk)."""
    return pd.util.hash_array(np.asarray(skus, dtype=object)).astype(np.uint64)


class ItemTable:
    """The numbers of every good item row, sorted by the hash of its SKU, and the problems of the others."""

    FIELDS = ("lead_mean", "lead_variance", "unit_cost", "holding_cost", "shortage_cost", "fixed_order_cost",
              "volume", "demand_mean", "demand_variance")  # fmt: skip
    INTEGERS = ("max_order", "pack_size", "min_order")

    def __init__(self, path: str | Path, chunk_rows: int, need_demand: bool) -> None:
        parts: dict[str, list[np.ndarray]] = {name: [] for name in ("hash", "line", *self.FIELDS, *self.INTEGERS)}
        self.problems: list[tuple[int, str]] = []
        for items, problems in item_chunks(path, chunk_rows, "--items", need_demand):
            self.problems += problems
            parts["hash"].append(sku_hash(items.skus))
            parts["line"].append(items.lines.astype(np.int32))  # a CSV of at most MAX_TABLE_BYTES
            for name in self.FIELDS:
                parts[name].append(getattr(items, name).astype(np.float64))
            for name in self.INTEGERS:
                parts[name].append(getattr(items, name))
        hashes = np.concatenate(parts["hash"]) if parts["hash"] else np.zeros(0, dtype=np.uint64)
        if not len(hashes) and not self.problems:
            raise UserError(f"--items {path}: has a header but no rows")
        parts.pop("hash", None)
        order = np.argsort(hashes, kind="stable")
        self.hash = hashes[order]
        del hashes
        # one column at a time, its chunks freed once gathered: the peak is the table and one column, not two tables
        self.columns = {name: np.concatenate(parts.pop(name))[order] for name in list(parts)}
        repeated = np.flatnonzero(np.diff(self.hash) == 0) + 1  # the same SKU in two chunks: keep the first
        if len(repeated):
            lines = self.columns["line"]
            self.problems += [(int(lines[i]), "repeats an earlier sku") for i in repeated]
            keep = np.ones(len(self.hash), dtype=bool)
            keep[repeated] = False
            self.hash = self.hash[keep]
            self.columns = {name: values[keep] for name, values in self.columns.items()}
        if not len(self.hash):
            raise UserError(f"--items {path}: no valid row ({len(self.problems):,} rows skipped)")

    def drop(self, names: tuple[str, ...]) -> None:
        """Free the columns ``names`` (after the first pass, what only the levels needed)."""
        for name in names:
            self.columns.pop(name, None)

    def find(self, hashes: np.ndarray) -> np.ndarray:
        """The row of each hash in the table, -1 where there is none."""
        at = np.minimum(np.searchsorted(self.hash, hashes), len(self.hash) - 1)
        return np.where(self.hash[at] == hashes, at, -1)

    def set_demand(self, hashes: np.ndarray, mean: np.ndarray, variance: np.ndarray) -> None:
        """Demand per period from elsewhere (a forecast) for the SKUs with these hashes (others: NaN)."""
        rows = self.find(hashes)
        for name, values in (("demand_mean", mean), ("demand_variance", variance)):
            self.columns[name] = np.full(len(self.hash), np.nan)
            self.columns[name][rows[rows >= 0]] = values[rows >= 0]


def state_chunks(path: str | Path, chunk_rows: int, columns: tuple[str, ...]) -> Iterator[tuple[int, pd.DataFrame]]:
    """(first line number, rows as text) of the state file in chunks, only ``columns`` read."""
    path = check_input_file(path, "state file", MAX_TABLE_BYTES)  # a regular file: not a FIFO, a device or /proc
    try:
        header = [name.strip() for name in csv_header(path)]
    except (pd.errors.ParserError, UnicodeDecodeError, OSError, EOFError, ValueError) as error:
        raise UserError(f"--state {path}: not a readable CSV ({str(error).splitlines()[0]})") from None
    if not header:
        raise UserError(f"--state {path}: is empty")
    check_unique_columns(header, f"--state {path}")
    for column in STATE_REQUIRED:
        if column not in header:
            raise UserError(f"--state {path}: no column '{column}' (columns: {', '.join(header)})")
    wanted = [c for c in columns if c in header]
    try:
        reader = pd.read_csv(path, dtype=str, keep_default_na=False, skip_blank_lines=False, chunksize=chunk_rows,
                             usecols=lambda c: str(c).strip() in wanted)  # fmt: skip
        line = 2
        for frame in reader:
            frame.columns = [str(c).strip() for c in frame.columns]
            yield line, frame
            line += len(frame)
    except (pd.errors.ParserError, UnicodeDecodeError, OSError, ValueError) as error:
        raise UserError(f"--state {path}: not a readable CSV ({str(error).splitlines()[0]})") from None


# What only the first pass reads: the share and the order lines need the rest (packs, minimums, maximums,
# shortage cost, weights, mean demand and lead time).
FIRST_PASS_ONLY = ("line", "lead_variance", "holding_cost", "fixed_order_cost", "demand_variance")


@dataclass
class Plan:
    """Per state row (in file order): the matched item row (-1: the row was skipped) and the numbers of its order."""

    item: np.ndarray
    position: np.ndarray
    projected: np.ndarray  # expected stock when an order placed now arrives (storage limits)
    reorder: np.ndarray
    order_up_to: np.ndarray
    raw: np.ndarray  # what the rule asks for
    wanted: np.ndarray  # after packs and minimums
    order: np.ndarray  # after the shared limit
    problems: list[tuple[int, str]]
    room: float = np.nan  # the limit left for the orders

    @property
    def planned(self) -> np.ndarray:
        return self.item >= 0


def levels(table: ItemTable, rows: np.ndarray, policy: str, price: float) -> tuple[np.ndarray, np.ndarray]:
    """Reorder and order-up-to levels of the items ``rows`` (see the module docstring)."""
    c = {name: values[rows] for name, values in table.columns.items()}
    mu, sigma2 = c["demand_mean"], np.maximum(c["demand_variance"], c["demand_mean"])
    sigma2 = np.where(np.isfinite(sigma2), sigma2, mu)
    interval = c["lead_mean"] + 1
    mean, variance = mu * interval, sigma2 * interval + mu**2 * c["lead_variance"]
    fractile = c["shortage_cost"] / (c["shortage_cost"] + c["holding_cost"] + price * c["volume"])
    quantile = gamma_levels(mean, variance, np.clip(fractile, 1e-6, 1 - 1e-6))
    if policy == "order_up_to":
        return quantile - 1, quantile
    holding = np.maximum(c["holding_cost"] + 2 * price * c["volume"], 1e-12)
    lot = np.clip(np.rint(np.sqrt(2 * c["fixed_order_cost"] * mu / holding)), 1, c["max_order"]).astype(np.int64)
    return quantile, quantile + lot


# What the first pass keeps of every state row (the columns of a Plan before the share)
WISH = ("item", "position", "projected", "reorder", "order_up_to", "raw")


def wishes(
    table: ItemTable, first_line: int, frame: pd.DataFrame, policy: str, price: float
) -> tuple[list[np.ndarray], list[tuple[int, str]]]:
    """One chunk of the state file's rows: their :data:`WISH` columns (skipped rows: item -1, raw 0) and problems.

    A unit of the first pass (:mod:`envs.distributed`): it depends on its arguments only, so the chunks
    can run in any order and anywhere, here or on Ray workers, with the same result.

    Args:
        table: The item master.
        first_line: The line number of the chunk's first row in the state file.
        frame: The chunk's rows as text (``sku``, ``on_hand`` and those of ``on_order``, ``backlog`` the file has).
        policy: One of :data:`POLICIES`.
        price: The price of a unit of capacity per period (``--price``).

    Returns:
        The chunk's columns in the order of :data:`WISH`, and (line, problem) of every row skipped.
    """
    n = len(frame)
    lines = np.arange(first_line, first_line + n)
    problems: list[tuple[int, str]] = []
    bad = np.zeros(n, dtype=bool)
    sku = stripped(frame["sku"])
    numbers = {}
    for column in ("on_hand", *STATE_OPTIONAL):
        if column in frame.columns:
            value, missing = text_numbers(frame[column])
        else:
            value, missing = np.full(n, np.nan), np.ones(n, dtype=bool)
        value = np.where(missing & (column != "on_hand"), 0.0, value)
        wrong = ~np.isfinite(value) | (value < 0) | (value != np.round(value)) | (value > MAX_UNITS)
        for row in np.flatnonzero(wrong & ~bad):
            shown = str(frame[column].iloc[row]).strip() if column in frame.columns else ""
            problems.append((int(lines[row]), f"{column} '{shown}' is not a whole number >= 0"))
        bad |= wrong
        numbers[column] = np.where(wrong, 0.0, value)
    empty = (sku == "").to_numpy() & ~bad
    problems += [(int(lines[row]), "sku is empty") for row in np.flatnonzero(empty)]
    bad |= empty
    formula = np.array([bool(formula_problem(s)) for s in sku], dtype=bool) & ~bad
    problems += [(int(lines[row]), formula_problem(sku.iloc[row])) for row in np.flatnonzero(formula)]
    bad |= formula
    item = table.find(sku_hash(sku.to_numpy(dtype=object)))
    unknown = (item < 0) & ~bad
    problems += [
        (int(lines[row]), f"sku {sku.iloc[row]!r} is not in the item master") for row in np.flatnonzero(unknown)
    ]
    bad |= unknown
    no_demand = ~bad & ~np.isfinite(table.columns["demand_mean"][np.maximum(item, 0)])
    problems += [(int(lines[row]), f"sku {sku.iloc[row]!r}: no demand (no demand_mean, no history)")
                 for row in np.flatnonzero(no_demand)]  # fmt: skip
    bad |= no_demand
    item = np.where(bad, -1, item)
    rows = np.maximum(item, 0)
    net = (numbers["on_hand"] - numbers["backlog"]).astype(np.int64)
    position = net + numbers["on_order"].astype(np.int64)
    reorder, order_up_to = levels(table, rows, policy, price)
    raw_order = np.where(position <= reorder, np.maximum(order_up_to - position, 0), 0)
    raw_order = np.minimum(raw_order, table.columns["max_order"][rows])
    projected = np.maximum(position - table.columns["demand_mean"][rows] * table.columns["lead_mean"][rows], 0.0)
    return [item, position, projected, reorder, order_up_to, np.where(bad, 0, raw_order)], problems


def first_pass(
    table: ItemTable, state_path: str | Path, chunk_rows: int, policy: str, price: float, workers: Workers
) -> Plan:
    """Every state row's inventory position, levels and wish (before the limit); bad rows as problems.

    The chunks of the state file are read here and planned by :func:`wishes` on ``workers`` (in this
    process, one chunk read at a time; on Ray, every chunk sent at once, the item table once); a SKU
    in two rows is found here, over all the chunks.
    """
    parts: dict[str, list[np.ndarray]] = {name: [] for name in WISH}
    problems: list[tuple[int, str]] = []
    shared = workers.broadcast(table)
    chunks = state_chunks(state_path, chunk_rows, STATE_REQUIRED + STATE_OPTIONAL)
    calls = ((shared, first_line, frame, policy, price) for first_line, frame in chunks)  # read when taken
    for chunk, chunk_problems in workers.map(wishes, calls):
        problems += chunk_problems
        for name, values in zip(WISH, chunk, strict=True):
            parts[name].append(values)
    if not parts["item"]:
        raise UserError(f"--state {state_path}: has a header but no rows")
    columns = {name: np.concatenate(parts.pop(name)) for name in list(parts)}  # each column's chunks freed in turn
    # a SKU seen twice: the first row is kept (sorting a million rows to find them only when one repeats)
    planned = np.flatnonzero(columns["item"] >= 0)
    repeated = planned[:0]
    if len(planned) and np.bincount(columns["item"][planned]).max() > 1:
        _, first = np.unique(columns["item"][planned], return_index=True)
        repeated = np.setdiff1d(planned, planned[first])
    for row in repeated:
        problems.append((int(row) + 2, "repeats an earlier sku"))
    columns["item"][repeated] = -1
    columns["raw"][repeated] = 0
    zeros = np.zeros(len(columns["item"]), dtype=np.int64)
    return Plan(
        item=columns["item"],
        position=columns["position"],
        projected=columns["projected"],
        reorder=columns["reorder"],
        order_up_to=columns["order_up_to"],
        raw=columns["raw"],
        wanted=zeros.copy(),
        order=zeros.copy(),
        problems=sorted(problems),
    )


def share(table: ItemTable, plan: Plan, limit: Limit | None) -> None:
    """Round every wish to packs and minimums and cut to the limit, as the kernel does (fills ``wanted``, ``order``)."""
    planned = slice(None) if plan.planned.all() else plan.planned  # no copies when every row is planned
    rows = plan.item[planned]
    c = table.columns
    pack, minimum, max_order = c["pack_size"][rows], c["min_order"][rows], c["max_order"][rows]
    raw = np.ascontiguousarray(plan.raw[planned], dtype=np.int64)[None, :]
    members = np.arange(len(rows), dtype=np.int64)
    effective, cut = np.zeros_like(raw), np.zeros_like(raw)
    no_limit = np.zeros(0, dtype=np.int64), np.zeros(0), np.zeros(0, dtype=np.int64), np.zeros(1, dtype=np.int64)
    # first the packs and minimums alone (no limit), then with the limit
    limit_orders(no_limit[0], no_limit[1], no_limit[2], no_limit[3], members, np.zeros(0), np.zeros(0), pack,
                 minimum, max_order, raw, effective, cut)  # fmt: skip
    plan.wanted[planned] = effective[0]
    if limit is None:
        plan.order[:] = plan.wanted
        return
    weight = np.ones(len(rows)) if limit.weight == "units" else c[limit.weight][rows]
    room = limit.limit
    if limit.kind == "storage":
        room = max(limit.limit - float(weight @ plan.projected[planned]), 0.0)
    plan.room = room
    values = c["shortage_cost"][rows] / weight
    rule = SHARE_BY_VALUE if limit.rule == "value" else SHARE_PROPORTIONAL
    limit_orders(np.array([ORDER_LIMIT]), np.array([room]), np.array([rule]), np.array([0, len(rows)]), members,
                 weight, values, pack, minimum, max_order, raw, effective, cut)  # fmt: skip
    plan.order[planned] = effective[0]


def explain(
    order: int, wanted: int, raw: int, position: int, reorder: int, order_up_to: int, mean: float, lead: float,
    pack: int, minimum: int, policy: str, limit: str,
) -> str:  # fmt: skip
    """One sentence per order line."""
    if raw == 0:
        trigger = f"at or below {reorder}" if policy == "s_S" else f"below {order_up_to}"
        return (f"No order: inventory position {position} is not {trigger} (demand {mean:.2f} a period, "
                f"lead time {lead:g}).")  # fmt: skip
    text = (f"Order up to {order_up_to}: inventory position {position} against demand of {mean:.2f} a period over "
            f"{lead:g} + 1 periods (reorder level {reorder}); wanted {raw}.")  # fmt: skip
    if wanted != raw:
        if wanted == 0:
            text += f" Below half the minimum order {minimum}: not ordered."
        elif raw < minimum:
            text += f" Raised to the minimum order {minimum}" + (f", {wanted} in packs of {pack}." if pack > 1 else ".")
        else:
            text += f" Rounded to {wanted} ({wanted // pack} packs of {pack})."
    if order != wanted:
        text += f" Cut from {wanted} to {order} by {limit}."
    return text


def write_lines(
    path: Path,
    table: ItemTable,
    plan: Plan,
    state_path: str | Path,
    chunk_rows: int,
    policy: str,
    limit: Limit | None,
) -> Callable[[Path], None]:
    """A writer for :func:`envs.files.atomic_write`: the order lines, chunk by chunk, in state-file order."""
    c = table.columns
    limit_text = limit.description if limit is not None else ""

    def write(temporary: Path) -> None:
        with open(temporary, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle, lineterminator="\n")
            writer.writerow(COLUMNS)
            start = 0
            for _, frame in state_chunks(state_path, chunk_rows, ("sku",)):
                stop = start + len(frame)
                keep = np.flatnonzero(plan.item[start:stop] >= 0) + start
                rows = plan.item[keep]
                skus = stripped(frame["sku"]).to_numpy()[keep - start]
                # plain Python numbers (lists) for the per-line formatting: numpy scalars cost several times more
                mean, lead = c["demand_mean"][rows].tolist(), c["lead_mean"][rows].tolist()
                pack, minimum = c["pack_size"][rows].tolist(), c["min_order"][rows].tolist()
                fields = (plan.order[keep], plan.wanted[keep], plan.raw[keep], plan.position[keep], plan.reorder[keep],
                          plan.order_up_to[keep])  # fmt: skip
                order, wanted, raw, position, reorder, order_up_to = (f.tolist() for f in fields)
                writer.writerows(
                    (sku, o, w, p, r, s, round(m, 4), round(lt, 4), w - o,
                     explain(o, w, q, p, r, s, m, lt, pk, mn, policy, limit_text))
                    for sku, o, w, q, p, r, s, m, lt, pk, mn in zip(
                        skus, order, wanted, raw, position, reorder, order_up_to, mean, lead, pack, minimum, strict=True
                    )
                )  # fmt: skip
                start = stop

    return write


def forecast_demand(
    history: str | Path, known: list[str], future: str | None, model: str, horizon: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(hashes, mean per period, variance per period) of every SKU of a history, from the model's forecast
    of the next ``horizon`` periods (the variance from its central 80% interval, at least the mean)."""
    from forecasting.latest import latest_forecasts
    from forecasting.order_up_to import variance_from_quantiles

    latest = latest_forecasts(history, model, horizon, (0.1, 0.9), known, future)
    means = np.stack([latest.columns[f"forecast_mean_ahead_{k}"] for k in range(horizon)], axis=1)
    quantiles = np.stack(
        [np.stack([latest.columns[f"forecast_q{q:g}_ahead_{k}"] for q in (0.1, 0.9)], axis=-1) for k in range(horizon)],
        axis=1,
    )
    variances = variance_from_quantiles(np.maximum(means, 0), quantiles, (0.1, 0.9))
    return sku_hash(np.array(latest.skus, dtype=object)), np.maximum(means, 0).mean(axis=1), variances.mean(axis=1)
