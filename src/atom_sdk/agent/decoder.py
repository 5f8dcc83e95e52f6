"""Field decoder: reconstruct the observed field from the encoder's latent, as an auxiliary loss.

Why: PPO's gradient alone tells the encoder only what helped the return so far; asking the
latent to also reconstruct the field it came from is a classic way to shape the representation
(e.g. Jaderberg et al. 2017's auxiliary tasks, Yarats et al. 2021's SAC-AE). It is off by
default (``AgentSettings.decoder_weight = 0``) and on in the ``no_scientist_decoder`` variant.

The target is the field resized to at most ``MAX_SIDE`` cells per axis (the latent is a few
dozen numbers; it cannot carry a full-resolution field) and standardised per channel over the
minibatch, so the loss is a dimensionless fraction of the field's variance left unexplained.
"""

from __future__ import annotations

from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

MAX_SIDE = 8  # cells per axis of the reconstructed field


def target_shape(field_shape: Sequence[int]) -> tuple[int, ...]:
    """(C, nx, ny, nz) of one observed field -> the (C, px, py, pz) the decoder reconstructs."""
    c, *spatial = (int(n) for n in field_shape[-4:])
    return (c,) + tuple(min(n, MAX_SIDE) for n in spatial)


def field_target(fields: jnp.ndarray, shape: tuple[int, ...]) -> jnp.ndarray:
    """Fields (B..., C, nx, ny, nz) resized to ``shape`` and standardised per channel over the batch."""
    fields = jnp.asarray(fields, jnp.float32)
    lead = fields.shape[:-4]
    small = jax.image.resize(fields, lead + tuple(shape), method="linear", antialias=True)
    axes = tuple(range(len(lead))) + (len(lead) + 1, len(lead) + 2, len(lead) + 3)
    mean = jnp.mean(small, axis=axes, keepdims=True)
    std = jnp.std(small, axis=axes, keepdims=True)
    return (small - mean) / (std + 1e-6)


class FieldDecoder(nn.Module):
    """Latent (..., d) -> reconstructed field (..., C, px, py, pz) through one tanh hidden layer."""

    shape: tuple[int, ...]
    hidden: int = 128

    @nn.compact
    def __call__(self, latent: jnp.ndarray) -> jnp.ndarray:
        h = jnp.tanh(nn.Dense(self.hidden, kernel_init=nn.initializers.orthogonal(np.sqrt(2.0)))(latent))
        out = nn.Dense(int(np.prod(self.shape)), kernel_init=nn.initializers.orthogonal(1.0))(h)
        return out.reshape(latent.shape[:-1] + tuple(self.shape))


def init_decoder(key: jax.Array, latent_dim: int, shape: tuple[int, ...]):
    return FieldDecoder(shape).init(key, jnp.zeros((latent_dim,), jnp.float32))


def reconstruction_loss(params, latent: jnp.ndarray, fields: jnp.ndarray, shape: tuple[int, ...]) -> jnp.ndarray:
    """Mean squared error of the reconstruction against the standardised, resized field."""
    recon = FieldDecoder(shape).apply(params, latent)
    return jnp.mean(jnp.square(recon - field_target(fields, shape)))
