"""ASGI middleware and error handlers: body-size limit (413), security headers, JSON errors.

Why plain ASGI for the size limit: the limit must hold for chunked uploads without a
``Content-Length`` too, so the body is counted as it is received, before any parsing.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from atom_sdk.errors import AtomError, nonfinite_problem
from atom_sdk.platform.errors import RateLimitedError
from atom_sdk.platform.security import CSP_DOCS, CSP_UI, SECURITY_HEADERS

log = logging.getLogger("atom.platform")

STATUS_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
                405: "method_not_allowed", 406: "not_acceptable", 409: "conflict", 413: "payload_too_large",
                415: "unsupported_media_type", 422: "invalid_request", 429: "rate_limited", 500: "internal_error",
                503: "not_ready"}
DOCS_PATHS = ("/docs", "/redoc")
# encoded once: every response carries them
_CSP_UI = (b"content-security-policy", CSP_UI.encode())
_CSP_DOCS = (b"content-security-policy", CSP_DOCS.encode())
_SECURITY_HEADERS = tuple((k.encode(), v.encode()) for k, v in SECURITY_HEADERS.items())


def error_body(code: str, message: str, details: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"code": code, "message": message, "details": details}


class BodyLimitMiddleware:
    """Refuse request bodies over ``max_bytes`` with 413, by header or by counting the stream."""

    def __init__(self, app: Any, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    too_big = int(value) > self.max_bytes
                except ValueError:
                    too_big = False
                if too_big:
                    await self._reject(send)
                    return
        received = 0
        started = False
        rejected = False

        async def counting_receive() -> dict[str, Any]:
            # Over the limit: answer 413 ourselves and tell the app the client went away, so that no
            # body parser can turn the overflow into another status.
            nonlocal received, rejected
            if rejected:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    rejected = True
                    if not started:
                        await self._reject(send)
                    return {"type": "http.disconnect"}
            return message

        async def tracking_send(message: dict[str, Any]) -> None:
            nonlocal started
            if rejected:
                return  # the 413 is already out
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except Exception:
            if not rejected:
                raise

    async def _reject(self, send: Any) -> None:
        body = json.dumps(error_body("payload_too_large", f"the request body is larger than {self.max_bytes} bytes; "
                                                          "send a smaller body (for masks: a smaller PNG)")).encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                                *[(k.encode(), v.encode()) for k, v in SECURITY_HEADERS.items()]]})
        await send({"type": "http.response.body", "body": body})


class SecurityHeadersMiddleware:
    """CSP without external sources (inline scripts allowed on the interactive docs only), nosniff, DENY
    framing, no referrer."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        csp = _CSP_DOCS if path.startswith(DOCS_PATHS) else _CSP_UI

        async def with_headers(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                if not any(k.lower() == b"content-security-policy" for k, _ in headers):  # keep a stricter one
                    headers.append(csp)
                headers.extend(_SECURITY_HEADERS)
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)


def _validation_details(exc: RequestValidationError) -> list[dict[str, Any]]:
    out = []
    for err in exc.errors():
        # NaN or infinity: "must be a finite number", not the bound pydantic names (NaN breaks none)
        msg = nonfinite_problem(err) or str(err.get("msg", ""))
        out.append({"loc": [str(p) for p in err.get("loc", ())], "msg": msg, "type": str(err.get("type", ""))})
    return out


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(AtomError)
    async def _atom(_request: Request, exc: AtomError) -> JSONResponse:
        headers = {}
        if isinstance(exc, RateLimitedError):
            headers["retry-after"] = str(max(1, int(round(exc.retry_after))))
        if exc.http_status == 401:
            headers["www-authenticate"] = "Bearer"
        return JSONResponse(error_body(exc.code, str(exc)), status_code=exc.http_status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        details = _validation_details(exc)
        parts = [f"'{'.'.join(d['loc'][1:] or d['loc'])}': {d['msg']}" for d in details[:5]]
        message = "invalid request: " + "; ".join(parts) + (" ..." if len(details) > 5 else "")
        return JSONResponse(error_body("invalid_request", message + "; fix these fields and retry", details),
                            status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = STATUS_CODES.get(exc.status_code, "error")
        message = exc.detail if isinstance(exc.detail, str) else json.dumps(exc.detail)
        if exc.status_code == 404 and message == "Not Found":
            message = "no such endpoint; see /docs for the API"
        if exc.status_code == 405:
            message = "this method is not allowed on this endpoint; see /docs for the methods it takes"
        return JSONResponse(error_body(code, message), status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(Exception)
    async def _crash(_request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error")
        return JSONResponse(error_body("internal_error", f"internal error ({type(exc).__name__}); the server log has "
                                                         "the details, please report it"), status_code=500)
