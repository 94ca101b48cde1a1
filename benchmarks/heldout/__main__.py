"""Command line of the held-out benchmark (see benchmarks/heldout/__init__.py)."""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from benchmarks.heldout import recipe, references
from benchmarks.heldout.instances import SETS, write_set
from envs.errors import exit_on_user_error


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.heldout", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("generate", help="write the scenario files of both instance sets from their seeds")
    refs = sub.add_parser("references", help="evaluate.py's classic policies and optimum on every instance")
    for command in (refs, run := sub.add_parser("run", help="train the default recipe and evaluate it (resumes)")):
        command.add_argument("--episodes", type=int, default=references.EPISODES, help="evaluation episodes")
        command.add_argument("--eval-seed", type=int, default=references.EVAL_SEED, help="evaluation seed")
    run.add_argument("--algo", required=True, choices=recipe.ALGOS)
    run.add_argument("--instance", action="append", dest="instances", help="only these (repeatable); default all")
    run.add_argument("--seed", type=int, default=0, help="train.py's seed (default 0)")
    run.add_argument("--run-dir", type=Path, default=recipe.RUNS, help="parent of the run directories")
    sub.add_parser("table", help="rewrite heldout_agents.md from heldout_agents.json")
    return parser.parse_args(argv)


@exit_on_user_error
def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.command == "generate":
        for instance_set in SETS.values():
            print(f"wrote {references.relative(write_set(instance_set))}/")
    elif args.command == "references":
        command = "python -m benchmarks.heldout " + shlex.join(sys.argv[1:] if argv is None else argv)
        references.main(args.episodes, args.eval_seed, command)
    elif args.command == "run":
        recipe.run(args.algo, args.instances, args.seed, args.episodes, args.eval_seed, args.run_dir.resolve())
    else:
        recipe.save_results(recipe.load_results())


if __name__ == "__main__":
    main()
