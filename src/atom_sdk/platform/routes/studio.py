"""The studio catalog: ready-made experiments, each the exact body of a POST to its endpoint."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from atom_sdk.platform import models
from atom_sdk.platform.deps import ReaderDep

router = APIRouter(prefix="/api/v1", tags=["studio"])
_cache: dict[str, Any] = {}


@router.get("/studio/catalog", response_model=models.Catalog,
            summary="Ready-made experiments: each is the exact body of a POST to its endpoint")
def catalog(_r: ReaderDep) -> dict[str, Any]:
    from atom_sdk.platform.catalog import templates

    if "catalog" not in _cache:
        _cache["catalog"] = templates()
    return {"templates": _cache["catalog"]}
