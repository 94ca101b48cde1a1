"""Episode KPIs from the kernel's running totals: per system, and per stock point of a network."""

from __future__ import annotations

import numpy as np

from envs.kernel import TOTALS
from envs.system import System

KPI_NAMES = ("avg_cost", "fill_rate", "cycle_service_level", "avg_on_hand", "turnover", "lost_units", "order_frequency")
POINT_KPI_NAMES = (
    "avg_cost", "fill_rate", "cycle_service_level", "avg_on_hand", "avg_backlog", "avg_echelon_stock",
    "lost_units", "order_frequency",
)  # fmt: skip


def _total(totals: np.ndarray, name: str) -> np.ndarray:
    return totals[:, :, TOTALS.index(name)]


def system_kpis(totals: np.ndarray, periods: int, system: System) -> dict[str, np.ndarray]:
    """KPIs per system (arrays of length N) over ``periods`` periods.

    - avg_cost: total cost per period, all stock points (revenue left out).
    - fill_rate: share of customer demand met from stock in its own period (1 without demand).
    - cycle_service_level: share of (period, customer-facing point) pairs without a stockout.
    - avg_on_hand: mean end-of-period stock on hand, summed over the points.
    - turnover: units shipped to customers over the episode / avg_on_hand (NaN if it is 0).
    - lost_units: units of customer demand lost.
    - order_frequency: orders placed per period, summed over the points.
    """
    periods = max(periods, 1)
    demand, sales = _total(totals, "demand").sum(axis=1), _total(totals, "sales").sum(axis=1)
    avg_on_hand = _total(totals, "on_hand").sum(axis=1) / periods
    demand_points = max(int((system.demand_column >= 0).sum()), 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        fill_rate = np.where(demand > 0, sales / np.maximum(demand, 1), 1.0)
        turnover = np.where(avg_on_hand > 0, _total(totals, "shipped").sum(axis=1) / avg_on_hand, np.nan)
    return {
        "avg_cost": _total(totals, "cost").sum(axis=1) / periods,
        "fill_rate": fill_rate,
        "cycle_service_level": 1.0 - _total(totals, "stockouts").sum(axis=1) / (periods * demand_points),
        "avg_on_hand": avg_on_hand,
        "turnover": turnover,
        "lost_units": _total(totals, "lost").sum(axis=1),
        "order_frequency": _total(totals, "orders").sum(axis=1) / periods,
    }


def point_kpis(totals: np.ndarray, periods: int, system: System) -> dict[str, np.ndarray]:
    """KPIs per system and stock point (arrays (N, J)); fill rate and service level are NaN where a
    point has no customers. avg_echelon_stock: stock on hand at the point and below it plus what is
    in transit to the points below it (Clark and Scarf's echelon stock), per period.
    """
    periods = max(periods, 1)
    faces_customers = system.demand_column >= 0
    demand, sales = _total(totals, "demand"), _total(totals, "sales")
    on_hand, in_transit = _total(totals, "on_hand") / periods, _total(totals, "in_transit") / periods
    echelon = np.zeros_like(on_hand)
    for j in range(system.n_points):
        members = system.subtree(j)
        below = members[members != j]
        echelon[:, j] = on_hand[:, members].sum(axis=1) + in_transit[:, below].sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        fill_rate = np.where(faces_customers, np.where(demand > 0, sales / np.maximum(demand, 1), 1.0), np.nan)
    return {
        "avg_cost": _total(totals, "cost") / periods,
        "fill_rate": fill_rate,
        "cycle_service_level": np.where(faces_customers, 1.0 - _total(totals, "stockouts") / periods, np.nan),
        "avg_on_hand": on_hand,
        "avg_backlog": _total(totals, "backlog") / periods,
        "avg_echelon_stock": echelon,
        "lost_units": _total(totals, "lost"),
        "order_frequency": _total(totals, "orders") / periods,
    }
