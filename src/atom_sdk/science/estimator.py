"""scikit-learn style estimator :class:`LawDiscoverer` around :func:`~atom_sdk.science.discover.discover`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator

from atom_sdk.science.discover import _build_systems, discover, prepare_trajectories
from atom_sdk.science.library import CustomTerm, Library
from atom_sdk.science.theory import Theory

__all__ = ["LawDiscoverer"]


class LawDiscoverer(BaseEstimator):
    """scikit-learn style estimator around :func:`discover`.

    ``fit(x, t, u=None)`` sets ``theory_`` (a :class:`Theory`) and ``library_``;
    ``predict(x, u=None)`` returns ``dx/dt``; ``score(x, t, u=None)`` is the R^2 of the
    theory on the regression system built from ``(x, t, u)`` (filtered derivative targets vs
    filtered library, the quantity the fit minimises), averaged over the state variables.
    All constructor arguments are parameters (``get_params`` / ``set_params``).
    """

    def __init__(
        self,
        variable_names: Sequence[str] | None = None,
        control_names: Sequence[str] | None = None,
        degree: int = 2,
        include_bias: bool = True,
        include_interaction: bool = True,
        include_trig: bool = False,
        n_frequencies: int = 1,
        custom_terms: Sequence[CustomTerm] | None = None,
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
    ) -> None:
        self.variable_names = variable_names
        self.control_names = control_names
        self.degree = degree
        self.include_bias = include_bias
        self.include_interaction = include_interaction
        self.include_trig = include_trig
        self.n_frequencies = n_frequencies
        self.custom_terms = custom_terms
        self.derivative = derivative
        self.sg_window = sg_window
        self.sg_polyorder = sg_polyorder
        self.weak_window = weak_window
        self.weak_order = weak_order
        self.weak_stride = weak_stride
        self.threshold = threshold
        self.selection = selection
        self.n_thresholds = n_thresholds
        self.ensembled = ensembled
        self.ensemble_size = ensemble_size
        self.library_bagging = library_bagging
        self.library_drop_fraction = library_drop_fraction
        self.inclusion_threshold = inclusion_threshold
        self.aggregate = aggregate
        self.cv_folds = cv_folds
        self.seed = seed

    def _kwargs(self) -> dict[str, Any]:
        kw = self.get_params(deep=False)
        kw["custom_terms"] = kw["custom_terms"] or ()
        return kw

    def fit(self, x: Any, t: Any, u: Any = None) -> LawDiscoverer:
        kw = self._kwargs()
        self.theory_ = discover(x, t, u, **kw)
        lib_kw = {
            k: kw[k]
            for k in ("degree", "include_bias", "include_interaction", "include_trig", "n_frequencies", "custom_terms")
        }
        self.library_ = Library(self.theory_.variable_names, self.theory_.control_names, **lib_kw)
        self.n_features_in_ = self.theory_.n_vars
        return self

    def _check(self) -> Theory:
        if not hasattr(self, "theory_"):
            from sklearn.exceptions import NotFittedError

            raise NotFittedError("LawDiscoverer is not fitted yet; call fit(x, t, u) first")
        return self.theory_

    def predict(self, x: Any, u: Any = None) -> np.ndarray:
        return self._check().predict_derivative(
            np.asarray(x, dtype=float), None if u is None else np.asarray(u, dtype=float)
        )

    def score(self, x: Any, t: Any, u: Any = None) -> float:
        theory = self._check()
        xs, ts, us = prepare_trajectories(x, t, u)
        kw = self._kwargs()
        system = _build_systems(self.library_, xs, ts, us, kw)
        pred = system.rhs @ theory.coefficient_matrix().T
        ss_res = np.sum((system.lhs - pred) ** 2, axis=0)
        ss_tot = np.sum((system.lhs - system.lhs.mean(axis=0)) ** 2, axis=0)
        return float(np.mean(1.0 - ss_res / np.where(ss_tot > 0, ss_tot, 1.0)))

    def equations(self, precision: int = 4) -> list[str]:
        return self._check().equation_strings(precision)

    def simulate(
        self, x0: Any, dt: float, n_steps: int | None = None, u: Any = None, method: str = "rk4"
    ) -> np.ndarray:
        return self._check().simulate(np.asarray(x0, dtype=float), dt, n_steps, u, method)
