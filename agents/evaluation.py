"""Side-by-side evaluation of order policies on common random numbers.

Every policy runs on the same demand paths; classic policies are tuned on other paths (seed
``agents.references.TUNING_SEED``) than the ones they are judged on. For each policy: the
mean cost per period with a 95% confidence interval, the gap to the optimum (or to the best
policy when no optimum is known), the KPIs, and a paired comparison with the best classic
policy (mean per-episode difference with its 95% CI), which is far sharper than comparing two
separate intervals because both policies faced the same demand.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats

from agents.classic import TUNERS, RandomOrders
from agents.classic.assortment import ASSORTMENT_POLICIES, tune_assortment
from agents.classic.forecast_policy import ForecastOrderUpTo
from agents.classic.meio import NETWORK_POLICIES, optimise_base_stock
from agents.exact.serial import serial_optimum
from agents.references import TUNING_SEED, optimal_policy
from agents.rl.general import (
    CONSTRAINED_FORMAT,
    ConstrainedGeneralPolicy,
    GeneralPolicy,
    general_format,
    is_general_policy,
    load_general,
)
from envs.assortment import is_assortment
from envs.batch import BatchResult, evaluation_paths, run_batch
from envs.distributed import InProcess, Workers
from envs.errors import UserError
from envs.files import Content, write_files
from envs.layout import ObservationLayout
from envs.paths import ExogenousPaths, PathSampler
from envs.scenario import AnyScenario, ForecastSettings, NetworkScenario, Scenario, load_scenario
from forecasting import MODELS
from forecasting.metrics import bias, wape

# The classic policies of a single item, and of a network (Monte Carlo optimised base-stock levels).
CLASSIC_NAMES = tuple(TUNERS)
POLICY_NAMES = (*CLASSIC_NAMES, "optimal")
NETWORK_POLICY_NAMES = (*NETWORK_POLICIES, "optimal")


FORECAST_POLICY = "forecast_order_up_to"
# Accepted by name for every scenario, not evaluated unless asked for: uniformly random orders.
BASELINE_NAMES = ("random",)


def policy_names(scenario: AnyScenario) -> tuple[str, ...]:
    """The policies evaluated by default for this kind of scenario (``random`` is asked for by name); an
    item whose scenario has forecasts adds the forecast-driven order-up-to policy."""
    if is_assortment(scenario):  # per-SKU rules with the shared limit handled by the kernel or by a price
        return tuple(ASSORTMENT_POLICIES)
    if isinstance(scenario, NetworkScenario):
        return NETWORK_POLICY_NAMES
    return (*POLICY_NAMES, FORECAST_POLICY) if scenario.forecast is not None else POLICY_NAMES


RECORD_KEYS = (
    "policy",
    "params",
    "avg_cost",
    "ci95",
    "gap_pct",
    "fill_rate",
    "cycle_service_level",
    "avg_on_hand",
    "turnover",
    "order_frequency",
)

CSV_COLUMNS = ("policy", "params", "avg_cost", "ci95_low", "ci95_high", *RECORD_KEYS[4:])


@dataclass
class NamedPolicy:
    """A policy ready to evaluate, with the label and fitted parameters shown in tables."""

    label: str
    policy: Any
    params: dict[str, Any]  # shown in tables
    kind: str  # "classic", "optimal", "learned" or "baseline"
    details: dict[str, Any] = field(default_factory=dict)  # kept in results.json only
    forecast: ForecastSettings | None = None  # the forecasts it observes, where not the scenario's


@dataclass
class PolicyResult:
    """One policy's evaluation: per-episode costs and KPI means."""

    named: NamedPolicy
    batch: BatchResult
    record: dict[str, Any] = field(default_factory=dict)


def mean_ci(samples: np.ndarray, level: float = 0.95) -> tuple[float, float, float]:
    """Mean and the two ends of its Student-t confidence interval."""
    samples = np.asarray(samples, dtype=float)
    mean = float(samples.mean())
    if len(samples) < 2:
        return mean, math.nan, math.nan
    half = float(stats.t.ppf(0.5 + level / 2, len(samples) - 1) * samples.std(ddof=1) / math.sqrt(len(samples)))
    return mean, mean - half, mean + half


