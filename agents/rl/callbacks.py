"""Callbacks of a training run: training-episode KPIs, periodic evaluations on fixed paths, checkpoints.

Every evaluation of a run (and of a tuning trial) uses the same fixed paths, drawn from
:data:`EVAL_SEED`, and the reference policies' costs on them (:class:`EvaluationSet`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback

from agents.references import reference_costs
from agents.rl.config import RunConfig
from agents.rl.policy import SB3Policy
from agents.rl.run_directory import Checkpoint, RunDirectory, save_model
from envs.batch import evaluation_paths, run_batch
from envs.kpis import KPI_NAMES
from envs.paths import ExogenousPaths
from envs.scenario import AnyScenario

# Seed of the paths every evaluation during training runs on: fixed, so evaluations are comparable;
# it differs from agents.references.TUNING_SEED, so the references are not judged on their tuning paths.
EVAL_SEED = 2_000_003


def _mean(values: Sequence[float] | np.ndarray) -> float:
    """Mean ignoring NaN (turnover is NaN when nothing was on hand); NaN if all are."""
    values = np.asarray(values, dtype=float)
    return float(values[~np.isnan(values)].mean()) if (~np.isnan(values)).any() else math.nan


def crossed(num_timesteps: int, n_envs: int, freq: int) -> bool:
    """True if the last vectorised step (``n_envs`` env steps) crossed a multiple of ``freq``."""
    return num_timesteps // freq > (num_timesteps - n_envs) // freq


class EpisodeKpiLogger(BaseCallback):
    """Logs the KPIs of the training episodes as ``rollout/kpi_NAME`` (mean since the last dump)."""

    def _on_step(self) -> bool:
        ended = [info["episode_kpis"] for info in self.locals["infos"] if "episode_kpis" in info]
        if not ended:
            return True
        for name in KPI_NAMES:
            value = _mean([kpis[name] for kpis in ended])
            if not math.isnan(value):
                self.logger.record_mean(f"rollout/kpi_{name}", value)
        return True


@dataclass
class EvaluationSet:
    """The fixed paths every evaluation of a run uses, and the reference policies' costs on them."""

    paths: ExogenousPaths
    references: dict[str, float]

    @classmethod
    def for_config(cls, config: RunConfig) -> EvaluationSet:
        """``eval_episodes`` episodes drawn from :data:`EVAL_SEED`; the references are tuned here."""
        paths = evaluation_paths(config.scenario, config.hyperparameters.eval_episodes, EVAL_SEED)
        return cls(paths, reference_costs(config.scenario, paths))

    def evaluate(self, model: BaseAlgorithm, scenario: AnyScenario) -> dict[str, Any]:
        """Mean KPIs of ``model`` on the paths and its gaps in percent to the references."""
        return self.evaluate_policy(SB3Policy(model, scenario, model.get_vec_normalize_env()))

    def evaluate_policy(self, policy: SB3Policy) -> dict[str, Any]:
        """Mean KPIs of a loaded ``policy`` on the paths and its gaps in percent to the references."""
        kpis = {name: _mean(values) for name, values in run_batch(policy, policy.scenario, self.paths).kpis.items()}
        gaps = {name: 100.0 * (kpis["avg_cost"] - cost) / cost for name, cost in self.references.items() if cost > 0}
        return {"kpis": kpis, "gap_pct": gaps}


