"""taylor_green_3d reproduction: initial state, laminar decay, the quick curve's shape, the report, the 64^3 peak."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from atom_sdk.reproduce import taylor_green_3d as tgv
from atom_sdk.reproduce.registry import get_reproduction
from atom_sdk.reproduce.taylor_green_3d import dissipation_curve


@pytest.fixture(scope="module")
def quick() -> dict:
    b = tgv.BUDGETS["quick"]
    return dissipation_curve(b["n"], b["t_end"], b["samples"])


def _laminar_rate(n: int, collision: str) -> float:
    """Decay rate of E at Re = 10, in units of V0 / L, fitted after the acoustic adjustment (t >= 0.3)."""
    curve = dissipation_curve(n=n, t_end=1.5, samples=30, reynolds=10.0, collision=collision)
    assert curve["energy"][0] == pytest.approx(0.125, rel=1e-5)  # E(0) = 1/8 exactly
    assert not curve["diverged"]
    t, e = np.asarray(curve["t"]), np.asarray(curve["energy"])
    late = t >= 0.3
    return float(-np.polyfit(t[late], np.log(e[late]), 1)[0])


def test_laminar_decay_rate_and_the_regularised_excess_converges() -> None:
    """At Re = 10 the vortex barely interacts nonlinearly, so E decays as exp(-2 nu |k|^2 t), |k|^2 = 3: a
    rate of 6 / Re = 0.6 V0/L. TRT gives it to 3 % on 16^3. The regularised collision adds a numerical
    (hyperviscous) dissipation on top, second order in the cell: measured 7.6 % above TRT on 16^3 and 1.7 %
    on 32^3; the test asks for a drop of at least 3x on halving the cell."""
    trt16 = _laminar_rate(16, "trt")
    assert trt16 == pytest.approx(0.6, rel=0.03)
    excess16 = _laminar_rate(16, "rr") / trt16 - 1.0
    excess32 = _laminar_rate(32, "rr") / _laminar_rate(32, "trt") - 1.0
    assert 0.04 < excess16 < 0.11
    assert 0.0 < excess32 < excess16 / 3


def test_quick_curve_is_finite_decays_monotonically_and_peaks_early(quick: dict) -> None:
    """32^3 (tau - 1/2 = 4.8e-4) with the recursive-regularised collision: finite to t = 12 (TRT diverged at
    t = 5.4), E falls at every sample after the acoustic adjustment (t >= 0.5), the dissipation rises from the
    laminar 6 E / Re and peaks at 0.01287 at t = 6.87 (measured): the value lands within 10 % of the DNS but
    two convective times early, so the verdict is 'not reproduced'."""
    t, e, eps = (np.asarray(quick[k]) for k in ("t", "energy", "dissipation"))
    assert not quick["diverged"] and np.all(np.isfinite(eps)) and t[-1] >= 12.0
    after = t >= 0.5
    assert np.all(np.diff(e[after]) < 0)
    assert 0.040 < e[-1] < 0.060  # E(12): more than half the energy dissipated
    assert 0.011 < quick["peak_dissipation"] < 0.0145
    assert 6.3 < quick["peak_time"] < 7.7
    check = tgv.verdict(quick)
    assert check["value_ok"] and not check["time_ok"] and not check["reproduced"]


def test_report_rows_notes_and_figure(tmp_path, monkeypatch) -> None:
    """``run`` on a tiny box: two rows against the DNS, notes that give the wall time and a verdict sentence,
    and a figure with units on both axes (no ``save_figure`` warning)."""
    monkeypatch.setitem(tgv.BUDGETS, "quick", {"n": 16, "t_end": 2.0, "samples": 10})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        report = tgv.run(tmp_path, seeds=[0], budget="quick", executor="serial")
    assert (tmp_path / "tgv3d_dissipation.png").stat().st_size > 10_000
    assert [r["paper"] for r in report["rows"]] == [0.0127, 9.0]
    assert not report["rows"][1]["verdict"]["reproduced"]  # a peak at t <= 2 is far from the DNS time
    assert "recursive-regularised" in report["notes"][0] and "MLUPS" in report["notes"][0]
    assert "not reproduced" in report["notes"][1]
    table = report["tables"][0]["rows"]
    assert len(table) >= 11 and table[-1]["t"] >= 2.0 and table[0]["energy"] == pytest.approx(0.125, rel=1e-5)


def test_verdict_applies_the_stated_tolerances() -> None:
    curve = {"peak_dissipation": 0.0127 * 1.09, "peak_time": 9.4, "diverged": False}
    assert tgv.verdict(curve)["reproduced"]
    assert not tgv.verdict({**curve, "peak_dissipation": 0.0127 * 1.11})["value_ok"]
    assert not tgv.verdict({**curve, "peak_time": 8.4})["time_ok"]
    assert not tgv.verdict({**curve, "diverged": True})["reproduced"]


def test_unknown_collision_and_bad_sizes_are_refused() -> None:
    with pytest.raises(ValueError, match="collision must be one of"):
        dissipation_curve(16, 1.0, 10, collision="mrt")
    with pytest.raises(ValueError, match="n >= 8"):
        dissipation_curve(4, 1.0, 10)


def test_declared_with_dns_peak_and_budgets() -> None:
    repro = get_reproduction("taylor_green_3d")
    assert [p.value for p in repro.published] == [0.0127, 9.0]
    assert set(repro.budgets) == {"quick", "full"}
    assert "J. Fluid Mech. 130" in repro.citation


def test_tolerance_notes_name_the_box_of_each_budget() -> None:
    """The peak's tolerance note names the box each budget really runs (it once said 64^3 while full ran 128^3)."""
    note = get_reproduction("taylor_green_3d").published[0].note
    for budget, b in tgv.BUDGETS.items():
        assert f"{budget} {b['n']}^3" in note, (budget, note)
    assert "64^3" not in note


@pytest.mark.slow
def test_full_budget_reproduces_the_dns_peak_at_64_cubed() -> None:
    """64^3 to t = 20 (4080 steps, 1.1e9 cell updates, about 10 min on 2 cores): measured peak 0.01197 V0^3/L
    at t = 8.84 L/V0, i.e. -5.7 % and -0.16 L/V0 from the DNS, inside the 10 % / 0.5 L/V0 tolerance; and finer
    than the quick box: the 32^3 peak came at t = 7.0. (The ``full`` budget is 128^3, meant for a GPU.)"""
    curve = dissipation_curve(64, 20.0, 200)
    print({k: curve[k] for k in ("peak_dissipation", "peak_time", "wall_s", "mlups", "steps")})
    assert not curve["diverged"]
    check = tgv.verdict(curve)
    assert check["reproduced"], check
    assert -0.08 < check["peak_rel_error"] < -0.03  # still a little low: the numerical dissipation flattens it
    e = np.asarray(curve["energy"])
    assert np.all(np.diff(e[np.asarray(curve["t"]) >= 0.5]) < 0)
