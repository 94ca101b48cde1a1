"""Train one general single-item policy over a population of systems (issue 14: one policy for many items).

    python train_general.py [--config configs/algos/general.yaml] [--out runs/general/NAME]
                            [--timesteps N] [--seed S]

Read top to bottom:

1. The config (configs/algos/general.yaml, every key validated) names the population: ``size``
   single-item systems drawn by :func:`envs.population.draw_instances` from ``seed`` (the design
   of the held-out instances, another seed), put side by side in one scenario.
2. The env is :class:`envs.sku_vec_env.SkuVecEnv` (every item of ``copies`` copies of the
   population is one environment; :mod:`envs.general` says what an item observes and what its
   action means), under VecNormalize of the rewards.
3. PPO (stable-baselines3, MLP policy) whose action layer starts at zero, so the untrained
   policy is every item's base (s, S) policy (envs.general).
4. Every ``selection.every`` steps, and before the first update, the policy orders on each
   selection scenario (the training instances, never the held-out ones) for
   ``selection.episodes`` episodes of ``selection.seed``; the score is the mean of cost / cost of
   the untrained policy on the same paths. The best-scoring policy is written to OUT/best, the
   last to OUT/final (agents.rl.general: plain JSON and npz, no pickle), scores to
   OUT/selection.csv, TensorBoard logs to OUT/tb, the config as run to OUT/config.yaml.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from stable_baselines3 import PPO
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.vec_env import VecMonitor, VecNormalize

from agents.rl.general import ACTIVATIONS, GeneralPolicy, actor_network, save_general, sb3_actor_layers
from agents.rl.training import setup_torch
from envs.arguments import MAX_SEED, ArgumentParser, integer
from envs.batch import evaluation_paths, run_batch
from envs.errors import UserError, exit_on_user_error
from envs.files import atomic_write, check_output_directory
from envs.population import RANGE, draw_instances, population_scenario
from envs.scenario import format_validation_error, load_scenario
from envs.sku_vec_env import SkuVecEnv

ROOT = Path(__file__).resolve().parent
DEFAULT_CONFIG = ROOT / "configs" / "algos" / "general.yaml"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Population(_Strict):
    seed: int = Field(ge=0)
    size: int = Field(ge=4, le=100_000)
    horizon: int = Field(ge=2, le=10_000, description="periods of a training episode")


class Selection(_Strict):
    scenarios: str = Field(description="a directory of single-item scenario files, relative to the repository")
    episodes: int = Field(ge=1, le=100_000)
    seed: int = Field(ge=0)
    warmup: int = Field(ge=0)
    every: int = Field(ge=1)


class Network(_Strict):
    net_arch: list[int] = Field(min_length=1, max_length=8)
    activation: str = Field(pattern="^(" + "|".join(ACTIVATIONS) + ")$")
    log_std_init: float = Field(ge=-10, le=2)


class PPOSettings(_Strict):
    n_steps: int = Field(ge=2)
    batch_size: int = Field(ge=2)
    n_epochs: int = Field(ge=1)
    learning_rate: float = Field(gt=0, le=1)
    gamma: float = Field(gt=0, le=1)
    gae_lambda: float = Field(ge=0, le=1)
    clip_range: float = Field(gt=0, le=1)
    ent_coef: float = Field(ge=0, le=1)
    vf_coef: float = Field(gt=0, le=10)
    max_grad_norm: float = Field(gt=0, le=100)


class GeneralConfig(_Strict):
    population: Population
    copies: int = Field(ge=1, le=100_000)
    total_timesteps: int = Field(ge=1)
    selection: Selection
    network: Network
    ppo: PPOSettings


C = TypeVar("C", bound=BaseModel)


def read_config(path: Path, timesteps: int | None, model: type[C]) -> C:
    """The validated config (of ``model``); one line naming the file and key for anything wrong."""
    try:
        raw = yaml.safe_load(path.read_text())
        if timesteps is not None:
            raw["total_timesteps"] = timesteps
        return model.model_validate(raw)
    except OSError as error:
        raise UserError(f"{path}: cannot read ({error.strerror})") from None
    except yaml.YAMLError as error:
        raise UserError(f"{path}: not YAML ({str(error).splitlines()[0]})") from None
    except ValidationError as error:
        raise UserError(format_validation_error(str(path), error)) from None
    except TypeError:
        raise UserError(f"{path}: not a mapping of keys") from None


class Selector(BaseCallback):
    """Scores the policy on the selection scenarios every ``every`` steps and keeps the best (see step 4)."""

    def __init__(self, config: GeneralConfig, out: Path) -> None:
        super().__init__()
        self.config, self.out = config, out
        sel = config.selection
        files = sorted((ROOT / sel.scenarios).glob("*.yaml"))
        if not files:
            raise UserError(f"{sel.scenarios}: no scenario files (selection.scenarios)")
        self.scenarios = [load_scenario(str(f)) for f in files]
        for scenario in self.scenarios:
            if sel.warmup >= scenario.horizon:
                horizon = f"the horizon {scenario.horizon} of {scenario.name}"
                raise UserError(f"selection.warmup: {sel.warmup} periods, not below {horizon}")
        self.paths = [evaluation_paths(s, sel.episodes, sel.seed) for s in self.scenarios]
        self.baseline: list[float] = []
        self.best = np.inf
        self.every = sel.every
        self.last = -sel.every
        self.scores = ["timesteps,score"]

    def _costs(self) -> list[float]:
        actor = actor_network(sb3_actor_layers(self.model), self.config.network.activation)
        warmup = self.config.selection.warmup
        return [
            float(run_batch(GeneralPolicy(actor, s, trained_range=RANGE), s, p, warmup=warmup).avg_cost.mean())
            for s, p in zip(self.scenarios, self.paths, strict=True)
        ]

    def select(self) -> None:
        costs = self._costs()
        if not self.baseline:
            self.baseline = costs
        score = float(np.mean(np.array(costs) / np.array(self.baseline)))
        steps = self.num_timesteps
        self.scores.append(f"{steps},{score:.6f}")
        atomic_write(self.out / "selection.csv", "\n".join(self.scores) + "\n")
        self.logger.record("selection/score", score)
        if score < self.best:
            self.best = score
            self.save("best", steps, score)
        print(f"{steps:>12,} steps: selection score {score:.5f} (best {self.best:.5f})", flush=True)

    def save(self, name: str, steps: int, score: float) -> None:
        about = {"timesteps": steps, "selection_score": score, "trained_on": self.config.population.model_dump(),
                 "range": RANGE}  # fmt: skip
        save_general(self.out / name, sb3_actor_layers(self.model), self.config.network.activation, about)

    def _on_training_start(self) -> None:
        self.select()
        self.last = 0

    def _on_step(self) -> bool:
        if self.num_timesteps - self.last >= self.every:
            self.last = self.num_timesteps
            self.select()
        return True


def new_out_directory(out: Path | None, runs: str = "general") -> Path:
    """The run directory: ``out`` if it is new or empty (not a symlink or a file), else one line and exit 2;
    without ``out``, a new one under runs/``runs``/."""
    out = check_output_directory(out or ROOT / "runs" / runs / time.strftime("%Y%m%d-%H%M%S"))
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UserError(f"--out {out}: cannot write here ({error.strerror})") from None
    return out


def ppo_model(venv: SkuVecEnv, network: Network, ppo: PPOSettings, out: Path, seed: int) -> PPO:
    """PPO (MLP policy) on ``venv`` under VecMonitor and VecNormalize of the rewards, TensorBoard logs to
    OUT/tb, its action layer at zero: the untrained policy is every item's base (s, S) policy."""
    env = VecNormalize(VecMonitor(venv), norm_obs=False, norm_reward=True, gamma=ppo.gamma)
    net = network
    policy_kwargs = {"net_arch": {"pi": net.net_arch, "vf": net.net_arch}, "activation_fn": ACTIVATIONS[net.activation],
                     "log_std_init": net.log_std_init}  # fmt: skip
    model = PPO("MlpPolicy", env, seed=seed, device="cpu", verbose=0, tensorboard_log=str(out / "tb"),
                policy_kwargs=policy_kwargs, **ppo.model_dump())  # fmt: skip
    with torch.no_grad():  # the untrained policy is every item's base (s, S) policy
        for parameter in model.policy.action_net.parameters():
            parameter.zero_()
    return model


