"""Entry point :func:`discover`: trajectories in, a governed-law :class:`Theory` out.

The scikit-learn style :class:`~atom_sdk.science.estimator.LawDiscoverer` wraps it from its own
module (it imports scikit-learn), so this one stays light and nothing here imports it back.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from atom_sdk.science.derivatives import RegressionSystem, build_system, is_uniform
from atom_sdk.science.library import CustomTerm, Library
from atom_sdk.science.sparse import SparseRegressor
from atom_sdk.science.theory import Theory, theory_from_result

__all__ = ["discover", "theory_from_result", "prepare_trajectories"]


def prepare_trajectories(
    x: Any, t_or_dt: Any, u: Any = None
) -> tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray] | None]:
    """Normalise inputs to lists of ``x (n, n_vars)``, ``t (n,)`` and ``u (n, n_ctrl)``.

    ``x`` is one array or a list of 2-D arrays (several trajectories); ``t_or_dt`` a step, a time
    array, or a list of either; ``u`` ``None``, one array or a list.
    """
    multi = isinstance(x, (list, tuple)) and len(x) > 0 and all(np.ndim(xi) == 2 for xi in x)
    xs = [np.asarray(xi, dtype=float) for xi in x] if multi else [np.asarray(x, dtype=float)]
    xs = [xi[:, None] if xi.ndim == 1 else xi for xi in xs]
    for xi in xs:
        if xi.ndim != 2:
            raise ValueError(f"x must be (n_samples, n_vars), got shape {xi.shape}")
        if not np.all(np.isfinite(xi)):
            raise ValueError("x contains NaN or Inf")
    if isinstance(t_or_dt, (list, tuple)) and multi:
        ts_in = list(t_or_dt)
    else:
        ts_in = [t_or_dt] * len(xs)
    ts = []
    for xi, ti in zip(xs, ts_in):
        if np.ndim(ti) == 0:
            if float(ti) <= 0:
                raise ValueError("dt must be positive")
            ts.append(np.arange(xi.shape[0]) * float(ti))
        else:
            ti = np.asarray(ti, dtype=float)
            if ti.shape != (xi.shape[0],):
                raise ValueError(f"t has shape {ti.shape}, expected ({xi.shape[0]},)")
            ts.append(ti)
    us = None
    if u is not None:
        us_in = list(u) if multi else [u]
        us = []
        for xi, ui in zip(xs, us_in):
            ui = np.asarray(ui, dtype=float)
            ui = ui[:, None] if ui.ndim == 1 else ui
            if ui.shape[0] != xi.shape[0]:
                raise ValueError(f"u has {ui.shape[0]} rows, x has {xi.shape[0]}")
            if not np.all(np.isfinite(ui)):
                raise ValueError("u contains NaN or Inf")
            us.append(ui)
    return xs, ts, us


def _build_systems(library: Library, xs, ts, us, opts: dict[str, Any]) -> RegressionSystem:
    systems = [
        build_system(
            library,
            xi,
            ti,
            None if us is None else us[k],
            method=opts["derivative"],
            sg_window=opts["sg_window"],
            sg_polyorder=opts["sg_polyorder"],
            weak_window=opts["weak_window"],
            weak_order=opts["weak_order"],
            weak_stride=opts["weak_stride"],
        )
        for k, (xi, ti) in enumerate(zip(xs, ts))
    ]
    return RegressionSystem.concatenate(systems)


def discover(
    x: Any,
    t_or_dt: Any,
    u: Any = None,
    *,
    variable_names: Sequence[str] | None = None,
    control_names: Sequence[str] | None = None,
    degree: int = 2,
    include_bias: bool = True,
    include_interaction: bool = True,
    include_trig: bool = False,
    n_frequencies: int = 1,
    custom_terms: Sequence[CustomTerm] = (),
    library: Library | None = None,
    derivative: str = "smoothed_fd",
    sg_window: int = 15,
    sg_polyorder: int = 2,
    weak_window: int | None = None,
    weak_order: int = 4,
    weak_stride: int | None = None,
    threshold: float = 0.05,
    selection: str = "bic",
    n_thresholds: int = 24,
    ensembled: bool = True,
    ensemble_size: int = 20,
    library_bagging: bool = False,
    library_drop_fraction: float = 0.2,
    inclusion_threshold: float = 0.5,
    aggregate: str = "median",
    cv_folds: int = 5,
    seed: int | None = 0,
    rng: np.random.Generator | None = None,
) -> Theory:
    """Discover ``dx/dt = f(x, u)`` from sampled trajectories by sparse regression.

    Parameters
    ----------
    x:
        States ``(n_samples, n_vars)`` (or a list of such arrays for several trajectories).
    t_or_dt:
        Sampling step, or time stamps ``(n_samples,)`` (or a list matching ``x``).
    u:
        Controls ``(n_samples, n_ctrl)``; ``u[i]`` is held on ``[t[i], t[i+1])``.
    variable_names, control_names:
        Names used in the equations (default ``x0, x1, ...`` and ``u0, ...``).
    degree, include_bias, include_interaction, include_trig, n_frequencies, custom_terms:
        Candidate library (see :class:`~atom_sdk.science.library.Library`); or pass ``library``.
    derivative:
        ``"smoothed_fd"`` (Savitzky-Golay, window ``sg_window``, ``sg_polyorder``) or
        ``"weak"`` (test functions ``(1-s^2)^weak_order`` over ``weak_window`` intervals, every
        ``weak_stride`` samples); see :mod:`~atom_sdk.science.derivatives`.
    threshold, selection, n_thresholds, cv_folds:
        STLSQ threshold on standardised coefficients and model selection
        (``"none" | "aic" | "bic" | "cv"``) over the threshold path.
    ensembled, ensemble_size, library_bagging, library_drop_fraction, inclusion_threshold, aggregate:
        Bagging ensemble (``ensembled=False`` gives a single STLSQ fit).
    seed, rng:
        Randomness of the ensemble (``rng`` wins over ``seed``).

    Returns
    -------
    Theory
    """
    xs, ts, us = prepare_trajectories(x, t_or_dt, u)
    n_vars = xs[0].shape[1]
    n_ctrl = 0 if us is None else us[0].shape[1]
    if library is None:
        vnames = list(variable_names) if variable_names is not None else [f"x{i}" for i in range(n_vars)]
        cnames = list(control_names) if control_names is not None else [f"u{i}" for i in range(n_ctrl)]
        library = Library(
            vnames,
            cnames,
            degree=degree,
            include_bias=include_bias,
            include_interaction=include_interaction,
            include_trig=include_trig,
            n_frequencies=n_frequencies,
            custom_terms=custom_terms,
        )
    if len(library.variable_names) != n_vars or len(library.control_names) != n_ctrl:
        raise ValueError(
            f"data has {n_vars} variables and {n_ctrl} controls; names/library give "
            f"{library.variable_names} and {library.control_names}"
        )
    opts = dict(
        derivative=derivative,
        sg_window=sg_window,
        sg_polyorder=sg_polyorder,
        weak_window=weak_window,
        weak_order=weak_order,
        weak_stride=weak_stride,
    )
    system = _build_systems(library, xs, ts, us, opts)
    reg = SparseRegressor(
        threshold=threshold,
        selection=selection,
        n_thresholds=n_thresholds,
        ensembled=ensembled,
        ensemble_size=ensemble_size,
        library_bagging=library_bagging,
        library_drop_fraction=library_drop_fraction,
        inclusion_threshold=inclusion_threshold,
        aggregate=aggregate,
        cv_folds=cv_folds,
    )
    rng = rng if rng is not None else np.random.default_rng(seed)
    result = reg.fit_system(system, rng)
    dt = float(np.diff(ts[0]).mean()) if all(is_uniform(t) for t in ts) and ts[0].size > 1 else None
    meta = {
        "dt": dt,
        "derivative": derivative,
        "selection": selection,
        "ensembled": ensembled,
        "ensemble_size": ensemble_size if ensembled else 1,
        "threshold": threshold,
        "n_rows": system.n_rows,
        "n_eff": system.n_eff,
        "n_trajectories": len(xs),
    }
    return theory_from_result(library, result, meta)
