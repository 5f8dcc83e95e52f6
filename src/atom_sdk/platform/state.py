"""The platform's shared state in the web process: one ``Platform`` per app.

It holds the store, the worker pool, the key ring and the rate limiter, plus the cached readers
behind the ledger and the runtime view (re-parsed only when a file changes). Routes reach it
through the dependencies in ``atom_sdk.platform.deps``; nothing here knows about HTTP.
"""

from __future__ import annotations

import json
import time
from functools import partial
from pathlib import Path
from typing import Any

from atom_sdk.artifacts import read_jsonl
from atom_sdk.platform.errors import JobNotFoundError
from atom_sdk.platform.filecache import StampedFileCache
from atom_sdk.platform.jobfiles import TELEMETRY
from atom_sdk.platform.security import KeyRing, RateLimiter
from atom_sdk.platform.settings import PlatformSettings
from atom_sdk.platform.store import Geometry, Store


class Platform:
    def __init__(self, settings: PlatformSettings) -> None:
        self.settings = settings
        self.store = Store(settings.db_url)
        self.keys = KeyRing(self.store)
        self.limiter = RateLimiter(settings.rate_limit_per_minute, settings.rate_limit_burst)
        self.pool: Any = None
        #: False in a web process that serves requests only (another process of the workspace leads).
        self.leader = True
        self.leader_lock: Any = None
        self.started = time.monotonic()
        self._files = StampedFileCache(4096)

    def job_dir(self, job_id: str) -> Path:
        return self.settings.jobs_dir / job_id

    def auth_required(self) -> bool:
        return not self.settings.loopback or self.keys.any_active()

    def workers_alive(self) -> int:
        return self.pool.alive() if self.pool is not None else 0

    def workers_expected(self) -> int:
        return self.settings.workers if self.settings.start_workers and self.leader else 0

    # ------------------------------------------------------------------ cached file readers
    def cached_jsonl(self, path: Path, predicate: Any = None) -> list[dict[str, Any]]:
        """Parsed JSON lines of a file (those whose raw line passes ``predicate``), re-read only when
        its size or mtime changes; [] when the file cannot be read."""
        try:
            return self._files.get(path, partial(_parse_jsonl, predicate=predicate), tag=f"jsonl|{id(predicate)}")
        except OSError:
            return []

    def ledger_records(self, job_id: str) -> list[dict[str, Any]]:
        return self.cached_jsonl(self.job_dir(job_id) / "ledger.jsonl")

    def safety_events(self, job_id: str) -> list[dict[str, Any]]:
        return self.cached_jsonl(self.job_dir(job_id) / TELEMETRY, _is_safety_line)

    def geometry_row(self, session: Any, geometry_id: str) -> Geometry:
        """An uploaded geometry's row in ``session``; 404 when there is none."""
        row = session.get(Geometry, geometry_id)
        if row is None:
            raise JobNotFoundError(f"geometry '{geometry_id}' does not exist; list them with GET /api/v1/geometries")
        return row

    def geometry_properties(self, geometry_id: str) -> dict[str, Any]:
        """What the upload measured of a geometry (grid, area, equivalent circle); 404 when unknown."""
        with self.store.session() as s:
            return json.loads(self.geometry_row(s, geometry_id).properties)


def _parse_jsonl(path: Path, predicate: Any = None) -> list[dict[str, Any]]:
    """All JSON lines of a file, or only the complete ones whose raw bytes pass ``predicate``."""
    if predicate is None:
        return read_jsonl(path)
    records: list[dict[str, Any]] = []
    with path.open("rb") as handle:
        for raw in handle:
            if predicate(raw) and raw.endswith(b"\n"):
                records.extend(read_jsonl_line(raw))
    return records


def _is_safety_line(raw: bytes) -> bool:
    return b'"kind": "safety"' in raw or b'"kind":"safety"' in raw


def read_jsonl_line(raw: bytes) -> list[dict[str, Any]]:
    try:
        value = json.loads(raw)
    except ValueError:
        return []
    return [value] if isinstance(value, dict) else []
