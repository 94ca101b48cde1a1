"""Helpers of the hostile-input tests (tests/test_hostile_*.py): cases, their outcome, the checks.

Every hostile case asserts the documented outcome of bad input: exit code 2, stderr exactly one
line ``error: ...`` naming the file and the key or row, no traceback, nothing written where the
command would write, earlier outputs intact. Command-line cases run as real processes through
:mod:`tests.hostile_runner` (one interpreter pays for the imports, each case is a fork of it),
once per pytest session even with xdist: the first worker to need a batch runs it, the others
read its outcomes.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import stat
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Case:
    """One command-line attack and its documented outcome.

    ``argv`` and ``cwd`` may hold ``{tmp}``: the directory the case's files were prepared in.
    ``mentions`` are what the one line must say (the file, the key or row). ``xfail`` gives
    the reason a case still fails (code another phase fixes), and makes it a strict xfail.
    """

    id: str
    script: str
    argv: tuple[str, ...]
    mentions: tuple[str, ...] = ()
    code: int = 2
    cwd: str = "{tmp}"
    xfail: str = ""
    timeout: float = 60
    untouched: tuple[str, ...] = field(default=())  # paths under {tmp} that must be left as they were

    def param(self) -> Any:
        marks = [pytest.mark.xfail(strict=True, reason=self.xfail)] if self.xfail else []
        return pytest.param(self, id=self.id, marks=marks)


@dataclass
class Outcome:
    code: int
    stdout: str
    stderr: str
    seconds: float


def _expand(text: str, tmp: Path) -> str:
    return text.replace("{tmp}", str(tmp))


class Runner:
    """:mod:`tests.hostile_runner` in a process of its own, started early: it imports while the
    cases' files are prepared, then runs the cases it is sent."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.hostile_runner"],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )

    def run(self, cases: Iterable[Case], tmp: Path, parallel: int = 2) -> dict[str, Outcome]:
        """Run ``cases`` (``{tmp}`` expanded) and return their outcomes by id."""
        request = {
            "parallel": parallel,
            "cases": [
                {
                    "id": case.id,
                    "script": case.script,
                    "argv": [_expand(arg, tmp) for arg in case.argv],
                    "cwd": _expand(case.cwd, tmp),
                    "timeout": case.timeout,
                }
                for case in cases
            ],
        }
        stdout, stderr = self.process.communicate(json.dumps(request))
        if self.process.returncode != 0:
            raise RuntimeError(f"the hostile runner failed:\n{stderr[-5000:]}")
        return {key: Outcome(**value) for key, value in json.loads(stdout).items()}


@dataclass
class Batch:
    """The outcomes of a batch of cases, and the files of its directory before and after the run."""

    tmp: Path
    before: dict[str, Any]
    after: dict[str, Any]
    outcomes: dict[str, Outcome]

    def unchanged(self, *prefixes: str) -> None:
        """The paths under each prefix (relative to ``tmp``) are as they were before the run, none added."""
        for prefix in prefixes:
            old = {k: v for k, v in self.before.items() if k == prefix or k.startswith(prefix.rstrip("/") + "/")}
            new = {k: v for k, v in self.after.items() if k == prefix or k.startswith(prefix.rstrip("/") + "/")}
            assert old == new, {
                "under": prefix,
                "appeared": sorted(set(new) - set(old)),
                "gone": sorted(set(old) - set(new)),
                "changed": sorted(k for k in old.keys() & new.keys() if old[k] != new[k]),
            }


