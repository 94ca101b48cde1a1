"""Scale-out: the commands' units (tuning trials, episode chunks, a plan's chunks of SKUs) give the same results
wherever they run.

The fast tests run the units in this process, or on stand-in workers that copy every unit's
arguments (as Ray sends them) and run the units backwards; the tests marked ``ray`` run them on
a real Ray cluster whose address is in INVENTORY_TEST_RAY_ADDRESS (.ci/run starts one).
"""

from __future__ import annotations

import json
import os
import pickle
import socket
import subprocess
import sys
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

import evaluate
import plan
import tune
from agents.evaluation import evaluate as evaluate_policies
from agents.evaluation import resolve_policies, tuning_and_evaluation_paths
from benchmarks.plan_scale import write_inputs
from tests.test_assortment_policies import shop

CLUSTER = os.environ.get("INVENTORY_TEST_RAY_ADDRESS")
on_cluster = pytest.mark.skipif(
    not CLUSTER, reason="no Ray cluster: set INVENTORY_TEST_RAY_ADDRESS to a head node's host:port (.ci/run does)"
)

SCENARIO = "lost_sales_L1_p4"
TINY = ["n_envs=8", "eval_freq=1000", "eval_episodes=8", "env.horizon=40", "checkpoint_freq=100000"]
STUDY = ["--algo", "dqn", "--scenario", SCENARIO, "--trials", "4", "--timesteps", "3000", "--batch", "2",
         *[arg for pair in TINY for arg in ("-p", pair)]]  # fmt: skip
# when a trial started, finished and how long it took differ from run to run; nothing else may
CLOCK_COLUMNS = ["datetime_start", "datetime_complete", "duration"]


