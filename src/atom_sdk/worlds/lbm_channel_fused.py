"""The ``lbm2d:cylinder`` channel update on the native CPU kernel: which update runs, and why this design.

One update of the reference (``channel_update.make_channel_update``, pure JAX) is ``post = collide(f)``,
``out = stream_periodic(post)`` and four patches: interpolated bounce-back of the body (with the
momentum-exchange force and the jets' mass source), wall bounce-back on rows 0 and ny-1, the
density-anchored extrapolated outlet and the Zou-He inlet. The patches read ``post`` only on the
body's links and the two wall rows, so the bulk is exactly the periodic D2Q9 single pass of
:mod:`atom_sdk.worlds.lbm_native` (one update per sweep: the boundaries act after every update).

Design, chosen by measurement (440 x 82, TRT, float32, 200 updates in one jitted loop, work per
process CPU-second, 2-core EPYC shared with other jobs at load 6-11; reference 35-44 MLUPS/CPU-s):

* native bulk call + the patches in XLA, the few post values recomputed in JAX from ``f`` on the
  window and the two rows (collision is local): 76 MLUPS/CPU-s. XLA interleaved slice reads with
  slice writes on the state and copied it four times per update; composing every patch on small
  arrays first and writing them back afterwards left one copy and about 47 small XLA operations
  per update (each a dispatched thunk on XLA:CPU): 145 MLUPS/CPU-s.
* the single pass and all the patches in **one** C++ call (:mod:`lbm_channel_native`; post values
  recomputed on the links with the bulk's own folded TRT): 317-345 MLUPS/CPU-s with the walls as a
  second pass over rows 0 and ny-1, 493-506 with the walls folded into the sweep (kept); the
  periodic single pass alone runs 424-443 in the same loop. At 880 x 164: 497 against 536.
* The call cannot write its input, so a loop of single updates copies the state into the loop
  carry every update (the periodic pass: 238 against 413 MLUPS/CPU-s); ``make_dynamics`` unrolls
  its loop by 2, which lets XLA ping-pong two buffers.

Measured through the world (``atom_sdk.worlds.bench.channel_rows``: agent steps of 200 updates,
jets off, 4 interleaved rounds, best of each; load average 9-12 from other jobs on the 2 cores; a
world step also computes the observation and the diagnostics, 0.4 ms at 440 x 82 now, see below):

=============  ===========================  ===========================  ================================
grid           reference MLUPS (per CPU-s)  native MLUPS (per CPU-s)     native: x reference; copy bound
=============  ===========================  ===========================  ================================
440 x 82       35 (36)                      378 (376)                    x10.9 wall, x10.5 CPU-s; 31/43 %
880 x 164      16 (38)                      306 (393)                    x18.6 wall, x10.3 CPU-s; 33/50 %
=============  ===========================  ===========================  ================================

(copy bound: a copy of the channel's own (9, nx, ny) state in the same rounds, as for the periodic
rows; share by wall clock / per CPU-second.) One ``lbm2d:cylinder`` episode of 20 agent steps x
100 updates at 440 x 82 with random jet actions: 3.69 s wall (2.04 CPU-s) with the reference,
0.51 s (0.24 CPU-s) native; building and compiling the world 12.2 s against 5.5 s.
The diagnostics' strain-rate maximum (``max_stress``, every agent step) took 3.2-3.6 ms of an
11.4-12.5 ms step (100 updates; a third of its CPU time) while it built f^eq as a (9, nx, ny) array;
from the second moments in one fused pass (``lbm.strain_rate_magnitude``) the diagnostics take 0.4 ms:
the step 8.2-8.5 CPU-ms, the episode 0.19-0.21 CPU-s against 0.26-0.27, and the 440 x 82 row
above 428-438 MLUPS per CPU-second against 376-381 (before and after in alternating processes, load
average 10-11).

Exactness: the patches follow the reference's formulas in its order (the walls, folded into the
sweep, act before the body instead of after it, which commutes while the body stays off the wall
rows), so the fused update differs from the reference only by the bulk's regrouped TRT (fused
multiply-adds) and the force sums (accumulated in double): float32 round-off, checked in
``tests/test_channel_fused.py`` (populations within 5e-6 after 60 updates; over 30 000 updates of
a shedding wake, mean C_D and St within 2e-5 of the reference's).

Where it applies: TRT or BGK, float32, the CPU, a C++ compiler, and a body whose link window
misses columns 0, nx-2 and nx-1 (the world's geometry checks keep five diameters behind it) and
whose links stay off rows 0 and ny-1 (the world keeps it 2 cells from the walls). MRT
(also the bulk-damped MRT of the Schäfer-Turek case), float64, an accelerator or no compiler run
the reference: ``kernel="auto"`` picks it silently, ``kernel="native"`` refuses with the reason.
"""

from __future__ import annotations

from typing import Any, Callable, Literal

import jax
import jax.numpy as jnp
import numpy as np

from atom_sdk.errors import WorldParameterError
from atom_sdk.worlds import lbm, lbm_channel_native
from atom_sdk.worlds.lbm_fused import relaxation_rates

Kernel = Literal["auto", "reference", "native"]
KERNELS = ("auto", "reference", "native")
Substep = Callable[..., tuple[jax.Array, jax.Array, jax.Array, jax.Array]]


