"""The 3D channel update (``lbm3d:*`` worlds) on the native CPU kernel: which update runs, and where it applies.

One update of the reference (:func:`atom_sdk.worlds.lbm3d.make_update`) is a D3Q19 collision, the
periodic roll and the patches of the inlet, the outlet, the side walls and the body's Bouzidi links.
:mod:`atom_sdk.worlds.lbm3d_native` makes all of it in one C++ call (the design and why are there);
:func:`make_update` here picks that call or the reference by ``kernel``:

* ``"auto"``: native wherever it applies (TRT or BGK, float32, the CPU, a C++ compiler, and the body's
  link nodes off the inlet and outlet columns), the reference elsewhere, silently;
* ``"native"``: native, or :class:`WorldParameterError` saying why not and what to change;
* ``"reference"``: the pure-JAX update.

Exactness: the same formulas in an order that commutes with the reference's (the side walls, folded
into the sweep, act before the body's links, whose destinations never cross a side wall), so the two
differ by float32 round-off (``tests/test_lbm3d_native.py``: populations within 5e-6 after 40 updates).

Measured on the shared 2-core EPYC (load average 7-11 from other jobs, so wall time swings; work per
process CPU-second is steadier), ``lbm3d:cylinder`` TRT float32, jets off, interleaved rounds, best of 3:

===============================  ===========================  ========================  ======================
case                             reference MLUPS (per CPU-s)  native MLUPS (per CPU-s)  native / reference
===============================  ===========================  ========================  ======================
world step, 120 x 41 x 41        1.3 (3.9)                    17.0 (31.8)               x12.9 wall, x8.2 CPU-s
world step, 250 x 41 x 41        0.68 (3.5)                   5.3 (27.9)                x7.9 wall, x7.9 CPU-s
bare update loop, 250 x 41 x 41  0.72 (3.8)                   5.7 (32.7)                x7.9 wall, x8.6 CPU-s
===============================  ===========================  ========================  ======================

(world step: ``bench.channel3d_rows``, 20 updates per agent step plus the observation and diagnostics.)
The periodic D3Q19 single pass of ``lbm_native`` alone runs 33 MLUPS per CPU-second at 250 x 41 x 41 in
the same conditions, so the boundaries cost next to nothing: the update is bound by the bulk's cell
(``cell<19>``, about a quarter of the copy bound per CPU-second), which is where further speed would come
from. Tried and not kept: colliding each (x, y) row whole into a private buffer and copying it out with the
z shift, so the two z-edge cells of a row need no scalar path (34.8-36.3 against 32.9-36.4 MLUPS per
CPU-second at 120 x 41 x 41: no gain). The world's loop unrolls by 2, so XLA ping-pongs two buffers
instead of copying the state into the loop carry (the kernel cannot write its input).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from atom_sdk.errors import WorldParameterError
from atom_sdk.worlds import lbm3d, lbm3d_native
# Kernel, KERNELS: the kernel choices, the 2D channel's (kept importable from here)
from atom_sdk.worlds.lbm_channel_fused import KERNELS, Kernel, choose_kernel, collision_blocker  # noqa: F401
from atom_sdk.worlds.lbm_fused import relaxation_rates


def _mode(channel: lbm3d.Channel) -> str:
    return "closed" if channel.closed else channel.inlet


def native_blocker(kind: str, dtype: Any, shape: tuple[int, int, int] | None = None,
                   channel: lbm3d.Channel | None = None, links: lbm3d.Links | None = None) -> str | None:
    """Why the native 3D channel update cannot run here (None when it can)."""
    reason = collision_blocker(kind, dtype, "native D3Q19 channel kernel")
    if reason is not None:
        return reason
    if channel is not None and not channel.closed and channel.inlet not in lbm3d_native.MODES:
        return f"the native D3Q19 channel kernel has no inlet {channel.inlet!r} (bounce_back or equilibrium)"
    if shape is not None:
        nx, ny, nz = shape
        if nx < 4 or ny < 2 or nz < 2:
            return f"the native D3Q19 channel kernel needs nx >= 4 and ny, nz >= 2 (got {shape})"
        if links is not None and len(links.node):
            x = np.asarray(links.node) // (ny * nz)
            if x.min() < 1 or x.max() > nx - 2:
                return ("the body's links touch the inlet or outlet column (x 0 or nx-1), which the kernel patches "
                        "before the body; move the body away from the channel's ends")
    if not lbm3d_native.available():
        return "the native D3Q19 channel kernel did not build here (no C++ compiler on PATH or $CXX)"
    return None


def resolve_kernel(kernel: str, kind: str, dtype: Any, shape: tuple[int, int, int] | None = None,
                   channel: lbm3d.Channel | None = None, links: lbm3d.Links | None = None) -> str:
    """``"native"`` or ``"reference"``: what ``kernel`` runs here; ``"native"`` where it cannot raises
    :class:`WorldParameterError` with the reason and what to change."""
    return choose_kernel(kernel, lambda: native_blocker(kind, dtype, shape, channel, links))


def make_native_update(shape: tuple[int, int, int], tau: float, kind: str, channel: lbm3d.Channel,
                       links: lbm3d.Links | None, solid: np.ndarray, dtype: Any, magic: float = 0.25,
                       threads: int | None = None) -> lbm3d.Update:
    """``lbm3d.make_update``'s update (same arguments and outputs) in one native call per update."""
    reason = native_blocker(kind, dtype, shape, channel, links)
    if reason is not None:
        raise WorldParameterError(f"the native 3D channel update cannot run: {reason}")
    if tuple(np.shape(channel.inlet_ux)) != tuple(shape[1:]):
        raise ValueError(f"the inlet profile must be (ny, nz) = {shape[1:]}, got {np.shape(channel.inlet_ux)}")
    om_p, om_m = relaxation_rates(tau, kind, magic)
    inlet = jnp.asarray(channel.inlet_ux, jnp.float32)
    # the reference resets solid nodes only when there is a body
    idx, coef, solid_idx = lbm3d_native.link_table(links, None if links is None else solid)
    mode = _mode(channel)

    def update(f: jax.Array, amplitude: jax.Array, scale: jax.Array | None = None):
        """``scale`` (default 1) multiplies the inlet profile and the wall speed, for a smooth start."""
        ux = inlet if scale is None else inlet * scale
        wall = jnp.asarray(channel.wall_ux, jnp.float32) if scale is None else channel.wall_ux * scale
        out, forces = lbm3d_native.channel_update(f, ux, amplitude, wall, idx, coef, solid_idx, om_p, om_m, mode,
                                                  threads)
        return out, forces[:3], forces[3]

    return update


def make_update(shape: tuple[int, int, int], tau: float, kind: str, channel: lbm3d.Channel,
                links: lbm3d.Links | None, solid: np.ndarray, dtype: Any, magic: float = 0.25,
                kernel: str = "auto") -> lbm3d.Update:
    """The channel update ``kernel`` resolves to (:func:`resolve_kernel`), as ``lbm3d.make_update``'s."""
    if resolve_kernel(kernel, kind, dtype, shape, channel, links) == "native":
        return make_native_update(shape, tau, kind, channel, links, solid, dtype, magic)
    return lbm3d.make_update(shape, tau, kind, channel, links, solid, dtype, magic)
