"""Several web processes on one workspace (``atom serve --web-workers N``): one job worker pool.

Two apps on the same workspace stand for two web processes (the leader lock is a ``flock`` on an
open file description, so two apps in one process contend exactly as two processes do).
"""

from __future__ import annotations

import time

import pytest

pytest.importorskip("fastapi")
psutil = pytest.importorskip("psutil")
from fastapi.testclient import TestClient  # noqa: E402

from atom_sdk.platform.api import create_app  # noqa: E402
from atom_sdk.platform.catalog import tiny_run_config  # noqa: E402
from atom_sdk.platform.leader import try_acquire  # noqa: E402
from atom_sdk.platform.testing import settings_for, wait_for  # noqa: E402


def _worker_children() -> list[int]:
    """Pids of this test process's spawned job worker processes."""
    return [c.pid for c in psutil.Process().children(recursive=True)
            if any("spawn_main" in part for part in c.cmdline())]


def test_leader_lock_is_exclusive_and_released(tmp_path):
    first = try_acquire(tmp_path)
    assert first is not None
    assert try_acquire(tmp_path) is None
    first.release()
    again = try_acquire(tmp_path)
    assert again is not None
    again.release()


def test_two_web_processes_run_a_job_exactly_once(tmp_path):
    before = set(_worker_children())
    settings = settings_for(tmp_path, workers=1)
    leader_app = create_app(settings, elect_leader=True)
    follower_app = create_app(settings, elect_leader=True)
    with TestClient(leader_app) as leader, TestClient(follower_app) as follower:
        lp, fp = leader_app.state.platform, follower_app.state.platform
        assert (lp.leader, fp.leader) == (True, False)
        assert lp.pool is not None and fp.pool is None
        deadline = time.monotonic() + 60
        while lp.workers_alive() < 1 and time.monotonic() < deadline:
            time.sleep(0.1)
        workers = set(_worker_children()) - before
        assert len(workers) == 1, f"one worker pool of one process expected, found {sorted(workers)}"
        assert follower.get("/readyz").json()["workers_expected"] == 0

        job = follower.post("/api/v1/runs", json={"config": tiny_run_config("ww")})
        assert job.status_code == 202
        job_id = job.json()["id"]
        done = wait_for(leader.get, f"/api/v1/runs/{job_id}", timeout=120)
        assert done["state"] == "succeeded" and done["attempts"] == 1
        seen = follower.get(f"/api/v1/runs/{job_id}").json()
        assert seen["state"] == "succeeded" and seen["attempts"] == 1
        assert [j["id"] for j in follower.get("/api/v1/jobs").json()["items"]] == [job_id]
        assert [j["id"] for j in leader.get("/api/v1/jobs").json()["items"]] == [job_id]


@pytest.mark.slow
def test_a_late_web_process_does_not_interrupt_running_jobs(tmp_path):
    settings = settings_for(tmp_path, workers=1)
    leader_app = create_app(settings, elect_leader=True)
    with TestClient(leader_app) as leader:
        job_id = leader.post("/api/v1/runs", json={"config": tiny_run_config("late", steps=400)}).json()["id"]
        wait_for(leader.get, f"/api/v1/runs/{job_id}", states=("running", "succeeded", "failed"), timeout=120,
                 poll=0.05)
        with TestClient(create_app(settings, elect_leader=True)) as late:
            state = late.get(f"/api/v1/runs/{job_id}").json()["state"]
            assert state in ("running", "succeeded")
        assert wait_for(leader.get, f"/api/v1/runs/{job_id}", timeout=120)["state"] == "succeeded"


@pytest.mark.slow
def test_atom_serve_with_two_web_workers_has_one_worker_pool(tmp_path):
    """The real CLI: uvicorn's two web processes, one of which owns the only job worker."""
    import os
    import subprocess
    import sys

    import httpx

    from atom_sdk.platform.testing import free_port

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "ATOM_RATE_LIMIT": "100000"}
    server = subprocess.Popen([sys.executable, "-m", "atom_sdk", "serve", "--port", str(port), "--workspace",
                               str(tmp_path), "--workers", "1", "--web-workers", "2", "--log-level", "warning"], env=env)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline and server.poll() is None, "the server did not start"
            time.sleep(0.3)
        parent = psutil.Process(server.pid)
        deadline = time.monotonic() + 60
        while True:
            web = [c for c in parent.children() if "resource_tracker" not in " ".join(c.cmdline())]
            pools = {w.pid: w.children() for w in web}
            if len(web) == 2 and sum(len(k) for k in pools.values()) >= 1:
                break
            assert time.monotonic() < deadline, f"web processes {pools}"
            time.sleep(0.3)
        time.sleep(1.0)
        pools = {w.pid: [k for k in w.children() if "resource_tracker" not in " ".join(k.cmdline())] for w in web}
        assert sorted(len(k) for k in pools.values()) == [0, 1], pools
        with httpx.Client(base_url=url, timeout=30) as c:
            job_id = c.post("/api/v1/runs", json={"config": tiny_run_config("cli")}).json()["id"]
            done = wait_for(c.get, f"/api/v1/runs/{job_id}", timeout=180)
            assert done["state"] == "succeeded" and done["attempts"] == 1
            for _ in range(10):  # new connections land on either process: each sees the same job
                with httpx.Client(base_url=url, timeout=30) as fresh:
                    assert fresh.get(f"/api/v1/jobs/{job_id}").json()["attempts"] == 1
    finally:
        server.terminate()
        server.wait(60)
