"""Check the CUDA LBM kernels against the pure-JAX reference on the GPU, then time them at one size.

Run on a machine with an NVIDIA GPU and nvcc (it exits 2 when the kernels are not available):
``PYTHONPATH=src python3 benchmarks/gpu_check_cuda.py [--out FILE]``. Every case draws a fresh
perturbed equilibrium, runs the reference (``lbm.run_periodic`` / ``lbm_d3q19.run_periodic``) and the
CUDA kernel (push and pull) for 0, 1, 2 and 7 updates, BGK and TRT, on sizes that are not multiples
of the 128-thread block, and compares by the largest absolute difference (populations are O(0.1);
float32 round-off after 7 updates is about 1e-6, the tolerance 5e-6). The output buffer is poisoned
first (NaN) by running the kernel on a NaN state: a cell the kernel never wrote would stay NaN.
``vmap`` over two states must equal two single calls bit for bit.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

from atom_sdk.worlds import lbm_cuda, lbm_d3q19, lbm_fused
from atom_sdk.worlds.bench import _initial

TOL = 5e-6


def _state(shape: tuple[int, ...], seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    f = _initial(shape[1], shape[2], np.float32) if shape[0] == 9 else np.asarray(
        lbm_d3q19.initial_state(shape[1:], seed=seed))
    return (f * (1 + 0.02 * rng.standard_normal(f.shape))).astype(np.float32)


def check() -> list[dict]:
    rows = []
    for i, shape in enumerate([(9, 33, 200), (9, 7, 129), (19, 9, 10, 131), (19, 5, 6, 7)]):
        f0 = _state(shape, i)
        for kind in ("bgk", "trt"):
            for steps in (0, 1, 2, 7):
                ref = np.asarray(lbm_fused.run_periodic_reference(jnp.asarray(f0), steps, 0.7, kind))
                for pattern in ("push", "pull"):
                    out = np.asarray(lbm_fused.run_periodic_fused(jnp.asarray(f0), steps, 0.7, kind,
                                                                  backend="cuda", pattern=pattern))
                    err = float(np.abs(out - ref).max())
                    rows.append({"shape": list(shape), "kind": kind, "steps": steps, "pattern": pattern,
                                 "max_abs_diff": err, "ok": bool(np.isfinite(out).all() and err <= TOL)})
    return rows


def check_vmap_and_poison() -> dict:
    a, b = _state((9, 16, 140), 7), _state((9, 16, 140), 8)
    batch = jnp.asarray(np.stack([a, b]))
    run = jax.jit(jax.vmap(lambda f: lbm_fused.run_periodic_fused(f, 3, 0.7, "trt", backend="cuda")))
    together = np.asarray(run(batch))
    single = [np.asarray(lbm_fused.run_periodic_fused(jnp.asarray(x), 3, 0.7, "trt", backend="cuda")) for x in (a, b)]
    nan = np.asarray(lbm_fused.run_periodic_fused(jnp.full((9, 16, 140), jnp.nan, jnp.float32), 2, 0.7,
                                                  "trt", backend="cuda"))
    fresh = np.asarray(lbm_fused.run_periodic_fused(jnp.asarray(a), 2, 0.7, "trt", backend="cuda"))
    return {"vmap_bit_equal": bool(all(np.array_equal(together[k], single[k]) for k in range(2))),
            "every_cell_written": bool(np.isnan(nan).all() and np.isfinite(fresh).all())}


def timing(shape: tuple[int, ...], steps: int) -> dict:
    f = jnp.asarray(_state(shape, 0))
    out = {}
    for pattern in ("push", "pull"):
        def run() -> None:
            lbm_fused.run_periodic_fused(f, steps, 0.7, "trt", backend="cuda", pattern=pattern).block_until_ready()

        run()
        times = []
        for _ in range(5):
            start = time.perf_counter()
            run()
            times.append(time.perf_counter() - start)
        best = min(times)
        cells = int(np.prod(shape[1:]))
        out[pattern] = {"mlups": cells * steps / best / 1e6,
                        "gb_per_s": cells * steps * 2 * shape[0] * 4 / best / 1e9}
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    print(f"jax {jax.__version__}, devices {jax.devices()}", flush=True)
    if not lbm_cuda.available():
        try:
            lbm_cuda.load()
        except RuntimeError as exc:
            print(f"CUDA kernels not available: {exc}")
        return 2
    t0 = time.perf_counter()
    rows = check()
    extra = check_vmap_and_poison()
    bad = [r for r in rows if not r["ok"]]
    worst = max(r["max_abs_diff"] for r in rows)
    print(f"{len(rows) - len(bad)}/{len(rows)} cases within {TOL:g} (largest {worst:.2e}); {extra}; "
          f"{time.perf_counter() - t0:.1f} s", flush=True)
    for r in bad[:10]:
        print("  FAIL", r)
    report = {"jax": jax.__version__, "devices": [str(d) for d in jax.devices()], "tolerance": TOL,
              "cases": rows, **extra, "all_ok": not bad and all(extra.values())}
    report["timing"] = {"d2q9_4096": timing((9, 4096, 4096), 100), "d3q19_256": timing((19, 256, 256, 256), 20)}
    print(json.dumps(report["timing"]), flush=True)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as handle:
            json.dump(report, handle, indent=2)
    return 0 if report["all_ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
