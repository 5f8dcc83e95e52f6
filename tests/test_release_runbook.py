"""docs/RELEASE_RUNBOOK.md carries the user's runbook (scope, SemVer, preconditions, the ten gates) and
every command in it, and the user's original commands, parse against the real CLI and scripts."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import atom_sdk.cli.main  # noqa: F401 - the CLI hands its surface to the release tooling

from atom_sdk.release.gate_docs import DocCommand, ScriptOptions, check_command, extract_commands
from atom_sdk.release.catalogue import all_gates
from atom_sdk.release.semver import root_command

ROOT = Path(__file__).resolve().parents[1]
RUNBOOK = ROOT / "docs" / "RELEASE_RUNBOOK.md"

#: The user's original commands (shared/seed/RELEASE_RUNBOOK.md), which must keep working as written.
USER_COMMANDS = [
    "PYTHONDONTWRITEBYTECODE=1 venv/bin/python -m pytest -q",
    "PYTHONDONTWRITEBYTECODE=1 venv/bin/python scripts/check_docs_gate.py",
    "PYTHONDONTWRITEBYTECODE=1 venv/bin/python scripts/generate_release_evidence.py --profile release --check "
    "--output-json validation_outputs/release_evidence.json --output-md validation_outputs/release_evidence.md",
    "PYTHONDONTWRITEBYTECODE=1 venv/bin/python scripts/build_release_packet.py --ablation-dir "
    "benchmark_results/platform_ablations --release-evidence-json validation_outputs/release_evidence.json "
    "--release-evidence-md validation_outputs/release_evidence.md --output-dir release_packets/v1.0.0 "
    "--profile release",
]


@pytest.fixture(scope="module")
def text() -> str:
    return RUNBOOK.read_text(encoding="utf-8")


def _section(text: str, title: str) -> str:
    m = re.search(rf"^## {title}\n(.*?)(?=^## |\Z)", text, re.M | re.S)
    assert m, f"docs/RELEASE_RUNBOOK.md has no '## {title}' section"
    return m.group(1)


def test_runbook_has_scope_semver_policy_and_preconditions(text):
    assert "library" in _section(text, "Scope") and "command line" in _section(text, "Scope")
    policy = _section(text, "Versioning policy")
    assert all(word in policy for word in ("MAJOR.MINOR.PATCH", "**MAJOR**", "**MINOR**", "**PATCH**", "breaking"))
    pre = _section(text, "Preconditions")
    assert "docs/SDK_RELEASE.md" in pre and "CHANGELOG.md" in pre and "P0 or P1" in pre and "CI quality gates" in pre


def test_runbook_lists_all_ten_gates_in_order(text):
    checklist = _section(text, "Gate checklist")
    items = re.findall(r"^\d+\. (G-\d\d) ([^:(]+?)(?: \(|:)", checklist, re.M)
    assert [(gid, name.strip()) for gid, name in items] == [(g.id, g.name) for g in all_gates()]


def test_runbook_keeps_the_users_commands_tag_publish_and_rollback(text):
    flat = re.sub(r"\\\n\s*", "", text)
    for command in USER_COMMANDS[:3]:
        assert command in flat
    assert "--output-dir release_packets/vX.Y.Z" in flat and "--profile release" in flat
    assert 'git tag -a vX.Y.Z -m "ATOM OSS SDK vX.Y.Z"' in text and "twine upload" in text
    rollback = _section(text, "Rolling back")
    assert "revoked" in rollback and "PATCH" in rollback and "root cause" in rollback


def test_every_runbook_command_and_the_users_originals_parse():
    rc, scripts = root_command(), ScriptOptions(ROOT)
    commands = extract_commands(RUNBOOK, ROOT)
    assert len(commands) > 20
    problems = [p for c in commands for p in check_command(c, rc, scripts)]
    problems += [p for c in USER_COMMANDS for p in check_command(DocCommand("seed", 0, c), rc, scripts)]
    assert problems == []
    assert check_command(DocCommand("x", 1, "venv/bin/atom release verify P --recompte"), rc, scripts)  # can fail
