"""Release gates on small fixtures: each passes on a good fixture and fails on a broken one."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from atom_sdk.release import gate_docs, gate_regression, gate_security, semver
from atom_sdk.release.evidence_document import check_evidence_document, render_markdown, schema_errors
from atom_sdk.release.evidence_document import evidence_document as _document
from atom_sdk.release.gate_reproducibility import check_reproducibility, strip_volatile
from atom_sdk.release.catalogue import all_gates, gate_table
from atom_sdk.release.gates import GateContext, GateRecorder, GateResult
import atom_sdk.cli.main  # noqa: F401,E402 - the CLI hands its surface to the release tooling


def _rec(root: Path, gate_id: str = "G-XX", **kw) -> GateRecorder:
    return GateRecorder(GateContext(root=root, **kw), gate_id, "test")


def _status(rec: GateRecorder, name: str) -> str:
    return next(c.status for c in rec.result.checks if c.name == name)


def test_registry_has_ten_gates_in_order():
    assert [g.id for g in all_gates()] == [f"G-{i:02d}" for i in range(1, 11)]


# --------------------------------------------------------------------------- G-09 docs

OPENAPI = {"openapi": "3.1.0", "info": {"title": "t", "version": "1"},
           "paths": {"/api/jobs": {"get": {}, "post": {}}, "/api/jobs/{job_id}": {"get": {}}}}


def _docs_root(tmp_path: Path) -> Path:
    (tmp_path / "docs").mkdir()
    (tmp_path / "scripts").mkdir()
    (tmp_path / "scripts" / "tool.py").write_text(textwrap.dedent("""
        import argparse
        p = argparse.ArgumentParser()
        p.add_argument("--alpha")
        p.add_argument("--check", action="store_true")
        p.parse_args()
    """), encoding="utf-8")
    (tmp_path / "README.md").write_text(textwrap.dedent("""
        # Demo
        Run `atom worlds list` or:

        ```bash
        venv/bin/atom run --name tg --grid 8 8 1 --steps 10 --world-nu 0.01  # comment --bogus
        PYTHONDONTWRITEBYTECODE=1 venv/bin/python scripts/tool.py --alpha 1 \\
          --check
        venv/bin/atom release gates --only G-09 --profile dev --json
        ```

        ```python
        atom --not-a-shell-block
        ```
    """), encoding="utf-8")
    (tmp_path / "docs" / "openapi.json").write_text(json.dumps(OPENAPI), encoding="utf-8")
    (tmp_path / "docs" / "PLATFORM_API_UI.md").write_text(
        "- `GET /api/jobs` list\n- `POST /api/jobs` submit\n- `GET /api/jobs/{job_id}` one job\n", encoding="utf-8")
    (tmp_path / "CHANGELOG.md").write_text("# Changelog\n\n## [9.9.9] - 2030-01-01\n\n- Added things.\n",
                                           encoding="utf-8")
    (tmp_path / "docs" / "SDK_RELEASE.md").write_text(
        f"x\n{gate_docs.GATE_TABLE_BEGIN}\n{gate_table()}\n{gate_docs.GATE_TABLE_END}\n", encoding="utf-8")
    return tmp_path


def _run_docs(root: Path, openapi=OPENAPI) -> GateRecorder:
    rec = _rec(root, "G-09", extra={"openapi": openapi, "version": "9.9.9"})
    gate_docs.gate_docs(rec)
    rec.settle()
    return rec


def test_docs_gate_passes_on_good_fixture(tmp_path):
    rec = _run_docs(_docs_root(tmp_path))
    assert rec.result.status == "pass", rec.result.reason
    assert rec.result.measured["endpoints"] == 3
    assert rec.result.measured["doc_command_problems"] == 0


def test_docs_gate_stale_openapi_and_undocumented_endpoint(tmp_path):
    root = _docs_root(tmp_path)
    live = json.loads(json.dumps(OPENAPI))
    live["paths"]["/api/jobs/{job_id}/cancel"] = {"post": {}}
    rec = _run_docs(root, live)
    assert _status(rec, "OpenAPI freshness") == "fail"
    assert "/api/jobs/{job_id}/cancel" in next(c.detail for c in rec.result.checks if c.name == "OpenAPI freshness")
    assert _status(rec, "endpoints documented") == "fail"
    assert rec.result.measured["endpoints_undocumented"] == 1


def test_docs_gate_names_unknown_flag_with_file_and_line(tmp_path):
    root = _docs_root(tmp_path)
    readme = root / "README.md"
    readme.write_text(readme.read_text() + "\nThen `atom release gates --onlyy G-01` and "
                      "`venv/bin/python scripts/tool.py --beta 2`.\n", encoding="utf-8")
    rec = _run_docs(root)
    detail = next(c.detail for c in rec.result.checks if c.name == "documented commands parse")
    assert rec.result.status == "fail"
    assert "README.md:16" in detail and "--onlyy" in detail and "atom release gates" in detail
    assert "--beta" in detail and "scripts/tool.py" in detail


def test_docs_gate_changelog_and_gate_table(tmp_path):
    root = _docs_root(tmp_path)
    (root / "docs" / "SDK_RELEASE.md").write_text(
        f"{gate_docs.GATE_TABLE_BEGIN}\n| G-01 | old |\n{gate_docs.GATE_TABLE_END}\n", encoding="utf-8")
    rec = _rec(root, "G-09", extra={"openapi": None, "version": "10.0.0"})
    gate_docs.gate_docs(rec)
    assert _status(rec, "CHANGELOG entry") == "fail"
    assert _status(rec, "gate table") == "fail"
    assert _status(rec, "OpenAPI freshness") == "skip"
    assert gate_docs.write_gate_table(root / "docs" / "SDK_RELEASE.md", gate_table()) is True
    rec = _rec(root, "G-09")
    gate_docs.check_gate_table(rec, root)
    assert _status(rec, "gate table") == "pass"


# --------------------------------------------------------------------------- G-10 regression + SemVer


def test_metric_regression_is_named(tmp_path):
    base = gate_regression.make_baseline({"integrity.false_discovery_rate": 0.02, "safety.detection_rate": 0.95,
                                          "bench.speedup": 10.0}, version="1.0.0", commit=None)
    path = tmp_path / "baseline.json"
    path.write_text(json.dumps(base))
    rec = _rec(tmp_path)
    good = {"integrity.false_discovery_rate": 0.0205, "safety.detection_rate": 0.97, "bench.speedup": 10.3}
    gate_regression.check_regression(rec, path, good)
    assert _status(rec, "metric regression") == "pass"
    rec = _rec(tmp_path)
    gate_regression.check_regression(rec, path, {**good, "integrity.false_discovery_rate": 0.03,
                                                 "safety.detection_rate": 0.99})
    detail = next(c.detail for c in rec.result.checks if c.name == "metric regression")
    assert _status(rec, "metric regression") == "fail"
    assert "integrity.false_discovery_rate" in detail and "detection_rate" not in detail
    rec = _rec(tmp_path)
    gate_regression.check_regression(rec, path, {"bench.speedup": 10.0})
    assert "missing" in next(c.detail for c in rec.result.checks)


def test_direction_inference_matches_words_not_substrings():
    infer = gate_regression.infer_direction
    assert infer("integrity.aggregates[4].ours.recovery_rate") == "higher"   # was "both": a fix read as drift
    assert infer("integrity.cells[0].ours.n_calibration") == "both"          # not "ratio"
    assert infer("safety.undetected_faults") == "both"                       # not "detect"
    assert infer("safety.detection_delay_steps") == "lower"
    assert infer("integrity.x.coef_rel_error_max") == infer("ablation.v.diverged_episodes") == "lower"
    assert infer("ablation.v2_hybrid.mean_return") == infer("bench.speedup") == "higher"


def test_tracked_metrics_carry_their_own_tolerances():
    from atom_sdk.release import metrics

    integ = metrics.integrity_metrics({"thresholds": {"coverage_nominal": 0.9}, "aggregates": [
        {"system": "dho", "noise": 0.03, "ours": {"recovery_rate": 1.0, "coef_rel_error_median": 0.004,
                                                  "coverage_mean": 0.912}}]})
    assert integ["integrity.dho@0.03.recovery_rate"]["abs_tol"] < 1e-6        # losing a seed is a regression
    assert integ["integrity.dho@0.03.coverage_gap"]["value"] == pytest.approx(0.012)
    safety = metrics.safety_metrics({"worlds": {"w": {"nominal": {"false_intervention_rate": 0.0}, "faults": {
        "nan_state": {"detected": True, "latency_steps": 0}}}, "skipped": {"skipped": True}}})
    assert set(safety) == {"safety.w.false_intervention_rate", "safety.w.nan_state.detected",
                           "safety.w.nan_state.latency_steps"}
    abl = metrics.ablation_metrics({"metrics": {"mean_return": "higher", "steps": None}, "rows": [
        {"variant": "v", "metric": "mean_return", "mean": 10.0, "ci_low": 8.0, "ci_high": 11.0},
        {"variant": "v", "metric": "steps", "mean": 200.0}]})
    assert list(abl) == ["ablation.v.mean_return"] and abl["ablation.v.mean_return"]["abs_tol"] == 2.0

    base = gate_regression.make_baseline({**integ, **safety, **abl}, version="0.1.0", commit=None)
    cand = {k: v["value"] for k, v in base["metrics"].items()}
    worse = {**cand, "integrity.dho@0.03.coef_rel_error_median": 0.0085,     # tol max(0.005, 0.5*0.004) = 0.005
             "integrity.dho@0.03.coverage_gap": 0.03, "safety.w.nan_state.latency_steps": 1.0,
             "ablation.v.mean_return": 8.5}
    bad = {r["metric"] for r in gate_regression.compare_metrics(base, worse) if r["regressed"]}
    assert bad == {"integrity.dho@0.03.coverage_gap"}
    worse.update({"integrity.dho@0.03.coef_rel_error_median": 0.0095, "safety.w.nan_state.latency_steps": 2.0,
                  "ablation.v.mean_return": 7.9, "safety.w.nan_state.detected": 0.0})
    bad = {r["metric"] for r in gate_regression.compare_metrics(base, worse) if r["regressed"]}
    assert bad == {"integrity.dho@0.03.coverage_gap", "integrity.dho@0.03.coef_rel_error_median",
                   "safety.w.nan_state.latency_steps", "ablation.v.mean_return", "safety.w.nan_state.detected"}


def _evidence_run(root: Path, files: dict[str, dict]) -> Path:
    """Metric files plus an evidence JSON whose gates recorded their SHA-256, like a real run."""
    from atom_sdk.release.gates import sha256_file

    ctx = GateContext(root=root, profile="rc")
    results = []
    for gate_id, rel in (("G-05", "validation_outputs/reliability.json"),
                         ("G-07", "benchmark_results/platform_ablations/summary.json")):
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(files[rel]))
        results.append(GateResult(gate_id, "x", "pass", "ok",
                                  evidence=[{"path": rel, "sha256": sha256_file(path), "role": "read"}]))
    doc = _document(ctx, results + [GateResult("G-04", "x", "fail", "lorenz")], {"only": None})
    doc["git"] = {"commit": "c" * 40, "dirty": False}
    out = root / "validation_outputs" / "release_evidence.json"
    out.write_text(json.dumps(doc))
    return out


def test_baseline_is_written_from_the_evidence_run_and_refuses_changed_files(tmp_path):
    from atom_sdk.errors import ValidationFailedError

    files = {"validation_outputs/reliability.json": {"passed": True, "records": [
                 {"checks": {"run": {"passed": True}, "resume": {"passed": False}}}]},
             "benchmark_results/platform_ablations/summary.json": {
                 "metrics": {"mean_return": "higher"},
                 "rows": [{"variant": "v2_hybrid", "metric": "mean_return", "mean": 1.5}]}}
    evidence = _evidence_run(tmp_path, files)
    # A file the evidence run never saw is not vouched for and stays out of the baseline.
    (tmp_path / "validation_outputs" / "benchmarks.json").write_text(json.dumps({"speedup": 9.0}))
    ctx = GateContext(root=tmp_path)
    base = gate_regression.baseline_from_evidence(ctx, evidence)
    assert base["metrics"] == {
        "ablation.v2_hybrid.mean_return": {"value": 1.5, "direction": "higher", "rel_tol": 0.1, "abs_tol": 1e-6},
        "reliability.checks_failed": {"value": 1.0, "direction": "lower", "rel_tol": 0.0, "abs_tol": 0.0}}
    assert base["git_commit"] == "c" * 40
    assert base["evidence"]["overall_pass"] is False and base["evidence"]["failed_gates"] == ["G-04"]
    assert set(base["sources"]) == set(files)

    # G-10 then compares those real numbers with their tolerances.
    path = tmp_path / "baseline.json"
    path.write_text(json.dumps(base))
    rec = _rec(tmp_path)
    gate_regression.check_regression(rec, path, gate_regression.candidate_metrics(GateContext(root=tmp_path)))
    assert _status(rec, "metric regression") == "pass" and rec.result.measured["metrics_compared"] == 2

    # Re-produced since the evidence run: refused, naming the file.
    (tmp_path / "validation_outputs" / "reliability.json").write_text(json.dumps({"records": []}))
    with pytest.raises(ValidationFailedError, match="validation_outputs/reliability.json changed"):
        gate_regression.baseline_from_evidence(GateContext(root=tmp_path), evidence)


def test_snapshot_command_writes_the_baseline_from_the_evidence_or_refuses(tmp_path, monkeypatch, capsys):
    from atom_sdk.cli.main import main

    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit_info:       # no evidence run yet: nothing is written
        main(["release", "snapshot", "--out-dir", "release"])
    assert exit_info.value.code == 2 and not (tmp_path / "release").exists()
    assert "release_evidence.json does not exist" in capsys.readouterr().err
    _evidence_run(tmp_path, {"validation_outputs/reliability.json": {"records": []},
                             "benchmark_results/platform_ablations/summary.json": {"rows": []}})
    with pytest.raises(SystemExit) as exit_info:
        main(["release", "snapshot", "--out-dir", "release"])
    assert exit_info.value.code in (0, None)
    base = json.loads((tmp_path / "release" / "baseline_evidence.json").read_text())
    assert list(base["metrics"]) == ["reliability.checks_failed"] and base["git_commit"] == "c" * 40
    assert (tmp_path / "release" / "surface_snapshot.json").is_file()


def _surface(version: str, flags: list[str], endpoints: list[str]):
    params = {f.strip("-").replace("-", "_"): {"kind": "option", "required": False, "multiple": False, "nargs": 1,
                                               "opts": [f], "is_flag": False} for f in flags}
    return {"version": version, "cli": {"atom": {"group": True, "params": {}},
                                        "atom run": {"group": False, "params": params}}, "openapi": endpoints}


@pytest.mark.parametrize("new_version,flags,endpoints,ok,bump", [
    ("1.0.1", ["--seed", "--steps"], ["GET /jobs"], True, "patch"),
    ("1.0.1", ["--seed"], ["GET /jobs"], False, "major"),           # removed flag, no MAJOR bump
    ("2.0.0", ["--seed"], ["GET /jobs"], True, "major"),
    ("1.0.1", ["--seed", "--steps", "--device"], ["GET /jobs"], False, "minor"),  # added flag needs MINOR
    ("1.1.0", ["--seed", "--steps", "--device"], ["GET /jobs", "POST /jobs"], True, "minor"),
    ("1.1.0", ["--seed", "--steps"], [], False, "major"),           # removed endpoint
])
def test_semver_rule(tmp_path, new_version, flags, endpoints, ok, bump):
    snap = tmp_path / "surface.json"
    snap.write_text(json.dumps(_surface("1.0.0", ["--seed", "--steps"], ["GET /jobs"])))
    rec = _rec(tmp_path)
    gate_regression.check_semver(rec, snap, _surface(new_version, flags, endpoints))
    assert _status(rec, "SemVer") == ("pass" if ok else "fail")
    assert rec.result.measured["required_bump"] == bump


def test_real_cli_surface_lists_release_commands():
    surface = semver.cli_surface()
    assert {"atom release gates", "atom release packet", "atom release verify"} <= set(surface)
    assert surface["atom release gates"]["params"]["only"]["opts"] == ["--only"]


# --------------------------------------------------------------------------- G-02 security (fast parts)


def test_osv_matcher_catches_vulnerable_pin(tmp_path):
    advisories = [
        {"id": "GHSA-test-0001", "affected": [{"package": {"name": "Requests", "ecosystem": "PyPI"},
                                               "ranges": [{"type": "ECOSYSTEM",
                                                           "events": [{"introduced": "0"}, {"fixed": "2.31.0"}]}]}]},
        {"id": "PYSEC-test-2", "affected": [{"package": {"name": "numpy", "ecosystem": "PyPI"},
                                             "versions": ["1.21.0"]}]},
        {"id": "OSV-npm", "affected": [{"package": {"name": "requests", "ecosystem": "npm"}, "versions": ["2.0.0"]}]},
        {"id": "GHSA-last", "affected": [{"package": {"name": "pyyaml", "ecosystem": "PyPI"},
                                          "ranges": [{"type": "ECOSYSTEM",
                                                      "events": [{"introduced": "5.0"}, {"last_affected": "5.3"}]}]}]},
    ]
    hits = gate_security.match_advisories(advisories, {"requests": "2.30.0", "numpy": "1.21.0", "PyYAML": "5.3"})
    assert sorted(h["id"] for h in hits) == ["GHSA-last", "GHSA-test-0001", "PYSEC-test-2"]
    assert gate_security.match_advisories(advisories, {"requests": "2.31.0", "numpy": "2.0.0", "PyYAML": "5.4"}) == []

    # A plain list of records (not a snapshot) still matches for reading, but never vouches for coverage:
    # see tests/test_release_advisories.py.


def test_secrets_scan_and_waivers(tmp_path):
    fake_key = "AKIA" + "ABCDEFGHIJKLMNOP"
    begin = "-----BEGIN " + "PRIVATE KEY-----"
    token = "q8Zr2LmX9" + "vTb4NcW7pKd"
    (tmp_path / "a.py").write_text(f'x = 1\naws = "{fake_key}"\napi_token = "{token}"\n'
                                   f'password = "changeme"\n{begin}\n', encoding="utf-8")
    found = gate_security.scan_secrets(tmp_path, [tmp_path / "a.py"], [])
    assert found == ["a.py:2 AWS access key id", "a.py:3 high-entropy value assigned to 'api_token'",
                     "a.py:5 private key"]
    assert gate_security.scan_secrets(tmp_path, [tmp_path / "a.py"], [{"path": "a.py"}]) == []

    (tmp_path / "w.toml").write_text('[[waiver]]\ntest_id = "B602"\npath = "src/x.py"\njustification = "fixed"\n')
    waivers = gate_security.load_waivers(tmp_path / "w.toml")
    finding = {"test_id": "B602", "issue_severity": "HIGH", "filename": "src/x.py", "line_number": 3}
    rec = _rec(tmp_path)
    gate_security.bandit_check(rec, [finding, {**finding, "filename": "src/y.py"}], waivers)
    assert _status(rec, "bandit") == "fail" and "src/y.py:3" in rec.result.checks[0].detail
    (tmp_path / "bad.toml").write_text('[[waiver]]\ntest_id = "B602"\npath = "src/x.py"\n')
    with pytest.raises(Exception, match="justification"):
        gate_security.load_waivers(tmp_path / "bad.toml")


# --------------------------------------------------------------------------- G-03 with a stand-in runner


def _fake_run(config, out_dir, *, noise=None):
    import hashlib

    from atom_sdk.config import config_hash
    from atom_sdk.provenance import utc_now

    h = int(config_hash(config)[:8], 16)
    value = h % 1000 / 7.0 + (next(noise) if noise else 0.0)
    return {"summary": {"mean_return": value}, "provenance": {"config": config.model_dump(mode="json")},
            "timings": {"wall_seconds": hashlib.sha256(str(out_dir).encode()).hexdigest()},
            "started": {"finished_at": utc_now()}}


def test_reproducibility_gate_with_fake_runner(tmp_path):
    from atom_sdk.release.gate_reproducibility import TINY_CONFIG

    rec = _rec(tmp_path)
    check_reproducibility(rec, TINY_CONFIG, _fake_run)
    assert rec.settle().status == "pass", rec.result.reason
    assert len(set(rec.result.measured["config_hashes"].values())) == 1
    import itertools

    noise = itertools.count()
    rec = _rec(tmp_path)
    check_reproducibility(rec, TINY_CONFIG, lambda c, o: _fake_run(c, o, noise=noise))
    assert rec.settle().status == "fail"
    assert ".summary.mean_return" in rec.result.reason
    assert strip_volatile({"a": 1, "timings": 2, "x_at": 3, "b": [{"created_at": 1, "c": 2}]}) == {"a": 1, "b": [{"c": 2}]}


# --------------------------------------------------------------------------- G-08 evidence document


def _doc(tmp_path, statuses=None, allow_missing=False, profile="release"):
    ctx = GateContext(root=tmp_path, profile=profile, allow_missing=allow_missing)
    statuses = statuses or {}
    results = [GateResult(g.id, g.name, statuses.get(g.id, "pass"), "ok") for g in all_gates()]
    return _document(ctx, results, {"only": None})


def test_evidence_document_validates_and_release_profile_is_strict(tmp_path):
    doc = _doc(tmp_path)
    assert schema_errors(doc) == []
    rec = _rec(tmp_path, "G-08", profile="release")
    check_evidence_document(rec, doc, profile="release")
    assert rec.settle().status == "pass", rec.result.reason

    skipped = _doc(tmp_path, {"G-09": "skip"}, profile="release")
    rec = _rec(tmp_path, "G-08", profile="release")
    check_evidence_document(rec, skipped, profile="release")
    assert _status(rec, "no skip") == "fail"
    rec = _rec(tmp_path, "G-08", profile="dev")
    check_evidence_document(rec, _doc(tmp_path, {"G-09": "skip"}, profile="dev"), profile="dev")
    assert rec.settle().status == "pass"

    rec = _rec(tmp_path, "G-08", profile="release")
    check_evidence_document(rec, _doc(tmp_path, allow_missing=True), profile="release")
    assert _status(rec, "no allow_missing") == "fail"

    broken = {**doc, "gates": [g for g in doc["gates"] if g["id"] != "G-04"]}
    rec = _rec(tmp_path, "G-08", profile="release")
    check_evidence_document(rec, broken, profile="release")
    assert "G-04" in next(c.detail for c in rec.result.checks if c.name == "names every gate")
    assert schema_errors({**doc, "gates": [{"id": "G-1"}]})
    md = render_markdown(doc)
    assert "| G-10 | RC regression | PASS |" in md


# --------------------------------------------------------------------------- G-04/G-05 producers


def test_producer_options_include_the_argparse_parser_of_bench_commands():
    from atom_sdk.release.gate_evidence import _find_command, command_options

    # `atom bench integrity/reliability` parse their options with argparse; click sees only --help.
    assert {"--check", "--output"} <= command_options(_find_command(["bench", "integrity"]))
    assert "--output" in command_options(_find_command(["bench", "reliability"]))


def test_cli_producer_writes_to_the_context_outputs_and_a_stale_file_is_not_read(tmp_path, monkeypatch):
    import os
    import subprocess

    from atom_sdk.release import gate_evidence

    calls = []
    real_run = subprocess.run

    def fake_run(argv, **kw):
        if "atom_sdk" not in argv:
            return real_run(argv, **kw)                    # git etc.
        calls.append(argv)
        if write:
            out = Path(argv[argv.index("--output") + 1])
            out.write_text(json.dumps({"passed": False, "git_commit": "new"}))
        return subprocess.CompletedProcess(argv, 1, "", "FAILED")

    monkeypatch.setattr(gate_evidence.subprocess, "run", fake_run)
    producer = gate_evidence.PRODUCERS["G-04"]
    outputs = tmp_path / "elsewhere"
    write = True
    rec = _rec(tmp_path, "G-04", outputs=outputs, profile="rc")
    gate_evidence.collect(rec, producer)
    rec.settle()
    out = outputs / producer.filename
    assert "--check" in calls[0] and str(out) in calls[0]
    assert _status(rec, "producer ran") == "pass"          # exit 1 under --check: the report decides
    assert _status(rec, "verdict") == "fail" and rec.result.status == "fail"

    # A stale passing report from another commit must not stand in when the producer writes nothing.
    out.write_text(json.dumps({"passed": True, "git_commit": "old"}))
    os.utime(out, ns=(1, 1))
    write = False
    rec = _rec(tmp_path, "G-04", outputs=outputs, profile="rc")
    gate_evidence.collect(rec, producer)
    rec.settle()
    assert rec.result.status == "fail" and "wrote no new" in rec.result.reason
    assert "verdict" not in {c.name for c in rec.result.checks}


def test_integrity_gate_refuses_a_report_at_another_budget_and_produces_at_the_declared_one(tmp_path, monkeypatch):
    import subprocess

    from atom_sdk.release import gate_evidence
    from atom_sdk.release.profiles import integrity_budget

    calls = []

    def fake_run(argv, **kw):
        if "atom_sdk" not in argv:
            return subprocess.CompletedProcess(argv, 0, "", "")
        calls.append(argv)
        out = Path(argv[argv.index("--output") + 1])
        samples = int(argv[argv.index("--samples") + 1]) if "--samples" in argv else 192
        out.write_text(json.dumps({"passed": True, "git_commit": None, "settings": {
            "samples": samples, "seeds": [0, 1, 2], "noise_levels": [0.0, 0.03, 0.06]}}))
        return subprocess.CompletedProcess(argv, 0, "", "")

    monkeypatch.setattr(gate_evidence.subprocess, "run", fake_run)
    rec = _rec(tmp_path, "G-04", profile="release")
    gate_evidence.gate_integrity(rec)
    rec.settle()
    budget = integrity_budget("release")
    assert calls and calls[0][calls[0].index("--samples") + 1] == str(budget["samples"])
    assert _status(rec, "declared budget") == "pass"
    assert rec.result.measured["integrity_budget"]["samples"] == budget["samples"]

    outputs = tmp_path / "validation_outputs"
    (outputs / "scientific_integrity.json").write_text(json.dumps({"passed": True, "settings": {
        "samples": 192, "seeds": [0, 1, 2], "noise_levels": [0.0, 0.03, 0.06]}}))
    rec = _rec(tmp_path, "G-04", profile="dev")           # dev declares no budget: recorded, accepted
    gate_evidence.gate_integrity(rec)
    assert rec.settle().status == "pass" and rec.result.measured["integrity_budget"]["samples"] == 192
    (outputs / "scientific_integrity.json").write_text(json.dumps({"passed": True, "git_commit": "abc", "settings": {
        "samples": 192, "seeds": [0, 1, 2], "noise_levels": [0.0, 0.03, 0.06]}}))
    monkeypatch.setattr(gate_evidence, "current_commit", lambda root: "abc")
    calls.clear()
    rec = _rec(tmp_path, "G-04", profile="release")        # fresh at this commit, but made at 192 samples
    gate_evidence.gate_integrity(rec)
    rec.settle()
    assert calls == [] and rec.result.status == "fail"
    detail = next(c.detail for c in rec.result.checks if c.name == "declared budget")
    assert "samples=192 (declared 3072)" in detail and "--samples 3072 --check" in detail


def _integrity_report(tmp_path: Path, **sections) -> None:
    from atom_sdk.release.profiles import integrity_budget

    outputs = tmp_path / "validation_outputs"
    outputs.mkdir(parents=True, exist_ok=True)
    doc = {"passed": True, "git_commit": "abc", "settings": dict(integrity_budget("release")), **sections}
    (outputs / "scientific_integrity.json").write_text(json.dumps(doc))


def _stability(agreement: float = 1.0, noise: float = 0.03) -> dict:
    return {"rows": [{"system": "dho", "noise": 0.0, "agreement": 1.0},
                     {"system": "hopf", "noise": noise, "agreement": agreement}], "passed": True}


def test_integrity_gate_judges_the_null_and_seed_stability_trials(tmp_path, monkeypatch):
    from atom_sdk.release import gate_evidence

    monkeypatch.setattr(gate_evidence, "current_commit", lambda root: "abc")

    def judge(profile: str = "release", **sections) -> GateRecorder:
        _integrity_report(tmp_path, **sections)
        rec = _rec(tmp_path, "G-04", profile=profile)
        gate_evidence.gate_integrity(rec)
        rec.settle()
        return rec

    def detail(rec: GateRecorder, name: str) -> str:
        return next(c.detail for c in rec.result.checks if c.name == name)

    rec = judge(null_trial={"n_trials": 120, "n_accepted": 0}, seed_stability=_stability())
    assert rec.result.status == "pass" and _status(rec, "null trial") == "pass"
    assert "0 of 120" in detail(rec, "null trial") and "0.0247" in detail(rec, "null trial")
    assert rec.result.measured["null_false_discovery_upper"] == pytest.approx(1 - 0.05 ** (1 / 120))

    # 5 of 120: the bound (0.0857) is above 5 %; the gate recomputes it, whatever the report claims
    rec = judge(null_trial={"n_trials": 120, "n_accepted": 5, "upper_bound": 0.01, "passed": True},
                seed_stability=_stability())
    assert rec.result.status == "fail" and _status(rec, "null trial") == "fail"
    assert "5 of 120 null trials accepted a law" in detail(rec, "null trial")
    assert "0.0856 > 0.05" in detail(rec, "null trial") and "data that hold none" in detail(rec, "null trial")

    rec = judge(null_trial={"n_trials": 12, "n_accepted": 0}, seed_stability=_stability())
    assert _status(rec, "null trial") == "fail" and "(needs >= 59)" in detail(rec, "null trial")

    rec = judge(seed_stability=_stability())                       # no null section at the release budget
    assert rec.result.status == "fail" and "incomplete report: no null_trial section" in detail(rec, "null trial")
    rec = judge(null_trial={"n_trials": 120, "n_accepted": 0})
    assert rec.result.status == "fail" and "incomplete report: no seed_stability" in detail(rec, "seed stability")

    rec = judge(null_trial={"n_trials": 120, "n_accepted": 0}, seed_stability=_stability(0.9, noise=0.03))
    assert _status(rec, "seed stability") == "fail" and "hopf@0.03 0.90 (needs 0.95)" in detail(rec, "seed stability")
    rec = judge(null_trial={"n_trials": 120, "n_accepted": 0}, seed_stability=_stability(0.9, noise=0.06))
    assert _status(rec, "seed stability") == "pass" and "lowest 0.90" in detail(rec, "seed stability")

    rec = judge("dev")                                              # dev: older reports without the trials
    assert rec.result.status == "pass" and "null trial" not in {c.name for c in rec.result.checks}
    rec = judge("dev", null_trial={"n_trials": 120, "n_accepted": 7})
    assert _status(rec, "null trial") == "fail"                     # present: judged under every profile
