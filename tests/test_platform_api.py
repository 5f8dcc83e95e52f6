"""HTTP API contract: endpoints, error bodies, validation, ledger/assistant over known data, OpenAPI docs."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

from atom_sdk.platform.api import create_app  # noqa: E402
from atom_sdk.platform.catalog import tiny_run_config  # noqa: E402
from atom_sdk.platform.testing import FAKE_LAW, fake_finished_run, settings_for  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture()
def client(tmp_path):
    app = create_app(settings_for(tmp_path, max_queue=5))
    with TestClient(app) as c:
        c.platform = app.state.platform
        yield c


def test_health_ready_and_worlds(client):
    assert client.get("/healthz").json()["status"] == "ok"
    ready = client.get("/readyz").json()
    assert ready["ready"] is True and ready["database"] is True and ready["workers_expected"] == 0
    worlds = {w["id"]: w for w in client.get("/api/v1/worlds").json()["worlds"]}
    assert {"analytical:taylor_green", "lbm2d:cylinder", "supersonic:wedge"} <= set(worlds)
    tg = worlds["analytical:taylor_green"]
    assert "nu" in tg["parameters_schema"]["properties"] and tg["observables"] == ["amplitude"]
    assert any(c["name"] for c in tg["validation_cases"])


def test_run_submission_validation_and_errors(client):
    ok = client.post("/api/v1/runs", json={"config": tiny_run_config("api_run")})
    assert ok.status_code == 202
    job = ok.json()
    assert job["state"] == "queued" and job["kind"] == "run" and job["name"] == "api_run"
    assert job["params"]["config"]["world"]["grid"] == [8, 8, 1] and "output_root" not in job["params"]["config"]
    assert job["links"]["telemetry"] == f"/api/v1/runs/{job['id']}/telemetry"
    assert client.get(f"/api/v1/runs/{job['id']}").json()["laws"] == []

    bad = client.post("/api/v1/runs", json={"config": {"steps": 0}})
    assert bad.status_code == 422 and bad.json()["code"] == "invalid_request"
    assert "config.steps" in bad.json()["message"] and bad.json()["details"][0]["loc"][-1] == "steps"
    unknown_key = client.post("/api/v1/runs", json={"config": {"stepz": 3}})
    assert unknown_key.status_code == 422
    world = client.post("/api/v1/runs", json={"config": {"world": {"name": "nope:none"}}})
    assert world.status_code == 422 and world.json()["code"] == "invalid_config" and "choose one of" in world.json()["message"]
    param = client.post("/api/v1/runs", json={"config": {"world": {"params": {"viscosity": 1}}}})
    assert param.status_code == 422 and param.json()["code"] == "invalid_world_parameter"
    big = client.post("/api/v1/runs", json={"config": {"world": {"grid": [1024, 1024, 1]}}})
    assert big.status_code == 422 and big.json()["code"] == "limit_exceeded"
    missing = client.get("/api/v1/runs/run_0000000000000000")
    assert missing.status_code == 404 and missing.json()["code"] == "not_found"
    assert client.get("/api/v1/nothing-here").json()["code"] == "not_found"
    assert client.put("/healthz").status_code == 405


def test_queue_full_is_429_and_cancel_conflicts(client):
    ids = [client.post("/api/v1/runs", json={"config": tiny_run_config(f"q{i}")}).json()["id"] for i in range(5)]
    full = client.post("/api/v1/runs", json={"config": tiny_run_config("q5")})
    assert full.status_code == 429 and full.json()["code"] == "queue_full" and "retry-after" in full.headers
    cancelled = client.post(f"/api/v1/runs/{ids[0]}/cancel").json()
    assert cancelled["state"] == "cancelled"
    again = client.post(f"/api/v1/runs/{ids[0]}/cancel")
    assert again.status_code == 409 and again.json()["code"] == "conflict"
    assert client.post(f"/api/v1/runs/{ids[1]}/resume").status_code == 409  # queued, not interrupted
    assert client.get("/api/v1/runtime/telemetry").json()["jobs_by_state"] == {
        "queued": 4, "running": 0, "paused": 0, "succeeded": 0, "failed": 0, "cancelled": 1, "interrupted": 0}


def test_design_and_challenge_submission(client):
    template = client.get("/api/v1/inverse-design/spec-template").json()
    names = {p["problem"] for p in template["problems"]}
    assert "wedge_shock_angle" in names and "properties" in template["spec_schema"]
    job = client.post("/api/v1/inverse-design/jobs", json={"spec": {"problem": "wedge_shock_angle"}})
    assert job.status_code == 202 and job.json()["kind"] == "inverse_design"
    assert client.post("/api/v1/inverse-design/jobs", json={"spec": {"problem": "nope"}}).status_code == 422
    too_many = client.post("/api/v1/inverse-design/jobs", json={"spec": {"iterations": 1000, "population": 100}})
    assert too_many.status_code == 422 and too_many.json()["code"] == "limit_exceeded"
    ch = client.post("/api/v1/challenges/supersonic/jobs", json={"steps": 20, "grid": [32, 24, 1]})
    assert ch.status_code == 202 and ch.json()["links"]["control"].endswith("/control")
    # 80 deg is beyond the attached-shock range at Mach 2 (max about 64.7 deg)
    unattainable = client.post("/api/v1/challenges/supersonic/jobs", json={"schedule": [[0, "hold", 80, 80]]})
    assert unattainable.status_code == 422 and "not attainable" in unattainable.json()["message"]
    paused = client.post(f"/api/v1/challenges/supersonic/jobs/{ch.json()['id']}/control", json={"action": "pause"})
    assert paused.json()["control"] == "pause"
    tl = client.get(f"/api/v1/challenges/supersonic/jobs/{ch.json()['id']}/timeline").json()
    assert tl["events"] == [] and tl["state"] == "queued"
    assert client.get(f"/api/v1/challenges/supersonic/jobs/{job.json()['id']}").status_code == 404  # wrong kind


def test_catalog_templates_are_valid_requests(client):
    templates = client.get("/api/v1/studio/catalog").json()["templates"]
    kinds = {t["kind"] for t in templates}
    assert {"run", "inverse_design", "challenge", "validation"} <= kinds
    for t in templates:  # every template is accepted as-is by its endpoint
        resp = client.post(t["endpoint"], json=t["body"])
        assert resp.status_code == 202, (t["id"], resp.json())
        client.post(f"/api/v1/jobs/{resp.json()['id']}/cancel")


def test_telemetry_cursor_ledger_and_run_detail(client):
    p = client.platform
    run_id = fake_finished_run(p.store, p.settings, "known", mean_reward=-0.25, safety_events=2)
    first = client.get(f"/api/v1/runs/{run_id}/telemetry", params={"limit": 5}).json()
    assert [i["line"] for i in first["items"]] == [0, 1, 2, 3, 4] and first["next_cursor"] == 5 and not first["done"]
    rest = client.get(f"/api/v1/runs/{run_id}/telemetry", params={"after": first["next_cursor"]}).json()
    assert rest["next_cursor"] == 10 and rest["done"] and [i["kind"] for i in rest["items"]].count("safety") == 1
    detail = client.get(f"/api/v1/runs/{run_id}").json()
    assert detail["summary"]["mean_reward"] == -0.25 and detail["laws"][0]["equation"] == FAKE_LAW["equation"]
    ledger = client.get("/api/v1/ledger").json()
    assert ledger["total"] == 3 and ledger["counts_by_kind"] == {"candidate": 1, "rejected": 1, "accepted": 1}
    accepted = client.get("/api/v1/ledger", params={"kind": "accepted", "run_id": run_id}).json()["items"]
    assert len(accepted) == 1 and accepted[0]["seq"] == 2 and accepted[0]["job_id"] == run_id
    events = client.get("/api/v1/runtime/telemetry").json()["recent_safety_events"]
    assert len(events) == 2 and {e["reason"] for e in events} == {"SAFETY_SPEED_LIMIT"}
    stream = client.get(f"/api/v1/runs/{run_id}/telemetry/stream", params={"after": 8})
    assert stream.headers["content-type"].startswith("text/event-stream")
    ids = re.findall(r"^id: (\d+)$", stream.text, flags=re.M)
    assert ids == ["9", "10"] and "event: end" in stream.text
    arts = {a["path"] for a in client.get(f"/api/v1/runs/{run_id}/artifacts").json()["items"]}
    assert {"results.json", "ledger.jsonl", "telemetry.jsonl"} <= arts
    body = client.get(f"/api/v1/runs/{run_id}/artifacts/results.json")
    assert body.status_code == 200 and body.json()["summary"]["final_trust"] == 0.7


def test_assistant_answers_with_citations(client):
    p = client.platform
    a = fake_finished_run(p.store, p.settings, "alpha", mean_reward=-0.5, safety_events=0)
    b = fake_finished_run(p.store, p.settings, "beta", mean_reward=-0.1, safety_events=3)
    laws = client.post("/api/v1/assistant/query", json={"question": f"Which laws did {a} discover?"}).json()
    assert laws["intent"] == "laws" and FAKE_LAW["equation"] in laws["answer"]
    assert all(s["citations"] for s in laws["statements"])
    assert laws["statements"][0]["citations"][0] == {"job_id": a, "artifact": "results.json", "pointer": "/laws/0",
                                                     "ledger_seq": None}
    safety = client.post("/api/v1/assistant/query", json={"question": "were there safety violations?"}).json()
    assert safety["intent"] == "safety" and f"Run {b}: 3 safety events" in safety["answer"]
    assert "SAFETY_SPEED_LIMIT x3" in safety["answer"]
    compare = client.post("/api/v1/assistant/query", json={"question": f"compare {a} and {b}"}).json()
    assert compare["intent"] == "compare" and f"{b} did better" in compare["answer"]
    evidence = client.post("/api/v1/assistant/query", json={"question": "why was a hypothesis rejected?",
                                                            "run_id": a}).json()
    assert "does not beat persistence" in evidence["answer"]
    assert any(c["ledger_seq"] == 1 for s in evidence["statements"] for c in s["citations"])
    helpful = client.post("/api/v1/assistant/query", json={"question": "hello"}).json()
    assert helpful["intent"] == "help" and "2 jobs" in helpful["answer"]
    llm = client.post("/api/v1/assistant/query", json={"question": "laws?", "summarize": True}).json()
    assert llm["llm_summary"] is None and "ATOM_ASSISTANT_LLM_URL" in llm["llm_error"]


def test_assistant_llm_summary_uses_openai_compatible_endpoint(client, monkeypatch):
    import httpx

    p = client.platform
    fake_finished_run(p.store, p.settings, "gamma")
    seen = {}

    def fake_post(url, json=None, headers=None, timeout=None):  # noqa: A002 - mirrors httpx.post
        seen["url"], seen["body"] = url, json
        return httpx.Response(200, json={"choices": [{"message": {"content": "One law was found."}}]},
                              request=httpx.Request("POST", url))

    monkeypatch.setattr(httpx, "post", fake_post)
    p.settings.assistant_llm_url = "http://llm.local/v1"
    out = client.post("/api/v1/assistant/query", json={"question": "laws?", "summarize": True}).json()
    assert out["llm_summary"] == "One law was found." and seen["url"] == "http://llm.local/v1/chat/completions"
    assert FAKE_LAW["equation"] in seen["body"]["messages"][1]["content"]


def test_openapi_export_is_fresh_and_every_endpoint_documented():
    from atom_sdk.platform.openapi import export_openapi, live_schema
    from atom_sdk.release.gate_docs import endpoint_documented
    from atom_sdk.release.semver import openapi_surface

    stored = ROOT / "docs" / "openapi.json"
    assert stored.is_file(), "run: atom openapi export --output docs/openapi.json"
    assert json.loads(stored.read_text()) == json.loads(export_openapi()), (
        "docs/openapi.json is stale; run: atom openapi export --output docs/openapi.json")
    schema = live_schema()
    doc = (ROOT / "docs" / "PLATFORM_API_UI.md").read_text()
    endpoints = [e.split(" ", 1) for e in openapi_surface(schema)]
    assert len(endpoints) >= 35
    missing = [f"{m} {p}" for m, p in endpoints if not endpoint_documented(doc, m, p)]
    assert not missing, f"not documented in docs/PLATFORM_API_UI.md: {missing}"
    for _, path in endpoints:  # every path has a curl example
        assert re.search(r"curl(?:[^\n]|\\\n)*?" + re.escape(re.sub(r"\{[^}]+\}", "X", path)).replace("X", r"[^\s\"'/?]+"),
                         doc), path


def test_ui_is_served_without_external_sources(client):
    page = client.get("/")
    assert page.status_code == 200 and "<main id=\"view\"" in page.text
    for asset in re.findall(r'(?:src|href)="(/static/[^"]+)"', page.text):
        text = client.get(asset).text
        assert "http://" not in text.replace("http://127.0.0.1", "") and "https://" not in text, asset
    assert "cdn" not in page.text.lower()


DOCS_ASSET_TYPES = {".js": ("text/javascript", "application/javascript"), ".css": ("text/css",),
                    ".png": ("image/png",), ".json": ("application/json",)}


def test_docs_and_redoc_load_only_same_origin_assets(client):
    schema_paths = set(client.get("/openapi.json").json()["paths"])
    for page in ("/docs", "/redoc"):
        html = client.get(page)
        assert html.status_code == 200 and html.headers["content-type"].startswith("text/html"), page
        assert "http://" not in html.text and "https://" not in html.text, f"{page} refers to another host"
        refs = set(re.findall(r"""(?:src|href|spec-url)=["']([^"']+)["']|url:\s*'([^']+)'""", html.text))
        urls = {a or b for a, b in refs}
        assert "/openapi.json" in urls and any(u.endswith(".js") for u in urls), (page, urls)
        for url in urls:
            assert url.startswith("/") and not url.startswith("//"), (page, url)
            asset = client.get(url)
            expected = DOCS_ASSET_TYPES[Path(url).suffix]
            assert asset.status_code == 200 and asset.headers["content-type"].split(";")[0] in expected, (url, asset)
            assert len(asset.content) > 1000, url
        assert page not in schema_paths
    assert "/metrics" not in schema_paths


