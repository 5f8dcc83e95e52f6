"""The recurrent core: a GRU unrolled over time, and the sequence minibatches PPO trains it on.

Why a hand-written GRU instead of ``flax.linen.GRUCell``: the same parameters are used one step
at a time while acting and unrolled with ``lax.scan`` over a stored sequence during the update;
with the weights as plain ``self.param`` arrays the recurrence is an ordinary ``lax.scan``
inside the module (no lifted transforms), for any leading batch shape.

Conventions: a hidden state has shape ``(..., H)``. ``resets[t] = 1`` zeroes the state *before*
step t (the observation at t starts a new episode). A rollout stores, at every step, the hidden
state the network was given there (already zeroed at an episode start), so each training
sequence starts from its stored state and re-runs the GRU through its steps, resetting where an
episode ended inside it (Kapturowski et al. 2019's "stored state" strategy, as in recurrent PPO
implementations such as CleanRL's ppo_atari_lstm and PureJaxRL's ppo_rnn).
"""

from __future__ import annotations

import math
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from atom_sdk.errors import ConfigError

CORES = ("mlp", "gru")


class GRU(nn.Module):
    """Gated recurrent unit (Cho et al. 2014, the PyTorch gate convention)."""

    features: int

    @nn.compact
    def __call__(self, xs: jnp.ndarray, h0: jnp.ndarray, resets: jnp.ndarray) -> tuple[jnp.ndarray, jnp.ndarray]:
        """Unroll over axis 0: xs (T, ..., D), h0 (..., H), resets (T, ...) -> (last state, states (T, ..., H))."""
        h_size, d = self.features, xs.shape[-1]
        w_in = self.param("w_in", nn.initializers.orthogonal(1.0), (d, 3 * h_size))
        w_h = self.param("w_h", nn.initializers.orthogonal(1.0), (h_size, 3 * h_size))
        b_in = self.param("b_in", nn.initializers.zeros, (3 * h_size,))
        b_h = self.param("b_h", nn.initializers.zeros, (3 * h_size,))

        def cell(h, inp):
            x, reset = inp
            h = h * (1.0 - reset)[..., None]
            ir, iz, in_ = jnp.split(x @ w_in + b_in, 3, axis=-1)
            hr, hz, hn = jnp.split(h @ w_h + b_h, 3, axis=-1)
            r = jax.nn.sigmoid(ir + hr)
            z = jax.nn.sigmoid(iz + hz)
            n = jnp.tanh(in_ + r * hn)
            h = (1.0 - z) * n + z * h
            return h, h

        return jax.lax.scan(cell, h0, (xs, resets.astype(xs.dtype)))


def chunk_count(rollout_length: int, num_envs: int, num_minibatches: int, sequence_length: int) -> int:
    """Sequences per env in one rollout; checks that they split into the minibatches."""
    if sequence_length:
        if rollout_length % sequence_length:
            raise ConfigError(f"sequence_length {sequence_length} does not divide rollout_length {rollout_length}",
                              hint="pick a sequence_length that divides rollout_length, or 0 for automatic")
        chunks = rollout_length // sequence_length
    else:  # the longest sequences that still give every minibatch a whole number of them
        chunks = num_minibatches // math.gcd(num_minibatches, num_envs)
        if rollout_length % chunks:
            raise ConfigError(
                f"a rollout of {rollout_length} steps x {num_envs} envs cannot be cut into sequences for "
                f"{num_minibatches} minibatches", hint="make rollout_length a multiple of num_minibatches")
    if (chunks * num_envs) % num_minibatches:
        raise ConfigError(f"{chunks * num_envs} sequences do not split into {num_minibatches} minibatches",
                          hint="make (rollout_length / sequence_length) * num_envs a multiple of num_minibatches")
    return chunks


def to_sequences(x: jnp.ndarray, chunks: int) -> jnp.ndarray:
    """(T, E, ...) -> (L, chunks * E, ...): time-major sequences of length L = T / chunks."""
    t, e = x.shape[:2]
    x = x.reshape((chunks, t // chunks, e) + x.shape[2:])
    x = jnp.moveaxis(x, 0, 1)
    return x.reshape((t // chunks, chunks * e) + x.shape[3:])


def sequence_resets(dones: jnp.ndarray) -> jnp.ndarray:
    """(L, S) dones -> resets: step t restarts when step t-1 ended an episode; the first step of a
    sequence never does (its stored hidden state is already zeroed at an episode start)."""
    return jnp.concatenate([jnp.zeros_like(dones[:1]), dones[:-1]], axis=0)


def sequence_minibatches(data: Any, perm: jnp.ndarray, num_minibatches: int) -> Any:
    """Shuffle whole sequences (axis 1) and split them: leaves (L, S, ...) -> (M, L, S / M, ...)."""

    def split(x):
        x = x[:, perm]
        x = x.reshape((x.shape[0], num_minibatches, -1) + x.shape[2:])
        return jnp.moveaxis(x, 1, 0)

    return jax.tree.map(split, data)
