"""G-07 on a synthetic ablation folder, and the release packet: build, verify, tamper, sign."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from atom_sdk.errors import ValidationFailedError
from atom_sdk.release.evidence import _document, write_evidence
from atom_sdk.release.gate_evidence import check_ablation
from atom_sdk.release.gates import GateContext, GateRecorder, GateResult, all_gates
from atom_sdk.release.packet import build_packet, keygen, verify_packet

COMMIT = "a" * 40


def _ablation(folder: Path, seeds=(0, 1, 2)) -> Path:
    """A small but real sweep output: per-seed records through the evidence package's writers."""
    from atom_sdk.evidence.ablation import MANIFEST_SCHEMA, RUNS_SCHEMA
    from atom_sdk.evidence.plots import write_reports

    variants = ["v2_hybrid", "no_scientist", "ppo_baseline"]
    runs = [{"variant": v, "base_variant": v, "seed": s, "config_hash": "x", "status": "ok", "error": None,
             "metrics": {"mean_return": 1.0 + 0.5 * i + 0.1 * s, "energy_error": 0.2 - 0.01 * s}, "timing": {}}
            for i, v in enumerate(variants) for s in seeds]
    runs_doc = {"schema": RUNS_SCHEMA, "baseline": "ppo_baseline", "variants": variants, "seeds": list(seeds),
                "runs": runs}
    folder.mkdir(parents=True)
    (folder / "runs.json").write_text(json.dumps(runs_doc))
    (folder / "manifest.json").write_text(json.dumps({"schema": MANIFEST_SCHEMA, "sweep": {}, "runs": [],
                                                      "status": "complete"}))
    write_reports(runs_doc, folder, n_bootstrap=200, bootstrap_seed=5)
    return folder


@pytest.fixture(scope="module")
def ablation_dir(tmp_path_factory):
    return _ablation(tmp_path_factory.mktemp("abl") / "platform_ablations")


def _check(folder: Path, tmp_path: Path) -> GateRecorder:
    rec = GateRecorder(GateContext(root=tmp_path), "G-07", "Ablation validity")
    check_ablation(rec, folder, aa_resamples=40)
    rec.settle()
    return rec


def _status(rec, name):
    return next(c.status for c in rec.result.checks if c.name == name)


def test_ablation_gate_passes_on_real_writer_output(ablation_dir, tmp_path):
    rec = _check(ablation_dir, tmp_path)
    assert rec.result.status == "pass", rec.result.reason
    assert rec.result.measured["seeds_per_variant_min"] == 3
    # n=3 paired seeds: the smallest exact two-sided p is 0.25, so the A/A run can make no claim.
    assert rec.result.measured["aa_familywise_false_claim_rate"] == 0.0


