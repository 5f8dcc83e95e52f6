"""Shared test settings: headless plotting and a CPU-only JAX."""

import os

os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import pytest


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
