"""Schema-based fuzzing of every endpoint (schemathesis): no 5xx, responses match the schema.

The fast tier draws a few examples per endpoint; set ATOM_FUZZ_EXAMPLES for a longer campaign.
"""

from __future__ import annotations

import os

import pytest

pytest.importorskip("fastapi")
schemathesis = pytest.importorskip("schemathesis", reason="schemathesis is not installed (pip install schemathesis)")
from hypothesis import HealthCheck, settings  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.specs.openapi.checks import (  # noqa: E402
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from atom_sdk.platform.api import create_app  # noqa: E402
from atom_sdk.platform.testing import fake_finished_run, settings_for  # noqa: E402

EXAMPLES = int(os.environ.get("ATOM_FUZZ_EXAMPLES", "3"))
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


def _app():
    import tempfile

    app = create_app(settings_for(tempfile.mkdtemp(prefix="atom-fuzz-"), max_queue=20))
    return app


APP = _app()
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)


@pytest.fixture(scope="module", autouse=True)
def _started():
    """Run the app's lifespan (tables) and add one finished run so reads have data."""
    from fastapi.testclient import TestClient

    with TestClient(APP) as client:
        p = APP.state.platform
        fake_finished_run(p.store, p.settings, "fuzzed")
        client.get("/healthz")
        yield


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True,
          database=None)
def test_every_endpoint_conforms(case):
    if case.path.endswith("/telemetry/stream"):
        case.query = {**(case.query or {}), "max_seconds": 1}
    response = case.call()
    case.validate_response(response, checks=CHECKS)
    assert response.status_code < 500
