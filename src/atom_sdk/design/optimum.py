"""The constrained optimum of a problem's analytical model under a spec's objective language.

Why a solver and not a formula: the optimum moves with the weights, directions and constraints a
spec chooses. For a model whose diagnostics are quadratic or linear in the design (the
``constrained_quadratic`` problem) the weighted objective is convex and the constraints are linear,
so SLSQP (sequential least squares, scipy) from a few starting points finds the unique optimum to
~1e-9; the tests check it against the closed-form optima (e.g. (1.5, 0.5) under x+y<=2).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.optimize import minimize

from atom_sdk.design.problems import Context, Problem
from atom_sdk.design.space import Design


def _trace(problem: Problem, design: Design, ctx: Context) -> dict[str, np.ndarray]:
    assert problem.model is not None  # nosec B101 - checked by the caller
    return {k: np.asarray([v]) for k, v in problem.model(design, ctx).items()}


def model_optimum(problem: Problem, ctx: Context, starts: int = 5, tol: float = 1e-12) -> Design | None:
    """Minimise the weighted objective of ``problem.model`` subject to ``ctx.constraints`` within the bounds."""
    from atom_sdk.design.ranking import Scorer

    if problem.model is None:
        return None
    scorer = Scorer(tuple(ctx.objectives), tuple(ctx.constraints))
    space = problem.space

    def design_of(u: np.ndarray) -> Design:
        return space.from_unit(u)

    def objective(u: np.ndarray) -> float:
        design = design_of(u)
        trace = _trace(problem, design, ctx)
        return scorer.score(trace, lambda: problem.objective(trace, ctx)).objective

    def margins(u: np.ndarray) -> np.ndarray:
        trace = _trace(problem, design_of(u), ctx)
        return np.array([row["margin"] for row in scorer.score(trace, lambda: 0.0).constraints] or [1.0])

    best: tuple[float, Any] | None = None
    rng = np.random.default_rng(0)
    for u0 in [np.full(space.dim, 0.5), *rng.uniform(0.0, 1.0, size=(starts - 1, space.dim))]:
        res = minimize(objective, u0, method="SLSQP", bounds=[(0.0, 1.0)] * space.dim,
                       constraints=[{"type": "ineq", "fun": margins}], options={"ftol": tol, "maxiter": 500})
        if np.all(margins(res.x) >= -1e-9) and (best is None or res.fun < best[0]):
            best = (float(res.fun), res.x)
    return None if best is None else design_of(best[1])


def optimum_value(problem: Problem, ctx: Context, design: Design, scorer: Any) -> float | None:
    """The weighted objective at a known optimum, from the analytical model or surrogate (None if neither)."""
    if problem.model is not None and (scorer.uses_diagnostics or problem.surrogate is None):
        trace = _trace(problem, design, ctx)
        # the solver's optimum is good to ~1e-9: report no digits beyond that (no "-3e-13" for a zero)
        return round(scorer.score(trace, lambda: problem.objective(trace, ctx)).objective, 9) + 0.0
    if problem.surrogate is not None and not scorer.uses_diagnostics:
        return float(problem.surrogate(design, ctx))
    return None
