"""Model-free measurements on the wake's amplitude series for :mod:`atom_sdk.reproduce.brunton2016`.

Why a module of its own: these read the LBM's signals (the lift's frequency, crossing times, the
growth rate, the shift's own law and rates) the same way for the data and for the model's runs, and
none of them knows the pipeline that produced the series; the reproduction re-exports them.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["crossing_time", "frequency", "linear_growth", "mean_flow_law", "shift_rates"]


def frequency(signal: np.ndarray, dt: float) -> float:
    """Mean frequency (per time unit) from upward zero crossings of the signal about its mean."""
    s = np.asarray(signal, float) - np.mean(signal)
    idx = np.nonzero((s[:-1] < 0) & (s[1:] >= 0))[0]
    if len(idx) < 2:
        return float("nan")
    times = (idx + s[idx] / (s[idx] - s[idx + 1])) * dt
    return float((len(times) - 1) / (times[-1] - times[0]))


def crossing_time(r: np.ndarray, t: np.ndarray, level: float) -> float:
    """First time ``r`` reaches ``level``, linearly interpolated between samples (the off-manifold
    half-time is ~10 samples, so the first sample above it alone would be a 10 % quantisation)."""
    r = np.asarray(r, float)
    above = np.nonzero(r >= level)[0]
    if not above.size:
        return float("nan")
    k = int(above[0])
    if k == 0 or not np.isfinite(r[k - 1]) or r[k] == r[k - 1]:
        return float(t[k])
    return float(t[k - 1] + (level - r[k - 1]) / (r[k] - r[k - 1]) * (t[k] - t[k - 1]))


def linear_growth(z: np.ndarray, rho: np.ndarray, i0: int, dt: float, f_shed: float, theory: Any) -> dict[str, float]:
    """The growth rate d ln r/dt (U/D) while the shedding grows from 2 % to 10 % of the cycle's amplitude
    (``rho = r / r_lc``), from the data (ln r averaged over one period, then differentiated) and from
    the model at the same states; and the data's a_shift there (in units of the cycle's radius)."""
    from scipy.ndimage import uniform_filter1d

    n_per = max(1, int(round(1.0 / (f_shed * dt)))) if np.isfinite(f_shed) and f_shed > 0 else 1
    rate = np.gradient(uniform_filter1d(np.log(np.maximum(rho, 1e-12)), n_per), dt)
    end = i0 + int(np.argmax(rho[i0:] > 0.1)) if np.any(rho[i0:] > 0.1) else len(rho)
    n_lin = max(1, (end - i0 - 2 * n_per) // n_per) * n_per  # whole periods: the ellipse's wobble averages out
    lin = slice(i0 + n_per, i0 + n_per + n_lin)
    dz = theory.predict_derivative(z[lin])
    model = (z[lin, 0] * dz[:, 0] + z[lin, 1] * dz[:, 1]) / (z[lin, 0] ** 2 + z[lin, 1] ** 2)
    return {"data": float(np.mean(rate[lin])), "model": float(np.mean(model)), "a_shift": float(np.mean(z[lin, 2]))}


def mean_flow_law(a_mean: np.ndarray, dt: float, shift_lc: float, r_lc: float) -> dict[str, float] | None:
    """The shift's own law from the mean-flow restart, while the oscillation is still below 1 % of the
    cycle's energy: da_s/dt (in cycle shifts per D/U) against a_s, and the relative RMS residual of the
    one-term laws -lambda a_s, -kappa a_s^2 and a constant (the mean-field model says the first)."""
    s = a_mean[:, 2] / shift_lc
    quiet = (a_mean[:, 0] ** 2 + a_mean[:, 1] ** 2) < 0.01 * r_lc**2
    n = int(np.argmin(quiet)) if not quiet.all() else len(s)
    if n < 8:
        return None
    rate = np.gradient(s, dt)[:n]
    ss = s[:n]

    def resid(col: np.ndarray) -> float:
        c = float(col @ rate / (col @ col))
        return float(np.sqrt(np.mean((rate - c * col) ** 2) / np.mean(rate**2)))

    edge = max(1, n // 8)  # the rate at the two ends, averaged over an eighth of the segment each
    return {"a_start": float(ss[0]), "a_end": float(ss[-1]), "rate_start": float(rate[:edge].mean()),
            "rate_end": float(rate[-edge:].mean()), "resid_linear": resid(ss), "resid_quadratic": resid(ss**2),
            "resid_constant": resid(np.ones(n)), "duration": n * dt}


def shift_rates(a: np.ndarray, lc: np.ndarray, a_off: np.ndarray, a_mean: np.ndarray, dt: float) -> dict[str, float]:
    """The mean-field shift rate lambda of ``da_s/dt = lambda (c r^2 - a_s)`` measured twice, model-free:
    from the mean-flow restart's decay (r ~ 0) down to half its start, and from the off-cycle
    restart's rise over its first D/U (``c`` from the cycle). One mean-field model has one lambda;
    when these differ, no such model can time both restarts."""
    r2 = a[:, 0] ** 2 + a[:, 1] ** 2
    c = float(a[lc, 2].mean() / r2[lc].mean())
    k = max(2, int(np.argmax(a_mean[:, 2] < 0.5 * a_mean[0, 2])))
    lam_mean = -float(np.mean(np.gradient(a_mean[:, 2], dt)[:k] / a_mean[:k, 2]))
    n1 = max(2, int(round(1.0 / dt)))
    gap = c * (a_off[:n1, 0] ** 2 + a_off[:n1, 1] ** 2) - a_off[:n1, 2]
    lam_off = float(np.mean(np.gradient(a_off[:, 2], dt)[:n1] / gap))
    return {"lambda_mean_flow": lam_mean, "lambda_off_cycle": lam_off}
