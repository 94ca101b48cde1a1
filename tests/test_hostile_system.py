"""Full disks, read-only and other file systems, concurrent writers and signals.

Outputs go where --out (or --run-dir) says and are complete or absent: a full disk or a
read-only file system gives one line and exit code 2 and leaves nothing behind; an output on
another file system is written as anywhere else; a replaced output keeps its permission bits;
a failed command leaves the outputs of an earlier run as they were. Full and read-only file
systems are small tmpfs mounts, so those cases need root (they are skipped otherwise). A run
directory or a study directory being written is locked: a second writer gets one line. Ctrl-C
and SIGTERM end a command with one line, exit code 130 or 143, and no temporary file.
"""

from __future__ import annotations

import os
import shutil
import signal
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

import train
import tune
from agents import rl
from envs.errors import UserError
from envs.files import DirectoryLock
from tests.hostile import ROOT, Case, artifacts, assert_one_line_error, copy_of, shared_batch, snapshot

S = "lost_sales_L1_p4"
QUICK_TRAINING = ["--timesteps", "2000", "--n-envs", "2"]
for _param in ["n_steps=16", "batch_size=32", "eval_freq=200", "eval_episodes=2", "checkpoint_freq=200"]:
    QUICK_TRAINING += ["-p", _param]
QUICK_TRAINING += ["-p", "env.horizon=20"]


def mount_tmpfs(path: Path, size: str, read_only: bool = False) -> None:
    path.mkdir(parents=True, exist_ok=True)
    options = f"size={size}" + (",ro" if read_only else "")
    subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], check=True, capture_output=True)


def can_mount() -> bool:
    if os.geteuid() != 0 or not shutil.which("mount"):
        return False
    probe = Path(f"/tmp/hostile-mount-probe-{os.getpid()}")
    try:
        mount_tmpfs(probe, "4k")
    except (subprocess.CalledProcessError, OSError):
        return False
    subprocess.run(["umount", str(probe)], check=False)
    probe.rmdir()
    return True


ROOT_NEEDED = pytest.mark.skipif(not can_mount(), reason="needs root and mount, for tmpfs file systems")


def fill(directory: Path, leave: int = 0) -> None:
    """Fill the file system of ``directory`` up to ``leave`` free bytes."""
    free = os.statvfs(directory).f_bavail * os.statvfs(directory).f_frsize
    with (directory / ".filler").open("wb") as handle:
        handle.write(b"\0" * max(0, free - leave))


# fmt: off
FULL_CASES = [
    Case("train-disk-full", "train", ("--algo", "ppo", "--scenario", S, *QUICK_TRAINING, "--run-dir", "{tmp}/full"),
         ("No space left on device", "removed (it had no checkpoint to resume from)"), untouched=("full",)),
    # the resumed run goes on until the disk is full: its earlier checkpoint and config stay as they were
    Case("resume-disk-full", "train", ("--resume", "{tmp}/full-resume/run"),
         ("No space left on device", "kept: continue it with train.py --resume"),
         untouched=("full-resume/run/checkpoints", "full-resume/run/config.yaml", "full-resume/run/scenario.yaml")),
    Case("evaluate-disk-full", "evaluate", ("--scenario", S, "--policy", "base_stock", "--episodes", "2",
         "--tuning-episodes", "2", "--out", "{tmp}/full-small"), ("No space left on device",),
         untouched=("full-small",)),
    Case("export-disk-full", "export", ("base_stock", "--scenario", S, "--tuning-episodes", "2",
         "--parity-observations", "50", "--out", "{tmp}/full-tiny/policy"), ("No space left on device",),
         untouched=("full-tiny",)),
    Case("recommend-disk-full", "recommend", ("--policy", "{tmp}/policy", "--state", "{tmp}/state.csv", "--out",
         "{tmp}/full-zero/orders.csv"), ("No space left on device",), untouched=("full-zero",)),
    Case("tune-disk-full", "tune", ("--algo", "ppo", "--scenario", S, "--trials", "1", "--timesteps", "64",
         "-p", "n_envs=2", "-p", "n_steps=16", "-p", "batch_size=32", "-p", "eval_freq=32", "-p", "eval_episodes=2",
         "-p", "env.horizon=20", "--out", "{tmp}/full-zero"), ("No space left on device",),
         untouched=("full-zero",)),
    Case("train-read-only", "train", ("--algo", "ppo", "--scenario", S, "--run-dir", "{tmp}/read-only"),
         ("--run-dir", "Read-only file system"), untouched=("read-only",)),
    Case("resume-read-only", "train", ("--resume", "{tmp}/read-only/run"),
         ("cannot lock it for writing (Read-only file system)",), untouched=("read-only",)),
    Case("evaluate-read-only", "evaluate", ("--scenario", S, "--policy", "base_stock", "--episodes", "2",
         "--tuning-episodes", "2", "--out", "{tmp}/read-only/results"), ("Read-only file system",),
         untouched=("read-only",)),
    Case("export-read-only", "export", ("base_stock", "--scenario", S, "--tuning-episodes", "2",
         "--parity-observations", "50", "--out", "{tmp}/read-only/policy"), ("Read-only file system",),
         untouched=("read-only",)),
    Case("recommend-read-only", "recommend", ("--policy", "{tmp}/policy", "--state", "{tmp}/state.csv", "--out",
         "{tmp}/read-only/orders.csv"), ("Read-only file system",), untouched=("read-only",)),
    Case("tune-read-only", "tune", ("--algo", "ppo", "--scenario", S, "--out", "{tmp}/read-only/tune"),
         ("Read-only file system",), untouched=("read-only",)),
    Case("convert-read-only", "convert", ("{tmp}/read-only/run",), ("Read-only file system",),
         untouched=("read-only",)),
    # on another file system, outputs are written as anywhere else
    Case("export-other-fs", "export", ("base_stock", "--scenario", S, "--tuning-episodes", "2",
         "--parity-observations", "50", "--out", "{tmp}/other-fs/policy"), code=0),
    Case("recommend-other-fs", "recommend", ("--policy", "{tmp}/policy", "--state", "{tmp}/state.csv", "--out",
         "{tmp}/other-fs/orders.csv"), code=0),
]
# fmt: on


