"""The HTTP platform's errors: each an ``AtomError`` that carries its JSON ``code`` and HTTP status.

Why a module of their own: the store, the key ring, the geometry checks and the routes all raise
them; kept beside any one of those, the others would have to import it and the modules would
import each other in a circle.
"""

from __future__ import annotations

from atom_sdk.errors import AtomError

__all__ = ["AuthError", "GeometryError", "JobConflictError", "JobNotFoundError", "LimitError", "RateLimitedError"]


class AuthError(AtomError):
    code = "unauthorized"
    http_status = 401


class RateLimitedError(AtomError):
    """Too many requests for this key, a full job queue, or too many active jobs for one key."""

    code = "rate_limited"
    http_status = 429

    def __init__(self, message: str, *, code: str | None = None, retry_after: float = 1.0) -> None:
        super().__init__(message)
        if code:
            self.code = code
        self.retry_after = retry_after


class JobNotFoundError(AtomError):
    code = "not_found"
    http_status = 404


class JobConflictError(AtomError):
    code = "conflict"
    http_status = 409


class LimitError(AtomError):
    """A request asks for more than this server allows (grid cells, steps, evaluations)."""

    code = "limit_exceeded"
    http_status = 422


class GeometryError(AtomError):
    code = "invalid_geometry"
    http_status = 422
