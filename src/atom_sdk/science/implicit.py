"""Rational laws ``dx/dt = N(x, u) / D(x, u)`` by parallel implicit sparse regression (SINDy-PI).

A rational law is not sparse in any polynomial library, but multiplied out it is an *implicit*
law that is: ``D(x, u) xdot - N(x, u) = 0``, i.e. ``Theta_imp xi = 0`` with the implicit library
``Theta_imp = [Theta(x, u), xdot_i * Theta(x, u)]``. Following Kaheman, Kutz & Brunton (2020,
"SINDy-PI", Proc. R. Soc. A 476: 20200279) each column of ``Theta_imp`` in turn is taken as the
left-hand side and regressed sparsely (STLSQ over a threshold sweep) on all the others; this
avoids the trivial solution ``xi = 0`` without constraining which term carries the law. Every
(left-hand side, threshold) candidate is an implicit law linear in ``xdot_i``, so it is solved for
``xdot_i = N / D`` and scored by its *explicit* prediction error on held-out rows (interleaved
blocks never used for fitting); the simplest candidate within ``parsimony`` of the best error is
selected (fewest terms, then the lowest-degree denominator). For small libraries the candidate
pool also holds every small implicit support fitted by the Sanathanan-Koerner iteration (an
exhaustive version of the same sparse search, which under noise finds supports that the
thresholded fits, with noisy ``xdot`` on both sides, miss). A polynomial law therefore comes
back with ``D = 1`` (its ``xdot_i`` left-hand side is at least as sparse as any multiple of it),
as plain polynomial terms.

Why a separate estimator rather than an ``optimizer=`` of :func:`~atom_sdk.science.discover`:
the implicit library needs *pointwise* products ``xdot_i * theta_j(x, u)``, which the filtered
regression systems of :mod:`~atom_sdk.science.derivatives` cannot form (a filter of a product is
not the product of filters), and its result is not linear in the library terms, which a
``SparseResult`` must be. :class:`ImplicitDiscoverer` takes the same ``Library`` and
``Differentiation`` objects, has ``fit``/``predict`` like
:class:`~atom_sdk.science.estimator.LawDiscoverer`, and returns an ordinary
:class:`~atom_sdk.science.theory.Theory` (terms ``theta_k / D``), so the governor, ledger,
conformal intervals and planners use a rational law exactly as they use a sparse one.
"""

from __future__ import annotations

from dataclasses import dataclass
from collections.abc import Callable
from typing import Any

import numpy as np
import sympy

from atom_sdk.science.derivatives import Differentiation, smoothed_derivative
from atom_sdk.science.discover import prepare_trajectories, resolve_library
from atom_sdk.science.library import Library, Term, _lambdify_custom
from atom_sdk.science.sparse import stlsq
from atom_sdk.science.theory import Equation, Theory

__all__ = ["ImplicitCandidate", "ImplicitDiscoverer", "fit_implicit", "pointwise_rows", "rational_theory"]

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


def _hold_pieces(u: np.ndarray | None, n: int) -> list[tuple[int, int]]:
    """Sample ranges ``[a, b]`` (inclusive) over which the control is held (``u[a..b-1]`` equal):
    ``x`` is smooth inside each, so a derivative filter must not cross their ends."""
    if u is None or n < 2:
        return [(0, n - 1)]
    change = np.flatnonzero(np.any(u[1:-1] != u[:-2], axis=1)) + 1 if n > 2 else np.array([], int)
    starts = np.concatenate([[0], change])
    ends = np.concatenate([change, [n - 1]])
    return list(zip(starts.tolist(), ends.tolist()))


