"""train.py and agents/rl/: the run directory, TensorBoard tags, resume after SIGKILL, determinism, bad input."""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
import yaml
from stable_baselines3 import DQN, PPO
from stable_baselines3.common.base_class import BaseAlgorithm
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from torch import nn

import train
from agents import rl
from agents.classic import SSPolicy
from agents.references import TUNING_SEED, best_classic
from envs.batch import evaluation_paths, run_batch
from envs.errors import UserError
from envs.kpis import KPI_NAMES
from envs.layout import ObservationLayout
from envs.scenario import SCENARIO_DIR, load_scenario

ROOT = Path(__file__).resolve().parent.parent
SCENARIO = "lost_sales_L1_p4"
ALGO_CLASSES: dict[str, type[BaseAlgorithm]] = {"ppo": PPO, "dqn": DQN}
# Quick runs: short episodes, few systems, an evaluation and a checkpoint every 1000 steps.
SMOKE = ["--scenario", SCENARIO, "--timesteps", "3000", "--n-envs", "4"]
for _param in ["env.horizon=25", "eval_freq=1000", "eval_episodes=8", "checkpoint_freq=1000"]:
    SMOKE += ["-p", _param]
ALGO_PARAMS = {
    "ppo": ["-p", "n_steps=50", "-p", "batch_size=100", "-p", "n_epochs=2"],
    "dqn": ["-p", "learning_starts=500", "-p", "buffer_size=5000", "-p", "batch_size=64"],
}


def smoke_argv(algo: str, run_dir: Path, *extra: str) -> list[str]:
    return ["--algo", algo, *SMOKE, *ALGO_PARAMS[algo], "--run-dir", str(run_dir), *extra]


def run_path(run_dir: Path, algo: str, seed: int = 0) -> Path:
    return run_dir / f"{SCENARIO}_{algo}_seed{seed}"


def scalars(run: Path, tag: str) -> list[tuple[int, float]]:
    """(step, value) of a TensorBoard scalar, as TensorBoard shows it (purged events left out)."""
    events = EventAccumulator(str(run / "tensorboard"))
    events.Reload()
    return [(event.step, event.value) for event in events.Scalars(tag)]


def policy_parameters(model_file: Path, algo: str) -> dict[str, np.ndarray]:
    policy = ALGO_CLASSES[algo].load(model_file, device="cpu").policy
    return {name: tensor.numpy() for name, tensor in policy.state_dict().items()}


@pytest.fixture(scope="module", params=["ppo", "dqn"])
def smoke_run(request, tmp_path_factory) -> tuple[str, Path]:
    """A finished run of 3000 steps."""
    run_dir = tmp_path_factory.mktemp(request.param)
    train.main(smoke_argv(request.param, run_dir))
    return request.param, run_path(run_dir, request.param)


# ---------------------------------------------------------------------------------------------
# Smoke runs


def test_run_directory_holds_config_command_versions_models_checkpoints_and_summary(smoke_run):
    algo, run = smoke_run
    for name in [
        "config.yaml",
        "scenario.yaml",
        "command.txt",
        "versions.json",
        "model.zip",
        "model.vecnormalize.json",
        "best_model.zip",
        "best_model.vecnormalize.json",
        "summary.json",
    ]:
        assert (run / name).is_file(), name
    config = yaml.safe_load((run / "config.yaml").read_text())
    assert (config["algo"], config["seed"], config["total_timesteps"], config["n_envs"]) == (algo, 0, 3000, 4)
    algo_env = yaml.safe_load((rl.ALGO_DIR / f"{algo}.yaml").read_text())["default"]["env"]
    assert config["env"] == {**algo_env, "horizon": 25}
    assert yaml.safe_load((run / "scenario.yaml").read_text())["horizon"] == 25
    assert f"train.py --algo {algo} --scenario {SCENARIO}" in (run / "command.txt").read_text()
    versions = json.loads((run / "versions.json").read_text())
    assert {"python", "numpy", "torch", "stable-baselines3", "gymnasium"} <= set(versions)

    checkpoints = sorted((run / "checkpoints").iterdir())
    assert [c.name for c in checkpoints] == [f"step_{step:012d}" for step in (1000, 2000, 3000)]
    expected = {"model.zip", "model.vecnormalize.json", "state.json", *(["replay_buffer.npz"] if algo == "dqn" else [])}
    assert all({f.name for f in c.iterdir()} == expected for c in checkpoints)

    summary = json.loads((run / "summary.json").read_text())
    assert summary["final"]["timesteps"] >= 3000 and summary["eval_episodes"] == 8
    assert summary["model"] == "best_model.zip" and summary["timesteps"] <= summary["final"]["timesteps"]
    assert summary["eval_seed"] not in (0, TUNING_SEED)
    assert set(summary["kpis"]) == set(KPI_NAMES) and set(summary["gap_pct"]) == {"base_stock", "optimal"}
    cost, reference = summary["kpis"]["avg_cost"], summary["references"]["base_stock"]
    assert summary["gap_pct"]["base_stock"] == pytest.approx(100 * (cost - reference) / reference)


