"""One lattice update of the 2D channel with a body: the one builder of ``lbm2d:cylinder`` and the DFG runner.

Why one builder: the world (:mod:`atom_sdk.worlds.cylinder`) and the Schäfer–Turek runner
(:mod:`atom_sdk.worlds.st_channel`) run the same update (collide, stream, the body's interpolated
bounce-back with the jets, the walls, an outlet, the Zou-He inlet) and differ only in the outlet:
the world's density-anchored extrapolation (rho = 1) or the runner's non-reflecting characteristic
one (rho follows the outgoing plane wave, see :mod:`atom_sdk.worlds.st_channel`). Each used to carry
its own copy of the pure-JAX update and of the "resolve the kernel, then build the native update"
branch; here they are written once, the outlet chosen by ``u_ref`` exactly as the native kernel's
(:func:`atom_sdk.worlds.lbm_channel_fused.make_fused_substep`) is.

:func:`make_channel_update` returns the kernel it resolved with the update, so a caller that tunes its
loop to the kernel (the native call cannot write its input: unroll by 2) resolves only once.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from atom_sdk.worlds import lbm, lbm_channel_fused
from atom_sdk.worlds.channel_geometry import Geometry

CS = math.sqrt(lbm.CS2)


class ChannelUpdate(NamedTuple):
    """``substep(f, amplitude, inlet_scale=None) -> (f, F_x, F_y, injected mass)`` and the kernel it runs on."""

    substep: lbm_channel_fused.Substep
    kernel: str  # "native" or "reference"


def collide_bulk_damped(f: jax.Array, tau: float, bulk_rate: float) -> jax.Array:
    """The kernel's MRT collision (Lallemand & Luo 2000 rates) with the bulk rate set to ``bulk_rate``.

    Why: the bulk viscosity nu_b = c_s^2 (1/bulk_rate - 1/2) damps only the compressive (acoustic)
    part of the flow, which the incompressible benchmark does not have; sound then decays at
    k^2 (nu + nu_b) / 2. With TRT the bulk and shear viscosities are tied, so at Re = 100 (tau near
    1/2) the channel's acoustic standing waves barely decay over a benchmark run. Raising the bulk
    viscosity of the lattice Boltzmann equation to damp them is Dellar's (2001, Phys. Rev. E 64,
    031203). TRT's own odd rate (magic 1/4, about 0.07 here) with a low bulk rate diverged within
    200 updates (D = 20, tau = 0.518), hence MRT's energy-flux rate 1.2. ``bulk_rate = 1.4`` is the
    kernel's ``collision="mrt"``.
    """
    rho, ux, uy = lbm.macroscopic(f)
    feq = lbm.equilibrium(rho, ux, uy)
    k = jnp.asarray(lbm.mrt_operator(tau, s_e=bulk_rate), dtype=f.dtype)
    return f - jnp.einsum("ij,j...->i...", k, f - feq)


def outflow_characteristic(f: jax.Array, u_ref: float) -> jax.Array:
    """Extrapolated outlet whose density follows the outgoing plane wave, rho = 1 + (u_bar - u_ref) / c_s.

    Same population rule as :func:`atom_sdk.worlds.lbm.outflow_extrapolated` (equilibrium shape at
    the upstream column's velocity plus its non-equilibrium part); only the anchored density moves.
    """
    g = f[:, -2, :]
    rho, ux, uy = lbm.macroscopic(g)
    rho_out = 1.0 + (jnp.mean(ux) - u_ref) / CS
    usq = 1.5 * (ux * ux + uy * uy)
    for i in (3, 6, 7):
        cu = 3.0 * (int(lbm.C[i][0]) * ux + int(lbm.C[i][1]) * uy)
        shape = float(lbm.W[i]) * (1.0 + cu + 0.5 * cu * cu - usq)
        f = f.at[i, -1, :].set(g[i] + (rho_out - rho) * shape)
    return f


def make_channel_update(geo: Geometry, tau: float, kind: str, dtype: Any, *, magic: float = 0.25,
                        bulk_rate: float | None = None, u_ref: float | None = None,
                        kernel: str = "auto") -> ChannelUpdate:
    """One channel update: collide, stream, body (with the jets), walls, outlet, inlet.

    ``kind``: "trt" (with ``magic``), "bgk" or "mrt"; ``bulk_rate`` (MRT only) sets MRT's bulk rate
    (:func:`collide_bulk_damped`). ``u_ref`` None anchors the outlet's density at 1
    (``lbm.outflow_extrapolated``); a value (the inlet's mean velocity) makes it the characteristic
    outlet (:func:`outflow_characteristic`). ``kernel`` (:func:`lbm_channel_fused.resolve_kernel`):
    "native" runs the whole update in one C++ call (TRT/BGK, float32, CPU), "reference" the pure-JAX
    update below, "auto" native where it applies. The substep's ``inlet_scale`` (default 1)
    multiplies the inlet profile, for a smooth start.
    """
    if bulk_rate is not None and (kind != "mrt" or not 0.0 < bulk_rate < 2.0):
        raise ValueError(f"bulk_rate needs collision='mrt' and 0 < bulk_rate < 2 (got {kind!r}, {bulk_rate})")
    resolved = lbm_channel_fused.resolve_kernel(kernel, kind, dtype, bulk_rate, geo.links, geo.nx, geo.ny)
    if resolved == "native":
        fused = lbm_channel_fused.make_fused_substep(geo.links, geo.inlet_ux, geo.nx, tau, kind, dtype, magic=magic,
                                                     u_ref=u_ref)
        return ChannelUpdate(fused, resolved)
    inlet = jnp.asarray(geo.inlet_ux, dtype)

    def substep(f: jax.Array, amplitude: jax.Array, inlet_scale: jax.Array | float | None = None):
        post = lbm.collide(f, tau, kind, magic) if bulk_rate is None else collide_bulk_damped(f, tau, bulk_rate)
        out = lbm.stream_periodic(post)
        out, fx, fy, injected = lbm.apply_body(out, post, geo.links, amplitude)
        out = lbm.bounce_back_walls(out, post)
        out = lbm.outflow_extrapolated(out) if u_ref is None else outflow_characteristic(out, u_ref)
        out = lbm.zou_he_velocity_inlet(out, inlet if inlet_scale is None else inlet * inlet_scale)
        return out, fx, fy, injected

    return ChannelUpdate(substep, resolved)
