"""Small-sample statistics for seed-paired ablation evidence.

Why these choices: sweeps have few seeds (3-20), so the estimators must be honest at small
n. Means get BCa bootstrap intervals (``scipy.stats.bootstrap``), paired differences an
exact sign-flip permutation test (all ``2**n`` flips up to ``n = 16``), effect sizes are
reported both parametric (paired Cohen's ``d_z``) and ordinal (Cliff's delta), and the
whole family of comparisons is corrected with Holm-Bonferroni (``scipy.stats`` only offers
BH/BY in ``false_discovery_control``, which control FDR, not the family-wise error rate).

All randomness comes from an explicit integer seed mixed with a stable key (CRC32), so the
same inputs give bit-identical outputs in any process.
"""

from __future__ import annotations

import math
import warnings
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Literal

import numpy as np
from scipy import stats

Direction = Literal["higher", "lower"]

# Declared direction of "better" per metric. Metrics not listed are summarised but never
# compared, because a comparison without a declared direction cannot be a claim.
METRIC_DIRECTIONS: dict[str, Direction] = {
    "mean_return": "higher",
    "final_return": "higher",
    "mean_reward": "higher",
    "final_trust": "higher",
    "mean_trust": "higher",
    "mean_drag": "lower",
    "energy_error": "lower",
    "mean_energy_error": "lower",
    "safety_interventions": "lower",
    "diverged_episodes": "lower",
}

EXACT_MAX_N = 16  # 2**16 = 65,536 sign flips: exact enumeration is still milliseconds.


@dataclass(frozen=True)
class MeanCI:
    """A mean with its confidence interval and how the interval was obtained."""

    n: int
    mean: float | None
    std: float | None
    ci_low: float | None
    ci_high: float | None
    ci_method: str  # "BCa", "percentile" or "none"
    ci_note: str | None

    def to_dict(self) -> dict:
        return asdict(self)


def stable_rng(seed: int, *key: str) -> np.random.Generator:
    """A generator derived from ``seed`` and a string key, identical across processes."""
    words = [int(seed) & 0xFFFFFFFF] + [zlib.crc32(k.encode("utf-8")) for k in key]
    return np.random.default_rng(np.random.SeedSequence(words))


def finite_values(values: Sequence[float | None]) -> np.ndarray:
    """The finite numbers of ``values`` as float64 (None, NaN and inf dropped)."""
    arr = np.array([np.nan if v is None else float(v) for v in values], dtype=np.float64)
    return arr[np.isfinite(arr)]


def bootstrap_mean_ci(
    values: Sequence[float | None],
    *,
    confidence: float = 0.95,
    n_resamples: int = 4000,
    seed: int = 0,
    key: str = "",
) -> MeanCI:
    """Mean with a BCa bootstrap CI; percentile fallback when BCa is undefined.

    BCa needs a jackknife acceleration and a non-degenerate bootstrap distribution, so it
    is undefined for n < 3 or when all values are equal; the record then says
    ``ci_method="percentile"`` and why in ``ci_note``. Non-finite/None values are dropped.
    """
    x = finite_values(values)
    n = int(x.size)
    if n == 0:
        return MeanCI(0, None, None, None, None, "none", "no finite values")
    mean = float(np.mean(x))
    std = float(np.std(x, ddof=1)) if n > 1 else None
    if n == 1:
        return MeanCI(1, mean, std, None, None, "none", "n=1: no interval")
    note = None
    if n < 3:
        note = "n<3: BCa undefined, percentile bootstrap used"
    elif np.all(x == x[0]):
        note = "all values equal: BCa undefined, percentile bootstrap used"
    if note is None:
        lo, hi = _bootstrap_mean_bounds(x, "BCa", stable_rng(seed, key, "bca"), n_resamples, confidence)
        if math.isfinite(lo) and math.isfinite(hi):
            return MeanCI(n, mean, std, lo, hi, "BCa", None)
        note = "BCa degenerate (non-finite bounds): percentile bootstrap used"
    lo, hi = _bootstrap_mean_bounds(x, "percentile", stable_rng(seed, key, "pct"), n_resamples, confidence)
    return MeanCI(n, mean, std, lo, hi, "percentile", note)


