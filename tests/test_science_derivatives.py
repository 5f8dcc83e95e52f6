"""Savitzky-Golay and weak-form regression systems."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import savgol_filter

from atom_sdk.science.derivatives import (
    build_system,
    bump_interval_weights,
    savgol_interval_weights,
    smoothed_derivative,
)
from atom_sdk.science.library import Library
from atom_sdk.science.systems import taylor_green_amplitude


@pytest.mark.parametrize(("window", "polyorder"), [(7, 2), (15, 2), (15, 3), (21, 4)])
def test_savgol_interval_weights_are_matched(window, polyorder):
    dt = 0.1
    d, h = savgol_interval_weights(window, polyorder, dt)
    assert h.shape == (window - 1,) and h.sum() == pytest.approx(1.0)
    x = np.random.default_rng(0).normal(size=window)
    # SG derivative == h-weighted average of the interval slopes (summation by parts)
    assert d @ x == pytest.approx(h @ (np.diff(x) / dt), rel=1e-10, abs=1e-10)


def test_bump_weights():
    h = bump_interval_weights(20, 4)
    assert h.sum() == pytest.approx(1.0) and np.all(h > 0)
    np.testing.assert_allclose(h, h[::-1])


def test_smoothed_fd_lhs_is_the_savgol_derivative():
    rng = np.random.default_rng(1)
    t = np.arange(200) * 0.05
    x = np.column_stack([np.sin(t), np.cos(2 * t)]) + 0.01 * rng.normal(size=(200, 2))
    lib = Library(["a", "b"], degree=1)
    sys_ = build_system(lib, x, t, method="smoothed_fd", sg_window=11, sg_polyorder=3)
    ref = savgol_filter(x, 11, 3, deriv=1, delta=0.05, axis=0)[5:-5]
    np.testing.assert_allclose(sys_.lhs, ref, rtol=1e-10, atol=1e-10)
    assert sys_.n_rows == 190 and sys_.rhs.shape == (190, lib.n_terms)


@pytest.mark.parametrize("method", ["smoothed_fd", "weak"])
def test_system_is_exact_for_zero_order_hold_linear_law(method):
    """Noise-free TG amplitude with a control that jumps every step: the true coefficients
    solve the filtered system up to the O(dt^2) midpoint rule."""
    t, A, u = taylor_green_amplitude(400, dt=0.1, hold=1, A0=2.0, rng=np.random.default_rng(2))
    lib = Library(["A"], ["u"], degree=1)
    s = build_system(lib, A, t, u, method=method)
    xi = np.zeros(lib.n_terms)
    xi[lib.names.index("A")] = -0.04
    xi[lib.names.index("u")] = 1.0
    resid = s.lhs[:, 0] - s.rhs @ xi
    assert np.sqrt(np.mean(resid**2)) < 1e-4 * np.sqrt(np.mean(s.lhs**2))


def test_weak_form_takes_no_derivative_of_noise():
    """The weak LHS is a smooth weighted sum of samples: white noise is strongly attenuated
    compared with a pointwise finite difference."""
    rng = np.random.default_rng(3)
    n, dt = 2000, 0.01
    noise = rng.normal(size=(n, 1))
    lib = Library(["x"], degree=1)
    t = np.arange(n) * dt
    weak = build_system(lib, noise, t, method="weak", weak_window=64)
    fd = np.diff(noise[:, 0]) / dt
    assert np.std(weak.lhs) < 0.02 * np.std(fd)


def test_smoothed_derivative_uniform_and_nonuniform():
    t = np.linspace(0, 6, 400)
    x = np.column_stack([np.sin(t), t**2])
    dx = smoothed_derivative(x, t[1] - t[0], window=9)
    np.testing.assert_allclose(dx[:, 0], np.cos(t), atol=2e-3)
    np.testing.assert_allclose(dx[:, 1], 2 * t, atol=1e-9)  # exact for polynomials of degree <= polyorder
    rng = np.random.default_rng(4)
    tn = np.sort(np.concatenate([[0.0], np.cumsum(rng.uniform(0.01, 0.02, 400))]))
    dxn = smoothed_derivative(np.sin(tn), tn, window=9)  # local polynomial fits in real time
    np.testing.assert_allclose(dxn, np.cos(tn), atol=2e-3)
    np.testing.assert_allclose(smoothed_derivative(tn**2, tn, window=9), 2 * tn, atol=1e-8)


def test_system_validation():
    lib = Library(["x"], ["u"], degree=1)
    x = np.ones((30, 1))
    t = np.arange(30.0)
    with pytest.raises(ValueError, match="derivative must be"):
        build_system(lib, x, t, np.ones((30, 1)), method="spline")
    with pytest.raises(ValueError, match="rows"):
        build_system(lib, x, t, np.ones((29, 1)))
    with pytest.raises(ValueError, match="too few"):
        build_system(lib, x[:3], t[:3], np.ones((3, 1)))
    with pytest.raises(ValueError, match="increasing"):
        build_system(lib, x, t[::-1].copy(), np.ones((30, 1)), method="weak")
