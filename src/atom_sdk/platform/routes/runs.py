"""Closed-loop runs: launch, list, read (summary, laws, safety), cancel, resume, telemetry, the
field snapshot behind the heat-map, and artifacts.

A POST validates the run's config with the library's own models and the server's limits (grid
cells, steps, the world's own parameter checks) and inserts a queued job (202) that a worker
process executes.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import FileResponse, StreamingResponse

from atom_sdk.errors import ConfigError, WorldNotFoundError
from atom_sdk.platform import jobfiles
from atom_sdk.platform import models
from atom_sdk.platform.deps import (After, ArtifactPath, JobId, JobPageDep, Limit, MaxSeconds, PlatformDep,
                                    ReaderDep, WriterDep)
from atom_sdk.platform.errors import JobNotFoundError, LimitError
from atom_sdk.platform.routes import jobviews
from atom_sdk.platform.routes.jobs import Fields

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
    from atom_sdk.platform.geometries import refuse_server_paths

    refuse_server_paths(data["world"]["params"], "config.world.params")
    if body.geometry_id is not None:
        from atom_sdk.platform.geometries import run_params

        data["world"]["params"].update(run_params(p.geometry_properties(body.geometry_id), config.world.name,
                                                  tuple(config.world.grid),
                                                  p.settings.geometries_dir / body.geometry_id))
    _check_world_params(config, data)
    return jobviews.enqueue(p, "run", config.name, {"config": data, "geometry_id": body.geometry_id}, who)


@router.get("/runs", response_model=models.JobList, summary="List runs")
def list_runs(p: PlatformDep, page: JobPageDep, _r: ReaderDep, fields: Fields = "full") -> Any:
    return jobviews.fast_json(jobviews.jobs_page(p, "run", page, fields))


@router.get("/runs/{run_id}", response_model=models.RunDetail, summary="One run with its summary, laws and safety report")
def get_run(run_id: JobId, p: PlatformDep, _r: ReaderDep) -> Any:
    job = jobviews.job_out(p.store.get_job(run_id, "run"))
    results_path = p.job_dir(run_id) / "results.json"
    if job["state"] == "succeeded" and results_path.is_file():
        results = json.loads(results_path.read_text(encoding="utf-8"))
        return jobviews.fast_json({**job, "summary": results.get("summary"), "laws": results.get("laws") or [],
                                   "safety": results.get("safety")})
    accepted = [r for r in p.ledger_records(run_id) if r.get("kind") == "accepted"]
    laws = list(accepted[-1].get("equations", [])) if accepted else []
    return jobviews.fast_json({**job, "summary": None, "laws": laws, "safety": None})


@router.post("/runs/{run_id}/cancel", response_model=models.Job, summary="Cancel a run")
def cancel_run(run_id: JobId, p: PlatformDep, _w: WriterDep) -> dict[str, Any]:
    return jobviews.job_out(p.store.request_cancel(run_id, "run"))


@router.post("/runs/{run_id}/resume", response_model=models.Job, summary="Resume an interrupted run from its checkpoint")
def resume_run(run_id: JobId, p: PlatformDep, _w: WriterDep) -> dict[str, Any]:
    return jobviews.job_out(p.store.requeue(run_id, "run"))


@router.get("/runs/{run_id}/telemetry", response_model=models.TelemetryPage,
            summary="Run telemetry (step, update and safety lines) after a cursor")
def run_telemetry(run_id: JobId, p: PlatformDep, _r: ReaderDep, after: After = 0, limit: Limit = 500) -> Any:
    return jobviews.fast_json(jobviews.telemetry_page(p, run_id, "run", after, limit))


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
def run_artifacts(run_id: JobId, p: PlatformDep, _r: ReaderDep) -> Any:
    return jobviews.fast_json(jobviews.artifact_list(p, run_id, "run"))


@router.get("/runs/{run_id}/artifacts/{path:path}", responses=jobviews.FILE_RESPONSES, response_model=None,
            summary="Download one artifact of a run")
def run_artifact(run_id: JobId, path: ArtifactPath, p: PlatformDep, _r: ReaderDep,
                 download: bool = False) -> FileResponse:
    return jobviews.artifact_download(p, run_id, "run", path, download)


# ---------------------------------------------------------------------------- the workspace's runs index
SORT_KEYS = ("created_at", "updated_at", "name", "world", "variant", "seed", "status", "mean_return", "mean_reward",
             "final_trust", "steps_done", "law")
RunKey = Annotated[str, Query(min_length=1, max_length=1024, description="a key from GET /api/v1/workspace/runs")]


def _index_rows(p: Any) -> list[dict[str, Any]]:
    from atom_sdk.platform import runindex

    s = p.settings
    return runindex.index(s.workspace, s.jobs_dir, p.store.iter_jobs("run"))


def _matches(row: dict[str, Any], q: str | None, world: str | None, variant: str | None, status: str | None) -> bool:
    if world and row["world"] != world or variant and row["variant"] != variant or status and row["status"] != status:
        return False
    if q:
        hay = " ".join(str(row[k] or "") for k in ("key", "name", "path", "world", "variant", "law", "status"))
        return all(word in hay.lower() for word in q.lower().split())
    return True


def _sort_value(row: dict[str, Any], key: str) -> tuple[int, Any]:
    value = row.get(key)
    return (1, "") if value is None else (0, value if isinstance(value, (int, float)) else str(value).lower())


@router.get("/workspace/runs", response_model=models.RunIndex,
            summary="Every run of the workspace (CLI, Python API and platform), filtered and sorted")
def workspace_runs(p: PlatformDep, _r: ReaderDep,
                   q: Annotated[str | None, Query(max_length=200, description="words that must all appear in the "
                                                  "key, name, path, world, variant, law or status")] = None,
                   world: Annotated[str | None, Query(max_length=128)] = None,
                   variant: Annotated[str | None, Query(max_length=64)] = None,
                   status: models.RunIndexStatus | None = None,
                   sort: Annotated[str, Query(pattern="^(" + "|".join(SORT_KEYS) + ")$")] = "created_at",
                   order: Annotated[str, Query(pattern="^(asc|desc)$")] = "desc",
                   limit: Annotated[int, Query(ge=1, le=5000)] = 500,
                   offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0) -> dict[str, Any]:
    rows = _index_rows(p)
    counts: dict[str, int] = {}
    for row in rows:
        counts[row["status"]] = counts.get(row["status"], 0) + 1
    picked = [r for r in rows if _matches(r, q, world, variant, status)]
    present = [r for r in picked if r.get(sort) is not None]
    present.sort(key=lambda r: _sort_value(r, sort), reverse=order == "desc")
    picked = present + [r for r in picked if r.get(sort) is None]  # rows without the value last, either order
    return {"items": picked[offset:offset + limit], "total": len(picked), "counts_by_status": counts,
            "worlds": sorted({r["world"] for r in rows if r["world"]}),
            "variants": sorted({r["variant"] for r in rows if r["variant"]})}


@router.get("/workspace/runs/curves", response_model=models.RunCurves,
            summary="Curves of several runs (reward, trust, episode return, diagnostics) for overlaying")
def workspace_run_curves(p: PlatformDep, _r: ReaderDep, run: Annotated[list[str], Query(
                             min_length=1, max_length=12, description="run keys (repeat the parameter, 1 to 12)")],
                         max_points: Annotated[int, Query(ge=10, le=20_000)] = 1000,
                         curve: Annotated[list[str] | None, Query(max_length=32, description="only these curves "
                                                                  "(default: all)")] = None) -> dict[str, Any]:
    from atom_sdk.platform import runcurves, runindex

    s = p.settings
    out = []
    for key in run:
        if len(key) > 1024:
            raise ConfigError("a run key is at most 1024 characters; take keys from GET /api/v1/workspace/runs")
        found = runindex.resolve_key(s.workspace, s.jobs_dir, key)
        if found.job_id is not None:
            name = p.store.get_job(found.job_id, "run")["name"]
        elif runindex.is_run_folder(found.path):
            name = found.path.name
        else:
            raise JobNotFoundError(f"'{key}' is not a run folder of the workspace; take keys from "
                                   "GET /api/v1/workspace/runs")
        out.append({"key": key, "name": name, **runcurves.run_curves(found.path, max_points, curve)})
    return {"runs": out}