def _bootstrap_mean_bounds(x: np.ndarray, method: str, rng: np.random.Generator, n_resamples: int,
                           confidence: float) -> tuple[float, float]:
    """SciPy's bootstrap confidence interval of the mean (its warnings silenced: callers judge the bounds)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = stats.bootstrap(
            (x,), np.mean, n_resamples=n_resamples, confidence_level=confidence,
            method=method, rng=rng, vectorized=True,
        )
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


def sign_flip_pvalue(
    diffs: Sequence[float], *, n_resamples: int = 20000, seed: int = 0, key: str = ""
) -> tuple[float, str]:
    """Two-sided paired permutation p-value for ``mean(diffs) == 0``.

    Under H0 each paired difference is symmetric about zero, so its sign is exchangeable.
    For ``n <= 16`` all ``2**n`` sign patterns are enumerated (exact p = share of patterns
    with ``|mean| >= |observed mean|``); above that ``scipy.stats.permutation_test``
    draws ``n_resamples`` random flips. Returns ``(p, "exact" | "monte_carlo")``.
    """
    d = finite_values(diffs)
    n = d.size
    if n == 0:
        return 1.0, "exact"
    if n <= EXACT_MAX_N:
        codes = np.arange(2**n, dtype=np.uint32)[:, None]
        bits = (codes >> np.arange(n, dtype=np.uint32)) & 1
        signs = 1.0 - 2.0 * bits
        null = np.abs(signs @ d) / n
        obs = abs(float(np.mean(d)))
        tol = 1e-12 * max(1.0, obs)  # same-value patterns must count as ties
        return float(np.mean(null >= obs - tol)), "exact"
    res = stats.permutation_test(
        (d,), lambda x, axis: np.mean(x, axis=axis), permutation_type="samples",
        n_resamples=n_resamples, vectorized=True, rng=stable_rng(seed, key, "perm"),
    )
    return float(res.pvalue), "monte_carlo"


def cohens_dz(diffs: Sequence[float]) -> float | None:
    """Paired Cohen's d_z = mean(d) / sd(d) (ddof=1); None when undefined (n<2 or sd=0)."""
    d = finite_values(diffs)
    if d.size < 2:
        return None
    sd = float(np.std(d, ddof=1))
    if sd == 0.0:
        return None if float(np.mean(d)) != 0.0 else 0.0
    return float(np.mean(d)) / sd


def cliffs_delta(x: Sequence[float], y: Sequence[float]) -> float | None:
    """Cliff's delta = P(X > Y) - P(X < Y) over all cross pairs, in [-1, 1]."""
    a, b = finite_values(x), finite_values(y)
    if a.size == 0 or b.size == 0:
        return None
    cmp = np.sign(a[:, None] - b[None, :])
    return float(np.mean(cmp))


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values (step-down, monotone, capped at 1).

    Sorted ascending, ``adj_(i) = max_{j<=i} min(1, (m - j) * p_(j))`` (0-based ``j``);
    rejecting ``adj < alpha`` controls the family-wise error rate at ``alpha``.
    """
    p = np.asarray(pvalues, dtype=np.float64)
    m = p.size
    if m == 0:
        return []
    order = np.argsort(p, kind="stable")
    scaled = np.minimum(1.0, (m - np.arange(m)) * p[order])
    adj_sorted = np.maximum.accumulate(scaled)
    out = np.empty(m)
    out[order] = adj_sorted
    return [float(v) for v in out]


def paired_values(
    variant: Mapping[int, float | None], baseline: Mapping[int, float | None]
) -> tuple[list[int], np.ndarray, np.ndarray]:
    """Seeds present (and finite) in both maps, with the aligned values."""
    seeds = []
    for s in sorted(set(variant) & set(baseline)):
        a, b = variant[s], baseline[s]
        if a is None or b is None or not (math.isfinite(a) and math.isfinite(b)):
            continue
        seeds.append(int(s))
    xa = np.array([float(variant[s]) for s in seeds], dtype=np.float64)
    xb = np.array([float(baseline[s]) for s in seeds], dtype=np.float64)
    return seeds, xa, xb


def paired_comparison(
    variant: Mapping[int, float | None],
    baseline: Mapping[int, float | None],
    *,
    n_resamples: int = 4000,
    seed: int = 0,
    key: str = "",
    confidence: float = 0.95,
    n_permutations: int = 20000,
) -> dict:
    """Seed-paired statistics of ``variant - baseline`` (raw sign, direction-agnostic)."""
    seeds, xa, xb = paired_values(variant, baseline)
    d = xa - xb
    ci = bootstrap_mean_ci(d, confidence=confidence, n_resamples=n_resamples, seed=seed, key=key)
    p, how = sign_flip_pvalue(d, n_resamples=n_permutations, seed=seed, key=key)
    return {
        "n": len(seeds),
        "seeds": seeds,
        "variant_mean": float(np.mean(xa)) if xa.size else None,
        "baseline_mean": float(np.mean(xb)) if xb.size else None,
        "mean_diff": ci.mean,
        "ci_low": ci.ci_low,
        "ci_high": ci.ci_high,
        "ci_method": ci.ci_method,
        "ci_note": ci.ci_note,
        "p_raw": p if len(seeds) else None,
        "permutation": how,
        "d_z": cohens_dz(d),
        "cliffs_delta": cliffs_delta(xa, xb),
    }


def min_attainable_p(n: int) -> float:
    """Smallest two-sided exact sign-flip p with n pairs (2 / 2**n): a hard floor."""
    return 1.0 if n <= 0 else min(1.0, 2.0 / 2.0**n)
