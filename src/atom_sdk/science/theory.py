"""Discovered laws as data: :class:`Equation` and :class:`Theory`.

A theory is a list of equations ``d<target>/dt = sum_j c_j term_j(x, u)`` over a candidate
library. It predicts derivatives, steps the state forward with the controls held constant
over the step (explicit Euler or classic RK4), and round-trips through JSON
(:meth:`Theory.to_dict` / :meth:`Theory.from_dict`) without the library object.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import sympy

from atom_sdk.science.ledger import jsonable
from atom_sdk.science.library import Library, Term, TermsOverInputs, _poly_features

if TYPE_CHECKING:
    from atom_sdk.science.sparse import SparseResult

__all__ = ["Equation", "Theory", "format_equation", "theory_from_result"]


def _fmt(c: float, precision: int) -> str:
    return f"{abs(c):.{precision}f}"


def format_equation(target: str, names: Sequence[str], coefs: Sequence[float], precision: int = 4) -> str:
    """``"dA/dt = -0.0400 A + 1.0000 u"`` from the nonzero terms."""
    parts: list[str] = []
    for name, c in zip(names, coefs):
        body = _fmt(c, precision) + ("" if name == "1" else f" {name}")
        if not parts:
            parts.append(("-" if c < 0 else "") + body)
        else:
            parts.append(("- " if c < 0 else "+ ") + body)
    return f"d{target}/dt = " + (" ".join(parts) if parts else "0")


def _arr(v: Any, dtype: Any = float) -> np.ndarray:
    return np.asarray(v, dtype=dtype)


@dataclass
class Equation:
    """One discovered law ``d<target>/dt = sum_j coefficients[j] * terms[j]``.

    Arrays run over the full candidate library (``terms``); ``support`` marks the kept terms.
    ``inclusion_probability`` is the fraction of ensemble members that kept each term (0/1 for
    a single fit); ``coefficient_std`` the spread over members (OLS standard error for a
    single fit). ``r2``/``rmse`` are the fit scores on the regression system (derivative units).
    """

    target: str
    terms: list[str]
    coefficients: np.ndarray
    coefficient_std: np.ndarray
    inclusion_probability: np.ndarray
    support: np.ndarray
    r2: float = float("nan")
    rmse: float = float("nan")
    threshold: float | None = None
    ensemble_coefficients: np.ndarray | None = field(default=None, repr=False)
    term_exprs: list[sympy.Expr] = field(default_factory=list, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.terms = [str(t) for t in self.terms]
        p = len(self.terms)
        self.coefficients = _arr(self.coefficients).reshape(p)
        self.coefficient_std = _arr(self.coefficient_std).reshape(p)
        self.inclusion_probability = _arr(self.inclusion_probability).reshape(p)
        self.support = _arr(self.support, bool).reshape(p)
        if self.ensemble_coefficients is not None:
            self.ensemble_coefficients = _arr(self.ensemble_coefficients).reshape(-1, p)

    # ------------------------------------------------------------------ views
    @property
    def lhs(self) -> str:
        return f"d{self.target}/dt"

    @property
    def active_terms(self) -> list[str]:
        return [t for t, s in zip(self.terms, self.support) if s]

    @property
    def active_coefficients(self) -> np.ndarray:
        return self.coefficients[self.support]

    def to_string(self, precision: int = 4) -> str:
        idx = np.flatnonzero(self.support)
        return format_equation(self.target, [self.terms[i] for i in idx], self.coefficients[idx].tolist(), precision)

    def __str__(self) -> str:
        return self.to_string()

    @property
    def expression(self) -> sympy.Expr:
        """Right-hand side as a sympy expression (needs ``term_exprs``, set by :class:`Theory`)."""
        if len(self.term_exprs) != len(self.terms):
            raise ValueError("term expressions are unknown; build the equation through a Theory")
        expr = sympy.Integer(0)
        for i in np.flatnonzero(self.support):
            expr += sympy.Float(float(self.coefficients[i]), 15) * self.term_exprs[i]
        return expr

    @property
    def sympy_equation(self) -> sympy.Eq:
        return sympy.Eq(sympy.Symbol(self.lhs), self.expression, evaluate=False)

    def support_set(self) -> frozenset[str]:
        return frozenset(self.active_terms)

    # ------------------------------------------------------------------ (de)serialisation
    def to_dict(self, *, include_ensemble: bool = True) -> dict[str, Any]:
        d: dict[str, Any] = {
            "target": self.target,
            "equation": self.to_string(),
            "terms": list(self.terms),
            "coefficients": [float(c) for c in self.coefficients],
            "coefficient_std": [float(c) for c in self.coefficient_std],
            "inclusion_probability": [float(c) for c in self.inclusion_probability],
            "support": [bool(s) for s in self.support],
            "r2": _finite_or_none(self.r2),
            "rmse": _finite_or_none(self.rmse),
            "threshold": None if self.threshold is None else float(self.threshold),
        }
        if include_ensemble and self.ensemble_coefficients is not None:
            d["ensemble_coefficients"] = self.ensemble_coefficients.tolist()
        return d

    def summary(self) -> dict[str, Any]:
        """Compact form: the string and the kept terms only (used by ledgers and ``laws()``)."""
        idx = np.flatnonzero(self.support)
        return {
            "target": self.target,
            "equation": self.to_string(),
            "terms": [self.terms[i] for i in idx],
            "coefficients": [float(self.coefficients[i]) for i in idx],
            "coefficient_std": [float(self.coefficient_std[i]) for i in idx],
            "inclusion_probability": [float(self.inclusion_probability[i]) for i in idx],
            "support": [self.terms[i] for i in idx],
            "r2": _finite_or_none(self.r2),
            "rmse": _finite_or_none(self.rmse),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Equation:
        return cls(
            target=d["target"],
            terms=list(d["terms"]),
            coefficients=d["coefficients"],
            coefficient_std=d["coefficient_std"],
            inclusion_probability=d["inclusion_probability"],
            support=d["support"],
            r2=float("nan") if d.get("r2") is None else float(d["r2"]),
            rmse=float("nan") if d.get("rmse") is None else float(d["rmse"]),
            threshold=d.get("threshold"),
            ensemble_coefficients=d.get("ensemble_coefficients"),
        )


def _finite_or_none(v: float) -> float | None:
    v = float(v)
    return v if math.isfinite(v) else None


class Theory(TermsOverInputs):
    """A set of equations, one per state variable, over a shared list of candidate terms."""

    def __init__(
        self,
        variable_names: Sequence[str],
        control_names: Sequence[str],
        terms: Sequence[Term],
        equations: Sequence[Equation],
        metadata: Mapping[str, Any] | None = None,
    ) -> None:
        self.variable_names = [str(v) for v in variable_names]
        self.control_names = [str(c) for c in control_names]
        self.terms = list(terms)
        self.equations = list(equations)
        self.metadata = dict(metadata or {})
        names = [t.name for t in self.terms]
        if [e.target for e in self.equations] != self.variable_names:
            raise ValueError("a theory needs exactly one equation per state variable, in order")
        for eq in self.equations:
            if eq.terms != names:
                raise ValueError(f"equation for {eq.target} uses terms {eq.terms}, theory has {names}")
            eq.term_exprs = [t.expr for t in self.terms]
        self.refresh()

    # ------------------------------------------------------------------ compiled evaluation
    def refresh(self) -> None:
        """Recompute the cached evaluation plan (call after editing coefficients in place)."""
        sup = np.array([eq.support for eq in self.equations]).reshape(len(self.equations), len(self.terms))
        self._active = np.flatnonzero(sup.any(axis=0))
        self._coef = np.array([eq.coefficients for eq in self.equations]).reshape(sup.shape)[:, self._active].T.copy()
        act_terms = [self.terms[i] for i in self._active]
        self._poly_pos = np.array([k for k, t in enumerate(act_terms) if t.kind == "poly"], dtype=int)
        self._other_pos = [k for k, t in enumerate(act_terms) if t.kind != "poly"]
        self._act_terms = act_terms
        if len(self._poly_pos):
            self._powers = np.array([act_terms[k].powers for k in self._poly_pos], dtype=int)
            self._max_power = int(self._powers.max())
        # few active terms: evaluate each monomial directly (faster than the table gather)
        self._monomials = [
            (k, [(i, e) for i, e in enumerate(act_terms[k].powers) if e]) for k in self._poly_pos.tolist()
        ]
        ens = [eq.ensemble_coefficients for eq in self.equations]
        if all(e is not None for e in ens) and len({e.shape[0] for e in ens}) == 1:  # type: ignore[union-attr]
            self._ens = np.stack([e[:, self._active] for e in ens], axis=1).transpose(0, 2, 1)  # (B, p_a, n)
        else:
            self._ens = None

    @property
    def has_ensemble(self) -> bool:
        return self._ens is not None

    def _inputs(self, x: np.ndarray, u: np.ndarray | None) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        if x.shape[-1] != self.n_vars:
            raise ValueError(f"x has {x.shape[-1]} entries, expected {self.n_vars} ({self.variable_names})")
        if self.n_controls == 0:
            return x
        if u is None:
            u = np.zeros(self.n_controls)
        u = np.asarray(u, dtype=float)
        if u.shape[-1] != self.n_controls:
            raise ValueError(f"u has {u.shape[-1]} entries, expected {self.n_controls} ({self.control_names})")
        if x.shape[:-1] == u.shape[:-1]:
            return np.concatenate([x, u], axis=-1)
        lead = np.broadcast_shapes(x.shape[:-1], u.shape[:-1])
        return np.concatenate(
            [np.broadcast_to(x, (*lead, self.n_vars)), np.broadcast_to(u, (*lead, self.n_controls))], axis=-1
        )

    def active_features(self, x: np.ndarray, u: np.ndarray | None = None) -> np.ndarray:
        """Values of the terms used by at least one equation, ``(..., n_active)``."""
        z = self._inputs(x, u)
        out = np.empty((*z.shape[:-1], len(self._active)))
        if len(self._monomials) <= 12:
            for k, factors in self._monomials:
                if not factors:
                    out[..., k] = 1.0
                    continue
                i, e = factors[0]
                col = z[..., i] if e == 1 else z[..., i] ** e
                for i, e in factors[1:]:
                    col = col * (z[..., i] if e == 1 else z[..., i] ** e)
                out[..., k] = col
        elif len(self._poly_pos):
            out[..., self._poly_pos] = _poly_features(z, self._powers, self._max_power)
        for k in self._other_pos:
            out[..., k] = self._act_terms[k].evaluate(z)
        return out

    def predict_derivative(self, x: np.ndarray, u: np.ndarray | None = None) -> np.ndarray:
        """``dx/dt = f(x, u)`` for ``x (..., n_vars)`` and ``u (..., n_ctrl)``."""
        return self.active_features(x, u) @ self._coef

    __call__ = predict_derivative

    def ensemble_predict_derivative(self, x: np.ndarray, u: np.ndarray | None = None) -> np.ndarray | None:
        """Per-member derivatives ``(n_members, ..., n_vars)``, or ``None`` for a single fit."""
        if self._ens is None:
            return None
        th = self.active_features(x, u)
        return np.einsum("...p,bpn->b...n", th, self._ens)

    def derivative_std(self, x: np.ndarray, u: np.ndarray | None = None) -> np.ndarray:
        """Predictive std of ``dx/dt`` from coefficient uncertainty ``(..., n_vars)``: the spread
        of the ensemble members, or ``sqrt(sum_j (std_j term_j)^2)`` for a single fit."""
        ens = self.ensemble_predict_derivative(x, u)
        if ens is not None:
            return ens.std(axis=0)
        th = self.active_features(x, u)
        std = np.array([eq.coefficient_std[self._active] for eq in self.equations]).T  # (p_a, n)
        return np.sqrt((th**2) @ (std**2))

    def step(
        self, x: np.ndarray, u: np.ndarray | None = None, dt: float | None = None, method: str = "rk4"
    ) -> np.ndarray:
        """One step ``x(t + dt)`` with ``u`` held over the step: ``"euler"`` (``x + dt f``) or ``"rk4"``."""
        if dt is None:
            dt = self.metadata.get("dt")
            if dt is None:
                raise ValueError("pass dt (the theory does not know its sampling step)")
        dt = float(dt)
        x = np.asarray(x, dtype=float)
        f = self.predict_derivative
        if method == "euler":
            return x + dt * f(x, u)
        if method != "rk4":
            raise ValueError("method must be 'euler' or 'rk4'")
        k1 = f(x, u)
        k2 = f(x + 0.5 * dt * k1, u)
        k3 = f(x + 0.5 * dt * k2, u)
        k4 = f(x + dt * k3, u)
        return x + (dt / 6.0) * (k1 + 2.0 * k2 + 2.0 * k3 + k4)

    def simulate(
        self,
        x0: np.ndarray,
        dt: float,
        n_steps: int | None = None,
        u: np.ndarray | None = None,
        method: str = "rk4",
        substeps: int = 1,
    ) -> np.ndarray:
        """Trajectory ``(n_steps + 1, n_vars)`` from ``x0``; ``u (n_steps, n_ctrl)`` held per step."""
        if u is not None:
            u = np.asarray(u, dtype=float)
            if u.ndim == 1:
                u = u[:, None]
            n_steps = u.shape[0] if n_steps is None else n_steps
        if n_steps is None:
            raise ValueError("pass n_steps or a control sequence u")
        xs = np.empty((n_steps + 1, self.n_vars))
        xs[0] = x0
        h = dt / substeps
        for i in range(n_steps):
            xi = xs[i]
            ui = None if u is None else u[i]
            for _ in range(substeps):
                xi = self.step(xi, ui, h, method)
            xs[i + 1] = xi
        return xs

    # ------------------------------------------------------------------ views
    def coefficient_matrix(self) -> np.ndarray:
        """Coefficients ``(n_vars, n_terms)``."""
        return np.array([eq.coefficients for eq in self.equations])

    def support_matrix(self) -> np.ndarray:
        return np.array([eq.support for eq in self.equations])

    def support_set(self) -> frozenset[tuple[str, str]]:
        """All kept ``(target, term)`` pairs (used for Jaccard similarity between theories)."""
        return frozenset((eq.target, t) for eq in self.equations for t in eq.active_terms)

    def sympy_exprs(self) -> list[sympy.Expr]:
        return [eq.expression for eq in self.equations]

    def equation_strings(self, precision: int = 4) -> list[str]:
        return [eq.to_string(precision) for eq in self.equations]

    def laws(self) -> list[dict[str, Any]]:
        return [eq.summary() for eq in self.equations]

    def __str__(self) -> str:
        return "\n".join(self.equation_strings())

    def __repr__(self) -> str:
        return f"Theory({'; '.join(self.equation_strings())})"

    # ------------------------------------------------------------------ (de)serialisation
    def to_dict(self, *, include_ensemble: bool = True) -> dict[str, Any]:
        return {
            "format": "atom-theory/1",
            "variable_names": list(self.variable_names),
            "control_names": list(self.control_names),
            "terms": [t.to_dict() for t in self.terms],
            "equations": [eq.to_dict(include_ensemble=include_ensemble) for eq in self.equations],
            "metadata": jsonable(self.metadata),
        }

    @classmethod
    def from_dict(
        cls, d: Mapping[str, Any], *, custom_functions: Mapping[str, Callable[..., Any]] | None = None
    ) -> Theory:
        names = list(d["variable_names"]) + list(d["control_names"])
        terms = [Term.from_dict(td, names, custom_functions) for td in d["terms"]]
        eqs = [Equation.from_dict(e) for e in d["equations"]]
        return cls(d["variable_names"], d["control_names"], terms, eqs, d.get("metadata") or {})

    def to_json(self, **kw: Any) -> str:
        return json.dumps(self.to_dict(), **kw)

    @classmethod
    def from_json(cls, text: str, **kw: Any) -> Theory:
        return cls.from_dict(json.loads(text), **kw)

    def copy(self) -> Theory:
        return Theory.from_dict(
            self.to_dict(), custom_functions={t.name: t.fn for t in self.terms if t.kind == "custom" and t.fn}
        )


def theory_from_result(library: Library, result: SparseResult, metadata: dict[str, Any] | None = None) -> Theory:
    """Wrap a :class:`SparseResult` over ``library`` into a :class:`Theory`."""
    eqs = []
    names = library.names
    for i, target in enumerate(library.variable_names):
        eqs.append(
            Equation(
                target=target,
                terms=names,
                coefficients=result.coef[i],
                coefficient_std=result.coef_std[i],
                inclusion_probability=result.inclusion[i],
                support=result.support[i],
                r2=float(result.r2[i]),
                rmse=float(result.rmse[i]),
                threshold=float(result.threshold[i]),
                ensemble_coefficients=None if result.ensemble_coef is None else result.ensemble_coef[:, i, :],
            )
        )
    return Theory(library.variable_names, library.control_names, library.terms, eqs, metadata)

