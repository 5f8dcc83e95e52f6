"""Claim wording rules and A/A calibration of the whole decision pipeline."""

from __future__ import annotations

import numpy as np

from atom_sdk.evidence.claims import aa_calibration, claims_markdown, evaluate


def _values(effect: float, n: int, *, noise: float = 0.1, metric: str = "mean_return", seed=0):
    rng = np.random.default_rng(seed)
    shared = rng.normal(size=n)
    base = {s: float(shared[s] + noise * rng.normal()) for s in range(n)}
    var = {s: float(shared[s] + effect + noise * rng.normal()) for s in range(n)}
    return {"ppo_baseline": {metric: base}, "v2_hybrid": {metric: var}}


def _only(sig):
    assert len(sig["records"]) == 1
    return sig["records"][0]


def test_significant_improvement_gives_claim_with_ci_above_zero():
    sig = evaluate(_values(1.0, 8), variants=["v2_hybrid", "ppo_baseline"], n_resamples=2000)
    r = _only(sig)
    assert r["decision"] == "better" and r["claim_id"] == "claim-001"
    assert r["p_raw"] == 2 / 256 and r["p_holm"] < 0.05 and r["ci_low"] > 0
    md = claims_markdown(sig)
    assert "**claim-001**: `v2_hybrid` beats `ppo_baseline` on `mean_return`" in md
    assert "Evidence: `sig:v2_hybrid:mean_return`" in md


def test_lower_is_better_metric_and_worse_direction():
    sig = evaluate(_values(-1.0, 8, metric="mean_drag"), variants=["v2_hybrid", "ppo_baseline"])
    assert _only(sig)["decision"] == "better" and _only(sig)["ci_high"] < 0
    sig = evaluate(_values(-1.0, 8), variants=["v2_hybrid", "ppo_baseline"])
    r = _only(sig)
    assert r["decision"] == "worse" and r["claim_id"] is None
    assert "is worse than `ppo_baseline`" in claims_markdown(sig)
    assert "No claims" in claims_markdown(sig)


def test_fewer_than_three_seeds_makes_no_claim():
    sig = evaluate(_values(5.0, 2), variants=["v2_hybrid", "ppo_baseline"])
    r = _only(sig)
    assert r["decision"] == "insufficient_seeds" and r["claim_id"] is None
    assert r["p_holm"] is None and sig["family_size"] == 0
    md = claims_markdown(sig)
    assert "2 paired seed(s) < 3: no claim is made" in md
    assert "## Claims\n\nNo claims: no comparison met both criteria." in md


def test_pure_noise_gives_no_claim_and_small_n_cannot_reach_significance():
    sig = evaluate(_values(0.0, 8, noise=1.0, seed=4), variants=["v2_hybrid", "ppo_baseline"])
    assert _only(sig)["decision"] == "no_evidence"
    # n=4: smallest exact two-sided p is 1/8, so even a huge effect is not a claim
    sig = evaluate(_values(10.0, 4), variants=["v2_hybrid", "ppo_baseline"])
    assert _only(sig)["decision"] == "no_evidence" and _only(sig)["p_raw"] == 0.125


def test_holm_family_spans_variants_and_metrics():
    vals = _values(1.0, 8)
    vals["v2_raw"] = {"mean_return": dict(vals["ppo_baseline"]["mean_return"])}
    vals["v2_raw"]["mean_drag"] = {s: 1.0 for s in range(8)}
    vals["ppo_baseline"]["mean_drag"] = {s: 1.0 for s in range(8)}
    sig = evaluate(vals, variants=["v2_hybrid", "v2_raw", "ppo_baseline"], n_resamples=1000)
    assert sig["family_size"] == 3  # v2_hybrid has no mean_drag values -> n=0, excluded
    by_id = {r["id"]: r for r in sig["records"]}
    assert by_id["sig:v2_hybrid:mean_return"]["p_holm"] == 3 * 2 / 256
    assert by_id["sig:v2_raw:mean_drag"]["decision"] == "no_evidence"  # identical -> p = 1


def test_aa_calibration_false_claim_rate_below_five_percent():
    res = aa_calibration(600, 8, metrics=("mean_return", "mean_drag"), n_bootstrap=199, seed=7)
    # one-sided 95% Clopper-Pearson upper bound on the family-wise false-claim rate
    assert res["familywise_false_claim_rate"] <= 0.05
    assert res["familywise_false_claim_upper95"] <= 0.05
    assert res["per_comparison_false_significant_rate"] <= 0.05