def resolve_policies(
    scenario: AnyScenario,
    specs: list[str],
    tuning: Tuning,
    warmup: int,
    load_learned: Callable[[str], tuple[Any, AnyScenario]],
    eoq_service_level: float | None = None,
    workers: Workers | None = None,
) -> tuple[list[NamedPolicy], list[str]]:
    """Turn policy names and paths into ready policies; also return notes for the user.

    Everything is checked before anything is tuned: an unknown name, a run without a model or
    a model for another observation layout is a :class:`UserError`. ``eoq_service_level``
    sets the (r, Q) reorder point for that cycle service level instead of by cost. The classic
    policies tuned by search are tuned by ``workers`` (default: this process), one unit each.
    """
    names = (*policy_names(scenario), *BASELINE_NAMES, *(NETWORK_POLICY_NAMES if is_assortment(scenario) else ()))
    if eoq_service_level is not None and not (
        isinstance(scenario, Scenario) and scenario.demand.stationary and scenario.deterministic_lead_time
    ):
        raise UserError(f"{scenario.name}: a service-level reorder point needs one item, iid demand, a fixed lead time")
    learned = []
    for spec in specs:
        if spec in names or spec.startswith(f"{FORECAST_POLICY}:"):
            continue
        if not Path(spec).exists():
            kind = "a network" if isinstance(scenario, NetworkScenario) else "one item"
            raise UserError(
                f"{spec}: unknown policy for {kind} (names: {', '.join(names)}; or a run directory or model path)"
            )
        if is_general_policy(spec):  # one model for any item in its range: no scenario of its own to match
            general: GeneralPolicy | ConstrainedGeneralPolicy
            if general_format(spec) == CONSTRAINED_FORMAT:  # items sharing a warehouse, at its capacity price
                actor, meta = load_general(spec, CONSTRAINED_FORMAT)
                price = float(meta["capacity_price"])
                general = ConstrainedGeneralPolicy(actor, scenario, price, trained_range=meta.get("range"))
                trained = {"general": f"fine-tuned {meta.get('timesteps', 0):,} steps", "capacity_price": price}
            else:
                actor, meta = load_general(spec)
                general = GeneralPolicy(actor, scenario, trained_range=meta.get("range"))
                trained = {"general": f"trained {meta.get('timesteps', 0):,} steps on a population"}
            learned.append(NamedPolicy(spec, general, trained, "learned"))
            continue
        policy, trained_on = load_learned(spec)
        expected, got = ObservationLayout(scenario).names, ObservationLayout(trained_on).names
        if _sees_all_but_forecasts(scenario, trained_on):
            policy = WithoutForecasts(policy, len(got))
        elif expected != got:
            raise UserError(
                f"{spec}: trained on scenario '{trained_on.name}' whose observation layout {got} "
                f"does not match '{scenario.name}' {expected}"
            )
        shown: dict[str, Any] = {"trained_on": trained_on.name}
        if isinstance(policy, WithoutForecasts):
            shown["forecasts"] = "not observed"
        observed = _observed_forecasts(spec, scenario, trained_on)
        learned.append(NamedPolicy(spec, policy, shown, "learned", forecast=observed))
    for named, label in zip(
        learned, learned_labels([n.label for n in learned], [n.policy for n in learned]), strict=True
    ):
        named.label = label

    searched = [spec for spec in dict.fromkeys(specs) if _searched(spec, scenario)]
    units = workers if workers is not None else InProcess()
    calls = [(spec, tuning, warmup, eoq_service_level) for spec in searched]
    tuned_policies = dict(zip(searched, units.map(tune_classic, calls), strict=True))
    notes, policies = [], []
    for spec in specs:
        if spec in tuned_policies:
            policies.append(tuned_policies[spec])
        elif spec == FORECAST_POLICY and isinstance(scenario, Scenario) and scenario.forecast is not None:
            forecast = ForecastOrderUpTo(scenario, ObservationLayout(scenario))
            policies.append(NamedPolicy(spec, forecast, forecast.params(), "classic", {"tuning": "none: the forecast"}))
        elif spec.startswith(f"{FORECAST_POLICY}:"):
            settings = _forecast_variant(scenario, spec)
            with_model = load_scenario(scenario, forecast=settings.model_dump())
            assert isinstance(with_model, Scenario)
            forecast = ForecastOrderUpTo(with_model, ObservationLayout(with_model))
            details: dict[str, Any] = {"tuning": "none: the forecast"}
            policies.append(NamedPolicy(spec, forecast, forecast.params(), "classic", details, settings))
        elif spec == "random":
            system = ObservationLayout(scenario).system
            random = RandomOrders(system.max_order, TUNING_SEED, system.single)
            policies.append(NamedPolicy("random", random, random.params(), "baseline"))
        elif spec == "optimal":
            policy, reason = optimal_policy(scenario)
            if policy is None:
                notes.append(f"optimal: not computed ({reason})")
            elif isinstance(scenario, NetworkScenario):
                exact = serial_optimum(scenario)
                shown = {"exact_cost": round(exact.cost, 4), **exact.levels}
                details = {"method": "Clark-Scarf / Chen-Zheng exact echelon levels", "exact_cost": exact.cost}
                policies.append(NamedPolicy("optimal", policy, shown, "optimal", details))
            else:
                dp = policy.params()
                shown = {"exact_cost": round(dp["average_cost"], 4), "states": dp["n_states"]}
                shown.update({key: dp[key] for key in ("s", "S") if key in dp})
                policies.append(NamedPolicy("optimal", policy, shown, "optimal", dp))
    if not policies and not learned:
        raise UserError(f"{scenario.name}: no policy left to evaluate ({'; '.join(notes)})")
    return policies + learned, notes


