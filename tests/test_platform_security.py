"""API security (release gate G-02): keys, auth rule, rate limits, size limits, path confinement,
uploads checked by content, security headers, CORS."""

from __future__ import annotations

import io
import os
import sqlite3

import pytest

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

from atom_sdk.platform.api import create_app  # noqa: E402
from atom_sdk.platform.catalog import tiny_run_config  # noqa: E402
from atom_sdk.platform.security import create_key, list_keys, revoke_key  # noqa: E402
from atom_sdk.platform.testing import fake_finished_run, settings_for  # noqa: E402

RUN = {"config": tiny_run_config("sec")}


def _client(tmp_path, **overrides):
    app = create_app(settings_for(tmp_path, **overrides))
    client = TestClient(app)
    client.__enter__()
    client.platform = app.state.platform
    return client


@pytest.fixture()
def client(tmp_path):
    c = _client(tmp_path)
    yield c
    c.__exit__(None, None, None)


def _png(width, height, draw=None):
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (width, height), "white")
    if draw:
        draw(ImageDraw.Draw(image))
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def test_keys_are_stored_hashed_and_required_once_one_exists(client, tmp_path):
    store = client.platform.store
    assert client.post("/api/v1/runs", json=RUN).status_code == 202  # loopback, no key yet: open
    key, record = create_key(store, "ci")
    secret = key.split("_", 2)[2]
    raw = sqlite3.connect(tmp_path / "platform.db").execute("select salt, digest from api_keys").fetchall()
    assert len(raw) == 1 and secret not in repr(raw) and len(raw[0][1]) == 64
    client.platform.keys._any = (0.0, False)  # drop the one-second cache
    anon = client.post("/api/v1/runs", json=RUN)
    assert anon.status_code == 401 and anon.json()["code"] == "unauthorized" and "atom keys create" in anon.json()["message"]
    assert anon.headers["www-authenticate"] == "Bearer"
    wrong = client.post("/api/v1/runs", json=RUN, headers={"x-api-key": key[:-2] + "xx"})
    assert wrong.status_code == 401
    assert client.post("/api/v1/runs", json=RUN, headers={"authorization": f"Bearer {key}"}).status_code == 202
    assert client.post("/api/v1/runs", json=RUN, headers={"x-api-key": key}).status_code == 202
    assert client.get("/api/v1/runs").json()["total"] == 3  # reads stay open
    assert revoke_key(store, record["key_id"]) and not revoke_key(store, record["key_id"])
    assert client.post("/api/v1/runs", json=RUN, headers={"x-api-key": key}).status_code == 401
    assert [k["revoked"] for k in list_keys(store)] == [True]


def test_non_loopback_requires_a_key_and_reads_can_be_protected(tmp_path):
    open_net = _client(tmp_path / "a", host="0.0.0.0")  # nosec B104 - the case under test
    try:
        refused = open_net.post("/api/v1/runs", json=RUN)
        assert refused.status_code == 401 and "non-loopback" in refused.json()["message"]
        assert open_net.get("/api/v1/runs").status_code == 200
    finally:
        open_net.__exit__(None, None, None)
    guarded = _client(tmp_path / "b", protect_reads=True)
    try:
        key, _ = create_key(guarded.platform.store, "reader")
        assert guarded.get("/api/v1/runs").status_code == 401
        assert guarded.get("/api/v1/runs", headers={"x-api-key": key}).status_code == 200
        assert guarded.get("/healthz").status_code == 200
        assert guarded.get("/metrics").status_code == 401  # a read: needs a key once reads are protected
        scraped = guarded.get("/metrics", headers={"authorization": f"Bearer {key}"})
        assert scraped.status_code == 200 and "atom_jobs" in scraped.text
    finally:
        guarded.__exit__(None, None, None)


