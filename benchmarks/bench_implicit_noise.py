"""Rational laws under measurement noise: the implicit (SINDy-PI) backend, pointwise vs weak form.

Two rational laws, each from five trajectories of 400 samples (``dt = 0.01``, integrated with
``rtol = 1e-10``), with Gaussian noise of ``level x`` the clean data's standard deviation added
to every sample:

* Michaelis-Menten uptake ``dx/dt = 0.6 - 1.5 x / (0.3 + x) = (0.18 - 0.9 x) / (0.3 + x)``
  (Kaheman, Kutz & Brunton 2020, SINDy-PI), library degree 2, ``x0`` in 0.05 ... 4;
* Hill-type autorepression ``dx/dt = 2 / (1 + x^2) - 0.5 x = (2 - 0.5 x - 0.5 x^3) / (1 + x^2)``,
  library degree 3, ``x0`` in 0.01 ... 6.

``noise="pooled"`` takes the standard deviation over all trajectories together (as
:func:`atom_sdk.evidence.strogatz.relative_noise` does), ``"per_trajectory"`` that of each
trajectory (the older tests' convention: the trajectories that barely move get almost none).
Scores per (law, noise, method), over ``seeds`` noise draws: the fraction with the exact support
(numerator and denominator monomials, after dividing by the denominator's leading coefficient)
and, over those, the median and largest relative coefficient error. ``pointwise`` is
``ImplicitDiscoverer(differentiation=Differentiation())`` (Savitzky-Golay window 15), ``weak`` its
default (:mod:`atom_sdk.science.implicit_weak`).

Usage::

    python benchmarks/bench_implicit_noise.py [--seeds 10] [--levels 0 0.01 0.02 0.05 0.1]
        [--noise pooled|per_trajectory] [--laws mm hill] [--methods pointwise weak] [--out f.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class RationalLaw:
    """A 1-D rational law, its initial conditions and its true ``N`` and ``D`` (``D`` monic)."""

    rhs: Callable[[float, np.ndarray], np.ndarray]
    x0s: tuple[float, ...]
    degree: int
    num: dict[int, float]
    den: dict[int, float]


LAWS = {
    "mm": RationalLaw(lambda t, x: 0.6 - 1.5 * x / (0.3 + x), (0.05, 0.5, 1.0, 2.0, 4.0), 2,
                      {0: 0.18, 1: -0.9}, {0: 0.3, 1: 1.0}),
    "hill": RationalLaw(lambda t, x: 2.0 / (1.0 + x**2) - 0.5 * x, (0.01, 0.5, 2.0, 4.0, 6.0), 3,
                        {0: 2.0, 1: -0.5, 3: -0.5}, {0: 1.0, 2: 1.0}),
}
NOISE_MODELS = ("pooled", "per_trajectory")
METHODS = ("pointwise", "weak")


def trajectories(law: RationalLaw, level: float, seed: int, noise: str = "pooled",
                 dt: float = 0.01, n: int = 400) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Noisy samples of the law's trajectories (see the module docstring for ``noise``)."""
    from scipy.integrate import solve_ivp

    if noise not in NOISE_MODELS:
        raise ValueError(f"noise must be one of {NOISE_MODELS}, got {noise!r}")
    t = np.arange(n) * dt
    clean = [solve_ivp(law.rhs, (0.0, t[-1]), [x0], t_eval=t, rtol=1e-10, atol=1e-12).y.T for x0 in law.x0s]
    rng = np.random.default_rng(seed)
    pooled = np.std(np.concatenate(clean), axis=0)
    xs = [x + level * (pooled if noise == "pooled" else np.std(x, axis=0)) * rng.standard_normal(x.shape) for x in clean]
    return xs, [t] * len(xs)


def law_coefficients(expression: str) -> tuple[dict[int, float], dict[int, float]] | None:
    """Monomial coefficients of ``N`` and ``D`` of a 1-D law ``N/D`` over ``x``, ``D`` monic
    (``None`` if the expression is not a ratio of polynomials in ``x``)."""
    import sympy

    x = sympy.Symbol("x")
    num, den = sympy.fraction(sympy.together(sympy.sympify(expression, locals={"x": x})))
    try:
        lead = sympy.Poly(den, x).LC()
        N, D = sympy.Poly(sympy.expand(num / lead), x), sympy.Poly(sympy.expand(den / lead), x)
    except sympy.PolynomialError:
        return None
    return ({m[0]: float(c) for m, c in zip(N.monoms(), N.coeffs())},
            {m[0]: float(c) for m, c in zip(D.monoms(), D.coeffs())})


