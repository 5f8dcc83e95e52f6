"""The hypothesis ledger across runs: every law the scientist considered, and why it was kept or not."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from atom_sdk.platform import models
from atom_sdk.platform.deps import PlatformDep, ReaderDep

router = APIRouter(prefix="/api/v1", tags=["science"])


def _entry(job_id: str, kind: str, rec: dict[str, Any]) -> dict[str, Any]:
    return {"job_id": job_id, "seq": int(rec.get("seq", 0)), "kind": kind, "time": rec.get("time"),
            "run_name": rec.get("run_id"), "step": rec.get("step"), "equations": rec.get("equations") or [],
            "scores": rec.get("scores") or {}, "reasons": [str(r) for r in rec.get("reasons") or []]}


@router.get("/ledger", response_model=models.LedgerPage, summary="Every hypothesis the scientist considered, across runs")
def ledger(p: PlatformDep, _r: ReaderDep, run_id: Annotated[str | None, Query(max_length=64)] = None,
           kind: Annotated[str | None, Query(pattern="^(candidate|accepted|rejected)$")] = None,
           limit: Annotated[int, Query(ge=1, le=5000)] = 200,
           offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0) -> dict[str, Any]:
    jobs = [p.store.get_job(run_id, "run")] if run_id is not None else list(p.store.iter_jobs("run"))
    entries: list[dict[str, Any]] = []
    counts: dict[str, int] = {}
    for job in jobs:
        for rec in p.ledger_records(job["id"]):
            k = str(rec.get("kind"))
            counts[k] = counts.get(k, 0) + 1
            if kind is None or k == kind:
                entries.append(_entry(job["id"], k, rec))
    entries.sort(key=lambda e: (e["time"] or "", e["seq"]), reverse=True)
    return {"items": entries[offset:offset + limit], "total": len(entries), "counts_by_kind": counts}
