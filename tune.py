"""Search PPO or DQN hyperparameters for a scenario with Optuna (short runs, pruned); print the best as a config block.

    python tune.py --algo ppo --scenario lost_sales_L1_p4 --trials 20 --timesteps 300000
                   [--seed 0] [--out runs/tune] [-p KEY=VALUE ...] [--batch 4 [--ray | --ray-address ADDR]]

Each trial trains on the batched env for --timesteps steps with hyperparameters drawn from the
search space in agents/rl/tuning.py (on top of configs/algos/ALGO.yaml and the -p overrides), is
evaluated every eval_freq steps on train.py's evaluation paths, and is pruned when it falls
behind the median of earlier trials. The trials go to OUT/SCENARIO_ALGO/trials.csv and the best
trial's settings to best.yaml, a block to paste into configs/algos/ALGO.yaml; then train with the
full budget and compare with evaluate.py on its own seed (the trials' costs are measured on the
paths they were selected on).

With --batch N the trials are sampled N at a time, each batch from the trials finished before it,
and the trials of a batch run side by side: on Ray workers with --ray (a local instance, or the
cluster in RAY_ADDRESS) or --ray-address. The trials depend on --seed and --batch, not on where
they run: the same command with and without Ray gives the same trials.csv.
"""

from __future__ import annotations

import argparse
import importlib.util
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from agents import rl
from envs import distributed
from envs.arguments import MAX_SEED, ArgumentParser, integer
from envs.errors import Interrupted, UserError, exit_on_user_error
from envs.files import DirectoryLock, atomic_write, check_output_directory

if TYPE_CHECKING:
    import optuna


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--algo", required=True, help=f"one of {', '.join(rl.ALGOS)}")
    parser.add_argument("--scenario", required=True, help="a scenario name in configs/scenarios or a YAML path")
    parser.add_argument("--trials", type=integer(1, 100_000), default=20, help="trials to run (default: 20)")
    parser.add_argument("--timesteps", type=integer(1), default=300_000, help="env steps per trial (default: 300000)")
    parser.add_argument(
        "--seed", type=integer(0, MAX_SEED), default=0, help="seed of the sampler and of every trial (default: 0)"
    )
    parser.add_argument(
        "--batch",
        type=integer(1, 10_000),
        default=1,
        help="trials sampled at a time, from the trials finished before them, and run side by side (default: 1)",
    )
    parser.add_argument("--out", default="runs/tune", help="where the study's files go (default: runs/tune)")
    parser.add_argument(
        "-p",
        dest="params",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a fixed override of the algo config for every trial (repeatable)",
    )
    distributed.add_arguments(parser)
    return parser.parse_args(argv)


@exit_on_user_error
def main(argv: list[str] | None = None) -> None:
    """Tune (argv defaults to the command line)."""
    args = parse_args(argv)
    if importlib.util.find_spec("optuna") is None:  # an optional dependency
        raise UserError('tune.py needs optuna: pip install -e ".[tune]"')
    import optuna

    config = rl.resolve_config(args.algo, args.scenario, args.seed, args.params, args.timesteps)  # bad input fails here
    check_output_directory(args.out, replaceable=lambda existing: True)
    out = check_output_directory(Path(args.out) / f"{config.scenario.name}_{args.algo}", lambda existing: True)
    with distributed.workers(args.ray, args.ray_address) as workers:  # Ray missing or out of reach fails here
        created = not out.exists()
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise UserError(f"--out: cannot create {out} ({error.strerror})") from None
        with DirectoryLock(out, "--out"):  # one study at a time writes here
            try:
                study = run_study(args, out, workers)
            except BaseException:
                if created and not (out / "trials.csv").exists():  # nothing of the study was kept: leave no trace
                    shutil.rmtree(out, ignore_errors=True)
                raise
            if not any(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials):
                raise UserError(f"no trial completed; see {out / 'trials.csv'}")
            best = study.best_trial
            block = {config.scenario.name: rl.parse_overrides([*args.params, *best.user_attrs["params"]])}
            atomic_write(
                out / "best.yaml",
                f"# tune.py: best of {len(study.trials)} trials, cost {best.value:.4f} "
                f"on train.py's evaluation paths\n" + yaml.safe_dump(block, sort_keys=False),
            )
    print(f"best trial {best.number}: cost {best.value:.4f}; config block in {out / 'best.yaml'}:")
    print(yaml.safe_dump(block, sort_keys=False), end="")


def run_study(args: argparse.Namespace, out: Path, workers: distributed.Workers) -> optuna.Study:
    """Run the trials, writing the finished ones to ``out/trials.csv`` after each, so that an interrupted study
    keeps them."""
    import optuna

    from agents.rl import tuning

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warmup_steps = args.timesteps // 3
    study = tuning.create_study(args.seed, warmup_steps)
    settings = tuning.StudySettings(
        args.algo, args.scenario, args.timesteps, args.seed, tuple(args.params), warmup_steps
    )
    finished = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)

    def save_trials(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        trials = study.trials_dataframe()
        trials = trials[trials["state"].isin([state.name for state in finished])]  # not the rest of a batch
        atomic_write(out / "trials.csv", lambda path: trials.to_csv(path, index=False))

    print(f"{args.trials} trials, {args.batch} at a time, {workers.description}", flush=True)
    try:
        tuning.optimize(study, settings, args.trials, args.batch, workers, [tuning.print_trial, save_trials])
    except KeyboardInterrupt:
        done = sum(t.state in finished for t in study.trials)
        raise Interrupted(f"interrupted; the {done} finished trials are in {out / 'trials.csv'}") from None
    return study


if __name__ == "__main__":
    main()
