"""Brunton, Proctor & Kutz (PNAS 2016): a sparse model of the cylinder wake in POD coordinates.

What is run: this SDK's own lattice-Boltzmann solver (the ``lbm2d:cylinder`` geometry, Re = 100,
no jets) in a low-blockage domain close to the paper's unconfined cylinder (:data:`UNCONFINED`:
H = 16 D, uniform inflow, free-slip walls), from a base flow found by selective frequency damping
(SFD), so that the shedding grows out of round-off onto the limit cycle. Velocity snapshots of the
near wake are reduced with :class:`~atom_sdk.science.modes.PODModes`: two POD modes of the limit
cycle plus the shift mode of Noack et al. (2003), pointing from the steady solution to the cycle's
mean. :func:`~atom_sdk.science.modes.discover_modes` then fits a sparse quadratic law (terms by
blocked cross-validation) to the amplitudes of the transient and the cycle, and of two restarts off
the slow manifold: the cycle's oscillation about SFD's base flow, and the cycle's mean flow. On the
manifold alone a_shift, a1^2 + a2^2 and a_shift^2 are nearly collinear and the shift mode's own
rate cannot be identified.

Method, and where it departs from the paper (``analyse(fit=..., base=...)``; the report tables the
other choices on the same simulation):

* The fit is SO(2)-equivariant (:mod:`atom_sdk.science.equivariant`), a documented variant of the
  paper's plain SINDy: the mean-field model commutes with rotations of (a1 / s1, a2 / s2), s the POD
  singular values, so d(a1, a2)/dt = f(a_shift) (a1, a2) + g(a_shift) (-a2, a1) with one growth rate
  f and one frequency g, fitted from both equations as a constrained regression (Loiseau & Brunton
  2018) with the radial and angular parts each under its own threshold. Why: plain SINDy keeps the
  growth terms in one equation and drops them in the other (D = 16: a1, a1*a_shift gone from
  da1/dt, the growth halved, transient verdict +82 %). One threshold shared by f and g drops the
  growth in some ensemble seeds (D = 16, seed 1: f = 0.049 against 0.103), hence the split.
* The shift is measured from the steady solution, estimated as the free run's mean over the
  :data:`STEADY_WINDOW` D/U before the shedding reaches 2 % of the cycle's amplitude: SFD's base
  flow is not converged at these budgets (its recirculation still lengthens) and the free run
  leaves it, within ~20 D/U, for a state 0.26 (D = 8) or 0.10 (D = 16) of the cycle's shift below
  it, and stays there. Measured from SFD's base, the fixed point sits at a_shift < 0 and the
  regression writes the offset as a_shift^2 beside -lambda a_shift (a synthetic wake with the same
  offset shows it, ``tests/test_reproduce_brunton.py``); the growth transient at D = 8 then fails
  (+12 %). The off-manifold verdict times a_shift over half its way from its start to the cycle's
  value (from SFD's base that start is 0 and this is the earlier "half the cycle's value").

What remains (the verdicts that fail): the shift equation is not a linear relaxation. Measured from
the steady solution, cross-validation keeps da_shift/dt = b (a1^2 + a2^2) - k a_shift^2 and drops
-lambda a_shift (the support verdicts: one missing, one extra); model-free, the mean-flow restart
decays at a nearly constant da_shift/dt (D = 16: -0.048 to -0.041 cycle shifts per D/U from 1.0 to
0.5 of the shift), which neither -lambda a_shift nor -k a_shift^2 fits (relative residuals 0.17,
0.33). And the growth rate is not linear in a_shift: d ln r/dt at the fixed point is 0.134 U/D in
the LBM at D = 16 while the fitted f(a_shift), linear as in the mean-field model and fitted over
the whole transient and cycle, gives 0.093: the growth transient is 35 % slow (D = 8: 0.128 against
0.108, +8 %). Both look like properties of this flow seen through three modes (the growing mode is
not the cycle's POD pair; more than one slow mode on the shift axis) rather than of the fit: the
plain fit and the SFD origin do no better on them (the report's table). The report states the figures.

Why not the Schäfer–Turek channel (``domain=None``, blockage 0.24, parabolic inflow): there the
shift rate lambda of the mean-field model, measured model-free from the two restarts
(:func:`shift_rates`), differs by a factor 1.6-2.6 between the mean flow's decay and the off-cycle
rise, and the off-manifold relaxation failed (+32 % at D = 8); with low blockage the two come closer.

Verdicts: the identified support against the mean-field model (a Hopf oscillator in a1, a2
saturated through a_shift, da_shift/dt = -lambda (a_shift - c (a1^2 + a2^2)), Brunton et al.
Fig. 3), the model's limit-cycle frequency against the shedding frequency of the lift (2 %) and
its amplitude against the data's (5 %), the paraboloid fit of the slow manifold, the growth
transient's timing and the model's transient started off the cycle.
"""

