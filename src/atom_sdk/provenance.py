"""Provenance stamped on every artifact: config, hash, seed, versions, git commit.

Why: a number without the exact setup that produced it cannot be checked or re-run.
"""

from __future__ import annotations

import platform
import subprocess  # nosec B404 - fixed git argv, no shell
import sys
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import Any

from atom_sdk import __version__
from atom_sdk.artifacts import utc_now  # noqa: F401 - still read here by experiment.runner and release

_TRACKED_PACKAGES = ("jax", "jaxlib", "numpy", "scipy", "flax", "optax", "gymnasium", "pysindy", "pydantic")


def _git(*args: str, cwd: Path | None = None) -> str | None:
    try:
        out = subprocess.run(  # nosec B603 B607 - fixed argv
            ["git", *args], cwd=cwd or Path.cwd(), capture_output=True, text=True, timeout=5, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


@lru_cache(maxsize=8)
def git_commit(cwd: str | None = None) -> str | None:
    """The commit of the working tree (current directory first, then the package's), or None."""
    for where in (Path(cwd) if cwd else Path.cwd(), Path(__file__).resolve().parent):
        sha = _git("rev-parse", "HEAD", cwd=where)
        if sha:
            return sha
    return None


def git_dirty(cwd: str | None = None) -> bool | None:
    status = _git("status", "--porcelain", "--untracked-files=no", cwd=Path(cwd) if cwd else None)
    return None if status is None else bool(status)


def package_versions(names: tuple[str, ...] = _TRACKED_PACKAGES) -> dict[str, str | None]:
    versions: dict[str, str | None] = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def provenance(config: Any | None = None, *, seed: int | None = None) -> dict[str, Any]:
    """The block every artifact carries. ``config`` is a RunConfig or any pydantic model/dict."""
    from atom_sdk.config import RunConfig, config_hash

    record: dict[str, Any] = {
        "sdk_version": __version__,
        "git_commit": git_commit(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "packages": package_versions(),
    }
    if config is not None:
        if isinstance(config, RunConfig):
            record["config"] = config.model_dump(mode="json")
            record["config_hash"] = config_hash(config)
            seed = config.seed if seed is None else seed
        elif hasattr(config, "model_dump"):
            record["config"] = config.model_dump(mode="json")
        else:
            record["config"] = config
        if "config_hash" not in record:
            import hashlib
            import json

            canonical = json.dumps(record["config"], sort_keys=True, separators=(",", ":"), default=str)
            record["config_hash"] = hashlib.sha256(canonical.encode()).hexdigest()
    record["seed"] = seed
    return record
