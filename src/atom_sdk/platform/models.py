"""Request and response bodies of the HTTP API (pydantic), shared by the routes and the OpenAPI schema.

Requests reuse the library's own models (``RunConfig``, ``DesignSpec``) so the API accepts exactly
what the CLI accepts, and the UI can generate its forms from the same JSON schema.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from atom_sdk.config import RunConfig
from atom_sdk.design.spec import DesignSpec
from atom_sdk.workspace import validate_name

JobState = Literal["queued", "running", "paused", "succeeded", "failed", "cancelled", "interrupted"]
JobKind = Literal["run", "validation", "inverse_design", "challenge"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# ---------------------------------------------------------------------------- errors
class ErrorResponse(BaseModel):
    """Every 4xx/5xx body: a stable machine-readable code and a message that says what to change."""

    code: str = Field(..., examples=["invalid_config"])
    message: str
    details: list[dict[str, Any]] | None = None


# ---------------------------------------------------------------------------- health
class Health(BaseModel):
    status: Literal["ok"]
    version: str


class Readiness(BaseModel):
    ready: bool
    database: bool
    workers_expected: int
    workers_alive: int
    queue_depth: int
    detail: str = ""


# ---------------------------------------------------------------------------- worlds
class WorldInfo(BaseModel):
    id: str
    source: str
    description: str
    parameters_schema: dict[str, Any]
    observables: list[str]
    validation_cases: list[dict[str, Any]]
    #: each diagnostic the world reports: name, unit, description and whether the scientist fits it
    diagnostics: list[dict[str, Any]] = []
    available: bool = True


class WorldList(BaseModel):
    worlds: list[WorldInfo]


class ValidationRequest(Strict):
    include_slow: bool = Field(False, description="also run the slow cases (minutes each)")


# ---------------------------------------------------------------------------- jobs
class JobProgress(BaseModel):
    step: int
    total: int
    fraction: float
    info: dict[str, Any]


class JobError(BaseModel):
    code: str
    message: str


class Job(BaseModel):
    id: str
    kind: JobKind
    state: JobState
    name: str
    params: dict[str, Any]
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    updated_at: datetime
    progress: JobProgress
    cancel_requested: bool
    control: str
    attempts: int
    resume: bool
    error: JobError | None
    result: dict[str, Any]
    links: dict[str, str] = Field(default_factory=dict)


class JobList(BaseModel):
    items: list[Job]
    total: int
    limit: int
    offset: int


class RunRequest(Strict):
    """A closed-loop run: the same ``RunConfig`` as ``atom run`` (its ``output_root`` is ignored)."""

    config: RunConfig = Field(default_factory=RunConfig)
    geometry_id: str | None = Field(None, max_length=64, description="uploaded body for lbm2d:cylinder (runs the"
                                    " shape itself: sets body and body_vertices or body_mask) or, an STL, for "
                                    "lbm3d:body (sets mesh, mesh_sha256 and radius)")


class RunDetail(Job):
    summary: dict[str, Any] | None = None
    laws: list[dict[str, Any]] = Field(default_factory=list)
    safety: dict[str, Any] | None = None


class TelemetryPage(BaseModel):
    job_id: str
    state: JobState
    items: list[dict[str, Any]]
    next_cursor: int = Field(..., description="pass as ?after= to get only newer lines")
    done: bool = Field(..., description="the job is finished and no more lines will come")


class ArtifactInfo(BaseModel):
    path: str
    size: int
    modified: datetime
    media_type: str


class ArtifactList(BaseModel):
    job_id: str
    items: list[ArtifactInfo]


class FieldSnapshot(BaseModel):
    job_id: str
    step: int
    name: str
    shape: list[int]
    min: float
    max: float
    data: list[list[float]] = Field(..., description="rows along y (bottom first), columns along x")
    grid: list[int] | None = Field(None, description="the field's full grid (nx, ny, nz) before downsampling")
    cell: list[int] | None = Field(None, description="grid cells per snapshot cell along x and y")
    slice_index: int | None = Field(None, description="the z index of ``data`` (the middle slice)")
    slice_positions: list[int] | None = Field(None, description="3-D fields: the z index of each of ``slices``")
    slice_cell: list[int] | None = Field(None, description="3-D fields: grid cells per slice cell along x and y")
    slices: list[list[list[float]]] | None = Field(None, description="3-D fields: z-slices, each like ``data``")
    slices_min: float | None = None
    slices_max: float | None = None


class DesignJobRequest(Strict):
    spec: DesignSpec = Field(default_factory=DesignSpec)


class SpecTemplates(BaseModel):
    problems: list[dict[str, Any]]
    spec_schema: dict[str, Any]


class ChallengeRequest(Strict):
    """The supersonic challenge (same knobs as ``atom challenge supersonic``)."""

    steps: int = Field(300, ge=1, le=100_000)
    seed: int = Field(0, ge=0, le=2**31 - 1)
    mach: float = Field(2.0, gt=1.05, le=10.0)
    grid: tuple[int, int, int] = (64, 48, 1)
    world_params: dict[str, float | int | bool | str] = Field(default_factory=dict)
    schedule: list[tuple[float, Literal["hold", "step", "ramp"], float, float]] | None = Field(
        None, max_length=64, description="[start fraction, kind, target at start (deg), target at end (deg)]")
    kp: float = Field(0.05, ge=0.0, le=10.0)
    ki: float = Field(0.02, ge=0.0, le=10.0)
    feedforward: bool = True
    preview: int = Field(10, ge=0, le=10_000)
    use_safety: bool = True
    controller: Literal["scripted", "agent", "hold"] = Field(
        "scripted", description="scripted: PI + theta-beta-Mach feed-forward; agent: the closed loop trained on the "
        "schedule first; hold: no control")
    agent_episodes: int = Field(12, ge=1, le=10_000, description="training budget of the agent: passes over the "
                                "schedule")


class ControlRequest(Strict):
    action: Literal["pause", "resume", "cancel"]


class Timeline(BaseModel):
    job_id: str
    state: JobState
    events: list[dict[str, Any]]


# ---------------------------------------------------------------------------- geometries
class GeometryInfo(BaseModel):
    id: str
    name: str
    source: Literal["polygon", "mask"]
    created_at: datetime
    grid: list[int]
    solid_cells: int
    area_fraction: float
    centroid: list[float]
    bbox: list[int]
    blockage: float
    equivalent_radius: float
    cylinder_params: dict[str, float]
    mask_url: str


class MeshGeometryInfo(BaseModel):
    """An uploaded STL body for ``lbm3d:body`` (sizes in the file's units; x is the flow direction)."""

    id: str
    name: str
    source: Literal["stl"]
    created_at: datetime
    world: str
    triangles: int
    extent: list[float]
    length_over_diameter: float
    volume: float
    frontal_area_over_diameter2: float
    diameter_fraction: float
    mesh_sha256: str
    mesh_url: str


class GeometryList(BaseModel):
    items: list[GeometryInfo | MeshGeometryInfo]


# ---------------------------------------------------------------------------- catalog, runtime, ledger
class CatalogTemplate(BaseModel):
    id: str
    title: str
    description: str
    kind: JobKind
    endpoint: str
    body: dict[str, Any]
    estimated_seconds: float | None = None


class Catalog(BaseModel):
    templates: list[CatalogTemplate]


class RuntimeTelemetry(BaseModel):
    queue_depth: int
    max_queue: int
    workers_expected: int
    workers_alive: int
    worker_pids: list[int]
    jobs_by_state: dict[str, int]
    recent_safety_events: list[dict[str, Any]]
    uptime_seconds: float


class LedgerEntry(BaseModel):
    job_id: str
    seq: int
    kind: str
    time: str | None = None
    run_name: str | None = None
    step: int | None = None
    equations: list[dict[str, Any]]
    scores: dict[str, Any]
    reasons: list[str]


class LedgerPage(BaseModel):
    items: list[LedgerEntry]
    total: int
    counts_by_kind: dict[str, int]


# ---------------------------------------------------------------------------- assistant
class AssistantQuery(Strict):
    question: str = Field(..., min_length=1, max_length=2000)
    run_id: str | None = Field(None, max_length=64, description="focus on this job (default: the latest run)")
    summarize: bool = Field(False, description="also ask the configured LLM (ATOM_ASSISTANT_LLM_URL) for a summary")


class Citation(BaseModel):
    job_id: str | None = None
    artifact: str | None = None
    pointer: str | None = Field(None, description="JSON pointer or line inside the artifact")
    ledger_seq: int | None = None


class Statement(BaseModel):
    text: str
    citations: list[Citation] = Field(..., min_length=1)


class AssistantAnswer(BaseModel):
    question: str
    intent: str
    answer: str
    statements: list[Statement]
    llm_summary: str | None = None
    llm_error: str | None = None


# ---------------------------------------------------------------------------- evaluations
class EvaluationRequest(Strict):
    """Evaluate a finished run's last checkpoint (as ``atom eval``): frozen, for N episodes."""

    episodes: int = Field(..., ge=1, le=1000, description="evaluation episodes; 1 to 1000 (and at most the "
                          "server's max_steps agent steps in all)")
    seed: int = Field(0, ge=0, le=2**31 - 1, description="episode e starts the world from seed + 7919 e")
    deterministic: bool = Field(True, description="act with the policy mean (false: sample from the policy)")
    world_overrides: dict[str, float | int | bool | str] = Field(
        default_factory=dict, max_length=32, description="world parameters for out-of-distribution conditions, "
        "checked as a run's are (e.g. {\"nu\": 0.02})")
    name: Annotated[str, BeforeValidator(validate_name)] = Field(
        "eval", min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._-]+$",
        description="folder evaluations/NAME inside the run's artifacts")
    overwrite: bool = Field(False, description="replace an earlier evaluation of the same name")


