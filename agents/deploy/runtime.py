"""An exported policy at run time: onnxruntime on policy.onnx, described by policy.json.

A policy directory (written by :func:`agents.deploy.export.export_policy`) holds::

    policy.onnx   input "obs" float32 [N, obs_dim] -> output "order" int64 [N], each in 0..max_order
    policy.json   the scenario, the observation layout, the action mapping, the costs, the
                  reference state of the explanations, the parity check, package versions, hashes

A general single-item policy (``kind: general``, exported by :mod:`agents.deploy.general_export`)
has no scenario: its policy.onnx maps ``features`` float32 [N, len(FEATURES)] to ``action``
float32 [N], and each SKU brings its own parameters (:mod:`agents.deploy.general`).

Loading one needs numpy, json and onnxruntime only, and unpickles nothing.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import onnxruntime as ort

from envs.errors import UserError

FORMAT = "inventory-policy/2"  # /2: the observation layout replaced n_pipeline
# Keys of policy.json the deployment side reads: of every policy, of a policy exported for a scenario,
# of one item's, of a network's, of a general policy's.
REQUIRED_METADATA = ("name", "hashes", "digest", "params")
SCENARIO_METADATA = ("observation", "explanation", "scenario", "layout")
ITEM_METADATA = ("position_columns", "lead_time", "mean_demand")
NETWORK_METADATA = ("stock_points",)
GENERAL_KIND = "general"
GENERAL_METADATA = ("features", "max_lead_time", "state_columns", "parameter_columns", "onnx")
# Rows per onnxruntime call: bounds the memory of the hidden layers on large batches.
CHUNK_ROWS = 1 << 18


def position_columns(metadata: dict[str, Any]) -> slice:
    """The observation columns whose sum is the inventory position (stock and pipeline entries), from policy.json."""
    start, stop = metadata["position_columns"]
    return slice(start, stop)


def sha256(data: bytes) -> str:
    """The SHA-256 of ``data`` in hex, as policy.json records it."""
    return hashlib.sha256(data).hexdigest()


def policy_digest(model_bytes: bytes, meta: dict[str, Any]) -> str:
    """One SHA-256 over policy.onnx and policy.json (all of it but this ``digest``), in hex.

    policy.json records it, so that neither file can change without the other: an edited
    observation list, lead time or cost in policy.json changes the orders recommend.py makes as
    surely as a different ONNX graph does. It guards against mix-ups and careless edits, not
    against someone who recomputes it (that would take a signature).
    """
    described = {key: value for key, value in meta.items() if key != "digest"}
    text = json.dumps(described, sort_keys=True, separators=(",", ":"))
    return sha256(model_bytes + b"\0" + text.encode())


class ExportedPolicy(Protocol):
    """What the order writers read of an exported policy: its name and policy.json's content."""

    name: str
    metadata: dict[str, Any]


def read_policy_directory(directory: str | Path) -> tuple[bytes, dict[str, Any]]:
    """policy.onnx and the content of policy.json of a directory written by export.py, checked.

    Raises:
        UserError: if a file is missing, policy.json is not of this format or lacks a key its kind
            needs, policy.onnx is not the file policy.json describes (its sha256 differs), or the
            two are not the pair they were exported as (:func:`policy_digest`).
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
    if is_general(meta):
        kind_keys: tuple[str, ...] = GENERAL_METADATA
    else:
        kind_keys = (*SCENARIO_METADATA, *(NETWORK_METADATA if "stock_points" in meta else ITEM_METADATA))
    missing = [key for key in (*REQUIRED_METADATA, *kind_keys) if key not in meta]
    if missing or not isinstance(meta["hashes"], dict) or "policy.onnx" not in meta["hashes"]:
        raise UserError(
            f"{meta_file}: incomplete policy description (missing: {', '.join(missing) or 'hashes.policy.onnx'})"
        )
    model_bytes = model_file.read_bytes()
    if sha256(model_bytes) != meta["hashes"]["policy.onnx"]:
        raise UserError(f"{model_file}: its sha256 differs from the one in policy.json (files of different exports?)")
    if meta["digest"] != policy_digest(model_bytes, meta):
        raise UserError(
            f"{meta_file}: its digest does not match policy.json and policy.onnx together "
            "(policy.json was edited after export, or comes from another export); export the policy again"
        )
    return model_bytes, meta


def is_general(metadata: dict[str, Any]) -> bool:
    """Whether policy.json describes a general single-item policy (no scenario; each SKU brings its parameters)."""
    return metadata.get("kind") == GENERAL_KIND


def onnx_session(model_bytes: bytes) -> ort.InferenceSession:
    """An onnxruntime session on the CPU that logs errors only."""
    options = ort.SessionOptions()
    options.log_severity_level = 3
    return ort.InferenceSession(model_bytes, options, providers=["CPUExecutionProvider"])


class OnnxPolicy:
    """An exported policy as a :class:`envs.policy.Policy`: onnxruntime on policy.onnx.

    Args:
        model_bytes: the ONNX model (input ``obs``, output ``order``).
        metadata: policy.json's content (at least ``name`` and ``observation``).
    """

    def __init__(self, model_bytes: bytes, metadata: dict[str, Any]) -> None:
        self.metadata = metadata
        self.name: str = metadata["name"]
        self.observation_names: list[str] = [entry["name"] for entry in metadata["observation"]]
        self._session = onnx_session(model_bytes)

    @classmethod
    def load(cls, directory: str | Path) -> OnnxPolicy:
        """Read a policy directory written by :func:`export_policy` (:func:`read_policy_directory`).

        Raises:
            UserError: as :func:`read_policy_directory`, or for a general policy (it has no scenario
                of its own: recommend.py reads it with :mod:`agents.deploy.general`).
        """
        model_bytes, meta = read_policy_directory(directory)
        if is_general(meta):
            raise UserError(
                f"{directory}: a general policy (each SKU brings its own parameters): recommend.py orders with it; "
                "to evaluate it, give evaluate.py the general policy directory it was exported from"
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
