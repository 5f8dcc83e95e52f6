"""Validation of the 3D channel worlds (``lbm3d:sphere``, ``lbm3d:cylinder``) against published numbers.

Three cases:

* ``duct_profile`` (fast, kernel): a uniform inlet develops into laminar square-duct flow, whose
  centreline-to-mean velocity ratio is 2.0962 (series solution, White, *Viscous Fluid Flow*): checks the
  side-wall bounce-back, the moving-wall inlet and the outlet of :mod:`atom_sdk.worlds.lbm3d`.
* ``sphere_re100`` (slow): steady drag of a sphere at Re = 100 against Johnson & Patel (1999, J. Fluid
  Mech. 378, 19-70), C_D = 1.087 (Schiller & Naumann 1933 give 1.092, Clift, Grace & Weber 1978 1.109),
  within 5 %. The duct's side walls slide with the free stream, so the duct acts as a closed wind tunnel
  without wall boundary layers; its blockage is corrected with Lock's solid and Maskell's wake blockage
  (``duct_blockage``, +1.6 % on C_D at D/W = 1/6). The flow starts from rest with a smooth inlet ramp.
* ``schafer_turek_3d1z`` (slow): the steady Re = 20 DFG benchmark (Schäfer & Turek 1996; Bayraktar,
  Mierka & Turek 2012): C_D in 6.05-6.25, C_L in 0.008-0.010, Delta p in 0.165-0.175 (in the benchmark's
  units rho = 1, mean U = 0.2, so Delta p = 0.04 x our (p_front - p_back) / (rho U^2)).

Why the 3D-1Z height is a multiple of 41 (measured on the shared 2-core CPU, 2026-11-30): the lift is a
0.15 % imbalance between the drag-sized pressure forces on the top and bottom of the cylinder. At H = 20
and 28 the cylinder's centre (0.2 H / 0.41 - 1/2) falls between lattice planes, so the top and bottom
links have different fractions q (0.31 against 0.82 at H = 20) and the interpolated bounce-back's
q-dependent wall-position error differs between them: C_L = -0.64 (H = 20) and +0.25
(H = 28) against 0.0094, and -0.24 with half-way bounce-back, +0.27 with BGK at H = 20: a discretisation
artefact, not a sign or normalisation error (the lift per z-layer peaks at mid-depth, as the drag does, so the
cylinder-wall corners are not its source, and the kernel has no y-bias: tests). With the centre on a
lattice plane the body is mirror-symmetric and the lift is physical already at D = 4.9: at H = 20 with
cy = 9.0 (offset from the axis 0.5 cell, 2.05 times the benchmark's) C_L = 0.0190, 2.05 x 0.0094 =
0.0193. Only H = 41 k puts the benchmark's centre on such a plane.
Measured at H = 41 (D = 10, 250 x 41 x 41 cells, tau = 0.59, 3600 updates = 22 D/U, 62 min on the
shared CPU), averaged over the last 6 of 18 chunks: C_D = 6.167 (spread 0.15) and Delta p = 0.1686, inside
the ranges, C_L = 0.00684 (spread 0.0007), 27 % below 0.0094 and outside 0.008-0.010 (the last three
chunks: 6.200, 0.00694, 0.1691, still rising slowly): a resolution error now, 90 times smaller than at
H = 28; the ``full`` budget (H = 82) is the one expected to reach the lift range.
On the native fused channel kernel (:mod:`atom_sdk.worlds.lbm3d_fused`, what ``kernel="auto"`` runs on a
CPU) the same H = 41 run gives the same numbers (C_D 6.1669, C_L 0.006841, Delta p 0.16863) in 261 s wall
(46 CPU-s) instead of 62 min. The ``full`` budget then ran (2026-11-30, native, load 5-12 from other jobs):
H = 82 (D = 20, 500 x 82 x 82, tau = 0.68, 9600 updates = 28.8 D/U) in 28 min wall (651 CPU-s), averaged
over the last 8 of 24 chunks: C_D = 6.171 (spread 0.07) and Delta p = 0.1683, inside the ranges; C_L =
0.00776, 17 % below 0.0094 and 3 % below the range (the last chunks swing 0.0076-0.0080 with the acoustic
mode, no drift). The lift error falls by 1.6 when the cell is halved (27 % -> 17 %): still a resolution
error; 2 of the 3 checks pass at H = 82.

Sphere at Re = 100, ``cpu`` budget (D = 12, duct 72, 144 x 72 x 72, u = 0.05, tau = 0.518, 4800 updates =
20 D/U, 1200-update ramp, 31 min): stable. The drag still swings with the duct's organ-pipe mode (period
about 1000 updates = 4 L / c_s, +-0.085 in C_D, decaying slowly), so the estimate depends on the window:
the last 8 chunks give C_D = 1.149 in the duct, 1.130 after blockage (eps = 0.008), +4.0 % on Johnson &
Patel; the last two whole periods give 1.173 and 1.154, +6.1 %. Within the 5 % only by the first window:
not yet a clean pass. Before that, D = 6 (u = 0.06, tau - 1/2 = 0.011) diverged
after about 550 updates; D = 8 (u = 0.1, tau - 1/2 = 0.024) after about 850 when started at U, and after about
1100 from rest with a 1500-update ramp and the equilibrium inlet. The growth starts at the inlet plane, a few
cells from the side walls, not at the body: the empty duct (uniform inlet, walls sliding with U, 2 % noise)
reproduces it in 300 updates at u = 0.1 and tau = 0.524 with either inlet and with walls at rest, and is
stable at u = 0.05 (tau = 0.517 and 0.524; it diverges at 0.512), while a periodic box at u = 0.1 and
tau = 0.524 and a closed box are stable. So the start (ramp or not) and the Bouzidi links are not the cause:
the open channel needs u / (tau - 1/2) below about 3, i.e. D >= 12 cells at u = 0.05 for Re = 100.
On the native kernel the ``cpu`` budget gives the same numbers (C_D 1.1489 in the duct, 1.1302 after
blockage, +4.0 %) in 83 s wall (144 CPU-s) instead of 31 min, and the ``full`` budget (D = 16, duct 96,
192 x 96 x 96, tau = 0.524, 9600 updates = 30 D/U, 1600-update ramp) ran in 8.4 min wall (563 CPU-s):
the organ-pipe swing is smaller (+-0.03, period about 4 chunks = 4 L / c_s), the last 10 of 32 chunks
give C_D = 1.161 in the duct, 1.142 after blockage (eps = 0.0083), +5.1 %; the last two whole periods
(8 chunks) 1.154 and 1.135, +4.4 %. Refining D from 12 to 16 did not move the estimate into a clean pass.

The ``gpu`` budgets (issue 15; one GPU, where ``kernel="auto"`` runs the pure-JAX reference, the native
kernel being CPU-only; ``benchmarks/gpu_validation.py`` runs them): the sphere at D = 24 (duct 144, length
288, 6.0e6 cells, tau = 0.536) and 3D-1Z at H = 123 (D = 30, 1.1e7 cells, tau = 0.77). Each chunk is a whole
fraction of the organ-pipe period 4 L / c_s (``organ_pipe_period``) and the averaged window spans whole
periods (three for the sphere, one for 3D-1Z), so the window choice that split the ``cpu`` sphere estimate
(+4.0 % against +6.1 %) does not arise; the per-chunk history is returned for other windows.
Ran on one NVIDIA H200 (2026-11-30, jax 0.11.2, XLA kernels; ``docs/measurements/h200_2026-11-30``):
3D-1Z at H = 123 in 47 s (4180 MLUPS): C_D = 6.175, C_L = 0.00863, Delta p = 0.1689, **all three inside
the DFG ranges** (windows of the last 6, 8 and 12 chunks give C_L 0.00854-0.00863, C_D 6.159-6.175): the
lift error went 27 % (H = 41) -> 17 % (H = 82) -> 8 % (H = 123) below 0.0094, a resolution error as
expected. The sphere at D = 24 in 27 s (4450 MLUPS): C_D = 1.143 in the duct, 1.124 after blockage,
**+3.4 %** on Johnson & Patel's 1.087 (windows of the last 5 to 20 chunks: +3.4 to +3.6 %): a clean
pass within 5 %.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from atom_sdk.worlds import lbm3d, lbm3d_fused
from atom_sdk.worlds import lbm_d3q19 as d3
from atom_sdk.worlds.base import ValidationCase, ValidationResult, relative_check

DUCT_SOURCE = "laminar square-duct flow, u_max/u_mean = 2.0962 (series solution; White, Viscous Fluid Flow, 3-48)"
SPHERE_SOURCE = "Johnson & Patel (1999) J. Fluid Mech. 378: sphere at Re = 100, C_D = 1.087"
ST3_SOURCE = ("Schäfer & Turek (1996) DFG 3D-1Z, Re = 20: C_D 6.05-6.25, C_L 0.008-0.010, dp 0.165-0.175 "
              "(Bayraktar, Mierka & Turek 2012: 6.185, 0.0094, 0.1714)")
CHANNEL_KERNEL = "kernel:lbm3d-channel"
JOHNSON_PATEL_CD = 1.087
#: Johnson & Patel 1.087, Schiller-Naumann 1.093 and Clift-Grace-Weber 1.109 spread 2 %; 3 % more is allowed
#: for D = 12 cells and the blockage correction's own uncertainty, fixed before any run
SPHERE_TOL = 0.05


def clift_grace_weber_cd(re: float) -> float:
    """Standard drag curve of a sphere, 20 < Re <= 260 (Clift, Grace & Weber 1978, table 5.2)."""
    return 24.0 / re * (1.0 + 0.1315 * re ** (0.82 - 0.05 * math.log10(re)))


def duct_flow(n: int = 12, length: int = 40, u: float = 0.02, tau: float = 1.0, steps: int = 3000,
              dtype: Any = jnp.float32, kernel: str = "auto") -> dict[str, float]:
    """Developed square-duct flow behind a uniform inlet: u_max / u_mean averaged over x in [L/3, 3L/4].
    ``kernel``: the channel update (:mod:`atom_sdk.worlds.lbm3d_fused`)."""
    shape = (length, n, n)
    inlet = lbm3d.duct_profile(n, n, u, "uniform")
    update = lbm3d_fused.make_update(shape, tau, "trt", lbm3d.Channel(inlet, 0.0), None, np.zeros(shape, bool), dtype,
                                     magic=3.0 / 16.0, kernel=kernel)
    f0 = d3.equilibrium(jnp.ones(shape), jnp.full(shape, u), jnp.zeros(shape), jnp.zeros(shape)).astype(dtype)
    run = jax.jit(lambda f: jax.lax.fori_loop(0, steps, lambda _, g: update(g, jnp.zeros((), dtype))[0], f))
    _, ux, _, _ = lbm3d.macroscopic(run(f0))
    ux = np.asarray(ux, dtype=np.float64)[length // 3: 3 * length // 4]
    ratio = ux.max(axis=(1, 2)) / ux.mean(axis=(1, 2))
    return {"ratio": float(ratio.mean()), "ratio_spread": float(np.ptp(ratio)), "n": n, "tau": tau}


def duct_case(world: str) -> list[ValidationResult]:
    out = duct_flow()
    return [relative_check(world, "duct_profile", "u_max / u_mean", out["ratio"], lbm3d.duct_centreline_ratio(), 0.03,
                           DUCT_SOURCE, kind="kernel", subject=CHANNEL_KERNEL, **out)]


def _ran(world: Any, kernel: str) -> str:
    """The lattice update that ``kernel`` resolved to in ``world`` (recorded with the result)."""
    geo = world.geometry
    return lbm3d_fused.resolve_kernel(kernel, world.params.collision, world.dtype, geo.shape, None, geo.links)


#: ``progress(chunks_done, chunks_total, seconds_since_start)`` after each synchronised chunk; it may raise to
#: stop the run (the GPU validation script stops a case whose timed warm-up chunks say it will not fit)
Progress = Callable[[int, int, float], None]


def steady_coefficients(world: Any, chunks: int, chunk: int, average: int | None = None,
                        progress: Progress | None = None) -> dict[str, Any]:
    """March ``world`` with jets off; C_D, C_L, pressure drop after each chunk of ``chunk`` updates, averaged
    over the last ``average`` chunks (default a third of them): the coefficients still swing with the slowest
    acoustic (organ-pipe) mode, and a window of whole periods averages it out."""
    average = max(2, chunks // 3) if average is None else average
    if not 1 <= average <= chunks:
        raise ValueError(f"average must be between 1 and chunks = {chunks} chunks, got {average}")
    world.reset(seed=0)
    state = world.state
    step = jax.jit(world.dynamics.step)
    history = []
    start = time.perf_counter()
    for i in range(chunks):
        state, out = step(state, jnp.zeros((), world.dtype))
        history.append([float(out.diagnostics[k]) for k in ("drag_mean", "lift_mean", "pressure_drop")])
        if progress is not None:
            progress(i + 1, chunks, time.perf_counter() - start)
    h = np.array(history)
    tail = h[-average:]
    return {"cd": float(tail[:, 0].mean()), "cl": float(tail[:, 1].mean()), "dp": float(tail[:, 2].mean()),
            "cd_spread_averaged_chunks": float(np.ptp(tail[:, 0])), "averaged_chunks": len(tail),
            "updates": chunks * chunk, "seconds": time.perf_counter() - start,
            "convective_times": chunks * chunk * world.params.u_inlet / world.diameter,
            "history": {"cd": h[:, 0].tolist(), "cl": h[:, 1].tolist(), "dp": h[:, 2].tolist()}}


def organ_pipe_period(length: int) -> float:
    """Updates per period of the duct's slowest acoustic mode, 4 L / c_s (c_s = 1/sqrt(3)): measured about
    1000 updates at L = 144 and 4 chunks of 300 at L = 192, as this gives (998, 1330)."""
    return 4.0 * length * math.sqrt(3.0)


#: the sphere case's budgets. The open channel (inlet and outlet) is unstable when u / (tau - 1/2) is large
#: (measured, empty sliding-wall duct with 2 % noise: u = 0.1 diverges at tau = 0.524, u = 0.05 at 0.512; u =
#: 0.05 is stable at 0.517 and 0.524), and tau - 1/2 = 3 u D / Re, so Re = 100 needs u = 0.05 and D >= 12.
#: ``cpu`` (D = 12, 7.5e5 cells, 4800 updates) is what ran here (31 min on the shared 2-core CPU on the
#: reference, 83 s on the native kernel); ``full`` (D = 16, 1.8e6 cells, 9600 updates): 8.4 min native.
SPHERE_BUDGETS: dict[str, dict[str, Any]] = {
    "cpu": {"radius": 6.0, "duct": 72, "length": 144, "u": 0.05, "center_x": 36.0, "start_ramp": 1200, "chunks": 24,
            "chunk": 200},
    "full": {"radius": 8.0, "duct": 96, "length": 192, "u": 0.05, "center_x": 48.0, "start_ramp": 1600,
             "chunks": 32, "chunk": 300},
    # one GPU (pure-JAX kernels; benchmarks/gpu_validation.py): D = 24, duct and length scaled from ``full``
    # (6 D and 12 D, 6.0e6 cells), ramp scaled with D; a chunk is a fifth of the organ-pipe period
    # (organ_pipe_period(288) = 1995 updates), so the averaged last 15 chunks span three whole periods;
    # 36 chunks = 14364 updates = 29.9 D/U (``full`` ran 30), 8.6e10 cell updates
    "gpu": {"radius": 12.0, "duct": 144, "length": 288, "u": 0.05, "center_x": 72.0, "start_ramp": 2400,
            "chunks": 36, "chunk": 399, "average": 15},
}
SPHERE_KEYS = ("radius", "duct", "length", "u", "center_x", "start_ramp", "chunks", "chunk")


def duct_blockage(cd: float, diameter: float, duct: float) -> float:
    """epsilon of a sphere in a square duct whose walls slide with the stream (a closed tunnel without wall
    boundary layers): solid blockage 0.81 V / C^(3/2) (Lock 1929, tunnel factor of a square section) plus
    wake blockage C_D S / (4 C) (Maskell 1963); the free-stream dynamic pressure is (1 + eps)^2 higher
    at the body, so C_D(unconfined) ~ C_D(duct) / (1 + eps)^2 (Barlow, Rae & Pope 1999, ch. 10)."""
    area = duct**2
    solid = 0.81 * (math.pi * diameter**3 / 6) / area**1.5
    wake = cd * (math.pi * diameter**2 / 4) / (4 * area)
    return solid + wake


def sphere_re100(world_cls: Any, budget: str | dict[str, Any] = "cpu", kernel: str = "auto",
                 progress: Progress | None = None) -> dict[str, Any]:
    """Sphere (a ``world_cls``: ``lbm3d:sphere``) at Re = 100 in a square duct whose walls slide with U,
    started from rest with a smooth inlet ramp; ``budget`` is a key of ``SPHERE_BUDGETS`` or a dict with
    their keys (``SPHERE_KEYS``, optional ``average``: a smoke test's own size); ``kernel`` the world's
    lattice update (``"auto"``: native on a CPU, the pure-JAX reference on a GPU)."""
    if isinstance(budget, dict):
        missing = [k for k in SPHERE_KEYS if k not in budget]
        if missing:
            raise ValueError(f"a sphere budget dict needs the keys {', '.join(missing)} (see SPHERE_BUDGETS)")
        b, name = budget, "custom"
    elif budget in SPHERE_BUDGETS:
        b, name = SPHERE_BUDGETS[budget], budget
    else:
        raise ValueError(f"unknown sphere budget {budget!r}; choose one of {sorted(SPHERE_BUDGETS)}")
    world = world_cls(grid=(b["length"], b["duct"], b["duct"]), u_inlet=b["u"], reynolds=100.0, radius=b["radius"],
                      center_x=b["center_x"], substeps=b["chunk"], perturbation=0.0, start_ramp=b["start_ramp"],
                      kernel=kernel)
    out = steady_coefficients(world, b["chunks"], b["chunk"], b.get("average"), progress)
    eps = duct_blockage(out["cd"], world.diameter, b["duct"])
    out.update(grid=list(world.grid), diameter=world.diameter, tau=world.tau, budget=name,
               blockage=math.pi * b["radius"]**2 / b["duct"]**2, blockage_epsilon=eps,
               cd_duct=out["cd"], cd_unconfined=out["cd"] / (1 + eps) ** 2,
               clift_grace_weber=clift_grace_weber_cd(100.0), schiller_naumann=schiller_naumann_cd(100.0),
               kernel=_ran(world, kernel), organ_pipe_period=organ_pipe_period(b["length"]))
    return out


def schiller_naumann_cd(re: float) -> float:
    """Schiller & Naumann (1933) sphere drag, Re < 800: 24 / Re (1 + 0.15 Re^0.687)."""
    return 24.0 / re * (1.0 + 0.15 * re**0.687)


def device_budget() -> str:
    """The 3D cases' budget where this process computes: ``gpu`` on a GPU (H200: under a minute each), else ``cpu``."""
    import jax

    return "gpu" if jax.default_backend() == "gpu" else "cpu"


def sphere_case(world_cls: Any, budget: str | None = None) -> list[ValidationResult]:
    out = sphere_re100(world_cls, budget or device_budget())
    detail = {k: out[k] for k in ("grid", "diameter", "tau", "budget", "blockage", "blockage_epsilon", "cd_duct",
                                  "updates", "convective_times", "cd_spread_averaged_chunks", "clift_grace_weber",
                                  "schiller_naumann", "seconds")}
    return [relative_check("lbm3d:sphere", "sphere_re100", "cd", out["cd_unconfined"], JOHNSON_PATEL_CD, SPHERE_TOL,
                           SPHERE_SOURCE, blockage_correction="Lock 1929 solid + Maskell 1963 wake", **detail)]


#: 3D-1Z budgets: the height H must be a multiple of 41 (``lbm3d.mirror_mismatch_y``); ``cpu`` ran on the shared
#: 2-core CPU (H = 41, D = 10, 4.2e5 cells: 62 min on the reference, 4.4 min on the native kernel), ``full``
#: (H = 82, D = 20, 3.4e6 cells) ran in 28 min on the native kernel. ``gpu`` (one GPU, pure-JAX kernels;
#: benchmarks/gpu_validation.py): H = 123, D = 30, 750 x 123 x 123 = 1.1e7 cells, tau = 0.77; a chunk is a
#: twelfth of the organ-pipe period (organ_pipe_period(750) = 5196 updates), so the averaged last 12 chunks
#: span one whole period; 30 chunks = 12990 updates = 26 D/U (``full`` ran 28.8, ``cpu`` 22), 1.5e11 cell updates
ST3_BUDGETS: dict[str, dict[str, int]] = {
    "cpu": {"height": 41, "chunks": 18, "chunk": 200},
    "full": {"height": 82, "chunks": 24, "chunk": 400},
    "gpu": {"height": 123, "chunks": 30, "chunk": 433, "average": 12},
}


def schafer_turek_3d1z(world_cls: Any, height: int = 41, u: float = 0.06, chunks: int = 18,
                       chunk: int = 200, kernel: str = "auto", average: int | None = None,
                       progress: Progress | None = None) -> dict[str, Any]:
    """The DFG 3D-1Z channel (a ``world_cls``: ``lbm3d:cylinder``) at Re = 20 with ``height`` cells across
    (D = height x 0.1 / 0.41, length 2.5 / 0.41 heights). ``height`` must be a multiple of 41: only then is
    the discrete cylinder mirror-symmetric about its own centre line, which the lift (a 0.15 % imbalance
    of the drag-sized pressure forces on top and bottom) needs. ``average``: chunks averaged at the end."""
    if height % 41:
        raise ValueError(f"3D-1Z height {height} puts the cylinder off the lattice's mirror planes, and its lift then "
                         "measures the discretisation (C_L = -0.64 at H = 20, +0.25 at H = 28); use a multiple of 41")
    nx = int(round(2.5 / 0.41 * height))
    world = world_cls(grid=(nx, height, height), u_inlet=u, reynolds=20.0, substeps=chunk, perturbation=0.0,
                      kernel=kernel)
    out = steady_coefficients(world, chunks, chunk, average, progress)
    out.update(grid=list(world.grid), diameter=world.diameter, tau=world.tau, dp_benchmark=0.04 * out["dp"],
               kernel=_ran(world, kernel), mirror_mismatch=lbm3d.mirror_mismatch_y(world.body, world.grid),
               organ_pipe_period=organ_pipe_period(nx))
    return out


def schafer_turek_3d1z_case(world_cls: Any, budget: str | None = None) -> list[ValidationResult]:
    out = schafer_turek_3d1z(world_cls, **ST3_BUDGETS[budget or device_budget()])
    detail = {k: out[k] for k in ("grid", "diameter", "tau", "updates", "convective_times",
                                  "cd_spread_averaged_chunks", "mirror_mismatch", "seconds")}
    case = "schafer_turek_3d1z"
    return [
        # each check is the published range itself: centre +- half width
        relative_check("lbm3d:cylinder", case, "cd", out["cd"], 6.15, 0.10, ST3_SOURCE, absolute=True, **detail),
        relative_check("lbm3d:cylinder", case, "cl", out["cl"], 0.009, 0.001, ST3_SOURCE, absolute=True, **detail),
        relative_check("lbm3d:cylinder", case, "delta_p", out["dp_benchmark"], 0.170, 0.005, ST3_SOURCE, absolute=True,
                       **detail),
    ]


def cases_for(world_cls: Any) -> list[ValidationCase]:
    """The validation cases of one of the 3D worlds (passed in, so this module does not import them)."""
    world_id = world_cls.world_id
    cases = [ValidationCase(world_id, "duct_profile", lambda: duct_case(world_id),
                            description="developed square-duct flow: u_max/u_mean = 2.096 (3%)")]
    if world_id == "lbm3d:sphere":
        cases.append(ValidationCase(world_id, "sphere_re100", lambda: sphere_case(world_cls), slow=True,
                                    description="Re=100 sphere, D=12 cells, duct 6D, blockage-corrected C_D vs "
                                                "Johnson & Patel 1999 (5%); ~2 min on 2 CPU cores "
                                                "(native kernel; ~30 min on the reference); on a GPU D=24 "
                                                "(27 s on an H200)"))
    else:
        cases.append(ValidationCase(world_id, "schafer_turek_3d1z", lambda: schafer_turek_3d1z_case(world_cls), slow=True,
                                    description="DFG 3D-1Z Re=20, H=41 cells (D=10, lattice-symmetric body): "
                                                "C_D, C_L, dp within the published ranges; ~5 min on 2 CPU cores "
                                                "(native kernel; ~1 h on the reference; C_L 27 % low at "
                                                "this grid); on a GPU H=123 (47 s on an H200, 3 of 3)"))
    return cases
