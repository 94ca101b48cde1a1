"""Hostile and careless command lines, for every command: one line, exit code 2, nothing written.

Each case runs as a real process (see tests/hostile.py): arguments, hyperparameters, scenarios
and histories given on the command line, and output paths that are files, directories,
symlinks, devices or FIFOs. Every output a case could write goes to ``out/CASE`` (or where the
case points): nothing may appear there, and the prepared inputs must be left as they were.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.hostile import ROOT, Case, artifacts, assert_one_line_error, copy_of, shared_batch
from tests.test_hostile_scenarios import SINGLE

S = "lost_sales_L1_p4"
TRAIN = ("--algo", "ppo", "--scenario", S)
TRAIN_DQN = ("--algo", "dqn", "--scenario", S)


def run_dir(case: str) -> tuple[str, str]:
    return ("--run-dir", f"{{tmp}}/out/{case}")


def train(case: str, *argv: str, mentions: tuple[str, ...] = (), **kwargs) -> Case:
    return Case(f"train-{case}", "train", (*argv, *run_dir(case)), mentions, untouched=(f"out/{case}",), **kwargs)


def tune(case: str, *argv: str, mentions: tuple[str, ...] = (), **kwargs) -> Case:
    out = ("--out", f"{{tmp}}/out/{case}", "--trials", "1", "--timesteps", "64")
    return Case(f"tune-{case}", "tune", (*argv, *out), mentions, untouched=(f"out/{case}",), **kwargs)


def with_defaults(argv: tuple[str, ...], defaults: dict[str, str], out: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """``argv`` with the options of ``defaults`` it does not give, and ``--out`` (under {tmp} unless absolute);
    and what must stay untouched (the output, when it is under {tmp})."""
    extra = [arg for option, value in defaults.items() if option not in argv for arg in (option, value)]
    target = out if out.startswith("/") else f"{{tmp}}/{out}"
    return (*argv, *extra, "--out", target), (() if out.startswith("/") else (out,))


def evaluate(case: str, *argv: str, mentions: tuple[str, ...] = (), out: str = "", **kwargs) -> Case:
    full, untouched = with_defaults(argv, {"--episodes": "2", "--tuning-episodes": "2"}, out or f"out/{case}")
    return Case(f"evaluate-{case}", "evaluate", full, mentions, untouched=untouched, **kwargs)


def export(case: str, *argv: str, mentions: tuple[str, ...] = (), out: str = "", **kwargs) -> Case:
    defaults = {"--tuning-episodes": "2", "--parity-observations": "50"}
    full, untouched = with_defaults(argv, defaults, out or f"out/{case}")
    return Case(f"export-{case}", "export", full, mentions, untouched=untouched, **kwargs)


def recommend(case: str, *argv: str, mentions: tuple[str, ...] = (), out: str = "", **kwargs) -> Case:
    full, untouched = with_defaults(argv, {}, out or f"out/{case}.csv")
    return Case(f"recommend-{case}", "recommend", full, mentions, untouched=untouched, **kwargs)


POLICY = ("--policy", "{tmp}/policy")
STATE = ("--state", "{tmp}/state.csv")

CASES = [
    # ---- train.py: arguments
    train("no-arguments", mentions=("--algo and --scenario are required",)),
    train("unknown-algo", "--algo", "a2c", "--scenario", S, mentions=("--algo a2c: unknown algorithm",)),
    train("seed-negative", *TRAIN, "--seed", "-5", mentions=("--seed", "in 0..4294967295")),
    train("seed-huge", *TRAIN, "--seed", "4294967296", mentions=("--seed", "in 0..4294967295")),
    train("seed-text", *TRAIN, "--seed", "abc", mentions=("--seed", "must be an integer")),
    train("timesteps-exponent", *TRAIN, "--timesteps", "1e9", mentions=("--timesteps", "must be an integer")),
    train("timesteps-zero", *TRAIN, "--timesteps", "0", mentions=("--timesteps", "at least 1")),
    train("timesteps-huge", *TRAIN, "--timesteps", "10" + "0" * 20, mentions=("total_timesteps", "less than")),
    train("n-envs-huge", *TRAIN, "--n-envs", "1000000000", mentions=("n_envs", "less than or equal to 100000")),
    train("n-envs-zero", *TRAIN, "--n-envs", "0", mentions=("--n-envs", "at least 1")),
    train("resume-and-algo", "--resume", "{tmp}/runs/ppo", "--algo", "ppo", mentions=("--resume takes no other",)),
    # ---- train.py: hyperparameters
    train("lr-infinite", *TRAIN, "-p", "learning_rate=.inf", mentions=("learning_rate", "finite number")),
    train("lr-negative", *TRAIN, "-p", "learning_rate=-1", mentions=("learning_rate", "greater than 0")),
    train("lr-huge", *TRAIN, "-p", "learning_rate=10", mentions=("learning_rate", "less than or equal to 1")),
    train("lr-bool", *TRAIN, "-p", "learning_rate=true", mentions=("learning_rate", "valid number")),
    train("lr-text", *TRAIN, "-p", "learning_rate=fast", mentions=("learning_rate", "valid number")),
    train("n-steps-one", *TRAIN, "--n-envs", "1", "-p", "n_steps=1", "-p", "batch_size=2", mentions=("at least 2",)),
    train("n-steps-bool", *TRAIN, "-p", "n_steps=true", mentions=("n_steps", "valid integer")),
    train("n-steps-float", *TRAIN, "-p", "n_steps=64.5", mentions=("n_steps", "valid integer")),
    train("batch-one", *TRAIN, "-p", "batch_size=1", mentions=("batch_size", "greater than or equal to 2")),
    train("batch-over-rollout", *TRAIN, "-p", "batch_size=100000", mentions=("larger than a rollout",)),
    train(
        "dqn-batch-over-buffer",
        *TRAIN_DQN,
        "-p",
        "buffer_size=100",
        "-p",
        "batch_size=1000",
        mentions=("larger than the replay buffer",),
    ),
    train("dqn-buffer-huge", *TRAIN_DQN, "-p", "buffer_size=1000000000", mentions=("buffer_size", "less than")),
    train("dqn-buffer-under-envs", *TRAIN_DQN, "-p", "buffer_size=4", "-p", "batch_size=2", mentions=("n_envs",)),
    train(
        "dqn-actions-huge",
        *TRAIN_DQN,
        "-p",
        "env.max_order=1000000",
        "-p",
        "env.action_meaning=quantity",
        mentions=("1,000,001 values",),
    ),
    train("gamma-zero", *TRAIN, "-p", "gamma=0", mentions=("gamma", "greater than 0")),
    train("gamma-above-one", *TRAIN, "-p", "gamma=1.5", mentions=("gamma", "less than or equal to 1")),
    train("net-arch-huge", *TRAIN, "-p", "policy_kwargs.net_arch=[1000000]", mentions=("net_arch", "4096")),
    train("net-arch-deep", *TRAIN, "-p", f"policy_kwargs.net_arch=[{','.join(['8'] * 40)}]", mentions=("net_arch",)),
    train("net-arch-text", *TRAIN, "-p", "policy_kwargs.net_arch=big", mentions=("net_arch", "valid list")),
    train("activation-unknown", *TRAIN, "-p", "policy_kwargs.activation_fn=os.system", mentions=("activation_fn",)),
    train(
        "sde-discrete",
        *TRAIN,
        *("-p", "correct_classic=false", "-p", "env.action=discrete", "-p", "use_sde=true"),
        mentions=("use_sde", "gSDE"),
    ),
    train("discrete-correction", *TRAIN, "-p", "env.action=discrete", mentions=("env.action", "correct_classic")),
    train("eval-episodes-huge", *TRAIN, "-p", "eval_episodes=100000000", mentions=("eval_episodes", "less than")),
    train("unknown-key", *TRAIN, "-p", "learning_rat=0.1", mentions=("learning_rat: unknown key",)),
    train("empty-key", *TRAIN, "-p", "=5", mentions=("-p =5: expected KEY=VALUE",)),
    train("dotted-empty-key", *TRAIN, "-p", "policy_kwargs..net_arch=[8]", mentions=("expected KEY=VALUE",)),
    train("value-alias-bomb", *TRAIN, "-p", "gamma=&a [*a]", mentions=("-p gamma", "alias *a")),
    train("value-bad-yaml", *TRAIN, "-p", "gamma=[0.9", mentions=("-p gamma", "not valid YAML")),
    train(
        "value-python-tag",
        *TRAIN,
        "-p",
        "gamma=!!python/object/apply:os.system [touch pwned]",
        mentions=("-p gamma", "constructor"),
    ),
    train("env-horizon-bool", *TRAIN, "-p", "env.horizon=true", mentions=("horizon", "valid integer")),
    train("env-horizon-huge", *TRAIN, "-p", "env.horizon=100000000", mentions=("horizon", "less than")),
    train("env-name-path", *TRAIN, "-p", "env.name=../../escaped", mentions=("name", "not a plain name")),
    train("env-mean-1e300", *TRAIN, "-p", "env.demand.mean=1e300", mentions=("demand.mean", "less than")),
    train("env-unknown", *TRAIN, "-p", "env.colour=red", mentions=("colour is not a scenario key",)),
    train(
        "dqn-network", "--algo", "dqn", "--scenario", "serial_shang_song_1", mentions=("learns for one stock point",)
    ),
    # ---- train.py: scenarios given on the command line
    train(
        "scenario-duplicate-key",
        "--algo",
        "ppo",
        "--scenario",
        "{tmp}/scenarios/dup.yaml",
        mentions=("dup.yaml", "duplicate key 'horizon'"),
    ),
    train(
        "scenario-name-path",
        "--algo",
        "ppo",
        "--scenario",
        "{tmp}/scenarios/escape.yaml",
        mentions=("escape.yaml", "name", "not a plain name"),
    ),
    train("scenario-bomb", "--algo", "ppo", "--scenario", "{tmp}/scenarios/bomb.yaml", mentions=("YAML bomb",)),
    train("scenario-binary", "--algo", "ppo", "--scenario", "{tmp}/scenarios/binary.yaml", mentions=("not UTF-8",)),
    train(
        "scenario-environ-history",
        "--algo",
        "ppo",
        "--scenario",
        "{tmp}/scenarios/environ.yaml",
        mentions=("/proc/self/environ", "file of the kernel"),
    ),
    train(
        "scenario-horizon-huge",
        "--algo",
        "ppo",
        "--scenario",
        "{tmp}/scenarios/huge.yaml",
        mentions=("huge.yaml", "horizon"),
    ),
    train("scenario-fifo", "--algo", "ppo", "--scenario", "{tmp}/fifo", mentions=("fifo", "not a regular file")),
    train("scenario-proc", "--algo", "ppo", "--scenario", "/proc/self/environ", mentions=("file of the kernel",)),
    train("scenario-directory", "--algo", "ppo", "--scenario", "{tmp}/empty-dir", mentions=("is a directory",)),
    train("scenario-missing", "--algo", "ppo", "--scenario", "{tmp}/missing.yaml", mentions=("scenario not found",)),
    # ---- train.py: where the run goes
    Case("train-run-dir-file", "train", (*TRAIN, "--run-dir", "{tmp}/a-file"), ("--run-dir", "not a directory")),
    Case("train-run-dir-symlink", "train", (*TRAIN, "--run-dir", "{tmp}/link-dir"), ("--run-dir", "symbolic link")),
    Case("train-run-dir-device", "train", (*TRAIN, "--run-dir", "/dev/null"), ("--run-dir", "not a directory")),
    # ---- train.py --resume
    Case("resume-missing", "train", ("--resume", "{tmp}/nowhere"), ("--resume", "not a run directory")),
    Case("resume-a-file", "train", ("--resume", "{tmp}/a-file"), ("--resume", "not a run directory")),
    Case("resume-symlink", "train", ("--resume", "{tmp}/link-run"), ("--resume", "symbolic link")),
    Case("resume-finished", "train", ("--resume", "{tmp}/runs/ppo"), ("--resume", "finished"), untouched=("runs",)),
    Case("resume-fifo", "train", ("--resume", "{tmp}/fifo"), ("--resume", "not a run directory")),
    # ---- tune.py
    tune("unknown-algo", "--algo", "a2c", "--scenario", S, mentions=("a2c",)),
    tune("trials-zero", "--algo", "ppo", "--scenario", S, "--trials", "0", mentions=("--trials",)),
    tune("trials-huge", "--algo", "ppo", "--scenario", S, "--trials", "1000000000", mentions=("--trials", "in 1..")),
    tune("seed-negative", "--algo", "ppo", "--scenario", S, "--seed", "-5", mentions=("--seed",)),
    tune("lr-infinite", "--algo", "ppo", "--scenario", S, "-p", "learning_rate=.inf", mentions=("learning_rate",)),
    tune(
        "n-steps-one",
        "--algo",
        "ppo",
        "--scenario",
        S,
        "-p",
        "n_envs=1",
        "-p",
        "n_steps=1",
        "-p",
        "batch_size=2",
        mentions=("at least 2",),
    ),
    tune(
        "scenario-name-path",
        "--algo",
        "ppo",
        "--scenario",
        "{tmp}/scenarios/escape.yaml",
        mentions=("not a plain name",),
    ),
    tune("scenario-bomb", "--algo", "ppo", "--scenario", "{tmp}/scenarios/bomb.yaml", mentions=("YAML bomb",)),
    Case("tune-out-file", "tune", ("--algo", "ppo", "--scenario", S, "--out", "{tmp}/a-file"), ("--out", "a-file")),
    Case(
        "tune-out-symlink",
        "tune",
        ("--algo", "ppo", "--scenario", S, "--out", "{tmp}/link-dir"),
        ("--out", "symbolic link"),
    ),
    Case("tune-out-device", "tune", ("--algo", "ppo", "--scenario", S, "--out", "/dev/null"), ("--out",)),
    # ---- evaluate.py
    evaluate("scenario-duplicate-key", "--scenario", "{tmp}/scenarios/dup.yaml", mentions=("duplicate key",)),
    evaluate("scenario-bomb", "--scenario", "{tmp}/scenarios/bomb.yaml", mentions=("YAML bomb",)),
    evaluate(
        "scenario-environ-history", "--scenario", "{tmp}/scenarios/environ.yaml", mentions=("file of the kernel",)
    ),
    evaluate("scenario-fifo", "--scenario", "{tmp}/fifo", mentions=("not a regular file",)),
    evaluate("scenario-horizon-huge", "--scenario", "{tmp}/scenarios/huge.yaml", mentions=("horizon",)),
    evaluate("unknown-policy", "--scenario", S, "--policy", "magic", mentions=("magic", "unknown policy")),
    evaluate("policy-fifo", "--scenario", S, "--policy", "{tmp}/fifo", mentions=("fifo", "no trained model")),
    evaluate(
        "policy-unfinished-run",
        "--scenario",
        S,
        "--policy",
        "{tmp}/runs/unfinished",
        mentions=("not finished", "--resume"),
    ),
    evaluate("warmup-negative", "--scenario", S, "--warmup", "-1", mentions=("--warmup",)),
    evaluate("service-level", "--scenario", S, "--service-level", "2", mentions=("--service-level",)),
    evaluate("episodes-zero", "--scenario", S, "--episodes", "0", mentions=("--episodes",)),
    evaluate("episodes-exponent", "--scenario", S, "--episodes", "1e9", mentions=("--episodes", "must be an integer")),
    evaluate(
        "episodes-huge",
        "--scenario",
        S,
        "--policy",
        "base_stock",
        "--episodes",
        "1000000000",
        mentions=("--episodes", "in 1..100000"),
    ),
    evaluate(
        "seed-negative",
        "--scenario",
        S,
        "--policy",
        "base_stock",
        "--seed",
        "-5",
        mentions=("--seed", "in 0..4294967295"),
    ),
    evaluate(
        "tuning-episodes-huge", "--scenario", S, "--tuning-episodes", "1000000000", mentions=("--tuning-episodes",)
    ),
    evaluate("unknown-option", "--scenario", S, "--colour", "red", mentions=("unrecognized arguments: --colour",)),
    evaluate("no-scenario", mentions=("the following arguments are required: --scenario",)),
    evaluate("out-file", "--scenario", S, out="a-file", mentions=("--out", "not a directory")),
    evaluate("out-symlink", "--scenario", S, out="link-dir", mentions=("--out", "symbolic link")),
    evaluate("out-device", "--scenario", S, out="/dev/null", mentions=("--out", "not a directory")),
    # ---- export.py
    export("unknown-source", "magic", mentions=("magic",)),
    export("classic-without-scenario", "base_stock", mentions=("--scenario is needed",)),
    export(
        "scenario-name-path", "base_stock", "--scenario", "{tmp}/scenarios/escape.yaml", mentions=("not a plain name",)
    ),
    export("scenario-bomb", "base_stock", "--scenario", "{tmp}/scenarios/bomb.yaml", mentions=("YAML bomb",)),
    export("parity-zero", "base_stock", "--scenario", S, "--parity-observations", "0", mentions=("--parity",)),
    export(
        "parity-text",
        "base_stock",
        "--scenario",
        S,
        "--parity-observations",
        "many",
        mentions=("--parity", "must be an integer"),
    ),
    export(
        "parity-huge",
        "base_stock",
        "--scenario",
        S,
        "--parity-observations",
        "1000000000000",
        mentions=("--parity-observations", "in 1.."),
    ),
    export("no-source", mentions=("the following arguments are required: RUN_DIR_OR_MODEL",)),
    export("unfinished-run", "{tmp}/runs/unfinished", mentions=("not finished", "--resume")),
    export("run-fifo", "{tmp}/fifo", mentions=("fifo", "no trained model")),
    export("out-symlink", "base_stock", "--scenario", S, out="link-dir", mentions=("--out", "symbolic link")),
    export("out-file", "base_stock", "--scenario", S, out="a-file", mentions=("--out", "not a directory")),
    export("out-not-its-own", "base_stock", "--scenario", S, out="outputs/not-a-policy", mentions=("--out",)),
    export("out-device", "base_stock", "--scenario", S, out="/dev/null", mentions=("--out", "not a directory")),
    # ---- recommend.py
    recommend("policy-missing", "--policy", "{tmp}/nowhere", *STATE, mentions=("not an exported policy",)),
    recommend("policy-a-file", "--policy", "{tmp}/a-file", *STATE, mentions=("not an exported policy",)),
    recommend("state-missing", *POLICY, "--state", "{tmp}/missing.csv", mentions=("state file not found",)),
    recommend(
        "state-environ",
        *POLICY,
        "--state",
        "/proc/self/environ",
        mentions=("/proc/self/environ", "file of the kernel"),
    ),
    recommend("state-directory", *POLICY, "--state", "{tmp}/empty-dir", mentions=("empty-dir", "is a directory")),
    recommend("no-policy", *STATE, mentions=("the following arguments are required: --policy",)),
    recommend("format-unknown", *POLICY, *STATE, "--format", "xml", mentions=("--format", "invalid choice")),
    recommend("state-fifo", *POLICY, "--state", "{tmp}/fifo", mentions=("fifo",)),
    recommend("state-binary", *POLICY, "--state", "{tmp}/scenarios/binary.yaml", mentions=("binary.yaml",)),
    recommend("review-negative", *POLICY, *STATE, "--review-above", "-1", mentions=("--review-above", "at least 0")),
    recommend("out-device", *POLICY, *STATE, out="/dev/full", mentions=("--out", "not a regular file")),
    recommend("out-symlink", *POLICY, *STATE, out="link-file", mentions=("--out", "symbolic link")),
    recommend("out-directory", *POLICY, *STATE, out="empty-dir", mentions=("--out", "is a directory")),
    recommend("out-fifo", *POLICY, *STATE, out="fifo", mentions=("--out", "not a regular file")),
    # ---- python -m agents.rl.convert
    Case("convert-not-a-run", "convert", ("{tmp}/empty-dir",), ("not a run directory",)),
    Case("convert-no-argument", "convert", (), ("the following arguments are required: RUN_DIR",)),
    Case("convert-unknown-option", "convert", ("--all", "{tmp}/empty-dir"), ("unrecognized arguments: --all",)),
]


def prepare(tmp: Path, made: Path) -> None:
    """The inputs the cases point at (see the module docstring); ``made``: the session's artifacts."""
    from tests.test_hostile_scenarios import bomb

    scenarios = tmp / "scenarios"
    scenarios.mkdir()
    (scenarios / "dup.yaml").write_text(SINGLE + "horizon: 365\n")
    (scenarios / "escape.yaml").write_text(SINGLE + "name: ../../escaped\n")
    (scenarios / "bomb.yaml").write_text(bomb())
    (scenarios / "binary.yaml").write_bytes(bytes(range(256)) * 8)
    environ = SINGLE.replace("{dist: poisson, mean: 5}", "{dist: csv, path: /proc/self/environ}")
    (scenarios / "environ.yaml").write_text(environ)
    (scenarios / "huge.yaml").write_text(SINGLE.replace("horizon: 10", "horizon: 1000000000"))
    os.mkfifo(tmp / "fifo")
    (tmp / "a-file").write_text("keep me\n")
    (tmp / "empty-dir").mkdir()
    (tmp / "link-dir").symlink_to(tmp / "empty-dir")
    (tmp / "link-file").symlink_to(tmp / "a-file")
    (tmp / "out").mkdir()
    (tmp / "outputs" / "not-a-policy").mkdir(parents=True)
    (tmp / "outputs" / "not-a-policy" / "notes.txt").write_text("mine\n")
    shutil.copy(ROOT / "examples" / "state.csv", tmp / "state.csv")
    copy_of(made / "policy", tmp / "policy")
    copy_of(made / "runs" / "ppo", tmp / "runs" / "ppo")
    copy_of(made / "runs" / "ppo-unfinished", tmp / "runs" / "unfinished")
    (tmp / "link-run").symlink_to(tmp / "runs" / "unfinished")


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    made = artifacts(tmp_path_factory)
    return shared_batch(tmp_path_factory, "commands", lambda tmp: prepare(tmp, made), CASES)


@pytest.mark.parametrize("case", [case.param() for case in CASES])
def test_a_hostile_command_line_is_refused_in_one_line_and_writes_nothing(batch, case):
    assert_one_line_error(batch.outcomes[case.id], [m.replace("{tmp}", str(batch.tmp)) for m in case.mentions])
    batch.unchanged(*case.untouched)


def test_the_inputs_of_the_cases_are_left_as_they_were(batch):
    batch.unchanged("scenarios", "a-file", "empty-dir", "link-dir", "link-file", "state.csv", "policy", "runs")
    batch.unchanged("outputs")
    assert not (batch.tmp.parent / "escaped").exists() and not (batch.tmp / "escaped").exists()
    assert not (Path.cwd() / "pwned").exists() and not (batch.tmp / "pwned").exists()