class Evaluator(BaseCallback):
    """Before training and every ``eval_freq`` env steps, run the current policy on fixed evaluation paths.

    Each evaluation logs the mean KPIs under ``eval/``, the gap in
    percent to every reference policy under ``gap_pct/`` (``base_stock``, and ``optimal`` where
    the optimum is known), and saves ``best_model.zip`` when the average cost improves.

    Args:
        config: the run's config.
        run: where the best model goes.
        evaluation: the evaluation paths and reference costs.
        best: the best evaluation so far (from a checkpoint): avg_cost and timesteps.
    """

    def __init__(
        self, config: RunConfig, run: RunDirectory, evaluation: EvaluationSet, best: dict[str, float] | None = None
    ) -> None:
        super().__init__()
        self.config = config
        self.scenario = config.scenario
        self.eval_freq = config.hyperparameters.eval_freq
        self.evaluation = evaluation
        self.run = run
        self.best = best

    def evaluate(self, model: BaseAlgorithm) -> dict[str, Any]:
        """Mean KPIs of ``model`` on the evaluation paths and its gaps in percent to the references."""
        return self.evaluation.evaluate(model, self.scenario)

    def _on_training_start(self) -> None:
        # the untrained model is a candidate too: a model that corrects a classic policy starts
        # as that policy, and the run then never stands for anything worse on these paths
        if self.best is None:
            self._evaluate_and_log()

    def _on_step(self) -> bool:
        if crossed(self.num_timesteps, self.training_env.num_envs, self.eval_freq):
            self._evaluate_and_log()
        return True

    def _evaluate_and_log(self) -> None:
        result = self.evaluate(self.model)
        for name, value in result["kpis"].items():
            self.logger.record(f"eval/{name}", value)
        for name, gap in result["gap_pct"].items():
            self.logger.record(f"gap_pct/{name}", gap)
        self._keep_if_best(self.model, result)
        self.logger.dump(self.num_timesteps)

    def _keep_if_best(self, model: BaseAlgorithm, result: dict[str, Any]) -> None:
        if self.best is None or result["kpis"]["avg_cost"] < self.best["avg_cost"]:
            self.best = {"avg_cost": result["kpis"]["avg_cost"], "timesteps": model.num_timesteps, **result}
            save_model(model, self.run.best_model_file)

    def finish(self, model: BaseAlgorithm) -> dict[str, Any]:
        """Evaluate the final ``model``, keep it as the best model if it is, and return summary.json.

        The run stands for its best model (``best_model.zip``: the best of its evaluations,
        the final one included), which :func:`agents.rl.load_run` loads for the run directory;
        summary.json's ``kpis``, ``gap_pct`` and ``timesteps`` are that model's, ``final`` the
        final model's (``model.zip``).
        """
        final = self.evaluate(model)
        self._keep_if_best(model, final)
        assert self.best is not None
        best = self.best
        if "kpis" not in best:  # the best of a resumed run's checkpoint (its cost and steps only): evaluated again
            from agents.rl.policy import load_run

            policy, _ = load_run(self.run.best_model_file)
            best = {**best, **self.evaluation.evaluate_policy(policy)}
        return {
            "algo": self.config.algo,
            "scenario": self.scenario.name,
            "seed": self.config.seed,
            "model": self.run.best_model_file.name,
            "timesteps": best["timesteps"],
            "eval_seed": EVAL_SEED,
            "eval_episodes": self.evaluation.paths.n,
            "kpis": best["kpis"],
            "gap_pct": best["gap_pct"],
            "references": self.evaluation.references,
            "final": {"model": self.run.model_file.name, "timesteps": model.num_timesteps, **final},
        }


class Checkpointer(BaseCallback):
    """Every ``checkpoint_freq`` env steps, write a :class:`Checkpoint` with the evaluator's state.

    Args:
        run: the run directory (checkpoints go to its ``checkpoints/``).
        freq: env steps between checkpoints.
        evaluator: whose best evaluation is kept in the checkpoint.
    """

    def __init__(self, run: RunDirectory, freq: int, evaluator: Evaluator) -> None:
        super().__init__()
        self.run, self.freq, self.evaluator = run, freq, evaluator

    def _on_step(self) -> bool:
        if crossed(self.num_timesteps, self.training_env.num_envs, self.freq):
            best = self.evaluator.best
            kept = None if best is None else {key: best[key] for key in ("avg_cost", "timesteps")}
            Checkpoint.write(self.run.checkpoints_dir, self.model, {"best": kept})
        return True
