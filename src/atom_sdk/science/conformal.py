"""Conformal prediction intervals for one-step-ahead predictions.

* :func:`conformal_quantile` / :class:`SplitConformal`: split conformal prediction. With ``n``
  calibration scores ``|y - y_hat|`` the interval half-width is the
  ``ceil((n + 1)(1 - alpha))``-th smallest score (``inf`` when that exceeds ``n``), which gives
  marginal coverage ``>= 1 - alpha`` on exchangeable fresh data.
* :class:`AdaptiveConformal`: adaptive conformal inference (Gibbs & Candes, 2021) for streams
  whose distribution drifts. The working level is updated after each observation by
  ``alpha_t <- alpha_t + gamma (alpha - err_t)`` and the half-width is the ``1 - alpha_t``
  conformal quantile of the most recent ``window`` scores; the long-run miscoverage is within
  ``(max(alpha_1, 1 - alpha_1) + gamma) / (gamma T)`` of ``alpha`` whatever the data.

All functions are vectorised over leading axes (e.g. repetitions x variables), and every
object has a JSON-safe ``state_dict``/``load_state_dict``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = ["conformal_quantile", "conformal_rank", "SplitConformal", "AdaptiveConformal"]


def conformal_rank(n: int, alpha: float) -> int:
    """1-based rank ``ceil((n + 1)(1 - alpha))`` of the calibration score used as half-width."""
    if not 0.0 < alpha < 1.0:
        raise ValueError("alpha must be in (0, 1)")
    # small epsilon guards against float error making e.g. 90.00000000001 -> 91
    return int(math.ceil((n + 1) * (1.0 - alpha) - 1e-9))


def conformal_quantile(scores: np.ndarray, alpha: float, axis: int = 0) -> np.ndarray:
    """Finite-sample conformal quantile of ``scores`` along ``axis`` (``inf`` if too few)."""
    s = np.asarray(scores, dtype=float)
    n = s.shape[axis]
    k = conformal_rank(n, alpha)
    shape = list(s.shape)
    del shape[axis]
    if k > n or n == 0:
        return np.full(shape, np.inf)
    if k < 1:
        return np.full(shape, 0.0)
    return np.partition(s, k - 1, axis=axis).take(k - 1, axis=axis)


class SplitConformal:
    """Split conformal intervals ``y_hat +- q`` with ``q`` per output dimension."""

    def __init__(self, alpha: float = 0.1) -> None:
        conformal_rank(1, alpha)  # validates alpha
        self.alpha = float(alpha)
        self.quantile_: np.ndarray | None = None
        self.n_calibration_: int = 0

    def fit(self, residuals: np.ndarray) -> SplitConformal:
        """Calibrate on residuals ``y - y_hat`` of shape ``(n, ...)`` (held-out data only)."""
        r = np.abs(np.asarray(residuals, dtype=float))
        self.quantile_ = conformal_quantile(r, self.alpha, axis=0)
        self.n_calibration_ = int(r.shape[0])
        return self

    def interval(self, prediction: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if self.quantile_ is None:
            raise ValueError("call fit(residuals) first")
        p = np.asarray(prediction, dtype=float)
        return p - self.quantile_, p + self.quantile_

    def state_dict(self) -> dict[str, Any]:
        q = None if self.quantile_ is None else [float(v) if np.isfinite(v) else None for v in np.ravel(self.quantile_)]
        return {"alpha": self.alpha, "quantile": q, "n": self.n_calibration_}

    def load_state_dict(self, d: dict[str, Any]) -> None:
        self.alpha = float(d["alpha"])
        q = d.get("quantile")
        self.quantile_ = None if q is None else np.array([np.inf if v is None else v for v in q], dtype=float)
        self.n_calibration_ = int(d.get("n", 0))


class AdaptiveConformal:
    """Adaptive conformal inference (ACI) for a stream, one level ``alpha_t`` per output.

    Parameters
    ----------
    alpha:
        Target miscoverage.
    gamma:
        Step size of the level update (Gibbs & Candes use 0.005; larger adapts faster).
    window:
        Number of most recent scores the quantile is taken over.
    dim:
        Number of outputs (each gets its own level and score history).
    """

    def __init__(self, alpha: float = 0.1, gamma: float = 0.005, window: int = 500, dim: int = 1) -> None:
        conformal_rank(1, alpha)
        self.alpha = float(alpha)
        self.gamma = float(gamma)
        self.window = int(window)
        self.dim = int(dim)
        self.reset()

    def reset(self, scores: np.ndarray | None = None) -> None:
        """Restart at level ``alpha`` with optional initial calibration scores ``(n, dim)``."""
        self.alpha_t = np.full(self.dim, self.alpha)
        self._scores = np.zeros((0, self.dim))
        self.n_seen = 0
        self.n_miss = np.zeros(self.dim)
        if scores is not None:
            self.add_scores(scores)

    def add_scores(self, scores: np.ndarray) -> None:
        s = np.abs(np.asarray(scores, dtype=float)).reshape(-1, self.dim)
        self._scores = np.concatenate([self._scores, s])[-self.window :]

    @property
    def scores(self) -> np.ndarray:
        return self._scores

    def half_width(self) -> np.ndarray:
        """Current half-widths ``(dim,)``: ``1 - alpha_t`` conformal quantile of the scores."""
        n = self._scores.shape[0]
        a = self.alpha_t
        if n == 0:
            return np.where(a >= 1.0, 0.0, np.inf)
        k = np.ceil((n + 1) * (1.0 - a) - 1e-9).astype(int)
        srt = np.sort(self._scores, axis=0)
        q = np.take_along_axis(srt, np.clip(k - 1, 0, n - 1)[None, :], axis=0)[0]
        q = np.where(k < 1, 0.0, q)
        q = np.where((k > n) | (a <= 0.0), np.inf, q)
        return np.where(a >= 1.0, 0.0, q)

    def interval(self, prediction: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        q = self.half_width()
        p = np.asarray(prediction, dtype=float)
        return p - q, p + q

    def update(self, prediction: np.ndarray, observed: np.ndarray) -> np.ndarray:
        """Record the outcome of the interval issued for ``prediction``; returns the miss flags."""
        p = np.asarray(prediction, dtype=float).reshape(self.dim)
        y = np.asarray(observed, dtype=float).reshape(self.dim)
        q = self.half_width()
        score = np.abs(y - p)
        err = (score > q).astype(float)
        self.alpha_t = self.alpha_t + self.gamma * (self.alpha - err)
        self.n_seen += 1
        self.n_miss += err
        self.add_scores(score[None, :])
        return err.astype(bool)

    @property
    def empirical_coverage(self) -> np.ndarray:
        return 1.0 - self.n_miss / max(self.n_seen, 1)

    def state_dict(self) -> dict[str, Any]:
        return {
            "alpha": self.alpha,
            "gamma": self.gamma,
            "window": self.window,
            "dim": self.dim,
            "alpha_t": self.alpha_t.tolist(),
            "scores": self._scores.tolist(),
            "n_seen": self.n_seen,
            "n_miss": self.n_miss.tolist(),
        }

    def load_state_dict(self, d: dict[str, Any]) -> None:
        self.alpha = float(d["alpha"])
        self.gamma = float(d["gamma"])
        self.window = int(d["window"])
        self.dim = int(d["dim"])
        self.alpha_t = np.asarray(d["alpha_t"], dtype=float).reshape(self.dim)
        self._scores = np.asarray(d["scores"], dtype=float).reshape(-1, self.dim)
        self.n_seen = int(d["n_seen"])
        self.n_miss = np.asarray(d["n_miss"], dtype=float).reshape(self.dim)
