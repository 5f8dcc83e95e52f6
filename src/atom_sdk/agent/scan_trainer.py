"""The on-device PPO driver: rollouts and updates as nested ``lax.scan`` (PureJaxRL style).

Two trainers use it: ``agent.reference`` (gymnax environments, the check of ``ppo.py`` against
published results) and ``experiment.vectorized`` (a World's pure-JAX dynamics, one seed per
``vmap`` lane). The driver owns what they share: a key per step, the agent's act, the rollout,
the value of the observation after it, the PPO update and the scan over updates. A
:class:`ScanTask` supplies what differs: how the task's carried observation becomes the agent's
inputs (observation normalisation, input assembly), how the environment answers an action
(the reward PPO learns from, i.e. reward scaling and the time-limit bootstrap, and the episode
bookkeeping), how a step's key is split, and what is added to each update's metrics.

With the recurrent core the driver also carries the agent's hidden state (``ScanCarry.hidden``,
one row per environment, zeroed where an episode ended), stores it in the rollout, and hands
the new state to ``respond`` as ``hidden=`` so a truncation is bootstrapped from the right memory.

The host-stepped runner (``experiment.runner``) drives the same ``ppo`` functions one step at a
time from Python; it stays the reference these programs are checked against.
"""

from __future__ import annotations

import inspect
from typing import Any, Protocol

import jax
import jax.numpy as jnp
from flax import struct

from atom_sdk.agent import ppo as P
from atom_sdk.errors import ConfigError

__all__ = ["ScanCarry", "ScanTask", "rollout", "train", "update_step", "with_hidden"]


class ScanCarry(struct.PyTreeNode):
    """What the driver carries from step to step: the agent, its PRNG key and the task's state."""

    agent: P.AgentState
    key: jax.Array
    task: Any  # the task's pytree: environment state, observation, statistics, bookkeeping
    hidden: Any = None  # the recurrent core's state, (num_envs, H); None for the feed-forward core


class ScanTask(Protocol):
    """What a trainer plugs into the driver (methods are called once, while tracing)."""

    rollout_length: int

    def split_key(self, key: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
        """(the carry's next key, the act key, the environment's key) for one step."""

    def observe(self, state: Any) -> tuple[Any, dict[str, jax.Array]]:
        """Before acting: the state (a normaliser may learn the observation) and the agent's inputs."""

    def respond(self, agent: P.AgentState, state: Any, action: jax.Array,
                key: jax.Array) -> tuple[Any, jax.Array, jax.Array]:
        """The environment takes ``action``: (new state, reward PPO learns from, done as float)."""

    def last_inputs(self, state: Any) -> dict[str, jax.Array]:
        """The agent's inputs for the observation after a rollout (its value bootstraps the GAE)."""

    def metrics(self, state: Any, metrics: dict[str, jax.Array]) -> dict[str, jax.Array]:
        """Each update's PPO metrics, plus whatever the task reports."""


def rollout(task: ScanTask, carry: ScanCarry, length: int):
    """``length`` acting steps: (carry, (inputs, actions, log_probs, values, rewards, dones, hiddens)),
    ``hiddens`` (the state each step was acted from) None for the feed-forward core."""

    def step(c: ScanCarry, _):
        key, act_key, env_key = task.split_key(c.key)
        state, inputs = task.observe(c.task)
        if not c.agent.spec.recurrent:
            action, logp, value = P._act(c.agent, inputs, act_key)
            state, reward, done = task.respond(c.agent, state, action, env_key)
            return c.replace(task=state, key=key), (inputs, action, logp, value, reward, done, None)
        action, logp, value, hidden = P._act_step(c.agent, inputs, c.hidden, act_key)
        state, reward, done = task.respond(c.agent, state, action, env_key, hidden=hidden)
        next_hidden = hidden * (1.0 - jnp.asarray(done, hidden.dtype))[..., None]
        return (c.replace(task=state, key=key, hidden=next_hidden),
                (inputs, action, logp, value, reward, done, c.hidden))

    return jax.lax.scan(step, carry, None, length=length)


def update_step(task: ScanTask, carry: ScanCarry) -> tuple[ScanCarry, dict[str, jax.Array]]:
    """One rollout of ``task.rollout_length`` steps, then one PPO update on it."""
    carry, (inputs, actions, logps, values, rewards, dones, hiddens) = rollout(task, carry, task.rollout_length)
    batch = P.Rollout(inputs=inputs, actions=actions, log_probs=logps, values=values, rewards=rewards, dones=dones,
                      hiddens=hiddens)
    last_value = P.value(carry.agent, task.last_inputs(carry.task), carry.hidden)
    key, update_key = jax.random.split(carry.key)
    agent, metrics = P._update(carry.agent, batch, last_value, update_key)
    return carry.replace(agent=agent, key=key), task.metrics(carry.task, metrics)


def train(task: ScanTask, carry: ScanCarry, n_updates: int) -> tuple[ScanCarry, dict[str, jnp.ndarray]]:
    """``n_updates`` rollouts and updates; the metrics have a leading axis of ``n_updates``."""
    carry = with_hidden(task, carry)
    return jax.lax.scan(lambda c, _: update_step(task, c), carry, None, length=n_updates)


def with_hidden(task: ScanTask, carry: ScanCarry) -> ScanCarry:
    """A recurrent agent's carry gets its zero hidden state (one row per env of the task's inputs)."""
    if not carry.agent.spec.recurrent:
        return carry
    if "hidden" not in inspect.signature(task.respond).parameters:
        raise ConfigError(f"{type(task).__name__} does not support the recurrent core (its respond takes no hidden=)",
                          hint="train agent.core='gru' with the host-stepped runner, or set agent.core='mlp'")
    if carry.hidden is not None:
        return carry
    inputs = task.last_inputs(carry.task)
    batch = inputs["vector"].shape[:-1] if "vector" in inputs else inputs["fields"].shape[:-4]
    return carry.replace(hidden=P.initial_hidden(carry.agent, batch))
