"""A closed-loop run of this tree against the same run of the package at a git revision (issue 19).

``v2_hybrid`` on Taylor-Green 32x32x16 with the default ``loop: auto``, each run in a fresh
process with the compilation cache off (so both pay their compilations), rounds interleaved
(before, now, before, now, ...) so a change of machine load hits both alike. Per run: wall
seconds, steady wall seconds (after the first rollout), CPU seconds of the child process
(user + sys: on a shared machine it moves far less than wall time), programs compiled, the
mean return and the laws, which must agree when the change is a speed matter only.

    venv/bin/python benchmarks/bench_loop_against.py --against HEAD~1 [--steps 512] [--rounds 2] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from io import BytesIO
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_closed_loop import _GOAL_SCRIPT  # noqa: E402  the one timed-run script of the closed-loop benches

ROOT = Path(__file__).resolve().parents[1]


def export_src(rev: str, into: Path) -> Path:
    """``src/`` as it was at ``rev`` (git archive), unpacked under ``into``; returns the src folder."""
    done = subprocess.run(["git", "archive", rev, "src"], cwd=ROOT, capture_output=True)
    if done.returncode:
        raise SystemExit(f"cannot export src at {rev!r}: {done.stderr.decode().strip()} (give a commit, e.g. HEAD~1)")
    with tarfile.open(fileobj=BytesIO(done.stdout)) as tar:
        tar.extractall(into, filter="data")
    return into / "src"


def one_run(src: Path, cfg: dict[str, Any]) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(src), "ATOM_COMPILATION_CACHE": "off"}
    env.pop("JAX_COMPILATION_CACHE_DIR", None)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run([sys.executable, "-c", _GOAL_SCRIPT, json.dumps(cfg)], env=env, capture_output=True, text=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode:
        raise SystemExit(f"run failed ({src}):\n{done.stderr[-3000:]}")
    result = json.loads([x for x in done.stdout.splitlines() if x.startswith("RESULT ")][-1][len("RESULT "):])
    result["cpu_s"] = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    result["load_1m"] = round(os.getloadavg()[0], 2)
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--against", required=True, metavar="REV", help="git revision of the 'before' package")
    ap.add_argument("--steps", type=int, default=512)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--json", type=Path, help="also write the results here")
    args = ap.parse_args()
    if args.steps < 64 or args.rounds < 1:
        raise SystemExit("give --steps >= 64 (two rollouts) and --rounds >= 1")
    cfg = {"world": {"name": "analytical:taylor_green", "grid": [32, 32, 16]}, "variant": "v2_hybrid",
           "steps": args.steps, "seed": 0, "loop": "auto"}
    runs: dict[str, list[dict[str, Any]]] = {"before": [], "now": []}
    with tempfile.TemporaryDirectory(prefix="bench_loop_against_") as tmp:
        srcs = {"before": export_src(args.against, Path(tmp) / "before"), "now": ROOT / "src"}
        for _ in range(args.rounds):
            for label, src in srcs.items():
                runs[label].append(one_run(src, cfg))
                r = runs[label][-1]
                print(f"{label:6s} wall {r['wall_s']:6.1f} s  steady {r['steady_s']:6.1f} s  cpu {r['cpu_s']:6.1f} s  "
                      f"{r['compilations']} programs  mean return {r['mean_return']:.6f}  load {r['load_1m']}", flush=True)
    summary = {k: {m: statistics.median(r[m] for r in v) for m in ("wall_s", "steady_s", "cpu_s")}
               for k, v in runs.items()}
    same = all(r["mean_return"] == runs["before"][0]["mean_return"] and r["laws"] == runs["before"][0]["laws"]
               for v in runs.values() for r in v)
    print(f"median cpu {summary['before']['cpu_s']:.1f} s -> {summary['now']['cpu_s']:.1f} s "
          f"(x{summary['before']['cpu_s'] / summary['now']['cpu_s']:.2f}); steady wall "
          f"{summary['before']['steady_s']:.1f} s -> {summary['now']['steady_s']:.1f} s; "
          f"same mean return and laws: {same}")
    if args.json:
        args.json.write_text(json.dumps({"against": args.against, "config": cfg, "runs": runs, "median": summary,
                                         "same_results": same, "cpus": os.cpu_count(),
                                         "written": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}, indent=2))


if __name__ == "__main__":
    main()
