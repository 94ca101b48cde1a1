"""Demand processes: each draws whole integer demand paths (n x length) and their feature arrays.

Every process is a validated pydantic model selected by its ``dist`` key in a scenario's
``demand`` mapping. ``sample(rng, n, length)`` returns an int64 array of demands and a
float32 array of features (n, length, n_features); drawing whole paths up front lets several
policies run on the same demand (common random numbers) and lets histories replay naturally.

Stationary processes (iid demand) also give their probability mass function, which the
exact methods (dynamic programming, Zheng-Federgruen, newsvendor) need.
"""

from __future__ import annotations

import csv
import datetime
import functools
import io
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_validator
from scipy import stats

from envs.errors import UserError
from envs.inputs import MAX_DATA_BYTES, read_text
from envs.limits import MAX_HORIZON, MAX_MEAN_DEMAND, MAX_UNITS, Date, Flag, Int, Real
from envs.sampling import DiscreteInverse

# Tail mass left out when a pmf is truncated for the exact methods.
PMF_TAIL = 1e-12
# Largest demand accepted in a history row (see envs.limits).
MAX_HISTORY_DEMAND = MAX_UNITS


class _Demand(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    @property
    def feature_names(self) -> tuple[str, ...]:
        """Names of the feature columns that :meth:`sample` returns."""
        return ()

    @property
    def stationary(self) -> bool:
        """True when demand is iid over periods, so :meth:`pmf` exists."""
        return False

    def pmf(self) -> np.ndarray:
        """Probabilities of demand 0, 1, 2, ... (tail below ``PMF_TAIL`` cut off) for iid demand."""
        raise ValueError(f"demand '{self.dist}' is not stationary: it has no single pmf")  # type: ignore[attr-defined]

    def mean_demand(self) -> float:
        """Long-run mean demand per period."""
        pmf = self.pmf()
        return float(np.arange(len(pmf)) @ pmf)

    def sample(self, rng: np.random.Generator, n: int, length: int) -> tuple[np.ndarray, np.ndarray]:
        """Draw ``n`` paths of ``length`` periods: demands (int64) and features (float32, n x length x F)."""
        return self._draw(rng, (n, length)), np.zeros((n, length, 0), dtype=np.float32)

    def _draw(self, rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
        raise NotImplementedError


class _IidDemand(_Demand):
    """Demand that is independent and identically distributed over periods.

    Paths are drawn by inversion: one uniform per period, mapped through the cdf of :meth:`pmf`
    (the distribution the exact methods use, tail below ``PMF_TAIL`` cut off), so that drawing
    is one uniform per period whatever the distribution.
    """

    @property
    def stationary(self) -> bool:
        return True

    @model_validator(mode="after")
    def _bounded(self) -> _IidDemand:
        # the pmf runs up to this quantile: it must fit in memory, and demands in a float32 observation
        upper = self._tail_quantile()
        if not upper <= MAX_UNITS:
            raise ValueError(
                f"demand reaches {upper:.3g} units per period (its 1 - {PMF_TAIL:g} quantile); at most {MAX_UNITS:,}"
            )
        return self

    def pmf(self) -> np.ndarray:
        upper = int(self._ppf(1.0 - PMF_TAIL)) + 1
        pmf = self._pmf_upto(np.arange(upper + 1))
        return pmf / pmf.sum()

    @functools.cached_property
    def _inverse(self) -> DiscreteInverse:
        return DiscreteInverse(self.pmf())

    def invert(self, uniforms: np.ndarray) -> np.ndarray:
        """Demands for uniforms in [0, 1): the smallest d with cdf(d) > u (int64, same shape)."""
        return self._inverse(uniforms)

    def invert_transposed(self, uniforms: np.ndarray, out: np.ndarray) -> None:
        """Demands for rows of uniforms (episode, period) into ``out`` (period, episode)."""
        self._inverse.transposed_into(uniforms, out)

    def _draw(self, rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
        return self.invert(rng.random(shape))

    def _ppf(self, q: float) -> float:
        raise NotImplementedError

    def _tail_quantile(self) -> float:
        """The demand with probability ``PMF_TAIL`` of being exceeded (where :meth:`pmf` ends)."""
        return self._ppf(1.0 - PMF_TAIL)

    def _pmf_upto(self, k: np.ndarray) -> np.ndarray:
        raise NotImplementedError


class PoissonDemand(_IidDemand):
    """Poisson demand with the given mean."""

    dist: Literal["poisson"]
    mean: Real = Field(gt=0, le=MAX_MEAN_DEMAND)

    def _ppf(self, q: float) -> float:
        return stats.poisson.ppf(q, self.mean)

    def _pmf_upto(self, k: np.ndarray) -> np.ndarray:
        return stats.poisson.pmf(k, self.mean)


class NegativeBinomialDemand(_IidDemand):
    """Negative binomial demand given by its mean and variance (variance > mean: overdispersed)."""

    dist: Literal["negative_binomial"]
    mean: Real = Field(gt=0, le=MAX_MEAN_DEMAND)
    variance: Real = Field(gt=0, le=float(MAX_MEAN_DEMAND) ** 2)

    @model_validator(mode="before")
    @classmethod
    def _overdispersed(cls, data: Any) -> Any:
        # checked before the fields: _bounded (of the parent) computes a quantile, which needs p < 1
        if isinstance(data, dict):
            mean, variance = data.get("mean"), data.get("variance")
            if isinstance(mean, (int, float)) and isinstance(variance, (int, float)) and 0 < variance <= mean:
                raise ValueError("variance must exceed the mean for a negative binomial (use poisson otherwise)")
        return data

    @property
    def _n_p(self) -> tuple[float, float]:
        p = self.mean / self.variance
        return self.mean * p / (1.0 - p), p

    def _ppf(self, q: float) -> float:
        return stats.nbinom.ppf(q, *self._n_p)

    def _tail_quantile(self) -> float:
        # the same quantile as a survival function: ppf takes seconds for a very heavy tail
        return stats.nbinom.isf(PMF_TAIL, *self._n_p)

    def _pmf_upto(self, k: np.ndarray) -> np.ndarray:
        return stats.nbinom.pmf(k, *self._n_p)


class NormalDemand(_IidDemand):
    """Normal demand rounded to the nearest integer and truncated at zero."""

    dist: Literal["normal"]
    mean: Real = Field(ge=0, le=MAX_MEAN_DEMAND)
    std: Real = Field(gt=0, le=MAX_MEAN_DEMAND)

    def _ppf(self, q: float) -> float:
        return max(stats.norm.ppf(q, self.mean, self.std), 0.0)

    def _pmf_upto(self, k: np.ndarray) -> np.ndarray:
        cdf = stats.norm.cdf(k + 0.5, self.mean, self.std)
        return np.diff(cdf, prepend=0.0)


class UniformDemand(_IidDemand):
    """Uniform integer demand on low..high, both included."""

    dist: Literal["uniform"]
    low: Int = Field(ge=0, le=MAX_UNITS)
    high: Int = Field(ge=0, le=MAX_UNITS)

    @model_validator(mode="after")
    def _ordered(self) -> UniformDemand:
        if self.high < self.low:
            raise ValueError("high must be at least low")
        if self.high == 0:
            raise ValueError("high must be positive: demand would always be zero")
        return self

    def _ppf(self, q: float) -> float:
        return self.high

    def _pmf_upto(self, k: np.ndarray) -> np.ndarray:
        return ((k >= self.low) & (k <= self.high)) / (self.high - self.low + 1.0)


class DeterministicDemand(_IidDemand):
    """The same demand every period."""

    dist: Literal["deterministic"]
    value: Int = Field(gt=0, le=MAX_UNITS)

    def _ppf(self, q: float) -> float:
        return self.value

    def _pmf_upto(self, k: np.ndarray) -> np.ndarray:
        return (k == self.value).astype(float)


SEASONAL_FEATURES = ("weekday_sin", "weekday_cos", "yearday_sin", "yearday_cos", "promotion")


class SeasonalDemand(_Demand):
    """Seasonal demand with promotions.

    Mean in period t, counted from the first period of the drawn path (the ``demand_history``
    periods observed before an episode come first), which falls on ``start_day`` of the year,
    or on a random day when ``random_start`` is true::

        base_mean * weekly[day % 7] * (1 + yearly_amplitude * cos(2 pi (day - yearly_peak_day) / 365))
                  * max(0, 1 + trend * t) * (1 + promotion_uplift * promotion_t)

    Promotions start in any period with ``promotion_probability`` and last ``promotion_duration``
    periods; the calendar is known ahead (it is a feature). Demand given the mean is Poisson, or
    negative binomial when ``variance_to_mean`` > 1. Features: day of week and day of year as
    sine/cosine pairs, and the promotion flag.
    """

    dist: Literal["seasonal"]
    base_mean: Real = Field(gt=0, le=MAX_MEAN_DEMAND)
    weekly: tuple[Real, ...] = Field(default=(1.0,) * 7, min_length=7, max_length=7)
    yearly_amplitude: Real = Field(default=0.0, ge=0, lt=1)
    yearly_peak_day: Int = Field(default=0, ge=0, lt=365)
    trend: Real = Field(default=0.0, ge=-1, le=1, description="change of the mean per period, a share of base_mean")
    promotion_probability: Real = Field(default=0.0, ge=0, le=1)
    promotion_duration: Int = Field(default=7, ge=1, le=MAX_HORIZON)
    promotion_uplift: Real = Field(default=0.0, ge=0, le=100)
    variance_to_mean: Real = Field(default=1.0, ge=1, le=10_000)
    start_day: Int = Field(default=0, ge=0, lt=365)
    random_start: Flag = True

    @model_validator(mode="after")
    def _positive_weekly(self) -> SeasonalDemand:
        if min(self.weekly) < 0 or max(self.weekly) == 0 or max(self.weekly) > 100:
            raise ValueError("weekly multipliers must be in 0..100 and not all zero")
        return self

    @property
    def feature_names(self) -> tuple[str, ...]:
        return SEASONAL_FEATURES

    def peak_mean(self, length: int) -> float:
        """An upper bound of the mean demand of any period of a path of ``length`` periods."""
        trend = max(1.0, 1.0 + self.trend * (length - 1))
        return self.base_mean * max(self.weekly) * (1.0 + self.yearly_amplitude) * trend * (1.0 + self.promotion_uplift)

    def mean_demand(self) -> float:
        promo_share = 1.0 - (1.0 - self.promotion_probability) ** self.promotion_duration
        return self.base_mean * float(np.mean(self.weekly)) * (1.0 + self.promotion_uplift * promo_share)

    def sample(self, rng: np.random.Generator, n: int, length: int) -> tuple[np.ndarray, np.ndarray]:
        start = rng.integers(0, 365, size=(n, 1)) if self.random_start else np.full((n, 1), self.start_day)
        t = np.arange(length)[None, :]
        day = start + t
        starts = rng.random((n, length)) < self.promotion_probability
        started = np.cumsum(starts, axis=1)
        # a promotion is running if one started within the last promotion_duration periods
        started_before = np.pad(started, ((0, 0), (self.promotion_duration, 0)))[:, :length]
        promotion = (started - started_before) > 0
        mean = (
            self.base_mean
            * np.asarray(self.weekly)[day % 7]
            * (1.0 + self.yearly_amplitude * np.cos(2 * np.pi * (day - self.yearly_peak_day) / 365.0))
            * np.maximum(0.0, 1.0 + self.trend * t)
            * (1.0 + self.promotion_uplift * promotion)
        )
        if self.variance_to_mean > 1.0:
            # negative binomial with variance = variance_to_mean * mean: p is the same in every period
            p = 1.0 / self.variance_to_mean
            demand = rng.negative_binomial(np.maximum(mean * p / (1.0 - p), 1e-12), p)
        else:
            demand = rng.poisson(mean)
        week_angle = 2 * np.pi * (day % 7) / 7.0
        year_angle = 2 * np.pi * (day % 365) / 365.0
        features = np.stack(
            [
                np.sin(week_angle),
                np.cos(week_angle),
                np.sin(year_angle),
                np.cos(year_angle),
                np.asarray(promotion, dtype=float),
            ],
            axis=-1,
        ).astype(np.float32)
        return demand.astype(np.int64), features


# Rows listed by line number in a message about bad values, and characters shown of a value.
SHOWN_ROWS, SHOWN_CHARACTERS = 5, 20


def _shown(cell: str) -> str:
    """A cell as a message shows it: cut short, control characters as '?'."""
    short = "".join(c if c.isprintable() else "?" for c in cell[:SHOWN_CHARACTERS])
    return short + ("..." if len(cell) > SHOWN_CHARACTERS else "")


def _columns(header: list[str]) -> str:
    names = ", ".join(f"'{_shown(name)}'" for name in header[:SHOWN_ROWS])
    more = f" and {len(header) - SHOWN_ROWS} more" if len(header) > SHOWN_ROWS else ""
    return f"{len(header)} column{'s' if len(header) != 1 else ''}: {names}{more}"


def read_csv_rows(path: Path, text: str, columns: Sequence[str]) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """The header and the rows (line number, fields) of CSV ``text``, every row as long as the header.

    A blank line is a row of one empty field (a missing value, reported as such). Quoted fields
    may hold commas but not line breaks: a quote left open would otherwise swallow the rows after
    it into one field.

    Raises:
        UserError: no header, a repeated column, one of ``columns`` missing, no rows, a quoted
            field over several lines, a malformed quote, or rows with the wrong number of fields
            (all of them counted).
    """
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    records: list[tuple[int, list[str]]] = []
    line = 1
    try:
        for fields in reader:
            if reader.line_num > line:
                raise UserError(
                    f"{path}: line {line}: a quoted field runs over {reader.line_num - line + 1} lines "
                    "(a quote left open?); fields may not hold line breaks"
                )
            records.append((line, fields or [""]))
            line = reader.line_num + 1
    except csv.Error as error:
        if "unexpected end of data" in str(error):  # a quote left open to the end of the file
            raise UserError(f"{path}: line {line}: a quote opened in this row is never closed") from None
        raise UserError(f"{path}: line {reader.line_num}: not a valid CSV row ({error})") from None
    if not records:
        raise UserError(f"{path}: empty: a demand history needs a header and at least one row")
    (_, header), rows = records[0], records[1:]
    repeated = sorted({name for name in header if header.count(name) > 1})
    if repeated:
        raise UserError(f"{path}: line 1: the column '{_shown(repeated[0])}' appears more than once in the header")
    for column in columns:
        if column not in header:
            raise UserError(f"{path}: no column '{_shown(column)}' (the header has {_columns(header)})")
    if not rows:
        raise UserError(f"{path}: no rows below the header")
    wrong = [(number, len(fields)) for number, fields in rows if len(fields) != len(header)]
    if wrong:
        shown = ", ".join(f"line {number} has {count}" for number, count in wrong[:SHOWN_ROWS])
        more = f" and {len(wrong) - SHOWN_ROWS} more" if len(wrong) > SHOWN_ROWS else ""
        raise UserError(
            f"{path}: {len(wrong)} row{'s' if len(wrong) > 1 else ''} without the header's {len(header)} "
            f"field{'s' if len(header) > 1 else ''}: {shown}{more}"
        )
    return header, rows


def _refuse_bad_cells(
    path: Path, column: str, problem: str, lines: np.ndarray, cells: dict[str, pd.Series], bad: pd.Series
) -> None:
    """A :class:`UserError` counting the rows where ``bad``, listing the first few with their values."""
    rows = np.flatnonzero(bad.to_numpy())
    if not len(rows):
        return
    values = cells[column]
    if len(rows) == 1:
        raise UserError(f"{path}: line {lines[rows[0]]}: {column} '{_shown(values.iloc[rows[0]])}' {problem}")
    shown = ", ".join(f"line {lines[row]} '{_shown(values.iloc[row])}'" for row in rows[:SHOWN_ROWS])
    more = f" and {len(rows) - SHOWN_ROWS} more" if len(rows) > SHOWN_ROWS else ""
    raise UserError(f"{path}: {len(rows)} rows where {column} {problem}: {shown}{more}")


class CsvDemand(_Demand):
    """Demand replayed from a history in a CSV file.

    ``path`` is relative to the scenario file (stored absolute once loaded). The ``column`` holds
    non-negative integer demands; ``features`` name optional numeric columns given to the agent.
    ``mode: window`` replays a random contiguous window of the history; ``mode: bootstrap`` glues random blocks of
    ``block_length`` periods (circular block bootstrap), so paths longer than the history exist.

    With ``sku``, the file is a multi-SKU history in the long format of :mod:`forecasting.data`
    (sku, date, demand, signals; ``.csv`` or ``.csv.gz``) and that SKU's days are replayed, a day
    without a row counting as zero demand (before its first row: not sold yet); ``start`` and
    ``end`` (ISO dates, inclusive) keep a part of the history, e.g. a training year and a test
    year. SKUs of one file replayed together (an assortment) replay the same days (``joint_key``).
    """

    dist: Literal["csv"]
    path: str = Field(min_length=1, max_length=4096)
    column: str = Field(default="demand", min_length=1, max_length=200)
    features: tuple[str, ...] = Field(default=(), max_length=100)
    mode: Literal["window", "bootstrap"] = "window"
    block_length: Int = Field(default=28, ge=1, le=MAX_HORIZON)
    sku: str | None = Field(default=None, min_length=1, max_length=200)
    start: Date | None = None
    end: Date | None = None
    _demand: np.ndarray = PrivateAttr()
    _features: np.ndarray = PrivateAttr()
    _start: datetime.date = PrivateAttr(default=datetime.date(2024, 1, 1))  # of row 0: calendar features
    _forecasts: dict[tuple[Any, ...], np.ndarray] = PrivateAttr(default_factory=dict)
    _source: tuple[str, int] = PrivateAttr()  # a multi-SKU history: its file and version, the SKU's row,
    _row: int = PrivateAttr()  # and the days of the file replayed
    _kept: np.ndarray = PrivateAttr()

    @model_validator(mode="after")
    def _dates_need_a_long_history(self) -> CsvDemand:
        if (self.start is not None or self.end is not None) and self.sku is None:
            raise ValueError("start and end select days of a multi-SKU history: they need sku")
        if self.start is not None and self.end is not None and self.end < self.start:
            raise ValueError(f"end {self.end} is before start {self.start}")
        if self.sku is not None and self.column != "demand":
            raise ValueError("a multi-SKU history (sku) has its demand in the 'demand' column")
        return self

    @property
    def feature_names(self) -> tuple[str, ...]:
        return self.features

    def load(self) -> None:
        """Read and check the history.

        Every problem names the file and the rows (their line numbers): all the rows with a bad
        value in a column are counted and the first few listed, each value cut short, so that a
        file that is not a history (a /proc file, someone's secrets) is not echoed back.

        Raises:
            UserError: not a readable regular file of UTF-8 CSV text, no header or no rows, a
                missing or repeated column, a row with the wrong number of fields or a quoted
                field running over several lines, a demand that is not an integer in
                0..``MAX_HISTORY_DEMAND`` or a feature that is not a finite number.
        """
        path = Path(self.path)
        if self.sku is not None:
            self._load_sku(path, self.sku)
            return
        columns = (self.column, *self.features)
        header, rows = read_csv_rows(path, read_text(path, "demand history", MAX_DATA_BYTES), columns)
        lines = np.array([line for line, _ in rows])
        cells = {
            column: pd.Series([fields[header.index(column)] for _, fields in rows], dtype=str) for column in columns
        }
        demand = pd.to_numeric(cells[self.column], errors="coerce")
        bad = ~np.isfinite(demand) | (demand < 0) | (demand > MAX_HISTORY_DEMAND) | (demand != demand.round())
        _refuse_bad_cells(path, self.column, f"is not an integer in 0..{MAX_HISTORY_DEMAND}", lines, cells, bad)
        features = np.zeros((len(rows), len(self.features)), dtype=np.float32)
        for j, column in enumerate(self.features):
            values = pd.to_numeric(cells[column], errors="coerce")
            _refuse_bad_cells(path, column, "is not a finite number", lines, cells, ~np.isfinite(values))
            features[:, j] = values.to_numpy(dtype=np.float32)
        self._demand = demand.to_numpy(dtype=np.int64)
        self._features = features

    def _load_sku(self, path: Path, sku: str) -> None:
        panel = long_history(path, self.features)
        if sku not in panel.skus:
            shown = ", ".join(panel.skus[:5]) + (", ..." if len(panel.skus) > 5 else "")
            raise UserError(f"{path}: no SKU '{sku}' ({len(panel.skus):,} SKUs: {shown})")
        row = panel.skus.index(sku)
        dates = panel.dates().date
        keep = np.ones(len(dates), dtype=bool)
        if self.start is not None:
            keep &= dates >= self.start
        if self.end is not None:
            keep &= dates <= self.end
        if not keep.any():
            first, last = dates[0], dates[-1]
            raise UserError(
                f"{path}: no days between {self.start or 'the start'} and {self.end or 'the end'} "
                f"(the history runs from {first} to {last})"
            )
        columns = [panel.signal_names.index(name) for name in self.features]
        self._demand = np.nan_to_num(panel.demand[row, keep], nan=0.0).astype(np.int64)  # before a first sale: 0
        self._features = panel.signals[row, : panel.periods][keep][:, columns].astype(np.float32)
        self._start = dates[keep][0]
        self._source = (str(path.resolve()), path.stat().st_mtime_ns)
        self._row = row
        self._kept = np.flatnonzero(keep)

    @property
    def joint_key(self) -> tuple[Any, ...] | None:
        """SKUs of one history with the same key replay the same days (:class:`envs.paths.PathSampler`).

        Their demands then stay as correlated as they were (a common season, promotions on the
        same days), which is what a limit they share feels. None for a single-series file.
        """
        if self.sku is None:
            return None
        return (*self._source, self.start, self.end, self.mode, self.block_length)

    @property
    def history_length(self) -> int:
        return len(self._demand)

    def mean_demand(self) -> float:
        return float(self._demand.mean())

    def rows(self, rng: np.random.Generator, n: int, length: int) -> np.ndarray:
        """The history rows ``n`` paths of ``length`` periods replay, (n, length): windows or glued blocks."""
        size = len(self._demand)
        if self.mode == "window":
            if length > size:
                raise UserError(f"{self.path}: history has {size} rows, an episode needs {length}; use mode: bootstrap")
            return rng.integers(0, size - length + 1, size=(n, 1)) + np.arange(length)[None, :]
        n_blocks = -(-length // self.block_length)
        block_starts = rng.integers(0, size, size=(n, n_blocks))
        index = (block_starts[:, :, None] + np.arange(self.block_length)[None, None, :]).reshape(n, -1)
        return index[:, :length] % size

    def replay(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The demands and features of history ``rows``."""
        return self._demand[rows], self._features[rows]

    def sample(self, rng: np.random.Generator, n: int, length: int) -> tuple[np.ndarray, np.ndarray]:
        return self.replay(self.rows(rng, n, length))

    def history_forecasts(self, model: str, horizon: int, levels: tuple[float, ...], refit_every: int,
                          warmup: int) -> np.ndarray:  # fmt: skip
        """Rolling-origin forecasts of the history itself, (rows, horizon x (1 + quantiles)), computed once.

        A replayed history is one series: every path replays some of its rows, so its forecasts are
        made once, on the history, each from the days before it (and the features, taken as known
        in advance), and replayed with the demand. Forecasting the paths instead would let a global
        model learn one window's future from another window of the same days. An SKU of a
        multi-SKU history is forecast from its whole history before each day (``start`` only
        limits the days replayed), by a pooled model (LightGBM, the LSTM) together with every
        SKU of the file, as it would be in use. Days before ``warmup`` (counted from the file's
        first) have no forecast (zeros); windows start late enough that no episode sees them.
        """
        key = (model, horizon, levels, refit_every, warmup)
        if key not in self._forecasts:
            if self.sku is None:
                entries = _rolling_entries(self._demand[None].astype(float), self._features[None], self.features,
                                           key, str(self._start))[0]  # fmt: skip
            else:
                path, modified = self._source
                entries = _sku_forecasts(path, modified, self.features, self._row, key)[self._kept]
            self._forecasts[key] = entries
        return self._forecasts[key]


def _rolling_entries(
    demand: np.ndarray, features: np.ndarray, names: tuple[str, ...], settings: tuple[Any, ...], start: str
) -> np.ndarray:
    """Rolling-origin forecasts of (n, T) demand as forecast entries, float32 (n, T, h x (1 + quantiles))."""
    from forecasting import make_forecaster
    from forecasting.rolling import rolling_forecasts

    model, horizon, levels, refit_every, warmup = settings
    if not warmup < demand.shape[1]:
        raise UserError(f"a history of {demand.shape[1]} days is too short for a forecast warm-up of {warmup}")
    rolled = rolling_forecasts(demand, features, names, names, make_forecaster(model, horizon), horizon, levels=levels,
                               refit_every=refit_every, first_origin=warmup, start=start)  # fmt: skip
    entries = np.concatenate([rolled.mean[..., None], rolled.quantiles], axis=-1).reshape(*demand.shape, -1)
    return np.nan_to_num(entries, nan=0.0).astype(np.float32)


@functools.lru_cache(maxsize=8)
def _sku_forecasts(path: str, modified: int, features: tuple[str, ...], row: int, settings: tuple[Any, ...]) -> Any:
    """One SKU's forecasts, (days of the file, entries): a pooled model's made with every SKU, once per file."""
    from forecasting import make_forecaster

    if make_forecaster(settings[0], settings[1]).pooled:
        return _pooled_forecasts(path, modified, features, settings)[row]
    panel = _long_history(path, modified, features)
    signals = panel.signals[row : row + 1, : panel.periods, [panel.signal_names.index(f) for f in features]]
    return _rolling_entries(panel.demand[row : row + 1], signals, features, settings, str(panel.start.date()))[0]


@functools.lru_cache(maxsize=2)
def _pooled_forecasts(path: str, modified: int, features: tuple[str, ...], settings: tuple[Any, ...]) -> Any:
    panel = _long_history(path, modified, features)
    signals = panel.signals[:, : panel.periods, [panel.signal_names.index(f) for f in features]]
    return _rolling_entries(panel.demand, signals, features, settings, str(panel.start.date()))


def long_history(path: str | Path, features: tuple[str, ...] = ()) -> Any:
    """The multi-SKU history ``path`` as a :class:`forecasting.data.Panel`, read once per process
    and version of the file; any bad row is a :class:`UserError` naming its line."""
    resolved = Path(path).resolve()
    try:
        modified = resolved.stat().st_mtime_ns
    except OSError:
        raise UserError(f"{path}: demand history not found") from None
    return _long_history(str(resolved), modified, features)


@functools.lru_cache(maxsize=4)
def _long_history(path: str, modified: int, features: tuple[str, ...]) -> Any:
    """A multi-SKU history read once per process (every SKU's scenario reads the same file).

    Unlike forecasting, which skips bad rows and goes on, a scenario refuses a history with any:
    the first is reported with its line number. ``modified`` keys the cache to the file's version.
    """
    from forecasting.data import read_history

    history = read_history(path, known=features, what="demand history")
    if history.problems:
        line, message = history.problems[0]
        raise UserError(f"{path}: line {line}: {message} ({len(history.problems):,} bad rows)")
    return history.panel


DemandConfig = Annotated[
    PoissonDemand
    | NegativeBinomialDemand
    | NormalDemand
    | UniformDemand
    | DeterministicDemand
    | SeasonalDemand
    | CsvDemand,
    Field(discriminator="dist"),
]
