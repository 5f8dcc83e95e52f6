"""D2Q9 lattice-Boltzmann kernels as pure JAX functions.

Why pure functions on a ``(9, nx, ny)`` array: the same kernels then serve the periodic
validation boxes, the benchmark and the cylinder channel, and XLA can fuse a whole
collide-stream-boundary update into a few loops. Populations are stored with ``y`` as the
fastest axis; directions are ordered rest, +x, +y, -x, -y, then the four diagonals.

Lattice units throughout: dx = dt = 1, cs^2 = 1/3, kinematic viscosity nu = cs^2 (tau - 1/2).
"""

from __future__ import annotations

from functools import partial
from typing import Literal, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

Collision = Literal["bgk", "trt", "mrt"]

#: lattice velocities (c_x, c_y) of the nine directions
C = np.array([[0, 0], [1, 0], [0, 1], [-1, 0], [0, -1], [1, 1], [-1, 1], [-1, -1], [1, -1]], dtype=np.int64)
#: quadrature weights
W = np.array([4 / 9] + [1 / 9] * 4 + [1 / 36] * 4)
#: index of the opposite direction
OPP = np.array([0, 3, 4, 1, 2, 7, 8, 5, 6], dtype=np.int64)
CS2 = 1.0 / 3.0
# Python scalars for use inside traced code: NumPy float64 scalars would promote float32
# arrays to float64 once x64 is enabled by a float64 world in the same process.
_W = tuple(float(w) for w in W)
_C = tuple((int(cx), int(cy)) for cx, cy in C)


def viscosity(tau: float) -> float:
    """Kinematic viscosity of the BGK/TRT/MRT shear mode: nu = cs^2 (tau - 1/2)."""
    return CS2 * (tau - 0.5)


def tau_from_viscosity(nu: float) -> float:
    return 0.5 + nu / CS2


def trt_minus_tau(tau: float, magic: float = 0.25) -> float:
    """Antisymmetric relaxation time from the TRT magic parameter (tau+ - 1/2)(tau- - 1/2)."""
    return 0.5 + magic / (tau - 0.5)


