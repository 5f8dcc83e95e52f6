"""Square cylinder at Re = 100 in a low-blockage domain, against published tables.

Why a module of its own: the confined case of Breuer et al. (2000) in :mod:`atom_sdk.worlds.cylinder`
rests on numbers read off that paper's curves, which could not be checked here. The square in a
uniform stream at blockage D/H = 5 % is the set-up of Sohankar, Norberg & Davidson (1998), whose
Tables III and IV give C_D, St and rms C_L at Re = 100; :data:`REFERENCES` lists the entries used and
where they were read (transcriptions of the tables, not the paper itself: see each ``where``). Here
the sides are free-slip, the usual far-field condition of such low-blockage runs.

Measured (TRT, float32, native kernel, Ma = 0.087, H = 20 D, inlet 10 D before the centre, outlet
16 D behind it, 100 D/U with statistics over the last 40; reference: Sohankar et al. Table IV, C_D 1.478,
St 0.146, rms C_L 0.153):

======  ========  ======  =======  ==========  ============================
side    nodes     C_D     St       rms C_L     run (2 shared cores, load 6-11)
======  ========  ======  =======  ==========  ============================
10      52 000    1.433   0.1540   0.174       4 s
20      208 000   1.470   0.1512   0.185       61 s (the validation case)
30      468 000   1.482   0.1500   0.187       576 s
40      832 000   1.491   0.1495   0.187       570 s
======  ========  ======  =======  ==========  ============================

C_D converges at about first order (sharp corners): a first-order extrapolation of sides 30-40 gives
1.518, of 20-30 1.506; St converges faster (about order 1.5, limit near 0.1486). At side 20: the outlet
25 D behind the centre instead of 16 D changed C_D by +0.05 %, the inlet 15 D before it by -1.1 % (St
-0.5 %), half the Mach number by -0.3 % (St +0.1 %), and blockage 2.5 % instead of 5 % by -0.9 % (St
-0.7 %; Sohankar's Table III: -1.1 % and -1.4 %). So every resolution from side 20 up is within 2 % of
1.478 in C_D and within 4 % of 0.146 in St, and the resolved values (about 1.50-1.52 and 0.149) are
within 3 % and 2 %. The rms lift, converged at 0.187, is 22 % above the reference's finest grid; the
reference's own two grids differ by 10 % (0.139, 0.153), so it is recorded, not checked.

The lattice is the ``lbm2d:cylinder`` channel (same geometry, body links, outlet and inlet), with
its no-slip walls turned into free-slip (specular) ones: :func:`slip_from_bounce_back` rewrites the
two wall rows of an update that ended in half-way bounce-back, so the native one-call channel
update (:mod:`atom_sdk.worlds.lbm_channel_fused`) keeps its speed. The pure-JAX reference
(:func:`reference_slip_substep`) applies the specular walls directly; the two agree to float32
round-off (``tests/test_square_validation.py``).
"""

from __future__ import annotations

import math
import time
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from atom_sdk.worlds import lbm, slip_walls_native
from atom_sdk.worlds.base import ValidationResult, relative_check
from atom_sdk.worlds.channel_update import make_channel_update
from atom_sdk.worlds.channel_geometry import Geometry, build_geometry, make_body
from atom_sdk.worlds.lbm_validation import strouhal_from_signal


class Reference(NamedTuple):
    """One published value set for the unconfined square at Re = 100 (U_inf and D normalisation)."""

    source: str
    where: str  # where the numbers were read
    setup: str
    cd: float
    st: float
    cl_rms: float | None


#: Sohankar, Norberg & Davidson (1998), Int. J. Numer. Meth. Fluids 26:39-56 (doi:10.1002/(SICI)1097-0363(19980115)
#: 26:1<39::AID-FLD623>3.0.CO;2-P), Re = 100. Their PDF (cfd-sweden.se/lada/postscript_files/Sohankar_num-fluids.pdf)
#: was not in the searchable sources here; the values are two independent transcriptions of its tables in
#: public repositories, which agree where they overlap (Table III, 5 %: C_D 1.460, St 0.146, C_L' 0.139).
_SOHANKAR = ("Sohankar, Norberg & Davidson (1998), Int. J. Numer. Meth. Fluids 26:39-56")
_VORTEXLAB = ("GitHub useless-husband/vortexlab, data/reference/square_cylinder_low_re.csv (commit c60d2dfd), "
              "'read from the authors' copy of the paper' (its docs/REFERENCES.md)")
