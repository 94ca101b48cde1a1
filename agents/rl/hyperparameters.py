"""The hyperparameters of a training run: one pydantic model per algorithm, every key validated.

A config block (``configs/algos/ALGO.yaml``) holds the run's own settings (:class:`RunSettings`)
and the keyword arguments of the SB3 algorithm; an SB3 key left out keeps SB3's default.
:data:`ALGOS` names the algorithms a run can use.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from stable_baselines3 import DQN, PPO
from stable_baselines3.common.base_class import BaseAlgorithm
from torch import nn

from envs.limits import MAX_EPISODES, Flag, Int, Real
from envs.scenario import NetworkScenario, Scenario

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "tanh": nn.Tanh,
    "relu": nn.ReLU,
    "elu": nn.ELU,
    "leaky_relu": nn.LeakyReLU,
    "gelu": nn.GELU,
}


# Bounds far above any useful setting and below what exhausts memory (10 million steps of replay at
# once, 100,000 systems stepped together, a layer of 4096 units) or never ends.
MAX_TIMESTEPS = 10**11
MAX_ENVS = 100_000
MAX_LAYERS, MAX_WIDTH = 16, 4096
MAX_BUFFER = 10_000_000

Count = Annotated[Int, Field(ge=1)]
Steps = Annotated[Int, Field(ge=1, le=MAX_TIMESTEPS)]
Rate = Annotated[Real, Field(gt=0, le=1)]
Share = Annotated[Real, Field(ge=0, le=1)]
NonNegative = Annotated[Real, Field(ge=0, le=1e6)]
Positive = Annotated[Real, Field(gt=0, le=1e6)]
# A multiple of a quantity of the system (of mean demand, of a level)
Multiple = Annotated[Real, Field(gt=0, le=1000)]


def sb3_default(algorithm: type[BaseAlgorithm], key: str) -> Any:
    """The default SB3 gives ``key`` when a config leaves it out."""
    return inspect.signature(algorithm.__init__).parameters[key].default


class _Strict(BaseModel):
    # a value of the wrong type is refused, not converted (see envs.limits); inf and nan too
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class Normalization(_Strict):
    """VecNormalize: scale observations by their running mean and std, rewards by the std of the discounted return."""

    obs: Flag
    reward: Flag


class PolicyKwargs(_Strict):
    """SB3's ``policy_kwargs``: hidden layer sizes and the activation, by name."""

    net_arch: list[Annotated[Int, Field(ge=1, le=MAX_WIDTH)]] | None = Field(default=None, max_length=MAX_LAYERS)
    activation_fn: Literal[tuple(ACTIVATIONS)] | None = None  # type: ignore[valid-type]

    def sb3(self) -> dict[str, Any]:
        """The keyword arguments SB3's policy takes (the activation as its torch class)."""
        kwargs = self.model_dump(exclude_unset=True)
        if kwargs.get("activation_fn") is not None:
            kwargs["activation_fn"] = ACTIVATIONS[kwargs["activation_fn"]]
        return kwargs


class ActorCriticPolicyKwargs(PolicyKwargs):
    """PPO's network: the actor and the critic each get ``net_arch`` hidden layers."""

    ortho_init: Flag | None = None
    log_std_init: Real | None = Field(default=None, ge=-20, le=20)


