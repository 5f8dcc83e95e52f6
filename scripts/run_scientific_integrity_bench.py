#!/usr/bin/env python
"""Scientific-integrity benchmark (same flags as ``atom bench integrity``).

    python scripts/run_scientific_integrity_bench.py --seeds 0 1 2 --noise-levels 0.0 0.03 0.06 \
        --samples 192 --check --output validation_outputs/scientific_integrity.json

``--force-sparse`` switches on library bagging (20 % of terms dropped per ensemble member) and a
60 % inclusion requirement on every system: the sparsest path the scientist offers.
Exit status 1 when ``--check`` is given and a threshold fails.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))


def main(argv: list[str] | None = None) -> int:
    from atom_sdk.artifacts import write_json
    from atom_sdk.evidence.integrity import integrity_arg_parser, run_integrity_benchmark

    a = integrity_arg_parser().parse_args(argv)
    report = run_integrity_benchmark(seeds=a.seeds, noise_levels=a.noise_levels, samples=a.samples,
                                     systems=a.systems, force_sparse=a.force_sparse)
    write_json(a.output, report)
    for row in report["comparison"]:
        print(f"{row['system']:<13} noise={row['noise']:<5g} ours={row['ours_recovery']:.2f} "
              f"pysindy={row['pysindy_recovery']:.2f} median_err={row['ours_median_error']:.4f} "
              f"coverage={row['ours_coverage']:.3f}")
    for f in report["failing_cells"]:
        print(f"FAIL {f['system']} noise={f['noise']:g} {f['check']}: {f['value']} (limit {f['limit']})")
    print(("PASSED" if report["passed"] else "FAILED") + f" ({report['duration_seconds']:.1f}s) -> {a.output}")
    return 1 if a.check and not report["passed"] else 0


if __name__ == "__main__":
    sys.exit(main())
