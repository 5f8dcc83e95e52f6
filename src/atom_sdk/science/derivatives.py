"""Noise-robust derivative targets and the linear systems that sparse regression solves.

Two formulations, both consistent with controls held constant between samples (zero-order
hold, the way an RL agent drives a world: ``u[i]`` acts on ``[t[i], t[i+1])``):

``"smoothed_fd"`` (Savitzky-Golay)
    The left-hand side of row ``n`` is the Savitzky-Golay derivative of ``x`` at sample ``n``
    (a local least-squares polynomial fit, ``scipy.signal.savgol_coeffs(deriv=1)``). Any SG
    derivative is exactly a weighted average of the interval slopes
    ``(x[i+1] - x[i]) / dt`` with weights ``h = -dt * cumsum(d)`` (summation by parts), so the
    right-hand side is the library averaged with the *same* weights over the intervals,
    each interval's features evaluated at the interval midpoint with that interval's control.
    Because both sides are filtered by the same linear filter, the identity
    ``x' = Theta(x, u) xi`` is preserved exactly (up to the O(dt^2) midpoint rule), even when
    the control jumps at every sample, which plain "smooth x, then differentiate" is not.

``"weak"`` (integral / weak form)
    Each row is a window of ``L`` intervals with a compactly supported test function
    ``phi(s) = (1 - s^2)^p`` on ``s in [-1, 1]``. Integrating both sides against ``phi``
    and integrating by parts, ``-int phi' x dt = int phi Theta(x, u) dt xi``: the left-hand
    side is a smooth weighted sum of the *samples* of ``x`` (no derivative of noisy data is
    ever taken) and the right-hand side is the interval-wise quadrature of ``phi Theta``.

:func:`smoothed_derivative` gives classic pointwise SG derivatives (local polynomial fits in
real time on non-uniform grids) for users who want ``x_dot`` itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from atom_sdk.science.library import Library

__all__ = [
    "smoothed_derivative",
    "savgol_interval_weights",
    "bump_interval_weights",
    "RegressionSystem",
    "Differentiation",
    "build_system",
    "interval_data",
    "is_uniform",
    "DERIVATIVE_METHODS",
]

DERIVATIVE_METHODS = ("smoothed_fd", "weak")


def is_uniform(t: np.ndarray, rtol: float = 1e-6) -> bool:
    dts = np.diff(np.asarray(t, dtype=float))
    return bool(dts.size and np.all(dts > 0) and np.ptp(dts) <= rtol * abs(dts.mean()))


def _odd_window(window: int, n: int, polyorder: int) -> int:
    w = int(window)
    w = min(w, n if n % 2 == 1 else n - 1)
    if w % 2 == 0:
        w -= 1
    if w < polyorder + 2:
        raise ValueError(
            f"{n} samples are too few for a Savitzky-Golay window with polyorder {polyorder}; "
            "collect more samples or lower the window/polyorder"
        )
    return w


def smoothed_derivative(
    x: np.ndarray, t_or_dt: float | np.ndarray, *, window: int = 15, polyorder: int = 2
) -> np.ndarray:
    """Pointwise Savitzky-Golay derivative of ``x (n_samples, n_vars)``.

    Uniform grids use ``scipy.signal.savgol_filter(deriv=1)`` (polynomial fit at the edges).
    Non-uniform time arrays use the same local least-squares polynomial fit of degree
    ``polyorder`` over ``window`` neighbouring samples, in real time (PySINDy's
    ``SmoothedFiniteDifference`` smooths in sample index, which is biased on irregular grids).
    """
    x = np.asarray(x, dtype=float)
    x2 = x[:, None] if x.ndim == 1 else x
    n = x2.shape[0]
    w = _odd_window(window, n, polyorder)
    t = None if np.ndim(t_or_dt) == 0 else np.asarray(t_or_dt, dtype=float)
    if t is None or is_uniform(t):
        dt = float(t_or_dt) if t is None else float(np.diff(t).mean())
        from scipy.signal import savgol_filter  # scipy.signal takes ~1.5 s to import: only when a fit needs it

        out = savgol_filter(x2, w, polyorder, deriv=1, delta=dt, axis=0, mode="interp")
    else:
        if t.shape != (n,) or np.any(np.diff(t) <= 0):
            raise ValueError("t must be strictly increasing with one entry per sample")
        half = w // 2
        centre = np.clip(np.arange(n), half, n - 1 - half)  # edge points use the nearest full window
        idx = centre[:, None] + np.arange(-half, half + 1)[None, :]  # (n, w)
        dtw = t[idx] - t[:, None]  # offsets from the evaluation point
        scale = np.maximum(np.abs(dtw).max(axis=1, keepdims=True), 1e-300)
        V = (dtw / scale)[:, :, None] ** np.arange(polyorder + 1)[None, None, :]  # (n, w, P+1)
        coef = np.linalg.solve(np.einsum("nwi,nwj->nij", V, V), np.einsum("nwi,nwv->niv", V, x2[idx]))
        out = coef[:, 1, :] / scale
    return out[:, 0] if x.ndim == 1 else out


def savgol_interval_weights(window: int, polyorder: int, dt: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """SG derivative coefficients ``d`` (length ``window``, applied to samples) and the matched
    interval weights ``h`` (length ``window - 1``, sum 1) with ``sum_j d_j x_j = sum_i h_i (x_{i+1}-x_i)/dt``."""
    from scipy.signal import savgol_coeffs

    d = savgol_coeffs(window, polyorder, deriv=1, delta=dt, use="dot")
    h = -dt * np.cumsum(d)[:-1]
    return d, h


def bump_interval_weights(n_intervals: int, order: int = 4) -> np.ndarray:
    """Test function ``(1 - s^2)^order`` at the midpoints of ``n_intervals`` equal intervals, sum 1."""
    s = -1.0 + (2.0 * np.arange(n_intervals) + 1.0) / n_intervals
    h = (1.0 - s**2) ** order
    return h / h.sum()


@dataclass
class RegressionSystem:
    """``lhs ~= rhs @ xi``: rows are filtered equations, columns of ``rhs`` are library terms.

    ``n_eff`` estimates the number of statistically independent rows (noise-equivalent
    bandwidth of the filter times the number of intervals); information criteria use it.
    ``row_pos`` (first interval of each row) and ``row_group`` (trajectory id) let
    cross-validation keep a gap of ``span`` intervals between training and test rows.
    """

    lhs: np.ndarray
    rhs: np.ndarray
    n_eff: float
    row_pos: np.ndarray
    row_group: np.ndarray
    span: int
    method: str
    stride: int = 1

    @property
    def n_rows(self) -> int:
        return int(self.lhs.shape[0])

    @staticmethod
    def concatenate(systems: Sequence[RegressionSystem]) -> RegressionSystem:
        if len(systems) == 1:
            return systems[0]
        return RegressionSystem(
            lhs=np.concatenate([s.lhs for s in systems]),
            rhs=np.concatenate([s.rhs for s in systems]),
            n_eff=float(sum(s.n_eff for s in systems)),
            row_pos=np.concatenate([s.row_pos for s in systems]),
            row_group=np.concatenate([np.full(s.n_rows, g) for g, s in enumerate(systems)]),
            span=max(s.span for s in systems),
            method=systems[0].method,
            stride=systems[0].stride,
        )


def interval_data(
    library: Library, x: np.ndarray, t: np.ndarray, u: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Interval lengths ``dt_i``, slopes ``(x[i+1]-x[i])/dt_i`` and midpoint features
    ``Theta((x[i]+x[i+1])/2, u[i])`` for the ``n - 1`` intervals of one trajectory."""
    dts = np.diff(t)
    if np.any(dts <= 0):
        raise ValueError("time stamps must be strictly increasing")
    slopes = np.diff(x, axis=0) / dts[:, None]
    mid = 0.5 * (x[1:] + x[:-1])
    uu = None if u is None else u[:-1]
    theta = library.evaluate(mid, uu)
    return dts, slopes, theta


