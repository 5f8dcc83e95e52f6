"""Statistics of the evidence harness against hand-computed and simulated references."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from atom_sdk.evidence.stats import (
    bootstrap_mean_ci,
    cliffs_delta,
    cohens_dz,
    holm,
    min_attainable_p,
    paired_comparison,
    sign_flip_pvalue,
)


def test_holm_hand_example():
    # sorted: .005*4=.02, .01*3=.03, .03*2=.06, max(.04*1, .06)=.06
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02], abs=1e-15)
    assert holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])  # capped at 1
    assert holm([]) == []


def test_sign_flip_exact_hand_values():
    # [1,2,3]: sums of +-1+-2+-3 are +-6,+-4,+-2,0,0 -> |sum| >= 6 in 2 of 8 patterns.
    assert sign_flip_pvalue([1.0, 2.0, 3.0]) == (0.25, "exact")
    # [1,-2,3,4]: sum = 10 - 2x over subset sums x of {1..4}; |.| >= 6 for x in {0,1,2,8,9,10}.
    p, how = sign_flip_pvalue([1.0, -2.0, 3.0, 4.0])
    assert how == "exact" and p == pytest.approx(6 / 16, abs=1e-15)
    assert sign_flip_pvalue([0.5] * 8)[0] == pytest.approx(2 / 256, abs=1e-15)
    assert min_attainable_p(8) == pytest.approx(2 / 256)


def test_sign_flip_matches_scipy_exact_and_monte_carlo():
    rng = np.random.default_rng(3)
    d = rng.normal(0.4, 1.0, size=10)
    ref = stats.permutation_test((d,), lambda x, axis: np.mean(x, axis=axis),
                                 permutation_type="samples", n_resamples=np.inf, vectorized=True)
    assert sign_flip_pvalue(d)[0] == pytest.approx(ref.pvalue, abs=1e-12)
    # n=20 > 16: Monte Carlo. Exact reference for integer diffs by dynamic programming over
    # the sign-flip distribution of the sum (independent of the enumeration code).
    d20 = rng.integers(-3, 6, size=20).astype(float)
    counts = {0: 1}
    for a in np.abs(d20).astype(int):
        nxt: dict[int, int] = {}
        for s, c in counts.items():
            nxt[s + a] = nxt.get(s + a, 0) + c
            nxt[s - a] = nxt.get(s - a, 0) + c
        counts = nxt
    obs = abs(int(d20.sum()))
    exact = sum(c for s, c in counts.items() if abs(s) >= obs) / 2**20
    p, how = sign_flip_pvalue(d20, n_resamples=20000, seed=1)
    assert how == "monte_carlo" and abs(p - exact) < 0.01


def test_effect_sizes_hand_examples():
    assert cohens_dz([1.0, 2.0, 3.0]) == pytest.approx(2.0)
    assert cohens_dz([2.0, 4.0, 4.0, 6.0]) == pytest.approx(4.0 / np.sqrt(8.0 / 3.0))
    assert cohens_dz([1.0, 1.0]) is None and cohens_dz([0.0, 0.0]) == 0.0
    # x=[3,4,5] vs y=[1,2,4]: 7 pairs greater, 1 smaller, 1 tie -> (7-1)/9
    assert cliffs_delta([3, 4, 5], [1, 2, 4]) == pytest.approx(2 / 3)
    assert cliffs_delta([1, 2, 3], [2, 2, 2]) == 0.0
    assert cliffs_delta([10, 11], [1, 2, 3]) == 1.0


def test_bootstrap_fallbacks_are_declared():
    eq = bootstrap_mean_ci([2.0, 2.0, 2.0, 2.0])
    assert eq.ci_method == "percentile" and "all values equal" in eq.ci_note
    assert (eq.ci_low, eq.ci_high) == (2.0, 2.0)
    two = bootstrap_mean_ci([1.0, 3.0])
    assert two.ci_method == "percentile" and "n<3" in two.ci_note
    assert 1.0 <= two.ci_low <= two.ci_high <= 3.0
    assert bootstrap_mean_ci([None, float("nan")]).n == 0
    ok = bootstrap_mean_ci([1.0, 2.0, 4.0, 8.0], seed=5)
    assert ok.ci_method == "BCa" and ok.ci_note is None and ok.ci_low < ok.mean < ok.ci_high
    # deterministic for a seed and key
    assert bootstrap_mean_ci([1.0, 2.0, 4.0, 8.0], seed=5) == ok


def test_bca_coverage_near_nominal():
    rng = np.random.default_rng(2024)
    reps, hits = 500, 0
    for k in range(reps):
        x = rng.normal(1.5, 2.0, size=20)
        ci = bootstrap_mean_ci(x, n_resamples=999, seed=k)
        hits += ci.ci_low <= 1.5 <= ci.ci_high
    # nominal 0.95; BCa at n=20 slightly undercovers; MC standard error ~0.01
    assert 0.91 <= hits / reps <= 0.98


def test_paired_comparison_aligns_by_seed_and_drops_missing():
    variant = {0: 2.0, 1: 3.0, 2: 5.0, 3: None, 7: 1.0}
    base = {0: 1.0, 1: 1.0, 2: 2.0, 3: 0.0}
    r = paired_comparison(variant, base, n_resamples=999)
    assert r["n"] == 3 and r["seeds"] == [0, 1, 2]
    assert r["mean_diff"] == pytest.approx(2.0)  # diffs 1, 2, 3
    assert r["p_raw"] == 0.25 and r["d_z"] == pytest.approx(2.0)