def _searched(spec: str, scenario: AnyScenario) -> bool:
    """Whether ``spec`` names a classic policy tuned by search on this kind of scenario (:func:`tune_classic`)."""
    if isinstance(scenario, Scenario):
        return spec in CLASSIC_NAMES
    return spec in (ASSORTMENT_POLICIES if is_assortment(scenario) else NETWORK_POLICIES)


def tune_classic(spec: str, tuning: Tuning, warmup: int, eoq_service_level: float | None) -> NamedPolicy:
    """The classic policy ``spec`` tuned on the tuning paths: a unit of its own, so that the policies of an
    evaluation can be tuned side by side (each search is seeded and reads only its arguments)."""
    scenario = tuning.scenario
    if isinstance(scenario, Scenario):
        options = {"service_level": eoq_service_level} if spec == "eoq" and eoq_service_level is not None else {}
        tuned = TUNERS[spec](scenario, tuning.paths, warmup, **options)
        details = {"tuning": tuned.method, "tuning_cost": tuned.expected_cost, **tuned.details}
    elif is_assortment(scenario):
        tuned = tune_assortment(spec, scenario, tuning.paths, warmup)
        details = {"tuning": tuned.method, "tuning_cost": tuned.expected_cost, **tuned.details}
    else:
        tuned = optimise_base_stock(scenario, NETWORK_POLICIES[spec], seed=TUNING_SEED, warmup=warmup)
        details = {"tuning": "Monte Carlo optimisation", "tuning_cost": tuned.expected_cost, **tuned.details}
    return NamedPolicy(spec, tuned.policy, tuned.policy.params(), "classic", details)


def with_forecast_model(scenario: AnyScenario, model: str) -> AnyScenario:
    """``scenario`` with demand forecasts by ``model``: its forecast block with that model, or a default one."""
    if model not in MODELS:
        raise UserError(f"--forecast {model}: unknown forecasting model (models: {', '.join(MODELS)})")
    settings = (
        scenario.forecast.model_copy(update={"model": model}) if scenario.forecast else ForecastSettings(model=model)
    )
    return load_scenario(scenario, forecast=settings.model_dump())


