"""Rewrite runs of the old format, whose statistics and replay buffers are pickles, as plain data.

    python -m agents.rl.convert RUN_DIR [RUN_DIR ...]

Every ``*.vecnormalize.pkl`` under a run directory becomes ``*.vecnormalize.json`` and every
checkpoint's ``replay_buffer.pkl`` becomes ``replay_buffer.npz``; the pickles are then removed.
The pickles are read by :class:`agents.rl.serialization.RestrictedUnpickler`, so converting a
run from elsewhere runs no code from it either. The model zips need no conversion: they are
always loaded with every pickled entry replaced (:func:`agents.rl.serialization.load_model`).
Each run is locked while it is converted.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

from agents.rl.run_directory import RunDirectory
from agents.rl.serialization import (
    LegacyPickleWarning,
    read_replay_buffer,
    read_statistics,
    replay_state_writer,
    statistics_json,
    stats_file,
)
from envs.arguments import ArgumentParser
from envs.errors import UserError, exit_on_user_error
from envs.files import atomic_write


def convert_run(path: str | Path) -> list[Path]:
    """Convert the run at ``path`` (see the module docstring); the new files, in the order written.

    Raises:
        UserError: not a run directory, another process writes it, or a pickle is refused.
    """
    run = RunDirectory(Path(path))
    if not run.config_file.is_file():
        raise UserError(f"{path}: not a run directory (no config.yaml)")
    written = []
    with run.lock(), warnings.catch_warnings():
        warnings.simplefilter("ignore", LegacyPickleWarning)  # converting them is the point
        for legacy in sorted(run.path.rglob("*.vecnormalize.pkl")):
            model_file = legacy.with_name(legacy.name.removesuffix(".vecnormalize.pkl") + ".zip")
            _, statistics = read_statistics(model_file)
            written.append(atomic_write(stats_file(model_file), statistics_json(statistics), what="run directory"))
            legacy.unlink()
        for legacy in sorted(run.checkpoints_dir.glob("step_*/replay_buffer.pkl")):
            target = legacy.with_suffix(".npz")
            saved = read_replay_buffer(target, legacy)
            if saved is not None and saved[0] == legacy:
                written.append(atomic_write(target, replay_state_writer(saved[1]), what="run directory"))
            legacy.unlink()
    return written


@exit_on_user_error
def main(argv: list[str] | None = None) -> None:
    parser = ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", metavar="RUN_DIR", help="run directories to convert")
    args = parser.parse_args(argv)
    for run in args.runs:
        written = convert_run(run)
        print(f"{run}: {len(written)} file{'s' if len(written) != 1 else ''} written as plain data", file=sys.stdout)


if __name__ == "__main__":
    main()
