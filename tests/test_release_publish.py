"""Publish for real (slow): twine upload to a local PyPI-compatible server, install from it into a clean
venv, `atom --version`, then the runbook's rollback to the previous version."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from atom_sdk import __version__
from atom_sdk.release.gate_packaging import build_dists, make_fresh_venv
from atom_sdk.release.prepare import set_version

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _next_patch(version: str) -> str:
    major, minor, patch = version.split(".")[:3]
    return f"{major}.{minor}.{int(patch) + 1}"


def _dists_at(version: str, tmp: Path) -> list[Path]:
    """sdist + wheel of a copy of the tree with ``version`` set (the runbook's prepare step, minus exports)."""
    src = tmp / f"src-{version}"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(src)], check=True)
    set_version(src, version)
    return list(build_dists(src, tmp / f"dist-{version}"))


def _run(argv: list[str], **kw) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "VIRTUAL_ENV"}}
    return subprocess.run(argv, capture_output=True, text=True, timeout=600, env=env, **kw)


def test_twine_upload_install_version_and_rollback(tmp_path):
    pytest.importorskip("pypiserver", reason="pypiserver comes with the dev extra (make setup)")
    previous, new = __version__, _next_patch(__version__)
    dists = _dists_at(previous, tmp_path) + _dists_at(new, tmp_path)
    packages = tmp_path / "packages"
    packages.mkdir()
    port = _free_port()
    server = subprocess.Popen([sys.executable, "-m", "pypiserver", "run", "-p", str(port), "-i", "127.0.0.1",
                               "-a", ".", "-P", ".", str(packages)], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                urllib.request.urlopen(url + "/simple/", timeout=1)
                break
            except OSError:
                time.sleep(0.2)
        up = _run([sys.executable, "-m", "twine", "upload", "--non-interactive", "--repository-url", url + "/",
                   "-u", "release", "-p", "unused", *map(str, dists)])
        assert up.returncode == 0, up.stdout + up.stderr
        assert sorted(p.name for p in packages.iterdir()) == sorted(d.name for d in dists)

        py = make_fresh_venv(tmp_path / "clean")     # dependencies through a .pth; the SDK only from the server
        atom = tmp_path / "clean" / "bin" / "atom"
        pip = [sys.executable, "-m", "pip", "--python", str(py), "install", "--no-deps", "--quiet",
               "--disable-pip-version-check", "--ignore-installed", "--index-url", url + "/simple/"]
        inst = _run([*pip, "atom-oss-sdk"])
        assert inst.returncode == 0, inst.stderr
        assert _run([str(atom), "--version"], cwd=tmp_path).stdout.split()[-1] == new   # the newest is picked

        # Rollback (docs/RELEASE_RUNBOOK.md): point users back to the previous version.
        back = _run([*pip, f"atom-oss-sdk=={previous}"])
        assert back.returncode == 0, back.stderr
        assert _run([str(atom), "--version"], cwd=tmp_path).stdout.split()[-1] == previous
        where = _run([str(py), "-c", "import atom_sdk; print(atom_sdk.__file__)"], cwd=tmp_path).stdout
        assert str(tmp_path / "clean") in where                                          # not the checkout
    finally:
        server.terminate()
        server.wait(timeout=30)
        shutil.rmtree(packages, ignore_errors=True)
