"""Structure-preserving latent dynamics: a separable Hamiltonian integrated by Störmer-Verlet.

The latent z is split into halves q and p. H(q, p) = T(p) + V(q) with T and V small tanh MLPs;
separability makes the leapfrog scheme explicit, symplectic and time-reversible, so the learnt
latent dynamics cannot invent or destroy "energy" by discretisation alone. The action enters
as a generalised force on p (a learnt linear map), the port-Hamiltonian way of forcing.

Used as an auxiliary loss: MSE between the one-step prediction from z_t, a_t and the
stop-gradient encoding of the next observation, weighted by ``symplectic_weight``.
"""

from __future__ import annotations

from typing import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp

from atom_sdk.errors import ConfigError

GradFn = Callable[[jnp.ndarray], jnp.ndarray]


def leapfrog_step(dv_dq: GradFn, dt_dp: GradFn, q, p, dt: float, force=0.0):
    """One Störmer-Verlet (kick-drift-kick) step for H = T(p) + V(q), with force on p."""
    p_half = p - 0.5 * dt * (dv_dq(q) - force)
    q_new = q + dt * dt_dp(p_half)
    p_new = p_half - 0.5 * dt * (dv_dq(q_new) - force)
    return q_new, p_new


def euler_step(dv_dq: GradFn, dt_dp: GradFn, q, p, dt: float, force=0.0):
    """Explicit Euler, the non-symplectic baseline (its energy drifts)."""
    return q + dt * dt_dp(p), p - dt * (dv_dq(q) - force)


def integrate(step, dv_dq: GradFn, dt_dp: GradFn, q, p, dt: float, n_steps: int):
    """Run ``n_steps`` of ``step``; returns the trajectory (n_steps+1, ...) of q and p."""

    def body(carry, _):
        nq, np_ = step(dv_dq, dt_dp, *carry, dt)
        return (nq, np_), (nq, np_)

    _, (qs, ps) = jax.lax.scan(body, (q, p), None, length=n_steps)
    return jnp.concatenate([q[None], qs]), jnp.concatenate([p[None], ps])


def grad_of_scalar(fn: Callable[[jnp.ndarray], jnp.ndarray]) -> GradFn:
    """Per-sample gradient of a scalar field that maps (..., n) -> (...)."""
    return jax.grad(lambda x: jnp.sum(fn(x)))


class ScalarMLP(nn.Module):
    """Smooth scalar field (tanh MLP) used for T(p) and V(q)."""

    hidden: int = 64

    @nn.compact
    def __call__(self, x: jnp.ndarray) -> jnp.ndarray:
        h = jnp.tanh(nn.Dense(self.hidden)(x))
        h = jnp.tanh(nn.Dense(self.hidden)(h))
        return nn.Dense(1)(h)[..., 0] + 0.5 * jnp.sum(jnp.square(x), axis=-1)


def init_dynamics(key: jax.Array, latent_dim: int, action_dim: int, hidden: int = 64) -> dict:
    """Parameters of the latent Hamiltonian model: {"T", "V", "force"}."""
    if latent_dim % 2:
        raise ConfigError(
            f"the symplectic model splits the latent into q and p halves; latent_dim={latent_dim}"
            " is odd",
            hint="use an even latent_dim or set symplectic=False",
        )
    half = latent_dim // 2
    k1, k2, k3 = jax.random.split(key, 3)
    mlp = ScalarMLP(hidden)
    x = jnp.zeros((half,), jnp.float32)
    return {
        "T": mlp.init(k1, x),
        "V": mlp.init(k2, x),
        "force": 0.01 * jax.random.normal(k3, (max(action_dim, 1), half), jnp.float32),
    }


def predict_next_latent(params: dict, z: jnp.ndarray, action: jnp.ndarray, *, dt: float = 0.1):
    """One leapfrog step of the learnt Hamiltonian from latent z (..., 2h), forced by action."""
    half = z.shape[-1] // 2
    q, p = z[..., :half], z[..., half:]
    mlp = ScalarMLP(params["V"]["params"]["Dense_0"]["kernel"].shape[-1])
    dv_dq = grad_of_scalar(lambda x: mlp.apply(params["V"], x))
    dt_dp = grad_of_scalar(lambda x: mlp.apply(params["T"], x))
    a = jnp.asarray(action, jnp.float32).reshape(z.shape[:-1] + (-1,))
    force = a @ params["force"]
    q1, p1 = leapfrog_step(dv_dq, dt_dp, q, p, dt, force)
    return jnp.concatenate([q1, p1], axis=-1)


def latent_dynamics_loss(params: dict, z, action, z_next, mask, *, dt: float = 0.1) -> jnp.ndarray:
    """Masked MSE of predicted vs encoded next latent; the target is stop-gradient."""
    pred = predict_next_latent(params, z, action, dt=dt)
    err = jnp.mean(jnp.square(pred - jax.lax.stop_gradient(z_next)), axis=-1)
    return jnp.sum(err * mask) / jnp.maximum(jnp.sum(mask), 1.0)
