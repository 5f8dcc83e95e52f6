"""Symbolic regression: laws outside any fixed library, as a Pareto front of sympy expressions.

:class:`SymbolicRegressor` fits ``y = f(z)`` and keeps, for each expression complexity (the
number of nodes of its sympy tree), the most accurate expression found: ``pareto_`` is that
front, ``expression_`` the chosen law (the simplest whose held-out nMSE is within ``parsimony`` of
the best, or below ``tolerance``). Backends:

``"pysr"``
    PySR (Cranmer 2023), used only when the ``pysr`` package *and* a Julia runtime are already
    present (:func:`pysr_available`); it is never imported otherwise, because importing it
    without Julia downloads and installs one.
``"gplearn"``
    gplearn's genetic programming (an optional extra, ``pip install gplearn``); its last
    generation's programs form the front.
``"enumerate"`` (the pure-Python fallback, always available, deterministic)
    An exhaustive search over sums of up to ``max_terms`` primitives ``1, v, v^2, v*w,
    f(k v), v f(k w)`` with ``f`` in ``unary`` (``sin``, ``cos``, ``exp``) and ``k`` on a grid;
    outer coefficients by least squares on the Gram matrix, larger sums by a beam, then the
    inner constants ``k`` of the front's members refined by nonlinear least squares
    (``scipy.optimize.least_squares``, restarts drawn from ``random_state``).

``"auto"`` picks ``"pysr"`` when available, else ``"enumerate"``: gplearn is stochastic and,
within the small budgets an online scientist can afford, finds the laws the enumeration finds
less reliably, so it is opt-in. :func:`sr_theory` turns the fitted laws of all state variables
into a :class:`~atom_sdk.science.theory.Theory` whose terms are the expression's additive
pieces, so symbolic laws are governed and ledgered like sparse ones.
"""

from __future__ import annotations

import importlib.util
import itertools
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import sympy

from atom_sdk.science.library import Term, _lambdify_custom
from atom_sdk.science.theory import Equation, Theory

__all__ = ["SRCandidate", "SymbolicRegressor", "pysr_available", "sr_theory", "complexity"]

_UNARY = {"sin": (np.sin, sympy.sin), "cos": (np.cos, sympy.cos), "exp": (np.exp, sympy.exp)}
_GRID = {"sin": (0.5, 1.0, 2.0, 3.0), "cos": (0.5, 1.0, 2.0, 3.0), "exp": (-2.0, -1.0, -0.5, 0.5, 1.0)}


def pysr_available() -> bool:
    """``pysr`` is installed and a Julia runtime is already there (``julia`` on the PATH or
    juliacall pointed at one); never imports pysr, which would install Julia."""
    if importlib.util.find_spec("pysr") is None:
        return False
    exe = os.environ.get("PYTHON_JULIACALL_EXE") or shutil.which("julia")
    return bool(exe and os.path.exists(exe))


def complexity(expr: sympy.Expr) -> int:
    """Nodes of the expression tree (PySR's default complexity measure)."""
    return sum(1 for _ in sympy.preorder_traversal(expr))


@dataclass
class SRCandidate:
    """One expression of the Pareto front: ``error`` is the held-out nMSE."""

    expr: sympy.Expr
    complexity: int
    error: float


@dataclass(frozen=True)
class _Prim:
    """A primitive ``outer(v) * f(k * z[w])`` of the enumeration (``f=""``: no function)."""

    v: int  # multiplying input, -1 for none
    f: str
    w: int  # argument input of f (or of the monomial v*w / v^2), -1 for none
    k: float = 1.0

    def evaluate(self, z: np.ndarray, k: float | None = None) -> np.ndarray:
        k = self.k if k is None else k
        out = np.ones(z.shape[0]) if self.v < 0 else z[:, self.v].copy()
        if self.f:
            with np.errstate(all="ignore"):
                out = out * _UNARY[self.f][0](k * z[:, self.w])
        elif self.w >= 0:
            out = out * z[:, self.w]
        return out

    def expr(self, syms: Sequence[sympy.Symbol], k: float | None = None) -> sympy.Expr:
        k = self.k if k is None else k
        out = sympy.Integer(1) if self.v < 0 else syms[self.v]
        if self.f:
            # always a Float, so a law's structure (constants as k) does not depend on whether
            # refinement moved k off the grid
            out = out * _UNARY[self.f][1](sympy.Float(float(k), 15) * syms[self.w])
        elif self.w >= 0:
            out = out * syms[self.w]
        return out


