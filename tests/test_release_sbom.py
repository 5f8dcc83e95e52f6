"""The SBOM describes the product (the wheel's runtime closure), and provenance names the repository."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from atom_sdk.release.packet import make_sbom, source_uri

ROOT = Path(__file__).resolve().parents[1]


def _tiny_wheel(tmp_path: Path) -> Path:
    proj = tmp_path / "proj"
    (proj / "src" / "tinypkg").mkdir(parents=True)
    (proj / "src" / "tinypkg" / "__init__.py").write_text("")
    (proj / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["hatchling"]\nbuild-backend = "hatchling.build"\n'
        '[project]\nname = "tinypkg"\nversion = "3.2.1"\ndescription = "t"\n'
        '[project.optional-dependencies]\nweb = ["fastapi"]\n'
        '[tool.hatch.build.targets.wheel]\npackages = ["src/tinypkg"]\n')
    subprocess.run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(tmp_path / "dist"),
                    str(proj)], check=True, capture_output=True)
    return next((tmp_path / "dist").glob("*.whl"))


def test_sbom_is_the_clean_install_of_the_wheel_with_the_wheel_as_metadata_component(tmp_path):
    sbom = json.loads(make_sbom(tmp_path / "sbom.json", _tiny_wheel(tmp_path)).read_text())
    assert sbom["metadata"]["component"]["name"] == "tinypkg"
    assert sbom["metadata"]["component"]["version"] == "3.2.1"
    # A dependency-free wheel in a clean venv: nothing of the build environment (pytest, pip, hatchling).
    assert [c["name"] for c in sbom.get("components", [])] == []


def test_provenance_source_is_the_configured_url_or_the_git_remote(tmp_path, monkeypatch):
    monkeypatch.setenv("ATOM_RELEASE_SOURCE_URL", "https://example.org/atom/atom-oss-sdk")
    assert source_uri(tmp_path) == "git+https://example.org/atom/atom-oss-sdk"
    monkeypatch.delenv("ATOM_RELEASE_SOURCE_URL")
    repo = tmp_path / "clone"
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    subprocess.run(["git", "-C", str(repo), "remote", "add", "origin", "https://example.org/x/y.git"], check=True)
    assert source_uri(repo) == "git+https://example.org/x/y.git"
    (tmp_path / "plain").mkdir()
    (tmp_path / "plain" / "pyproject.toml").write_text('[project.urls]\nHomepage = "https://example.org/home"\n')
    assert source_uri(tmp_path / "plain") == "git+https://example.org/home"


@pytest.mark.slow
def test_sbom_of_the_real_wheel_lists_the_runtime_closure_only(tmp_path):
    from atom_sdk import __version__
    from atom_sdk.release.gate_packaging import build_dists

    wheel, _ = build_dists(ROOT, tmp_path / "dist")
    sbom = json.loads(make_sbom(tmp_path / "sbom.json", wheel).read_text())
    names = {c["name"].lower() for c in sbom["components"]}
    assert sbom["metadata"]["component"]["name"] == "atom-oss-sdk"
    assert sbom["metadata"]["component"]["version"] == __version__
    assert {"jax", "numpy", "typer", "cryptography"} <= names
    assert not names & {"pytest", "playwright", "ray", "bandit", "twine", "hatchling", "fastapi", "atom-oss-sdk"}
