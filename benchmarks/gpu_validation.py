"""The 3D validation cases at their GPU budgets, in one bounded run (issue 15).

Why a script: the GPU budgets (128^3 Taylor-Green to t = 20, the D = 24 sphere, the H = 123 DFG 3D-1Z
channel) are too large for the shared CPU, and a GPU is lent for minutes at a time. This runs each case in
order, times a short warm-up (two chunks: the first carries the compilation) to estimate the case's wall
time, and skips a case that would not fit in what is left of ``--time-cap-s``; one case's failure does not
stop the others. On a GPU the 3D lattices run the pure-JAX (XLA) kernels (``kernel="auto"`` resolves to
the reference there; the native kernels are CPU-only).

    PYTHONPATH=src python3 benchmarks/gpu_validation.py --out DIR --cases tgv3d,sphere,st3d --time-cap-s 480

writes DIR/gpu_validation.json (device, jax version, git commit, each case's numbers or its skip/traceback)
and, for tgv3d, the reproduction report (report.json, report.md, figures) under DIR/tgv3d. ``--tiny``
shrinks every case to seconds on a CPU (plumbing check; its numbers are not validation).
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

CASES = ("tgv3d", "sphere", "st3d")
#: warm-up chunks timed before the estimate: the first compiles, the second is the steady chunk time
WARMUP_CHUNKS = 2

#: --tiny: every case in seconds on a CPU (D = 6 sphere, H = 41 channel for a few chunks, 16^3 box)
TINY = {
    "tgv3d": {"n": 16, "t_end": 2.0, "samples": 10},
    "sphere": {"radius": 3.0, "duct": 18, "length": 36, "u": 0.05, "center_x": 9.0, "start_ramp": 40,
               "chunks": 4, "chunk": 20, "average": 2},
    "st3d": {"height": 41, "chunks": 3, "chunk": 20, "average": 2},
}


class Skipped(Exception):
    """Raised from the progress hook when the warm-up says the case will not fit in the time left, or when
    a case that was let in runs past the cap after all (then the reason says how far it got)."""

    def __init__(self, estimate_s: float, left_s: float, reason: str | None = None) -> None:
        super().__init__(reason or f"estimated {estimate_s:.0f} s, {left_s:.0f} s left of the time cap")
        self.estimate_s, self.left_s = estimate_s, left_s


class Guard:
    """The progress hook: records when each chunk ended (seconds since the case began, set-up included);
    after the warm-up, estimates the case as ``elapsed + steady chunk time x chunks remaining`` and raises
    ``Skipped`` when that exceeds the time left."""

    def __init__(self, left_s: float) -> None:
        self.left_s = left_s
        self.start = time.perf_counter()
        self.times: list[float] = []
        self.estimate_s: float | None = None

    def __call__(self, done: int, total: int, _run_elapsed: float) -> None:
        elapsed = time.perf_counter() - self.start
        self.times.append(elapsed)
        if done == min(WARMUP_CHUNKS, total):
            per_chunk = elapsed - self.times[-2] if len(self.times) >= 2 else elapsed
            self.estimate_s = elapsed + per_chunk * (total - done)
            if self.estimate_s > self.left_s:
                raise Skipped(self.estimate_s, self.left_s)
        elif WARMUP_CHUNKS < done < total and elapsed > self.left_s:  # the estimate was wrong: stop, not overrun
            raise Skipped(self.estimate_s or elapsed, self.left_s,
                          f"stopped over the cap after {done} of {total} chunks ({elapsed:.0f} s)")

    def steady_mlups(self, cells: int, updates_per_chunk: int) -> float | None:
        """Cell updates per second over the chunks after the first (which carries the compilation)."""
        if len(self.times) < 2 or self.times[-1] <= self.times[0]:
            return None
        return cells * updates_per_chunk * (len(self.times) - 1) / (self.times[-1] - self.times[0]) / 1e6


def _tgv3d(out: Path, guard: Guard, tiny: bool, kernel: str) -> dict[str, Any]:
    """The taylor_green_3d reproduction at its ``full`` budget (128^3, t = 20): report under out/tgv3d.
    (The periodic box always runs the pure-JAX kernel: ``kernel`` is for the channel cases.)"""
    from atom_sdk.reproduce import taylor_green_3d as tgv
    from atom_sdk.reproduce.registry import get_reproduction
    from atom_sdk.reproduce.report import write_report

    b = TINY["tgv3d"] if tiny else tgv.BUDGETS["full"]
    curve = tgv.dissipation_curve(b["n"], b["t_end"], b["samples"], progress=guard)
    folder = out / "tgv3d"
    folder.mkdir(parents=True, exist_ok=True)
    body = tgv.report_body(curve, folder)
    body["wall_seconds"] = curve["wall_s"]
    write_report(folder, get_reproduction("taylor_green_3d"), body, seeds=[0], budget="tiny" if tiny else "full",
                 executor="serial")
    check = tgv.verdict(curve)
    return {"n": curve["n"], "steps": curve["steps"], "tau": curve["tau"], "t_end": curve["t"][-1],
            "peak_dissipation": curve["peak_dissipation"], "peak_time": curve["peak_time"],
            "diverged": curve["diverged"], **check, "passed": check["reproduced"],
            "mlups_steady": guard.steady_mlups(curve["n"] ** 3, curve["chunk"]), "report": str(folder / "report.json"),
            "key": (f"peak -dE/dt {curve['peak_dissipation']:.5f} V0^3/L ({100 * check['peak_rel_error']:+.1f} %) "
                    f"at t = {curve['peak_time']:.2f} L/V0 ({check['peak_time_shift']:+.2f})")}


def _sphere(out: Path, guard: Guard, tiny: bool, kernel: str) -> dict[str, Any]:
    """Sphere at Re = 100, ``gpu`` budget: blockage-corrected C_D against Johnson & Patel within 5 %."""
    from atom_sdk.worlds import lbm3d_validation as v
    from atom_sdk.worlds.world3d import SphereWorld

    res = v.sphere_re100(SphereWorld, budget=TINY["sphere"] if tiny else "gpu", kernel=kernel,
                         progress=guard)
    rel = res["cd_unconfined"] / v.JOHNSON_PATEL_CD - 1.0
    nx, ny, nz = res["grid"]
    return {**res, "cd_rel_error": rel, "tolerance": v.SPHERE_TOL,
            "passed": bool(math.isfinite(rel) and abs(rel) <= v.SPHERE_TOL),
            "mlups_steady": guard.steady_mlups(nx * ny * nz, res["updates"] // len(res["history"]["cd"])),
            "key": (f"C_D {res['cd_unconfined']:.4f} after blockage ({100 * rel:+.1f} % of {v.JOHNSON_PATEL_CD}), "
                    f"{res['cd_duct']:.4f} in the duct, D = {res['diameter']:.0f}, kernel {res['kernel']}")}


def _st3d(out: Path, guard: Guard, tiny: bool, kernel: str) -> dict[str, Any]:
    """DFG 3D-1Z at Re = 20, ``gpu`` budget: C_D, C_L and Delta p against the published ranges."""
    from atom_sdk.worlds import lbm3d_validation as v
    from atom_sdk.worlds.world3d import Cylinder3DWorld

    budget = TINY["st3d"] if tiny else v.ST3_BUDGETS["gpu"]
    res = v.schafer_turek_3d1z(Cylinder3DWorld, **budget, kernel=kernel, progress=guard)
    # the published ranges (Schäfer & Turek 1996), as schafer_turek_3d1z_case checks them
    checks = {"cd": (res["cd"], 6.05, 6.25), "cl": (res["cl"], 0.008, 0.010),
              "delta_p": (res["dp_benchmark"], 0.165, 0.175)}
    within = {k: bool(lo <= x <= hi) for k, (x, lo, hi) in checks.items()}
    nx, ny, nz = res["grid"]
    return {**res, "within": within, "ranges": {k: [lo, hi] for k, (_, lo, hi) in checks.items()},
            "passed": all(within.values()),
            "mlups_steady": guard.steady_mlups(nx * ny * nz, res["updates"] // len(res["history"]["cd"])),
            "key": (f"C_D {res['cd']:.4f}, C_L {res['cl']:.5f}, dp {res['dp_benchmark']:.4f} "
                    f"({sum(within.values())}/3 in range), H = {ny}, kernel {res['kernel']}")}


RUNNERS: dict[str, Callable[[Path, Guard, bool, str], dict[str, Any]]] = {"tgv3d": _tgv3d, "sphere": _sphere,
                                                                     "st3d": _st3d}


def _git_commit() -> str | None:
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10,
                              cwd=Path(__file__).resolve().parent, check=True).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def run_case(name: str, out: Path, left_s: float, tiny: bool, kernel: str = "auto") -> dict[str, Any]:
    """One case, never raising: ``status`` is ``ok``, ``skipped`` (with the estimate) or ``failed`` (traceback)."""
    guard = Guard(left_s)
    start = time.perf_counter()
    record: dict[str, Any] = {"case": name}
    if left_s <= 0:
        return {**record, "status": "skipped", "reason": "no time left of the cap", "estimate_s": None,
                "wall_s": 0.0}
    try:
        result = RUNNERS[name](out, guard, tiny, kernel)
        record.update(status="ok", **result)
    except Skipped as exc:
        record.update(status="skipped", reason=str(exc), estimate_s=exc.estimate_s)
    except Exception:  # one case's failure must not stop the others: record it and go on
        record.update(status="failed", traceback=traceback.format_exc())
    record["wall_s"] = time.perf_counter() - start
    record.setdefault("estimate_s", guard.estimate_s)
    record["chunk_times_s"] = guard.times
    return record


def _line(rec: dict[str, Any]) -> str:
    """One printed line per case."""
    head = f"{rec['case']:7s} {rec['status']:8s} {rec['wall_s']:8.1f} s"
    if rec["status"] == "ok":
        mlups = rec.get("mlups_steady")
        speed = f"{mlups:9.1f} MLUPS" if mlups else "      n/a MLUPS"
        return f"{head} {speed}  {'PASS' if rec['passed'] else 'FAIL'}  {rec['key']}"
    if rec["status"] == "skipped":
        est = rec.get("estimate_s")
        return f"{head}  skipped: {rec['reason']}" + ("" if est is None else f" (estimate {est:.0f} s)")
    return f"{head}  failed: {rec['traceback'].strip().splitlines()[-1]}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, type=Path, help="folder for gpu_validation.json and the reports")
    parser.add_argument("--cases", default=",".join(CASES), help=f"comma-separated, in order, from {','.join(CASES)}")
    parser.add_argument("--time-cap-s", type=float, default=480.0, help="wall-time cap for all cases together")
    parser.add_argument("--tiny", action="store_true", help="shrink every case to seconds on a CPU (plumbing only)")
    parser.add_argument("--kernel", default="auto", choices=("auto", "reference", "native"),
                        help="channel cases' lattice update; auto = native on a CPU, pure-JAX reference on a GPU")
    args = parser.parse_args(argv)
    cases = [c.strip() for c in args.cases.split(",") if c.strip()]
    unknown = [c for c in cases if c not in RUNNERS]
    if unknown or not cases:
        parser.error(f"unknown case(s) {unknown or args.cases!r}; choose from {','.join(CASES)}")
    if args.time_cap_s < 0:
        parser.error(f"--time-cap-s must be >= 0 seconds, got {args.time_cap_s}")

    import jax

    args.out.mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = {
        "devices": [str(d) for d in jax.devices()], "backend": jax.default_backend(), "jax": jax.__version__,
        "python": sys.version.split()[0], "git_commit": _git_commit(), "tiny": args.tiny,
        "time_cap_s": args.time_cap_s, "kernel": args.kernel, "cases": []}
    print(f"devices {report['devices']} (jax {report['jax']}), cap {args.time_cap_s:.4g} s", flush=True)
    start = time.perf_counter()
    for name in cases:
        rec = run_case(name, args.out, args.time_cap_s - (time.perf_counter() - start), args.tiny,
                       args.kernel)
        report["cases"].append(rec)
        print(_line(rec), flush=True)
        # written after every case: a run cut short by the machine's own limit still leaves its record
        report["total_wall_s"] = time.perf_counter() - start
        (args.out / "gpu_validation.json").write_text(json.dumps(report, indent=1, default=str), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