REFERENCES: tuple[Reference, ...] = (
    Reference(f"{_SOHANKAR}, Table IV, case 3 (finest grid)", _VORTEXLAB,
              "2-D, uniform inflow, blockage D/H = 5 %", 1.478, 0.146, 0.153),
    Reference(f"{_SOHANKAR}, Table III, case 5 (96 x 94 grid)", _VORTEXLAB + "; the same three numbers in a "
              "second repository's bibliography ('Tables II-V read directly')", "2-D, uniform inflow, blockage 5 %",
              1.460, 0.146, 0.139),
    Reference(f"{_SOHANKAR}, Table III, case 6 (96 x 132 grid)", _VORTEXLAB, "2-D, uniform inflow, blockage 2.5 %",
              1.444, 0.144, 0.141),
)
#: the reference of the case: the finest grid at the case's blockage
SQUARE_UNCONFINED_REFERENCE = REFERENCES[0]
_REF = REFERENCES[0]
SQUARE_UNCONFINED_SOURCE = (f"{_REF.source}: square cylinder at Re = U D / nu = 100, {_REF.setup}: mean C_D {_REF.cd}, "
                            f"St = f D / U {_REF.st}, rms C_L {_REF.cl_rms}; read as transcribed in {_VORTEXLAB}")


#: the domain in side lengths D: H = 20 D (blockage 5 %), inlet 10 D before the centre, outlet 16 D behind
UNCONFINED: dict[str, float] = {"height": 20.0, "upstream": 10.0, "downstream": 16.0}


def slip_from_bounce_back(f: jax.Array) -> jax.Array:
    """Turn the half-way bounce-back of rows 0 and ny-1 into specular (free-slip) reflection.

    After bounce-back, the population leaving row 0 along (-1,-1) came back as (+1,+1) at the same
    node, and the one leaving along (+1,-1) came back as (-1,+1). A specular wall sends the first
    back as (-1,+1) one node to the left and the second as (+1,+1) one node to the right: the same
    two values, exchanged and shifted along x. The normal population (0,-1) -> (0,+1) is the same in
    both. Row ny-1 likewise. Columns 0 and nx-1 wrap here; the inlet and outlet rewrite them after.
    """
    b5, b6 = f[5, :, 0], f[6, :, 0]  # = post 7 and post 8 of row 0
    t7, t8 = f[7, :, -1], f[8, :, -1]  # = post 5 and post 6 of row ny-1
    f = f.at[6, :, 0].set(jnp.roll(b5, -1)).at[5, :, 0].set(jnp.roll(b6, 1))
    return f.at[8, :, -1].set(jnp.roll(t7, 1)).at[7, :, -1].set(jnp.roll(t8, -1))


def specular_walls(f_str: jax.Array, f_post: jax.Array) -> jax.Array:
    """Free-slip walls half a cell outside rows 0 and ny-1, written from the post-collision state."""
    for down, up, dx in ((4, 2, 0), (7, 6, -1), (8, 5, 1)):
        f_str = f_str.at[up, :, 0].set(jnp.roll(f_post[down, :, 0], dx))
        f_str = f_str.at[down, :, -1].set(jnp.roll(f_post[up, :, -1], dx))
    return f_str


def outflow_characteristic(f: jax.Array, u_ref: jax.Array | float) -> jax.Array:
    """The extrapolated outlet anchored at the outgoing plane wave, rho = 1 + (mean u_x - u_ref) / c_s.

    The non-reflecting outlet of :mod:`atom_sdk.worlds.st_channel`, written on ``lbm.outflow_extrapolated``.
    """
    _, ux, _ = lbm.macroscopic(f[:, -2, :])
    return lbm.outflow_extrapolated(f, 1.0 + (jnp.mean(ux) - u_ref) / math.sqrt(lbm.CS2))


def reference_slip_substep(geo: Geometry, tau: float, kind: str, dtype: Any, u_ref: float | None = None):
    """One update in pure JAX: collide, stream, body, free-slip walls, outlet, inlet.

    The outlet is the non-reflecting characteristic one for the inflow ``u_ref`` (scaled with the
    inflow during a ramp), or the fixed-density one without it.
    """
    inlet = jnp.asarray(geo.inlet_ux, dtype)

    def substep(f: jax.Array, amplitude: jax.Array, inlet_scale: jax.Array | None = None):
        """``inlet_scale`` (default 1) multiplies the inflow, for a smooth start."""
        post = lbm.collide(f, tau, kind)
        out = lbm.stream_periodic(post)
        out, fx, fy, injected = lbm.apply_body(out, post, geo.links, amplitude)
        out = specular_walls(out, post)
        scale = 1.0 if inlet_scale is None else inlet_scale
        out = lbm.outflow_extrapolated(out) if u_ref is None else outflow_characteristic(out, u_ref * scale)
        out = lbm.zou_he_velocity_inlet(out, inlet * scale)
        return out, fx, fy, injected

    return substep


