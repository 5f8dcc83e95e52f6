"""Inverse design: launch a search, list and read searches, and the built-in problems' spec templates.

The request's ``spec`` is the library's ``DesignSpec``, objective language included, so the API
accepts exactly what ``atom design --config`` does; an unknown diagnostic, a ``between`` with
lower > upper or an empty ``objectives`` list is a 422 that says what to change.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from atom_sdk.platform import models
from atom_sdk.platform.deps import JobId, JobPageDep, PlatformDep, ReaderDep, WriterDep
from atom_sdk.platform.errors import LimitError
from atom_sdk.platform.routes import jobviews

router = APIRouter(prefix="/api/v1", tags=["inverse design"])


LANGUAGE_HELP = (
    "The spec may weigh several objectives and constrain any diagnostic the evaluation reports (the problem's "
    "`diagnostics` in the spec template), e.g. `{\"problem\": \"constrained_quadratic\", \"objectives\": "
    "[\"f:min:1\", \"x:max:0.5\"], \"constraints\": [\"g<=2\", \"0<=h<=0.5\"], \"penalty\": "
    "{\"function\": \"linear\", \"weight\": 1000}, \"ranking\": \"feasibility_first\"}`. Objectives: "
    "`NAME:min[:W]`, `NAME:max[:W]`, `NAME:target=T[:W]`; constraints: `NAME<=U`, `NAME>=L`, `L<=NAME<=U` (or "
    "the objects). Ranking feasibility_first (Deb's rules) picks the reported best; CMA-ES follows the "
    "penalised objective. The report gives the best design's per-objective values, constraint margins and "
    "whether it is feasible.")


@router.post("/inverse-design/jobs", response_model=models.Job, status_code=202, summary="Launch an inverse-design search",
             description=LANGUAGE_HELP)
def create_design(body: models.DesignJobRequest, p: PlatformDep, who: WriterDep) -> dict[str, Any]:
    from atom_sdk.design import resolve_spec

    data = jobviews.without_output_root(body.spec, "spec")
    from atom_sdk.platform.geometries import refuse_server_paths

    refuse_server_paths(body.spec.world_params, "spec.world_params")
    spec = resolve_spec(body.spec)  # fills the problem's defaults; ConfigError (422) for unknown problems
    evaluations = spec.iterations * spec.population
    if evaluations > p.settings.max_design_evaluations:
        raise LimitError(f"iterations x population = {evaluations}; this server allows at most "
                         f"{p.settings.max_design_evaluations} evaluations per search")
    if spec.workers > 2:
        raise LimitError("workers > 2 is not allowed through the API; the server's worker pool already runs jobs "
                         "in parallel (set workers to 1 or 2)")
    jobviews.check_grid(p, spec.grid or (1, 1, 1), "the design grid")
    return jobviews.enqueue(p, "inverse_design", spec.name, {"spec": data}, who)


@router.get("/inverse-design/jobs", response_model=models.JobList, summary="List searches")
def list_designs(p: PlatformDep, page: JobPageDep, _r: ReaderDep) -> dict[str, Any]:
    return jobviews.jobs_page(p, "inverse_design", page)


@router.get("/inverse-design/spec-template", response_model=models.SpecTemplates,
            summary="Built-in problems with ready-to-edit specs, and the spec's JSON schema")
def spec_template(_r: ReaderDep) -> dict[str, Any]:
    from atom_sdk.design import DesignSpec, list_problems

    return {"problems": list_problems(), "spec_schema": DesignSpec.model_json_schema()}


@router.get("/inverse-design/jobs/{job_id}", response_model=models.Job, summary="One search")
def get_design(job_id: JobId, p: PlatformDep, _r: ReaderDep) -> dict[str, Any]:
    return jobviews.job_out(p.store.get_job(job_id, "inverse_design"))
