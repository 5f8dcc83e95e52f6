"""Load benchmark of the platform's read endpoints, placed as a deployment places them.

Placement: the server is `atom serve` in its own process (uvicorn, one event loop; its job workers
are its own spawned processes, kept busy with tiny closed-loop runs and surrogate inverse-design
searches unless ``--workers 0``); the clients are this process: ``--clients`` concurrent
keep-alive HTTP/1.1 connections driven by one asyncio loop. The default client is a minimal
asyncio-streams HTTP/1.1 reader (tens of microseconds a request) so that the figure is the
server's, not the load generator's; ``--client httpx`` uses httpx.AsyncClient instead.

Each concurrency level in ``--clients`` (e.g. ``1,10,50``) runs for ``--seconds`` over the read
endpoints in turn; a reference level hits GET /healthz only (no database or file work). The
report gives, per level: requests, req/s, p50/p95/p99 (ms), errors, and per endpoint p50/p99;
with the machine's CPU count and 1-minute load average at the start (a shared machine inflates
the tail: quote the load beside the figure), and the server's CPU time per request (from /proc),
which other load on the machine barely moves: one event loop serves at most 1000/that req/s, and
50 closed-loop clients then wait about 50 x that ms on average. Goal: p99 < 100 ms at 50 clients, zero errors.

    PYTHONPATH=src python benchmarks/bench_api_load.py [--clients 1,10,50] [--seconds 20] [--workers 2] [--web-workers 2]
        [--database-url URL] [--json report.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import platform
import subprocess  # nosec B404 - starts the server under test
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

GOAL_P99_MS, GOAL_CLIENTS = 100.0, 50


def pct(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100): the smallest value with at least q % of them at or below it."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = math.ceil(q / 100 * len(ordered))
    return ordered[min(len(ordered), max(1, rank)) - 1]


class RawClient:
    """One keep-alive HTTP/1.1 connection that GETs paths and reads Content-Length or chunked bodies."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def get(self, path: str) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None  # nosec B101 - set just above
        self.writer.write(f"GET {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n\r\n".encode())
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:] if ln)}
        if "content-length" in headers:
            body = await self.reader.readexactly(int(headers["content-length"]))
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            parts = []
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
                parts.append(await self.reader.readexactly(size + 2))
                if size == 0:
                    break
            body = b"".join(p[:-2] for p in parts)
        else:
            raise RuntimeError(f"{path}: response without a length")
        if headers.get("connection", "").lower() == "close":
            await self.close()
        return status, body

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None


async def _one_client(kind: str, base: str, paths: list[str], stop: float, lat: dict[str, list[float]],
                      errors: list[str], offset: int) -> None:
    split = urlsplit(base)
    if kind == "httpx":
        import httpx

        client: Any = httpx.AsyncClient(base_url=base, timeout=30.0)

        async def get(path: str) -> tuple[int, bytes]:
            resp = await client.get(path)
            return resp.status_code, resp.content
    else:
        client = RawClient(split.hostname or "127.0.0.1", split.port or 80)
        get = client.get
    i = offset
    try:
        while time.perf_counter() < stop:
            path = paths[i % len(paths)]
            i += 1
            t0 = time.perf_counter()
            try:
                status, _body = await asyncio.wait_for(get(path), 30.0)
            except Exception as exc:  # noqa: BLE001 - counted as an error, the connection is renewed
                errors.append(f"{path}: {type(exc).__name__}")
                if kind != "httpx":
                    await client.close()
                continue
            if status >= 400:
                errors.append(f"{path}: {status}")
            lat.setdefault(path.split("?")[0], []).append((time.perf_counter() - t0) * 1000)
    finally:
        await (client.aclose() if kind == "httpx" else client.close())


async def measure(base: str, paths: list[str], clients: int, seconds: float, kind: str = "raw") -> dict[str, Any]:
    """``clients`` concurrent connections cycling through ``paths`` for ``seconds``; latency in ms."""
    lat: dict[str, list[float]] = {}
    errors: list[str] = []
    t0 = time.perf_counter()
    stop = t0 + seconds
    await asyncio.gather(*[_one_client(kind, base, paths, stop, lat, errors, k) for k in range(clients)])
    wall = time.perf_counter() - t0
    every = [v for vs in lat.values() for v in vs]
    return {"clients": clients, "requests": len(every), "errors": len(errors), "error_samples": errors[:5],
            "wall_s": round(wall, 3), "rps": len(every) / wall, "p50_ms": pct(every, 50), "p95_ms": pct(every, 95),
            "p99_ms": pct(every, 99), "max_ms": max(every) if every else float("nan"),
            "per_endpoint": {p: {"n": len(v), "p50_ms": pct(v, 50), "p99_ms": pct(v, 99)} for p, v in sorted(lat.items())}}


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of process ``pid`` (Linux /proc), or None where that is not available."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def web_pids(server_pid: int, web_workers: int) -> list[int]:
    """The processes that serve HTTP: the server itself, or with ``--web-workers N > 1`` uvicorn's
    N children (its other children are multiprocessing helpers; the job workers are grandchildren)."""
    if web_workers <= 1:
        return [server_pid]
    try:
        children = Path(f"/proc/{server_pid}/task/{server_pid}/children").read_text().split()
    except OSError:
        return [server_pid]
    out = []
    for pid in map(int, children):
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if b"resource_tracker" not in cmd:
            out.append(pid)
    return out


