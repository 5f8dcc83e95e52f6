"""``GET /metrics``: the Prometheus text exposition of ``atom_sdk.platform.metrics`` (outside the schema).

It is a read like any other: open while reads are (the default), and needing a key (any active
one; ``Authorization: Bearer`` in the scrape config) once ``ATOM_PROTECT_READS=1``. Unlike
``/healthz`` and ``/readyz``, which probes must reach without credentials, it tells request rates
per route and the job counts, which a server that protects its reads keeps to key holders.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from atom_sdk.platform.deps import ReaderDep

router = APIRouter(tags=["health"])


@router.get("/metrics", include_in_schema=False)
def metrics(request: Request, _reader: ReaderDep) -> Response:
    body, content_type = request.app.state.metrics.exposition()
    return Response(body, media_type=content_type, headers={"cache-control": "no-store"})
