"""The interactive API docs (Swagger UI at ``/docs``, ReDoc at ``/redoc``) served from the package.

FastAPI's own pages load Swagger UI and ReDoc from jsDelivr, so on a machine without internet
(a cluster node, a lab behind a firewall) they stay blank. ``new_app`` builds the app with
``fastapi-offline`` instead: same pages, but their JavaScript, CSS and favicon come from
``/docs/assets/``, out of the ``fastapi_offline`` wheel.

Why ``fastapi-offline`` rather than assets committed here: the three files are ~2.7 MB of minified
third-party JavaScript (Swagger UI 5, ReDoc 2) with their own licences and security fixes. The
MIT-licensed wheel carries them, depends on nothing but FastAPI, and moves by one version pin in
``pyproject.toml`` (exact, since the assets are what the offline browser test checks), instead of
a hand-copied blob in our tree and our wheel that nobody updates.

The pages and the asset mount are outside the OpenAPI schema (``docs/openapi.json`` does not change),
and ``security.CSP_DOCS`` allows no external source on them either. That CSP is also what keeps
ReDoc's sidebar from fetching the Redocly logo from cdn.redoc.ly, which the bundle always asks for
(the logo then hides itself); Swagger UI's validator badge is turned off.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

DOCS_URL, REDOC_URL = "/docs", "/redoc"
#: Under /docs, so the assets get the docs pages' CSP; clear of the UI's own /static mount.
ASSETS_URL = "/docs/assets"
#: Swagger UI's "online validator" badge would send the schema to validator.swagger.io: never.
SWAGGER_UI_PARAMETERS: dict[str, Any] = {"validatorUrl": None}


def new_app(**kwargs: Any) -> FastAPI:
    """``FastAPI(**kwargs)`` whose /docs and /redoc need nothing but this server."""
    from fastapi_offline import FastAPIOffline

    return FastAPIOffline(docs_url=DOCS_URL, redoc_url=REDOC_URL, static_url=ASSETS_URL,
                          swagger_ui_parameters=SWAGGER_UI_PARAMETERS, **kwargs)
