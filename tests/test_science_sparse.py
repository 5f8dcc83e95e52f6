"""Sequentially thresholded least squares, ensembling and threshold-path model selection."""

from __future__ import annotations

import numpy as np
import pysindy as ps
import pytest

from atom_sdk.science.sparse import SparseRegressor, stlsq, stlsq_gram


def make_problem(n=400, p=12, noise=0.02, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, p)) * rng.uniform(0.5, 3.0, p)
    coef = np.zeros((2, p))
    coef[0, [1, 4]] = [2.0, -0.5]
    coef[1, [0, 2, 7]] = [-1.0, 0.3, 4.0]
    Y = X @ coef.T
    Y += noise * Y.std(axis=0) * rng.normal(size=Y.shape)
    return X, Y, coef


def test_stlsq_matches_pysindy_stlsq():
    X, Y, coef = make_problem()
    ours = stlsq(X, Y, threshold=0.1, normalize=False)
    opt = ps.STLSQ(threshold=0.1, alpha=0.0)
    opt.fit(X, Y)
    np.testing.assert_array_equal(ours != 0, opt.coef_ != 0)
    np.testing.assert_allclose(ours, opt.coef_, rtol=1e-6, atol=1e-8)
    assert set(np.flatnonzero(ours[1])) == {0, 2, 7}


def test_stlsq_gram_batched_matches_loop():
    X, Y, _ = make_problem()
    G = X.T @ X / len(X)
    R = (X.T @ Y / len(X)).T
    lams = np.array([0.0, 0.05, 0.3, 1.0])
    coefs, sup = stlsq_gram(
        np.repeat(G[None], 4, 0), np.repeat(R[None], 4, 0), lams[:, None], np.ones((4, X.shape[1]), bool)
    )
    for i, lam in enumerate(lams):
        single, _ = stlsq_gram(G[None], R[None], lam, np.ones((1, X.shape[1]), bool))
        np.testing.assert_allclose(coefs[i], single[0], rtol=1e-12, atol=1e-14)
    assert sup[0].all() and sup[-1].sum() < sup[1].sum()


@pytest.mark.parametrize("selection", ["aic", "bic", "cv", "none"])
@pytest.mark.parametrize("ensembled", [True, False])
def test_regressor_recovers_support(selection, ensembled):
    X, Y, coef = make_problem()
    res = SparseRegressor(selection=selection, ensembled=ensembled, threshold=0.05).fit(
        X, Y, rng=np.random.default_rng(1)
    )
    if selection == "aic":  # AIC is not consistent: it may keep a few tiny extra terms
        assert np.all(res.support[coef != 0])
        assert np.abs(res.coef[coef == 0]).max() < 0.05 and res.support.sum() <= (coef != 0).sum() + 4
    else:
        np.testing.assert_array_equal(res.support, coef != 0)
        assert np.all(res.coef[coef == 0] == 0)
    np.testing.assert_allclose(res.coef[coef != 0], coef[coef != 0], rtol=0.05)
    assert np.all(res.r2 > 0.99)
    if ensembled:
        assert res.ensemble_coef.shape == (20, 2, 12)
        assert np.all(res.inclusion[coef != 0] == 1.0)
    else:
        assert res.ensemble_coef is None
        assert set(np.unique(res.inclusion)) <= {0.0, 1.0}
    assert np.all(res.coef_std[coef != 0] > 0)
    if selection != "none":
        assert res.path_thresholds.shape[1] == 2 and res.path_support.shape[-1] == 12


def test_threshold_is_scale_free():
    """The threshold acts on standardised coefficients: rescaling a column or the target
    changes the coefficients but not the support."""
    X, Y, coef = make_problem()
    reg = SparseRegressor(selection="none", threshold=0.05, ensembled=False)
    a = reg.fit(X, Y)
    S = np.ones(X.shape[1])
    S[[1, 4]] = [1e-3, 1e3]
    b = reg.fit(X * S, Y * 1e4)
    np.testing.assert_array_equal(a.support, b.support)
    np.testing.assert_allclose(b.coef * S[None, :] / 1e4, a.coef, rtol=1e-8)


def test_small_coefficient_survives_selection():
    """A weak but real term (like -0.04 A in the Taylor-Green law) is kept by BIC although its
    standardised size is below the default threshold."""
    rng = np.random.default_rng(3)
    n = 600
    A = rng.normal(0.0, 0.5, n)
    u = rng.uniform(-1, 1, n)
    X = np.column_stack([np.ones(n), A, u, A**2, A * u, u**2])
    y = -0.04 * A + u + 1e-3 * rng.normal(size=n)
    std_coef = 0.04 * np.sqrt(np.mean(A**2)) / np.sqrt(np.mean(y**2))
    res = SparseRegressor(selection="bic").fit(X, y, rng=rng)
    assert std_coef < 0.05
    np.testing.assert_array_equal(res.support[0], [False, True, True, False, False, False])


def test_library_bagging():
    """Inclusion counts over all members (a dropped term counts as excluded, like PySINDy's
    EnsembleOptimizer), so a true term's inclusion is about 1 - drop fraction; coefficients
    are aggregated over the members where the term was available."""
    X, Y, coef = make_problem()
    res = SparseRegressor(library_bagging=True, library_drop_fraction=0.25, ensemble_size=40).fit(
        X, Y, rng=np.random.default_rng(2)
    )
    np.testing.assert_array_equal(res.support, coef != 0)
    assert np.all(res.inclusion[coef != 0] >= 0.6)
    assert np.all(res.inclusion[coef == 0] < 0.5)
    np.testing.assert_allclose(res.coef[coef != 0], coef[coef != 0], rtol=0.02)


def test_block_bootstrap_is_deterministic_given_rng():
    X, Y, _ = make_problem()
    reg = SparseRegressor()
    a = reg.fit(X, Y, block_length=10, rng=np.random.default_rng(5))
    b = reg.fit(X, Y, block_length=10, rng=np.random.default_rng(5))
    np.testing.assert_array_equal(a.ensemble_coef, b.ensemble_coef)
    assert a.info["bootstrap_block"] == 10


def test_regressor_validation():
    X, Y, _ = make_problem()
    with pytest.raises(ValueError, match="selection"):
        SparseRegressor(selection="lasso")
    with pytest.raises(ValueError, match="aggregate"):
        SparseRegressor(aggregate="mode")
    with pytest.raises(ValueError, match="non-finite"):
        SparseRegressor().fit(np.where(X > 2, np.nan, X), Y)
    with pytest.raises(ValueError, match="rows"):
        SparseRegressor().fit(X[:10], Y)


def test_collinear_columns_keep_the_lower_order_term():
    """With a constant control, 1, u and u^2 are the same column: the bias is kept."""
    rng = np.random.default_rng(6)
    n = 300
    A = rng.normal(size=n)
    u = np.full(n, 0.5)
    X = np.column_stack([np.ones(n), A, u, A**2, A * u, u**2])
    y = 0.5 - 0.04 * A + 1e-3 * rng.normal(size=n)
    res = SparseRegressor().fit(X, y, rng=rng)
    assert res.info["collinear_terms"] == [2, 4, 5]
    np.testing.assert_array_equal(res.support[0], [True, True, False, False, False, False])
    np.testing.assert_allclose(res.coef[0, :2], [0.5, -0.04], rtol=0.02)
