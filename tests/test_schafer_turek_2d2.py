"""The DFG 2D-2 benchmark runner (atom_sdk.worlds.st_channel) and its reproduction's scaling.

Fast tier: the non-reflecting outlet really absorbs a plane sound pulse that the fixed-density outlet
reflects whole (the cause of the channel's acoustic standing waves), the runner refuses bad settings,
and the reproduction's lattice velocities give Re = 100 at a fixed relaxation time. Slow tier: the
benchmark itself.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from atom_sdk.worlds import lbm
from atom_sdk.worlds.st_channel import outflow_characteristic

CS = math.sqrt(lbm.CS2)


def _pulse_reflection(outlet: str, nx: int = 300, u0: float = 0.05, amp: float = 1e-3) -> float:
    """Reflected / incident density amplitude of a right-going plane pulse hitting the outlet.

    A periodic-in-y strip (ny = 2) with a velocity inlet at x = 0 and the outlet at x = nx - 1 carries a
    uniform flow u0; a Gaussian pulse rho' = amp g, u' = c_s amp g (a pure right-going wave) starts at
    x = nx / 2 and is read at x = nx / 3 after its reflection has come back there.
    """
    ny = 2
    x = np.arange(nx)[:, None] * np.ones((1, ny))
    g = np.exp(-(((x - nx / 2) / 10.0) ** 2))
    rho = 1.0 + amp * g
    ux = u0 + CS * amp * g
    f0 = lbm.equilibrium(jnp.asarray(rho, jnp.float32), jnp.asarray(ux, jnp.float32), jnp.zeros((nx, ny), jnp.float32))
    inlet = jnp.full((ny,), u0, jnp.float32)
    tau = 0.52  # little viscous attenuation over the run
    # incident wave reaches the outlet after (nx/2)/(c_s + u0) steps; its reflection reaches nx/3 after
    # another (2 nx / 3)/(c_s - u0); read the density there at that moment
    steps = int((nx / 2) / (CS + u0) + (2 * nx / 3) / (CS - u0))

    @jax.jit
    def run(f):
        def body(_, h):
            post = lbm.collide(h, tau, "trt")
            out = lbm.stream_periodic(post)
            out = outflow_characteristic(out, u0) if outlet == "characteristic" else lbm.outflow_extrapolated(out)
            return lbm.zou_he_velocity_inlet(out, inlet)
        return jax.lax.fori_loop(0, steps, body, f)

    rho_end = np.asarray(lbm.moments(run(f0))[0], np.float64).mean(axis=1)
    probe = slice(nx // 3 - 30, nx // 3 + 30)
    return float(np.max(np.abs(rho_end[probe] - np.median(rho_end))) / amp)


def test_characteristic_outlet_absorbs_the_sound_that_the_fixed_density_outlet_reflects() -> None:
    reflected_fixed = _pulse_reflection("pressure")
    reflected_open = _pulse_reflection("characteristic")
    assert reflected_fixed > 0.8  # a pressure-release end sends the pulse back inverted, nearly whole
    assert reflected_open < 0.1 * reflected_fixed  # measured 0.032 against 0.89


def test_characteristic_outlet_equals_the_fixed_density_outlet_when_no_sound_passes() -> None:
    """With the outlet column's mean velocity equal to the reference the anchored density is 1."""
    nx, ny = 6, 5
    uy = np.linspace(-0.01, 0.01, ny)[None, :] * np.ones((nx, 1))
    ux = 0.04 + 0.0 * uy
    f = lbm.equilibrium(jnp.ones((nx, ny)), jnp.asarray(ux), jnp.asarray(uy))
    a = outflow_characteristic(f, 0.04)
    b = lbm.outflow_extrapolated(f)
    assert float(jnp.max(jnp.abs(a - b))) < 1e-7
    moved = outflow_characteristic(f, 0.03)  # the column runs 0.01 faster: an outgoing wave rho' = u' / c_s
    gap = np.asarray(jnp.sum(moved[:, -1] - b[:, -1], axis=0), np.float64)
    v = uy[-2]
    shape = sum(lbm.W[i] * (1 + 3 * (lbm.C[i, 0] * 0.04 + lbm.C[i, 1] * v) + 4.5 * (lbm.C[i, 0] * 0.04 + lbm.C[i, 1] * v) ** 2
                            - 1.5 * (0.04**2 + v**2)) for i in (3, 6, 7))
    np.testing.assert_allclose(gap, 0.01 / CS * shape, rtol=1e-4)


