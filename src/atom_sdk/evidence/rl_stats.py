"""RL-grade aggregate statistics for ablation sweeps (Agarwal et al., 2021).

Reference: R. Agarwal, M. Schwarzer, P. S. Castro, A. Courville, M. G. Bellemare, "Deep
Reinforcement Learning at the Edge of the Statistical Precipice", NeurIPS 2021. Written from
the paper's definitions:

* **IQM** (interquartile mean): the mean of the middle 50 % of the pooled per-run scores. This
  is ``scipy.stats.trim_mean(scores.ravel(), proportiontocut=0.25)``, the definition the
  paper's reference library uses on the flattened run x task score matrix: ``floor(n / 4)``
  scores are cut from each end, so for n < 4 nothing is cut and the IQM is the mean.
* **Probability of improvement** ``P(X > Y)``: per task (stratum), the Mann-Whitney U statistic
  of the variant's runs against the baseline's, divided by ``n_x * n_y`` (ties count one half),
  then averaged over tasks.
* **Performance profile**: for each threshold tau, the fraction of runs whose score is better
  than tau (``> tau`` for higher-is-better), averaged over tasks.

Intervals come from a **stratified bootstrap**: every resample draws, within each stratum
(task) separately, as many runs as the stratum has, with replacement, and the percentile
interval of the statistic over resamples is reported. ``scipy.stats.bootstrap`` resamples
whole samples and cannot stratify, so the resampling is written here with numpy. In an ATOM
sweep a stratum is the world a sweep runs; a sweep runs one world, so its summary has one
stratum and the stratified bootstrap is the ordinary run bootstrap. Pooling several strata in
one IQM only makes sense for scores on a common (normalised) scale; that is the caller's job.

Everything random comes from an explicit seed (:func:`atom_sdk.evidence.stats.stable_rng`),
so the same inputs give bit-identical outputs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np
from scipy import stats as sps

from atom_sdk.evidence.stats import Direction, finite_values, stable_rng

REFERENCE = ("Agarwal et al. (2021), Deep Reinforcement Learning at the Edge of the "
             "Statistical Precipice, NeurIPS")
Strata = Mapping[str, Sequence[float | None]]  # stratum (task/world) -> per-run scores
ScoresLike = Strata | Sequence[float | None]


def as_strata(scores: ScoresLike) -> dict[str, np.ndarray]:
    """Scores as ``{stratum: finite 1-D array}``; a plain sequence is one stratum, empty strata dropped."""
    raw = scores if isinstance(scores, Mapping) else {"all": scores}
    out = {str(k): finite_values(v) for k, v in raw.items()}
    return {k: v for k, v in out.items() if v.size}


def iqm(scores: np.ndarray | Sequence[float], axis: int = -1) -> np.ndarray | float:
    """Interquartile mean along ``axis``: sort, cut ``floor(n/4)`` from each end, average the rest.

    Equal to ``scipy.stats.trim_mean(x, 0.25, axis)``; written out so it vectorises over
    bootstrap resamples the same way.
    """
    x = np.sort(np.asarray(scores, dtype=np.float64), axis=axis)
    n = x.shape[axis]
    if n == 0:
        raise ValueError("IQM of an empty sample")
    cut = n // 4
    kept = np.take(x, np.arange(cut, n - cut), axis=axis)
    out = kept.mean(axis=axis)
    return float(out) if np.ndim(out) == 0 else out


def probability_of_improvement(x: ScoresLike, y: ScoresLike) -> float:
    """``P(X > Y)``: per stratum ``U / (n_x n_y)`` (``scipy.stats.mannwhitneyu``'s U of x, ties
    count one half), averaged over the strata both samples have."""
    sx, sy = as_strata(x), as_strata(y)
    common = [k for k in sx if k in sy]
    if not common:
        raise ValueError("no stratum has scores for both samples")
    per = [sps.mannwhitneyu(sx[k], sy[k], alternative="two-sided").statistic / (sx[k].size * sy[k].size)
           for k in common]
    return float(np.mean(per))


def performance_profile(scores: ScoresLike, taus: Sequence[float]) -> np.ndarray:
    """Fraction of runs with score ``> tau`` for each tau, averaged over strata."""
    st = as_strata(scores)
    t = np.asarray(taus, dtype=np.float64)
    return np.mean([np.mean(v[:, None] > t[None, :], axis=0) for v in st.values()], axis=0)


def stratified_resamples(strata: Mapping[str, np.ndarray], n_resamples: int,
                         rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Per stratum an ``(n_resamples, n_k)`` array of runs drawn with replacement within it."""
    return {k: v[rng.integers(0, v.size, size=(n_resamples, v.size))] for k, v in strata.items()}


