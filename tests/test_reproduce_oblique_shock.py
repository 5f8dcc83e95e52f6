"""The oblique-shock reproduction against theta-beta-Mach and Rankine–Hugoniot (fast: 3 cases)."""

from __future__ import annotations

import pytest

from atom_sdk.reproduce.oblique_shock import BETA_TOL_DEG, PRESSURE_TOL, shock_table, summarize
from atom_sdk.worlds.gasdynamics import detachment_angle


def test_shock_table_errors_within_tolerance_and_detachment_refused():
    rows = shock_table(machs=(2.0,), thetas=(10.0, 20.0, 25.0), grids=((64, 48, 1),))
    by_theta = {r["theta"]: r for r in rows}
    assert detachment_angle(2.0) == pytest.approx(22.97, abs=0.01)
    for theta, beta in ((10.0, 39.31), (20.0, 53.42)):  # NACA 1135 chart values, weak branch
        r = by_theta[theta]
        assert r["status"] == "attached"
        assert r["beta_theory"] == pytest.approx(beta, abs=0.01)
        assert abs(r["beta_error"]) <= BETA_TOL_DEG
        assert abs(r["p_ratio_rel_error"]) <= PRESSURE_TOL
    assert by_theta[25.0]["status"] == "detached (refused)" and by_theta[25.0]["refusal_ok"]
    summary = summarize(rows)
    assert [s["verdict"]["reproduced"] for s in summary] == [True, True, True]
    assert summary[2]["ours"] == 100.0