class EvaluationResult(BaseModel):
    run_id: str
    name: str
    artifacts_prefix: str = Field(..., description="path of the evaluation's files under the run's artifacts")
    evaluation: dict[str, Any] = Field(..., description="the evaluation.json document (schema atom.evaluation/1)")


# ---------------------------------------------------------------------------- dashboard: the runs index
RunIndexStatus = Literal["complete", "running", "partial", "broken", "missing", "queued", "failed", "cancelled",
                         "interrupted"]


class RunIndexRow(BaseModel):
    """One run of the workspace, from the job store, a CLI/Python-API run folder, or both."""

    key: str = Field(..., description="the run's key: its job id, or 'dir:' + its folder relative to the workspace")
    source: Literal["job", "folder"]
    job_id: str | None = None
    path: str = Field(..., description="the run folder relative to the workspace")
    name: str
    world: str | None = None
    variant: str | None = None
    seed: int | None = None
    steps: int | None = Field(None, description="steps the run was configured for")
    steps_done: int | None = Field(None, description="steps recorded so far (results or telemetry)")
    status: RunIndexStatus = Field(..., description="complete, running, partial (stopped without results), broken "
                                   "(a file is unreadable; see problem), or the job's state")
    state: JobState | None = Field(None, description="the job store's state (jobs only)")
    mean_return: float | None = Field(None, description="mean return of finished episodes (results.json)")
    mean_reward: float | None = Field(None, description="mean reward per step (results.json)")
    final_trust: float | None = Field(None, description="theory trust at the end, or at the latest step")
    law: str | None = Field(None, description="the current (last accepted) law(s), '; '-joined")
    laws: list[dict[str, Any]] = Field(default_factory=list)
    created_at: str | None = None
    updated_at: str | None = None
    problem: str | None = Field(None, description="why the folder is broken or the job failed")


