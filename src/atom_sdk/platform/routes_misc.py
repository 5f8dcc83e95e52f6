"""Read-mostly endpoints: worlds, geometries, the studio catalog, runtime view, ledger and assistant."""

from __future__ import annotations

import json
import time
from typing import Any

from fastapi import APIRouter, Depends, File, Form, Path, Query, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from atom_sdk.artifacts import atomic_write_bytes, write_json
from atom_sdk.platform import models as m
from atom_sdk.platform.errors import GeometryError, JobNotFoundError
from atom_sdk.platform.security import Principal
from atom_sdk.platform.service import Platform, platform, reader, writer
from atom_sdk.platform.store import Geometry, new_id, utcnow
from atom_sdk.worlds.registry import describe_worlds

router = APIRouter(prefix="/api/v1")
_worlds_cache: dict[str, Any] = {}


# ---------------------------------------------------------------------------- worlds
@router.get("/worlds", response_model=m.WorldList, tags=["worlds"], summary="Registered worlds with parameter schemas")
async def worlds(_r: None = Depends(reader)) -> dict[str, Any]:
    if "rows" not in _worlds_cache:  # importing the world modules costs a second once
        _worlds_cache["rows"] = await run_in_threadpool(describe_worlds)
    return {"worlds": _worlds_cache["rows"]}


# ---------------------------------------------------------------------------- geometries
def _geometry_out(row: Geometry) -> dict[str, Any]:
    props = json.loads(row.properties)
    return {"id": row.id, "name": row.name, "source": row.source, "created_at": row.created_at,
            "mask_url": f"/api/v1/geometries/{row.id}/mask.png", **props}


def load_geometry(p: Platform, geometry_id: str) -> dict[str, Any]:
    with p.store.session() as s:
        row = s.get(Geometry, geometry_id)
        if row is None:
            raise JobNotFoundError(f"geometry '{geometry_id}' does not exist; list them with GET /api/v1/geometries")
        return json.loads(row.properties)


@router.get("/geometries", response_model=m.GeometryList, tags=["geometries"], summary="Uploaded body shapes")
def list_geometries(request: Request, _r: None = Depends(reader)) -> dict[str, Any]:
    from sqlalchemy import select

    with platform(request).store.session() as s:
        rows = s.scalars(select(Geometry).order_by(Geometry.created_at.desc()).limit(500)).all()
        return {"items": [_geometry_out(r) for r in rows]}


@router.post("/geometries/upload", response_model=m.GeometryInfo, status_code=201, tags=["geometries"],
             summary="Upload a body for the cylinder channel: a polygon (JSON points) or a PNG mask")
async def upload_geometry(request: Request, name: str = Form(..., min_length=1, max_length=128),
                          polygon: str | None = Form(None, max_length=65536, description="JSON [[x, y], ...] in cells"),
                          grid: str | None = Form(None, max_length=64, description="'nx,ny' for a polygon (default "
                                                  "96,34)"),
                          file: UploadFile | None = File(None, description="PNG mask: dark pixels are solid"),
                          who: Principal = Depends(writer)) -> dict[str, Any]:
    from atom_sdk.platform import geometries as geo

    p = platform(request)
    from atom_sdk.workspace import name_problem

    problem = name_problem(name)
    if problem is not None:
        raise GeometryError(f"geometry name {problem}; use a short plain name such as 'wing-2'")
    if (polygon is None) == (file is None):
        raise GeometryError("send exactly one of 'polygon' (JSON points) or 'file' (PNG mask)")
    if file is not None:
        data = await file.read(p.settings.max_body_bytes + 1)
        mask = await run_in_threadpool(geo.decode_mask, data)
        source = "mask"
    else:
        try:
            nx, ny = (int(v) for v in (grid or "96,34").split(","))
        except ValueError:
            raise GeometryError("grid must be 'nx,ny', e.g. 96,34") from None
        if not (geo.MIN_SIDE <= nx <= geo.MAX_SIDE and geo.MIN_SIDE <= ny <= geo.MAX_SIDE):
            raise GeometryError(f"grid sides must be {geo.MIN_SIDE} to {geo.MAX_SIDE} cells")
        mask = await run_in_threadpool(geo.rasterize_polygon, geo.parse_polygon(polygon or ""), (nx, ny))
        source = "polygon"
    props = geo.analyse(mask)
    gid = new_id("geo")
    folder = p.settings.geometries_dir / gid
    atomic_write_bytes(folder / "mask.png", geo.mask_png(mask))
    write_json(folder / "geometry.json", {"name": name, "source": source, **props})
    with p.store.session() as s, s.begin():
        row = Geometry(id=gid, name=name, source=source, created_at=utcnow(), owner=who.key_id,
                       properties=json.dumps(props))
        s.add(row)
    return _geometry_out(row)