@dataclass(frozen=True)
class Differentiation:
    """How derivative targets are formed: the differentiation settings of a discovery.

    ``method`` is ``"smoothed_fd"`` (Savitzky-Golay, window ``sg_window``, order
    ``sg_polyorder``) or ``"weak"`` (test functions ``(1-s^2)^weak_order`` over ``weak_window``
    intervals, every ``weak_stride`` samples; ``None`` chooses them from the data); see the
    module docstring. :meth:`system` builds the filtered regression system of one trajectory,
    :meth:`systems` that of several, stacked.
    """

    method: str = "smoothed_fd"
    sg_window: int = 15
    sg_polyorder: int = 2
    weak_window: int | None = None
    weak_order: int = 4
    weak_stride: int | None = None

    def __post_init__(self) -> None:
        if self.method not in DERIVATIVE_METHODS:
            raise ValueError(f"derivative must be one of {DERIVATIVE_METHODS}, got {self.method!r}")

    def systems(
        self, library: Library, xs: Sequence[np.ndarray], ts: Sequence[np.ndarray], us: Sequence[np.ndarray] | None
    ) -> RegressionSystem:
        """The systems of several trajectories, stacked (``us`` ``None`` or one array each)."""
        parts = [self.system(library, xi, ti, None if us is None else us[k]) for k, (xi, ti) in enumerate(zip(xs, ts))]
        return RegressionSystem.concatenate(parts)

    def system(self, library: Library, x: np.ndarray, t: np.ndarray, u: np.ndarray | None = None) -> RegressionSystem:
        """Filtered regression system for one trajectory (see the module docstring)."""
        x, t, u = _check_trajectory(x, t, u)
        n_int = x.shape[0] - 1
        w, span, stride = self._window(x.shape[0])
        dts, slopes, theta = interval_data(library, x, t, u)
        starts = np.arange(0, n_int - span + 1, stride)
        if is_uniform(t):
            lhs, rhs, n_eff = self._uniform_rows(x, theta, float(dts.mean()), w, span, starts)
        else:
            lhs, rhs, n_eff = self._irregular_rows(t, dts, slopes, theta, span, starts)
        n_eff = float(np.clip(n_eff * n_int, 1.0, len(starts)))
        return RegressionSystem(
            lhs=np.ascontiguousarray(lhs),
            rhs=np.ascontiguousarray(rhs),
            n_eff=n_eff,
            row_pos=starts.astype(int),
            row_group=np.zeros(len(starts), dtype=int),
            span=int(span),
            method=self.method,
            stride=int(stride),
        )

    def _window(self, n: int) -> tuple[int, int, int]:
        """``(SG window or 0, intervals per row, stride between rows)`` for ``n`` samples."""
        if self.method == "smoothed_fd":
            w = _odd_window(self.sg_window, n, self.sg_polyorder)
            return w, w - 1, 1
        n_int = n - 1
        span = int(self.weak_window) if self.weak_window else int(np.clip(n_int // 8, 8, 32))
        span = min(span, n_int)
        if span < 4:
            raise ValueError(f"{n} samples are too few for the weak formulation")
        return 0, span, int(self.weak_stride) if self.weak_stride else max(1, span // 8)

    def _uniform_rows(
        self, x: np.ndarray, theta: np.ndarray, dt: float, w: int, span: int, starts: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, float]:
        """Rows on a uniform grid: sample weights ``c`` on ``x``, interval weights ``h`` on the
        library; returns ``lhs``, ``rhs`` and ``n_eff`` per interval."""
        if self.method == "smoothed_fd":
            d, h = savgol_interval_weights(w, self.sg_polyorder, dt)
            c = d  # LHS = SG derivative at the window centre: sum_j d_j x_{s+j}
        else:
            h = bump_interval_weights(span, self.weak_order)
            # -int phi' x dt as a sum over samples: c_j = (h_{j-1} - h_j) / dt, h_{-1} = h_L = 0
            hp = np.concatenate([[0.0], h, [0.0]])
            c = (hp[:-1] - hp[1:]) / dt
        xw = sliding_window_view(x, span + 1, axis=0)[starts]  # (K, n_vars, span+1)
        tw = sliding_window_view(theta, span, axis=0)[starts]  # (K, p, span)
        return xw @ c, tw @ h, float(np.sum(h**2))

    def _irregular_rows(
        self, t: np.ndarray, dts: np.ndarray, slopes: np.ndarray, theta: np.ndarray, span: int, starts: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, float]:
        """Rows on a non-uniform grid: bump weights over the real interval midpoints."""
        order = 1 if self.method == "smoothed_fd" else self.weak_order
        mids = 0.5 * (t[1:] + t[:-1])
        idx = starts[:, None] + np.arange(span)[None, :]  # (K, span)
        ta, tb = t[starts], t[starts + span]
        s = 2.0 * (mids[idx] - ta[:, None]) / (tb - ta)[:, None] - 1.0
        g = (1.0 - s**2) ** order * dts[idx]
        g /= g.sum(axis=1, keepdims=True)
        lhs = np.einsum("ki,kiv->kv", g, slopes[idx])
        rhs = np.einsum("ki,kip->kp", g, theta[idx])
        return lhs, rhs, float(np.mean(np.sum(g**2, axis=1)))


def _check_trajectory(x: Any, t: Any, u: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    x = np.asarray(x, dtype=float)
    t = np.asarray(t, dtype=float)
    n = x.shape[0]
    if u is not None:
        u = np.asarray(u, dtype=float)
        if u.ndim == 1:
            u = u[:, None]
        if u.shape[0] != n:
            raise ValueError(f"u has {u.shape[0]} rows but x has {n}")
    if t.shape != (n,):
        raise ValueError(f"t must have shape ({n},), got {t.shape}")
    return x, t, u


def build_system(
    library: Library, x: np.ndarray, t: np.ndarray, u: np.ndarray | None = None, **settings: Any
) -> RegressionSystem:
    """Shorthand for ``Differentiation(**settings).system(library, x, t, u)``."""
    return Differentiation(**settings).system(library, x, t, u)
