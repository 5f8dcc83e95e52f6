"""Crash safety: SIGKILL the server (`atom serve`) while a run is going, start it again, and check
that every accepted job is still there (interrupted or finished) and that the run resumes from its
checkpoint to a complete telemetry record. Slow: it compiles and runs a real (tiny) experiment."""

from __future__ import annotations

import os
import signal
import subprocess  # nosec B404 - starts the server under test
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
httpx = pytest.importorskip("httpx")

from atom_sdk.platform.catalog import tiny_run_config  # noqa: E402
from atom_sdk.platform.testing import free_port, wait_for  # noqa: E402

pytestmark = pytest.mark.slow
SRC = Path(__file__).resolve().parents[1] / "src"


def _serve(workspace: Path, port: int) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(SRC), "ATOM_WORKERS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "atom_sdk", "serve", "--port", str(port), "--workspace",  # nosec B603
                             str(workspace), "--log-level", "warning"], env=env)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    proc.kill()
    raise RuntimeError("server did not become ready")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie still answers kill(0); look at its state
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


def test_sigkill_server_then_resume(tmp_path):
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = _serve(tmp_path, port)
    try:
        c = httpx.Client(base_url=base, timeout=30)
        config = tiny_run_config("crash", variant="ppo_baseline", steps=96)
        run = c.post("/api/v1/runs", json={"config": config}).json()["id"]
        design = c.post("/api/v1/inverse-design/jobs", json={"spec": {"problem": "wedge_shock_angle",
                                                                       "evaluator": "surrogate", "iterations": 4,
                                                                       "population": 4}}).json()["id"]
        deadline = time.monotonic() + 400
        while c.get(f"/api/v1/runs/{run}").json()["progress"]["step"] < 40:  # checkpoints at 16 and 32
            assert time.monotonic() < deadline, "the run did not progress"
            time.sleep(0.2)
        workers = c.get("/api/v1/runtime/telemetry").json()["worker_pids"]
        assert len(workers) == 1
    finally:
        server.send_signal(signal.SIGKILL)
        server.wait(30)
    time.sleep(1.0)
    assert not any(_alive(pid) for pid in workers), "workers must die with the server"

    server = _serve(tmp_path, port)
    try:
        c = httpx.Client(base_url=base, timeout=30)
        states = {j["id"]: j["state"] for j in c.get("/api/v1/jobs").json()["items"]}
        assert states[run] == "interrupted" and states[design] in ("queued", "running", "succeeded")
        assert wait_for(c.get, f"/api/v1/jobs/{design}", timeout=300)["state"] == "succeeded"
        assert c.post(f"/api/v1/runs/{run}/resume").json()["state"] == "queued"
        done = wait_for(c.get, f"/api/v1/runs/{run}", timeout=600)
        assert done["state"] == "succeeded", done["error"]
        assert done["result"]["resumed"] is True and done["attempts"] == 2 and done["summary"]["steps"] == 96
        lines = c.get(f"/api/v1/runs/{run}/telemetry", params={"limit": 5000}).json()["items"]
        steps = [line["step"] for line in lines if line["kind"] == "step"]
        assert steps == list(range(96)), "the resumed telemetry must hold every step exactly once"
        updates = [line["update"] for line in lines if line["kind"] == "update"]
        assert updates == list(range(1, 7))  # 96 steps / rollout 16
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(60)
