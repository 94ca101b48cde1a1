"""Classic order policies and their tuning.

- :mod:`agents.classic.policies`: base-stock, capped base-stock, (s, S) and (r, Q) rules.
- :mod:`agents.classic.tuning`: their parameters for a scenario, exact or by simulation search.
"""

from agents.classic.policies import BaseStock, CappedBaseStock, RandomOrders, ReorderPointQuantity, SSPolicy
from agents.classic.tuning import (
    TUNERS,
    TunedPolicy,
    eoq_batch,
    simulation_search,
    tune_base_stock,
    tune_capped_base_stock,
    tune_eoq,
    tune_s_S,
)

__all__ = [
    "TUNERS",
    "BaseStock",
    "CappedBaseStock",
    "RandomOrders",
    "ReorderPointQuantity",
    "SSPolicy",
    "TunedPolicy",
    "eoq_batch",
    "simulation_search",
    "tune_base_stock",
    "tune_capped_base_stock",
    "tune_eoq",
    "tune_s_S",
]
