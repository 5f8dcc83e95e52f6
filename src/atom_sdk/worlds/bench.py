"""Throughput of the LBM kernels against a plain NumPy D2Q9 and the memory-bandwidth bound.

Why a bandwidth bound: one D2Q9 update must at least read and write the nine populations of
each cell (2 x 9 x 4 bytes in float32, assuming every population crosses main memory
exactly once per update and nothing else does), so STREAM-like copy bandwidth divided by
those bytes is the ceiling any implementation can reach on this machine. All numbers are
measured in the calling process; nothing here is asserted in tests.
"""

from __future__ import annotations

import time
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from atom_sdk.worlds import lbm


def _best_of(fn: Callable[[], Any], repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def copy_bandwidth(nbytes: int = 256 * 2**20, repeats: int = 5) -> float:
    """Bytes per second of a large float32 array copy (read + write counted)."""
    a = np.ones(nbytes // 4, dtype=np.float32)
    b = np.empty_like(a)
    seconds = _best_of(lambda: np.copyto(b, a), repeats)
    return 2 * a.nbytes / seconds


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


def numpy_mlups(size: int = 512, steps: int = 10, repeats: int = 2) -> float:
    f = _initial(size, size, np.float32)

    def run() -> None:
        g = f
        for _ in range(steps):
            g = numpy_d2q9_step(g, 0.6)

    return size * size * steps / _best_of(run, repeats) / 1e6


def jax_periodic_mlups(size: int = 512, steps: int = 100, collision: str = "trt", repeats: int = 3) -> float:
    """Fused collide-stream in one jitted fori_loop with the population buffer donated."""
    holder = {"f": jnp.asarray(_initial(size, size, np.float32))}
    holder["f"] = lbm.run_periodic(holder["f"], steps, 0.6, collision).block_until_ready()  # compile

    def run() -> None:
        holder["f"] = lbm.run_periodic(holder["f"], steps, 0.6, collision).block_until_ready()

    return size * size * steps / _best_of(run, repeats) / 1e6


def jax_cylinder_mlups(grid: tuple[int, int, int] = (440, 82, 1), steps: int = 200, collision: str = "trt",
                       repeats: int = 3) -> float:
    """The full channel update (inlet, outlet, walls, Bouzidi cylinder, forces), jets off."""
    from atom_sdk.worlds.cylinder import CylinderWorld

    world = CylinderWorld(grid=grid, collision=collision, substeps=steps)
    world.reset(seed=0)
    world.step([0.0])  # compile

    def run() -> None:
        world.step([0.0])

    return grid[0] * grid[1] * steps / _best_of(run, repeats) / 1e6


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


def run_lbm_benchmarks(size: int = 512, steps: int = 100, numpy_steps: int = 10, collisions: tuple[str, ...] = ("bgk", "trt"),
                       cylinder_grid: tuple[int, int, int] = (440, 82, 1), cylinder_steps: int = 200) -> dict[str, Any]:
    """MLUPS of the JAX kernels, the NumPy reference and the bandwidth bound, with the ratios."""
    bandwidth = copy_bandwidth()
    bytes_per_update = 2 * 9 * 4
    bound = bandwidth / bytes_per_update / 1e6
    reference = numpy_mlups(size, numpy_steps)
    rows = []
    for kind in collisions:
        value = jax_periodic_mlups(size, steps, kind)
        rows.append({"case": f"periodic {size}x{size} {kind}", "mlups": value})
    value = jax_cylinder_mlups(cylinder_grid, cylinder_steps)
    rows.append({"case": f"cylinder {cylinder_grid[0]}x{cylinder_grid[1]} trt", "mlups": value})
    for row in rows:
        row["vs_numpy"] = row["mlups"] / reference
        row["bandwidth_fraction"] = row["mlups"] / bound
    return {"numpy_mlups": reference, "bandwidth_gbs": bandwidth / 1e9, "bytes_per_update": bytes_per_update,
            "bound_mlups": bound, "rows": rows, "devices": [str(d) for d in jax.devices()],
            "x64": bool(jax.config.jax_enable_x64)}
