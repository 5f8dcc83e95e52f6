"""2D compressible Euler finite volumes on a wedge-fitted grid: HLLC + MUSCL + SSP-RK2.

Geometry. The lower wall is ``y_w(x) = 0`` for ``x < x0`` and ``(x - x0) tan(theta)`` after the
leading edge ``x0`` (placed on a cell face). Grid lines are sheared to follow it,
``y = y_w(x) + eta`` with ``eta`` in [0, height]: every cell is a parallelogram with vertical
left/right faces (length ``dy``, normal (1, 0)) and bottom/top faces parallel to the wall of its
column (length ``dx sqrt(1 + s²)``, normal (-s, 1)/sqrt(1 + s²), s = slope). The wall is
therefore exact (no staircase), face normals of each cell sum to zero (uniform flow is kept to
round-off), and the wedge angle is a traced input, so an agent can change it under ``jit``.

Scheme. Conserved (rho, rho u, rho v, E) per cell; MUSCL reconstruction of the primitive
variables (rho, u, v, p) with a minmod or van Leer limiter (``order=1`` switches it off); the
rotated HLLC flux (Toro, Riemann Solvers, 3rd ed., ch. 10, Davis wave-speed bounds); SSP-RK2
(Heun) in time with one CFL step per RK step. Boundaries: supersonic inflow (freestream ghost
cells) at the left, zero-gradient outflow at the right and top, reflecting wall at the bottom.

Every numerical function takes an array namespace ``xp`` (``jax.numpy`` by default, ``numpy``
for the in-process reference the benchmark compares against): one scheme, two executors.
"""

from __future__ import annotations

import time
from functools import partial
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

#: Domain used by the wedge world (nondimensional: freestream rho = 1, sound speed = 1).
LENGTH = 1.0
HEIGHT = 0.75
LEADING_EDGE = 0.2


class Geometry(NamedTuple):
    """Per-column description of the sheared grid (arrays are xp arrays)."""

    dx: Any          # cell width (scalar)
    dy: Any          # vertical cell spacing (scalar)
    slope: Any       # (nx,) wall slope tan(angle) of each column
    x_center: Any    # (nx,) cell-centre x
    y_wall: Any      # (nx,) wall height at the cell-centre x


def make_geometry(nx: int, ny: int, theta: Any, *, length: float = LENGTH, height: float = HEIGHT,
                  x0: float = LEADING_EDGE, dtype: Any = jnp.float32, xp: Any = jnp) -> Geometry:
    """Sheared grid for wedge half-angle ``theta`` (radians, may be traced); x0 snaps to a face."""
    dx = length / nx
    dy = height / ny
    i0 = leading_edge_index(nx, length, x0)
    x_center = (xp.arange(nx, dtype=dtype) + 0.5) * dx
    after = xp.arange(nx) >= i0
    tan_t = xp.tan(xp.asarray(theta, dtype=dtype))
    slope = xp.where(after, tan_t, 0.0).astype(dtype)
    y_wall = xp.where(after, (x_center - i0 * dx) * tan_t, 0.0).astype(dtype)
    return Geometry(xp.asarray(dx, dtype=dtype), xp.asarray(dy, dtype=dtype), slope, x_center, y_wall)


def leading_edge_index(nx: int, length: float = LENGTH, x0: float = LEADING_EDGE) -> int:
    """Index of the first column on the wedge (the leading edge sits on its left face)."""
    return int(round(x0 / length * nx))


# ---- state conversions ---------------------------------------------------------------------------
def prim_to_cons(w: Any, gamma: float, xp: Any = jnp) -> Any:
    """(rho, u, v, p) -> (rho, rho u, rho v, E) along axis 0."""
    rho, u, v, p = w[0], w[1], w[2], w[3]
    energy = p / (gamma - 1.0) + 0.5 * rho * (u * u + v * v)
    return xp.stack([rho, rho * u, rho * v, energy])