from __future__ import annotations

import copy
import math
import time
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from atom_sdk.reproduce.brunton2016_measures import (crossing_time, frequency, linear_growth, mean_flow_law,
                                                     shift_rates)
from atom_sdk.reproduce.brunton2016_report import (comparison_table, figure, growth_note, method_note, setting_note,
                                                   shedding_note, shift_note, williamson_strouhal)
from atom_sdk.reproduce.registry import REPRODUCTIONS, comparison_row

__all__ = ["BUDGETS", "MEAN_FIELD", "UNCONFINED", "analyse", "crossing_time", "frequency", "run", "simulate_wake",
           "support_check", "wake_world", "williamson_strouhal"]

#: the low-blockage domain (lengths in D): H = 16 D (blockage 1/16), uniform inflow, free-slip walls,
#: the body 10 D behind the inlet and 20 D before the outlet; snapshots within 3 D of the wake's axis
UNCONFINED: dict[str, Any] = {"height": 16.0, "length": 30.0, "x_body": 10.0, "inlet": "uniform",
                              "walls": "free_slip", "wake_height": 6.0}
#: the quick budget's smaller domain (blockage 1/12, 16 D behind the body), for CI's time
QUICK_DOMAIN: dict[str, Any] = {**UNCONFINED, "height": 12.0, "length": 24.0, "x_body": 8.0}
BUDGETS: dict[str, dict[str, Any]] = {
    "quick": {"diameter": 8, "u_mean": 0.1, "convective_time": 220.0, "samples_per_unit": 8, "window": 8.0,
              "base_time": 60.0, "stride": 1, "off_time": 30.0, "domain": QUICK_DOMAIN},
    "full": {"diameter": 16, "u_mean": 0.08, "convective_time": 280.0, "samples_per_unit": 8, "window": 10.0,
             "base_time": 100.0, "stride": 2, "domain": UNCONFINED},
}
#: the mean-field structure (Noack et al. 2003; Brunton et al. 2016, Fig. 3) in the names of PODModes
MEAN_FIELD = {
    "a1": {"a1", "a2", "a1*a_shift"},
    "a2": {"a1", "a2", "a2*a_shift"},
    "a_shift": {"a_shift", "a1^2", "a2^2"},
}


def _channel_substep(geo: Any, tau: float, walls: str, dtype: Any) -> Any:
    """One lattice update: the world's own (no-slip walls), or the same with free-slip walls.

    Free-slip (specular) walls half a cell outside the first and last rows make symmetry planes: no
    boundary layer grows on them, as in a far-field (unconfined) domain. That update is
    ``square_validation``'s (extrapolated outlet): the native channel kernel and an in-place wall
    patch on a CPU, pure JAX elsewhere."""
    from atom_sdk.worlds.cylinder import make_substep
    from atom_sdk.worlds.square_validation import make_slip_substep

    if walls == "no_slip":
        return make_substep(geo, tau, "trt", dtype)
    if walls != "free_slip":
        raise ValueError(f"walls must be 'no_slip' or 'free_slip', got {walls!r}")
    substep, _ = make_slip_substep(geo, tau, "trt", dtype)
    return substep


