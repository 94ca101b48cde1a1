"""Training with stable-baselines3 on the batched env: torch settings, the env, a new model, the logger."""

from __future__ import annotations

import sys
from pathlib import Path

import torch
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.logger import HumanOutputFormat, Logger, TensorBoardOutputFormat
from stable_baselines3.common.utils import set_random_seed
from stable_baselines3.common.vec_env import VecEnv, VecMonitor, VecNormalize
from torch.utils.tensorboard import SummaryWriter

from agents.rl.config import RunConfig
from agents.rl.serialization import load_normalizer
from envs.vec_env import InventoryVecEnv


def setup_torch(seed: int) -> None:
    """Seed Python, numpy and torch; make torch deterministic (same seed, same model) and single-threaded.

    The networks are small: more threads only add overhead, and on a busy machine their
    spin-waiting stalled a PPO run from 10,000 to 270 env steps per second.
    """
    set_random_seed(seed)
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)


def make_training_env(
    config: RunConfig, seed: int, venv: VecEnv | None = None, stats_of: Path | None = None
) -> VecNormalize:
    """The training env: ``venv`` (default: an InventoryVecEnv of ``n_envs`` systems) with episode
    statistics (VecMonitor) and normalisation (VecNormalize: new, or with the statistics saved
    next to the model file ``stats_of``)."""
    hp = config.hyperparameters
    monitored = VecMonitor(venv or InventoryVecEnv(config.scenario, hp.n_envs, seed=seed))
    if stats_of is not None:
        return load_normalizer(stats_of, monitored)
    return VecNormalize(monitored, norm_obs=hp.normalize.obs, norm_reward=hp.normalize.reward, gamma=hp.gamma)


def new_model(config: RunConfig, env: VecEnv, seed: int, verbose: int = 1) -> BaseAlgorithm:
    """A new SB3 model of the configured algorithm, MLP policy, on CPU.

    When its actions correct a classic policy (``action_meaning: correction``), the actor's output
    layer starts at zero: the untrained model's deterministic action is 0, the classic policy itself
    (residual policy learning: Silver et al. 2018, arXiv:1812.06298).
    """
    kwargs = config.hyperparameters.sb3_kwargs()
    model = config.algorithm.sb3_class("MlpPolicy", env, seed=seed, device="cpu", verbose=verbose, **kwargs)
    if config.scenario.action_meaning == "correction":
        with torch.no_grad():
            action_net = model.policy.action_net
            assert isinstance(action_net, torch.nn.Module)  # PPO's linear output layer
            for parameter in action_net.parameters():
                parameter.zero_()
    return model


class _TensorBoardFrom(TensorBoardOutputFormat):
    """SB3's TensorBoard output with ``purge_step``: TensorBoard then hides the events that earlier
    files of the directory hold at steps >= ``purge_step`` (what a killed run logged after its
    last checkpoint), so a resumed run's curves continue without a fold."""

    def __init__(self, folder: str, purge_step: int | None) -> None:
        self.writer = SummaryWriter(log_dir=folder, purge_step=purge_step)
        self._is_closed = False


def make_logger(folder: Path, resumed_from: int | None = None) -> Logger:
    """SB3's logger writing to stdout and to TensorBoard event files in ``folder``.

    Args:
        folder: the TensorBoard directory.
        resumed_from: the step of the checkpoint a resumed run starts from; what was logged
            at that step (the evaluation the checkpoint holds) is kept, anything later is hidden.
    """
    purge_step = None if resumed_from is None else resumed_from + 1
    return Logger(str(folder), [HumanOutputFormat(sys.stdout), _TensorBoardFrom(str(folder), purge_step)])
