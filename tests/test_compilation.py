"""Compilation: the programs a short run compiles are pinned, and the persistent cache serves a second process.

Why a subprocess: JAX keeps compiled programs in memory for the life of a process, so a count
taken inside the test process would depend on which tests ran before it in the same worker.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from atom_sdk.compilation import CACHE_ENV, active_cache_dir, default_cache_dir

#: Programs a 32-step Taylor-Green 8x8x4 ``v2_hybrid`` run on the host loop compiles (the device loop's, for
#: ppo_baseline, are pinned in test_device_loop). Rollout 16: two PPO updates of the same shape, so ``_update``
#: compiles once. Ten are jitted programs (world stage, init and step; PRNG seeding, splitting and unstacking; agent
#: parameters, act, value, update); the rest are single eager operations while the world, its probes and diagnostics
#: are built. None compiles twice. A change that makes a program compile again (a shape, dtype or static argument
#: that varies from step to step) raises the count and fails here; lower it when a change removes programs. (A run
#: whose last rollout is shorter compiles ``_update`` once more, for that length.)
EXPECTED_COMPILATIONS = 48

_SCRIPT = """
import json, sys, tempfile
from pathlib import Path
from atom_sdk.compilation import CompilationCounter
from atom_sdk.config import build_run_config
from atom_sdk.experiment.runner import run_experiment
cfg = build_run_config({"world": {"name": "analytical:taylor_green", "grid": [8, 8, 4]},
                        "variant": "v2_hybrid", "steps": 32, "seed": 0, "loop": "host",
                        "agent": {"rollout_length": 16, "num_minibatches": 2}})
with tempfile.TemporaryDirectory() as tmp, CompilationCounter() as count:
    results = run_experiment(cfg, Path(tmp) / "run")
timings = results["timings"]
print("RESULT " + json.dumps({**count.as_dict(), "recorded": timings["compilations"],
                              "cache": timings["compilation_cache"], "first_step": timings["first_step_seconds"]}))
"""


def _run(cache: str) -> dict:
    env = {**os.environ, CACHE_ENV: cache, "JAX_PLATFORMS": "cpu"}
    env.pop("JAX_COMPILATION_CACHE_DIR", None)
    done = subprocess.run([sys.executable, "-c", _SCRIPT], env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    line = [l for l in done.stdout.splitlines() if l.startswith("RESULT ")][-1]
    return json.loads(line[len("RESULT "):])


def test_cache_folder_rules(monkeypatch, tmp_path):
    monkeypatch.delenv("JAX_COMPILATION_CACHE_DIR", raising=False)
    monkeypatch.setenv(CACHE_ENV, "off")
    assert default_cache_dir() is None
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "c"))
    assert default_cache_dir() == tmp_path / "c"
    monkeypatch.setenv("JAX_COMPILATION_CACHE_DIR", str(tmp_path / "jax-own"))
    assert default_cache_dir() == tmp_path / "jax-own"
    monkeypatch.delenv("JAX_COMPILATION_CACHE_DIR")
    monkeypatch.delenv(CACHE_ENV)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "xdg" / "atom-sdk" / "jax"


def test_short_run_compiles_pinned_count_and_second_process_reads_the_cache(tmp_path):
    cache = tmp_path / "jax-cache"
    cold = _run(str(cache))
    assert cold["compilations"] == EXPECTED_COMPILATIONS, cold
    assert cold["recorded"] == cold["compilations"] and cold["cache"] == str(cache)  # results.json says so too
    assert cold["cache_misses"] == cold["compilations"] and cold["cache_hits"] == 0
    entries = [p for p in cache.iterdir() if p.name.endswith("-cache")]
    assert len(entries) >= EXPECTED_COMPILATIONS - 2  # identical eager ops share one entry
    warm = _run(str(cache))
    assert warm["compilations"] == EXPECTED_COMPILATIONS
    assert warm["cache_hits"] == warm["compilations"] and warm["cache_misses"] == 0
    assert warm["compile_seconds"] < cold["compile_seconds"]


def test_unwritable_cache_folder_leaves_the_cache_off_with_a_warning(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    script = ("import warnings, json\nfrom atom_sdk.compilation import enable_persistent_cache\n"
              "with warnings.catch_warnings(record=True) as w:\n    warnings.simplefilter('always')\n"
              f"    got = enable_persistent_cache({str(blocker / 'sub')!r})\n"
              "print(json.dumps([got, [str(x.message) for x in w]]))")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    got, messages = json.loads(done.stdout.strip().splitlines()[-1])
    assert got is None
    assert any("compilation cache off" in m and "ATOM_COMPILATION_CACHE" in m for m in messages)


def test_the_test_session_compiles_into_its_own_folder_not_the_users_cache(session_compilation_cache):
    """conftest points the cache at a folder of this session: a run in a test (or a process it starts)
    writes there, never into ~/.cache/atom-sdk/jax."""
    if session_compilation_cache is None:
        pytest.skip("the caller set ATOM_COMPILATION_CACHE or JAX_COMPILATION_CACHE_DIR")
    folder = session_compilation_cache
    assert folder.is_dir() and default_cache_dir() == folder
    assert not folder.resolve().is_relative_to((Path.home() / ".cache").resolve())
    assert active_cache_dir() in (None, folder)  # a run earlier in this process used the same folder
    script = ("import jax, jax.numpy as jnp\nfrom atom_sdk.compilation import enable_persistent_cache\n"
              "print(enable_persistent_cache())\njax.jit(lambda x: jnp.sin(x) * 3.25 + 0.125)(jnp.arange(7.0))")
    env = {k: v for k, v in os.environ.items() if k != "JAX_COMPILATION_CACHE_DIR"}
    before = {p.name for p in folder.iterdir()}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().splitlines()[-1] == str(folder)
    assert any(p.endswith("-cache") for p in {p.name for p in folder.iterdir()} - before)
