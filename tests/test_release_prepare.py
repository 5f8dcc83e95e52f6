"""`atom release prepare X.Y.Z`: the SemVer decision first, then version, CHANGELOG and re-exports."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from atom_sdk.errors import ValidationFailedError
from atom_sdk.release import prepare as prep
from atom_sdk.release.semver import SNAPSHOT_SCHEMA

OPT = {"kind": "option", "required": False, "multiple": False, "nargs": 1, "opts": ["--out"], "is_flag": False}


def _surface(version: str, commands: dict) -> dict:
    return {"schema": SNAPSHOT_SCHEMA, "version": version, "openapi": [], "cli": commands}


def _root(tmp_path: Path) -> Path:
    (tmp_path / "src" / "atom_sdk").mkdir(parents=True)
    (tmp_path / "src" / "atom_sdk" / "__init__.py").write_text('"""doc"""\n\n__version__ = "0.1.0"\n')
    (tmp_path / "CHANGELOG.md").write_text("# Changelog\n\n## [Unreleased]\n\n### Added\n- `atom x`.\n\n"
                                           "## [0.1.0] - 2026-11-25\n\n- First.\n")
    (tmp_path / "release").mkdir()
    (tmp_path / "release" / "surface_snapshot.json").write_text(json.dumps(_surface(
        "0.1.0", {"atom": {"group": True, "params": {}}, "atom a": {"group": False, "params": {"out": OPT}}})))
    return tmp_path


ADDED = {"atom": {"group": True, "params": {}}, "atom a": {"group": False, "params": {"out": OPT}},
         "atom x": {"group": False, "params": {}}}
REMOVED = {"atom": {"group": True, "params": {}}, "atom a": {"group": False, "params": {}}}


def test_prepare_refuses_a_version_the_surface_does_not_allow_and_writes_nothing(tmp_path):
    root = _root(tmp_path)
    before = {p: p.read_text() for p in root.rglob("*") if p.is_file()}
    with pytest.raises(ValidationFailedError, match="requires a MINOR bump"):
        prep.prepare(root, "0.1.1", live=_surface("0.1.0", ADDED), export=False)
    with pytest.raises(ValidationFailedError, match="requires a MAJOR bump"):
        prep.prepare(root, "0.2.0", live=_surface("0.1.0", REMOVED), export=False)
    with pytest.raises(ValidationFailedError, match="version of the last release"):
        prep.prepare(root, "0.1.0", live=_surface("0.1.0", _surface("0.1.0", {})["cli"]), export=False)
    assert {p: p.read_text() for p in root.rglob("*") if p.is_file()} == before


def test_prepare_sets_version_opens_changelog_and_reexports(tmp_path, monkeypatch):
    root = _root(tmp_path)
    exported = []
    monkeypatch.setattr(prep, "_export", lambda r, code: exported.append(code))
    (root / "docs").mkdir()
    (root / "docs" / "openapi.json").write_text("{}")
    info = prep.prepare(root, "0.2.0", today="2030-01-01", live=_surface("0.1.0", ADDED))
    assert info["decision"]["required"] == "minor" and info["decision"]["added"] == ["command `atom x`"]
    assert '__version__ = "0.2.0"' in (root / "src" / "atom_sdk" / "__init__.py").read_text()
    text = (root / "CHANGELOG.md").read_text()
    assert "## [Unreleased]\n\n## [0.2.0] - 2030-01-01\n\n### Added\n- `atom x`." in text
    from atom_sdk.release.gate_docs import changelog_entry

    assert changelog_entry(text, "0.2.0") == "### Added\n- `atom x`."
    assert info["exported"] == ["docs/openapi.json", "docs/cli_surface.json"]
    assert "export_openapi" in exported[0] and "docs/openapi.json" in exported[0]
    assert "write_snapshot('docs/cli_surface.json')" in exported[1]
    again = prep.prepare(root, "0.2.0", today="2030-01-02", live=_surface("0.1.0", ADDED), export=False)
    assert again["changelog"] == "CHANGELOG.md already has a [0.2.0] section"


def test_prepare_command_prints_the_decision(tmp_path, monkeypatch, capsys):
    from atom_sdk.cli.main import main

    root = _root(tmp_path)
    monkeypatch.chdir(root)
    monkeypatch.setattr("atom_sdk.release.semver.current_surface", lambda: _surface("0.1.0", REMOVED))
    with pytest.raises(SystemExit) as exit_info:
        main(["release", "prepare", "0.2.0"])
    out = capsys.readouterr()
    assert exit_info.value.code == 2
    assert "a MAJOR bump is required" in out.out and "removed: `atom a` parameter out" in out.out
    assert '__version__ = "0.1.0"' in (root / "src" / "atom_sdk" / "__init__.py").read_text()


def test_docs_gate_fails_a_stale_cli_surface_export(tmp_path):
    from atom_sdk.release.gate_docs import check_cli_surface
    from atom_sdk.release.gates import GateContext, GateRecorder

    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "cli_surface.json").write_text(json.dumps(_surface("0.1.0", REMOVED)))
    rec = GateRecorder(GateContext(root=tmp_path, profile="release"), "G-09", "Docs")
    check_cli_surface(rec, tmp_path, _surface("0.1.0", ADDED))
    assert rec.settle().status == "fail"
    assert "docs/cli_surface.json is stale (`atom a` parameter out" in rec.result.reason
    rec = GateRecorder(GateContext(root=tmp_path, profile="release"), "G-09", "Docs")
    check_cli_surface(rec, tmp_path, _surface("0.2.0", REMOVED))
    assert "version 0.1.0 vs 0.2.0" in rec.settle().reason
    rec = GateRecorder(GateContext(root=tmp_path, profile="release"), "G-09", "Docs")
    check_cli_surface(rec, tmp_path, _surface("0.1.0", REMOVED))
    assert rec.settle().status == "pass"


def test_a_parameter_that_is_no_longer_required_is_a_minor_change():
    from atom_sdk.release.semver import compare_surfaces, required_bump

    required = {**OPT, "required": True}
    old = _surface("0.1.0", {"atom k": {"group": False, "params": {"out": required}}})
    new = _surface("0.1.0", {"atom k": {"group": False, "params": {"out": OPT}}})
    diff = compare_surfaces(old, new)
    assert diff["added"] == ["`atom k` parameter out (--out): no longer required"] and not diff["changed"]
    assert required_bump(diff) == "minor"
    assert required_bump(compare_surfaces(new, old)) == "major"      # becoming required breaks callers