def cons_to_prim(q: Any, gamma: float, xp: Any = jnp) -> Any:
    """(rho, rho u, rho v, E) -> (rho, u, v, p) along axis 0."""
    rho = q[0]
    u = q[1] / rho
    v = q[2] / rho
    p = (gamma - 1.0) * (q[3] - 0.5 * rho * (u * u + v * v))
    return xp.stack([rho, u, v, p])


def freestream(mach: float, gamma: float, dtype: Any = np.float32) -> np.ndarray:
    """Primitive freestream (rho, u, v, p) = (1, M, 0, 1/gamma): unit density and sound speed."""
    return np.array([1.0, mach, 0.0, 1.0 / gamma], dtype=dtype)


def uniform_state(nx: int, ny: int, w_inf: Any, gamma: float, xp: Any = jnp) -> Any:
    """Conserved field filled with the freestream (the impulsive start)."""
    w = xp.asarray(w_inf)[:, None, None] * xp.ones((1, nx, ny), dtype=xp.asarray(w_inf).dtype)
    return prim_to_cons(w, gamma, xp)


def regrid(q: Any, old: Geometry, new: Geometry, xp: Any = jnp) -> Any:
    """Move the flow onto a re-sheared grid (the wedge turned): linear interpolation along each
    vertical grid line, so the fluid stays where it is and only the wall moves; values beyond the
    old grid are held constant. Exact identity when the wall does not move."""
    ny = q.shape[2]
    frac = (new.y_wall - old.y_wall) / old.dy                      # (nx,) shift in cells
    pos = xp.clip(xp.arange(ny, dtype=q.dtype)[None, :] + frac[:, None], 0.0, ny - 1.0)
    lo = xp.clip(xp.floor(pos).astype(xp.int32), 0, ny - 2)
    weight = (pos - lo)[None]
    low = xp.take_along_axis(q, xp.broadcast_to(lo[None], q.shape), axis=2)
    high = xp.take_along_axis(q, xp.broadcast_to(lo[None] + 1, q.shape), axis=2)
    moved = low + weight * (high - low)
    return xp.where((frac == 0.0)[None, :, None], q, moved)


# ---- reconstruction and flux -----------------------------------------------------------------------
def limited_slope(a: Any, b: Any, limiter: str, xp: Any = jnp) -> Any:
    """Limited slope from backward/forward differences (TVD: keeps rho and p positive)."""
    if limiter == "minmod":
        return xp.where(a * b > 0.0, xp.sign(a) * xp.minimum(xp.abs(a), xp.abs(b)), 0.0)
    if limiter == "vanleer":
        ab = a * b
        return xp.where(ab > 0.0, 2.0 * ab / xp.where(ab > 0.0, a + b, 1.0), 0.0)
    raise ValueError(f"unknown limiter {limiter!r}; use 'minmod' or 'vanleer'")


def muscl_faces(wp: Any, axis: int, order: int, limiter: str, xp: Any = jnp) -> tuple[Any, Any]:
    """Left/right face states along ``axis`` of a field padded by two ghost cells on that axis.

    With n interior cells the padded axis has n + 4 entries and n + 1 faces come back.
    """
    n = wp.shape[axis] - 4

    def sl(start: int, stop: int) -> Any:
        idx = [slice(None)] * wp.ndim
        idx[axis] = slice(start, stop)
        return wp[tuple(idx)]

    left_cells = sl(1, n + 2)    # cells -1 .. n-1
    right_cells = sl(2, n + 3)   # cells 0 .. n
    if order == 1:
        return left_cells, right_cells
    d = sl(1, n + 4) - sl(0, n + 3)          # differences between consecutive padded cells
    idx_a = [slice(None)] * wp.ndim
    idx_b = [slice(None)] * wp.ndim
    idx_a[axis] = slice(0, n + 2)
    idx_b[axis] = slice(1, n + 3)
    slope = limited_slope(d[tuple(idx_a)], d[tuple(idx_b)], limiter, xp)  # cells -1 .. n
    idx_l = [slice(None)] * wp.ndim
    idx_r = [slice(None)] * wp.ndim
    idx_l[axis] = slice(0, n + 1)
    idx_r[axis] = slice(1, n + 2)
    return left_cells + 0.5 * slope[tuple(idx_l)], right_cells - 0.5 * slope[tuple(idx_r)]


