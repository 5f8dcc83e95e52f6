"""Sparse regression under a rotation symmetry: SO(2)-equivariant laws on a polynomial library.

Why: a Hopf oscillator and the mean-field model of a wake (Noack et al., J. Fluid Mech. 497, 2003)
commute with rotations of one pair of variables ``(x, y)``, the others (``w``, e.g. the shift
mode) being invariant. Every polynomial vector field with that symmetry has the form

    d(x, y)/dt = f(r^2, w) (x, y) + g(r^2, w) (-y, x),      dw/dt = h(r^2, w),      r^2 = x^2 + y^2,

so the coefficients of dx/dt and dy/dt are tied. A plain sparse fit (Brunton, Proctor & Kutz,
PNAS 113, 2016) picks the terms of each equation on its own and may keep the growth rate in one
equation and drop it in the other. Imposing the symmetry is a linear equality constraint on the
coefficients, the "constrained sparse Galerkin regression" of Loiseau & Brunton (J. Fluid Mech.
838, 2018); it is solved here by reparametrising: each shared coefficient ``c_j`` (of one monomial
of ``f``, ``g`` or ``h``) is a fixed matrix ``M_j`` of library coefficients, the stacked
equations of a group are regressed on the features ``theta @ M_j``, and ``coef = sum_j c_j M_j``
is expanded back to the library's monomials (for support checks, simulation and the ledger).

The rotation acts on ``(a_i / s_i, a_k / s_k)``: POD modes of a limit cycle have unequal energy
in general (the cycle is an ellipse in their coordinates), so ``scales`` (default: the RMS of
each variable of the pair) make it a circle first. Whether the data carry the symmetry is
measured, not assumed: the dense least-squares fit with and without the constraint are compared
and the loss of explained variance per equation goes into ``theory.metadata["equivariance"]``,
with a warning when it exceeds ``tolerance``.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import sympy

from atom_sdk.errors import ConfigError
from atom_sdk.science.derivatives import Differentiation, RegressionSystem
from atom_sdk.science.discover import _metadata, prepare_trajectories, resolve_library
from atom_sdk.science.library import Library
from atom_sdk.science.sparse import SparseRegressor, SparseResult
from atom_sdk.science.theory import Theory, theory_from_result

__all__ = ["SharedCoefficient", "so2_coefficients", "fit_constrained", "discover_so2"]


@dataclass(frozen=True)
class SharedCoefficient:
    """One free parameter of a constrained law: ``matrix (n_targets, n_terms)`` is what a unit value
    adds to the library coefficients; parameters of one ``group`` are fitted together."""

    name: str
    group: str
    matrix: np.ndarray


def _invariant_monomials(n_w: int, degree: int) -> list[tuple[int, tuple[int, ...]]]:
    """``(q, beta)`` with ``(r^2)^q w^beta`` of total degree ``2q + |beta| <= degree``."""
    from atom_sdk.science.library import polynomial_powers

    out = []
    for q in range(degree // 2 + 1):
        for beta in polynomial_powers(n_w, degree - 2 * q, include_bias=True):
            out.append((q, tuple(beta)))
    return out


def _check_pair(pair: tuple[int, int], names: Sequence[str]) -> tuple[int, int]:
    i, k = (int(p) for p in pair)
    if i == k or not (0 <= i < len(names) and 0 <= k < len(names)):
        raise ConfigError(f"pair must name two different variables of {list(names)}, got {pair!r}",
                          hint="give the indices of the rotating pair, e.g. pair=(0, 1)")
    return i, k


def so2_coefficients(library: Library, pair: tuple[int, int], scales: tuple[float, float] = (1.0, 1.0),
                     degree: int | None = None) -> list[SharedCoefficient]:
    """The SO(2)-equivariant parameters over ``library`` (polynomial terms, no controls): rotations of
    ``(x, y) = (a_i / s_i, a_k / s_k)`` for ``pair = (i, k)``, the other variables invariant, up to
    ``degree`` (default the library's). Raises when the library lacks a monomial the symmetry needs."""
    names = library.variable_names
    if library.control_names:
        raise ConfigError("the equivariant fit takes no controls", hint="fit an autonomous law (u=None)")
    i, k = _check_pair(pair, names)
    s_i, s_k = (float(s) for s in scales)
    if not (s_i > 0 and s_k > 0 and np.isfinite(s_i) and np.isfinite(s_k)):
        raise ConfigError(f"scales must be positive and finite, got {scales!r}", hint="e.g. the RMS of each variable")
    deg = int(library.degree if degree is None else degree)
    poly = {t.powers: n for n, t in enumerate(library.terms) if t.kind == "poly"}
    syms = sympy.symbols(names)
    x, y = syms[i] / s_i, syms[k] / s_k
    others = [n for n in range(len(names)) if n not in (i, k)]
    r2 = x**2 + y**2

    def matrix(exprs: dict[int, sympy.Expr]) -> np.ndarray:
        m = np.zeros((len(names), len(library.terms)))
        for target, expr in exprs.items():
            for powers, c in sympy.Poly(sympy.expand(expr), *syms).terms():
                if tuple(powers) not in poly:
                    raise ConfigError(f"the library lacks the monomial {powers} of {names} that the symmetry needs",
                                      hint=f"use a polynomial library of degree >= {deg} with interactions")
                m[target, poly[tuple(powers)]] += float(c)
        return m

    def label(q: int, beta: tuple[int, ...]) -> str:
        parts = (["r^2" if q == 1 else f"r^{2 * q}"] if q else []) + [
            names[n] if b == 1 else f"{names[n]}^{b}" for n, b in zip(others, beta) if b]
        return "*".join(parts) or "1"

    out = []
    for q, beta in _invariant_monomials(len(others), deg - 1):
        m = r2**q * sympy.Mul(*[syms[n] ** b for n, b in zip(others, beta)])
        # d a_i/dt = s_i dx/dt, d a_k/dt = s_k dy/dt
        out.append(SharedCoefficient(f"f[{label(q, beta)}]", "radial", matrix({i: s_i * m * x, k: s_k * m * y})))
        out.append(SharedCoefficient(f"g[{label(q, beta)}]", "angular", matrix({i: -s_i * m * y, k: s_k * m * x})))
    for n in others:
        for q, beta in _invariant_monomials(len(others), deg):
            m = r2**q * sympy.Mul(*[syms[o] ** b for o, b in zip(others, beta)])
            out.append(SharedCoefficient(f"h_{names[n]}[{label(q, beta)}]", names[n], matrix({n: m})))
    return out


def _group_system(system: RegressionSystem, params: Sequence[SharedCoefficient], weights: np.ndarray,
                  mix: dict[int, np.ndarray] | None = None
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, list[int]]:
    """The rows of one group: each target it touches divided by its weight, then either stacked and
    interleaved per time (row 0 of each target, row 1 ...) or, with ``mix`` (target -> per-row factor),
    combined per time into one row (a projection). ``(features (rows, n_g), lhs, row_pos, row_group, targets)``."""
    targets = sorted({int(t) for p in params for t in np.flatnonzero(np.abs(p.matrix).sum(axis=1))})
    feats = [np.stack([system.rhs @ p.matrix[t] / weights[t] for p in params], axis=1) for t in targets]
    lhs = [system.lhs[:, t] / weights[t] for t in targets]
    if mix is not None:
        f = sum(mix[t][:, None] * ft for t, ft in zip(targets, feats))
        y = sum(mix[t] * lt for t, lt in zip(targets, lhs))
        return np.asarray(f), np.asarray(y)[:, None], system.row_pos, system.row_group, targets
    n_t = len(targets)
    return (np.stack(feats, 1).reshape(-1, len(params)), np.stack(lhs, 1).reshape(-1, 1),
            np.repeat(system.row_pos, n_t), np.repeat(system.row_group, n_t), targets)


def _symmetry_cost(system: RegressionSystem, params: Sequence[SharedCoefficient]) -> dict[str, np.ndarray]:
    """Fraction of each target's variance explained by dense least squares, free and constrained."""
    theta, y = system.rhs, system.lhs
    ss_tot = np.maximum(np.sum((y - y.mean(axis=0)) ** 2, axis=0), 1e-300)
    free = np.linalg.lstsq(theta, y, rcond=None)[0]
    r2_free = 1.0 - np.sum((y - theta @ free) ** 2, axis=0) / ss_tot
    a = np.stack([(theta @ p.matrix.T).reshape(-1) for p in params], axis=1)  # (K T, n_params), target-minor
    c = np.linalg.lstsq(a, y.reshape(-1), rcond=None)[0]
    r2_con = 1.0 - np.sum((y - (a @ c).reshape(y.shape)) ** 2, axis=0) / ss_tot
    return {"r2_free": r2_free, "r2_constrained": r2_con}


def fit_constrained(system: RegressionSystem, params: Sequence[SharedCoefficient], optimizer: SparseRegressor,
                    rng: np.random.Generator, weights: Sequence[float] | None = None,
                    mixes: dict[str, dict[int, np.ndarray]] | None = None) -> tuple[SparseResult, dict[str, Any]]:
    """Sparse regression of ``system`` over the shared parameters, one group at a time (each with its own
    threshold), expanded back to library coefficients; returns the result and the per-parameter fit
    (names, values, inclusion). ``weights`` divide each target; ``mixes[group]`` projects that group's
    targets per row (see :func:`_group_system`)."""
    n_t, n_p = system.lhs.shape[1], system.rhs.shape[1]
    w = np.ones(n_t) if weights is None else np.asarray(weights, float)
    groups: dict[str, list[SharedCoefficient]] = {}
    for p in params:
        groups.setdefault(p.group, []).append(p)
    coef, var = np.zeros((n_t, n_p)), np.zeros((n_t, n_p))
    incl, sup = np.zeros((n_t, n_p)), np.zeros((n_t, n_p), bool)
    thr = np.zeros(n_t)
    ens = None
    shared: dict[str, Any] = {"names": [], "values": [], "inclusion": [], "group_threshold": {}}
    for g, ps in groups.items():
        mix = (mixes or {}).get(g)
        feats, lhs, pos, grp, targets = _group_system(system, ps, w, mix)
        nt = 1 if mix is not None else len(targets)
        res = optimizer.fit(feats, lhs, n_eff=system.n_eff * nt, row_pos=pos, row_group=grp, span=system.span,
                            block_length=nt * system.span / max(system.stride, 1), rng=rng)
        c, s, inc = res.coef[0], res.coef_std[0], res.inclusion[0]
        mats = np.stack([p.matrix for p in ps])  # (n_g, T, p)
        on = np.abs(mats) > 0
        coef += np.einsum("j,jtp->tp", c, mats)
        var += np.einsum("j,jtp->tp", s**2, mats**2)
        incl = np.maximum(incl, np.max(np.where(on, inc[:, None, None], 0.0), axis=0))
        sup |= np.any(on & res.support[0][:, None, None], axis=0)
        if res.ensemble_coef is not None:
            e = np.einsum("bj,jtp->btp", res.ensemble_coef[:, 0, :], mats)
            ens = e if ens is None else ens + e
        thr[targets] = res.threshold[0]
        shared["names"] += [p.name for p in ps]
        shared["values"] += c.tolist()
        shared["inclusion"] += inc.tolist()
        shared["group_threshold"][g] = float(res.threshold[0])
    sup &= coef != 0.0
    resid = system.lhs - system.rhs @ coef.T
    ss_tot = np.sum((system.lhs - system.lhs.mean(axis=0)) ** 2, axis=0)
    r2 = np.where(ss_tot > 0, 1.0 - np.sum(resid**2, axis=0) / np.where(ss_tot > 0, ss_tot, 1.0), 1.0)
    result = SparseResult(coef=coef, coef_std=np.sqrt(var), inclusion=incl, support=sup, threshold=thr, r2=r2,
                          rmse=np.sqrt(np.mean(resid**2, axis=0)), ensemble_coef=ens, info={"constrained": True})
    return result, shared


def discover_so2(
    x: Any,
    t_or_dt: Any,
    *,
    pair: tuple[int, int] = (0, 1),
    scales: tuple[float, float] | None = None,
    library: Library | None = None,
    differentiation: Differentiation | None = None,
    optimizer: SparseRegressor | None = None,
    variable_names: Sequence[str] | None = None,
    tolerance: float = 0.02,
    polar: bool = False,
    split: bool = True,
    seed: int | None = 0,
) -> Theory:
    """Like :func:`~atom_sdk.science.discover.discover`, with the law held SO(2)-equivariant in ``pair``.

    ``scales`` map the pair to the rotating coordinates (default: each variable's RMS over the
    data). ``tolerance``: the largest loss of explained variance (R^2, dense least squares)
    the constraint may cost any equation before a warning says the data lack the symmetry; the
    figures are in ``metadata["equivariance"]`` either way. ``polar=True`` divides the pair's rows by
    ``r`` (floored at 1e-3 of its largest value): the residual is then that of the amplitude-phase form
    ``d ln r/dt = f``, ``d theta/dt = g`` (how Noack et al. 2003 read the growth rate off a transient),
    so rows near the fixed point, where the growth rate shows, weigh as much as those on the cycle.
    ``split=False`` fits the radial and angular parameters as one group of stacked (a_i, a_k) rows with
    one threshold (same least-squares criterion, one threshold for growth and frequency terms alike).
    """
    xs, ts, _ = prepare_trajectories(x, t_or_dt, None)
    library = resolve_library(library, variable_names, None, xs[0].shape[1], 0)
    differentiation = differentiation if differentiation is not None else Differentiation()
    optimizer = optimizer if optimizer is not None else SparseRegressor()
    _check_pair(pair, library.variable_names)
    if scales is None:
        allx = np.concatenate(xs)
        scales = (float(np.sqrt(np.mean(allx[:, pair[0]] ** 2))), float(np.sqrt(np.mean(allx[:, pair[1]] ** 2))))
    params = so2_coefficients(library, pair, scales)
    system = differentiation.systems(library, xs, ts, None)
    weights = np.ones(system.lhs.shape[1])
    weights[list(pair)] = scales  # the pair's residuals in the rotating coordinates
    # the radial and the angular parts of the pair's law are orthogonal row by row: projected on (x, y) / r and
    # (-y, x) / r they separate into the amplitude equation dr/dt = f r and the phase equation r dtheta/dt = g r,
    # each with its own threshold, as plain SINDy gives each equation its own (the growth rate is several
    # times smaller than the frequency and would fall under one threshold shared with it)
    terms = {t.powers: n for n, t in enumerate(library.terms)}
    unit = np.eye(len(library.variable_names), dtype=int)
    xy = [system.rhs[:, terms[tuple(unit[p])]] / sc for p, sc in zip(pair, scales)]
    r = np.maximum(np.hypot(*xy), 1e-3 * float(np.hypot(*xy).max()))
    norm = r**2 if polar else r
    mixes = {"radial": {pair[0]: xy[0] / norm, pair[1]: xy[1] / norm},
             "angular": {pair[0]: -xy[1] / norm, pair[1]: xy[0] / norm}}
    if not split:
        params = [replace(p, group="pair") if p.group in mixes else p for p in params]
        mixes = {}
    result, shared = fit_constrained(system, params, optimizer, np.random.default_rng(seed), weights, mixes)
    cost = _symmetry_cost(system, params)
    loss = cost["r2_free"] - cost["r2_constrained"]
    meta = _metadata(ts, system, differentiation, optimizer)
    meta["equivariance"] = {
        "symmetry": "SO(2)", "pair": [library.variable_names[p] for p in pair], "scales": [float(s) for s in scales],
        "parameters": shared, "r2_free": cost["r2_free"].tolist(), "r2_constrained": cost["r2_constrained"].tolist(),
        "r2_loss": loss.tolist(), "tolerance": tolerance, "consistent": bool(np.all(loss <= tolerance)),
        "polar": polar,
    }
    if not meta["equivariance"]["consistent"]:
        worst = int(np.argmax(loss))
        warnings.warn(f"the data lack the SO(2) symmetry the fit imposes: d{library.variable_names[worst]}/dt "
                      f"loses {loss[worst]:.3g} of its explained variance (tolerance {tolerance:g})", stacklevel=2)
    return theory_from_result(library, result, meta)
