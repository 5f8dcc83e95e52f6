"""Print LBM throughput (MLUPS) next to NumPy and the memory-bandwidth bound.

Run: ``PYTHONPATH=src python benchmarks/bench_lbm.py [size]``.
"""

from __future__ import annotations

import sys

from atom_sdk.worlds.bench import run_lbm_benchmarks


def main() -> None:
    size = int(sys.argv[1]) if len(sys.argv) > 1 else 512
    out = run_lbm_benchmarks(size=size)
    print(f"devices: {', '.join(out['devices'])}")
    print(f"copy bandwidth {out['bandwidth_gbs']:.1f} GB/s / {out['bytes_per_update']} B per update "
          f"= bound {out['bound_mlups']:.0f} MLUPS; NumPy D2Q9 (np.roll + BGK) {out['numpy_mlups']:.1f} MLUPS")
    print(f"{'case':<28}{'MLUPS':>10}{'x NumPy':>10}{'of bound':>10}")
    for row in out["rows"]:
        print(f"{row['case']:<28}{row['mlups']:>10.1f}{row['vs_numpy']:>10.2f}{row['bandwidth_fraction']:>10.0%}")


if __name__ == "__main__":
    main()
