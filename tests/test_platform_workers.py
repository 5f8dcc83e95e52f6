"""Worker processes and the job life cycle: execution, cooperative cancel, dead workers, restart."""

from __future__ import annotations

import os
import signal
import time

import pytest

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

from atom_sdk.platform.api import create_app  # noqa: E402
from atom_sdk.platform.catalog import tiny_run_config  # noqa: E402
from atom_sdk.platform.testing import settings_for, wait_for  # noqa: E402

SURROGATE = {"problem": "wedge_shock_angle", "target": 45.0, "evaluator": "surrogate", "backend": "cmaes"}


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    """One app with one spawned worker process, shared by the tests of this module."""
    app = create_app(settings_for(tmp_path_factory.mktemp("ws"), workers=1, max_design_evaluations=10**6))
    with TestClient(app) as client:
        client.platform = app.state.platform
        deadline = time.monotonic() + 60
        while client.platform.workers_alive() < 1 and time.monotonic() < deadline:
            time.sleep(0.1)
        yield client


def test_worker_runs_a_design_job_to_the_analytical_optimum(live):
    spec = {**SURROGATE, "name": "beta45", "iterations": 10, "population": 8, "seed": 1}
    job = live.post("/api/v1/inverse-design/jobs", json={"spec": spec}).json()
    assert live.get("/readyz").json() == {"ready": True, "database": True, "workers_expected": 1, "workers_alive": 1,
                                          "queue_depth": live.get("/readyz").json()["queue_depth"], "detail": ""}
    done = wait_for(live.get, f"/api/v1/inverse-design/jobs/{job['id']}", timeout=240)
    assert done["state"] == "succeeded", done["error"]
    result = done["result"]
    optimum = result["known_optimum"]["design"]["wedge_angle"]
    # theta-beta-Mach at M=2, beta=45 deg: theta = 14.74 deg (NACA 1135 chart)
    assert abs(optimum - 14.74) < 0.05
    assert abs(result["best"]["design"]["wedge_angle"] - optimum) < 0.3
    assert done["progress"]["step"] == done["progress"]["total"] == result["evaluations_used"] == 80
    page = live.get(f"/api/v1/jobs/{job['id']}/telemetry", params={"limit": 1000}).json()
    assert len(page["items"]) == 80 and page["done"]
    best = [line["best"] for line in page["items"]]
    assert all(b1 >= b2 for b1, b2 in zip(best, best[1:]))  # best-so-far never gets worse
    arts = {a["path"] for a in live.get(f"/api/v1/jobs/{job['id']}/artifacts").json()["items"]}
    assert {"inverse_design_report.json", "convergence.png"} <= arts


def test_cooperative_cancel_of_a_running_job(live):
    spec = {**SURROGATE, "name": "long", "iterations": 5000, "population": 4}
    job = live.post("/api/v1/inverse-design/jobs", json={"spec": spec}).json()
    wait_for(live.get, f"/api/v1/jobs/{job['id']}", ("running",), timeout=120, poll=0.05)
    time.sleep(0.5)
    assert live.post(f"/api/v1/jobs/{job['id']}/cancel").json()["cancel_requested"] is True
    t0 = time.monotonic()
    done = wait_for(live.get, f"/api/v1/jobs/{job['id']}", timeout=60)
    assert done["state"] == "cancelled" and done["error"]["code"] == "cancelled"
    assert time.monotonic() - t0 < 30 and 0 < done["progress"]["step"] < 20_000


def test_dead_worker_job_is_interrupted_then_resumed(live):
    spec = {**SURROGATE, "name": "victim", "iterations": 5000, "population": 4}
    job = live.post("/api/v1/inverse-design/jobs", json={"spec": spec}).json()
    running = wait_for(live.get, f"/api/v1/jobs/{job['id']}", ("running",), timeout=120, poll=0.05)
    pid = live.platform.pool.pids()[0]
    os.kill(pid, signal.SIGKILL)  # the worker process this test's pool started
    interrupted = wait_for(live.get, f"/api/v1/jobs/{job['id']}", ("interrupted",), timeout=30)
    assert interrupted["error"]["code"] == "interrupted" and running["attempts"] == 1
    deadline = time.monotonic() + 60
    while (live.platform.workers_alive() < 1 or pid in live.platform.pool.pids()) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert live.platform.workers_alive() == 1 and pid not in live.platform.pool.pids()
    resumed = live.post(f"/api/v1/jobs/{job['id']}/resume").json()
    assert resumed["state"] == "queued" and resumed["resume"] is True
    again = wait_for(live.get, f"/api/v1/jobs/{job['id']}", ("running",), timeout=120, poll=0.05)
    assert again["attempts"] == 2
    live.post(f"/api/v1/jobs/{job['id']}/cancel")
    assert wait_for(live.get, f"/api/v1/jobs/{job['id']}", timeout=60)["state"] == "cancelled"


def test_restart_marks_running_jobs_interrupted_and_keeps_queued_ones(tmp_path):
    settings = settings_for(tmp_path)
    app = create_app(settings)
    with TestClient(app) as c:
        a = c.post("/api/v1/runs", json={"config": tiny_run_config("a")}).json()["id"]
        b = c.post("/api/v1/runs", json={"config": tiny_run_config("b")}).json()["id"]
        claimed, _token = app.state.platform.store.claim(worker_pid=999_999)  # "running" when the server dies
        assert claimed["id"] == a
    with TestClient(create_app(settings)) as c:
        states = {j["id"]: j["state"] for j in c.get("/api/v1/runs").json()["items"]}
        assert states == {a: "interrupted", b: "queued"}
        assert "resume it" in c.get(f"/api/v1/runs/{a}").json()["error"]["message"]
        assert c.post(f"/api/v1/runs/{a}/resume").json()["state"] == "queued"
    auto = settings.model_copy(update={"resume_interrupted": True})
    store = create_app(auto).state.platform.store
    store.claim(worker_pid=999_998)
    with TestClient(create_app(auto)) as c:
        assert {j["state"] for j in c.get("/api/v1/runs").json()["items"]} == {"queued"}
        assert all(j["resume"] for j in c.get("/api/v1/runs").json()["items"] if j["id"] == a)


def test_run_job_takes_field_snapshots_through_the_runner_observer(tmp_path):
    """The worker reaches the world through ``run_experiment(observer=...)``, not a world factory."""
    import json
    from types import SimpleNamespace

    from atom_sdk.platform.workers import execute_run

    steps: list[int] = []
    ctx = SimpleNamespace(job={"params": {"config": tiny_run_config(steps=16)}, "resume": False},
                          dir=tmp_path / "job", settings=SimpleNamespace(field_snapshot_every_seconds=3600.0),
                          progress=lambda step, total, info: steps.append(step), check=lambda: None)
    out = execute_run(ctx)
    snap = json.loads((tmp_path / "job" / "field_snapshot.json").read_text())
    assert snap["step"] == 16 and steps == list(range(1, 17)) and out["summary"]["steps"] == 16
    # killed after the runner wrote results.json but before the job was marked succeeded: the
    # resumed job reports the finished run instead of refusing it as "already complete"
    steps.clear()
    again = execute_run(SimpleNamespace(**{**vars(ctx), "job": {**ctx.job, "resume": True}}))
    assert again["resumed"] is True and again["summary"] == out["summary"] and steps == []