def prepare(tmp: Path, made: Path) -> None:
    copy_of(made / "policy", tmp / "policy")
    shutil.copy(ROOT / "examples" / "state.csv", tmp / "state.csv")
    run = made / "runs" / "ppo-unfinished"
    mount_tmpfs(tmp / "full", "64k")
    mount_tmpfs(tmp / "full-small", "16k")
    mount_tmpfs(tmp / "full-tiny", "4k")
    mount_tmpfs(tmp / "full-zero", "64k")
    fill(tmp / "full-zero")
    mount_tmpfs(tmp / "full-resume", "8m")
    shutil.copytree(run, tmp / "full-resume" / "run")
    fill(tmp / "full-resume", leave=8 << 10)  # room for the lock and command.txt, not for a checkpoint
    mount_tmpfs(tmp / "read-only", "8m")
    shutil.copytree(run, tmp / "read-only" / "run")
    subprocess.run(["mount", "-o", "remount,ro", str(tmp / "read-only")], check=True)
    mount_tmpfs(tmp / "other-fs", "64m")


def unmount(tmp: Path) -> None:
    for name in ("full", "full-small", "full-tiny", "full-zero", "full-resume", "read-only", "other-fs"):
        subprocess.run(["umount", str(tmp / name)], check=False, capture_output=True)


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    made = artifacts(tmp_path_factory)
    return shared_batch(tmp_path_factory, "system", lambda tmp: prepare(tmp, made), FULL_CASES, cleanup=unmount)


@ROOT_NEEDED
@pytest.mark.slow
@pytest.mark.parametrize("case", [case.param() for case in FULL_CASES])
def test_a_full_or_read_only_file_system_gives_one_line_and_leaves_nothing(batch, case):
    outcome = batch.outcomes[case.id]
    if case.code == 0:
        assert outcome.code == 0 and "Traceback" not in outcome.stderr, outcome.stderr
        written = {path for path in batch.after if path.startswith("other-fs/")}
        assert not any(".tmp" in path or "/." in path for path in written), written
        assert {"other-fs/policy/policy.json", "other-fs/orders.csv"} & written
        return
    assert_one_line_error(outcome, case.mentions)
    batch.unchanged(*case.untouched)


# ---------------------------------------------------------------------------------------------
# Earlier outputs are kept: a failed command leaves them, a replaced one keeps its permission bits


def test_a_failed_recommend_leaves_the_earlier_orders_and_a_replaced_file_keeps_its_mode(
    tmp_path, tmp_path_factory, capsys
):
    import recommend

    copy_of(artifacts(tmp_path_factory) / "policy", tmp_path / "policy")
    orders = tmp_path / "orders.csv"
    orders.write_text("earlier orders\n")
    os.chmod(orders, 0o640)
    (tmp_path / "bad.csv").write_text("sku,on_hand,arriving_in_0,arriving_in_1\nA,-1,0,0\n")
    with pytest.raises(SystemExit) as exit_info:
        recommend.main(
            ["--policy", str(tmp_path / "policy"), "--state", str(tmp_path / "bad.csv"), "--out", str(orders)]
        )
    assert exit_info.value.code == 2 and orders.read_text() == "earlier orders\n"
    capsys.readouterr()
    assert (
        recommend.main(
            [
                "--policy",
                str(tmp_path / "policy"),
                "--state",
                str(ROOT / "examples" / "state.csv"),
                "--out",
                str(orders),
            ]
        )
        == 0
    )
    assert orders.read_text().startswith("sku,order_quantity") and stat.S_IMODE(orders.stat().st_mode) == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.csv", "orders.csv", "policy"]


