"""A general single-item policy: one network that orders for any item in its range, and its files.

The network maps an item's :data:`envs.general.FEATURES` to an action in [-1, 1] (the shift of the
order-up-to level of the item's base (s, S) policy, :mod:`envs.general`). It is stored as plain data, never as a
pickle: ``general_policy.json`` (what it observes, its layers, the range it was trained on, how)
and ``general_policy.npz`` (the weights, read with ``allow_pickle=False``). The JSON holds the
SHA-256 digest of the weights file, checked on load.

Two formats: :data:`FORMAT`, the single-item policy (:data:`envs.general.FEATURES`), and
:data:`CONSTRAINED_FORMAT`, the policy for items sharing a warehouse
(:data:`envs.constrained.CONSTRAINED_FEATURES`, with its capacity price ``capacity_price`` in the
JSON); :data:`FORMATS` holds what each observes. A loader names the formats it accepts, so a
command made for one never runs the other.
"""

from __future__ import annotations

import hashlib
import io
import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from envs.assortment import SkuView, is_assortment
from envs.constrained import CONSTRAINED_FEATURES, CONSTRAINED_MAX_LEAD_TIME, ConstrainedItems, StorageLimit, floored
from envs.errors import UserError
from envs.files import Content, write_directory
from envs.general import FEATURES, MAX_LEAD_TIME, PARAMETERS, item_features
from envs.general_base import BasePolicy, items_of
from envs.inputs import shown_path
from envs.scenario import AnyScenario, Scenario

META_FILE = "general_policy.json"
WEIGHTS_FILE = "general_policy.npz"
FORMAT = "general-single-item-policy/2"  # /2: the base (s, S) policy of envs.general
CONSTRAINED_FORMAT = "general-constrained-policy/1"  # envs.constrained: items sharing a warehouse, priced
# what a policy of each format observes: its features and the longest lead time of its pipeline entries
FORMATS: dict[str, tuple[tuple[str, ...], int]] = {
    FORMAT: (FEATURES, MAX_LEAD_TIME),
    CONSTRAINED_FORMAT: (CONSTRAINED_FEATURES, CONSTRAINED_MAX_LEAD_TIME),
}
ACTIVATIONS: dict[str, type[nn.Module]] = {"tanh": nn.Tanh, "relu": nn.ReLU}


def actor_network(layers: list[tuple[np.ndarray, np.ndarray]], activation: str) -> nn.Sequential:
    """The deterministic actor as torch layers: Linear, activation, ..., Linear (the action mean)."""
    modules: list[nn.Module] = []
    for k, (weight, bias) in enumerate(layers):
        linear = nn.Linear(weight.shape[1], weight.shape[0])
        with torch.no_grad():
            linear.weight.copy_(torch.as_tensor(weight, dtype=torch.float32))
            linear.bias.copy_(torch.as_tensor(bias, dtype=torch.float32))
        modules.append(linear)
        if k < len(layers) - 1:
            modules.append(ACTIVATIONS[activation]())
    return nn.Sequential(*modules).eval()


def sb3_actor_layers(model: Any) -> list[tuple[np.ndarray, np.ndarray]]:
    """The (weight, bias) pairs of a PPO MlpPolicy's actor: its policy network, then its action layer."""
    linears = [m for m in model.policy.mlp_extractor.policy_net if isinstance(m, nn.Linear)]
    linears.append(model.policy.action_net)
    return [(m.weight.detach().cpu().numpy().copy(), m.bias.detach().cpu().numpy().copy()) for m in linears]


def widened_layers(
    layers: list[tuple[np.ndarray, np.ndarray]], old: tuple[str, ...], new: tuple[str, ...]
) -> list[tuple[np.ndarray, np.ndarray]]:
    """The layers of a network reading features ``old`` made to read ``new``: the first layer's column of
    each feature in both is kept, a new feature's column is zero (the network ignores it until trained),
    so on inputs whose shared features agree both networks give the same action."""
    weight, bias = layers[0]
    wide = np.zeros((weight.shape[0], len(new)), dtype=weight.dtype)
    for k, name in enumerate(old):
        if name in new:
            wide[:, new.index(name)] = weight[:, k]
    return [(wide, bias.copy()), *((w.copy(), b.copy()) for w, b in layers[1:])]


