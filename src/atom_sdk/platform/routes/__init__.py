"""The HTTP API's routers, one module a resource, each an ``APIRouter`` named ``router``.

``jobs`` (any job by id), ``runs``, ``safety`` (a run's envelope), ``worlds``, ``designs`` (inverse
design), ``challenges`` (the supersonic challenge), ``geometries``, ``studio`` (the catalog),
``runtime``, ``ledger``, ``assistant``, ``health`` and ``metrics`` (Prometheus); ``jobviews`` holds
what the job routers answer with. ``atom_sdk.platform.api.create_app`` includes them.
"""
