"""The shared core of implicit sparse regression (SINDy-PI): candidates, their fit and selection.

A rational law ``dx_i/dt = N(x, u) / D(x, u)`` is the implicit law ``A N - B D = 0`` over the
implicit library ``[A, B]``: row ``r`` of ``A`` holds the library terms ``theta_k`` and of ``B``
the products ``theta_k * xdot_i``, either at a sample (:mod:`~atom_sdk.science.implicit`, pointwise
derivatives) or both integrated against a test function (:mod:`~atom_sdk.science.implicit_weak`).
Both formulations share what is here: the candidate search (SINDy-PI's parallel left-hand sides
with STLSQ, and the exhaustive Sanathanan-Koerner supports), the normalisation of ``N / D``, the
parsimonious selection on a held-out score, and the :class:`~atom_sdk.science.theory.Theory` of
the chosen laws. Kaheman, Kutz & Brunton (2020, Proc. R. Soc. A 476: 20200279).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import sympy

from atom_sdk.science.library import Library, Term, _lambdify_custom
from atom_sdk.science.sparse import stlsq
from atom_sdk.science.theory import Equation, Theory

__all__ = ["ImplicitCandidate", "implicit_candidates", "polish_rational", "rational_theory"]

_DEFAULT_THRESHOLDS = (0.0, 0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5)


@dataclass
class ImplicitCandidate:
    """One implicit law ``D(x,u) xdot_i = N(x,u)`` found with left-hand side ``lhs``.

    ``num`` and ``den`` are coefficients over the library terms (``den`` normalised so that its
    highest-order kept term has coefficient 1); ``error`` is the held-out normalised MSE of the
    explicit prediction ``N / D``.
    """

    target: int
    lhs: str
    threshold: float
    num: np.ndarray
    den: np.ndarray
    error: float

    @property
    def n_terms(self) -> int:
        return int(np.count_nonzero(self.num) + np.count_nonzero(self.den))

    @property
    def is_polynomial(self) -> bool:
        """``D`` is a constant (only the bias term kept)."""
        return bool(np.count_nonzero(self.den) == 1 and self.den[0] != 0)


def _explicit(num: np.ndarray, den: np.ndarray, theta: np.ndarray) -> np.ndarray:
    with np.errstate(all="ignore"):
        return (theta @ num) / (theta @ den)


def _nmse(pred: np.ndarray, y: np.ndarray) -> float:
    with np.errstate(all="ignore"):
        err = float(np.mean((pred - y) ** 2) / max(np.var(y), 1e-300))
    return err if np.isfinite(err) else np.inf


def _normalise(num: np.ndarray, den: np.ndarray, powers: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Cancel a monomial factor common to every kept term of ``N`` and ``D`` (``x N' / x D'``),
    then scale so the highest-order kept denominator term has coefficient 1 (``None``: no ``xdot``)."""
    kept = np.flatnonzero(den)
    if kept.size == 0:
        return None
    both = np.flatnonzero((num != 0) | (den != 0))
    common = powers[both].min(axis=0)
    if common.any():
        lookup = {tuple(pw): k for k, pw in enumerate(powers.tolist())}
        n2, d2 = np.zeros_like(num), np.zeros_like(den)
        for k in both:
            j = lookup.get(tuple((powers[k] - common).tolist()))
            if j is None:  # the reduced monomial is not in the library: keep the law as found
                n2, d2 = num, den
                break
            n2[j], d2[j] = num[k], den[k]
        num, den = n2, d2
        kept = np.flatnonzero(den)
    s = den[kept[-1]]
    return num / s, den / s


