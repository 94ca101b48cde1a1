"""Hyperparameter search with Optuna: short training runs on the batched env, pruned on the way.

Each trial draws hyperparameters from the algorithm's search space (:data:`SEARCH_SPACES`),
applies them on top of the algo config (``configs/algos/ALGO.yaml``: default block, then the
scenario's block, then the fixed ``-p`` overrides of the study), trains on
:class:`envs.vec_env.InventoryVecEnv` and is evaluated every ``eval_freq`` steps on the same
fixed paths as ``train.py`` (:class:`agents.EvaluationSet`). Each evaluation's average cost
is reported to Optuna, whose median pruner stops trials that are behind the median of earlier
trials at the same step. A trial's value is its best evaluated cost, the number ``train.py``
selects ``best_model.zip`` by.

Trials are sampled in batches (:func:`optimize`) and each is trained by :func:`run_trial`, a
function of its arguments only, so that the trials of a batch can run side by side on Ray
workers (:mod:`envs.distributed`) and give what they give in this process.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import optuna
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback

from agents.rl.callbacks import EvaluationSet, crossed
from agents.rl.config import RunConfig, resolve_config
from agents.rl.training import make_training_env, new_model, setup_torch
from envs.distributed import Workers


def ppo_space(trial: optuna.Trial) -> dict[str, Any]:
    """PPO: learning rate and its schedule, discount, rollout and batch sizes, epochs, network width, initial noise."""
    return {
        "learning_rate": trial.suggest_float("learning_rate", 3e-5, 1e-3, log=True),
        "learning_rate_schedule": trial.suggest_categorical("learning_rate_schedule", ["constant", "linear"]),
        "gamma": trial.suggest_categorical("gamma", [0.9, 0.95, 0.98, 0.99]),
        "n_steps": trial.suggest_categorical("n_steps", [32, 64, 128]),
        "batch_size": trial.suggest_categorical("batch_size", [256, 512, 1024]),
        "n_epochs": trial.suggest_int("n_epochs", 3, 15),
        "gae_lambda": trial.suggest_categorical("gae_lambda", [0.9, 0.95, 0.98]),
        "policy_kwargs.net_arch": [trial.suggest_categorical("width", [32, 64, 128])] * 2,
        "policy_kwargs.log_std_init": trial.suggest_float("log_std_init", -2.5, 0.0),
    }


def dqn_space(trial: optuna.Trial) -> dict[str, Any]:
    """DQN: learning rate and its schedule, discount, updates per step, target updates, exploration, width."""
    return {
        "learning_rate": trial.suggest_float("learning_rate", 5e-5, 2e-3, log=True),
        "learning_rate_schedule": trial.suggest_categorical("learning_rate_schedule", ["constant", "linear"]),
        "gamma": trial.suggest_categorical("gamma", [0.9, 0.95, 0.98, 0.99]),
        "train_freq": trial.suggest_categorical("train_freq", [1, 2, 4]),
        "batch_size": trial.suggest_categorical("batch_size", [64, 128, 256]),
        "target_update_interval": trial.suggest_categorical("target_update_interval", [500, 1000, 5000]),
        "exploration_fraction": trial.suggest_float("exploration_fraction", 0.02, 0.3),
        "policy_kwargs.net_arch": [trial.suggest_categorical("width", [32, 64, 128])] * 2,
    }


SEARCH_SPACES: dict[str, Callable[[optuna.Trial], dict[str, Any]]] = {"ppo": ppo_space, "dqn": dqn_space}


def fitted(params: dict[str, Any], base: RunConfig) -> dict[str, Any]:
    """``params`` with PPO's mini-batch no larger than a rollout (n_steps x n_envs), which the config requires:
    with few systems (a small ``-p n_envs``) a sampled batch size may exceed it."""
    if "n_steps" in params and "batch_size" in params:
        rollout = params["n_steps"] * base.hyperparameters.n_envs
        params = {**params, "batch_size": min(params["batch_size"], rollout)}
    return params


class TrialReporter(BaseCallback):
    """Evaluates the model every ``eval_freq`` env steps, reports the cost to the trial, stops it when pruned."""

    def __init__(self, trial: optuna.Trial, config: RunConfig, evaluation: EvaluationSet) -> None:
        super().__init__()
        self.trial, self.config, self.evaluation = trial, config, evaluation
        self.best_cost = float("inf")
        self.pruned = False

    def _on_step(self) -> bool:
        if not crossed(self.num_timesteps, self.training_env.num_envs, self.config.hyperparameters.eval_freq):
            return True
        cost = self.evaluation.evaluate(self.model, self.config.scenario)["kpis"]["avg_cost"]
        self.best_cost = min(self.best_cost, cost)
        self.trial.report(cost, self.num_timesteps)
        self.pruned = self.trial.should_prune()
        return not self.pruned  # False stops model.learn


def as_overrides(params: dict[str, Any]) -> list[str]:
    """``{"learning_rate": 3.5e-05, "policy_kwargs.net_arch": [64, 64]}`` as train.py's ``-p`` overrides:
    ``["learning_rate=3.500000e-05", "policy_kwargs.net_arch=[64,64]"]`` (floats in a form YAML reads as
    floats, lists without spaces so that the printed overrides can be pasted into a shell)."""

    def text(value: Any) -> str:
        if isinstance(value, float):
            return format(value, ".6e")
        if isinstance(value, list):
            return "[" + ",".join(text(item) for item in value) + "]"
        return str(value)

    return [f"{key}={text(value)}" for key, value in params.items()]


def print_trial(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
    """Optuna callback: one line per finished trial."""
    # a pruned trial carries its last reported cost as its value
    result = trial.state.name.lower() + (f", cost {trial.value:.4f}" if trial.value is not None else "")
    completed = any(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials)
    best = f"best {study.best_value:.4f}" if completed else "none completed yet"
    print(f"trial {trial.number}: {result} ({best}) | {' '.join(trial.user_attrs.get('params', []))}", flush=True)


@dataclass(frozen=True)
class TrialOutcome:
    """What one trial's training run gives back to the study: its reports, and its value or that it was pruned."""

    params: list[str]  # the trial's overrides, as train.py's -p takes them
    reports: dict[int, float]  # env steps -> evaluated average cost
    value: float  # the best evaluated cost
    pruned: bool


