"""G-07 on a synthetic ablation folder, and the release packet: build, verify, tamper, sign."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from atom_sdk.errors import ValidationFailedError
from atom_sdk.release.evidence_document import write_evidence
from atom_sdk.release.gate_evidence import check_ablation
from atom_sdk.release.catalogue import all_gates
from atom_sdk.release.gates import GateContext, GateRecorder, sha256_file
from atom_sdk.release.packet import build_packet, keygen
from atom_sdk.release.verify import verify_packet

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


# --------------------------------------------------------------------------- packet fixture
#
# A small but complete release: every input the builder re-derives from (integrity cells, reliability
# records, safety report, ablation folder, baseline, surface snapshot, advisory snapshot, CHANGELOG, gate
# table, a wheel) exists, and the evidence names each with its SHA-256, as a real evidence run does.


def _cell(seed: int, noise: float, ok: bool = True) -> dict:
    res = {"exact_support": ok, "coef_rel_errors": [0.001, 0.002], "coverage": 0.9, "false_terms": 0,
           "missed_terms": 0 if ok else 1, "error": None}
    return {"system": "oscillator", "noise": noise, "seed": seed, "ours": res, "pysindy": dict(res)}


def _integrity_report(ok: bool = True, samples: int = 3072) -> dict:
    from atom_sdk.evidence.integrity import THRESHOLDS

    cells = [_cell(s, n, ok) for n in (0.0, 0.03) for s in (0, 1, 2)]
    return {"settings": {"samples": samples, "seeds": [0, 1, 2], "noise_levels": [0.0, 0.03, 0.06]},
            "thresholds": dict(THRESHOLDS), "cells": cells, "passed": ok, "failing_cells": [],
            "null_trial": {"n_trials": 120, "n_accepted": 0},
            "seed_stability": {"rows": [{"system": "lorenz", "noise": 0.03, "agreement": 1.0}]}}


RUNTIME = {"numpy": "2.0.0", "typer": "0.29.0"}


def _snapshot(covers=RUNTIME, fetched_at="2030-01-01T00:00:00+00:00", vulns=None) -> dict:
    from atom_sdk.release.advisories import make_snapshot

    return make_snapshot(covers, vulns or {}, fetched_at=fetched_at)


def _write(path: Path, data) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return path


def _repo(root: Path, ablation_dir: Path, *, reliability_ok: bool = True) -> dict[str, Path]:
    """The files of a release at ``root``; returns the inputs each gate names."""
    from atom_sdk import __version__
    from atom_sdk.release.gate_regression import make_baseline, source_settings, tracked_metrics
    from atom_sdk.release.catalogue import gate_table
    from atom_sdk.release.gates import GATE_TABLE_BEGIN, GATE_TABLE_END
    from atom_sdk.release.semver import SNAPSHOT_SCHEMA

    out = root / "validation_outputs"
    files = {
        "integrity": _write(out / "scientific_integrity.json", _integrity_report()),
        "reliability": _write(out / "reliability.json", {
            "passed": reliability_ok, "records": [{"name": "kernel", "passed": reliability_ok,
                                                   "checks": {"run": {"passed": True},
                                                              "no_nan": {"passed": reliability_ok}}}]}),
        "safety": _write(out / "safety_validation.json", {"passed": True, "worlds": {}}),
        "changelog": _write(root / "CHANGELOG.md", f"## [{__version__}] - 2030-01-01\n\n- Release.\n"),
        "gate_table": _write(root / "docs" / "SDK_RELEASE.md",
                             f"{GATE_TABLE_BEGIN}\n{gate_table()}\n{GATE_TABLE_END}\n"),
        "advisories": _write(root / "security" / "osv_snapshot.json", _snapshot()),
        "snapshot": _write(root / "release" / "surface_snapshot.json",
                           {"schema": SNAPSHOT_SCHEMA, "version": "0.0.1", "cli": {}, "openapi": []}),
    }
    ctx = GateContext(root=root, outputs=out, ablation_dir=ablation_dir)
    sources = {"integrity": files["integrity"], "reliability": files["reliability"], "safety": files["safety"],
               "ablation": ablation_dir / "summary.json"}
    files["baseline"] = _write(root / "release" / "baseline_evidence.json",
                               make_baseline(tracked_metrics(ctx, sources), version="0.0.1", commit="c" * 40,
                                             settings=source_settings(sources)))
    return files


def _surface() -> dict:
    from atom_sdk import __version__
    from atom_sdk.release.semver import SNAPSHOT_SCHEMA

    return {"schema": SNAPSHOT_SCHEMA, "version": __version__, "cli": {}, "openapi": []}


GATE_FILES = {"G-02": ["advisories"], "G-04": ["integrity"], "G-05": ["reliability"], "G-06": ["safety"],
              "G-09": ["changelog", "gate_table"], "G-10": ["baseline", "snapshot", "integrity", "reliability",
                                                             "safety"]}


def _evidence(root: Path, ablation_dir: Path, files: dict[str, Path], *, forge=None) -> tuple[Path, Path]:
    """An evidence run over the fixture, recorded through GateRecorder as the real gates do."""
    import json as _json

    from atom_sdk import __version__
    from atom_sdk.release.evidence_document import evidence_document as _document
    from atom_sdk.release.gate_evidence import ABLATION_FILES, verdict

    ctx = GateContext(root=root, profile="release", advisories=files["advisories"])
    results = []
    for g in all_gates():
        rec = GateRecorder(ctx, g.id, g.name)
        for key in GATE_FILES.get(g.id, []):
            rec.evidence(files[key])
        if g.id in ("G-07", "G-10"):
            for name in ABLATION_FILES if g.id == "G-07" else ("summary.json", "manifest.json"):
                rec.evidence(ablation_dir / name)
        if g.id == "G-05":
            rec.check("verdict", verdict(_json.loads(files["reliability"].read_text())), "reliability.json")
        else:
            rec.check("fixture", True, "ok")
        if g.id == "G-02":
            rec.measure(runtime_dependencies=RUNTIME)
        rec.measure(zeta=1, alpha=2)  # not in key order: the report must be rendered from the file as written
        results.append(rec.settle())
    doc = _document(ctx, results, {"advisories": str(files["advisories"])})
    doc.update(git={"commit": COMMIT, "dirty": False}, sdk_version=__version__,
               generated_at="2030-01-02T00:00:00+00:00", dependencies={**doc["dependencies"], **RUNTIME})
    if forge:
        forge(doc)
    j, m = root / "validation_outputs" / "release_evidence.json", root / "validation_outputs" / "release_evidence.md"
    write_evidence(doc, j, m, root)
    return j, m


def _fake_dists(root: Path, dest: Path) -> list[Path]:
    """A wheel with real metadata (what G-01 re-derives from) and an sdist."""
    import zipfile

    from atom_sdk import __version__

    dest.mkdir(parents=True, exist_ok=True)
    wheel = dest / f"atom_oss_sdk-{__version__}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr(f"atom_oss_sdk-{__version__}.dist-info/METADATA",
                    f"Metadata-Version: 2.4\nName: atom-oss-sdk\nVersion: {__version__}\nRequires-Dist: numpy>=2\n"
                    "Requires-Dist: fastapi>=0.115; extra == 'web'\n")
        zf.writestr("atom_sdk/release/schemas/release_evidence.schema.json", "{}")
    (dest / f"atom_oss_sdk-{__version__}.tar.gz").write_bytes(b"sdist")
    return sorted(dest.iterdir())


def _fake_sbom(dest: Path) -> Path:
    from atom_sdk import __version__

    return _write(dest, json.dumps({"bomFormat": "CycloneDX", "specVersion": "1.6", "components": [], "metadata": {
        "component": {"name": "atom-oss-sdk", "version": __version__, "type": "library"}}}))


@pytest.fixture()
def keys(tmp_path, monkeypatch):
    """No default key and no key in the environment, unless a test makes one."""
    monkeypatch.setenv("ATOM_RELEASE_KEY_DIR", str(tmp_path / "no-keys-here"))
    monkeypatch.delenv("ATOM_RELEASE_SIGNING_KEY", raising=False)
    monkeypatch.delenv("ATOM_RELEASE_PUBLIC_KEY", raising=False)
    return keygen(tmp_path / "keys")


def _build(root: Path, ablation_dir: Path, key, *, forge=None, after=None, **kw):
    files = _repo(root, ablation_dir, reliability_ok=kw.pop("reliability_ok", True))
    ev_json, ev_md = _evidence(root, ablation_dir, files, forge=forge)
    if after:
        after(files, ev_json, ev_md)
    return build_packet(root, ablation_dir=ablation_dir, evidence_json=ev_json, evidence_md=ev_md,
                        output_dir=root / "packet", profile="release", signing_key=key,
                        commit=kw.pop("commit", COMMIT), dirty=False, dists_fn=_fake_dists, sbom_fn=_fake_sbom,
                        surface_fn=_surface, **kw)


# --------------------------------------------------------------------------- packet


def test_packet_builds_verifies_recomputes_and_detects_tampering(tmp_path, ablation_dir, keys):
    private, public = keys
    info = _build(tmp_path, ablation_dir, private)
    packet = Path(info["output_dir"])
    assert info["signed"] and info["key_source"] == "--signing-key"
    assert {"G-01 the wheel checks: pass", "G-02 the advisory snapshot: pass", "G-04 the integrity verdict: pass",
            "G-04 the integrity budget: pass", "G-04 the integrity null trial: pass",
            "G-04 the integrity seed stability: pass", "G-05 the reliability verdict: pass", "G-07 the ablation checks: pass",
            "G-10 the metric comparison: pass", "G-10 the SemVer check: pass"} <= set(info["rederived"])
    report = verify_packet(packet, public_key=public, recompute=True)
    assert report["ok"], report["problems"]
    from atom_sdk import __version__

    assert report["profile"] == "release" and set(info["rederived"]) < set(report["rederived"])
    assert f"SBOM describes ('atom-oss-sdk', '{__version__}')" in report["rederived"]
    stmt = json.loads((packet / "provenance.intoto.json").read_text())
    assert stmt["_type"] == "https://in-toto.io/Statement/v1"
    assert stmt["predicateType"] == "https://slsa.dev/provenance/v1"
    names = {s["name"] for s in stmt["subject"]}
    assert {"sbom/sbom.cdx.json", "ablation/summary.json", "evidence/release_evidence.json", "CHANGELOG_ENTRY.md",
            "inputs/validation_outputs/scientific_integrity.json", "inputs/release/baseline_evidence.json",
            "inputs.json", "surface.json"} <= names

    (packet / "ablation" / "summary.csv").write_text("tampered\n")
    (packet / "extra.txt").write_text("new file")
    sdist = next((packet / "dist").glob("*.tar.gz"))
    sdist.unlink()
    problems = verify_packet(packet)["problems"]
    assert "changed: ablation/summary.csv does not match its SHA-256" in problems
    assert "added: extra.txt is not listed in SHA256SUMS" in problems
    assert f"removed: dist/{sdist.name} is listed in SHA256SUMS but missing" in problems


def test_signed_packet_and_wrong_key(tmp_path, ablation_dir, keys):
    private, public = keys
    assert oct(private.stat().st_mode & 0o777) == "0o600"
    _build(tmp_path, ablation_dir, private)
    packet = tmp_path / "packet"
    report = verify_packet(packet, public_key=public)
    assert report["ok"] and report["signed"] and report["key"] == "pinned"
    _, other = keygen(tmp_path / "other")
    assert any("does not verify" in p for p in verify_packet(packet, public_key=other)["problems"])
    (packet / "SHA256SUMS.sig").rename(tmp_path / "stripped.sig")   # stripping the signature is no downgrade
    assert any("release profile requires a signed packet" in p for p in verify_packet(packet)["problems"])
    assert any("missing although the packet was signed" in p for p in verify_packet(packet, profile="rc")["problems"])
    (tmp_path / "stripped.sig").rename(packet / "SHA256SUMS.sig")
    sums = packet / "SHA256SUMS"
    sums.write_text(sums.read_text() + "\n")
    assert not verify_packet(packet, public_key=public)["ok"]     # SHA256SUMS itself changed: signature breaks


def test_signing_key_comes_from_the_environment_or_the_default_folder(tmp_path, ablation_dir, keys, monkeypatch):
    private, _ = keys
    monkeypatch.setenv("ATOM_RELEASE_SIGNING_KEY", str(private))
    assert _build(tmp_path / "a", ablation_dir, None)["key_source"] == "$ATOM_RELEASE_SIGNING_KEY"
    monkeypatch.delenv("ATOM_RELEASE_SIGNING_KEY")
    default_dir = tmp_path / "home-keys"
    monkeypatch.setenv("ATOM_RELEASE_KEY_DIR", str(default_dir))
    made, _ = keygen()                                               # no --out: the default folder
    assert made == default_dir / "release_signing_key.pem"
    assert _build(tmp_path / "b", ablation_dir, None)["key_source"] == f"default key {made}"


def test_packet_refuses_failing_or_foreign_evidence(tmp_path, ablation_dir, keys):
    with pytest.raises(ValidationFailedError, match="G-05"):
        _build(tmp_path / "a", ablation_dir, keys[0], reliability_ok=False)
    with pytest.raises(ValidationFailedError, match="commit"):
        _build(tmp_path / "b", ablation_dir, keys[0], commit="b" * 40)


# --------------------------------------------------------------------------- forgeries


def _pass_everything(doc: dict) -> None:
    """What a forger does to a failing run: every status and the overall verdict say pass."""
    for g in doc["gates"]:
        g["status"] = "pass"
    doc["overall_pass"], doc["failed_gates"] = True, []


def _pass_checks_too(doc: dict) -> None:
    _pass_everything(doc)
    for g in doc["gates"]:
        for c in g["checks"]:
            c["status"] = "pass"


def test_builder_refuses_statuses_edited_to_pass(tmp_path, ablation_dir, keys):
    with pytest.raises(ValidationFailedError, match="G-05 status is 'pass' but its own checks give 'fail'"):
        _build(tmp_path / "a", ablation_dir, keys[0], reliability_ok=False, forge=_pass_everything)
    # Checks edited as well: the reliability report itself still fails, and the builder reads it.
    with pytest.raises(ValidationFailedError, match="G-05 says pass, but the reliability verdict recomputed"):
        _build(tmp_path / "b", ablation_dir, keys[0], reliability_ok=False, forge=_pass_checks_too)
    assert not (tmp_path / "b" / "packet").exists()


def test_builder_refuses_a_changed_input_file(tmp_path, ablation_dir, keys):
    def edit(files, ev_json, ev_md):
        files["safety"].write_text(json.dumps({"passed": True, "worlds": {}, "edited": 1}))

    with pytest.raises(ValidationFailedError, match="validation_outputs/safety_validation.json changed since"):
        _build(tmp_path, ablation_dir, keys[0], after=edit)


def test_builder_refuses_a_swapped_markdown_report(tmp_path, ablation_dir, keys):
    def swap(files, ev_json, ev_md):
        ev_md.write_text(ev_md.read_text().replace("FAIL", "PASS") + "\nAll gates pass.\n")

    with pytest.raises(ValidationFailedError, match="is not the report rendered from"):
        _build(tmp_path, ablation_dir, keys[0], after=swap)


def test_builder_refuses_an_unsigned_release_packet(tmp_path, ablation_dir, keys):
    with pytest.raises(ValidationFailedError, match="release profile refuses an unsigned packet"):
        _build(tmp_path, ablation_dir, None)
    assert not (tmp_path / "packet").exists()


def test_builder_recomputes_the_null_trial_bound_from_its_counts(tmp_path, ablation_dir, keys):
    """A report that says passed while 3 of 60 null trials accepted a law (bound 0.127 > 0.05) is refused."""
    files = _repo(tmp_path, ablation_dir)
    report = _integrity_report()
    report["null_trial"] = {"n_trials": 60, "n_accepted": 3, "upper_bound": 0.01}  # a forged bound is ignored
    files["integrity"].write_text(json.dumps(report))
    ev_json, ev_md = _evidence(tmp_path, ablation_dir, files)
    with pytest.raises(ValidationFailedError, match=r"null trial recomputed .* 3 of 60 null trials accepted a law"):
        build_packet(tmp_path, ablation_dir=ablation_dir, evidence_json=ev_json, evidence_md=ev_md,
                     output_dir=tmp_path / "packet", signing_key=keys[0], commit=COMMIT, dirty=False,
                     dists_fn=_fake_dists, sbom_fn=_fake_sbom, surface_fn=_surface)


def test_builder_refuses_an_integrity_report_at_another_budget(tmp_path, ablation_dir, keys):
    files = _repo(tmp_path, ablation_dir)
    files["integrity"].write_text(json.dumps(_integrity_report(samples=192)))
    ev_json, ev_md = _evidence(tmp_path, ablation_dir, files)
    with pytest.raises(ValidationFailedError, match=r"integrity budget recomputed .* samples=192 \(declared 3072\)"):
        build_packet(tmp_path, ablation_dir=ablation_dir, evidence_json=ev_json, evidence_md=ev_md,
                     output_dir=tmp_path / "packet", signing_key=keys[0], commit=COMMIT, dirty=False,
                     dists_fn=_fake_dists, sbom_fn=_fake_sbom, surface_fn=_surface)


def _reseal(packet: Path, tmp_path: Path) -> None:
    """A forger's re-hash and re-sign with a key of their own (what verify without a pinned key accepts)."""
    from atom_sdk.release.packet import PROVENANCE, write_sums
    from atom_sdk.release.signing import load_private, public_pem, sign

    private, _ = keygen(tmp_path / "forger")
    key = load_private(private)
    (packet / "signing_key.pub.pem").write_bytes(public_pem(key))
    stmt = json.loads((packet / PROVENANCE).read_text())
    stmt["subject"] = [{"name": rel, "digest": {"sha256": sha256_file(packet / rel)}}
                       for rel in sorted(p.relative_to(packet).as_posix() for p in packet.rglob("*") if p.is_file())
                       if rel not in {"SHA256SUMS", "SHA256SUMS.sig", PROVENANCE}]
    (packet / PROVENANCE).write_text(json.dumps(stmt))
    (packet / "SHA256SUMS.sig").write_bytes(sign(key, write_sums(packet).read_bytes()))


