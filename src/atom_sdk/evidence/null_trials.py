"""False discoveries, measured: the integrity benchmark's trials on data that hold no law.

Why these trials: exact recovery on known laws (:mod:`atom_sdk.evidence.integrity`) says nothing
about what the scientist does when there is nothing to find. Two trials answer that:

**Null trial.** Each trial streams ``samples`` observations through the full online
:class:`~atom_sdk.science.scientist.Scientist` (its :class:`~atom_sdk.science.governance.Governor`
included), exactly as a run feeds it: ``observe`` then ``update`` every step, with the run's
default :class:`~atom_sdk.config.ScientistSettings` (library degree from the system's profile).
A trial *accepts a law* when any of its governor decision records is ``accepted``. Two kinds of
lawless data, each built on one of the benchmark's own systems (cycled over the systems; the
seed of trial ``i`` is ``i``):

* ``noise``: independent Gaussian samples with the per-variable mean and standard deviation of
  the system's data (controls likewise), so magnitudes and ``dt`` are realistic;
* ``shuffled``: the system's trajectory at one of the benchmark's noise levels (cycled) with its
  time order permuted (states and controls by the same permutation; a PDE contributes one grid
  point), so the marginal distribution is the system's but no law links a sample to the next.

A trial's silence only speaks for the fits that ran: the scientist counts, per backend, the
fits that fell due, those that reached the governor and those it declined (a window too short
for the backend, with the reason); :func:`fit_totals` sums them, and the trial passes only when
every backend ran at least :data:`MIN_FITS_RUN` of its fits.

The false-discovery rate is ``k / n`` over all trials of both kinds, with its one-sided
Clopper-Pearson upper bound at :data:`CONFIDENCE` (``scipy.stats.binomtest``). Pass rule: the
upper bound is at most :data:`MAX_FALSE_DISCOVERY` (5 %). With zero acceptances the one-sided
95 % bound is ``1 - 0.05**(1/n)``, at most 5 % from ``n >= 59``; hence :data:`DEFAULT_NULL_TRIALS`.

**Seed-stability trial.** The same noisy data of each ``(system, noise)`` (data seed 0) are fitted
with the benchmark's own discoverer (:func:`atom_sdk.evidence.integrity_systems.fit_discoverer`, the system's
profile) under different fitting seeds (the ensemble's bagging seeds). Reported: the modal support
(set of nonzero ``(target, term)`` pairs) and the fraction of seeds that agree with it; pass rule:
that fraction is at least the benchmark's exact-recovery bar in every ``(system, noise)``: 95 % at
noise <= 0.03 (with 10 seeds: all agree), 80 % above (the integrity ``THRESHOLDS``).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from atom_sdk.evidence.integrity_systems import (
    GroundTruthSystem,
    Trajectory,
    fit_discoverer,
    get_system,
    noisy_trajectories,
    system_library,
)
from atom_sdk.evidence.stats import stable_rng

__all__ = ["CONFIDENCE", "MAX_FALSE_DISCOVERY", "MIN_FITS_RUN", "MIN_SEED_AGREEMENT", "DEFAULT_NULL_TRIALS",
           "DEFAULT_STABILITY_SEEDS", "NULL_KINDS", "false_discovery_bound", "null_data", "run_null_trial",
           "run_null_trials", "run_seed_stability", "trial_verdicts", "trials_for_bound", "fit_totals"]

CONFIDENCE = 0.95
MAX_FALSE_DISCOVERY = 0.05
MIN_SEED_AGREEMENT = {"low_noise": 0.95, "high_noise": 0.80, "low_noise_max": 0.03}
DEFAULT_NULL_TRIALS = 60
MIN_FITS_RUN = 0.9  # of each backend's fits due in the null trial, the share that must run
DEFAULT_STABILITY_SEEDS = 10
NULL_KINDS = ("noise", "shuffled")


def false_discovery_bound(k: int, n: int, confidence: float = CONFIDENCE) -> float:
    """One-sided Clopper-Pearson upper bound on the acceptance rate after ``k`` of ``n``."""
    from scipy.stats import binomtest

    if n <= 0:
        return 1.0
    return float(binomtest(int(k), int(n), alternative="less").proportion_ci(
        confidence_level=confidence, method="exact").high)


def trials_for_bound(limit: float = MAX_FALSE_DISCOVERY, confidence: float = CONFIDENCE) -> int:
    """Fewest trials for which zero acceptances bound the rate by ``limit``."""
    n = 1
    while false_discovery_bound(0, n, confidence) > limit:
        n += 1
    return n


# --------------------------------------------------------------------------- data


def _stream(trajs: list[Trajectory]) -> tuple[np.ndarray, np.ndarray | None]:
    x = np.concatenate([t.x for t in trajs])
    u = None if trajs[0].u is None else np.concatenate([t.u for t in trajs])
    return x, u


def null_data(kind: str, system: GroundTruthSystem, samples: int, noise: float,
              rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray | None, float]:
    """``(x (samples, n_vars), u (samples, n_ctrl) or None, dt)`` of one lawless stream."""
    trajs, _ = noisy_trajectories(system, samples, noise, rng)
    if system.is_pde:
        trajs = [trajs[int(rng.integers(len(trajs)))]]
    x, u = _stream(trajs)
    x, u = x[:samples], None if u is None else u[:samples]
    if kind == "noise":
        x = x.mean(axis=0) + x.std(axis=0) * rng.standard_normal(x.shape)
        if u is not None:
            u = u.mean(axis=0) + u.std(axis=0) * rng.standard_normal(u.shape)
    elif kind == "shuffled":
        perm = rng.permutation(x.shape[0])
        x, u = x[perm], None if u is None else u[perm]
    else:
        raise ValueError(f"unknown null kind {kind!r}; choose from {NULL_KINDS}")
    return x, u, float(trajs[0].dt)


# --------------------------------------------------------------------------- null trial


def run_null_trial(kind: str, system_name: str, samples: int, seed: int, noise: float = 0.0,
                   settings: Any = None, backends: Sequence[str] = ("sparse",)) -> dict[str, Any]:
    """One null trial through the online scientist; ``accepted`` when any law was accepted.

    ``backends`` are the scientist's discovery backends (``Scientist(backends=...)``): every
    backend's candidates face the same governor, so each one's false discoveries count."""
    from atom_sdk.config import ScientistSettings
    from atom_sdk.science.scientist import Scientist

    system = get_system(system_name)
    rng = stable_rng(seed, "null", kind, system_name, f"{noise:.6g}")
    x, u, dt = null_data(kind, system, samples, noise, rng)
    if settings is None:
        settings = ScientistSettings(library_degree=int(system.profile.get("degree", 2)))
    sci = Scientist(settings, system.variable_names, system.control_names, dt, run_id=f"null-{kind}-{seed}",
                    seed=seed, backends=tuple(backends))
    t0 = time.perf_counter()
    decisions: list[dict[str, Any]] = []
    for t in range(x.shape[0]):
        sci.observe(x[t], None if u is None else u[t])
        decisions += sci.update(t)
    accepted = [d for d in decisions if d["kind"] == "accepted"]
    first = accepted[0] if accepted else None
    return {
        "kind": kind, "system": system_name, "noise": float(noise), "seed": int(seed), "samples": int(x.shape[0]),
        "n_fits": len(decisions), "n_accepted": len(accepted), "accepted": bool(accepted),
        "fits": {b: dict(c) for b, c in sci.fit_counts.items()},
        "declines": [dict(d) for d in sci.declines[:3]],
        "first_accepted": None if first is None else {
            "step": first.get("step"), "equations": [e.get("equation") for e in first.get("equations", [])],
            "reasons": first.get("reasons")},
        "seconds": time.perf_counter() - t0,
    }


def run_null_trials(n_trials: int = DEFAULT_NULL_TRIALS, *, samples: int, systems: Sequence[str],
                    noise_levels: Sequence[float], kinds: Sequence[str] = NULL_KINDS,
                    confidence: float = CONFIDENCE, limit: float = MAX_FALSE_DISCOVERY,
                    progress: Any = None, backends: Sequence[str] = ("sparse",),
                    min_fits_run: float = MIN_FITS_RUN) -> dict[str, Any]:
    """``n_trials`` null trials of each kind (trial ``i``: system ``i mod len``, seed ``i``).

    ``passed`` needs the bound at most ``limit`` *and* every backend to have run at least
    ``min_fits_run`` of the fits that fell due (``fits``, :func:`fit_totals`)."""
    systems, levels = list(systems), [float(v) for v in noise_levels] or [0.0]
    trials = []
    for kind in kinds:
        for i in range(int(n_trials)):
            system = systems[i % len(systems)]
            noise = levels[(i // len(systems)) % len(levels)] if kind == "shuffled" else 0.0
            trials.append(run_null_trial(kind, system, samples, i, noise, backends=backends))
            if progress is not None:
                progress(trials[-1])

    def rate(ts: list[dict[str, Any]]) -> dict[str, Any]:
        k, n = sum(t["accepted"] for t in ts), len(ts)
        return {"n_trials": n, "n_accepted": k, "rate": k / n if n else None,
                "upper_bound": false_discovery_bound(k, n, confidence)}

    pooled = rate(trials)
    per_kind = {kind: rate([t for t in trials if t["kind"] == kind]) for kind in kinds}
    fits = fit_totals(trials)
    fits_ok = _fits_verdict(fits, float(min_fits_run))[0]
    return {
        **pooled,
        "fits": fits, "min_fits_run": float(min_fits_run),
        "confidence": confidence, "limit": limit,
        "bound_method": "one-sided Clopper-Pearson (scipy.stats.binomtest(k, n, alternative='less')"
                        ".proportion_ci(method='exact'))",
        "settings": {"trials_per_kind": int(n_trials), "kinds": list(kinds), "samples": int(samples),
                     "systems": systems, "noise_levels": levels, "scientist": "ScientistSettings defaults, "
                     "library_degree from the system's profile", "backends": list(backends)},
        "per_kind": per_kind,
        "accepted_trials": [{k: t[k] for k in ("kind", "system", "noise", "seed", "first_accepted")}
                            for t in trials if t["accepted"]],
        "trials": trials,
        "passed": pooled["upper_bound"] <= limit + 1e-12 and fits_ok,
    }


def fit_totals(trials: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per backend, over all trials: fits ``attempted`` (due, with data), ``run`` (a candidate
    reached the governor), ``declined``, the fraction that ran, and the commonest decline reasons.

    Why: a trial's "no law accepted" only speaks for the fits that ran; a backend that declines
    most windows would otherwise look clean by never proposing anything."""
    out: dict[str, dict[str, Any]] = {}
    reasons: dict[str, Counter[str]] = {}
    for t in trials:
        for backend, c in (t.get("fits") or {}).items():
            agg = out.setdefault(backend, {"attempted": 0, "run": 0, "declined": 0})
            for key in agg:
                agg[key] += int(c.get(key, 0))
        for d in t.get("declines") or []:
            reasons.setdefault(d["backend"], Counter())[str(d["reason"]).split(";")[0][:120]] += 1
    for backend, agg in out.items():
        agg["run_fraction"] = agg["run"] / agg["attempted"] if agg["attempted"] else None
        agg["decline_reasons"] = [r for r, _ in reasons.get(backend, Counter()).most_common(3)]
    return out


