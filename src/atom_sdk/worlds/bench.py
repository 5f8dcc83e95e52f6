"""Throughput of the LBM kernels beside the measured copy bound, the pure-JAX reference and NumPy.

Why a copy bound: one D2Q9 update must at least read and write the nine populations of each cell
(2 x 9 x 4 = 72 bytes in float32; 152 bytes for D3Q19), so the bandwidth of a plain copy of an
array the size of the lattice state, divided by those bytes, is the ceiling of any
implementation that makes one update per pass over memory. The copy is measured in the same
process two ways, and the larger is the bound: a jitted ``x * s`` (``s`` a runtime 1.0, so XLA
cannot elide it) from one buffer into a fresh one on XLA:CPU's intra-op thread pool, and (where
the native kernels built) the same ``x * s`` in the native library with the kernel's own OpenMP
threads, partition and ping-pong buffers, so kernel and bound use the same threads. The report
says whether the two buffers fit the last-level cache (then the bound is a cache bandwidth); a
256 MiB single-thread ``np.copyto`` (the DRAM bound) is reported beside it. The native D2Q9
kernel by default makes ``time_block`` updates per pass (temporal blocking, intermediate rows in
the L2): its memory traffic per update is then 72/``time_block`` B, so its share of the copy
bound is a throughput share, not a bandwidth share; the single-pass kernel (``time_block`` 1)
is reported beside it, and each row states its memory bytes per update. The copy bound's array
is the lattice state itself (shape and bytes in the report: 9 x 512 x 512 float32 = 9.4 MB at
the goal's size, two buffers 18.9 MB, inside a 32 MiB L3), copied as many passes per round as
the kernels make updates, on ``native_threads`` threads (every CPU the process may use). Every
case, the copy included, is timed in interleaved rounds (best of the rounds; compile and first
call excluded), so a ratio such as fused/reference or fused/copy compares runs made under the
same load; the load average is recorded before and after. Because wall time on a machine shared
by other processes swings by several times between rounds, each case also reports its work per
process CPU-second (all threads) and the same share of the copy's bytes per CPU-second: the
steadier efficiency figure. The goal names its ``primary`` figure: wall clock when the 1-minute
load before the run is below :data:`CONTENDED_LOAD`, else per CPU-second. Nothing here is
asserted in tests.
"""

from __future__ import annotations

import math
import os
import time
from pathlib import Path
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from atom_sdk.worlds import lbm, lbm_channel_fused, lbm_cuda, lbm_d3q19, lbm_fused, lbm_native
from atom_sdk.workspace import ReportKind

#: what ``atom bench worlds --output`` may replace: a report of its own ({"lbm", "wedge", "provenance"})
WORLDS_BENCH_REPORT = ReportKind("world benchmark JSON report", keys=("lbm", "wedge", "provenance"))

TAU = 0.6
#: the fused D2Q9 kernel's share of the copy bound that issue 15 asks for on the 2-core CPU
CPU_GOAL = 0.70
#: the fused kernels' share of the copy bound that issue 15 asks for on a GPU (D2Q9 4096^2, D3Q19 256^3)
GPU_GOAL = 0.80
#: 1-minute load average from which the goal is judged per CPU-second rather than by wall clock
CONTENDED_LOAD = 1.0


def bytes_per_update(q: int, itemsize: int = 4) -> int:
    """Each population read once and written once per update."""
    return 2 * q * itemsize


def _best_interleaved(cases: dict[str, Callable[[], Any]], rounds: int,
                      cpu: dict[str, float] | None = None) -> dict[str, float]:
    """Best wall time of each case over ``rounds`` rounds, the cases alternating within a round.

    ``cpu``, when given, receives each case's least process CPU time (all threads) over the rounds:
    on a shared machine the work done per CPU-second is steadier than wall time.
    """
    best = {name: float("inf") for name in cases}
    for _ in range(rounds):
        for name, fn in cases.items():
            start, start_cpu = time.perf_counter(), time.process_time()
            fn()
            best[name] = min(best[name], time.perf_counter() - start)
            if cpu is not None:
                cpu[name] = min(cpu.get(name, float("inf")), time.process_time() - start_cpu)
    return best