def _wake_kernels(world: Any, u_mean: float, every: int, window: float, stride: int,
                  sfd: tuple[float, float], walls: str = "no_slip",
                  wake_height: float | None = None) -> tuple[Any, Any, Any]:
    """The jitted pieces of :func:`simulate_wake`: the wake window's velocity, ``every`` LBM
    updates with the lift, and ``every * 8`` updates under selective frequency damping.
    ``wake_height`` (in D) limits the window to that height about the body (default: all)."""
    import jax
    import jax.numpy as jnp

    from atom_sdk.worlds import lbm

    geo = world.geometry
    nx, ny = geo.solid.shape
    substep = _channel_substep(geo, world.tau, walls, world.dtype)
    norm = 2.0 / (u_mean**2 * 2 * geo.radius)
    per_unit = 2 * geo.radius / u_mean  # lattice updates per D / U
    x0 = max(0, int(geo.cx - 2 * geo.radius))
    x1 = min(nx, int(geo.cx + 2 * geo.radius * window))
    y0, y1 = 0, ny
    if wake_height is not None:
        half = wake_height * geo.radius  # half the window's height in cells
        y0, y1 = max(0, int(math.floor(geo.cy - half))), min(ny, int(math.ceil(geo.cy + half)) + 1)
    fluid = jnp.asarray(~geo.solid)
    zero = jnp.zeros((), world.dtype)

    def velocity(f: jax.Array) -> jax.Array:
        _, ux, uy = lbm.macroscopic(f)
        u = jnp.stack([jnp.where(fluid, ux, 0.0), jnp.where(fluid, uy, 0.0)], axis=-1)[x0:x1:stride, y0:y1:stride]
        return u / u_mean

    @jax.jit
    def advance(f: jax.Array) -> tuple[jax.Array, tuple[jax.Array, jax.Array]]:
        def body(g, _):
            g, _, fy, _ = substep(g, zero)
            return g, norm * fy
        f, lift = jax.lax.scan(body, f, None, length=every)
        return f, (velocity(f), lift)

    # selective frequency damping (Akervik et al. 2006) on the populations: f is pulled towards its
    # low-pass filtered self, which removes the shedding and converges to the steady base flow
    chi, delta = sfd[0] / per_unit, sfd[1] * per_unit

    @jax.jit
    def damp(state: tuple[jax.Array, jax.Array]) -> tuple[tuple[jax.Array, jax.Array], jax.Array]:
        def body(carry, _):
            g, gbar = carry
            g, _, _, _ = substep(g, zero)
            g, gbar = g - chi * (g - gbar), gbar + (g - gbar) / delta
            return (g, gbar), None
        (g, gbar), _ = jax.lax.scan(body, state, None, length=every * 8)
        return (g, gbar), jnp.max(jnp.abs(g - gbar))

    return velocity, advance, damp


def wake_world(diameter: int, u_mean: float, domain: dict[str, Any] | None = None) -> tuple[Any, str, float | None]:
    """The ``lbm2d:cylinder`` world at Re = 100 for a body of ``diameter`` cells, with its wall kind and the
    snapshot window's height (in D, None for all of it).

    ``domain=None`` is the confined Schäfer–Turek channel (H = 4.1 D, parabolic inflow, no-slip walls,
    the body 0.05 D below the centre line); otherwise a dict like :data:`UNCONFINED` (lengths in D):
    ``height``, ``length``, ``x_body`` (from the inlet), optional ``inlet`` ("uniform"), ``walls``
    ("free_slip" or "no_slip"), ``wake_height`` and ``y_offset`` (cells off the centre line).
    """
    from atom_sdk.worlds.cylinder import CylinderWorld

    d = dict(domain or {})
    walls, wake_height = d.pop("walls", "no_slip"), d.pop("wake_height", None)
    if d:
        missing = {"height", "length", "x_body"} - set(d)
        if missing:
            raise ValueError(f"the domain lacks {sorted(missing)}; give height, length and x_body in diameters")
        ny, nx = 2 * round(d["height"] * diameter / 2), round(d["length"] * diameter)
        geom = {"cylinder_x": d["x_body"] * diameter, "cylinder_y": ny / 2 - 0.5 + d.get("y_offset", 0.0),
                "radius": diameter / 2, "inlet_profile": d.get("inlet", "uniform")}
    else:
        ny, nx, geom = round(diameter * 4.1), round(diameter * 22), {}
    world = CylinderWorld(grid=(nx, ny, 1), u_inlet=u_mean, reynolds=100.0, collision="trt", substeps=1,
                          perturbation=0.0, **geom)
    return world, walls, wake_height


