"""Regularised collisions for the D3Q19 periodic box: projected (Latt & Chopard) and recursive.

Why: at tau - 1/2 ~ 5e-4 (the Re = 1600 Taylor–Green vortex on a 32^3-128^3 box) BGK and TRT let
the non-hydrodynamic ("ghost") moments of the populations grow without damping, and the run blows
up before the flow has even transitioned. Regularisation rebuilds the non-equilibrium part from its
hydrodynamic content only, so every ghost moment is reset each step:

* ``order=2`` — regularised BGK (Latt & Chopard 2006, Math. Comput. Simul. 72, 165): the
  non-equilibrium populations are replaced by their projection on the second-order Hermite
  polynomials, f1_i = w_i H2_i : a1 / (2 cs^4), with a1 = sum_i H2_i (f_i - feq_i).
* ``order=3`` — recursive regularisation (Malaspinas 2015, arXiv:1505.06900; Coreixas et al. 2017,
  Phys. Rev. E 96, 033306): the equilibrium and f1 also carry the six third-order Hermite terms the
  D3Q19 lattice supports (xxy, xxz, xyy, yyz, xzz, yzz), with the non-equilibrium third-order
  coefficients built recursively from a1: a1_aab = 2 u_a a1_ab + u_b a1_aa.

Both give the shear viscosity nu = cs^2 (tau - 1/2) of BGK (a shear wave decays at BGK's rate to
0.2 %); what discarding the ghost moments costs is a numerical dissipation of the under-resolved
scales, second order in the cell (see ``reproduce.taylor_green_3d`` for the measured size).

``bulk_tau`` relaxes the trace of a1 (the compressive part) with its own time, i.e. a bulk viscosity
nu_b = 2/3 cs^2 (bulk_tau - 1/2) (the D3Q19 counterpart of the 2D MRT ``bulk_rate``): it damps the
acoustic waves a coarse under-resolved box fills with, without touching the shear. Mass and momentum
are conserved to round-off because every Hermite term above order 0 (resp. 1) has a zero zeroth
(resp. first) moment on the lattice. Lattice units, cs^2 = 1/3; same layout and velocity order as
``lbm_d3q19``.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from atom_sdk.worlds.lbm_d3q19 import _C, _W, stream_periodic

CS2 = 1.0 / 3.0
#: the six independent second-order index pairs (a, b), a <= b
PAIRS = ((0, 0), (1, 1), (2, 2), (0, 1), (0, 2), (1, 2))
#: the six third-order Hermite classes (a, a, b), a != b, that D3Q19 supports (xyz is not)
TRIPLES = ((0, 0, 1), (0, 0, 2), (1, 1, 0), (1, 1, 2), (2, 2, 0), (2, 2, 1))


def _h2(i: int, a: int, b: int) -> float:
    """Second-order Hermite polynomial H2_ab of direction i (lattice units)."""
    return _C[i][a] * _C[i][b] - (CS2 if a == b else 0.0)


def _h3(i: int, a: int, b: int) -> float:
    """Third-order Hermite polynomial H3_aab = c_a^2 c_b - cs^2 c_b (a != b) of direction i."""
    return (_C[i][a] ** 2 - CS2) * _C[i][b]


def _check(tau: float, order: int, bulk_tau: float | None) -> None:
    if not tau > 0.5:
        raise ValueError(f"tau must exceed 1/2 (zero viscosity), got {tau}")
    if order not in (2, 3):
        raise ValueError(f"order must be 2 (regularised BGK) or 3 (recursive regularisation), got {order}")
    if bulk_tau is not None and not bulk_tau > 0.5:
        raise ValueError(f"bulk_tau must exceed 1/2 (or be None for bulk_tau = tau), got {bulk_tau}")


def _basis(order: int) -> tuple[np.ndarray, np.ndarray]:
    """Moment matrix M (10 x 19: 1, c_a, c_a c_b) and the Hermite reconstruction matrix B (19 x K).

    f_i = sum_k B_ik h_k with h = (rho, rho u, a2 over PAIRS[, a3 over TRIPLES]); B carries the
    weights, the 1/cs^(2n) n! normalisation and the multiplicity of the symmetric index sets.
    """
    m = [[1.0] * 19] + [[float(_C[i][a]) for i in range(19)] for a in range(3)]
    m += [[float(_C[i][a] * _C[i][b]) for i in range(19)] for a, b in PAIRS]
    cols = [[1.0] * 19] + [[_C[i][a] / CS2 for i in range(19)] for a in range(3)]
    cols += [[_h2(i, a, b) * (1.0 if a == b else 2.0) / (2 * CS2 * CS2) for i in range(19)] for a, b in PAIRS]
    if order == 3:  # three permutations of (a, a, b) in the full contraction
        cols += [[_h3(i, a, b) * 3.0 / (6 * CS2**3) for i in range(19)] for a, _, b in TRIPLES]
    return np.asarray(m), np.asarray(cols).T * np.asarray(_W)[:, None]


def _coefficients(m: jax.Array, tau: float, order: int, bulk_tau: float | None) -> jax.Array:
    """Post-collision Hermite coefficients from the moments (rho, j, Pi) of the pre-collision populations."""
    rho, j, pi = m[0], m[1:4], m[4:10]
    u = j / rho
    keep = 1.0 - 1.0 / tau
    a2_eq = [rho * u[a] * u[b] for a, b in PAIRS]
    # a1_ab = Pi_ab - Pi_ab^eq, Pi^eq = rho u u + rho cs^2 delta (third-order terms add no second moment)
    a1 = [pi[k] - a2_eq[k] - (CS2 * rho if a == b else 0.0) for k, (a, b) in enumerate(PAIRS)]
    if bulk_tau is None:
        post = [keep * x for x in a1]
    else:
        trace = (a1[0] + a1[1] + a1[2]) / 3.0
        keep_b = 1.0 - 1.0 / bulk_tau
        post = [keep * (x - trace) + keep_b * trace if k < 3 else keep * x for k, x in enumerate(a1)]
    h = [rho, j[0], j[1], j[2]] + [a2_eq[k] + post[k] for k in range(6)]
    if order == 3:
        sym = {**dict(zip(PAIRS, a1)), **{(b, a): x for (a, b), x in zip(PAIRS, a1)}}
        h += [rho * u[a] * u[a] * u[b] + keep * (2.0 * u[a] * sym[a, b] + u[b] * sym[a, a]) for a, _, b in TRIPLES]
    return jnp.stack(h)


def _project(f: jax.Array, tau: float, order: int, bulk_tau: float | None) -> jax.Array:
    mom, rec = _basis(order)
    flat = f.reshape(19, -1)
    m = jnp.dot(jnp.asarray(mom, f.dtype), flat, precision=jax.lax.Precision.HIGHEST)
    h = _coefficients(m, tau, order, bulk_tau)
    return jnp.dot(jnp.asarray(rec, f.dtype), h, precision=jax.lax.Precision.HIGHEST).reshape(f.shape)


def equilibrium_hermite(f: jax.Array, order: int = 2) -> jax.Array:
    """Hermite equilibrium of the populations' (rho, u): second order (= ``lbm_d3q19.equilibrium``)
    or with the six third-order terms (the collision at tau = 1 keeps no non-equilibrium part)."""
    return _project(f, 1.0, order, None)


def collide_regularized(f: jax.Array, tau: float, order: int = 3, bulk_tau: float | None = None) -> jax.Array:
    """Post-collision populations f_i = feq_i + (1 - 1/tau) f1_i, f1 the regularised non-equilibrium part.

    Written as two small matrix products (populations -> 10 moments -> 10 or 16 Hermite
    coefficients -> populations) so that XLA does not recompute the moments once per direction.
    """
    _check(tau, order, bulk_tau)
    return _project(f, tau, order, bulk_tau)


def periodic_step(f: jax.Array, tau: float, order: int = 3, bulk_tau: float | None = None) -> jax.Array:
    return stream_periodic(collide_regularized(f, tau, order, bulk_tau))


@partial(jax.jit, static_argnames=("steps", "tau", "order", "bulk_tau"))
def run_periodic(f: jax.Array, steps: int, tau: float, order: int = 3, bulk_tau: float | None = None) -> jax.Array:
    """``steps`` regularised periodic updates in one compiled loop."""
    return jax.lax.fori_loop(0, steps, lambda _, g: periodic_step(g, tau, order, bulk_tau), f)
