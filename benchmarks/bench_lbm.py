"""LBM throughput (MLUPS) of the reference, fused and NumPy kernels beside the measured copy bound.

Run: ``PYTHONPATH=src python benchmarks/bench_lbm.py [size] [--sharded] [--json FILE]``.
"""

from __future__ import annotations

import argparse
import json

from atom_sdk.worlds.bench import run_lbm_benchmarks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("size", nargs="?", type=int, default=512)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--size3d", type=int, default=64)
    parser.add_argument("--sharded", action="store_true", help="strong scaling over 1, 2, 4 forced CPU devices")
    parser.add_argument("--json", default=None, help="write the full report to this file")
    a = parser.parse_args()
    out = run_lbm_benchmarks(size=a.size, steps=a.steps, size3d=a.size3d, sharded_devices=(1, 2, 4) if a.sharded else ())
    print(f"devices: {', '.join(out['devices'])}; native kernels: {out['native_available']} "
          f"({out['native_threads']} threads); load average {out['load_average']['before'][0]:.1f}")
    print(f"DRAM copy (256 MiB, 1 thread) {out['dram_copy']['bytes_per_second'] / 1e9:.1f} GB/s")
    for lattice in ("d2q9", "d3q19"):
        if lattice not in out:
            continue
        part = out[lattice]
        bound = part["copy_bound"]
        print(f"\n{lattice} {part['shape']}: copy bound {bound['bytes_per_second'] / 1e9:.1f} GB/s "
              f"({bound['array_bytes'] / 2**20:.1f} MiB, {bound['threads']} threads) / {part['bytes_per_update']} B "
              f"= {part['bound_mlups']:.0f} MLUPS")
        print(f"{'case':<22}{'MLUPS':>10}{'of bound':>10}{'per CPU-s':>10}{'x ref':>8}")
        for row in part["rows"]:
            ref = row["vs_reference"]
            print(f"{row['case']:<22}{row['mlups']:>10.1f}{row['fraction_of_copy_bound']:>10.0%}"
                  f"{row['fraction_of_copy_bound_cpu']:>10.0%}"
                  f"{'-' if ref is None else f'{ref:.2f}':>8}")
    for row in out.get("channel", []):
        print(f"{row['case']}: {row['mlups']:.1f} MLUPS")
    for row in out.get("sharded", {}).get("rows", []):
        print(f"sharded {row['devices']} devices: {row['mlups']:.1f} MLUPS, speedup {row['speedup']:.2f}")
    if a.json:
        with open(a.json, "w", encoding="utf-8") as fh:
            json.dump(out, fh, indent=2)


if __name__ == "__main__":
    main()
