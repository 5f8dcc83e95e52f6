"""``atom release prepare X.Y.Z``: the version step of the runbook, done by one command.

Why one command: after a version bump four files must agree (``__version__``, the CHANGELOG
section, ``docs/openapi.json`` whose ``info.version`` is the SDK version, and the exported CLI
surface ``docs/cli_surface.json``), and the version itself must be the one the public surface
forces (a removed flag needs a MAJOR bump). Doing it by hand missed the OpenAPI re-export.
"""

from __future__ import annotations

import re
import subprocess  # nosec B404 - fixed argv lists, no shell
import sys
from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import Any

from atom_sdk.errors import ConfigError, ValidationFailedError

INIT = "src/atom_sdk/__init__.py"
CLI_SURFACE_DOC = "docs/cli_surface.json"
_VERSION_LINE = re.compile(r'^__version__\s*=\s*"([^"]+)"', re.M)


def semver_decision(snapshot: Mapping[str, Any], live: Mapping[str, Any], version: str) -> dict[str, Any]:
    """What the surface diff against the last release forces, and whether ``version`` satisfies it."""
    from atom_sdk.release.semver import bump_ok, compare_surfaces, parse_version, required_bump

    parse_version(version)
    diff = compare_surfaces(snapshot, live)
    need = required_bump(diff)
    ok, detail = bump_ok(snapshot["version"], version, need)
    if parse_version(version) == parse_version(snapshot["version"]):
        ok, detail = False, f"{version} is the version of the last release; a release needs a new version"
    return {"from": snapshot["version"], "to": version, "required": need, "ok": ok, "detail": detail,
            "removed": diff["removed"], "changed": diff["changed"], "added": diff["added"]}


def set_version(root: Path, version: str) -> str:
    """Write ``__version__``; returns the old one."""
    path = root / INIT
    text = path.read_text(encoding="utf-8")
    m = _VERSION_LINE.search(text)
    if m is None:
        raise ConfigError(f"{path} has no __version__ = \"...\" line")
    path.write_text(text[:m.start(1)] + version + text[m.end(1):], encoding="utf-8")
    return m.group(1)


def open_changelog(root: Path, version: str, today: str) -> str:
    """Move the ``Unreleased`` notes under ``## [version] - today``; returns what was done."""
    path = root / "CHANGELOG.md"
    text = path.read_text(encoding="utf-8") if path.is_file() else "# Changelog\n"
    if re.search(rf"^##\s*\[{re.escape(version)}\]", text, re.M):
        return f"CHANGELOG.md already has a [{version}] section"
    m = re.search(r"^##\s*\[Unreleased\][^\n]*\n", text, re.M | re.I)
    heading = f"## [{version}] - {today}\n"
    if m is None:
        first = re.search(r"^##\s", text, re.M)
        at = first.start() if first else len(text)
        text = text[:at] + "## [Unreleased]\n\n" + heading + "\n" + text[at:]
        done = f"opened an empty [{version}] section (write its notes: G-09 needs them)"
    else:
        text = text[:m.end()] + "\n" + heading + text[m.end():]
        done = f"moved the Unreleased notes under [{version}] - {today}"
    path.write_text(text, encoding="utf-8")
    return done


def _export(root: Path, code: str) -> None:
    """Run an export in a fresh interpreter, so it sees the version just written."""
    proc = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True,  # nosec B603
                          timeout=300, check=False)
    if proc.returncode != 0:
        raise ValidationFailedError(f"export failed: {(proc.stderr or proc.stdout).strip()[-300:]}")


def prepare(root: str | Path, version: str, *, today: str | None = None, snapshot: Path | None = None,
            live: Mapping[str, Any] | None = None, export: bool = True) -> dict[str, Any]:
    """Check the version against the surface, then set it, open the CHANGELOG and re-export the docs.

    Nothing is written when ``version`` is not the bump the surface forces (or not a new version).
    """
    from atom_sdk.artifacts import read_json
    from atom_sdk.release.semver import current_surface

    root = Path(root).resolve()
    snap_path = snapshot or root / "release" / "surface_snapshot.json"
    if not snap_path.is_file():
        raise ConfigError(f"{snap_path} does not exist; it is written by `atom release snapshot` at each release")
    decision = semver_decision(read_json(snap_path), live or current_surface(), version)
    if not decision["ok"]:
        raise ValidationFailedError(f"{version} is refused: {decision['detail']} "
                                    f"({len(decision['removed'])} removed, {len(decision['changed'])} changed, "
                                    f"{len(decision['added'])} added since {decision['from']})")
    old = set_version(root, version)
    notes = open_changelog(root, version, today or date.today().isoformat())
    exported = []
    if export:
        if (root / "docs" / "openapi.json").is_file():
            _export(root, "from atom_sdk.platform.openapi import export_openapi;"
                          "open('docs/openapi.json','w',encoding='utf-8').write(export_openapi())")
            exported.append("docs/openapi.json")
        _export(root, "import atom_sdk.cli.main; from atom_sdk.release.semver import write_snapshot; "
                      f"write_snapshot({CLI_SURFACE_DOC!r})")  # the CLI hands its surface to semver on import
        exported.append(CLI_SURFACE_DOC)
    return {"old_version": old, "version": version, "decision": decision, "changelog": notes, "exported": exported}