class WithoutForecasts:
    """A policy trained on the scenario without its forecasts, given the observation without them.

    The forecast entries come last in an observation (:class:`envs.layout.ObservationLayout`), so
    the columns it was trained on are the first ``columns``.
    """

    def __init__(self, policy: Any, columns: int) -> None:
        self.policy = policy
        self.columns = columns

    def act(self, obs: np.ndarray) -> np.ndarray:
        return self.policy.act(obs[:, : self.columns])

    def params(self) -> dict[str, Any]:
        return dict(self.policy.params())


def _sees_all_but_forecasts(scenario: AnyScenario, trained_on: AnyScenario) -> bool:
    """Whether a policy trained on ``trained_on`` observes ``scenario`` except for its forecasts."""
    if scenario.forecast is None or trained_on.forecast is not None:
        return False
    without = ObservationLayout(_without_forecasts(scenario)).names
    return isinstance(scenario, Scenario) and without == ObservationLayout(trained_on).names


def _forecast_variant(scenario: AnyScenario, spec: str) -> ForecastSettings:
    """The scenario's forecast settings with the model named in ``forecast_order_up_to:MODEL``."""
    model = spec.split(":", 1)[1]
    if not isinstance(scenario, Scenario) or scenario.forecast is None:
        raise UserError(
            f"{spec}: {scenario.name} has no forecast block (add one to the scenario, or pass --forecast MODEL)"
        )
    if model not in MODELS:
        raise UserError(f"{spec}: unknown forecasting model '{model}' (models: {', '.join(MODELS)})")
    return scenario.forecast.model_copy(update={"model": model})


def _observed_forecasts(spec: str, scenario: AnyScenario, trained_on: AnyScenario) -> ForecastSettings | None:
    """The forecasts a learned policy is evaluated with: those it was trained on (same demand paths).

    The observation layouts already match, so both scenarios have forecasts or neither; a model or
    refit interval other than the scenario's is recomputed on the evaluation paths. A different
    warm-up would put the episodes elsewhere on the paths: refused.
    """
    ours, theirs = scenario.forecast, trained_on.forecast
    if ours is None or theirs is None or theirs == ours:
        return None
    if theirs.warmup != ours.warmup:
        raise UserError(
            f"{spec}: trained with a forecast warm-up of {theirs.warmup} periods, {scenario.name} has {ours.warmup}"
        )
    return theirs


def learned_labels(specs: list[str], policies: list[Any]) -> list[str]:
    """Table labels of learned policies: the algorithm, then the run or export directory's name (a
    model file other than model.zip adds its stem); where two would read the same, as many parent
    directories as tell them apart."""

    def label(spec: str, depth: int) -> str:
        path = Path(spec).resolve()
        if path.suffix == ".zip":  # a model file: its run directory, and its stem unless it is model.zip
            path, depth = (path.parent, depth) if path.name == "model.zip" else (path.with_suffix(""), depth + 1)
        return "/".join(path.parts[-depth:])

    algos = [str(policy.params().get("algo", "")).lower() for policy in policies]
    depths = [1] * len(specs)
    while True:
        labels = [label(spec, depth) for spec, depth in zip(specs, depths, strict=True)]
        clashes = {text for text in labels if labels.count(text) > 1}
        if not clashes or all(depths[i] >= len(Path(s).resolve().parts) for i, s in enumerate(specs)):
            break
        depths = [depth + (text in clashes) for depth, text in zip(depths, labels, strict=True)]
    return [f"{algo} {text}" if algo else text for algo, text in zip(algos, labels, strict=True)]


