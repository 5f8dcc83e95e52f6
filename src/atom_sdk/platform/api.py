"""The FastAPI application factory: ``create_app(settings) -> FastAPI``.

Startup (lifespan) creates the tables, marks jobs a previous server left running as
``interrupted`` (optionally queueing them again), and starts the worker pool; shutdown asks the
workers to checkpoint and stop. With several web processes on one workspace (``atom serve
--web-workers N``, built by ``app_from_env``) only the leader (``platform.leader``) does the
interrupted-job marking and runs the worker pool; the others serve requests only. The interactive
docs come from the package (``docs_ui``), and ``metrics.MetricsMiddleware`` counts every request
for ``GET /metrics``. Building the app has no side effects, so ``create_app().openapi()`` is cheap
and deterministic (the release gate compares it with docs/openapi.json).
"""

from __future__ import annotations

import logging
import os
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, AsyncIterator

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

from atom_sdk import __version__
from atom_sdk.platform import models
from atom_sdk.platform.docs_ui import new_app
from atom_sdk.platform.metrics import MetricsMiddleware, PlatformMetrics
from atom_sdk.platform.middleware import BodyLimitMiddleware, SecurityHeadersMiddleware, install_error_handlers
from atom_sdk.platform.state import Platform
from atom_sdk.platform.settings import TITLE, PlatformSettings

log = logging.getLogger("atom.platform")
STATIC = Path(__file__).parent / "static"

ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": models.ErrorResponse, "description": text} for status, text in (
        (400, "bad request (e.g. a path outside the job folder)"), (401, "API key missing, unknown or revoked"),
        (404, "no such job, world, geometry or artifact"), (409, "conflict with the job's state"),
        (413, "request body too large"), (422, "invalid input: the message names each field and what to change"),
        (429, "rate limit, full job queue, or too many active jobs for this key"), (500, "internal error"))
}

DESCRIPTION = """HTTP API of the ATOM OSS SDK: launch closed-loop runs, inverse-design searches and the supersonic
challenge as jobs; follow their telemetry (polling with `?after=` or Server-Sent Events); download artifacts;
browse the hypothesis ledger; ask the grounded assistant. Mutating endpoints need an API key
(`Authorization: Bearer <key>` or `X-API-Key`) whenever a key exists or the server is not on loopback.
Errors are JSON `{code, message, details}`."""


def _startup(p: Platform, elect_leader: bool) -> None:
    s = p.settings
    s.jobs_dir.mkdir(parents=True, exist_ok=True)
    s.geometries_dir.mkdir(parents=True, exist_ok=True)
    p.store.create_all()
    if elect_leader:
        from atom_sdk.platform.leader import try_acquire

        p.leader_lock = try_acquire(s.workspace)
        p.leader = p.leader_lock is not None
    if not p.leader:
        log.info("web process %d serves requests only: another process of this workspace runs the job workers",
                 os.getpid())
        return
    interrupted = p.store.mark_interrupted()
    if interrupted:
        log.warning("%d job(s) were running when the last server stopped; marked interrupted", len(interrupted))
    if s.resume_interrupted:
        for job_id in p.store.interrupted_ids():
            p.store.requeue(job_id)
    if s.start_workers and s.workers > 0:
        from atom_sdk.platform.workers import WorkerPool

        p.pool = WorkerPool(s, p.store)
        p.pool.start()


SETTINGS_ENV = "ATOM_SERVE_SETTINGS"


def create_app(settings: PlatformSettings | None = None, *, elect_leader: bool = False) -> FastAPI:
    """Build the app (no I/O until it starts).

    ``elect_leader``: several processes serve this workspace; only the one that wins the leader
    lock (``platform.leader``) marks interrupted jobs and starts the worker pool.
    """
    settings = settings or PlatformSettings()
    plat = Platform(settings)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        _startup(plat, elect_leader)
        try:
            yield
        finally:
            if plat.pool is not None:
                plat.pool.close()
            if plat.leader_lock is not None:
                plat.leader_lock.release()
            plat.store.dispose()

    app = new_app(title=TITLE, version=__version__, description=DESCRIPTION, lifespan=lifespan,
                  responses=ERROR_RESPONSES)
    app.state.platform = plat
    app.state.metrics = PlatformMetrics(plat)
    install_error_handlers(app)

    from atom_sdk.platform.routes import (assistant, challenges, designs, evaluations, geometries, health, jobs,
                                          ledger, metrics, runs, runtime, safety, studio, worlds)

    from atom_sdk.platform.routes import interpret

    routers = [m.router for m in (jobs, runs, worlds, designs, challenges, geometries, studio, runtime, ledger,
                                  assistant, safety, health, evaluations, metrics, interpret)]
    for router in routers:
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(STATIC / "index.html", media_type="text/html")

    app.add_middleware(SecurityHeadersMiddleware)
    if settings.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=settings.cors_origins, allow_methods=["GET", "POST"],
                           allow_headers=["authorization", "x-api-key", "content-type"], max_age=600)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    # Outermost, so that it counts the 413s of the body limit too, which never reach the router.
    app.add_middleware(MetricsMiddleware, metrics=app.state.metrics, routes=[r for x in routers for r in x.routes])
    return app


def app_from_env() -> FastAPI:
    """The app factory behind ``atom serve --web-workers N`` (uvicorn imports it in each web process).

    The settings travel as JSON in ``$ATOM_SERVE_SETTINGS`` because uvicorn starts the processes
    from an import string; every process elects a leader (see ``create_app``).
    """
    raw = os.environ.get(SETTINGS_ENV)
    settings = PlatformSettings.model_validate_json(raw) if raw else PlatformSettings()
    return create_app(settings, elect_leader=True)
