"""Polishing the weak implicit fit's candidates: every support refitted on the weak explicit residual.

Why a step of its own: SINDy-PI's implicit fits (:mod:`~atom_sdk.science.implicit_core`) weight each
window by the law's denominator ``D``; under noise that favours an over-complete law whose ``N`` and
``D`` share a spurious factor over the true one. :func:`polish_supports` refits the best candidate of
each support by nonlinear least squares on ``int phi N/D dt - int phi xdot dt`` (no ``D`` weighting) and
re-scores it on the held-out windows, so that parsimony then compares like with like. It also offers
each law reduced: with negligible terms pruned, and (one input) with a near-common root of ``N`` and
``D``, a Froissart doublet, divided out. Used by :func:`~atom_sdk.science.implicit_weak.fit_implicit_weak`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import sparse

from atom_sdk.science.implicit_core import ImplicitCandidate, _normalise, polish_rational

__all__ = ["polish_supports"]


def _negligible(coef: np.ndarray, theta: np.ndarray, prune: float) -> np.ndarray:
    """Kept terms whose share of the polynomial ``theta @ coef`` (RMS over the data) is under ``prune``."""
    part = np.sqrt(np.mean((theta * coef) ** 2, axis=0))
    total = np.sqrt(np.mean((theta @ coef) ** 2))
    return (coef != 0) & (part < prune * max(total, 1e-300))


def _cancel_common_root(
    c: ImplicitCandidate, degrees: np.ndarray, tol: float = 0.01
) -> tuple[np.ndarray, np.ndarray] | None:
    """``N / D`` with the closest pair of real roots of ``N`` and ``D`` divided out when they lie
    within ``tol (1 + |r|)``, for a library of the powers ``degrees`` of one input (``None`` if
    there is no such pair or the quotients leave the library). Such a pair is a Froissart
    doublet: a pole that noise puts next to a zero, which cancels it almost everywhere (Gonnet,
    Guettel & Trefethen 2013, "Robust Pade approximation via SVD", SIAM Rev. 55: 101) and which
    otherwise lets an over-complete law fit the noise of the held-out windows."""
    top = int(degrees.max())
    N, D = np.zeros(top + 1), np.zeros(top + 1)
    np.add.at(N, degrees, c.num)
    np.add.at(D, degrees, c.den)
    N, D = np.trim_zeros(N[::-1], "f"), np.trim_zeros(D[::-1], "f")  # highest power first
    if len(N) < 2 or len(D) < 2:
        return None
    rn, rd = np.roots(N), np.roots(D)
    rn, rd = rn[np.abs(rn.imag) < 1e-9].real, rd[np.abs(rd.imag) < 1e-9].real
    if not rn.size or not rd.size:
        return None
    gap = np.abs(rn[:, None] - rd[None, :]) / (1.0 + np.abs(rd[None, :]))
    i, j = np.unravel_index(np.argmin(gap), gap.shape)
    if gap[i, j] > tol:
        return None
    r = 0.5 * (rn[i] + rd[j])
    qn, qd = np.polydiv(N, [1.0, -r])[0][::-1], np.polydiv(D, [1.0, -r])[0][::-1]  # lowest power first
    index = {int(d): k for k, d in enumerate(degrees)}
    num, den = np.zeros_like(c.num), np.zeros_like(c.den)
    for q, out in ((qn, num), (qd, den)):
        for d, v in enumerate(q):
            if v != 0:
                if d not in index:
                    return None
                out[index[d]] = v
    return num, den


def _best_of_each_support(
    finite: list[ImplicitCandidate], tolerance: float, keep: float, max_supports: int
) -> list[ImplicitCandidate]:
    """The best candidate of each distinct support, best first: those with a held-out error over ``keep``
    times the best (or than ``tolerance``) dropped, at most ``max_supports`` kept."""
    best_err = min(c.error for c in finite)
    by_support: dict[tuple[bytes, bytes], ImplicitCandidate] = {}
    for c in finite:
        if c.error > keep * max(best_err, tolerance):
            continue
        key = ((c.num != 0).tobytes(), (c.den != 0).tobytes())
        if key not in by_support or c.error < by_support[key].error:
            by_support[key] = c
    return sorted(by_support.values(), key=lambda c: c.error)[: int(max_supports)]


def _polished(c: ImplicitCandidate, done: list[ImplicitCandidate], theta: np.ndarray, b: np.ndarray,
              H: sparse.csr_matrix, score: Any) -> ImplicitCandidate:
    """``c`` refitted on its support by :func:`polish_rational`, from its own coefficients and from the best
    polished law in ``done`` on a subset of its terms (the rational fit is not convex); kept where it scores
    no worse on the held-out windows."""
    if c.is_polynomial:
        return c
    support = (np.flatnonzero(c.num), np.flatnonzero(c.den))
    top = support[1][-1]
    starts = [(c.num, c.den)]
    subs = [d for d in done if d.den[top] != 0 and not ((d.num != 0) & (c.num == 0)).any()
            and not ((d.den != 0) & (c.den == 0)).any() and d.n_terms < c.n_terms]
    if subs:
        best_sub = min(subs, key=lambda d: d.error)
        starts.append((best_sub.num, best_sub.den))
    for n0, d0 in starts:
        num, den = polish_rational(n0, d0, theta, b, H, support)
        err = score(num, den)
        if err <= c.error:
            c = ImplicitCandidate(c.target, c.lhs, c.threshold, num, den, err)
    return c


def _root_cancelled(c: ImplicitCandidate, degrees: np.ndarray | None,
                    powers: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """``c`` with a Froissart doublet divided out (:func:`_cancel_common_root`), normalised; None if none."""
    if degrees is None or c.is_polynomial:
        return None
    reduced = _cancel_common_root(c, degrees)
    return None if reduced is None else _normalise(*reduced, powers)


def _pruned(c: ImplicitCandidate, th_used: np.ndarray, prune: float,
            powers: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """``c`` without its terms under ``prune`` of ``N`` or ``D`` (:func:`_negligible`), normalised; None when
    no term is negligible or the denominator would vanish."""
    drop_n, drop_d = _negligible(c.num, th_used, prune), _negligible(c.den, th_used, prune)
    if not ((drop_n.any() or drop_d.any()) and np.count_nonzero(c.den * ~drop_d)):
        return None
    return _normalise(np.where(drop_n, 0.0, c.num), np.where(drop_d, 0.0, c.den), powers)


def polish_supports(
    cands: list[ImplicitCandidate],
    theta: np.ndarray,
    H: sparse.csr_matrix,
    b: np.ndarray,
    score: Any,
    tolerance: float,
    powers: np.ndarray,
    keep: float = 10.0,
    prune: float = 1e-3,
    degrees: np.ndarray | None = None,
    max_supports: int = 40,
) -> list[ImplicitCandidate]:
    """The best candidate of each distinct support, each polished by :func:`_polished` and
    re-scored (the polished fit replaces it where it predicts the held-out windows better).

    Why every support and not only the selected one: the implicit fits weight windows by ``D``,
    which under noise penalises the true support more than an over-complete one whose
    ``N`` and ``D`` share a spurious factor; comparing explicit fits removes that bias before
    parsimony chooses. Supports with a held-out error over ``keep`` times the best (or than
    ``tolerance``, at noise 0) are dropped, and only the ``max_supports`` best are kept (on
    lawless data every support scores alike, and each polish costs a nonlinear fit). A polished law with terms under ``prune`` of its
    ``N`` or ``D`` (RMS over the data) also enters without them (their common factor cancelled),
    refitted: data integrated to a finite accuracy otherwise make ``x N / x D`` with a tiny
    extra term look better than ``N / D``. For a library over one input, a law with a near-common
    real root of ``N`` and ``D`` enters *only* reduced (:func:`_cancel_common_root`). Supports are polished fewest terms first, each also
    from the best polished law on a subset of its terms (a superset can then fit no worse)."""
    finite = [c for c in cands if np.isfinite(c.error)]
    if not finite:
        return cands
    ranked = _best_of_each_support(finite, tolerance, keep, max_supports)
    th_used = theta[np.asarray(H.sum(axis=0)).ravel() > 0]
    out: list[ImplicitCandidate] = []

    def variant(c: ImplicitCandidate, how: str, law: tuple[np.ndarray, np.ndarray]) -> ImplicitCandidate:
        num, den = law
        return _polished(ImplicitCandidate(c.target, c.lhs + how, c.threshold, num, den, score(num, den)),
                         out, theta, b, H, score)

    for c in sorted(ranked, key=lambda c: c.n_terms):  # sub-laws first
        c = _polished(c, out, theta, b, H, score)
        cancelled = _root_cancelled(c, degrees, powers)
        if cancelled is not None:  # a Froissart doublet: the law is the reduced one, not a new law
            out.append(variant(c, " (root cancelled)", cancelled))
            continue
        out.append(c)
        pruned = _pruned(c, th_used, prune, powers)
        if pruned is not None:
            out.append(variant(c, " (pruned)", pruned))
    return out
