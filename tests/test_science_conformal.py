"""Conformal intervals: empirical coverage on fresh data, vectorised over many repetitions."""

from __future__ import annotations

import numpy as np
import pytest

from atom_sdk.science import discover
from atom_sdk.science.conformal import AdaptiveConformal, SplitConformal, conformal_quantile, conformal_rank
from atom_sdk.science.systems import TaylorGreenAmplitude, add_noise, piecewise_constant_control, taylor_green_amplitude

DT = 0.1
SIGMA = 0.01  # measurement noise on the amplitude


def test_conformal_rank_and_quantile():
    assert conformal_rank(9, 0.1) == 9  # ceil(10 * 0.9)
    assert conformal_rank(99, 0.1) == 90
    assert conformal_rank(100, 0.2) == 81  # ceil(101 * 0.8) = ceil(80.8)
    s = np.arange(1.0, 11.0)  # 10 scores
    assert conformal_quantile(s, 0.1) == 10.0  # rank ceil(11 * 0.9) = 10
    assert conformal_quantile(s, 0.2) == 9.0  # rank ceil(8.8) = 9
    assert conformal_quantile(s[:5], 0.1) == np.inf  # rank 6 > n = 5
    q = conformal_quantile(np.stack([s, 2 * s], axis=1), 0.2, axis=0)
    np.testing.assert_array_equal(q, [9.0, 18.0])
    with pytest.raises(ValueError):
        conformal_rank(10, 1.5)


@pytest.fixture(scope="module")
def tg_theory():
    rng = np.random.default_rng(0)
    _, A, u = taylor_green_amplitude(2000, dt=DT, hold=5, A0=0.0, rng=rng)
    A = A + SIGMA * rng.standard_normal(A.shape)
    return discover(A, DT, u, variable_names=["A"], control_names=["u"])


def fresh_streams(n_rep: int, n_steps: int, rng: np.random.Generator):
    """``n_rep`` independent stationary TG amplitude streams (vectorised over repetitions)."""
    burn = 1500
    u = piecewise_constant_control(burn + n_steps, 5, rng, batch=(n_rep,))
    sim = TaylorGreenAmplitude(dt=DT, A0=np.zeros(n_rep))
    for i in range(burn):
        sim.step(u[:, i])
    A = np.empty((n_rep, n_steps))
    for i in range(n_steps):
        A[:, i] = sim.A
        sim.step(u[:, burn + i])
    A_obs = A + SIGMA * rng.standard_normal(A.shape)
    return A_obs[..., None], u[:, burn:, None]


@pytest.mark.parametrize("alpha", [0.1, 0.2])
def test_split_conformal_coverage_one_step_ahead(tg_theory, alpha):
    """Calibrate on n one-step residuals of held-out data, test on the next m fresh steps;
    the coverage averaged over 400 repetitions is 1 - alpha within 3 points."""
    rng = np.random.default_rng(int(alpha * 100))
    n_rep, n_cal, n_test = 400, 50, 50
    A, u = fresh_streams(n_rep, n_cal + n_test + 1, rng)
    pred = tg_theory.step(A[:, :-1], u[:, :-1], DT)  # (rep, steps, 1), vectorised
    resid = np.abs(A[:, 1:] - pred)[..., 0]
    q = conformal_quantile(resid[:, :n_cal], alpha, axis=1)  # (rep,)
    covered = resid[:, n_cal:] <= q[:, None]
    coverage = covered.mean()
    assert coverage >= 1 - alpha - 0.03
    assert coverage <= 1 - alpha + 0.03
    # the finite-sample guarantee: expected coverage >= 1 - alpha (allow Monte-Carlo error)
    assert coverage >= 1 - alpha - 0.01


@pytest.mark.parametrize("alpha", [0.1, 0.2])
def test_split_conformal_exchangeable_scores(alpha):
    """Pure exchangeable case: expected coverage is exactly ceil((n+1)(1-alpha))/(n+1)."""
    rng = np.random.default_rng(1)
    n_rep, n = 20000, 20
    scores = np.abs(rng.standard_t(3, size=(n_rep, n + 1)))
    q = conformal_quantile(scores[:, :n], alpha, axis=1)
    coverage = np.mean(scores[:, n] <= q)
    exact = conformal_rank(n, alpha) / (n + 1)
    assert abs(coverage - exact) < 0.01
    assert coverage >= 1 - alpha - 0.01


