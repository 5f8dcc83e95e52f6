"""Grid-convergence arithmetic: observed order and Richardson extrapolation.

Why a module of its own: the Schäfer–Turek and Taylor–Green reproductions both need the
same few formulas (Roache 1998, "Verification and Validation in Computational Science and
Engineering"), and tests check them on synthetic sequences of known order.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy.optimize import brentq


def observed_order(f: Sequence[float], h: Sequence[float]) -> float | None:
    """Observed order p from three solutions ``f`` on spacings ``h`` (fine to coarse).

    With a constant refinement ratio r = h2/h1 = h3/h2 this is the textbook
    p = ln((f3 - f2) / (f2 - f1)) / ln(r); otherwise (h3^p - h2^p)/(h2^p - h1^p) =
    (f3 - f2)/(f2 - f1) is solved for p. Returns None when the sequence is not monotone
    (oscillatory or stalled convergence), where no order can be claimed.
    """
    f1, f2, f3 = (float(v) for v in f)
    h1, h2, h3 = (float(v) for v in h)
    if not (0 < h1 < h2 < h3):
        raise ValueError("spacings must be positive and ordered fine to coarse")
    d21, d32 = f2 - f1, f3 - f2
    if d21 == 0 or d32 == 0 or d32 / d21 <= 0:
        return None
    ratio = d32 / d21
    r21, r32 = h2 / h1, h3 / h2
    if math.isclose(r21, r32, rel_tol=1e-9):
        return math.log(ratio) / math.log(r21)

    def g(p: float) -> float:
        return (h3**p - h2**p) / (h2**p - h1**p) - ratio

    lo, hi = 1e-3, 12.0
    if g(lo) * g(hi) > 0:
        return None
    return float(brentq(g, lo, hi, xtol=1e-12))


def richardson(f_fine: float, f_coarse: float, r: float, p: float) -> float:
    """Richardson-extrapolated value f_fine + (f_fine - f_coarse) / (r^p - 1)."""
    return float(f_fine + (f_fine - f_coarse) / (r**p - 1.0))


def grid_convergence_index(f_fine: float, f_coarse: float, r: float, p: float, safety: float = 1.25) -> float:
    """Roache's GCI of the fine solution: a relative error band, safety * |e21| / (r^p - 1)."""
    e = abs((f_coarse - f_fine) / f_fine) if f_fine else float("inf")
    return float(safety * e / (r**p - 1.0))


def fitted_order(h: Sequence[float], err: Sequence[float]) -> float | None:
    """Least-squares slope of log(error) against log(h): the order from more than three levels."""
    h_arr, e_arr = np.asarray(h, float), np.abs(np.asarray(err, float))
    keep = (e_arr > 0) & np.isfinite(e_arr)
    if keep.sum() < 2:
        return None
    return float(np.polyfit(np.log(h_arr[keep]), np.log(e_arr[keep]), 1)[0])
