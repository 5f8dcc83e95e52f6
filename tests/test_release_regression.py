"""G-10 compares like with like: the baseline's sweep settings, and never the same version twice."""

from __future__ import annotations

import json
from pathlib import Path

from atom_sdk.release import gate_regression as gr
from atom_sdk.release.gates import GateContext, GateRecorder
from atom_sdk.release.semver import SNAPSHOT_SCHEMA

SWEEP = {"world": "analytical:taylor_green", "grid": [32, 32, 16], "steps": 200, "seeds": [0, 1, 2],
         "variant_set": "production", "world_params": {}, "variants": ["a", "b"], "device": "cpu",
         "bootstrap": {"n_resamples": 4000, "seed": 123}}
INTEGRITY = {"samples": 3072, "seeds": [0, 1, 2], "noise_levels": [0.0, 0.03, 0.06], "systems": ["lorenz"],
             "force_sparse": False, "conformal_alpha": 0.1}


def _candidate(root: Path, sweep: dict, integrity: dict, recovery: float = 1.0) -> GateContext:
    out, abl = root / "validation_outputs", root / "benchmark_results" / "platform_ablations"
    out.mkdir(parents=True, exist_ok=True)
    abl.mkdir(parents=True, exist_ok=True)
    (out / "scientific_integrity.json").write_text(json.dumps({"settings": integrity, "aggregates": [
        {"system": "lorenz", "noise": 0.03, "ours": {"recovery_rate": recovery}}]}))
    (abl / "manifest.json").write_text(json.dumps({"sweep": sweep}))
    (abl / "summary.json").write_text(json.dumps({"metrics": {}, "rows": []}))
    return GateContext(root=root, profile="release")


def _baseline(root: Path, version: str = "0.1.0", settings: dict | None = None) -> None:
    ctx = _candidate(root / "old", SWEEP, INTEGRITY)
    sources = gr.metric_sources(ctx)
    base = gr.make_baseline(gr.tracked_metrics(ctx, sources), version=version, commit=None,
                            settings=gr.source_settings(sources) if settings is None else settings)
    (root / "release").mkdir(parents=True, exist_ok=True)
    (root / "release" / "baseline_evidence.json").write_text(json.dumps(base))
    (root / "release" / "surface_snapshot.json").write_text(json.dumps(
        {"schema": SNAPSHOT_SCHEMA, "version": version, "cli": {}, "openapi": []}))


def _run(ctx: GateContext, version: str = "0.2.0") -> GateRecorder:
    rec = GateRecorder(ctx, "G-10", "RC regression")
    ctx.extra.update(version=version, surface={"schema": SNAPSHOT_SCHEMA, "version": version, "cli": {},
                                               "openapi": []})
    gr.gate_regression(rec)
    rec.settle()
    return rec


def _checks(rec: GateRecorder) -> dict[str, tuple[str, str]]:
    return {c.name: (c.status, c.detail) for c in rec.result.checks}


def test_baseline_records_the_sweep_settings_without_device(tmp_path):
    settings = gr.source_settings(gr.metric_sources(_candidate(tmp_path, SWEEP, INTEGRITY)))
    assert settings["ablation"]["grid"] == [32, 32, 16] and settings["ablation"]["steps"] == 200
    assert "device" not in settings["ablation"] and settings["integrity"]["samples"] == 3072


def test_same_settings_and_a_new_version_compare_metrics(tmp_path):
    _baseline(tmp_path)
    rec = _run(_candidate(tmp_path, SWEEP, INTEGRITY))
    checks = _checks(rec)
    assert rec.result.status == "pass", rec.result.reason
    assert checks["same settings"][0] == "pass" and checks["metric regression"][0] == "pass"
    worse = _run(_candidate(tmp_path, {**SWEEP, "device": "gpu"}, INTEGRITY, recovery=0.5))
    assert _checks(worse)["metric regression"][0] == "fail"            # same settings (device is not one): compared
    assert "integrity.lorenz@0.03.recovery_rate" in _checks(worse)["metric regression"][1]


def test_a_candidate_at_other_settings_is_refused_and_not_called_a_regression(tmp_path):
    _baseline(tmp_path)
    rec = _run(_candidate(tmp_path, {**SWEEP, "grid": [16, 16, 4], "steps": 50}, {**INTEGRITY, "samples": 192},
                          recovery=0.0))
    checks = _checks(rec)
    assert rec.result.status == "fail"
    status, detail = checks["same settings"]
    assert status == "fail" and "the candidate was run at other settings than the baseline" in detail
    assert "ablation grid: candidate [16, 16, 4], baseline [32, 32, 16]" in detail
    assert "ablation steps: candidate 50, baseline 200" in detail and "integrity samples: candidate 192" in detail
    assert "metric regression" not in checks


def test_the_same_version_cannot_be_released_twice(tmp_path):
    _baseline(tmp_path, version="0.2.0")
    rec = _run(_candidate(tmp_path, SWEEP, INTEGRITY), version="0.2.0")
    status, detail = _checks(rec)["new version"]
    assert status == "fail" and "0.2.0 was already released" in detail and rec.result.status == "fail"


def test_a_baseline_without_settings_cannot_vouch_under_release(tmp_path):
    _baseline(tmp_path, settings={})
    rec = _run(_candidate(tmp_path, SWEEP, INTEGRITY))
    assert _checks(rec)["same settings"][0] == "skip"
    assert rec.result.status == "skip"                                  # a skip fails the release profile
