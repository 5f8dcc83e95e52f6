"""The grounded assistant's endpoint: a question in, cited statements from stored data out."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from atom_sdk.platform import models
from atom_sdk.platform.deps import PlatformDep, ReaderDep

router = APIRouter(prefix="/api/v1", tags=["science"])


@router.post("/assistant/query", response_model=models.AssistantAnswer,
             summary="Ask about runs, laws, safety and evidence; every statement is cited")
def assistant(body: models.AssistantQuery, p: PlatformDep, _r: ReaderDep) -> dict[str, Any]:
    from atom_sdk.platform.assistant import Assistant

    return Assistant(p.store, p.settings).answer(body.question, body.run_id, body.summarize)
