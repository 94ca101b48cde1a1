"""Realistic synthetic retail histories: many SKUs, daily, with the signals that move demand.

Each SKU is drawn in one of the four Syntetos-Boylan classes (Syntetos, Boylan & Croston 2005,
J. Oper. Res. Soc. 56(5)): smooth and erratic items sell most days (average inter-demand
interval ADI < 1.32), intermittent and lumpy ones on few (ADI >= 1.32); sizes vary little for
smooth and intermittent items (squared coefficient of variation of the non-zero demands
CV^2 < 0.49) and a lot for erratic and lumpy ones.

The expected demand of SKU i on day t is a product of documented effects::

    level_i * weekly_i[dow] * yearly_i(t) * trend_i(t)
            * (price_t / base_price_i) ** -elasticity_i     price: list-price changes and promotions
            * (1 + promo_uplift_i)       on promotion days (display and feature, beyond the price cut)
            * (1 - post_promo_dip_i)     in the POST_PROMO_DAYS after a promotion (pantry loading)
            * (1 + holiday_effect_i)     on public holidays (Jan 1, Easter Monday, May 1, Dec 24-26, Dec 31)
            * exp(temperature_effect_i * (temperature_t - 12) / 10)

- smooth: negative binomial counts around that mean (little extra dispersion);
- erratic: the mean times a log-normal day factor (sigma 0.9), then Poisson;
- intermittent and lumpy: a sale happens with probability ``occurrence_i`` times the effects
  (capped at 0.9); its size is 1 + Poisson (intermittent) or 1 + a heavily over-dispersed negative
  binomial (lumpy).

Promotions last 3 to 10 days, about every 3 to 10 weeks per SKU, with a 10-35% price cut; list
prices change once or twice in the history. Temperature is one regional series (a yearly cycle
plus AR(1) weather noise), observed only in the past; price, promotion and holiday are known in
advance. About 10% of SKUs are new: they start selling late in the history.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from dateutil.easter import easter  # type: ignore[import-untyped]

CLASSES = ("smooth", "erratic", "intermittent", "lumpy")
CLASS_SHARES = (0.35, 0.2, 0.3, 0.15)
WEEKLY_PROFILE = np.array([0.9, 0.95, 1.0, 1.0, 1.15, 1.3, 0.7])  # Monday .. Sunday
POST_PROMO_DAYS = 7
KNOWN_SIGNALS = ("price", "promotion", "holiday")
SIGNALS = (*KNOWN_SIGNALS, "temperature")
NEW_ITEM_SHARE = 0.1


@dataclass(frozen=True)
class SyntheticHistory:
    """A generated history.

    Attributes:
        frame: the long format of :mod:`forecasting.data` (sku, date, demand, price, promotion,
            holiday, temperature), rows from each SKU's launch day on.
        items: one row per SKU: its class and the parameters of every effect.
        expected: (n, days) expected demand per SKU and day (NaN before launch).
    """

    frame: pd.DataFrame
    items: pd.DataFrame
    expected: np.ndarray


def holidays(dates: pd.DatetimeIndex) -> np.ndarray:
    """(T,) 0/1: public holidays (Jan 1, Easter Monday, May 1, Dec 24, 25, 26, 31)."""
    fixed = {(1, 1), (5, 1), (12, 24), (12, 25), (12, 26), (12, 31)}
    flag = np.array([(d.month, d.day) in fixed for d in dates])
    for year in set(dates.year):
        flag |= dates == pd.Timestamp(easter(year)) + pd.Timedelta(days=1)
    return flag.astype(float)


def temperature(dates: pd.DatetimeIndex, rng: np.random.Generator) -> np.ndarray:
    """(T,) daily mean temperature in Celsius: 12 +- 10 over the year (peak late July) plus AR(1) noise."""
    noise = np.zeros(len(dates))
    shocks = rng.normal(0.0, 1.5, len(dates))
    for t in range(1, len(dates)):
        noise[t] = 0.8 * noise[t - 1] + shocks[t]
    return 12.0 + 10.0 * np.sin(2 * np.pi * (dates.dayofyear.to_numpy() - 115) / 365.25) + noise


def _prices_and_promotions(
    rng: np.random.Generator, n: int, days: int, base_price: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """List prices with one or two changes, and promotions (flag and promotional price)."""
    price = np.repeat(base_price[:, None], days, axis=1)
    for i in range(n):
        for change_day in rng.integers(30, days, size=rng.integers(1, 3)):
            price[i, change_day:] *= 1 + rng.choice([-1, 1]) * rng.uniform(0.05, 0.15)
    promotion = np.zeros((n, days))
    gap = rng.uniform(21, 70, n)
    for i in range(n):
        day = int(rng.uniform(0, gap[i]))
        while day < days:
            length = int(rng.integers(3, 11))
            promotion[i, day : day + length] = 1
            price[i, day : day + length] *= 1 - rng.uniform(0.10, 0.35)
            day += length + POST_PROMO_DAYS + int(rng.exponential(gap[i]))
    return np.round(price, 2), promotion


def _after_promotion(promotion: np.ndarray) -> np.ndarray:
    """(n, T) 0/1: the POST_PROMO_DAYS days after a promotion ends (and no promotion running)."""
    ended = np.zeros_like(promotion)
    ended[:, 1:] = (promotion[:, :-1] == 1) & (promotion[:, 1:] == 0)
    window = np.zeros_like(promotion)
    for lag in range(POST_PROMO_DAYS):
        window[:, lag:] = np.maximum(window[:, lag:], ended[:, : promotion.shape[1] - lag])
    return window * (promotion == 0)


def generate_history(skus: int = 300, days: int = 730, seed: int = 0, start: str = "2024-01-01") -> SyntheticHistory:
    """Draw a retail history of ``skus`` items over ``days`` days (see the module docstring).

    Args:
        skus: number of SKUs (>= 1).
        days: number of days (>= 28).
        seed: seed of every random draw; the same seed gives the same history.
        start: the first date.

    Returns:
        The history, each SKU's parameters and its expected demand.
    """
    if skus < 1 or days < 28:
        raise ValueError("need at least 1 SKU and 28 days")
    rng = np.random.default_rng(seed)
    dates = pd.date_range(start, periods=days, freq="D")
    day = np.arange(days)
    kind = rng.choice(len(CLASSES), size=skus, p=CLASS_SHARES)
    frequent = kind < 2

    level = np.where(frequent, np.exp(rng.normal(2.6, 0.6, skus)).clip(4, 150), 0.0)
    occurrence = np.where(frequent, 1.0, rng.uniform(0.08, 0.45, skus))
    size = np.where(kind == 2, rng.uniform(1.2, 3.0, skus), np.where(kind == 3, rng.uniform(3.0, 12.0, skus), 0.0))
    # smooth items are staples: milder seasonality and less price-sensitive (scale = 0.5)
    scale = np.where(kind == 0, 0.5, 1.0)
    weekly_amplitude = rng.uniform(0.0, 1.0, skus) * scale
    yearly_amplitude = rng.uniform(0.0, 0.4, skus) * scale
    yearly_peak = rng.integers(0, 365, skus)
    trend = rng.uniform(-0.15, 0.25, skus) * scale
    base_price = np.round(rng.uniform(1.0, 20.0, skus), 2)
    elasticity = rng.uniform(1.0, 3.0, skus) * scale
    promo_uplift = rng.uniform(0.1, 0.6, skus) * scale
    post_promo_dip = rng.uniform(0.1, 0.3, skus)
    holiday_effect = rng.uniform(-0.5, 1.0, skus) * scale
    temperature_effect = rng.normal(0.0, 0.25, skus)
    launch = np.where(
        rng.random(skus) < NEW_ITEM_SHARE, rng.integers(days // 3, max(days // 3 + 1, days - 60), skus), 0
    )

    holiday = holidays(dates)
    weather = temperature(dates, rng)
    price, promotion = _prices_and_promotions(rng, skus, days, base_price)
    dip = _after_promotion(promotion)

    weekly = 1 + weekly_amplitude[:, None] * (WEEKLY_PROFILE[dates.dayofweek.to_numpy()][None, :] - 1)
    yearly = 1 + yearly_amplitude[:, None] * np.cos(2 * np.pi * (day[None, :] - yearly_peak[:, None]) / 365.25)
    growth = np.maximum(0.2, 1 + trend[:, None] * day[None, :] / 365.25)
    effects = (
        weekly
        * yearly
        * growth
        * (price / base_price[:, None]) ** -elasticity[:, None]
        * (1 + promo_uplift[:, None] * promotion)
        * (1 - post_promo_dip[:, None] * dip)
        * (1 + holiday_effect[:, None] * holiday[None, :])
        * np.exp(temperature_effect[:, None] * (weather[None, :] - 12.0) / 10.0)
    )

    demand = np.zeros((skus, days), dtype=np.int64)
    expected = np.zeros((skus, days))
    smooth, erratic, sparse = kind == 0, kind == 1, kind >= 2
    mean = level[:, None] * effects
    dispersion = 30.0  # negative binomial: variance = mean + mean^2 / dispersion
    demand[smooth] = rng.negative_binomial(dispersion, dispersion / (dispersion + mean[smooth]))
    day_factor = rng.lognormal(-(0.9**2) / 2, 0.9, size=(int(erratic.sum()), days))
    demand[erratic] = rng.poisson(mean[erratic] * day_factor)
    expected[~sparse] = mean[~sparse]
    chance = np.minimum(0.9, occurrence[:, None] * effects)
    sale = rng.random((skus, days)) < chance
    extra = np.maximum(size - 1, 0.0)[:, None]
    lumpy_dispersion = 0.5
    sizes = np.where(
        (kind == 2)[:, None],
        rng.poisson(np.broadcast_to(extra, (skus, days))),
        rng.negative_binomial(
            lumpy_dispersion, lumpy_dispersion / (lumpy_dispersion + np.broadcast_to(extra, (skus, days)))
        ),
    )
    demand[sparse] = (sale * (1 + sizes))[sparse]
    expected[sparse] = (chance * size[:, None])[sparse]
    expected[day[None, :] < launch[:, None]] = np.nan

    names = np.array([f"SKU-{i:05d}" for i in range(skus)], dtype=object)
    live = (day[None, :] >= launch[:, None]).reshape(-1)
    frame = pd.DataFrame(
        {
            "sku": np.repeat(names, days),
            "date": np.tile(dates.strftime("%Y-%m-%d").to_numpy(), skus),
            "demand": demand.reshape(-1),
            "price": price.reshape(-1),
            "promotion": promotion.reshape(-1).astype(np.int64),
            "holiday": np.tile(holiday, skus).astype(np.int64),
            "temperature": np.tile(np.round(weather, 1), skus),
        }
    )[live].reset_index(drop=True)
    items = pd.DataFrame(
        {
            "sku": names,
            "class": np.array(CLASSES)[kind],
            "launch_day": launch,
            "level": level,
            "occurrence": occurrence,
            "size": size,
            "weekly_amplitude": weekly_amplitude,
            "yearly_amplitude": yearly_amplitude,
            "trend": trend,
            "base_price": base_price,
            "elasticity": elasticity,
            "promo_uplift": promo_uplift,
            "post_promo_dip": post_promo_dip,
            "holiday_effect": holiday_effect,
            "temperature_effect": temperature_effect,
        }
    )
    return SyntheticHistory(frame, items, expected)


def split_future(history: SyntheticHistory, horizon: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The history without its last ``horizon`` days, and those days' known signals (the future file)."""
    dates = pd.to_datetime(history.frame["date"])
    cutoff = dates.max() - pd.Timedelta(days=horizon)
    past = history.frame[dates <= cutoff].reset_index(drop=True)
    future = history.frame.loc[dates > cutoff, ["sku", "date", *KNOWN_SIGNALS]].reset_index(drop=True)
    return past, future
