"""The native D3Q19 channel update (lbm3d_fused / lbm3d_native) against the pure-JAX reference (lbm3d)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from atom_sdk.errors import WorldParameterError
from atom_sdk.worlds import lbm3d, lbm3d_fused, lbm3d_native
from atom_sdk.worlds import lbm_d3q19 as d3
from atom_sdk.worlds.world3d import Cylinder3DWorld, SphereWorld

pytestmark = pytest.mark.skipif(not lbm3d_native.available(), reason="no C++ compiler for the native kernel")

SHAPE = (40, 16, 16)
STEPS = 40
TAU = 0.6
# float32 round-off after 40 updates: the bulk's collision and the patches' sums are grouped differently
# from XLA's; populations are <= 0.45 and the measured differences stay below 5e-7
ATOL_F = 5e-6
# sums over the run of forces of 5-120 (lattice units, ~1000 links each update): float32 on the reference's side
ATOL_FORCE = 5e-5
RTOL_FORCE = 2e-6


def _body(kind: str) -> lbm3d.Body3D:
    # off-centre in y and z so that no symmetry hides a wrong index
    return lbm3d.Sphere(12.0, 7.5, 7.3, 3.2) if kind == "sphere" else lbm3d.ZCylinder(12.0, 7.5, 3.1)


def _setup(body: str, inlet: str, wall_ux: float, net_jet: bool = False):
    solid, links, _ = lbm3d.build_links(_body(body), SHAPE, True, np.radians(25.0), 0.05, jnp.float32)
    if net_jet:  # jets that do not cancel: the injected mass is then a real check
        links = links._replace(jet=jnp.abs(links.jet))
    closed = inlet == "closed"
    channel = lbm3d.Channel(lbm3d.duct_profile(SHAPE[1], SHAPE[2], 0.05, "parabolic"), wall_ux, closed=closed,
                            inlet="bounce_back" if closed else inlet)
    rng = np.random.default_rng(0)
    u = 0.05 + 0.01 * rng.standard_normal((3, *SHAPE))
    f0 = d3.equilibrium(jnp.ones(SHAPE), *(jnp.asarray(c, jnp.float32) for c in u)).astype(jnp.float32)
    return solid, links, channel, f0


def _run(update, f0: jax.Array, ramp: bool):
    """``STEPS`` updates with the jets on; the final state and the force and injected mass summed over the run."""
    def body(s, carry):
        f, force_sum, injected_sum = carry
        if ramp:
            f, force, inj = update(f, jnp.float32(0.05), jnp.minimum((s + 1) / STEPS, 1.0).astype(jnp.float32))
        else:
            f, force, inj = update(f, jnp.float32(0.05))
        return f, force_sum + force, injected_sum + inj

    f, force, inj = jax.jit(lambda g: jax.lax.fori_loop(0, STEPS, body, (g, jnp.zeros(3), jnp.zeros(()))))(f0)
    return np.asarray(f), np.asarray(force), float(inj)


def _compare(body: str, kind: str, inlet: str, wall_ux: float, ramp: bool = False, net_jet: bool = False) -> None:
    solid, links, channel, f0 = _setup(body, inlet, wall_ux, net_jet)
    args = (SHAPE, TAU, kind, channel, links, solid, jnp.float32)
    ref = _run(lbm3d_fused.make_update(*args, kernel="reference"), f0, ramp)
    nat = _run(lbm3d_fused.make_update(*args, kernel="native"), f0, ramp)
    assert np.abs(ref[0] - np.asarray(f0)).max() > 1e-2  # the flow moved: the comparison means something
    assert np.abs(ref[1]).max() > 1.0  # the body felt a force on every update
    np.testing.assert_allclose(nat[0], ref[0], rtol=0, atol=ATOL_F)
    np.testing.assert_allclose(nat[1], ref[1], rtol=RTOL_FORCE, atol=ATOL_FORCE)
    assert nat[2] == pytest.approx(ref[2], rel=RTOL_FORCE, abs=ATOL_FORCE)


@pytest.mark.parametrize("body,kind,inlet,wall_ux", [
    ("sphere", "trt", "bounce_back", 0.05),
    ("sphere", "bgk", "equilibrium", 0.0),
    ("cylinder", "trt", "equilibrium", 0.05),
    ("cylinder", "bgk", "bounce_back", 0.0),
])
def test_native_matches_reference(body: str, kind: str, inlet: str, wall_ux: float) -> None:
    _compare(body, kind, inlet, wall_ux)


def test_ramp_closed_end_and_net_jet_mass_match_reference() -> None:
    """The ``scale`` ramp of inlet and walls, a closed end, and jets whose mass does not cancel."""
    _compare("sphere", "trt", "bounce_back", 0.05, ramp=True, net_jet=True)
    _compare("cylinder", "trt", "closed", 0.02, ramp=True, net_jet=True)
    solid, links, channel, f0 = _setup("sphere", "bounce_back", 0.0, net_jet=True)
    update = lbm3d_fused.make_update(SHAPE, TAU, "trt", channel, links, solid, jnp.float32, kernel="native")
    _, _, inj = update(f0, jnp.float32(0.05))
    assert float(inj) == pytest.approx(0.05 * float(jnp.sum(links.jet)), rel=1e-5)
    assert float(inj) > 1e-3


def test_no_body_duct_matches_reference() -> None:
    """``links=None`` (the duct validation's empty channel): no force, no solid reset."""
    _, _, channel, f0 = _setup("sphere", "bounce_back", 0.0)
    args = (SHAPE, TAU, "trt", channel, None, np.zeros(SHAPE, bool), jnp.float32)
    ref = _run(lbm3d_fused.make_update(*args, kernel="reference"), f0, False)
    nat = _run(lbm3d_fused.make_update(*args, kernel="native"), f0, False)
    np.testing.assert_allclose(nat[0], ref[0], rtol=0, atol=ATOL_F)
    assert np.all(nat[1] == 0.0) and nat[2] == 0.0


def test_vmap_over_two_states_equals_two_calls() -> None:
    solid, links, channel, f0 = _setup("cylinder", "bounce_back", 0.05)
    update = lbm3d_fused.make_update(SHAPE, TAU, "trt", channel, links, solid, jnp.float32, kernel="native")
    f1 = f0 * jnp.float32(1.01)
    batch = jnp.stack([f0, f1])
    amps = jnp.array([0.05, -0.03], jnp.float32)
    out, force, inj = jax.jit(jax.vmap(update))(batch, amps)
    for k, (f, a) in enumerate(zip((f0, f1), amps)):
        one, one_force, one_inj = jax.jit(update)(f, a)
        np.testing.assert_array_equal(np.asarray(out[k]), np.asarray(one))
        np.testing.assert_array_equal(np.asarray(force[k]), np.asarray(one_force))
        assert float(inj[k]) == float(one_inj)
    assert not np.array_equal(np.asarray(out[0]), np.asarray(out[1]))


def test_native_refuses_what_it_cannot_run_with_what_to_change() -> None:
    with pytest.raises(WorldParameterError, match="collision 'trt' or 'bgk'.*kernel='auto'"):
        lbm3d_fused.resolve_kernel("native", "mrt", jnp.float32)
    with pytest.raises(WorldParameterError, match="float32 only, not float64.*dtype float32"):
        lbm3d_fused.resolve_kernel("native", "trt", jnp.float64)
    with pytest.raises(WorldParameterError, match="kernel must be one of"):
        lbm3d_fused.resolve_kernel("fast", "trt", jnp.float32)
    assert lbm3d_fused.resolve_kernel("auto", "trt", jnp.float64) == "reference"
    assert lbm3d_fused.resolve_kernel("auto", "trt", jnp.float32, SHAPE) == "native"
    with pytest.raises(WorldParameterError, match="float32 only"):
        SphereWorld(grid=(48, 16, 16), dtype="float64", kernel="native").reset(seed=0)
    with pytest.raises(Exception, match="kernel"):
        SphereWorld(grid=(48, 16, 16), kernel="fastest")


def test_world_steps_agree() -> None:
    """Whole agent steps of the world (odd substeps: the native loop's unroll by 2 leaves a remainder)."""
    kw = dict(grid=(48, 20, 12), substeps=5, perturbation=1e-2)
    worlds = {k: Cylinder3DWorld(kernel=k, **kw) for k in ("reference", "native")}
    outs = {}
    for k, w in worlds.items():
        w.reset(seed=3)
        w.step([0.03])
        outs[k] = w.step([-0.02])
    (o_ref, r_ref, *_), (o_nat, r_nat, *_) = outs["reference"], outs["native"]
    np.testing.assert_allclose(o_nat, o_ref, rtol=0, atol=2e-4)  # u/U at probes (u ~ 0.05: 1e-5 absolute)
    assert r_nat == pytest.approx(r_ref, abs=1e-4)
    np.testing.assert_allclose(np.asarray(worlds["native"].state.f), np.asarray(worlds["reference"].state.f),
                               rtol=0, atol=ATOL_F)


def test_check_env_passes_on_auto() -> None:
    from gymnasium.utils.env_checker import check_env

    world = SphereWorld(grid=(48, 16, 16), substeps=2)
    check_env(world, skip_render_check=True)
    assert lbm3d_fused.resolve_kernel(world.params.kernel, "trt", jnp.float32) == "native"


def test_channel3d_rows_report_both_kernels_against_the_copy_bound() -> None:
    from atom_sdk.worlds.bench import channel3d_rows

    rows = channel3d_rows((48, 20, 12), steps=2, rounds=1)
    assert [r["kernel"] for r in rows] == ["reference", "native"]
    for row in rows:
        assert row["mlups"] > 0 and 0 < row["fraction_of_copy_bound_cpu"]
        assert row["vs_reference"] == pytest.approx(row["mlups"] / rows[0]["mlups"])
    assert rows[1]["memory_bytes_per_update"] == 152 and rows[1]["case"] == "cylinder3d 48x20x12 trt (native)"