# ---- macroscopic quantities and equilibrium -------------------------------------------------
def moments(f: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Density and momentum (rho, j_x, j_y), written out so XLA fuses them into one pass."""
    rho = f[0] + f[1] + f[2] + f[3] + f[4] + f[5] + f[6] + f[7] + f[8]
    jx = f[1] - f[3] + f[5] - f[6] - f[7] + f[8]
    jy = f[2] - f[4] + f[5] + f[6] - f[7] - f[8]
    return rho, jx, jy


def macroscopic(f: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
    """(rho, u_x, u_y) without forcing."""
    rho, jx, jy = moments(f)
    return rho, jx / rho, jy / rho


def equilibrium(rho: jax.Array, ux: jax.Array, uy: jax.Array) -> jax.Array:
    """Second-order Maxwell-Boltzmann equilibrium, shape (9, ...)."""
    usq = 1.5 * (ux * ux + uy * uy)
    out = []
    for i in range(9):
        cu = 3.0 * (_C[i][0] * ux + _C[i][1] * uy) if i else 0.0
        out.append(_W[i] * rho * (1.0 + cu + 0.5 * cu * cu - usq))
    return jnp.stack(out)


# ---- MRT (Lallemand & Luo 2000) ----------------------------------------------------------------
def _mrt_matrix() -> np.ndarray:
    cx, cy = C[:, 0].astype(float), C[:, 1].astype(float)
    c2 = cx * cx + cy * cy
    rows = [np.ones(9), -4 + 3 * c2, 4 - 21 / 2 * c2 + 9 / 2 * c2 * c2, cx, (-5 + 3 * c2) * cx, cy,
            (-5 + 3 * c2) * cy, cx * cx - cy * cy, cx * cy]
    return np.array(rows)


def mrt_operator(tau: float, s_e: float = 1.4, s_eps: float = 1.4, s_q: float = 1.2) -> np.ndarray:
    """K = M^-1 S M, so that collision is f - K (f - f_eq); the shear rates are 1/tau.

    The momentum rates are irrelevant without forcing; 1/tau makes the Guo force term exact.
    """
    m = _mrt_matrix()
    s = np.diag([0.0, s_e, s_eps, 1.0 / tau, s_q, 1.0 / tau, s_q, 1.0 / tau, 1.0 / tau])
    return np.linalg.solve(m, s @ m)


# ---- collision ---------------------------------------------------------------------------------
def collide(f: jax.Array, tau: float, kind: Collision = "trt", magic: float = 0.25,
            force: tuple[float, float] | None = None) -> jax.Array:
    """One collision, optionally with a uniform body force (Guo et al. 2002 source term).

    TRT relaxes the even part of f - f_eq with 1/tau (sets viscosity) and the odd part with
    the rate fixed by ``magic`` (1/4: stable; 3/16: exact wall location for bounce-back).
    BGK and TRT are written per direction pair so XLA fuses them into one pass.
    """
    rho, jx, jy = moments(f)
    if force is not None:
        jx = jx + 0.5 * force[0]
        jy = jy + 0.5 * force[1]
    inv = 1.0 / rho
    ux, uy = jx * inv, jy * inv
    om_p = 1.0 / tau
    om_m = om_p if kind in ("bgk", "mrt") else 1.0 / trt_minus_tau(tau, magic)
    if kind == "mrt":
        feq = equilibrium(rho, ux, uy)
        k = jnp.asarray(mrt_operator(tau), dtype=f.dtype)
        post = f - jnp.einsum("ij,j...->i...", k, f - feq)
        out = [post[i] for i in range(9)]
    elif kind in ("bgk", "trt"):
        usq = 1.5 * (ux * ux + uy * uy)
        out = [None] * 9
        out[0] = f[0] - om_p * (f[0] - _W[0] * rho * (1.0 - usq))
        for i in (1, 2, 5, 6):
            ib = int(OPP[i])
            cu = 3.0 * (_C[i][0] * ux + _C[i][1] * uy)
            even_eq = _W[i] * rho * (1.0 + 0.5 * cu * cu - usq)
            odd_eq = _W[i] * rho * cu
            even = 0.5 * (f[i] + f[ib])
            odd = 0.5 * (f[i] - f[ib])
            even = even - om_p * (even - even_eq)
            odd = odd - om_m * (odd - odd_eq)
            out[i], out[ib] = even + odd, even - odd
    else:  # pragma: no cover - guarded by the world's parameter model
        raise ValueError(f"unknown collision '{kind}'")
    if force is not None:
        src = _guo_source(ux, uy, force, om_p, om_m)
        out = [out[i] + src[i] for i in range(9)]
    return jnp.stack(out)


def _guo_source(ux: jax.Array, uy: jax.Array, force: tuple[float, float], om_p: float, om_m: float) -> jax.Array:
    """Guo forcing split into odd (c.F) and even (u-dependent) parts, each with its own rate."""
    fx, fy = force
    uf = ux * fx + uy * fy
    out = []
    for i in range(9):
        cf = _C[i][0] * fx + _C[i][1] * fy
        cu = _C[i][0] * ux + _C[i][1] * uy
        odd = 3.0 * cf
        even = 9.0 * cu * cf - 3.0 * uf
        out.append(_W[i] * ((1 - 0.5 * om_m) * odd + (1 - 0.5 * om_p) * even))
    return out


# ---- streaming ---------------------------------------------------------------------------------
def stream_periodic(f: jax.Array) -> jax.Array:
    """Pull streaming f_i(x) <- f_i(x - c_i) on a periodic box (boundaries patch the wrap later)."""
    out = [f[0]]
    for i in range(1, 9):
        out.append(jnp.roll(f[i], (int(_C[i][0]), int(_C[i][1])), axis=(0, 1)))
    return jnp.stack(out)


def periodic_step(f: jax.Array, tau: float, kind: Collision = "trt", magic: float = 0.25,
                  force: tuple[float, float] | None = None) -> jax.Array:
    """Fused collide + stream on a fully periodic box."""
    return stream_periodic(collide(f, tau, kind, magic, force))


@partial(jax.jit, static_argnames=("tau", "kind", "magic", "force"), donate_argnums=(0,))
def run_periodic(f: jax.Array, steps: int, tau: float, kind: Collision = "trt", magic: float = 0.25,
                 force: tuple[float, float] | None = None) -> jax.Array:
    """``steps`` periodic updates inside one compiled loop (the input buffer is donated)."""
    return jax.lax.fori_loop(0, steps, lambda _, g: periodic_step(g, tau, kind, magic, force), f)


# ---- walls and open boundaries for a channel (x: streamwise, y: wall-normal) ------------------
def bounce_back_walls(f_str: jax.Array, f_post: jax.Array) -> jax.Array:
    """Half-way bounce-back on walls half a cell below row 0 and above row ny-1."""
    for i in (4, 7, 8):  # pointing into the bottom wall
        f_str = f_str.at[int(OPP[i]), :, 0].set(f_post[i, :, 0])
    for i in (2, 5, 6):  # pointing into the top wall
        f_str = f_str.at[int(OPP[i]), :, -1].set(f_post[i, :, -1])
    return f_str


def outflow_zero_gradient(f: jax.Array) -> jax.Array:
    """Copy the unknown (c_x < 0) populations of the last column from its upstream neighbour."""
    for i in (3, 6, 7):
        f = f.at[i, -1, :].set(f[i, -2, :])
    return f


def outflow_extrapolated(f: jax.Array, rho_out: float = 1.0) -> jax.Array:
    """Zero-gradient outlet that anchors the density (pressure) at ``rho_out``.

    The unknown populations take the equilibrium at (rho_out, u of the upstream column) plus
    that column's non-equilibrium part (Guo, Zheng & Shi 2002 extrapolation); a plain copy lets
    the mean density, hence the force coefficients, drift.
    """
    g = f[:, -2, :]
    rho, ux, uy = macroscopic(g)
    usq = 1.5 * (ux * ux + uy * uy)
    for i in (3, 6, 7):
        cu = 3.0 * (_C[i][0] * ux + _C[i][1] * uy)
        shape = _W[i] * (1.0 + cu + 0.5 * cu * cu - usq)
        f = f.at[i, -1, :].set(g[i] + (rho_out - rho) * shape)
    return f


def zou_he_velocity_inlet(f: jax.Array, ux: jax.Array) -> jax.Array:
    """Zou & He (1997) velocity inlet on column 0 with u = (ux(y), 0)."""
    g = f[:, 0, :]
    rho = (g[0] + g[2] + g[4] + 2.0 * (g[3] + g[6] + g[7])) / (1.0 - ux)
    dy = 0.5 * (g[2] - g[4])
    f = f.at[1, 0, :].set(g[3] + (2.0 / 3.0) * rho * ux)
    f = f.at[5, 0, :].set(g[7] - dy + (1.0 / 6.0) * rho * ux)
    f = f.at[8, 0, :].set(g[6] + dy + (1.0 / 6.0) * rho * ux)
    return f


class BodyLinks(NamedTuple):
    """Interpolated bounce-back links of an immersed body, stored densely in a window.

    For every fluid node x of the window and direction i with x + c_i inside the body
    (mask[i]), the returning population is f_opp(i)(x) = a[i] f*_i(x) + b[i] f*_i(x - c_i)
    + c[i] f*_opp(i)(x) + jet[i] * amplitude: the Bouzidi, Firdaouss & Lallemand (2001)
    linear rule with the jets' moving-wall mass source added.
    """

    origin: tuple[int, int]
    mask: jax.Array  # (9, wx, wy) bool
    a: jax.Array
    b: jax.Array
    c: jax.Array
    jet: jax.Array  # (9, wx, wy) mass source per unit amplitude
    solid: jax.Array  # (wx, wy) bool


def apply_body(f_str: jax.Array, f_post: jax.Array, links: BodyLinks,
               amplitude: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array]:
    """Patch populations coming back from the body; return (f, F_x, F_y, injected mass).

    The force on the body is the momentum exchanged on every link, sum c_i (f*_i + f_opp(i)).
    """
    x0, y0 = links.origin
    wx, wy = links.solid.shape
    fp = jax.lax.dynamic_slice(f_post, (0, x0, y0), (9, wx, wy))
    fs = jax.lax.dynamic_slice(f_str, (0, x0, y0), (9, wx, wy))
    new = [fs[i] for i in range(9)]
    fx = jnp.zeros((), f_str.dtype)
    fy = jnp.zeros((), f_str.dtype)
    injected = jnp.zeros((), f_str.dtype)
    for i in range(1, 9):
        ib = int(OPP[i])
        source = amplitude * links.jet[i]
        val = links.a[i] * fp[i] + links.b[i] * fs[i] + links.c[i] * fp[ib] + source
        new[ib] = jnp.where(links.mask[i], val, new[ib])
        exchanged = jnp.sum(jnp.where(links.mask[i], fp[i] + val, 0.0))
        fx = fx + _C[i][0] * exchanged
        fy = fy + _C[i][1] * exchanged
        injected = injected + jnp.sum(jnp.where(links.mask[i], source, 0.0))
    rest = jnp.asarray(W, f_str.dtype)[:, None, None]
    patched = jnp.where(links.solid[None], rest, jnp.stack(new))
    return jax.lax.dynamic_update_slice(f_str, patched, (0, x0, y0)), fx, fy, injected


def strain_rate_magnitude(f: jax.Array, tau: float) -> jax.Array:
    """|S| = sqrt(2 S:S) from the non-equilibrium stress, S = -3 Pi_neq / (2 rho tau).

    Pi_neq = sum_i c_i c_i f_i - (rho c_s^2 I + rho u u), written out on the nine planes: the same
    value as sum_i c_i c_i (f_i - f_i^eq) to float32 round-off (the equilibrium's second moment is
    exactly that), in one fused pass. Why: building f^eq as a (9, nx, ny) array and reducing over the
    directions ran about 25x slower on XLA:CPU (2.7 against 0.1 ms at 440 x 82), a fifth of a
    native ``lbm2d:cylinder`` agent step, which evaluates this every step (its ``max_stress``).
    """
    rho, jx, jy = moments(f)
    ux, uy = jx / rho, jy / rho
    pxx = (f[1] + f[3] + f[5] + f[6] + f[7] + f[8]) - rho * (CS2 + ux * ux)
    pyy = (f[2] + f[4] + f[5] + f[6] + f[7] + f[8]) - rho * (CS2 + uy * uy)
    pxy = (f[5] - f[6] + f[7] - f[8]) - rho * ux * uy
    scale = -1.5 / (rho * tau)
    sxx, syy, sxy = scale * pxx, scale * pyy, scale * pxy
    return jnp.sqrt(2.0 * (sxx * sxx + syy * syy + 2.0 * sxy * sxy))


def vorticity(ux: jax.Array, uy: jax.Array) -> jax.Array:
    """omega_z = d uy/dx - d ux/dy by central differences (one-sided at the edges)."""
    return jnp.gradient(uy, axis=0) - jnp.gradient(ux, axis=1)
