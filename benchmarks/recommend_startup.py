"""Seconds for recommend.py to start, against the imports it cannot do without, measured in one run.

    python benchmarks/recommend_startup.py [--repeat 20] [--compare-with REV]

Each command runs in a fresh Python, all of them interleaved ``--repeat`` times so that the
load of the shared machine falls on each alike:

- ``python -c pass``: the interpreter alone;
- ``python -c "import numpy, onnxruntime"``: the libraries the recommend path needs (numpy
  checks the state file, onnxruntime runs the policy);
- the same plus gymnasium, which importing ``envs`` loads to register Inventory-v1;
- ``python recommend.py --help``: the whole start-up, every import of the recommend path;
- ``python recommend.py --policy P --state examples/state.csv``: a real small run (20 SKUs) of
  the base-stock policy of lost_sales_L2_p9, exported first to a temporary directory;
- with ``--compare-with REV``, the two recommend.py commands of that git revision (extracted
  to a temporary directory).

Medians and minimums are printed and written to benchmarks/results/recommend_startup.md, with
the largest imports of ``python -X importtime -c "import recommend"`` and whether the recommend
path imports any of the packages it must not (pandas, scipy, onnx, ml_dtypes, torch).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from datetime import date
from io import BytesIO
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from envs.files import atomic_write  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "recommend_startup.md"
# Packages the recommend path does not use: importing any of them only slows its start.
NOT_NEEDED = ("pandas", "scipy", "onnx", "ml_dtypes", "torch", "stable_baselines3", "numba")


def time_once(command: list[str], times: dict[str, list[float]], label: str, cwd: Path) -> None:
    """Run ``command`` once and add its wall time to ``times[label]``."""
    start = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True, cwd=cwd)
    times.setdefault(label, []).append(time.perf_counter() - start)


def largest_imports(count: int) -> list[tuple[str, float]]:
    """The packages ``import recommend`` loads that take the most time, each with what it imports
    (a package first imported by another one counts in both), in seconds."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import recommend"], cwd=ROOT, capture_output=True, text=True
    )
    packages: list[tuple[str, float]] = []  # since the last import at the top level
    for line in done.stderr.splitlines():
        _, cumulative, name = line.split("|")
        if not cumulative.strip().isdigit():
            continue  # the header
        top_level = name.startswith(" ") and not name.startswith("  ")
        if top_level and name.strip() == "recommend":
            return sorted(packages, key=lambda item: -item[1])[:count]
        if top_level:
            packages = []
        elif "." not in name:
            packages.append((name.strip(), int(cumulative) / 1e6))
    raise RuntimeError(f"no import of recommend in the importtime output:\n{done.stderr}")


def unneeded_imports(policy: Path, out: Path) -> list[str]:
    """The packages of :data:`NOT_NEEDED` a real recommend.py run imports (none, if all is well)."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "recommend.py", "--policy", str(policy), "--state",
         "examples/state.csv", "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, check=True,
    )  # fmt: skip
    names = {line.split("|")[-1].strip() for line in done.stderr.splitlines() if line.startswith("import time:")}
    return [name for name in NOT_NEEDED if name in names]


def export_small_policy(target: Path) -> Path:
    """The base-stock policy of lost_sales_L2_p9 (what examples/state.csv is for), exported to ``target``."""
    from agents.deploy.export import classic_source, export_policy
    from envs.scenario import load_scenario, single_item

    scenario = single_item(load_scenario("lost_sales_L2_p9"), "the benchmark")
    export_policy(classic_source("base_stock", scenario, 20), target, 200)
    return target


def extract_revision(revision: str, target: Path) -> Path:
    """The files of a git revision of this repository, extracted to ``target``."""
    archive = subprocess.run(["git", "archive", revision], cwd=ROOT, check=True, capture_output=True).stdout
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(target, filter="data")
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=20, help="runs of each command (default 20)")
    parser.add_argument("--compare-with", metavar="REV", help="also time recommend.py of this git revision")
    args = parser.parse_args()

    python = sys.executable
    with tempfile.TemporaryDirectory() as tmp:
        policy = export_small_policy(Path(tmp) / "policy")
        run = ["--policy", str(policy), "--state", "examples/state.csv", "--out", str(Path(tmp) / "orders.csv")]
        commands = {
            "interpreter: `python -c pass`": [python, "-c", "pass"],
            "`import numpy, onnxruntime`": [python, "-c", "import numpy, onnxruntime"],
            "`import numpy, onnxruntime, gymnasium`": [python, "-c", "import numpy, onnxruntime, gymnasium"],
            "`python recommend.py --help`": [python, "recommend.py", "--help"],
            "`python recommend.py --policy P --state examples/state.csv` (20 SKUs)": [python, "recommend.py", *run],
        }
        if args.compare_with:
            old = extract_revision(args.compare_with, Path(tmp) / "old")
            commands[f"`python recommend.py --help` at {args.compare_with}"] = [
                python,
                str(old / "recommend.py"),
                "--help",
            ]
            commands[f"the same run at {args.compare_with}"] = [python, str(old / "recommend.py"), *run]
        load_before = os.getloadavg()[0]
        times: dict[str, list[float]] = {}
        for _ in range(args.repeat):
            for label, command in commands.items():
                time_once(command, times, label, ROOT)
        load_after = os.getloadavg()[0]
        unneeded = unneeded_imports(policy, Path(tmp) / "orders.csv")

    rows = [f"| {label} | {statistics.median(t):.3f} | {min(t):.3f} |" for label, t in times.items()]
    imports = [f"| {name} | {seconds:.3f} |" for name, seconds in largest_imports(8)]
    compare = f" --compare-with {args.compare_with}" if args.compare_with else ""
    text = "\n".join(
        [
            "# recommend.py start-up",
            "",
            f"Command: `python benchmarks/recommend_startup.py --repeat {args.repeat}{compare}`",
            f"Date: {date.today()}; machine: {platform.machine()}, {os.cpu_count()} cores shared with other jobs "
            f"(load average {load_before:.1f} before, {load_after:.1f} after: compare rows with each other, "
            f"they ran interleaved), Python {platform.python_version()}.",
            f"Each command in a fresh Python, {args.repeat} runs each, in seconds.",
            "",
            "| command | median | minimum |",
            "|---|---:|---:|",
            *rows,
            "",
            'The packages recommend.py loads that take longest, from `python -X importtime -c "import recommend"` '
            "(one run, seconds, each with what it imports: a package first imported by another counts in both):",
            "",
            "| package | seconds |",
            "|---|---:|",
            *imports,
            "",
            f"Imported by the run of recommend.py though not needed ({', '.join(NOT_NEEDED)}): "
            f"{', '.join(unneeded) or 'none'}.",
            "",
        ]
    )
    atomic_write(RESULTS, text)
    print(text)


if __name__ == "__main__":
    main()