def make_slip_substep(geo: Geometry, tau: float, kind: str = "trt", dtype: Any = jnp.float32, kernel: str = "auto",
                      u_ref: float | None = None):
    """The channel update with free-slip walls: native where it applies (see ``lbm_channel_fused``).

    Returns (substep, native). ``u_ref``: as :func:`reference_slip_substep`'s. The native path is the
    no-slip channel's own update (:func:`channel_update.make_channel_update`, fixed-density outlet) whose
    wall rows, outlet and inlet a native patch then rewrites.
    """
    channel = make_channel_update(geo, tau, kind, dtype, kernel=kernel)
    if channel.kernel != "native" or not slip_walls_native.available():
        return reference_slip_substep(geo, tau, kind, dtype, u_ref), False
    fused = channel.substep
    inlet = jnp.asarray(geo.inlet_ux, dtype)

    def substep(f: jax.Array, amplitude: jax.Array, inlet_scale: jax.Array | None = None):
        """``inlet_scale`` (default 1) multiplies the inflow, for a smooth start."""
        out, fx, fy, injected = fused(f, amplitude, inlet_scale)
        scale = 1.0 if inlet_scale is None else inlet_scale
        # the walls act before the outlet and inlet in the reference: the patch redoes those two columns
        out = slip_walls_native.slip_patch(out, inlet * scale, None if u_ref is None else u_ref * scale)
        return out, fx, fy, injected

    return substep, True


def square_geometry(side: int, u: float, height: float, upstream: float, downstream: float,
                    dtype: Any = jnp.float32) -> Geometry:
    """The domain of ``UNCONFINED`` shape at ``side`` cells: faces half-way between nodes, centred in y."""
    if side % 2 or side < 8:
        raise ValueError(f"side must be even and >= 8 so that the faces lie half-way between nodes (got {side})")
    ny = int(round(height * side))
    nx = int(round((upstream + downstream) * side))
    if ny % 2:
        raise ValueError(f"height x side must give an even ny so that the square is centred (got {ny})")
    body = make_body("square", upstream * side + 0.5, ny / 2 - 0.5, side / 2)
    return build_geometry(nx, ny, body, u, "uniform", 10.0, True, dtype)


def lift_rms(cl: np.ndarray) -> float:
    """Root-mean-square of the lift fluctuation about its mean (C_L' of the tables)."""
    cl = np.asarray(cl, dtype=np.float64)
    return float(np.sqrt(np.mean((cl - cl.mean()) ** 2)))


def whole_periods(signal: np.ndarray) -> slice:
    """The span between the first and last upward zero crossing of ``signal - mean``.

    Why: a mean over a window that is not a whole number of shedding periods carries a bias of up
    to half the oscillation's amplitude divided by the number of periods; cutting at crossings
    removes it for the drag (twice the shedding frequency) and the lift alike.
    """
    s = np.asarray(signal, dtype=np.float64)
    s = s - s.mean()
    up = np.nonzero((s[:-1] < 0) & (s[1:] >= 0))[0]
    if len(up) < 2:
        return slice(0, len(s))
    return slice(int(up[0]) + 1, int(up[-1]) + 1)


