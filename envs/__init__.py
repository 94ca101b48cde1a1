"""Inventory replenishment environments: one compiled kernel over stock points, and its faces.

Importing this package registers ``Inventory-v1`` with Gymnasium::

    import gymnasium, envs
    env = gymnasium.make("Inventory-v1", scenario="lost_sales_L2_p9")
"""

from gymnasium.envs.registration import register, registry

from envs.batch import InventoryBatch, run_batch
from envs.errors import UserError
from envs.inventory_env import InventoryEnv
from envs.kernel import InventoryKernel
from envs.layout import ObservationLayout
from envs.paths import ExogenousPaths, draw_paths
from envs.scenario import NetworkScenario, Scenario, load_scenario

if "Inventory-v1" not in registry:
    register(id="Inventory-v1", entry_point="envs.inventory_env:InventoryEnv")



def __getattr__(name: str) -> object:
    # the VecEnv pulls in stable-baselines3 and torch: imported when asked for, not with the package
    if name == "InventoryVecEnv":
        from envs.vec_env import InventoryVecEnv

        return InventoryVecEnv
    raise AttributeError(f"module 'envs' has no attribute {name!r}")


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