def hllc_flux(wl: Any, wr: Any, nx: Any, ny: Any, gamma: float, xp: Any = jnp) -> Any:
    """HLLC flux F(U)·n through a face with unit normal (nx, ny), from primitive face states."""
    def rotate(w: Any) -> tuple[Any, Any, Any, Any]:
        return w[0], w[1] * nx + w[2] * ny, -w[1] * ny + w[2] * nx, w[3]

    rl, ul, tl, pl = rotate(wl)
    rr, ur, tr, pr = rotate(wr)
    cl = xp.sqrt(gamma * pl / rl)
    cr = xp.sqrt(gamma * pr / rr)
    el = pl / (gamma - 1.0) + 0.5 * rl * (ul * ul + tl * tl)
    er = pr / (gamma - 1.0) + 0.5 * rr * (ur * ur + tr * tr)
    s_l = xp.minimum(ul - cl, ur - cr)
    s_r = xp.maximum(ul + cl, ur + cr)
    ml = rl * (s_l - ul)
    mr = rr * (s_r - ur)
    s_star = (pr - pl + ul * ml - ur * mr) / (ml - mr)

    def flux(r: Any, un: Any, ut: Any, p: Any, e: Any) -> list[Any]:
        m = r * un
        return [m, m * un + p, m * ut, (e + p) * un]

    def star(r: Any, un: Any, ut: Any, p: Any, e: Any, s: Any) -> list[Any]:
        f = r * (s - un) / (s - s_star)
        return [f, f * s_star, f * ut, f * (e / r + (s_star - un) * (s_star + p / (r * (s - un))))]

    fl = flux(rl, ul, tl, pl, el)
    fr = flux(rr, ur, tr, pr, er)
    ql = [rl, rl * ul, rl * tl, el]
    qr = [rr, rr * ur, rr * tr, er]
    qsl = star(rl, ul, tl, pl, el, s_l)
    qsr = star(rr, ur, tr, pr, er, s_r)
    out = []
    for k in range(4):
        f_star_l = fl[k] + s_l * (qsl[k] - ql[k])
        f_star_r = fr[k] + s_r * (qsr[k] - qr[k])
        out.append(xp.where(s_l >= 0.0, fl[k],
                            xp.where(s_star >= 0.0, f_star_l, xp.where(s_r > 0.0, f_star_r, fr[k]))))
    fn, ft = out[1], out[2]
    return xp.stack([out[0], fn * nx - ft * ny, fn * ny + ft * nx, out[3]])


# ---- boundaries ----------------------------------------------------------------------------------
def _wall_normal(geom: Geometry, xp: Any) -> tuple[Any, Any, Any]:
    norm = xp.sqrt(1.0 + geom.slope * geom.slope)
    return -geom.slope / norm, 1.0 / norm, norm


def pad_x(w: Any, w_inf: Any, xp: Any = jnp) -> Any:
    """Two ghost columns: freestream inflow on the left, zero-gradient outflow on the right."""
    ny = w.shape[2]
    inflow = xp.asarray(w_inf, dtype=w.dtype)[:, None, None] * xp.ones((1, 2, ny), dtype=w.dtype)
    right = xp.concatenate([w[:, -1:, :], w[:, -1:, :]], axis=1)
    return xp.concatenate([inflow, w, right], axis=1)


def pad_y(w: Any, geom: Geometry, xp: Any = jnp) -> Any:
    """Two ghost rows: mirror images across the (sloped) wall below, zero gradient above."""
    nxw, nyw, _ = _wall_normal(geom, xp)

    def mirror(row: Any) -> Any:
        un = row[1] * nxw + row[2] * nyw
        return xp.stack([row[0], row[1] - 2.0 * un * nxw, row[2] - 2.0 * un * nyw, row[3]])

    below = xp.stack([mirror(w[:, :, 1]), mirror(w[:, :, 0])], axis=2)
    above = xp.concatenate([w[:, :, -1:], w[:, :, -1:]], axis=2)
    return xp.concatenate([below, w, above], axis=2)


