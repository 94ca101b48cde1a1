"""The package installed (not editable) runs from any directory: commands, named scenarios, algo configs."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = ("train", "evaluate", "export", "recommend", "tune", "plan")


def run(command: list[str | Path], cwd: Path) -> subprocess.CompletedProcess[str]:
    """``command`` in ``cwd`` with no PYTHONPATH: only what is installed can be imported."""
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    done = subprocess.run([str(part) for part in command], cwd=cwd, env=env, capture_output=True, text=True)
    assert done.returncode == 0, f"{command} failed:\n{done.stdout}\n{done.stderr}"
    return done


def install_into_a_venv(work: Path) -> Path:
    """A venv seeing the system's packages (the dependencies), with this checkout pip-installed into it
    (not editable). The sources are copied first: building writes build/ and *.egg-info beside them."""
    source = work / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md", *(f"{script}.py" for script in SCRIPTS)):
        shutil.copy2(ROOT / name, source / name)
    for package in ("envs", "agents", "configs", "forecasting"):
        shutil.copytree(ROOT / package, source / package, ignore=shutil.ignore_patterns("__pycache__"))
    venv = work / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", venv], check=True)
    # the system's pip, run by the venv's Python, installs into the venv
    run([venv / "bin" / "python", "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation", source], work)
    return venv


PROBE = textwrap.dedent("""\
    import agents.rl.config, configs, envs, envs.scenario, evaluate, recommend
    from agents.rl.config import load_hyperparameters
    from envs import InventoryVecEnv, load_scenario

    for module in (envs, agents.rl.config, configs, evaluate, recommend):
        print(module.__file__)
    print(envs.scenario.SCENARIO_DIR)
    print(agents.rl.config.ALGO_DIR)
    vec = InventoryVecEnv("lost_sales_L1_p4", num_envs=4, seed=0)
    print(vec.num_envs, vec.observation_space.shape[0])
    print(load_scenario("csv_history").horizon)  # its demand history is package data too
    print(load_hyperparameters(agents.rl.config.ALGO_DIR / "ppo.yaml", "ppo", "lost_sales_L1_p4").n_envs)
""")


@pytest.mark.slow
def test_the_installed_package_runs_from_any_directory(tmp_path):
    venv = install_into_a_venv(tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()

    # the modules, named scenarios and algo configs are the venv's copies
    *files, scenario_dir, algo_dir, vec_env, csv_horizon, n_envs = run(
        [venv / "bin" / "python", "-c", PROBE], elsewhere
    ).stdout.splitlines()
    site_packages = next((venv / "lib").glob("python3*/site-packages")).resolve()
    for path in [*files, scenario_dir, algo_dir]:
        assert Path(path).resolve().is_relative_to(site_packages), path
    assert sorted(p.name for p in Path(scenario_dir).glob("*.yaml")) == sorted(
        p.name for p in (ROOT / "configs" / "scenarios").glob("*.yaml")
    )
    assert vec_env == "4 2" and int(csv_horizon) > 0 and int(n_envs) > 0

    # the commands run as console scripts
    bin_dir = venv / "bin"
    for script in SCRIPTS:
        assert f"usage: inventory-{script}" in run([bin_dir / f"inventory-{script}", "--help"], elsewhere).stdout
    evaluate = [bin_dir / "inventory-evaluate", "--scenario", "lost_sales_L1_p4", "--policy", "base_stock"]
    run([*evaluate, "--episodes", "20", "--tuning-episodes", "20", "--out", "results"], elsewhere)
    assert "| base_stock |" in (elsewhere / "results" / "results.md").read_text()
    run([bin_dir / "inventory-export", "base_stock", "--scenario", "lost_sales_L1_p4", "--out", "policy"], elsewhere)
    (elsewhere / "state.csv").write_text("sku,on_hand,arriving_in_0\nA,0,0\nB,30,0\n")
    run([bin_dir / "inventory-recommend", "--policy", "policy", "--state", "state.csv"], elsewhere)
    orders = (elsewhere / "orders.csv").read_text().splitlines()
    assert len(orders) == 3 and orders[1].startswith("A,") and orders[2].startswith("B,0,")
