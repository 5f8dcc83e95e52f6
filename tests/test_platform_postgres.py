"""The job store on a real PostgreSQL server as well as on SQLite.

The store tests below are parametrised over both back ends; the platform's existing job-life-cycle,
API and SIGKILL tests (test_platform_workers/api/restart) are re-run here on PostgreSQL with the
same assertions (imported, each given a PostgreSQL-backed fixture). PostgreSQL comes from
``ATOM_TEST_POSTGRES_URL`` (``scripts/ci_postgres.sh`` starts a server and prints one); each test
gets a fresh database, dropped afterwards. Without the variable these tests are skipped, and under
``CI=true`` the run's summary says so (see ``conftest.pytest_terminal_summary``).
"""

from __future__ import annotations

import json
import os
import subprocess  # nosec B404 - claimer processes of the concurrency test
import sys
import threading
import time
import uuid
from datetime import timedelta, timezone
from functools import partial
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

import test_platform_api as api_tests  # noqa: E402
import test_platform_restart as restart_tests  # noqa: E402
import test_platform_workers as worker_tests  # noqa: E402
from atom_sdk.platform.api import create_app  # noqa: E402
from atom_sdk.platform.errors import RateLimitedError  # noqa: E402
from atom_sdk.platform.store import Job, Store, normalise_url  # noqa: E402
from atom_sdk.platform.testing import settings_for  # noqa: E402

PG_ENV = "ATOM_TEST_POSTGRES_URL"
SRC = Path(__file__).resolve().parents[1] / "src"
NO_PG = (f"{PG_ENV} is not set: no PostgreSQL server to test against (start one with "
         f"'export {PG_ENV}=\"$(bash scripts/ci_postgres.sh)\"')")


