"""Evaluations of a finished run: its last checkpoint acted frozen for N episodes (``atom eval``).

Synchronous: the request returns the ``evaluation.json`` document once the episodes are done. The
episode count is bounded (1000) and so are the agent steps in all (``episodes *
max_episode_steps`` at most the server's ``max_steps``); the files land under the run's
artifacts in ``evaluations/NAME/`` with the workspace rules (no replacement without
``overwrite``), readable through ``GET /runs/{id}/artifacts``.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from atom_sdk.platform import models
from atom_sdk.platform.deps import JobId, PlatformDep, WriterDep
from atom_sdk.platform.errors import JobConflictError, LimitError

router = APIRouter(prefix="/api/v1", tags=["runs"])

#: a run in these states may still write its checkpoint
_BUSY = {"queued", "running", "paused"}


@router.post("/runs/{run_id}/evaluations", response_model=models.EvaluationResult,
             summary="Evaluate a run's last checkpoint for N episodes (frozen; world overrides allowed)")
def create_evaluation(run_id: JobId, body: models.EvaluationRequest, p: PlatformDep,
                      _w: WriterDep) -> dict[str, Any]:
    from atom_sdk.experiment.evaluate import evaluate_checkpoint, plan_evaluation

    job = p.store.get_job(run_id, "run")
    if job["state"] in _BUSY:
        raise JobConflictError(f"run '{run_id}' is {job['state']}; evaluate it once it has finished")
    plan = plan_evaluation(p.job_dir(run_id), episodes=body.episodes, world_overrides=body.world_overrides,
                           name=body.name, overwrite=body.overwrite)
    steps = body.episodes * plan.evaluated.world.max_episode_steps
    if steps > p.settings.max_steps:
        raise LimitError(f"{body.episodes} episodes of up to {plan.evaluated.world.max_episode_steps} steps are "
                         f"{steps} agent steps; this server allows at most {p.settings.max_steps}: ask for fewer "
                         "episodes")
    result = evaluate_checkpoint(plan.run_dir, episodes=body.episodes, seed=body.seed,
                                 deterministic=body.deterministic, plan=plan)
    return {"run_id": run_id, "name": body.name, "artifacts_prefix": f"evaluations/{body.name}",
            "evaluation": result}
