"""The evaluator: common random numbers, confidence intervals, result files, bad input."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import matplotlib.image
import numpy as np
import pytest
from scipy import stats

import evaluate
from agents.classic import BaseStock, CappedBaseStock
from agents.evaluation import RECORD_KEYS, NamedPolicy, learned_labels, mean_ci
from agents.evaluation import evaluate as evaluate_policies
from envs.batch import evaluation_paths
from envs.scenario import load_scenario
from tests.conftest import layout

ROOT = Path(__file__).resolve().parent.parent


def test_mean_ci_known_answer_and_coverage():
    mean, low, high = mean_ci(np.array([1.0, 2.0, 3.0, 4.0, 5.0]))
    half = stats.t.ppf(0.975, 4) * np.std([1, 2, 3, 4, 5], ddof=1) / np.sqrt(5)
    assert (mean, low, high) == pytest.approx((3.0, 3.0 - half, 3.0 + half))
    assert half == pytest.approx(1.9632, abs=1e-4)
    rng = np.random.default_rng(0)
    covered = [low <= 10 <= high for _, low, high in (mean_ci(rng.normal(10, 3, 12)) for _ in range(4000))]
    assert np.mean(covered) == pytest.approx(0.95, abs=0.01)


def test_every_policy_faces_the_same_demand():
    scenario = load_scenario("lost_sales_L2_p9", horizon=40)
    paths = evaluation_paths(scenario, 30, 5)
    policies = [
        NamedPolicy("a", BaseStock(15, layout(2)), {"S": 15}, "classic"),
        NamedPolicy("b", CappedBaseStock(19, 6, layout(2)), {}, "classic"),
    ]
    first, second = evaluate_policies(policies, scenario, paths, warmup=0, trace_rows=30)
    np.testing.assert_array_equal(first.batch.trace["demand"], second.batch.trace["demand"])
    np.testing.assert_array_equal(first.batch.trace["demand"], paths.demand.transpose(1, 0, 2))
    assert not np.array_equal(first.batch.trace["ordered"], second.batch.trace["ordered"])
    # same seed, same paths; another seed, other paths
    np.testing.assert_array_equal(evaluation_paths(scenario, 30, 5).demand, paths.demand)
    assert not np.array_equal(evaluation_paths(scenario, 30, 6).demand, paths.demand)
    # the paired difference is the mean of per-episode differences to the best classic policy
    best, other = sorted((first, second), key=lambda r: r.batch.avg_cost.mean())
    assert "paired_vs_best_classic" not in best.record
    paired = other.record["paired_vs_best_classic"]
    assert paired["against"] == best.named.label
    assert paired["mean_difference"] == pytest.approx(np.mean(other.batch.avg_cost - best.batch.avg_cost))


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("eval") / "out"
    evaluate.main(["--scenario", "lost_sales_L2_p9", "--episodes", "300", "--tuning-episodes", "64", "--out", str(out)])
    return out


def test_results_files_follow_their_schema(evaluated: Path):
    records = json.loads((evaluated / "results.json").read_text())
    assert isinstance(records, list)
    assert [r["policy"] for r in records] == ["eoq", "s_S", "base_stock", "capped_base_stock", "optimal"]
    for record in records:
        assert set(RECORD_KEYS) <= set(record)
        assert isinstance(record["params"], dict) and record["params"]
        low, high = record["ci95"]
        assert low < record["avg_cost"] < high
        assert 0 <= record["fill_rate"] <= 1 and 0 <= record["cycle_service_level"] <= 1
        assert record["avg_on_hand"] > 0 and record["turnover"] > 0 and 0 < record["order_frequency"] <= 1
    assert json.loads((evaluated / "meta.json").read_text())["episodes"] == 300
    with open(evaluated / "results.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert [row["policy"] for row in rows] == [r["policy"] for r in records]
    assert float(rows[0]["avg_cost"]) == pytest.approx(records[0]["avg_cost"])
    assert "| optimal |" in (evaluated / "results.md").read_text()


def test_plots_are_written_and_not_blank(evaluated: Path):
    for name in ("cost.png", "sample_paths.png"):
        image = matplotlib.image.imread(evaluated / name)
        assert image.shape[0] > 200 and image.shape[1] > 400
        assert image[..., :3].std() > 0.05  # more than a blank canvas


def test_optimum_never_loses_beyond_noise(evaluated: Path):
    records = {r["policy"]: r for r in json.loads((evaluated / "results.json").read_text())}
    assert records["optimal"]["gap_pct"] == 0.0
    assert records["optimal"]["params"]["exact_cost"] == pytest.approx(6.09, abs=0.006)
    assert records["optimal"]["details"]["n_states"] == records["optimal"]["params"]["states"]
    paired = records["optimal"]["paired_vs_best_classic"]
    assert paired["ci95"][0] <= 0  # not significantly worse than the best classic policy
    for name in ("eoq", "s_S", "base_stock"):
        assert records[name]["gap_pct"] > 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--policy", "bogus"], "bogus: unknown policy"),
        (["--episodes", "0"], "argument --episodes: must be in 1..100000, got 0"),
        (["--warmup", "400"], "--warmup must be in 0..364"),
        (["--policy", "tests"], "tests: no trained model here"),
        (["--scenario", "nope"], "nope: no such scenario"),
        (["--scenario", "seasonal_promo", "--policy", "optimal"], "no policy left to evaluate (optimal: not computed"),
    ],
)
def test_bad_input_one_line_exit_2_nothing_written(tmp_path, capsys, args, message):
    out = tmp_path / "out"
    base = ["--scenario", "lost_sales_L1_p4", "--episodes", "10", "--out", str(out)]
    with pytest.raises(SystemExit) as caught:
        evaluate.main(base + args)
    assert caught.value.code == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err and "Traceback" not in err
    assert not out.exists() and not any(tmp_path.iterdir())


@pytest.mark.slow
def test_command_line_exit_code_and_message():
    result = subprocess.run(
        [sys.executable, "evaluate.py", "--scenario", "lost_sales_L1_p4", "--policy", "nonsense"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "error: nonsense: unknown policy for one item (names: eoq, s_S, base_stock, capped_base_stock, optimal, "
        "random; or a run directory or model path)"
    )


def test_output_path_that_is_a_file_is_refused(tmp_path, capsys):
    target = tmp_path / "afile"
    target.write_text("keep me")
    with pytest.raises(SystemExit) as caught:
        evaluate.main(["--scenario", "lost_sales_L1_p4", "--episodes", "5", "--out", str(target)])
    assert caught.value.code == 2 and "exists and is not a directory" in capsys.readouterr().err
    assert target.read_text() == "keep me"


def test_eoq_reorder_point_by_service_level(tmp_path):
    out = tmp_path / "out"
    evaluate.main(
        [
            "--scenario",
            "backorder_K64",
            "--policy",
            "eoq",
            "--service-level",
            "0.9",
            "--episodes",
            "100",
            "--out",
            str(out),
        ]
    )
    (record,) = json.loads((out / "results.json").read_text())
    assert record["details"]["tuning"] == "service level" and record["details"]["service_level"] == 0.9
    assert record["params"]["Q"] == 36 and record["cycle_service_level"] >= 0.9


def test_learned_policies_with_the_same_directory_name_get_different_labels(tmp_path):
    class Learned:
        def __init__(self, algo: str) -> None:
            self.algo = algo

        def params(self) -> dict[str, str]:
            return {"algo": self.algo}

    runs = [tmp_path / "a" / "L2_ppo_seed0", tmp_path / "b" / "L2_ppo_seed0", tmp_path / "c" / "L2_dqn_seed0"]
    labels = learned_labels([str(r) for r in runs], [Learned("PPO"), Learned("PPO"), Learned("DQN")])
    assert labels == ["ppo a/L2_ppo_seed0", "ppo b/L2_ppo_seed0", "dqn L2_dqn_seed0"]
    best = str(runs[0] / "best_model.zip")
    assert learned_labels([best], [Learned("PPO")]) == ["ppo L2_ppo_seed0/best_model"]


def test_classic_policies_are_tuned_on_the_tune_on_scenario(tmp_path, write_scenario, capsys):
    from agents.classic import TUNERS
    from agents.references import TUNING_SEED

    days = 400
    rng = np.random.default_rng(3)
    demand = np.concatenate([rng.poisson(4, 200), rng.poisson(12, 200)])  # demand triples in the second part
    dates = np.datetime_as_string(np.arange(np.datetime64("2024-01-01"), np.datetime64("2024-01-01") + days))
    lines = ["sku,date,demand", *(f"X,{d},{q}" for d, q in zip(dates, demand, strict=True))]
    (tmp_path / "history.csv").write_text("\n".join(lines) + "\n")
    base = {"horizon": 60, "lead_time": 1, "holding_cost": 1, "shortage_cost": 9, "max_order": 60}
    demand_spec = {"dist": "csv", "path": "history.csv", "sku": "X"}
    first = write_scenario({**base, "demand": {**demand_spec, "end": "2024-07-18"}}, "first.yaml")
    second = write_scenario({**base, "demand": {**demand_spec, "start": "2024-07-19"}}, "second.yaml")
    out = tmp_path / "out"
    evaluate.main(["--scenario", str(second), "--tune-on", str(first), "--policy", "base_stock", "--episodes", "20",
                   "--warmup", "10", "--out", str(out)])  # fmt: skip
    record = json.loads((out / "results.json").read_text())[0]
    tuned = TUNERS["base_stock"](load_scenario(str(first)), evaluation_paths(load_scenario(str(first)), 200,
                                 TUNING_SEED), 10).policy.params()  # fmt: skip
    assert record["params"] == tuned  # the level of the first part's demand...
    in_sample = TUNERS["base_stock"](load_scenario(str(second)), evaluation_paths(load_scenario(str(second)), 200,
                                     TUNING_SEED), 10).policy.params()  # fmt: skip
    assert tuned["S"] < in_sample["S"]  # ...too low for the second's
    assert record["fill_rate"] < 0.8
    assert json.loads((out / "meta.json").read_text())["tuned_on"] == "first"
    other = write_scenario({**base, "lead_time": 2, "demand": {**demand_spec, "end": "2024-07-18"}}, "other.yaml")
    with pytest.raises(SystemExit) as caught:
        evaluate.main(["--scenario", str(second), "--tune-on", str(other), "--out", str(tmp_path / "o2")])
    assert caught.value.code == 2 and "--tune-on other: observes" in capsys.readouterr().err
