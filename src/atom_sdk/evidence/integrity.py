"""Scientific-integrity benchmark: does the scientist recover *known* laws, honestly?

For every ground-truth system (:mod:`atom_sdk.evidence.integrity_systems`), noise level and
seed the same noisy data go through (a) our :func:`atom_sdk.science.discover` with the
system's documented profile and (b) PySINDy's default STLSQ (``ps.SINDy`` with ``ps.STLSQ()``
defaults and default finite differences) over the *same* candidate library, side by side.

Per cell we score exact support recovery, the relative coefficient error over the true terms
(median and max; a missed term counts as error 1), false and missed term counts, and the
empirical coverage of split-conformal one-step prediction intervals on *fresh* data: new
trajectories with the same noise, one-step RK4 predictions from each noisy state, a random
50/50 split of the pooled intervals into calibration and test (the random split makes the
two halves exchangeable, which is what the conformal guarantee needs).

Noise is relative: ``sigma = level * std`` of each state variable over the training data
(controls that are *inputs* stay exact; derived inputs such as a PDE's spatial derivatives
are recomputed from the noisy field).

``--check`` thresholds are fixed in :data:`THRESHOLDS` and written into the JSON; cells are
aggregated per ``(system, noise)`` over seeds and every failing aggregate is named.

``force_sparse``: every profile already uses our ensembled STLSQ with BIC-selected thresholds;
``force_sparse=True`` additionally switches on library bagging (each ensemble member drops 20 %
of the candidate terms, E-SINDy's double bagging) and requires a term to be kept by 60 % of the
members, i.e. it forces the sparsest path the scientist offers on every system.

Two trials ask what the scientist must *not* find (:mod:`atom_sdk.evidence.null_trials`): the
null trial streams lawless data (pure noise, and the systems' trajectories with their time order
shuffled) through the online ``Scientist`` and its ``Governor`` and bounds the rate at which any
law is accepted (one-sided Clopper-Pearson, upper bound <= 5 %); the seed-stability trial refits
the same data under different fitting seeds and needs the same support. They are reported in
``null_trial`` and ``seed_stability``, are part of the verdict, and leave the cells, aggregates
and ``failing_cells`` above untouched.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from atom_sdk.evidence.integrity_systems import SYSTEMS, GroundTruthSystem, Trajectory, get_system
from atom_sdk.evidence.integrity_systems import fit_discoverer, noisy_trajectories, system_library
from atom_sdk.evidence.stats import bootstrap_mean_ci, stable_rng
from atom_sdk.workspace import ReportKind

__all__ = ["integrity_arg_parser", "THRESHOLDS", "DEFAULT_SYSTEMS", "run_cell", "aggregate", "check",
           "run_integrity_benchmark", "markdown_tables"]

SCHEMA = "atom.scientific_integrity/1"
#: the first line of ``markdown_tables`` (what a rerun's --markdown may replace)
MARKDOWN_HEADER = "| system | noise | ours | pysindy | median err | coverage |"
REPORT_JSON = ReportKind("scientific-integrity JSON report", schema=SCHEMA)
REPORT_MARKDOWN = ReportKind("scientific-integrity Markdown table", kind="markdown", header=MARKDOWN_HEADER)
DEFAULT_SYSTEMS = tuple(SYSTEMS)
CONFORMAL_ALPHA = 0.1
FRESH_TRAJECTORIES = 8  # fresh ODE trajectories (each of --samples) for the conformal check

THRESHOLDS: dict[str, Any] = {
    "recovery_rate_min_low_noise": 0.95,  # exact support, noise <= low_noise_max
    "recovery_rate_min_high_noise": 0.80,  # exact support, noise > low_noise_max (e.g. 0.06)
    "low_noise_max": 0.03,
    "median_coef_error_max_low_noise": 0.05,  # median relative error over true terms, noise <= 0.03
    "coverage_nominal": 1.0 - CONFORMAL_ALPHA,
    "coverage_tolerance": 0.03,  # |mean coverage - nominal| <= 0.03 per (system, noise)
    "not_worse_than_pysindy_recovery": True,
    # null trial (atom_sdk.evidence.null_trials): one-sided Clopper-Pearson upper bound on the
    # rate at which the online scientist accepts any law on lawless data
    "null_false_discovery_upper_max": 0.05,
    "null_confidence": 0.95,
    "null_fits_run_min": 0.9,  # of each backend's fits due in the null trial, the share that must have run
    # seed stability: fraction of fitting seeds agreeing with the modal support, per (system, noise);
    # the same bar as exact recovery across data seeds
    "seed_agreement_min_low_noise": 0.95,
    "seed_agreement_min_high_noise": 0.80,
}


# --------------------------------------------------------------------------- data


def _fresh_pairs(system: GroundTruthSystem, n: int, sigma: np.ndarray, rng: np.random.Generator,
                 max_pairs: int = 4000) -> tuple[np.ndarray, np.ndarray | None, np.ndarray, float]:
    """One-step pairs ``(x_i, u_i) -> x_{i+1}`` on fresh noisy data (controls known at time i)."""
    if system.is_pde:
        from atom_sdk.evidence.integrity_systems import spatial_derivatives

        field, dt = system.field_simulate(n, rng)  # type: ignore[misc]
        noisy = field + sigma[0] * rng.standard_normal(field.shape)
        ux, uxx = spatial_derivatives(noisy, 2 * np.pi / noisy.shape[1])
        x0 = noisy[:-1].reshape(-1, 1)
        x1 = noisy[1:].reshape(-1, 1)
        u0 = np.stack([ux[:-1].ravel(), uxx[:-1].ravel()], axis=-1)
    else:
        trajs = [t for _ in range(FRESH_TRAJECTORIES) for t in system.simulate(n, rng)]
        dt = trajs[0].dt
        xs = [t.x + sigma * rng.standard_normal(t.x.shape) for t in trajs]
        x0 = np.concatenate([x[:-1] for x in xs])
        x1 = np.concatenate([x[1:] for x in xs])
        u0 = None if trajs[0].u is None else np.concatenate([t.u[:-1] for t in trajs])
    if x0.shape[0] > max_pairs:
        idx = np.sort(rng.choice(x0.shape[0], max_pairs, replace=False))
        x0, x1 = x0[idx], x1[idx]
        u0 = None if u0 is None else u0[idx]
    return x0, u0, x1, float(dt)


# --------------------------------------------------------------------------- fitting


def _fit_pysindy(system: GroundTruthSystem, trajs: list[Trajectory]) -> np.ndarray:
    """PySINDy defaults (STLSQ threshold 0.1, finite differences) over the same library."""
    import warnings

    import pysindy as ps

    lib = system_library(system)
    model = ps.SINDy(feature_library=lib.to_pysindy())
    us = None if trajs[0].u is None else [t.u for t in trajs]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if len(trajs) == 1:
            model.fit(trajs[0].x, t=trajs[0].dt, u=None if us is None else us[0], feature_names=lib.input_names)
        else:
            model.fit([t.x for t in trajs], t=trajs[0].dt, u=us, feature_names=lib.input_names)
    names = [n.replace(" ", "*") for n in model.get_feature_names()]
    if names != lib.names:  # same order by construction; refuse silently mismatched columns
        raise RuntimeError(f"PySINDy library terms {names} do not match ours {lib.names}")
    return np.asarray(model.coefficients(), dtype=float)


# --------------------------------------------------------------------------- scoring


def _truth_matrix(system: GroundTruthSystem, names: list[str]) -> np.ndarray:
    m = np.zeros((len(system.variable_names), len(names)))
    for i, target in enumerate(system.variable_names):
        for term, c in system.truth[target].items():
            m[i, names.index(term)] = c
    return m


def score_coefficients(coef: np.ndarray, truth: np.ndarray, names: list[str], targets: list[str]) -> dict[str, Any]:
    """Support recovery and coefficient errors of ``coef`` against ``truth`` (both ``(T, p)``)."""
    true_sup = truth != 0
    sup = coef != 0
    errs = np.abs(coef[true_sup] - truth[true_sup]) / np.abs(truth[true_sup])
    errs = np.where(sup[true_sup], errs, 1.0)
    false_terms = [f"d{targets[i]}: {names[j]}" for i, j in zip(*np.nonzero(sup & ~true_sup))]
    missed_terms = [f"d{targets[i]}: {names[j]}" for i, j in zip(*np.nonzero(~sup & true_sup))]
    return {
        "exact_support": bool(np.array_equal(sup, true_sup)),
        "coef_rel_error_median": float(np.median(errs)),
        "coef_rel_error_max": float(np.max(errs)),
        "coef_rel_errors": [float(e) for e in errs],
        "false_terms": len(false_terms),
        "missed_terms": len(missed_terms),
        "false_term_names": false_terms,
        "missed_term_names": missed_terms,
    }


def _rk4(coef: np.ndarray, lib: Any, x: np.ndarray, u: np.ndarray | None, dt: float) -> np.ndarray:
    f = lambda z: lib.evaluate(z, u) @ coef.T  # noqa: E731
    k1 = f(x)
    k2 = f(x + 0.5 * dt * k1)
    k3 = f(x + 0.5 * dt * k2)
    k4 = f(x + dt * k3)
    return x + dt / 6.0 * (k1 + 2 * k2 + 2 * k3 + k4)


def conformal_coverage(coef: np.ndarray, lib: Any, pairs: tuple, rng: np.random.Generator,
                       alpha: float = CONFORMAL_ALPHA) -> dict[str, Any]:
    """Split-conformal one-step intervals: calibrate on a random half, cover the other half."""
    from atom_sdk.science.conformal import SplitConformal

    x0, u0, x1, dt = pairs
    with np.errstate(all="ignore"):
        pred = _rk4(coef, lib, x0, u0, dt)
    resid = x1 - pred
    resid = np.where(np.isfinite(resid), resid, np.inf)  # a blown-up prediction is a miss
    perm = rng.permutation(resid.shape[0])
    half = resid.shape[0] // 2
    cal, test = resid[perm[:half]], resid[perm[half:]]
    sc = SplitConformal(alpha).fit(cal)
    q = np.asarray(sc.quantile_, dtype=float)
    cov = np.mean(np.abs(test) <= q[None, :], axis=0)
    return {"coverage": float(cov.mean()), "coverage_per_variable": [float(c) for c in cov],
            "n_calibration": int(half), "n_test": int(test.shape[0]),
            "half_width": [float(v) if np.isfinite(v) else None for v in q]}


def run_cell(system_name: str, noise: float, seed: int, n_samples: int = 192, *,
             force_sparse: bool = False) -> dict[str, Any]:
    """One (system, noise, seed) cell: ours and PySINDy on the same data, scored the same way."""
    system = get_system(system_name)
    rng = stable_rng(seed, "integrity", system_name, f"{noise:.6g}")
    t0 = time.perf_counter()
    trajs, sigma = noisy_trajectories(system, n_samples, noise, rng)
    pairs = _fresh_pairs(system, n_samples, sigma, rng)
    lib = system_library(system)
    truth = _truth_matrix(system, lib.names)
    rec: dict[str, Any] = {"system": system_name, "noise": float(noise), "seed": int(seed),
                           "n_samples": int(n_samples), "n_trajectories": len(trajs)}
    for label, fit in (("ours", lambda: fit_discoverer(system, trajs, seed, force_sparse)),
                       ("pysindy", lambda: _fit_pysindy(system, trajs))):
        t1 = time.perf_counter()
        try:
            coef = fit()
            res = score_coefficients(coef, truth, lib.names, system.variable_names)
            res.update(conformal_coverage(coef, lib, pairs, stable_rng(seed, "split", system_name, label)))
            res["error"] = None
        except Exception as exc:  # noqa: BLE001 - a failed fit is a recorded, failing result
            res = {"exact_support": False, "coef_rel_error_median": 1.0, "coef_rel_error_max": 1.0,
                   "false_terms": None, "missed_terms": None, "coverage": None,
                   "error": f"{type(exc).__name__}: {exc}"}
        res["fit_seconds"] = time.perf_counter() - t1
        rec[label] = res
    rec["cell_seconds"] = time.perf_counter() - t0
    return rec


# --------------------------------------------------------------------------- aggregation / check


def aggregate(cells: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Per (system, noise): recovery rates (with bootstrap CIs), coefficient errors, coverage."""
    groups: dict[tuple[str, float], list[Mapping[str, Any]]] = {}
    for c in cells:
        groups.setdefault((c["system"], float(c["noise"])), []).append(c)
    out = []
    for (system, noise), cs in groups.items():
        row: dict[str, Any] = {"system": system, "noise": noise, "n_seeds": len(cs)}
        for label in ("ours", "pysindy"):
            rs = [c[label] for c in cs]
            rec = [float(r["exact_support"]) for r in rs]
            errs = [e for r in rs for e in r.get("coef_rel_errors", [1.0])]
            covs = [r["coverage"] for r in rs if r.get("coverage") is not None]
            ci = bootstrap_mean_ci(rec, seed=0, key=f"{system}/{noise}/{label}")
            row[label] = {
                "recovery_rate": float(np.mean(rec)),
                "recovery_ci": [ci.ci_low, ci.ci_high], "recovery_ci_method": ci.ci_method,
                "coef_rel_error_median": float(np.median(errs)) if errs else None,
                "coef_rel_error_max": float(np.max(errs)) if errs else None,
                "false_terms_mean": float(np.mean([r["false_terms"] or 0 for r in rs])),
                "missed_terms_mean": float(np.mean([r["missed_terms"] or 0 for r in rs])),
                "coverage_mean": float(np.mean(covs)) if len(covs) == len(rs) else None,
                "errors": [r["error"] for r in rs if r.get("error")],
            }
        out.append(row)
    return out


