"""The platform's shared state in the web process, and the request-time checks that use it.

One ``Platform`` per app: the store, the worker pool, the key ring and the rate limiter, plus the
cached readers behind the ledger and the runtime view (re-parsed only when a file changes).
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPBearer

from atom_sdk.artifacts import read_jsonl
from atom_sdk.platform.errors import AuthError
from atom_sdk.platform.jobfiles import TELEMETRY
from atom_sdk.platform.security import KeyRing, Principal, RateLimiter, presented_key
from atom_sdk.platform.settings import PlatformSettings
from atom_sdk.platform.store import Store

bearer_scheme = HTTPBearer(auto_error=False, description="API key from 'atom keys create'")
header_scheme = APIKeyHeader(name="X-API-Key", auto_error=False, description="API key from 'atom keys create'")


class Platform:
    def __init__(self, settings: PlatformSettings) -> None:
        self.settings = settings
        self.store = Store(settings.db_url)
        self.keys = KeyRing(self.store)
        self.limiter = RateLimiter(settings.rate_limit_per_minute, settings.rate_limit_burst)
        self.pool: Any = None
        self.started = time.monotonic()
        self._file_cache: dict[str, tuple[tuple[int, int], list[dict[str, Any]]]] = {}
        self._cache_lock = threading.Lock()

    def job_dir(self, job_id: str) -> Path:
        return self.settings.jobs_dir / job_id

    def auth_required(self) -> bool:
        return not self.settings.loopback or self.keys.any_active()

    def workers_alive(self) -> int:
        return self.pool.alive() if self.pool is not None else 0

    def workers_expected(self) -> int:
        return self.settings.workers if self.settings.start_workers else 0

    # ------------------------------------------------------------------ cached file readers
    def cached_jsonl(self, path: Path, predicate: Any = None) -> list[dict[str, Any]]:
        """Parsed JSON lines of a file, re-read only when its size or mtime changes."""
        try:
            stat = path.stat()
        except OSError:
            return []
        stamp = (stat.st_size, stat.st_mtime_ns)
        key = f"{path}|{id(predicate)}"
        with self._cache_lock:
            hit = self._file_cache.get(key)
        if hit is not None and hit[0] == stamp:
            return hit[1]
        if predicate is None:
            records = read_jsonl(path)
        else:
            records = []
            with path.open("rb") as handle:
                for raw in handle:
                    if predicate(raw) and raw.endswith(b"\n"):
                        records.extend(read_jsonl_line(raw))
        with self._cache_lock:
            self._file_cache[key] = (stamp, records)
            if len(self._file_cache) > 4096:
                self._file_cache.pop(next(iter(self._file_cache)))
        return records

    def ledger_records(self, job_id: str) -> list[dict[str, Any]]:
        return self.cached_jsonl(self.job_dir(job_id) / "ledger.jsonl")

    def safety_events(self, job_id: str) -> list[dict[str, Any]]:
        return self.cached_jsonl(self.job_dir(job_id) / TELEMETRY, _is_safety_line)


def _is_safety_line(raw: bytes) -> bool:
    return b'"kind": "safety"' in raw or b'"kind":"safety"' in raw


def read_jsonl_line(raw: bytes) -> list[dict[str, Any]]:
    import json

    try:
        value = json.loads(raw)
    except ValueError:
        return []
    return [value] if isinstance(value, dict) else []


def platform(request: Request) -> Platform:
    return request.app.state.platform


def _client_identity(request: Request) -> str:
    return f"ip:{request.client.host if request.client else 'unknown'}"


def writer(request: Request, _bearer: Any = Depends(bearer_scheme), _header: Any = Depends(header_scheme)) -> Principal:
    """Dependency of every mutating endpoint: authenticate when required, then rate-limit."""
    p = platform(request)
    key = presented_key(request.headers)
    if key is not None:
        principal = p.keys.verify(key)
    elif p.auth_required():
        why = ("the server listens on a non-loopback address" if not p.settings.loopback
               else "API keys exist on this server")
        raise AuthError(f"this request changes state and needs an API key ({why}); send 'Authorization: Bearer "
                        "<key>' or 'X-API-Key: <key>' (create one with 'atom keys create --name NAME')")
    else:
        principal = Principal(None)
    p.limiter.check(principal.key_id or _client_identity(request))
    return principal


def reader(request: Request, _bearer: Any = Depends(bearer_scheme), _header: Any = Depends(header_scheme)) -> None:
    """Dependency of read endpoints: open unless ``protect_reads`` is set."""
    p = platform(request)
    if not p.settings.protect_reads:
        return
    key = presented_key(request.headers)
    if key is None:
        raise AuthError("this server protects reads; send 'Authorization: Bearer <key>' or 'X-API-Key: <key>'")
    principal = p.keys.verify(key)
    p.limiter.check(principal.key_id or _client_identity(request))