def simulate_wake(diameter: int, u_mean: float, convective_time: float, samples_per_unit: int,
                  window: float, base_time: float, stride: int = 1, cycle_time: float = 40.0,
                  off_time: float = 40.0, sfd: tuple[float, float] = (2.0, 1.0),
                  domain: dict[str, Any] | None = None) -> dict[str, Any]:
    """The steady base flow, then the free transient from it: wake snapshots ``(n, nx_w, ny, 2)``.

    The base flow is found by selective frequency damping for ``base_time`` (gain ``sfd[0]``
    U/D, filter width ``sfd[1]`` D/U); the free run then lets the shedding grow from it.
    Snapshots keep every ``stride``-th cell in each direction. Two more runs of ``off_time``
    start off the slow manifold: ``off_snapshots`` from the last state minus (mean of the last
    ``cycle_time`` minus the base flow), in the populations, i.e. at the cycle's amplitude with
    no shift; ``mean_snapshots`` from that mean itself, i.e. the cycle's shift with no
    oscillation. Without them the data lie on the paraboloid, where a_shift, a1^2 + a2^2 and
    a_shift^2 are nearly collinear and the shift mode's own rate is not identifiable.

    Times are in convective units D / U; the snapshot window runs from one diameter before the
    cylinder centre to ``window`` diameters behind it, over the channel's full height.
    """
    import jax
    import jax.numpy as jnp

    from atom_sdk.worlds import lbm

    world, walls, wake_height = wake_world(diameter, u_mean, domain)
    nx, ny = world.geometry.solid.shape
    geo = world.geometry
    per_unit = 2 * geo.radius / u_mean  # lattice updates per D / U
    every = max(1, round(per_unit / samples_per_unit))
    n_samples = int(convective_time * per_unit / every)
    fluid = jnp.asarray(~geo.solid)
    velocity, advance, damp = _wake_kernels(world, u_mean, every, window, stride, sfd, walls, wake_height)

    ux = jnp.where(fluid, jnp.asarray(geo.inlet_ux, world.dtype)[None, :], 0.0)
    f = lbm.equilibrium(jnp.ones((nx, ny), world.dtype), ux, jnp.zeros_like(ux)).astype(world.dtype)
    start = time.perf_counter()
    state, residuals = (f, f), []
    for _ in range(int(base_time * per_unit / (every * 8))):
        state, res = damp(state)
        residuals.append(float(res))
    f = f_base = state[0]
    base = np.asarray(velocity(f), dtype=np.float64)
    snaps, lifts = [], []
    n_mean = max(1, int(cycle_time * per_unit / every))
    f_sum = jnp.zeros_like(f)
    for i in range(n_samples):
        f, (u, lift) = advance(f)
        snaps.append(np.asarray(u))
        lifts.append(np.asarray(lift))
        if i >= n_samples - n_mean:
            f_sum = f_sum + f
    # off the slow manifold on both sides of the paraboloid (populations are linear in the velocity
    # to first order): the last state with its cycle-mean shift taken away (the full oscillation
    # about the base flow, below it), and the cycle's mean flow (full shift, no oscillation, above
    # it: the shift decays at the mean-field rate lambda with nothing to feed it)
    restarts = {"off": f - (f_sum / n_mean - f_base), "mean": f_sum / n_mean}
    runs: dict[str, list[np.ndarray]] = {k: [] for k in restarts}
    for key, g in restarts.items():
        for _ in range(int(off_time * per_unit / every)):
            g, (u, _) = advance(g)
            runs[key].append(np.asarray(u))
    return {
        "t": (np.arange(1, n_samples + 1) * every) / per_unit,
        "snapshots": np.stack(snaps).astype(np.float64),
        "base": base, "base_residual": residuals[-1] if residuals else None,
        "off_snapshots": np.stack(runs["off"]).astype(np.float64),
        "mean_snapshots": np.stack(runs["mean"]).astype(np.float64),
        "lift": np.concatenate(lifts).astype(np.float64),
        "lift_dt": 1.0 / per_unit,
        "seconds": time.perf_counter() - start,
        "cells": nx * ny, "tau": world.tau, "diameter": 2 * geo.radius, "every": every,
        "grid": (nx, ny), "blockage": 2 * geo.radius / ny, "walls": walls, "domain": dict(domain or {}),
        "off_time": off_time,
        "inlet": world.params.inlet_profile,
    }


# ---------------------------------------------------------------------------------------------- analysis
#: terms the mean-field model allows besides MEAN_FIELD: the frequency shift omega(a_shift) (Noack 2003)
FREQUENCY_SHIFT = {"a1": {"a2*a_shift"}, "a2": {"a1*a_shift"}, "a_shift": set()}


def support_check(theory: Any) -> dict[str, Any]:
    """Mean-field terms the identified law lacks, and terms outside the mean-field structure."""
    missing, extra = {}, {}
    for eq in theory.equations:
        have = set(eq.active_terms)
        missing[eq.target] = sorted(MEAN_FIELD[eq.target] - have)
        extra[eq.target] = sorted(have - MEAN_FIELD[eq.target] - FREQUENCY_SHIFT[eq.target])
    return {"missing": missing, "extra": extra, "n_missing": sum(map(len, missing.values())),
            "n_extra": sum(map(len, extra.values()))}


#: D/U of the free run, just before the shedding reaches 2 % of the cycle's amplitude, averaged as the steady base flow
STEADY_WINDOW = 10.0


class _Cycle(NamedTuple):
    """The limit cycle as the lift sees it: the snapshot step, the shedding frequency, the cycle's samples."""

    dt: float
    f_shed: float
    n_lc: int  # snapshots on the cycle (whole periods)
    lc: np.ndarray  # mask of those snapshots
    lift_ptp_halves: list[float]  # peak-to-peak lift in each half of the cycle's window: is it settled?


