"""The wheel and sdist build in the fast tier, from what `make setup` installs (no build isolation)."""

from __future__ import annotations

import tarfile
import tomllib
import zipfile
from pathlib import Path

from atom_sdk import __version__
from atom_sdk.release.gate_packaging import build_dists, split_requirements, wheel_metadata

ROOT = Path(__file__).resolve().parents[1]


def test_make_setup_installs_the_build_backend_the_runbook_needs():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    backend = project["build-system"]["requires"]
    dev = [r.split(">")[0].split("=")[0].strip() for r in project["project"]["optional-dependencies"]["dev"]]
    assert any(r.startswith("hatchling") for r in backend)
    assert {"hatchling", "build", "twine", "cyclonedx-bom"} <= set(dev)  # build --no-isolation uses the venv's
    all_extras = project["project"]["optional-dependencies"]["all"]
    assert all_extras == ["atom-oss-sdk[web,distributed,dev,sr,mesh]"]  # make setup installs every extra
    assert '-e ".[all]"' in (ROOT / "Makefile").read_text(encoding="utf-8")


def test_wheel_and_sdist_build_without_isolation(tmp_path):
    wheel, sdist = build_dists(ROOT, tmp_path)
    assert wheel.name == f"atom_oss_sdk-{__version__}-py3-none-any.whl"
    assert sdist.name == f"atom_oss_sdk-{__version__}.tar.gz"
    headers, names = wheel_metadata(wheel)
    assert headers["Version"] == [__version__]
    assert {"atom_sdk/__init__.py", "atom_sdk/release/schemas/release_evidence.schema.json"} <= set(names)
    entry = next(n for n in names if n.endswith("entry_points.txt"))
    with zipfile.ZipFile(wheel) as zf:
        assert "atom = atom_sdk.cli.main:main" in zf.read(entry).decode()
    base, extras = split_requirements(headers["Requires-Dist"])
    assert "fastapi" not in base and "fastapi" in extras["web"] and "ray" in extras["distributed"]
    with tarfile.open(sdist) as tf:
        members = tf.getnames()
    top = f"atom_oss_sdk-{__version__}"
    assert {f"{top}/pyproject.toml", f"{top}/src/atom_sdk/__init__.py"} <= set(members)
    assert not any(m.startswith((f"{top}/venv/", f"{top}/validation_outputs/")) for m in members)