# ---- semi-discrete operator and time stepping ------------------------------------------------------
def residual(q: Any, geom: Geometry, w_inf: Any, gamma: float, order: int = 2, limiter: str = "minmod",
             xp: Any = jnp) -> Any:
    """dq/dt = -(1/area) * sum over faces of (F·n) * face length."""
    w = cons_to_prim(q, gamma, xp)
    nx, ny = w.shape[1], w.shape[2]
    nxw, nyw, stretch = _wall_normal(geom, xp)
    xl, xr = muscl_faces(pad_x(w, w_inf, xp), 1, order, limiter, xp)     # (4, nx+1, ny)
    yl, yr = muscl_faces(pad_y(w, geom, xp), 2, order, limiter, xp)      # (4, nx, ny+1)
    # one Riemann solve over all faces of both directions (halves the compiled code)
    n_x = (nx + 1) * ny
    wl = xp.concatenate([xl.reshape(4, -1), yl.reshape(4, -1)], axis=1)
    wr = xp.concatenate([xr.reshape(4, -1), yr.reshape(4, -1)], axis=1)
    ones = xp.ones((nx, ny + 1), dtype=w.dtype)
    face_nx = xp.concatenate([xp.ones(n_x, dtype=w.dtype), (nxw[:, None] * ones).reshape(-1)])
    face_ny = xp.concatenate([xp.zeros(n_x, dtype=w.dtype), (nyw[:, None] * ones).reshape(-1)])
    flux = hllc_flux(wl, wr, face_nx, face_ny, gamma, xp)
    fx = flux[:, :n_x].reshape(4, nx + 1, ny)
    fy = flux[:, n_x:].reshape(4, nx, ny + 1)
    div = (fx[:, 1:, :] - fx[:, :-1, :]) / geom.dx
    div = div + (fy[:, :, 1:] - fy[:, :, :-1]) * (stretch / geom.dy)[None, :, None]
    return -div


def stable_dt(q: Any, geom: Geometry, gamma: float, cfl: float, xp: Any = jnp) -> Any:
    """CFL step: cfl / max over cells of (|u|+c)/dx + (|u·n|+c)/(dy cos(angle))."""
    w = cons_to_prim(q, gamma, xp)
    c = xp.sqrt(gamma * w[3] / w[0])
    nxw, nyw, stretch = _wall_normal(geom, xp)
    un = w[1] * nxw[:, None] + w[2] * nyw[:, None]
    rate = (xp.abs(w[1]) + c) / geom.dx + (xp.abs(un) + c) * (stretch / geom.dy)[:, None]
    return cfl / xp.max(rate)


def ssp_rk2_step(q: Any, geom: Geometry, w_inf: Any, gamma: float, cfl: float, order: int = 2,
                 limiter: str = "minmod", xp: Any = jnp) -> tuple[Any, Any]:
    """One Heun (SSP-RK2) step with the CFL time step of the current state; returns (q, dt).

    Written as two passes of ``q_s = a q + b (q_prev + dt L(q_prev))`` so that under ``jit`` the
    residual is traced once (a ``fori_loop`` over the stages) and compiles in half the time.
    """
    dt = stable_dt(q, geom, gamma, cfl, xp)

    def stage(a: Any, b: Any, prev: Any) -> Any:
        return a * q + b * (prev + dt * residual(prev, geom, w_inf, gamma, order, limiter, xp))

    if xp is np:
        return stage(0.5, 0.5, stage(0.0, 1.0, q)), dt
    coef = jnp.asarray([[0.0, 1.0], [0.5, 0.5]], dtype=q.dtype)
    q2 = jax.lax.fori_loop(0, 2, lambda s, prev: stage(coef[s, 0], coef[s, 1], prev), q)
    return q2, dt


