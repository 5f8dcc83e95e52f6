"""Experiment planning: exploratory actions that reduce model uncertainty, and the greedy
theory-derived controller.

* :func:`propose_action` with ``strategy="variance"`` (default) samples candidate actions in
  the box ``[low, high]`` (random points plus the corners and the centre) and returns the one
  that maximises the disagreement of the theory's ensemble about the next state (the variance
  over members of ``x + dt f_b(x, u)``, normalised per variable by ``scale``). For a single fit
  the predictive variance comes from the coefficient standard errors. Where the models
  disagree most is where a new sample is most informative (query by committee).
* ``strategy="excite"`` (also the fallback when no kept term involves a control, so that the
  ensemble cannot disagree about them) drives the control whose coefficients are least certain
  (:func:`least_certain_control`, largest relative std over the terms it appears in) to a
  random end of its range and draws the others at random.
* :func:`greedy_action` minimises ``sum_i w_i (x_hat_next_i(u) - target_i)^2`` over the box with
  a deterministic grid / Halton search followed by a vectorised shrinking local search.
"""

from __future__ import annotations

import itertools

import numpy as np

from atom_sdk.science.theory import Theory

__all__ = [
    "candidate_actions",
    "prediction_variance",
    "least_certain_control",
    "propose_action",
    "greedy_action",
]


