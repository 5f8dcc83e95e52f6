"""Saliency of a finished run's agent (``atom interpret``): the maps over the field and the feature importances.

``GET /runs/{id}/saliency`` reads the run's ``interpret/`` artifacts and returns each map as a
2-D grid (summed over channels, averaged over z, block-averaged down to at most ``max_size``
cells a side, so the body stays bounded whatever the grid), the most salient field channel
beneath it, and the feature importances. ``POST`` computes the artifacts first (synchronous,
bounded like an evaluation) for a run that is no longer running.
"""

from __future__ import annotations

from typing import Annotated, Any

import numpy as np
from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from atom_sdk.errors import ArtifactError
from atom_sdk.platform.deps import JobId, PlatformDep, ReaderDep, WriterDep
from atom_sdk.platform.errors import JobConflictError, JobNotFoundError
from atom_sdk.platform.models import Strict

router = APIRouter(prefix="/api/v1", tags=["runs"])

#: a run in these states may still write its checkpoint
_BUSY = {"queued", "running", "paused"}
MaxSize = Annotated[int, Query(ge=4, le=128, description="most cells per side of each returned map (block means)")]


class Grid(BaseModel):
    """A 2-D map: rows along y (bottom first), columns along x, as the field snapshot."""

    name: str
    shape: list[int] = Field(..., description="the map's (nx, ny) before downsampling")
    min: float
    max: float
    data: list[list[float]]


class FeatureImportance(BaseModel):
    index: int
    name: str
    group: str = Field(..., description="'observation' or 'theory'")
    value: float = Field(..., description="the feature's value in the explained observation")
    gradient_x_input: float
    gradient_x_input_batch: float
    permutation_mean: float
    permutation_std: float
    rank: int = Field(..., description="1 = the largest permutation importance")
    constant_in_batch: bool = Field(False, description="the feature never changes over the batch, so shuffling "
                                    "it cannot show its importance (see gradient_x_input)")


class SaliencyResult(BaseModel):
    run_id: str
    schema_id: str = Field(..., alias="schema")
    observation: dict[str, Any]
    field: Grid | None = Field(None, description="the field beneath the maps: the channel with the largest share of "
                               "the action saliency among those that vary over the grid")
    maps: dict[str, Grid] = Field(default_factory=dict, description="action, value and latent saliency")
    channel_share: dict[str, dict[str, float]] = Field(default_factory=dict)
    features: list[FeatureImportance]
    theory_features: dict[str, Any]
    integrated_gradients: dict[str, Any] | None = None

    model_config = {"populate_by_name": True}


class SaliencyRequest(Strict):
    """Compute a run's saliency artifacts (as ``atom interpret``)."""

    seed: int = Field(0, ge=0, le=2**31 - 1, description="the world is reset with this seed")
    at_step: int = Field(0, ge=0, le=511, description="explain the observation after this many steps")
    batch_steps: int | None = Field(None, ge=2, le=512, description="observations behind permutation importance "
                                    "(default: the episode length, at most 512)")
    samples: int = Field(16, ge=1, le=64, description="SmoothGrad noisy copies")
    repeats: int = Field(8, ge=1, le=32, description="shuffles per feature")
    overwrite: bool = Field(False, description="replace existing artifacts")


def grid(name: str, image: np.ndarray, max_size: int) -> dict[str, Any]:
    """An (nx, ny) array as a bounded ``Grid``: block means, then rows along y."""
    from atom_sdk.experiment.interpret import downsample

    rows = [[float(f"{v:.6g}") for v in row] for row in downsample(image, max_size).T]  # 6 significant digits
    return {"name": name, "shape": list(image.shape), "min": min(map(min, rows)), "max": max(map(max, rows)),
            "data": rows}


def _run_folder(p: Any, run_id: str) -> Any:
    p.store.get_job(run_id, "run")  # 404 for an unknown id
    root = p.settings.jobs_dir.resolve()
    folder = p.job_dir(run_id).resolve()
    if folder.parent != root:
        raise JobNotFoundError(f"run '{run_id}' does not exist")
    return folder


def _result(run_id: str, folder: Any, max_size: int) -> dict[str, Any]:
    from atom_sdk.experiment.interpret import map_2d, read_saliency, underlay_channel

    try:
        doc, arrays = read_saliency(folder)
    except ArtifactError:
        raise JobNotFoundError(f"run '{run_id}' has no saliency yet; compute it with POST /api/v1/runs/{run_id}/"
                               "saliency or 'atom interpret RUN_DIR'") from None
    out: dict[str, Any] = {"run_id": run_id, "schema": doc["schema"], "observation": doc["observation"],
                           "features": doc["features"], "theory_features": doc["theory_features"]}
    maps = doc.get("maps")
    if maps:
        out["maps"] = {k: grid(k, map_2d(arrays[f"saliency_{k}"]), max_size) for k in maps["outputs"]}
        out["channel_share"] = {k: v["channel_share"] for k, v in maps["outputs"].items()}
        top = underlay_channel(arrays["field"], maps["outputs"]["action"]["channel_share"], maps["channels"])
        out["field"] = grid(maps["channels"][top], np.asarray(arrays["field"], np.float64)[top].mean(axis=-1),
                            max_size)
        out["integrated_gradients"] = maps.get("integrated_gradients")
    return out


@router.get("/runs/{run_id}/saliency", response_model=SaliencyResult, response_model_by_alias=True,
            summary="Saliency maps over the field and feature importances of a run's agent")
def get_saliency(run_id: JobId, p: PlatformDep, _r: ReaderDep, max_size: MaxSize = 64) -> dict[str, Any]:
    return _result(run_id, _run_folder(p, run_id), max_size)


@router.post("/runs/{run_id}/saliency", response_model=SaliencyResult, response_model_by_alias=True,
             summary="Compute a finished run's saliency artifacts (as 'atom interpret')")
def create_saliency(run_id: JobId, body: SaliencyRequest, p: PlatformDep, _w: WriterDep,
                    max_size: MaxSize = 64) -> dict[str, Any]:
    from atom_sdk.experiment.interpret import interpret_run, plan_interpretation

    folder = _run_folder(p, run_id)
    job = p.store.get_job(run_id, "run")
    if job["state"] in _BUSY:
        raise JobConflictError(f"run '{run_id}' is {job['state']}; interpret it once it has finished")
    plan = plan_interpretation(folder, overwrite=body.overwrite)
    interpret_run(folder, seed=body.seed, at_step=body.at_step, batch_steps=body.batch_steps, samples=body.samples,
                  repeats=body.repeats, plan=plan)
    return _result(run_id, folder, max_size)
