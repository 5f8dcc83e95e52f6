"""The one kernel-choice rule the 2D and 3D native channel kernels share (``lbm_channel_fused``)."""

from __future__ import annotations

import jax.numpy as jnp
import pytest

from atom_sdk.errors import WorldParameterError
from atom_sdk.worlds import lbm3d_fused, lbm_channel_fused
from atom_sdk.worlds.lbm_channel_fused import choose_kernel, collision_blocker


def _never() -> str | None:
    raise AssertionError("the blocker must not be asked for kernel='reference'")


def test_choose_kernel_rule() -> None:
    assert choose_kernel("reference", _never) == "reference"
    assert choose_kernel("auto", lambda: None) == "native"
    assert choose_kernel("native", lambda: None) == "native"
    assert choose_kernel("auto", lambda: "no compiler") == "reference"
    with pytest.raises(WorldParameterError, match="kernel='native' cannot run: no compiler; use kernel='auto'"):
        choose_kernel("native", lambda: "no compiler")
    with pytest.raises(WorldParameterError, match="kernel must be one of"):
        choose_kernel("fast", lambda: None)


def test_both_channel_kernels_name_themselves_in_the_shared_reasons() -> None:
    assert collision_blocker("trt", jnp.float32) is None  # the tests run JAX on the CPU (conftest)
    assert lbm_channel_fused.native_blocker("mrt", jnp.float32) == (
        "the native channel kernel implements collision 'trt' or 'bgk', not 'mrt'")
    assert lbm3d_fused.native_blocker("mrt", jnp.float32) == (
        "the native D3Q19 channel kernel implements collision 'trt' or 'bgk', not 'mrt'")
    assert lbm3d_fused.native_blocker("bgk", jnp.float16) == "the native D3Q19 channel kernel is float32 only, not float16"
    assert lbm3d_fused.resolve_kernel("auto", "mrt", jnp.float32) == "reference"
    with pytest.raises(WorldParameterError, match="D3Q19 channel kernel implements collision"):
        lbm3d_fused.resolve_kernel("native", "mrt", jnp.float32)