def _copy_case(shape: tuple[int, ...], repeats: int) -> tuple[Callable[[], None], int]:
    """A jitted float32 copy of ``shape`` run ``repeats`` times, and the bytes it moves."""
    x = jnp.ones(shape, jnp.float32)
    scale = jnp.float32(1.0)
    copy = jax.jit(lambda a, s: a * s)
    copy(x, scale).block_until_ready()

    def run() -> None:
        for _ in range(repeats):
            out = copy(x, scale)
        out.block_until_ready()

    return run, 2 * int(x.nbytes) * repeats


def _kernel_copy_case(shape: tuple[int, ...], repeats: int,
                      copy_fn: Callable[[jax.Array, int], jax.Array]) -> tuple[Callable[[], None], int]:
    """A kernel library's own copy (``lbm_native.copy_native``: the kernel's OpenMP threads and partition;
    ``lbm_cuda.copy_cuda``: 16-byte loads and stores), ``repeats`` passes between the kernels' ping-pong buffers."""
    x = jnp.ones(shape, jnp.float32)
    copy = jax.jit(lambda a: copy_fn(a, repeats))
    copy(x).block_until_ready()
    return lambda: copy(x).block_until_ready(), 2 * int(x.nbytes) * repeats


def _copy_report(shape: tuple[int, ...], nbytes: int, seconds: float) -> dict[str, Any]:
    return {"bytes_per_second": nbytes / seconds, "array_bytes": int(np.prod(shape)) * 4, "shape": list(shape),
            "method": f"jitted x*s into a new buffer on {jax.default_backend()} (XLA's intra-op threads on a CPU)",
            "threads": _cpu_threads() if jax.default_backend() == "cpu" else None}


def last_level_cache_bytes() -> int | None:
    """Size of the CPU's largest cache (Linux sysfs), None where unknown."""
    sizes = []
    for path in Path("/sys/devices/system/cpu/cpu0/cache").glob("index*/size"):
        text = path.read_text(encoding="utf-8").strip()
        scale = {"K": 2**10, "M": 2**20, "G": 2**30}.get(text[-1:], 1)
        digits = text.rstrip("KMG")
        if digits.isdigit():
            sizes.append(int(digits) * scale)
    return max(sizes) if sizes else None


def _residency(state_bytes: int) -> dict[str, Any]:
    """Whether source + destination of one update fit the last-level cache."""
    llc = last_level_cache_bytes()
    footprint = 2 * state_bytes
    where = None if llc is None else ("last-level cache" if footprint <= llc else "DRAM")
    return {"footprint_bytes": footprint, "last_level_cache_bytes": llc, "resident_in": where}


def copy_bound(shape: tuple[int, ...], repeats: int = 20, rounds: int = 5) -> dict[str, Any]:
    """Read+write bandwidth of a jitted float32 copy of ``shape`` (the lattice state), bytes/s."""
    run, nbytes = _copy_case(shape, repeats)
    return _copy_report(shape, nbytes, _best_interleaved({"copy": run}, rounds)["copy"])


