"""Null trial and seed-stability trial of the integrity benchmark (fast tier, small budgets)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import beta

from atom_sdk.evidence import null_trials as nt
from atom_sdk.evidence.integrity_systems import get_system


def test_clopper_pearson_bound_matches_scipy_and_59_trials_reach_five_percent():
    assert nt.false_discovery_bound(0, 59) == pytest.approx(0.04951, abs=1e-5)
    assert nt.false_discovery_bound(0, 59) == pytest.approx(1 - 0.05 ** (1 / 59), rel=1e-9)
    assert nt.false_discovery_bound(0, 58) > 0.05
    assert nt.trials_for_bound(0.05, 0.95) == 59
    for k, n in ((1, 12), (5, 120), (3, 60)):       # one-sided upper bound = Beta(k+1, n-k) quantile
        assert nt.false_discovery_bound(k, n) == pytest.approx(beta.ppf(0.95, k + 1, n - k), rel=1e-9)
    assert nt.false_discovery_bound(4, 4) == 1.0
    assert nt.DEFAULT_NULL_TRIALS >= nt.trials_for_bound()


def test_null_data_is_lawless_and_keeps_the_systems_scale():
    system = get_system("dho")
    x, u, dt = nt.null_data("shuffled", system, 192, 0.0, np.random.default_rng(0))
    assert x.shape == (192, 2) and u is None and dt == pytest.approx(0.05)
    steps = np.linalg.norm(np.diff(x, axis=0), axis=1)
    assert np.median(steps) > 0.3 * x.std()         # neighbours are unrelated (clean dho steps are ~0.05 std)
    xn, _, _ = nt.null_data("noise", system, 192, 0.0, np.random.default_rng(0))
    assert xn.std(axis=0) == pytest.approx(x.std(axis=0), rel=0.3)
    x, u, _ = nt.null_data("shuffled", get_system("diffusion"), 96, 0.03, np.random.default_rng(1))
    assert x.shape == (96, 1) and u.shape == (96, 2)   # one grid point, its derivative inputs shuffled with it
    with pytest.raises(ValueError, match="unknown null kind"):
        nt.null_data("sorted", system, 96, 0.0, np.random.default_rng(0))


def test_null_trial_small_budget_counts_acceptances_through_the_online_scientist():
    r = nt.run_null_trials(6, samples=192, systems=["dho", "van_der_pol", "hopf"], noise_levels=[0.0, 0.03])
    assert r["n_trials"] == 12 and r["per_kind"]["noise"]["n_trials"] == r["per_kind"]["shuffled"]["n_trials"] == 6
    assert all(t["n_fits"] > 0 for t in r["trials"])  # the governor reviewed candidates in every trial
    # measured: none of the twelve streams gets a law accepted (before the governor's bar included
    # the trivial predictors, the noise shaped like Van der Pol with seed 1 got one)
    assert r["n_accepted"] == 0 and r["accepted_trials"] == []
    assert r["upper_bound"] == pytest.approx(1 - 0.05 ** (1 / 12), rel=1e-9)
    assert r["passed"] is False                         # twelve trials cannot bound the rate by 5 %
    again = nt.run_null_trial("noise", "van_der_pol", 192, 1)
    assert r["trials"][1]["seed"] == 1 and r["trials"][1]["system"] == "van_der_pol"
    assert not again["accepted"] and again["n_fits"] == r["trials"][1]["n_fits"] and again["first_accepted"] is None


def test_null_trial_with_the_rational_backend_reviews_its_candidates_too(monkeypatch):
    """``backends`` reaches the online scientist: the implicit backend's candidates face the governor."""
    from atom_sdk.science import scientist as sci_mod

    seen: list[tuple[str, ...]] = []
    real = sci_mod.Scientist.__init__

    def spy(self, *args, **kwargs):
        seen.append(tuple(kwargs.get("backends", ("sparse",))))
        real(self, *args, **kwargs)

    monkeypatch.setattr(sci_mod.Scientist, "__init__", spy)
    r = nt.run_null_trials(1, samples=96, systems=["dho"], noise_levels=[0.0], kinds=("noise",),
                           backends=("sparse", "implicit"))
    assert seen == [("sparse", "implicit")] and r["settings"]["backends"] == ["sparse", "implicit"]
    assert r["n_trials"] == 1 and r["trials"][0]["n_fits"] > 0 and r["n_accepted"] == 0
    # 96 samples: fits at steps 31..95, training windows of 24-72 samples; every implicit fit
    # runs (the weak supports and, below 48 samples, the library degree shrink to the rows);
    # before the spectral/length rule 3 of these 5 were declined as "too few weak windows"
    fits = r["fits"]
    assert fits["sparse"] == {"attempted": 5, "run": 5, "declined": 0, "run_fraction": 1.0, "decline_reasons": []}
    assert fits["implicit"]["attempted"] == 5 and fits["implicit"]["run"] == 5 and fits["implicit"]["declined"] == 0
    assert r["trials"][0]["fits"]["implicit"]["run"] == 5 and r["min_fits_run"] == nt.MIN_FITS_RUN


