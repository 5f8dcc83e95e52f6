"""Sharded periodic LBM (x-slabs, ppermute halo exchange) equals the single-device reference.

Forced host devices must be configured before JAX starts, so the checks run in a subprocess.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

_CHECK = r"""
import json
import jax, jax.numpy as jnp, numpy as np
from atom_sdk.worlds import lbm, lbm_d3q19
from atom_sdk.worlds.lbm_sharded import make_mesh, run_periodic_sharded
assert len(jax.devices()) == 4, jax.devices()
rng = np.random.default_rng(3)
nx, ny = 16, 10
f2 = lbm.equilibrium(jnp.asarray(1 + 0.01 * rng.standard_normal((nx, ny))),
                     *(jnp.asarray(0.05 * rng.standard_normal((nx, ny))) for _ in range(2))).astype(jnp.float32)
f3 = lbm_d3q19.initial_state((8, 6, 4), seed=2)
out = {}
for n, kind in ((2, "trt"), (4, "bgk"), (4, "trt")):
    ref = np.asarray(lbm.run_periodic(f2 + 0, 9, 0.6, kind))
    got = run_periodic_sharded(f2, 9, 0.6, kind, mesh=make_mesh(n))
    out[f"d2q9 {kind} {n}"] = [float(np.abs(np.asarray(got) - ref).max()), float(np.abs(ref - np.asarray(f2)).max()),
                               len(got.sharding.device_set)]
for n in (2, 4):
    ref3 = np.asarray(lbm_d3q19.run_periodic(f3, steps=7, tau=0.58, kind="trt"))
    got3 = run_periodic_sharded(f3, 7, 0.58, "trt", mesh=make_mesh(n))
    out[f"d3q19 trt {n}"] = [float(np.abs(np.asarray(got3) - ref3).max()), float(np.abs(ref3 - np.asarray(f3)).max()),
                             len(got3.sharding.device_set)]
try:
    run_periodic_sharded(jnp.zeros((9, 6, 4)), 1, 0.6, mesh=make_mesh(4))
except ValueError as exc:
    out["error"] = str(exc)
print(json.dumps(out))
"""


def _run_forced(code: str, devices: int) -> dict:
    env = dict(os.environ, XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}", JAX_PLATFORMS="cpu")
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_sharded_matches_single_device_on_2_and_4_host_devices() -> None:
    out = _run_forced(_CHECK, 4)
    for case in ("d2q9 trt 2", "d2q9 bgk 4", "d2q9 trt 4", "d3q19 trt 2", "d3q19 trt 4"):
        diff, moved, placed = out[case]
        assert moved > 1e-3, case  # the flow changed, so agreement is not trivial
        assert diff <= 1e-6, (case, diff)  # identical up to float32 round-off (measured: exactly 0)
        assert placed == int(case[-1]), (case, placed)
    assert "divisible by the 4 devices" in out["error"]


@pytest.mark.slow
def test_strong_scaling_reports_each_device_count() -> None:
    from atom_sdk.worlds.lbm_sharded import strong_scaling

    report = strong_scaling(size=64, steps=5, devices=(1, 2), rounds=1)
    assert [r["devices"] for r in report["rows"]] == [1, 2]
    assert all(r["mlups"] > 0 for r in report["rows"]) and report["rows"][0]["speedup"] == 1.0
