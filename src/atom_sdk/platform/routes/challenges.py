"""The supersonic shock-tracking challenge: launch (scripted PI, the trained agent, or the
do-nothing hold), list, read, live control (pause, resume, cancel), per-step telemetry and the
timeline of events."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from atom_sdk.errors import AtomError, ConfigError
from atom_sdk.platform import jobfiles
from atom_sdk.platform import models
from atom_sdk.platform.deps import After, JobId, JobPageDep, Limit, PlatformDep, ReaderDep, WriterDep
from atom_sdk.platform.errors import JobConflictError, LimitError
from atom_sdk.platform.routes import jobviews

router = APIRouter(prefix="/api/v1/challenges/supersonic/jobs", tags=["challenge"])


@router.post("", response_model=models.Job, status_code=202, summary="Launch the supersonic shock-tracking challenge")
def create_challenge(body: models.ChallengeRequest, p: PlatformDep, who: WriterDep) -> dict[str, Any]:
    from atom_sdk.design.challenge import check_schedule, make_schedule

    jobviews.check_grid(p, body.grid, "the challenge grid")
    if body.steps > p.settings.max_steps:
        raise LimitError(f"steps={body.steps}; this server allows at most {p.settings.max_steps}")
    if body.grid[2] != 1:
        raise ConfigError("the wedge world is 2-D; set grid to [nx, ny, 1]")
    if body.controller == "agent" and body.steps * body.agent_episodes > p.settings.max_steps:
        raise LimitError(f"the agent trains for steps x agent_episodes = {body.steps * body.agent_episodes} steps; "
                         f"this server allows at most {p.settings.max_steps}: lower agent_episodes or steps")
    try:
        check_schedule(make_schedule(body.schedule), body.mach)
    except AtomError:
        raise
    except (ValueError, ArithmeticError) as exc:
        raise ConfigError(f"mach {body.mach:g} or the schedule is not usable ({exc}); use 1.2 <= mach <= 6") from None
    return jobviews.enqueue(p, "challenge", f"supersonic M{body.mach:g}", body.model_dump(mode="json"), who)


@router.get("", response_model=models.JobList, summary="List challenge jobs")
def list_challenges(p: PlatformDep, page: JobPageDep, _r: ReaderDep) -> dict[str, Any]:
    return jobviews.jobs_page(p, "challenge", page)


@router.get("/{job_id}", response_model=models.Job, summary="One challenge job")
def get_challenge(job_id: JobId, p: PlatformDep, _r: ReaderDep) -> dict[str, Any]:
    return jobviews.job_out(p.store.get_job(job_id, "challenge"))


@router.post("/{job_id}/control", response_model=models.Job, summary="Pause, resume or cancel a challenge job")
def control_challenge(body: models.ControlRequest, job_id: JobId, p: PlatformDep, _w: WriterDep) -> dict[str, Any]:
    store = p.store
    if body.action == "cancel":
        return jobviews.job_out(store.request_cancel(job_id, "challenge"))
    job = store.get_job(job_id, "challenge")
    if body.action == "resume" and job["state"] in ("interrupted", "failed"):
        return jobviews.job_out(store.requeue(job_id, "challenge"))
    if job["state"] in ("interrupted",):
        raise JobConflictError(f"challenge '{job_id}' is interrupted; send action 'resume' to run it again")
    return jobviews.job_out(store.set_control(job_id, "pause" if body.action == "pause" else "run", "challenge"))


@router.get("/{job_id}/telemetry", response_model=models.TelemetryPage,
            summary="Per-step target, measured shock angle and wedge angle after a cursor")
def challenge_telemetry(job_id: JobId, p: PlatformDep, _r: ReaderDep, after: After = 0,
                        limit: Limit = 500) -> dict[str, Any]:
    return jobviews.telemetry_page(p, job_id, "challenge", after, limit)


@router.get("/{job_id}/timeline", response_model=models.Timeline,
            summary="Timeline events: started, target changes, pauses, safety, end")
def challenge_timeline(job_id: JobId, p: PlatformDep, _r: ReaderDep) -> dict[str, Any]:
    job = p.store.get_job(job_id, "challenge")
    events, _ = jobfiles.read_lines(p.job_dir(job_id) / jobfiles.TIMELINE, 0, 100_000)
    return {"job_id": job_id, "state": job["state"], "events": events}
