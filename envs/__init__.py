"""Inventory replenishment environments: one batched numpy kernel and its faces.

Importing this package registers ``Inventory-v0`` with Gymnasium::

    import gymnasium, envs
    env = gymnasium.make("Inventory-v0", scenario="lost_sales_L2_p9")
"""

from gymnasium.envs.registration import register, registry

from envs.errors import UserError
from envs.inventory_env import InventoryEnv
from envs.kernel import ExogenousPaths, InventoryBatch, InventoryKernel, draw_paths, observation_names
from envs.scenario import Scenario, load_scenario

if "Inventory-v0" not in registry:
    register(id="Inventory-v0", entry_point="envs.inventory_env:InventoryEnv")

__all__ = [
    "ExogenousPaths",
    "InventoryBatch",
    "InventoryEnv",
    "InventoryKernel",
    "Scenario",
    "UserError",
    "draw_paths",
    "load_scenario",
    "observation_names",
]
