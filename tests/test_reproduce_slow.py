"""Slow tier: the quick budgets end to end (minutes on 2 cores)."""

from __future__ import annotations

import pytest

from atom_sdk.reproduce import run_reproduction

pytestmark = pytest.mark.slow


def test_taylor_green_quick_budget_reproduces_rate_and_second_order(tmp_path):
    rep = run_reproduction("taylor_green_decay", str(tmp_path), budget="quick")
    rows = {r["quantity"]: r for r in rep["rows"]}
    assert rows["analytical-world decay-rate abs. relative error"]["ours"] < 1e-4
    order = next(r for q, r in rows.items() if q.startswith("LBM observed order"))
    assert 1.8 <= order["ours"] <= 2.2
    assert rep["overall"] == "reproduced"
    assert (tmp_path / "lbm_convergence.png").is_file()


def test_oblique_shock_quick_budget_table(tmp_path):
    rep = run_reproduction("oblique_shock", str(tmp_path), budget="quick")
    table = rep["tables"][0]["rows"]
    attached = [r for r in table if r["status"] == "attached"]
    assert len(attached) >= 10
    assert max(abs(r["beta_error"]) for r in attached) <= 1.0
    assert max(abs(r["p_ratio_rel_error"]) for r in attached) <= 0.03
    detached = [r for r in table if r["theta"] > r["theta_detach"]]
    assert detached and all(r["status"] == "detached (refused)" for r in detached)


def test_schafer_turek_quick_budget_reports_honestly(tmp_path):
    rep = run_reproduction("schafer_turek_2d2", str(tmp_path), budget="quick")
    levels = rep["tables"][0]["rows"]
    assert [round(lv["diameter"]) for lv in levels] == [8, 12, 18]
    st = next(r for r in rep["rows"] if r["quantity"].startswith("St"))
    assert 0.25 < st["ours"] < 0.35  # shedding at the right frequency even on coarse grids
    for row in rep["rows"]:
        assert row["verdict"]["reproduced"] == (row["paper_low"] <= row["ours"] <= row["paper_high"])


def test_rabault_quick_budget_runs_and_says_why_it_falls_short(tmp_path):
    rep = run_reproduction("rabault2019", str(tmp_path), seeds=[0], budget="quick", executor="serial")
    unc = rep["rows"][0]
    assert 2.5 < unc["ours"] < 3.6  # coarse-lattice uncontrolled mean drag
    reductions = [r for r in rep["rows"] if r["quantity"].startswith("drag reduction")]
    assert len(reductions) == 2 and all(r["ours"] is not None for r in reductions)
    assert all(abs(r["ours"]) < 20 for r in reductions)
    if not any(r["verdict"]["reproduced"] for r in reductions):
        assert any("Not reproduced" in n and "percentage points short" in n for n in rep["notes"])
    for name in ("report.json", "report.md", "drag_history.png", "vorticity.png", "comparison.png"):
        assert (tmp_path / name).is_file()
