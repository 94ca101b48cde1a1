"""Inventory replenishment environments: one compiled kernel over stock points, and its faces.

Importing this package registers ``Inventory-v1`` with Gymnasium::

    import gymnasium, envs
    env = gymnasium.make("Inventory-v1", scenario="lost_sales_L2_p9")

Its names (``envs.InventoryEnv``, ``envs.InventoryVecEnv``, ``envs.load_scenario``...) are
imported on first use: importing a light module such as :mod:`envs.errors` or :mod:`envs.files`
(what recommend.py does) does not import numba, scipy, stable-baselines3 or torch. The
registration names the entry point as a string, so it imports no env module either.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from gymnasium.envs.registration import register, registry

if TYPE_CHECKING:
    from envs.batch import InventoryBatch, run_batch
    from envs.errors import UserError
    from envs.inventory_env import InventoryEnv
    from envs.kernel import InventoryKernel
    from envs.layout import ObservationLayout
    from envs.paths import ExogenousPaths, draw_paths
    from envs.scenario import NetworkScenario, Scenario, load_scenario
    from envs.vec_env import InventoryVecEnv

if "Inventory-v1" not in registry:
    register(id="Inventory-v1", entry_point="envs.inventory_env:InventoryEnv")

# Each public name and the module it is imported from on first use.
_MODULES = {
    "ExogenousPaths": "envs.paths",
    "InventoryBatch": "envs.batch",
    "InventoryEnv": "envs.inventory_env",
    "InventoryKernel": "envs.kernel",
    "InventoryVecEnv": "envs.vec_env",
    "NetworkScenario": "envs.scenario",
    "ObservationLayout": "envs.layout",
    "Scenario": "envs.scenario",
    "UserError": "envs.errors",
    "draw_paths": "envs.paths",
    "load_scenario": "envs.scenario",
    "run_batch": "envs.batch",
}

__all__ = [
    "ExogenousPaths",
    "InventoryBatch",
    "InventoryEnv",
    "InventoryKernel",
    "InventoryVecEnv",
    "NetworkScenario",
    "ObservationLayout",
    "Scenario",
    "UserError",
    "draw_paths",
    "load_scenario",
    "run_batch",
]


def __getattr__(name: str) -> Any:
    if name not in _MODULES:
        raise AttributeError(f"module 'envs' has no attribute {name!r}")
    return getattr(importlib.import_module(_MODULES[name]), name)


def __dir__() -> list[str]:
    return sorted([*globals(), *_MODULES])