def evaluate(
    policies: list[NamedPolicy],
    scenario: AnyScenario,
    paths: ExogenousPaths,
    warmup: int,
    progress: Callable[[int], None] | None = None,
    trace_rows: int = 1,
    workers: Workers | None = None,
    chunk_episodes: int | None = None,
) -> list[PolicyResult]:
    """Run every policy on the same paths and fill in the comparison records.

    A policy that observes other forecasts than the scenario's (``NamedPolicy.forecast``) runs on
    the same demand with those forecasts, computed on these paths.

    Each policy runs on chunks of ``chunk_episodes`` episodes (default: all at once), each chunk a
    unit for ``workers`` (default: this process; Ray workers run them side by side). Episodes are
    independent and a policy's orders depend on its own observation rows only, so the per-episode
    results, and every number made of them, are the same however the episodes are split and
    wherever they run; the random baseline, whose draws depend on what it drew before, is never
    split. ``progress`` is called with the number of episodes of each chunk as it finishes.
    """
    by_settings = {named.forecast: paths for named in policies}  # each set of forecasts computed once
    for settings in by_settings:
        by_settings[settings] = _paths_with_forecasts(scenario, paths, settings)
    observed = {id(named): by_settings[named.forecast] for named in policies}
    chunks = []  # (policy index, the chunk's run_batch arguments)
    for i, named in enumerate(policies):
        episodes = observed[id(named)]
        size = episodes.n if chunk_episodes is None or isinstance(named.policy, RandomOrders) else chunk_episodes
        for start in range(0, episodes.n, size):
            rows = episodes if size >= episodes.n else episodes.subset(slice(start, start + size))
            chunks.append((i, (named.policy, scenario, rows, warmup, trace_rows if start == 0 else 0)))
    parts: list[list[BatchResult]] = [[] for _ in policies]
    units = workers if workers is not None else InProcess()
    for (i, call), done in zip(chunks, units.map(run_batch, [call for _, call in chunks]), strict=True):
        parts[i].append(done)
        if progress is not None:
            progress(call[2].n)
    results = [PolicyResult(named, BatchResult.concatenate(part)) for named, part in zip(policies, parts, strict=True)]
    reference = _reference(results)
    best_classic = min(
        (r for r in results if r.named.kind == "classic"), key=lambda r: r.batch.avg_cost.mean(), default=None
    )
    for result in results:
        costs = result.batch.avg_cost
        mean, low, high = mean_ci(costs)
        kpis = result.batch.kpis
        record: dict[str, Any] = {
            "policy": result.named.label,
            "params": result.named.params,
            "details": result.named.details,
            "avg_cost": mean,
            "ci95": [low, high],
            "gap_pct": 100.0 * (mean - reference[1]) / reference[1] if reference[1] else math.nan,
            "gap_reference": reference[0],
            "fill_rate": float(kpis["fill_rate"].mean()),
            "cycle_service_level": float(kpis["cycle_service_level"].mean()),
            "avg_on_hand": float(kpis["avg_on_hand"].mean()),
            "turnover": float(np.nanmean(kpis["turnover"])) if np.isfinite(kpis["turnover"]).any() else math.nan,
            "order_frequency": float(kpis["order_frequency"].mean()),
        }
        if isinstance(scenario, Scenario) and scenario.forecast is not None and _observes_forecasts(result.named):
            settings = result.named.forecast or scenario.forecast
            record["forecast"] = {
                "model": settings.model,
                **forecast_accuracy(scenario, observed[id(result.named)], warmup),
            }
        if isinstance(scenario, NetworkScenario):
            names = ObservationLayout(scenario).system.names
            record["stock_points"] = {
                point: {kpi: float(np.nanmean(values[:, j])) if np.isfinite(values[:, j]).any() else math.nan
                        for kpi, values in result.batch.point_kpis.items()}
                for j, point in enumerate(names)
            }  # fmt: skip
        if best_classic is not None and result is not best_classic:
            diff_mean, diff_low, diff_high = mean_ci(costs - best_classic.batch.avg_cost)
            record["paired_vs_best_classic"] = {
                "against": best_classic.named.label,
                "mean_difference": diff_mean,
                "ci95": [diff_low, diff_high],
                "significant": bool(diff_low > 0 or diff_high < 0),
            }
        result.record = record
    return results


def _observes_forecasts(named: NamedPolicy) -> bool:
    if named.kind == "learned":
        return not isinstance(named.policy, WithoutForecasts)
    return isinstance(named.policy, ForecastOrderUpTo)


def _paths_with_forecasts(
    scenario: AnyScenario, paths: ExogenousPaths, settings: ForecastSettings | None
) -> ExogenousPaths:
    """``paths`` as they are, or with the forecasts of ``settings`` in place of the scenario's."""
    if settings is None or settings == scenario.forecast:
        return paths
    return PathSampler(load_scenario(scenario, forecast=settings.model_dump())).with_forecasts(paths)