def test_metrics_count_requests_by_route_template_and_jobs_by_state(client):
    from prometheus_client import CONTENT_TYPE_LATEST
    from prometheus_client.parser import text_string_to_metric_families

    for _ in range(3):
        assert client.get("/healthz").status_code == 200
    for run_id in ("run_0000000000000001", "run_0000000000000002"):  # two paths, one route
        assert client.get(f"/api/v1/runs/{run_id}").status_code == 404
    for path in ("/no/such/a", "/no/such/b"):
        assert client.get(path).status_code == 404
    assert client.put("/healthz").status_code == 405
    launched = client.post("/api/v1/runs", json={"config": tiny_run_config("m1")})
    assert launched.status_code == 202
    assert client.post("/api/v1/runs", content=b"0" * (3 << 20), headers={"content-type": "application/json"}
                       ).status_code == 413
    assert client.post(f"/api/v1/runs/{launched.json()['id']}/cancel").status_code == 200

    scraped = client.get("/metrics")
    assert scraped.status_code == 200 and scraped.headers["content-type"] == CONTENT_TYPE_LATEST
    samples: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for family in text_string_to_metric_families(scraped.text):
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value

    def requests(method: str, route: str, status: str) -> float:
        return samples.get(("atom_http_requests_total", (("method", method), ("route", route), ("status", status))), 0)

    assert requests("GET", "/healthz", "200") == 3
    assert requests("GET", "/api/v1/runs/{run_id}", "404") == 2
    assert requests("GET", "unmatched", "404") == 2
    assert requests("PUT", "/healthz", "405") == 1
    assert requests("POST", "/api/v1/runs", "202") == 1
    assert requests("POST", "/api/v1/runs", "413") == 1  # refused before routing, still named by its route
    routes = {dict(labels)["route"] for name, labels in samples if name == "atom_http_requests_total"}
    assert not any("run_0000" in r or "/no/such" in r for r in routes), routes
    assert samples[("atom_http_request_duration_seconds_count", (("method", "GET"), ("route", "/healthz")))] == 3
    assert samples[("atom_http_request_duration_seconds_bucket",
                    (("le", "+Inf"), ("method", "GET"), ("route", "/healthz")))] == 3
    jobs = {dict(labels)["state"]: v for (name, labels), v in samples.items() if name == "atom_jobs"}
    assert jobs == {"queued": 0, "running": 0, "paused": 0, "succeeded": 0, "failed": 0, "cancelled": 1,
                    "interrupted": 0}
    assert samples[("atom_database_up", ())] == 1 and samples[("atom_workers_expected", ())] == 0
    again = client.get("/metrics").text  # the first scrape is counted by the next one
    assert 'atom_http_requests_total{method="GET",route="/metrics",status="200"} 1.0' in again


def test_field_snapshot_downsamples_the_first_non_constant_field(tmp_path):
    import numpy as np

    from atom_sdk.platform.jobfiles import write_field_snapshot

    class FakeWorld:
        def fields(self):
            x = np.arange(128.0)[:, None, None] * np.ones((1, 96, 1))
            return {"density": np.ones((128, 96, 1)), "velocity": np.stack([x, 0 * x, 0 * x])}

    write_field_snapshot(tmp_path, FakeWorld(), step=7)
    snap = json.loads((tmp_path / "field_snapshot.json").read_text())
    assert snap["name"] == "|velocity|" and snap["shape"] == [64, 48] and snap["step"] == 7
    assert len(snap["data"]) == 48 and len(snap["data"][0]) == 64  # rows along y, columns along x
    assert snap["data"][0][0] == 0.5 and snap["data"][0][-1] == 126.5  # 2x2 block means of |u| = x
    assert snap["min"] == 0.5 and snap["max"] == 126.5