def save_general(
    directory: Path,
    layers: list[tuple[np.ndarray, np.ndarray]],
    activation: str,
    about: dict[str, Any],
    format: str = FORMAT,
) -> None:
    """Write the policy files as the directory ``directory``, all or nothing (an earlier policy there is replaced);
    ``format`` one of :data:`FORMATS` (its features and lead time are recorded)."""
    features, max_lead_time = FORMATS[format]
    buffer = io.BytesIO()
    arrays = {f"{kind}_{k}": array for k, pair in enumerate(layers) for kind, array in zip("wb", pair, strict=True)}
    np.savez(buffer, **arrays)  # type: ignore[arg-type]  # numpy's stub mistypes the arrays
    weights = buffer.getvalue()
    meta = {
        "format": format,
        "features": list(features),
        "max_lead_time": max_lead_time,
        "activation": activation,
        "layers": len(layers),
        "weights_sha256": hashlib.sha256(weights).hexdigest(),
        **about,
    }
    files: dict[str, Content] = {WEIGHTS_FILE: weights, META_FILE: json.dumps(meta, indent=2) + "\n"}
    write_directory(directory, files, replaceable=lambda old: {p.name for p in old.iterdir()} <= set(files),
                    what="general policy")  # fmt: skip


def general_format(path: str | Path) -> str:
    """The format a general policy directory names in its JSON (``""`` when it names none); load_general
    checks the rest."""
    try:
        meta = json.loads((Path(path) / META_FILE).read_text())
    except (OSError, ValueError):
        return ""
    found = meta.get("format") if isinstance(meta, dict) else None
    return found if isinstance(found, str) else ""


def is_general_policy(path: str | Path) -> bool:
    return (Path(path) / META_FILE).is_file()


def load_general(path: str | Path, format: str = FORMAT) -> tuple[nn.Sequential, dict[str, Any]]:
    """The actor network and the JSON of a general policy directory of ``format`` (one of :data:`FORMATS`);
    one-line errors for what does not fit."""
    directory = Path(path)
    meta_file, weights = directory / META_FILE, directory / WEIGHTS_FILE
    features, max_lead_time = FORMATS[format]
    try:
        meta = json.loads(meta_file.read_text())
        if not isinstance(meta, dict) or meta.get("format") != format:
            found = meta.get("format") if isinstance(meta, dict) else None
            raise ValueError(f"not a {format} file" + (f" but {found}" if isinstance(found, str) else ""))
        if meta.get("features") != list(features) or meta.get("max_lead_time") != max_lead_time:
            raise ValueError("made for other features than this version observes")
        if format == CONSTRAINED_FORMAT and not (isinstance(meta.get("capacity_price"), int | float)
                                                  and meta["capacity_price"] >= 0):  # fmt: skip
            raise ValueError("capacity_price must be a number at least 0")
        if meta.get("activation") not in ACTIVATIONS:
            raise ValueError(f"unknown activation {meta.get('activation')!r}")
        data = weights.read_bytes()
        if hashlib.sha256(data).hexdigest() != meta.get("weights_sha256"):
            raise ValueError(f"{WEIGHTS_FILE} is not the file its JSON names (digest differs)")
        with np.load(weights, allow_pickle=False) as arrays:
            layers = [(arrays[f"w_{k}"], arrays[f"b_{k}"]) for k in range(int(meta["layers"]))]
        sizes = [len(features)] + [w.shape[0] for w, _ in layers]
        if any(w.shape != (sizes[k + 1], sizes[k]) or b.shape != (sizes[k + 1],) for k, (w, b) in enumerate(layers)):
            raise ValueError("layer shapes do not chain")
        if sizes[-1] != 1:
            raise ValueError("the last layer must give one action")
    except (OSError, ValueError, KeyError, TypeError, json.JSONDecodeError) as error:
        raise UserError(f"{shown_path(directory)}: not a general policy ({error})") from None
    return actor_network(layers, meta["activation"]), meta