def pointwise_rows(
    xs: list[np.ndarray],
    ts: list[np.ndarray],
    us: list[np.ndarray] | None,
    differentiation: Differentiation | None = None,
    trim: int | None = None,
    min_fraction: float = 0.25,
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray]:
    """Samples with pointwise derivatives, stacked over trajectories.

    Returns ``x (K, n)``, ``xdot (K, n)``, ``u (K, m)`` or ``None`` and ``block (K,)`` (a block id
    per row for the held-out split). The Savitzky-Golay filter runs separately over each stretch
    where the control is held (a derivative filter across a control jump mixes two laws; see
    :mod:`~atom_sdk.science.derivatives`); ``trim`` samples at each end of a stretch (default
    half a window, when the stretch is long enough) are dropped, where the fit is one-sided.
    When such stretches hold under ``min_fraction`` of the samples (controls that change at
    almost every step), the rows are the interval midpoints with the interval slopes
    ``(x[i+1] - x[i]) / dt`` and ``u[i]``, exact for a held control to O(dt^2), but unsmoothed.
    """
    diff = differentiation if differentiation is not None else Differentiation()
    if diff.method != "smoothed_fd":
        raise ValueError(
            "pointwise rows need pointwise derivatives: use Differentiation(method='smoothed_fd'), or the weak "
            "form's rows (atom_sdk.science.implicit_weak.weak_implicit_rows) for Differentiation(method='weak')"
        )
    min_len = diff.sg_polyorder + 3
    X, XD, U, B = [], [], [], []
    n_blocks = 0
    n_total = sum(x.shape[0] for x in xs)
    pieces = [(k, a, b) for k, x in enumerate(xs) for a, b in _hold_pieces(None if us is None else us[k], x.shape[0])]
    use_pieces = sum(b - a + 1 for _, a, b in pieces if b - a + 1 >= min_len) >= min_fraction * n_total
    for k, (x, t) in enumerate(zip(xs, ts)):
        u = None if us is None else us[k]
        if not use_pieces:
            mid = 0.5 * (x[1:] + x[:-1])
            rows = [(mid, np.diff(x, axis=0) / np.diff(t)[:, None], None if u is None else u[:-1])]
        else:
            rows = []
            for kk, a, b in pieces:
                m = b - a + 1
                if kk != k or m < min_len:
                    continue
                w = min(diff.sg_window, m if m % 2 else m - 1)
                xd = smoothed_derivative(x[a : b + 1], t[a : b + 1], window=w, polyorder=diff.sg_polyorder)
                cut = w // 2 if trim is None else int(trim)
                lo, hi = (cut, m - cut) if m - 2 * cut >= 4 else (0, m)
                uu = None if u is None else np.repeat(u[a : a + 1], m, axis=0)  # the held control
                rows.append((x[a : b + 1][lo:hi], xd[lo:hi], None if uu is None else uu[lo:hi]))
        for xr, xdr, ur in rows:
            X.append(xr)
            XD.append(xdr)
            if us is not None:
                U.append(ur)
            blk = np.arange(xr.shape[0]) // max(diff.sg_window, 5)
            B.append(blk + n_blocks)
            n_blocks += int(blk.max()) + 1 if xr.shape[0] else 0
    if not X:
        raise ValueError("no stretch of the trajectories is long enough for pointwise derivatives")
    return (
        np.concatenate(X),
        np.concatenate(XD),
        None if us is None else np.concatenate(U),
        np.concatenate(B),
    )


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


def _candidates_for_target(
    theta: np.ndarray,
    xdot: np.ndarray,
    train: np.ndarray,
    names: list[str],
    target: int,
    thresholds: tuple[float, ...],
    powers: np.ndarray,
    max_subset: int = 0,
) -> list[ImplicitCandidate]:
    """All implicit candidates of one state variable on pointwise rows (see :func:`implicit_candidates`),
    scored by the explicit prediction ``N / D`` against ``xdot`` on the held-out rows."""
    test = ~train
    return implicit_candidates(
        theta, xdot[:, None] * theta, train, names, target, thresholds, powers, max_subset,
        lambda num, den: _nmse(_explicit(num, den, theta[test]), xdot[test]),
    )


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


