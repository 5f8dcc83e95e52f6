"""Candidate term libraries for sparse law discovery.

A :class:`Library` is an ordered list of :class:`Term` objects over a fixed list of named
*inputs* (the state variables followed by the controls). Every term has

* a human-readable ``name`` (``"1"``, ``"A"``, ``"A^2"``, ``"A*u"``, ``"sin(2*x)"``, or a
  user-chosen name for custom terms),
* a sympy expression ``expr`` over the input symbols, and
* a fast numpy evaluation (:meth:`Term.evaluate`) that works on arrays of any leading shape.

Polynomial terms are enumerated exactly like :class:`pysindy.PolynomialLibrary` (same set and
order as its ``powers_``; computed locally so that building a library does not import
PySINDy); trigonometric terms follow :class:`pysindy.FourierLibrary`'s ``sin(k x)``/``cos(k x)``
convention. :meth:`Library.to_pysindy` returns the equivalent
PySINDy ``GeneralizedLibrary`` (polynomial + Fourier parts) for cross-checks and benchmarks.

Terms serialise to plain dicts (:meth:`Term.to_dict`) so a discovered theory can be stored as
JSON and evaluated again without the library object. Custom terms serialise their sympy
expression; when that expression is an opaque function the callable must be supplied again on
load (``custom_functions``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import sympy

__all__ = ["Term", "CustomTerm", "TermsOverInputs", "Library", "polynomial_name", "polynomial_powers"]


def _symbols(names: Sequence[str]) -> list[sympy.Symbol]:
    return [sympy.Symbol(n) for n in names]


def polynomial_name(powers: Sequence[int], names: Sequence[str]) -> str:
    """Readable monomial name: ``()`` -> ``"1"``, ``(1, 0)`` -> ``"x"``, ``(2, 1)`` -> ``"x^2*y"``."""
    parts = []
    for name, e in zip(names, powers):
        if e == 1:
            parts.append(name)
        elif e > 1:
            parts.append(f"{name}^{int(e)}")
    return "*".join(parts) if parts else "1"


def polynomial_powers(
    n_inputs: int, degree: int, include_bias: bool = True, include_interaction: bool = True
) -> list[tuple[int, ...]]:
    """Exponent tuples in the order of ``pysindy.PolynomialLibrary(...).powers_``.

    Computed here (same combinatorics as scikit-learn's ``PolynomialFeatures`` and PySINDy's
    ``include_interaction=False`` branch) so that building a library does not import PySINDy;
    the test-suite checks the equality with PySINDy.
    """
    from itertools import chain, combinations_with_replacement

    if include_interaction:
        combos = chain.from_iterable(
            combinations_with_replacement(range(n_inputs), d) for d in range(0 if include_bias else 1, degree + 1)
        )
    else:
        combos = chain(
            [()] if include_bias else [],
            (e * (i,) for e in range(1, degree + 1) for i in range(n_inputs)),
        )
    out = []
    for c in combos:
        p = [0] * n_inputs
        for i in c:
            p[i] += 1
        out.append(tuple(p))
    return out


@dataclass(eq=False)
class Term:
    """One candidate term of a library.

    ``kind`` is ``"poly"`` (``powers`` gives the exponent of each input), ``"trig"``
    (``func`` in {"sin", "cos"} of ``frequency * input[input_index]``) or ``"custom"``
    (``fn(*inputs)`` with ``inputs`` the indices of the inputs passed positionally).
    """

    name: str
    kind: str
    expr: sympy.Expr = field(repr=False)
    powers: tuple[int, ...] = ()
    func: str = ""
    input_index: int = -1
    frequency: float = 1.0
    fn: Callable[..., Any] | None = field(default=None, repr=False)
    inputs: tuple[int, ...] = ()

    # ------------------------------------------------------------------ evaluation
    def evaluate(self, z: np.ndarray) -> np.ndarray:
        """Evaluate on inputs ``z`` of shape ``(..., n_inputs)``; returns shape ``z.shape[:-1]``."""
        z = np.asarray(z, dtype=float)
        lead = z.shape[:-1]
        if self.kind == "poly":
            out = np.ones(lead)
            for i, e in enumerate(self.powers):
                if e:
                    out = out * z[..., i] ** e
            return out
        if self.kind == "trig":
            f = np.sin if self.func == "sin" else np.cos
            return f(self.frequency * z[..., self.input_index])
        if self.fn is None:  # pragma: no cover - guarded at construction
            raise ValueError(f"custom term {self.name!r} has no function")
        val = self.fn(*[z[..., i] for i in self.inputs])
        return np.broadcast_to(np.asarray(val, dtype=float), lead).copy()

    # ------------------------------------------------------------------ (de)serialisation
    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"name": self.name, "kind": self.kind, "expr": sympy.srepr(self.expr)}
        if self.kind == "poly":
            d["powers"] = [int(p) for p in self.powers]
        elif self.kind == "trig":
            d.update(func=self.func, input_index=int(self.input_index), frequency=float(self.frequency))
        else:
            d["inputs"] = [int(i) for i in self.inputs]
        return d

    @classmethod
    def from_dict(
        cls,
        d: Mapping[str, Any],
        input_names: Sequence[str],
        custom_functions: Mapping[str, Callable[..., Any]] | None = None,
    ) -> Term:
        syms = _symbols(input_names)
        kind = d["kind"]
        if kind == "poly":
            powers = tuple(int(p) for p in d["powers"])
            expr = sympy.sympify(sympy.Mul(*[s**e for s, e in zip(syms, powers) if e]))
            return cls(name=d["name"], kind="poly", expr=expr, powers=powers)
        if kind == "trig":
            i, k = int(d["input_index"]), float(d["frequency"])
            k_expr = sympy.Integer(int(k)) if k.is_integer() else sympy.Float(k)
            expr = (sympy.sin if d["func"] == "sin" else sympy.cos)(k_expr * syms[i])
            return cls(name=d["name"], kind="trig", expr=expr, func=d["func"], input_index=i, frequency=k)
        expr = sympy.sympify(d["expr"])  # srepr text of a sympy expression
        inputs = tuple(int(i) for i in d["inputs"])
        fn = (custom_functions or {}).get(d["name"])
        if fn is None:
            fn = _lambdify_custom(expr, [input_names[i] for i in inputs], d["name"])
        return cls(name=d["name"], kind="custom", expr=expr, fn=fn, inputs=inputs)


def _lambdify_custom(expr: sympy.Expr, arg_names: Sequence[str], name: str) -> Callable[..., Any]:
    if expr.atoms(sympy.core.function.AppliedUndef):
        raise ValueError(
            f"custom term {name!r} has an opaque expression {expr}; pass its callable via "
            "custom_functions={name: fn} to evaluate it"
        )
    syms = _symbols(arg_names)
    # map the expression's symbols (by name) onto the positional argument symbols
    by_name = {s.name: s for s in expr.free_symbols}
    expr = expr.subs({by_name[s.name]: s for s in syms if s.name in by_name})
    return sympy.lambdify(syms, expr, modules="numpy", dummify=True)


@dataclass
class CustomTerm:
    """A user-supplied candidate term.

    Parameters
    ----------
    name:
        Human-readable name used in equations (e.g. ``"A*|A|"``).
    fn:
        Callable taking the selected inputs positionally as numpy arrays (``fn(A, u)``) and
        returning an array of the same shape. May be ``None`` when ``expr`` is given (it is then
        lambdified).
    expr:
        sympy expression (or a string sympy can parse) over the input names. If omitted, the
        expression is derived by calling ``fn`` on sympy symbols; if that fails an opaque
        ``sympy.Function(name)`` of the inputs is used.
    inputs:
        Names of the inputs passed to ``fn`` (state and/or control names). Default: all inputs.
    """

    name: str
    fn: Callable[..., Any] | None = None
    expr: sympy.Expr | str | None = None
    inputs: Sequence[str] | None = None


class TermsOverInputs:
    """What a :class:`Library` and a discovered :class:`~atom_sdk.science.theory.Theory` share:
    ordered ``terms`` over the named inputs, the state variables followed by the controls."""

    variable_names: list[str]
    control_names: list[str]
    terms: list[Term]

    @property
    def input_names(self) -> list[str]:
        return self.variable_names + self.control_names

    @property
    def n_vars(self) -> int:
        return len(self.variable_names)

    @property
    def n_controls(self) -> int:
        return len(self.control_names)

    @property
    def n_inputs(self) -> int:
        return len(self.variable_names) + len(self.control_names)

    @property
    def n_terms(self) -> int:
        return len(self.terms)

    @property
    def names(self) -> list[str]:
        """Term names, in order."""
        return [t.name for t in self.terms]

    term_names = names


class Library(TermsOverInputs):
    """An ordered candidate library over named state variables and controls.

    Parameters
    ----------
    variable_names, control_names:
        Names of the state variables and of the controls. The library's inputs are the
        variables followed by the controls.
    degree:
        Maximum total polynomial degree (0 = constant only; -1 or None = no polynomial terms).
    include_bias:
        Include the constant term ``"1"``.
    include_interaction:
        Include cross terms such as ``A*u`` (PySINDy's ``include_interaction``).
    include_trig:
        Add ``sin(k*v)`` and ``cos(k*v)`` for ``k = 1..n_frequencies``.
    trig_inputs:
        ``"variables"`` (default), ``"controls"`` or ``"all"``: which inputs get trig terms.
    custom_terms:
        Extra :class:`CustomTerm` objects, appended at the end.
    """

    def __init__(
        self,
        variable_names: Sequence[str],
        control_names: Sequence[str] = (),
        *,
        degree: int | None = 2,
        include_bias: bool = True,
        include_interaction: bool = True,
        include_trig: bool = False,
        n_frequencies: int = 1,
        trig_inputs: str = "variables",
        custom_terms: Sequence[CustomTerm] = (),
    ) -> None:
        self.variable_names = [str(v) for v in variable_names]
        self.control_names = [str(c) for c in control_names]
        names = self.input_names
        if len(set(names)) != len(names):
            raise ValueError(f"variable and control names must be unique, got {names}")
        if not self.variable_names:
            raise ValueError("at least one state variable is needed")
        if trig_inputs not in {"variables", "controls", "all"}:
            raise ValueError("trig_inputs must be 'variables', 'controls' or 'all'")
        self.degree = degree
        self.include_bias = include_bias
        self.include_interaction = include_interaction
        self.include_trig = include_trig
        self.n_frequencies = int(n_frequencies)
        self.trig_inputs = trig_inputs
        self.custom_terms = list(custom_terms)
        self.symbols = _symbols(names)
        self.terms: list[Term] = []
        self._build()
        seen: set[str] = set()
        for term in self.terms:
            if term.name in seen:
                raise ValueError(f"duplicate term name {term.name!r}")
            seen.add(term.name)
        self._poly_idx = np.array([i for i, t in enumerate(self.terms) if t.kind == "poly"], dtype=int)
        self._powers = np.array([self.terms[i].powers for i in self._poly_idx], dtype=int).reshape(
            len(self._poly_idx), self.n_inputs
        )
        self._max_power = int(self._powers.max()) if self._powers.size else 0

    # ------------------------------------------------------------------ construction
    @property
    def expressions(self) -> list[sympy.Expr]:
        return [t.expr for t in self.terms]

    def _trig_input_indices(self) -> list[int]:
        nv = len(self.variable_names)
        if self.trig_inputs == "variables":
            return list(range(nv))
        if self.trig_inputs == "controls":
            return list(range(nv, self.n_inputs))
        return list(range(self.n_inputs))

    def _build(self) -> None:
        names = self.input_names
        syms = self.symbols
        if self.degree is not None and self.degree >= 0:
            for powers in polynomial_powers(
                self.n_inputs, int(self.degree), self.include_bias, self.include_interaction
            ):
                expr = sympy.Mul(*[s**e for s, e in zip(syms, powers) if e])
                self.terms.append(Term(polynomial_name(powers, names), "poly", sympy.sympify(expr), powers=powers))
        if self.include_trig:
            # same ordering as pysindy.FourierLibrary: frequency-major, then input, sin before cos
            for k in range(1, self.n_frequencies + 1):
                for i in self._trig_input_indices():
                    arg = names[i] if k == 1 else f"{k}*{names[i]}"
                    for func, sf in (("sin", sympy.sin), ("cos", sympy.cos)):
                        self.terms.append(
                            Term(
                                f"{func}({arg})", "trig", sf(k * syms[i]), func=func, input_index=i, frequency=float(k)
                            )
                        )
        for ct in self.custom_terms:
            self.terms.append(self._custom(ct))

    def _custom(self, ct: CustomTerm) -> Term:
        names = self.input_names
        in_names = list(ct.inputs) if ct.inputs is not None else names
        for n in in_names:
            if n not in names:
                raise ValueError(f"custom term {ct.name!r} uses unknown input {n!r}; inputs are {names}")
        idx = tuple(names.index(n) for n in in_names)
        syms = [self.symbols[i] for i in idx]
        expr: sympy.Expr | None
        if isinstance(ct.expr, str):
            expr = sympy.sympify(ct.expr, locals={n: s for n, s in zip(in_names, syms)})
        else:
            expr = ct.expr
        fn = ct.fn
        if expr is None and fn is not None:
            try:
                expr = sympy.sympify(fn(*syms))
            except Exception:  # noqa: BLE001 - numpy-only callables cannot take symbols
                expr = sympy.Function(ct.name.replace(" ", "_"))(*syms)
        if expr is None:
            raise ValueError(f"custom term {ct.name!r} needs fn or expr")
        if fn is None:
            fn = _lambdify_custom(expr, in_names, ct.name)
        return Term(ct.name, "custom", expr, fn=fn, inputs=idx)

    # ------------------------------------------------------------------ evaluation
    def stack_inputs(self, x: np.ndarray, u: np.ndarray | None = None) -> np.ndarray:
        """Concatenate state ``x (..., n_vars)`` and control ``u (..., n_ctrl)`` into inputs."""
        x = np.asarray(x, dtype=float)
        nc = len(self.control_names)
        if x.shape[-1] != len(self.variable_names):
            raise ValueError(
                f"x has {x.shape[-1]} columns, expected {len(self.variable_names)} ({self.variable_names})"
            )
        if nc == 0:
            return x
        if u is None:
            raise ValueError(f"this library has controls {self.control_names}; pass u")
        u = np.asarray(u, dtype=float)
        if u.shape[-1] != nc:
            raise ValueError(f"u has {u.shape[-1]} columns, expected {nc} ({self.control_names})")
        if x.shape[:-1] == u.shape[:-1]:
            return np.concatenate([x, u], axis=-1)
        lead = np.broadcast_shapes(x.shape[:-1], u.shape[:-1])
        return np.concatenate([np.broadcast_to(x, (*lead, x.shape[-1])), np.broadcast_to(u, (*lead, nc))], axis=-1)

    def evaluate_inputs(self, z: np.ndarray) -> np.ndarray:
        """Feature matrix for inputs ``z (..., n_inputs)`` -> ``(..., n_terms)``."""
        z = np.asarray(z, dtype=float)
        out = np.empty((*z.shape[:-1], self.n_terms))
        if len(self._poly_idx):
            out[..., self._poly_idx] = _poly_features(z, self._powers, self._max_power)
        for j, term in enumerate(self.terms):
            if term.kind != "poly":
                out[..., j] = term.evaluate(z)
        return out

    def evaluate(self, x: np.ndarray, u: np.ndarray | None = None) -> np.ndarray:
        """Feature matrix ``Theta(x, u)`` of shape ``(..., n_terms)``."""
        return self.evaluate_inputs(self.stack_inputs(x, u))

    __call__ = evaluate

    # ------------------------------------------------------------------ interop
    def to_pysindy(self):
        """Equivalent PySINDy library (polynomial and Fourier parts, same term order).

        Custom terms have no PySINDy counterpart with the same naming and are refused.
        """
        import pysindy as ps

        if self.custom_terms:
            raise ValueError("custom terms cannot be exported to a PySINDy library")
        libs = []
        inputs = []
        if self.degree is not None and self.degree >= 0:
            libs.append(
                ps.PolynomialLibrary(
                    degree=int(self.degree),
                    include_bias=self.include_bias,
                    include_interaction=self.include_interaction,
                )
            )
            inputs.append(list(range(self.n_inputs)))
        if self.include_trig:
            libs.append(ps.FourierLibrary(n_frequencies=self.n_frequencies))
            inputs.append(self._trig_input_indices())
        if len(libs) == 1 and inputs[0] == list(range(self.n_inputs)):
            return libs[0]
        return ps.GeneralizedLibrary(libs, inputs_per_library=inputs)

    def to_dict(self) -> dict[str, Any]:
        return {
            "variable_names": self.variable_names,
            "control_names": self.control_names,
            "terms": [t.to_dict() for t in self.terms],
        }

    def __repr__(self) -> str:
        return f"Library(inputs={self.input_names}, n_terms={self.n_terms}, terms={self.names})"


def _poly_features(z: np.ndarray, powers: np.ndarray, max_power: int) -> np.ndarray:
    """Monomials ``prod_i z_i^{p_ji}`` for all rows ``p_j`` of ``powers``; vectorised."""
    d = z.shape[-1]
    if max_power == 0:
        return np.ones((*z.shape[:-1], powers.shape[0]))
    # table[..., i, k] = z_i ** k for k = 0..max_power
    table = np.empty((*z.shape, max_power + 1))
    table[..., 0] = 1.0
    table[..., 1] = z
    for k in range(2, max_power + 1):
        table[..., k] = table[..., k - 1] * z
    gathered = table[..., np.arange(d)[None, :], powers]  # (..., n_poly, d)
    return gathered.prod(axis=-1)
