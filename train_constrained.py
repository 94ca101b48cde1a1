"""Fine-tune a general policy for items sharing a warehouse (issue 15: the general policy with the constraint).

    python train_constrained.py [--config configs/algos/general_constrained.yaml] [--out runs/constrained/NAME]
                                [--timesteps N] [--seed S]

Read top to bottom:

1. The config (configs/algos/general_constrained.yaml, every key validated) names the training
   items: SKUs ``training.first_sku`` .. ``training.last_sku - 1`` of an assortment scenario under
   the storage limit ``training.limit`` (:func:`envs.assortment.select_items`), and the policy
   fine-tuned: ``start``, a general single-item policy (zoo/general), widened to the constrained
   features (:func:`agents.rl.general.widened_layers`: the features it did not observe enter with
   zero weight), or null for the base policy.
2. The capacity price lambda is searched with the start policy on the training items
   (:func:`agents.classic.assortment.search_price`, as the Lagrangian baselines search theirs:
   ``price.episodes`` episodes of ``price.seed``), and fixed.
3. The env is :class:`envs.sku_vec_env.ConstrainedSkuVecEnv` (every item of ``copies`` copies of
   the training assortment one environment, under the limit; :mod:`envs.constrained` says what an
   item observes), PPO as :func:`train_general.ppo_model`, its actor then set to the start policy.
4. Every ``selection.every`` steps, and before the first update, the policy orders for the
   training items on ``selection.episodes`` episodes of ``selection.seed`` (other paths than
   training's, the same items and days); the score is its cost / the start policy's cost. The best
   policy goes to OUT/best, the last to OUT/final (format general-constrained-policy/1, with its
   price), scores to OUT/selection.csv, the price search to OUT/price.csv, TensorBoard logs to
   OUT/tb, the config to OUT/config.yaml and the seed, price and CPU time to OUT/run.yaml.
"""

from __future__ import annotations

import itertools
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml
from pydantic import Field, model_validator
from stable_baselines3 import PPO
from stable_baselines3.common.callbacks import BaseCallback
from torch import nn

from agents.classic.assortment import search_price
from agents.rl.general import (
    CONSTRAINED_FORMAT,
    ConstrainedGeneralPolicy,
    actor_network,
    load_general,
    save_general,
    sb3_actor_layers,
    widened_layers,
)
from agents.rl.training import setup_torch
from envs.assortment import is_assortment, select_items
from envs.batch import evaluation_paths, run_batch
from envs.constrained import CONSTRAINED_FEATURES
from envs.errors import UserError, exit_on_user_error
from envs.files import atomic_write
from envs.general import FEATURES
from envs.scenario import NetworkScenario, load_scenario
from envs.sku_vec_env import ConstrainedSkuVecEnv
from train_general import ROOT, Network, PPOSettings, Selector, _Strict, ppo_model, run_command

DEFAULT_CONFIG = ROOT / "configs" / "algos" / "general_constrained.yaml"


class Training(_Strict):
    scenario: str = Field(min_length=1, description="an assortment scenario: a name in configs/scenarios or a path")
    first_sku: int = Field(ge=0, description="first SKU trained on, 0-based in item-master order")
    last_sku: int = Field(ge=1, description="one past the last SKU trained on")
    limit: float = Field(gt=0, description="the storage limit the training SKUs share")

    @model_validator(mode="after")
    def _some_skus(self) -> Training:
        if self.last_sku <= self.first_sku:
            raise ValueError(f"last_sku {self.last_sku} must be above first_sku {self.first_sku}")
        return self


class Episodes(_Strict):
    episodes: int = Field(ge=1, le=100_000)
    seed: int = Field(ge=0)
    warmup: int = Field(ge=0, description="periods left out of each episode's cost")


class Every(Episodes):
    every: int = Field(ge=1, description="steps between two selections")


class ConstrainedConfig(_Strict):
    start: str | None = Field(description="the general policy fine-tuned (a directory), or null: the base policy")
    training: Training
    price: Episodes
    copies: int = Field(ge=1, le=100_000)
    total_timesteps: int = Field(ge=1)
    selection: Every
    network: Network
    ppo: PPOSettings


def training_items(config: ConstrainedConfig) -> NetworkScenario:
    """The training SKUs under the training limit; one line if the scenario is no assortment or a warmup is too long."""
    t = config.training
    scenario = load_scenario(t.scenario)
    if not isinstance(scenario, NetworkScenario) or not is_assortment(scenario) or not scenario.capacities:
        raise UserError(f"training.scenario: {t.scenario} is not an assortment with a shared limit")
    for key, part in (("price", config.price), ("selection", config.selection)):
        if part.warmup >= scenario.horizon:
            raise UserError(f"{key}.warmup: {part.warmup} periods, not below the horizon {scenario.horizon}")
    return select_items(scenario, t.first_sku, t.last_sku, t.limit)


