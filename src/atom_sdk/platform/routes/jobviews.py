"""What the job routers answer with, written once: a job with its links, a page of jobs, telemetry
pages and Server-Sent Event streams, artifact lists and downloads; and what every POST shares
(the grid limit, refusing ``output_root``, inserting the queued job).
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from datetime import datetime
from typing import Any

from fastapi import Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, Response, StreamingResponse

from atom_sdk.errors import ConfigError
from atom_sdk.platform import jobfiles
from atom_sdk.platform.deps import JobPage
from atom_sdk.platform.errors import JobNotFoundError, LimitError
from atom_sdk.platform.security import Principal
from atom_sdk.platform.state import Platform
from atom_sdk.platform.store import TERMINAL_STATES

KIND_PATHS = {"run": "/api/v1/runs", "inverse_design": "/api/v1/inverse-design/jobs",
              "challenge": "/api/v1/challenges/supersonic/jobs", "validation": "/api/v1/jobs"}
SSE_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/event-stream": {"schema": {"type": "string"}}},
          "description": "Server-Sent Events: 'telemetry' (one JSON line each, id = cursor), "
                         "'state' (job state changes), 'end' (job finished or time limit)"}}
FILE_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
          "description": "the artifact's bytes"}}


#: Fields of ``models.Job`` (the store's dict also carries ``owner``, which the API never shows).
JOB_FIELDS = ("id", "kind", "state", "name", "params", "created_at", "started_at", "finished_at", "updated_at",
              "progress", "cancel_requested", "control", "attempts", "resume", "error", "result")
#: What the jobs table of the UI reads from ``params`` of a run: a summary keeps only these.
SUMMARY_CONFIG_KEYS = ("name", "variant", "seed", "steps")


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        text = value.isoformat()
        return text[:-6] + "Z" if text.endswith("+00:00") else text  # as pydantic writes UTC
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def fast_json(data: dict[str, Any], status_code: int = 200) -> Response | dict[str, Any]:
    """A JSON response of data that is already valid for the route's ``response_model``.

    Why: the read endpoints' rows come from the store, which validated them on the way in;
    validating them again into pydantic models and serialising those cost more CPU per request
    than the query (the route keeps ``response_model`` for its OpenAPI schema). Data holding a
    NaN or infinity goes back to FastAPI as a dict, whose serialiser writes those as null.
    """
    try:
        body = json.dumps(data, default=_json_default, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    except ValueError:
        return data
    return Response(body.encode("utf-8"), status_code=status_code, media_type="application/json")


def summary_params(job: dict[str, Any]) -> dict[str, Any]:
    """``params`` cut to what a listing shows (world name, variant, seed, name and steps of a run)."""
    params = job["params"]
    config = params.get("config")
    if not isinstance(config, dict):
        return {k: v for k, v in params.items() if not isinstance(v, (dict, list))}
    world = config.get("world") if isinstance(config.get("world"), dict) else {}
    short = {k: config[k] for k in SUMMARY_CONFIG_KEYS if k in config}
    short["world"] = {"name": world.get("name")}
    return {"config": short, **({"geometry_id": params["geometry_id"]} if params.get("geometry_id") else {})}


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
    return {**{k: job[k] for k in JOB_FIELDS}, "links": links}


def enqueue(p: Platform, kind: str, name: str, params: dict[str, Any], who: Principal) -> dict[str, Any]:
    return job_out(p.store.add_job(kind, name, params, who.key_id, max_queue=p.settings.max_queue,
                                   max_per_owner=p.settings.max_jobs_per_key))


def check_grid(p: Platform, grid: Any, what: str) -> None:
    cells = math.prod(int(n) for n in grid)
    if cells > p.settings.max_grid_cells:
        raise LimitError(f"{what} has {cells} cells; this server allows at most {p.settings.max_grid_cells} "
                         "(reduce the grid)")


def without_output_root(model: Any, field: str) -> dict[str, Any]:
    """The request model as JSON without ``output_root``, which the server refuses when it is given."""
    if "output_root" in model.model_fields_set:
        raise ConfigError(f"{field}.output_root is not accepted by the server: every job writes into its own folder "
                          "of the server's workspace; drop the key")
    data = model.model_dump(mode="json")
    data.pop("output_root", None)
    return data


def jobs_page(p: Platform, kind: str | None, page: JobPage, fields: str = "full") -> dict[str, Any]:
    """A page of jobs; ``fields="summary"`` cuts each job's ``params`` to what a listing shows."""
    items, total = p.store.list_jobs(kind, page.state, page.limit, page.offset)
    out = [job_out(j) for j in items]
    if fields == "summary":
        for job in out:
            job["params"] = summary_params(job)
    return {"items": out, "total": total, "limit": page.limit, "offset": page.offset}


def telemetry_page(p: Platform, job_id: str, kind: str | None, after: int, limit: int) -> dict[str, Any]:
    job = p.store.get_job(job_id, kind)
    items, cursor = jobfiles.read_lines(p.job_dir(job_id) / jobfiles.TELEMETRY, after, limit)
    done = job["state"] in TERMINAL_STATES and len(items) < limit
    return {"job_id": job_id, "state": job["state"], "items": items, "next_cursor": cursor, "done": done}


def telemetry_stream(request: Request, p: Platform, job_id: str, kind: str | None, after: int, max_seconds: float,
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


def artifact_list(p: Platform, job_id: str, kind: str | None) -> dict[str, Any]:
    p.store.get_job(job_id, kind)
    return {"job_id": job_id, "items": jobfiles.list_artifacts(p.job_dir(job_id))}


def artifact_download(p: Platform, job_id: str, kind: str | None, path: str, download: bool) -> FileResponse:
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