def _fresh_postgres_database():
    """Yield the URL of a new, empty database on the server of ``ATOM_TEST_POSTGRES_URL``; drop it after."""
    url = os.environ.get(PG_ENV, "").strip()
    if not url:
        pytest.skip(NO_PG)
    psycopg = pytest.importorskip("psycopg", reason="PostgreSQL tests need the driver: pip install 'psycopg[binary]'")
    from sqlalchemy.engine import make_url

    base = make_url(normalise_url(url))
    name = f"atom_t_{uuid.uuid4().hex[:12]}"
    dsn = base.set(drivername="postgresql").render_as_string(hide_password=False)
    try:  # a set URL whose server does not answer is a failure, not a skip: the script checked it
        admin = psycopg.connect(dsn, autocommit=True, connect_timeout=10)
    except psycopg.OperationalError as exc:
        pytest.fail(f"{PG_ENV}={url} is set but the server does not answer: {exc}")
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(dsn, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture()
def pg_url():
    yield from _fresh_postgres_database()


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path):
    """A created, empty job store on each back end."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'platform.db'}"
        gen = None
    else:
        gen = _fresh_postgres_database()
        url = next(gen)
    st = Store(url)
    st.create_all()
    try:
        yield st
    finally:
        st.dispose()
        if gen is not None:
            gen.close()


# ---------------------------------------------------------------------------- the store on both back ends
def test_store_life_cycle_round_trips_values_and_times(store):
    params = {"config": {"name": "ü-ñ ✓", "blob": "x" * 100_000}}  # unicode and a 100 kB Text value
    a = store.add_job("run", "n" * 300, params, "owner1", max_queue=10, max_per_owner=10)
    b = store.add_job("inverse_design", "b", {}, None, max_queue=10, max_per_owner=10)
    assert len(a["name"]) == 128 and a["id"].startswith("run_") and b["id"].startswith("inv_")
    got = store.get_job(a["id"])
    assert got["params"] == params and got["state"] == "queued" and got["owner"] == "owner1"
    for field in ("created_at", "updated_at"):  # UTC, whatever the back end keeps
        assert got[field].utcoffset() == timedelta(0) and got[field].tzinfo == timezone.utc
    jobs, total = store.list_jobs()
    assert total == 2 and [j["id"] for j in jobs] == [b["id"], a["id"]]  # newest first
    assert store.list_jobs(kind="run")[1] == 1 and store.counts_by_state()["queued"] == 2

    claimed = store.claim(worker_pid=4242)
    assert claimed is not None
    job, token = claimed
    assert job["id"] == a["id"] and job["state"] == "running" and job["attempts"] == 1  # oldest first
    assert job["started_at"].tzinfo == timezone.utc and job["started_at"] >= got["created_at"]
    store.set_progress(a["id"], token, 3, 10, {"loss": 0.5})
    assert store.get_job(a["id"])["progress"] == {"step": 3, "total": 10, "fraction": 0.3, "info": {"loss": 0.5}}
    assert store.control_of(a["id"]) == (False, "run")
    assert store.finish(a["id"], "not-the-token", "succeeded") is False  # an orphaned worker cannot write
    assert store.finish(a["id"], token, "failed", error=("boom", "it broke")) is True
    failed = store.get_job(a["id"])
    assert failed["state"] == "failed" and failed["error"] == {"code": "boom", "message": "it broke"}
    assert failed["finished_at"] >= failed["started_at"]

    again = store.requeue(a["id"])
    assert again["state"] == "queued" and again["resume"] is True and again["error"] is None
    assert store.request_cancel(b["id"])["state"] == "cancelled"
    second, token2 = store.claim(worker_pid=7)
    assert second["id"] == a["id"] and second["attempts"] == 2
    assert store.mark_interrupted(pids=[8]) == [] and store.mark_interrupted(pids=[7]) == [a["id"]]
    assert store.interrupted_ids() == [a["id"]] and store.claim(worker_pid=9) is None
    assert store.counts_by_state() == {"queued": 0, "running": 0, "paused": 0, "succeeded": 0, "failed": 0,
                                       "cancelled": 1, "interrupted": 1}


def test_admission_limits_hold_under_concurrent_submissions(store):
    """16 threads submit at once against max_queue=6: exactly 6 are accepted, the rest get 429."""
    barrier = threading.Barrier(16)
    accepted: list[str] = []
    refused: list[str] = []

    def submit(i: int) -> None:
        barrier.wait()
        try:
            accepted.append(store.add_job("run", f"j{i}", {}, None, max_queue=6, max_per_owner=100)["id"])
        except RateLimitedError as exc:
            refused.append(exc.code)

    threads = [threading.Thread(target=submit, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(accepted) == 6 and refused == ["queue_full"] * 10
    assert store.counts_by_state()["queued"] == 6


CLAIMER = """
import json, os, sys, time
from atom_sdk.platform.store import Store
store = Store(sys.argv[1])
while time.time() < float(sys.argv[2]):
    time.sleep(0.005)
got = []
while (claimed := store.claim(os.getpid())) is not None:
    got.append(claimed[0]["id"])
    store.finish(claimed[0]["id"], claimed[1], "succeeded")
    time.sleep(0.01)  # some work, so that the claimers overlap