def _box(low: np.ndarray, high: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    lo = np.asarray(low, dtype=float).ravel()
    hi = np.asarray(high, dtype=float).ravel()
    if lo.shape != hi.shape:
        raise ValueError("low and high must have the same shape")
    if np.any(hi < lo):
        raise ValueError("every high must be >= low")
    return lo, hi


def candidate_actions(
    low: np.ndarray, high: np.ndarray, rng: np.random.Generator, n_random: int = 64, max_corners: int = 16
) -> np.ndarray:
    """Random points in the box, plus its centre and (up to ``max_corners``) corners."""
    lo, hi = _box(low, high)
    m = lo.size
    pts = [0.5 * (lo + hi)[None, :]]
    if m and 2**m <= max_corners:
        corners = np.array(list(itertools.product([0.0, 1.0], repeat=m)))
        pts.append(lo + corners * (hi - lo))
    pts.append(lo + rng.random((n_random, m)) * (hi - lo))
    return np.concatenate(pts, axis=0)


def prediction_variance(
    theory: Theory, x: np.ndarray, actions: np.ndarray, dt: float, scale: np.ndarray | None = None
) -> np.ndarray:
    """Uncertainty of the predicted next state for each candidate action, ``(n_actions,)``."""
    x = np.asarray(x, dtype=float)
    acts = np.asarray(actions, dtype=float)
    xs = np.broadcast_to(x, (acts.shape[0], x.size))
    sc = np.ones(x.size) if scale is None else np.where(np.asarray(scale) > 0, scale, 1.0)
    ens = theory.ensemble_predict_derivative(xs, acts)
    if ens is not None:
        var = np.var(dt * ens, axis=0)  # (n_actions, n_vars)
    else:
        var = (dt * theory.derivative_std(xs, acts)) ** 2
    return np.sum(var / sc**2, axis=-1)


def least_certain_control(theory: Theory) -> tuple[int, np.ndarray]:
    """Index of the control with the largest relative coefficient uncertainty, and all scores.

    A control's score is the largest ``std / (|coef| + std)`` over the candidate terms that
    involve it (kept or not, so a control with no kept term but noisy estimates scores high).
    """
    m = theory.n_controls
    if m == 0:
        raise ValueError("the theory has no controls")
    n = theory.n_vars
    scores = np.zeros(m)
    for j in range(m):
        idx = [
            k
            for k, t in enumerate(theory.terms)
            if (t.kind == "poly" and t.powers[n + j] > 0)
            or (t.kind == "trig" and t.input_index == n + j)
            or (t.kind == "custom" and (n + j) in t.inputs)
        ]
        best = 0.0
        for eq in theory.equations:
            for k in idx:
                s, c = eq.coefficient_std[k], abs(eq.coefficients[k])
                if s > 0:
                    best = max(best, s / (c + s))
        scores[j] = best
    return int(np.argmax(scores)), scores


def propose_action(
    theory: Theory | None,
    x: np.ndarray,
    low: np.ndarray,
    high: np.ndarray,
    rng: np.random.Generator,
    *,
    dt: float = 1.0,
    n_candidates: int = 64,
    strategy: str = "variance",
    scale: np.ndarray | None = None,
) -> np.ndarray:
    """An exploratory action in ``[low, high]`` (uniform at random without a theory)."""
    lo, hi = _box(low, high)
    if theory is None or theory.n_controls == 0 or lo.size == 0:
        return lo + rng.random(lo.size) * (hi - lo)
    controls_used = any(
        (t.kind == "poly" and any(t.powers[theory.n_vars :]))
        or (t.kind == "trig" and t.input_index >= theory.n_vars)
        or (t.kind == "custom" and any(i >= theory.n_vars for i in t.inputs))
        for eq in theory.equations
        for t, s in zip(theory.terms, eq.support)
        if s
    )
    if strategy == "excite" or not controls_used:
        # no kept term involves a control (e.g. it was constant so far): excite one
        j, _ = least_certain_control(theory)
        u = lo + rng.random(lo.size) * (hi - lo)
        u[j] = hi[j] if rng.random() < 0.5 else lo[j]
        return u
    if strategy != "variance":
        raise ValueError("strategy must be 'variance' or 'excite'")
    acts = candidate_actions(lo, hi, rng, n_candidates)
    v = prediction_variance(theory, x, acts, dt, scale)
    if not np.any(np.isfinite(v)) or np.nanmax(v) <= 0:
        return acts[-1]  # a random candidate
    return acts[int(np.nanargmax(v))].copy()


def _grid(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    m = lo.size
    if m <= 3:
        g = {1: 21, 2: 9, 3: 5}[m]
        axes = [np.linspace(lo[i], hi[i], g) for i in range(m)]
        return np.array(list(itertools.product(*axes)))
    from scipy.stats import qmc

    pts = qmc.Halton(d=m, scramble=False).random(129)[1:]
    extra = [0.5 * (lo + hi)[None, :]]
    if 2**m <= 16:
        extra.append(lo + np.array(list(itertools.product([0.0, 1.0], repeat=m))) * (hi - lo))
    return np.concatenate([lo + pts * (hi - lo), *extra])


def greedy_action(
    theory: Theory,
    x: np.ndarray,
    target: np.ndarray,
    weights: np.ndarray,
    low: np.ndarray,
    high: np.ndarray,
    dt: float,
    method: str = "rk4",
    n_refine: int = 10,
) -> np.ndarray:
    """Control in the box minimising the weighted squared distance of the predicted next state
    to ``target``: a deterministic grid (Halton points beyond 3 controls) refined by
    ``n_refine`` rounds of a shrinking local grid / pattern search, all vectorised."""
    lo, hi = _box(low, high)
    x = np.asarray(x, dtype=float).ravel()
    tgt = np.asarray(target, dtype=float).ravel()
    w = np.asarray(weights, dtype=float).ravel()
    if lo.size == 0:
        return lo.copy()

    span = np.where(hi > lo, hi - lo, 1.0)

    def cost(us: np.ndarray) -> np.ndarray:
        with np.errstate(all="ignore"):
            nxt = theory.step(np.broadcast_to(x, (us.shape[0], x.size)), us, dt, method)
            c = np.sum(w * (nxt - tgt) ** 2, axis=-1)
            # a vanishing preference for small controls breaks ties (e.g. a theory without
            # control terms) deterministically towards u = 0
            c = c * (1.0 + 1e-9) + 1e-12 * np.sum((us / span) ** 2, axis=-1)
        return np.where(np.isfinite(c), c, np.inf)

    grid = _grid(lo, hi)
    c = cost(grid)
    best = grid[int(np.argmin(c))].copy()
    best_c = float(np.min(c))
    if not np.isfinite(best_c):
        return np.clip(np.zeros(lo.size), lo, hi)
    # vectorised zoom search around the best point (one batched evaluation per round)
    m = lo.size
    k = 5 if m <= 2 else 3
    step = (hi - lo) / (max(round(len(grid) ** (1.0 / m)), 2) - 1) if m <= 3 else (hi - lo) / 4.0
    offsets = (
        np.array(list(itertools.product(np.linspace(-1.0, 1.0, k), repeat=m)))
        if m <= 3
        else np.concatenate([np.eye(m), -np.eye(m)])
    )
    for _ in range(n_refine):
        cand = np.clip(best + offsets * step, lo, hi)
        cc = cost(cand)
        i = int(np.argmin(cc))
        if cc[i] < best_c:
            best, best_c = cand[i].copy(), float(cc[i])
        step = step * (2.0 / (k - 1) if m <= 3 else 0.5)
    return np.clip(best, lo, hi)
