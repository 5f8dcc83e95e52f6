"""Weak-form test-function supports from the spectrum and the record length (science.weak_windows).

Reference for the width rule: Messenger & Bortz (2021, J. Comput. Phys. 443: 110525, Sec. 2.3):
the corner of the cumulative magnitude spectrum separates signal from noise, and the test
function's transform must be ``tau_hat = 2`` Gaussian standard deviations down there.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.integrate import solve_ivp

from atom_sdk.science.implicit_weak import fit_implicit_trajectories, weak_implicit_rows
from atom_sdk.science.library import Library
from atom_sdk.science.weak_windows import (
    MIN_SUPPORT,
    corner_frequencies,
    count_rows,
    plan_weak_windows,
    spectral_corner,
    spectral_support,
)


def test_corner_of_a_band_limited_signal_in_white_noise_is_its_highest_mode() -> None:
    rng = np.random.default_rng(0)
    n, t = 256, np.arange(256)
    y = sum(np.sin(2 * np.pi * k * t / n + k) for k in range(1, 6)) + 0.05 * rng.standard_normal(n)
    assert spectral_corner(np.abs(np.fft.rfft(y))) == 5
    # per state, over trajectories: k* / N cycles per sample
    f = corner_frequencies([np.stack([y, y], axis=1), np.stack([y, y], axis=1)])
    np.testing.assert_allclose(f, [5 / 256, 5 / 256])
    assert corner_frequencies([y[:8, None]]) is None  # too short for a spectrum
    with pytest.raises(ValueError, match="no corner"):
        spectral_corner(np.ones(3))


def test_spectral_support_puts_the_corner_two_gaussian_deviations_out() -> None:
    for f_star in (0.02, 0.05):
        L = spectral_support(f_star, order=4)
        assert L == pytest.approx(2 * 2 * np.sqrt(8) / (2 * np.pi * f_star))  # 2 m, m = tau_hat sqrt(2q) / w*
        m = L / 2
        j = np.arange(-int(m) - 1, int(m) + 2)
        phi = np.clip(1 - (j / m) ** 2, 0, None) ** 4
        ratio = abs(np.sum(phi * np.exp(-2j * np.pi * f_star * j))) / phi.sum()
        # the Gaussian approximation says exp(-2) = 0.135; the order-4 bump's transform: 0.186
        assert ratio == pytest.approx(0.186, abs=0.01)
    with pytest.raises(ValueError, match="> 0"):
        spectral_support(0.0, 4)


def test_plan_rows_are_the_rows_built_and_short_records_get_narrow_dense_windows() -> None:
    lib = Library(["x", "v"], degree=2)  # 6 terms: 14 fitting rows needed
    rng = np.random.default_rng(3)
    xs = [rng.standard_normal((48, 2))]
    plan = plan_weak_windows([48], lib.n_terms, corner_frequencies(xs), order=4)
    assert plan is not None and min(plan.n_fit_rows) >= 14 and plan.n_test_rows >= 4
    assert min(plan.windows) >= MIN_SUPPORT and max(plan.windows) <= 47 // 3
    rows = weak_implicit_rows(lib, xs, [np.arange(48) * 0.1])
    assert rows.plan == plan
    assert [int((rows.group == g).sum()) for g in range(len(rows.windows))] == list(plan.n_fit_rows)
    assert int(rows.test.sum()) == plan.n_test_rows
    fit, test = count_rows([48], plan.windows, plan.stride, plan.eval_window, plan.eval_stride, plan.block, 4)
    assert (tuple(fit), test) == (plan.n_fit_rows, plan.n_test_rows)
    # 24 samples cannot give 22 rows for 10 terms at any support >= 4; 3 terms they can
    assert plan_weak_windows([24], 10, None, order=4) is None
    small = plan_weak_windows([24], 3, None, order=4)
    assert small is not None and small.windows == (MIN_SUPPORT,) and small.stride == (1,)


def test_a_short_piece_fits_a_smaller_library_and_says_so() -> None:
    # Van der Pol, 36 samples: a degree-3 library (10 terms, 20 implicit unknowns) cannot be
    # identified; degree 2 (6 terms) can, and the theory records the reduction
    t = np.arange(36) * 0.05
    x = solve_ivp(lambda t, y: [y[1], (1 - y[0] ** 2) * y[1] - y[0]], (0, t[-1]), [1.5, 0.0], t_eval=t,
                  rtol=1e-10).y.T
    lib = Library(["x", "y"], degree=3)
    th = fit_implicit_trajectories(lib, [x], [t])
    assert th.metadata["weak_library_reduced_from"] == 3 and th.metadata["weak_library_degree"] == 2
    assert th.metadata["weak_windows"] and th.metadata["weak_n_test_rows"] >= 4
    assert "spectral corner" in th.metadata["weak_rule"]
    with pytest.raises(ValueError, match="too few weak windows"):
        fit_implicit_trajectories(lib, [x], [t], shrink_library=False)
    with pytest.raises(ValueError, match="too few weak windows"):  # 10 samples: not even degree 1
        fit_implicit_trajectories(lib, [x[:10]], [t[:10]])
