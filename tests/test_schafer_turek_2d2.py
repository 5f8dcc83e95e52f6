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
    cu = [lbm.C[i, 0] * 0.04 + lbm.C[i, 1] * v for i in range(9)]
    shape = sum(lbm.W[i] * (1 + 3 * cu[i] + 4.5 * cu[i] ** 2 - 1.5 * (0.04**2 + v**2)) for i in (3, 6, 7))
    np.testing.assert_allclose(gap, 0.01 / CS * shape, rtol=1e-4)


def test_runner_refuses_bad_settings() -> None:
    from atom_sdk.worlds.st_channel import run_2d2

    with pytest.raises(ValueError, match="outlet must be"):
        run_2d2(8, u_mean=0.06, convective_time=1.0, measure_time=0.5, outlet="open")
    with pytest.raises(ValueError, match="bulk_rate needs collision='mrt'"):
        run_2d2(8, u_mean=0.06, convective_time=1.0, measure_time=0.5, collision="trt", bulk_rate=0.5)
    with pytest.raises(ValueError, match="at most one cell"):
        run_2d2(8, u_mean=0.06, convective_time=1.0, measure_time=0.5, offset=(1.5, 0.0))
    from atom_sdk.worlds.st_channel import run_2d1

    with pytest.raises(ValueError, match="at most one cell"):
        run_2d1(8, offset=(0.0, float("nan")))


def test_reproduction_budgets_keep_re_100_tau_fixed_and_mach_inside_the_world_limit() -> None:
    from atom_sdk.reproduce.schafer_turek import BUDGETS, lattice_velocity
    from atom_sdk.worlds.cylinder import MAX_MACH, MIN_TAU
    from atom_sdk.worlds.st_channel import grid_diameter

    for budget in BUDGETS.values():
        assert budget["tau"] >= MIN_TAU
        for d in budget["diameters"]:
            u = lattice_velocity(d, budget["tau"])
            assert u * grid_diameter(d) / lbm.viscosity(budget["tau"]) == pytest.approx(100.0)
            assert 1.5 * u / CS <= MAX_MACH
        speeds = [lattice_velocity(d, budget["tau"]) for d in budget["diameters"]]
        assert speeds == sorted(speeds, reverse=True)  # diffusive scaling: Ma falls with the spacing


def test_reproduction_extrapolates_a_second_order_sequence_and_halves_u_for_the_mach_check(monkeypatch, tmp_path):
    """run() on synthetic grids C(D) = C_inf + 40 / D^2, the Mach re-run offset by -0.01 and the moved cylinder by
    +0.004: plumbing, not physics."""
    from atom_sdk.reproduce import schafer_turek as st

    b = st.BUDGETS["quick"]
    exact = {"cd_max": 3.23, "cl_max": 1.0, "strouhal": 0.3}
    calls = []

    def fake(diameter, convective_time, measure_time, u_mean, offset=(0.0, 0.0)):
        calls.append((diameter, u_mean, tuple(offset)))
        moved = 0.004 if tuple(offset) != (0.0, 0.0) else 0.0
        offset = moved + (0.0 if u_mean == pytest.approx(st.lattice_velocity(diameter, b["tau"])) else -0.01)
        return {**{q: v + 40.0 / diameter**2 + offset for q, v in exact.items()},
                "diameter": float(diameter), "u_mean": u_mean, "mach": 1.5 * u_mean / CS, "cells": 1, "steps": 1,
                "tau": b["tau"], "cd_max_raw": 0.0, "cl_max_raw": 0.0, "cd_mean": 0.0, "seconds": 0.0}

    monkeypatch.setattr(st, "run_resolution", fake)
    monkeypatch.setattr(st, "_figure", lambda *a: None)
    body = st.run(tmp_path, seeds=[0], budget="quick", executor="serial")
    assert [c[0] for c in calls[:3]] == list(b["diameters"]) and all(c[2] == (0.0, 0.0) for c in calls[:4])
    u_check = st.lattice_velocity(b["mach_diameter"], b["tau"])
    assert calls[3][:2] == (b["mach_diameter"], pytest.approx(u_check / 2))
    assert calls[4] == (b["mach_diameter"], pytest.approx(u_check), st.PLACEMENT_SHIFT)
    conv = {r["quantity"]: r for r in body["tables"][1]["rows"]}
    for row, q in zip(body["rows"], st.QUANTITIES):
        assert conv[q]["order"] == pytest.approx(2.0, abs=1e-6)
        assert row["ours"] == pytest.approx(exact[q], abs=1e-9)  # the Richardson value is compared
        assert row["verdict"]["reproduced"]
        assert conv[q]["richardson_p2"] == pytest.approx(exact[q], abs=1e-9)
        # bracket: the fine grid's GCI band and the placement spread (0.004 here) in quadrature
        band = math.hypot(exact[q] * conv[q]["gci_fine"], 0.004)
        assert (row["ci_low"], row["ci_high"]) == pytest.approx((exact[q] - band, exact[q] + band), abs=1e-9)
        assert band > 0.004
    placement = {r["quantity"]: r for r in body["tables"][3]["rows"]}
    assert placement["cd_max"]["spread"] == pytest.approx(0.004)
    mach = {r["quantity"]: r for r in body["tables"][2]["rows"]}["cl_max"]
    assert mach["value_half"] - mach["value"] == pytest.approx(-0.01)
    assert mach["mach_zero"] == pytest.approx(mach["value_half"] - 0.01 / 3)
    assert any(f"tau = {b['tau']}" in n for n in body["notes"])


