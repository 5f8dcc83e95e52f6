"""Periodic D2Q9 / D3Q19 lattice-Boltzmann split across devices along x, with a one-cell halo exchange.

Why this decomposition: streaming moves populations at most one cell, so a slab of the box needs
only the post-collision plane on either side of it from its two neighbours. Each update, every
device collides its slab (the reference ``lbm.collide`` / ``lbm_d3q19.collide``, so the
arithmetic is the single-device arithmetic), sends its last x-plane to the right neighbour and
its first to the left one with ``lax.ppermute`` (a ring, so the box stays periodic), and
streams from the padded slab: x shifts are slices of the padded slab, the other axes are local
``jnp.roll``. The result equals ``lbm.run_periodic`` on one device (to the bit on the CPU: the
per-cell operations are the same). ``shard_map`` keeps the loop inside one compiled program;
only two planes per device cross between devices per update.

Strong scaling on CPU host devices needs ``--xla_force_host_platform_device_count`` set before
JAX starts, so :func:`strong_scaling` measures each device count in its own subprocess.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from atom_sdk.worlds import lbm, lbm_d3q19

try:  # JAX >= 0.6 exports shard_map at the top level
    _shard_map = jax.shard_map
except AttributeError:  # pragma: no cover - older JAX
    from jax.experimental.shard_map import shard_map as _shard_map

AXIS = "x"


def make_mesh(n_devices: int | None = None) -> Mesh:
    """A 1-D mesh over the first ``n_devices`` devices (all by default)."""
    devices = jax.devices()
    n = len(devices) if n_devices is None else int(n_devices)
    if not 1 <= n <= len(devices):
        raise ValueError(f"n_devices must be between 1 and {len(devices)} (devices visible to JAX), got {n_devices}; "
                         "on the CPU set XLA_FLAGS=--xla_force_host_platform_device_count=N before importing JAX")
    return Mesh(np.array(devices[:n]), (AXIS,))


def _lattice(q: int) -> tuple[tuple, Any]:
    if q == 9:
        return lbm._C, lbm.collide
    if q == 19:
        return lbm_d3q19._C, lbm_d3q19.collide
    raise ValueError(f"expected a D2Q9 (9, nx, ny) or D3Q19 (19, nx, ny, nz) state, got {q} populations")


def _local_step(block: jax.Array, tau: float, kind: str, magic: float, n: int) -> jax.Array:
    """Collide the slab, swap one x-plane with each neighbour, stream from the padded slab."""
    c, collide = _lattice(int(block.shape[0]))
    post = collide(block, tau, kind, magic)
    right = [(i, (i + 1) % n) for i in range(n)]
    left = [(i, (i - 1) % n) for i in range(n)]
    from_left = jax.lax.ppermute(post[:, -1:], AXIS, right)  # my left halo is my left neighbour's last plane
    from_right = jax.lax.ppermute(post[:, :1], AXIS, left)
    padded = jnp.concatenate([from_left, post, from_right], axis=1)
    nxl = block.shape[1]
    rest_axes = tuple(range(1, block.ndim - 1))
    out = []
    for i, ci in enumerate(c):
        shifted = jax.lax.slice_in_dim(padded[i], 1 - ci[0], 1 - ci[0] + nxl, axis=0)
        if any(ci[1:]):
            shifted = jnp.roll(shifted, ci[1:], axis=rest_axes)
        out.append(shifted)
    return jnp.stack(out)


@partial(jax.jit, static_argnames=("steps", "tau", "kind", "magic", "mesh"))
def _run(f: jax.Array, steps: int, tau: float, kind: str, magic: float, mesh: Mesh) -> jax.Array:
    n = mesh.devices.size
    spec = P(None, AXIS)
    body = partial(_local_step, tau=tau, kind=kind, magic=magic, n=n)
    loop = _shard_map(lambda b: jax.lax.fori_loop(0, steps, lambda _, g: body(g), b), mesh=mesh,
                      in_specs=(spec,), out_specs=spec)
    return loop(f)


def shard_state(f: jax.Array, mesh: Mesh) -> jax.Array:
    """Place a (Q, nx, ...) state on the mesh, split along x."""
    return jax.device_put(f, NamedSharding(mesh, P(None, AXIS)))


def run_periodic_sharded(f: jax.Array, steps: int, tau: float, kind: str = "trt", magic: float = 0.25,
                         mesh: Mesh | None = None) -> jax.Array:
    """``steps`` periodic updates with the box split along x over ``mesh`` (default: all devices)."""
    mesh = make_mesh() if mesh is None else mesh
    _lattice(int(f.shape[0]))
    n = mesh.devices.size
    if f.shape[1] % n:
        raise ValueError(f"nx = {f.shape[1]} must be divisible by the {n} devices of the mesh; pick nx a multiple of {n}")
    if steps < 0:
        raise ValueError(f"steps must be >= 0, got {steps}")
    if not tau > 0.5:
        raise ValueError(f"tau must be > 0.5, got {tau}")
    return _run(shard_state(f, mesh), steps, tau, kind, magic, mesh)


def _scaling_worker(size: int, steps: int, n: int, rounds: int) -> dict[str, Any]:
    """Runs inside a subprocess that sees ``n`` forced host devices."""
    mesh = make_mesh(n)
    rng = np.random.default_rng(0)
    ux = 0.05 + 0.01 * rng.standard_normal((size, size))
    f = shard_state(lbm.equilibrium(jnp.ones((size, size)), jnp.asarray(ux), jnp.zeros((size, size)))
                    .astype(jnp.float32), mesh)
    run_periodic_sharded(f, steps, 0.6, "trt", mesh=mesh).block_until_ready()
    best, best_cpu = float("inf"), float("inf")
    for _ in range(rounds):
        start, start_cpu = time.perf_counter(), time.process_time()
        run_periodic_sharded(f, steps, 0.6, "trt", mesh=mesh).block_until_ready()
        best = min(best, time.perf_counter() - start)
        best_cpu = min(best_cpu, time.process_time() - start_cpu)
    return {"devices": n, "size": size, "steps": steps, "mlups": size * size * steps / best / 1e6,
            "mlups_per_cpu_second": size * size * steps / best_cpu / 1e6, "seconds": best,
            "load_average": list(os.getloadavg())}


def strong_scaling(size: int = 512, steps: int = 50, devices: tuple[int, ...] = (1, 2, 4),
                   rounds: int = 3, timeout: float = 600.0) -> dict[str, Any]:
    """MLUPS of the sharded periodic D2Q9 TRT at a fixed grid for each count of forced CPU devices."""
    rows = []
    for n in devices:
        env = dict(os.environ)
        env["XLA_FLAGS"] = f"{env.get('XLA_FLAGS', '')} --xla_force_host_platform_device_count={n}".strip()
        env["JAX_PLATFORMS"] = "cpu"
        code = ("import json; from atom_sdk.worlds.lbm_sharded import _scaling_worker; "
                f"print(json.dumps(_scaling_worker({int(size)}, {int(steps)}, {int(n)}, {int(rounds)})))")
        proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=timeout)
        if proc.returncode != 0:
            raise RuntimeError(f"sharded scaling run with {n} devices failed:\n{proc.stderr[-2000:]}")
        rows.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    base = rows[0]["mlups"]
    for row in rows:
        row["speedup"] = row["mlups"] / base
        row["efficiency"] = row["speedup"] / (row["devices"] / rows[0]["devices"])
    return {"case": f"periodic D2Q9 trt {size}x{size}, x-slabs, CPU host devices", "cpu_threads": os.cpu_count(),
            "rows": rows}