@pytest.mark.parametrize("forgery,expected", [
    ("statuses", "G-05 says pass, but the reliability verdict recomputed"),
    ("input", "input validation_outputs/safety_validation.json changed since"),
    ("markdown", "evidence/release_evidence.md is not the report rendered from"),
    ("unsigned", "the release profile requires a signed packet"),
])
def test_verify_recompute_catches_each_forgery(tmp_path, ablation_dir, keys, forgery, expected):
    packet = Path(_build(tmp_path, ablation_dir, keys[0])["output_dir"])
    if forgery == "statuses":     # a failing reliability report and an evidence file that hides it
        _write(packet / "inputs/validation_outputs/reliability.json", {"passed": False, "records": []})
        doc = json.loads((packet / "evidence/release_evidence.json").read_text())
        for e in next(g for g in doc["gates"] if g["id"] == "G-05")["evidence"]:
            e["sha256"] = sha256_file(packet / "inputs/validation_outputs/reliability.json")
        _write(packet / "evidence/release_evidence.json", doc)
        from atom_sdk.release.evidence_document import render_markdown

        _write(packet / "evidence/release_evidence.md", render_markdown(doc))
    elif forgery == "input":
        _write(packet / "inputs/validation_outputs/safety_validation.json", {"passed": True, "worlds": {"x": 1}})
    elif forgery == "markdown":
        _write(packet / "evidence/release_evidence.md", "# Release evidence\n\nEverything passes.\n")
    if forgery == "unsigned":
        for name in ("SHA256SUMS.sig", "signing_key.pub.pem"):
            (packet / name).unlink()
        from atom_sdk.release.packet import write_sums

        write_sums(packet)
        stmt = json.loads((packet / "provenance.intoto.json").read_text())
        stmt["subject"] = [s for s in stmt["subject"] if s["name"] != "signing_key.pub.pem"]
        (packet / "provenance.intoto.json").write_text(json.dumps(stmt))
        write_sums(packet)
    else:
        _reseal(packet, tmp_path)
        assert verify_packet(packet)["ok"], verify_packet(packet)["problems"]
    report = verify_packet(packet, recompute=True)
    assert not report["ok"]
    assert any(expected in p for p in report["problems"]), report["problems"]