def _nmse(pred: np.ndarray, y: np.ndarray) -> float:
    with np.errstate(all="ignore"):
        e = float(np.mean((pred - y) ** 2) / max(float(np.var(y)), 1e-300))
    return e if np.isfinite(e) else np.inf


class SymbolicRegressor:
    """fit/predict symbolic regression returning sympy expressions (see the module docstring).

    Parameters
    ----------
    backend:
        ``"auto"``, ``"pysr"``, ``"gplearn"`` or ``"enumerate"``.
    unary:
        Unary functions the search may use (``"sin"``, ``"cos"``, ``"exp"``).
    max_terms:
        Most additive primitives in an enumerated expression (the constant counts as one).
    beam:
        Subsets kept per size when extending sums beyond two primitives.
    parsimony, tolerance:
        Relative / absolute held-out nMSE allowed for choosing a simpler expression.
    random_state:
        Seed (or seed sequence) of restarts and of the GP backends.
    options:
        Extra keyword arguments of the backend's own estimator (PySR / gplearn).
    """

    def __init__(
        self,
        backend: str = "auto",
        unary: Sequence[str] = ("sin", "cos", "exp"),
        max_terms: int = 3,
        beam: int = 40,
        parsimony: float = 0.25,
        tolerance: float = 1e-4,
        random_state: Any = 0,
        options: dict[str, Any] | None = None,
    ) -> None:
        if backend not in ("auto", "pysr", "gplearn", "enumerate"):
            raise ValueError(f"backend must be 'auto', 'pysr', 'gplearn' or 'enumerate', got {backend!r}")
        bad = [u for u in unary if u not in _UNARY]
        if bad:
            raise ValueError(f"unknown unary functions {bad}; choose from {sorted(_UNARY)}")
        if int(max_terms) < 1:
            raise ValueError("max_terms must be at least 1")
        self.backend = backend
        self.unary = tuple(unary)
        self.max_terms = int(max_terms)
        self.beam = int(beam)
        self.parsimony = float(parsimony)
        self.tolerance = float(tolerance)
        self.random_state = random_state
        self.options = dict(options or {})

    def clone(self) -> SymbolicRegressor:
        """An unfitted copy with the same settings."""
        return SymbolicRegressor(
            self.backend, self.unary, self.max_terms, self.beam, self.parsimony, self.tolerance,
            self.random_state, self.options,
        )

    # ------------------------------------------------------------------ fitting
    def fit(self, X: Any, y: Any, names: Sequence[str] | None = None, block: Any = None) -> SymbolicRegressor:
        """Fit ``y (n,)`` on inputs ``X (n, d)`` named ``names`` (default ``z0, z1, ...``); rows
        whose ``block`` id is a multiple of 4 (default: blocks of 10 rows) are held out."""
        X = np.asarray(X, dtype=float)
        X = X[:, None] if X.ndim == 1 else X
        y = np.asarray(y, dtype=float).reshape(-1)
        if X.shape[0] != y.shape[0] or X.shape[0] < 20:
            raise ValueError(f"need matching X and y with at least 20 rows, got {X.shape} and {y.shape}")
        if not (np.all(np.isfinite(X)) and np.all(np.isfinite(y))):
            raise ValueError("X and y must be finite")
        self.names_ = list(names) if names is not None else [f"z{i}" for i in range(X.shape[1])]
        if len(self.names_) != X.shape[1]:
            raise ValueError(f"{len(self.names_)} names for {X.shape[1]} input columns")
        self.symbols_ = [sympy.Symbol(n) for n in self.names_]
        block = np.arange(X.shape[0]) // 10 if block is None else np.asarray(block)
        test = block % 4 == 0
        if test.all() or not test.any():
            raise ValueError("the held-out split is empty; pass more rows")
        self.rng_ = np.random.default_rng(self.random_state)
        backend = self.backend
        if backend == "auto":
            backend = "pysr" if pysr_available() else "enumerate"
        self.backend_ = backend
        front = getattr(self, f"_fit_{backend}")(X, y, ~test)
        # held-out error of every front member, then the non-dominated set
        scored = []
        for c in front:
            pred = self._evaluate(c.expr, X[test])
            scored.append(SRCandidate(c.expr, complexity(c.expr), _nmse(pred, y[test])))
        self.pareto_ = _pareto(scored)
        if not self.pareto_:
            raise ValueError("symbolic regression found no expression with a finite held-out error")
        best = min(c.error for c in self.pareto_)
        bar = max(best * (1.0 + self.parsimony), self.tolerance)
        chosen = min((c for c in self.pareto_ if c.error <= bar), key=lambda c: (c.complexity, c.error))
        self.expression_, self.complexity_, self.error_ = chosen.expr, chosen.complexity, chosen.error
        return self

    def _evaluate(self, expr: sympy.Expr, X: np.ndarray) -> np.ndarray:
        fn = sympy.lambdify(self.symbols_, expr, modules="numpy")
        with np.errstate(all="ignore"):
            out = fn(*[X[:, i] for i in range(X.shape[1])])
        return np.broadcast_to(np.asarray(out, dtype=float), (X.shape[0],))

    def predict(self, X: Any) -> np.ndarray:
        if not hasattr(self, "expression_"):
            raise RuntimeError("SymbolicRegressor is not fitted yet; call fit(X, y) first")
        X = np.asarray(X, dtype=float)
        return self._evaluate(self.expression_, X[:, None] if X.ndim == 1 else X)

    # ------------------------------------------------------------------ enumerate
    def _primitives(self, d: int) -> list[_Prim]:
        prims = [_Prim(-1, "", -1)]  # the constant
        prims += [_Prim(v, "", -1) for v in range(d)]
        prims += [_Prim(v, "", w) for v in range(d) for w in range(v, d)]
        for f in self.unary:
            for w in range(d):
                for k in _GRID[f]:
                    prims.append(_Prim(-1, f, w, k))
                    prims += [_Prim(v, f, w, k) for v in range(d)]
        return prims

    def _fit_enumerate(self, X: np.ndarray, y: np.ndarray, train: np.ndarray) -> list[SRCandidate]:
        prims = self._primitives(X.shape[1])
        F = np.column_stack([p.evaluate(X[train]) for p in prims])
        ok = np.all(np.isfinite(F), axis=0) & (np.abs(F).max(axis=0) < 1e8)
        prims = [p for p, o in zip(prims, ok) if o]
        F = F[:, ok]
        yt = y[train]
        G, b, yy, n = F.T @ F, F.T @ yt, float(yt @ yt), len(yt)

        def sse(sub: tuple[int, ...]) -> float:
            idx = list(sub)
            try:
                c = np.linalg.solve(G[np.ix_(idx, idx)] + 1e-12 * np.eye(len(idx)), b[idx])
            except np.linalg.LinAlgError:
                return np.inf
            return float(yy - 2 * c @ b[idx] + c @ G[np.ix_(idx, idx)] @ c)

        best_by_size: list[list[tuple[float, tuple[int, ...]]]] = []
        level = sorted((sse((i,)), (i,)) for i in range(len(prims)))
        best_by_size.append(level)
        for size in range(2, self.max_terms + 1):
            if size == 2:
                subs = itertools.combinations(range(len(prims)), 2)
            else:
                subs = {tuple(sorted(set(s) | {j})) for _, s in best_by_size[-1][: self.beam] for j in range(len(prims)) if j not in s}
            level = sorted((sse(s), s) for s in subs)
            best_by_size.append(level)
        out = []
        var = max(float(np.var(yt)), 1e-300)
        for level in best_by_size:
            for err, sub in level[:3]:
                if np.isfinite(err) and err / n / var < 10:
                    out.append(self._refine([prims[i] for i in sub], X[train], yt))
        return out

    def _refine(self, prims: list[_Prim], X: np.ndarray, y: np.ndarray) -> SRCandidate:
        """Outer coefficients and inner constants of one sum, by nonlinear least squares."""
        from scipy.optimize import least_squares

        inner = [i for i, p in enumerate(prims) if p.f]

        def design(ks: np.ndarray) -> np.ndarray:
            kk = dict(zip(inner, ks))
            return np.column_stack([p.evaluate(X, kk.get(i)) for i, p in enumerate(prims)])

        def coefs(A: np.ndarray) -> np.ndarray:
            return np.linalg.lstsq(A, y, rcond=None)[0]

        def resid(ks: np.ndarray) -> np.ndarray:
            A = design(ks)
            if not np.all(np.isfinite(A)):
                return np.full(len(y), 1e6)
            return A @ coefs(A) - y

        k0 = np.array([prims[i].k for i in inner])
        best_k = k0
        if inner:
            starts = [k0] + [k0 * self.rng_.uniform(0.7, 1.3, size=k0.size) for _ in range(2)]
            best_cost = np.inf
            for s in starts:
                sol = least_squares(resid, s, max_nfev=100 * (len(s) + 1))
                if sol.cost < best_cost:
                    best_cost, best_k = sol.cost, sol.x
        c = coefs(design(best_k))
        kk = dict(zip(inner, best_k))
        expr = sympy.Integer(0)
        for i, (p, ci) in enumerate(zip(prims, c)):
            expr += sympy.Float(float(ci), 15) * p.expr(self.symbols_, kk.get(i))
        return SRCandidate(expr, complexity(expr), np.nan)

    # ------------------------------------------------------------------ gplearn / pysr
    def _fit_gplearn(self, X: np.ndarray, y: np.ndarray, train: np.ndarray) -> list[SRCandidate]:
        if importlib.util.find_spec("gplearn") is None:
            raise ValueError("backend 'gplearn' needs the gplearn package (pip install gplearn)")
        from gplearn.functions import make_function
        from gplearn.genetic import SymbolicRegressor as GP

        def _exp(a: np.ndarray) -> np.ndarray:
            with np.errstate(all="ignore"):
                return np.where(np.abs(a) < 50, np.exp(np.clip(a, -50, 50)), 0.0)

        funcs: list[Any] = ["add", "sub", "mul"] + [u for u in self.unary if u in ("sin", "cos")]
        if "exp" in self.unary:
            funcs.append(make_function(function=_exp, name="exp", arity=1))
        seed = int(np.random.default_rng(self.random_state).integers(2**31 - 1))
        opts = {"population_size": 1000, "generations": 20, "function_set": tuple(funcs),
                "parsimony_coefficient": 0.001, "random_state": seed, "n_jobs": 1, **self.options}
        gp = GP(**opts).fit(X[train], y[train])
        local = {"add": lambda a, b: a + b, "sub": lambda a, b: a - b, "mul": lambda a, b: a * b,
                 "sin": sympy.sin, "cos": sympy.cos, "exp": sympy.exp}
        local.update({f"X{i}": s for i, s in enumerate(self.symbols_)})
        out = []
        for prog in gp._programs[-1]:
            if prog is None:
                continue
            expr = sympy.sympify(str(prog), locals=local)
            out.append(SRCandidate(expr, complexity(expr), np.nan))
        return out

    def _fit_pysr(self, X: np.ndarray, y: np.ndarray, train: np.ndarray) -> list[SRCandidate]:  # pragma: no cover
        if not pysr_available():
            raise ValueError("backend 'pysr' needs the pysr package and an installed Julia runtime")
        from pysr import PySRRegressor

        seed = int(np.random.default_rng(self.random_state).integers(2**31 - 1))
        opts = {"niterations": 40, "binary_operators": ["+", "-", "*", "/"], "unary_operators": list(self.unary),
                "random_state": seed, "deterministic": True, "parallelism": "serial", "progress": False, **self.options}
        model = PySRRegressor(**opts).fit(X[train], y[train], variable_names=self.names_)
        local = {n: s for n, s in zip(self.names_, self.symbols_)}
        return [
            SRCandidate(sympy.sympify(str(e), locals=local), int(c), np.nan)
            for e, c in zip(model.equations_["sympy_format"], model.equations_["complexity"])
        ]


