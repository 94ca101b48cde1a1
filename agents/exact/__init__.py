"""Exact answers the simulated and learned policies are held against.

- :mod:`agents.exact.formulas`: closed forms and exact algorithms for classic policies (EOQ,
  the newsvendor base-stock level, Zheng-Federgruen (s, S), the service-level reorder point).
- :mod:`agents.exact.dp`: the optimal policy of a single-item system by dynamic programming.
"""

from agents.exact.dp import DPResult, DPTooLarge, OptimalPolicy, solve_dp
from agents.exact.formulas import (
    BaseStockResult,
    EOQResult,
    SSResult,
    critical_fractile,
    eoq,
    expected_cost_function,
    lead_time_demand_pmf,
    newsvendor_base_stock,
    reorder_point_for_service,
    ss_average_cost,
    zheng_federgruen,
)

__all__ = [
    "BaseStockResult",
    "DPResult",
    "DPTooLarge",
    "EOQResult",
    "OptimalPolicy",
    "SSResult",
    "critical_fractile",
    "eoq",
    "expected_cost_function",
    "lead_time_demand_pmf",
    "newsvendor_base_stock",
    "reorder_point_for_service",
    "solve_dp",
    "ss_average_cost",
    "zheng_federgruen",
]
