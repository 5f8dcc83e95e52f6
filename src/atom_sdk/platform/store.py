"""Job store: SQLAlchemy 2 tables for jobs, API keys and geometries (SQLite WAL or PostgreSQL).

Why a database and not files: several worker processes claim jobs concurrently, and a server
killed at any instant must come back knowing every accepted job. Claiming is a conditional
``UPDATE ... WHERE state = 'queued'``: on PostgreSQL one statement whose candidate row comes from
``SELECT ... FOR UPDATE SKIP LOCKED`` (concurrent workers take different jobs without retrying),
on SQLite (one writer at a time) a select then the guarded update. The ``worker_token`` written
with the claim keeps an orphaned worker from overwriting a job that was since handed to another.
Admission (the queue limits) is serialised by a transaction-scoped advisory lock on PostgreSQL
and ``BEGIN IMMEDIATE`` on SQLite, so concurrent submissions cannot overshoot ``max_queue``. Times are stored with their zone and
always handed out in UTC.
"""

from __future__ import annotations

import json
import secrets
import uuid
from datetime import datetime, timezone
from typing import Any, Iterator

from sqlalchemy import (Boolean, DateTime, Float, Integer, String, Text, bindparam, create_engine, event, func,
                        select, update)
from sqlalchemy.engine import make_url
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

from atom_sdk.errors import DependencyMissingError
from atom_sdk.platform.errors import JobConflictError, JobNotFoundError, RateLimitedError

JOB_KINDS = ("run", "validation", "inverse_design", "challenge")
JOB_STATES = ("queued", "running", "paused", "succeeded", "failed", "cancelled", "interrupted")
ACTIVE_STATES = ("queued", "running", "paused")
TERMINAL_STATES = ("succeeded", "failed", "cancelled")
#: States from which ``requeue`` may queue a job again (it continues from its checkpoint).
RESUMABLE_STATES = ("interrupted", "failed", "cancelled")


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


#: Key of the PostgreSQL advisory lock that serialises job admission (any constant 64-bit number).
ADMISSION_LOCK = 0x41544F4D4A4F4253  # "ATOMJOBS"


def _aware(value: datetime | None) -> datetime | None:
    """The time in UTC: SQLite drops the zone (stored values are UTC), PostgreSQL returns the session's zone."""
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)


class Base(DeclarativeBase):
    pass


class Job(Base):
    __tablename__ = "jobs"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32), index=True)
    state: Mapped[str] = mapped_column(String(16), index=True)
    name: Mapped[str] = mapped_column(String(128), default="")
    params: Mapped[str] = mapped_column(Text)  # JSON of the validated request
    owner: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    progress_step: Mapped[int] = mapped_column(Integer, default=0)
    progress_total: Mapped[int] = mapped_column(Integer, default=0)
    progress_info: Mapped[str] = mapped_column(Text, default="{}")
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    control: Mapped[str] = mapped_column(String(16), default="run")  # run | pause
    resume: Mapped[bool] = mapped_column(Boolean, default=False)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    worker_token: Mapped[str | None] = mapped_column(String(64), nullable=True)
    worker_pid: Mapped[int | None] = mapped_column(Integer, nullable=True)
    error_code: Mapped[str | None] = mapped_column(String(64), nullable=True)
    error_message: Mapped[str | None] = mapped_column(Text, nullable=True)
    result: Mapped[str] = mapped_column(Text, default="{}")  # JSON summary of the outcome

    def as_dict(self) -> dict[str, Any]:
        return job_dict(self)


def job_dict(r: Any) -> dict[str, Any]:
    """A job as the API shows it, from an ORM ``Job`` or a Core row of the jobs table (same attribute names)."""
    step, total = r.progress_step, r.progress_total
    return {
        "id": r.id, "kind": r.kind, "state": r.state, "name": r.name,
        "params": json.loads(r.params), "owner": r.owner,
        "created_at": _aware(r.created_at), "started_at": _aware(r.started_at),
        "finished_at": _aware(r.finished_at), "updated_at": _aware(r.updated_at),
        "progress": {"step": step, "total": total, "fraction": (step / total) if total else 0.0,
                     "info": json.loads(r.progress_info or "{}")},
        "cancel_requested": r.cancel_requested, "control": r.control, "attempts": r.attempts,
        "resume": r.resume, "error": ({"code": r.error_code, "message": r.error_message or ""}
                                      if r.error_code else None),
        "result": json.loads(r.result or "{}"),
    }


