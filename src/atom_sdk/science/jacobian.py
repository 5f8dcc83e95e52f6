"""The accepted law's symbolic Jacobian, as features for the agent.

Why: a law ``dx/dt = f(x, u)`` tells the agent more than its one-step prediction; how the
rate of change moves with the state (``df/dx``) and with the control (``df/du``) is the local
linear model a controller needs. The derivatives are taken exactly with sympy from the
accepted theory's expressions and compiled once per theory to numpy (``sympy.lambdify``), so
each act costs one small numpy call.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import sympy

__all__ = ["TheoryJacobian", "jacobian_dim"]

_CLIP = 1e6


def jacobian_dim(n_vars: int, n_ctrl: int) -> int:
    """Size of the flattened ``[df/dx | df/du]`` block: ``n_vars * (n_vars + n_ctrl)``."""
    return int(n_vars) * (int(n_vars) + int(n_ctrl))


class TheoryJacobian:
    """``df/dx`` (n x n) and ``df/du`` (n x m) of a theory's right-hand sides, evaluated numerically.

    ``theory`` needs ``variable_names``, ``control_names`` and ``sympy_exprs()`` (the sparse
    and implicit theories have them); the symbols are matched by name.
    """

    def __init__(self, theory: Any) -> None:
        self.variable_names = [str(v) for v in theory.variable_names]
        self.control_names = [str(c) for c in theory.control_names]
        exprs = [sympy.sympify(e) for e in theory.sympy_exprs()]
        if len(exprs) != len(self.variable_names):
            raise ValueError(f"the theory has {len(exprs)} right-hand sides for {len(self.variable_names)} variables")
        xs = [sympy.Symbol(n) for n in self.variable_names]
        us = [sympy.Symbol(n) for n in self.control_names]
        self.expressions = exprs
        self.df_dx = sympy.Matrix([[sympy.diff(e, s) for s in xs] for e in exprs])
        self.df_du = sympy.Matrix([[sympy.diff(e, s) for s in us] for e in exprs]) if us else sympy.zeros(len(xs), 0)
        args = xs + us
        self._fx = sympy.lambdify(args, self.df_dx, modules="numpy")
        self._fu = sympy.lambdify(args, self.df_du, modules="numpy") if us else None
        self._f = sympy.lambdify(args, exprs, modules="numpy")

    @property
    def n_vars(self) -> int:
        return len(self.variable_names)

    @property
    def n_ctrl(self) -> int:
        return len(self.control_names)

    def _args(self, x: np.ndarray, u: np.ndarray | None) -> list[float]:
        xa = np.asarray(x, dtype=float).reshape(-1)
        ua = np.zeros(self.n_ctrl) if u is None else np.asarray(u, dtype=float).reshape(-1)
        if xa.size != self.n_vars or ua.size != self.n_ctrl:
            raise ValueError(f"need x of {self.n_vars} and u of {self.n_ctrl} entries, got {xa.size} and {ua.size}")
        return [*xa.tolist(), *ua.tolist()]

    def rhs(self, x: np.ndarray, u: np.ndarray | None = None) -> np.ndarray:
        """``f(x, u)`` from the same expressions (what the finite-difference check differentiates)."""
        return np.asarray(self._f(*self._args(x, u)), dtype=float).reshape(self.n_vars)

    def evaluate(self, x: np.ndarray, u: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """``(df/dx (n, n), df/du (n, m))`` at ``(x, u)``."""
        args = self._args(x, u)
        n, m = self.n_vars, self.n_ctrl
        jx = np.broadcast_to(np.asarray(self._fx(*args), dtype=float), (n, n)).copy()
        ju = np.zeros((n, m)) if self._fu is None else np.broadcast_to(
            np.asarray(self._fu(*args), dtype=float), (n, m)).copy()
        return jx, ju

    def features(self, x: np.ndarray, u: np.ndarray | None = None) -> np.ndarray:
        """The flattened, finite ``[df/dx | df/du]`` rows (``float32``, size :func:`jacobian_dim`)."""
        jx, ju = self.evaluate(x, u)
        out = np.concatenate([jx, ju], axis=1).reshape(-1)
        out = np.nan_to_num(out, nan=0.0, posinf=_CLIP, neginf=-_CLIP)
        return np.clip(out, -_CLIP, _CLIP).astype(np.float32)
