"""Vectorised multi-seed training: the gymnax adapter and the jitted, vmapped runner twin.

References: the World's own Gymnasium ``step`` (the adapter must reproduce it to 1e-6, with the
runner's episode seeds ``seed + 7919 e`` on reset) and ``run_experiment`` itself (the slow
test: same per-episode returns to 1e-5 relative for the same seed and config).
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from atom_sdk.config import build_run_config
from atom_sdk.errors import ConfigError
from atom_sdk.experiment.vectorized import (
    EPISODE_SEED_STRIDE,
    DynamicsEnv,
    check_vectorizable,
    train_seeds_vectorized,
)
from atom_sdk.worlds.taylor_green import TaylorGreenWorld

TINY = {"world": {"grid": [8, 8, 1], "max_episode_steps": 16}, "steps": 48, "variant": "ppo_baseline",
        "agent": {"rollout_length": 16, "num_minibatches": 4, "update_epochs": 1}, "safety": {"enabled": False}}


def test_adapter_steps_like_the_world_including_auto_reset():
    seed, horizon, n_steps = 3, 5, 12
    world = TaylorGreenWorld(grid=(8, 8, 1), max_episode_steps=horizon, noise=0.05)
    env = DynamicsEnv(world)
    # actions beyond the +-0.05 bound exercise the clipping as well
    actions = np.random.default_rng(0).uniform(-0.08, 0.08, size=(n_steps, 1)).astype(np.float32)

    def roll(state, action):
        obs, state, reward, term, trunc, info = env.step(jax.random.PRNGKey(0), state, action)
        return state, (obs, reward, term, trunc, info["final_observation"])

    obs0, state = env.reset_seed(seed)
    _, (obs, rewards, terms, truncs, finals) = jax.jit(lambda s, a: jax.lax.scan(roll, s, a))(state, actions)

    ref_obs0, _ = world.reset(seed=seed)
    np.testing.assert_allclose(np.asarray(obs0), ref_obs0, rtol=1e-6, atol=1e-7)
    episode = 0
    for t in range(n_steps):
        ref_obs, ref_reward, ref_term, ref_trunc, _ = world.step(actions[t])
        np.testing.assert_allclose(np.asarray(finals[t]), ref_obs, rtol=1e-6, atol=1e-7)
        assert float(rewards[t]) == pytest.approx(ref_reward, rel=1e-6, abs=1e-7)
        assert (bool(terms[t]), bool(truncs[t])) == (ref_term, ref_trunc)
        if ref_trunc:  # the runner's reset: episode e starts from seed + 7919 e
            episode += 1
            ref_obs, _ = world.reset(seed=seed + EPISODE_SEED_STRIDE * episode)
        np.testing.assert_allclose(np.asarray(obs[t]), ref_obs, rtol=1e-6, atol=1e-7)
    assert int(truncs.sum()) == n_steps // horizon


def test_adapter_terminates_on_non_finite_state_and_resets():
    env = DynamicsEnv(TaylorGreenWorld(grid=(8, 8, 1), max_episode_steps=50))
    _, state = env.reset_seed(0)
    obs, new, reward, term, trunc, info = env.step(jax.random.PRNGKey(0), state, jnp.array([jnp.nan]))
    assert bool(term) and not bool(trunc)
    assert float(reward) == 0.0 and np.all(np.isfinite(np.asarray(info["final_observation"])))
    reset_obs, _ = env.reset_seed(EPISODE_SEED_STRIDE)  # the next episode's seed
    np.testing.assert_array_equal(np.asarray(obs), np.asarray(reset_obs))
    assert (int(new.time), int(new.episode)) == (0, 1)
    assert env.observation_space().shape == (18,) and env.action_space().shape == (1,)


@pytest.mark.slow  # vmapped XLA:CPU programs were seen to wedge on 2 cores (see vectorized.py)
def test_two_seeds_train_in_one_program_deterministically():
    cfg = build_run_config(TINY)
    first = train_seeds_vectorized(cfg, [0, 1])
    again = train_seeds_vectorized(cfg, [0, 1])
    returns = np.asarray(first["mean_return"], dtype=float)
    assert np.all(np.isfinite(returns))
    assert returns[0] != returns[1]  # seeds differ in A0 jitter, init and sampling
    assert again["mean_return"] == first["mean_return"]
    assert [p["episode_returns"] for p in again["per_seed"]] == [p["episode_returns"] for p in first["per_seed"]]
    for p in first["per_seed"]:
        assert p["episodes_completed"] == 3 and p["diverged_episodes"] == 0
        # reward -|E - E*|/E*, E* = E0/2; with |forcing| <= 0.05 over 16 steps |A| moves < 10 %, so each
        # step's error lies in [0.6, 1.4] and an episode's return in [-22.4, -9.6]
        assert all(-22.4 <= r <= -9.6 for r in p["episode_returns"])
        assert p["mean_return"] == pytest.approx(np.mean(p["episode_returns"]), rel=1e-6)
    assert first["updates_per_seed"] == 3 and len(first["update_metrics"]["loss"][0]) == 3


@pytest.mark.parametrize("variant", ["v2_hybrid", "v2_residual", "v2_raw", "v1_raw"])
def test_scientist_variants_are_not_one_pure_program(variant):
    cfg = build_run_config({**TINY, "variant": variant})
    with pytest.raises(ConfigError, match="train_seeds_vectorized"):  # make_seed_trainer's check
        check_vectorizable(cfg)
    assert check_vectorizable(cfg, scientist=True).use_scientist  # train_seeds_vectorized's


def test_ablated_scientist_and_bad_minibatching_are_handled():
    assert not check_vectorizable(build_run_config({**TINY, "variant": "v2_hybrid", "ablate_scientist": True})).use_scientist
    bad = {**TINY, "agent": {"rollout_length": 18, "num_minibatches": 4}}
    with pytest.raises(ConfigError, match="multiple"):
        check_vectorizable(build_run_config(bad))
    with pytest.raises(ConfigError, match="seeds"):
        train_seeds_vectorized(build_run_config(TINY), [-1])


@pytest.mark.slow
@pytest.mark.parametrize("variant,grid", [("ppo_baseline", [8, 8, 1]), ("no_scientist", [8, 8, 2])])
def test_returns_match_the_host_stepped_runner(tmp_path, variant, grid):
    from atom_sdk.experiment.runner import run_experiment

    cfg = build_run_config({**TINY, "variant": variant, "world": {**TINY["world"], "grid": grid}, "seed": 1})
    vec = train_seeds_vectorized(cfg, [0, 1])["per_seed"][1]
    host = run_experiment(cfg, tmp_path / "run")
    np.testing.assert_allclose(vec["episode_returns"], [e["return"] for e in host["episodes"]], rtol=1e-5)
    assert vec["mean_return"] == pytest.approx(host["summary"]["mean_return"], rel=1e-5)
    assert vec["mean_reward"] == pytest.approx(host["summary"]["mean_reward"], rel=1e-5)