class _Amplitudes(NamedTuple):
    """The snapshots in POD coordinates (a1, a2, a_shift), and the samples where the transient runs."""

    pod: Any
    a: np.ndarray
    r: np.ndarray  # hypot(a1, a2)
    r_lc: float  # the cycle's mean radius
    i0: int  # first sample above 2 % of r_lc
    i1: int  # three periods after the first above 98 %
    shift_lc: float  # the cycle's mean a_shift
    sfd_shift: float  # SFD's base flow on the shift axis, in cycle shifts
    steady_drift: float  # the steady window's drift of a_shift, in cycle shifts


def _limit_cycle(sim: dict[str, Any], lc_time: float) -> _Cycle:
    """The shedding frequency from the last ``lc_time`` D/U of the lift, and the cycle's snapshots over whole
    periods only (else a leftover of the oscillation biases the POD's mean)."""
    t, lift = sim["t"], sim["lift"]
    dt = float(t[1] - t[0])
    n_lift_lc = int(lc_time / sim["lift_dt"])
    f_shed = frequency(lift[-n_lift_lc:], sim["lift_dt"])
    periods = math.floor(lc_time * f_shed) if np.isfinite(f_shed) and lc_time * f_shed >= 1 else None
    n_lc = int(round(periods / f_shed / dt)) if periods else int(lc_time / dt)
    lc = np.arange(len(t)) >= len(t) - n_lc
    halves = np.array_split(lift[-n_lift_lc:], 2)
    return _Cycle(dt, f_shed, n_lc, lc, [float(np.ptp(h)) for h in halves])


def _amplitudes(sim: dict[str, Any], cyc: _Cycle, base: str, cache: dict[str, Any]) -> _Amplitudes:
    """POD of the cycle with the shift mode (fitted once per simulation through ``cache``), the transient's
    window, and the shift's origin: SFD's base flow, or (``base="transient"``) the steady solution."""
    from atom_sdk.science.modes import PODModes

    snaps, dt, f_shed, lc = sim["snapshots"], cyc.dt, cyc.f_shed, cyc.lc
    n = len(sim["t"])
    key = ("pod", cyc.n_lc)
    if key not in cache:
        cache[key] = PODModes(n_modes=2, shift_mode=True).fit(snaps[lc], base=sim["base"])
    pod = copy.deepcopy(cache[key])
    a = pod.transform(snaps)  # (a1, a2) do not depend on the shift's origin
    r = np.hypot(a[:, 0], a[:, 1])
    r_lc = float(r[lc].mean())
    i0 = int(np.argmax(r > 0.02 * r_lc))
    i1 = min(n, int(np.argmax(r > 0.98 * r_lc)) + int(3.0 / (f_shed * dt)) if np.isfinite(f_shed) else n)
    # the steady solution: SFD's base flow still drifts in the free run (the recirculation lengthens) before the
    # shedding grows; Noack et al. (2003) measure the shift from the steady solution, so the last STEADY_WINDOW
    # D/U before i0 (r < 2 % of the cycle's, its paraboloid shift < 0.05 % of the cycle's) stand for it
    if base == "transient" and i0 > 0:
        a = pod.refit_shift(snaps[max(0, i0 - int(round(STEADY_WINDOW / dt))):i0]).transform(snaps)
    shift_lc = float(a[lc, 2].mean())
    sfd_shift = float(pod.transform(sim["base"])[2]) / shift_lc  # where SFD's base flow lies on the shift axis
    n_w = int(round(STEADY_WINDOW / dt))  # the steady window's drift: its a_shift against the window before it
    steady_drift = (float(a[max(0, i0 - n_w):i0, 2].mean() - a[max(0, i0 - 2 * n_w):max(1, i0 - n_w), 2].mean())
                    / shift_lc if i0 > 1 else float("nan"))
    return _Amplitudes(pod, a, r, r_lc, i0, i1, shift_lc, sfd_shift, steady_drift)


