"""The Gymnasium and SB3 faces: API checks, reproducibility, and identical trajectories."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils import seeding
from gymnasium.utils.env_checker import check_env as gym_check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env
from stable_baselines3.common.vec_env import DummyVecEnv

import envs  # registers Inventory-v1
from envs import InventoryEnv
from envs.scenario import load_scenario
from envs.vec_env import InventoryVecEnv

SCENARIOS = ["lost_sales_L2_p9", "backorder_K64", "seasonal_promo", "csv_history"]


@pytest.mark.parametrize("scenario", SCENARIOS)
@pytest.mark.parametrize("action", ["discrete", "continuous"])
@pytest.mark.parametrize("action_meaning", ["quantity", "level"])
def test_env_passes_gymnasium_and_sb3_checkers(scenario, action, action_meaning):
    env = InventoryEnv(scenario, action=action, action_meaning=action_meaning)
    gym_check_env(env, skip_render_check=True)
    sb3_check_env(InventoryEnv(scenario, action=action, action_meaning=action_meaning), warn=False)


@pytest.mark.parametrize("scenario", ["lost_sales_L3_p9", "backorder_K64"])
def test_a_constant_level_action_is_the_base_stock_policy(scenario):
    """Level actions on the VecEnv order what BaseStock orders in the batch runner, period by period."""
    from agents.classic import BaseStock
    from envs.batch import run_batch
    from envs.layout import ObservationLayout
    from envs.paths import ExogenousPaths, draw_paths

    n, seed, level = 6, 21, 23
    vec = InventoryVecEnv(scenario, n, seed=seed, horizon=40, action_meaning="level")
    assert vec.action_space.n == vec.scenario.action_range + 1
    vec.reset()
    costs = np.zeros(n)
    for _ in range(40):
        _, rewards, _, _ = vec.step(np.full(n, level))
        costs -= rewards
    paths = ExogenousPaths.stack([draw_paths(vec.scenario, seeding.np_random(seed + i)[0], 1) for i in range(n)])
    result = run_batch(BaseStock(level, ObservationLayout(vec.scenario)), vec.scenario, paths)
    np.testing.assert_allclose(costs / 40, result.kpis["avg_cost"], rtol=1e-5)


def test_registered_with_gymnasium_and_overrides_apply():
    env = gym.make("Inventory-v1", scenario="lost_sales_L2_p9", shortage_cost=19)
    assert env.unwrapped.scenario.shortage_cost == 19
    assert env.unwrapped.observation_names == ["on_hand", "arriving_in_0", "arriving_in_1"]
    assert env.action_space == gym.spaces.Discrete(21)


def test_observation_layout_names_every_entry():
    env = InventoryEnv("seasonal_promo")
    obs, _ = env.reset(seed=3)
    names = env.observation_names
    assert len(names) == obs.shape[0] == env.observation_space.shape[0]
    assert names[:5] == ["on_hand", "arriving_in_0", "arriving_in_1", "demand_lag_1", "demand_lag_2"]
    assert names[5:10] == [
        f"{f}_ahead_0" for f in ("weekday_sin", "weekday_cos", "yearday_sin", "yearday_cos", "promotion")
    ]


def test_demand_lags_show_the_demand_just_seen():
    env = InventoryEnv("seasonal_promo")
    obs, _ = env.reset(seed=0)
    demands = []
    for _ in range(5):
        obs, _, _, _, info = env.step(0)
        demands.append(info["demand"])
        assert obs[3] == demands[-1] and (len(demands) < 2 or obs[4] == demands[-2])


def test_episode_ends_by_truncation_with_kpis():
    env = InventoryEnv("lost_sales_L1_p4", horizon=30)
    env.reset(seed=1)
    total_cost, demand, sales = 0.0, 0, 0
    for t in range(30):
        _, reward, terminated, truncated, info = env.step(5)
        assert not terminated and truncated == (t == 29)
        total_cost -= reward
        demand += info["demand"]
        sales += info["sales"]
    kpis = info["episode_kpis"]
    assert kpis["avg_cost"] == pytest.approx(total_cost / 30)
    assert kpis["fill_rate"] == pytest.approx(sales / demand)
    assert set(kpis) == {
        "avg_cost",
        "fill_rate",
        "cycle_service_level",
        "avg_on_hand",
        "turnover",
        "lost_units",
        "order_frequency",
    }


def rollout(env: InventoryEnv, seed: int, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    obs, _ = env.reset(seed=seed)
    observations, rewards = [obs], []
    for action in actions:
        obs, reward, _, truncated, _ = env.step(action)
        rewards.append(reward)
        if truncated:
            obs, _ = env.reset()
        observations.append(obs)
    return np.array(observations), np.array(rewards)


def test_same_seed_same_trajectory_other_seed_other():
    actions = np.random.default_rng(0).integers(0, 10, 100)
    a = rollout(InventoryEnv("csv_history", horizon=40), 7, actions)
    b = rollout(InventoryEnv("csv_history", horizon=40), 7, actions)
    c = rollout(InventoryEnv("csv_history", horizon=40), 8, actions)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[1], c[1])


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_vec_env_matches_single_envs_across_auto_resets(scenario):
    n, seed, horizon, steps = 4, 11, 25, 60
    actions = np.random.default_rng(5).integers(0, 15, (steps, n))
    vec = InventoryVecEnv(scenario, n, horizon=horizon)
    vec.seed(seed)
    obs = vec.reset()
    vec_obs, vec_rewards, dones = [obs], [], []
    for t in range(steps):
        obs, rewards, done, infos = vec.step(actions[t])
        vec_obs.append(obs)
        vec_rewards.append(rewards)
        dones.append(done)
        if done.any():
            assert all(info["TimeLimit.truncated"] for info in infos)
            assert infos[0]["terminal_observation"].shape == obs[0].shape
    assert [t for t, d in enumerate(dones) if d.all()] == [24, 49] and not any(
        d.any() for t, d in enumerate(dones) if t not in (24, 49)
    )
    for i in range(n):
        single_obs, single_rewards = rollout(InventoryEnv(scenario, horizon=horizon), seed + i, actions[:, i])
        np.testing.assert_array_equal(np.array(vec_obs)[:, i], single_obs)
        np.testing.assert_allclose(np.array(vec_rewards)[:, i], single_rewards, rtol=1e-6)


def test_vec_env_terminal_observation_and_kpis_match_the_single_env():
    vec = InventoryVecEnv("lost_sales_L2_p4", 2, seed=3, horizon=5)
    vec.reset()
    for _ in range(5):
        _, _, _, infos = vec.step(np.array([4, 6]))
    env = InventoryEnv("lost_sales_L2_p4", horizon=5)
    env.reset(seed=4)
    for _ in range(5):
        obs, _, _, _, info = env.step(6)
    np.testing.assert_array_equal(infos[1]["terminal_observation"], obs)
    assert infos[1]["episode_kpis"] == pytest.approx(info["episode_kpis"], nan_ok=True)


@pytest.mark.slow
def test_vec_env_works_as_sb3_training_env():
    from stable_baselines3 import PPO

    vec = InventoryVecEnv("lost_sales_L1_p4", 8, seed=0, horizon=20, action="continuous")
    model = PPO("MlpPolicy", vec, n_steps=32, batch_size=64, n_epochs=1, seed=0)
    model.learn(256)
    dummy = DummyVecEnv([lambda: InventoryEnv("lost_sales_L1_p4", horizon=20, action="continuous")])
    assert dummy.observation_space == vec.observation_space and dummy.action_space == vec.action_space


def test_the_package_names_load_on_first_use():
    for name in envs.__all__:
        assert getattr(envs, name).__name__ == name
    assert envs.InventoryVecEnv is InventoryVecEnv
    with pytest.raises(AttributeError, match="no attribute 'InventoryVecenv'"):
        envs.InventoryVecenv  # noqa: B018


@pytest.mark.parametrize(
    "scenario", ["lost_sales_L2_p9", "owmr_4_identical_lost_sales", "csv_history", "seasonal_promo"]
)
def test_each_environment_draws_what_its_own_generator_would(scenario):
    """The VecEnv's draws (one compiled loop over a typed List of generators) equal one draw per generator."""
    from numba import typed

    from envs.paths import PathSampler

    sampler = PathSampler(load_scenario(scenario))
    plain = sampler.draw_each([np.random.default_rng(seed) for seed in range(5)])
    compiled = sampler.draw_each(typed.List([np.random.default_rng(seed) for seed in range(5)]))
    one_by_one = [sampler.draw(np.random.default_rng(seed), 1) for seed in range(5)]
    for field in ("demand", "features", "lead_times", "keys"):
        expected = np.concatenate([getattr(p, field) for p in one_by_one], axis=1)
        np.testing.assert_array_equal(getattr(plain, field), expected)
        np.testing.assert_array_equal(getattr(compiled, field), expected)