def test_null_verdict_speaks_only_for_fits_that_ran():
    from atom_sdk.evidence.integrity import THRESHOLDS, markdown_tables

    fits = {"sparse": {"attempted": 660, "run": 660, "declined": 0, "run_fraction": 1.0, "decline_reasons": []},
            "implicit": {"attempted": 660, "run": 360, "declined": 300, "run_fraction": 360 / 660,
                         "decline_reasons": ["too few weak windows"]}}
    null = {"n_trials": 120, "n_accepted": 0, "fits": fits}
    (name, ok, detail, measures), = nt.trial_verdicts({"null_trial": null}, THRESHOLDS, required=False)
    assert name == "null trial" and not ok                     # the bound alone (0/120: 2.5 %) would pass
    assert "implicit 360/660" in detail and "the bound speaks only for fits that ran" in detail
    assert "too few weak windows" in detail and measures["null_fits_run_fraction_min"] == pytest.approx(360 / 660)
    fits["implicit"].update(run=650, declined=10, run_fraction=650 / 660)
    (_, ok, detail, _), = nt.trial_verdicts({"null_trial": null}, THRESHOLDS, required=False)
    assert ok and "fits that ran (of those due): sparse 660/660, implicit 650/660" in detail
    (_, ok, detail, measures), = nt.trial_verdicts({"null_trial": {"n_trials": 120, "n_accepted": 0}}, THRESHOLDS,
                                                   required=False)
    assert ok and "not recorded" in detail and "null_fits_run_fraction_min" not in measures
    report = {"comparison": [], "null_trial": {**null, "confidence": 0.95, "limit": 0.05, "rate": 0.0,
                                               "upper_bound": nt.false_discovery_bound(0, 120), "passed": False,
                                               "min_fits_run": 0.9, "per_kind": {}}}
    fits["implicit"].update(run=360, declined=300, run_fraction=360 / 660)
    md = markdown_tables(report)
    assert "| implicit | 660 | 360 | 300 | 0.55 | too few weak windows |" in md
    assert "FAIL: upper bound 0.0247 <= 0.05, but a backend ran under 90% of its fits" in md


def test_seed_stability_small_budget():
    r = nt.run_seed_stability(4, samples=192, systems=["dho", "hopf"], noise_levels=[0.0, 0.06])
    rows = {(x["system"], x["noise"]): x for x in r["rows"]}
    assert rows[("dho", 0.0)]["agreement"] == 1.0 and rows[("dho", 0.0)]["n_distinct_supports"] == 1
    assert rows[("dho", 0.0)]["modal_support"] == ["dv: v", "dv: x", "dx: v"]
    assert rows[("hopf", 0.06)]["agreement"] == 0.75 and rows[("hopf", 0.06)]["min_agreement"] == 0.8
    assert r["failing"] == [{"system": "hopf", "noise": 0.06, "agreement": 0.75, "limit": 0.8}]
    assert r["passed"] is False and r["agreement_min"] == 0.75


def test_report_carries_both_trials_and_keeps_the_cells(monkeypatch):
    from atom_sdk.evidence import integrity

    kw = dict(seeds=[0], noise_levels=[0.0], samples=96, systems=["dho"])
    plain = integrity.run_integrity_benchmark(null_trials=0, stability_seeds=0, **kw)
    assert "null_trial" not in plain and "seed_stability" not in plain
    full = integrity.run_integrity_benchmark(null_trials=3, stability_seeds=3, **kw)
    assert full["aggregates"] == plain["aggregates"] and full["failing_cells"] == plain["failing_cells"]
    assert full["null_trial"]["n_trials"] == 6 and full["seed_stability"]["rows"][0]["agreement"] == 1.0
    assert full["passed"] is False                      # six null trials cannot reach a 5 % bound
    assert full["settings"]["null_trials"] == 3 and full["settings"]["stability_seeds"] == 3
    md = integrity.markdown_tables(full)
    assert "| dho | 0 | 1.00 |" in md and "Null trial" in md and "| all | 6 |" in md and "Seed stability" in md
