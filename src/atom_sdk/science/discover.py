"""Entry point :func:`discover`: trajectories in, a governed-law :class:`Theory` out.

The scikit-learn style :class:`~atom_sdk.science.estimator.LawDiscoverer` wraps it from its own
module (it imports scikit-learn), so this one stays light and nothing here imports it back.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from atom_sdk.science.derivatives import Differentiation, RegressionSystem, is_uniform
from atom_sdk.science.library import Library
from atom_sdk.science.sparse import SparseRegressor
from atom_sdk.science.theory import Theory, theory_from_result

__all__ = ["discover", "theory_from_result", "prepare_trajectories", "resolve_library"]


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


def resolve_library(
    library: Library | None,
    variable_names: Sequence[str] | None,
    control_names: Sequence[str] | None,
    n_vars: int,
    n_ctrl: int,
) -> Library:
    """``library``, or the default one (:class:`Library` of degree 2) over the given names
    (default ``x0, x1, ...`` and ``u0, ...``); checks it matches the data's dimensions."""
    if library is None:
        vnames = list(variable_names) if variable_names is not None else [f"x{i}" for i in range(n_vars)]
        cnames = list(control_names) if control_names is not None else [f"u{i}" for i in range(n_ctrl)]
        library = Library(vnames, cnames)
    if len(library.variable_names) != n_vars or len(library.control_names) != n_ctrl:
        raise ValueError(
            f"data has {n_vars} variables and {n_ctrl} controls; names/library give "
            f"{library.variable_names} and {library.control_names}"
        )
    return library


def discover(
    x: Any,
    t_or_dt: Any,
    u: Any = None,
    *,
    library: Library | None = None,
    differentiation: Differentiation | None = None,
    optimizer: SparseRegressor | None = None,
    variable_names: Sequence[str] | None = None,
    control_names: Sequence[str] | None = None,
    seed: int | None = 0,
    rng: np.random.Generator | None = None,
) -> Theory:
    """Discover ``dx/dt = f(x, u)`` from sampled trajectories by sparse regression.

    Like PySINDy's ``SINDy(feature_library, optimizer, differentiation_method)``, a discovery
    is three parts, each holding its own settings: the candidate :class:`Library`, the
    :class:`~atom_sdk.science.derivatives.Differentiation` that forms the derivative targets
    and the :class:`~atom_sdk.science.sparse.SparseRegressor` that fits them.

    Parameters
    ----------
    x:
        States ``(n_samples, n_vars)`` (or a list of such arrays for several trajectories).
    t_or_dt:
        Sampling step, or time stamps ``(n_samples,)`` (or a list matching ``x``).
    u:
        Controls ``(n_samples, n_ctrl)``; ``u[i]`` is held on ``[t[i], t[i+1])``.
    library:
        Candidate terms; default a degree-2 polynomial :class:`Library` over ``variable_names``
        and ``control_names``.
    differentiation:
        Derivative targets; default ``Differentiation()`` (Savitzky-Golay, window 15, order 2).
    optimizer:
        Sparse regression and model selection; default ``SparseRegressor()`` (a 20-member
        bagging ensemble of STLSQ fits, threshold chosen by BIC).
    variable_names, control_names:
        Names used in the equations when no ``library`` is given (default ``x0, x1, ...`` and
        ``u0, ...``).
    seed, rng:
        Randomness of the ensemble (``rng`` wins over ``seed``).

    Returns
    -------
    Theory
    """
    xs, ts, us = prepare_trajectories(x, t_or_dt, u)
    n_ctrl = 0 if us is None else us[0].shape[1]
    library = resolve_library(library, variable_names, control_names, xs[0].shape[1], n_ctrl)
    differentiation = differentiation if differentiation is not None else Differentiation()
    optimizer = optimizer if optimizer is not None else SparseRegressor()
    system = differentiation.systems(library, xs, ts, us)
    result = optimizer.fit_system(system, rng if rng is not None else np.random.default_rng(seed))
    return theory_from_result(library, result, _metadata(ts, system, differentiation, optimizer))


def _metadata(
    ts: list[np.ndarray], system: RegressionSystem, differentiation: Differentiation, optimizer: SparseRegressor
) -> dict[str, Any]:
    """What a discovered :class:`Theory` records about how it was found."""
    dt = float(np.diff(ts[0]).mean()) if all(is_uniform(t) for t in ts) and ts[0].size > 1 else None
    return {
        "dt": dt,
        "derivative": differentiation.method,
        "selection": optimizer.selection,
        "ensembled": optimizer.ensembled,
        "ensemble_size": optimizer.ensemble_size if optimizer.ensembled else 1,
        "threshold": optimizer.threshold,
        "n_rows": system.n_rows,
        "n_eff": system.n_eff,
        "n_trajectories": len(ts),
    }