def _fits_verdict(fits: Any, min_run: float) -> tuple[bool, str, float | None]:
    """Whether the fits behind the null trial ran: ``(ok, detail, lowest run fraction)``. A
    backend that ran under ``min_run`` of its attempted fits fails the check (its silence is
    not evidence); a report without the counts (older than them) is said so, not judged."""
    if not isinstance(fits, Mapping) or not fits:
        return True, "fits run per backend not recorded (report older than the count)", None
    parts, bad, low = [], [], 1.0
    for backend, c in fits.items():
        att, run = int(c.get("attempted", 0)), int(c.get("run", 0))
        frac = run / att if att else 0.0
        low = min(low, frac)
        parts.append(f"{backend} {run}/{att}")
        if frac < min_run - 1e-12:
            reasons = c.get("decline_reasons") or []
            bad.append(f"{backend} ran {frac:.0%} of its fits (needs >= {min_run:.0%}"
                       + (f"; declined: {reasons[0]}" if reasons else "") + ")")
    text = "fits that ran (of those due): " + ", ".join(parts)
    if bad:
        return False, f"{text}; the bound speaks only for fits that ran: {'; '.join(bad)}", low
    return True, text, low


# --------------------------------------------------------------------------- seed stability


def _support(coef: np.ndarray, targets: list[str], names: list[str]) -> tuple[str, ...]:
    return tuple(sorted(f"d{targets[i]}: {names[j]}" for i, j in zip(*np.nonzero(coef))))


