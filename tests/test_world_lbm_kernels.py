"""D2Q9 kernels: conservation on a periodic box, viscosity (Taylor–Green), walls (Poiseuille)."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest

from atom_sdk.worlds import lbm
from atom_sdk.worlds.lbm_validation import lbm_taylor_green_decay_case, poiseuille_case


@pytest.mark.parametrize("kind", ["trt", "mrt"])
def test_periodic_box_conserves_mass_and_momentum(kind: str) -> None:
    rng = np.random.default_rng(1)
    n = 16
    ux = 0.05 * rng.standard_normal((n, n))
    uy = 0.05 * rng.standard_normal((n, n))
    rho = 1 + 0.01 * rng.standard_normal((n, n))
    f = lbm.equilibrium(jnp.asarray(rho), jnp.asarray(ux), jnp.asarray(uy)).astype(jnp.float32)
    m0 = [float(jnp.sum(x)) for x in lbm.moments(f)]
    g = lbm.run_periodic(f, 50, 0.6, kind)
    m1 = [float(jnp.sum(x)) for x in lbm.moments(g)]
    assert m1[0] == pytest.approx(m0[0], rel=1e-5)
    assert m1[1] == pytest.approx(m0[1], abs=1e-3)
    assert m1[2] == pytest.approx(m0[2], abs=1e-3)


def test_equilibrium_moments_are_exact() -> None:
    feq = lbm.equilibrium(jnp.asarray(1.2), jnp.asarray(0.03), jnp.asarray(-0.02))
    rho, ux, uy = lbm.macroscopic(feq[:, None, None])
    assert float(rho[0, 0]) == pytest.approx(1.2, rel=1e-6)
    assert float(ux[0, 0]) == pytest.approx(0.03, rel=1e-5)
    assert float(uy[0, 0]) == pytest.approx(-0.02, rel=1e-5)


def test_taylor_green_decay_rate_within_2_percent() -> None:
    (result,) = lbm_taylor_green_decay_case()
    assert result.passed, result
    assert result.rel_error < 0.02


def test_poiseuille_profile_within_2_percent() -> None:
    results = poiseuille_case()
    assert all(r.passed for r in results), results
    assert results[0].reference > 0
