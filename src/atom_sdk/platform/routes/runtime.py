"""The runtime view: queue depth, workers, jobs by state and the recent safety events of runs."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter

from atom_sdk.platform import models
from atom_sdk.platform.deps import PlatformDep, ReaderDep
from atom_sdk.platform.state import Platform

router = APIRouter(prefix="/api/v1", tags=["runtime"])


def _recent_safety(p: Platform, limit: int = 20) -> list[dict[str, Any]]:
    items, _ = p.store.list_jobs("run", None, 10, 0)
    events = []
    for job in items:
        for event in p.safety_events(job["id"])[-limit:]:
            events.append({"job_id": job["id"], **event})
    events.sort(key=lambda e: (e.get("line", 0)), reverse=True)
    return events[:limit]


@router.get("/runtime/telemetry", response_model=models.RuntimeTelemetry,
            summary="Queue depth, workers, jobs by state and recent safety events")
def runtime(p: PlatformDep, _r: ReaderDep) -> dict[str, Any]:
    counts = p.store.counts_by_state()
    return {"queue_depth": counts.get("queued", 0), "max_queue": p.settings.max_queue,
            "workers_expected": p.workers_expected(), "workers_alive": p.workers_alive(),
            "worker_pids": p.pool.pids() if p.pool is not None else [], "jobs_by_state": counts,
            "recent_safety_events": _recent_safety(p), "uptime_seconds": time.monotonic() - p.started}
