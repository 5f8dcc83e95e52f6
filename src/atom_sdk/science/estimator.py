"""scikit-learn style estimator :class:`LawDiscoverer` around :func:`~atom_sdk.science.discover.discover`."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator

from atom_sdk.science.derivatives import Differentiation
from atom_sdk.science.discover import discover, prepare_trajectories, resolve_library
from atom_sdk.science.library import Library
from atom_sdk.science.sparse import SparseRegressor
from atom_sdk.science.theory import Theory

__all__ = ["LawDiscoverer"]


class LawDiscoverer(BaseEstimator):
    """scikit-learn style estimator around :func:`discover`.

    Parameters are the parts of a discovery, as in PySINDy's ``SINDy``: ``library`` (a
    :class:`Library`, which also names the variables and controls; default: degree 2 over
    ``x0, x1, ...`` and ``u0, ...``), ``differentiation``
    (:class:`~atom_sdk.science.derivatives.Differentiation`), ``optimizer``
    (:class:`~atom_sdk.science.sparse.SparseRegressor`) and ``seed``; all are constructor
    arguments (``get_params`` / ``set_params``), ``None`` meaning the default part.

    ``fit(x, t, u=None)`` sets ``theory_`` (a :class:`Theory`) and ``library_``;
    ``predict(x, u=None)`` returns ``dx/dt``; ``score(x, t, u=None)`` is the R^2 of the
    theory on the regression system built from ``(x, t, u)`` (filtered derivative targets vs
    filtered library, the quantity the fit minimises), averaged over the state variables.
    """

    def __init__(
        self,
        library: Library | None = None,
        differentiation: Differentiation | None = None,
        optimizer: SparseRegressor | None = None,
        seed: int | None = 0,
    ) -> None:
        self.library = library
        self.differentiation = differentiation
        self.optimizer = optimizer
        self.seed = seed

    def _differentiation(self) -> Differentiation:
        return self.differentiation if self.differentiation is not None else Differentiation()

    def fit(self, x: Any, t: Any, u: Any = None) -> LawDiscoverer:
        xs, ts, us = prepare_trajectories(x, t, u)
        n_ctrl = 0 if us is None else us[0].shape[1]
        self.library_ = resolve_library(self.library, None, None, xs[0].shape[1], n_ctrl)
        self.theory_ = discover(
            xs, ts, us, library=self.library_, differentiation=self.differentiation, optimizer=self.optimizer,
            seed=self.seed,
        )
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
        system = self._differentiation().systems(self.library_, xs, ts, us)
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