def forecast_accuracy(scenario: Scenario, paths: ExogenousPaths, warmup: int) -> dict[str, float]:
    """How well the forecasts in ``paths`` predicted demand over each protection interval.

    At every period t of the episodes from ``warmup`` on, the forecast means of t .. t + L (the
    lead time plus one periods an order placed at t has to cover) are summed and compared with the
    demand of those periods: WAPE = sum |F - D| / sum D and bias = sum (F - D) / sum D over all
    periods and episodes (intervals running past the episode's end are left out).
    """
    settings = scenario.forecast
    assert settings is not None
    periods = scenario.max_lead_time + 1
    width = 1 + len(settings.levels)
    now = scenario.periods_before
    origins = np.arange(now + warmup, now + scenario.horizon - periods + 1)
    forecast = paths.forecasts[origins][:, :, np.arange(periods) * width].sum(axis=-1)  # (origins, episodes)
    actual = paths.demand[origins[:, None] + np.arange(periods), :, 0].sum(axis=1)
    return {
        "protection_interval_wape": wape(actual, forecast),
        "protection_interval_bias": bias(actual, forecast),
    }


def _reference(results: list[PolicyResult]) -> tuple[str, float]:
    """The cost gaps are measured to: the optimum if it was run, else the best policy."""
    optimal = [r for r in results if r.named.kind == "optimal"]
    chosen = optimal[0] if optimal else min(results, key=lambda r: r.batch.avg_cost.mean())
    return chosen.named.label, float(chosen.batch.avg_cost.mean())


def _json_ready(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_ready(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_ready(v) for v in value]
    if isinstance(value, np.generic):
        return _json_ready(value.item())
    return value


def format_params(params: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in params.items())


def markdown_table(results: list[PolicyResult]) -> str:
    """The comparison as a Markdown table (what results.md and the README show)."""
    reference = results[0].record["gap_reference"] if results else ""
    lines = [
        f"| policy | parameters | avg cost / period | 95% CI | gap to {reference} % "
        "| paired diff vs best classic (95% CI) | fill rate | cycle service | avg on hand | turnover "
        "| orders / period |",
        "|---|---|---:|---|---:|---|---:|---:|---:|---:|---:|",
    ]
    for result in results:
        r = result.record
        paired = r.get("paired_vs_best_classic")
        paired_text = (
            f"{paired['mean_difference']:+.3f} ({paired['ci95'][0]:+.3f}, {paired['ci95'][1]:+.3f})" if paired else "—"
        )
        lines.append(
            f"| {r['policy']} | {format_params(r['params'])} | {r['avg_cost']:.3f} "
            f"| ({r['ci95'][0]:.3f}, {r['ci95'][1]:.3f}) | {r['gap_pct']:+.2f} | {paired_text} "
            f"| {r['fill_rate']:.3f} | {r['cycle_service_level']:.3f} | {r['avg_on_hand']:.2f} | {r['turnover']:.1f} "
            f"| {r['order_frequency']:.2f} |"
        )
    return "\n".join(lines) + "\n" + _forecast_note(results)


def _forecast_note(results: list[PolicyResult]) -> str:
    """The accuracy of the forecasts each forecast-observing policy saw (empty when none did)."""
    lines = [
        f"- {r.record['policy']}: {f['model']} forecasts, protection-interval WAPE "
        f"{f['protection_interval_wape']:.3f}, bias {f['protection_interval_bias']:+.3f}"
        for r in results
        if (f := r.record.get("forecast"))
    ]
    if not lines:
        return ""
    return (
        "\nforecast accuracy (demand over lead time + 1 periods, on the evaluation paths):\n" + "\n".join(lines) + "\n"
    )


def text_table(results: list[PolicyResult]) -> str:
    """The comparison as aligned plain text for the terminal (never wrapped by a table renderer)."""
    reference = results[0].record["gap_reference"] if results else ""
    header = [
        "policy",
        "parameters",
        "cost/period",
        "95% CI",
        f"gap to {reference}",
        "paired diff vs best classic",
        "fill",
        "CSL",
        "on hand",
        "turns",
        "orders",
    ]
    rows = []
    for result in results:
        r = result.record
        paired = r.get("paired_vs_best_classic")
        rows.append(
            [
                r["policy"],
                format_params(r["params"]),
                f"{r['avg_cost']:.3f}",
                f"{r['ci95'][0]:.3f}..{r['ci95'][1]:.3f}",
                f"{r['gap_pct']:+.2f}%",
                f"{paired['mean_difference']:+.3f} ({paired['ci95'][0]:+.3f}..{paired['ci95'][1]:+.3f})"
                if paired
                else "-",
                f"{r['fill_rate']:.3f}",
                f"{r['cycle_service_level']:.3f}",
                f"{r['avg_on_hand']:.2f}",
                f"{r['turnover']:.1f}",
                f"{r['order_frequency']:.2f}",
            ]
        )
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = [
        "  ".join(
            cell.ljust(w) if i < 2 else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        )
        for row in [header, *rows]
    ]
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines) + "\n" + _forecast_note(results)


