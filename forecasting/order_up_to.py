"""Forecast-driven order-up-to levels: the critical-fractile quantile of demand over the protection interval.

Each period an order-up-to policy raises the inventory position to S, which must cover the
demand of the protection interval: the L + 1 periods from now through the arrival of an order
placed now (lead time L, this project's event order). S is the smallest integer with
P(D_1 + ... + D_{L+1} <= S) >= the critical fractile.

Summing per-period quantiles is wrong (the 0.95 quantile of a sum is far below the sum of the
0.95 quantiles). Instead, as in Silver, Pyke & Thomas (2017, Inventory and Production Management
in Supply Chains, 4th ed., ch. 6: lead-time demand from per-period forecasts and forecast-error
variances), the per-period forecast errors are taken as independent, so the protection-interval
demand has mean sum(mu_s) and variance sum(sigma_s^2); a count distribution with those two
moments is then fitted as in Adan, van Eenige & Resing (1995, "Fitting discrete distributions on
the first two moments", Probab. Eng. Inf. Sci. 9(4)): a negative binomial when the variance
exceeds the mean, else Poisson. ``distribution="normal"`` uses mu + z sigma instead (rounded up).

The per-period variances come from the forecaster: :func:`variance_from_quantiles` reads them off
a central interval of its quantile forecasts.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
from scipy import special


def critical_fractile(holding_cost: float, shortage_cost: float) -> float:
    """The newsvendor fractile b / (b + h).

    With backorders, ``shortage_cost`` is the cost per unit backordered per period (exact for the
    base-stock policy with iid demand, Zipkin 2000, Foundations of Inventory Management, ch. 6); with
    lost sales it is the cost per unit lost, and p / (p + h) is the usual myopic approximation.
    """
    if holding_cost <= 0 or shortage_cost <= 0:
        raise ValueError("holding and shortage costs must be positive")
    return shortage_cost / (shortage_cost + holding_cost)


def variance_from_quantiles(
    mean: np.ndarray, quantiles: np.ndarray, levels: Sequence[float], central: float = 0.8
) -> np.ndarray:
    """Per-period forecast variances implied by a central interval of quantile forecasts.

    sigma = (q_{(1+c)/2} - q_{(1-c)/2}) / (z_{(1+c)/2} - z_{(1-c)/2}), the standard deviation of a
    normal with that interval; the variance is floored at the mean (Poisson), since a count
    forecast narrower than Poisson noise is overconfident and integer quantiles are coarse at low means.

    Args:
        mean: (...,) forecast means.
        quantiles: (..., Q) quantile forecasts at ``levels``.
        levels: must contain (1 - central) / 2 and (1 + central) / 2.
        central: the central interval's coverage.
    """
    levels = [round(level, 6) for level in levels]
    low, high = round((1 - central) / 2, 6), round((1 + central) / 2, 6)
    if low not in levels or high not in levels:
        raise ValueError(f"quantile levels {levels} lack the central {central:.0%} interval ({low}, {high})")
    width = quantiles[..., levels.index(high)] - quantiles[..., levels.index(low)]
    from scipy import stats  # here, not at the top: plan.py needs only gamma_levels, and scipy.stats is ~50 MB

    sigma = width / (stats.norm.ppf(high) - stats.norm.ppf(low))
    return np.maximum(sigma**2, mean)


def order_up_to_levels(
    means: np.ndarray,
    variances: np.ndarray,
    fractile: float,
    distribution: Literal["negative_binomial", "normal"] = "negative_binomial",
) -> np.ndarray:
    """Order-up-to levels S (n,) covering the protection interval with probability ``fractile``.

    Args:
        means: (n, L + 1) forecast mean demand of each period of the protection interval.
        variances: (n, L + 1) forecast variance of each period (independent errors assumed).
        fractile: the critical fractile, in (0, 1) (see :func:`critical_fractile`).
        distribution: ``negative_binomial`` (two-moment fit: negative binomial if variance > mean,
            else Poisson) or ``normal``.

    Returns:
        (n,) int64 levels >= 0.
    """
    if not 0 < fractile < 1:
        raise ValueError(f"critical fractile must be in (0, 1), got {fractile}")
    means = np.atleast_2d(np.asarray(means, dtype=float))
    variances = np.atleast_2d(np.asarray(variances, dtype=float))
    if means.shape != variances.shape:
        raise ValueError(f"means {means.shape} and variances {variances.shape} differ")
    if (means < 0).any() or (variances < 0).any() or not (np.isfinite(means).all() and np.isfinite(variances).all()):
        raise ValueError("means and variances must be finite and >= 0")
    from scipy import stats  # see variance_from_quantiles

    mu = means.sum(axis=1)
    var = variances.sum(axis=1)
    if distribution == "normal":
        return np.maximum(0, np.ceil(mu + stats.norm.ppf(fractile) * np.sqrt(var) - 1e-9)).astype(np.int64)
    levels = np.zeros(len(mu))
    over = (var > mu * (1 + 1e-9)) & (mu > 0)  # no demand expected: level 0, whatever the variance
    poisson = ~over & (mu > 0)
    levels[poisson] = stats.poisson.ppf(fractile, mu[poisson])
    # negative binomial with mean mu and variance var: r = mu^2 / (var - mu), p = mu / var
    r = mu[over] ** 2 / (var[over] - mu[over])
    levels[over] = stats.nbinom.ppf(fractile, r, mu[over] / var[over])
    return levels.astype(np.int64)


def gamma_levels(mean: np.ndarray, variance: np.ndarray, fractile: np.ndarray | float) -> np.ndarray:
    """The ``fractile`` quantile of demand with this mean and variance from a two-moment gamma fit, rounded up.

    The gamma with shape mean^2 / variance and scale variance / mean (Burgin 1975, "The gamma
    distribution and inventory control", Operational Research Quarterly 26(3)): one vectorised
    special-function call, fast for millions of SKUs and per-SKU fractiles, within a unit or so of
    :func:`order_up_to_levels`' discrete fits. Zero where the mean is zero; the variance is floored
    at a tiny share of the mean (a deterministic demand has level = mean).

    Args:
        mean, variance: (...,) protection-interval demand, >= 0.
        fractile: in (0, 1), scalar or broadcastable to ``mean``.
    """
    mean = np.asarray(mean, dtype=float)
    variance = np.maximum(np.asarray(variance, dtype=float), 1e-9 * mean)
    with np.errstate(divide="ignore", invalid="ignore"):
        quantile = special.gammaincinv(mean**2 / variance, fractile) * (variance / mean)
    return np.where(mean > 0, np.ceil(quantile - 1e-9), 0.0).astype(np.int64)
