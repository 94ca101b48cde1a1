"""Export a general single-item policy: its actor as policy.onnx, policy.json saying how to feed it.

The graph is the actor of :func:`agents.rl.general.load_general` traced with ``torch.onnx.export``:
input ``features`` float32 [n, len(FEATURES)] (:func:`envs.general.item_features`), output
``action`` float32 [n] (the action mean, before :func:`envs.general.level_orders` clips it and
turns it into an order). policy.json is marked ``kind: general``: it has no scenario; it records
the features, the state and parameter columns recommend.py reads (:mod:`agents.deploy.general`),
what the policy was trained on, the parity check, package versions, hashes and the digest binding
the two files, as every export does (:func:`agents.deploy.export.export_policy`).

The parity check: on the features of rollouts of the policy on several single-item scenarios
(:data:`PARITY_SCENARIOS`: a grid scenario and held-out training files of issue 14, lost sales and
backorders, fixed and random lead times, with and without a fixed order cost) the ONNX actions
must equal the torch actor's within :data:`ACTION_TOLERANCE`, and the orders they give must be
the same.
"""

from __future__ import annotations

import io
import json
import math
import warnings
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import torch
from torch import nn

from agents.deploy.export import PACKAGES, ROLLOUT_SEED, replaceable_export, rollout_observations
from agents.deploy.general import PARAMETER_COLUMNS, STOCK_COLUMNS, state_columns
from agents.deploy.graphs import OPSET
from agents.deploy.runtime import FORMAT, GENERAL_KIND, onnx_session, policy_digest, sha256
from agents.provenance import package_versions
from agents.rl.general import META_FILE, WEIGHTS_FILE, GeneralPolicy, load_general
from envs.files import check_output_directory, write_directory
from envs.general import FEATURES, MAX_LEAD_TIME, item_features, level_orders, positions
from envs.scenario import Scenario, load_scenario

_HELDOUT = Path(__file__).resolve().parents[2] / "benchmarks" / "heldout" / "scenarios" / "training"
# Single items whose rollouts the export is checked on: lost sales with a fixed lead time (the grid),
# lost sales with a random lead time of 3 or 4, backorders with an order cost and negative binomial
# demand, backorders with a lead time of 4 and an order cost.
PARITY_SCENARIOS = (
    "lost_sales_L2_p9",
    str(_HELDOUT / "training_02.yaml"),
    str(_HELDOUT / "training_04.yaml"),
    str(_HELDOUT / "training_10.yaml"),
)
ACTION_TOLERANCE = 1e-5
INPUT, OUTPUT = "features", "action"


def actor_graph(actor: nn.Sequential) -> onnx.ModelProto:
    """The actor as an ONNX graph: ``features`` float32 [n, len(FEATURES)] -> ``action`` float32 [n]."""

    class Flat(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.actor = actor

        def forward(self, features: torch.Tensor) -> torch.Tensor:
            return self.actor(features)[:, 0]

    buffer = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # the TorchScript exporter is deprecated; the dynamo one needs onnxscript
        torch.onnx.export(
            Flat().eval(),
            (torch.zeros(2, len(FEATURES)),),
            buffer,  # type: ignore[arg-type]  # the TorchScript exporter writes to a file object too
            input_names=[INPUT],
            output_names=[OUTPUT],
            dynamic_axes={INPUT: {0: "n"}, OUTPUT: {0: "n"}},
            opset_version=OPSET,
            dynamo=False,
        )
    model = onnx.load_from_string(buffer.getvalue())
    onnx.checker.check_model(model, full_check=True)
    return model


def parity_check(actor: nn.Sequential, model_bytes: bytes, observations: int) -> dict[str, Any]:
    """The ONNX actions and orders against the torch actor's on features of its rollouts on
    :data:`PARITY_SCENARIOS` (``observations`` in all, shared between them).

    Returns:
        policy.json's ``parity``: per scenario the count of features, the largest action difference
        and the count of orders that differ; and the totals.
    """
    session = onnx_session(model_bytes)
    per_scenario = math.ceil(observations / len(PARITY_SCENARIOS))
    checked: list[dict[str, Any]] = []
    for name in PARITY_SCENARIOS:
        scenario = load_scenario(name)
        assert isinstance(scenario, Scenario)
        policy = GeneralPolicy(actor, scenario)
        obs = rollout_observations(policy, scenario, per_scenario)
        rows = policy.view.rows(obs.reshape(-1, obs.shape[-1])[:per_scenario])
        expected = policy.actions(rows)  # the torch actor, (n, 1)
        features = item_features(rows, policy.items).reshape(-1, len(FEATURES))
        got = session.run([OUTPUT], {INPUT: features})[0].astype(np.float64)[:, None]
        position = positions(rows, policy.items)
        differ = level_orders(expected, position, policy.items) != level_orders(got, position, policy.items)
        checked.append(
            {
                "scenario": scenario.name,
                "features": len(rows),
                "largest_action_difference": float(np.abs(expected - got).max(initial=0.0)),
                "order_mismatches": int(differ.sum()),
            }
        )
    return {
        "features": sum(c["features"] for c in checked),
        "largest_action_difference": max(c["largest_action_difference"] for c in checked),
        "order_mismatches": sum(c["order_mismatches"] for c in checked),
        "tolerance": ACTION_TOLERANCE,
        "scenarios": checked,
        "against": "the torch actor of agents.rl.general.load_general, orders by envs.general.level_orders",
        "rollout_seed": ROLLOUT_SEED,
    }


def export_general(source: str | Path, out_dir: str | Path, parity_observations: int) -> dict[str, Any]:
    """Export the general policy in directory ``source`` to ``out_dir`` (policy.onnx + policy.json together,
    replacing an earlier export there), after the parity check.

    Returns:
        the content of policy.json.

    Raises:
        UserError: if ``source`` is not a general policy (:func:`load_general`) or ``out_dir`` cannot be written.
    """
    out = check_output_directory(out_dir, replaceable_export)
    actor, trained = load_general(source)
    model_bytes = actor_graph(actor).SerializeToString()
    source_dir = Path(source).resolve()
    meta: dict[str, Any] = {
        "format": FORMAT,
        "name": source_dir.name,
        "kind": GENERAL_KIND,
        "params": {"policy": "general", "source": source_dir.name},
        "features": list(FEATURES),
        "max_lead_time": MAX_LEAD_TIME,
        "state_columns": state_columns(),
        "parameter_columns": list(PARAMETER_COLUMNS),
        "stock_columns": list(STOCK_COLUMNS),
        "trained": trained,
        "action_mapping": (
            "a = the actor's output clipped to [-1, 1]; level = s + Q [position <= s] + a * scale with s, Q and "
            "scale from the SKU's parameters (envs.general); order = round(level - inventory position), "
            "clipped to 0..max_order"
        ),
        "onnx": {"file": "policy.onnx", "input": INPUT, "output": OUTPUT, "opset": OPSET},
        "parity": parity_check(actor, model_bytes, parity_observations),
        "hashes": {
            "policy.onnx": sha256(model_bytes),
            "source": {
                "file": str(source_dir / WEIGHTS_FILE),
                "sha256": sha256((source_dir / WEIGHTS_FILE).read_bytes()),
                "meta_sha256": sha256((source_dir / META_FILE).read_bytes()),
            },
        },
        "versions": package_versions(PACKAGES),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    meta = json.loads(json.dumps(meta))  # as it will be read back, for the digest
    meta["digest"] = policy_digest(model_bytes, meta)
    write_directory(
        out, {"policy.onnx": model_bytes, "policy.json": json.dumps(meta, indent=2) + "\n"}, replaceable_export
    )
    return meta
