"""PPO training env steps per second: InventoryVecEnv against DummyVecEnv over InventoryEnv, in one run.

    python benchmarks/train_throughput.py [--scenario lost_sales_L2_p9] [--timesteps 50000] [--repeats 2]

Both faces train PPO with the same hyperparameters (configs/algos/ppo.yaml for the scenario, as
train.py resolves them), the same wrappers (VecMonitor, VecNormalize), the same seed and no
logging. Each measurement is a whole ``model.learn`` (rollouts and gradient updates); the faces
alternate ``--repeats`` times and the best rate of each counts, so a busy moment on a shared
machine hurts neither. The table and the ratio are printed and written to
benchmarks/results/train_throughput.md.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from datetime import date
from pathlib import Path

import torch
from stable_baselines3.common.logger import Logger
from stable_baselines3.common.vec_env import DummyVecEnv, VecEnv

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from agents import rl
from envs import InventoryEnv
from envs.files import atomic_write
from envs.vec_env import InventoryVecEnv

RESULTS = Path(__file__).resolve().parent / "results" / "train_throughput.md"
SEED = 0


def training_rate(config: rl.RunConfig, venv: VecEnv, timesteps: int) -> float:
    """Env steps per second of a PPO ``learn`` of ``timesteps`` steps on ``venv``."""
    rl.setup_torch(SEED)
    model = rl.new_model(config, rl.make_training_env(config, SEED, venv=venv), SEED)
    model.set_logger(Logger(None, []))  # no output: only training is timed
    start = time.perf_counter()
    model.learn(timesteps)
    return model.num_timesteps / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", default="lost_sales_L2_p9")
    parser.add_argument("--timesteps", type=int, default=50_000, help="env steps per measurement")
    parser.add_argument("--repeats", type=int, default=2, help="measurements of each face")
    args = parser.parse_args()

    config = rl.resolve_config("ppo", args.scenario, SEED)
    n_envs = config.hyperparameters.n_envs
    faces = {
        "InventoryVecEnv": lambda: InventoryVecEnv(config.scenario, n_envs),
        "DummyVecEnv over InventoryEnv": lambda: DummyVecEnv([lambda: InventoryEnv(config.scenario)] * n_envs),
    }
    hp = config.hyperparameters.sb3_kwargs()
    training_rate(config, faces["InventoryVecEnv"](), 2 * n_envs * hp["n_steps"])  # warm up torch
    rates: dict[str, float] = {face: 0.0 for face in faces}
    for _ in range(args.repeats):
        for face, make_venv in faces.items():
            rates[face] = max(rates[face], training_rate(config, make_venv(), args.timesteps))

    ratio = rates["InventoryVecEnv"] / rates["DummyVecEnv over InventoryEnv"]
    lines = [
        "# PPO training throughput",
        "",
        f"Command: `python benchmarks/train_throughput.py --scenario {args.scenario} --timesteps {args.timesteps} "
        f"--repeats {args.repeats}`",
        f"Date: {date.today()}; machine: {platform.processor() or platform.machine()}, "
        f"Python {platform.python_version()}, torch {torch.__version__} with {torch.get_num_threads()} thread "
        "(as train.py), 2 cores shared (numbers are indicative; the ratio is measured in one run).",
        f"PPO as configs/algos/ppo.yaml resolves for {args.scenario}: n_envs {n_envs}, n_steps {hp['n_steps']}, "
        f"batch_size {hp['batch_size']}, n_epochs {hp['n_epochs']}, network {hp['policy_kwargs']['net_arch']}; "
        "VecMonitor and VecNormalize on both faces; the best of the repeats.",
        "",
        "| face | n_envs | env steps / s (rollouts + updates) |",
        "|---|---:|---:|",
        *[f"| {face} | {n_envs} | {rate:,.0f} |" for face, rate in rates.items()],
        "",
        f"InventoryVecEnv / DummyVecEnv: **{ratio:.2f}x** (target: at least 1.5x).",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(RESULTS, text)


if __name__ == "__main__":
    main()
