"""Job endpoints: runs, world validation, inverse design, the supersonic challenge, and any job by id.

Every POST validates the request with the library's own models and limits, then inserts a queued
job (202) that a worker process executes; reads come from the store and the job's folder.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from typing import Any

from fastapi import APIRouter, Depends, Header, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, StreamingResponse

from atom_sdk.errors import AtomError, ConfigError, WorldNotFoundError
from atom_sdk.platform import jobfiles
from atom_sdk.platform import models as m
from atom_sdk.platform.errors import JobConflictError, JobNotFoundError, LimitError
from atom_sdk.platform.security import Principal
from atom_sdk.platform.service import Platform, platform, reader, writer
from atom_sdk.platform.store import TERMINAL_STATES

router = APIRouter(prefix="/api/v1")

KIND_PATHS = {"run": "/api/v1/runs", "inverse_design": "/api/v1/inverse-design/jobs",
              "challenge": "/api/v1/challenges/supersonic/jobs", "validation": "/api/v1/jobs"}
def _id() -> Any:
    return Path(..., min_length=1, max_length=64, description="job id as returned by the POST")
SSE_RESPONSES = {200: {"content": {"text/event-stream": {"schema": {"type": "string"}}},
                       "description": "Server-Sent Events: 'telemetry' (one JSON line each, id = cursor), "
                                      "'state' (job state changes), 'end' (job finished or time limit)"}}
FILE_RESPONSES = {200: {"content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
                        "description": "the artifact's bytes"}}


def job_out(job: dict[str, Any]) -> dict[str, Any]:
    base = f"{KIND_PATHS[job['kind']]}/{job['id']}"
    generic = f"/api/v1/jobs/{job['id']}"
    links = {"self": base, "telemetry": f"{generic}/telemetry", "stream": f"{generic}/telemetry/stream",
             "artifacts": f"{generic}/artifacts"}
    if job["kind"] == "run":
        links.update({"telemetry": f"{base}/telemetry", "stream": f"{base}/telemetry/stream",
                      "artifacts": f"{base}/artifacts", "field": f"{base}/field"})
    if job["kind"] == "challenge":
        links.update({"telemetry": f"{base}/telemetry", "timeline": f"{base}/timeline", "control": f"{base}/control"})
    return {**job, "links": links}


def _enqueue(p: Platform, kind: str, name: str, params: dict[str, Any], who: Principal) -> dict[str, Any]:
    return job_out(p.store.add_job(kind, name, params, who.key_id, max_queue=p.settings.max_queue,
                                   max_per_owner=p.settings.max_jobs_per_key))


def _check_grid(p: Platform, grid: Any, what: str) -> None:
    cells = math.prod(int(n) for n in grid)
    if cells > p.settings.max_grid_cells:
        raise LimitError(f"{what} has {cells} cells; this server allows at most {p.settings.max_grid_cells} "
                         "(reduce the grid)")


def _jobs_page(p: Platform, kind: str | None, state: str | None, limit: int, offset: int) -> dict[str, Any]:
    items, total = p.store.list_jobs(kind, state, limit, offset)
    return {"items": [job_out(j) for j in items], "total": total, "limit": limit, "offset": offset}


# ---------------------------------------------------------------------------- any job
@router.get("/jobs", response_model=m.JobList, tags=["jobs"], summary="List jobs of every kind")
def list_jobs(request: Request, kind: m.JobKind | None = None, state: m.JobState | None = None,
              limit: int = Query(50, ge=1, le=500), offset: int = Query(0, ge=0, le=1_000_000),
              _r: None = Depends(reader)) -> dict[str, Any]:
    return _jobs_page(platform(request), kind, state, limit, offset)


@router.get("/jobs/{job_id}", response_model=m.Job, tags=["jobs"], summary="One job of any kind")
def get_job(request: Request, job_id: str = _id(), _r: None = Depends(reader)) -> dict[str, Any]:
    return job_out(platform(request).store.get_job(job_id))


@router.post("/jobs/{job_id}/cancel", response_model=m.Job, tags=["jobs"], summary="Cancel a job of any kind")
def cancel_job(request: Request, job_id: str = _id(), who: Principal = Depends(writer)) -> dict[str, Any]:
    return job_out(platform(request).store.request_cancel(job_id))


@router.post("/jobs/{job_id}/resume", response_model=m.Job, tags=["jobs"],
             summary="Queue an interrupted or failed job again (runs continue from their checkpoint)")
def resume_job(request: Request, job_id: str = _id(), who: Principal = Depends(writer)) -> dict[str, Any]:
    return job_out(platform(request).store.requeue(job_id))


def _telemetry(p: Platform, job_id: str, kind: str | None, after: int, limit: int) -> dict[str, Any]:
    job = p.store.get_job(job_id, kind)
    items, cursor = jobfiles.read_lines(p.job_dir(job_id) / jobfiles.TELEMETRY, after, limit)
    done = job["state"] in TERMINAL_STATES and len(items) < limit
    return {"job_id": job_id, "state": job["state"], "items": items, "next_cursor": cursor, "done": done}


def _after() -> Any:
    return Query(0, ge=0, le=100_000_000, description="return lines after this cursor (next_cursor of the last page)")


def _limit() -> Any:
    return Query(500, ge=1, le=5000)


@router.get("/jobs/{job_id}/telemetry", response_model=m.TelemetryPage, tags=["jobs"],
            summary="Telemetry lines of any job, incrementally")
def job_telemetry(request: Request, job_id: str = _id(), after: int = _after(), limit: int = _limit(),
                  _r: None = Depends(reader)) -> dict[str, Any]:
    return _telemetry(platform(request), job_id, None, after, limit)


def _stream(request: Request, p: Platform, job_id: str, kind: str | None, after: int, max_seconds: float,
            last_event_id: str | None) -> StreamingResponse:
    p.store.get_job(job_id, kind)  # 404 before the stream starts
    if last_event_id and last_event_id.isdigit():
        after = int(last_event_id)
    path = p.job_dir(job_id) / jobfiles.TELEMETRY

    async def events() -> Any:
        cursor, state, deadline, beat = after, None, time.monotonic() + max_seconds, time.monotonic()
        yield "retry: 2000\n\n"
        while True:
            items, cursor = await run_in_threadpool(jobfiles.read_lines, path, cursor, 500)
            for item in items:
                yield f"id: {item['line'] + 1}\nevent: telemetry\ndata: {json.dumps(item)}\n\n"
            job = await run_in_threadpool(p.store.get_job, job_id)
            if job["state"] != state:
                state = job["state"]
                yield f"event: state\ndata: {json.dumps({'state': state, 'progress': job['progress']})}\n\n"
            if state in TERMINAL_STATES and not items:
                yield f"event: end\ndata: {json.dumps({'state': state, 'cursor': cursor})}\n\n"
                return
            if time.monotonic() > deadline:
                yield f"event: end\ndata: {json.dumps({'state': state, 'cursor': cursor, 'reason': 'time limit'})}\n\n"
                return
            if await request.is_disconnected():
                return
            if time.monotonic() - beat > 15:
                beat = time.monotonic()
                yield ": keep-alive\n\n"
            if not items:
                await asyncio.sleep(0.5)

    return StreamingResponse(events(), media_type="text/event-stream",
                             headers={"cache-control": "no-cache", "x-accel-buffering": "no"})


def _max_seconds() -> Any:
    return Query(600.0, gt=0, le=3600, description="close the stream after this many seconds")


@router.get("/jobs/{job_id}/telemetry/stream", tags=["jobs"], responses=SSE_RESPONSES, response_model=None,
            summary="Telemetry of any job as Server-Sent Events")
def job_telemetry_stream(request: Request, job_id: str = _id(), after: int = _after(), max_seconds: float = _max_seconds(),
                         last_event_id: str | None = Header(None, max_length=20), _r: None = Depends(reader)
                         ) -> StreamingResponse:
    return _stream(request, platform(request), job_id, None, after, max_seconds, last_event_id)


def _artifacts(p: Platform, job_id: str, kind: str | None) -> dict[str, Any]:
    p.store.get_job(job_id, kind)
    return {"job_id": job_id, "items": jobfiles.list_artifacts(p.job_dir(job_id))}


def _download(p: Platform, job_id: str, kind: str | None, path: str, download: bool) -> FileResponse:
    p.store.get_job(job_id, kind)
    root = p.job_dir(job_id)
    if not root.is_dir():
        raise JobNotFoundError(f"job '{job_id}' has no artifacts yet; wait until it has started")
    file = jobfiles.artifact_file(root, path)
    media = jobfiles.media_type(file)
    inline = media in jobfiles.INLINE_TYPES and not download
    return FileResponse(file, media_type=media, filename=file.name,
                        content_disposition_type="inline" if inline else "attachment",
                        headers={"content-security-policy": "sandbox; default-src 'none'"})


@router.get("/jobs/{job_id}/artifacts", response_model=m.ArtifactList, tags=["jobs"],
            summary="Files a job has written")
def job_artifacts(request: Request, job_id: str = _id(), _r: None = Depends(reader)) -> dict[str, Any]:
    return _artifacts(platform(request), job_id, None)


@router.get("/jobs/{job_id}/artifacts/{path:path}", tags=["jobs"], responses=FILE_RESPONSES, response_model=None,
            summary="Download one artifact of any job")
def job_artifact(request: Request, job_id: str = _id(), path: str = Path(..., max_length=1024),
                 download: bool = False, _r: None = Depends(reader)) -> FileResponse:
    return _download(platform(request), job_id, None, path, download)


# ---------------------------------------------------------------------------- runs
@router.post("/runs", response_model=m.Job, status_code=202, tags=["runs"], summary="Launch a closed-loop run")
def create_run(request: Request, body: m.RunRequest, who: Principal = Depends(writer)) -> dict[str, Any]:
    from atom_sdk.worlds import world_class
    from atom_sdk.worlds.base import parse_params

    p = platform(request)
    config = body.config
    if "output_root" in config.model_fields_set:
        raise ConfigError("config.output_root is not accepted by the server: every job writes into its own folder "
                          "of the server's workspace; drop the key")
    _check_grid(p, config.world.grid, "the run's grid")
    if config.steps > p.settings.max_steps:
        raise LimitError(f"steps={config.steps}; this server allows at most {p.settings.max_steps} steps per run")
    data = config.model_dump(mode="json")
    data.pop("output_root", None)
    if body.geometry_id is not None:
        from atom_sdk.platform.geometries import scaled_cylinder_params
        from atom_sdk.platform.routes_misc import load_geometry

        if config.world.name != "lbm2d:cylinder":
            raise ConfigError("geometry_id applies to the 'lbm2d:cylinder' world only; drop it or change world.name")
        data["world"]["params"].update(scaled_cylinder_params(load_geometry(p, body.geometry_id),
                                                              tuple(config.world.grid)))
    try:
        cls = world_class(config.world.name)
    except WorldNotFoundError as exc:
        raise ConfigError(str(exc)) from None
    checker = getattr(cls, "check_config", None)
    params_model = getattr(cls, "Params", None)
    if checker is not None:  # the same checks as the constructor (tau, Mach, grid), without building the world
        checker(tuple(config.world.grid), config.world.dtype, config.world.max_episode_steps, **data["world"]["params"])
    elif params_model is not None:
        parse_params(params_model, data["world"]["params"], config.world.name)
    return _enqueue(p, "run", config.name, {"config": data, "geometry_id": body.geometry_id}, who)


@router.get("/runs", response_model=m.JobList, tags=["runs"], summary="List runs")
def list_runs(request: Request, state: m.JobState | None = None, limit: int = Query(50, ge=1, le=500),
              offset: int = Query(0, ge=0, le=1_000_000), _r: None = Depends(reader)) -> dict[str, Any]:
    return _jobs_page(platform(request), "run", state, limit, offset)


@router.get("/runs/{run_id}", response_model=m.RunDetail, tags=["runs"],
            summary="One run with its summary, laws and safety report")
def get_run(request: Request, run_id: str = _id(), _r: None = Depends(reader)) -> dict[str, Any]:
    p = platform(request)
    job = job_out(p.store.get_job(run_id, "run"))
    results_path = p.job_dir(run_id) / "results.json"
    if job["state"] == "succeeded" and results_path.is_file():
        results = json.loads(results_path.read_text(encoding="utf-8"))
        return {**job, "summary": results.get("summary"), "laws": results.get("laws") or [],
                "safety": results.get("safety")}
    accepted = [r for r in p.ledger_records(run_id) if r.get("kind") == "accepted"]
    laws = list(accepted[-1].get("equations", [])) if accepted else []
    return {**job, "summary": None, "laws": laws, "safety": None}


@router.post("/runs/{run_id}/cancel", response_model=m.Job, tags=["runs"], summary="Cancel a run")
def cancel_run(request: Request, run_id: str = _id(), who: Principal = Depends(writer)) -> dict[str, Any]:
    return job_out(platform(request).store.request_cancel(run_id, "run"))


@router.post("/runs/{run_id}/resume", response_model=m.Job, tags=["runs"],
             summary="Resume an interrupted run from its checkpoint")
def resume_run(request: Request, run_id: str = _id(), who: Principal = Depends(writer)) -> dict[str, Any]:
    return job_out(platform(request).store.requeue(run_id, "run"))


@router.get("/runs/{run_id}/telemetry", response_model=m.TelemetryPage, tags=["runs"],
            summary="Run telemetry (step, update and safety lines) after a cursor")
def run_telemetry(request: Request, run_id: str = _id(), after: int = _after(), limit: int = _limit(),
                  _r: None = Depends(reader)) -> dict[str, Any]:
    return _telemetry(platform(request), run_id, "run", after, limit)


@router.get("/runs/{run_id}/telemetry/stream", tags=["runs"], responses=SSE_RESPONSES, response_model=None,
            summary="Run telemetry as Server-Sent Events")
def run_telemetry_stream(request: Request, run_id: str = _id(), after: int = _after(), max_seconds: float = _max_seconds(),
                         last_event_id: str | None = Header(None, max_length=20), _r: None = Depends(reader)
                         ) -> StreamingResponse:
    return _stream(request, platform(request), run_id, "run", after, max_seconds, last_event_id)


@router.get("/runs/{run_id}/field", response_model=m.FieldSnapshot, tags=["runs"],
            summary="Downsampled snapshot of the run's current field (for the heat-map)")
def run_field(request: Request, run_id: str = _id(), _r: None = Depends(reader)) -> dict[str, Any]:
    p = platform(request)
    p.store.get_job(run_id, "run")
    path = p.job_dir(run_id) / jobfiles.FIELD
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise JobNotFoundError(f"run '{run_id}' has no field snapshot yet; it is written once the run steps") from None
    return {"job_id": run_id, **data}


@router.get("/runs/{run_id}/artifacts", response_model=m.ArtifactList, tags=["runs"], summary="Files of a run")
def run_artifacts(request: Request, run_id: str = _id(), _r: None = Depends(reader)) -> dict[str, Any]:
    return _artifacts(platform(request), run_id, "run")


@router.get("/runs/{run_id}/artifacts/{path:path}", tags=["runs"], responses=FILE_RESPONSES, response_model=None,
            summary="Download one artifact of a run")
def run_artifact(request: Request, run_id: str = _id(), path: str = Path(..., max_length=1024),
                 download: bool = False, _r: None = Depends(reader)) -> FileResponse:
    return _download(platform(request), run_id, "run", path, download)


# ---------------------------------------------------------------------------- worlds
@router.post("/worlds/{world}/validate", response_model=m.Job, status_code=202, tags=["worlds"],
             summary="Run a world's physics validation cases as a job")
def validate_world(request: Request, body: m.ValidationRequest | None = None,
                   world: str = Path(..., max_length=128), who: Principal = Depends(writer)) -> dict[str, Any]:
    from atom_sdk.worlds import get_spec

    get_spec(world)  # 404 for an unknown world
    include_slow = bool(body.include_slow) if body is not None else False
    return _enqueue(platform(request), "validation", f"validate {world}", {"world": world, "include_slow": include_slow},
                    who)


# ---------------------------------------------------------------------------- inverse design
@router.post("/inverse-design/jobs", response_model=m.Job, status_code=202, tags=["inverse design"],
             summary="Launch an inverse-design search")
def create_design(request: Request, body: m.DesignJobRequest, who: Principal = Depends(writer)) -> dict[str, Any]:
    from atom_sdk.design import resolve_spec

    p = platform(request)
    if "output_root" in body.spec.model_fields_set:
        raise ConfigError("spec.output_root is not accepted by the server: every job writes into its own folder "
                          "of the server's workspace; drop the key")
    spec = resolve_spec(body.spec)  # fills the problem's defaults; ConfigError (422) for unknown problems
    evaluations = spec.iterations * spec.population
    if evaluations > p.settings.max_design_evaluations:
        raise LimitError(f"iterations x population = {evaluations}; this server allows at most "
                         f"{p.settings.max_design_evaluations} evaluations per search")
    if spec.workers > 2:
        raise LimitError("workers > 2 is not allowed through the API; the server's worker pool already runs jobs "
                         "in parallel (set workers to 1 or 2)")
    _check_grid(p, spec.grid or (1, 1, 1), "the design grid")
    data = body.spec.model_dump(mode="json")
    data.pop("output_root", None)
    return _enqueue(p, "inverse_design", spec.name, {"spec": data}, who)


@router.get("/inverse-design/jobs", response_model=m.JobList, tags=["inverse design"], summary="List searches")
def list_designs(request: Request, state: m.JobState | None = None, limit: int = Query(50, ge=1, le=500),
                 offset: int = Query(0, ge=0, le=1_000_000), _r: None = Depends(reader)) -> dict[str, Any]:
    return _jobs_page(platform(request), "inverse_design", state, limit, offset)


@router.get("/inverse-design/spec-template", response_model=m.SpecTemplates, tags=["inverse design"],
            summary="Built-in problems with ready-to-edit specs, and the spec's JSON schema")
def spec_template(_r: None = Depends(reader)) -> dict[str, Any]:
    from atom_sdk.design import DesignSpec, list_problems

    return {"problems": list_problems(), "spec_schema": DesignSpec.model_json_schema()}


@router.get("/inverse-design/jobs/{job_id}", response_model=m.Job, tags=["inverse design"], summary="One search")
def get_design(request: Request, job_id: str = _id(), _r: None = Depends(reader)) -> dict[str, Any]:
    return job_out(platform(request).store.get_job(job_id, "inverse_design"))


# ---------------------------------------------------------------------------- supersonic challenge
@router.post("/challenges/supersonic/jobs", response_model=m.Job, status_code=202, tags=["challenge"],
             summary="Launch the supersonic shock-tracking challenge")
def create_challenge(request: Request, body: m.ChallengeRequest, who: Principal = Depends(writer)) -> dict[str, Any]:
    from atom_sdk.design.challenge import check_schedule, make_schedule

    p = platform(request)
    _check_grid(p, body.grid, "the challenge grid")
    if body.steps > p.settings.max_steps:
        raise LimitError(f"steps={body.steps}; this server allows at most {p.settings.max_steps}")
    if body.grid[2] != 1:
        raise ConfigError("the wedge world is 2-D; set grid to [nx, ny, 1]")
    try:
        check_schedule(make_schedule(body.schedule), body.mach)
    except AtomError:
        raise
    except (ValueError, ArithmeticError) as exc:
        raise ConfigError(f"mach {body.mach:g} or the schedule is not usable ({exc}); use 1.2 <= mach <= 6") from None
    return _enqueue(p, "challenge", f"supersonic M{body.mach:g}", body.model_dump(mode="json"), who)


@router.get("/challenges/supersonic/jobs", response_model=m.JobList, tags=["challenge"], summary="List challenge jobs")
def list_challenges(request: Request, state: m.JobState | None = None, limit: int = Query(50, ge=1, le=500),
                    offset: int = Query(0, ge=0, le=1_000_000), _r: None = Depends(reader)) -> dict[str, Any]:
    return _jobs_page(platform(request), "challenge", state, limit, offset)


@router.get("/challenges/supersonic/jobs/{job_id}", response_model=m.Job, tags=["challenge"],
            summary="One challenge job")
def get_challenge(request: Request, job_id: str = _id(), _r: None = Depends(reader)) -> dict[str, Any]:
    return job_out(platform(request).store.get_job(job_id, "challenge"))


@router.post("/challenges/supersonic/jobs/{job_id}/control", response_model=m.Job, tags=["challenge"],
             summary="Pause, resume or cancel a challenge job")
def control_challenge(request: Request, body: m.ControlRequest, job_id: str = _id(),
                      who: Principal = Depends(writer)) -> dict[str, Any]:
    store = platform(request).store
    if body.action == "cancel":
        return job_out(store.request_cancel(job_id, "challenge"))
    job = store.get_job(job_id, "challenge")
    if body.action == "resume" and job["state"] in ("interrupted", "failed"):
        return job_out(store.requeue(job_id, "challenge"))
    if job["state"] in ("interrupted",):
        raise JobConflictError(f"challenge '{job_id}' is interrupted; send action 'resume' to run it again")
    return job_out(store.set_control(job_id, "pause" if body.action == "pause" else "run", "challenge"))


@router.get("/challenges/supersonic/jobs/{job_id}/telemetry", response_model=m.TelemetryPage, tags=["challenge"],
            summary="Per-step target, measured shock angle and wedge angle after a cursor")
def challenge_telemetry(request: Request, job_id: str = _id(), after: int = _after(), limit: int = _limit(),
                        _r: None = Depends(reader)) -> dict[str, Any]:
    return _telemetry(platform(request), job_id, "challenge", after, limit)


@router.get("/challenges/supersonic/jobs/{job_id}/timeline", response_model=m.Timeline, tags=["challenge"],
            summary="Timeline events: started, target changes, pauses, safety, end")
def challenge_timeline(request: Request, job_id: str = _id(), _r: None = Depends(reader)) -> dict[str, Any]:
    p = platform(request)
    job = p.store.get_job(job_id, "challenge")
    events, _ = jobfiles.read_lines(p.job_dir(job_id) / jobfiles.TIMELINE, 0, 100_000)
    return {"job_id": job_id, "state": job["state"], "events": events}
