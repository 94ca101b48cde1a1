"""Export: every policy as ``policy.onnx`` plus ``policy.json``, checked against the policy itself.

:func:`classic_source` (a classic policy tuned on the scenario, or the DP optimum, as graphs of
:mod:`agents.deploy.graphs`) or :func:`learned_source` (a trained SB3 model, traced by
:mod:`agents.deploy.torch_export`), then :func:`export_policy`: on observations of the policy's
own rollouts the ONNX orders must equal the policy's; the same rollouts give the reference state
of the explanations (:mod:`agents.deploy.explain`); policy.json records the scenario, the
observation layout, the costs, the checks, package versions and hashes. :func:`load_exported`
reads an export back with its scenario, for the evaluator.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from pydantic import ValidationError

from agents.classic import TUNERS
from agents.classic.echelon import NetworkBaseStock
from agents.classic.forecast_policy import ForecastOrderUpTo
from agents.classic.meio import NETWORK_POLICIES, optimise_base_stock
from agents.deploy.explain import explanation_reference
from agents.deploy.graphs import OPSET, classic_graph, forecast_graph, network_graph, table_graph
from agents.deploy.network import network_metadata
from agents.deploy.runtime import FORMAT, OnnxPolicy, policy_digest, sha256
from agents.exact import OptimalPolicy
from agents.provenance import package_versions
from agents.references import TUNING_SEED, optimal_policy
from envs.batch import evaluation_paths, run_batch
from envs.errors import UserError
from envs.files import check_output_directory, write_directory
from envs.layout import ObservationLayout, forecast_horizon
from envs.paths import draw_paths
from envs.policy import Policy
from envs.scenario import AnyScenario, NetworkScenario, Scenario, format_validation_error, load_scenario

POLICY_NAMES = (*TUNERS, "optimal", "forecast_order_up_to")
FORECAST_POLICY = "forecast_order_up_to"
# Largest support of the forecast-driven policy's quantile in ONNX (a float64 column per unit).
MAX_QUANTILE_SUPPORT = 4096
NETWORK_POLICY_NAMES = (*NETWORK_POLICIES, "optimal")
PARITY_OBSERVATIONS = 10_000
# At most: the rollouts' observations are kept in memory (float32, a few entries each: under a gigabyte).
MAX_PARITY_OBSERVATIONS = 10_000_000
# Seed of the rollouts an export is checked on (differs from the tuning and training-evaluation seeds).
ROLLOUT_SEED = 3_000_017
# Periods at the start of a rollout left out of the typical state: the pipeline starts empty.
WARMUP = 50
# Packages whose versions are recorded in policy.json.
PACKAGES = (
    "numpy",
    "scipy",
    "onnx",
    "onnxruntime",
    "pandas",
    "gymnasium",
    "torch",
    "stable-baselines3",
    "inventory-rl",
)


@dataclass
class ExportSource:
    """A policy about to be exported: the policy in Python and the same rule as an ONNX graph.

    Attributes:
        name: the policy's name in policy.json and on every order line.
        kind: ``classic``, ``optimal`` or ``learned``.
        policy: the policy in Python, the reference the graph is checked against.
        scenario: the scenario it acts on.
        graph: the ONNX model (input ``obs``, output ``order``).
        mapping: how the graph turns an observation into an order, in words.
        params: fitted parameters (classic), DP facts (optimal) or training facts (learned).
        source_file: the trained model file, hashed into policy.json (learned only).
    """

    name: str
    kind: str
    policy: Policy
    scenario: AnyScenario
    graph: onnx.ModelProto
    mapping: str
    params: dict[str, Any]
    source_file: Path | None = None


def classic_source(name: str, scenario: AnyScenario, tuning_episodes: int = 200, warmup: int = WARMUP) -> ExportSource:
    """A classic policy tuned on the scenario (as ``evaluate.py`` tunes it), or the optimum (the DP's
    table for one item, the exact echelon levels of a serial network).

    Raises:
        UserError: for an unknown name, or when the optimum cannot be computed for the scenario.
    """
    layout = ObservationLayout(scenario)
    if name == "optimal":
        policy, reason = optimal_policy(scenario)
        if policy is None:
            raise UserError(f"optimal: cannot be computed for {scenario.name} ({reason})")
        if isinstance(policy, NetworkBaseStock):
            graph, mapping = network_graph(policy, layout)
        else:
            assert isinstance(policy, OptimalPolicy)
            graph, mapping = table_graph(policy, layout.dim)
        return ExportSource("optimal", "optimal", policy, scenario, graph, mapping, policy.params())
    if isinstance(scenario, NetworkScenario):
        if name not in NETWORK_POLICIES:
            known = ", ".join((*NETWORK_POLICIES, "optimal"))
            raise UserError(f"{name}: unknown policy for a network (names: {known}; or a run directory or model zip)")
        found = optimise_base_stock(scenario, NETWORK_POLICIES[name], seed=TUNING_SEED, warmup=warmup)
        graph, mapping = network_graph(found.policy, layout)
        params = {**found.policy.params(), "tuning": "Monte Carlo optimisation", "tuned_cost": found.expected_cost}
        return ExportSource(name, "classic", found.policy, scenario, graph, mapping, params)
    if name == FORECAST_POLICY:
        if scenario.forecast is None:
            raise UserError(f"{name}: {scenario.name} has no forecast block (the policy orders on its forecasts)")
        forecast = ForecastOrderUpTo(scenario, layout)
        # levels beyond what the capacity can order over the protection interval change no order from a
        # position at or above zero (lost sales); the graph adds the pmf up to there
        support = min((scenario.max_lead_time + 1) * scenario.max_order + 1, MAX_QUANTILE_SUPPORT)
        graph, mapping = forecast_graph(forecast, layout.dim, scenario.max_order, support)
        return ExportSource(name, "classic", forecast, scenario, graph, mapping, forecast.params())
    if name not in TUNERS:
        raise UserError(f"{name}: unknown policy (names: {', '.join(POLICY_NAMES)}; or a run directory or model zip)")
    obs_dim = layout.dim
    tuning_paths = evaluation_paths(scenario, tuning_episodes, TUNING_SEED)
    tuned = TUNERS[name](scenario, tuning_paths, min(warmup, scenario.horizon // 2))
    graph, mapping = classic_graph(tuned.policy, obs_dim, scenario.max_order)
    params = {**tuned.policy.params(), "tuning": tuned.method, "tuned_cost": tuned.expected_cost}
    return ExportSource(name, "classic", tuned.policy, scenario, graph, mapping, params)


def learned_source(path: str | Path) -> ExportSource:
    """A trained SB3 model from a run directory or a model zip in one (read by :func:`agents.rl.policy.load_run`)."""
    # torch and stable-baselines3: only for learned policies
    from stable_baselines3.common.running_mean_std import RunningMeanStd

    from agents.deploy.torch_export import sb3_graph
    from agents.rl.policy import load_run
    from agents.rl.run_directory import RunDirectory

    policy, scenario = load_run(path)
    model_file = (Path(path) / "model.zip" if Path(path).is_dir() else Path(path)).resolve()
    run = RunDirectory.find(model_file)
    # the final model is named after its run; another one (best_model, a checkpoint's) gets a suffix
    label = model_file.parent.name if model_file.stem == "model" else model_file.stem
    suffix = "" if model_file == run.model_file else f"_{label}"
    graph, mapping = sb3_graph(policy, ObservationLayout(scenario))
    params: dict[str, Any] = {**policy.params(), "run": run.path.name, "model": str(model_file.relative_to(run.path))}
    if policy.normalizer is not None and policy.normalizer.norm_obs:
        rms = policy.normalizer.obs_rms
        assert isinstance(rms, RunningMeanStd)  # one set of statistics: the observation space is a Box
        params["obs_normalization"] = {
            "mean": rms.mean.tolist(),
            "var": rms.var.tolist(),
            "epsilon": policy.normalizer.epsilon,
            "clip_obs": policy.normalizer.clip_obs,
        }
    return ExportSource(run.path.name + suffix, "learned", policy, scenario, graph, mapping, params, model_file)


def rollout_observations(
    policy: Policy, scenario: AnyScenario, n_observations: int, seed: int = ROLLOUT_SEED
) -> np.ndarray:
    """The observations a policy meets in enough whole episodes to give ``n_observations``.

    Returns:
        float32 (episodes, horizon, obs_dim).
    """
    recorder = _ObservationRecorder(policy)
    n_episodes = math.ceil(n_observations / scenario.horizon)
    run_batch(recorder, scenario, draw_paths(scenario, np.random.default_rng(seed), n_episodes))
    return np.stack(recorder.seen, axis=1)


class _ObservationRecorder:
    """Passes observations to ``policy`` and keeps a copy of each batch it was shown."""

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self.name = policy.name
        self.seen: list[np.ndarray] = []

    def act(self, obs: np.ndarray) -> np.ndarray:
        self.seen.append(obs.copy())
        return self.policy.act(obs)

    def params(self) -> dict[str, Any]:
        return self.policy.params()


def observation_entries(layout: ObservationLayout) -> list[dict[str, Any]]:
    """Every observation entry with what a valid value of it is.

    Stock, pipeline, awaited and demand entries are whole numbers, non-negative except net
    inventories (a backlog makes them negative); demand features are any numbers.
    """
    entries = []
    for block in layout.blocks:
        counts_units = block.kind != "features"
        for name in block.names:
            negative = not counts_units or name.endswith("net_inventory")
            entries.append({"name": name, "whole_number": counts_units, "min": None if negative else 0})
    return entries


def export_policy(
    source: ExportSource, out_dir: str | Path, parity_observations: int = PARITY_OBSERVATIONS
) -> dict[str, Any]:
    """Check the graph against the policy, work out the explanation reference and write the directory.

    On ``parity_observations`` observations of the policy's own rollouts the ONNX orders are
    compared with ``clip(policy.act(obs), 0, max_order)``. The same rollouts (after
    :data:`WARMUP` periods) give the typical state the explanations compare against, the
    policy's typical order-up-to level and the default review cap. ``policy.onnx`` and
    ``policy.json`` appear in ``out_dir`` together, replacing an earlier export there.

    Returns:
        the content of policy.json.
    """
    out_dir = check_output_directory(out_dir, replaceable_export)
    scenario = source.scenario
    model_bytes = source.graph.SerializeToString()
    layout = ObservationLayout(scenario)
    entries = observation_entries(layout)
    onnx_policy = OnnxPolicy(model_bytes, {"name": source.name, "observation": entries})

    observations = rollout_observations(source.policy, scenario, parity_observations)
    checked = observations.reshape(-1, observations.shape[-1])[:parity_observations]
    max_order = layout.system.max_order if isinstance(scenario, NetworkScenario) else scenario.max_order
    expected = np.clip(source.policy.act(checked), 0, max_order)
    got = onnx_policy.act(checked)
    mismatch = expected != got

    warmup = min(WARMUP, scenario.horizon // 2)
    settled = observations[:, warmup:].reshape(-1, observations.shape[-1])
    whole_number = np.array([e["whole_number"] for e in entries])
    described = {"from": f"{len(settled):,} observations of the policy's rollouts after period {warmup}"}
    meta: dict[str, Any] = {
        "format": FORMAT,
        "name": source.name,
        "kind": source.kind,
        "params": source.params,
        "scenario": scenario.model_dump(mode="json"),
        "observation": entries,
        "layout": layout.to_dict(),
        "action_mapping": source.mapping,
        "onnx": {"file": "policy.onnx", "input": "obs", "output": "order", "opset": OPSET},
        **(
            network_metadata(layout, onnx_policy.act, settled, whole_number, described)
            if isinstance(scenario, NetworkScenario)
            else _item_metadata(scenario, layout, onnx_policy.act, settled, whole_number, checked, got, described)
        ),
        "parity": {
            "observations": len(checked),
            "mismatches": int(mismatch.sum()),
            "largest_difference": int(np.abs(expected - got).max(initial=0)),
            "against": (
                "SB3 predict(deterministic=True) mapped by envs.actions.ActionMap.orders"
                if source.kind == "learned"
                else f"{type(source.policy).__name__}.act, clipped to 0..max_order"
            ),
            "rollout_seed": ROLLOUT_SEED,
        },
        "hashes": {"policy.onnx": sha256(model_bytes)},
        "versions": package_versions(PACKAGES),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    if source.source_file is not None:
        meta["hashes"]["source"] = {"file": str(source.source_file), "sha256": sha256(source.source_file.read_bytes())}
    meta = json.loads(json.dumps(meta))  # as it will be read back (tuples as lists), for the digest
    meta["digest"] = policy_digest(model_bytes, meta)
    write_directory(
        out_dir, {"policy.onnx": model_bytes, "policy.json": json.dumps(meta, indent=2) + "\n"}, replaceable_export
    )
    return meta


def _item_metadata(
    scenario: Scenario,
    layout: ObservationLayout,
    act: Callable[[np.ndarray], np.ndarray],
    settled: np.ndarray,
    whole_number: np.ndarray,
    checked: np.ndarray,
    orders: np.ndarray,
    described: dict[str, Any],
) -> dict[str, Any]:
    """What recommend.py reads for one item: where the inventory position is, the lead time, the
    demand, the costs, the explanation reference, and a sanity check (one more unit on hand
    should not raise the order)."""
    position = layout.position_columns()
    one_more_on_hand = checked.copy()
    one_more_on_hand[:, 0] += 1
    lead = scenario.lead_time_values
    probs = np.ones(1) if isinstance(scenario.lead_time, int) else np.asarray(scenario.lead_time.probs)
    return {
        "position_columns": [position.start, position.stop],
        "max_order": scenario.max_order,
        "lead_time": {"values": lead.tolist(), "probs": probs.tolist(), "mean": float(lead @ probs)},
        "mean_demand": scenario.demand.mean_demand(),
        "costs": {
            key: getattr(scenario, key)
            for key in ("holding_cost", "shortage_cost", "fixed_order_cost", "unit_cost", "price", "lost_sales")
        },
        "explanation": {**explanation_reference(act, settled, whole_number, position), **described},
        **({"forecast": forecast_metadata(scenario, layout)} if scenario.forecast is not None else {}),
        "sanity": {
            "share_where_one_more_on_hand_does_not_raise_the_order": float((act(one_more_on_hand) <= orders).mean()),
        },
    }


def forecast_metadata(scenario: Scenario, layout: ObservationLayout) -> dict[str, Any]:
    """What recommend.py reads of a policy that observes forecasts: the model, the quantile levels, and the
    forecast-mean columns from this period through the arrival of an order placed now."""
    assert scenario.forecast is not None
    periods = min(scenario.max_lead_time + 1, forecast_horizon(scenario))
    return {
        "model": scenario.forecast.model,
        "levels": list(scenario.forecast.levels),
        "mean_columns_through_arrival": [layout.names.index(f"forecast_mean_ahead_{k}") for k in range(periods)],
    }


def replaceable_export(out_dir: Path) -> bool:
    """Only an empty directory or an earlier export may be replaced by an export."""
    return (out_dir / "policy.json").is_file() or not any(out_dir.iterdir())


def load_exported(directory: str | Path) -> tuple[OnnxPolicy, AnyScenario]:
    """An exported policy and the scenario it was exported for (for the evaluator)."""
    policy = OnnxPolicy.load(directory)
    raw = policy.metadata["scenario"]
    model: type[Scenario] | type[NetworkScenario] = NetworkScenario if "stock_points" in raw else Scenario
    try:
        scenario = model.model_validate(raw)
    except ValidationError as error:
        raise UserError(format_validation_error(f"{directory}/policy.json: scenario", error)) from None
    return policy, load_scenario(scenario)
