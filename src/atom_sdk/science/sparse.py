"""Sequentially thresholded least squares (STLSQ) with ensembling and model selection.

Everything is solved on Gram matrices and batched with ``numpy.linalg.solve`` over
(ensemble members | thresholds | folds) x targets, so a full fit with a threshold path,
model selection and a 20-member ensemble takes a few milliseconds for small libraries.

Thresholds act on *standardised* coefficients: the library columns and the targets are
divided by their root-mean-square before regression, so ``threshold=0.05`` means "drop a
term whose typical contribution is below 5 % of the typical size of the derivative". This
makes the threshold independent of the units of the observables (a raw-coefficient
threshold of 0.05 would remove the ``-0.04 A`` decay of a Taylor-Green mode).

Model selection (``selection``):

* ``"none"``: use ``threshold`` as is.
* ``"aic"`` / ``"bic"``: run STLSQ along a threshold path (geometric grid from 1e-4 to 1 times
  the largest standardised least-squares coefficient, plus 0 and ``threshold``), score each
  support with ``n_eff * log(MSE) + 2k`` (AIC) or ``+ k log(n_eff)`` (BIC) where ``n_eff`` is
  the effective number of independent rows of the filtered system, plus the small-sample
  correction ``2k(k+1)/(n_eff-k-1)`` of AICc (infinite once ``k >= n_eff - 1``), and keep
  the best.
* ``"cv"``: K-fold cross-validation over contiguous blocks of rows (rows within the filter
  span of the test block are left out of training), with the one-standard-error rule
  towards sparser models.

Columns that are exact linear combinations of earlier library terms in the data (e.g. ``u`` and
``u^2`` when the control was constant over the window) are left out of the fit, keeping the
lower-order term, instead of splitting their effect arbitrarily.

The chosen threshold is moved to the log-centre of the interval of thresholds giving the
selected support, then (``ensembled=True``) STLSQ is re-run on ``ensemble_size`` bootstrap
resamples of the rows (bagging; optionally also dropping a random subset of library terms
per member, "library bagging"). Inclusion probabilities are the fraction of members that keep
a term (with library bagging a dropped term counts as not kept, so a true term's inclusion is
about ``1 - library_drop_fraction``, and the coefficients then come from a second, row-bagging
round on the terms kept by library bagging: E-SINDy's "double bagging"); coefficients are the
median (or mean) over members, zeroed for terms kept by fewer than ``inclusion_threshold`` of
the members; the coefficient std is the spread over members.
With ``ensembled=False`` a single STLSQ fit is returned with OLS standard errors (scaled by
the effective number of rows) and 0/1 inclusion.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np

from atom_sdk.science.derivatives import RegressionSystem

__all__ = ["SparseRegressor", "SparseResult", "stlsq", "stlsq_gram", "SELECTION_METHODS"]

SELECTION_METHODS = ("none", "aic", "bic", "cv")

#: Relative resolution floor of the information criteria: a residual mean square below
#: ``MSE_FLOOR`` times the target's mean square (RMS error under ~0.3%) counts as an exact fit.
#: Without it, noise-free data rewards extra terms that only fit the derivative estimator's own
#: bias (e.g. eight spurious cubic terms on a Van der Pol limit cycle), because log(MSE) keeps
#: falling as MSE approaches round-off.
MSE_FLOOR = 1e-5


def stlsq_gram(
    G: np.ndarray,
    R: np.ndarray,
    lam: np.ndarray | float,
    avail: np.ndarray,
    *,
    ridge: float = 1e-10,
    max_iter: int = 25,
) -> tuple[np.ndarray, np.ndarray]:
    """Batched STLSQ on Gram matrices.

    ``G (S, p, p)``, ``R (S, T, p)`` (``X^T y / n`` per target), ``lam`` broadcastable to
    ``(S, T)``, ``avail`` ``(S, p)`` or ``(S, T, p)`` boolean (terms allowed). Returns the
    coefficients ``(S, T, p)`` (least squares on the final support, zero elsewhere) and the
    support mask.
    """
    S, T, p = R.shape
    m = np.broadcast_to(avail[:, None, :] if avail.ndim == 2 else avail, (S, T, p)).copy()
    lam_b = np.broadcast_to(np.asarray(lam, dtype=float), (S, T))[..., None]
    diag = np.arange(p)

    def solve(mask: np.ndarray, coef: np.ndarray | None = None, which: np.ndarray | None = None) -> np.ndarray:
        # only re-solve the (batch, target) systems whose support changed
        if which is None:
            msk, Gs, Rs = mask, G[:, None, :, :], R
        else:
            si, ti = np.nonzero(which)
            msk, Gs, Rs = mask[si, ti], G[si], R[si, ti]
        mm = msk[..., :, None] & msk[..., None, :]
        A = Gs * mm
        A[..., diag, diag] += np.where(msk, ridge, 1.0)
        b = np.where(msk, Rs, 0.0)
        sol = np.linalg.solve(A, b[..., None])[..., 0]
        if which is None:
            return sol
        out = coef.copy()  # type: ignore[union-attr]
        out[si, ti] = sol
        return out

    coef = solve(m)
    converged = False
    for _ in range(max_iter):
        new_m = m & (np.abs(coef) >= lam_b)
        changed = np.any(new_m != m, axis=-1)
        if not changed.any():
            converged = True
            break
        m = new_m
        coef = solve(m, coef, changed)
    if not converged:
        coef = solve(m)
    return np.where(m, coef, 0.0), m


def _mse(G: np.ndarray, R: np.ndarray, yy: np.ndarray, coef: np.ndarray) -> np.ndarray:
    """Mean squared residual per (batch, target) from Gram quantities; coef (..., T, p)."""
    gx = np.einsum("...pq,...tq->...tp", G, coef)
    return np.maximum(yy - 2.0 * np.sum(coef * R, axis=-1) + np.sum(coef * gx, axis=-1), 0.0)


@dataclass
class SparseResult:
    """Outcome of :meth:`SparseRegressor.fit` (all arrays target-major: ``(n_targets, n_terms)``)."""

    coef: np.ndarray
    coef_std: np.ndarray
    inclusion: np.ndarray
    support: np.ndarray
    threshold: np.ndarray
    r2: np.ndarray
    rmse: np.ndarray
    ensemble_coef: np.ndarray | None = None
    path_thresholds: np.ndarray | None = None
    path_support: np.ndarray | None = None
    path_score: np.ndarray | None = None
    info: dict[str, Any] = field(default_factory=dict)


@dataclass
class _Scaled:
    """A regression problem on standardised columns and targets, with its Gram quantities.

    ``X = theta / s_col`` and ``Y = y / s_y`` (root-mean-square scaling), ``G = X^T X / K``,
    ``R = (X^T Y / K)^T`` ``(T, p)``, ``yy`` the mean square of each standardised target, and
    ``avail`` the terms allowed in the fit (non-zero, requested, not collinear).
    """

    X: np.ndarray
    Y: np.ndarray
    s_col: np.ndarray
    s_y: np.ndarray
    avail: np.ndarray
    collinear: np.ndarray
    G: np.ndarray
    R: np.ndarray
    yy: np.ndarray


def _check_system(theta: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
    """``theta (K, p)`` and ``y (K, T)`` as float arrays; raises on mismatched, tiny or non-finite input."""
    theta = np.asarray(theta, dtype=float)
    y = np.asarray(y, dtype=float)
    if y.ndim == 1:
        y = y[:, None]
    K = theta.shape[0]
    if y.shape[0] != K:
        raise ValueError(f"theta has {K} rows but y has {y.shape[0]}")
    if K < 2:
        raise ValueError("need at least 2 rows to fit")
    if not (np.all(np.isfinite(theta)) and np.all(np.isfinite(y))):
        raise ValueError("non-finite values in the regression system (NaN/Inf in data?)")
    return theta, y


def _standardise(theta: np.ndarray, y: np.ndarray, available: np.ndarray | None, collinearity_tol: float) -> _Scaled:
    """Scale columns and targets to unit root-mean-square and drop constant-zero and collinear terms."""
    K = theta.shape[0]
    s_col = np.sqrt(np.mean(theta**2, axis=0))
    avail = s_col > 1e-12 * max(float(s_col.max(initial=0.0)), 1e-300)
    if available is not None:
        avail &= np.asarray(available, dtype=bool)
    s_col = np.where(avail, s_col, 1.0)
    s_y = np.sqrt(np.mean(y**2, axis=0))
    s_y = np.where(s_y > 0, s_y, 1.0)
    X = theta / s_col
    Y = y / s_y
    G = X.T @ X / K
    R = (X.T @ Y / K).T  # (T, p)
    yy = np.mean(Y**2, axis=0)  # (T,)
    collinear = _collinear_columns(G, avail, collinearity_tol)
    avail &= ~collinear
    return _Scaled(X, Y, s_col, s_y, avail, collinear, G, R, yy)


def _information_scores(
    sc: _Scaled, coefs: np.ndarray, k: np.ndarray, n_eff: float, selection: str
) -> tuple[np.ndarray, np.ndarray]:
    """AIC/BIC (with the AICc small-sample correction) along the path, and the rows within
    round-off of the best score per target (see the module docstring)."""
    mse = _mse(sc.G[None], sc.R[None], sc.yy[None], coefs)
    mse = np.maximum(mse, MSE_FLOOR * sc.yy[None])
    pen = 2.0 if selection == "aic" else np.log(max(n_eff, 2.0))
    # small-sample (AICc-style) correction: the filtered rows carry only ~n_eff
    # independent residuals, so supports with k close to n_eff must not win
    denom = n_eff - k - 1.0
    corr = np.where(denom > 0, 2.0 * k * (k + 1.0) / np.where(denom > 0, denom, 1.0), np.inf)
    score = n_eff * np.log(mse) + pen * k + corr
    best = score.min(axis=0)
    ok = score <= best[None, :] + 1e-9 * np.abs(best[None, :]) + 1e-12
    return score, ok


def _goodness(theta: np.ndarray, y: np.ndarray, coef: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``R^2`` (1 for an exactly fitted constant target) and RMSE per target of ``theta @ coef.T``."""
    resid = y - theta @ coef.T
    ss_res = np.sum(resid**2, axis=0)
    ss_tot = np.sum((y - y.mean(axis=0)) ** 2, axis=0)
    r2 = np.where(ss_tot > 0, 1.0 - ss_res / np.where(ss_tot > 0, ss_tot, 1.0), np.where(ss_res <= 1e-24, 1.0, 0.0))
    return r2, np.sqrt(ss_res / theta.shape[0])