def _fit_law(sim: dict[str, Any], amp: _Amplitudes, dt: float, seed: int, fit: str, fit_cycle: bool) -> Any:
    """The sparse law of (a1, a2, a_shift) from the transient, the cycle and the two restarts.

    The fit sees the transient from the base flow and all of the cycle it settles on (as in Brunton et al.),
    and the two restarts off the manifold. Terms chosen by blocked cross-validation, not BIC: these rows are a
    deterministic trajectory whose residual is model error, not independent noise, so BIC over-credits small
    terms (constant and quadratic leaks of the second harmonic into da2/dt) that do not predict held-out blocks.
    Measured at D = 16 with the plain fit and SFD's base: the cross-validation drops da1/dt's growth terms a1,
    a1*a_shift (0.08-0.09 against 0.13 in da2/dt), the growth is halved and the transient verdict fails by 82 %;
    the SO(2)-equivariant fit estimates one growth rate from both equations.
    """
    from atom_sdk.science.modes import discover_modes
    from atom_sdk.science.sparse import SparseRegressor

    snaps = sim["snapshots"]
    restarts = [sim["off_snapshots"]] + ([sim["mean_snapshots"]] if sim.get("mean_snapshots") is not None else [])
    sl = slice(amp.i0, len(sim["t"])) if fit_cycle else slice(amp.i0, amp.i1)
    return discover_modes(amp.pod, [snaps[sl], *restarts], dt, amplitude_scale=amp.r_lc, seed=seed,
                          optimizer=SparseRegressor(selection="cv"),
                          equivariant_pair=(0, 1) if fit == "so2" else None)


def _paraboloid(amp: _Amplitudes) -> dict[str, float]:
    """The slow manifold a_shift = c0 + c r^2 fitted over the transient and the cycle, with its R^2."""
    window = slice(amp.i0, amp.i1)
    x = np.column_stack([np.ones(amp.i1 - amp.i0), amp.r[window] ** 2])
    coef, *_ = np.linalg.lstsq(x, amp.a[window, 2], rcond=None)
    resid = amp.a[window, 2] - x @ coef
    r2 = float(1.0 - resid.var() / amp.a[window, 2].var())
    return {"c0": float(coef[0]), "c": float(coef[1]), "r2": r2}


def _on_manifold(theory: Any, amp: _Amplitudes, cyc: _Cycle, n: int, model_time: float) -> dict[str, Any]:
    """The model's limit cycle (from the data's state on the cycle) and its growth transient from 2 %,
    against the data's: frequency, amplitude, linear growth rate and the time to half the amplitude."""
    dt, r_lc, i0, i1 = cyc.dt, amp.r_lc, amp.i0, amp.i1
    z = amp.a / r_lc
    n_model = int(model_time / dt)
    on_cycle = _simulate(theory, z[i1 - 1], dt, n_model)
    tail = on_cycle[-int(0.5 * n_model):]
    f_model = frequency(tail[:, 0], dt)
    amp_model = float(np.mean(np.hypot(tail[:, 0], tail[:, 1]))) * r_lc
    from_base = _simulate(theory, z[i0], dt, i1 - i0 + n_model)
    r_model = np.hypot(from_base[:, 0], from_base[:, 1]) * r_lc
    return {"on_cycle": on_cycle, "f_model": f_model, "amp_model": amp_model, "r_model": r_model,
            "growth": linear_growth(z, amp.r / r_lc, i0, dt, cyc.f_shed, theory),
            "t_half_data": crossing_time(amp.r[i0:], np.arange(n - i0) * dt, 0.5 * r_lc),
            "t_half_model": crossing_time(r_model, np.arange(len(r_model)) * dt, 0.5 * r_lc)}


def _off_manifold(theory: Any, amp: _Amplitudes, sim: dict[str, Any], cyc: _Cycle) -> dict[str, Any]:
    """The two LBM restarts off the slow manifold against the model from the same starts.

    Off the cycle (cycle amplitude, SFD's shift): the time a_shift takes to cover half its way to the cycle's
    value (from SFD's base flow: to half that value). From the mean flow (a note, no verdict): the time for
    a_shift to decay to half its start, the shift rates measured model-free and the shift's own law.
    """
    dt, r_lc, pod, off = cyc.dt, amp.r_lc, amp.pod, sim["off_snapshots"]
    a_off = pod.transform(off)
    from_off = _simulate(theory, a_off[0] / r_lc, dt, len(off) - 1)
    steps = np.arange(len(off)) * dt
    off_level = 0.5 * (a_off[0, 2] + amp.shift_lc)
    out: dict[str, Any] = {"a_off": a_off, "from_off": from_off,
                           "t_off_data": crossing_time(a_off[:, 2], steps, off_level),
                           "t_off_model": crossing_time(from_off[:, 2] * r_lc, steps, off_level),
                           "mean_decay": None, "a_mean": None, "from_mean": None, "mean_law": None}
    if sim.get("mean_snapshots") is not None:
        a_mean = pod.transform(sim["mean_snapshots"])
        from_mean = _simulate(theory, a_mean[0] / r_lc, dt, len(a_mean) - 1)
        half = 0.5 * a_mean[0, 2]
        out["mean_decay"] = {"t_data": crossing_time(-a_mean[:, 2], steps[: len(a_mean)], -half),
                             "t_model": crossing_time(-from_mean[:, 2] * r_lc, steps[: len(a_mean)], -half),
                             **shift_rates(amp.a, cyc.lc, a_off, a_mean, dt)}
        out.update(a_mean=a_mean, from_mean=from_mean, mean_law=mean_flow_law(a_mean, dt, amp.shift_lc, r_lc))
    return out