def test_rate_limit_and_jobs_per_key(tmp_path):
    c = _client(tmp_path, rate_limit_per_minute=60, rate_limit_burst=3, max_jobs_per_key=2)
    try:
        key, _ = create_key(c.platform.store, "k")
        h = {"x-api-key": key}
        codes = [c.post("/api/v1/runs", json=RUN, headers=h).status_code for _ in range(3)]
        assert codes == [202, 202, 429]
        limited = c.post("/api/v1/runs", json=RUN, headers=h)
        assert limited.status_code == 429 and limited.json()["code"] == "rate_limited"
        assert int(limited.headers["retry-after"]) >= 1
        c.platform.limiter._buckets.clear()
        third = c.post("/api/v1/runs", json=RUN, headers=h)
        assert third.json()["code"] == "too_many_jobs" and "limit 2" in third.json()["message"]
    finally:
        c.__exit__(None, None, None)


def test_body_size_limit_413_with_and_without_content_length(tmp_path):
    c = _client(tmp_path, max_body_bytes=4096)
    try:
        big = {"config": {**tiny_run_config("big"), "name": "x" * 100}, "pad": "y" * 8000}
        resp = c.post("/api/v1/runs", json=big)
        assert resp.status_code == 413 and resp.json()["code"] == "payload_too_large"

        def chunks():
            yield b'{"config": {"name": "'
            for _ in range(10):
                yield b"z" * 1000
            yield b'"}}'

        chunked = c.post("/api/v1/runs", content=chunks(), headers={"content-type": "application/json"})
        assert chunked.status_code == 413
        assert c.post("/api/v1/runs", json=RUN).status_code == 202
    finally:
        c.__exit__(None, None, None)


def test_artifact_paths_are_confined(client, tmp_path):
    run_id = fake_finished_run(client.platform.store, client.platform.settings, "conf")
    secret = tmp_path / "outside.txt"
    secret.write_text("not yours")
    folder = client.platform.settings.jobs_dir / run_id
    os.symlink(secret, folder / "escape.txt")
    (folder / "page.html").write_text("<script>alert(1)</script>")
    base = f"/api/v1/runs/{run_id}/artifacts"
    for bad in ("..%2F..%2Fplatform.db", "%2E%2E/%2E%2E/platform.db", "escape.txt", "%2Fetc%2Fpasswd"):
        resp = client.get(f"{base}/{bad}")
        assert resp.status_code in (400, 404), bad
        assert "not yours" not in resp.text and resp.json()["code"] in ("path_outside_workspace", "not_found",
                                                                        "artifact_error")
    assert client.get(f"{base}/escape.txt").json()["code"] == "path_outside_workspace"
    listed = {a["path"] for a in client.get(base).json()["items"]}
    assert "escape.txt" not in listed and "results.json" in listed
    html = client.get(f"{base}/page.html")
    assert html.headers["content-disposition"].startswith("attachment")
    assert html.headers["content-security-policy"].startswith("sandbox")
    assert client.get(f"{base}/results.json").headers["content-disposition"].startswith("inline")