def check(aggregates: Sequence[Mapping[str, Any]], thresholds: Mapping[str, Any] = THRESHOLDS) -> list[dict[str, Any]]:
    """Failing (system, noise, check) entries; empty when every threshold holds."""
    th = dict(THRESHOLDS, **thresholds)
    fails: list[dict[str, Any]] = []

    def fail(row: Mapping[str, Any], name: str, value: Any, limit: Any) -> None:
        fails.append({"system": row["system"], "noise": row["noise"], "check": name, "value": value, "limit": limit})

    for row in aggregates:
        ours, ps_ = row["ours"], row["pysindy"]
        low = row["noise"] <= th["low_noise_max"] + 1e-12
        need = th["recovery_rate_min_low_noise"] if low else th["recovery_rate_min_high_noise"]
        if ours["recovery_rate"] < need - 1e-12:
            fail(row, "recovery_rate", ours["recovery_rate"], need)
        if low and (ours["coef_rel_error_median"] is None
                    or ours["coef_rel_error_median"] >= th["median_coef_error_max_low_noise"]):
            fail(row, "median_coef_error", ours["coef_rel_error_median"], th["median_coef_error_max_low_noise"])
        cov = ours["coverage_mean"]
        if cov is None or abs(cov - th["coverage_nominal"]) > th["coverage_tolerance"] + 1e-12:
            fail(row, "coverage", cov, [th["coverage_nominal"] - th["coverage_tolerance"],
                                        th["coverage_nominal"] + th["coverage_tolerance"]])
        if th["not_worse_than_pysindy_recovery"] and ours["recovery_rate"] < ps_["recovery_rate"] - 1e-12:
            fail(row, "not_worse_than_pysindy", ours["recovery_rate"], ps_["recovery_rate"])
    return fails


