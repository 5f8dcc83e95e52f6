"""The unconfined square cylinder at Re = 100: free-slip walls, the native patch, the statistics, the case."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from atom_sdk.worlds import lbm, slip_walls_native
from atom_sdk.worlds import square_validation as sv


def _native() -> bool:
    from atom_sdk.worlds import lbm_channel_native

    return lbm_channel_native.available() and slip_walls_native.available()


def test_slip_from_bounce_back_is_the_specular_wall() -> None:
    rng = np.random.default_rng(0)
    post = jnp.asarray(rng.random((9, 12, 7)), jnp.float32)
    streamed = lbm.stream_periodic(post)
    converted = sv.slip_from_bounce_back(lbm.bounce_back_walls(streamed, post))
    direct = sv.specular_walls(streamed, post)
    np.testing.assert_array_equal(np.asarray(converted), np.asarray(direct))
    # and it differs from the no-slip wall it started from
    assert not np.allclose(np.asarray(converted), np.asarray(lbm.bounce_back_walls(streamed, post)))


def test_specular_wall_keeps_a_uniform_stream_uniform() -> None:
    """No wall friction: a uniform stream along x over the walls is a fixed point of collide + stream + walls."""
    nx, ny, u = 16, 9, 0.05
    f0 = lbm.equilibrium(jnp.ones((nx, ny)), jnp.full((nx, ny), u), jnp.zeros((nx, ny))).astype(jnp.float32)

    def run(walls):
        def body(f, _):
            post = lbm.collide(f, 0.6, "trt")
            return walls(lbm.stream_periodic(post), post), None
        return lbm.macroscopic(jax.jit(lambda f: jax.lax.scan(body, f, None, length=50)[0])(f0))

    _, ux, uy = run(sv.specular_walls)
    assert float(jnp.max(jnp.abs(ux - u))) < 1e-6 and float(jnp.max(jnp.abs(uy))) < 1e-6
    _, ux, _ = run(lbm.bounce_back_walls)  # the no-slip wall slows the rows next to it
    assert float(ux[0, 0]) < 0.9 * u


@pytest.mark.skipif(not _native(), reason="needs the native channel kernel and a C++ compiler")
@pytest.mark.parametrize("u_ref", [None, 0.05])
def test_native_slip_update_matches_the_reference(u_ref: float | None) -> None:
    geo = sv.square_geometry(8, 0.05, 6.0, 4.0, 8.0)
    tau = lbm.tau_from_viscosity(0.05 * 8 / 100)
    native, is_native = sv.make_slip_substep(geo, tau, u_ref=u_ref)
    assert is_native
    reference = sv.reference_slip_substep(geo, tau, "trt", jnp.float32, u_ref)
    ux = jnp.broadcast_to(jnp.asarray(geo.inlet_ux, jnp.float32)[None, :], (geo.nx, geo.ny))
    f0 = lbm.equilibrium(jnp.ones((geo.nx, geo.ny)), ux, jnp.zeros((geo.nx, geo.ny))).astype(jnp.float32)

    def run(substep):
        def body(f, n):  # jets on and the inflow ramping up: every patch is exercised
            f, fx, _, _ = substep(f, jnp.float32(0.05), jnp.minimum((n + 1) / 60.0, 1.0).astype(jnp.float32))
            return f, fx
        return jax.jit(lambda f: jax.lax.scan(body, f, jnp.arange(120)))(f0)

    (fa, drag_a), (fb, drag_b) = run(native), run(reference)
    assert float(jnp.max(jnp.abs(fa - fb))) < 2e-5
    np.testing.assert_allclose(np.asarray(drag_a), np.asarray(drag_b), rtol=0, atol=1e-4 * float(jnp.max(drag_b)))


def test_native_patch_rejects_a_wrong_state() -> None:
    with pytest.raises(ValueError, match="float32"):
        slip_walls_native.slip_patch(jnp.zeros((9, 16), jnp.float32), jnp.zeros(4))


def test_lift_rms_and_whole_periods() -> None:
    t = np.arange(10_000)
    period = 731.3
    lift = 0.3 * np.sin(2 * np.pi * t / period + 0.4)
    assert sv.lift_rms(lift) == pytest.approx(0.3 / math.sqrt(2), rel=5e-3)
    drag = 1.5 + 0.02 * np.cos(4 * np.pi * t / period)
    span = sv.whole_periods(lift)
    assert abs(drag[span].mean() - 1.5) < 2e-5
    assert abs(drag[: int(2.6 * period)].mean() - 1.5) > 5e-4  # a partial window is biased
    assert sv.whole_periods(np.ones(10)) == slice(0, 10)


def test_square_geometry_places_the_faces_half_way() -> None:
    geo = sv.square_geometry(10, 0.05, 20.0, 10.0, 16.0)
    assert (geo.nx, geo.ny) == (260, 200)
    assert geo.radius == pytest.approx(5.0)
    assert geo.cy == pytest.approx(99.5)  # centred between rows: faces at 94.5 and 104.5
    assert int(geo.solid.sum()) == 100
    with pytest.raises(ValueError, match="even"):
        sv.square_geometry(9, 0.05, 20.0, 10.0, 16.0)


def test_references_say_where_they_were_read() -> None:
    assert sv.SQUARE_UNCONFINED_REFERENCE.cd == 1.478 and sv.SQUARE_UNCONFINED_REFERENCE.st == 0.146
    for ref in sv.REFERENCES:
        assert "Sohankar" in ref.source and "github" in ref.where.lower()
        assert 1.4 < ref.cd < 1.5 and 0.14 < ref.st < 0.15
    assert "1.478" in sv.SQUARE_UNCONFINED_SOURCE and "0.146" in sv.SQUARE_UNCONFINED_SOURCE


def test_the_case_is_registered_on_the_cylinder_world() -> None:
    from atom_sdk.worlds.validation import validation_cases

    names = {c.name: c for c in validation_cases("lbm2d:cylinder", include_slow=True)}
    case = names["square_cylinder_unconfined_re100"]
    assert case.slow and case.run is sv.unconfined_square_case


def test_coarse_unconfined_square_sheds_near_the_reference() -> None:
    """Side 10 (52 000 nodes, 16 000 updates): measured C_D 1.433, St 0.154, rms C_L 0.17 (reference 1.478/0.146)."""
    out = sv.unconfined_square(side=10, convective_time=80.0, measure_time=30.0)
    assert out["finite"]
    assert out["cd_mean"] == pytest.approx(1.433, abs=0.02)
    assert out["st"] == pytest.approx(0.154, abs=0.004)
    assert 0.15 < out["cl_rms"] < 0.2
    assert out["cd_rms"] < 0.02  # no acoustic ringing left (the impulsive start gave 0.4-0.7)


@pytest.mark.slow
def test_unconfined_square_case_passes() -> None:
    rows = {r.quantity: r for r in sv.unconfined_square_case()}
    assert set(rows) == {"cd_mean", "strouhal"}
    assert rows["cd_mean"].detail["cl_rms"] == pytest.approx(0.185, abs=0.005)
    assert all(r.passed for r in rows.values()), {q: (r.measured, r.reference) for q, r in rows.items()}
    assert rows["cd_mean"].measured == pytest.approx(1.470, abs=0.01)
    assert rows["strouhal"].measured == pytest.approx(0.151, abs=0.002)


def test_reference_path_without_native_kernel() -> None:
    geo = sv.square_geometry(8, 0.05, 6.0, 4.0, 8.0)
    sub, native = sv.make_slip_substep(geo, lbm.tau_from_viscosity(0.004), kernel="reference")
    assert not native
    ux = jnp.broadcast_to(jnp.asarray(geo.inlet_ux, jnp.float32)[None, :], (geo.nx, geo.ny))
    f = lbm.equilibrium(jnp.ones((geo.nx, geo.ny)), ux, jnp.zeros((geo.nx, geo.ny))).astype(jnp.float32)
    f, fx, fy, _ = jax.jit(sub)(f, jnp.float32(0.0))
    assert float(fx) > 0 and bool(jnp.all(jnp.isfinite(f)))