print(json.dumps({"pid": os.getpid(), "ids": got}))
"""


def test_concurrent_worker_processes_claim_each_job_exactly_once(store):
    """Four processes drain 60 queued jobs at the same moment: every job is claimed once, by one process."""
    ids = {store.add_job("run", f"c{i}", {}, None, max_queue=1000, max_per_owner=1000)["id"] for i in range(60)}
    start = time.time() + 2.0
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    procs = [subprocess.Popen([sys.executable, "-c", CLAIMER, store.url, str(start)],  # nosec B603
                              stdout=subprocess.PIPE, env=env, text=True) for _ in range(4)]
    outs = [json.loads(p.communicate(timeout=120)[0]) for p in procs]
    claims = [job_id for out in outs for job_id in out["ids"]]
    assert sorted(claims) == sorted(ids), "each job is claimed exactly once"
    assert sum(1 for out in outs if out["ids"]) >= 2, "the claimers did not overlap"
    with store.session() as s:
        rows = {j.id: (j.attempts, j.worker_pid, j.state) for j in s.query(Job)}
    by_pid = {job_id: out["pid"] for out in outs for job_id in out["ids"]}
    assert all(rows[i] == (1, by_pid[i], "succeeded") for i in ids)


def test_postgres_claim_skips_a_row_locked_by_another_transaction(pg_url):
    """FOR UPDATE SKIP LOCKED: a worker is not blocked by a row another transaction holds; it takes the next."""
    st = Store(pg_url)
    st.create_all()
    try:
        first = st.add_job("run", "first", {}, None, max_queue=10, max_per_owner=10)
        second = st.add_job("run", "second", {}, None, max_queue=10, max_per_owner=10)
        with st.engine.connect() as holder:
            holder.exec_driver_sql("BEGIN")
            holder.exec_driver_sql("SELECT id FROM jobs WHERE id = %(id)s FOR UPDATE", {"id": first["id"]})
            t0 = time.monotonic()
            job, _token = st.claim(worker_pid=1)
            assert job["id"] == second["id"] and time.monotonic() - t0 < 5
            holder.exec_driver_sql("ROLLBACK")
        assert st.claim(worker_pid=2)[0]["id"] == first["id"]
    finally:
        st.dispose()


def test_postgres_url_forms_choose_psycopg3():
    assert normalise_url("postgresql://u@h:5/d") == "postgresql+psycopg://u@h:5/d"
    assert normalise_url("postgres://u@h/d") == "postgresql+psycopg://u@h/d"
    assert normalise_url("postgresql+psycopg://u@h/d") == "postgresql+psycopg://u@h/d"
    assert normalise_url("sqlite:///x.db") == "sqlite:///x.db"


# ---------------------------------------------------------------------------- existing tests, on PostgreSQL
@pytest.fixture(scope="module")
def live(tmp_path_factory):
    """test_platform_workers' ``live`` app (one spawned worker) on a PostgreSQL database."""
    gen = _fresh_postgres_database()
    url = next(gen)
    app = create_app(settings_for(tmp_path_factory.mktemp("ws"), workers=1, max_design_evaluations=10**6,
                                  database_url=url))
    try:
        with TestClient(app) as client:
            client.platform = app.state.platform
            deadline = time.monotonic() + 60
            while client.platform.workers_alive() < 1 and time.monotonic() < deadline:
                time.sleep(0.1)
            yield client
    finally:
        gen.close()


@pytest.fixture()
def client(tmp_path, pg_url):
    """test_platform_api's ``client`` fixture on a PostgreSQL database."""
    app = create_app(settings_for(tmp_path, max_queue=5, database_url=pg_url))
    with TestClient(app) as c:
        c.platform = app.state.platform
        yield c


@pytest.fixture()
def pg_settings(monkeypatch, pg_url):
    """Route test_platform_workers' ``settings_for`` and any `atom serve` it starts to PostgreSQL."""
    monkeypatch.setattr(worker_tests, "settings_for", partial(settings_for, database_url=pg_url))
    monkeypatch.setenv("ATOM_DATABASE_URL", pg_url)
    return pg_url


# The same test bodies as on SQLite; pytest resolves their fixtures (live, client) from this module.
test_worker_runs_a_design_job_to_the_analytical_optimum = worker_tests.test_worker_runs_a_design_job_to_the_analytical_optimum
test_cooperative_cancel_of_a_running_job = worker_tests.test_cooperative_cancel_of_a_running_job
test_dead_worker_job_is_interrupted_then_resumed = worker_tests.test_dead_worker_job_is_interrupted_then_resumed
test_run_submission_validation_and_errors = api_tests.test_run_submission_validation_and_errors
test_queue_full_is_429_and_cancel_conflicts = api_tests.test_queue_full_is_429_and_cancel_conflicts
test_telemetry_cursor_ledger_and_run_detail = api_tests.test_telemetry_cursor_ledger_and_run_detail


def test_restart_marks_running_jobs_interrupted_on_postgres(tmp_path, pg_settings):
    worker_tests.test_restart_marks_running_jobs_interrupted_and_keeps_queued_ones(tmp_path)


@pytest.mark.slow
def test_sigkill_server_then_resume_on_postgres(tmp_path, pg_settings):
    """SIGKILL `atom serve` mid-run with the store on PostgreSQL; the run resumes from its checkpoint."""
    restart_tests.test_sigkill_server_then_resume(tmp_path)