def _check_settings(samples: int, noise_levels: Sequence[float], systems: Sequence[str]) -> None:
    """Refuse settings the benchmark cannot run, before any cell is spent on them."""
    from atom_sdk.errors import ConfigError

    if samples < 48:
        raise ConfigError(f"--samples {samples} is too few for the derivative filters; use at least 48")
    if any(n < 0 for n in noise_levels):
        raise ConfigError("noise levels must be >= 0 (they are fractions of each variable's std)")
    for s in systems:
        get_system(s)


def _run_cells(systems: Sequence[str], noise_levels: Sequence[float], seeds: Sequence[int], samples: int,
               force_sparse: bool, progress: Any) -> list[dict[str, Any]]:
    """Every (system, noise, seed) cell in that nesting order, each reported to ``progress`` as it ends."""
    cells = []
    for system in systems:
        for noise in noise_levels:
            for seed in seeds:
                cells.append(run_cell(system, float(noise), int(seed), samples, force_sparse=force_sparse))
                if progress is not None:
                    progress(cells[-1])
    return cells


def _integrity_trials(th: Mapping[str, Any], n_null: int, n_stab: int, samples: int, systems: Sequence[str],
                      noise_levels: Sequence[float], force_sparse: bool,
                      null_backends: Sequence[str]) -> dict[str, Any]:
    """The null trial and the seed-stability trial (each left out at 0), keyed as the report carries them."""
    from atom_sdk.evidence import null_trials as nt

    extra: dict[str, Any] = {}
    if n_null > 0:
        extra["null_trial"] = nt.run_null_trials(
            n_null, samples=samples, systems=systems, noise_levels=noise_levels,
            confidence=float(th["null_confidence"]), limit=float(th["null_false_discovery_upper_max"]),
            backends=tuple(null_backends), min_fits_run=float(th["null_fits_run_min"]))
    if n_stab > 0:
        extra["seed_stability"] = nt.run_seed_stability(
            n_stab, samples=samples, systems=systems, noise_levels=noise_levels, force_sparse=force_sparse,
            min_agreement={"low_noise": th["seed_agreement_min_low_noise"],
                           "high_noise": th["seed_agreement_min_high_noise"], "low_noise_max": th["low_noise_max"]})
    return extra