def write_results(
    results: list[PolicyResult], scenario: AnyScenario, out_dir: str | Path, meta: dict[str, Any], warmup: int
) -> None:
    """Write results.json (a list of records), meta.json (the run's settings), results.csv, results.md
    and the plots into ``out_dir``, keeping what else is there; none of them is replaced until all
    are written (:func:`envs.files.write_files`)."""
    records = [_json_ready(r.record) for r in results]
    table = io.StringIO()
    writer = csv.DictWriter(table, fieldnames=CSV_COLUMNS)
    writer.writeheader()
    for r in results:
        rec = r.record
        writer.writerow(
            {
                **{k: rec[k] for k in CSV_COLUMNS if k in rec},
                "params": format_params(rec["params"]),
                "ci95_low": rec["ci95"][0],
                "ci95_high": rec["ci95"][1],
            }
        )
    header = (
        f"# {scenario.name}: {meta['episodes']} episodes x {scenario.horizon} periods "
        f"(first {warmup} left out), seed {meta['seed']}\n\n"
    )
    files: dict[str, Content] = {
        "results.json": json.dumps(records, indent=2) + "\n",
        "meta.json": json.dumps(_json_ready(meta), indent=2) + "\n",
        "results.csv": table.getvalue(),
        "results.md": header + markdown_table(results) + point_table(results, markdown=True),
        "cost.png": lambda path: _plot_costs(results, path),
        "sample_paths.png": lambda path: _plot_sample_paths(results, scenario, path, warmup),
    }
    write_files(out_dir, files)


# Per-stock-point KPIs shown for a network, and their headings.
POINT_COLUMNS = {
    "avg_cost": "cost/period",
    "fill_rate": "fill rate",
    "avg_on_hand": "on hand",
    "avg_backlog": "backlog",
    "avg_echelon_stock": "echelon stock",
    "order_frequency": "orders/period",
}


def point_table(results: list[PolicyResult], markdown: bool) -> str:
    """Each policy's KPIs per stock point of a network (fill rate at the customer-facing points,
    stock by echelon); empty for a single item."""
    if not results or "stock_points" not in results[0].record:
        return ""
    header = ["policy", "stock point", *POINT_COLUMNS.values()]
    rows = [
        [r.record["policy"], point, *("-" if v != v else f"{v:.3f}" for v in (kpis[k] for k in POINT_COLUMNS))]
        for r in results
        for point, kpis in r.record["stock_points"].items()
    ]
    if markdown:
        lines = ["| " + " | ".join(header) + " |", "|---|---|" + "---:|" * len(POINT_COLUMNS)]
        return "\n" + "\n".join([*lines, *("| " + " | ".join(row) + " |" for row in rows)]) + "\n"
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True)))
             for row in [header, *rows]]  # fmt: skip
    lines.insert(1, "-" * len(lines[0]))
    return "\nper stock point:\n" + "\n".join(lines) + "\n"