def test_runner_refuses_bad_settings() -> None:
    from atom_sdk.worlds.st_channel import run_2d2

    with pytest.raises(ValueError, match="outlet must be"):
        run_2d2(8, u_mean=0.06, convective_time=1.0, measure_time=0.5, outlet="open")
    with pytest.raises(ValueError, match="bulk_rate needs collision='mrt'"):
        run_2d2(8, u_mean=0.06, convective_time=1.0, measure_time=0.5, collision="trt", bulk_rate=0.5)


def test_reproduction_budgets_keep_re_100_tau_fixed_and_mach_inside_the_world_limit() -> None:
    from atom_sdk.reproduce.schafer_turek import BUDGETS, lattice_velocity
    from atom_sdk.worlds.cylinder import MAX_MACH, MIN_TAU

    for budget in BUDGETS.values():
        assert budget["tau"] >= MIN_TAU
        for d in budget["diameters"]:
            u = lattice_velocity(d, budget["tau"])
            assert u * d / lbm.viscosity(budget["tau"]) == pytest.approx(100.0)
            assert 1.5 * u / CS <= MAX_MACH
        speeds = [lattice_velocity(d, budget["tau"]) for d in budget["diameters"]]
        assert speeds == sorted(speeds, reverse=True)  # diffusive scaling: Ma falls with the spacing


def test_reproduction_extrapolates_a_second_order_sequence_and_halves_u_for_the_mach_check(monkeypatch, tmp_path):
    """run() on synthetic grids C(D) = C_inf + 40 / D^2, the Mach re-run offset by 0.01: the plumbing, not the physics."""
    from atom_sdk.reproduce import schafer_turek as st

    b = st.BUDGETS["quick"]
    exact = {"cd_max": 3.23, "cl_max": 1.0, "strouhal": 0.3}
    calls = []

    def fake(diameter, convective_time, measure_time, u_mean):
        calls.append((diameter, u_mean))
        offset = 0.0 if u_mean == pytest.approx(st.lattice_velocity(diameter, b["tau"])) else -0.01
        return {**{q: v + 40.0 / diameter**2 + offset for q, v in exact.items()},
                "diameter": float(diameter), "u_mean": u_mean, "mach": 1.5 * u_mean / CS, "cells": 1, "steps": 1,
                "tau": b["tau"], "cd_max_raw": 0.0, "cl_max_raw": 0.0, "cd_mean": 0.0, "seconds": 0.0}

    monkeypatch.setattr(st, "run_resolution", fake)
    monkeypatch.setattr(st, "_figure", lambda *a: None)
    body = st.run(tmp_path, seeds=[0], budget="quick", executor="serial")
    assert [d for d, _ in calls[:3]] == list(b["diameters"])
    assert calls[3] == (b["mach_diameter"], pytest.approx(st.lattice_velocity(b["mach_diameter"], b["tau"]) / 2))
    conv = {r["quantity"]: r for r in body["tables"][1]["rows"]}
    for row, q in zip(body["rows"], st.QUANTITIES):
        assert conv[q]["order"] == pytest.approx(2.0, abs=1e-6)
        assert row["ours"] == pytest.approx(exact[q], abs=1e-9)  # the Richardson value is compared
        assert row["verdict"]["reproduced"]
        assert conv[q]["richardson_p2"] == pytest.approx(exact[q], abs=1e-9)
    mach = {r["quantity"]: r for r in body["tables"][2]["rows"]}["cl_max"]
    assert mach["value_half"] - mach["value"] == pytest.approx(-0.01)
    assert mach["mach_zero"] == pytest.approx(mach["value_half"] - 0.01 / 3)
    assert any(f"tau = {b['tau']}" in n for n in body["notes"])