def score_law(expression: str, law: RationalLaw) -> tuple[bool, float]:
    """Exact support, and the largest relative error over the true non-unit coefficients."""
    got = law_coefficients(expression)
    if got is None or set(got[0]) != set(law.num) or set(got[1]) != set(law.den):
        return False, float("nan")
    errs = [abs(got[0][k] - v) / abs(v) for k, v in law.num.items()]
    errs += [abs(got[1][k] - v) / abs(v) for k, v in law.den.items() if k != max(law.den)]
    return True, float(max(errs))


def run_cell(name: str, level: float, method: str, seeds: int, noise: str = "pooled") -> dict[str, Any]:
    """One (law, noise level, method) cell over ``seeds`` noise draws (seed ``s`` for draw ``s``)."""
    from atom_sdk.science.derivatives import Differentiation
    from atom_sdk.science.implicit import ImplicitDiscoverer
    from atom_sdk.science.library import Library

    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    law = LAWS[name]
    exact, errors, supports = [], [], []
    t0 = time.perf_counter()
    for s in range(seeds):
        xs, ts = trajectories(law, level, s, noise)
        diff = Differentiation() if method == "pointwise" else None
        est = ImplicitDiscoverer(library=Library(["x"], degree=law.degree), differentiation=diff).fit(xs, ts)
        expr = est.theory_.metadata["expressions"]["x"]
        ok, err = score_law(expr, law)
        exact.append(ok)
        errors.append(err)
        supports.append(expr)
    good = np.array([e for e in errors if np.isfinite(e)])
    return {
        "law": name, "noise": float(level), "noise_model": noise, "method": method, "seeds": int(seeds),
        "exact": int(sum(exact)), "exact_rate": float(np.mean(exact)),
        "coef_err_median": float(np.median(good)) if good.size else None,
        "coef_err_max": float(good.max()) if good.size else None,
        "seconds_per_fit": (time.perf_counter() - t0) / max(seeds, 1),
        "expressions": supports,
    }


def run_table(laws: Sequence[str] = ("mm", "hill"), levels: Sequence[float] = (0.0, 0.01, 0.02, 0.05, 0.1),
              methods: Sequence[str] = METHODS, seeds: int = 10, noise: str = "pooled") -> list[dict[str, Any]]:
    return [run_cell(name, float(lv), m, seeds, noise) for name in laws for lv in levels for m in methods]


def markdown(cells: list[dict[str, Any]]) -> str:
    methods = list(dict.fromkeys(c["method"] for c in cells))
    lines = ["| law | noise | " + " | ".join(methods) + " |", "|---|---|" + "---|" * len(methods)]
    for key in dict.fromkeys((c["law"], c["noise"]) for c in cells):
        row = []
        for m in methods:
            c = next(c for c in cells if (c["law"], c["noise"], c["method"]) == (*key, m))
            err = "" if c["coef_err_median"] is None else f"; coef err median {100 * c['coef_err_median']:.1f} %, max {100 * c['coef_err_max']:.1f} %"
            row.append(f"{c['exact']}/{c['seeds']} exact{err}")
        lines.append(f"| {key[0]} | {100 * key[1]:g} % | " + " | ".join(row) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--levels", type=float, nargs="+", default=[0.0, 0.01, 0.02, 0.05, 0.1])
    ap.add_argument("--laws", nargs="+", default=list(LAWS), choices=list(LAWS))
    ap.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    ap.add_argument("--noise", default="pooled", choices=list(NOISE_MODELS))
    ap.add_argument("--out", default=None, help="write the cells as JSON here")
    a = ap.parse_args(argv)
    cells = run_table(a.laws, a.levels, a.methods, a.seeds, a.noise)
    print(f"noise model: {a.noise}; {a.seeds} seeds per cell")
    print(markdown(cells))
    if a.out:
        with open(a.out, "w") as fh:
            json.dump(cells, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
