"""The one policy protocol every order policy meets.

Classic policies, the dynamic-programming table, stable-baselines3 models and exported ONNX
models all implement :class:`Policy`, so the evaluator and the recommend command never ask
what kind of policy they hold.

Observation layout (see ``envs.kernel``): column 0 is the on-hand inventory (net inventory,
on hand minus backlog, when unmet demand is backordered); columns ``1 .. 1 + n_pipeline`` are
the outstanding orders by periods-to-arrival (column 1 arrives this period, after the order
is placed and before demand); further columns (recent demands, demand features) follow.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class Policy(Protocol):
    """A batch of observations in, a batch of integer order quantities out."""

    name: str

    def act(self, obs: np.ndarray) -> np.ndarray:
        """Order quantities for a batch of observations.

        Args:
            obs: float array of shape (n, obs_dim), one row per inventory system.

        Returns:
            int64 array of shape (n,), each entry >= 0.
        """
        ...

    def params(self) -> dict[str, Any]:
        """Fitted parameters for tables and explanations, e.g. ``{"s": 6, "S": 40}``."""
        ...
