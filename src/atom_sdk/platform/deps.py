"""The request-time dependencies every route declares in its signature (FastAPI ``Annotated`` style).

``PlatformDep`` hands a handler the app's ``Platform``; ``WriterDep`` authenticates and rate-limits
a state-changing request and hands on the caller's ``Principal``; ``ReaderDep`` guards reads when
the server protects them. The path and query parameters several routers share (a job id, a
telemetry cursor, a page of jobs) are declared once here too, so each handler reads as what it does.

Why ``async def``: FastAPI runs a plain ``def`` dependency in its thread pool, a thread hop (and a
turn at the GIL) per dependency per request. These do no I/O on the common path, so they run on
the event loop; the one blocking step, checking a presented key against the database, is sent to
the thread pool explicitly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import APIKeyHeader, HTTPBearer

from atom_sdk.platform import models
from atom_sdk.platform.errors import AuthError
from atom_sdk.platform.security import Principal, presented_key
from atom_sdk.platform.state import Platform

bearer_scheme = HTTPBearer(auto_error=False, description="API key from 'atom keys create'")
header_scheme = APIKeyHeader(name="X-API-Key", auto_error=False, description="API key from 'atom keys create'")


async def get_platform(request: Request) -> Platform:
    """The app's shared state (one per ``create_app``)."""
    return request.app.state.platform


PlatformDep = Annotated[Platform, Depends(get_platform)]
_Bearer = Annotated[Any, Depends(bearer_scheme)]
_Header = Annotated[Any, Depends(header_scheme)]


def _client_identity(request: Request) -> str:
    return f"ip:{request.client.host if request.client else 'unknown'}"


async def require_writer(request: Request, p: PlatformDep, _bearer: _Bearer, _header: _Header) -> Principal:
    """Dependency of every mutating endpoint: authenticate when required, then rate-limit."""
    key = presented_key(request.headers)
    if key is not None:
        principal = await run_in_threadpool(p.keys.verify, key)
    elif await run_in_threadpool(p.auth_required):
        why = ("the server listens on a non-loopback address" if not p.settings.loopback
               else "API keys exist on this server")
        raise AuthError(f"this request changes state and needs an API key ({why}); send 'Authorization: Bearer "
                        "<key>' or 'X-API-Key: <key>' (create one with 'atom keys create --name NAME')")
    else:
        principal = Principal(None)
    p.limiter.check(principal.key_id or _client_identity(request))
    return principal


async def require_reader(request: Request, p: PlatformDep, _bearer: _Bearer, _header: _Header) -> None:
    """Dependency of read endpoints: open unless ``protect_reads`` is set."""
    if not p.settings.protect_reads:
        return
    key = presented_key(request.headers)
    if key is None:
        raise AuthError("this server protects reads; send 'Authorization: Bearer <key>' or 'X-API-Key: <key>'")
    principal = await run_in_threadpool(p.keys.verify, key)
    p.limiter.check(principal.key_id or _client_identity(request))


WriterDep = Annotated[Principal, Depends(require_writer)]
ReaderDep = Annotated[None, Depends(require_reader)]

# ---------------------------------------------------------------------------- shared parameters
JobId = Annotated[str, Path(min_length=1, max_length=64, description="job id as returned by the POST")]
ArtifactPath = Annotated[str, Path(max_length=1024)]
After = Annotated[int, Query(ge=0, le=100_000_000, description="return lines after this cursor (next_cursor of the "
                                                                "last page)")]
Limit = Annotated[int, Query(ge=1, le=5000)]
MaxSeconds = Annotated[float, Query(gt=0, le=3600, description="close the stream after this many seconds")]


@dataclass(frozen=True)
class JobPage:
    """Which page of a job list a request asks for."""

    state: models.JobState | None
    limit: int
    offset: int


async def job_page(state: models.JobState | None = None, limit: Annotated[int, Query(ge=1, le=500)] = 50,
             offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0) -> JobPage:
    return JobPage(state, limit, offset)


JobPageDep = Annotated[JobPage, Depends(job_page)]