def test_a_resume_that_fails_leaves_the_run_as_it_was_and_command_txt_keeps_its_mode(
    tmp_path, tmp_path_factory, capsys
):
    run = copy_of(artifacts(tmp_path_factory) / "runs" / "ppo-unfinished", tmp_path / "run")
    checkpoint = rl.RunDirectory(run).latest_checkpoint()
    assert checkpoint is not None
    (checkpoint.path / "state.json").write_text("{oops")
    (run / "command.txt").write_text("# the first command\n")
    os.chmod(run / "command.txt", 0o600)
    before = snapshot(run)
    with pytest.raises(SystemExit) as exit_info:
        train.main(["--resume", str(run)])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and err.count("\n") == 1 and "state.json: not valid JSON" in err, err
    assert snapshot(run) == before


# ---------------------------------------------------------------------------------------------
# One writer at a time

HOLDER = """
import fcntl, os, sys, time
descriptor = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)
fcntl.flock(descriptor, fcntl.LOCK_EX)
os.write(descriptor, str(os.getpid()).encode())
print("locked", flush=True)
time.sleep(120)
"""


@pytest.fixture
def lock_holder():
    """Start a process that holds the lock of a directory, as a command writing it would."""
    processes = []

    def hold(directory: Path) -> subprocess.Popen:
        process = subprocess.Popen(
            [sys.executable, "-c", HOLDER, str(directory / DirectoryLock.NAME)], stdout=subprocess.PIPE, text=True
        )
        assert process.stdout is not None and process.stdout.readline().strip() == "locked"
        processes.append(process)
        return process

    yield hold
    for process in processes:
        process.kill()
        process.wait()


def test_a_second_writer_of_a_run_gets_one_line_and_changes_nothing(tmp_path, tmp_path_factory, capsys, lock_holder):
    run = copy_of(artifacts(tmp_path_factory) / "runs" / "ppo-unfinished", tmp_path / "run")
    before = snapshot(run)
    holder = lock_holder(run)
    with pytest.raises(SystemExit) as exit_info:
        train.main(["--resume", str(run)])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and err.count("\n") == 1, err
    assert f"process {holder.pid} is writing to it" in err and str(run) in err, err
    assert snapshot(run) == before


def test_a_second_study_in_one_directory_gets_one_line(tmp_path, capsys, lock_holder):
    out = tmp_path / "tune" / f"{S}_ppo"
    out.mkdir(parents=True)
    holder = lock_holder(out)
    with pytest.raises(SystemExit) as exit_info:
        tune.main(["--algo", "ppo", "--scenario", S, "--trials", "1", "--out", str(tmp_path / "tune")])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and err.count("\n") == 1 and f"process {holder.pid} is writing" in err, err
    assert [p.name for p in out.iterdir()] == [".lock"]


class Command:
    """A command started as a real process, its stdout and stderr collected as they come (so that a full
    pipe never blocks it)."""

    def __init__(self, argv: list[str], cwd: Path) -> None:
        self.process = subprocess.Popen(
            [sys.executable, *argv],
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            # as from a terminal: a shell without job control (nohup, `cmd &`) ignores SIGINT in what it starts
            preexec_fn=_interruptible,
        )
        self.received: dict[str, list[str]] = {"stdout": [], "stderr": []}
        self.readers = [
            threading.Thread(target=self._read, args=(stream, self.received[name]), daemon=True)
            for name, stream in (("stdout", self.process.stdout), ("stderr", self.process.stderr))
        ]
        for reader in self.readers:
            reader.start()

    @staticmethod
    def _read(stream: Any, received: list[str]) -> None:
        for chunk in iter(lambda: stream.read(1), ""):
            received.append(chunk)

    @property
    def stdout(self) -> str:
        return "".join(self.received["stdout"])

    @property
    def stderr(self) -> str:
        return "".join(self.received["stderr"])

    def wait_for(self, condition, seconds: float = 180) -> None:
        """Wait until ``condition()`` holds; fail if the process ends first or it takes too long."""
        deadline = time.monotonic() + seconds
        while not condition():
            assert self.process.poll() is None, self.stderr
            assert time.monotonic() < deadline, f"timed out; stderr: {self.stderr[-2000:]}"
            time.sleep(0.02)

    def finish(self, seconds: float = 60) -> int:
        """The exit code, once the process has ended and all of stderr is read."""
        code = self.process.wait(timeout=seconds)
        for reader in self.readers:
            reader.join(timeout=10)
        return code


