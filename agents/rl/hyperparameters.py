"""The hyperparameters of a training run: one pydantic model per algorithm, every key validated.

A config block (``configs/algos/ALGO.yaml``) holds the run's own settings (:class:`RunSettings`)
and the keyword arguments of the SB3 algorithm; an SB3 key left out keeps SB3's default.
:data:`ALGOS` names the algorithms a run can use.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    NonNegativeFloat,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
    field_validator,
    model_validator,
)
from stable_baselines3 import DQN, PPO
from stable_baselines3.common.base_class import BaseAlgorithm
from torch import nn

from envs.scenario import NetworkScenario, Scenario

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "tanh": nn.Tanh,
    "relu": nn.ReLU,
    "elu": nn.ELU,
    "leaky_relu": nn.LeakyReLU,
    "gelu": nn.GELU,
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Normalization(_Strict):
    """VecNormalize: scale observations by their running mean and std, rewards by the std of the discounted return."""

    obs: bool
    reward: bool


class PolicyKwargs(_Strict):
    """SB3's ``policy_kwargs``: hidden layer sizes and the activation, by name."""

    net_arch: list[PositiveInt] | None = None
    activation_fn: Literal[tuple(ACTIVATIONS)] | None = None  # type: ignore[valid-type]

    def sb3(self) -> dict[str, Any]:
        """The keyword arguments SB3's policy takes (the activation as its torch class)."""
        kwargs = self.model_dump(exclude_unset=True)
        if kwargs.get("activation_fn") is not None:
            kwargs["activation_fn"] = ACTIVATIONS[kwargs["activation_fn"]]
        return kwargs


class ActorCriticPolicyKwargs(PolicyKwargs):
    """PPO's network: the actor and the critic each get ``net_arch`` hidden layers."""

    ortho_init: bool | None = None
    log_std_init: float | None = None


class RunSettings(_Strict):
    """The keys of the run itself, which SB3 does not take."""

    total_timesteps: PositiveInt = Field(description="env steps to train for (--timesteps)")
    n_envs: PositiveInt = Field(description="systems simulated in parallel (--n-envs)")
    normalize: Normalization
    eval_freq: PositiveInt = Field(description="env steps between evaluations")
    eval_episodes: PositiveInt = Field(description="episodes per evaluation, on fixed paths")
    checkpoint_freq: PositiveInt = Field(description="env steps between checkpoints")
    env: dict[str, Any] = Field(default_factory=dict, description="scenario keys to override, e.g. action")

    @field_validator("env")
    @classmethod
    def _scenario_keys(cls, env: dict[str, Any]) -> dict[str, Any]:
        unknown = sorted(set(env) - set(Scenario.model_fields) - set(NetworkScenario.model_fields))
        if unknown:
            raise ValueError(f"{unknown[0]} is not a scenario key")
        return env


class Hyperparameters(RunSettings):
    """Keys every algorithm config has: the run's own and SB3's common ones."""

    # required: VecNormalize discounts the rewards it scales with it too
    gamma: float = Field(gt=0, le=1)
    learning_rate: PositiveFloat | None = None
    learning_rate_schedule: Literal["constant", "linear"] = Field(
        default="constant", description="linear: from learning_rate down to 0 at total_timesteps"
    )
    max_grad_norm: PositiveFloat | None = None
    stats_window_size: PositiveInt | None = None
    policy_kwargs: PolicyKwargs = Field(default_factory=PolicyKwargs)

    @model_validator(mode="after")
    def _schedule_needs_a_rate(self) -> Hyperparameters:
        if self.learning_rate_schedule == "linear" and self.learning_rate is None:
            raise ValueError("learning_rate_schedule: linear needs a learning_rate to start from")
        return self

    def sb3_kwargs(self) -> dict[str, Any]:
        """The keyword arguments of the SB3 algorithm's constructor."""
        kwargs = self.model_dump(exclude_unset=True, exclude={*RunSettings.model_fields, "learning_rate_schedule"})
        kwargs["gamma"] = self.gamma
        kwargs["policy_kwargs"] = self.policy_kwargs.sb3()
        if self.learning_rate_schedule == "linear" and self.learning_rate is not None:  # validated: it is
            kwargs["learning_rate"] = linear_schedule(self.learning_rate)
        return kwargs


def linear_schedule(initial: float) -> Callable[[float], float]:
    """SB3 learning-rate schedule falling linearly from ``initial`` to 0 (SB3 passes the progress
    remaining, 1 at the start of training and 0 at ``total_timesteps``, also across a resume)."""

    def rate(progress_remaining: float) -> float:
        return initial * progress_remaining

    return rate


class PPOHyperparameters(Hyperparameters):
    """PPO: the keys of ``stable_baselines3.PPO`` (schedules and custom classes aside)."""

    n_steps: PositiveInt | None = None
    batch_size: PositiveInt | None = None
    n_epochs: PositiveInt | None = None
    gae_lambda: float | None = Field(default=None, ge=0, le=1)
    clip_range: PositiveFloat | None = None
    clip_range_vf: PositiveFloat | None = None
    normalize_advantage: bool | None = None
    ent_coef: NonNegativeFloat | None = None
    vf_coef: NonNegativeFloat | None = None
    use_sde: bool | None = None
    sde_sample_freq: int | None = None
    target_kl: PositiveFloat | None = None
    policy_kwargs: ActorCriticPolicyKwargs = Field(default_factory=ActorCriticPolicyKwargs)


class DQNHyperparameters(Hyperparameters):
    """DQN: the keys of ``stable_baselines3.DQN`` (``train_freq`` in steps)."""

    buffer_size: PositiveInt | None = None
    learning_starts: NonNegativeInt | None = None
    batch_size: PositiveInt | None = None
    tau: float | None = Field(default=None, gt=0, le=1)
    train_freq: PositiveInt | None = None
    gradient_steps: int | None = Field(default=None, ge=-1)
    target_update_interval: PositiveInt | None = None
    exploration_fraction: float | None = Field(default=None, ge=0, le=1)
    exploration_initial_eps: float | None = Field(default=None, ge=0, le=1)
    exploration_final_eps: float | None = Field(default=None, ge=0, le=1)


@dataclass(frozen=True)
class Algorithm:
    """An SB3 algorithm, the model of its config, the action spaces it can learn, and whether it can
    order for every stock point of a network at once (a Box or MultiDiscrete action: DQN's is one Discrete)."""

    sb3_class: type[BaseAlgorithm]
    hyperparameters: type[Hyperparameters]
    actions: tuple[str, ...]
    networks: bool


ALGOS: dict[str, Algorithm] = {
    "ppo": Algorithm(PPO, PPOHyperparameters, ("continuous", "discrete"), networks=True),
    "dqn": Algorithm(DQN, DQNHyperparameters, ("discrete",), networks=False),
}
