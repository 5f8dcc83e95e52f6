"""Worlds: the registered worlds with their parameter schemas, and a world's physics validation as a job."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path
from fastapi.concurrency import run_in_threadpool

from atom_sdk.platform import models
from atom_sdk.platform.deps import PlatformDep, ReaderDep, WriterDep
from atom_sdk.platform.routes import jobviews
from atom_sdk.worlds.registry import describe_worlds

router = APIRouter(prefix="/api/v1", tags=["worlds"])
_cache: dict[str, Any] = {}


@router.post("/worlds/{world}/validate", response_model=models.Job, status_code=202,
             summary="Run a world's physics validation cases as a job")
def validate_world(world: Annotated[str, Path(max_length=128)], p: PlatformDep, who: WriterDep,
                   body: models.ValidationRequest | None = None) -> dict[str, Any]:
    from atom_sdk.worlds import get_spec

    get_spec(world)  # 404 for an unknown world
    include_slow = bool(body.include_slow) if body is not None else False
    return jobviews.enqueue(p, "validation", f"validate {world}", {"world": world, "include_slow": include_slow}, who)


@router.get("/worlds", response_model=models.WorldList, summary="Registered worlds with parameter schemas")
async def worlds(_r: ReaderDep) -> dict[str, Any]:
    if "rows" not in _cache:  # importing the world modules costs a second once
        _cache["rows"] = await run_in_threadpool(describe_worlds)
    return {"worlds": _cache["rows"]}
