"""Load benchmark of the platform's read endpoints while jobs run.

50 concurrent httpx.AsyncClient clients hit the read endpoints of a live uvicorn server for 30 s.
Meanwhile its worker processes run jobs: tiny closed-loop runs and surrogate inverse-design
searches. The report gives requests/s, p50/p99 latency per endpoint and overall, and the number
of errors. The goal is p99 < 100 ms for reads with zero errors.

Reference, run in the same process: the same load on GET /healthz, which does no database or file
work. The ratio of each endpoint's p50 to it shows what the store and the file readers add on
top of the HTTP stack.

    PYTHONPATH=src python benchmarks/bench_api_load.py [--clients 50] [--seconds 30] [--workers 2]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q / 100 * (len(values) - 1))))]


async def _client(base: str, paths: list[str], stop: float, lat: dict[str, list[float]], errors: list[str],
                  offset: int) -> None:
    import httpx

    async with httpx.AsyncClient(base_url=base, timeout=10.0) as client:
        i = offset
        while time.perf_counter() < stop:
            path = paths[i % len(paths)]
            i += 1
            t0 = time.perf_counter()
            try:
                resp = await client.get(path)
                if resp.status_code >= 400:
                    errors.append(f"{path}: {resp.status_code}")
            except Exception as exc:  # noqa: BLE001 - counted as an error
                errors.append(f"{path}: {type(exc).__name__}")
                continue
            lat.setdefault(path.split("?")[0], []).append((time.perf_counter() - t0) * 1000)


async def _load(base: str, paths: list[str], clients: int, seconds: float) -> dict[str, Any]:
    lat: dict[str, list[float]] = {}
    errors: list[str] = []
    stop = time.perf_counter() + seconds
    t0 = time.perf_counter()
    await asyncio.gather(*[_client(base, paths, stop, lat, errors, k) for k in range(clients)])
    wall = time.perf_counter() - t0
    every = [v for vs in lat.values() for v in vs]
    return {"requests": len(every), "errors": len(errors), "error_samples": errors[:5], "wall_s": wall,
            "rps": len(every) / wall, "p50_ms": _pct(every, 50), "p99_ms": _pct(every, 99),
            "per_endpoint": {p: {"n": len(v), "p50_ms": _pct(v, 50), "p99_ms": _pct(v, 99)} for p, v in sorted(lat.items())}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    args = parser.parse_args(argv)

    import os
    import subprocess  # nosec B404 - starts the server under test
    import httpx

    from atom_sdk.platform.catalog import tiny_run_config
    from atom_sdk.platform.store import Store
    from atom_sdk.platform.testing import fake_finished_run, free_port, settings_for

    # The server runs in its own process (as `atom serve` would), so the load generator does not share
    # its interpreter; the finished runs it reads are written into the same workspace first.
    workspace = Path(tempfile.mkdtemp(prefix="atom-bench-"))
    settings = settings_for(workspace)
    store = Store(settings.db_url)
    store.create_all()
    done_runs = [fake_finished_run(store, settings, f"done{i}") for i in range(5)]
    store.dispose()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "ATOM_WORKERS": str(args.workers), "ATOM_MAX_QUEUE": "1000",
           "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")}
    server = subprocess.Popen([sys.executable, "-m", "atom_sdk", "serve", "--port", str(port), "--workspace",  # nosec B603
                               str(workspace), "--log-level", "warning"], env=env)
    try:
        with httpx.Client(base_url=url, timeout=30) as c:
            deadline = time.monotonic() + 120
            while True:
                try:
                    if c.get("/readyz").status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError("server did not start")
                time.sleep(0.3)
            for i in range(args.workers):  # keep the workers busy during the whole measurement
                c.post("/api/v1/runs", json={"config": tiny_run_config(f"load{i}", variant="ppo_baseline", steps=256)})
            for i in range(4):
                c.post("/api/v1/inverse-design/jobs", json={"spec": {"problem": "wedge_shock_angle", "evaluator":
                                                                     "surrogate", "iterations": 300, "population": 8,
                                                                     "seed": i}})
            c.get("/api/v1/worlds")  # warm the world registry cache
            deadline = time.monotonic() + 120
            while c.get("/api/v1/runtime/telemetry").json()["jobs_by_state"]["running"] < 1:
                if time.monotonic() > deadline:
                    break
                time.sleep(0.5)
        run = done_runs[0]
        reads = ["/api/v1/runs", f"/api/v1/runs/{run}", f"/api/v1/runs/{run}/telemetry?after=0&limit=100",
                 "/api/v1/jobs?limit=20", "/api/v1/runtime/telemetry", "/api/v1/worlds", "/api/v1/studio/catalog",
                 f"/api/v1/ledger?run_id={run}", f"/api/v1/runs/{run}/artifacts", "/readyz"]
        reference = asyncio.run(_load(url, ["/healthz"], args.clients, min(10.0, args.seconds)))
        report = asyncio.run(_load(url, reads, args.clients, args.seconds))
        with httpx.Client(base_url=url, timeout=30) as c:
            states = c.get("/api/v1/runtime/telemetry").json()["jobs_by_state"]
    finally:
        server.terminate()
        try:
            server.wait(60)
        except subprocess.TimeoutExpired:
            server.kill()
    report["reference_healthz"] = {k: reference[k] for k in ("requests", "rps", "p50_ms", "p99_ms", "errors")}
    report["p50_ratio_vs_healthz"] = report["p50_ms"] / reference["p50_ms"] if reference["p50_ms"] else None
    report["jobs_by_state_after"] = states
    report["clients"], report["seconds"], report["workers"] = args.clients, args.seconds, args.workers
    report["goal_met"] = report["p99_ms"] < 100 and report["errors"] == 0
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(f"{args.clients} clients, {args.seconds:.0f} s, {args.workers} busy workers")
        print(f"reads:   {report['requests']} requests, {report['rps']:.0f} req/s, p50 {report['p50_ms']:.1f} ms, "
              f"p99 {report['p99_ms']:.1f} ms, errors {report['errors']}")
        ref = report["reference_healthz"]
        print(f"healthz: {ref['rps']:.0f} req/s, p50 {ref['p50_ms']:.1f} ms, p99 {ref['p99_ms']:.1f} ms "
              f"(p50 ratio reads/healthz {report['p50_ratio_vs_healthz']:.2f})")
        for path, row in report["per_endpoint"].items():
            print(f"  {path:55s} n={row['n']:6d} p50 {row['p50_ms']:7.1f} ms  p99 {row['p99_ms']:7.1f} ms")
        print(f"jobs after: {states}")
        print("goal (p99 < 100 ms, 0 errors):", "met" if report["goal_met"] else "NOT met")
    return 0 if report["errors"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
