"""Safety endpoints of a run: an operator's explicit re-baseline of the envelope's shift monitor.

Why an endpoint and not a job control flag: the envelope runs inside the worker process and already
polls its run folder's ``control/`` (``atom_sdk.safety.control``), so the route only validates the
request, checks that the run can still read it and drops the request file there, atomically.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body
from pydantic import BaseModel, ConfigDict, Field

from atom_sdk.platform.deps import JobId, PlatformDep, WriterDep
from atom_sdk.platform.errors import JobConflictError
from atom_sdk.safety.control import CONTROL_DIR, MAX_NOTE, REBASELINE_FILE, control_dir, request_rebaseline

router = APIRouter(prefix="/api/v1", tags=["runs"])

#: run states whose envelope will still read a request: running now, or resumed later from its folder
_FINISHED = ("succeeded", "cancelled")


class RebaselineBody(BaseModel):
    """Why the operator re-baselines (kept in the run's safety log)."""

    model_config = ConfigDict(extra="forbid")

    note: str | None = Field(None, max_length=MAX_NOTE, description="reason, recorded with the event")


class RebaselineAccepted(BaseModel):
    run_id: str
    state: str
    request: dict[str, Any]
    path: str = Field(..., description="the request file, relative to the run folder")


@router.post("/runs/{run_id}/safety/rebaseline", response_model=RebaselineAccepted, status_code=202,
             summary="Ask a run's safety envelope to re-baseline its shift monitor",
             description="Writes `control/rebaseline.json` into the run folder; the running envelope takes it "
                         "at its next step, re-baselines the distribution-shift monitor on the current regime "
                         "and records the event (source `api`, the key's name, the note) in telemetry and "
                         "`results.json`. 409 when the run has finished or has not started yet.")
def rebaseline_run(run_id: JobId, p: PlatformDep, who: WriterDep,
                   body: Annotated[RebaselineBody | None, Body()] = None) -> dict[str, Any]:
    job = p.store.get_job(run_id, "run")
    folder = p.job_dir(run_id)
    if job["state"] in _FINISHED:
        raise JobConflictError(f"run '{run_id}' is {job['state']}; its envelope no longer reads requests")
    if not folder.is_dir() or (job["state"] == "queued" and not job.get("resume")):
        raise JobConflictError(f"run '{run_id}' has not started yet; re-baseline once it is running")
    who_text = who.name if who.key_id is None else f"{who.name} ({who.key_id})"
    written = request_rebaseline(control_dir(folder), "api", who_text, body.note if body is not None else None)
    return {"run_id": run_id, "state": job["state"], "request": written, "path": f"{CONTROL_DIR}/{REBASELINE_FILE}"}
