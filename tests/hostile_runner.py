"""Run many command-line cases as real processes, after paying for the imports once.

    python -m tests.hostile_runner < cases.json > outcomes.json

Used by :mod:`tests.hostile`. The commands (train, tune, evaluate, export, recommend, plan,
forecast and the run converter) are imported once; each case then runs in a child forked from this process, as
``python SCRIPT.py ARGV`` would run it: its own working directory, stdin from /dev/null, stdout
and stderr to files, Python's default warning filters, and the exit code ``python`` would give
(an uncaught exception prints its traceback and exits with 1). Cases run ``parallel`` at a time.

Input, read once the imports are done: ``{"cases": [{"id", "script", "argv", "cwd", "timeout"}], "parallel": 2}``.
Output: ``{id: {"code", "stdout", "stderr", "seconds"}}`` (code -1: killed after its timeout).
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import signal
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

SCRIPTS = {
    "train": "train",
    "tune": "tune",
    "evaluate": "evaluate",
    "export": "export",
    "recommend": "recommend",
    "plan": "plan",
    "forecast": "forecast",
    "convert": "agents.rl.convert",
}
# Imported before the children are forked too: what the commands import when they load a run (and what
# torch.use_deterministic_algorithms imports, 3 s).
PRELOAD = ("agents.rl.policy", "agents.deploy.export", "agents.deploy.torch_export", "torch._inductor")
# What stdout and stderr are cut to in the outcome.
KEEP_CHARACTERS = 20_000


def _run_in_child(case: dict[str, Any], out: Path, err: Path) -> None:
    """The child: run the case as ``python SCRIPT.py ARGV`` would, then exit without cleanup handlers."""
    code = 1
    try:
        os.chdir(case["cwd"])
        for descriptor, path, flags in ((0, os.devnull, os.O_RDONLY), (1, out, os.O_WRONLY), (2, err, os.O_WRONLY)):
            os.dup2(os.open(path, flags), descriptor)
        module = importlib.import_module(SCRIPTS[case["script"]])
        sys.argv = [f"{case['script']}.py", *case["argv"]]
        try:
            returned = module.main(case["argv"])
            # recommend.py, plan.py and forecast.py exit with what main returns; the others call main() alone
            code = returned if isinstance(returned, int) else 0
        except SystemExit as exit_:
            if exit_.code is None or isinstance(exit_.code, int):
                code = exit_.code or 0
            else:
                print(exit_.code, file=sys.stderr)
                code = 1
        except BaseException:
            traceback.print_exc()
            code = 1
    finally:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):  # a closed or broken stream: its content is lost, as in a real process
                stream.flush()
        os._exit(code)


def _warm_up() -> None:
    """Load the compiled kernels once (numba reads its cache in every new process: 0.7 s a function)."""
    import numpy as np

    from agents.classic import TUNERS
    from envs.batch import evaluation_paths, run_batch
    from envs.scenario import load_scenario, single_item
    from envs.vec_env import InventoryVecEnv

    item = single_item(load_scenario("lost_sales_L1_p4", horizon=20), "the warm-up")
    paths = evaluation_paths(item, 2, 0)
    run_batch(TUNERS["base_stock"](item, paths, 0).policy, item, paths)
    for scenario in (item, load_scenario("serial_shang_song_1", horizon=20)):
        env = InventoryVecEnv(scenario, 2, seed=0)
        env.reset()
        env.step(np.stack([env.action_space.sample() for _ in range(2)]))


def prepare() -> None:
    """Import every command and load the kernels, once, before any child is forked."""
    for module in (*SCRIPTS.values(), *PRELOAD):
        importlib.import_module(module)
    _warm_up()


def run(cases: list[dict[str, Any]], parallel: int) -> dict[str, dict[str, Any]]:
    """Every case's exit code, stdout, stderr and duration (:func:`prepare` first)."""
    work = Path(tempfile.mkdtemp(prefix="hostile-runner-"))
    pending = list(cases)
    running: dict[int, tuple[dict[str, Any], Path, Path, float]] = {}
    outcomes: dict[str, dict[str, Any]] = {}
    while pending or running:
        while pending and len(running) < parallel:
            case = pending.pop(0)
            out, err = work / f"{len(outcomes) + len(running)}.out", work / f"{len(outcomes) + len(running)}.err"
            out.touch()
            err.touch()
            pid = os.fork()
            if pid == 0:
                _run_in_child(case, out, err)
            running[pid] = (case, out, err, time.monotonic())
        for pid, (case, out, err, started) in list(running.items()):
            finished, status = os.waitpid(pid, os.WNOHANG)
            timed_out = not finished and time.monotonic() - started > case.get("timeout", 120)
            if timed_out:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
            if finished or timed_out:
                del running[pid]
                outcomes[case["id"]] = {
                    "code": -1 if timed_out else os.waitstatus_to_exitcode(status),
                    "stdout": out.read_text(errors="replace")[-KEEP_CHARACTERS:],
                    "stderr": err.read_text(errors="replace")[-KEEP_CHARACTERS:],
                    "seconds": round(time.monotonic() - started, 3),
                }
        time.sleep(0.005)
    return outcomes


if __name__ == "__main__":
    prepare()  # while the caller prepares the cases' files: it sends them once they are ready
    request = json.load(sys.stdin)
    json.dump(run(request["cases"], request.get("parallel", 2)), sys.stdout)
