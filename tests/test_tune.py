"""tune.py: Optuna trials on the batched env, pruning, and a best block train.py accepts."""

from __future__ import annotations

import pandas as pd
import pytest
import yaml

import tune
from agents import rl
from agents.rl import tuning

SCENARIO = "lost_sales_L1_p4"
TINY = ["n_envs=8", "eval_freq=1000", "eval_episodes=8", "env.horizon=40", "checkpoint_freq=100000"]


def test_a_study_writes_its_trials_and_a_best_block_train_py_accepts(tmp_path, capsys):
    argv = ["--algo", "dqn", "--scenario", SCENARIO, "--trials", "3", "--timesteps", "3000", "--out", str(tmp_path)]
    tune.main([*argv, *[arg for pair in TINY for arg in ("-p", pair)]])
    out = tmp_path / f"{SCENARIO}_dqn"
    trials = pd.read_csv(out / "trials.csv")
    assert len(trials) == 3 and set(trials["state"]) <= {"COMPLETE", "PRUNED"}
    best_block = yaml.safe_load((out / "best.yaml").read_text())[SCENARIO]
    completed = trials[trials["state"] == "COMPLETE"]
    best_row = completed.loc[completed["value"].idxmin()]
    assert best_block["learning_rate"] == pytest.approx(best_row["params_learning_rate"], rel=1e-6)
    assert best_block["env"] == {"horizon": 40} and best_block["n_envs"] == 8
    # the block, pasted into the algo config, validates and gives the trial's settings
    config_file = tmp_path / "dqn.yaml"
    config_file.write_text(
        yaml.safe_dump({**yaml.safe_load((rl.ALGO_DIR / "dqn.yaml").read_text()), SCENARIO: best_block})
    )
    hyperparameters = rl.load_hyperparameters(config_file, "dqn", SCENARIO)
    assert hyperparameters.train_freq == best_row["params_train_freq"]
    assert f"best trial {best_row['number']}" in capsys.readouterr().out


class FixedCost:
    """An evaluation set stand-in whose every evaluation costs ``cost``."""

    def __init__(self, cost: float) -> None:
        self.cost = cost

    def evaluate(self, model, scenario):
        return {"kpis": {"avg_cost": self.cost}, "gap_pct": {}}


def test_a_trial_behind_the_median_is_pruned_and_stops_training(single_threaded_torch):
    import optuna

    study = tuning.create_study(seed=0, warmup_steps=0, startup_trials=1)
    study.add_trial(optuna.trial.create_trial(value=1.0, intermediate_values={1000: 1.0, 2000: 1.0}))
    config = rl.resolve_config("ppo", SCENARIO, params=[*TINY, "n_steps=32", "batch_size=128"], total_timesteps=4000)
    model = rl.new_model(config, rl.make_training_env(config, 0), 0, verbose=0)
    reporter = tuning.TrialReporter(study.ask(), config, FixedCost(5.0))
    model.learn(4000, callback=reporter)
    assert reporter.pruned and reporter.best_cost == 5.0
    assert model.num_timesteps <= 1000 + 256  # stopped at the first evaluation (one rollout is 8 x 32 steps)


@pytest.mark.parametrize(
    "argv, named",
    [
        (["--algo", "a2c", "--scenario", SCENARIO], "a2c"),
        (["--algo", "ppo", "--scenario", SCENARIO, "-p", "learning_rat=0.1"], "learning_rat"),
        (["--algo", "ppo", "--scenario", SCENARIO, "--trials", "0"], "--trials"),
    ],
)
def test_bad_input_is_one_line_exit_code_2_and_writes_nothing(argv, named, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        tune.main([*argv, "--out", str(tmp_path / "tune")])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and err.count("\n") == 1 and named in err, err
    assert not (tmp_path / "tune").exists()


def test_sampled_values_round_trip_through_the_overrides_train_py_reads():
    params = {
        "learning_rate": 1e-05,
        "gamma": 0.95,
        "policy_kwargs.net_arch": [128, 128],
        "learning_rate_schedule": "linear",
    }
    overrides = tuning.as_overrides(params)
    assert not any(" " in pair for pair in overrides)  # one shell word each
    assert rl.parse_overrides(overrides) == {
        "learning_rate": 1e-05,
        "gamma": 0.95,
        "policy_kwargs": {"net_arch": [128, 128]},
        "learning_rate_schedule": "linear",
    }


def test_a_sampled_ppo_batch_is_capped_at_the_rollout():
    config = rl.resolve_config("ppo", SCENARIO, params=[*TINY, "n_steps=32", "batch_size=128"])
    assert tuning.fitted({"n_steps": 32, "batch_size": 1024}, config)["batch_size"] == 32 * 8
    assert tuning.fitted({"n_steps": 128, "batch_size": 512}, config)["batch_size"] == 512
    assert tuning.fitted({"batch_size": 64}, config) == {"batch_size": 64}  # DQN: no rollout
