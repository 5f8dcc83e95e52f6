"""The channel world's strain-rate diagnostic (``max_stress``): the one-pass moment form against f - f^eq."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from atom_sdk.worlds import lbm
from atom_sdk.worlds.cylinder import CylinderWorld

SMALL = (180, 34, 1)  # Schäfer-Turek channel scaled to D = 8.3 cells


def _strain_from_neq(f: jax.Array, tau: float) -> jax.Array:
    """The formula the world used before: Pi_neq = sum_i c_i c_i (f_i - f_i^eq) on the stacked (9, nx, ny) planes."""
    rho, ux, uy = lbm.macroscopic(f)
    neq = f - lbm.equilibrium(rho, ux, uy)
    cx = jnp.asarray(lbm.C[:, 0], f.dtype)[:, None, None]
    cy = jnp.asarray(lbm.C[:, 1], f.dtype)[:, None, None]
    pxx, pyy, pxy = (jnp.sum(a * neq, axis=0) for a in (cx * cx, cy * cy, cx * cy))
    scale = -1.5 / (rho * tau)
    sxx, syy, sxy = scale * pxx, scale * pyy, scale * pxy
    return jnp.sqrt(2.0 * (sxx * sxx + syy * syy + 2.0 * sxy * sxy))


def _tolerance(tau: float) -> float:
    """float32 round-off of either form: each Pi sum adds ~8 terms of size <= rho ~ 1 (error <= 8 eps), scaled by
    1.5 / (rho tau), for both forms: 16 eps 1.5 / tau (5.4e-6 at tau 0.53; measured differences ~3e-7)."""
    return 16 * float(np.finfo(np.float32).eps) * 1.5 / tau


@pytest.fixture(scope="module")
def shedding_state() -> tuple[CylinderWorld, jax.Array]:
    """A float32 state after 3 agent steps with the jets blowing: shear near the body and in the jets."""
    world = CylinderWorld(grid=SMALL, substeps=100)
    world.reset(seed=3)
    for action in (0.06, -0.06, 0.03):
        world.step(np.array([action], np.float32))
    return world, world.state.f


def test_moment_form_equals_the_non_equilibrium_form_to_float32_round_off(shedding_state) -> None:
    world, f = shedding_state
    fluid = ~world.geometry.solid
    new = np.asarray(jax.jit(lambda g: lbm.strain_rate_magnitude(g, world.tau))(f))[fluid]
    old = np.asarray(jax.jit(lambda g: _strain_from_neq(g, world.tau))(f))[fluid]
    assert old.max() > 1e-3  # the flow is sheared: the comparison means something
    np.testing.assert_allclose(new, old, rtol=0, atol=_tolerance(world.tau))


def test_moment_form_is_the_same_quantity_in_float64(shedding_state) -> None:
    """The two forms agree algebraically: in float64 only float64 round-off separates them."""
    world, f = shedding_state
    with jax.enable_x64(True):
        f64 = jnp.asarray(np.asarray(f), jnp.float64)
        new = np.asarray(lbm.strain_rate_magnitude(f64, world.tau))
        old = np.asarray(_strain_from_neq(f64, world.tau))
    np.testing.assert_allclose(new, old, rtol=0, atol=1e-13)
    # and the float32 moment form is as close to the float64 value as the float32 non-equilibrium form
    fluid = ~world.geometry.solid
    err_new = np.abs(np.asarray(lbm.strain_rate_magnitude(f, world.tau), np.float64) - new)[fluid].max()
    err_old = np.abs(np.asarray(_strain_from_neq(f, world.tau), np.float64) - new)[fluid].max()
    assert err_new <= max(2.0 * err_old, 1e-7)


def test_world_max_stress_keeps_its_meaning(shedding_state) -> None:
    """The safety envelope's ``max_stress``: the largest strain rate over fluid cells, as before."""
    world, f = shedding_state
    fluid = ~world.geometry.solid
    want = float(np.asarray(_strain_from_neq(f, world.tau))[fluid].max())
    got = world.diagnostics()["max_stress"]
    assert got == pytest.approx(want, abs=_tolerance(world.tau))
    # a solid cell's populations never count: poison them and the maximum does not move
    poisoned = jnp.where(jnp.asarray(world.geometry.solid)[None], 10.0, f)
    state = world.state._replace(f=poisoned)
    assert float(world.dynamics.diagnostics(state)["max_stress"]) == pytest.approx(got, abs=1e-7)
