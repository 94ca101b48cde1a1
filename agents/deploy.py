"""Deployment: every policy as one ONNX graph plus metadata, and purchase orders from it.

A policy directory is the one deployment format of every kind of policy::

    policy.onnx   input "obs" float32 [N, obs_dim] -> output "order" int64 [N], each in 0..max_order
    policy.json   the scenario, the observation layout, the action mapping, the costs, the
                  reference state of the explanations, the parity check, package versions, hashes

**Export** (:func:`classic_source`, :func:`learned_source`, then :func:`export_policy`): a
classic policy becomes a small graph built with ``onnx.helper`` (the inventory position, then
its rule with the fitted parameters as constants); the DP optimum becomes a dense lookup table
over its state coordinates; an SB3 model becomes its VecNormalize observation scaling, its
network and its deterministic action mapping, traced by ``torch.onnx.export``. Every export
is checked on observations of real rollouts: the ONNX orders must equal the source policy's.

**Recommend** (:class:`OnnxPolicy`, :func:`read_state`, :func:`recommend`,
:func:`write_orders`): numpy, pandas, json and onnxruntime. torch and stable-baselines3 are
imported only inside :func:`learned_source`, and nothing is unpickled, so the recommend path
runs where neither is installed.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import os
import shutil
import tempfile
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import pandas as pd
from onnx import TensorProto, helper
from pydantic import ValidationError

from envs.policy import Policy
from agents.classic import TUNERS, BaseStock, CappedBaseStock, ReorderPointQuantity, SSPolicy
from agents.exact import OptimalPolicy
from agents.provenance import package_versions
from agents.references import TUNING_SEED, optimal_policy
from envs.batch import evaluation_paths, run_batch
from envs.errors import UserError
from envs.kernel import draw_paths, observation_names
from envs.scenario import Scenario, format_validation_error, load_scenario

FORMAT = "inventory-policy/1"
# Keys of policy.json the deployment side reads.
REQUIRED_METADATA = (
    "name",
    "observation",
    "hashes",
    "params",
    "explanation",
    "n_pipeline",
    "lead_time",
    "mean_demand",
    "scenario",
)
OPSET = 17
IR_VERSION = 8  # the IR version of opset 17, which onnxruntime has read since 1.13
POLICY_NAMES = (*TUNERS, "optimal")
PARITY_OBSERVATIONS = 10_000
# Seed of the rollouts an export is checked on (differs from the tuning and training-evaluation seeds).
ROLLOUT_SEED = 3_000_017
# Periods at the start of a rollout left out of the typical state: the pipeline starts empty.
WARMUP = 50
# By default orders above this quantile of the policy's simulated orders are flagged for review.
REVIEW_QUANTILE = 0.99
# Largest dense DP table exported (entries); the grid's L = 4 instances need about 2.1 million.
MAX_TABLE_ENTRIES = 20_000_000
# Rows per onnxruntime call: bounds the memory of the hidden layers on large batches.
CHUNK_ROWS = 1 << 18
# Largest count of units in a state file: float32, the ONNX input, holds whole numbers exactly up to 2^24.
MAX_UNITS = 1 << 24
# Explanations use exact Shapley values over groups of observation entries: 2^groups model runs
# per row. With more groups than this the demand features are explained as one group.
MAX_GROUPS = 6
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


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# ---------------------------------------------------------------------------------------------
# Graphs built with onnx.helper: classic rules and the DP table


class _GraphBuilder:
    """The nodes and constants of one ONNX graph reading ``obs``; intermediate names are generated."""

    def __init__(self) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []

    def constant(self, value: Any, dtype: type = np.int64) -> str:
        name = f"const_{len(self.initializers)}"
        self.initializers.append(onnx.numpy_helper.from_array(np.asarray(value, dtype=dtype), name))
        return name

    def op(self, op_type: str, *inputs: str, **attributes: Any) -> str:
        name = f"{op_type.lower()}_{len(self.nodes)}"
        self.nodes.append(helper.make_node(op_type, list(inputs), [name], **attributes))
        return name

    def columns(self, stop: int) -> str:
        """``obs[:, :stop]``."""
        return self.op("Slice", "obs", self.constant([0]), self.constant([stop]), self.constant([1]))

    def row_sum(self, tensor: str) -> str:
        return self.op("ReduceSum", tensor, self.constant([1]), keepdims=0)

    def model(self, raw_order: str, obs_dim: int, max_order: int, doc: str) -> onnx.ModelProto:
        """The checked model whose output ``order`` is ``raw_order`` clipped to 0..max_order."""
        self.nodes.append(helper.make_node("Clip", [raw_order, self.constant(0), self.constant(max_order)], ["order"]))
        graph = helper.make_graph(
            self.nodes,
            "policy",
            [helper.make_tensor_value_info("obs", TensorProto.FLOAT, ["n", obs_dim])],
            [helper.make_tensor_value_info("order", TensorProto.INT64, ["n"])],
            self.initializers,
            doc_string=doc,
        )
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="inventory-rl")
        model.ir_version = IR_VERSION
        onnx.checker.check_model(model, full_check=True)
        return model


def _position(g: _GraphBuilder, n_pipeline: int) -> str:
    """The rounded inventory position, as the classic policies compute it: rint(on hand + pipeline)."""
    return g.op("Cast", g.op("Round", g.row_sum(g.columns(1 + n_pipeline))), to=TensorProto.INT64)


def classic_graph(policy: Any, obs_dim: int, max_order: int) -> tuple[onnx.ModelProto, str]:
    """A classic policy as an ONNX graph, and its rule in words.

    :param policy: a :class:`BaseStock`, :class:`CappedBaseStock`, :class:`SSPolicy` or
        :class:`ReorderPointQuantity` with scalar parameters.
    :param obs_dim: columns of the observation.
    :param max_order: the order capacity the output is clipped to.
    :return: the model and the rule in words.
    """
    g = _GraphBuilder()
    position = _position(g, policy.n_pipeline)
    zero = g.constant(0)
    if isinstance(policy, (BaseStock, CappedBaseStock)):
        order = g.op("Max", g.op("Sub", g.constant(policy.S), position), zero)
        rule = f"max(S - position, 0) with S = {policy.S}"
        if isinstance(policy, CappedBaseStock):
            order = g.op("Min", order, g.constant(policy.cap))
            rule = f"min(max(S - position, 0), cap) with S = {policy.S}, cap = {policy.cap}"
    elif isinstance(policy, SSPolicy):
        reorder = g.op("LessOrEqual", position, g.constant(policy.s))
        order = g.op("Where", reorder, g.op("Sub", g.constant(policy.S), position), zero)
        rule = f"S - position if position <= s, else 0, with s = {policy.s}, S = {policy.S}"
    elif isinstance(policy, ReorderPointQuantity):
        reorder = g.op("LessOrEqual", position, g.constant(policy.r))
        # (r - position) // Q + 1 batches; integer Div truncates, which is the floor where position <= r
        shortfall = g.op("Sub", g.constant(policy.r), position)
        batches = g.op("Add", g.op("Div", shortfall, g.constant(policy.Q)), g.constant(1))
        order = g.op("Where", reorder, g.op("Mul", batches, g.constant(policy.Q)), zero)
        rule = (
            f"the smallest multiple of Q lifting the position above r if position <= r, else 0, "
            f"with r = {policy.r}, Q = {policy.Q}"
        )
    else:
        raise TypeError(f"no ONNX rule for {type(policy).__name__}")
    mapping = f"position = round(on hand + pipeline); order = {rule}; clipped to 0..{max_order}"
    return g.model(order, obs_dim, max_order, mapping), mapping


def table_graph(policy: OptimalPolicy, obs_dim: int) -> tuple[onnx.ModelProto, str]:
    """The DP's order table as a dense lookup table, reproducing :meth:`OptimalPolicy.act` exactly.

    The state coordinates are integer combinations of the rounded on-hand and pipeline columns:
    lost sales ``(on hand + a_0, a_1, ..., a_{L-1})`` (negative entries count as 0; ``L = 0``:
    the on hand), backorders the inventory position. Each coordinate is clipped to
    ``low .. hi + 1``, where ``hi + 1`` stands for every value above the table (ordering 0,
    as ``act`` does); the table is ``act`` on one canonical observation per grid point, so
    its out-of-table rules carry over. Under backorders a position below ``lo`` orders what
    ``lo`` orders plus the difference, capped at ``max_order``, as in ``act``.
    """
    result = policy.result
    L, (lo, hi) = result.lead_time, result.bounds
    if result.lost_sales:
        width, low = max(L, 1), 0
        combine = np.zeros((1 + L, width), dtype=np.float32)
        combine[0, 0] = 1.0
        if L:
            combine[1, 0] = 1.0  # the arrival due this period adds to the on hand
            combine[2:, 1:] = np.eye(L - 1)  # a_1 .. a_{L-1} are coordinates of their own
    else:
        width, low = 1, lo
        combine = np.ones((1 + L, 1), dtype=np.float32)
    side = hi + 2 - low
    if side**width > MAX_TABLE_ENTRIES:
        raise UserError(
            f"optimal: a dense table of {side}^{width} = {side**width:,} entries is too large to export "
            f"(limit {MAX_TABLE_ENTRIES:,})"
        )
    grid = low + np.indices((side,) * width).reshape(width, -1).T
    canonical = np.zeros((len(grid), obs_dim), dtype=np.float32)
    canonical[:, combine.argmax(axis=0)] = grid  # each coordinate in the first column that feeds it
    table = policy.act(canonical)
    dtype = next(t for t in (np.int8, np.int16, np.int32) if table.max() <= np.iinfo(t).max)

    g = _GraphBuilder()
    columns = g.op("Round", g.columns(1 + L))
    if result.lost_sales:
        columns = g.op("Max", columns, g.constant(0.0, np.float32))
    coordinates = g.op("Cast", g.op("MatMul", columns, g.constant(combine, np.float32)), to=TensorProto.INT64)
    clipped = g.op("Clip", coordinates, g.constant(low), g.constant(hi + 1))
    strides = side ** np.arange(width - 1, -1, -1)
    index = g.row_sum(g.op("Mul", g.op("Sub", clipped, g.constant(low)), g.constant(strides)))
    order = g.op("Cast", g.op("Gather", g.constant(table, dtype), index, axis=0), to=TensorProto.INT64)
    if not result.lost_sales:
        below = g.op("Max", g.op("Sub", g.constant(low), g.row_sum(coordinates)), g.constant(0))
        order = g.op("Add", order, below)
    state = "(on hand + a_0, a_1, ...)" if result.lost_sales else "inventory position"
    mapping = (
        f"dense lookup table ({side}^{width} {np.dtype(dtype).name}) of the DP's optimal orders over the "
        f"rounded state {state}, each coordinate clipped to {low}..{hi + 1}; clipped to 0..{result.max_order}"
    )
    return g.model(order, obs_dim, result.max_order, mapping), mapping


# ---------------------------------------------------------------------------------------------
# SB3 models: traced with torch (imported only here)


def sb3_graph(policy: Any, obs_dim: int) -> tuple[onnx.ModelProto, str]:
    """An :class:`agents.rl.SB3Policy` as an ONNX graph, and its action mapping in words.

    The graph computes what ``SB3Policy.act`` does: VecNormalize's
    ``clip((obs - mean) / sqrt(var + eps), -clip_obs, clip_obs)`` in float64, cast to float32
    as VecNormalize does, then the network's deterministic action -- PPO: the actor's mean
    ``a`` clipped to [-1, 1] and mapped as ``envs.kernel.orders_from_actions`` does,
    ``round((a + 1) / 2 * R)`` in float32, half to even (numpy's rint and ONNX Round agree);
    PPO with a discrete action or DQN: the argmax of the logits or Q-values (the first on
    ties, as torch). With order-up-to actions the value is a level and the order is the level
    minus the inventory position of the raw observation.
    """
    import torch
    from gymnasium import spaces
    from stable_baselines3.common.policies import ActorCriticPolicy

    network, scenario, normalizer = policy.model.policy, policy.scenario, policy.normalizer
    max_order, action_range, n_pipeline = scenario.max_order, scenario.action_range, scenario.max_lead_time
    levels = scenario.action_meaning == "level"
    continuous = isinstance(network.action_space, spaces.Box)
    if isinstance(network, ActorCriticPolicy):

        def head(x: torch.Tensor) -> torch.Tensor:
            features = network.extract_features(x, network.pi_features_extractor)
            return network.action_net(network.mlp_extractor.forward_actor(features))

        mapping = (
            f"a = actor mean clipped to [-1, 1]; value = round((a + 1) / 2 * {action_range})"
            if continuous
            else "value = argmax of the actor's logits"
        )
    else:
        head = network.q_net
        mapping = "value = argmax of the Q-values"
    mapping += "; order = value - inventory position (on hand + on order, rounded)" if levels else "; order = value"
    normalize = normalizer is not None and normalizer.norm_obs
    if normalize:
        mapping = "obs scaled as VecNormalize: clip((obs - mean) / sqrt(var + eps), -clip_obs, clip_obs); " + mapping

    class DeterministicOrders(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.network = network
            if normalize:
                rms = normalizer.obs_rms
                self.register_buffer("mean", torch.as_tensor(rms.mean, dtype=torch.float64))
                self.register_buffer("std", torch.as_tensor(np.sqrt(rms.var + normalizer.epsilon), dtype=torch.float64))

        def forward(self, obs: torch.Tensor) -> torch.Tensor:
            scaled = obs
            if normalize:
                scaled = (
                    ((obs.double() - self.mean) / self.std).clamp(-normalizer.clip_obs, normalizer.clip_obs).float()
                )
            out = head(scaled)
            if continuous:
                value = torch.round((out[:, 0].clamp(-1.0, 1.0) + 1.0) / 2.0 * action_range).long()
            else:
                value = out.argmax(dim=1)
            if levels:
                value = value - torch.round(obs[:, : 1 + n_pipeline].sum(dim=1)).long()
            return value.clamp(0, max_order)

    module = DeterministicOrders().eval()
    buffer = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # the TorchScript exporter is deprecated; the dynamo one needs onnxscript
        torch.onnx.export(
            module,
            (torch.zeros(2, obs_dim),),
            buffer,
            input_names=["obs"],
            output_names=["order"],
            dynamic_axes={"obs": {0: "n"}, "order": {0: "n"}},
            opset_version=OPSET,
            dynamo=False,
        )
    model = onnx.load_from_string(buffer.getvalue())
    onnx.checker.check_model(model, full_check=True)
    return model, f"{mapping}; clipped to 0..{max_order}"


# ---------------------------------------------------------------------------------------------
# Export


@dataclass
class ExportSource:
    """A policy about to be exported: the policy in Python and the same rule as an ONNX graph.

    :param name: the policy's name in policy.json and on every order line.
    :param kind: ``classic``, ``optimal`` or ``learned``.
    :param policy: the policy in Python, the reference the graph is checked against.
    :param scenario: the scenario it acts on.
    :param graph: the ONNX model (input ``obs``, output ``order``).
    :param mapping: how the graph turns an observation into an order, in words.
    :param params: fitted parameters (classic), DP facts (optimal) or training facts (learned).
    :param source_file: the trained model file, hashed into policy.json (learned only).
    """

    name: str
    kind: str
    policy: Policy
    scenario: Scenario
    graph: onnx.ModelProto
    mapping: str
    params: dict[str, Any]
    source_file: Path | None = None


def classic_source(name: str, scenario: Scenario, tuning_episodes: int = 200, warmup: int = WARMUP) -> ExportSource:
    """A classic policy tuned on the scenario (as ``evaluate.py`` tunes it), or the DP optimum.

    :raises UserError: for an unknown name, or when the optimum cannot be computed for the scenario.
    """
    obs_dim = len(observation_names(scenario))
    if name == "optimal":
        policy, reason = optimal_policy(scenario)
        if policy is None:
            raise UserError(f"optimal: cannot be computed for {scenario.name} ({reason})")
        graph, mapping = table_graph(policy, obs_dim)
        return ExportSource("optimal", "optimal", policy, scenario, graph, mapping, policy.params())
    if name not in TUNERS:
        raise UserError(f"{name}: unknown policy (names: {', '.join(POLICY_NAMES)}; or a run directory or model zip)")
    tuning_paths = evaluation_paths(scenario, tuning_episodes, TUNING_SEED)
    tuned = TUNERS[name](scenario, tuning_paths, min(warmup, scenario.horizon // 2))
    graph, mapping = classic_graph(tuned.policy, obs_dim, scenario.max_order)
    params = {**tuned.policy.params(), "tuning": tuned.method, "tuned_cost": tuned.expected_cost}
    return ExportSource(name, "classic", tuned.policy, scenario, graph, mapping, params)


def learned_source(path: str | Path) -> ExportSource:
    """A trained SB3 model from a run directory or a model zip in one (as ``agents.rl.load_run`` reads it)."""
    from agents.rl import RunDirectory, load_run  # torch and stable-baselines3: only for learned policies

    policy, scenario = load_run(path)
    model_file = (Path(path) / "model.zip" if Path(path).is_dir() else Path(path)).resolve()
    run = RunDirectory.find(model_file)
    # the final model is named after its run; another one (best_model, a checkpoint's) gets a suffix
    label = model_file.parent.name if model_file.stem == "model" else model_file.stem
    suffix = "" if model_file == run.model_file else f"_{label}"
    graph, mapping = sb3_graph(policy, len(observation_names(scenario)))
    params: dict[str, Any] = {**policy.params(), "run": run.path.name, "model": str(model_file.relative_to(run.path))}
    if policy.normalizer is not None and policy.normalizer.norm_obs:
        rms = policy.normalizer.obs_rms
        params["obs_normalization"] = {
            "mean": rms.mean.tolist(),
            "var": rms.var.tolist(),
            "epsilon": policy.normalizer.epsilon,
            "clip_obs": policy.normalizer.clip_obs,
        }
    return ExportSource(run.path.name + suffix, "learned", policy, scenario, graph, mapping, params, model_file)


def rollout_observations(
    policy: Policy, scenario: Scenario, n_observations: int, seed: int = ROLLOUT_SEED
) -> np.ndarray:
    """The observations a policy meets in enough whole episodes to give ``n_observations``.

    :return: float32 (episodes, horizon, obs_dim).
    """
    recorder = _ObservationRecorder(policy)
    n_episodes = math.ceil(n_observations / scenario.horizon)
    run_batch(recorder, scenario, draw_paths(scenario, np.random.default_rng(seed), n_episodes))
    return np.stack(recorder.seen, axis=1)


class _ObservationRecorder:
    """Passes observations to ``policy`` and keeps a copy of each batch it was shown."""

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self.seen: list[np.ndarray] = []

    def act(self, obs: np.ndarray) -> np.ndarray:
        self.seen.append(obs.copy())
        return self.policy.act(obs)


def observation_entries(scenario: Scenario) -> list[dict[str, Any]]:
    """The observation layout with what a valid value of each entry is.

    Stock, pipeline and demand entries are whole numbers, non-negative except the net inventory
    under backorders; demand features are any numbers.
    """
    names = observation_names(scenario)
    first_feature = len(names) - len(scenario.demand.feature_names) * scenario.feature_lookahead
    return [
        {
            "name": name,
            "whole_number": i < first_feature,
            "min": 0 if i < first_feature and name != "net_inventory" else None,
        }
        for i, name in enumerate(names)
    ]


def export_policy(
    source: ExportSource, out_dir: str | Path, parity_observations: int = PARITY_OBSERVATIONS
) -> dict[str, Any]:
    """Check the graph against the policy, work out the explanation reference and write the directory.

    On ``parity_observations`` observations of the policy's own rollouts the ONNX orders are
    compared with ``clip(policy.act(obs), 0, max_order)``. The same rollouts (after
    :data:`WARMUP` periods) give the typical state the explanations compare against, the
    policy's typical order-up-to level and the default review cap. ``policy.onnx`` and
    ``policy.json`` appear in ``out_dir`` together, replacing an earlier export there.

    :return: the content of policy.json.
    """
    out_dir = Path(out_dir)
    _check_output_directory(out_dir)
    scenario = source.scenario
    model_bytes = source.graph.SerializeToString()
    entries = observation_entries(scenario)
    onnx_policy = OnnxPolicy(model_bytes, {"name": source.name, "observation": entries})

    observations = rollout_observations(source.policy, scenario, parity_observations)
    checked = observations.reshape(-1, observations.shape[-1])[:parity_observations]
    expected = np.clip(source.policy.act(checked), 0, scenario.max_order)
    got = onnx_policy.act(checked)
    mismatch = expected != got

    warmup = min(WARMUP, scenario.horizon // 2)
    settled = observations[:, warmup:].reshape(-1, observations.shape[-1])
    whole = np.array([e["whole_number"] for e in entries])
    typical = np.where(whole, np.rint(settled.mean(axis=0)), settled.mean(axis=0)).astype(np.float32)
    n_pipeline = scenario.max_lead_time
    settled_orders = onnx_policy.act(settled)
    ordering = settled_orders > 0
    reached = settled[ordering, : 1 + n_pipeline].sum(axis=1) + settled_orders[ordering]
    one_more_on_hand = checked.copy()
    one_more_on_hand[:, 0] += 1

    lead = scenario.lead_time_values
    probs = np.ones(1) if scenario.deterministic_lead_time else np.asarray(scenario.lead_time.probs)
    meta: dict[str, Any] = {
        "format": FORMAT,
        "name": source.name,
        "kind": source.kind,
        "params": source.params,
        "scenario": scenario.model_dump(mode="json"),
        "observation": entries,
        "n_pipeline": n_pipeline,
        "action_mapping": source.mapping,
        "onnx": {"file": "policy.onnx", "input": "obs", "output": "order", "opset": OPSET},
        "max_order": scenario.max_order,
        "lead_time": {"values": lead.tolist(), "probs": probs.tolist(), "mean": float(lead @ probs)},
        "mean_demand": scenario.demand.mean_demand(),
        "costs": {
            key: getattr(scenario, key)
            for key in ("holding_cost", "shortage_cost", "fixed_order_cost", "unit_cost", "price", "lost_sales")
        },
        "explanation": {
            "typical_state": typical.tolist(),
            "typical_order": int(onnx_policy.act(typical[None])[0]),
            "order_up_to_level": int(np.rint(np.median(reached))) if len(reached) else None,
            "review_above": int(np.quantile(settled_orders, REVIEW_QUANTILE)),
            "from": f"{len(settled):,} observations of the policy's rollouts after period {warmup}",
        },
        "parity": {
            "observations": len(checked),
            "mismatches": int(mismatch.sum()),
            "largest_difference": int(np.abs(expected - got).max(initial=0)),
            "against": (
                "SB3 predict(deterministic=True) mapped by envs.kernel.orders_from_actions"
                if source.kind == "learned"
                else f"{type(source.policy).__name__}.act, clipped to 0..max_order"
            ),
            "rollout_seed": ROLLOUT_SEED,
        },
        "sanity": {
            "share_where_one_more_on_hand_does_not_raise_the_order": float(
                (onnx_policy.act(one_more_on_hand) <= got).mean()
            ),
        },
        "hashes": {"policy.onnx": sha256(model_bytes)},
        "versions": package_versions(PACKAGES),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    if source.source_file is not None:
        meta["hashes"]["source"] = {"file": str(source.source_file), "sha256": sha256(source.source_file.read_bytes())}
    _write_directory(out_dir, {"policy.onnx": model_bytes, "policy.json": (json.dumps(meta, indent=2) + "\n").encode()})
    return meta


def _check_output_directory(out_dir: Path) -> None:
    """Only a new directory, an empty one or an earlier export may be written (and replaced)."""
    replaceable = out_dir.is_dir() and ((out_dir / "policy.json").is_file() or not any(out_dir.iterdir()))
    if out_dir.exists() and not replaceable:
        raise UserError(f"{out_dir}: exists and is not a policy directory; choose another --out")


def _write_directory(out_dir: Path, files: dict[str, bytes]) -> None:
    """Write ``files`` into ``out_dir`` as a whole: staged next to it, then renamed into place."""
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    replaced = staging.with_name(staging.name + ".old")
    try:
        for name, data in files.items():
            (staging / name).write_bytes(data)
        if out_dir.exists():
            os.replace(out_dir, replaced)
        os.replace(staging, out_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        shutil.rmtree(replaced, ignore_errors=True)


# ---------------------------------------------------------------------------------------------
# The deployment side: numpy, pandas, json and onnxruntime only


class OnnxPolicy:
    """An exported policy as a :class:`envs.policy.Policy`: onnxruntime on policy.onnx.

    :param model_bytes: the ONNX model (input ``obs``, output ``order``).
    :param metadata: policy.json's content (at least ``name`` and ``observation``).
    """

    def __init__(self, model_bytes: bytes, metadata: dict[str, Any]) -> None:
        self.metadata = metadata
        self.name: str = metadata["name"]
        self.observation_names: list[str] = [entry["name"] for entry in metadata["observation"]]
        options = ort.SessionOptions()
        options.log_severity_level = 3
        self._session = ort.InferenceSession(model_bytes, options, providers=["CPUExecutionProvider"])

    @classmethod
    def load(cls, directory: str | Path) -> OnnxPolicy:
        """Read a policy directory written by :func:`export_policy`.

        :raises UserError: if a file is missing, policy.json is not of this format, or
            policy.onnx is not the file policy.json describes (its sha256 differs).
        """
        directory = Path(directory)
        meta_file, model_file = directory / "policy.json", directory / "policy.onnx"
        if not (meta_file.is_file() and model_file.is_file()):
            raise UserError(
                f"{directory}: not an exported policy (policy.json and policy.onnx expected; export.py makes them)"
            )
        try:
            meta = json.loads(meta_file.read_text())
        except (ValueError, UnicodeDecodeError) as error:
            raise UserError(f"{meta_file}: not valid JSON ({error})") from None
        if not isinstance(meta, dict) or meta.get("format") != FORMAT:
            raise UserError(f"{meta_file}: not a policy description of format {FORMAT}")
        missing = [key for key in REQUIRED_METADATA if key not in meta]
        if missing or not isinstance(meta["hashes"], dict) or "policy.onnx" not in meta["hashes"]:
            raise UserError(
                f"{meta_file}: incomplete policy description (missing: {', '.join(missing) or 'hashes.policy.onnx'})"
            )
        model_bytes = model_file.read_bytes()
        if sha256(model_bytes) != meta["hashes"]["policy.onnx"]:
            raise UserError(
                f"{model_file}: its sha256 differs from the one in policy.json (files of different exports?)"
            )
        return cls(model_bytes, meta)

    def act(self, obs: np.ndarray) -> np.ndarray:
        """Orders (int64, 0..max_order) for a batch of observations (n, obs_dim)."""
        obs = np.ascontiguousarray(obs, dtype=np.float32)
        if obs.ndim != 2 or obs.shape[1] != len(self.observation_names):
            raise ValueError(f"obs must have shape (n, {len(self.observation_names)}), got {obs.shape}")
        parts = [
            self._session.run(["order"], {"obs": obs[i : i + CHUNK_ROWS]})[0] for i in range(0, len(obs), CHUNK_ROWS)
        ]
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)

    def params(self) -> dict[str, Any]:
        return dict(self.metadata["params"])


def load_exported(directory: str | Path) -> tuple[OnnxPolicy, Scenario]:
    """An exported policy and the scenario it was exported for (for the evaluator)."""
    policy = OnnxPolicy.load(directory)
    try:
        scenario = Scenario.model_validate(policy.metadata["scenario"])
    except ValidationError as error:
        raise UserError(format_validation_error(f"{directory}/policy.json: scenario", error)) from None
    return policy, load_scenario(scenario)


# ---- the state file


@dataclass
class StateRows:
    """The valid rows of a state file, and the problems of the rows left out.

    :param skus: the SKU of each valid row.
    :param obs: float32 (n_valid, obs_dim), the observation of each valid row.
    :param lines: the line number of each valid row in the file.
    :param problems: ``(line, problem)`` of each row left out, in file order.
    """

    skus: list[str]
    obs: np.ndarray
    lines: np.ndarray
    problems: list[tuple[int, str]]


def read_state(path: str | Path, entries: list[dict[str, Any]]) -> StateRows:
    """Read and check a state file: a header with ``sku`` and one column per observation entry.

    Columns may come in any order and extra columns are ignored. A row is left out, with its
    line number and every problem found in it, when a value is missing, not a number, not a
    whole number where units are counted (or beyond :data:`MAX_UNITS`), negative where that is
    impossible, when it has the wrong number of fields, no SKU, or the SKU of an earlier row.
    Blank lines are skipped.

    :raises UserError: if the file is missing, unreadable, or lacks a column.
    """
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: state file not found")
    required = ["sku", *(entry["name"] for entry in entries)]
    problems: list[tuple[int, str]] = []
    lines, rows = [], []
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            reader = csv.reader(handle)
            header = [name.strip() for name in next(reader, [])]
            missing = [name for name in required if name not in header]
            if missing:
                raise UserError(
                    f"{path}: missing column(s) {', '.join(missing)} (the policy needs {','.join(required)})"
                )
            for row in reader:
                if len(row) == len(header) and any(row):
                    lines.append(reader.line_num)
                    rows.append(row)
                elif any(cell.strip() for cell in row):
                    problems.append((reader.line_num, f"has {len(row)} fields, the header has {len(header)}"))
    except (UnicodeDecodeError, csv.Error) as error:
        raise UserError(f"{path}: not a readable CSV ({error})") from None

    columns = list(zip(*rows)) or [()] * len(header)
    text = {name: pd.Series(columns[header.index(name)], dtype=object).str.strip() for name in required}
    lines_array = np.array(lines, dtype=np.int64)
    values = np.empty((len(rows), len(entries)), dtype=np.float64)
    row_problems: dict[int, list[str]] = {}

    def flag(bad: np.ndarray, describe: Callable[[int], str]) -> None:
        for i in np.flatnonzero(bad):
            row_problems.setdefault(int(i), []).append(describe(int(i)))

    skus = text["sku"]
    blank_sku = (skus == "").to_numpy()
    flag(blank_sku, lambda i: "sku: missing")
    repeated = skus.duplicated().to_numpy()
    first_line = dict(zip(skus[~repeated], lines_array[~repeated]))
    flag(repeated & ~blank_sku, lambda i: f"sku {skus.iat[i]!r} repeats line {first_line[skus.iat[i]]}")
    for j, entry in enumerate(entries):
        name, cells = entry["name"], text[entry["name"]]
        number = pd.to_numeric(cells, errors="coerce").to_numpy(dtype=np.float64)
        values[:, j] = number
        blank = (cells == "").to_numpy()
        finite = np.isfinite(number)
        flag(blank, lambda i: f"{name}: missing")
        flag(np.isnan(number) & ~blank, lambda i: f"{name}: not a number ({cells.iat[i]!r})")
        flag(np.isinf(number), lambda i: f"{name}: not a finite number ({cells.iat[i]!r})")
        if entry["whole_number"]:
            flag(finite & (number != np.round(number)), lambda i: f"{name}: not a whole number ({cells.iat[i]})")
            flag(
                finite & (np.abs(number) > MAX_UNITS), lambda i: f"{name}: beyond {MAX_UNITS:,} units ({cells.iat[i]})"
            )
        if entry["min"] is not None:
            flag(finite & (number < entry["min"]), lambda i: f"{name}: negative ({cells.iat[i]})")

    valid = np.ones(len(rows), dtype=bool)
    valid[list(row_problems)] = False
    problems += [(int(lines_array[i]), "; ".join(found)) for i, found in row_problems.items()]
    problems.sort()
    return StateRows(
        skus=skus[valid].tolist(), obs=values[valid].astype(np.float32), lines=lines_array[valid], problems=problems
    )


# ---- orders and explanations


@dataclass(frozen=True)
class _Group:
    """Observation entries explained together, and how to name one of their values."""

    key: str
    columns: list[int]
    describe: Callable[[str], str]  # the group's (mean) value, formatted, as a phrase


def _numbers(values: Any) -> list[str]:
    """Each value with 1 decimal, or none when it is a whole number at that precision ("" for NaN).

    Vectorised: formatting one number at a time would dominate the run time of 100,000 explanations.
    """
    values = np.asarray(values, dtype=np.float64).ravel()
    nearest = np.rint(np.nan_to_num(values))
    text = list(map(str, nearest.astype(np.int64).tolist()))
    for i in np.flatnonzero(np.abs(values - nearest) >= 0.05).tolist():
        text[i] = f"{values[i]:.1f}"
    for i in np.flatnonzero(np.isnan(values)).tolist():
        text[i] = ""
    return text


def _number(value: float) -> str:
    return _numbers([value])[0]


def _arrival(k: int) -> str:
    return "this period" if k == 0 else "next period" if k == 1 else f"in {k} periods"


def explanation_groups(names: list[str]) -> list[_Group]:
    """Readable groups of the observation entries: the stock, each pipeline slot, the recent
    demand, each demand feature (all features as one group beyond :data:`MAX_GROUPS` groups)."""
    by_key: dict[str, list[int]] = {}
    describers: dict[str, Callable[[str], str]] = {}
    features: dict[str, list[int]] = {}
    for i, name in enumerate(names):
        if name == "on_hand":
            key, describe = name, lambda v: f"{v} on hand"
        elif name == "net_inventory":
            key, describe = name, lambda v: f"net inventory {v}"
        elif name.startswith("arriving_in_"):
            k = int(name.removeprefix("arriving_in_"))
            key, describe = name, lambda v, k=k: f"{v} arriving {_arrival(k)}"
        elif name.startswith("demand_lag_"):
            key, describe = "recent_demand", lambda v: f"recent demand of {v} per period"
        else:
            feature = name.rsplit("_ahead_", 1)[0]
            features.setdefault(feature, []).append(i)
            continue
        by_key.setdefault(key, []).append(i)
        describers[key] = describe
    groups = [_Group(key, columns, describers[key]) for key, columns in by_key.items()]
    if len(groups) + len(features) <= MAX_GROUPS:
        groups += [
            _Group(f"{feature}_ahead", columns, lambda v, f=feature: f"{f} ahead at {v}")
            for feature, columns in features.items()
        ]
    elif features:
        columns = sorted(i for feature_columns in features.values() for i in feature_columns)
        groups.append(_Group("demand_features_ahead", columns, lambda v: "the demand features ahead"))
    return groups


def shapley_attributions(
    act: Callable[[np.ndarray], np.ndarray], obs: np.ndarray, reference: np.ndarray, groups: list[_Group]
) -> tuple[np.ndarray, np.ndarray, float]:
    """Exact Shapley values of groups of observation entries, against a reference state.

    The order of a row is ``act`` on the row; a coalition of groups takes those groups' entries
    from the row and the others from ``reference``. A group's value is its average marginal
    effect on the order over all coalitions, so the values of a row add up exactly to its
    order minus the reference's. Costs ``2^len(groups)`` evaluations of ``act`` per row.

    :return: the orders (n,), the attributions (n, n_groups) and the reference's order.
    """
    k, n, d = len(groups), len(obs), obs.shape[1]
    masks = np.arange(1 << k)
    member = ((masks[:, None] >> np.arange(k)) & 1).astype(bool)
    owner = np.empty(d, dtype=np.int64)
    for j, group in enumerate(groups):
        owner[group.columns] = j
    take = member[:, owner]
    orders = np.empty((len(masks), n))
    rows = max(1, CHUNK_ROWS // len(masks))
    for start in range(0, n, rows):
        part = obs[start : start + rows]
        coalitions = np.where(take[:, None, :], part[None], reference[None, None, :]).astype(np.float32)
        orders[:, start : start + rows] = act(coalitions.reshape(-1, d)).reshape(len(masks), len(part))
    size = member.sum(axis=1)
    # the Shapley weight of a coalition of s groups that leaves out the one being valued (s < k)
    weight = np.array(
        [math.factorial(s) * math.factorial(k - s - 1) / math.factorial(k) if s < k else 0.0 for s in size]
    )
    attributions = np.empty((n, k))
    for j in range(k):
        without = masks[~member[:, j]]
        attributions[:, j] = weight[without] @ (orders[without | (1 << j)] - orders[without])
    return orders[-1].astype(np.int64), attributions, float(orders[0, 0]) if n else math.nan


@dataclass
class Recommendations:
    """Orders for a batch of states, and what a buyer needs to judge them.

    :param orders: int64 (n,), the order quantities.
    :param position: (n,), the inventory position: on hand (net) plus everything on order.
    :param order_up_to: (n,), the level the order lifts the position to; when nothing is ordered,
        the policy's typical order-up-to level.
    :param demand_through_arrival: the expected demand from this period through the period an
        order placed now arrives (the lead time plus one period: what the inventory position
        has to cover under this project's event order).
    :param arrival_period: periods until the order arrives (the rounded mean for a stochastic
        lead time; the explanation gives the range).
    :param groups: the keys of the attribution groups.
    :param attributions: (n, n_groups), what each group added to the order (Shapley values
        against the policy's typical state; they add up to order minus typical_order).
    :param typical_order: the order in the typical state.
    :param review_above: the cap above which an order needs review.
    :param needs_review: bool (n,), the order exceeds ``review_above``.
    :param explanations: one sentence per row.
    """

    orders: np.ndarray
    position: np.ndarray
    order_up_to: np.ndarray
    demand_through_arrival: float
    arrival_period: int
    groups: list[str]
    attributions: np.ndarray
    typical_order: float
    review_above: int
    needs_review: np.ndarray
    explanations: list[str]


def recommend(policy: OnnxPolicy, obs: np.ndarray, review_above: int | None = None) -> Recommendations:
    """Orders, attributions and a sentence per row of ``obs``.

    :param policy: the exported policy.
    :param obs: float32 (n, obs_dim), one row per SKU, in the policy's observation layout.
    :param review_above: flag orders above this many units; default: policy.json's
        ``explanation.review_above`` (the 99th percentile of its simulated orders).
    """
    meta = policy.metadata
    explanation = meta["explanation"]
    n_pipeline = meta["n_pipeline"]
    groups = explanation_groups(policy.observation_names)
    reference = np.asarray(explanation["typical_state"], dtype=np.float32)
    orders, attributions, typical_order = shapley_attributions(policy.act, obs, reference, groups)
    position = obs[:, : 1 + n_pipeline].sum(axis=1, dtype=np.float64)
    typical_level = explanation["order_up_to_level"]
    order_up_to = np.where(orders > 0, position + orders, np.nan if typical_level is None else typical_level)
    review_above = explanation["review_above"] if review_above is None else review_above
    needs_review = orders > review_above

    lead = meta["lead_time"]
    demand_through_arrival = meta["mean_demand"] * (lead["mean"] + 1)
    if lead["values"] == [0]:
        context = f"an expected demand of {_number(demand_through_arrival)} this period (the order arrives at once)"
    elif len(lead["values"]) == 1:
        context = (
            f"an expected demand of {_number(demand_through_arrival)} over this period and the "
            f"{lead['values'][0]}-period lead time"
        )
    else:
        context = (
            f"an expected demand of {_number(demand_through_arrival)} over this period and the lead time of "
            f"{min(lead['values'])} to {max(lead['values'])} periods ({lead['mean']:.1f} on average)"
        )
    typical_text = "" if typical_level is None else f"; it typically orders up to {typical_level}"
    typical_order_text = _number(typical_order)
    stock = "{} on hand" if policy.observation_names[0] == "on_hand" else "net inventory {}"
    on_order = [f" + {text} on order" if n_pipeline else "" for text in _numbers(position - obs[:, 0])]
    stock_texts, position_texts, level_texts = _numbers(obs[:, 0]), _numbers(position), _numbers(order_up_to)
    reason_texts = []  # per group, per row: what the group did to the order, or "" when it did nothing
    for j, group in enumerate(groups):
        typical_value = _number(reference[group.columns].mean())
        typically = "" if group.key == "demand_features_ahead" else f" (typically {typical_value})"
        values = _numbers(obs[:, group.columns].mean(axis=1))
        effects = _numbers(np.abs(attributions[:, j]))
        directions = np.where(attributions[:, j] > 0, "raised", "lowered").tolist()
        shown = (np.abs(attributions[:, j]) >= 0.05).tolist()
        reason_texts.append(
            [
                f"{group.describe(value)}{typically} {direction} it by {effect}" if show else ""
                for value, effect, direction, show in zip(values, effects, directions, shown)
            ]
        )
    ranked = np.argsort(-np.abs(attributions), axis=1, kind="stable")[:, :3].tolist()

    explanations = []
    for i, (order, review) in enumerate(zip(orders.tolist(), needs_review.tolist())):
        stock_text = stock.format(stock_texts[i])
        situation = f"inventory position {position_texts[i]} ({stock_text}{on_order[i]}) against {context}"
        if order > 0:
            sentence = f"Order {order}, up to {level_texts[i]}: {situation}."
        else:
            sentence = f"No order: {situation}{typical_text}."
        reasons = [reason_texts[j][i] for j in ranked[i] if reason_texts[j][i]]
        if reasons:
            sentence += f" Against a typical state (order {typical_order_text}): {'; '.join(reasons)}."
        else:
            sentence += f" As in a typical state (order {typical_order_text})."
        if review:
            sentence += f" Above the review cap of {review_above}: check before ordering."
        explanations.append(sentence)
    return Recommendations(
        orders=orders,
        position=position,
        order_up_to=order_up_to,
        demand_through_arrival=demand_through_arrival,
        arrival_period=int(round(lead["mean"])),
        groups=[g.key for g in groups],
        attributions=attributions,
        typical_order=typical_order,
        review_above=review_above,
        needs_review=needs_review,
        explanations=explanations,
    )


ORDER_COLUMNS = (
    "sku",
    "order_quantity",
    "expected_arrival_period",
    "policy",
    "needs_review",
    "inventory_position",
    "expected_demand_through_arrival",
    "order_up_to_level",
    "explanation",
)


def _plain_numbers(values: np.ndarray) -> list[int | float | None]:
    """Whole numbers as int, others as float, NaN as None (for JSON)."""
    return [
        None if v != v else int(v) if v.is_integer() else round(v, 3)
        for v in np.asarray(values, dtype=np.float64).tolist()
    ]


def write_orders(
    path: str | Path, fmt: str, policy: OnnxPolicy, state: StateRows, recs: Recommendations, state_file: str
) -> None:
    """Write one purchase-order line per SKU as CSV or JSON, atomically (a temporary file renamed into place).

    The columns are :data:`ORDER_COLUMNS`. JSON also carries every attribution and the rows
    left out of the state file; it has one order per line, so a large file stays readable and
    quick to write.
    """
    path = Path(path)
    n = len(state.skus)
    numbers = _numbers if fmt == "csv" else _plain_numbers
    rows = zip(
        state.skus,
        recs.orders.tolist(),
        [recs.arrival_period] * n,
        [policy.name] * n,
        recs.needs_review.tolist(),
        numbers(recs.position),
        [round(recs.demand_through_arrival, 2)] * n,
        numbers(recs.order_up_to),
        recs.explanations,
    )
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(ORDER_COLUMNS)
        writer.writerows(rows)
        text = buffer.getvalue()
    else:
        orders = [
            json.dumps({**dict(zip(ORDER_COLUMNS, row)), "attributions": dict(zip(recs.groups, attributions))})
            for row, attributions in zip(rows, recs.attributions.round(3).tolist())
        ]
        head = json.dumps(
            {
                "policy": {"name": policy.name, "sha256": policy.metadata["hashes"]["policy.onnx"]},
                "state_file": state_file,
                "typical_order": recs.typical_order,
                "review_above": recs.review_above,
                "skipped_rows": [{"line": line, "problem": problem} for line, problem in state.problems],
            },
            indent=1,
        )
        text = head[:-2] + ',\n "orders": [\n' + ",\n".join(orders) + "\n ]\n}\n"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = tempfile.NamedTemporaryFile("w", dir=path.parent, prefix=f".{path.name}.", delete=False, newline="")
    except OSError as error:
        raise UserError(f"{path}: cannot write the orders here ({error.strerror})") from None
    try:
        with handle:
            handle.write(text)
        os.replace(handle.name, path)
    finally:
        if os.path.exists(handle.name):
            os.unlink(handle.name)
