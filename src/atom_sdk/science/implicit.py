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

Measurement noise: this module fits *pointwise* Savitzky-Golay derivatives, whose noise enters
both sides of ``D xdot = N`` and the held-out score; it loses Michaelis-Menten's support from
1 % noise (of the pooled standard deviation). :mod:`~atom_sdk.science.implicit_weak` fits the same
candidates in the weak (integral) form, with no pointwise derivative, and is what
:class:`ImplicitDiscoverer` uses unless ``Differentiation(method="smoothed_fd")`` is passed.

Why a separate estimator rather than an ``optimizer=`` of :func:`~atom_sdk.science.discover`:
the implicit library needs products ``xdot_i * theta_j(x, u)``, which the filtered regression
systems of :mod:`~atom_sdk.science.derivatives` cannot form (a filter of a product is not the
product of filters; the weak form integrates them by parts instead), and its result is not
linear in the library terms, which a ``SparseResult`` must be. :class:`ImplicitDiscoverer` takes the same ``Library`` and
``Differentiation`` objects, has ``fit``/``predict`` like
:class:`~atom_sdk.science.estimator.LawDiscoverer`, and returns an ordinary
:class:`~atom_sdk.science.theory.Theory` (terms ``theta_k / D``), so the governor, ledger,
conformal intervals and planners use a rational law exactly as they use a sparse one.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import sympy

from atom_sdk.science.derivatives import Differentiation, smoothed_derivative
from atom_sdk.science.discover import prepare_trajectories, resolve_library
from atom_sdk.science.implicit_core import (
    _DEFAULT_THRESHOLDS,
    ImplicitCandidate,
    polish_rational,
    _explicit,
    _nmse,
    _select,
    implicit_candidates,
    rational_theory,
)
from atom_sdk.science.implicit_weak import fit_implicit_weak, weak_implicit_rows
from atom_sdk.science.library import Library
from atom_sdk.science.theory import Theory

__all__ = ["ImplicitCandidate", "ImplicitDiscoverer", "fit_implicit", "pointwise_rows", "rational_theory"]

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
            num, den = polish_rational(best.num, best.den, theta[train], xdot[train, i])
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