def without_clock(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Evaluation records without the seconds a policy's tuning took."""
    return [{**r, "details": {k: v for k, v in r["details"].items() if k != "seconds"}} for r in records]


class Backwards:
    """Stand-in workers: every unit gets a pickled copy of its arguments, and the last unit runs first."""

    description = "backwards, on copies"

    def map(self, function: Callable[..., Any], calls: Iterable[tuple[Any, ...]]) -> Iterator[Any]:
        results = [function(*pickle.loads(pickle.dumps(call))) for call in reversed(list(calls))]
        yield from reversed(results)

    def broadcast(self, value: Any) -> Any:
        return value  # each call pickles it anyway


class Connected:
    """distributed.workers as a command opens it, handing out the stand-in."""

    def __init__(self, use_ray: bool, address: str | None) -> None:
        pass

    def __enter__(self) -> Backwards:
        return Backwards()

    def __exit__(self, *exc: object) -> None:
        pass


def trials(out: Path) -> pd.DataFrame:
    return pd.read_csv(out / f"{SCENARIO}_dqn" / "trials.csv").drop(columns=CLOCK_COLUMNS)


def assortment_records(chunk_episodes: int | None, workers: Any = None) -> list[dict[str, Any]]:
    """Records of two tuned per-SKU policies and the random baseline on three SKUs under a binding limit."""
    scenario = shop(40.0)
    tuning, paths = tuning_and_evaluation_paths(scenario, 30, 1, 16)
    names = ["sku_base_stock", "lagrangian_base_stock", "random"]
    policies, _ = resolve_policies(scenario, names, tuning, 5, evaluate.load_learned, workers=workers)
    results = evaluate_policies(policies, scenario, paths, 5, workers=workers, chunk_episodes=chunk_episodes)
    return without_clock([result.record for result in results])


def test_policies_tuned_and_episode_chunks_run_anywhere_give_the_numbers_of_one_batch_here():
    whole = assortment_records(None)
    assert assortment_records(7) == whole  # 30 episodes in chunks of 7, 7, 7, 7 and 2
    assert assortment_records(7, Backwards()) == whole


def test_a_batched_study_is_the_same_when_its_trials_run_backwards_on_copies(tmp_path, monkeypatch):
    tune.main([*STUDY, "--out", str(tmp_path / "here")])
    monkeypatch.setattr(tune.distributed, "workers", Connected)
    tune.main([*STUDY, "--out", str(tmp_path / "backwards")])
    here, backwards = trials(tmp_path / "here"), trials(tmp_path / "backwards")
    assert len(here) == 4 and set(here["state"]) <= {"COMPLETE", "PRUNED"}
    pd.testing.assert_frame_equal(here, backwards)


def test_the_commands_without_ray_never_import_it(tmp_path):
    planning = [*plan_inputs(tmp_path / "plan"), "--out", str(tmp_path / "orders.csv")]
    script = (
        "import sys, evaluate, tune, plan\n"
        f"evaluate.main(['--scenario', '{SCENARIO}', '--policy', 'base_stock', '--episodes', '20', "
        f"'--tuning-episodes', '10', '--chunk-episodes', '8', '--out', {str(tmp_path)!r}])\n"
        f"assert plan.main({planning!r}) == plan.PARTIAL_SUCCESS\n"
        "assert 'ray' not in sys.modules, 'ray was imported'\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=Path(__file__).parents[1])
    assert done.returncode == 0, done.stderr
    assert json.loads((tmp_path / "results.json").read_text())[0]["policy"] == "base_stock"
    assert len(pd.read_csv(tmp_path / "orders.csv")) == PLANNED_SKUS


PLANNED_SKUS = 3_000


def plan_inputs(directory: Path) -> list[str]:
    """plan.py's options for 3,000 SKUs and four bad state rows, in chunks of 500 rows, under a limit that binds."""
    directory.mkdir(exist_ok=True)
    items, state, projected = write_inputs(directory, PLANNED_SKUS)
    with open(state, "a") as handle:  # skipped: a repeat (in another chunk), an unknown SKU, a bad number, no SKU
        handle.write("SKU-5,1,1\nnope,1,1\nSKU-7,-1,0\n,3,3\n")
    limit = projected + 20_000  # the stock expected at arrival and less room than the orders' volume
    return ["--items", str(items), "--state", str(state), "--policy", "s_S", "--limit", str(limit),
            "--chunk-rows", "500"]  # fmt: skip


def planned(argv: list[str], out: Path, *options: str) -> bytes:
    """The bytes of the orders plan.py writes."""
    assert plan.main([*argv, "--out", str(out), *options]) == plan.PARTIAL_SUCCESS  # the four bad rows skipped
    return out.read_bytes()


def test_a_plan_is_the_same_byte_for_byte_when_its_chunks_run_backwards_on_copies(tmp_path, monkeypatch, capsys):
    argv = plan_inputs(tmp_path)
    here = planned(argv, tmp_path / "here.csv")
    assert planned(argv, tmp_path / "whole.csv", "--chunk-rows", "10000") == here  # one chunk
    skipped = [line for line in capsys.readouterr().err.splitlines() if line.startswith("skipped")]
    assert len(skipped) == 8 and "state.csv line 3002: repeats an earlier sku" in skipped[0]  # twice, in order
    monkeypatch.setattr(plan.distributed, "workers", Connected)
    assert planned(argv, tmp_path / "backwards.csv") == here
    orders = pd.read_csv(tmp_path / "here.csv")
    assert len(orders) == PLANNED_SKUS and orders["cut_by_limit"].sum() > 0  # the limit binds


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.parametrize(
    "options, named",
    [
        (["--ray"], 'pip install -e ".[ray]"'),
        (["--ray-address", "127.0.0.1:6379"], 'pip install -e ".[ray]"'),
    ],
)
def test_without_ray_installed_asking_for_it_is_one_line_exit_code_2(options, named, tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray raises ImportError
    for command, argv in (
        (evaluate.main, ["--scenario", SCENARIO, "--policy", "base_stock"]),
        (plan.main, plan_inputs(tmp_path / "plan")),
    ):
        with pytest.raises(SystemExit) as exit_info:
            command([*argv, "--out", str(tmp_path / "out"), *options])
        err = capsys.readouterr().err
        assert exit_info.value.code == 2 and err.count("\n") == 1 and named in err, err
        assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "address, named",
    [("127.0.0.1:FREE_PORT", "no Ray cluster answers there"), ("nowhere", "not an address of the form")],
)
def test_a_cluster_out_of_reach_is_one_line_exit_code_2(address, named, tmp_path, capsys):
    pytest.importorskip("ray")
    address = address.replace("FREE_PORT", str(free_port()))  # a port nothing listens on
    for command, argv in (
        (evaluate.main, ["--scenario", SCENARIO, "--policy", "base_stock"]),
        (tune.main, ["--algo", "dqn", "--scenario", SCENARIO]),
        (plan.main, plan_inputs(tmp_path / "plan")),
    ):
        with pytest.raises(SystemExit) as exit_info:
            command([*argv, "--out", str(tmp_path / "out"), "--ray-address", address])
        err = capsys.readouterr().err
        assert exit_info.value.code == 2 and err.count("\n") == 1 and named in err and address in err, err
        assert not (tmp_path / "out").exists()


def write_assortment(tmp_path: Path) -> Path:
    (tmp_path / "items.csv").write_text(
        "sku,lead_time,unit_cost,holding_cost,shortage_cost,fixed_order_cost,max_order,volume,demand_mean\n"
        "a,1,0,0.05,4,2,60,1,4\nb,2,0,0.05,4,2,60,2,3\nc,3,0,0.05,4,2,60,1,6\n"
    )
    capacity = {"name": "warehouse", "kind": "storage", "limit": 40, "weight": "volume", "overflow_cost": 5}
    scenario = tmp_path / "shop.yaml"
    scenario.write_text(yaml.safe_dump({"horizon": 40, "assortment": {"items": "items.csv"}, "capacities": [capacity]}))
    return scenario


def evaluate_assortment(tmp_path: Path, name: str, *options: str) -> list[dict[str, Any]]:
    out = tmp_path / name
    policies = ["--policy", "sku_base_stock", "--policy", "lagrangian_base_stock", "--policy", "random"]
    settings = ["--episodes", "40", "--tuning-episodes", "16", "--warmup", "5", "--chunk-episodes", "10"]
    evaluate.main(["--scenario", str(write_assortment(tmp_path)), *policies, *settings, "--out", str(out), *options])
    return without_clock(json.loads((out / "results.json").read_text()))


@pytest.mark.slow
@pytest.mark.ray
@on_cluster
def test_a_study_on_a_ray_cluster_equals_the_study_in_process(tmp_path):
    tune.main([*STUDY, "--out", str(tmp_path / "here")])
    tune.main([*STUDY, "--out", str(tmp_path / "cluster"), "--ray-address", str(CLUSTER)])
    pd.testing.assert_frame_equal(trials(tmp_path / "here"), trials(tmp_path / "cluster"))


@pytest.mark.slow
@pytest.mark.ray
@on_cluster
def test_an_assortment_evaluated_on_a_ray_cluster_equals_the_evaluation_in_process(tmp_path):
    here = evaluate_assortment(tmp_path, "here")
    assert evaluate_assortment(tmp_path, "cluster", "--ray-address", str(CLUSTER)) == here


@pytest.mark.slow
@pytest.mark.ray
@on_cluster
def test_a_plan_on_a_ray_cluster_equals_the_plan_in_process(tmp_path):
    argv = plan_inputs(tmp_path)
    here = planned(argv, tmp_path / "here.csv")
    assert planned(argv, tmp_path / "cluster.csv", "--ray-address", str(CLUSTER)) == here
    assert pd.read_csv(tmp_path / "cluster.csv")["cut_by_limit"].sum() > 0  # the limit binds


@pytest.mark.slow
def test_an_assortment_evaluated_on_an_embedded_ray_instance_equals_the_evaluation_in_process(tmp_path, monkeypatch):
    pytest.importorskip("ray")
    monkeypatch.delenv("RAY_ADDRESS", raising=False)  # --ray starts a local instance
    here = evaluate_assortment(tmp_path, "here")
    assert evaluate_assortment(tmp_path, "embedded", "--ray") == here