def test_uploads_are_checked_by_content(client):
    url = "/api/v1/geometries/upload"
    disk = _png(96, 34, lambda d: d.ellipse((20, 10, 34, 24), fill="black"))
    ok = client.post(url, data={"name": "disk"}, files={"file": ("notes.txt", disk, "text/plain")})
    assert ok.status_code == 201, ok.json()
    info = ok.json()
    assert info["source"] == "mask" and info["grid"] == [96, 34]
    assert abs(info["centroid"][0] - 27.0) < 0.6 and abs(info["centroid"][1] - 16.0) < 0.6
    assert 140 < info["solid_cells"] < 200  # a disk of diameter ~14 px: pi * 7^2 = 154
    fake = client.post(url, data={"name": "fake"}, files={"file": ("body.png", b"GIF89a not a png", "image/png")})
    assert fake.status_code == 422 and fake.json()["code"] == "invalid_geometry" and "PNG signature" in fake.json()["message"]
    truncated = client.post(url, data={"name": "cut"}, files={"file": ("b.png", disk[:60], "image/png")})
    assert truncated.status_code == 422
    huge = client.post(url, data={"name": "huge"}, files={"file": ("b.png", _png(2000, 10), "image/png")})
    assert huge.status_code == 422 and "pixels" in huge.json()["message"]
    wall = client.post(url, data={"name": "wall"}, files={"file": ("b.png", _png(96, 34, lambda d: d.rectangle(
        (40, 0, 45, 33), fill="black")), "image/png")})
    assert wall.status_code == 422 and "wall" in wall.json()["message"]
    square = client.post(url, data={"name": "sq", "polygon": "[[20,12],[30,12],[30,22],[20,22]]", "grid": "96,34"})
    assert square.status_code == 201 and square.json()["solid_cells"] == 121
    assert square.json()["centroid"] == [25.0, 17.0] and square.json()["bbox"] == [20, 12, 30, 22]
    both = client.post(url, data={"name": "x", "polygon": "[[1,1],[2,2],[3,1]]"}, files={"file": ("b.png", disk, "image/png")})
    assert both.status_code == 422
    mask = client.get(square.json()["mask_url"])
    assert mask.status_code == 200 and mask.content.startswith(b"\x89PNG\r\n\x1a\n")
    run = client.post("/api/v1/runs", json={"config": {"world": {"name": "lbm2d:cylinder", "grid": [96, 34, 1]},
                                                       "steps": 4}, "geometry_id": square.json()["id"]})
    assert run.status_code == 202
    params = run.json()["params"]["config"]["world"]["params"]
    assert params["body"] == "polygon"  # the uploaded square itself, not its equal-area circle
    assert params["body_vertices"] == [[20.0, 12.0], [30.0, 12.0], [30.0, 22.0], [20.0, 22.0]]
    wrong_world = client.post("/api/v1/runs", json={"config": {"steps": 4}, "geometry_id": square.json()["id"]})
    assert wrong_world.status_code == 422


def test_security_headers_and_cors(client, tmp_path):
    for path in ("/", "/api/v1/worlds", "/static/app.js"):
        h = client.get(path).headers
        assert h["x-content-type-options"] == "nosniff" and h["x-frame-options"] == "DENY"
        assert h["referrer-policy"] == "no-referrer"
        csp = h["content-security-policy"]
        assert "default-src 'self'" in csp and "http" not in csp and "frame-ancestors 'none'" in csp
    for path in ("/docs", "/redoc", "/docs/assets/swagger-ui-bundle.js"):  # the docs come from this server too
        csp = client.get(path).headers["content-security-policy"]
        assert "default-src 'self'" in csp and "http" not in csp and "'unsafe-inline'" in csp, path
    pre = client.options("/api/v1/runs", headers={"origin": "https://evil.example", "access-control-request-method": "POST"})
    assert "access-control-allow-origin" not in pre.headers
    got = client.get("/api/v1/runs", headers={"origin": "https://evil.example"})
    assert "access-control-allow-origin" not in got.headers
    cors = _client(tmp_path / "cors", cors_origins=["https://lab.example"])
    try:
        ok = cors.get("/api/v1/runs", headers={"origin": "https://lab.example"})
        assert ok.headers["access-control-allow-origin"] == "https://lab.example"
        assert "access-control-allow-origin" not in cors.get("/api/v1/runs", headers={"origin": "https://x.example"}).headers
    finally:
        cors.__exit__(None, None, None)


def test_keys_cli(tmp_path):
    import json

    from typer.testing import CliRunner

    from atom_sdk.cli.main import app

    runner = CliRunner()
    ws = str(tmp_path / "ws")
    made = runner.invoke(app, ["keys", "create", "--name", "bot", "--workspace", ws, "--json"])
    assert made.exit_code == 0, made.output
    record = json.loads(made.output)
    assert record["key"].startswith(f"atom_{record['key_id']}_")
    listed = json.loads(runner.invoke(app, ["keys", "list", "--workspace", ws, "--json"]).output)
    assert [(k["key_id"], k["name"], k["revoked"]) for k in listed] == [(record["key_id"], "bot", False)]
    assert runner.invoke(app, ["keys", "revoke", record["key_id"], "--workspace", ws]).exit_code == 0
    assert json.loads(runner.invoke(app, ["keys", "list", "--workspace", ws, "--json"]).output)[0]["revoked"] is True