def _quarter_wave_peaks(series: np.ndarray, nx: int, window: int) -> list[float]:
    """Drag amplitude at the channel's quarter-wave frequencies (2n + 1) c_s / 4 L, n = 0..3 (Hann window)."""
    x = series[-window:] - series[-window:].mean()
    amp = np.abs(np.fft.rfft(x * np.hanning(window))) / window * 4
    f = np.fft.rfftfreq(window)
    return [float(amp[np.abs(f - (2 * n + 1) * CS / (4 * nx)) < 0.06 * (2 * n + 1) * CS / (4 * nx)].max())
            for n in range(4)]


@pytest.mark.slow
def test_non_reflecting_outlet_removes_the_channels_standing_waves(tmp_path) -> None:
    """D = 12, Ma 0.078, 35 D/U, TRT: the fixed-density outlet's quarter-wave drag peaks, and their absence.

    Measured: fixed density 0.014 / 0.026 / 0.23 / 0.58 (n = 0..3), characteristic 0.0003 / 0.017 / 0.0001 /
    0.0000 (the n = 1 bin holds the shedding's own second harmonic, within 9 % of that mode), St 0.303.
    """
    from atom_sdk.worlds.st_channel import run_2d2

    kw = {"u_mean": 0.03, "convective_time": 35.0}
    window = 9600  # the last 24 D/U
    closed = run_2d2(12, outlet="pressure", series_path=str(tmp_path / "p.npy"), **kw)
    open_ = run_2d2(12, outlet="characteristic", series_path=str(tmp_path / "c.npy"), **kw)
    nx = 12 * 22
    loud = _quarter_wave_peaks(np.load(tmp_path / "p.npy")[0].astype(np.float64), nx, window)
    quiet = _quarter_wave_peaks(np.load(tmp_path / "c.npy")[0].astype(np.float64), nx, window)
    assert max(loud[2:]) > 0.1
    assert max(quiet[0], quiet[2], quiet[3]) < 0.01
    assert 0.29 < open_["strouhal"] < 0.31 and 0.29 < closed["strouhal"] < 0.31  # low-passed crossings


@pytest.mark.slow
def test_dfg_2d2_lift_and_strouhal_inside_the_ranges_at_d30() -> None:
    """The finest grid that fits the slow tier (D = 30, Ma 0.078, about 4e9 cell updates, minutes on one core).

    C_L,max and St lie inside the DFG ranges there (measured 1.0004, 0.3013). C_D,max does not (measured
    3.2728): it is 1 % high from the Mach error (+0.018, measured at D = 20) and the grid error (D = 40 gives
    3.259); only the grid-converged, Mach-extrapolated value reaches the range, see the reproduction.
    """
    from atom_sdk.worlds.st_channel import run_2d2

    out = run_2d2(30, u_mean=0.03)
    assert 0.99 <= out["cl_max"] <= 1.01
    assert 0.295 <= out["strouhal"] <= 0.305
    assert 3.24 < out["cd_max"] < 3.29
    assert abs(out["cd_max_raw"] - out["cd_max"]) < 0.15  # the transverse acoustic mode rides on the raw maximum


def test_full_budget_averages_two_placements_on_every_grid(monkeypatch, tmp_path) -> None:
    """Synthetic grids again, the moved cylinder +0.004: each level is the mean, half the spread enters the bracket."""
    from atom_sdk.reproduce import schafer_turek as st

    b = st.BUDGETS["full"]
    exact = {"cd_max": 3.23, "cl_max": 1.0, "strouhal": 0.3}
    calls = []

    def fake(diameter, convective_time, measure_time, u_mean, offset=(0.0, 0.0)):
        calls.append((diameter, tuple(offset)))
        moved = 0.004 if tuple(offset) != (0.0, 0.0) else 0.0
        return {**{q: v + 40.0 / diameter**2 + moved for q, v in exact.items()},
                "diameter": float(diameter), "u_mean": u_mean, "mach": 1.5 * u_mean / CS, "cells": 1, "steps": 1,
                "tau": b["tau"], "cd_max_raw": 0.0, "cl_max_raw": 0.0, "cd_mean": 0.0, "seconds": 1.0}

    monkeypatch.setattr(st, "run_resolution", fake)
    monkeypatch.setattr(st, "_figure", lambda *a: None)
    body = st.run(tmp_path, seeds=[0], budget="full", executor="serial")
    assert calls[:6] == [(d, o) for d in b["diameters"] for o in b["placements"]]
    assert calls[6] == (b["mach_diameter"], b["placements"][0]) and len(calls) == 7  # no separate placement run
    levels = body["tables"][0]["rows"]
    assert [lv["seconds"] for lv in levels] == [2.0, 2.0, 2.0]
    conv = {r["quantity"]: r for r in body["tables"][1]["rows"]}
    for row, q in zip(body["rows"], st.QUANTITIES):
        assert row["ours"] == pytest.approx(exact[q] + 0.002, abs=1e-9)  # Richardson of the placement means
        band = math.hypot((exact[q] + 0.002) * conv[q]["gci_fine"], 0.002)
        assert (row["ci_low"], row["ci_high"]) == pytest.approx((row["ours"] - band, row["ours"] + band), abs=1e-9)
    placement = body["tables"][3]["rows"]
    assert len(placement) == 9 and all(r["spread"] == pytest.approx(0.004) for r in placement)
