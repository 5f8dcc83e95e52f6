"""End to end (slow): clone the repository into a temporary folder and run docs/RELEASE_RUNBOOK.md's
commands as written, up to a signed packet that `atom release verify --recompute` accepts.

What cannot run here is replaced, and said so: `make setup` (the clone uses this checkout's venv),
`advisories fetch` (no network: a fixture snapshot of the runtime closure with no advisory), and the
push and the upload (tests/test_release_publish.py uploads to a local server). G-10 compares the
candidate with the committed 0.1.0 baseline, re-measured with 0.1.0's code at the runbook's settings.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

import atom_sdk.cli.main  # noqa: F401,E402 - the CLI hands its surface to the release tooling

ROOT = Path(__file__).resolve().parents[1]
RUNBOOK = ROOT / "docs" / "RELEASE_RUNBOOK.md"
NOT_HERE = ("make setup", "git push", "twine upload", "advisories fetch")


def runbook_commands(text: str) -> list[str]:
    """The commands of the fenced shell blocks, continuation lines joined, in document order."""
    out, block, pending = [], False, ""
    for line in text.splitlines():
        if line.strip().startswith("```"):
            block = not block and line.strip() in ("```bash", "```sh")
            continue
        if not block or not line.strip() or line.strip().startswith("#"):
            continue
        pending += line.strip()[:-1].rstrip() + " " if line.rstrip().endswith("\\") else line.strip()
        if not line.rstrip().endswith("\\"):
            out.append(pending)
            pending = ""
    return out


def test_runbook_commands_are_extracted_in_order():
    commands = runbook_commands(RUNBOOK.read_text(encoding="utf-8"))
    assert commands[0] == "make setup" and "release prepare X.Y.Z" in commands[2]
    packet = next(c for c in commands if "build_release_packet.py" in c)
    assert "--output-dir release_packets/vX.Y.Z --profile release" in packet and "\\" not in packet


def _fixtures(clone: Path) -> None:
    """The advisory snapshot that a connected machine would fetch (see the module docstring)."""
    code = """
import json, datetime
from pathlib import Path
from atom_sdk.release.advisories import make_snapshot, runtime_closure
now = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
Path("security/osv_snapshot.json").write_text(json.dumps(make_snapshot(runtime_closure(), {}, fetched_at=now)))
"""
    subprocess.run([str(clone / "venv" / "bin" / "python"), "-c", code], cwd=clone, check=True, env=_env(clone))


def _env(clone: Path) -> dict[str, str]:
    # keys go to ~/.atom-release-keys (HOME is the test's), where the runbook's verify command reads them
    env = {k: v for k, v in os.environ.items() if k != "ATOM_RELEASE_KEY_DIR"}
    identity = {f"GIT_{who}_{what}": value for who in ("AUTHOR", "COMMITTER")
                for what, value in (("NAME", "release"), ("EMAIL", "release@example.org"))}  # for `git tag -a`
    return {**env, **identity, "PYTHONPATH": str(clone / "src"), "PYTHONDONTWRITEBYTECODE": "1",
            "HOME": str(clone.parent / "home")}


@pytest.mark.slow
def test_fresh_clone_to_signed_packet_by_the_runbook(tmp_path):
    from atom_sdk import __version__
    from atom_sdk.release.semver import compare_surfaces, current_surface, required_bump

    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
    (clone / "venv").symlink_to(ROOT / "venv")
    (tmp_path / "home").mkdir()
    env = _env(clone)
    snap = json.loads((ROOT / "release" / "surface_snapshot.json").read_text())
    bump = required_bump(compare_surfaces(snap, current_surface()))
    major, minor, patch = (int(x) for x in __version__.split(".")[:3])
    version = {"major": f"{major + 1}.0.0", "minor": f"{major}.{minor + 1}.0"}.get(bump, f"{major}.{minor}.{patch + 1}")
    git = ["git", "-C", str(clone), "-c", "user.email=release@example.org", "-c", "user.name=release"]
    ran = []
    for command in runbook_commands(RUNBOOK.read_text(encoding="utf-8")):
        command = command.replace("X.Y.Z", version).replace("~/", f"{env['HOME']}/")
        if any(step in command for step in NOT_HERE):
            continue
        if "generate_release_evidence.py" in command:        # offline: the runbook's --advisories variant
            command += " --advisories security/osv_snapshot.json"
        if command.startswith("PYTHONDONTWRITEBYTECODE=1 venv/bin/python -m pytest") and not ran[-1:] == ["commit"]:
            _fixtures(clone)
            subprocess.run([*git, "add", "-A", "."], check=True)
            subprocess.run([*git, "commit", "-qm", f"Release {version}"], check=True)
            ran.append("commit")
        proc = subprocess.run(command, shell=True, cwd=clone, env=env, capture_output=True, text=True,  # noqa: S602
                              timeout=3600)
        assert proc.returncode == 0, f"`{command}` exit {proc.returncode}: {(proc.stderr or proc.stdout)[-2000:]}"
        ran.append(command)
    packet = clone / "release_packets" / f"v{version}"
    report = json.loads(subprocess.run(["venv/bin/atom", "release", "verify", str(packet), "--recompute", "--json"],
                                       cwd=clone, env=env, capture_output=True, text=True).stdout)
    assert report["ok"] and report["signed"] and report["profile"] == "release", report["problems"]
    assert re.search(r"G-04 the integrity budget: pass", "\n".join(report["rederived"]))