def implicit_candidates(
    A: np.ndarray,
    B: np.ndarray,
    train: np.ndarray,
    names: list[str],
    target: int,
    thresholds: tuple[float, ...],
    powers: np.ndarray,
    max_subset: int,
    score: Callable[[np.ndarray, np.ndarray], float],
) -> list[ImplicitCandidate]:
    """All implicit candidates of one state variable from the implicit library ``[A, B]``.

    Row ``r`` of ``A`` holds the library terms ``theta_k`` and of ``B`` the products
    ``theta_k * xdot_i`` (pointwise samples, or both integrated against one test function in
    the weak form), so a law is ``A N - B D = 0``. The candidates are the parallel
    (left-hand side, threshold) STLSQ fits of SINDy-PI and, when ``max_subset > 0``, every
    implicit support of at most ``max_subset`` terms fitted by :func:`_sanathanan_koerner`
    (exhaustive; small libraries only). ``score(num, den)`` is the held-out error of a law.
    """
    p = A.shape[1]
    imp = np.concatenate([A, B], axis=1)  # [Theta, xdot * Theta]
    lhs_names = names + [f"{n}*dx/dt" if n != "1" else "dx/dt" for n in names]
    out = []

    def add(xi: np.ndarray, lhs: str, lam: float) -> None:
        # implicit law imp @ xi = 0  <=>  D xdot = N with D = xi[p:], N = -xi[:p]
        normed = _normalise(-xi[:p], xi[p:], powers)
        if normed is not None:
            num, den = normed
            out.append(ImplicitCandidate(target, lhs, lam, num, den, score(num, den)))

    for j in range(2 * p):
        others = np.delete(np.arange(2 * p), j)
        if not np.any(imp[train, j]):
            continue
        for lam in thresholds:
            coef = stlsq(imp[train][:, others], imp[train, j], threshold=lam)[0]
            xi = np.zeros(2 * p)
            xi[others] = -coef
            xi[j] = 1.0
            add(xi, lhs_names[j], float(lam))
    if max_subset > 0:
        from itertools import combinations

        rows = np.flatnonzero(train)
        rows = rows[:: max(1, len(rows) // 600)]  # the search only ranks supports: a subsample suffices
        a_tr, b_tr = A[rows], B[rows]
        for k in range(2, min(max_subset, 2 * p) + 1):
            for sub in combinations(range(2 * p), k):
                if max(sub) < p:  # no xdot term: a relation among the states, not a law
                    continue
                xi = _sanathanan_koerner(a_tr, b_tr, [i for i in sub if i < p], [i - p for i in sub if i >= p])
                if xi is not None:
                    add(xi, "sk", float("nan"))
    return out


def _sanathanan_koerner(
    A: np.ndarray, B: np.ndarray, num: list[int], den: list[int], n_iter: int = 3
) -> np.ndarray | None:
    """Implicit coefficients ``xi = [-N, D]`` of one support, by the Sanathanan-Koerner iteration
    (IEEE Trans. Autom. Control 8, 1963): ``A N - B D = 0`` (``A`` the terms, ``B`` the terms
    times ``xdot``) solved by least squares weighted by ``1 / D_prev`` (``A D_prev``: ``D`` at the
    row, or its test-function average), so that it converges towards the explicit fit of
    ``xdot = N / D`` instead of weighting rows by ``D`` (and, under noise, biasing the terms that
    carry ``xdot``). The highest-order denominator term is fixed to 1. ``None`` if a system is
    singular."""
    fixed, free = den[-1], den[:-1]
    M = np.concatenate([A[:, num], -B[:, free]], axis=1)
    b = B[:, fixed]
    w = np.ones(len(b))
    for _ in range(n_iter):
        try:
            sol = np.linalg.lstsq(M * w[:, None], b * w, rcond=None)[0]
        except np.linalg.LinAlgError:
            return None
        d = A[:, fixed] + A[:, free] @ sol[len(num) :]
        w = 1.0 / np.maximum(np.abs(d), 1e-8 * max(float(np.abs(d).max()), 1e-300))
    p = A.shape[1]
    xi = np.zeros(2 * p)
    xi[num] = -sol[: len(num)]
    xi[p + np.array(free, dtype=int)] = sol[len(num) :]
    xi[p + fixed] = 1.0
    return xi if np.all(np.isfinite(xi)) else None


def _select(
    cands: list[ImplicitCandidate], parsimony: float, tolerance: float, powers: np.ndarray
) -> ImplicitCandidate:
    """Simplest candidate whose held-out nMSE is within ``parsimony`` (relative) of the best,
    or below ``tolerance`` (absolute): at noise 0 a many-term rational function also fits the
    derivative filter's own small bias, which no law should be chosen for."""
    finite = [c for c in cands if np.isfinite(c.error)]
    if not finite:
        raise ValueError("no implicit candidate gave a finite held-out prediction; check the data and library")
    best = min(c.error for c in finite)
    bar = max(best * (1.0 + parsimony), tolerance)
    degree = powers.sum(axis=1)

    def key(c: ImplicitCandidate) -> tuple[float, ...]:
        den_deg = float(degree[np.flatnonzero(c.den)].max())
        return (c.n_terms, den_deg, np.count_nonzero(c.den), c.error)

    return min((c for c in finite if c.error <= bar), key=key)


def polish_rational(
    num: np.ndarray, den: np.ndarray, theta: np.ndarray, target: np.ndarray, H: Any = None,
    support: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Nonlinear least squares of the explicit law ``N/D`` over its kept terms (the denominator's
    last kept term stays 1): ``N/D - target`` pointwise, or ``H (N/D)(z) - target`` in the weak
    form, where ``H`` integrates the law against test functions. The implicit fit weights rows by
    ``D``; this removes that bias under noise. ``support`` (term indices of ``N`` and ``D``;
    default the nonzero ones) lets a start with zeros in it."""
    from scipy.optimize import least_squares

    if H is not None:  # only the sample points some test function touches
        used = np.flatnonzero(np.asarray(H.sum(axis=0)).ravel() > 0)
        H, theta = H[:, used], theta[used]
    ni, di = (np.flatnonzero(num), np.flatnonzero(den)) if support is None else support
    fixed, free_d = di[-1], di[:-1]
    th_n, th_d, th_f = theta[:, ni], theta[:, free_d], theta[:, fixed]

    def resid(v: np.ndarray) -> np.ndarray:
        d = th_f + th_d @ v[ni.size :]
        with np.errstate(all="ignore"):
            law = (th_n @ v[: ni.size]) / d
            r = (law if H is None else H @ law) - target
        return np.where(np.isfinite(r), r, 1e6)

    def jac(v: np.ndarray) -> np.ndarray:
        d = th_f + th_d @ v[ni.size :]
        with np.errstate(all="ignore"):
            q = (th_n @ v[: ni.size]) / d**2
            J = np.concatenate([th_n / d[:, None], -th_d * q[:, None]], axis=1)
        J = np.where(np.isfinite(J), J, 0.0)
        return J if H is None else H @ J

    v0 = np.concatenate([num[ni], den[free_d]])
    rows = theta.shape[0] if H is None else H.shape[0]
    method = "lm" if v0.size <= rows else "trf"
    sol = least_squares(resid, v0, jac=jac, method=method, max_nfev=50 * (v0.size + 1))
    n2, d2 = num.copy(), den.copy()
    n2[ni] = sol.x[: ni.size]
    d2[free_d] = sol.x[ni.size :]
    return n2, d2


def _round_sig(v: float, sig: int = 4) -> sympy.Float:
    return sympy.Float(float(f"{v:.{sig}g}"), sig + 1)


def rational_theory(
    library: Library,
    chosen: list[ImplicitCandidate],
    z: np.ndarray,
    xdot: np.ndarray,
    metadata: dict[str, Any] | None = None,
    weights: Any = None,
) -> Theory:
    """A :class:`Theory` for the selected implicit laws: polynomial terms where ``D`` is constant,
    else custom terms ``theta_k / D`` (``D`` shown to 4 significant digits in the name, exact in
    the expression), numerator coefficients as the equation's coefficients. ``z`` are the
    stacked inputs ``(x, u)`` and ``xdot`` the derivatives of the rows the fit scores are taken on;
    with ``weights`` (a ``(K, len(z))`` matrix, the weak form's test-function averages) the scores
    compare ``weights @ terms(z)`` with ``xdot (K, n)`` instead.

    ``metadata["structure"]`` lists ``[target, "num:<term>"|"den:<term>"]`` pairs, the law's
    support independent of coefficient values (the governor's window-stability check uses it).
    """
    names = library.names
    terms: list[Term] = []
    index: dict[str, int] = {}
    per_eq: list[dict[int, float]] = []
    structure: list[list[str]] = []
    expressions: dict[str, str] = {}
    for c in chosen:
        target = library.variable_names[c.target]
        coefs: dict[int, float] = {}
        if c.is_polynomial:
            num = c.num / c.den[0]
            for k in np.flatnonzero(num):
                if names[k] not in index:
                    index[names[k]] = len(terms)
                    terms.append(library.terms[k])
                coefs[index[names[k]]] = float(num[k])
            expr = sum((sympy.Float(num[k], 15) * library.terms[k].expr for k in np.flatnonzero(num)), sympy.Integer(0))
        else:
            d_expr = sum((sympy.Float(c.den[k], 15) * library.terms[k].expr for k in np.flatnonzero(c.den)), sympy.Integer(0))
            d_name = str(sum((_round_sig(c.den[k]) * library.terms[k].expr for k in np.flatnonzero(c.den)), sympy.Integer(0)))
            for k in np.flatnonzero(c.num):
                name = f"{names[k]}/({d_name})"
                if name not in index:
                    t_expr = library.terms[k].expr / d_expr
                    fn = _lambdify_custom(t_expr, library.input_names, name)
                    index[name] = len(terms)
                    terms.append(Term(name, "custom", t_expr, fn=fn, inputs=tuple(range(library.n_inputs))))
                coefs[index[name]] = float(c.num[k])
            n_expr = sum((sympy.Float(c.num[k], 15) * library.terms[k].expr for k in np.flatnonzero(c.num)), sympy.Integer(0))
            expr = n_expr / d_expr
        structure += [[target, f"num:{names[k]}"] for k in np.flatnonzero(c.num)]
        structure += [[target, f"den:{names[k]}"] for k in np.flatnonzero(c.den) if not c.is_polynomial]
        expressions[target] = str(expr)
        per_eq.append(coefs)
    if not terms:  # every law is dx/dt = 0: keep one (unused) term so the theory is well formed
        terms.append(library.terms[0])
    F = np.column_stack([t.evaluate(z) for t in terms])
    if weights is not None:
        F = np.asarray(weights @ F)
    equations = []
    for i, (c, coefs) in enumerate(zip(chosen, per_eq)):
        target = library.variable_names[c.target]
        coef = np.zeros(len(terms))
        for j, v in coefs.items():
            coef[j] = v
        sup = coef != 0
        resid = xdot[:, i] - F @ coef
        std = _ols_std(F[:, sup], resid)
        full_std = np.zeros(len(terms))
        full_std[sup] = std
        ss_tot = float(np.sum((xdot[:, i] - xdot[:, i].mean()) ** 2))
        equations.append(
            Equation(
                target=target,
                terms=[t.name for t in terms],
                coefficients=coef,
                coefficient_std=full_std,
                inclusion_probability=sup.astype(float),
                support=sup,
                r2=1.0 - float(np.sum(resid**2)) / ss_tot if ss_tot > 0 else float("nan"),
                rmse=float(np.sqrt(np.mean(resid**2))),
                threshold=chosen[i].threshold,
            )
        )
    meta = dict(metadata or {})
    meta.update(backend="implicit", structure=structure, expressions=expressions,
                lhs={library.variable_names[c.target]: c.lhs for c in chosen})
    return Theory(library.variable_names, library.control_names, terms, equations, meta)


def _ols_std(F: np.ndarray, resid: np.ndarray) -> np.ndarray:
    """OLS standard errors of the kept coefficients (denominator held fixed)."""
    k = F.shape[1]
    if k == 0:
        return np.zeros(0)
    dof = max(F.shape[0] - k, 1)
    s2 = float(resid @ resid) / dof
    try:
        cov = s2 * np.linalg.pinv(F.T @ F)
    except np.linalg.LinAlgError:  # pragma: no cover - pinv converges for finite input
        return np.full(k, np.nan)
    return np.sqrt(np.clip(np.diag(cov), 0.0, None))