def start_layers(config: ConstrainedConfig) -> list[tuple[np.ndarray, np.ndarray]]:
    """The start policy's actor layers on CONSTRAINED_FEATURES (all zero-output without a start policy)."""
    net = config.network
    if config.start is None:  # the base policy: a network whose last layer is zero
        sizes = [len(CONSTRAINED_FEATURES), *net.net_arch, 1]
        return [(np.zeros((b, a), np.float32), np.zeros(b, np.float32)) for a, b in itertools.pairwise(sizes)]
    actor, meta = load_general(ROOT / config.start if not Path(config.start).is_absolute() else config.start)
    linears = [m for m in actor if isinstance(m, nn.Linear)]
    layers = [(m.weight.detach().numpy().copy(), m.bias.detach().numpy().copy()) for m in linears]
    shape = [w.shape[0] for w, _ in layers[:-1]]
    if shape != net.net_arch or meta["activation"] != net.activation:
        start = f"{shape} {meta['activation']}"
        raise UserError(f"network: {net.net_arch} {net.activation} is not the start policy's {start}")
    return widened_layers(layers, FEATURES, CONSTRAINED_FEATURES)


def set_actor(model: PPO, layers: list[tuple[np.ndarray, np.ndarray]]) -> None:
    """Copy actor layers (policy network, then action layer) into a PPO MlpPolicy (the inverse of sb3_actor_layers)."""
    linears: list[nn.Module] = [m for m in model.policy.mlp_extractor.policy_net if isinstance(m, nn.Linear)]
    linears.append(model.policy.action_net)
    with torch.no_grad():
        for module, (weight, bias) in zip(linears, layers, strict=True):
            module.weight.copy_(torch.as_tensor(weight))  # type: ignore[operator]
            module.bias.copy_(torch.as_tensor(bias))  # type: ignore[operator]


class ConstrainedSelector(Selector):
    """Selector (train_general.py, step 4) on the training items under their limit, at the fixed price."""

    def __init__(self, config: ConstrainedConfig, out: Path, scenario: NetworkScenario, price: float) -> None:
        BaseCallback.__init__(self)
        self.settings, self.out, self.scenario, self.price = config, out, scenario, price
        self.judging = evaluation_paths(scenario, config.selection.episodes, config.selection.seed)
        self.baseline: list[float] = []
        self.best = np.inf
        self.every = config.selection.every
        self.last = -self.every
        self.scores = ["timesteps,score"]

    def _costs(self) -> list[float]:
        actor = actor_network(sb3_actor_layers(self.model), self.settings.network.activation)
        policy = ConstrainedGeneralPolicy(actor, self.scenario, self.price)
        warmup = self.settings.selection.warmup
        return [float(run_batch(policy, self.scenario, self.judging, warmup=warmup).avg_cost.mean())]

    def save(self, name: str, steps: int, score: float) -> None:
        config = self.settings
        about = {"timesteps": steps, "selection_score": score, "capacity_price": self.price,
                 "trained_on": config.training.model_dump(), "start": config.start}  # fmt: skip
        save_general(self.out / name, sb3_actor_layers(self.model), config.network.activation, about,
                     CONSTRAINED_FORMAT)  # fmt: skip


def train(config: ConstrainedConfig, out: Path, seed: int) -> dict[str, Any]:
    setup_torch(seed)
    began = time.process_time()
    scenario = training_items(config)
    layers = start_layers(config)
    start = actor_network(layers, config.network.activation)
    paths = evaluation_paths(scenario, config.price.episodes, config.price.seed)

    def judged(price: float) -> float:
        policy = ConstrainedGeneralPolicy(start, scenario, price)
        return float(run_batch(policy, scenario, paths, warmup=config.price.warmup).avg_cost.mean())

    trace = search_price(judged, scenario)
    price, cost = min(trace, key=lambda entry: entry[1])
    atomic_write(out / "price.csv", "lambda,cost_per_period\n" + "".join(f"{x:.6g},{c:.4f}\n" for x, c in trace))
    print(f"capacity price {price:.5g} (cost {cost:,.1f} per period with the start policy)", flush=True)
    venv = ConstrainedSkuVecEnv(scenario, config.copies, price, seed=seed)
    model = ppo_model(venv, config.network, config.ppo, out, seed)
    set_actor(model, layers)
    selector = ConstrainedSelector(config, out, scenario, price)
    model.learn(total_timesteps=config.total_timesteps, callback=selector, tb_log_name="ppo")
    selector.select()
    selector.save("final", model.num_timesteps, float("nan"))
    cpu = time.process_time() - began
    atomic_write(out / "run.yaml", yaml.safe_dump({"seed": seed, "capacity_price": price, "timesteps":
                 model.num_timesteps, "best_score": float(selector.best), "cpu_seconds": round(cpu, 1)}))  # fmt: skip
    return {"timesteps": model.num_timesteps, "best_score": selector.best, "cpu_seconds": cpu}


@exit_on_user_error
def main(argv: list[str] | None = None) -> None:
    run_command(argv, __doc__.splitlines()[0], DEFAULT_CONFIG, ConstrainedConfig, train, "constrained")


if __name__ == "__main__":
    main()
