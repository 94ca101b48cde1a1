"""Demand processes: each draws whole integer demand paths (n x length) and their feature arrays.

Every process is a validated pydantic model selected by its ``dist`` key in a scenario's
``demand`` mapping. ``sample(rng, n, length)`` returns an int64 array of demands and a
float32 array of features (n, length, n_features); drawing whole paths up front lets several
policies run on the same demand (common random numbers) and lets histories replay naturally.

Stationary processes (iid demand) also give their probability mass function, which the
exact methods (dynamic programming, Zheng-Federgruen, newsvendor) need.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Annotated, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_validator
from scipy import stats

from envs.errors import UserError
from envs.sampling import DiscreteInverse

# Tail mass left out when a pmf is truncated for the exact methods.
PMF_TAIL = 1e-12
# Largest demand accepted in a history row: far above any real item, far below int64 overflow.
MAX_HISTORY_DEMAND = 10**9


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

    def _pmf_upto(self, k: np.ndarray) -> np.ndarray:
        raise NotImplementedError


class PoissonDemand(_IidDemand):
    """Poisson demand with the given mean."""

    dist: Literal["poisson"]
    mean: float = Field(gt=0)

    def _ppf(self, q: float) -> float:
        return stats.poisson.ppf(q, self.mean)

    def _pmf_upto(self, k: np.ndarray) -> np.ndarray:
        return stats.poisson.pmf(k, self.mean)


class NegativeBinomialDemand(_IidDemand):
    """Negative binomial demand given by its mean and variance (variance > mean: overdispersed)."""

    dist: Literal["negative_binomial"]
    mean: float = Field(gt=0)
    variance: float = Field(gt=0)

    @model_validator(mode="after")
    def _overdispersed(self) -> NegativeBinomialDemand:
        if self.variance <= self.mean:
            raise ValueError("variance must exceed the mean for a negative binomial (use poisson otherwise)")
        return self

    @property
    def _n_p(self) -> tuple[float, float]:
        p = self.mean / self.variance
        return self.mean * p / (1.0 - p), p

    def _ppf(self, q: float) -> float:
        return stats.nbinom.ppf(q, *self._n_p)

    def _pmf_upto(self, k: np.ndarray) -> np.ndarray:
        return stats.nbinom.pmf(k, *self._n_p)


class NormalDemand(_IidDemand):
    """Normal demand rounded to the nearest integer and truncated at zero."""

    dist: Literal["normal"]
    mean: float = Field(ge=0)
    std: float = Field(gt=0)

    def _ppf(self, q: float) -> float:
        return max(stats.norm.ppf(q, self.mean, self.std), 0.0)

    def _pmf_upto(self, k: np.ndarray) -> np.ndarray:
        cdf = stats.norm.cdf(k + 0.5, self.mean, self.std)
        return np.diff(cdf, prepend=0.0)


class UniformDemand(_IidDemand):
    """Uniform integer demand on low..high, both included."""

    dist: Literal["uniform"]
    low: int = Field(ge=0)
    high: int = Field(ge=0)

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
    value: int = Field(gt=0)

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
    base_mean: float = Field(gt=0)
    weekly: tuple[float, ...] = Field(default=(1.0,) * 7, min_length=7, max_length=7)
    yearly_amplitude: float = Field(default=0.0, ge=0, lt=1)
    yearly_peak_day: int = Field(default=0, ge=0, lt=365)
    trend: float = 0.0
    promotion_probability: float = Field(default=0.0, ge=0, le=1)
    promotion_duration: int = Field(default=7, ge=1)
    promotion_uplift: float = Field(default=0.0, ge=0)
    variance_to_mean: float = Field(default=1.0, ge=1)
    start_day: int = Field(default=0, ge=0, lt=365)
    random_start: bool = True

    @model_validator(mode="after")
    def _positive_weekly(self) -> SeasonalDemand:
        if min(self.weekly) < 0 or max(self.weekly) == 0:
            raise ValueError("weekly multipliers must be non-negative and not all zero")
        return self

    @property
    def feature_names(self) -> tuple[str, ...]:
        return SEASONAL_FEATURES

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


class CsvDemand(_Demand):
    """Demand replayed from a history in a CSV file.

    ``path`` is relative to the scenario file (stored absolute once loaded). The ``column`` holds
    non-negative integer demands; ``features`` name optional numeric columns given to the agent.
    ``mode: window`` replays a random contiguous window of the history; ``mode: bootstrap`` glues random blocks of
    ``block_length`` periods (circular block bootstrap), so paths longer than the history exist.
    """

    dist: Literal["csv"]
    path: str
    column: str = "demand"
    features: tuple[str, ...] = ()
    mode: Literal["window", "bootstrap"] = "window"
    block_length: int = Field(default=28, ge=1)
    _demand: np.ndarray = PrivateAttr()
    _features: np.ndarray = PrivateAttr()

    @property
    def feature_names(self) -> tuple[str, ...]:
        return self.features

    def load(self) -> None:
        """Read and check the history; every problem names the file and the row (its line number)."""
        path = Path(self.path)
        if not path.is_file():
            raise UserError(f"{path}: demand history file not found")
        try:
            # blank lines are kept (and refused below) so that reported line numbers stay true
            frame = pd.read_csv(path, dtype=str, keep_default_na=False, skip_blank_lines=False)
        except (pd.errors.ParserError, UnicodeDecodeError) as error:
            raise UserError(f"{path}: not a readable CSV ({str(error).splitlines()[0]})") from None
        for column in (self.column, *self.features):
            if column not in frame.columns:
                raise UserError(f"{path}: no column '{column}' (columns: {', '.join(frame.columns)})")
        if frame.empty:
            raise UserError(f"{path}: no rows")
        demand = pd.to_numeric(frame[self.column], errors="coerce")
        bad = ~np.isfinite(demand) | (demand < 0) | (demand > MAX_HISTORY_DEMAND) | (demand != demand.round())
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            raise UserError(
                f"{path}: line {row + 2}: {self.column} '{frame[self.column].iloc[row]}' is not an integer "
                f"in 0..{MAX_HISTORY_DEMAND}"
            )
        features = np.zeros((len(frame), len(self.features)), dtype=np.float32)
        for j, column in enumerate(self.features):
            values = pd.to_numeric(frame[column], errors="coerce")
            if not np.isfinite(values).all():
                row = int(np.flatnonzero(~np.isfinite(values.to_numpy()))[0])
                raise UserError(f"{path}: line {row + 2}: {column} '{frame[column].iloc[row]}' is not a finite number")
            features[:, j] = values.to_numpy(dtype=np.float32)
        self._demand = demand.to_numpy(dtype=np.int64)
        self._features = features

    @property
    def history_length(self) -> int:
        return len(self._demand)

    def mean_demand(self) -> float:
        return float(self._demand.mean())

    def sample(self, rng: np.random.Generator, n: int, length: int) -> tuple[np.ndarray, np.ndarray]:
        size = len(self._demand)
        if self.mode == "window":
            if length > size:
                raise UserError(f"{self.path}: history has {size} rows, an episode needs {length}; use mode: bootstrap")
            index = rng.integers(0, size - length + 1, size=(n, 1)) + np.arange(length)[None, :]
        else:
            n_blocks = -(-length // self.block_length)
            block_starts = rng.integers(0, size, size=(n, n_blocks))
            index = (block_starts[:, :, None] + np.arange(self.block_length)[None, None, :]).reshape(n, -1)
            index = index[:, :length] % size
        return self._demand[index], self._features[index]


class HistoryDemand(_Demand):
    """One SKU's demand replayed from a long-format sales history (``sku, date, demand``; see
    :mod:`forecasting.data`), the dates restricted to ``start``..``end``.

    The SKUs of an assortment that replay the same file are drawn together (:func:`sample_paths`):
    every episode replays the same dates for all of them, so that their demands stay as correlated
    as they were (a common season, promotions on the same days), which is what a shared capacity
    feels. ``mode: window`` replays a random run of consecutive days; ``bootstrap`` glues random
    blocks of ``block_length`` days. Days before an SKU's first sale count as zero demand.
    """

    dist: Literal["history"]
    path: str
    sku: str
    start: str | None = Field(default=None, description="first date replayed (ISO), default the first in the file")
    end: str | None = Field(default=None, description="last date replayed (ISO), default the last in the file")
    mode: Literal["window", "bootstrap"] = "window"
    block_length: int = Field(default=28, ge=1)

    @property
    def joint_key(self) -> tuple[str, str | None, str | None, str, int]:
        """Processes with the same key are replayed on the same days."""
        return (self.path, self.start, self.end, self.mode, self.block_length)

    @property
    def series(self) -> np.ndarray:
        """The SKU's daily demands from ``start`` to ``end`` (int64)."""
        from envs.history import history_series

        return history_series(self.path, self.sku, self.start, self.end)

    @property
    def history_length(self) -> int:
        return len(self.series)

    def mean_demand(self) -> float:
        return float(self.series.mean())

    def draw_index(self, rng: np.random.Generator, n: int, length: int) -> np.ndarray:
        """The days (n, length) replayed by ``n`` episodes of ``length`` periods."""
        size = self.history_length
        if self.mode == "window":
            if length > size:
                raise UserError(f"{self.path}: {size} days of history replayed, an episode needs {length}")
            return rng.integers(0, size - length + 1, size=(n, 1)) + np.arange(length)[None, :]
        blocks = -(-length // self.block_length)
        starts = rng.integers(0, size, size=(n, blocks))
        index = (starts[:, :, None] + np.arange(self.block_length)[None, None, :]).reshape(n, -1)
        return index[:, :length] % size

    def sample(self, rng: np.random.Generator, n: int, length: int) -> tuple[np.ndarray, np.ndarray]:
        return self.series[self.draw_index(rng, n, length)], np.zeros((n, length, 0), dtype=np.float32)


def sample_paths(processes: list, rng: np.random.Generator, n: int, length: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Each process's ``sample(rng, n, length)`` in order, except that history replays of one file
    share the days they replay (drawn once, by the first of them; see :class:`HistoryDemand`)."""
    days: dict[tuple, np.ndarray] = {}
    parts = []
    for process in processes:
        if not isinstance(process, HistoryDemand):
            parts.append(process.sample(rng, n, length))
            continue
        if process.joint_key not in days:
            days[process.joint_key] = process.draw_index(rng, n, length)
        parts.append((process.series[days[process.joint_key]], np.zeros((n, length, 0), dtype=np.float32)))
    return parts


DemandConfig = Annotated[
    PoissonDemand
    | NegativeBinomialDemand
    | NormalDemand
    | UniformDemand
    | DeterministicDemand
    | SeasonalDemand
    | CsvDemand
    | HistoryDemand,
    Field(discriminator="dist"),
]