def web_cpu_seconds(pids: list[int]) -> float | None:
    """CPU seconds of the web processes together (their job worker children excluded)."""
    values = [cpu_seconds(pid) for pid in pids]
    return None if not values or any(v is None for v in values) else float(sum(v for v in values if v is not None))


def _machine() -> dict[str, Any]:
    load1, load5, _ = os.getloadavg()
    return {"cpus": os.cpu_count(), "loadavg_1m": round(load1, 2), "loadavg_5m": round(load5, 2),
            "python": platform.python_version(), "platform": platform.platform()}


def _server_stack() -> dict[str, str]:
    """What uvicorn will pick in the server process (same interpreter): HTTP parser and event loop."""
    import importlib.util

    return {"http": "httptools" if importlib.util.find_spec("httptools") else "h11",
            "loop": "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"}


def _wait_ready(url: str, proc: subprocess.Popen, timeout: float = 120.0) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited with {proc.returncode}")
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise RuntimeError("the server did not become ready")


def _busy_workers(url: str, workers: int) -> None:
    """Queue enough work to keep every job worker busy during the whole measurement."""
    import httpx

    from atom_sdk.platform.catalog import tiny_run_config

    with httpx.Client(base_url=url, timeout=30) as c:
        posts = [("/api/v1/runs", {"config": tiny_run_config(f"load{i}", variant="ppo_baseline", steps=4096)})
                 for i in range(workers)]
        posts += [("/api/v1/inverse-design/jobs", {"spec": {"problem": "wedge_shock_angle", "evaluator": "surrogate",
                                                            "iterations": 600, "population": 8, "seed": i}})
                  for i in range(2 * workers)]  # 4800 evaluations each, under the server's 5000
        for path, body in posts:
            resp = c.post(path, json=body)
            if resp.status_code != 202:
                raise RuntimeError(f"POST {path} was refused ({resp.status_code}): {resp.text[:300]}")
        deadline = time.monotonic() + 120
        while c.get("/api/v1/runtime/telemetry").json()["jobs_by_state"]["running"] < min(workers, 1):
            if time.monotonic() > deadline:
                break
            time.sleep(0.5)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", default="1,10,50", help="comma-separated concurrency levels (default 1,10,50)")
    parser.add_argument("--seconds", type=float, default=20.0, help="seconds per level")
    parser.add_argument("--workers", type=int, default=2, help="job worker processes of the server, kept busy")
    parser.add_argument("--web-workers", type=int, default=1, help="web processes of the server (atom serve "
                                                                    "--web-workers)")
    parser.add_argument("--database-url", default=None, help="the server's job store (default: SQLite in the workspace)")
    parser.add_argument("--client", choices=("raw", "httpx"), default="raw", help="load generator's HTTP client")
    parser.add_argument("--json", dest="json_path", default=None, help="write the report as JSON to this file ('-': stdout)")
    args = parser.parse_args(argv)
    levels = [int(x) for x in str(args.clients).split(",") if x.strip()]
    if not levels or min(levels) < 1:
        parser.error("--clients takes positive integers, e.g. 1,10,50")

    from atom_sdk.platform.store import Store
    from atom_sdk.platform.testing import fake_finished_run, free_port, settings_for

    machine_at_start = _machine()
    workspace = Path(tempfile.mkdtemp(prefix="atom-bench-"))
    settings = settings_for(workspace, database_url=args.database_url)
    store = Store(settings.db_url)
    store.create_all()
    done_runs = [fake_finished_run(store, settings, f"done{i}") for i in range(5)]
    store.dispose()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "ATOM_WORKERS": str(args.workers), "ATOM_MAX_QUEUE": "1000",
           "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")}
    if args.database_url:
        env["ATOM_DATABASE_URL"] = args.database_url
    server = subprocess.Popen([sys.executable, "-m", "atom_sdk", "serve", "--port", str(port), "--workspace",  # nosec B603
                               str(workspace), "--log-level", "warning",
                               *(["--web-workers", str(args.web_workers)] if args.web_workers > 1 else [])],
                              env=env, stdout=subprocess.DEVNULL)
    try:
        _wait_ready(url, server)
        deadline = time.monotonic() + 60
        while len(web_pids(server.pid, args.web_workers)) < args.web_workers and time.monotonic() < deadline:
            time.sleep(0.3)
        pids = web_pids(server.pid, args.web_workers)
        if args.workers:
            _busy_workers(url, args.workers)
        run = done_runs[0]
        reads = ["/api/v1/runs?fields=summary", f"/api/v1/runs/{run}", f"/api/v1/runs/{run}/telemetry?after=0&limit=100",
                 "/api/v1/jobs?limit=20&fields=summary", "/api/v1/runtime/telemetry", "/api/v1/worlds", "/api/v1/studio/catalog",
                 f"/api/v1/ledger?run_id={run}", f"/api/v1/runs/{run}/artifacts", "/readyz"]
        # warm caches and thread pools: enough connections that every web process serves each path
        # once (a process builds its world catalog on its first /worlds), excluded from the figures
        asyncio.run(measure(url, reads, 8 * max(1, args.web_workers), 3.0, args.client))
        results = []
        for clients in levels:
            cpu0 = web_cpu_seconds(pids)
            row = asyncio.run(measure(url, reads, clients, args.seconds, args.client))
            cpu1 = web_cpu_seconds(pids)
            # CPU the server spent per request: unlike latency, barely moved by other load on the machine
            row["server_cpu_ms_per_request"] = (None if cpu0 is None or cpu1 is None or not row["requests"]
                                                else round((cpu1 - cpu0) * 1000 / row["requests"], 3))
            row["loadavg_1m_after"] = round(os.getloadavg()[0], 2)
            results.append(row)
        reference = asyncio.run(measure(url, ["/healthz"], max(levels), min(10.0, args.seconds), args.client))
        import httpx

        states = httpx.get(f"{url}/api/v1/runtime/telemetry", timeout=30).json()["jobs_by_state"]
    finally:
        server.terminate()
        try:
            server.wait(60)
        except subprocess.TimeoutExpired:
            server.kill()
    at_goal = next((r for r in results if r["clients"] == GOAL_CLIENTS), None)
    report = {
        "machine_at_start": machine_at_start,
        "placement": {"server": f"`atom serve --web-workers {args.web_workers}` (uvicorn, {args.web_workers} web "
                                f"process(es), one event loop each) in its own process", **_server_stack(),
                      "web_workers": args.web_workers,
                      "job_workers": f"{args.workers} spawned processes of the server, kept busy",
                      "clients": f"one separate process (this one), asyncio, {args.client} HTTP/1.1 keep-alive",
                      "database": "postgresql" if args.database_url else "sqlite"},
        "seconds_per_level": args.seconds, "levels": results,
        "reference_healthz": {k: reference[k] for k in ("clients", "requests", "rps", "p50_ms", "p95_ms", "p99_ms", "errors")},
        "jobs_by_state_after": states,
        "goal": f"p99 < {GOAL_P99_MS:g} ms at {GOAL_CLIENTS} clients, 0 errors",
        "goal_met": None if at_goal is None else bool(at_goal["p99_ms"] < GOAL_P99_MS and at_goal["errors"] == 0),
    }
    if args.json_path == "-":
        print(json.dumps(report, indent=2))
    else:
        _print(report)
        if args.json_path:
            Path(args.json_path).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return 0 if all(r["errors"] == 0 for r in results) else 1


