"""HTTP platform: FastAPI app, persistent job store, worker processes and the web UI.

``create_app(settings)`` builds the application from ``PlatformSettings``; ``atom serve`` runs it
with uvicorn. Jobs are rows in a SQLAlchemy store executed by a pool of spawned worker processes,
so the web process only serves requests. Names are handed on lazily: FastAPI and SQLAlchemy (the
``web`` extra) are imported only when the app is built.

Modules: ``api`` (the app factory), ``routes`` (one router a resource: jobs, runs, worlds,
designs, challenges, geometries, ledger, ...), ``deps`` (the request-time dependencies routes
declare: the platform, authentication, shared parameters), ``state`` (the per-app ``Platform``),
``store``, ``workers``, ``security``, ``assistant``, ``catalog``, ``models``, ``openapi``.
"""

import lazy_loader as _lazy

__getattr__, __dir__, __all__ = _lazy.attach(
    __name__,
    submod_attrs={
        "api": ["create_app"],
        "settings": ["PlatformSettings"],
    },
)