class RunSettings(_Strict):
    """The keys of the run itself, which SB3 does not take."""

    total_timesteps: Steps = Field(description="env steps to train for (--timesteps)")
    n_envs: Int = Field(ge=1, le=MAX_ENVS, description="systems simulated in parallel (--n-envs)")
    normalize: Normalization
    eval_freq: Steps = Field(description="env steps between evaluations")
    eval_episodes: Int = Field(ge=1, le=MAX_EPISODES, description="episodes per evaluation, on fixed paths")
    checkpoint_freq: Steps = Field(description="env steps between checkpoints")
    env: dict[str, Any] = Field(default_factory=dict, description="scenario keys to override, e.g. action")
    correct_classic: Flag = Field(
        default=False,
        description="act as a correction of the best classic policy (one stock point: the best tuned one; "
        "a network: echelon base-stock at the exact or Monte Carlo optimised levels) (action_meaning: "
        "correction; action_base found unless the scenario gives it)",
    )
    max_level_from_classic: Multiple | None = Field(
        default=None,
        description="one stock point with level actions: max_level is this multiple of the highest level the "
        "best tuned classic policy orders up to",
    )
    correction_periods: Multiple | None = Field(
        default=None,
        description="with correct_classic: the largest correction in periods of the mean demand a point serves "
        "(at most max_order); "
        "null: the scenario's max_correction (default max_order)",
    )

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
    gamma: Real = Field(gt=0, le=1)
    learning_rate: Rate | None = None
    learning_rate_schedule: Literal["constant", "linear"] = Field(
        default="constant", description="linear: from learning_rate down to 0 at total_timesteps"
    )
    max_grad_norm: Positive | None = None
    stats_window_size: Int | None = Field(default=None, ge=1, le=1_000_000)
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

    n_steps: Int | None = Field(default=None, ge=1, le=MAX_BUFFER)
    batch_size: Int | None = Field(default=None, ge=2, le=MAX_BUFFER)
    n_epochs: Int | None = Field(default=None, ge=1, le=1000)
    gae_lambda: Share | None = None
    clip_range: Positive | None = None
    clip_range_vf: Positive | None = None
    normalize_advantage: Flag | None = None
    ent_coef: NonNegative | None = None
    vf_coef: NonNegative | None = None
    use_sde: Flag | None = None
    sde_sample_freq: Int | None = Field(default=None, ge=-1, le=MAX_TIMESTEPS)
    target_kl: Positive | None = None
    policy_kwargs: ActorCriticPolicyKwargs = Field(default_factory=ActorCriticPolicyKwargs)

    @model_validator(mode="after")
    def _batches_fit_a_rollout(self) -> PPOHyperparameters:
        # a rollout is n_steps per env; SB3 asserts it has 2 steps or more, and a mini-batch larger
        # than the rollout would silently be the whole rollout
        rollout = (self.n_steps or sb3_default(PPO, "n_steps")) * self.n_envs
        batch_size = self.batch_size or sb3_default(PPO, "batch_size")
        if rollout < 2:
            raise ValueError("n_steps x n_envs must be at least 2 (a rollout of 1 step cannot be normalised)")
        if rollout > MAX_BUFFER:
            raise ValueError(f"n_steps x n_envs is {rollout:,}; a rollout holds at most {MAX_BUFFER:,} steps")
        if batch_size > rollout:
            raise ValueError(f"batch_size {batch_size} is larger than a rollout, n_steps x n_envs = {rollout}")
        return self


class DQNHyperparameters(Hyperparameters):
    """DQN: the keys of ``stable_baselines3.DQN`` (``train_freq`` in steps)."""

    buffer_size: Int | None = Field(default=None, ge=1, le=MAX_BUFFER)
    learning_starts: Int | None = Field(default=None, ge=0, le=MAX_TIMESTEPS)
    batch_size: Int | None = Field(default=None, ge=1, le=MAX_BUFFER)
    tau: Rate | None = None
    train_freq: Int | None = Field(default=None, ge=1, le=MAX_TIMESTEPS)
    gradient_steps: Int | None = Field(default=None, ge=-1, le=10_000)
    target_update_interval: Int | None = Field(default=None, ge=1, le=MAX_TIMESTEPS)
    exploration_fraction: Share | None = None
    exploration_initial_eps: Share | None = None
    exploration_final_eps: Share | None = None

    @model_validator(mode="after")
    def _batches_fit_the_buffer(self) -> DQNHyperparameters:
        buffer_size = self.buffer_size or sb3_default(DQN, "buffer_size")
        batch_size = self.batch_size or sb3_default(DQN, "batch_size")
        if batch_size > buffer_size:
            raise ValueError(f"batch_size {batch_size} is larger than the replay buffer, buffer_size = {buffer_size}")
        if buffer_size < self.n_envs:  # SB3 keeps buffer_size // n_envs transitions per env
            raise ValueError(f"buffer_size {buffer_size} is smaller than n_envs = {self.n_envs}")
        return self


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