def dram_copy_bandwidth(nbytes: int = 256 * 2**20, rounds: int = 5) -> dict[str, Any]:
    """Bytes per second of a single-thread ``np.copyto`` of a 256 MiB float32 array (read + write)."""
    a = np.ones(nbytes // 4, dtype=np.float32)
    b = np.empty_like(a)
    seconds = _best_interleaved({"copy": lambda: np.copyto(b, a)}, rounds)["copy"]
    return {"bytes_per_second": 2 * a.nbytes / seconds, "array_bytes": int(a.nbytes), "threads": 1,
            "method": "np.copyto, one thread"}


def _cpu_threads() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def numpy_d2q9_step(f: np.ndarray, tau: float) -> np.ndarray:
    """Reference implementation: BGK collision then np.roll streaming, periodic box."""
    cx = lbm.C[:, 0].astype(f.dtype)[:, None, None]
    cy = lbm.C[:, 1].astype(f.dtype)[:, None, None]
    w = lbm.W.astype(f.dtype)[:, None, None]
    rho = f.sum(axis=0)
    ux = (f * cx).sum(axis=0) / rho
    uy = (f * cy).sum(axis=0) / rho
    cu = 3 * (cx * ux + cy * uy)
    feq = w * rho * (1 + cu + 0.5 * cu * cu - 1.5 * (ux * ux + uy * uy))
    post = f - (f - feq) / f.dtype.type(tau)
    return np.stack([np.roll(post[i], (int(lbm.C[i, 0]), int(lbm.C[i, 1])), axis=(0, 1)) for i in range(9)])


def _initial(nx: int, ny: int, dtype: Any) -> np.ndarray:
    rng = np.random.default_rng(0)
    ux = 0.05 + 0.01 * rng.standard_normal((nx, ny))
    return np.asarray(lbm.equilibrium(jnp.ones((nx, ny)), jnp.asarray(ux), jnp.zeros((nx, ny))), dtype=dtype)


def _reference_case(f0: jax.Array, steps: int, kind: str) -> Callable[[], None]:
    """The reference donates its input, so it runs on its own buffer, chained call to call."""
    holder = {"f": f0 + 0}
    runner = lbm.run_periodic if f0.shape[0] == 9 else (
        lambda f, n, tau, k: lbm_d3q19.run_periodic(f, steps=n, tau=tau, kind=k))

    def run() -> None:
        holder["f"] = runner(holder["f"], steps, TAU, kind).block_until_ready()

    run()  # compile
    return run


def _fused_case(f0: jax.Array, steps: int, kind: str, backend: str,
                time_block: int | None = None, pattern: str = "auto") -> Callable[[], None]:
    def run() -> None:
        lbm_fused.run_periodic_fused(f0, steps, TAU, kind, backend=backend, time_block=time_block,
                                     pattern=pattern).block_until_ready()

    run()
    return run


def _numpy_case(f0: np.ndarray, steps: int) -> Callable[[], None]:
    def run() -> None:
        g = f0
        for _ in range(steps):
            g = numpy_d2q9_step(g, TAU)

    return run


def _lattice_rows(f0: jax.Array, steps: int, numpy_steps: int, rounds: int,
                  collisions: tuple[str, ...]) -> dict[str, Any]:
    """Copy bound, reference, fused (native and xla) and (2D) NumPy for one lattice, interleaved."""
    q = int(f0.shape[0])
    cells = int(np.prod(f0.shape[1:]))
    native = jax.default_backend() == "cpu" and lbm_native.available()
    cuda = jax.default_backend() == "gpu" and lbm_cuda.available()
    per_update = bytes_per_update(q)
    # native D2Q9: the default updates per sweep and (when that is more than one) the single pass
    blocks = sorted({lbm_native.default_time_block(int(f0.shape[2]), int(f0.shape[1])), 1}, reverse=True) if q == 9 else [1]
    cases: dict[str, tuple[dict[str, Any], Callable[[], None], int]] = {}
    for kind in collisions:
        cases[f"reference {kind}"] = ({"kernel": "reference", "collision": kind, "memory_bytes_per_update": None},
                                      _reference_case(f0, steps, kind), steps)
        for block in blocks if native else []:
            name = f"fused native {kind}" + (" single-pass" if block == 1 and len(blocks) > 1 else "")
            meta = {"kernel": "fused", "backend": "native", "collision": kind, "threads": lbm_native.default_threads(),
                    "time_block": block, "memory_bytes_per_update": per_update / block}
            cases[name] = (meta, _fused_case(f0, steps, kind, "native", block), steps)
        for pattern in ("pull", "push") if cuda else []:
            meta = {"kernel": "fused", "backend": "cuda", "collision": kind, "pattern": pattern,
                    "memory_bytes_per_update": per_update}
            cases[f"fused cuda {kind} {pattern}"] = (meta, _fused_case(f0, steps, kind, "cuda", pattern=pattern), steps)
        cases[f"fused xla {kind}"] = ({"kernel": "fused", "backend": "xla", "collision": kind,
                                       "memory_bytes_per_update": per_update}, _fused_case(f0, steps, kind, "xla"), steps)
    if q == 9 and numpy_steps > 0:
        cases["numpy bgk"] = ({"kernel": "numpy", "collision": "bgk", "memory_bytes_per_update": None},
                              _numpy_case(np.asarray(f0), numpy_steps), numpy_steps)
    repeats = steps  # as many passes as the kernels make: rounds of equal length meet the same load
    bounds = {"copy xla": _copy_case(tuple(f0.shape), repeats)}
    if native:
        bounds["copy native"] = _kernel_copy_case(tuple(f0.shape), repeats, lbm_native.copy_native)
    if cuda:
        bounds["copy cuda"] = _kernel_copy_case(tuple(f0.shape), repeats, lbm_cuda.copy_cuda)
    timed = {name: fn for name, (_, fn, _) in cases.items()}
    cpu: dict[str, float] = {}
    best = _best_interleaved({**{name: fn for name, (fn, _) in bounds.items()}, **timed}, rounds, cpu)
    measured = {}
    for name, (_, nbytes) in bounds.items():
        measured[name] = {"bytes_per_second": nbytes / best.pop(name), "bytes_per_cpu_second": nbytes / cpu.pop(name)}
    methods = ["jitted x*s into a new buffer (XLA's intra-op threads)"]
    if native:
        methods.append(f"native x*s with {lbm_native.default_threads()} OpenMP threads and the kernel's ping-pong buffers")
    if cuda:
        methods.append("CUDA float4 copy kernel between the kernels' ping-pong buffers")
    bound = {"bytes_per_second": max(m["bytes_per_second"] for m in measured.values()),
             "bytes_per_cpu_second": max(m["bytes_per_cpu_second"] for m in measured.values()),
             "array_bytes": int(f0.nbytes), "shape": list(f0.shape), "method": "the larger of: " + "; ".join(methods),
             "threads": lbm_native.default_threads() if native else _copy_report(tuple(f0.shape), 1, 1.0)["threads"],
             "measured": measured, "passes_per_round": repeats, "rounds": rounds,
             "timing": "best of the rounds, interleaved with the kernels; compile and first call excluded",
             **_residency(int(f0.nbytes))}
    bound_mlups = bound["bytes_per_second"] / per_update / 1e6
    rows = []
    for name, (meta, _, n) in cases.items():
        mlups = cells * n / best[name] / 1e6
        per_cpu = cells * n / cpu[name] / 1e6
        rows.append({"case": name, **meta, "mlups": mlups, "fraction_of_copy_bound": mlups / bound_mlups,
                     "mlups_per_cpu_second": per_cpu,
                     "fraction_of_copy_bound_cpu": per_cpu * per_update * 1e6 / bound["bytes_per_cpu_second"]})
    ref = {r["collision"]: r["mlups"] for r in rows if r["kernel"] == "reference"}
    numpy_mlups = next((r["mlups"] for r in rows if r["kernel"] == "numpy"), None)
    for row in rows:
        row["vs_reference"] = row["mlups"] / ref[row["collision"]] if row["collision"] in ref else None
        row["vs_numpy"] = row["mlups"] / numpy_mlups if numpy_mlups else None
    return {"shape": list(f0.shape), "steps": steps, "bytes_per_update": per_update, "copy_bound": bound,
            "bound_mlups": bound_mlups, "rows": rows}


def jax_cylinder_mlups(grid: tuple[int, int, int] = (440, 82, 1), steps: int = 200, collision: str = "trt",
                       repeats: int = 3, kernel: str = "reference") -> float:
    """The full channel update (inlet, outlet, walls, Bouzidi cylinder, forces), jets off.

    ``kernel`` is the world's: "reference" (pure JAX, the default here), "native" or "auto".
    """
    from atom_sdk.worlds.cylinder import CylinderWorld

    world = CylinderWorld(grid=grid, collision=collision, substeps=steps, kernel=kernel)
    world.reset(seed=0)
    world.step([0.0])  # compile
    seconds = _best_interleaved({"step": lambda: world.step([0.0])}, repeats)["step"]
    return grid[0] * grid[1] * steps / seconds / 1e6


def channel_rows(grid: tuple[int, int, int] = (440, 82, 1), steps: int = 200, rounds: int = 3,
                 collision: str = "trt") -> list[dict[str, Any]]:
    """``lbm2d:cylinder`` agent steps of ``steps`` updates (jets off), reference and native kernel, interleaved.

    Each row: MLUPS by wall clock and per process CPU-second, and its share of the copy bound
    for the channel's own (9, nx, ny) state (measured in the same rounds, as for the periodic rows).
    A world step also computes the observation and diagnostics once, so this is the rate a user gets.
    """
    from atom_sdk.worlds.cylinder import CylinderWorld

    native = lbm_channel_fused.native_blocker(collision, jnp.float32) is None
    return _world_rows(lambda k: CylinderWorld(grid=grid, collision=collision, substeps=steps, kernel=k), native,
                       (9, grid[0], grid[1]), steps, rounds, f"cylinder {grid[0]}x{grid[1]} {collision}")


def channel3d_rows(grid: tuple[int, int, int] = (120, 41, 41), steps: int = 20, rounds: int = 3,
                   collision: str = "trt") -> list[dict[str, Any]]:
    """``lbm3d:cylinder`` agent steps of ``steps`` updates (jets off), reference and native kernel, interleaved.

    The 3D counterpart of :func:`channel_rows` (same columns; the copy bound is that of the world's own
    (19, nx, ny, nz) state). The reference runs about 0.4 MLUPS on 2 shared cores: keep ``steps`` small.
    """
    from atom_sdk.worlds import lbm3d_fused
    from atom_sdk.worlds.world3d import Cylinder3DWorld

    native = lbm3d_fused.native_blocker(collision, jnp.float32) is None
    return _world_rows(lambda k: Cylinder3DWorld(grid=grid, collision=collision, substeps=steps, kernel=k), native,
                       (19, *grid), steps, rounds, f"cylinder3d {grid[0]}x{grid[1]}x{grid[2]} {collision}")


def _world_rows(make_world: Callable[[str], Any], native: bool, shape: tuple[int, ...], steps: int, rounds: int,
                label: str) -> list[dict[str, Any]]:
    """Reference (and native) world steps of ``steps`` updates against the copy bound of the (q, ...) state."""
    cells = math.prod(shape[1:])
    kernels = ["reference"] + (["native"] if native else [])
    cases: dict[str, Callable[[], Any]] = {}
    for name in kernels:
        world = make_world(name)
        world.reset(seed=0)
        world.step([0.0])  # compile
        cases[name] = (lambda w: lambda: w.step([0.0]))(world)
    bounds = {"copy xla": _copy_case(shape, steps)}
    if native:
        bounds["copy native"] = _kernel_copy_case(shape, steps, lbm_native.copy_native)
    cpu: dict[str, float] = {}
    best = _best_interleaved({**{n: fn for n, (fn, _) in bounds.items()}, **cases}, rounds, cpu)
    per_update = bytes_per_update(shape[0])
    bound_wall = max(nbytes / best[n] for n, (_, nbytes) in bounds.items())
    bound_cpu = max(nbytes / cpu[n] for n, (_, nbytes) in bounds.items())
    rows = []
    for name in kernels:
        mlups, per_cpu = cells * steps / best[name] / 1e6, cells * steps / cpu[name] / 1e6
        rows.append({"case": f"{label} ({name})", "kernel": name, "mlups": mlups, "mlups_per_cpu_second": per_cpu,
                     "fraction_of_copy_bound": mlups * per_update * 1e6 / bound_wall,
                     "fraction_of_copy_bound_cpu": per_cpu * per_update * 1e6 / bound_cpu,
                     "memory_bytes_per_update": per_update if name == "native" else None,
                     "threads": lbm_native.default_threads() if name == "native" else None})
    for row in rows:
        row["vs_reference"] = row["mlups"] / rows[0]["mlups"]
        row["vs_reference_cpu"] = row["mlups_per_cpu_second"] / rows[0]["mlups_per_cpu_second"]
    return rows


def bench_world_step_rate(world_id: str, grid: tuple[int, int, int], steps: int = 20, **params: Any) -> float:
    """Agent steps per second of any registered world (after one compiling step)."""
    from atom_sdk.worlds.registry import make

    env = make(world_id, grid=grid, **params)
    env.reset(seed=0)
    zero = np.zeros(env.action_space.shape, dtype=env.action_space.dtype)
    env.step(zero)
    start = time.perf_counter()
    for _ in range(steps):
        env.step(zero)
    return steps / (time.perf_counter() - start)


def gpu_goal(report: dict[str, Any]) -> dict[str, Any]:
    """Issue 15's GPU goal: the best fused row of each periodic lattice at >= GPU_GOAL of the copy bound."""
    lattices = {}
    for lattice in ("d2q9", "d3q19"):
        if lattice not in report:
            continue
        fused = [r for r in report[lattice]["rows"] if r["kernel"] == "fused"]
        top = max(fused, key=lambda r: r["mlups"])
        lattices[lattice] = {"shape": report[lattice]["shape"], "case": top["case"], "mlups": top["mlups"],
                             "bound_mlups": report[lattice]["bound_mlups"],
                             "fraction_of_copy_bound": top["fraction_of_copy_bound"],
                             "fused_over_reference": top["vs_reference"],
                             "met": top["fraction_of_copy_bound"] >= GPU_GOAL}
    return {"target": GPU_GOAL, "device": getattr(jax.devices()[0], "device_kind", str(jax.devices()[0])),
            "lattices": lattices, "met": len(lattices) == 2 and all(v["met"] for v in lattices.values())}


def run_lbm_benchmarks(size: int = 512, steps: int = 100, numpy_steps: int = 5, rounds: int = 3,
                       collisions: tuple[str, ...] = ("bgk", "trt"), size3d: int = 64, steps3d: int = 20,
                       cylinder_grid: tuple[int, int, int] | None = (440, 82, 1), cylinder_steps: int = 200,
                       sharded_devices: tuple[int, ...] = (),
                       channel3d_grid: tuple[int, int, int] | None = (64, 20, 20),
                       channel3d_steps: int = 20) -> dict[str, Any]:
    """MLUPS of reference, fused and NumPy kernels beside the copy bound, in one process.

    ``size3d = 0`` skips D3Q19; ``cylinder_grid = None`` skips the channel world (reference and
    native-kernel rows, :func:`channel_rows`); with both, ``channel3d_grid`` (None skips) adds the
    ``lbm3d:cylinder`` rows (:func:`channel3d_rows`) to the same ``channel`` list;
    ``sharded_devices`` (e.g. ``(1, 2, 4)``) adds the strong scaling of the sharded periodic
    D2Q9 over forced host devices, each count in its own subprocess.
    """
    if size < 4 or steps < 1 or rounds < 1:
        raise ValueError(f"size must be >= 4 and steps, rounds >= 1 (got size={size}, steps={steps}, rounds={rounds})")
    load_before = os.getloadavg()
    report: dict[str, Any] = {"cpu_threads": _cpu_threads(), "native_available": lbm_native.available(),
                              "native_threads": lbm_native.default_threads(),
                              "native_time_block": lbm_native.default_time_block(size, size),
                              "devices": [str(d) for d in jax.devices()], "x64": bool(jax.config.jax_enable_x64)}
    report["dram_copy"] = dram_copy_bandwidth()
    f2 = jnp.asarray(_initial(size, size, np.float32))
    report["d2q9"] = _lattice_rows(f2, steps, numpy_steps, rounds, collisions)
    if size3d:
        f3 = lbm_d3q19.initial_state((size3d,) * 3, seed=0)
        report["d3q19"] = _lattice_rows(f3, steps3d, 0, rounds, ("trt",))
    dram_mlups = report["dram_copy"]["bytes_per_second"] / bytes_per_update(9) / 1e6
    for row in report["d2q9"]["rows"]:
        row["fraction_of_dram_bound"] = row["mlups"] / dram_mlups
    if cylinder_grid is not None:
        report["channel"] = channel_rows(cylinder_grid, cylinder_steps, rounds)
        for row in report["channel"]:
            row["fraction_of_dram_bound"] = row["mlups"] / dram_mlups
        if size3d and channel3d_grid is not None:
            dram3d = report["dram_copy"]["bytes_per_second"] / bytes_per_update(19) / 1e6
            for row in channel3d_rows(channel3d_grid, channel3d_steps, rounds):
                row["fraction_of_dram_bound"] = row["mlups"] / dram3d
                report["channel"].append(row)
    if sharded_devices:
        from atom_sdk.worlds.lbm_sharded import strong_scaling

        report["sharded"] = strong_scaling(size=size, steps=max(steps // 2, 1), devices=sharded_devices)
    fused = [r for r in report["d2q9"]["rows"] if r["kernel"] == "fused"]
    top = max(fused, key=lambda r: r["mlups"])
    best_cpu = max(fused, key=lambda r: r["fraction_of_copy_bound_cpu"])
    single = [r for r in fused if r.get("time_block", 1) == 1]
    top_single = max(single, key=lambda r: r["mlups"])
    report["goal"] = {"case": top["case"], "fraction_of_copy_bound": top["fraction_of_copy_bound"],
                      "fraction_of_dram_bound": top["fraction_of_dram_bound"], "target": CPU_GOAL,
                      "memory_bytes_per_update": top["memory_bytes_per_update"],
                      "met_vs_copy_bound": top["fraction_of_copy_bound"] >= CPU_GOAL,
                      "fused_over_reference": top["vs_reference"],
                      "case_per_cpu_second": best_cpu["case"],
                      "fraction_of_copy_bound_per_cpu_second": best_cpu["fraction_of_copy_bound_cpu"],
                      "met_per_cpu_second": best_cpu["fraction_of_copy_bound_cpu"] >= CPU_GOAL,
                      "single_pass_case": top_single["case"],
                      "single_pass_fraction_of_copy_bound": top_single["fraction_of_copy_bound"],
                      "single_pass_fraction_of_copy_bound_per_cpu_second": max(
                          r["fraction_of_copy_bound_cpu"] for r in single)}
    # wall clock is the figure a user gets on an idle machine; once other processes compete for the
    # cores (1-minute load >= 1 before the run) it measures the scheduler, and work per CPU-second
    # (kernel and copy alike) is the figure that measures the code
    contended = load_before[0] >= CONTENDED_LOAD
    report["goal"]["primary"] = "per_cpu_second" if contended else "wall"
    report["goal"]["met"] = report["goal"]["met_per_cpu_second" if contended else "met_vs_copy_bound"]
    if jax.default_backend() == "gpu":  # the GPU goal (per CPU-second means nothing for device work)
        report["gpu_goal"] = gpu_goal(report)
        report["goal"].update(primary="gpu", met=report["gpu_goal"]["met"])
    report["load_average"] = {"before": list(load_before), "after": list(os.getloadavg())}
    return report
