"""The order rules of the classic policies in one normal form.

Every classic policy of a single item orders on its inventory position y by one rule with four
parameters (reorder point, order-up-to level, batch, cap): when y is at or below the reorder
point, the smallest multiple of the batch that lifts y to the order-up-to level or above, at
most the cap; else nothing (Axsaeter, *Inventory Control*, 3rd ed., ch. 4-5):

| policy            | parameters | reorder point | order-up-to level | batch | cap       |
|-------------------|------------|---------------|-------------------|-------|-----------|
| base_stock        | S          | S - 1         | S                 | 1     | none      |
| capped_base_stock | S, cap     | S - 1         | S                 | 1     | cap       |
| s_S               | s, S       | s             | S                 | 1     | none      |
| eoq               | r, Q       | r             | r + 1             | Q     | none      |

The classic policies (:mod:`agents.classic.policies`), the scenario's ``action_base`` that an
agent's corrections start from (:mod:`envs.scenario`) and the kernel's action mapping
(:mod:`envs.actions`, the same code compiled) all order through :func:`reorder_rule`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from envs.limits import MAX_UNITS

# The parameters of each classic policy, by its name.
PARAMETERS = {"base_stock": ("S",), "capped_base_stock": ("S", "cap"), "s_S": ("s", "S"), "eoq": ("r", "Q")}


def normal_form(policy: str, **params: Any) -> tuple[Any, Any, Any, Any]:
    """(reorder point, order-up-to level, batch, cap) of a classic policy's parameters (scalars or arrays)."""
    if policy == "base_stock":
        return params["S"] - 1, params["S"], 1, MAX_UNITS
    if policy == "capped_base_stock":
        return params["S"] - 1, params["S"], 1, params["cap"]
    if policy == "s_S":
        return params["s"], params["S"], 1, MAX_UNITS
    if policy == "eoq":
        return params["r"], params["r"] + 1, params["Q"], MAX_UNITS
    raise ValueError(f"unknown classic policy '{policy}' (known: {', '.join(PARAMETERS)})")


def reorder_rule(position, reorder_point, order_up_to, batch, cap):
    """The order at inventory position ``position`` under the rule in normal form (see the module docstring).

    Scalars or arrays that broadcast; numba compiles the same function for the kernel.
    """
    shortfall = order_up_to - position
    return (position <= reorder_point) * np.minimum(-(-shortfall // batch) * batch, cap)