def _print(report: dict[str, Any]) -> None:
    m, pl = report["machine_at_start"], report["placement"]
    print(f"machine: {m['cpus']} CPUs, load average {m['loadavg_1m']} (1 min) / {m['loadavg_5m']} (5 min) at start")
    print(f"server: {pl['server']}, http={pl['http']}, loop={pl['loop']}, store={pl['database']}; "
          f"job workers: {pl['job_workers']}; clients: {pl['clients']}")
    print(f"{'clients':>7} {'requests':>9} {'req/s':>7} {'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7} {'errors':>6} "
          f"{'srv CPU ms/req':>14} {'load':>5}")
    for r in report["levels"]:
        cpu = r["server_cpu_ms_per_request"]
        print(f"{r['clients']:7d} {r['requests']:9d} {r['rps']:7.0f} {r['p50_ms']:7.1f} {r['p95_ms']:7.1f} "
              f"{r['p99_ms']:7.1f} {r['errors']:6d} {'n/a' if cpu is None else f'{cpu:.2f}':>14} "
              f"{r['loadavg_1m_after']:5.1f}")
    ref = report["reference_healthz"]
    print(f"/healthz only, {ref['clients']} clients: {ref['rps']:.0f} req/s, p50 {ref['p50_ms']:.1f} ms, "
          f"p99 {ref['p99_ms']:.1f} ms")
    top = report["levels"][-1]
    print(f"per endpoint at {top['clients']} clients:")
    for path, row in top["per_endpoint"].items():
        print(f"  {path:55s} n={row['n']:6d} p50 {row['p50_ms']:7.1f} ms  p99 {row['p99_ms']:7.1f} ms")
    print(f"jobs after: {report['jobs_by_state_after']}")
    met = report["goal_met"]
    print(f"goal ({report['goal']}):", "not measured" if met is None else ("met" if met else "NOT met"))


if __name__ == "__main__":
    sys.exit(main())