@partial(jax.jit, static_argnames=("gamma", "cfl", "n_steps", "order", "limiter"))
def advance(q: jax.Array, geom: Geometry, w_inf: jax.Array, *, gamma: float, cfl: float, n_steps: int,
            order: int = 2, limiter: str = "minmod") -> tuple[jax.Array, jax.Array]:
    """``n_steps`` SSP-RK2 steps in one compiled loop; returns (q, elapsed physical time)."""
    def body(_: int, carry: tuple[jax.Array, jax.Array]) -> tuple[jax.Array, jax.Array]:
        state, t = carry
        state, dt = ssp_rk2_step(state, geom, w_inf, gamma, cfl, order, limiter, jnp)
        return state, t + dt

    return jax.lax.fori_loop(0, n_steps, body, (q, jnp.zeros((), q.dtype)))


def advance_numpy(q: np.ndarray, geom: Geometry, w_inf: np.ndarray, *, gamma: float, cfl: float, n_steps: int,
                  order: int = 2, limiter: str = "minmod") -> tuple[np.ndarray, float]:
    """The same scheme executed eagerly by NumPy (the benchmark's reference implementation)."""
    t = 0.0
    for _ in range(n_steps):
        q, dt = ssp_rk2_step(q, geom, w_inf, gamma, cfl, order, limiter, np)
        t += float(dt)
    return q, t


def run_wedge_benchmark(nx: int = 128, ny: int = 96, n_steps: int = 40, *, mach: float = 2.0,
                        wedge_angle: float = 10.0, gamma: float = 1.4, cfl: float = 0.5, order: int = 2,
                        limiter: str = "minmod", dtype: str = "float32", repeats: int = 3) -> dict[str, Any]:
    """Cell updates per second of the jitted solver vs the NumPy reference, same scheme and process.

    One cell update = one SSP-RK2 step of one cell. Both start from the same flow (20 warm-up
    steps past the impulsive start) and their results are compared as a parity check.
    """
    np_dtype = np.dtype(dtype)
    if np_dtype == np.float64 and not jax.config.jax_enable_x64:
        jax.config.update("jax_enable_x64", True)
    theta = np.deg2rad(wedge_angle)
    w_inf_np = freestream(mach, gamma, np_dtype)
    geom_j = make_geometry(nx, ny, theta, dtype=np_dtype, xp=jnp)
    geom_n = Geometry(*(np.asarray(a) for a in geom_j))
    w_inf_j = jnp.asarray(w_inf_np)
    q0 = advance(uniform_state(nx, ny, w_inf_j, gamma), geom_j, w_inf_j, gamma=gamma, cfl=cfl, n_steps=20,
                 order=order, limiter=limiter)[0]
    kwargs = dict(gamma=gamma, cfl=cfl, n_steps=n_steps, order=order, limiter=limiter)
    t0 = time.perf_counter()
    jax.block_until_ready(advance(q0, geom_j, w_inf_j, **kwargs))
    compile_s = time.perf_counter() - t0
    jax_times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        q_jax, _ = jax.block_until_ready(advance(q0, geom_j, w_inf_j, **kwargs))
        jax_times.append(time.perf_counter() - t0)
    q0_np = np.asarray(q0)
    np_times = []
    for _ in range(max(1, repeats - 1)):
        t0 = time.perf_counter()
        q_np, _ = advance_numpy(q0_np, geom_n, w_inf_np, **kwargs)
        np_times.append(time.perf_counter() - t0)
    updates = nx * ny * n_steps
    jax_rate = updates / min(jax_times)
    np_rate = updates / min(np_times)
    scale = np.max(np.abs(q_np), axis=(1, 2), keepdims=True)
    return {
        "grid": [nx, ny], "n_steps": n_steps, "order": order, "limiter": limiter, "dtype": dtype,
        "backend": jax.default_backend(), "jax_compile_s": compile_s,
        "jax_cell_updates_per_s": jax_rate, "numpy_cell_updates_per_s": np_rate,
        "speedup": jax_rate / np_rate,
        "max_rel_difference": float(np.max(np.abs(np.asarray(q_jax) - q_np) / scale)),
    }
