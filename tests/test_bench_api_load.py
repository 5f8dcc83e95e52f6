"""The API load benchmark's own parts: its percentile, its HTTP client against a live server, its CPU meter."""

from __future__ import annotations

import asyncio
import importlib.util
import os
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("uvicorn")
from atom_sdk.platform.testing import ServerThread, fake_finished_run, settings_for  # noqa: E402

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_api_load.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_api_load", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_percentile_is_nearest_rank(bench):
    rng = np.random.default_rng(0)
    for n in (1, 2, 7, 100, 1001):
        values = list(rng.exponential(10.0, n))
        for q in (0, 1, 50, 95, 99, 100):
            expected = np.percentile(values, q, method="inverted_cdf")  # the nearest-rank definition
            assert bench.pct(values, q) == pytest.approx(float(expected)), (n, q)
    assert bench.pct(list(range(1, 101)), 50) == 50 and bench.pct(list(range(1, 101)), 99) == 99


def test_measure_against_a_live_server_counts_every_request(bench, tmp_path):
    settings = settings_for(tmp_path)
    with ServerThread(settings) as server:
        store = server.app.state.platform.store
        run = fake_finished_run(store, settings, "b")
        paths = ["/healthz", f"/api/v1/runs/{run}", "/api/v1/jobs?limit=5", "/api/v1/runs/run_0000000000000000"]
        report = asyncio.run(bench.measure(server.url, paths, clients=3, seconds=3.0))
        body = asyncio.run(_get(bench, server.port, f"/api/v1/runs/{run}"))
    assert report["clients"] == 3 and report["requests"] >= 6
    per = report["per_endpoint"]
    assert set(per) == {"/healthz", f"/api/v1/runs/{run}", "/api/v1/jobs", "/api/v1/runs/run_0000000000000000"}
    assert sum(row["n"] for row in per.values()) == report["requests"]
    # the unknown run answers 404, counted as an error; the others are fine
    assert report["errors"] == per["/api/v1/runs/run_0000000000000000"]["n"]
    assert 0 < report["p50_ms"] <= report["p95_ms"] <= report["p99_ms"] <= report["max_ms"]
    assert body[0] == 200 and b'"mean_reward":-0.5' in body[1].replace(b" ", b"")


async def _get(bench, port: int, path: str) -> tuple[int, bytes]:
    client = bench.RawClient("127.0.0.1", port)
    try:
        await client.get("/healthz")  # the same keep-alive connection serves both
        return await client.get(path)
    finally:
        await client.close()


def test_cpu_meter_reads_this_process(bench):
    before = bench.cpu_seconds(os.getpid())
    if before is None:
        pytest.skip("no /proc on this system")
    sum(i * i for i in range(2_000_000))  # some CPU work
    after = bench.cpu_seconds(os.getpid())
    assert after > before


def test_web_process_meter_finds_children_and_excludes_nothing_else(bench):
    import subprocess
    import sys
    import time

    if bench.cpu_seconds(os.getpid()) is None:
        pytest.skip("no /proc on this system")
    assert bench.web_pids(os.getpid(), 1) == [os.getpid()]
    kids = [subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"]) for _ in range(2)]
    try:
        time.sleep(0.2)
        found = bench.web_pids(os.getpid(), 2)
        assert set(found) >= {k.pid for k in kids} and os.getpid() not in found
        total = bench.web_cpu_seconds([os.getpid()])
        assert total is not None and total == pytest.approx(bench.cpu_seconds(os.getpid()), abs=0.05)
        assert bench.web_cpu_seconds([]) is None
    finally:
        for k in kids:
            k.kill()
            k.wait()