def _session_directory(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory all xdist workers of this session share (the base of their own temporary directories)."""
    shared = tmp_path_factory.getbasetemp()
    return shared.parent if os.environ.get("PYTEST_XDIST_WORKER") else shared


def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Runs and a policy made once per session, for the cases to copy (never to change in place).

    ``runs/ppo`` and ``runs/dqn`` (finished), ``runs/ppo-unfinished`` and ``runs/dqn-unfinished``
    (a checkpoint, no model yet), and ``policy/``: base_stock for lost_sales_L2_p9, exported.
    """
    from agents.deploy.export import classic_source, export_policy
    from envs.scenario import load_scenario, single_item

    root = _session_directory(tmp_path_factory) / "hostile-artifacts"
    with open(root.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (root / "complete").exists():
            shutil.rmtree(root, ignore_errors=True)
            (root / "runs").mkdir(parents=True)
            for algo in ("ppo", "dqn"):
                make_run(root / "made", algo).rename(root / "runs" / algo)
                make_run(root / "made", algo, finished=False).rename(root / "runs" / f"{algo}-unfinished")
            scenario = single_item(load_scenario("lost_sales_L2_p9"), "a test")
            export_policy(classic_source("base_stock", scenario, 20), root / "policy", 200)
            shutil.rmtree(root / "made")
            (root / "complete").touch()
    return root


def copy_of(source: Path, to: Path) -> Path:
    """A copy of an artifact (a run, a policy) at ``to``, to change or to hand to a command."""
    shutil.copytree(source, to, symlinks=True)
    return to


def shared_batch(
    tmp_path_factory: pytest.TempPathFactory, name: str, prepare: Any, cases: list[Case], cleanup: Any = None
) -> Batch:
    """The outcomes of ``cases``, run once per session after ``prepare(tmp)`` made their files
    (and before ``cleanup(tmp)``, which undoes what must not outlive the batch: mounts).

    Under xdist every worker asks; the first runs the batch in a directory all workers share and
    saves the outcomes with snapshots of the directory before and after, the others wait for it
    on a lock and read them.
    """
    shared = _session_directory(tmp_path_factory)
    tmp = shared / f"hostile-{name}"
    saved = shared / f"hostile-{name}.json"
    with open(shared / f"hostile-{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not saved.exists():
            runner = Runner()
            tmp.mkdir(parents=True, exist_ok=True)
            try:
                prepare(tmp)
                before = snapshot(tmp)
                outcomes = runner.run(cases, tmp)
                after = snapshot(tmp)
            finally:
                if cleanup is not None:
                    cleanup(tmp)
            content = {"before": before, "after": after, "outcomes": {k: vars(v) for k, v in outcomes.items()}}
            saved.write_text(json.dumps(content))
    content = json.loads(saved.read_text())
    outcomes = {key: Outcome(**value) for key, value in content["outcomes"].items()}
    return Batch(tmp, content["before"], content["after"], outcomes)


def snapshot(root: Path) -> dict[str, list[Any]]:
    """Every path under ``root`` but lock files: its type, permission bits and (for files) a hash of the content."""
    entries: dict[str, list[Any]] = {}
    for path in sorted(root.rglob("*")):
        if path.name == ".lock":  # a writer's lock file (envs.files.DirectoryLock): no content
            continue
        status = os.lstat(path)
        kind = "link" if stat.S_ISLNK(status.st_mode) else "dir" if stat.S_ISDIR(status.st_mode) else "file"
        digest = ""
        if kind == "file" and stat.S_ISREG(status.st_mode):
            try:
                digest = hashlib.sha256(path.read_bytes()).hexdigest()
            except OSError:
                digest = "unreadable"
        elif kind == "link":
            digest = os.readlink(path)
        entries[str(path.relative_to(root))] = [kind, stat.S_IMODE(status.st_mode), digest]
    return entries


def assert_one_line_error(outcome: Outcome, mentions: Iterable[str] = (), code: int = 2) -> str:
    """The documented outcome of bad input: ``code``, one line on stderr, ``error: ...`` naming ``mentions``."""
    err = outcome.stderr
    assert "Traceback" not in err, err
    assert outcome.code == code, f"exit code {outcome.code}, expected {code}; stderr: {err}"
    assert err.endswith("\n") and err.count("\n") == 1, f"stderr is not one line: {err!r}"
    assert err.startswith("error: "), err
    for mention in mentions:
        assert mention in err, f"{mention!r} not in {err!r}"
    return err


def fifo(path: Path, unblock_after: float = 10) -> str:
    """A FIFO at ``path``; should a reader block on it, a writer opens it after ``unblock_after``
    seconds and closes it at once (the reader sees an empty file), so a test fails instead of hanging."""
    import threading

    os.mkfifo(path)

    def unblock() -> None:
        try:
            descriptor = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
        except OSError:  # no reader: nothing to unblock
            return
        os.close(descriptor)

    timer = threading.Timer(unblock_after, unblock)
    timer.daemon = True
    timer.start()
    return str(path)


# ---------------------------------------------------------------------------------------------
# Fixtures: runs and exported policies, made quickly (untrained models: their skill is irrelevant)

SMALL = {
    "ppo": ["n_steps=16", "batch_size=32", "eval_episodes=2", "env.horizon=20"],
    "dqn": ["buffer_size=500", "learning_starts=10", "batch_size=16", "eval_episodes=2", "env.horizon=20"],
}


def make_run(parent: Path, algo: str, scenario: str = "lost_sales_L1_p4", finished: bool = True) -> Path:
    """A run directory as train.py leaves it: config, a checkpoint and, when ``finished``, model and summary."""
    from agents import rl

    config = rl.resolve_config(algo, scenario, params=SMALL[algo], total_timesteps=1000, n_envs=2)
    run = rl.RunDirectory.create(parent, config)
    model = rl.new_model(config, rl.make_training_env(config, 0), 0, verbose=0)
    if algo == "dqn":  # a few transitions in the replay buffer
        model.learn(40)
    rl.Checkpoint.write(run.checkpoints_dir, model, {"best": None})
    if finished:
        rl.save_model(model, run.model_file)
        rl.save_model(model, run.best_model_file)
        run.write_summary({"timesteps": model.num_timesteps})
    return run.path


def payload(marker: Path) -> bytes:
    """A pickle that, when unpickled, creates ``marker`` (by running a shell command)."""
    import pickle

    class Payload:
        def __reduce__(self) -> tuple[Any, tuple[str]]:
            return os.system, (f"touch {marker}",)

    return pickle.dumps(Payload())
