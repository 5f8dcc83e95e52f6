"""Störmer-Verlet on known Hamiltonians: bounded energy error, reversibility, symplecticity."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from atom_sdk.agent import symplectic as S
from atom_sdk.errors import ConfigError

# Harmonic oscillator H = p^2/2 + q^2/2 and pendulum H = p^2/2 - cos q.
HO = (lambda q: q, lambda p: p)
PENDULUM = (lambda q: jnp.sin(q), lambda p: p)


def _energy_ho(q, p):
    return 0.5 * p**2 + 0.5 * q**2


def _energy_pendulum(q, p):
    return 0.5 * p**2 - jnp.cos(q)


@pytest.mark.parametrize(
    "system, energy, q0, p0, dt",
    [(HO, _energy_ho, 1.0, 0.0, 0.1), (PENDULUM, _energy_pendulum, 2.0, 0.0, 0.05)],
)
def test_leapfrog_energy_bounded_over_1e4_steps_while_euler_drifts(system, energy, q0, p0, dt):
    q0, p0 = jnp.asarray(q0), jnp.asarray(p0)
    e0 = float(energy(q0, p0))
    qs, ps = S.integrate(S.leapfrog_step, *system, q0, p0, dt, 10_000)
    drift = float(jnp.max(jnp.abs(energy(qs, ps) - e0)))
    # Leapfrog's modified-Hamiltonian error is O(dt^2): for the oscillator max|dH| <= dt^2/8 * 2H.
    assert drift < 0.3 * dt**2 * max(abs(e0), 1.0)
    # and it does not grow: the last 1000 steps are no worse than the first 1000 (+10%)
    first = float(jnp.max(jnp.abs(energy(qs[:1000], ps[:1000]) - e0)))
    last = float(jnp.max(jnp.abs(energy(qs[-1000:], ps[-1000:]) - e0)))
    assert last <= 1.1 * first + 1e-5
    qe, pe = S.integrate(S.euler_step, *system, q0, p0, dt, 10_000)
    euler_drift = float(jnp.abs(energy(qe[-1], pe[-1]) - e0))
    assert not np.isfinite(euler_drift) or euler_drift > 100 * drift


def test_leapfrog_is_time_reversible():
    q0, p0 = jnp.asarray(2.0), jnp.asarray(0.3)
    qs, ps = S.integrate(S.leapfrog_step, *PENDULUM, q0, p0, 0.05, 1000)
    qb, pb = S.integrate(S.leapfrog_step, *PENDULUM, qs[-1], -ps[-1], 0.05, 1000)
    assert abs(float(qb[-1] - q0)) < 2e-4 and abs(float(-pb[-1] - p0)) < 2e-4


def test_one_step_map_preserves_symplectic_form():
    omega = jnp.array([[0.0, 1.0], [-1.0, 0.0]])

    def flow(step):
        def f(x):
            q, p = step(*PENDULUM, x[0], x[1], 0.3)
            return jnp.stack([q, p])

        return f

    x = jnp.array([1.3, -0.7])
    m = jax.jacfwd(flow(S.leapfrog_step))(x)
    np.testing.assert_allclose(m.T @ omega @ m, omega, atol=1e-6)
    m_euler = jax.jacfwd(flow(S.euler_step))(x)
    assert float(jnp.abs(jnp.linalg.det(m_euler) - 1.0)) > 0.01  # Euler changes phase volume


def test_latent_hamiltonian_model_learns_a_rotation():
    """Fitting z_{t+1} = R z_t (a harmonic oscillator in latent space) cuts the loss 20x."""
    key = jax.random.key(0)
    z = jax.random.normal(key, (256, 4))
    theta = 0.1
    c, s = np.cos(theta), np.sin(theta)
    # q' = c q + s p, p' = -s q + c p per latent pair (q = z[:2], p = z[2:])
    z_next = jnp.concatenate([c * z[:, :2] + s * z[:, 2:], -s * z[:, :2] + c * z[:, 2:]], axis=1)
    actions = jnp.zeros((256, 1))
    mask = jnp.ones(256)
    params = S.init_dynamics(jax.random.key(1), 4, 1, hidden=16)
    opt = optax.adam(1e-2)
    state = opt.init(params)
    loss_fn = lambda p: S.latent_dynamics_loss(p, z, actions, z_next, mask, dt=0.1)

    @jax.jit
    def step(p, st):
        loss, g = jax.value_and_grad(loss_fn)(p)
        upd, st = opt.update(g, st, p)
        return optax.apply_updates(p, upd), st, loss

    first = float(loss_fn(params))
    for _ in range(150):
        params, state, _ = step(params, state)
    assert float(loss_fn(params)) < first / 20
    with pytest.raises(ConfigError):
        S.init_dynamics(key, 5, 1)
