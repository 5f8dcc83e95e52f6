"""The weak (integral) form of SINDy-PI: rational laws from noisy measurements.

References: Michaelis-Menten ``dx/dt = (0.18 - 0.9 x) / (0.3 + x)`` (Kaheman, Kutz & Brunton 2020,
SINDy-PI); the weak formulation after Messenger & Bortz (2021, Weak SINDy). Noise: Gaussian with
``level x`` the pooled standard deviation of the clean data (as ``evidence.strogatz.relative_noise``).
Tolerances are the measured values of ``benchmarks/bench_implicit_noise.py`` with a margin.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy.integrate import solve_ivp

from atom_sdk.science.derivatives import Differentiation
from atom_sdk.science.implicit import ImplicitDiscoverer
from atom_sdk.science.implicit_weak import (
    default_weak_windows,
    fit_implicit_trajectories,
    weak_implicit_rows,
)
from atom_sdk.science.library import Library

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_implicit_noise.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_implicit_noise", BENCH)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # its dataclasses resolve their module by name
    spec.loader.exec_module(mod)
    return mod


def _mm_rows(bench, level: float = 0.0, seed: int = 0):
    xs, ts = bench.trajectories(bench.LAWS["mm"], level, seed)
    lib = Library(["x"], degree=2)
    return lib, weak_implicit_rows(lib, xs, ts)


def test_weak_rows_hold_the_implicit_law_exactly_on_clean_data(bench) -> None:
    lib, rows = _mm_rows(bench)
    # terms 1, x, x^2: N = 0.18 - 0.9 x, D = 0.3 + x, law A N - B D = 0
    num, den = np.array([0.18, -0.9, 0.0]), np.array([0.3, 1.0, 0.0])
    resid = rows.A @ num - rows.B[:, 0, :] @ den
    assert np.max(np.abs(resid)) < 1e-5 * np.max(np.abs(rows.B[:, 0, :] @ den))
    # the weak derivative is the test-function average of the true right-hand side
    f = bench.LAWS["mm"].rhs(0.0, rows.z[:, 0])
    np.testing.assert_allclose(rows.b[:, 0], rows.H @ f, atol=2e-5)
    # the products with xdot are exact antiderivative differences: x xdot = d/dt x^2 / 2
    np.testing.assert_allclose(rows.B[:, 0, 1], rows.H @ (rows.z[:, 0] * f), atol=2e-5)


def test_held_out_windows_share_no_sample_interval_with_fitting_windows(bench) -> None:
    _, rows = _mm_rows(bench, 0.05)
    np.testing.assert_allclose(np.asarray(rows.H.sum(axis=1)).ravel(), 1.0)
    used = lambda m: set(np.flatnonzero(np.asarray(abs(rows.H[m]).sum(axis=0)).ravel()))  # noqa: E731
    assert rows.test.any() and (rows.group >= 0).any()
    assert used(rows.test).isdisjoint(used(rows.group >= 0))
    # 5 % noise: the spectral corner asks for 240-360 intervals, capped at a third of 400 samples;
    # held out on a quarter (weak_windows.plan_weak_windows)
    assert rows.windows == (133,) and rows.eval_window == 100 and rows.plan.spectral_width > 133
    assert default_weak_windows(40) == ((8, 9, 13), 9)  # the older fixed set, for explicit callers


def test_cross_state_products_use_the_midpoint_rule() -> None:
    # harmonic oscillator x' = v, v' = -x: int phi v xdot_x = int phi v^2 (the v^2 column of A)
    t = np.arange(300) * 0.01
    x = solve_ivp(lambda t, y: [y[1], -y[0]], (0, t[-1]), [1.0, 0.0], t_eval=t, rtol=1e-11, atol=1e-12).y.T
    lib = Library(["x", "v"], degree=2)
    rows = weak_implicit_rows(lib, [x], [t], holdout_every=2)
    k_v, k_vv = lib.names.index("v"), lib.names.index("v^2")
    np.testing.assert_allclose(rows.B[:, 0, k_v], rows.A[:, k_vv], atol=1e-4)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_michaelis_menten_at_five_percent_noise_exact_support(bench, seed: int) -> None:
    law = bench.LAWS["mm"]
    xs, ts = bench.trajectories(law, 0.05, seed)
    th = ImplicitDiscoverer(library=Library(["x"], degree=2)).fit(xs, ts).theory_
    ok, err = bench.score_law(th.metadata["expressions"]["x"], law)
    assert ok, th.metadata["expressions"]
    assert err < 0.25  # measured over seeds 0-9: median 7 %, max 20 %
    assert th.metadata["derivative"] == "weak" and th.equations[0].r2 > 0.9  # weak r2; measured 0.94-0.95


def test_pointwise_form_loses_the_support_on_the_same_data(bench) -> None:
    law = bench.LAWS["mm"]
    xs, ts = bench.trajectories(law, 0.05, 0)
    th = ImplicitDiscoverer(library=Library(["x"], degree=2), differentiation=Differentiation()).fit(xs, ts).theory_
    assert not bench.score_law(th.metadata["expressions"]["x"], law)[0]


def test_noise_zero_coefficients_are_exact_to_quadrature(bench) -> None:
    law = bench.LAWS["mm"]
    xs, ts = bench.trajectories(law, 0.0, 0)
    th = ImplicitDiscoverer(library=Library(["x"], degree=2)).fit(xs, ts).theory_
    ok, err = bench.score_law(th.metadata["expressions"]["x"], law)
    assert ok and err < 1e-4  # the pointwise form: 0.12 %


def test_control_changing_every_step_is_exact_under_zero_order_hold() -> None:
    # dx/dt = u - 1.5 x / (0.3 + x), u redrawn at every sample and held over the interval
    rng = np.random.default_rng(1)
    dt, n = 0.01, 1200
    u = rng.uniform(0.2, 1.0, (n, 1))
    x = np.empty((n, 1))
    x[0] = 0.5
    for i in range(n - 1):
        x[i + 1] = solve_ivp(lambda t, y: u[i, 0] - 1.5 * y / (0.3 + y), (0, dt), x[i], rtol=1e-11, atol=1e-12).y[:, -1]
    th = ImplicitDiscoverer(library=Library(["x"], ["u"], degree=2)).fit(x, np.arange(n) * dt, u).theory_
    grid = np.linspace(0.1, 0.9, 9)[:, None]
    for uu in (0.3, 0.8):
        truth = uu - 1.5 * grid / (0.3 + grid)
        np.testing.assert_allclose(th.predict_derivative(grid, np.full_like(grid, uu)), truth, atol=2e-3)


def test_polynomial_laws_stay_polynomial_in_two_states() -> None:
    rng = np.random.default_rng(0)
    t = np.arange(400) * 0.01
    xs = [solve_ivp(lambda t, y: [y[1], -y[0] - 0.1 * y[1]], (0, t[-1]), rng.normal(size=2), t_eval=t,
                    rtol=1e-10, atol=1e-12).y.T for _ in range(3)]
    th = fit_implicit_trajectories(Library(["x", "v"], degree=3), xs, [t] * 3)
    assert all(term.kind == "poly" for term in th.terms)
    assert {e.target: e.support_set() for e in th.equations} == {"x": {"v"}, "v": {"x", "v"}}
    v_eq = th.equations[1]
    coef = dict(zip(v_eq.terms, v_eq.coefficients))
    np.testing.assert_allclose([coef["x"], coef["v"]], [-1.0, -0.1], rtol=1e-3)


def test_too_little_data_is_refused_with_what_to_change() -> None:
    lib = Library(["x"], degree=2)
    t = np.arange(10) * 0.1
    with pytest.raises(ValueError, match="collect longer trajectories"):
        weak_implicit_rows(lib, [np.linspace(1, 2, 10)[:, None]], [t])
    with pytest.raises(ValueError, match="at least 4"):
        weak_implicit_rows(lib, [np.linspace(1, 2, 100)[:, None]], [np.arange(100) * 0.1], windows=3)
    with pytest.raises(ValueError, match="order"):
        weak_implicit_rows(lib, [np.linspace(1, 2, 100)[:, None]], [np.arange(100) * 0.1], order=0)


@pytest.mark.slow
def test_full_noise_table_weak_against_pointwise(bench) -> None:
    """Both laws, 0-10 % pooled noise, 10 seeds each, both formulations (about 5 minutes)."""
    cells = {(c["law"], c["noise"], c["method"]): c for c in bench.run_table(seeds=10)}
    weak, point = (lambda law, lv: cells[(law, lv, "weak")]), (lambda law, lv: cells[(law, lv, "pointwise")])
    assert weak("mm", 0.0)["exact"] == 10 and weak("mm", 0.0)["coef_err_max"] < 1e-4
    for lv in (0.01, 0.02, 0.05):
        assert weak("mm", lv)["exact"] == 10  # the pointwise form: 0/10 from 1 % on
        assert point("mm", lv)["exact"] == 0
    # spectral-corner supports (weak_windows): measured median 6.2 %, max 25.8 % (one seed); moving
    # the supports by a single interval moves that max between 20 and 26 %
    assert weak("mm", 0.05)["coef_err_median"] < 0.10 and weak("mm", 0.05)["coef_err_max"] < 0.30
    assert weak("mm", 0.1)["exact"] >= 9  # measured 10/10, coefficient error median 16 %, max 57 %
    # the Hill law's fifth term is barely identifiable from these data: measured 6/10 at 1 %,
    # 2/10 at 2 %, 0/10 from 5 % on (a four-term rational law fits within the noise); the older
    # fixed supports gave 7/10 and 3/10, and supports one interval off swing these by one seed
    assert weak("hill", 0.0)["exact"] == 10 and weak("hill", 0.0)["coef_err_max"] < 1e-3
    assert weak("hill", 0.01)["exact"] >= 5 and point("hill", 0.01)["exact"] == 0


def _joins(xs: list[np.ndarray]) -> np.ndarray:
    """Interval mask of trajectories laid end to end: the intervals across a join are not data."""
    valid = np.ones(sum(len(x) for x in xs) - 1, dtype=bool)
    valid[np.cumsum([len(x) for x in xs])[:-1] - 1] = False
    return valid


def test_governor_accepts_a_weak_rational_law_at_two_percent_noise_and_refuses_noise(tmp_path, bench) -> None:
    """The weak law goes through the same governor and ledger. At 5 % noise the governor refuses
    it (measured: one-step held-out nMSE 0.99, no better than persistence: with dt = 0.01 the
    noise dominates each step's increment), so the acceptance is checked at 2 %."""
    from atom_sdk.science.governance import Governor
    from atom_sdk.science.ledger import HypothesisLedger

    law, lib = bench.LAWS["mm"], Library(["x"], degree=2)
    reasons: list = []

    def review(make) -> list[str]:
        gov = Governor(ledger=HypothesisLedger(tmp_path / f"{make.__name__}.jsonl"), dt=0.01)
        kinds = []
        for seed in (0, 1):
            xs, ts = make(seed)
            cand = fit_implicit_trajectories(lib, xs, ts, metadata={"dt": 0.01})
            x_ho, _ = make(seed + 10)
            d = gov.review(cand, np.concatenate(x_ho), None, valid=_joins(x_ho), x_train=np.concatenate(xs),
                           valid_train=_joins(xs), backend="implicit")
            kinds.append(d["kind"])
            reasons.append(d["reasons"])
        return kinds

    def mm(seed):
        return bench.trajectories(law, 0.02, seed)

    def noise(seed):
        rng = np.random.default_rng(seed)
        return [1.0 + 0.1 * rng.standard_normal((400, 1)) for _ in range(3)], [np.arange(400) * 0.01] * 3

    assert review(mm) == ["rejected", "accepted"], reasons  # the first review has no previous window
    assert review(noise) == ["rejected", "rejected"]


def test_opt_in_weak_horizon_lets_the_governor_see_the_correct_law_through_five_percent_noise(tmp_path, bench):
    """At 5 % noise and dt = 0.01 the one-step check refuses the correct weak law (nMSE 0.987 vs
    persistence 1.001: under the 2 % margin); judged on h-step increments (h = half the narrowest
    support, here 66 steps, ``GovernanceConfig(weak_horizon=True)``) it is accepted, lawless
    data are still refused, and the default stays one-step."""
    from atom_sdk.science.governance import GovernanceConfig, Governor, weak_horizon

    law, lib = bench.LAWS["mm"], Library(["x"], degree=2)

    def review(make, on: bool) -> list[dict]:
        gov = Governor(config=GovernanceConfig(weak_horizon=on), dt=0.01)
        out = []
        for seed in (0, 1):
            xs, ts = make(seed)
            cand = fit_implicit_trajectories(lib, xs, ts, metadata={"dt": 0.01})
            x_ho, _ = make(seed + 10)
            out.append(gov.review(cand, np.concatenate(x_ho), None, valid=_joins(x_ho), x_train=np.concatenate(xs),
                                  valid_train=_joins(xs), backend="implicit"))
        return out

    def mm(seed):
        return bench.trajectories(law, 0.05, seed)

    def noise(seed):
        rng = np.random.default_rng(seed)
        return [1.0 + 0.1 * rng.standard_normal((400, 1)) for _ in range(3)], [np.arange(400) * 0.01] * 3

    off = review(mm, False)
    assert [d["kind"] for d in off] == ["rejected", "rejected"] and "horizon" not in off[1]["scores"]
    on = review(mm, True)
    assert [d["kind"] for d in on] == ["rejected", "accepted"], on[1]["reasons"]  # first: no previous window
    assert on[1]["scores"]["horizon"] == 66 and on[1]["reasons"][0].startswith("66-step increments")
    assert on[1]["scores"]["candidate_horizon"]["nmse_mean"] < 0.5 * on[1]["scores"]["bar_nmse"]
    assert [d["kind"] for d in review(noise, True)] == ["rejected", "rejected"]
    xs, ts = mm(0)
    sparse_like = fit_implicit_trajectories(lib, xs, ts)
    sparse_like.metadata["derivative"] = "smoothed_fd"
    assert weak_horizon(sparse_like, 2000) == 1