def run_seed_stability(n_seeds: int = DEFAULT_STABILITY_SEEDS, *, samples: int, systems: Sequence[str],
                       noise_levels: Sequence[float], force_sparse: bool = False, data_seed: int = 0,
                       min_agreement: dict[str, float] | None = None, progress: Any = None) -> dict[str, Any]:
    """Per ``(system, noise)``: one noisy data set, ``n_seeds`` fitting seeds, agreement with the mode."""
    bar = dict(MIN_SEED_AGREEMENT, **(min_agreement or {}))
    rows = []
    for system_name in systems:
        system = get_system(system_name)
        names = system_library(system).names
        for noise in noise_levels:
            rng = stable_rng(data_seed, "integrity", system_name, f"{float(noise):.6g}")
            trajs, _ = noisy_trajectories(system, samples, float(noise), rng)
            t0 = time.perf_counter()
            supports = [_support(fit_discoverer(system, trajs, s, force_sparse), system.variable_names, names)
                        for s in range(int(n_seeds))]
            mode, count = Counter(supports).most_common(1)[0]
            row = {"system": system_name, "noise": float(noise), "n_seeds": int(n_seeds),
                   "n_distinct_supports": len(set(supports)), "agreement": count / len(supports),
                   "modal_support": list(mode),
                   "other_supports": sorted({s for s in supports if s != mode}, key=len)[:3],
                   "seconds": time.perf_counter() - t0}
            low = float(noise) <= bar["low_noise_max"] + 1e-12
            row["min_agreement"] = bar["low_noise"] if low else bar["high_noise"]
            row["passed"] = row["agreement"] >= row["min_agreement"] - 1e-12
            row["other_supports"] = [list(s) for s in row["other_supports"]]
            rows.append(row)
            if progress is not None:
                progress(row)
    failing = [r for r in rows if not r["passed"]]
    return {
        "min_agreement": bar,
        "settings": {"n_seeds": int(n_seeds), "fit_seeds": [s for s in range(int(n_seeds))],
                     "data_seed": int(data_seed), "samples": int(samples), "systems": list(systems),
                     "noise_levels": [float(v) for v in noise_levels], "force_sparse": bool(force_sparse)},
        "rows": rows,
        "agreement_min": min((r["agreement"] for r in rows), default=None),
        "failing": [{"system": r["system"], "noise": r["noise"], "agreement": r["agreement"],
                     "limit": r["min_agreement"]} for r in failing],
        "passed": bool(rows) and not failing,
    }


