"""Shared test settings: headless plotting, a CPU-only JAX and a compilation cache of the session's own.

Why the cache folder: runs switch JAX's persistent compilation cache on (``atom_sdk.compilation``), by
default in ``~/.cache/atom-sdk/jax``; a test session must not fill the developer's cache with the
programs of hundreds of toy runs. The folder is set here, before any test module imports atom_sdk,
and inherited by the subprocesses tests start; a caller who set ``ATOM_COMPILATION_CACHE`` or
``JAX_COMPILATION_CACHE_DIR`` keeps their choice.
"""

import os
import shutil
import tempfile
from pathlib import Path

os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("JAX_PLATFORMS", "cpu")

#: the folder this session made for the compilation cache (None: the caller chose one, or 'off')
SESSION_COMPILATION_CACHE: Path | None = None
if not (os.environ.get("ATOM_COMPILATION_CACHE", "").strip()
        or os.environ.get("JAX_COMPILATION_CACHE_DIR", "").strip()):
    SESSION_COMPILATION_CACHE = Path(tempfile.mkdtemp(prefix="atom-test-jax-cache-"))
    os.environ["ATOM_COMPILATION_CACHE"] = str(SESSION_COMPILATION_CACHE)

import pytest


@pytest.fixture(scope="session")
def session_compilation_cache() -> Path | None:
    """The compilation-cache folder this test session made (None when the caller chose one)."""
    return SESSION_COMPILATION_CACHE


def pytest_unconfigure(config):
    """Remove the session's compilation cache (only the folder this process made)."""
    if SESSION_COMPILATION_CACHE is not None:
        shutil.rmtree(SESSION_COMPILATION_CACHE, ignore_errors=True)


@pytest.fixture(autouse=True, scope="module")
def _restore_jax_x64():
    """A float64 world turns on JAX's x64 mode for the whole process; undo it per test module."""
    import jax

    before = bool(jax.config.jax_enable_x64)
    yield
    jax.config.update("jax_enable_x64", before)


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    """Under CI, say loudly when the PostgreSQL store tests were skipped for want of a server."""
    if os.environ.get("CI", "").lower() not in ("1", "true", "yes"):
        return
    import importlib.util

    if not os.environ.get("ATOM_TEST_POSTGRES_URL"):
        why = "ATOM_TEST_POSTGRES_URL is not set (scripts/ci_postgres.sh printed no URL; see its WARNING)"
    elif importlib.util.find_spec("psycopg") is None:
        why = "the driver is missing (pip install 'psycopg[binary]')"
    else:
        return
    terminalreporter.write_sep("=", f"PostgreSQL store tests SKIPPED: {why}", yellow=True)