def percentile_ci(dist: np.ndarray, confidence: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Percentile interval over the leading (resample) axis."""
    a = (1.0 - confidence) / 2.0
    lo, hi = np.quantile(dist, [a, 1.0 - a], axis=0)
    return lo, hi


def _pairwise_p(xb: np.ndarray, yb: np.ndarray) -> np.ndarray:
    """``P(X > Y)`` (ties half) for each resample row: ``(B, n_x)`` x ``(B, n_y)`` -> ``(B,)``."""
    d = xb[:, :, None] - yb[:, None, :]
    return np.mean((d > 0) + 0.5 * (d == 0), axis=(1, 2))


def _ci_or_none(n: int, dist_fn: Callable[[], np.ndarray], confidence: float) -> list | None:
    if n < 2:  # one run: every resample is that run, an interval would claim certainty
        return None
    lo, hi = percentile_ci(dist_fn(), confidence)
    return [float(lo), float(hi)]


def iqm_with_ci(scores: ScoresLike, *, n_resamples: int = 4000, seed: int = 0, key: str = "",
                confidence: float = 0.95) -> dict:
    """IQM of the pooled runs with a stratified-bootstrap percentile interval; ``n`` is the run count."""
    st = as_strata(scores)
    n = sum(v.size for v in st.values())
    if n == 0:
        return {"n": 0, "iqm": None, "iqm_ci": None}

    def dist() -> np.ndarray:
        res = stratified_resamples(st, n_resamples, stable_rng(seed, key, "iqm"))
        return iqm(np.concatenate(list(res.values()), axis=1), axis=1)

    point = iqm(np.concatenate(list(st.values())))
    return {"n": n, "iqm": point, "iqm_ci": _ci_or_none(n, dist, confidence)}


def p_improvement_with_ci(x: ScoresLike, y: ScoresLike, *, n_resamples: int = 4000, seed: int = 0,
                          key: str = "", confidence: float = 0.95) -> dict:
    """``P(X > Y)`` with a stratified-bootstrap interval (x and y resampled independently per stratum)."""
    sx, sy = as_strata(x), as_strata(y)
    common = [k for k in sx if k in sy]
    n_x, n_y = sum(sx[k].size for k in common), sum(sy[k].size for k in common)
    if not common:
        return {"n": n_x, "n_baseline": n_y, "p_improvement": None, "p_improvement_ci": None}
    sx, sy = {k: sx[k] for k in common}, {k: sy[k] for k in common}

    def dist() -> np.ndarray:
        rng = stable_rng(seed, key, "p_improvement")
        rx, ry = stratified_resamples(sx, n_resamples, rng), stratified_resamples(sy, n_resamples, rng)
        return np.mean([_pairwise_p(rx[k], ry[k]) for k in common], axis=0)

    return {"n": n_x, "n_baseline": n_y, "p_improvement": probability_of_improvement(sx, sy),
            "p_improvement_ci": _ci_or_none(min(n_x, n_y), dist, confidence)}


def profile_with_ci(scores: ScoresLike, taus: Sequence[float], *, n_resamples: int = 4000, seed: int = 0,
                    key: str = "", confidence: float = 0.95) -> dict:
    """Performance profile over ``taus`` with pointwise stratified-bootstrap bands."""
    st = as_strata(scores)
    n = sum(v.size for v in st.values())
    t = np.asarray(taus, dtype=np.float64)
    if n == 0:
        return {"n": 0, "fraction": None, "ci_low": None, "ci_high": None}
    frac = performance_profile(st, t)
    if n < 2:
        lo = hi = frac
    else:
        res = stratified_resamples(st, n_resamples, stable_rng(seed, key, "profile"))
        dist = np.mean([np.mean(r[:, :, None] > t[None, None, :], axis=1) for r in res.values()], axis=0)
        lo, hi = percentile_ci(dist, confidence)
    return {"n": n, "fraction": frac.tolist(), "ci_low": np.asarray(lo).tolist(),
            "ci_high": np.asarray(hi).tolist()}


def tau_grid(scores: Sequence[np.ndarray], n_taus: int = 21) -> list[float]:
    """``n_taus`` evenly spaced thresholds spanning every finite score (padded when all are equal)."""
    flat = np.concatenate([np.asarray(s, dtype=np.float64).ravel() for s in scores] or [np.zeros(0)])
    flat = flat[np.isfinite(flat)]
    if flat.size == 0:
        return []
    lo, hi = float(flat.min()), float(flat.max())
    if lo == hi:
        pad = 0.5 * max(abs(lo), 1.0)
        lo, hi = lo - pad, hi + pad
    return [float(t) for t in np.linspace(lo, hi, n_taus)]


def _oriented(strata: Mapping[str, np.ndarray], sign: float) -> dict[str, np.ndarray]:
    return {k: sign * v for k, v in strata.items()}


def rl_statistics(
    values: Mapping[str, Mapping[str, Strata]],
    *,
    variants: Sequence[str],
    baseline: str,
    directions: Mapping[str, Direction | None],
    n_resamples: int = 4000,
    seed: int = 123,
    confidence: float = 0.95,
    n_taus: int = 21,
) -> dict:
    """The ``rl_statistics`` section of an ablation summary.

    ``values`` is ``variant -> metric -> stratum -> per-run scores``. Only metrics with a
    declared direction are treated; for "lower is better" metrics the improvement is
    ``P(X < Y)`` and the profile counts runs *below* tau (scores are negated before the
    higher-is-better definitions apply). IQM is reported in the metric's own units.
    """
    strata_names = sorted({s for per in values.values() for col in per.values() for s in col})
    out_metrics: dict[str, dict] = {}
    for m, direction in directions.items():
        if direction not in ("higher", "lower"):
            continue
        sign = 1.0 if direction == "higher" else -1.0
        data = {v: as_strata(values.get(v, {}).get(m, {})) for v in variants}
        base = data.get(baseline, {})
        per_variant: dict[str, dict] = {}
        for v in variants:
            iq = iqm_with_ci(data[v], n_resamples=n_resamples, seed=seed, key=f"rl:{v}:{m}",
                             confidence=confidence)
            row = {"n": iq["n"], "iqm": iq["iqm"], "iqm_ci": iq["iqm_ci"], "p_improvement": None,
                   "p_improvement_ci": None, "n_baseline": sum(a.size for a in base.values())}
            if v != baseline and data[v] and base:
                pi = p_improvement_with_ci(_oriented(data[v], sign), _oriented(base, sign),
                                           n_resamples=n_resamples, seed=seed, key=f"rl:{v}:{m}",
                                           confidence=confidence)
                row.update(p_improvement=pi["p_improvement"], p_improvement_ci=pi["p_improvement_ci"],
                           n_baseline=pi["n_baseline"])
            per_variant[v] = row
        taus = tau_grid([a for st in data.values() for a in st.values()], n_taus)
        profiles = {v: profile_with_ci(_oriented(data[v], sign), [sign * t for t in taus],
                                       n_resamples=n_resamples, seed=seed, key=f"rl:{v}:{m}",
                                       confidence=confidence) for v in variants} if taus else {}
        out_metrics[m] = {"direction": direction, "variants": per_variant,
                          "profiles": {"tau": taus, "counts": "above" if sign > 0 else "below",
                                       "variants": profiles}}
    return {
        "reference": REFERENCE,
        "bootstrap": {"kind": "stratified percentile", "n_resamples": n_resamples, "seed": seed,
                      "confidence": confidence},
        "strata": strata_names,
        "stratified_by": "world: a sweep runs one world, so its runs form one stratum",
        "metrics": out_metrics,
    }