def trial_verdicts(report: Mapping[str, Any], thresholds: Mapping[str, Any], *,
                   required: bool) -> list[tuple[str, bool, str, dict[str, Any]]]:
    """Judge an integrity report's ``null_trial`` and ``seed_stability`` sections from their raw
    counts, against ``thresholds`` (the SDK's, not the report's): ``(check, ok, detail, measures)``.

    Why one function: gate G-04 and ``atom release verify --recompute`` must reach the same verdict
    from the same numbers; the bound is recomputed from (k, n), never read from the report. A
    missing section fails as incomplete when ``required`` (a profile with a declared budget) and is
    left unjudged otherwise (reports older than the trials).
    """
    out: list[tuple[str, bool, str, dict[str, Any]]] = []
    limit, conf = float(thresholds["null_false_discovery_upper_max"]), float(thresholds["null_confidence"])
    null = report.get("null_trial")
    if not isinstance(null, Mapping) or not isinstance(null.get("n_trials"), int) \
            or not isinstance(null.get("n_accepted"), int):
        if required:
            out.append(("null trial", False, "incomplete report: no null_trial section (false discoveries on "
                        "lawless data are not measured); rerun `atom bench integrity` at this commit", {}))
    else:
        k, n = null["n_accepted"], null["n_trials"]
        bound = false_discovery_bound(k, n, conf)
        need = trials_for_bound(limit, conf)
        what = (f"{k} of {n} null trials accepted a law (rate {k / n if n else 0:.3f}); one-sided {conf:.0%} "
                f"Clopper-Pearson upper bound {bound:.4f}")
        ok = bound <= limit + 1e-12
        detail = (f"{what} <= {limit:.2f}" if ok else
                  f"{what} > {limit:.2f}: the scientist accepts laws on data that hold none" if n >= need else
                  f"{what} > {limit:.2f}: {n} trials cannot bound it by {limit:.0%} (needs >= {need})")
        measures: dict[str, Any] = {"null_false_discoveries": k, "null_trials": n, "null_false_discovery_upper": bound}
        fits_ok, fits_detail, low = _fits_verdict(null.get("fits"), float(thresholds.get("null_fits_run_min",
                                                                                         MIN_FITS_RUN)))
        if low is not None:
            measures["null_fits_run_fraction_min"] = low
        out.append(("null trial", ok and fits_ok, f"{detail}; {fits_detail}", measures))
    stab = report.get("seed_stability")
    if not isinstance(stab, Mapping) or not isinstance(stab.get("rows"), list) or not stab["rows"]:
        if required:
            out.append(("seed stability", False, "incomplete report: no seed_stability section (support under "
                        "different fitting seeds is not measured); rerun `atom bench integrity` at this commit", {}))
        return out
    low_max = float(thresholds["low_noise_max"])
    bad = []
    for r in stab["rows"]:
        need_agree = float(thresholds["seed_agreement_min_low_noise" if float(r["noise"]) <= low_max + 1e-12
                                      else "seed_agreement_min_high_noise"])
        if float(r["agreement"]) < need_agree - 1e-12:
            bad.append(f"{r['system']}@{float(r['noise']):g} {float(r['agreement']):.2f} (needs {need_agree:.2f})")
    lowest = min(float(r["agreement"]) for r in stab["rows"])
    out.append(("seed stability", not bad, "fraction of fitting seeds agreeing with the modal support: "
                + (f"below the bar in {', '.join(bad)}" if bad else
                   f"lowest {lowest:.2f} over {len(stab['rows'])} (system, noise)"), {"seed_agreement_min": lowest}))
    return out