@router.get("/geometries/{geometry_id}", response_model=m.GeometryInfo, tags=["geometries"], summary="One geometry")
def get_geometry(request: Request, geometry_id: str = Path(..., max_length=64), _r: None = Depends(reader)
                 ) -> dict[str, Any]:
    with platform(request).store.session() as s:
        row = s.get(Geometry, geometry_id)
        if row is None:
            raise JobNotFoundError(f"geometry '{geometry_id}' does not exist; list them with GET /api/v1/geometries")
        return _geometry_out(row)


@router.get("/geometries/{geometry_id}/mask.png", tags=["geometries"], response_model=None,
            responses={200: {"content": {"image/png": {"schema": {"type": "string", "format": "binary"}}},
                             "description": "the body mask (black = solid, top row = top wall)"}},
            summary="The geometry's mask as a PNG")
def geometry_mask(request: Request, geometry_id: str = Path(..., max_length=64), _r: None = Depends(reader)) -> Response:
    p = platform(request)
    load_geometry(p, geometry_id)
    return Response((p.settings.geometries_dir / geometry_id / "mask.png").read_bytes(), media_type="image/png")


# ---------------------------------------------------------------------------- catalog and runtime
@router.get("/studio/catalog", response_model=m.Catalog, tags=["studio"],
            summary="Ready-made experiments: each is the exact body of a POST to its endpoint")
def catalog(_r: None = Depends(reader)) -> dict[str, Any]:
    from atom_sdk.platform.catalog import templates

    if "catalog" not in _worlds_cache:
        _worlds_cache["catalog"] = templates()
    return {"templates": _worlds_cache["catalog"]}


def _recent_safety(p: Platform, limit: int = 20) -> list[dict[str, Any]]:
    items, _ = p.store.list_jobs("run", None, 10, 0)
    events = []
    for job in items:
        for event in p.safety_events(job["id"])[-limit:]:
            events.append({"job_id": job["id"], **event})
    events.sort(key=lambda e: (e.get("line", 0)), reverse=True)
    return events[:limit]


@router.get("/runtime/telemetry", response_model=m.RuntimeTelemetry, tags=["runtime"],
            summary="Queue depth, workers, jobs by state and recent safety events")
def runtime(request: Request, _r: None = Depends(reader)) -> dict[str, Any]:
    p = platform(request)
    counts = p.store.counts_by_state()
    return {"queue_depth": counts.get("queued", 0), "max_queue": p.settings.max_queue,
            "workers_expected": p.workers_expected(), "workers_alive": p.workers_alive(),
            "worker_pids": p.pool.pids() if p.pool is not None else [], "jobs_by_state": counts,
            "recent_safety_events": _recent_safety(p), "uptime_seconds": time.monotonic() - p.started}


# ---------------------------------------------------------------------------- ledger and assistant
@router.get("/ledger", response_model=m.LedgerPage, tags=["science"],
            summary="Every hypothesis the scientist considered, across runs")
def ledger(request: Request, run_id: str | None = Query(None, max_length=64),
           kind: str | None = Query(None, pattern="^(candidate|accepted|rejected)$"),
           limit: int = Query(200, ge=1, le=5000), offset: int = Query(0, ge=0, le=10_000_000),
           _r: None = Depends(reader)) -> dict[str, Any]:
    p = platform(request)
    if run_id is not None:
        jobs = [p.store.get_job(run_id, "run")]
    else:
        jobs = list(p.store.iter_jobs("run"))
    entries: list[dict[str, Any]] = []
    counts: dict[str, int] = {}
    for job in jobs:
        for rec in p.ledger_records(job["id"]):
            k = str(rec.get("kind"))
            counts[k] = counts.get(k, 0) + 1
            if kind is None or k == kind:
                entries.append({"job_id": job["id"], "seq": int(rec.get("seq", 0)), "kind": k, "time": rec.get("time"),
                                "run_name": rec.get("run_id"), "step": rec.get("step"),
                                "equations": rec.get("equations") or [], "scores": rec.get("scores") or {},
                                "reasons": [str(r) for r in rec.get("reasons") or []]})
    entries.sort(key=lambda e: (e["time"] or "", e["seq"]), reverse=True)
    return {"items": entries[offset:offset + limit], "total": len(entries), "counts_by_kind": counts}


@router.post("/assistant/query", response_model=m.AssistantAnswer, tags=["science"],
             summary="Ask about runs, laws, safety and evidence; every statement is cited")
def assistant(request: Request, body: m.AssistantQuery, _r: None = Depends(reader)) -> dict[str, Any]:
    from atom_sdk.platform.assistant import Assistant

    p = platform(request)
    return Assistant(p.store, p.settings).answer(body.question, body.run_id, body.summarize)
