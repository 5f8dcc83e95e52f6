"""D3Q19 lattice-Boltzmann reference kernels (pure JAX), the 3D counterpart of ``lbm``.

Why a reference written like ``lbm``: the fused and sharded D3Q19 kernels are checked against
this plain stack-of-populations code (collide, then ``jnp.roll`` streaming), which is easy to
read against the textbook (Krueger et al. 2017, ch. 3). State shape ``(19, nx, ny, nz)``,
``z`` fastest; direction 0 is rest, then +-x, +-y, +-z, then the twelve edge diagonals in
opposite pairs (odd index, next index). Lattice units, cs^2 = 1/3.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from atom_sdk.worlds.lbm import Collision, trt_minus_tau
from atom_sdk.worlds.lbm_trt import collide_trt

#: lattice velocities (c_x, c_y, c_z)
C = np.array([[0, 0, 0], [1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1], [0, 0, -1],
              [1, 1, 0], [-1, -1, 0], [1, -1, 0], [-1, 1, 0], [1, 0, 1], [-1, 0, -1], [1, 0, -1], [-1, 0, 1],
              [0, 1, 1], [0, -1, -1], [0, 1, -1], [0, -1, 1]], dtype=np.int64)
W = np.array([1 / 3] + [1 / 18] * 6 + [1 / 36] * 12)
OPP = np.array([0] + [i + 1 if i % 2 else i - 1 for i in range(1, 19)], dtype=np.int64)
_C = tuple(tuple(int(v) for v in row) for row in C)
_W = tuple(float(w) for w in W)


def moments(f: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array]:
    """Density and momentum (rho, j_x, j_y, j_z)."""
    rho = sum(f[i] for i in range(19))
    j = [sum(_C[i][a] * f[i] for i in range(19) if _C[i][a]) for a in range(3)]
    return rho, j[0], j[1], j[2]


def equilibrium(rho: jax.Array, ux: jax.Array, uy: jax.Array, uz: jax.Array) -> jax.Array:
    """Second-order equilibrium, shape (19, ...)."""
    usq = 1.5 * (ux * ux + uy * uy + uz * uz)
    out = []
    for i in range(19):
        cu = 3.0 * (_C[i][0] * ux + _C[i][1] * uy + _C[i][2] * uz)
        out.append(_W[i] * rho * (1.0 + cu + 0.5 * cu * cu - usq))
    return jnp.stack(out)


def collide(f: jax.Array, tau: float, kind: Collision = "trt", magic: float = 0.25) -> jax.Array:
    """BGK or TRT collision (MRT is not provided in 3D)."""
    if kind not in ("bgk", "trt"):
        raise ValueError(f"D3Q19 collision must be 'bgk' or 'trt', got {kind!r}")
    om_p = 1.0 / tau
    om_m = om_p if kind == "bgk" else 1.0 / trt_minus_tau(tau, magic)
    return jnp.stack(collide_trt([f[i] for i in range(19)], _C, _W, om_p, om_m))


def stream_periodic(f: jax.Array) -> jax.Array:
    """Push every population one link along c_i on a periodic box."""
    return jnp.stack([f[0]] + [jnp.roll(f[i], _C[i], axis=(0, 1, 2)) for i in range(1, 19)])


def periodic_step(f: jax.Array, tau: float, kind: Collision = "trt", magic: float = 0.25) -> jax.Array:
    return stream_periodic(collide(f, tau, kind, magic))


@partial(jax.jit, static_argnames=("steps", "tau", "kind", "magic"))
def run_periodic(f: jax.Array, steps: int, tau: float, kind: Collision = "trt", magic: float = 0.25) -> jax.Array:
    """``steps`` periodic updates in one compiled loop."""
    return jax.lax.fori_loop(0, steps, lambda _, g: periodic_step(g, tau, kind, magic), f)


def initial_state(shape: tuple[int, int, int], amplitude: float = 0.05, seed: int = 0,
                  dtype: jnp.dtype = jnp.float32) -> jax.Array:
    """Equilibrium of a random smooth-ish velocity field at rho = 1 (for tests and benchmarks)."""
    rng = np.random.default_rng(seed)
    u = amplitude * rng.standard_normal((3, *shape))
    return equilibrium(jnp.ones(shape), *(jnp.asarray(c) for c in u)).astype(dtype)