class RunIndex(BaseModel):
    items: list[RunIndexRow]
    total: int = Field(..., description="rows matching the filters (before limit/offset)")
    counts_by_status: dict[str, int]
    worlds: list[str]
    variants: list[str]


class RunCurveSet(BaseModel):
    key: str
    name: str
    curves: dict[str, list[list[float]]] = Field(..., description="curve name -> [[step, value], ...] (downsampled "
                                                 "by bucket means)")
    points_total: dict[str, int] = Field(..., description="points of each curve before downsampling")
    units: dict[str, str] = Field(..., description="what each curve measures, for the axis label")


class RunCurves(BaseModel):
    runs: list[RunCurveSet]


# ---------------------------------------------------------------------------- dashboard: the ledger by law
class LedgerLawGroup(BaseModel):
    """Every ledger record of one law structure (target and terms), however often it was proposed."""

    law: str = Field(..., description="the latest equation(s) of the group, '; '-joined")
    structure: str = Field(..., description="the grouping key: target(terms) of each equation")
    count: int
    counts_by_kind: dict[str, int]
    counts_by_reason: dict[str, int]
    runs: list[str]
    first_time: str | None = None
    last_time: str | None = None
    first_step: int | None = None
    last_step: int | None = None
    last_kind: str
    equations: list[dict[str, Any]]


class LedgerLawGroups(BaseModel):
    items: list[LedgerLawGroup]
    total: int = Field(..., description="groups matching (before limit/offset)")
    records: int = Field(..., description="ledger records in those groups")
    counts_by_kind: dict[str, int]