def test_tensorboard_has_training_kpis_evaluations_gaps_and_sb3_scalars(smoke_run):
    _, run = smoke_run
    events = EventAccumulator(str(run / "tensorboard"))
    events.Reload()
    tags = set(events.Tags()["scalars"])
    expected = {f"rollout/kpi_{name}" for name in KPI_NAMES} | {f"eval/{name}" for name in KPI_NAMES}
    expected |= {"gap_pct/base_stock", "gap_pct/optimal", "rollout/ep_rew_mean", "train/loss", "time/fps"}
    assert expected <= tags, expected - tags
    evaluations = scalars(run, "eval/avg_cost")
    assert [step for step, _ in evaluations] == [0, 1000, 2000, 3000]  # the untrained model first
    summary = json.loads((run / "summary.json").read_text())
    lowest = min([value for _, value in evaluations] + [summary["final"]["kpis"]["avg_cost"]])
    assert summary["kpis"]["avg_cost"] == pytest.approx(lowest, rel=1e-6)


def test_load_run_gives_the_policy_that_was_evaluated(smoke_run):
    algo, run = smoke_run
    summary = json.loads((run / "summary.json").read_text())
    policy, scenario = rl.load_run(run)
    assert scenario.horizon == 25 and scenario.action == ("continuous" if algo == "ppo" else "discrete")
    assert policy.params() == {"algo": algo.upper(), "timesteps": summary["timesteps"]}
    orders = policy.act(np.array([[0, 0], [0, 20], [10, 5], [60, 0]], dtype=np.float32))
    assert orders.dtype == np.int64 and orders.shape == (4,) and ((orders >= 0) & (orders <= scenario.max_order)).all()
    paths = evaluation_paths(scenario, 8, rl.EVAL_SEED)
    assert run_batch(policy, scenario, paths).avg_cost.mean() == pytest.approx(summary["kpis"]["avg_cost"])
    final, _ = rl.load_run(run / "model.zip")
    assert final.params()["timesteps"] == summary["final"]["timesteps"]
    assert run_batch(final, scenario, paths).avg_cost.mean() == pytest.approx(summary["final"]["kpis"]["avg_cost"])


def test_load_run_refuses_a_directory_without_a_model(smoke_run, tmp_path):
    _, run = smoke_run
    with pytest.raises(UserError, match="no trained model"):
        rl.load_run(tmp_path)
    with pytest.raises(UserError, match="no trained model"):
        rl.load_run(run / "checkpoints")


@pytest.mark.slow
def test_same_seed_gives_the_same_model(smoke_run, tmp_path):
    algo, run = smoke_run
    train.main(smoke_argv(algo, tmp_path))
    again = policy_parameters(run_path(tmp_path, algo) / "model.zip", algo)
    first = policy_parameters(run / "model.zip", algo)
    assert first.keys() == again.keys()
    for name in first:
        np.testing.assert_array_equal(first[name], again[name], err_msg=name)


