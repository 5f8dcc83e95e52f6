"""The CUDA LBM kernels' source, checked without a GPU: the same per-cell code compiled for the host.

The source's host build (system C++ compiler) runs the kernels' exact passes (push, or collide /
pull-collide / stream) against the pure-JAX reference; with ``nvcc`` the device library is built too.
On the GPU itself ``benchmarks/gpu_check_cuda.py`` runs the device kernels against the reference.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest

from atom_sdk.worlds import lbm_cuda, lbm_d3q19, lbm_fused
from atom_sdk.worlds.bench import _initial

needs_nvcc = pytest.mark.skipif(lbm_cuda.nvcc() is None, reason="nvcc not installed")


def _state(shape: tuple[int, ...]) -> np.ndarray:
    rng = np.random.default_rng(3)
    f = _initial(shape[1], shape[2], np.float32) if shape[0] == 9 else np.asarray(
        lbm_d3q19.initial_state(shape[1:], seed=1))
    return (f * (1 + 0.02 * rng.standard_normal(f.shape))).astype(np.float32)


@pytest.mark.parametrize("shape", [(9, 11, 20), (19, 5, 6, 9)])
@pytest.mark.parametrize("kind", ["bgk", "trt"])
@pytest.mark.parametrize("pattern", ["push", "pull"])
def test_host_build_matches_reference(shape, kind, pattern):
    f0 = _state(shape)
    om_p, om_m = lbm_fused.relaxation_rates(0.7, kind)
    for steps in (0, 1, 3):
        ref = np.asarray(lbm_fused.run_periodic_reference(jnp.asarray(f0), steps, 0.7, kind))
        out = lbm_cuda.host_update(f0, steps, om_p, om_m, pattern)
        assert np.abs(out - ref).max() < 2e-6, (steps, float(np.abs(out - ref).max()))
    # the state really moved: a test of a kernel that copies its input would fail here
    assert np.abs(lbm_cuda.host_update(f0, 3, om_p, om_m, pattern) - f0).max() > 1e-4


@needs_nvcc
def test_nvcc_builds_the_device_library(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    path = lbm_cuda.compile_library()
    assert path.exists() and path.stat().st_size > 10_000


def test_auto_never_picks_cuda_without_a_gpu():
    assert lbm_fused.resolve_backend("auto", jnp.float32) != "cuda"
    assert not lbm_cuda.available()
    with pytest.raises(ValueError, match="backend must be one of"):
        lbm_fused.resolve_backend("warp", jnp.float32)


def test_cuda_kernels_refuse_bad_states_with_a_reason():
    with pytest.raises(ValueError, match="float32 only"):
        lbm_cuda.run_periodic_cuda(jnp.zeros((9, 4, 4), jnp.float16), 1, 1.0, 1.0)
    with pytest.raises(ValueError, match=r"\(9, nx, ny\) or \(19, nx, ny, nz\)"):
        lbm_cuda.run_periodic_cuda(jnp.zeros((9, 4, 4, 4), jnp.float32), 1, 1.0, 1.0)
    with pytest.raises(ValueError, match="pattern must be one of"):
        lbm_cuda.resolve_pattern("sideways")
    with pytest.raises(RuntimeError, match="no GPU"):
        lbm_cuda.run_periodic_cuda(jnp.zeros((9, 4, 4), jnp.float32), 1, 1.0, 1.0)
