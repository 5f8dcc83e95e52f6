"""Wedge solver throughput: jitted JAX vs the same HLLC/MUSCL/SSP-RK2 scheme run eagerly by NumPy.

Both executors share ``atom_sdk.worlds.euler`` (every function takes an array namespace), run
in this process from the same flow, and their results are compared as a parity check.

    PYTHONPATH=src venv/bin/python benchmarks/bench_wedge.py --grid 128 96 --steps 40
"""

from __future__ import annotations

import argparse
import json

from atom_sdk.worlds.euler import run_wedge_benchmark


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--grid", type=int, nargs=2, default=(128, 96), metavar=("NX", "NY"))
    parser.add_argument("--steps", type=int, default=40, help="SSP-RK2 steps per timed run")
    parser.add_argument("--order", type=int, choices=(1, 2), default=2)
    parser.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    parser.add_argument("--json", action="store_true", help="print the raw result as JSON")
    args = parser.parse_args()
    result = run_wedge_benchmark(args.grid[0], args.grid[1], args.steps, order=args.order, dtype=args.dtype)
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"wedge solver, grid {result['grid'][0]}x{result['grid'][1]}, order {result['order']}, "
          f"{result['dtype']}, backend {result['backend']}")
    print(f"  JAX (jit)  : {result['jax_cell_updates_per_s'] / 1e6:9.3f} M cell-updates/s "
          f"(compile {result['jax_compile_s']:.2f} s)")
    print(f"  NumPy      : {result['numpy_cell_updates_per_s'] / 1e6:9.3f} M cell-updates/s")
    print(f"  ratio JAX/NumPy: {result['speedup']:.1f}x   max relative difference {result['max_rel_difference']:.2e}")


if __name__ == "__main__":
    main()