JOBS = Job.__table__
#: Reads go through Core statements built once: the API's read endpoints run them on every request,
#: and ORM sessions and instances cost more than the query itself on SQLite.
_GET_JOB = select(JOBS).where(JOBS.c.id == bindparam("job_id"))
_COUNTS = select(JOBS.c.state, func.count()).group_by(JOBS.c.state)


class ApiKey(Base):
    __tablename__ = "api_keys"

    key_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    salt: Mapped[str] = mapped_column(String(64))
    digest: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    rate_limit_per_minute: Mapped[float | None] = mapped_column(Float, nullable=True)


class Geometry(Base):
    __tablename__ = "geometries"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    source: Mapped[str] = mapped_column(String(16))  # polygon | mask
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    owner: Mapped[str | None] = mapped_column(String(64), nullable=True)
    properties: Mapped[str] = mapped_column(Text)


def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:16]}"


class Store:
    """Thin transactional API over the tables (every method opens and closes its own session)."""

    def __init__(self, url: str) -> None:
        self.url = normalise_url(url)
        self.engine = make_engine(self.url)
        self.postgres = self.engine.dialect.name == "postgresql"
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    def create_all(self) -> None:
        """Create the tables (and the SQLite file's folder): done at start-up, never on import."""
        if self.url.startswith("sqlite:///") and not self.url.startswith("sqlite:///:memory:"):
            from pathlib import Path

            Path(self.url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        Base.metadata.create_all(self.engine)

    def session(self) -> Session:
        return self._sessions()

    def ping(self) -> bool:
        with self.engine.connect() as conn:
            return conn.exec_driver_sql("SELECT 1").scalar() == 1

    def dispose(self) -> None:
        self.engine.dispose()

    # ------------------------------------------------------------------ jobs
    def add_job(self, kind: str, name: str, params: dict[str, Any], owner: str | None, *,
                max_queue: int, max_per_owner: int) -> dict[str, Any]:
        """Insert a queued job, refusing (429) when the queue or the owner's share is full."""
        with self.session() as s, s.begin():
            # the count and the insert are one atomic step (else concurrent submissions overshoot the limit)
            if self.postgres:  # held until commit
                s.execute(select(func.pg_advisory_xact_lock(ADMISSION_LOCK)))
            else:  # take SQLite's write lock before counting (waits up to busy_timeout)
                s.connection().exec_driver_sql("BEGIN IMMEDIATE")
            queued = s.scalar(select(func.count()).select_from(Job).where(Job.state == "queued")) or 0
            if queued >= max_queue:
                raise RateLimitedError(f"the job queue is full ({queued} queued); wait for jobs to finish or "
                                       "cancel some, then retry", code="queue_full")
            if owner is not None:
                mine = s.scalar(select(func.count()).select_from(Job).where(
                    Job.owner == owner, Job.state.in_(ACTIVE_STATES))) or 0
                if mine >= max_per_owner:
                    raise RateLimitedError(f"this API key already has {mine} active jobs (limit {max_per_owner}); "
                                           "wait for one to finish or cancel one", code="too_many_jobs")
            job = Job(id=new_id(kind[:3]), kind=kind, state="queued", name=name[:NAME_LENGTH], params=json.dumps(params),
                      owner=owner, created_at=utcnow(), updated_at=utcnow())
            s.add(job)
        return job.as_dict()

    def get_job(self, job_id: str, kind: str | None = None) -> dict[str, Any]:
        with self.engine.connect() as conn:
            job = conn.execute(_GET_JOB, {"job_id": job_id}).first()
        if job is None or (kind is not None and job.kind != kind):
            what = kind.replace("_", "-") + " job" if kind else "job"
            raise JobNotFoundError(f"{what} '{job_id}' does not exist; list them with GET "
                                   f"{_list_path(kind)}")
        return job_dict(job)

    def list_jobs(self, kind: str | None = None, state: str | None = None, limit: int = 50,
                  offset: int = 0) -> tuple[list[dict[str, Any]], int]:
        query = select(JOBS)
        count = select(func.count()).select_from(JOBS)
        if kind:
            query, count = query.where(JOBS.c.kind == kind), count.where(JOBS.c.kind == kind)
        if state:
            query, count = query.where(JOBS.c.state == state), count.where(JOBS.c.state == state)
        with self.engine.connect() as conn:
            rows = conn.execute(query.order_by(JOBS.c.created_at.desc(), JOBS.c.id).limit(limit).offset(offset)).all()
            total = int(conn.execute(count).scalar() or 0)
        return [job_dict(r) for r in rows], total

    def counts_by_state(self) -> dict[str, int]:
        with self.engine.connect() as conn:
            rows = conn.execute(_COUNTS).all()
        out = {state: 0 for state in JOB_STATES}
        out.update({state: int(n) for state, n in rows})
        return out

    def claim(self, worker_pid: int) -> tuple[dict[str, Any], str] | None:
        """Take the oldest queued job for this worker; None when the queue is empty."""
        token = secrets.token_hex(8)
        if self.postgres:
            return self._claim_skip_locked(token, worker_pid)
        with self.session() as s:
            for _ in range(5):
                candidate = s.scalar(select(Job.id).where(Job.state == "queued")
                                     .order_by(Job.created_at, Job.id).limit(1))
                if candidate is None:
                    return None
                now = utcnow()
                result = s.execute(update(Job).where(Job.id == candidate, Job.state == "queued").values(
                    state="running", worker_token=token, worker_pid=worker_pid, started_at=now, updated_at=now,
                    attempts=Job.attempts + 1, error_code=None, error_message=None))
                s.commit()
                if result.rowcount == 1:
                    job = s.get(Job, candidate)
                    s.refresh(job)
                    return job.as_dict(), token
        return None

    def _claim_skip_locked(self, token: str, worker_pid: int) -> tuple[dict[str, Any], str] | None:
        """PostgreSQL: one UPDATE whose row is picked with FOR UPDATE SKIP LOCKED (no lost races, no retries)."""
        pick = (select(Job.id).where(Job.state == "queued").order_by(Job.created_at, Job.id).limit(1)
                .with_for_update(skip_locked=True).scalar_subquery())
        now = utcnow()
        with self.session() as s, s.begin():
            row = s.execute(update(Job).where(Job.id == pick, Job.state == "queued").values(
                state="running", worker_token=token, worker_pid=worker_pid, started_at=now, updated_at=now,
                attempts=Job.attempts + 1, error_code=None, error_message=None).returning(Job)
                .execution_options(synchronize_session=False)).scalar_one_or_none()
            return None if row is None else (row.as_dict(), token)

    def _owned(self, job_id: str, token: str | None):
        cond = [Job.id == job_id]
        if token is not None:
            cond.append(Job.worker_token == token)
        return update(Job).where(*cond)

    def set_progress(self, job_id: str, token: str | None, step: int, total: int,
                     info: dict[str, Any] | None = None, state: str | None = None) -> None:
        values: dict[str, Any] = {"progress_step": int(step), "progress_total": int(total), "updated_at": utcnow()}
        if info is not None:
            values["progress_info"] = json.dumps(info, default=str)
        if state is not None:
            values["state"] = state
        with self.session() as s, s.begin():
            s.execute(self._owned(job_id, token).where(Job.state.in_(("running", "paused"))).values(**values))

    def control_of(self, job_id: str) -> tuple[bool, str]:
        """(cancel requested, control) read by a worker between steps."""
        with self.session() as s:
            row = s.execute(select(Job.cancel_requested, Job.control).where(Job.id == job_id)).first()
        return (True, "run") if row is None else (bool(row[0]), str(row[1]))

    def finish(self, job_id: str, token: str | None, state: str, result: dict[str, Any] | None = None,
               error: tuple[str, str] | None = None) -> bool:
        values: dict[str, Any] = {"state": state, "finished_at": utcnow(), "updated_at": utcnow(),
                                  "worker_token": None}
        if result is not None:
            values["result"] = json.dumps(result, default=str)
        if error is not None:
            values["error_code"], values["error_message"] = error
        with self.session() as s, s.begin():
            return s.execute(self._owned(job_id, token).values(**values)).rowcount == 1

    def request_cancel(self, job_id: str, kind: str | None = None) -> dict[str, Any]:
        job = self.get_job(job_id, kind)
        if job["state"] in TERMINAL_STATES:
            raise JobConflictError(f"job '{job_id}' is already {job['state']}; only queued, running, paused or "
                                   "interrupted jobs can be cancelled")
        with self.session() as s, s.begin():
            # queued/interrupted jobs have no worker: cancel them here; running ones see the flag
            s.execute(update(Job).where(Job.id == job_id, Job.state.in_(("queued", "interrupted")))
                      .values(state="cancelled", finished_at=utcnow(), updated_at=utcnow(), cancel_requested=True))
            s.execute(update(Job).where(Job.id == job_id, Job.state.in_(("running", "paused")))
                      .values(cancel_requested=True, updated_at=utcnow()))
        return self.get_job(job_id)

    def set_control(self, job_id: str, control: str, kind: str | None = None) -> dict[str, Any]:
        job = self.get_job(job_id, kind)
        if job["state"] in TERMINAL_STATES:
            raise JobConflictError(f"job '{job_id}' is already {job['state']}; it cannot be {control}d")
        with self.session() as s, s.begin():
            s.execute(update(Job).where(Job.id == job_id).values(control=control, updated_at=utcnow()))
        return self.get_job(job_id)

    def requeue(self, job_id: str, kind: str | None = None) -> dict[str, Any]:
        """Queue an interrupted, failed or cancelled job again; runs continue from their checkpoint."""
        job = self.get_job(job_id, kind)
        if job["state"] not in RESUMABLE_STATES:
            raise JobConflictError(f"job '{job_id}' is {job['state']}; only interrupted, failed or cancelled jobs "
                                   "can be resumed")
        with self.session() as s, s.begin():
            s.execute(update(Job).where(Job.id == job_id, Job.state.in_(RESUMABLE_STATES)).values(
                state="queued", resume=True, cancel_requested=False, control="run", finished_at=None,
                updated_at=utcnow(), error_code=None, error_message=None))
        return self.get_job(job_id)

    def mark_interrupted(self, *, pids: list[int] | None = None, exclude_pids: list[int] | None = None) -> list[str]:
        """Mark running/paused jobs interrupted (all of them at start-up, or those of dead workers)."""
        with self.session() as s, s.begin():
            query = select(Job.id).where(Job.state.in_(("running", "paused")))
            if pids is not None:
                query = query.where(Job.worker_pid.in_(pids))
            if exclude_pids:
                query = query.where(Job.worker_pid.not_in(exclude_pids))
            ids = list(s.scalars(query).all())
            if ids:
                s.execute(update(Job).where(Job.id.in_(ids)).values(
                    state="interrupted", worker_token=None, updated_at=utcnow(), error_code="interrupted",
                    error_message="the server or its worker stopped while this job ran; resume it to continue "
                                  "from its last checkpoint"))
        return ids

    def queued_ids(self) -> list[str]:
        with self.session() as s:
            return list(s.scalars(select(Job.id).where(Job.state == "queued")).all())

    def interrupted_ids(self) -> list[str]:
        with self.session() as s:
            return list(s.scalars(select(Job.id).where(Job.state == "interrupted")).all())

    def iter_jobs(self, kind: str | None = None) -> Iterator[dict[str, Any]]:
        query = select(JOBS).order_by(JOBS.c.created_at)
        if kind:
            query = query.where(JOBS.c.kind == kind)
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        for row in rows:
            yield job_dict(row)


def _list_path(kind: str | None) -> str:
    return {"run": "/api/v1/runs", "inverse_design": "/api/v1/inverse-design/jobs",
            "challenge": "/api/v1/challenges/supersonic/jobs"}.get(kind or "", "/api/v1/jobs")


NAME_LENGTH = 128  # Job.name's column length (a display name; the full request is in params)


def normalise_url(url: str) -> str:
    """``postgresql://`` / ``postgres://`` mean the psycopg 3 driver (SQLAlchemy's default would be psycopg2)."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def make_engine(url: str) -> Engine:
    """Engine with SQLite tuned for several processes (WAL, busy timeout) or a PostgreSQL pool in UTC."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        return engine
    if make_url(url).get_backend_name() == "postgresql":
        try:
            # a pool big enough for the server's thread pool (40 threads) without queueing reads
            return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=30,
                                 connect_args={"options": "-c timezone=UTC"})
        except ModuleNotFoundError as exc:
            raise DependencyMissingError(f"ATOM_DATABASE_URL names PostgreSQL but its driver is missing ({exc.name}); "
                                         "install it with: pip install 'psycopg[binary]'") from exc
    return create_engine(url, pool_pre_ping=True)