def _pareto(cands: list[SRCandidate]) -> list[SRCandidate]:
    """Non-dominated expressions: for increasing complexity, each strictly more accurate."""
    out: list[SRCandidate] = []
    for c in sorted((c for c in cands if np.isfinite(c.error)), key=lambda c: (c.complexity, c.error)):
        if not out or c.error < out[-1].error:
            out.append(c)
    return out


def _structural(expr: sympy.Expr) -> str:
    """An additive piece with its fitted constants replaced by ``k`` (window-stable support)."""
    k = sympy.Symbol("k")
    return str(expr.xreplace({f: k for f in expr.atoms(sympy.Float)}))


def _rounded(expr: sympy.Expr) -> str:
    return str(expr.xreplace({f: sympy.Float(float(f"{float(f):.4g}"), 5) for f in expr.atoms(sympy.Float)}))


def sr_theory(
    variable_names: Sequence[str],
    control_names: Sequence[str],
    x: np.ndarray,
    xdot: np.ndarray,
    u: np.ndarray | None,
    regressor: SymbolicRegressor,
    block: np.ndarray | None = None,
    metadata: dict[str, Any] | None = None,
) -> Theory:
    """Fit ``dx_i/dt = f_i(x, u)`` for every state variable with ``regressor`` and return a
    :class:`Theory` whose terms are the additive pieces of the expressions (coefficients the
    pieces' numeric factors); ``metadata`` gains ``backend="sr"``, the expressions, their
    complexity and held-out nMSE, and ``structure`` (pieces with constants as ``k``)."""
    names = [str(v) for v in variable_names] + [str(c) for c in control_names]
    x = np.asarray(x, dtype=float)
    z = x if not control_names else np.concatenate([x, np.asarray(u, dtype=float).reshape(len(x), -1)], axis=1)
    terms: list[Term] = []
    index: dict[str, int] = {}
    rows: list[dict[int, float]] = []
    meta = dict(metadata or {})
    exprs, comps, errs, structure = {}, {}, {}, []
    for i, target in enumerate(variable_names):
        reg = regressor.clone().fit(z, xdot[:, i], names, block)
        expr = sympy.expand(reg.expression_)
        coefs: dict[int, float] = {}
        for piece, c in expr.as_coefficients_dict().items():
            if abs(float(c)) < 1e-12:
                continue
            name = _rounded(piece)
            if name not in index:
                index[name] = len(terms)
                fn = _lambdify_custom(piece, names, name)
                terms.append(Term(name, "custom", piece, fn=fn, inputs=tuple(range(len(names)))))
            coefs[index[name]] = coefs.get(index[name], 0.0) + float(c)
            structure.append([str(target), _structural(piece)])
        rows.append(coefs)
        exprs[str(target)], comps[str(target)], errs[str(target)] = str(reg.expression_), reg.complexity_, reg.error_
        meta.setdefault("sr_backend", reg.backend_)
    if not terms:
        terms.append(Term("1", "custom", sympy.Integer(1), fn=_lambdify_custom(sympy.Integer(1), names, "1"),
                          inputs=tuple(range(len(names)))))
    F = np.column_stack([t.evaluate(z) for t in terms])
    equations = []
    for i, (target, coefs) in enumerate(zip(variable_names, rows)):
        coef = np.zeros(len(terms))
        for j, v in coefs.items():
            coef[j] = v
        sup = coef != 0
        resid = xdot[:, i] - F @ coef
        ss_tot = float(np.sum((xdot[:, i] - xdot[:, i].mean()) ** 2))
        equations.append(Equation(
            target=str(target), terms=[t.name for t in terms], coefficients=coef,
            coefficient_std=np.zeros(len(terms)), inclusion_probability=sup.astype(float), support=sup,
            r2=1.0 - float(resid @ resid) / ss_tot if ss_tot > 0 else float("nan"),
            rmse=float(np.sqrt(np.mean(resid**2))),
        ))
    meta.update(backend="sr", expressions=exprs, complexity=comps, heldout_nmse=errs, structure=structure)
    return Theory(variable_names, control_names, terms, equations, meta)
