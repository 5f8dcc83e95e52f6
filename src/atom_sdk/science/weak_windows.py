"""Test-function supports of the weak form, chosen from the data's spectrum and length.

Why a rule and not a fixed set: a weak row averages the law against a test function
``phi(s) = (1 - s^2)^order`` over ``L`` sampling intervals. Too narrow, and the measurement noise
passes into the weak derivative; too wide, and a short record holds too few windows to identify
the library's ``2 p`` implicit unknowns (the online scientist fits windows of a few dozen samples).

**Width from the spectrum** (Messenger & Bortz 2021, "Weak SINDy for partial differential
equations", J. Comput. Phys. 443: 110525, Sec. 2.3): the magnitude spectrum of each state's record
is averaged over trajectories and its cumulative sum is split into a signal part (steep) and a
noise part (a straight line at the noise floor) at the *corner* wavenumber ``k*``
(:func:`spectral_corner`: the break of the two-piece linear interpolant through the end points
with the least relative error). The test function is then wide enough that its Fourier transform
has fallen ``tau_hat`` standard deviations (Gaussian approximation ``(1 - s^2)^q ~ exp(-q s^2)``,
spread ``sqrt(2 q) / m`` rad per sample for a half-width of ``m`` samples) at ``k*``:
``2 pi f* = tau_hat sqrt(2 q) / m``, so ``L = 2 m = tau_hat sqrt(2 q) / (pi f*)`` intervals, with
``f* = k* / N`` in cycles per sample and ``tau_hat = 2`` (the paper's default). The paper also
ties ``q`` to ``m`` (``phi`` at the penultimate point equal to ``tau``); here ``q`` stays the
caller's ``order`` and only the frequency condition sets the width. The slowest state (smallest
``f*``) sets ``L``: every state's noise band must be attenuated.

**Rows from the length.** ``L`` is the narrowest support that keeps the noise out, so the widths
compared are ``L, 1.5 L, 2 L`` (the held-out score chooses among their laws), each capped at a
third of the median trajectory and at ``1 / (2 p + 2)`` of all intervals (room for ``2 p + 2``
disjoint windows: overlapping ones add rows, not independent samples). Held-out windows span a
quarter of the median trajectory, at most ``1 / (4 holdout_every)`` of all intervals (their
score must compare laws, not filter noise, and one support keeps it comparable across widths).
Fitting windows overlap by three quarters (stride ``L/4``). When a width yields fewer than
``2 p + 2`` fitting rows (``p`` library terms), the stride falls to one interval, then all
supports halve (to at least :data:`MIN_SUPPORT`); if no width can then be fitted,
:func:`plan_weak_windows` says so and the caller may refit a smaller library
(:func:`~atom_sdk.science.implicit_weak.fit_implicit_trajectories` lowers the polynomial degree)
or decline. The plan (:class:`WeakWindowPlan`) is recorded in the fitted theory's metadata.

Measured (``benchmarks/bench_implicit_noise.py``, 10 seeds): see the module docstring of
:mod:`~atom_sdk.science.implicit_weak`; in the online scientist's null trial every weak fit now
runs (before: most windows under ~90 samples were declined as "too few weak windows").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

__all__ = ["MIN_SUPPORT", "TAU_HAT", "SPREAD", "WeakWindowPlan", "spectral_corner", "corner_frequencies",
           "spectral_support", "layout", "count_rows", "plan_weak_windows"]

MIN_SUPPORT = 4  # intervals: the shortest support on which (1 - s^2)^q has an interior
TAU_HAT = 2.0  # Messenger & Bortz's default: phi-hat at k* is tau_hat standard deviations out
SPREAD = (1.0, 1.5, 2.0)  # fitting widths compared, as multiples of the spectral width (its minimum)
MIN_TEST_ROWS = 4  # held-out windows needed to score candidates at all


@dataclass(frozen=True)
class WeakWindowPlan:
    """Where the weak rows come from: fitting ``windows`` (intervals) at ``stride``, held-out
    windows of ``eval_window`` at ``eval_stride`` inside held-out blocks of ``block`` intervals
    (every ``holdout_every``-th block), and why: ``spectral_width`` (``None`` when the records
    are too short for a spectrum), ``corner_frequency`` per state (cycles per sample),
    ``shrink`` (how many times the supports were halved to find rows), ``n_fit_rows`` per width
    and ``n_test_rows``."""

    windows: tuple[int, ...]
    eval_window: int
    stride: tuple[int, ...]
    eval_stride: int
    block: int
    holdout_every: int
    spectral_width: float | None
    corner_frequency: tuple[float, ...]
    shrink: int
    n_fit_rows: tuple[int, ...]
    n_test_rows: int

    def as_metadata(self) -> dict[str, object]:
        out = asdict(self)
        out["rule"] = ("Messenger & Bortz 2021 spectral corner (tau_hat=2): widths L, 1.5L, 2L capped at a third of "
                       "the median trajectory and 1/(2p+2) of all intervals, held out on a quarter; stride L/4, "
                       "else 1; supports halved until 2p+2 rows")
        return {f"weak_{k}" if not k.startswith("weak") else k: v for k, v in out.items()}


def _relative_break_error(c: np.ndarray, j: int) -> float:
    k = np.arange(c.size, dtype=float)
    left = c[0] + (c[j] - c[0]) * k[: j + 1] / k[j]
    right = c[j] + (c[-1] - c[j]) * (k[j:] - k[j]) / (k[-1] - k[j])
    return float(np.sqrt(np.sum(((left - c[: j + 1]) / c[: j + 1]) ** 2) + np.sum(((right - c[j:]) / c[j:]) ** 2)))


def spectral_corner(spectrum: np.ndarray) -> int:
    """The corner wavenumber of a one-sided magnitude spectrum (index 0 = the mean, excluded):
    the break ``j`` of the two-segment interpolant of the cumulative spectrum through its end
    points and ``(j, C_j)`` with the least relative error. Beyond it the cumulative sum grows
    linearly, at the noise floor."""
    s = np.abs(np.asarray(spectrum, dtype=float))[0:]
    if s.size < 4 or not np.any(s > 0):
        raise ValueError(f"a spectrum of {s.size} nonzero wavenumbers has no corner; use at least 4")
    c = np.cumsum(s) + 1e-300
    errs = [_relative_break_error(c, j) for j in range(1, c.size - 1)]
    return int(np.argmin(errs)) + 1


def _detrended_spectrum(y: np.ndarray) -> np.ndarray:
    """``|rfft|`` after removing the line through the end points (so the periodic extension the
    FFT assumes has no jump, whose ``1/k`` tail would pose as signal)."""
    n = y.size
    return np.abs(np.fft.rfft(y - (y[0] + (y[-1] - y[0]) * np.arange(n) / (n - 1))))


def corner_frequencies(xs: Sequence[np.ndarray], min_samples: int = 9) -> np.ndarray | None:
    """Per state, the corner frequency ``k* / N`` (cycles per sample) of the magnitude spectrum
    averaged over the trajectories at least as long as the median (each cut to the median
    length ``N``); ``None`` when ``N < min_samples``."""
    lengths = [np.asarray(x).shape[0] for x in xs]
    n = int(np.median(lengths))
    if n < min_samples:
        return None
    parts = [np.asarray(x, dtype=float)[:n] for x in xs if np.asarray(x).shape[0] >= n]
    out = []
    for i in range(parts[0].shape[1]):
        spec = np.mean([_detrended_spectrum(p[:, i]) for p in parts], axis=0)
        out.append(spectral_corner(spec) / n if np.any(spec[1:] > 0) else 0.5)
    return np.asarray(out)


def spectral_support(f_star: float, order: int, tau_hat: float = TAU_HAT) -> float:
    """Support ``L = 2 m`` (intervals) whose test function ``(1 - s^2)^order`` has its Fourier
    transform ``tau_hat`` Gaussian standard deviations down at ``f_star`` cycles per sample."""
    if f_star <= 0:
        raise ValueError(f"the corner frequency must be > 0, got {f_star}")
    return float(tau_hat * np.sqrt(2.0 * order) / (np.pi * f_star))


def layout(m_int: int, block: int, block0: int, holdout_every: int) -> np.ndarray:
    """Per interval of a trajectory, whether it lies in a held-out block (blocks of ``block``
    intervals numbered from ``block0`` over all trajectories; every ``holdout_every``-th held)."""
    return (np.arange(m_int) // block + block0) % int(holdout_every) == 0


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    edges = np.diff(np.concatenate([[0], mask.astype(int), [0]]))
    return list(zip(np.flatnonzero(edges == 1).tolist(), np.flatnonzero(edges == -1).tolist()))


def eval_starts(held: np.ndarray, L: int, stride: int) -> np.ndarray:
    """Starts of held-out windows of ``L`` intervals inside held-out runs, ``stride`` apart."""
    out = [np.arange(lo, hi - L + 1, stride) for lo, hi in _runs(held) if hi - lo >= L]
    return np.concatenate(out).astype(int) if out else np.zeros(0, int)


def fit_starts(held: np.ndarray, L: int, stride: int) -> np.ndarray:
    """Starts of fitting windows of ``L`` intervals, ``stride`` apart, touching no held-out interval."""
    if L > held.size:
        return np.zeros(0, int)
    starts = np.arange(0, held.size - L + 1, stride)
    clean = np.array([not held[s : s + L].any() for s in starts], dtype=bool)
    return starts[clean]


def count_rows(lengths: Sequence[int], windows: Sequence[int], strides: Sequence[int], eval_window: int,
               eval_stride: int, block: int, holdout_every: int) -> tuple[list[int], int]:
    """Fitting rows per width and held-out rows that :func:`weak_implicit_rows` would build."""
    fit, test, block0 = [0] * len(windows), 0, 0
    for n_k in lengths:
        m_int = int(n_k) - 1
        if m_int < min(list(windows) + [eval_window]):
            continue
        held = layout(m_int, block, block0, holdout_every)
        block0 += (m_int - 1) // block + 1
        test += eval_starts(held, eval_window, eval_stride).size
        for g, (L, s) in enumerate(zip(windows, strides)):
            fit[g] += fit_starts(held, L, s).size
    return fit, test


def plan_weak_windows(lengths: Sequence[int], n_terms: int, f_star: np.ndarray | None, order: int,
                      holdout_every: int = 4) -> WeakWindowPlan | None:
    """The supports, strides and held-out blocks for trajectories of ``lengths`` samples and a
    library of ``n_terms`` (see the module docstring), or ``None`` when no support of at least
    :data:`MIN_SUPPORT` intervals yields ``2 n_terms + 2`` fitting rows and
    :data:`MIN_TEST_ROWS` held-out rows."""
    m_med = int(np.median(lengths)) - 1
    total = sum(max(int(n_k) - 1, 0) for n_k in lengths)
    need = 2 * int(n_terms) + 2
    # a third of a trajectory, and room for ``need`` disjoint windows in all of them (overlapping
    # windows repeat the same samples: they add rows, not independent information)
    cap = max(MIN_SUPPORT, min(m_med // 3, total // need))
    cap_eval = max(MIN_SUPPORT, min(m_med // 3, total // (4 * int(holdout_every))))
    width = None if f_star is None else spectral_support(float(np.min(f_star)), order)
    base = float(cap) if width is None else width  # no spectrum (too short): the length decides
    shrink = 1
    while True:
        grid = sorted({int(np.clip(round(f * base / shrink), MIN_SUPPORT, cap)) for f in SPREAD})
        L_eval = int(np.clip(round(0.25 * (m_med + 1) / shrink), MIN_SUPPORT, cap_eval))
        e_stride = max(1, L_eval // 4)
        block = 2 * L_eval
        for strides in ([max(1, L // 4) for L in grid], [1] * len(grid)):
            fit, test = count_rows(lengths, grid, strides, L_eval, e_stride, block, holdout_every)
            if test < MIN_TEST_ROWS and e_stride > 1:
                e_stride = 1
                fit, test = count_rows(lengths, grid, strides, L_eval, e_stride, block, holdout_every)
            ok = [g for g, r in enumerate(fit) if r >= need]
            if ok and test >= MIN_TEST_ROWS:
                return WeakWindowPlan(
                    windows=tuple(grid[g] for g in ok), eval_window=L_eval, stride=tuple(strides[g] for g in ok),
                    eval_stride=e_stride, block=block, holdout_every=int(holdout_every), spectral_width=width,
                    corner_frequency=tuple(float(v) for v in (() if f_star is None else f_star)), shrink=shrink,
                    n_fit_rows=tuple(fit[g] for g in ok), n_test_rows=test)
        if max(grid + [L_eval]) <= MIN_SUPPORT:
            return None
        shrink *= 2