class GeneralPolicy(BasePolicy):
    """A general policy ordering for a single item or for every item of an assortment
    (see :class:`envs.policy.Policy`): each item's features from the observation and the
    scenario's parameters, the network's action, the item's order-up-to level. Items outside
    ``trained_range`` (general_policy.json's ``range``) are ordered for, with a warning naming them."""

    def __init__(
        self, actor: nn.Sequential, scenario: AnyScenario, name: str = "general", trained_range: dict | None = None
    ) -> None:
        if not (isinstance(scenario, Scenario) or is_assortment(scenario)):
            raise UserError(
                f"{scenario.name}: a general policy orders for a single item or an assortment, "
                "and this is neither a single item nor an assortment (a network of stock points)"
            )
        super().__init__(scenario)
        outside = self.items.outside(trained_range or {})
        if outside:
            warnings.warn(f"{scenario.name}: outside the range the general policy was trained on: {'; '.join(outside)}",
                          stacklevel=2)  # fmt: skip
        self.actor, self.name = actor, name

    def actions(self, rows: np.ndarray) -> np.ndarray:
        """The network's actions (n, J) for SkuView rows (n, J, width)."""
        features = item_features(rows, self.items)
        with torch.no_grad():
            out = self.actor(torch.from_numpy(features.reshape(-1, len(FEATURES))))
        return out.numpy().reshape(rows.shape[:2]).astype(np.float64)

    def params(self) -> dict[str, Any]:
        return {"policy": "general"}


class ConstrainedGeneralPolicy(BasePolicy):
    """A constrained general policy ordering for every item of an assortment sharing a warehouse (see
    :class:`envs.policy.Policy` and :mod:`envs.constrained`): each item's constrained features, the
    network's action, the order-up-to level of its base policy priced at ``price``.

    Args:
        actor: the network (:func:`actor_network`), reading CONSTRAINED_FEATURES.
        scenario: the assortment.
        price: the capacity price lambda per unit of volume and period.
        parameters: the items' parameter table (as :attr:`envs.assortment.SkuView.parameters`) to use
            instead of the scenario's own, e.g. mean demand estimated on days before the ones simulated
            (either floored, :func:`envs.constrained.floored`).
        trained_range: general_policy.json's ``range``; items outside it are ordered for, with a warning.
    """

    def __init__(
        self,
        actor: nn.Sequential,
        scenario: AnyScenario,
        price: float,
        name: str = "general_constrained",
        parameters: np.ndarray | None = None,
        trained_range: dict | None = None,
    ) -> None:
        if not is_assortment(scenario):
            raise UserError(f"{scenario.name}: a constrained general policy orders for an assortment")
        view = SkuView(scenario)
        raw = items_of(
            scenario, view, CONSTRAINED_MAX_LEAD_TIME, floored(view.parameters if parameters is None else parameters)
        )
        volume = view.parameters[:, PARAMETERS.index("volume")]
        self.constrained = ConstrainedItems(raw, volume, price, StorageLimit.of(view.layout.system))
        super().__init__(scenario, view, self.constrained.priced)
        outside = self.items.outside(trained_range or {})
        if outside:
            warnings.warn(f"{scenario.name}: outside the range the general policy was trained on (priced): "
                          f"{'; '.join(outside)}", stacklevel=2)  # fmt: skip
        self.actor, self.name, self.price = actor, name, price

    def actions(self, rows: np.ndarray) -> np.ndarray:
        """The network's actions (n, J) for SkuView rows (n, J, width)."""
        features = self.constrained.features(rows)
        with torch.no_grad():
            out = self.actor(torch.from_numpy(features.reshape(-1, len(CONSTRAINED_FEATURES))))
        return out.numpy().reshape(rows.shape[:2]).astype(np.float64)

    def params(self) -> dict[str, Any]:
        return {"policy": "general_constrained", "capacity_price": self.price}