def window_blocker(links: lbm.BodyLinks, nx: int, ny: int | None = None) -> str | None:
    """Where the kernel's order of patches differs from the reference's, the body must not be.

    The kernel patches the body before the outlet and inlet read columns nx-2 and 0, and after the
    walls (applied in the sweep): the body's window must miss those columns, and its links and
    solid cells rows 0 and ny-1 (the world keeps the body 2 cells from the walls).
    """
    x0, y0 = links.origin
    wx, wy = links.solid.shape
    if x0 < 1 or x0 + wx > nx - 2:
        return (f"the body's link window (x {x0}..{x0 + wx - 1}) must leave columns 0, nx-2 and nx-1 (nx = {nx}) "
                "free; move the body away from the inlet and outlet")
    used = np.asarray(links.mask).any(axis=0) | np.asarray(links.solid)
    rows = [r for r in (0, (ny - 1) if ny is not None else None) if r is not None and y0 <= r < y0 + wy]
    if any(used[:, r - y0].any() for r in rows):
        return "the body or its links touch the channel's first or last row; keep it 2 cells from the walls"
    return None


def collision_blocker(kind: str, dtype: Any, name: str = "native channel kernel") -> str | None:
    """What every native channel kernel (this one, the D3Q19 one of ``lbm3d_fused``) needs: TRT or BGK,
    float32 and the CPU; the reason it cannot run (``name`` says which kernel), or None."""
    if kind not in ("bgk", "trt"):
        return f"the {name} implements collision 'trt' or 'bgk', not {kind!r}"
    if jnp.dtype(dtype) != jnp.float32:
        return f"the {name} is float32 only, not {jnp.dtype(dtype).name}"
    if jax.default_backend() != "cpu":
        return f"the native kernel runs on the CPU only (default backend {jax.default_backend()!r})"
    return None


def native_blocker(kind: str, dtype: Any, bulk_rate: float | None = None, links: lbm.BodyLinks | None = None,
                   nx: int | None = None, ny: int | None = None) -> str | None:
    """Why the native channel update cannot run here (None when it can).

    ``bulk_rate`` comes only with MRT (``channel_update.make_channel_update`` checks), which has no native kernel.
    """
    reason = collision_blocker(kind, dtype)
    if reason is not None:
        return reason
    if links is not None and nx is not None:
        reason = window_blocker(links, nx, ny)
        if reason is not None:
            return reason
    if not lbm_channel_native.available():
        return "the native channel kernel did not build here (no C++ compiler on PATH or $CXX)"
    return None


def resolve_kernel(kernel: str, kind: str, dtype: Any, bulk_rate: float | None = None,
                   links: lbm.BodyLinks | None = None, nx: int | None = None, ny: int | None = None) -> str:
    """``"native"`` or ``"reference"``: what ``kernel`` runs for this collision, dtype, body and machine.

    ``"auto"`` is native wherever it applies; ``"native"`` where it cannot raises
    :class:`WorldParameterError` saying why and what to change.
    """
    return choose_kernel(kernel, lambda: native_blocker(kind, dtype, bulk_rate, links, nx, ny))


def choose_kernel(kernel: str, blocker: Callable[[], str | None]) -> str:
    """``"native"`` or ``"reference"`` for ``kernel`` given ``blocker`` (why native cannot run, or None;
    not called for ``"reference"``): the one rule of every channel kernel's ``resolve_kernel``."""
    if kernel not in KERNELS:
        raise WorldParameterError(f"kernel must be one of {KERNELS}, got {kernel!r}")
    if kernel == "reference":
        return "reference"
    reason = blocker()
    if reason is None:
        return "native"
    if kernel == "native":
        raise WorldParameterError(f"kernel='native' cannot run: {reason}; use kernel='auto' (falls back to the "
                                  "pure-JAX reference) or 'reference', or collision='trt' with dtype float32")
    return "reference"


def make_fused_substep(links: lbm.BodyLinks, inlet_ux: Any, nx: int, tau: float, kind: str, dtype: Any,
                       threads: int | None = None, magic: float = 0.25, u_ref: float | None = None) -> Substep:
    """One channel update (same signature and outputs as ``cylinder.make_substep``'s) in one native call.

    ``magic``: the TRT magic parameter (``lbm.collide``'s). ``u_ref`` (the inlet's mean velocity)
    switches the outlet to :mod:`atom_sdk.worlds.st_channel`'s non-reflecting characteristic one.

    Callers looping over it should unroll by 2 (``fori_loop(..., unroll=2)``): the kernel cannot
    write its input, so in a one-update loop body XLA copies the new state into the loop carry.
    Raises :class:`WorldParameterError` where the native kernel cannot run (see :func:`native_blocker`).
    """
    reason = native_blocker(kind, dtype, links=links, nx=nx, ny=int(np.shape(inlet_ux)[0]))
    if reason is not None:
        raise WorldParameterError(f"the fused channel update cannot run: {reason}")
    om_p, om_m = relaxation_rates(tau, kind, magic)
    inlet = jnp.asarray(inlet_ux, jnp.float32)
    table, solid = lbm_channel_native.link_table(links)

    def substep(f: jax.Array, amplitude: jax.Array, inlet_scale: jax.Array | None = None):
        """``inlet_scale`` (default 1) multiplies the inlet profile, for a smooth start."""
        ux = inlet if inlet_scale is None else inlet * inlet_scale
        out, forces = lbm_channel_native.channel_update(f, ux, amplitude, table, solid, links.origin, om_p, om_m,
                                                        u_ref=u_ref, threads=threads)
        return out, forces[0], forces[1], forces[2]

    return substep