def _plot_costs(results: list[PolicyResult], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [r.record["policy"] for r in results]
    means = np.array([r.record["avg_cost"] for r in results])
    errors = np.array(
        [[m - r.record["ci95"][0], r.record["ci95"][1] - m] for m, r in zip(means, results, strict=True)]
    ).T
    fig, ax = plt.subplots(figsize=(7, 0.6 * len(results) + 1.5))
    # points with error bars, not bars: the axis need not start at zero to be honest
    ax.errorbar(means, labels, xerr=errors, fmt="o", color="tab:blue", capsize=4)
    ax.grid(axis="x", alpha=0.3)
    ax.set_xlabel("average cost per period (95% CI)")
    ax.invert_yaxis()
    fig.tight_layout()
    fig.savefig(path, dpi=110, format="png")  # the path is a temporary name
    plt.close(fig)


def _plot_sample_paths(
    results: list[PolicyResult], scenario: AnyScenario, path: Path, warmup: int, periods: int = 60
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    window = slice(warmup, min(warmup + periods, scenario.horizon))
    fig, axes = plt.subplots(len(results), 1, figsize=(9, 2.2 * len(results) + 0.5), sharex=True, squeeze=False)
    for ax, result in zip(axes[:, 0], results, strict=True):
        trace = result.batch.trace
        assert trace is not None, "evaluate() keeps a trace of at least one episode"
        t = np.arange(scenario.horizon)[window]
        # the first episode, all stock points together
        on_hand, backlog, ordered, demand = (
            trace[f][0, window].sum(axis=-1) for f in ("on_hand", "backlog", "ordered", "demand")
        )
        ax.step(
            t,
            on_hand - backlog,
            where="post",
            label="on hand (net)",
            color="tab:blue",
        )
        ax.bar(t, ordered, color="tab:green", alpha=0.5, label="ordered")
        ax.plot(t, demand, "k.", markersize=4, label="demand")
        ax.set_title(result.record["policy"], fontsize=9, loc="left")
        ax.axhline(0, color="grey", linewidth=0.5)
    axes[0, 0].legend(loc="lower right", bbox_to_anchor=(1.0, 1.0), fontsize=8, ncol=3, frameon=False)
    axes[-1, 0].set_xlabel("period (same demand for every policy)")
    fig.tight_layout()
    fig.savefig(path, dpi=110, format="png")  # the path is a temporary name
    plt.close(fig)


@dataclass(frozen=True)
class Tuning:
    """What classic policies are tuned on: a scenario and its paths (seed ``TUNING_SEED``)."""

    scenario: AnyScenario
    paths: ExogenousPaths


def tuning_and_evaluation_paths(
    scenario: AnyScenario, episodes: int, seed: int, tuning_episodes: int, tune_on: AnyScenario | None = None
) -> tuple[Tuning, ExogenousPaths]:
    """Separate paths for tuning and for judging (a seed equal to the tuning seed is refused).

    Classic policies are tuned on ``tune_on`` where given (the same system on another part of a
    demand history, say the year before the one evaluated), else on the evaluated scenario; for a
    single item without its forecasts, which no classic policy reads and which can take minutes
    to compute.

    Raises:
        UserError: the tuning seed as ``seed``; a ``tune_on`` that is not the same system (its
            observation without forecasts differs).
    """
    if seed == TUNING_SEED:
        raise UserError(f"--seed {seed} is the seed classic policies are tuned on; choose another")
    tuning = _without_forecasts(tune_on if tune_on is not None else scenario)
    theirs, ours = ObservationLayout(tuning).names, ObservationLayout(_without_forecasts(scenario)).names
    if theirs != ours:
        raise UserError(f"--tune-on {tuning.name}: observes {theirs}, not the same system as {scenario.name} ({ours})")
    return Tuning(tuning, evaluation_paths(tuning, tuning_episodes, TUNING_SEED)), evaluation_paths(
        scenario, episodes, seed
    )


def _without_forecasts(scenario: AnyScenario) -> AnyScenario:
    """A single item without its forecasts: its classic policies read the stock and pipeline
    columns, which come first either way (a network's read an observation-wide matrix: kept)."""
    if isinstance(scenario, NetworkScenario) or scenario.forecast is None:
        return scenario
    return load_scenario(scenario, forecast=None)
