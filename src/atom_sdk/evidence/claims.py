"""From per-seed run records to summary tables, significance records and worded claims.

Why a separate module: the wording is the product. A sentence "X beats the baseline" is
only written when the family-wise corrected test *and* the bootstrap interval agree; every
other outcome is worded as what it is ("no evidence of a difference", "worse than
baseline", "not compared"), and every sentence cites the significance record behind it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from scipy import stats as sps

from atom_sdk.evidence.stats import (
    METRIC_DIRECTIONS,
    bootstrap_mean_ci,
    holm,
    min_attainable_p,
    paired_comparison,
    stable_rng,
)
from atom_sdk.evidence.rl_stats import rl_statistics

SUMMARY_SCHEMA = "atom.platform_ablation_summary/1"
SIGNIFICANCE_SCHEMA = "atom.platform_ablation_significance/1"
BASELINE = "ppo_baseline"
MIN_SEEDS = 3
ALPHA = 0.05

Values = dict[str, dict[str, dict[int, float | None]]]  # variant -> metric -> seed -> value


def _is_number(v: object) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def collect_values(runs: Sequence[Mapping]) -> Values:
    """Numeric metrics of the ``status == "ok"`` runs, keyed variant -> metric -> seed."""
    out: Values = {}
    for r in runs:
        if r.get("status") != "ok":
            continue
        per = out.setdefault(r["variant"], {})
        for name, v in (r.get("metrics") or {}).items():
            if v is None or _is_number(v):
                per.setdefault(name, {})[int(r["seed"])] = None if v is None else float(v)
    return out


def ordered_metrics(values: Values) -> list[str]:
    """Declared metrics first (declaration order), then the rest alphabetically."""
    present = {m for per in values.values() for m in per}
    declared = [m for m in METRIC_DIRECTIONS if m in present]
    return declared + sorted(present - set(declared))


def summarize(
    runs: Sequence[Mapping],
    *,
    variants: Sequence[str],
    baseline: str = BASELINE,
    n_resamples: int = 4000,
    seed: int = 123,
    confidence: float = 0.95,
) -> dict:
    """Per-variant, per-metric mean with bootstrap CI, plus the ``rl_statistics`` section (IQM,
    probability of improvement over ``baseline``, performance profiles; see
    :mod:`atom_sdk.evidence.rl_stats`); a pure function of ``runs``."""
    values = collect_values(runs)
    metrics = ordered_metrics(values)
    counts = {v: {"ok": 0, "failed": 0} for v in variants}
    for r in runs:
        c = counts.setdefault(r["variant"], {"ok": 0, "failed": 0})
        c["ok" if r.get("status") == "ok" else "failed"] += 1
    rows = []
    for v in variants:
        for m in metrics:
            col = values.get(v, {}).get(m, {})
            ci = bootstrap_mean_ci(
                [col[s] for s in sorted(col)], confidence=confidence,
                n_resamples=n_resamples, seed=seed, key=f"summary:{v}:{m}",
            )
            rows.append({"variant": v, "metric": m, **ci.to_dict()})
    return {
        "schema": SUMMARY_SCHEMA,
        "baseline": baseline,
        "variants": list(variants),
        "metrics": {m: METRIC_DIRECTIONS.get(m) for m in metrics},
        "bootstrap": {"n_resamples": n_resamples, "seed": seed, "confidence": confidence},
        "counts": counts,
        "rows": rows,
        # IQM, P(improvement), profiles (Agarwal et al. 2021); one sweep = one world = one stratum
        "rl_statistics": rl_statistics(
            {v: {m: {"sweep": [col[s] for s in sorted(col)]} for m, col in per.items()}
             for v, per in values.items()},
            variants=variants, baseline=baseline,
            directions={m: METRIC_DIRECTIONS.get(m) for m in metrics},
            n_resamples=n_resamples, seed=seed, confidence=confidence,
        ),
    }


def _decide(rec: dict, direction: str, alpha: float) -> str:
    p, lo, hi = rec["p_holm"], rec["ci_low"], rec["ci_high"]
    if p is None or lo is None or hi is None or not p < alpha:
        return "no_evidence"
    better = lo > 0 if direction == "higher" else hi < 0
    worse = hi < 0 if direction == "higher" else lo > 0
    return "better" if better else "worse" if worse else "no_evidence"


def evaluate(
    values: Values,
    *,
    variants: Sequence[str],
    baseline: str = BASELINE,
    metrics: Sequence[str] | None = None,
    alpha: float = ALPHA,
    min_seeds: int = MIN_SEEDS,
    n_resamples: int = 4000,
    seed: int = 123,
    confidence: float = 0.95,
) -> dict:
    """All paired comparisons against ``baseline``, Holm-corrected as one family.

    Only metrics with a declared direction are compared. Comparisons with fewer than
    ``min_seeds`` paired seeds are recorded as ``insufficient_seeds`` and left out of the
    Holm family (they make no claim either way).
    """
    if metrics is None:
        metrics = [m for m in ordered_metrics(values) if m in METRIC_DIRECTIONS]
    base = values.get(baseline, {})
    records: list[dict] = []
    for v in variants:
        if v == baseline:
            continue
        for m in metrics:
            direction = METRIC_DIRECTIONS[m]
            cmp = paired_comparison(
                values.get(v, {}).get(m, {}), base.get(m, {}), n_resamples=n_resamples,
                seed=seed, key=f"diff:{v}:{m}", confidence=confidence,
            )
            records.append({"id": f"sig:{v}:{m}", "variant": v, "baseline": baseline,
                            "metric": m, "direction": direction, **cmp})
    family = [i for i, r in enumerate(records) if r["n"] >= min_seeds]
    adjusted = holm([records[i]["p_raw"] for i in family])
    for r in records:
        r["p_holm"] = None
    for i, p in zip(family, adjusted, strict=True):
        records[i]["p_holm"] = p
    n_claims = 0
    for r in records:
        if r["n"] < min_seeds:
            r["decision"] = "insufficient_seeds"
            r["reason"] = f"{r['n']} paired seed(s) < {min_seeds}: no claim is made"
        else:
            r["decision"] = _decide(r, r["direction"], alpha)
            r["reason"] = None
        r["claim_id"] = None
        if r["decision"] == "better":
            n_claims += 1
            r["claim_id"] = f"claim-{n_claims:03d}"
    n_max = max((r["n"] for r in records), default=0)
    notes = []
    if baseline not in values:
        notes.append(f"baseline {baseline!r} has no successful runs: nothing was compared")
    if family:
        floor = min_attainable_p(n_max) * len(family)
        notes.append(
            f"with n={n_max} paired seeds the smallest two-sided exact p is "
            f"{min_attainable_p(n_max):.3g}; after Holm over {len(family)} comparisons the "
            f"smallest attainable corrected p is {min(1.0, floor):.3g}"
        )
    return {
        "schema": SIGNIFICANCE_SCHEMA,
        "baseline": baseline,
        "alpha": alpha,
        "min_seeds": min_seeds,
        "correction": "holm",
        "test": "two-sided paired sign-flip permutation (exact for n<=16)",
        "bootstrap": {"n_resamples": n_resamples, "seed": seed, "confidence": confidence},
        "metrics": list(metrics),
        "family_size": len(family),
        "notes": notes,
        "records": records,
    }


def _fmt(x: float | None, spec: str = ".4g") -> str:
    return "n/a" if x is None else format(x, spec)


def _line(r: dict) -> str:
    return (
        f"mean diff {_fmt(r['mean_diff'], '+.4g')} "
        f"[{_fmt(r['ci_low'])}, {_fmt(r['ci_high'])}] ({r['ci_method']} 95% CI), "
        f"n={r['n']}, p={_fmt(r['p_raw'], '.3g')}, p_Holm={_fmt(r['p_holm'], '.3g')}, "
        f"d_z={_fmt(r['d_z'], '.3g')}, Cliff's delta={_fmt(r['cliffs_delta'], '.3g')}"
    )


def claims_markdown(sig: dict) -> str:
    """The human-readable claims file; each sentence cites its significance record id."""
    recs, base = sig["records"], sig["baseline"]
    out = [
        "# Platform ablation claims",
        "",
        f"Baseline: `{base}`. A claim \"X beats the baseline on M\" is written only when the "
        f"Holm-corrected p < {sig['alpha']} ({sig['test']}) and the bootstrap CI of the "
        f"paired difference excludes zero on the better side. Comparisons with fewer than "
        f"{sig['min_seeds']} paired seeds make no claim.",
        "",
    ]
    out += [f"- Note: {n}" for n in sig["notes"]]
    groups = {k: [r for r in recs if r["decision"] == k]
              for k in ("better", "worse", "no_evidence", "insufficient_seeds")}
    out += ["", "## Claims", ""]
    if not groups["better"]:
        why = "no comparison met both criteria" if recs else "no comparison could be made"
        out.append(f"No claims: {why}.")
    for r in groups["better"]:
        out.append(
            f"- **{r['claim_id']}**: `{r['variant']}` beats `{base}` on `{r['metric']}` "
            f"({r['direction']} is better): {_line(r)}. Evidence: `{r['id']}`."
        )
    out += ["", "## Worse than baseline", ""]
    out += [f"- `{r['variant']}` is worse than `{base}` on `{r['metric']}` "
            f"({r['direction']} is better): {_line(r)}. Evidence: `{r['id']}`."
            for r in groups["worse"]] or ["None."]
    out += ["", "## No evidence of a difference", ""]
    out += [f"- `{r['variant']}` vs `{base}` on `{r['metric']}`: no evidence of a "
            f"difference; {_line(r)}. Evidence: `{r['id']}`."
            for r in groups["no_evidence"]] or ["None."]
    out += ["", "## Not compared", ""]
    out += [f"- `{r['variant']}` vs `{base}` on `{r['metric']}`: {r['reason']}. "
            f"Evidence: `{r['id']}`." for r in groups["insufficient_seeds"]] or ["None."]
    return "\n".join(out) + "\n"


def aa_calibration(
    n_resamples: int = 600,
    n_seeds: int = 8,
    *,
    n_variants: int = 1,
    metrics: Sequence[str] = ("mean_return", "mean_drag"),
    n_bootstrap: int = 999,
    alpha: float = ALPHA,
    distribution: str = "normal",
    seed: int = 0,
) -> dict:
    """False-claim rate when variant and baseline share one distribution (A/A test).

    Each resample draws per-seed values ``seed_effect + noise`` for the baseline and for
    ``n_variants`` relabelled copies of it, runs the full :func:`evaluate` pipeline and
    counts claims. Any ``better`` (or ``worse``) decision is false by construction. Returns
    the family-wise false-claim rate and its one-sided 95% Clopper-Pearson upper bound.
    """
    if distribution not in {"normal", "t3", "lognormal"}:
        raise ValueError("distribution must be normal, t3 or lognormal")
    rng = stable_rng(seed, "aa", distribution)
    labels = [f"A{i}" for i in range(n_variants)]
    false_claims = false_sig = comparisons = any_claim = 0
    for k in range(n_resamples):
        shared = rng.normal(size=n_seeds)
        values: Values = {}
        for lab in [BASELINE, *labels]:
            if distribution == "normal":
                noise = rng.normal(size=(len(metrics), n_seeds))
            elif distribution == "t3":
                noise = rng.standard_t(3, size=(len(metrics), n_seeds))
            else:
                noise = rng.lognormal(size=(len(metrics), n_seeds))
            values[lab] = {m: {s: float(shared[s] + noise[j, s]) for s in range(n_seeds)}
                           for j, m in enumerate(metrics)}
        sig = evaluate(values, variants=[BASELINE, *labels], metrics=list(metrics),
                       alpha=alpha, n_resamples=n_bootstrap, seed=seed + k)
        dec = [r["decision"] for r in sig["records"]]
        comparisons += len(dec)
        false_claims += dec.count("better")
        false_sig += dec.count("better") + dec.count("worse")
        any_claim += int("better" in dec)
    upper = float(sps.beta.ppf(0.95, any_claim + 1, n_resamples - any_claim))
    return {
        "n_resamples": n_resamples,
        "n_seeds": n_seeds,
        "n_comparisons_per_resample": comparisons // max(n_resamples, 1),
        "familywise_false_claim_rate": any_claim / n_resamples,
        "familywise_false_claim_upper95": upper,
        "per_comparison_false_claim_rate": false_claims / max(comparisons, 1),
        "per_comparison_false_significant_rate": false_sig / max(comparisons, 1),
        "distribution": distribution,
    }


def write_text_atomic(path: Path, text: str) -> None:
    """Write via a temp file + ``os.replace`` so readers never see half a file."""
    import os

    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def json_safe(obj: object) -> object:
    """Replace non-finite floats by None so the JSON is strict (RFC 8259)."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    if isinstance(obj, np.generic):
        return json_safe(obj.item())
    return obj
