"""Any job by id, whatever its kind: list, read, cancel, resume, telemetry and artifacts."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import FileResponse, StreamingResponse

from atom_sdk.platform import models
from atom_sdk.platform.deps import (After, ArtifactPath, JobId, JobPageDep, Limit, MaxSeconds, PlatformDep,
                                    ReaderDep, WriterDep)
from atom_sdk.platform.routes import jobviews

router = APIRouter(prefix="/api/v1", tags=["jobs"])
#: ``?fields=summary`` lists jobs with ``params`` cut to what a table shows (cheaper to send and parse).
Fields = Annotated[Literal["full", "summary"], Query(description="'summary': params cut to a run's name, world "
                                                                 "name, variant, seed and steps")]


@router.get("/jobs", response_model=models.JobList, summary="List jobs of every kind")
def list_jobs(p: PlatformDep, page: JobPageDep, _r: ReaderDep, kind: models.JobKind | None = None,
              fields: Fields = "full") -> Any:
    return jobviews.fast_json(jobviews.jobs_page(p, kind, page, fields))


@router.get("/jobs/{job_id}", response_model=models.Job, summary="One job of any kind")
def get_job(job_id: JobId, p: PlatformDep, _r: ReaderDep) -> Any:
    return jobviews.fast_json(jobviews.job_out(p.store.get_job(job_id)))


@router.post("/jobs/{job_id}/cancel", response_model=models.Job, summary="Cancel a job of any kind")
def cancel_job(job_id: JobId, p: PlatformDep, _w: WriterDep) -> dict[str, Any]:
    return jobviews.job_out(p.store.request_cancel(job_id))


@router.post("/jobs/{job_id}/resume", response_model=models.Job,
             summary="Queue an interrupted, failed or cancelled job again (runs continue from their checkpoint)")
def resume_job(job_id: JobId, p: PlatformDep, _w: WriterDep) -> dict[str, Any]:
    return jobviews.job_out(p.store.requeue(job_id))


@router.get("/jobs/{job_id}/telemetry", response_model=models.TelemetryPage, summary="Telemetry lines of any job, incrementally")
def job_telemetry(job_id: JobId, p: PlatformDep, _r: ReaderDep, after: After = 0, limit: Limit = 500) -> Any:
    return jobviews.fast_json(jobviews.telemetry_page(p, job_id, None, after, limit))


@router.get("/jobs/{job_id}/telemetry/stream", responses=jobviews.SSE_RESPONSES, response_model=None,
            summary="Telemetry of any job as Server-Sent Events")
def job_telemetry_stream(request: Request, job_id: JobId, p: PlatformDep, _r: ReaderDep, after: After = 0,
                         max_seconds: MaxSeconds = 600.0,
                         last_event_id: Annotated[str | None, Header(max_length=20)] = None) -> StreamingResponse:
    return jobviews.telemetry_stream(request, p, job_id, None, after, max_seconds, last_event_id)


@router.get("/jobs/{job_id}/artifacts", response_model=models.ArtifactList, summary="Files a job has written")
def job_artifacts(job_id: JobId, p: PlatformDep, _r: ReaderDep) -> Any:
    return jobviews.fast_json(jobviews.artifact_list(p, job_id, None))


@router.get("/jobs/{job_id}/artifacts/{path:path}", responses=jobviews.FILE_RESPONSES, response_model=None,
            summary="Download one artifact of any job")
def job_artifact(job_id: JobId, path: ArtifactPath, p: PlatformDep, _r: ReaderDep,
                 download: bool = False) -> FileResponse:
    return jobviews.artifact_download(p, job_id, None, path, download)
