"""The kernel's faces against a compiled reference loop of the same dynamics, measured in one run.

    python benchmarks/kernel_speed.py [--systems 4096] [--repeats 7]

For one stock point (lost_sales_L2_p9, base-stock level 19) and a 3-stage serial system
(serial_snyder_shen_6_1, its optimal echelon levels), two faces are timed against a reference:

- InventoryVecEnv (the SB3 VecEnv) at N systems, stepped with constant order-up-to-level actions
  (a constant level is the base-stock policy), full 365-period episodes with their automatic
  resets, each environment drawing its own demand at reset (seeding, which makes N generators, is
  left out of the timing, as the reference's generators are made outside it);
- the evaluator's batch runner (run_batch) with the library's base-stock policy object, on
  pre-drawn paths of N episodes.

The reference is one numba loop written for this system alone: the same uniforms, inverted to
the same demands in the loop, the policy inlined, the same dynamics and the same outputs (the cost
of every system and period, summed). Against the VecEnv, which draws its own demand at every
reset, the reference draws each uniform from the episode's generator in the loop (numba's
generators continue numpy's streams); against the batch runner, which runs on pre-drawn paths,
it reads pre-drawn uniforms. Each face must reproduce the reference's total cost before it is
timed. The faces and the references take turns, the fastest of the repeats
kept. Ratio = reference time / face time for the same number of system-periods (1.0 would be
as fast as the hand-written loop). Results go to benchmarks/results/kernel_speed.md.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

import numba
import numpy as np
from numba import typed

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from agents.classic.echelon import NetworkBaseStock
from agents.classic.policies import BaseStock
from envs.batch import run_batch
from envs.layout import ObservationLayout
from envs.paths import PathSampler
from envs.policy import Policy
from envs.scenario import load_scenario
from envs.vec_env import InventoryVecEnv

RESULTS = Path(__file__).resolve().parent / "results" / "kernel_speed.md"


@numba.njit(cache=True)
def reference_single(generators, draw, uniforms, cdf, guide, level, lead, holding, shortage, initial):
    """One stock point, lost sales, fixed lead time, base-stock ``level``: total cost of every episode.
    Each period's uniform comes from the episode's generator (``draw``) or from ``uniforms``."""
    n, horizon = uniforms.shape
    m = guide.shape[0]
    total = 0.0
    for i in range(n):
        generator = generators[i]
        on_hand = initial
        pipeline = np.zeros(lead + 1, dtype=np.int64)
        for t in range(horizon):
            u = generator.random() if draw else uniforms[i, t]
            demand = guide[int(u * m)]
            while cdf[demand] <= u:
                demand += 1
            position = on_hand
            for k in range(lead):
                position += pipeline[k]
            pipeline[lead] += max(level - position, 0)
            stock = on_hand + pipeline[0]
            sales = min(stock, demand)
            on_hand = stock - sales
            total += holding * on_hand + shortage * (demand - sales)
            for k in range(lead):
                pipeline[k] = pipeline[k + 1]
            pipeline[lead] = 0
    return total


@numba.njit(cache=True)
def reference_serial(generators, draw, uniforms, cdf, guide, levels, leads, holding, transit, shortage, initial):
    """A serial system (stage 0 orders from outside, the last stage faces backordered demand), echelon
    base-stock ``levels``, internal backorders: total cost of every episode (uniforms as reference_single)."""
    n, horizon = uniforms.shape
    stages = levels.shape[0]
    m = guide.shape[0]
    slots = leads.max() + 1
    total = 0.0
    for i in range(n):
        on_hand = initial.copy()
        owed = np.zeros(stages, dtype=np.int64)  # awaited by stage j from stage j - 1
        pipeline = np.zeros((stages, slots), dtype=np.int64)
        backlog = 0
        orders = np.zeros(stages, dtype=np.int64)
        generator = generators[i]
        for t in range(horizon):
            u = generator.random() if draw else uniforms[i, t]
            demand = guide[int(u * m)]
            while cdf[demand] <= u:
                demand += 1
            stock_below = -backlog  # on hand and in transit at and below stage j, net of the backlog
            for j in range(stages - 1, -1, -1):  # echelon positions, from the customer up
                stock_below += on_hand[j]
                for k in range(slots):
                    stock_below += pipeline[j, k]
                orders[j] = max(levels[j] - stock_below - owed[j], 0)
            pipeline[0, leads[0]] += orders[0]
            for j in range(stages):
                stock = on_hand[j] + pipeline[j, 0]
                if j == stages - 1:
                    filled = min(backlog, stock)
                    backlog -= filled
                    stock -= filled
                    sales = min(stock, demand)
                    stock -= sales
                    backlog += demand - sales
                else:
                    wanted = owed[j + 1] + orders[j + 1]
                    ship = min(wanted, stock)
                    stock -= ship
                    owed[j + 1] = wanted - ship
                    pipeline[j + 1, leads[j + 1]] += ship
                on_hand[j] = stock
                in_transit = 0
                for k in range(1, slots):
                    in_transit += pipeline[j, k]
                total += holding[j] * stock + transit[j] * in_transit
                for k in range(slots - 1):
                    pipeline[j, k] = pipeline[j, k + 1]
                pipeline[j, slots - 1] = 0
            total += shortage * backlog
    return total


def fastest(runs: dict[str, tuple[Callable[..., object], Callable[[], tuple]]], repeats: int) -> dict[str, float]:
    """The fastest of ``repeats`` timed runs of each ``run(*setup())`` (the least disturbed by other work
    on the machine). The runs take turns, so that a busy spell of the machine slows all of them alike;
    ``setup`` runs before each, untimed."""
    best = dict.fromkeys(runs, np.inf)
    for _ in range(repeats):
        for name, (run, setup) in runs.items():
            arguments = setup()
            start = time.perf_counter()
            run(*arguments)
            best[name] = min(best[name], time.perf_counter() - start)
    return best


def measure(name: str, levels: list[int], systems: int, repeats: int) -> list[tuple[str, float, float]]:
    """Times of the reference, the VecEnv and the batch runner on ``name``; checks equal total costs."""
    scenario = load_scenario(name, action_meaning="level")
    layout = ObservationLayout(scenario)
    system = layout.system
    sampler = PathSampler(scenario, system)
    demand = sampler.demands[0]
    cdf, guide = demand._inverse.cdf, demand._inverse.guide
    seeds = range(systems)
    generators = [np.random.default_rng(seed) for seed in seeds]
    paths = sampler.draw_each(generators)
    uniforms = np.stack([np.random.default_rng(seed).random(sampler.uniforms) for seed in seeds])
    horizon = scenario.horizon
    costs = system.costs
    policy: Policy

    def fresh_generators() -> tuple[typed.List]:
        return (typed.List([np.random.default_rng(seed) for seed in seeds]),)

    def reference(draw: bool, generators: typed.List) -> float:
        """The reference loop: drawing every uniform from the episode's generator (as the VecEnv must),
        or reading the pre-drawn ones (as the batch runner does)."""
        if system.single:
            lead, initial = int(system.max_lead_time[0]), int(system.initial_on_hand[0])
            return reference_single(
                generators, draw, uniforms, cdf, guide, levels[0], lead, costs[0, 0], costs[0, 2], initial
            )
        return reference_serial(
            generators, draw, uniforms, cdf, guide, np.array(levels), system.max_lead_time, costs[:, 0].copy(),
            costs[:, 1].copy(), costs[-1, 2], system.initial_on_hand.copy(),
        )  # fmt: skip

    policy = BaseStock(levels[0], layout) if system.single else NetworkBaseStock(np.array(levels), layout)
    expected = reference(False, *fresh_generators())
    assert reference(True, *fresh_generators()) == expected, name  # the streams are the pre-drawn uniforms

    batch_total = run_batch(policy, scenario, paths).avg_cost.sum() * horizon
    assert np.isclose(batch_total, expected, rtol=1e-9), (name, batch_total, expected)
    env = InventoryVecEnv(scenario, systems)
    actions = np.tile(np.array(levels), (systems, 1)) if not system.single else np.full(systems, levels[0])

    def seeded() -> tuple:
        """Environment i seeded with i, as the reference's row i (outside the timing, as the reference's
        generators are made outside it): the generators are made and the first demand drawn at reset."""
        env.seed(0)
        env.reset()
        return ()

    def vec_episode() -> float:
        """One episode, ending with the automatic reset that draws the next episode's demand."""
        total = 0.0
        for _ in range(horizon):
            _, rewards, _, _ = env.step(actions)
            total -= float(rewards.astype(np.float64).sum())
        return total

    seeded()
    assert np.isclose(vec_episode(), expected, rtol=1e-4), name  # float32 rewards: summed to 1e-4
    times = fastest(
        {
            "drawing": (lambda generators: reference(True, generators), fresh_generators),
            "predrawn": (lambda generators: reference(False, generators), fresh_generators),
            "vec": (vec_episode, seeded),
            "batch": (lambda: run_batch(policy, scenario, paths), tuple),
        },
        repeats,
    )
    drawing, predrawn, vec, batch = times["drawing"], times["predrawn"], times["vec"], times["batch"]
    cells = systems * horizon
    return [
        ("reference loop, drawing each uniform from the episode's generator", cells / drawing, 1.0),
        ("InventoryVecEnv, with resets and its own draws (against the above)", cells / vec, drawing / vec),
        ("reference loop, on pre-drawn uniforms", cells / predrawn, 1.0),
        ("run_batch (evaluator), pre-drawn paths (against the above)", cells / batch, predrawn / batch),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--systems", type=int, default=4096)
    parser.add_argument("--repeats", type=int, default=7, help="timed runs of each, the fastest kept")
    args = parser.parse_args()
    cases = [("lost_sales_L2_p9", [19]), ("serial_snyder_shen_6_1", [26, 15, 9])]
    lines = [
        "# Kernel speed against a compiled reference loop",
        "",
        f"Command: `python benchmarks/kernel_speed.py --systems {args.systems} --repeats {args.repeats}`",
        f"Date: {date.today()}; machine: {platform.machine()}, Python {platform.python_version()}, "
        f"numba {numba.__version__}, 2 cores shared (the best of {args.repeats} runs; ratios from one run).",
        "",
        "| system | face | system-periods / s | ratio to the reference |",
        "|---|---|---:|---:|",
    ]
    for name, levels in cases:
        for label, rate, ratio in measure(name, levels, args.systems, args.repeats):
            lines.append(f"| {name} | {label} | {rate:,.0f} | {ratio:.2f}x |")
    text = "\n".join(lines) + "\n"
    print(text)
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(text)


if __name__ == "__main__":
    main()
