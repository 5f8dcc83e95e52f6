"""G-02's dependency audit: the runtime closure, the OSV snapshot's coverage and age, online and offline."""

from __future__ import annotations

import json
from pathlib import Path

from atom_sdk.release import gate_security
from atom_sdk.release.advisories import make_snapshot, runtime_closure, snapshot_findings
from atom_sdk.release.gates import GateContext, GateRecorder

RUNTIME = {"numpy": "2.0.0", "requests": "2.30.0"}
REQUESTS_VULN = {"id": "GHSA-test-0001", "affected": [{"package": {"name": "requests", "ecosystem": "PyPI"},
                                                       "ranges": [{"type": "ECOSYSTEM", "events": [
                                                           {"introduced": "0"}, {"fixed": "2.31.0"}]}]}]}


def _audit(tmp_path: Path, profile: str, snapshot=None, online=None) -> GateRecorder:
    rec = GateRecorder(GateContext(root=tmp_path, profile=profile), "G-02", "Security baseline")
    path = None
    if snapshot is not None:
        path = tmp_path / "osv_snapshot.json"
        path.write_text(json.dumps(snapshot))
    gate_security.audit_check(rec, path, RUNTIME, online=online)
    rec.settle()
    return rec


def _check(rec: GateRecorder, name: str):
    return next(c for c in rec.result.checks if c.name == name)


def _now() -> str:
    from datetime import datetime, timezone

    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def test_runtime_closure_is_the_sdks_install_requirements_at_installed_versions():
    from importlib import metadata

    closure = runtime_closure()
    assert closure["numpy"] == metadata.version("numpy")
    assert "jax" in closure and "typer" in closure and "pygments" in closure   # pygments: rich's own requirement
    assert "pytest" not in closure and "fastapi" not in closure                # dev and web extras are not runtime


def test_a_complete_recent_snapshot_passes_and_a_listed_advisory_fails(tmp_path):
    rec = _audit(tmp_path, "release", make_snapshot({**RUNTIME, "requests": "2.31.0"} | {"requests": "2.30.0"}, {},
                                                    fetched_at=_now()))
    assert rec.result.status == "pass", rec.result.reason
    assert rec.result.measured["runtime_dependencies"] == RUNTIME
    rec = _audit(tmp_path, "release", make_snapshot(RUNTIME, {"requests": [REQUESTS_VULN]}, fetched_at=_now()))
    assert _check(rec, "no known vulnerability").status == "fail"
    assert "requests 2.30.0 (GHSA-test-0001)" in _check(rec, "no known vulnerability").detail


def test_a_hand_written_partial_list_fails_under_release(tmp_path):
    rec = _audit(tmp_path, "release", [REQUESTS_VULN, {"id": "X", "affected": []}])
    assert _check(rec, "advisory snapshot").status == "fail"
    assert "records no fetch time and no coverage" in _check(rec, "advisory snapshot").detail


def test_a_snapshot_missing_a_dependency_another_version_or_too_old_fails(tmp_path):
    partial = make_snapshot({"numpy": "2.0.0"}, {}, fetched_at=_now())
    detail = _check(_audit(tmp_path, "release", partial), "advisory snapshot").detail
    assert "does not cover 1 runtime dependency: requests" in detail
    other = make_snapshot({"numpy": "1.26.0", "requests": "2.30.0"}, {}, fetched_at=_now())
    assert "covers other versions: numpy 1.26.0 (installed 2.0.0)" in _check(
        _audit(tmp_path, "release", other), "advisory snapshot").detail
    old = make_snapshot(RUNTIME, {}, fetched_at="2020-01-01T00:00:00+00:00")
    rec = _audit(tmp_path, "release", old)
    assert "older than 7 days" in _check(rec, "advisory snapshot").detail
    assert rec.result.thresholds["advisory_snapshot_max_age_days"] == 7
    assert _check(_audit(tmp_path, "dev", old), "advisory snapshot").status == "pass"   # dev declares no age limit
    assert _check(_audit(tmp_path, "dev", partial), "advisory snapshot").status == "skip"  # noted, not fatal


def test_online_query_and_an_unreachable_service(tmp_path):
    asked = []

    def online(packages):
        asked.append(dict(packages))
        return {"requests": [REQUESTS_VULN], "numpy": []}

    rec = _audit(tmp_path, "release", online=online)
    assert asked == [RUNTIME]                                 # exactly the runtime closure, at its versions
    assert _check(rec, "no known vulnerability").status == "fail"

    def offline(packages):
        raise OSError("no route to host")

    rec = _audit(tmp_path, "release", online=offline)
    assert _check(rec, "dependency audit").status == "fail"
    assert "atom release advisories fetch" in _check(rec, "dependency audit").detail
    assert _check(_audit(tmp_path, "dev", online=offline), "dependency audit").status == "skip"


def test_snapshot_age_is_judged_at_the_evidence_time():
    snap = make_snapshot(RUNTIME, {}, fetched_at="2030-01-01T00:00:00+00:00")
    assert snapshot_findings(snap, RUNTIME, max_age_days=7, now="2030-01-05T00:00:00+00:00")["problems"] == []
    late = snapshot_findings(snap, RUNTIME, max_age_days=7, now="2030-01-20T00:00:00+00:00")["problems"]
    assert late == ["was fetched 19.0 days ago (older than 7 days)"]


def test_fetch_writes_a_snapshot_of_exactly_the_queried_versions(tmp_path, monkeypatch):
    from atom_sdk.release import advisories

    posted = []
    monkeypatch.setattr(advisories, "_post", lambda url, body, timeout: posted.append((url, body)) or {
        "results": [{}, {"vulns": [{"id": "GHSA-test-0001"}]}]})
    monkeypatch.setattr(advisories, "_get", lambda url, timeout: {**REQUESTS_VULN, "url": url})
    snap = advisories.fetch_snapshot(tmp_path / "osv.json", RUNTIME)
    assert posted[0][0] == "https://api.osv.dev/v1/querybatch"
    assert posted[0][1]["queries"] == [{"package": {"name": "numpy", "ecosystem": "PyPI"}, "version": "2.0.0"},
                                       {"package": {"name": "requests", "ecosystem": "PyPI"}, "version": "2.30.0"}]
    stored = json.loads((tmp_path / "osv.json").read_text())
    assert stored == snap and stored["schema"] == "atom.osv_snapshot/1" and stored["fetched_at"]
    assert [(p["name"], p["version"], [v["id"] for v in p["vulns"]]) for p in stored["packages"]] == [
        ("numpy", "2.0.0", []), ("requests", "2.30.0", ["GHSA-test-0001"])]
    assert stored["packages"][1]["vulns"][0]["url"] == "https://api.osv.dev/v1/vulns/GHSA-test-0001"