def analyse(sim: dict[str, Any], *, seed: int = 0, lc_time: float = 40.0, model_time: float = 80.0,
            fit_cycle: bool = True, fit: str = "so2", base: str = "transient",
            cache: dict[str, Any] | None = None) -> dict[str, Any]:
    """POD with shift mode, the sparse model, and every measured quantity of the verdicts.

    ``fit``: ``"so2"`` (the law held equivariant under rotations of (a1, a2), as the mean-field model
    is) or ``"plain"`` (each equation's terms chosen on its own, as in Brunton et al. 2016).
    ``base``: ``"transient"`` (the shift mode points from the free run's state just before the
    shedding grows: the steady solution the transient leaves) or ``"sfd"`` (the selective frequency
    damping's base flow, which at these budgets is not yet converged onto it). ``cache``: a dict shared by
    the analyses of one simulation, so that its POD (the costly SVD) is fitted once.
    """
    if fit not in ("so2", "plain") or base not in ("transient", "sfd"):
        raise ValueError(f"fit must be 'so2' or 'plain' and base 'transient' or 'sfd', got {fit!r}, {base!r}")
    cyc = _limit_cycle(sim, lc_time)
    amp = _amplitudes(sim, cyc, base, {} if cache is None else cache)
    theory = _fit_law(sim, amp, cyc.dt, seed, fit, fit_cycle)
    on = _on_manifold(theory, amp, cyc, len(sim["t"]), model_time)
    off = _off_manifold(theory, amp, sim, cyc)
    f_shed, r_lc, pod = cyc.f_shed, amp.r_lc, amp.pod
    return {
        "pod": pod, "theory": theory, "t": sim["t"], "a": amp.a, "r": amp.r, "r_lc": r_lc, "window": (amp.i0, amp.i1),
        "dt": cyc.dt, "fit": fit, "base": base, "sfd_shift": amp.sfd_shift, "steady_drift": amp.steady_drift,
        "steady_window": STEADY_WINDOW, "mean_flow_law": off["mean_law"],
        "energy_fraction": pod.energy_fraction_.tolist(), "shift_length": pod.shift_length_,
        "shedding_frequency": f_shed, "lift_ptp_halves": cyc.lift_ptp_halves,
        "support": support_check(theory), "paraboloid": _paraboloid(amp),
        "model_frequency": on["f_model"], "model_amplitude": on["amp_model"],
        "frequency_error_percent": 100.0 * (on["f_model"] - f_shed) / f_shed,
        "amplitude_error_percent": 100.0 * (on["amp_model"] - r_lc) / r_lc,
        "t_half_data": on["t_half_data"], "t_half_model": on["t_half_model"], "growth": on["growth"],
        "transient_error_percent": 100.0 * (on["t_half_model"] - on["t_half_data"]) / on["t_half_data"],
        "t_off_data": off["t_off_data"], "t_off_model": off["t_off_model"], "a_off": off["a_off"],
        "off_start": float(off["a_off"][0, 2] / amp.shift_lc),
        "off_error_percent": 100.0 * (off["t_off_model"] - off["t_off_data"]) / off["t_off_data"],
        "mean_decay": off["mean_decay"],
        "curves": {"r_model": on["r_model"], "on_cycle": on["on_cycle"] * r_lc, "from_off": off["from_off"] * r_lc,
                   "a_mean": off["a_mean"],
                   "from_mean": None if off["from_mean"] is None else off["from_mean"] * r_lc},
    }


def _simulate(theory: Any, z0: np.ndarray, dt: float, n: int) -> np.ndarray:
    """The law from ``z0`` for ``n`` steps of ``dt`` (RK4, 4 substeps); NaN after a blow-up."""
    with np.errstate(all="ignore"):
        z = theory.simulate(np.asarray(z0, float), dt, n_steps=n, substeps=4)
    bad = ~np.all(np.isfinite(z), axis=1) | (np.abs(z).max(axis=1) > 1e3)
    if bad.any():
        z[np.argmax(bad):] = np.nan
    return z


#: the fits the report shows beside the verdicts' (fit, shift origin): the plain fit always, the SFD origin at full
COMPARISONS = {"quick": (("plain", "transient"),),
               "full": (("plain", "transient"), ("so2", "sfd"), ("plain", "sfd"))}