def unconfined_square(side: int = 20, u: float = 0.05, reynolds: float = 100.0, collision: str = "trt",
                      convective_time: float = 150.0, measure_time: float = 50.0, ramp_time: float = 10.0,
                      kick_time: float = 15.0, kick: float = 0.05, chunk: int = 2000,
                      domain: dict[str, float] | None = None,
                      kernel: str = "auto", series_path: str | None = None) -> dict[str, float]:
    """Run the unconfined square; mean C_D, St and C_L rms over the last ``measure_time`` D/U.

    Coefficients use the inflow velocity U (= ``u``) and the side D: C = 2 F / (rho_0 U^2 D), St = f D / U.
    The fluid starts at rest and the inflow rises as sin^2 over ``ramp_time``: an impulsive start
    rings the domain's acoustic modes, which the low viscosity at Re = 100 barely damps (measured at
    side 10 with an impulsive start: drag fluctuations of rms 0.4-0.7 at f D / U near 1-2 still after
    90 D/U, against 0.1 for the shedding itself). The jets blow ``kick`` x Q_ref for the first
    ``kick_time`` D/U only, to start the shedding. Times are in convective units D / U. The Strouhal
    number is taken from the lift low-passed at 0.6 U / D (the shedding near 0.15 passes).
    """
    d = {**UNCONFINED, **(domain or {})}
    geo = square_geometry(side, u, d["height"], d["upstream"], d["downstream"])
    tau = lbm.tau_from_viscosity(u * side / reynolds)
    if tau < 0.505:
        raise ValueError(f"tau = {tau:.4f} is too close to 1/2; raise side or u")
    substep, native = make_slip_substep(geo, tau, collision, jnp.float32, kernel, u_ref=u)
    per_unit = side / u
    steps = int(math.ceil(convective_time * per_unit / chunk) * chunk)
    measure = int(measure_time * per_unit)
    kick_steps = int(kick_time * per_unit)
    ramp_steps = max(int(ramp_time * per_unit), 1)
    norm = 2.0 / (u * u * side)
    zero = jnp.zeros((), jnp.float32)

    @jax.jit
    def run(f: jax.Array, first: jax.Array) -> tuple[jax.Array, tuple[jax.Array, jax.Array]]:
        def body(g, n):
            scale = jnp.sin(0.5 * jnp.pi * jnp.minimum(n.astype(jnp.float32) / ramp_steps, 1.0)) ** 2
            g, fx, fy, _ = substep(g, jnp.where(n < kick_steps, jnp.float32(kick), zero), scale)
            return g, (norm * fx, norm * fy)
        return jax.lax.scan(body, f, first + jnp.arange(chunk), unroll=2 if native else 1)

    rest = jnp.ones((geo.nx, geo.ny), jnp.float32)
    f = lbm.equilibrium(rest, jnp.zeros_like(rest), jnp.zeros_like(rest)).astype(jnp.float32)
    start = time.perf_counter()
    drag, lift = [], []
    for n in range(steps // chunk):
        f, (cd, cl) = run(f, jnp.asarray(n * chunk))
        drag.append(np.asarray(cd))
        lift.append(np.asarray(cl))
    elapsed = time.perf_counter() - start
    cd_all, cl_all = np.concatenate(drag).astype(np.float64), np.concatenate(lift).astype(np.float64)
    if series_path is not None:
        np.save(series_path, np.stack([cd_all, cl_all]))
    cl, cd = cl_all[-measure:], cd_all[-measure:]
    span = whole_periods(cl)
    return {"cd_mean": float(cd[span].mean()), "st": strouhal_from_signal(cl, side, u, lowpass=0.6),
            "cl_rms": lift_rms(cl[span]), "cd_rms": lift_rms(cd[span]),
            "cd_mean_first_half": float(cd[: measure // 2].mean()),
            "cd_mean_second_half": float(cd[measure // 2:].mean()),
            "seconds": elapsed, "mlups": geo.nx * geo.ny * steps / elapsed / 1e6, "cells": geo.nx * geo.ny,
            "steps": steps, "side": side, "tau": tau, "mach": u / math.sqrt(lbm.CS2), "native": native,
            "blockage": side / geo.ny, "finite": bool(np.all(np.isfinite(cd_all)))}


#: the validation case's setting: side 20 cells (208 000 nodes), Ma 0.087, 100 D/U with statistics over the
#: last 40 (about 6 shedding periods; mean C_D settles to 1e-3 after about 50 D/U, measured at side 10).
#: Measured: C_D 1.470 (-0.5 %), St 0.1512 (+3.6 %), rms C_L 0.185; 61 s (see the module docstring)
UNCONFINED_CASE: dict[str, Any] = {"side": 20, "u": 0.05, "convective_time": 100.0, "measure_time": 40.0}
#: tolerances: C_D and St 5 % (published values for this set-up scatter by about +-3 %: Sohankar's two 5 %
#: grids give C_D 1.460 and 1.478, and 1.444 / St 0.144 at 2.5 % blockage). The rms lift is measured and
#: recorded (``cl_rms`` in each row's detail) but not checked: the reference's own grid refinement moved it
#: by 10 % (0.139 -> 0.153), so it had not converged, and the lattice gives 0.185-0.187 at sides 20-30
UNCONFINED_TOLERANCE: dict[str, float] = {"cd_mean": 0.05, "strouhal": 0.05}


def unconfined_square_case() -> list[ValidationResult]:
    """Mean C_D and St of the Re = 100 square at 5 % blockage against Sohankar et al. (1998), Table IV."""
    out = unconfined_square(**UNCONFINED_CASE)
    detail = {k: out[k] for k in ("seconds", "cells", "steps", "tau", "side", "mach", "blockage", "native",
                                  "cl_rms", "cd_rms", "cd_mean_first_half", "cd_mean_second_half")}
    detail["cl_rms_reference"] = SQUARE_UNCONFINED_REFERENCE.cl_rms
    ref, tol, case = SQUARE_UNCONFINED_REFERENCE, UNCONFINED_TOLERANCE, "square_cylinder_unconfined_re100"
    world, source = "lbm2d:cylinder", SQUARE_UNCONFINED_SOURCE
    return [
        relative_check(world, case, "cd_mean", out["cd_mean"], ref.cd, tol["cd_mean"], source, **detail),
        relative_check(world, case, "strouhal", out["st"], ref.st, tol["strouhal"], source, **detail),
    ]
