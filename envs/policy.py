"""The one policy protocol every order policy meets.

Classic policies, the dynamic-programming table, stable-baselines3 models and exported ONNX
models all implement :class:`Policy`, so the evaluator and the recommend command never ask
what kind of policy they hold. What each observation column means is in the scenario's
:class:`~envs.layout.ObservationLayout`.
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
            int64 array, each entry >= 0: shape (n,) for one stock point, (n, J) for a network
            of J stock points (in the layout's stock-point order).
        """
        ...

    def params(self) -> dict[str, Any]:
        """Fitted parameters for tables and explanations, e.g. ``{"s": 6, "S": 40}``."""
        ...