def train(config: GeneralConfig, out: Path, seed: int) -> dict[str, Any]:
    setup_torch(seed)
    pop = config.population
    scenario = population_scenario(draw_instances(pop.seed, pop.size), "general_population", pop.horizon)
    model = ppo_model(SkuVecEnv(scenario, config.copies, seed=seed), config.network, config.ppo, out, seed)
    selector = Selector(config, out)
    start = time.process_time()
    model.learn(total_timesteps=config.total_timesteps, callback=selector, tb_log_name="ppo")
    selector.select()
    selector.save("final", model.num_timesteps, float("nan"))
    return {"timesteps": model.num_timesteps, "best_score": selector.best, "cpu_seconds": time.process_time() - start}


def run_command(
    argv: list[str] | None,
    description: str,
    default_config: Path,
    config_type: type[C],
    train_run: Callable[[C, Path, int], dict[str, Any]],
    runs: str,
) -> None:
    """The command line of a general policy's training script (this one and train_constrained.py): read
    the config, train into a new run directory (default: under runs/``runs``/), and leave no run without
    a policy behind when training fails or is interrupted."""
    parser = ArgumentParser(description=description)
    parser.add_argument("--config", type=Path, default=default_config)
    parser.add_argument("--out", type=Path, default=None, help="run directory (new or empty)")
    parser.add_argument("--timesteps", type=integer(1), default=None, help="replaces total_timesteps")
    parser.add_argument("--seed", type=integer(0, MAX_SEED), default=0)
    args = parser.parse_args(argv)
    config = read_config(args.config, args.timesteps, config_type)
    out = new_out_directory(args.out, runs)
    try:
        atomic_write(out / "config.yaml", yaml.safe_dump(config.model_dump(), sort_keys=False))
        result = train_run(config, out, args.seed)
    except BaseException as stopped:  # a failure or an interrupt: no run without a policy is left behind
        if not (out / "best").is_dir():
            shutil.rmtree(out, ignore_errors=True)
        elif isinstance(stopped, UserError):
            raise UserError(f"{stopped}; the best policy so far is kept in {out}/best") from None
        raise
    print(f"done: {result['timesteps']:,} steps, best selection score {result['best_score']:.5f}, "
          f"{result['cpu_seconds'] / 60:.1f} CPU-minutes; policies in {out}/best and {out}/final")  # fmt: skip


@exit_on_user_error
def main(argv: list[str] | None = None) -> None:
    run_command(argv, __doc__.splitlines()[0], DEFAULT_CONFIG, GeneralConfig, train, "general")


if __name__ == "__main__":
    main()
