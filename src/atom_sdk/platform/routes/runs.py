"""Closed-loop runs: launch, list, read (summary, laws, safety), cancel, resume, telemetry, the
field snapshot behind the heat-map, and artifacts.

A POST validates the run's config with the library's own models and the server's limits (grid
cells, steps, the world's own parameter checks) and inserts a queued job (202) that a worker
process executes.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Header, Request
from fastapi.responses import FileResponse, StreamingResponse

from atom_sdk.errors import ConfigError, WorldNotFoundError
from atom_sdk.platform import jobfiles
from atom_sdk.platform import models
from atom_sdk.platform.deps import (After, ArtifactPath, JobId, JobPageDep, Limit, MaxSeconds, PlatformDep,
                                    ReaderDep, WriterDep)
from atom_sdk.platform.errors import JobNotFoundError, LimitError
from atom_sdk.platform.routes import jobviews

router = APIRouter(prefix="/api/v1", tags=["runs"])


def _check_world_params(config: Any, data: dict[str, Any]) -> None:
    """The world's own checks (tau, Mach, grid) on the run's parameters, without building the world."""
    from atom_sdk.worlds import world_class
    from atom_sdk.worlds.base import parse_params

    try:
        cls = world_class(config.world.name)
    except WorldNotFoundError as exc:
        raise ConfigError(str(exc)) from None
    checker = getattr(cls, "check_config", None)
    params_model = getattr(cls, "Params", None)
    if checker is not None:
        checker(tuple(config.world.grid), config.world.dtype, config.world.max_episode_steps, **data["world"]["params"])
    elif params_model is not None:
        parse_params(params_model, data["world"]["params"], config.world.name)


@router.post("/runs", response_model=models.Job, status_code=202, summary="Launch a closed-loop run")
def create_run(body: models.RunRequest, p: PlatformDep, who: WriterDep) -> dict[str, Any]:
    config = body.config
    data = jobviews.without_output_root(config, "config")
    jobviews.check_grid(p, config.world.grid, "the run's grid")
    if config.steps > p.settings.max_steps:
        raise LimitError(f"steps={config.steps}; this server allows at most {p.settings.max_steps} steps per run")
    if body.geometry_id is not None:
        from atom_sdk.platform.geometries import scaled_cylinder_params

        if config.world.name != "lbm2d:cylinder":
            raise ConfigError("geometry_id applies to the 'lbm2d:cylinder' world only; drop it or change world.name")
        data["world"]["params"].update(scaled_cylinder_params(p.geometry_properties(body.geometry_id),
                                                              tuple(config.world.grid)))
    _check_world_params(config, data)
    return jobviews.enqueue(p, "run", config.name, {"config": data, "geometry_id": body.geometry_id}, who)


@router.get("/runs", response_model=models.JobList, summary="List runs")
def list_runs(p: PlatformDep, page: JobPageDep, _r: ReaderDep) -> dict[str, Any]:
    return jobviews.jobs_page(p, "run", page)


@router.get("/runs/{run_id}", response_model=models.RunDetail, summary="One run with its summary, laws and safety report")
def get_run(run_id: JobId, p: PlatformDep, _r: ReaderDep) -> dict[str, Any]:
    job = jobviews.job_out(p.store.get_job(run_id, "run"))
    results_path = p.job_dir(run_id) / "results.json"
    if job["state"] == "succeeded" and results_path.is_file():
        results = json.loads(results_path.read_text(encoding="utf-8"))
        return {**job, "summary": results.get("summary"), "laws": results.get("laws") or [],
                "safety": results.get("safety")}
    accepted = [r for r in p.ledger_records(run_id) if r.get("kind") == "accepted"]
    laws = list(accepted[-1].get("equations", [])) if accepted else []
    return {**job, "summary": None, "laws": laws, "safety": None}


@router.post("/runs/{run_id}/cancel", response_model=models.Job, summary="Cancel a run")
def cancel_run(run_id: JobId, p: PlatformDep, _w: WriterDep) -> dict[str, Any]:
    return jobviews.job_out(p.store.request_cancel(run_id, "run"))


@router.post("/runs/{run_id}/resume", response_model=models.Job, summary="Resume an interrupted run from its checkpoint")
def resume_run(run_id: JobId, p: PlatformDep, _w: WriterDep) -> dict[str, Any]:
    return jobviews.job_out(p.store.requeue(run_id, "run"))


@router.get("/runs/{run_id}/telemetry", response_model=models.TelemetryPage,
            summary="Run telemetry (step, update and safety lines) after a cursor")
def run_telemetry(run_id: JobId, p: PlatformDep, _r: ReaderDep, after: After = 0, limit: Limit = 500) -> dict[str, Any]:
    return jobviews.telemetry_page(p, run_id, "run", after, limit)


@router.get("/runs/{run_id}/telemetry/stream", responses=jobviews.SSE_RESPONSES, response_model=None,
            summary="Run telemetry as Server-Sent Events")
def run_telemetry_stream(request: Request, run_id: JobId, p: PlatformDep, _r: ReaderDep, after: After = 0,
                         max_seconds: MaxSeconds = 600.0,
                         last_event_id: Annotated[str | None, Header(max_length=20)] = None) -> StreamingResponse:
    return jobviews.telemetry_stream(request, p, run_id, "run", after, max_seconds, last_event_id)


@router.get("/runs/{run_id}/field", response_model=models.FieldSnapshot,
            summary="Downsampled snapshot of the run's current field (for the heat-map)")
def run_field(run_id: JobId, p: PlatformDep, _r: ReaderDep) -> dict[str, Any]:
    p.store.get_job(run_id, "run")
    path = p.job_dir(run_id) / jobfiles.FIELD
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise JobNotFoundError(f"run '{run_id}' has no field snapshot yet; it is written once the run steps") from None
    return {"job_id": run_id, **data}


@router.get("/runs/{run_id}/artifacts", response_model=models.ArtifactList, summary="Files of a run")
def run_artifacts(run_id: JobId, p: PlatformDep, _r: ReaderDep) -> dict[str, Any]:
    return jobviews.artifact_list(p, run_id, "run")


@router.get("/runs/{run_id}/artifacts/{path:path}", responses=jobviews.FILE_RESPONSES, response_model=None,
            summary="Download one artifact of a run")
def run_artifact(run_id: JobId, path: ArtifactPath, p: PlatformDep, _r: ReaderDep,
                 download: bool = False) -> FileResponse:
    return jobviews.artifact_download(p, run_id, "run", path, download)