@dataclass(frozen=True)
class StudySettings:
    """Everything a trial needs besides its own hyperparameters; the same for every trial of a study."""

    algo: str
    scenario: str
    timesteps: int
    seed: int
    fixed: tuple[str, ...]
    warmup_steps: int
    startup_trials: int = 5


def run_trial(
    settings: StudySettings, evaluation: EvaluationSet, params: list[str], finished: list[optuna.trial.FrozenTrial]
) -> TrialOutcome:
    """Train one trial and evaluate it on the way, pruned against the median of ``finished``.

    A pure function of its arguments, so that a trial gives the same outcome wherever it runs (here
    or on a Ray worker): the pruner sees the trials finished before the trial was sampled, held in
    a study of its own, not whatever happens to finish beside it.
    """
    study = create_study(settings.seed, settings.warmup_steps, settings.startup_trials)
    study.add_trials(finished)
    trial = study.ask()
    config = resolve_config(
        settings.algo, settings.scenario, settings.seed, [*settings.fixed, *params], total_timesteps=settings.timesteps
    )
    setup_torch(settings.seed)
    model: BaseAlgorithm = new_model(config, make_training_env(config, settings.seed), settings.seed, verbose=0)
    reporter = TrialReporter(trial, config, evaluation)
    model.learn(settings.timesteps, callback=reporter)
    reports = study.trials[trial.number].intermediate_values
    return TrialOutcome(params, dict(reports), reporter.best_cost, reporter.pruned)


def optimize(
    study: optuna.Study,
    settings: StudySettings,
    n_trials: int,
    batch: int,
    workers: Workers,
    callbacks: Sequence[Callable[[optuna.Study, optuna.trial.FrozenTrial], None]] = (),
) -> None:
    """Run ``n_trials`` trials, sampled ``batch`` at a time from the trials finished before them and run by ``workers``.

    The study depends on ``batch`` (a trial is sampled without the results of the trials of its own
    batch) but not on ``workers``: the same seed and batch give the same trials in this process
    and on Ray. With ``batch`` 1 every trial is sampled from all the trials before it, as
    ``optuna.Study.optimize`` does.
    """
    # the scenario and the evaluation paths are the same for every trial: tune the references once
    base = resolve_config(
        settings.algo, settings.scenario, settings.seed, settings.fixed, total_timesteps=settings.timesteps
    )
    evaluation = EvaluationSet.for_config(base)
    while len(study.trials) < n_trials:
        finished = study.get_trials(states=(optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED))
        trials = [study.ask() for _ in range(min(batch, n_trials - len(study.trials)))]
        calls = [
            (settings, evaluation, as_overrides(fitted(SEARCH_SPACES[settings.algo](trial), base)), finished)
            for trial in trials
        ]
        for trial, outcome in zip(trials, workers.map(run_trial, calls), strict=True):
            trial.set_user_attr("params", outcome.params)
            for step, cost in sorted(outcome.reports.items()):
                trial.report(cost, step)
            state = optuna.trial.TrialState.PRUNED if outcome.pruned else optuna.trial.TrialState.COMPLETE
            frozen = study.tell(trial, None if outcome.pruned else outcome.value, state=state)
            for callback in callbacks:
                callback(study, frozen)


def create_study(seed: int, warmup_steps: int, startup_trials: int = 5) -> optuna.Study:
    """A minimising study: TPE sampler seeded with ``seed``; median pruning once ``startup_trials``
    trials are complete, never before a trial has trained ``warmup_steps`` env steps."""
    return optuna.create_study(
        direction="minimize",
        sampler=optuna.samplers.TPESampler(seed=seed),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=startup_trials, n_warmup_steps=warmup_steps),
    )