#: ``str`` annotations of :class:`SparseRegressor` fields -> the cast applied on construction
_CASTS = {"float": float, "int": int, "bool": bool}


@dataclass(kw_only=True)
class SparseRegressor:
    """Ensembled / single-fit STLSQ with threshold-path model selection (see module docstring).

    The optimiser of a discovery: ``threshold``, ``selection`` (``"none" | "aic" | "bic" |
    "cv"``) over ``n_thresholds`` path points (``cv_folds`` folds, ``one_se_rule``), the
    bagging ensemble (``ensembled``, ``ensemble_size``, ``library_bagging``,
    ``library_drop_fraction``, ``inclusion_threshold``, ``aggregate`` ``"median" | "mean"``)
    and the numerics (``ridge``, ``max_iter``, ``collinearity_tol``).
    """

    threshold: float = 0.05
    selection: str = "bic"
    n_thresholds: int = 24
    ensembled: bool = True
    ensemble_size: int = 20
    library_bagging: bool = False
    library_drop_fraction: float = 0.2
    inclusion_threshold: float = 0.5
    aggregate: str = "median"
    cv_folds: int = 5
    one_se_rule: bool = True
    ridge: float = 1e-10
    max_iter: int = 25
    collinearity_tol: float = 1e-9

    def __post_init__(self) -> None:
        if self.selection not in SELECTION_METHODS:
            raise ValueError(f"selection must be one of {SELECTION_METHODS}, got {self.selection!r}")
        if self.aggregate not in ("median", "mean"):
            raise ValueError("aggregate must be 'median' or 'mean'")
        if self.threshold < 0:
            raise ValueError("threshold must be >= 0")
        if self.ensembled and self.ensemble_size < 2:
            raise ValueError("ensemble_size must be >= 2 when ensembled")
        for f in fields(self):
            cast = _CASTS.get(str(f.type))
            if cast is not None:
                setattr(self, f.name, cast(getattr(self, f.name)))

    # ------------------------------------------------------------------ public
    def fit_system(self, system: RegressionSystem, rng: np.random.Generator | None = None) -> SparseResult:
        return self.fit(
            system.rhs,
            system.lhs,
            n_eff=system.n_eff,
            row_pos=system.row_pos,
            row_group=system.row_group,
            span=system.span,
            block_length=system.span / max(system.stride, 1),
            rng=rng,
        )

    def fit(
        self,
        theta: np.ndarray,
        y: np.ndarray,
        *,
        n_eff: float | None = None,
        row_pos: np.ndarray | None = None,
        row_group: np.ndarray | None = None,
        span: int = 0,
        available: np.ndarray | None = None,
        block_length: float | None = None,
        rng: np.random.Generator | None = None,
    ) -> SparseResult:
        """Fit ``y (K, T) ~= theta (K, p) @ coef.T``; returns a :class:`SparseResult`.

        ``block_length`` (rows) switches the bagging to a moving-block bootstrap, which keeps
        the uncertainty honest when neighbouring rows share samples (filtered systems).
        """
        theta, y = _check_system(theta, y)
        K = theta.shape[0]
        rng = rng if rng is not None else np.random.default_rng(0)
        n_eff = float(K if n_eff is None else min(max(n_eff, 1.0), K))
        row_pos = np.arange(K) if row_pos is None else np.asarray(row_pos)
        row_group = np.zeros(K, dtype=int) if row_group is None else np.asarray(row_group)
        sc = _standardise(theta, y, available, self.collinearity_tol)
        info: dict[str, Any] = {
            "n_rows": K,
            "n_eff": n_eff,
            "selection": self.selection,
            "collinear_terms": np.flatnonzero(sc.collinear).tolist(),
        }
        if self.selection == "none":
            lam_sel, path = np.full(y.shape[1], self.threshold), (None, None, None)
        else:
            lam_sel, path = self._select_thresholds(sc, n_eff, row_pos, row_group, span, info)
        coef_n, std_n, incl, sup, ens_n = self._final_fit(sc, lam_sel, n_eff, rng, block_length, info)
        scale = sc.s_y[:, None] / sc.s_col[None, :]
        coef = coef_n * scale
        r2, rmse = _goodness(theta, y, coef)
        return SparseResult(
            coef=coef,
            coef_std=std_n * scale,
            inclusion=incl,
            support=sup.astype(bool),
            threshold=lam_sel,
            r2=r2,
            rmse=rmse,
            ensemble_coef=None if ens_n is None else ens_n * scale[None],
            path_thresholds=path[0],
            path_support=path[1],
            path_score=path[2],
            info=info,
        )

    # ------------------------------------------------------------------ steps of fit
    def _select_thresholds(
        self, sc: _Scaled, n_eff: float, row_pos: np.ndarray, row_group: np.ndarray, span: int, info: dict[str, Any]
    ) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Model selection along the threshold path: the selected threshold per target and the
        path ``(thresholds (L, T), supports (L, T, p), scores (L, T))``."""
        G, R, avail = sc.G, sc.R, sc.avail
        T, p = R.shape
        c0, _ = stlsq_gram(G[None], R[None], 0.0, avail[None], ridge=self.ridge, max_iter=1)
        lmax = np.maximum(np.abs(c0[0]).max(axis=1), 1e-12)  # (T,)
        grid = np.geomspace(1e-4, 1.0, self.n_thresholds)
        lams = np.vstack([np.zeros(T), grid[:, None] * lmax[None, :], np.full(T, self.threshold)])  # (L, T)
        L = lams.shape[0]
        coefs, sup = stlsq_gram(
            np.broadcast_to(G, (L, p, p)),
            np.broadcast_to(R, (L, T, p)),
            lams,
            np.broadcast_to(avail, (L, p)),
            ridge=self.ridge,
            max_iter=self.max_iter,
        )
        if self.selection in ("aic", "bic"):
            score, ok = _information_scores(sc, coefs, sup.sum(axis=-1), n_eff, self.selection)
        else:
            score, se = self._cv_scores(sc.X, sc.Y, avail, lams, row_pos, row_group, span)
            best_i = np.argmin(score, axis=0)
            best = score[best_i, np.arange(T)]
            tol = se[best_i, np.arange(T)] if self.one_se_rule else 0.0
            ok = score <= best[None, :] + tol + 1e-12 * np.abs(best[None, :])
        # among acceptable thresholds prefer the largest (sparsest)
        sel_row = np.array([int(np.argmax(np.where(ok[:, t], lams[:, t], -np.inf))) for t in range(T)])
        lam_sel = np.array([self._centre(lams[:, t], sup[:, t], sel_row[t]) for t in range(T)])
        info["selected_path_row"] = sel_row.tolist()
        return lam_sel, (lams, sup, score)

    def _final_fit(
        self,
        sc: _Scaled,
        lam_sel: np.ndarray,
        n_eff: float,
        rng: np.random.Generator,
        block_length: float | None,
        info: dict[str, Any],
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
        """Standardised ``(coef, coef_std, inclusion, support, ensemble coefs or None)`` at the
        selected thresholds: the bagging ensemble, or one STLSQ fit with OLS standard errors."""
        if self.ensembled:
            block = max(1, int(round(block_length))) if block_length else 1
            info["bootstrap_block"] = block
            return self._ensemble(sc.X, sc.Y, sc.avail, lam_sel, rng, block)
        G, R = sc.G, sc.R
        coef_n, sup = stlsq_gram(
            G[None], R[None], lam_sel[None], sc.avail[None], ridge=self.ridge, max_iter=self.max_iter
        )
        coef_n, sup = coef_n[0], sup[0]
        std_n = self._ols_std(G, R, sc.yy, coef_n, sup, n_eff)
        return coef_n, std_n, sup.astype(float), sup, None

    # ------------------------------------------------------------------ internals
    @staticmethod
    def _centre(lams: np.ndarray, sups: np.ndarray, row: int) -> float:
        """Log-centre of the threshold interval that yields the support of path row ``row``."""
        order = np.argsort(lams, kind="stable")
        ls = lams[order]
        ss = sups[order]
        pos = int(np.where(order == row)[0][0])
        target = ss[pos]
        lo = pos
        while lo > 0 and np.array_equal(ss[lo - 1], target):
            lo -= 1
        hi = pos
        while hi < len(ls) - 1 and np.array_equal(ss[hi + 1], target):
            hi += 1
        run_lo, run_hi = ls[lo], ls[hi]
        lo_ext = np.sqrt(ls[lo - 1] * run_lo) if lo > 0 and ls[lo - 1] > 0 else run_lo
        hi_ext = np.sqrt(run_hi * ls[hi + 1]) if hi < len(ls) - 1 else run_hi
        if lo_ext <= 0:
            return float(run_hi) if run_hi > 0 else 0.0
        return float(np.sqrt(lo_ext * hi_ext))

    def _cv_scores(self, X, Y, avail, lams, row_pos, row_group, span):
        K, p = X.shape
        T = Y.shape[1]
        L = lams.shape[0]
        F = int(min(self.cv_folds, max(2, K // 4)))
        order = np.lexsort((row_pos, row_group))
        blocks = np.array_split(order, F)
        train_w = np.ones((F, K))
        test_w = np.zeros((F, K))
        for f, blk in enumerate(blocks):
            test_w[f, blk] = 1.0
            train_w[f, blk] = 0.0
            for g in np.unique(row_group[blk]):
                pos = row_pos[blk][row_group[blk] == g]
                near = (row_group == g) & (row_pos >= pos.min() - span) & (row_pos <= pos.max() + span)
                train_w[f, near] = 0.0
        ntr = np.maximum(train_w.sum(axis=1), 1.0)
        nte = np.maximum(test_w.sum(axis=1), 1.0)
        Xtr = X.T[None] * train_w[:, None, :]
        Xte = X.T[None] * test_w[:, None, :]
        Gtr = Xtr @ X / ntr[:, None, None]
        Rtr = (Xtr @ Y).transpose(0, 2, 1) / ntr[:, None, None]
        Gte = Xte @ X / nte[:, None, None]
        Rte = (Xte @ Y).transpose(0, 2, 1) / nte[:, None, None]
        yyte = np.einsum("fk,kt->ft", test_w, Y**2) / nte[:, None]
        Gb = np.repeat(Gtr, L, axis=0)  # (F*L, p, p)
        Rb = np.repeat(Rtr, L, axis=0)
        lam_b = np.tile(lams, (F, 1))  # (F*L, T)
        coefs, _ = stlsq_gram(
            Gb, Rb, lam_b, np.broadcast_to(avail, (F * L, p)), ridge=self.ridge, max_iter=self.max_iter
        )
        coefs = coefs.reshape(F, L, T, p)
        mse = _mse(Gte[:, None], Rte[:, None], yyte[:, None], coefs)  # (F, L, T)
        mse = np.maximum(mse, MSE_FLOOR * yyte[:, None])  # an exact fit is exact: round-off picks no terms
        mean = mse.mean(axis=0)
        se = mse.std(axis=0, ddof=1) / np.sqrt(F) if F > 1 else np.zeros_like(mean)
        return mean, se

    def _ensemble(self, X, Y, avail, lam_sel, rng, block):
        K, p = X.shape
        B = self.ensemble_size
        counts = _bootstrap_counts(K, B, block, rng)  # (B, K)
        XtW = X.T[None, :, :] * counts[:, None, :]  # (B, p, K)
        Gb = XtW @ X / K
        Rb = (XtW @ Y / K).transpose(0, 2, 1)
        av = np.broadcast_to(avail, (B, p)).copy()
        if self.library_bagging:
            idx = np.flatnonzero(avail)
            n_drop = int(round(self.library_drop_fraction * len(idx)))
            n_drop = min(max(n_drop, 1), max(len(idx) - 1, 0))
            for b in range(B):
                if n_drop:
                    av[b, rng.choice(idx, size=n_drop, replace=False)] = False
        T = Y.shape[1]
        coefs, sups = stlsq_gram(Gb, Rb, lam_sel[None, :], av, ridge=self.ridge, max_iter=self.max_iter)
        # inclusion over all members: a term dropped from a member's library counts as excluded
        # (as in PySINDy's EnsembleOptimizer); coefficients aggregate over the members that had it
        incl = sups.sum(axis=0) / B  # (T, p)
        if self.library_bagging:
            # E-SINDy double bagging: library bagging picks the support, then row bagging on
            # the reduced library gives unbiased coefficients and their spread
            keep = (incl >= self.inclusion_threshold) & avail[None, :]
            coefs, _ = stlsq_gram(
                Gb, Rb, lam_sel[None, :], np.broadcast_to(keep, (B, T, p)), ridge=self.ridge, max_iter=self.max_iter
            )
        agg = np.median(coefs, axis=0) if self.aggregate == "median" else np.mean(coefs, axis=0)
        std = np.std(coefs, axis=0, ddof=1)
        support = (incl >= self.inclusion_threshold) & avail[None, :] & (agg != 0.0)
        coef = np.where(support, agg, 0.0)
        return coef, std, incl, support, coefs

    def _ols_std(self, G, R, yy, coef, sup, n_eff):
        T, p = coef.shape
        std = np.zeros((T, p))
        mse = _mse(G, R, yy, coef)
        for t in range(T):
            idx = np.flatnonzero(sup[t])
            if idx.size == 0:
                continue
            Gs = G[np.ix_(idx, idx)] + self.ridge * np.eye(idx.size)
            try:
                inv = np.linalg.inv(Gs)
            except np.linalg.LinAlgError:  # pragma: no cover - ridge keeps this invertible
                inv = np.linalg.pinv(Gs)
            dof = max(n_eff - idx.size, 1.0)
            std[t, idx] = np.sqrt(np.maximum(np.diag(inv), 0.0) * mse[t] / dof)
        return std


def _collinear_columns(G: np.ndarray, avail: np.ndarray, tol: float) -> np.ndarray:
    """Columns that are (numerically) linear combinations of *earlier* available columns.

    Incremental Cholesky of the standardised Gram matrix in library order, so that e.g. with a
    constant control the bias ``1`` is kept and ``u``, ``u^2`` are dropped instead of splitting the
    constant arbitrarily between them.
    """
    p = G.shape[0]
    drop = np.zeros(p, dtype=bool)
    kept: list[int] = []
    L = np.zeros((p, p))
    for j in range(p):
        if not avail[j]:
            continue
        if kept:
            k = np.array(kept)
            lk = L[np.ix_(k, k)]
            v = np.linalg.solve(lk, G[k, j]) if lk.size else np.zeros(0)
            d = G[j, j] - float(v @ v)
        else:
            v = np.zeros(0)
            d = G[j, j]
        if d <= tol * max(G[j, j], 1e-300):
            drop[j] = True
            continue
        if kept:
            L[j, np.array(kept)] = v
        L[j, j] = np.sqrt(d)
        kept.append(j)
    return drop


def _bootstrap_counts(K: int, B: int, block: int, rng: np.random.Generator) -> np.ndarray:
    """Resampling counts ``(B, K)``: iid rows (``block=1``) or a moving-block bootstrap."""
    if block <= 1 or block >= K:
        return rng.multinomial(K, np.full(K, 1.0 / K), size=B).astype(float)
    n_blocks = -(-K // block)
    starts = rng.integers(0, K - block + 1, size=(B, n_blocks))
    idx = (starts[:, :, None] + np.arange(block)[None, None, :]).reshape(B, -1)[:, :K]
    counts = np.zeros((B, K))
    np.add.at(counts, (np.repeat(np.arange(B), idx.shape[1]), idx.ravel()), 1.0)
    return counts


def stlsq(
    theta: np.ndarray,
    y: np.ndarray,
    threshold: float = 0.05,
    *,
    normalize: bool = True,
    ridge: float = 1e-10,
    max_iter: int = 25,
) -> np.ndarray:
    """Plain single-threshold STLSQ; returns coefficients ``(n_targets, n_terms)``.

    With ``normalize=True`` the threshold acts on standardised coefficients (see module
    docstring); with ``False`` on raw coefficients, like PySINDy's ``STLSQ(alpha=0)``.
    """
    theta = np.asarray(theta, dtype=float)
    y = np.asarray(y, dtype=float)
    if y.ndim == 1:
        y = y[:, None]
    K, p = theta.shape
    s_col = np.sqrt(np.mean(theta**2, axis=0)) if normalize else np.ones(p)
    s_col = np.where(s_col > 0, s_col, 1.0)
    s_y = np.sqrt(np.mean(y**2, axis=0)) if normalize else np.ones(y.shape[1])
    s_y = np.where(s_y > 0, s_y, 1.0)
    X = theta / s_col
    Y = y / s_y
    G = X.T @ X / K
    R = (X.T @ Y / K).T
    coef, _ = stlsq_gram(G[None], R[None], threshold, np.ones((1, p), bool), ridge=ridge, max_iter=max_iter)
    return coef[0] * s_y[:, None] / s_col[None, :]
