"""Action distributions for the policy heads, as pure functions on their parameters.

Three kinds:
* ``tanh``: Gaussian u squashed to [low, high] by tanh; log-prob carries the change-of-variables
  term. The log-prob is always evaluated from the stored *bounded* action (inverting tanh),
  so the value recorded by ``act`` and the one recomputed in the update agree exactly.
* ``clip``: Gaussian clipped to [low, high]. The log-likelihood is that of the clipped
  distribution (Fujita & Maeda 2018): the density inside the box, the tail mass at a bound.
  This keeps PPO's ratio correct although the rollout only stores in-bound actions.
* ``categorical``: logits over ``n_actions``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.scipy.stats import norm

LOG_STD_MIN, LOG_STD_MAX = -5.0, 2.0


def _gauss_logpdf(u, mean, log_std):
    return -0.5 * jnp.square((u - mean) / jnp.exp(log_std)) - log_std - 0.5 * jnp.log(2 * jnp.pi)


def gaussian_entropy(log_std: jnp.ndarray) -> jnp.ndarray:
    """Entropy of the unsquashed diagonal Gaussian (the usual stand-in for squashed/clipped)."""
    return jnp.sum(log_std + 0.5 * (1.0 + jnp.log(2 * jnp.pi)), axis=-1)


def _half_range(low, high):
    return 0.5 * (high - low)


def tanh_sample(key, mean, log_std, low, high, deterministic: bool):
    u = mean if deterministic else mean + jnp.exp(log_std) * jax.random.normal(key, mean.shape)
    return low + (jnp.tanh(u) + 1.0) * _half_range(low, high)


def tanh_log_prob(action, mean, log_std, low, high):
    """log p(a) = log N(u) - log|da/du| with u = atanh(y), written in the gaps a-low, high-a.

    1 - y^2 = (a-low)(high-a)/half^2 and atanh(y) = log((a-low)/(high-a))/2 avoid the
    cancellation in 1 - y^2 near a bound, so jitted programs that fuse differently (act vs
    update) agree on the log-prob of a saturated action to float32 round-off.
    """
    floor = 1e-6 * (high - low)
    lo_gap = jnp.maximum(action - low, floor)
    hi_gap = jnp.maximum(high - action, floor)
    u = 0.5 * (jnp.log(lo_gap) - jnp.log(hi_gap))
    log_det = jnp.log(lo_gap) + jnp.log(hi_gap) - jnp.log(_half_range(low, high))
    return jnp.sum(_gauss_logpdf(u, mean, log_std) - log_det, axis=-1)


def clip_sample(key, mean, log_std, low, high, deterministic: bool):
    u = mean if deterministic else mean + jnp.exp(log_std) * jax.random.normal(key, mean.shape)
    return jnp.clip(u, low, high)


def clip_log_prob(action, mean, log_std, low, high):
    std = jnp.exp(log_std)
    tol = 1e-6 * (high - low)
    inside = _gauss_logpdf(action, mean, log_std)
    below = norm.logcdf((low - mean) / std)  # mass clipped onto the lower bound
    above = norm.logsf((high - mean) / std)  # mass clipped onto the upper bound
    per_dim = jnp.where(action <= low + tol, below, jnp.where(action >= high - tol, above, inside))
    return jnp.sum(per_dim, axis=-1)


def categorical_sample(key, logits, deterministic: bool):
    if deterministic:
        return jnp.argmax(logits, axis=-1)
    return jax.random.categorical(key, logits, axis=-1)


def categorical_log_prob(action, logits):
    logp = jax.nn.log_softmax(logits, axis=-1)
    return jnp.take_along_axis(logp, action[..., None].astype(jnp.int32), axis=-1)[..., 0]


def categorical_entropy(logits):
    logp = jax.nn.log_softmax(logits, axis=-1)
    return -jnp.sum(jnp.exp(logp) * logp, axis=-1)
