"""Fully jitted PPO training loop on gymnax environments (PureJaxRL style).

It exists to check the PPO in ``ppo.py`` against published reference results (CartPole-v1,
Pendulum-v1): the loop calls the very same ``create_agent``/``_act``/``_update`` functions the
Python-stepped experiment runner uses, only with the environment stepped inside ``lax.scan``.

Optional wrappers, pure functions on running statistics carried in the loop:
observation normalisation (running mean/var) and reward scaling by the running std of the
discounted return (as in CleanRL/PureJaxRL's NormalizeVecReward). Time-limit truncations are
bootstrapped with gamma * V(final observation), terminations are not.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from flax import struct

from atom_sdk.agent import ppo as P
from atom_sdk.config import AgentSettings
from atom_sdk.errors import ConfigError

N_LAST = 10  # episodes averaged for the reported return


class RunningStats(struct.PyTreeNode):
    mean: jnp.ndarray
    var: jnp.ndarray
    count: jnp.ndarray

    @classmethod
    def create(cls, shape) -> "RunningStats":
        return cls(jnp.zeros(shape), jnp.ones(shape), jnp.asarray(1e-4))

    def update(self, batch: jnp.ndarray) -> "RunningStats":
        """Parallel (Chan et al.) merge of a batch (leading axis) into the running moments."""
        b_mean, b_var, b_n = batch.mean(0), batch.var(0), batch.shape[0]
        delta = b_mean - self.mean
        tot = self.count + b_n
        mean = self.mean + delta * b_n / tot
        m2 = self.var * self.count + b_var * b_n + jnp.square(delta) * self.count * b_n / tot
        return RunningStats(mean, m2 / tot, tot)


class LoopState(struct.PyTreeNode):
    agent: P.AgentState
    env_state: Any
    obs: jnp.ndarray
    obs_stats: RunningStats
    ret_stats: RunningStats
    disc_return: jnp.ndarray  # running discounted return per env, for reward scaling
    ep_return: jnp.ndarray  # undiscounted return of the episode in progress, per env
    last_returns: jnp.ndarray  # ring buffer of the last N_LAST finished episode returns
    n_finished: jnp.ndarray
    key: jax.Array


def make_train(
    env,
    env_params,
    settings: AgentSettings,
    *,
    num_envs: int,
    total_timesteps: int,
    normalize_obs: bool = False,
    scale_rewards: bool = False,
):
    """Return ``train(key) -> (final LoopState, per-update metrics)``; pure and vmappable."""
    steps_per_update = settings.rollout_length * num_envs
    n_updates = total_timesteps // steps_per_update
    if n_updates < 1:
        raise ConfigError("total_timesteps is smaller than one rollout", hint="raise total_timesteps")
    # vector observations only: no field encoder, so no latent dynamics to train
    derived = P.DerivedSettings(total_updates=n_updates, symplectic=False, symplectic_dt=0.1)
    space = env.action_space(env_params)
    discrete = hasattr(space, "n") and not hasattr(space, "low")
    obs_dim = env.observation_space(env_params).shape
    gamma = settings.gamma

    def norm(obs, stats):
        if not normalize_obs:
            return obs
        return jnp.clip((obs - stats.mean) / jnp.sqrt(stats.var + 1e-8), -10.0, 10.0)

    def env_step(carry: LoopState, _):
        key, k_act, k_env = jax.random.split(carry.key, 3)
        inputs = {"vector": norm(carry.obs, carry.obs_stats)}
        action, logp, value = P._act(carry.agent, inputs, k_act)
        env_action = action if discrete else action.reshape((num_envs,) + space.shape)
        obs, env_state, reward, term, trunc, info = jax.vmap(env.step, in_axes=(0, 0, 0, None))(
            jax.random.split(k_env, num_envs), carry.env_state, env_action, env_params
        )
        term, trunc = term.astype(jnp.float32), trunc.astype(jnp.float32)
        done = jnp.maximum(term, trunc)
        # episode bookkeeping (raw rewards)
        ep_return = carry.ep_return + reward
        slot = (carry.n_finished + jnp.cumsum(done) - 1) % N_LAST
        slot = jnp.where(done > 0, slot, N_LAST)  # out of range -> dropped
        last_returns = carry.last_returns.at[slot.astype(jnp.int32)].set(ep_return, mode="drop")
        n_finished = carry.n_finished + jnp.sum(done).astype(jnp.int32)
        # reward scaling by the std of the discounted return
        disc = carry.disc_return * gamma + reward
        ret_stats = carry.ret_stats.update(disc[:, None]) if scale_rewards else carry.ret_stats
        r = reward / jnp.sqrt(ret_stats.var[0] + 1e-8) if scale_rewards else reward
        # bootstrap truncated (not terminated) episodes from the final observation
        final_obs = info["final_observation"]
        v_final = P.value(carry.agent, {"vector": norm(final_obs, carry.obs_stats)})
        r = r + gamma * v_final * trunc * (1.0 - term)
        obs_stats = carry.obs_stats.update(obs) if normalize_obs else carry.obs_stats
        transition = (inputs, action, logp, value, r, done)
        new = carry.replace(
            env_state=env_state, obs=obs, obs_stats=obs_stats, ret_stats=ret_stats,
            disc_return=disc * (1.0 - done), ep_return=ep_return * (1.0 - done),
            last_returns=last_returns, n_finished=n_finished, key=key,
        )
        return new, transition

    def one_update(carry: LoopState, _):
        carry, (inputs, actions, logps, values, rewards, dones) = jax.lax.scan(
            env_step, carry, None, length=settings.rollout_length
        )
        rollout = P.Rollout(inputs=inputs, actions=actions, log_probs=logps, values=values,
                            rewards=rewards, dones=dones)
        last_value = P.value(carry.agent, {"vector": norm(carry.obs, carry.obs_stats)})
        key, k_upd = jax.random.split(carry.key)
        agent, metrics = P._update(carry.agent, rollout, last_value, k_upd)
        valid = carry.n_finished >= N_LAST
        metrics["return_last10"] = jnp.where(valid, carry.last_returns.mean(), jnp.nan)
        return carry.replace(agent=agent, key=key), metrics

    def train(key: jax.Array):
        k_agent, k_env, k_loop = jax.random.split(key, 3)
        obs, env_state = jax.vmap(env.reset, in_axes=(0, None))(
            jax.random.split(k_env, num_envs), env_params
        )
        example = {"vector": jnp.zeros(obs_dim, jnp.float32)}
        agent = P.create_agent(k_agent, example, space, settings, derived, discrete=discrete,
                               n_actions=getattr(space, "n", None))
        carry = LoopState(
            agent=agent, env_state=env_state, obs=obs,
            obs_stats=RunningStats.create(obs_dim).update(obs), ret_stats=RunningStats.create((1,)),
            disc_return=jnp.zeros(num_envs), ep_return=jnp.zeros(num_envs),
            last_returns=jnp.zeros(N_LAST), n_finished=jnp.zeros((), jnp.int32), key=k_loop,
        )
        return jax.lax.scan(one_update, carry, None, length=n_updates)

    return train


def train_jitted(env, env_params, settings: AgentSettings, key: jax.Array, **kwargs):
    """Jit and run ``make_train``; a key array of shape (S,) is vmapped as S seeds."""
    train = make_train(env, env_params, settings, **kwargs)
    typed = jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key)
    if key.ndim == (1 if typed else 2):  # legacy uint32 keys carry a trailing axis of 2
        return jax.jit(jax.vmap(train))(key)
    return jax.jit(train)(key)


# Configurations checked by the slow tests and the benchmark. CartPole: CleanRL/PureJaxRL
# ppo defaults (4 envs x 128 steps, lr 2.5e-4, ent 0.01, value clipping). Pendulum: 16 envs x
# 128 steps, 10 epochs of 32 minibatches, lr 1e-3, gamma 0.95 (short-horizon, as in the
# rl-baselines3-zoo Pendulum settings), with observation normalisation and reward scaling.
REFERENCE_CONFIGS: dict[str, dict] = {
    "cartpole": {
        "env": "CartPole-v1",
        "target": 475.0,
        "settings": AgentSettings(
            learning_rate=2.5e-4, rollout_length=128, update_epochs=4, num_minibatches=4,
            gamma=0.99, gae_lambda=0.95, ent_coef=0.01, clip_value=True, symplectic=False,
        ),
        "loop": {"num_envs": 4, "total_timesteps": 500_000},
    },
    "pendulum": {
        "env": "Pendulum-v1",
        "target": -300.0,
        "settings": AgentSettings(
            learning_rate=1e-3, rollout_length=128, update_epochs=10, num_minibatches=32,
            gamma=0.95, gae_lambda=0.95, ent_coef=0.0, action_squash="tanh", symplectic=False,
        ),
        "loop": {"num_envs": 16, "total_timesteps": 1_000_000, "normalize_obs": True,
                 "scale_rewards": True},
    },
}
