"""Reinforcement-learning agents: PPO and DQN from stable-baselines3, trained on the batched env.

What ``train.py`` calls, in order:

- :func:`~agents.rl.config.resolve_config`: the algo YAML, the ``-p`` overrides, the scenario
  and the seed, validated (:mod:`agents.rl.hyperparameters`).
- :class:`~agents.rl.run_directory.RunDirectory`: everything a run writes, created only once
  the input is valid (its layout: :mod:`agents.rl.run_directory`).
- :func:`~agents.rl.training.make_training_env` and :func:`~agents.rl.training.new_model`, or
  :meth:`~agents.rl.run_directory.Checkpoint.restore` on resume.
- the callbacks of :mod:`agents.rl.callbacks`: training KPIs, evaluations, checkpoints.

And what the evaluator calls: :func:`~agents.rl.policy.load_run`, which returns an
:class:`~agents.rl.policy.SB3Policy`, the adapter that makes a trained model meet the policy
protocol of :mod:`envs.policy`. Every file of a run is read without running code from it
(:mod:`agents.rl.serialization`). :mod:`agents.rl.tuning` (Optuna, an optional dependency) is
not imported here.
"""

from agents.rl.callbacks import EVAL_SEED, Checkpointer, EpisodeKpiLogger, EvaluationSet, Evaluator, crossed
from agents.rl.config import ALGO_DIR, MAX_SEED, RunConfig, load_hyperparameters, parse_overrides, resolve_config
from agents.rl.hyperparameters import (
    ALGOS,
    Algorithm,
    DQNHyperparameters,
    Hyperparameters,
    PPOHyperparameters,
    RunSettings,
    linear_schedule,
)
from agents.rl.policy import SB3Policy, load_run
from agents.rl.run_directory import Checkpoint, RunDirectory, open_for_resume, save_model
from agents.rl.serialization import LegacyPickleWarning, load_model, load_normalizer, stats_file
from agents.rl.training import make_logger, make_training_env, new_model, setup_torch

__all__ = [
    "ALGOS",
    "ALGO_DIR",
    "EVAL_SEED",
    "MAX_SEED",
    "Algorithm",
    "Checkpoint",
    "Checkpointer",
    "DQNHyperparameters",
    "EpisodeKpiLogger",
    "EvaluationSet",
    "Evaluator",
    "Hyperparameters",
    "LegacyPickleWarning",
    "PPOHyperparameters",
    "RunConfig",
    "RunDirectory",
    "RunSettings",
    "SB3Policy",
    "crossed",
    "linear_schedule",
    "load_hyperparameters",
    "load_model",
    "load_normalizer",
    "load_run",
    "make_logger",
    "make_training_env",
    "new_model",
    "open_for_resume",
    "parse_overrides",
    "resolve_config",
    "save_model",
    "setup_torch",
    "stats_file",
]
