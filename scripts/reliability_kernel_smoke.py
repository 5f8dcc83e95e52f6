#!/usr/bin/env python
"""Reliability kernel (same options as ``atom bench reliability``): short closed-loop runs on every
built-in world x variant, checking NaN, artifacts, results schema, determinism and resume.
Determinism/resume run on v2_hybrid and ppo_baseline of every world unless --deep-all.
Exit status 1 when any check fails.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
os.environ.setdefault("MPLBACKEND", "Agg")


def main(argv: list[str] | None = None) -> int:
    from atom_sdk.artifacts import write_json
    from atom_sdk.evidence.reliability import reliability_arg_parser, resolve_cli_options, run_reliability_kernel

    a = reliability_arg_parser().parse_args(argv)

    def show(rec: dict) -> None:
        bad = [k for k, c in rec["checks"].items() if not c["passed"]]
        secs = rec["durations"].get("total_seconds", rec["durations"].get("run_seconds", 0.0))
        print(f"{rec['world']:<26} {rec['variant']:<13} {'ok' if rec['passed'] else 'FAIL ' + ','.join(bad)} "
              f"({secs:.1f}s) {rec.get('error') or ''}", flush=True)

    report = run_reliability_kernel(**resolve_cli_options(a), progress=show)
    write_json(a.output, report)
    print(("PASSED" if report["passed"] else "FAILED") + f" in {report['duration_seconds']:.0f}s -> {a.output}")
    return 0 if report["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
