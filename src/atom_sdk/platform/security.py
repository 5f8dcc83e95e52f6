"""API keys (salted hashes, never stored in clear), the auth rule, and a per-key rate limiter.

A key looks like ``atom_<key_id>_<secret>``: the id finds the row, the secret is checked against
``HMAC-SHA256(salt, secret)`` in constant time. Keys are 32 random bytes, so a fast salted hash is
enough (no password stretching needed, which keeps authenticated reads fast).

The rule: mutating requests need a valid key whenever any key exists, and always when the server
listens on a non-loopback address. Reads are open unless ``protect_reads`` is set.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, update

from atom_sdk.errors import AtomError
from atom_sdk.platform.errors import AuthError, RateLimitedError
from atom_sdk.platform.store import ApiKey, Store, utcnow

KEY_PREFIX = "atom_"


def _digest(salt: str, secret: str) -> str:
    return hmac.new(bytes.fromhex(salt), secret.encode("utf-8"), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Principal:
    """Who made a request: a key id, or None for anonymous loopback use."""

    key_id: str | None
    name: str = "anonymous"


def create_key(store: Store, name: str) -> tuple[str, dict[str, Any]]:
    """Create a key; returns (the full key, shown once, and its public record)."""
    if not name or len(name) > 128:
        raise AtomError("a key name must be 1 to 128 characters")
    key_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    salt = secrets.token_hex(16)
    with store.session() as s, s.begin():
        s.add(ApiKey(key_id=key_id, name=name, salt=salt, digest=_digest(salt, secret), created_at=utcnow()))
    return f"{KEY_PREFIX}{key_id}_{secret}", {"key_id": key_id, "name": name}


def list_keys(store: Store) -> list[dict[str, Any]]:
    with store.session() as s:
        rows = s.scalars(select(ApiKey).order_by(ApiKey.created_at)).all()
        return [{"key_id": r.key_id, "name": r.name, "created_at": r.created_at, "revoked": r.revoked_at is not None,
                 "revoked_at": r.revoked_at, "last_used_at": r.last_used_at} for r in rows]


def revoke_key(store: Store, key_id: str) -> bool:
    with store.session() as s, s.begin():
        return s.execute(update(ApiKey).where(ApiKey.key_id == key_id, ApiKey.revoked_at.is_(None))
                         .values(revoked_at=utcnow())).rowcount == 1


class KeyRing:
    """Verifies presented keys; caches the "does any key exist" answer for a second."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._any: tuple[float, bool] = (0.0, False)
        self._lock = threading.Lock()

    def any_active(self) -> bool:
        now = time.monotonic()
        with self._lock:
            if now - self._any[0] < 1.0:
                return self._any[1]
        with self.store.session() as s:
            found = bool(s.scalar(select(func.count()).select_from(ApiKey).where(ApiKey.revoked_at.is_(None))))
        with self._lock:
            self._any = (now, found)
        return found

    def verify(self, presented: str) -> Principal:
        if not presented.startswith(KEY_PREFIX) or presented.count("_") < 2:
            raise AuthError("the API key is malformed; pass the full key printed by 'atom keys create' "
                            "as 'Authorization: Bearer <key>' or 'X-API-Key: <key>'")
        key_id, _, secret = presented[len(KEY_PREFIX):].partition("_")
        with self.store.session() as s:
            row = s.get(ApiKey, key_id)
            ok = row is not None and row.revoked_at is None and hmac.compare_digest(row.digest, _digest(row.salt,
                                                                                                        secret))
            name = row.name if row is not None else ""
            last = row.last_used_at if row is not None else None
        if ok and (last is None or (utcnow() - (last if last.tzinfo else last.replace(tzinfo=utcnow().tzinfo))
                                    ).total_seconds() > 60):
            with self.store.session() as s, s.begin():
                s.execute(update(ApiKey).where(ApiKey.key_id == key_id).values(last_used_at=utcnow()))
        if not ok:
            raise AuthError("the API key is unknown or revoked; create one with 'atom keys create --name NAME'")
        return Principal(key_id, name)


def presented_key(headers: Any) -> str | None:
    auth = headers.get("authorization") or ""
    if auth.lower().startswith("bearer "):
        return auth[7:].strip() or None
    return (headers.get("x-api-key") or "").strip() or None


class RateLimiter:
    """Token bucket per identity: ``per_minute`` sustained, ``burst`` at once."""

    def __init__(self, per_minute: int, burst: int) -> None:
        self.rate = per_minute / 60.0
        self.burst = float(burst)
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def check(self, identity: str) -> None:
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get(identity, (self.burst, now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            if tokens < 1.0:
                self._buckets[identity] = (tokens, now)
                wait = (1.0 - tokens) / self.rate
                raise RateLimitedError(f"rate limit exceeded ({int(self.rate * 60)} requests per minute); retry in "
                                       f"{wait:.1f} s", retry_after=wait)
            self._buckets[identity] = (tokens - 1.0, now)
            if len(self._buckets) > 10_000:  # forget idle identities
                self._buckets = {k: v for k, v in self._buckets.items() if now - v[1] < 600}


CSP_UI = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
          "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
          "frame-ancestors 'none'")
#: /docs and /redoc load Swagger UI / ReDoc from this server (``docs_ui``) but start them with an
#: inline script and inline styles; ReDoc runs a blob: worker. Still no external source.
CSP_DOCS = ("default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
            "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; worker-src 'self' blob:; "
            "object-src 'none'; base-uri 'none'; frame-ancestors 'none'")
SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "cross-origin-opener-policy": "same-origin",
    "permissions-policy": "camera=(), microphone=(), geolocation=()",
}