# ---------------------------------------------------------------------------------------------
# Resume


@pytest.mark.slow
def test_resume_after_sigkill_reaches_the_total_and_continues_the_tensorboard_steps(tmp_path):
    total = 12_000
    argv = smoke_argv("ppo", tmp_path, "--timesteps", str(total))
    run = run_path(tmp_path, "ppo")
    with (tmp_path / "killed.log").open("w") as log:
        process = subprocess.Popen([sys.executable, "train.py", *argv], cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 120
        while not list((run / "checkpoints").glob("step_*")):
            assert process.poll() is None, (tmp_path / "killed.log").read_text()
            assert time.monotonic() < deadline, "no checkpoint within 120 s"
            time.sleep(0.02)
        process.kill()  # SIGKILL
        process.wait()
    assert not (run / "summary.json").exists(), "the run ended before it was killed"
    killed_at = max(int(p.name.removeprefix("step_")) for p in (run / "checkpoints").glob("step_*"))
    assert killed_at < total

    # TensorBoard reads event files in name order and a name starts with the second it was created in:
    # a new process needs seconds to start, but this in-process resume could share the killed run's second
    time.sleep(1)
    train.main(["--resume", str(run)])
    summary = json.loads((run / "summary.json").read_text())
    assert summary["final"]["timesteps"] >= total
    assert PPO.load(run / "model.zip", device="cpu").num_timesteps == summary["final"]["timesteps"]
    assert (run / "command.txt").read_text().count("train.py") == 2
    assert len(list((run / "tensorboard").glob("events.*"))) == 2
    steps = [step for step, _ in scalars(run, "rollout/kpi_avg_cost")]
    assert steps == sorted(set(steps)), "steps logged after the checkpoint by the killed run must be purged"
    assert steps[0] <= killed_at < steps[-1] and steps[-1] >= total - 200  # 200: one PPO rollout
    assert [step for step, _ in scalars(run, "eval/avg_cost")] == list(range(0, total + 1, 1000))


@pytest.mark.slow
@pytest.mark.parametrize("smoke_run", ["dqn"], indirect=True)
def test_dqn_resumes_with_its_replay_buffer(smoke_run, tmp_path):
    _, finished = smoke_run
    run = tmp_path / finished.name
    shutil.copytree(finished, run)
    for leftover in ["summary.json", "model.zip", "checkpoints/step_000000002000", "checkpoints/step_000000003000"]:
        shutil.rmtree(run / leftover) if (run / leftover).is_dir() else (run / leftover).unlink()
    _, config, checkpoint = rl.open_for_resume(run)
    model = checkpoint.restore(config, seed=1)
    # 250 steps of 4 systems, less the one that triggered the checkpoint (stored after the callbacks run)
    assert model.num_timesteps == 1000 and model.replay_buffer.size() == 249

    train.main(["--resume", str(run)])
    summary = json.loads((run / "summary.json").read_text())
    assert summary["final"]["timesteps"] >= 3000
    policy, scenario = rl.load_run(run)  # the best model, its evaluation taken again for the summary
    paths = evaluation_paths(scenario, summary["eval_episodes"], rl.EVAL_SEED)
    assert run_batch(policy, scenario, paths).avg_cost.mean() == pytest.approx(summary["kpis"]["avg_cost"])


# ---------------------------------------------------------------------------------------------
# Bad input: one line on stderr, exit code 2, nothing written


@pytest.mark.parametrize(
    "argv, named",
    [
        (["--algo", "a2c", "--scenario", SCENARIO], "a2c"),
        (["--algo", "ppo", "--scenario", "no_such_scenario"], "no_such_scenario"),
        (["--algo", "ppo", "--scenario", SCENARIO, "--timesteps", "0"], "--timesteps"),
        (["--algo", "ppo", "--scenario", SCENARIO, "--timesteps", "-100"], "--timesteps"),
        (["--algo", "ppo", "--scenario", SCENARIO, "--timesteps", "1e5"], "--timesteps"),
        (["--algo", "ppo", "--scenario", SCENARIO, "--seed", "-1"], "--seed"),
        (["--algo", "ppo", "--scenario", SCENARIO, "-p", "learning_rat=0.1"], "learning_rat: unknown key"),
        (["--algo", "ppo", "--scenario", SCENARIO, "-p", "policy_kwargs.activation_fn=sigmoid"], "activation_fn"),
        (["--algo", "ppo", "--scenario", SCENARIO, "-p", "gamma"], "-p gamma: expected KEY=VALUE"),
        (["--algo", "ppo", "--scenario", SCENARIO, "-p", "env.horizn=5"], "env: horizn is not a scenario key"),
        (["--algo", "ppo", "--scenario", SCENARIO, "-p", "learning_rate_schedule=cosine"], "learning_rate_schedule"),
        (["--algo", "dqn", "--scenario", SCENARIO, "-p", "env.action=continuous"], "env.action"),
        (["--algo", "ppo"], "--scenario"),
    ],
)
def test_bad_input_is_one_line_exit_code_2_and_writes_nothing(argv, named, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        train.main([*argv, "--run-dir", str(tmp_path / "runs")])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and err.startswith("error: ") and err.count("\n") == 1 and named in err, err
    assert not (tmp_path / "runs").exists()


def test_a_run_dir_that_cannot_be_created_is_a_user_error(tmp_path, capsys):
    (tmp_path / "runs").write_text("a file")
    with pytest.raises(SystemExit) as exit_info:
        train.main(["--algo", "ppo", "--scenario", SCENARIO, "--run-dir", str(tmp_path / "runs")])
    assert exit_info.value.code == 2 and "--run-dir" in capsys.readouterr().err
    assert (tmp_path / "runs").read_text() == "a file"


def test_resume_refuses_what_is_not_a_resumable_run(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("mine")
    started = tmp_path / "started"
    started.mkdir()
    (started / "config.yaml").write_text("algo: ppo\n")  # a run killed before its first checkpoint
    cases = [
        ([str(tmp_path / "missing")], "not a run directory"),
        ([str(tmp_path)], "not a run directory"),
        ([str(started)], "no checkpoint"),
        ([str(started), "--algo", "ppo"], "--resume takes no other option"),
    ]
    for argv, named in cases:
        with pytest.raises(SystemExit) as exit_info:
            train.main(["--resume", *argv])
        err = capsys.readouterr().err
        assert exit_info.value.code == 2 and err.count("\n") == 1 and named in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt", "started"]
    assert [p.name for p in started.iterdir()] == ["config.yaml"]


@pytest.mark.slow
def test_command_line_error_is_exactly_one_line_on_stderr(tmp_path):
    """The whole program, imports included: nothing else reaches stderr."""
    result = subprocess.run(
        [sys.executable, str(ROOT / "train.py"), "--algo", "ppo", "--scenario", SCENARIO, "-p", "n_step=64"],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert result.stderr.endswith("\n") and result.stderr.count("\n") == 1 and "n_step: unknown key" in result.stderr
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------------------------------------
# The algo configs


@pytest.mark.parametrize(
    "algo, action",
    # PPO's corrections of a network optimise its echelon levels by simulation first (40 s for owmr_10)
    [pytest.param("ppo", "continuous", marks=pytest.mark.slow), ("dqn", "discrete")],
)
def test_every_scenario_resolves_with_the_algos_action(algo, action):
    for path in sorted(SCENARIO_DIR.glob("*.yaml")):
        if algo == "dqn" and {"stock_points", "assortment"} & set(yaml.safe_load(path.read_text())):
            with pytest.raises(UserError, match=f"--algo dqn: learns for one stock point; {path.stem} is a network"):
                rl.resolve_config(algo, path.stem)
            continue
        config = rl.resolve_config(algo, path.stem)
        assert config.scenario.action == action and config.scenario.name == path.stem


def test_a_mistake_in_any_block_of_the_algo_yaml_names_the_file_block_and_key(tmp_path):
    ppo = yaml.safe_load((rl.ALGO_DIR / "ppo.yaml").read_text())
    path = tmp_path / "ppo.yaml"
    path.write_text(yaml.safe_dump({**ppo, "backorder_K64": {"n_step": 32}}))
    with pytest.raises(UserError, match=r"ppo.yaml: backorder_K64: n_step: unknown key$"):
        rl.load_hyperparameters(path, "ppo", SCENARIO)
    path.write_text(yaml.safe_dump({"default": {**ppo["default"], "gamma": 2}}))
    with pytest.raises(UserError, match=r"ppo.yaml: default: gamma: Input should be less than or equal to 1$"):
        rl.load_hyperparameters(path, "ppo", SCENARIO)


def test_scenario_block_and_overrides_apply_in_order(tmp_path):
    ppo = yaml.safe_load((rl.ALGO_DIR / "ppo.yaml").read_text())
    path = tmp_path / "ppo.yaml"
    path.write_text(yaml.safe_dump({**ppo, SCENARIO: {"n_steps": 32, "policy_kwargs": {"net_arch": [16]}}}))
    overrides = rl.parse_overrides(["learning_rate=1e-3", "policy_kwargs.activation_fn=relu", "env.horizon=30"])
    assert overrides == {"learning_rate": 1e-3, "policy_kwargs": {"activation_fn": "relu"}, "env": {"horizon": 30}}
    hyperparameters = rl.load_hyperparameters(path, "ppo", SCENARIO, overrides)
    kwargs = hyperparameters.sb3_kwargs()
    assert kwargs["n_steps"] == 32 and kwargs["learning_rate"] == 1e-3 and kwargs["gamma"] == ppo["default"]["gamma"]
    assert kwargs["policy_kwargs"]["net_arch"] == [16] and kwargs["policy_kwargs"]["activation_fn"] is nn.ReLU
    assert kwargs["policy_kwargs"]["log_std_init"] == ppo["default"]["policy_kwargs"]["log_std_init"]
    assert not set(rl.RunSettings.model_fields) & set(kwargs)
    assert hyperparameters.env == {"action": "continuous", "horizon": 30}


@pytest.mark.slow
@pytest.mark.parametrize("algo", ["ppo", "dqn"])
def test_a_linear_learning_rate_schedule_falls_to_zero_at_the_end(algo):
    params = ["learning_rate=2e-3", "learning_rate_schedule=linear", *(["batch_size=64"] if algo == "ppo" else [])]
    config = rl.resolve_config(algo, SCENARIO, params=params, n_envs=2)
    model = rl.new_model(config, rl.make_training_env(config, 0), 0)
    assert [model.lr_schedule(p) for p in (1.0, 0.25, 0.0)] == pytest.approx([2e-3, 5e-4, 0.0])
    with pytest.raises(ValueError, match="needs a learning_rate"):
        type(config.hyperparameters).model_validate(
            {**config.hyperparameters.model_dump(exclude={"learning_rate"}), "learning_rate": None}
        )


def test_a_nested_env_override_changes_one_entry_of_a_scenario_mapping():
    config = rl.resolve_config("ppo", SCENARIO, params=["env.demand.mean=7"])
    assert config.scenario.demand.dist == "poisson" and config.scenario.demand.mean == 7


def test_correct_classic_starts_the_model_as_the_best_tuned_classic_policy():
    params = ["correct_classic=true", "env.action_meaning=correction", "env.horizon=60", "batch_size=64"]
    config = rl.resolve_config("ppo", "backorder_K64", params=params, n_envs=4)
    scenario = config.scenario
    assert scenario.action == "continuous" and scenario.action_meaning == "correction"
    chosen, costs = best_classic(load_scenario("backorder_K64", horizon=60))
    assert scenario.action_base == chosen and costs[chosen.policy] == min(costs.values())
    assert chosen.policy == "s_S"  # a fixed order cost of 64: base stock orders every period
    # the untrained model orders what the classic policy orders, on every state of 20 episodes
    model = rl.new_model(config, rl.make_training_env(config, 0), 0)
    learned = rl.SB3Policy(model, scenario, model.get_vec_normalize_env())
    classic = SSPolicy(chosen.s, chosen.S, ObservationLayout(scenario))
    paths = evaluation_paths(scenario, 20, 7)
    np.testing.assert_array_equal(
        run_batch(learned, scenario, paths).avg_cost, run_batch(classic, scenario, paths).avg_cost
    )


def test_correct_classic_keeps_a_given_base_and_refuses_another_meaning():
    base = ["env.action_base={policy: base_stock, S: 7}", "env.action_meaning=correction"]
    config = rl.resolve_config("ppo", SCENARIO, params=["correct_classic=true", *base])
    assert config.scenario.action_base.model_dump(exclude_none=True) == {"policy": "base_stock", "S": 7}
    assert config.scenario.action_range == config.scenario.max_order  # corrections reach any order
    narrow = rl.resolve_config("ppo", SCENARIO, params=["correct_classic=true", "correction_periods=0.5", *base])
    assert narrow.scenario.max_correction == math.ceil(0.5 * config.scenario.demand.mean_demand())
    with pytest.raises(UserError, match=r"env\.action_meaning: level contradicts correct_classic: true"):
        rl.resolve_config("ppo", SCENARIO, params=["correct_classic=true", "env.action_meaning=level"])
    with pytest.raises(UserError, match="dqn: correct_classic: a correction is a continuous action"):
        rl.resolve_config("dqn", SCENARIO, params=["correct_classic=true"])


def test_runs_created_together_get_their_own_directories(tmp_path):
    """Two runs of the same scenario, algo and seed started at once (parallel benchmark streams)
    must not share a directory: the second takes the next free name, and no staging is left."""
    from concurrent.futures import ThreadPoolExecutor

    config = rl.resolve_config("ppo", SCENARIO)
    with ThreadPoolExecutor(4) as pool:
        runs = list(pool.map(lambda _: rl.RunDirectory.create(tmp_path, config), range(4)))
    names = sorted(run.path.name for run in runs)
    assert names == sorted([f"{SCENARIO}_ppo_seed0", *(f"{SCENARIO}_ppo_seed0_{i}" for i in (2, 3, 4))])
    assert sorted(p.name for p in tmp_path.iterdir()) == names
    assert all(yaml.safe_load(run.config_file.read_text())["algo"] == "ppo" for run in runs)


def test_dqn_levels_reach_past_the_best_classic_policy_by_the_configured_multiple():
    config = rl.resolve_config("dqn", "backorder_K64")
    chosen, _ = best_classic(load_scenario("backorder_K64"))
    assert chosen.policy == "s_S" and config.scenario.max_level == math.ceil(1.5 * chosen.S)
    quantities = rl.resolve_config("dqn", "backorder_K64", params=["env.action_meaning=quantity"])
    assert quantities.scenario.max_level is None
    with pytest.raises(UserError, match=r"env\.max_level contradicts max_level_from_classic"):
        rl.resolve_config("dqn", "backorder_K64", params=["env.max_level=80"])
    fixed = rl.resolve_config("dqn", "backorder_K64", params=["env.max_level=80", "max_level_from_classic=null"])
    assert fixed.scenario.max_level == 80


def test_a_run_whose_last_rollout_passes_the_total_loads(tmp_path):
    """SB3 stores 1 - num_timesteps / total_timesteps, below 0 when the last rollout ran past the total."""
    train.main(smoke_argv("ppo", tmp_path, "--timesteps", "1100"))  # rollouts of 200 steps: 1200 are run
    model = json.loads(zipfile.ZipFile(run_path(tmp_path, "ppo") / "model.zip").read("data"))
    assert model["_current_progress_remaining"] < 0
    policy, _ = rl.load_run(run_path(tmp_path, "ppo") / "model.zip")
    assert policy.model.num_timesteps == 1200