def run(out: Path, *, seeds: list[int], budget: str, executor: str) -> dict[str, Any]:
    """The LBM is deterministic (no seeded noise); the seed only enters the ensemble of the regression."""
    b = BUDGETS[budget]
    sim = simulate_wake(**b)
    cache: dict[str, Any] = {}
    res = analyse(sim, seed=seeds[0], cache=cache)
    others = [analyse(sim, seed=seeds[0], fit=fit, base=base, cache=cache) for fit, base in COMPARISONS.get(budget, ())]
    figure(res, sim, out / "wake_model.png")
    pub = {p.quantity: p for p in REPRODUCTIONS["brunton2016_wake"].published}
    sup, par = res["support"], res["paraboloid"]
    rows = [
        comparison_row(pub["mean-field terms missing"], sup["n_missing"], note=f"missing: {sup['missing']}"),
        comparison_row(pub["terms outside the mean-field structure"], sup["n_extra"],
                       note=f"extra: {sup['extra']} (the frequency shift a2*a_shift, a1*a_shift is allowed)"),
        comparison_row(pub["limit-cycle frequency error"], res["frequency_error_percent"],
                       note=f"model {res['model_frequency']:.4f}, lift {res['shedding_frequency']:.4f} U/D"),
        comparison_row(pub["limit-cycle amplitude error"], res["amplitude_error_percent"],
                       note=f"model {res['model_amplitude']:.4g}, LBM {res['r_lc']:.4g} (POD amplitude)"),
        comparison_row(pub["paraboloid R^2"], par["r2"],
                       note=f"a_shift = {par['c0']:.3g} + {par['c']:.4g} (a1^2 + a2^2) over the transient"),
        comparison_row(pub["transient timing error"], res["transient_error_percent"],
                       note=f"time to half amplitude from 2 %: model {res['t_half_model']:.2f}, "
                            f"LBM {res['t_half_data']:.2f} D/U"),
        comparison_row(pub["off-manifold transient timing error"], res["off_error_percent"],
                       note=f"LBM restarted at the cycle amplitude with SFD's shift ({100 * res['off_start']:.0f} % of "
                            f"the cycle's): time for a_shift to cover half its way to the cycle's value, model "
                            f"{res['t_off_model']:.2f}, LBM {res['t_off_data']:.2f} D/U"),
    ]
    theory = res["theory"]
    notes = [
        setting_note(sim),
        f"Base flow by selective frequency damping ({b['base_time']:g} D/U, final max |f - f_bar| = "
        f"{sim['base_residual']:.2e}); then {b['convective_time']:g} D/U free run, snapshots every "
        f"{res['dt']:.3f} D/U; POD of the last 40 D/U (energy fractions "
        f"{', '.join(f'{e:.4f}' for e in res['energy_fraction'])}), shift length "
        f"{res['shift_length']:.4g}.",
        shift_note(res),
        method_note(res),
        growth_note(res),
        f"Identified model (amplitudes / {res['r_lc']:.4g}): " + "; ".join(theory.equation_strings(3)),
        shedding_note(sim, res),
        f"Budget '{budget}' produced every verdict above: D = {sim['diameter']:.1f} cells, {sim['cells']} cells, "
        f"{b['base_time']:g} D/U SFD + {b['convective_time']:g} D/U free run + 2 x {sim['off_time']:g} D/U restarts, "
        f"simulation time {sim['seconds']:.1f} s.",
    ]
    if res["mean_decay"]:
        md = res["mean_decay"]
        notes.append(f"Restart from the cycle's mean flow (shift, no oscillation; in the fit, no verdict): a_shift "
                     f"decays to half in {md['t_data']:.2f} D/U (LBM), {md['t_model']:.2f} D/U (model). The shift "
                     f"rate lambda measured from the LBM alone: {md['lambda_mean_flow']:.3f} U/D from this decay, "
                     f"{md['lambda_off_cycle']:.3f} U/D from the off-cycle restart's rise; one mean-field model has "
                     "one lambda, so where these differ it cannot time both restarts.")
    if budget == "quick":
        notes.append(f"Quick budget: D = {sim['diameter']:g} cells is far from grid-converged; this checks the pipeline "
                     "and the model-vs-simulation agreement on a coarse wake, not Re = 100 physics to the paper's "
                     "accuracy.")
    return {"rows": rows, "figures": ["wake_model.png"], "notes": notes,
            "tables": [{"title": "Identified law (amplitudes scaled by the limit-cycle radius)",
                        "columns": ["law"], "rows": [{"law": s} for s in theory.equation_strings(4)]},
                       comparison_table([res, *others], pub)]}
