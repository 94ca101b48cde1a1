"""The held-out benchmark of issue 14: its instance files are what the seeded generator draws, every
instance loads and has a reference, and the run command trains only what is not done yet."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from agents.references import optimal_policy
from benchmarks.heldout import recipe
from benchmarks.heldout.instances import HELDOUT, SETS, TRAINING, draw_instances, set_files, write_set
from benchmarks.heldout.references import REFERENCES_JSON, ROOT
from envs.errors import UserError
from envs.scenario import Scenario, load_scenario

REFERENCES = json.loads(REFERENCES_JSON.read_text())


def single(path: Path) -> Scenario:
    scenario = load_scenario(path)
    assert isinstance(scenario, Scenario)
    return scenario


@pytest.mark.parametrize("instance_set", SETS.values(), ids=list(SETS))
def test_the_generator_reproduces_the_committed_files(instance_set, tmp_path):
    committed = {path.name: path.read_text() for path in instance_set.directory.iterdir()}
    assert committed == set_files(instance_set)
    assert len(committed) >= 16
    rewritten = write_set(instance_set, tmp_path / instance_set.name)
    assert {path.name: path.read_text() for path in rewritten.iterdir()} == committed


def test_the_sets_differ_and_the_seed_matters():
    assert HELDOUT.seed != TRAINING.seed
    assert draw_instances(HELDOUT.seed, 16) == draw_instances(HELDOUT.seed, 16)
    drawn = [yaml.safe_load(text) for s in SETS.values() for text in set_files(s).values()]
    systems = [json.dumps({k: v for k, v in d.items() if k != "description"}, sort_keys=True) for d in drawn]
    assert len(set(systems)) == len(systems)


@pytest.mark.parametrize("instance_set", SETS.values(), ids=list(SETS))
def test_the_instances_cover_the_ranges(instance_set):
    scenarios = [single(path) for path in instance_set.files()]
    means = [s.demand.mean_demand() for s in scenarios]
    ratios = [s.shortage_cost / s.holding_cost for s in scenarios]
    assert min(means) >= 2 and max(means) <= 20.5
    assert min(ratios) >= 1.9 and max(ratios) <= 52  # p and h are rounded to 2 significant digits
    assert {s.lost_sales for s in scenarios} == {True, False}
    assert {s.demand.dist for s in scenarios} == {"poisson", "negative_binomial"}
    assert {s.max_lead_time for s in scenarios if s.deterministic_lead_time} == {0, 1, 2, 3, 4}
    assert sum(not s.deterministic_lead_time for s in scenarios) == len(scenarios) // 4
    assert sum(s.fixed_order_cost > 0 for s in scenarios) == len(scenarios) // 4
    for s in scenarios:
        assert s.horizon == 365 and s.max_lead_time <= 4
        assert s.max_order >= 3 * s.demand.mean_demand() - 0.5  # at least 3x the (rounded) mean


# heldout_08's DP reaches its lowest position (ordering max_order there) with probability 1e-9 and says so
@pytest.mark.filterwarnings("ignore:the position bounds:RuntimeWarning")
@pytest.mark.parametrize("instance_set", SETS.values(), ids=list(SETS))
def test_every_instance_has_its_reference(instance_set):
    """The DP optimum where agents.references gives one (re-solved: the same exact cost), else the best classic."""
    recorded = REFERENCES[instance_set.name]
    assert list(recorded) == [path.stem for path in instance_set.files()]
    for path in instance_set.files():
        entry = recorded[path.stem]
        assert entry["scenario"] == str(path.relative_to(ROOT))
        classic = entry["classic"]
        assert set(classic) == {"base_stock", "capped_base_stock", "s_S", "eoq"}
        assert entry["best_classic"] == min(classic, key=lambda name: classic[name]["avg_cost"])
        policy, reason = optimal_policy(single(path))
        if policy is None:
            assert "optimal" not in entry and entry["no_optimum"] == reason
            assert entry["reference"] == entry["best_classic"]
            assert entry["reference_cost"] == classic[entry["best_classic"]]["avg_cost"]
        else:
            assert entry["reference"] == "optimal"
            assert policy.params()["average_cost"] == pytest.approx(entry["optimal"]["exact_cost"], abs=1e-9)
            # the simulated optimum agrees with the exact cost (within two CI half-widths: about 4 standard
            # errors), and no classic policy is below the optimum's CI
            low, high = entry["optimal"]["ci95"]
            assert abs(entry["optimal"]["avg_cost"] - entry["optimal"]["exact_cost"]) < high - low
            assert classic[entry["best_classic"]]["avg_cost"] > low


def test_the_shipped_configs_have_no_block_for_a_heldout_instance(monkeypatch, tmp_path):
    names = [path.stem for path in HELDOUT.files()]
    for algo in recipe.ALGOS:
        recipe.check_default_recipe(algo, names)
    (tmp_path / "ppo.yaml").write_text("default: {}\nheldout_07: {learning_rate: 1.0e-4}\n")
    monkeypatch.setattr(recipe, "ALGO_DIR", tmp_path)
    with pytest.raises(UserError, match="heldout_07"):
        recipe.check_default_recipe("ppo", names)


def fake_evaluation(gap: float) -> dict[str, Any]:
    model = {
        "avg_cost": 1.0,
        "ci95": [0.99, 1.01],
        "gap_pct": gap,
        "paired": {"against": "base_stock", "mean_difference": -0.01, "ci95": [-0.02, -0.005], "significant": True},
        "timesteps": 1000,
    }
    return {"references": {}, "models": {"best_model": model, "model": dict(model, gap_pct=2 * gap)}}


def test_run_resumes_where_it_stopped(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Evaluated instances are skipped, a trained one is only evaluated, the rest are trained and evaluated."""
    monkeypatch.setattr(recipe, "AGENTS_JSON", tmp_path / "agents.json")
    monkeypatch.setattr(recipe, "AGENTS_MD", tmp_path / "agents.md")
    trained: list[str] = []
    evaluated: list[str] = []

    def train(algo: str, scenario: Path, seed: int, runs: Path) -> dict[str, Any]:
        trained.append(scenario.stem)
        return {"run_dir": f"runs/{scenario.stem}", "train_wall_s": 60.0, "train_cpu_s": 90.0, "date": "today"}

    def evaluate_run(scenario: Path, run_dir: Path, episodes: int, seed: int) -> dict[str, Any]:
        evaluated.append(scenario.stem)
        evaluation = fake_evaluation(0.5)
        if scenario.stem == "heldout_03":  # its best model is the untrained one
            evaluation["models"]["best_model"]["timesteps"] = 0
        return evaluation

    monkeypatch.setattr(recipe, "train", train)
    monkeypatch.setattr(recipe, "evaluate_run", evaluate_run)
    settings = {"episodes": 2000, "eval_seed": 12345, "seed": 0}
    results: dict[str, Any] = {
        "settings": settings,
        "ppo": {
            "heldout_01": {"run_dir": "runs/a", "train_wall_s": 1.0, "train_cpu_s": 1.0, "date": "d"},
            "heldout_02": {
                "run_dir": "runs/b",
                "train_wall_s": 1.0,
                "train_cpu_s": 1.0,
                "date": "d",
                "evaluation": fake_evaluation(0.1),
            },
        },
    }
    recipe.AGENTS_JSON.write_text(json.dumps(results))
    recipe.run("ppo", ["heldout_01", "heldout_02", "heldout_03"], 0, 2000, 12345, tmp_path / "runs")
    assert trained == ["heldout_03"] and evaluated == ["heldout_01", "heldout_03"]
    saved = json.loads(recipe.AGENTS_JSON.read_text())
    assert saved["ppo"]["heldout_01"]["run_dir"] == "runs/a" and "evaluation" in saved["ppo"]["heldout_01"]
    assert saved["ppo"]["heldout_02"] == results["ppo"]["heldout_02"]
    table = recipe.AGENTS_MD.read_text()
    assert "3 of 16 instances" in table and "**+0.37%** on average, worst +0.50%" in table
    assert (
        "significantly better than the best classic policy on 3, significantly worse on 0; it is the untrained "
        "model (step 0) on 1;"
    ) in table
    assert saved["recipe_commits"] == {"ppo": recipe._commit()} and f"recipe of commit {recipe._commit()}" in table
    with pytest.raises(UserError, match="recorded with"):
        recipe.run("ppo", ["heldout_04"], 0, 1000, 12345, tmp_path / "runs")
    with pytest.raises(UserError, match="heldout_99"):
        recipe.run("ppo", ["heldout_99"], 0, 2000, 12345, tmp_path / "runs")