def _system_descriptions(systems: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Per system what the report states about it: description, profile, variables, controls and the true law."""
    return {s: {"description": get_system(s).description, "profile": get_system(s).profile,
                "variables": get_system(s).variable_names, "controls": get_system(s).control_names,
                "truth": get_system(s).truth} for s in systems}


def _comparison(aggs: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Per (system, noise) ours beside PySINDy: recovery rate, median coefficient error and coverage."""
    return [{"system": a["system"], "noise": a["noise"], "ours_recovery": a["ours"]["recovery_rate"],
             "pysindy_recovery": a["pysindy"]["recovery_rate"],
             "ours_median_error": a["ours"]["coef_rel_error_median"],
             "pysindy_median_error": a["pysindy"]["coef_rel_error_median"],
             "ours_coverage": a["ours"]["coverage_mean"],
             "pysindy_coverage": a["pysindy"]["coverage_mean"]} for a in aggs]


def run_integrity_benchmark(
    *,
    seeds: Sequence[int] = (0, 1, 2),
    noise_levels: Sequence[float] = (0.0, 0.03, 0.06),
    samples: int = 192,
    systems: Sequence[str] = DEFAULT_SYSTEMS,
    force_sparse: bool = False,
    thresholds: Mapping[str, Any] | None = None,
    progress: Any = None,
    null_trials: int | None = None,
    stability_seeds: int | None = None,
    null_backends: Sequence[str] = ("sparse",),
) -> dict[str, Any]:
    """Run every (system, noise, seed) cell and return the full report (see module docstring).

    Then the two trials on what the scientist must *not* find (:mod:`atom_sdk.evidence.null_trials`):
    ``null_trials`` lawless streams of each kind through the online scientist (default 60, enough
    for a 5 % bound; 0 leaves the section out; ``null_backends`` are the scientist's discovery
    backends there, each of whose fits is counted as run or declined) and ``stability_seeds`` fitting seeds on the same
    data per (system, noise) (default 10; 0 leaves it out). The verdict needs both to pass."""
    from atom_sdk.evidence import null_trials as nt
    from atom_sdk.provenance import provenance

    _check_settings(samples, noise_levels, systems)
    th = dict(THRESHOLDS, **(thresholds or {}))
    t0 = time.perf_counter()
    cells = _run_cells(systems, noise_levels, seeds, samples, force_sparse, progress)
    aggs = aggregate(cells)
    failing = check(aggs, th)
    n_null = nt.DEFAULT_NULL_TRIALS if null_trials is None else int(null_trials)
    n_stab = nt.DEFAULT_STABILITY_SEEDS if stability_seeds is None else int(stability_seeds)
    extra = _integrity_trials(th, n_null, n_stab, samples, systems, noise_levels, force_sparse, null_backends)
    settings = {"seeds": [int(s) for s in seeds], "noise_levels": [float(n) for n in noise_levels],
                "samples": int(samples), "systems": list(systems), "force_sparse": bool(force_sparse),
                "conformal_alpha": CONFORMAL_ALPHA, "null_trials": n_null, "stability_seeds": n_stab,
                "null_backends": list(null_backends)}
    trials_ok = all(sec["passed"] for sec in extra.values())
    return {
        "schema": SCHEMA,
        "provenance": provenance(settings, seed=int(seeds[0]) if seeds else None),
        "settings": settings,
        "thresholds": th,
        "systems": _system_descriptions(systems),
        "baseline": "pysindy.SINDy(feature_library=<same library>, optimizer=STLSQ() defaults, "
                    "differentiation=FiniteDifference() default)",
        "cells": cells,
        "aggregates": aggs,
        "comparison": _comparison(aggs),
        "failing_cells": failing,
        **extra,
        "passed": not failing and trials_ok,
        "duration_seconds": time.perf_counter() - t0,
    }


def markdown_tables(report: Mapping[str, Any]) -> str:
    """The report as Markdown: recovery per (system, noise), then the null and seed-stability trials."""
    lines = [MARKDOWN_HEADER, "|---|---|---|---|---|---|"]
    for row in report.get("comparison", []):
        err, cov = row["ours_median_error"], row["ours_coverage"]
        lines.append(f"| {row['system']} | {row['noise']:g} | {row['ours_recovery']:.2f} | {row['pysindy_recovery']:.2f}"
                     f" | {'-' if err is None else f'{err:.3%}'} | {'-' if cov is None else f'{cov:.3f}'} |")
    null = report.get("null_trial")
    if null:
        lines += ["", f"Null trial: any law accepted on lawless data ({null['confidence']:.0%} one-sided "
                  f"Clopper-Pearson upper bound, limit {null['limit']:.0%})", "",
                  "| data | trials | accepted | rate | upper bound |", "|---|---|---|---|---|"]
        for name, r in [*null["per_kind"].items(), ("all", null)]:
            lines.append(f"| {name} | {r['n_trials']} | {r['n_accepted']} | {r['rate']:.3f} | {r['upper_bound']:.4f} |")
        fits = null.get("fits") or {}
        if fits:
            lines += ["", "Fits behind it (each fit that fell due, per discovery backend):", "",
                      "| backend | due | ran | declined | ran share | commonest decline |", "|---|---|---|---|---|---|"]
            for name, c in fits.items():
                share = "-" if c.get("run_fraction") is None else f"{c['run_fraction']:.2f}"
                why = (c.get("decline_reasons") or ["-"])[0]
                lines.append(f"| {name} | {c['attempted']} | {c['run']} | {c['declined']} | {share} | {why} |")
        bound_ok = null["upper_bound"] <= null["limit"] + 1e-12
        lines.append(f"\n{'PASS' if null['passed'] else 'FAIL'}: upper bound {null['upper_bound']:.4f} "
                     f"{'<=' if bound_ok else '>'} {null['limit']:.2f}"
                     + ("" if null["passed"] or not bound_ok else
                        f", but a backend ran under {null.get('min_fits_run', 0.9):.0%} of its fits"))
    stab = report.get("seed_stability")
    if stab:
        lines += ["", f"Seed stability: {stab['settings']['n_seeds']} fitting seeds on the same data, "
                  "fraction agreeing with the modal support", "",
                  "| system | noise | agreement | distinct supports | needed |", "|---|---|---|---|---|"]
        for r in stab["rows"]:
            lines.append(f"| {r['system']} | {r['noise']:g} | {r['agreement']:.2f} | {r['n_distinct_supports']} "
                         f"| {r['min_agreement']:.2f} |")
    return "\n".join(lines) + "\n"


def integrity_arg_parser():
    """Options shared by ``atom bench integrity`` and ``scripts/run_scientific_integrity_bench.py``."""
    import argparse

    from atom_sdk.evidence.null_trials import DEFAULT_NULL_TRIALS, DEFAULT_STABILITY_SEEDS

    ap = argparse.ArgumentParser(prog="atom bench integrity", description="scientific-integrity benchmark")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--noise-levels", type=float, nargs="+", default=[0.0, 0.03, 0.06])
    ap.add_argument("--samples", type=int, default=192)
    ap.add_argument("--systems", nargs="+", default=list(DEFAULT_SYSTEMS))
    ap.add_argument("--force-sparse", action="store_true",
                    help="library bagging + 60%% inclusion on every system (sparsest path)")
    ap.add_argument("--null-trials", type=int, default=DEFAULT_NULL_TRIALS,
                    help="lawless streams of each kind (noise, time-shuffled) through the online scientist; "
                         "0 leaves the null trial out")
    ap.add_argument("--null-backends", nargs="+", default=["sparse"], choices=["sparse", "implicit", "sr"],
                    help="the scientist's discovery backends in the null trial (each one's fits are counted as "
                         "run or declined); e.g. sparse implicit")
    ap.add_argument("--stability-seeds", type=int, default=DEFAULT_STABILITY_SEEDS,
                    help="fitting seeds on the same data per (system, noise); 0 leaves the seed-stability trial out")
    ap.add_argument("--markdown", default=None, help="also write the tables as Markdown to this file")
    ap.add_argument("--check", action="store_true", help="exit 1 when a threshold fails")
    ap.add_argument("--output", default="validation_outputs/scientific_integrity.json")
    return ap
