"""Train PPO or DQN on an inventory scenario; the model, logs, checkpoints and summary go to one run directory.

    python train.py --algo ppo --scenario lost_sales_L2_p9 [--timesteps N] [--seed S] [--n-envs N]
                    [--run-dir runs] [-p KEY=VALUE ...]
    python train.py --resume runs/lost_sales_L2_p9_ppo_seed0
    tensorboard --logdir runs/lost_sales_L2_p9_ppo_seed0/tensorboard

Hyperparameters come from configs/algos/ALGO.yaml: its default block, then the block named after
the scenario, then each -p KEY=VALUE (values are YAML; dotted keys reach into mappings:
-p policy_kwargs.net_arch=[128,128]; -p env.KEY overrides a scenario key: -p env.horizon=100).
The logic lives in agents/rl/; the layout of a run directory is in agents/rl/run_directory.py.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import CallbackList

from agents import rl
from envs.arguments import MAX_SEED, ArgumentParser, integer
from envs.errors import Interrupted, UserError, exit_on_user_error
from envs.files import check_output_directory


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--algo", help=f"one of {', '.join(rl.ALGOS)}")
    parser.add_argument("--scenario", help="a scenario name in configs/scenarios or a YAML path")
    parser.add_argument("--timesteps", type=integer(1), help="env steps to train for (default: the config's)")
    parser.add_argument("--seed", type=integer(0, MAX_SEED), default=0, help="seed of every random draw (default: 0)")
    parser.add_argument("--n-envs", type=integer(1), help="systems simulated in parallel (default: the config's)")
    parser.add_argument("--run-dir", default="runs", help="where the run directory is created (default: runs)")
    parser.add_argument(
        "-p",
        dest="params",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a key of the algo config (repeatable)",
    )
    parser.add_argument("--resume", metavar="RUN_DIR", help="continue a run from its latest checkpoint (alone)")
    args = parser.parse_args(argv)
    if args.resume and (args.algo or args.scenario or args.timesteps or args.n_envs or args.params):
        parser.error("--resume takes no other option: the run's config.yaml holds them")
    if not args.resume and not (args.algo and args.scenario):
        parser.error("--algo and --scenario are required (or --resume RUN_DIR)")
    return args


@exit_on_user_error
def main(argv: list[str] | None = None) -> None:
    """Train (argv defaults to the command line)."""
    args = parse_args(argv)
    command = sys.orig_argv if argv is None else ["train.py", *argv]
    if args.resume:
        run, config, checkpoint = rl.open_for_resume(args.resume)
    else:
        config, checkpoint = (
            rl.resolve_config(args.algo, args.scenario, args.seed, args.params, args.timesteps, args.n_envs),
            None,
        )
        check_output_directory(args.run_dir, replaceable=lambda existing: True, what="--run-dir")
        # the references are tuned before a run directory exists: a scenario they refuse leaves nothing behind
        evaluation = rl.EvaluationSet.for_config(config)
        run = rl.RunDirectory.create(args.run_dir, config)
    with run.lock():  # one writer at a time: a second train.py --resume of the run stops here
        if checkpoint is None:
            state = rl.Checkpoint.INITIAL_STATE
            model = None
        else:
            checkpoint = run.latest_checkpoint() or checkpoint  # the latest, now that no one else writes
            state = checkpoint.state
            # A resumed segment gets a seed of its own, so it does not replay the demand of the first.
            seed = (config.seed + state["timesteps"]) % (MAX_SEED + 1)
            rl.setup_torch(seed)
            model = checkpoint.restore(config, seed)  # a broken checkpoint stops here, the run left as it was
            evaluation = rl.EvaluationSet.for_config(config)
        try:
            train(config, run, model, state, evaluation, command)
        except UserError as error:  # a full disk, an unwritable run: say what is left of the run
            raise UserError(f"{error}; {run.abandon(created_here=checkpoint is None)}") from None
        except KeyboardInterrupt:
            raise Interrupted(f"interrupted; {run.abandon(created_here=checkpoint is None)}") from None


def train(
    config: rl.RunConfig,
    run: rl.RunDirectory,
    resumed: BaseAlgorithm | None,
    state: dict[str, Any],
    evaluation: rl.EvaluationSet,
    command: list[str],
) -> None:
    """Train a new model, or continue the ``resumed`` one, into ``run``; then save the model and the summary."""
    if resumed is None:
        rl.setup_torch(config.seed)
        model = rl.new_model(config, rl.make_training_env(config, config.seed), config.seed)
        model.set_logger(rl.make_logger(run.tensorboard_dir))
    else:
        model = resumed
        model.set_logger(rl.make_logger(run.tensorboard_dir, resumed_from=state["timesteps"]))
    run.record_command(command)
    print(f"run directory: {run.path}")

    evaluator = rl.Evaluator(config, run, evaluation, best=state["best"])
    checkpointer = rl.Checkpointer(run, config.hyperparameters.checkpoint_freq, evaluator)
    remaining = config.hyperparameters.total_timesteps - model.num_timesteps
    if remaining > 0:  # nothing is left when a run was killed between its last checkpoint and the end
        model.learn(
            remaining,
            callback=CallbackList([rl.EpisodeKpiLogger(), evaluator, checkpointer]),
            reset_num_timesteps=resumed is None,  # a resumed run continues the TensorBoard step count
            progress_bar=sys.stderr.isatty(),  # a bar in a log file is noise
        )

    rl.save_model(model, run.model_file)
    summary = evaluator.finish(model)
    run.write_summary(summary)
    gaps = ", ".join(f"{name} {gap:+.2f}%" for name, gap in summary["gap_pct"].items())
    print(
        f"{run.path}: its best model (step {summary['timesteps']:,}, {summary['model']}) costs "
        f"{summary['kpis']['avg_cost']:.3f} per period (gap to {gaps}); the final one "
        f"{summary['final']['kpis']['avg_cost']:.3f}"
    )


if __name__ == "__main__":
    main()