def test_ablation_gate_fails_on_broken_summary_and_unbacked_claim(ablation_dir, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(ablation_dir, broken)
    summary = json.loads((broken / "summary.json").read_text())
    summary["rows"][0]["mean"] += 0.01
    (broken / "summary.json").write_text(json.dumps(summary))
    claims = broken / "platform_ablation_claims.md"
    claims.write_text(claims.read_text() + "\n- **claim-007**: `v2_hybrid` beats `ppo_baseline` on `mean_return`. "
                      "Evidence: `sig:v2_hybrid:mean_return`.\n")
    rec = _check(broken, tmp_path)
    assert _status(rec, "summary recomputes from runs.json") == "fail"
    assert "v2_hybrid:mean_return" in next(c.detail for c in rec.result.checks if c.name.startswith("summary"))
    assert _status(rec, "claims backed by corrected significance") == "fail"
    assert "claim-007" in next(c.detail for c in rec.result.checks if c.name.startswith("claims"))


def test_ablation_gate_fails_on_missing_file_and_few_seeds(tmp_path):
    folder = _ablation(tmp_path / "two_seeds", seeds=(0, 1))
    (folder / "platform_ablation_dashboard.pdf").unlink()
    rec = _check(folder, tmp_path)
    assert _status(rec, "complete") == "fail"
    assert _status(rec, "seeds per variant") == "fail"


# --------------------------------------------------------------------------- packet


def _evidence(tmp_path: Path, status="pass") -> tuple[Path, Path]:
    from atom_sdk import __version__

    ctx = GateContext(root=tmp_path, profile="release")
    results = [GateResult(g.id, g.name, status if g.id == "G-05" else "pass", "ok") for g in all_gates()]
    doc = _document(ctx, results, {})
    doc["git"] = {"commit": COMMIT, "dirty": False}
    doc["sdk_version"] = __version__
    j, m = tmp_path / "ev" / "release_evidence.json", tmp_path / "ev" / "release_evidence.md"
    write_evidence(doc, j, m, tmp_path)
    return j, m


def _fake_dists(root: Path, dest: Path) -> list[Path]:
    dest.mkdir(parents=True, exist_ok=True)
    (dest / "atom_oss_sdk-0.0.0-py3-none-any.whl").write_bytes(b"wheel")
    (dest / "atom_oss_sdk-0.0.0.tar.gz").write_bytes(b"sdist")
    return sorted(dest.iterdir())


def _fake_sbom(dest: Path) -> Path:
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(json.dumps({"bomFormat": "CycloneDX", "specVersion": "1.6", "components": []}))
    return dest


def _build(tmp_path, ablation_dir, **kw):
    from atom_sdk import __version__

    (tmp_path / "CHANGELOG.md").write_text(f"## [{__version__}] - 2030-01-01\n\n- Release.\n")
    ev_json, ev_md = _evidence(tmp_path, kw.pop("status", "pass"))
    return build_packet(tmp_path, ablation_dir=ablation_dir, evidence_json=ev_json, evidence_md=ev_md,
                        output_dir=tmp_path / "packet", profile="release", commit=kw.pop("commit", COMMIT),
                        dirty=False, dists_fn=_fake_dists, sbom_fn=_fake_sbom, **kw)


def test_packet_builds_verifies_and_detects_tampering(tmp_path, ablation_dir):
    info = _build(tmp_path, ablation_dir)
    packet = Path(info["output_dir"])
    assert verify_packet(packet)["ok"]
    stmt = json.loads((packet / "provenance.intoto.json").read_text())
    assert stmt["_type"] == "https://in-toto.io/Statement/v1"
    assert stmt["predicateType"] == "https://slsa.dev/provenance/v1"
    names = {s["name"] for s in stmt["subject"]}
    assert {"dist/atom_oss_sdk-0.0.0-py3-none-any.whl", "sbom/sbom.cdx.json", "ablation/summary.json",
            "evidence/release_evidence.json", "CHANGELOG_ENTRY.md"} <= names

    (packet / "ablation" / "summary.csv").write_text("tampered\n")
    (packet / "extra.txt").write_text("new file")
    (packet / "dist" / "atom_oss_sdk-0.0.0.tar.gz").unlink()
    problems = verify_packet(packet)["problems"]
    assert "changed: ablation/summary.csv does not match its SHA-256" in problems
    assert "added: extra.txt is not listed in SHA256SUMS" in problems
    assert "removed: dist/atom_oss_sdk-0.0.0.tar.gz is listed in SHA256SUMS but missing" in problems


def test_signed_packet_and_wrong_key(tmp_path, ablation_dir):
    private, public = keygen(tmp_path / "keys")
    assert oct(private.stat().st_mode & 0o777) == "0o600"
    _build(tmp_path, ablation_dir, signing_key=private)
    packet = tmp_path / "packet"
    report = verify_packet(packet, public_key=public)
    assert report["ok"] and report["signed"] and report["key"] == "pinned"
    _, other = keygen(tmp_path / "other")
    assert any("does not verify" in p for p in verify_packet(packet, public_key=other)["problems"])
    (packet / "SHA256SUMS.sig").rename(tmp_path / "stripped.sig")   # stripping the signature is no downgrade
    assert any("missing although the packet was signed" in p for p in verify_packet(packet)["problems"])
    (tmp_path / "stripped.sig").rename(packet / "SHA256SUMS.sig")
    sums = packet / "SHA256SUMS"
    sums.write_text(sums.read_text().replace("CHANGELOG_ENTRY.md\n", "CHANGELOG_ENTRY.md\n", 1) + "\n")
    assert not verify_packet(packet, public_key=public)["ok"]     # SHA256SUMS itself changed: signature breaks


def test_packet_refuses_failing_or_foreign_evidence(tmp_path, ablation_dir):
    with pytest.raises(ValidationFailedError, match="G-05"):
        _build(tmp_path, ablation_dir, status="fail")
    with pytest.raises(ValidationFailedError, match="commit"):
        _build(tmp_path, ablation_dir, commit="b" * 40)


def test_broken_evidence_file_is_named_not_blamed_on_provenance(tmp_path, ablation_dir):
    packet = Path(_build(tmp_path, ablation_dir)["output_dir"])
    evidence = packet / "evidence" / "release_evidence.json"
    evidence.write_text(evidence.read_text() + "x")
    problems = verify_packet(packet)["problems"]
    assert "changed: evidence/release_evidence.json does not match its SHA-256" in problems
    assert any(p.startswith("evidence/release_evidence.json is malformed") for p in problems)
    assert not any(p.startswith("provenance.intoto.json is malformed") for p in problems), problems


def test_packet_command_warns_on_a_folder_named_for_another_version_and_refuses_without_evidence(
        tmp_path, monkeypatch, capsys):
    from atom_sdk import __version__
    from atom_sdk.cli.main import main

    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit_info:
        main(["release", "packet", "--output-dir", "release_packets/v99.0.0"])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2
    assert f"names version 99.0.0, but this SDK is {__version__}" in err
    assert not (tmp_path / "release_packets" / "v99.0.0").exists()
