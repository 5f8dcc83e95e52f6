"""Worlds: the registered worlds with their parameter schemas, and a world's physics validation as a job."""

from __future__ import annotations

import hashlib
from typing import Annotated, Any

from fastapi import APIRouter, Header, Path
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

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
async def worlds(_r: ReaderDep, if_none_match: Annotated[str | None, Header(max_length=200)] = None) -> Any:
    """The catalog, serialised once per process; its ETag lets a client revalidate it with a 304."""
    if "body" not in _cache:  # importing the world modules costs a second once
        rows = await run_in_threadpool(describe_worlds)
        body = jobviews.fast_json({"worlds": rows})
        if not isinstance(body, Response):  # a NaN in a schema: let pydantic write it
            return body
        _cache["body"] = body.body
        _cache["etag"] = '"' + hashlib.sha256(body.body).hexdigest()[:32] + '"'
    headers = {"etag": _cache["etag"], "cache-control": "no-cache"}  # revalidate each time: cheap with the ETag
    if if_none_match is not None and _cache["etag"] in {t.strip() for t in if_none_match.split(",")}:
        return Response(status_code=304, headers=headers)
    return Response(_cache["body"], media_type="application/json", headers=headers)
