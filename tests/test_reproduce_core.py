"""Verdict logic, convergence arithmetic, reports and the README table on synthetic numbers."""

from __future__ import annotations

import math

import pytest

from atom_sdk.errors import ArtifactError, ConfigError
from atom_sdk.reproduce import REPRODUCTIONS, Published, get_reproduction, load_report, readme_table, write_report
from atom_sdk.reproduce.convergence import fitted_order, grid_convergence_index, observed_order, richardson
from atom_sdk.reproduce.registry import comparison_row, verdict


def test_verdict_inside_range_is_reproduced():
    v = verdict(3.23, 3.22, 3.24)
    assert v["reproduced"] and v["status"] == "reproduced" and v["gap"] == 0.0


def test_verdict_outside_range_reports_the_gap():
    v = verdict(2.0, 7.0, 9.0, ci=(1.0, 3.0))
    assert not v["reproduced"] and v["status"] == "not reproduced"
    assert v["gap"] == pytest.approx(-5.0)
    assert v["gap_percent"] == pytest.approx(-62.5)  # 5 of the range centre 8
    assert v["ci_overlaps_range"] is False
    assert "5 below" in v["text"]
    above = verdict(3.40, 3.22, 3.24, ci=(3.2, 3.5))
    assert above["gap"] == pytest.approx(0.16) and above["ci_overlaps_range"] is True
    assert "above" in above["text"] and "CI still overlaps" in above["text"]


def test_verdict_without_a_value_is_not_reproduced():
    assert verdict(None, 0, 1)["reproduced"] is False
    assert verdict(float("nan"), 0, 1)["gap"] is None


def test_observed_order_and_richardson_on_a_known_second_order_sequence():
    exact, c = 3.23, 0.7
    h = [1 / 40, 1 / 20, 1 / 10]  # fine to coarse, r = 2
    f = [exact + c * x**2 for x in h]
    p = observed_order(f, h)
    assert p == pytest.approx(2.0, abs=1e-9)
    assert richardson(f[0], f[1], 2.0, p) == pytest.approx(exact, abs=1e-12)
    gci = grid_convergence_index(f[0], f[1], 2.0, p)
    assert gci == pytest.approx(1.25 * abs((f[1] - f[0]) / f[0]) / 3.0)


def test_observed_order_with_a_non_constant_ratio_and_a_non_monotone_sequence():
    h = [1 / 40, 1 / 30, 1 / 20]  # the D = 20, 30, 40 study
    f = [1.0 + 0.3 * x**2 for x in h]
    assert observed_order(f, h) == pytest.approx(2.0, abs=1e-8)
    assert observed_order([1.0, 1.1, 1.0], [1, 2, 4]) is None  # oscillatory: no order claimed
    assert fitted_order([0.1, 0.05, 0.025], [4e-2, 1e-2, 2.5e-3]) == pytest.approx(2.0)


def test_registry_declares_the_six_reproductions_with_citations():
    assert set(REPRODUCTIONS) == {"rabault2019", "schafer_turek_2d2", "taylor_green_decay", "oblique_shock",
                                  "brunton2016_wake", "taylor_green_3d"}
    r = get_reproduction("rabault2019")
    assert "J. Fluid Mech. 865" in r.citation and r.published[0].value == 8.0
    st = get_reproduction("schafer_turek_2d2").published
    assert [(p.low, p.high) for p in st] == [(3.22, 3.24), (0.99, 1.01), (0.295, 0.305)]
    with pytest.raises(ConfigError, match="atom reproduce list"):
        get_reproduction("nope")


def test_report_files_and_readme_table(tmp_path):
    repro = REPRODUCTIONS["schafer_turek_2d2"]
    rows = [comparison_row(repro.published[0], 3.23, (3.21, 3.25)),
            comparison_row(repro.published[2], 0.28, (0.27, 0.29))]
    body = {"rows": rows, "notes": ["synthetic"], "wall_seconds": 1.0,
            "tables": [{"title": "t", "columns": ["a"], "rows": [{"a": 1.5}]}]}
    rep = write_report(tmp_path, repro, body, seeds=[0], budget="quick", executor="serial")
    for name in ("report.json", "report.md", "comparison.png"):
        assert (tmp_path / name).stat().st_size > 0
    assert rep["overall"] == "partly reproduced (1/2)"
    assert load_report(tmp_path)["rows"][1]["verdict"]["gap"] == pytest.approx(-0.015)
    md = (tmp_path / "report.md").read_text()
    assert "3.23 [3.21, 3.25]" in md and "not reproduced" in md
    table = readme_table([tmp_path])
    lines = table.strip().splitlines()
    assert len(lines) == 4 and lines[2].count("|") == 7
    assert "| schafer_turek_2d2 | C_D,max | 3.23 [3.21, 3.25] | 3.23 (3.22–3.24) | reproduced |" in table
    assert "not reproduced (gap -0.015)" in table
    with pytest.raises(ArtifactError):
        readme_table([tmp_path / "missing"])


def test_comparison_row_keeps_the_published_numbers():
    pub = Published("x", 1.0, 0.9, 1.1, "%", "cite")
    row = comparison_row(pub, 1.2, (1.15, 1.25), n=3)
    assert row["paper_low"] == 0.9 and row["n"] == 3 and math.isclose(row["verdict"]["gap"], 0.1)
