"""The one channel-update builder (channel_update) behind lbm2d:cylinder and the Schäfer-Turek runner."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from atom_sdk.worlds import channel_update, lbm, lbm_channel_fused, lbm_channel_native, st_channel
from atom_sdk.worlds.cylinder import CylinderWorld, make_dynamics, make_substep

SMALL = (180, 34, 1)
NATIVE = lbm_channel_native.available()
KERNELS = ["reference"] + (["native"] if NATIVE else [])


def _run(substep, f0: jax.Array, steps: int = 12) -> list[np.ndarray]:
    """``steps`` updates with the jets blowing; the state and the last update's outputs."""
    def body(_, carry):
        out = substep(carry[0], jnp.float32(0.04))
        return (out[0], *out[1:3])

    z = jnp.zeros((), jnp.float32)
    return [np.asarray(x) for x in jax.jit(lambda g: jax.lax.fori_loop(0, steps, body, (g, z, z)))(f0)]


@pytest.fixture(scope="module")
def world() -> CylinderWorld:
    w = CylinderWorld(grid=SMALL, substeps=1)
    w.reset(seed=1)
    return w


@pytest.mark.parametrize("kernel", KERNELS)
def test_runner_with_the_worlds_outlet_is_the_worlds_update_bit_for_bit(world: CylinderWorld, kernel: str) -> None:
    geo, u = world.geometry, world.params.u_inlet
    ours = _run(make_substep(geo, world.tau, "trt", world.dtype, kernel=kernel), world.state.f)
    runner = _run(st_channel.make_channel_substep(geo, world.tau, u, world.dtype, outlet="pressure", kernel=kernel),
                  world.state.f)
    characteristic = _run(st_channel.make_channel_substep(geo, world.tau, u, world.dtype, kernel=kernel), world.state.f)
    assert np.abs(ours[0] - np.asarray(world.state.f)).max() > 1e-3  # the flow moved
    for a, b in zip(ours, runner):
        np.testing.assert_array_equal(a, b)
    # the outlet is the one difference: the characteristic outlet moves the last column only at first
    assert np.abs(characteristic[0][:, -1] - ours[0][:, -1]).max() > 1e-6
    np.testing.assert_array_equal(characteristic[0][:, :-12], ours[0][:, :-12])


def test_builder_reports_the_kernel_it_resolved(world: CylinderWorld) -> None:
    geo = world.geometry
    update = channel_update.make_channel_update(geo, world.tau, "trt", world.dtype)
    assert update.kernel == ("native" if NATIVE else "reference")
    assert channel_update.make_channel_update(geo, world.tau, "trt", world.dtype, kernel="reference").kernel == \
        "reference"
    assert channel_update.make_channel_update(geo, world.tau, "mrt", world.dtype, bulk_rate=0.5).kernel == "reference"
    with pytest.raises(ValueError, match="bulk_rate needs collision='mrt'"):
        channel_update.make_channel_update(geo, world.tau, "trt", world.dtype, bulk_rate=0.5)
    # an inlet scale of 1 is no scale at all, bit for bit
    one = update.substep(world.state.f, jnp.float32(0.02), jnp.float32(1.0))
    none = update.substep(world.state.f, jnp.float32(0.02))
    np.testing.assert_array_equal(np.asarray(one[0]), np.asarray(none[0]))


def test_world_dynamics_resolve_the_kernel_once(world: CylinderWorld, monkeypatch) -> None:
    calls = []
    real = lbm_channel_fused.resolve_kernel

    def counting(*args, **kwargs):
        calls.append(args[0])
        return real(*args, **kwargs)

    monkeypatch.setattr(lbm_channel_fused, "resolve_kernel", counting)
    make_dynamics(world.geometry, world.tau, "trt", 0.05, 4, 0.0, 0.0, world.dtype, "auto")
    assert calls == ["auto"]


def test_moved_helpers_keep_their_old_addresses() -> None:
    from atom_sdk.worlds import cylinder

    assert cylinder.collide_bulk_damped is channel_update.collide_bulk_damped
    assert st_channel.outflow_characteristic is channel_update.outflow_characteristic
    f = lbm.equilibrium(jnp.ones((6, 3)), jnp.full((6, 3), 0.05), jnp.zeros((6, 3)))
    assert float(jnp.abs(st_channel.outflow_characteristic(f, 0.05) - f).max()) < 1e-7  # at rest: no wave, no change