def test_verify_command_recompute_and_release_profile(tmp_path, ablation_dir, keys, capsys):
    from atom_sdk.cli.main import main

    packet = Path(_build(tmp_path, ablation_dir, keys[0])["output_dir"])
    with pytest.raises(SystemExit) as ok:
        main(["release", "verify", str(packet), "--recompute", "--public-key", str(keys[1])])
    assert ok.value.code in (0, None), capsys.readouterr().err
    assert "verdicts re-derived" in capsys.readouterr().out
    (packet / "SHA256SUMS.sig").unlink()
    with pytest.raises(SystemExit) as bad:
        main(["release", "verify", str(packet), "--profile", "release"])
    assert bad.value.code == 1
    assert "SHA256SUMS.sig is missing" in capsys.readouterr().err


def test_broken_evidence_file_is_named_not_blamed_on_provenance(tmp_path, ablation_dir, keys):
    packet = Path(_build(tmp_path, ablation_dir, keys[0])["output_dir"])
    evidence = packet / "evidence" / "release_evidence.json"
    evidence.write_text(evidence.read_text() + "x")
    problems = verify_packet(packet)["problems"]
    assert "changed: evidence/release_evidence.json does not match its SHA-256" in problems
    assert any(p.startswith("evidence/release_evidence.json is malformed") for p in problems)
    assert not any(p.startswith("provenance.intoto.json is malformed") for p in problems), problems


def test_original_packet_command_refuses_an_unsigned_release_packet(tmp_path, ablation_dir, keys, monkeypatch,
                                                                   capsys):
    """The user's runbook command, without --signing-key and with no key anywhere, builds nothing."""
    from atom_sdk.cli.main import main

    files = _repo(tmp_path, ablation_dir)
    _evidence(tmp_path, ablation_dir, files)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit_info:
        main(["release", "packet", "--ablation-dir", str(ablation_dir),
              "--release-evidence-json", "validation_outputs/release_evidence.json",
              "--release-evidence-md", "validation_outputs/release_evidence.md",
              "--output-dir", "release_packets/v1.0.0", "--profile", "release"])
    assert exit_info.value.code == 2
    assert "refuses an unsigned packet" in capsys.readouterr().err
    assert not (tmp_path / "release_packets" / "v1.0.0").exists()


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
