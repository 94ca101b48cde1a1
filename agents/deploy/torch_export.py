"""A stable-baselines3 model as an ONNX graph, traced with ``torch.onnx.export``.

The only deploy module that imports torch: :func:`agents.deploy.export.learned_source` imports
it when a trained model is exported, so exporting a classic policy, or recommending orders,
never loads torch.
"""

from __future__ import annotations

import io
import warnings
from typing import Any, cast

import numpy as np
import onnx
import torch
from gymnasium import spaces
from stable_baselines3.common.policies import ActorCriticPolicy

from agents.deploy.graphs import OPSET
from envs.actions import ActionMap
from envs.layout import ObservationLayout
from envs.scenario import NetworkScenario


def sb3_graph(policy: Any, layout: ObservationLayout) -> tuple[onnx.ModelProto, str]:
    """An :class:`agents.rl.policy.SB3Policy` as an ONNX graph, and its action mapping in words.

    The graph computes what ``SB3Policy.act`` does: VecNormalize's
    ``clip((obs - mean) / sqrt(var + eps), -clip_obs, clip_obs)`` in float64, cast to float32
    as VecNormalize does, then the network's deterministic action -- PPO: the actor's mean
    ``a`` clipped to [-1, 1] and mapped as ``envs.actions.ActionMap`` does,
    ``round((a + 1) / 2 * R)`` in float32, half to even (numpy's rint and ONNX Round agree);
    PPO with a discrete action or DQN: the argmax of the logits or Q-values (the first on
    ties, as torch; for a network, of each stock point's block of logits). With order-up-to
    actions the value is a level and the order is the level minus the (echelon) inventory
    position of the raw observation; with corrections the order is ``round(a * R)`` plus the
    order of the scenario's ``action_base`` (:func:`envs.rules.reorder_rule`) at that position.
    Output: (n,) orders for one stock point, (n, J) for a network.
    """
    network, scenario, normalizer = policy.model.policy, policy.scenario, policy.normalizer
    system = layout.system
    max_order = torch.as_tensor(system.max_order)
    ranges = torch.as_tensor(system.action_ranges, dtype=torch.float32)
    segments = (system.action_ranges + 1).tolist()
    levels = scenario.action_meaning == "level"
    correction = scenario.action_meaning == "correction"
    on_network = isinstance(scenario, NetworkScenario)
    # the corrected policy's (reorder point, order-up-to level, batch, cap), one row per stock point
    rule = torch.as_tensor(ActionMap(scenario, layout).rule if correction else np.ones((len(system.names), 4), int))
    echelon = torch.as_tensor(layout.position_matrix(echelon=True))
    continuous = isinstance(network.action_space, spaces.Box)
    if isinstance(network, ActorCriticPolicy):

        def head(x: torch.Tensor) -> torch.Tensor:
            features = cast(torch.Tensor, network.extract_features(x, network.pi_features_extractor))  # a Box
            return network.action_net(network.mlp_extractor.forward_actor(features))

        range_text = system.action_ranges.tolist() if len(segments) > 1 else int(system.action_ranges[0])
        if correction:
            base = scenario.action_base.model_dump(exclude_none=True)
            where = "echelon inventory position" if on_network else "inventory position (on hand + on order)"
            mapping = (
                f"a = actor mean clipped to [-1, 1]; order = round(a * {range_text}) + the order of "
                f"{base.pop('policy')} {base} at the {where}"
            )
        elif continuous:
            mapping = f"a = actor mean clipped to [-1, 1]; value = round((a + 1) / 2 * {range_text})"
        else:
            mapping = "value = argmax of the actor's logits"
    else:
        head = network.q_net
        mapping = "value = argmax of the Q-values"
    position = "echelon inventory position" if len(segments) > 1 else "inventory position (on hand + on order)"
    if levels:
        mapping += f"; order = value - {position}, rounded"
    elif not correction:
        mapping += "; order = value"
    normalize = normalizer is not None and normalizer.norm_obs
    if normalize:
        mapping = "obs scaled as VecNormalize: clip((obs - mean) / sqrt(var + eps), -clip_obs, clip_obs); " + mapping

    class DeterministicOrders(torch.nn.Module):
        mean: torch.Tensor  # buffers, registered when the observations are normalised
        std: torch.Tensor

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
            if correction:
                position = torch.round(obs @ echelon).long()
                reorder_point, order_up_to, batch, cap = rule.T
                base = torch.div(order_up_to - position + batch - 1, batch, rounding_mode="floor") * batch
                base = torch.where(position <= reorder_point, base.clamp(max=cap), torch.zeros_like(base))
                value = torch.round(out[:, : len(segments)].clamp(-1.0, 1.0) * ranges).long() + base
            elif continuous:
                value = torch.round((out[:, : len(segments)].clamp(-1.0, 1.0) + 1.0) / 2.0 * ranges).long()
            else:
                value = torch.stack([block.argmax(dim=1) for block in out.split(segments, dim=1)], dim=1)
            if levels:
                value = value - torch.round(obs @ echelon).long()
            orders = torch.minimum(value.clamp(min=0), max_order)
            return orders[:, 0] if len(segments) == 1 else orders

    module = DeterministicOrders().eval()
    buffer = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # the TorchScript exporter is deprecated; the dynamo one needs onnxscript
        torch.onnx.export(
            module,
            (torch.zeros(2, layout.dim),),
            buffer,  # type: ignore[arg-type]  # the TorchScript exporter writes to a file object too
            input_names=["obs"],
            output_names=["order"],
            dynamic_axes={"obs": {0: "n"}, "order": {0: "n"}},
            opset_version=OPSET,
            dynamo=False,
        )
    model = onnx.load_from_string(buffer.getvalue())
    onnx.checker.check_model(model, full_check=True)
    capacity = system.max_order.tolist() if len(segments) > 1 else int(system.max_order[0])
    return model, f"{mapping}; clipped to 0..{capacity}"