def _interruptible() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.fixture
def command(tmp_path):
    """Start commands as processes; any still running at the end of the test is killed."""
    started: list[Command] = []

    def run(*argv: str) -> Command:
        started.append(Command([str(arg) for arg in argv], tmp_path))
        return started[-1]

    yield run
    for each in started:
        if each.process.poll() is None:
            each.process.kill()
            each.process.wait()


def temporaries(root: Path) -> list[str]:
    """Temporary files and staging directories of envs.files under ``root`` (hidden names but the lock)."""
    return [
        str(p) for p in root.rglob("*") if p.name.endswith(".tmp") or (p.name.startswith(".") and p.name != ".lock")
    ]


@pytest.mark.slow
def test_two_resumes_of_one_run_at_once_one_trains_the_other_refuses(tmp_path, tmp_path_factory, command):
    run = copy_of(artifacts(tmp_path_factory) / "runs" / "ppo-unfinished", tmp_path / "run")
    config = run / "config.yaml"
    config.write_text(config.read_text().replace("total_timesteps: 1000", "total_timesteps: 10000000"))
    first = command(ROOT / "train.py", "--resume", run)
    first.wait_for(lambda: (run / "command.txt").exists())  # written once the first holds the lock and has loaded
    second = command(ROOT / "train.py", "--resume", run)
    assert second.finish(seconds=120) == 2, second.stderr
    assert second.stderr.count("\n") == 1 and f"process {first.process.pid} is writing to it" in second.stderr
    first.process.send_signal(signal.SIGTERM)
    assert first.finish() == 143 and first.stderr.count("\n") == 1 and "kept: continue it" in first.stderr
    assert (run / "command.txt").read_text().count("train.py") == 1  # the second recorded nothing


# ---------------------------------------------------------------------------------------------
# Signals


@pytest.mark.slow
@pytest.mark.parametrize("signum, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_during_training_keeps_a_resumable_run_and_says_so(tmp_path, command, signum, code):
    runs = tmp_path / "runs"
    training = command(ROOT / "train.py", "--algo", "ppo", "--scenario", S, *QUICK_TRAINING, "--timesteps", "100000",
                       "--run-dir", runs)  # fmt: skip
    run = runs / f"{S}_ppo_seed0"
    training.wait_for(lambda: len(list((run / "checkpoints").glob("step_*"))) >= 2)
    training.process.send_signal(signum)
    assert training.finish() == code, training.stderr
    err = training.stderr
    assert err.count("\n") == 1 and err.startswith("error: interrupted;") and "--resume" in err, err
    assert signal.Signals(signum).name in err
    assert not (run / "model.zip").exists() and not temporaries(runs), temporaries(runs)
    with pytest.raises(UserError, match="not finished"):
        rl.load_run(run)


@pytest.mark.slow
def test_a_signal_before_the_first_checkpoint_removes_the_new_run(tmp_path, command):
    runs = tmp_path / "runs"
    training = command(ROOT / "train.py", "--algo", "ppo", "--scenario", S, *QUICK_TRAINING, "-p",
                       "checkpoint_freq=1000000", "--timesteps", "1000000", "--run-dir", runs)  # fmt: skip
    training.wait_for(lambda: (runs / f"{S}_ppo_seed0" / "command.txt").exists())
    time.sleep(1)
    training.process.send_signal(signal.SIGTERM)
    assert training.finish() == 143, training.stderr
    assert training.stderr.count("\n") == 1 and "removed (it had no checkpoint to resume from)" in training.stderr
    assert list(runs.iterdir()) == []


@pytest.mark.slow
def test_a_signal_during_evaluation_writes_nothing(tmp_path, command):
    out = tmp_path / "results"
    evaluation = command(ROOT / "evaluate.py", "--scenario", "lost_sales_L4_p39", "--episodes", "20000", "--out", out)
    evaluation.wait_for(lambda: "episodes x" in evaluation.stdout)  # the policies are being evaluated
    evaluation.process.send_signal(signal.SIGINT)
    assert evaluation.finish() == 130
    err = evaluation.stderr
    assert not out.exists() or not any(out.iterdir())
    assert "Traceback" not in err and err.strip().splitlines()[-1].startswith("error: interrupted (SIGINT)"), err
    assert err.count("\n") == 1, err  # no progress bar: stderr is not a terminal