def test_split_conformal_class():
    rng = np.random.default_rng(2)
    sc = SplitConformal(alpha=0.1).fit(rng.normal(size=(99, 2)) * [1.0, 5.0])
    assert sc.n_calibration_ == 99 and sc.quantile_.shape == (2,)
    assert sc.quantile_[1] > 3 * sc.quantile_[0]
    lo, hi = sc.interval(np.zeros(2))
    np.testing.assert_allclose(hi, -lo)
    sc2 = SplitConformal()
    sc2.load_state_dict(sc.state_dict())
    np.testing.assert_array_equal(sc2.quantile_, sc.quantile_)


@pytest.mark.parametrize("alpha", [0.1, 0.2])
def test_adaptive_conformal_under_distribution_shift(alpha):
    """ACI (Gibbs & Candes 2021) keeps long-run coverage through an abrupt noise increase;
    64 streams are run at once (one output dimension per stream)."""
    rng = np.random.default_rng(3)
    n_rep, T, gamma = 64, 2000, 0.02
    scale = np.where(np.arange(T) < T // 2, 1.0, 3.0)
    resid = rng.standard_normal((T, n_rep)) * scale[:, None]
    aci = AdaptiveConformal(alpha=alpha, gamma=gamma, window=200, dim=n_rep)
    aci.reset(scores=np.abs(rng.standard_normal((50, n_rep))))
    static_q = conformal_quantile(np.abs(resid[:200]), alpha, axis=0)
    miss = np.empty((T, n_rep), dtype=bool)
    for t in range(T):
        miss[t] = aci.update(np.zeros(n_rep), resid[t])
    coverage = 1 - miss.mean(axis=0)  # per stream
    bound = (max(alpha, 1 - alpha) + gamma) / (gamma * T)  # deterministic ACI guarantee
    assert bound < 0.03
    assert np.all(np.abs(coverage - (1 - alpha)) <= bound + 1e-9)
    assert abs(coverage.mean() - (1 - alpha)) < 0.01
    np.testing.assert_allclose(aci.empirical_coverage, coverage)
    # a static split-conformal interval calibrated before the shift under-covers after it
    static_cov_after = np.mean(np.abs(resid[T // 2 :]) <= static_q[None, :])
    aci_cov_after = 1 - miss[T // 2 + 200 :].mean()
    assert static_cov_after < 1 - alpha - 0.25
    assert aci_cov_after > 1 - alpha - 0.03


def test_adaptive_conformal_state_roundtrip():
    rng = np.random.default_rng(4)
    a = AdaptiveConformal(alpha=0.1, gamma=0.05, window=30, dim=2)
    for _ in range(40):
        a.update(np.zeros(2), rng.normal(size=2))
    b = AdaptiveConformal(dim=2)
    b.load_state_dict(a.state_dict())
    for _ in range(10):
        y = rng.normal(size=2)
        np.testing.assert_array_equal(a.half_width(), b.half_width())
        np.testing.assert_array_equal(a.update(np.zeros(2), y), b.update(np.zeros(2), y))
    assert a.scores.shape == (30, 2)


def test_adaptive_conformal_degenerate_levels():
    a = AdaptiveConformal(alpha=0.1, dim=1)
    assert np.isinf(a.half_width()[0])  # no scores yet
    a.add_scores(np.ones((5, 1)))
    a.alpha_t[:] = -0.1
    assert np.isinf(a.half_width()[0])  # alpha_t <= 0: infinite interval
    a.alpha_t[:] = 1.2
    assert a.half_width()[0] == 0.0  # alpha_t >= 1: empty interval


def test_noise_helper():
    x = np.column_stack([np.linspace(0, 1, 1000), np.linspace(0, 100, 1000)])
    noisy = add_noise(x, 0.01, np.random.default_rng(0))
    np.testing.assert_allclose((noisy - x).std(axis=0) / x.std(axis=0), 0.01, rtol=0.1)