def _polish(num: np.ndarray, den: np.ndarray, theta: np.ndarray, xdot: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Nonlinear least squares on the explicit residual ``xdot - N/D`` over the kept terms
    (the implicit fit weights rows by ``D``; this removes that bias under noise)."""
    from scipy.optimize import least_squares

    ni, di = np.flatnonzero(num), np.flatnonzero(den)
    fixed = di[-1]  # normalisation term stays 1
    free_d = di[:-1]
    th_n, th_d, th_f = theta[:, ni], theta[:, free_d], theta[:, fixed]

    def resid(v: np.ndarray) -> np.ndarray:
        d = th_f + th_d @ v[ni.size :]
        with np.errstate(all="ignore"):
            r = (th_n @ v[: ni.size]) / d - xdot
        return np.where(np.isfinite(r), r, 1e6)

    def jac(v: np.ndarray) -> np.ndarray:
        d = th_f + th_d @ v[ni.size :]
        with np.errstate(all="ignore"):
            q = (th_n @ v[: ni.size]) / d**2
            J = np.concatenate([th_n / d[:, None], -th_d * q[:, None]], axis=1)
        return np.where(np.isfinite(J), J, 0.0)

    v0 = np.concatenate([num[ni], den[free_d]])
    method = "lm" if v0.size <= theta.shape[0] else "trf"
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


def fit_implicit(
    library: Library,
    x: np.ndarray,
    xdot: np.ndarray,
    u: np.ndarray | None = None,
    block: np.ndarray | None = None,
    *,
    thresholds: tuple[float, ...] = _DEFAULT_THRESHOLDS,
    holdout_every: int = 4,
    parsimony: float = 0.25,
    tolerance: float = 1e-4,
    max_subset: int | None = None,
    polish: bool = True,
    metadata: dict[str, Any] | None = None,
) -> Theory:
    """SINDy-PI on pointwise samples ``x (K, n)``, ``xdot (K, n)`` (and ``u (K, m)``).

    Rows whose ``block`` id is a multiple of ``holdout_every`` are held out for model selection
    (default: blocks of 10 consecutive rows). ``max_subset`` bounds the exhaustive
    small-support search (default 5 terms when the implicit library has at most 8 columns,
    4 up to 12 columns, else off: its cost grows combinatorially). Returns a :class:`Theory` built by
    :func:`rational_theory`; ``metadata["candidates"]`` counts the candidates compared.
    """
    x = np.asarray(x, dtype=float)
    xdot = np.asarray(xdot, dtype=float).reshape(x.shape)
    if x.shape[0] < 2 * library.n_terms + 4:
        raise ValueError(f"{x.shape[0]} rows are too few for an implicit library of {2 * library.n_terms} terms")
    z = library.stack_inputs(x, u)
    theta = library.evaluate_inputs(z)
    block = np.arange(x.shape[0]) // 10 if block is None else np.asarray(block)
    train = (block % int(holdout_every)) != 0
    if train.all() or not train.any():
        raise ValueError("the held-out split is empty; pass more rows or a smaller holdout_every")
    powers = np.array([t.powers if t.kind == "poly" else (0,) * library.n_inputs for t in library.terms])
    if max_subset is None:
        max_subset = 5 if 2 * library.n_terms <= 8 else (4 if 2 * library.n_terms <= 12 else 0)
    chosen = []
    n_cands = 0
    for i in range(x.shape[1]):
        cands = _candidates_for_target(
            theta, xdot[:, i], train, library.names, i, tuple(thresholds), powers, int(max_subset)
        )
        n_cands += len(cands)
        best = _select(cands, parsimony, tolerance, powers)
        if polish and not best.is_polynomial:
            num, den = _polish(best.num, best.den, theta[train], xdot[train, i])
            err = _nmse(_explicit(num, den, theta[~train]), xdot[~train, i])
            if err <= best.error:
                best = ImplicitCandidate(best.target, best.lhs, best.threshold, num, den, err)
        chosen.append(best)
    meta = dict(metadata or {})
    meta.update(candidates=n_cands, heldout_nmse=[c.error for c in chosen])
    return rational_theory(library, chosen, z, xdot, meta)


class ImplicitDiscoverer:
    """fit/predict estimator for rational laws (SINDy-PI); see the module docstring.

    Parameters: ``library`` (a polynomial :class:`Library`; default degree 2 over
    ``x0, ...``/``u0, ...``; it spans both ``N`` and ``D``), ``differentiation`` (default, or
    ``method="weak"``: the weak form of :mod:`~atom_sdk.science.implicit_weak`, robust to
    measurement noise, its supports chosen on held-out windows unless ``weak_window`` is set;
    ``method="smoothed_fd"``: pointwise Savitzky-Golay derivatives, :func:`fit_implicit`),
    ``thresholds`` (the STLSQ sweep, on standardised coefficients), ``parsimony``/``tolerance``
    (relative / absolute held-out nMSE allowed for a simpler candidate; default tolerance
    ``1e-5`` in the weak form, whose integrals are exact to quadrature, ``1e-4`` pointwise, where
    the filter's own bias is that large), ``max_subset`` (exhaustive small-support search, see
    :func:`fit_implicit`), ``polish`` (explicit nonlinear least squares on the selected support,
    on every candidate support in the weak form).
    """

    def __init__(
        self,
        library: Library | None = None,
        differentiation: Differentiation | None = None,
        thresholds: tuple[float, ...] = _DEFAULT_THRESHOLDS,
        parsimony: float = 0.25,
        tolerance: float | None = None,
        max_subset: int | None = None,
        polish: bool = True,
    ) -> None:
        self.library = library
        self.differentiation = differentiation
        self.thresholds = tuple(float(v) for v in thresholds)
        self.parsimony = float(parsimony)
        self.tolerance = None if tolerance is None else float(tolerance)
        self.max_subset = max_subset
        self.polish = bool(polish)

    def fit(self, x: Any, t: Any, u: Any = None) -> ImplicitDiscoverer:
        xs, ts, us = prepare_trajectories(x, t, u)
        n_ctrl = 0 if us is None else us[0].shape[1]
        self.library_ = resolve_library(self.library, None, None, xs[0].shape[1], n_ctrl)
        diff = self.differentiation if self.differentiation is not None else Differentiation(method="weak")
        dt = float(np.diff(ts[0]).mean()) if ts[0].size > 1 else None
        meta = {"dt": dt, "n_trajectories": len(xs)}
        opts = dict(thresholds=self.thresholds, parsimony=self.parsimony, max_subset=self.max_subset, polish=self.polish)
        if diff.method == "weak":
            from atom_sdk.science.implicit_weak import fit_implicit_weak, weak_implicit_rows

            rows = weak_implicit_rows(self.library_, xs, ts, us, windows=diff.weak_window, order=diff.weak_order)
            meta["n_rows"] = rows.n_rows
            self.theory_ = fit_implicit_weak(
                self.library_, rows, tolerance=1e-5 if self.tolerance is None else self.tolerance, metadata=meta, **opts
            )
            return self
        X, XD, U, B = pointwise_rows(xs, ts, us, diff)
        meta.update(derivative="smoothed_fd", n_rows=int(X.shape[0]))
        self.theory_ = fit_implicit(
            self.library_, X, XD, U, B, tolerance=1e-4 if self.tolerance is None else self.tolerance, metadata=meta, **opts
        )
        return self

    def _check(self) -> Theory:
        if not hasattr(self, "theory_"):
            raise RuntimeError("ImplicitDiscoverer is not fitted yet; call fit(x, t, u) first")
        return self.theory_

    def predict(self, x: Any, u: Any = None) -> np.ndarray:
        """``dx/dt`` of the discovered law at ``x`` (and ``u``)."""
        return self._check().predict_derivative(np.asarray(x, dtype=float), None if u is None else np.asarray(u, dtype=float))

    def expressions(self) -> list[sympy.Expr]:
        """Explicit right-hand sides as sympy expressions ``N / D`` (``D`` omitted when constant)."""
        th = self._check()
        syms = {s.name: s for s in sympy.symbols(th.input_names)}
        return [sympy.sympify(th.metadata["expressions"][v], locals=syms) for v in th.variable_names]

    def equations(self, precision: int = 4) -> list[str]:
        return self._check().equation_strings(precision)
