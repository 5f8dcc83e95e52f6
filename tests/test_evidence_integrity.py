"""Scientific-integrity benchmark: values on a tiny subset (DHO), scoring, and the --check gate."""

import json

import numpy as np
import pytest

from atom_sdk.evidence.integrity import THRESHOLDS, aggregate, check, run_cell, score_coefficients
from atom_sdk.evidence.integrity_systems import DHO_C, DHO_K


@pytest.fixture(scope="module")
def dho_cells():
    return [run_cell("dho", 0.0, 0, 192), run_cell("dho", 0.03, 0, 192)]


def test_dho_recovered_exactly_at_zero_noise(dho_cells):
    ours = dho_cells[0]["ours"]
    assert ours["error"] is None
    assert ours["exact_support"] and ours["false_terms"] == 0 and ours["missed_terms"] == 0
    # x' = v, v' = -2 x - 0.3 v: noise-free recovery to better than 0.5 % on every coefficient
    assert ours["coef_rel_error_max"] < 5e-3, (DHO_K, DHO_C, ours["coef_rel_errors"])


def test_dho_low_noise_error_and_conformal_coverage(dho_cells):
    ours = dho_cells[1]["ours"]
    assert ours["exact_support"]
    assert ours["coef_rel_error_median"] < THRESHOLDS["median_coef_error_max_low_noise"]
    # split conformal at alpha = 0.1 on ~760 fresh test intervals (std ~1.5 points): 0.9 +- 4 points
    for cell in dho_cells:
        assert abs(cell["ours"]["coverage"] - 0.9) < 0.04
        assert cell["ours"]["n_calibration"] > 500


def test_pysindy_baseline_runs_on_same_data(dho_cells):
    ps_ = dho_cells[0]["pysindy"]
    assert ps_["error"] is None
    assert ps_["exact_support"]  # clean linear oscillator: STLSQ(0.1) also gets it
    assert ps_["coef_rel_error_max"] < 0.05


def test_score_coefficients_counts_false_and_missed_terms():
    names = ["1", "x", "v"]
    truth = np.array([[0.0, 0.0, 1.0], [0.0, -2.0, -0.5]])
    coef = np.array([[0.1, 0.0, 1.1], [0.0, -2.0, 0.0]])
    s = score_coefficients(coef, truth, names, ["x", "v"])
    assert not s["exact_support"]
    assert s["false_terms"] == 1 and s["false_term_names"] == ["dx: 1"]
    assert s["missed_terms"] == 1 and s["missed_term_names"] == ["dv: v"]
    assert s["coef_rel_errors"] == pytest.approx([0.1, 0.0, 1.0])
    assert s["coef_rel_error_median"] == pytest.approx(0.1) and s["coef_rel_error_max"] == 1.0


def test_check_passes_dho_and_fails_on_impossible_threshold(dho_cells):
    aggs = aggregate(dho_cells)
    assert {(a["system"], a["noise"]) for a in aggs} == {("dho", 0.0), ("dho", 0.03)}
    assert check(aggs) == []
    impossible = {"recovery_rate_min_low_noise": 1.01, "coverage_tolerance": -1.0}
    fails = check(aggs, impossible)
    named = {(f["system"], f["noise"], f["check"]) for f in fails}
    assert ("dho", 0.0, "recovery_rate") in named and ("dho", 0.03, "coverage") in named
    json.dumps(fails)  # JSON-safe


def test_cli_integrity_writes_report(tmp_path):
    from typer.testing import CliRunner

    from atom_sdk.cli.bench import app

    out = tmp_path / "integrity.json"
    res = CliRunner().invoke(app, ["integrity", "--systems", "dho", "--seeds", "1", "--noise-levels", "0.0", "0.03",
                                   "--samples", "128", "--check", "--output", str(out)])
    report = json.loads(out.read_text())
    assert report["thresholds"]["recovery_rate_min_low_noise"] == 0.95
    assert report["provenance"]["sdk_version"]
    assert [(c["system"], c["noise"], c["seed"]) for c in report["cells"]] == [("dho", 0.0, 1), ("dho", 0.03, 1)]
    assert res.exit_code == (0 if report["passed"] else 1)
    assert report["cells"][0]["ours"]["exact_support"]


def test_lorenz_noise_free_recovered_at_default_budget():
    cell = run_cell("lorenz", 0.0, 0, 192)
    assert cell["ours"]["exact_support"], cell["ours"]["false_term_names"] + cell["ours"]["missed_term_names"]
    assert cell["ours"]["coef_rel_error_max"] < 0.01  # sigma 10, rho 28, beta 8/3 to better than 1 %


@pytest.mark.slow
def test_lorenz_meets_thresholds_with_enough_data():
    """At 192 samples (1.9 time units) Lorenz at 3-6 % noise is not identifiable (see
    benchmarks/lorenz_identifiability.py); with 3072 samples the same profile meets the --check
    recovery thresholds and beats PySINDy on the same data."""
    for noise, need in ((0.03, THRESHOLDS["recovery_rate_min_low_noise"]),
                        (0.06, THRESHOLDS["recovery_rate_min_high_noise"])):
        cells = [run_cell("lorenz", noise, seed, 3072) for seed in range(5)]
        ours = np.mean([c["ours"]["exact_support"] for c in cells])
        theirs = np.mean([c["pysindy"]["exact_support"] for c in cells])
        assert ours >= need and ours > theirs, (noise, ours, theirs)
        assert np.median([c["ours"]["coef_rel_error_median"] for c in cells]) < 0.01


def test_cli_integrity_null_and_seed_stability_flags(tmp_path):
    from typer.testing import CliRunner

    from atom_sdk.cli.bench import app

    out, md = tmp_path / "integrity.json", tmp_path / "integrity.md"
    res = CliRunner().invoke(app, ["integrity", "--systems", "dho", "--seeds", "0", "--noise-levels", "0.0",
                                   "--samples", "96", "--null-trials", "2", "--stability-seeds", "2",
                                   "--markdown", str(md), "--output", str(out)])
    assert res.exit_code == 0, res.output
    report = json.loads(out.read_text())
    assert report["null_trial"]["n_trials"] == 4 and report["null_trial"]["passed"] is False  # 4 trials bound nothing
    assert report["seed_stability"]["rows"][0]["agreement"] == 1.0 and report["passed"] is False
    assert "null trial" in res.output and "Null trial" in md.read_text() and "Seed stability" in md.read_text()
