"""The read endpoints' pre-serialised answers: the same JSON the response models would write,
``?fields=summary`` listings, and the world catalog's ETag."""

from __future__ import annotations

import pytest

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

from atom_sdk.platform import models  # noqa: E402
from atom_sdk.platform.api import create_app  # noqa: E402
from atom_sdk.platform.catalog import tiny_run_config  # noqa: E402
from atom_sdk.platform.testing import fake_finished_run, settings_for  # noqa: E402


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    settings = settings_for(tmp_path_factory.mktemp("ws"))
    app = create_app(settings)
    with TestClient(app) as c:
        c.run_id = fake_finished_run(app.state.platform.store, settings, "fast")
        c.queued_id = c.post("/api/v1/runs", json={"config": tiny_run_config("q", variant="ppo_baseline")}).json()["id"]
        yield c


@pytest.mark.parametrize("path, model", [("/api/v1/jobs", models.JobList), ("/api/v1/runs", models.JobList),
                                         ("/api/v1/runs/{run}", models.RunDetail), ("/api/v1/jobs/{queued}", models.Job),
                                         ("/api/v1/runs/{run}/telemetry?limit=5", models.TelemetryPage),
                                         ("/api/v1/runs/{run}/artifacts", models.ArtifactList)])
def test_fast_answers_equal_what_the_response_model_writes(client, path, model):
    resp = client.get(path.format(run=client.run_id, queued=client.queued_id))
    assert resp.status_code == 200 and resp.headers["content-type"] == "application/json"
    body = resp.json()
    assert body == model.model_validate(body).model_dump(mode="json")  # no extra, missing or re-typed field
    text = resp.text
    assert '"owner"' not in text and "+00:00" not in text  # the store's owner stays private; UTC written as Z


def test_summary_listing_keeps_what_the_jobs_table_shows(client):
    full = {j["id"]: j for j in client.get("/api/v1/jobs").json()["items"]}
    short = {j["id"]: j for j in client.get("/api/v1/jobs?fields=summary").json()["items"]}
    assert set(full) == set(short) == {client.run_id, client.queued_id}
    cfg, small = full[client.queued_id]["params"]["config"], short[client.queued_id]["params"]["config"]
    assert small == {"name": "q", "variant": "ppo_baseline", "seed": cfg["seed"], "steps": cfg["steps"],
                     "world": {"name": "analytical:taylor_green"}}
    assert "agent" in cfg and "agent" not in small
    for job_id in full:  # everything but params is the same
        assert {k: v for k, v in full[job_id].items() if k != "params"} == \
               {k: v for k, v in short[job_id].items() if k != "params"}
    assert client.get("/api/v1/jobs?fields=everything").status_code == 422


def test_world_catalog_revalidates_with_its_etag(client):
    first = client.get("/api/v1/worlds")
    assert first.status_code == 200 and first.headers["cache-control"] == "no-cache"
    etag = first.headers["etag"]
    assert etag.startswith('"') and len(etag) == 34
    assert models.WorldList.model_validate(first.json()).worlds
    again = client.get("/api/v1/worlds", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == etag
    assert client.get("/api/v1/worlds", headers={"If-None-Match": '"other"'}).status_code == 200
