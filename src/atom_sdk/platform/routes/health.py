"""Health probes for orchestrators: liveness (the process answers) and readiness (database and workers)."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from atom_sdk import __version__
from atom_sdk.platform import models
from atom_sdk.platform.deps import PlatformDep

log = logging.getLogger("atom.platform")
router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=models.Health, summary="Liveness: the process answers")
def healthz() -> dict[str, Any]:
    return {"status": "ok", "version": __version__}


@router.get("/readyz", response_model=models.Readiness,
            responses={503: {"model": models.Readiness, "description": "database or workers not ready"}},
            summary="Readiness: database reachable and workers alive")
def readyz(p: PlatformDep) -> Any:
    try:
        db_ok = p.store.ping()
        queued = p.store.counts_by_state().get("queued", 0)
    except Exception as exc:  # noqa: BLE001 - any database failure means "not ready"
        db_ok, queued = False, 0
        log.warning("readiness: database unavailable: %s", exc)
    expected, alive = p.workers_expected(), p.workers_alive()
    ready = db_ok and alive >= min(expected, 1)
    detail = "" if ready else ("database unreachable" if not db_ok else f"{alive}/{expected} workers alive")
    body = {"ready": ready, "database": db_ok, "workers_expected": expected, "workers_alive": alive,
            "queue_depth": queued, "detail": detail}
    return body if ready else JSONResponse(body, status_code=503)
