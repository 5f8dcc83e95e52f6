"""Candidate libraries: names, sympy expressions, evaluation, PySINDy equivalence."""

from __future__ import annotations

import json

import numpy as np
import pysindy as ps
import pytest
import sympy

from atom_sdk.science.library import CustomTerm, Library, Term, polynomial_powers


@pytest.mark.parametrize("n_inputs", [1, 3, 5])
@pytest.mark.parametrize("degree", [0, 1, 2, 3])
@pytest.mark.parametrize("include_bias", [True, False])
@pytest.mark.parametrize("include_interaction", [True, False])
def test_polynomial_powers_match_pysindy(n_inputs, degree, include_bias, include_interaction):
    if degree == 0 and not include_bias:
        pytest.skip("empty library")
    lib = ps.PolynomialLibrary(degree=degree, include_bias=include_bias, include_interaction=include_interaction)
    lib.fit(np.zeros((2, n_inputs)))
    ours = polynomial_powers(n_inputs, degree, include_bias, include_interaction)
    assert [list(p) for p in ours] == lib.powers_.tolist()


def test_names_and_expressions():
    lib = Library(["A", "B"], ["u"], degree=2)
    assert lib.names == ["1", "A", "B", "u", "A^2", "A*B", "A*u", "B^2", "B*u", "u^2"]
    A, B, u = sympy.symbols("A B u")
    assert lib.expressions == [1, A, B, u, A**2, A * B, A * u, B**2, B * u, u**2]
    assert lib.input_names == ["A", "B", "u"] and lib.n_terms == 10


def test_evaluate_matches_sympy_lambdify_and_pysindy():
    rng = np.random.default_rng(0)
    x, u = rng.normal(size=(50, 2)), rng.normal(size=(50, 1))
    lib = Library(["A", "B"], ["u"], degree=3, include_trig=True, n_frequencies=2)
    theta = lib.evaluate(x, u)
    z = np.hstack([x, u])
    syms = sympy.symbols("A B u")
    for j, expr in enumerate(lib.expressions):
        f = sympy.lambdify(syms, expr, "numpy")
        np.testing.assert_allclose(np.broadcast_to(f(*z.T), (50,)), theta[:, j], rtol=1e-12, atol=1e-12)
    ref = np.asarray(lib.to_pysindy().fit(z).transform(z))
    np.testing.assert_allclose(theta, ref, rtol=1e-12, atol=1e-12)
    # names follow PySINDy's order (format differs: "A*B" vs "A B", "sin(2*A)" vs "sin(2 A)")
    ps_names = lib.to_pysindy().fit(z).get_feature_names(["A", "B", "u"])
    assert [n.replace("*", " ") for n in lib.names] == [
        n.replace("sin(1 ", "sin(").replace("cos(1 ", "cos(") for n in ps_names
    ]


def test_evaluate_batched_leading_axes():
    lib = Library(["x"], ["u"], degree=2)
    x = np.arange(12.0).reshape(3, 4, 1)
    out = lib.evaluate(x, np.ones((3, 4, 1)))
    assert out.shape == (3, 4, lib.n_terms)
    np.testing.assert_allclose(out[..., lib.names.index("x^2")], x[..., 0] ** 2)
    # control broadcast against a batch of states
    out2 = lib.evaluate(x, np.array([2.0]))
    np.testing.assert_allclose(out2[..., lib.names.index("x*u")], 2 * x[..., 0])


def test_custom_terms_fn_expr_and_both():
    lib = Library(
        ["A"],
        ["u"],
        degree=1,
        custom_terms=[
            CustomTerm("A*|A|", fn=lambda a: a * np.abs(a), inputs=["A"]),  # expr derived from fn
            CustomTerm("exp(-A)", expr="exp(-A)", inputs=["A"]),  # fn lambdified from expr
            CustomTerm("tanh(u)", fn=np.tanh, expr=sympy.tanh(sympy.Symbol("u")), inputs=["u"]),
            CustomTerm("opaque", fn=lambda a, u: np.clip(a * u, -1, 1)),  # numpy-only: opaque expr
        ],
    )
    A, u = sympy.symbols("A u")
    assert lib.terms[-4].expr == A * sympy.Abs(A)
    assert lib.terms[-3].expr == sympy.exp(-A)
    assert isinstance(lib.terms[-1].expr, sympy.core.function.AppliedUndef)
    x, uu = np.array([[-2.0], [0.5]]), np.array([[0.3], [-4.0]])
    th = lib.evaluate(x, uu)
    np.testing.assert_allclose(th[:, -4], [-4.0, 0.25])
    np.testing.assert_allclose(th[:, -3], np.exp([2.0, -0.5]))
    np.testing.assert_allclose(th[:, -2], np.tanh([0.3, -4.0]))
    np.testing.assert_allclose(th[:, -1], [-0.6, -1.0])


def test_term_dict_roundtrip():
    lib = Library(["A"], ["u"], degree=2, include_trig=True, custom_terms=[CustomTerm("e", expr="exp(A*u)")])
    z = np.random.default_rng(1).normal(size=(7, 2))
    for term in lib.terms:
        d = json.loads(json.dumps(term.to_dict()))
        back = Term.from_dict(d, lib.input_names)
        assert back.name == term.name and back.expr == term.expr
        np.testing.assert_allclose(back.evaluate(z), term.evaluate(z))


def test_library_validation():
    with pytest.raises(ValueError, match="unique"):
        Library(["A", "A"])
    with pytest.raises(ValueError, match="unknown input"):
        Library(["A"], custom_terms=[CustomTerm("f", fn=np.sin, inputs=["B"])])
    with pytest.raises(ValueError, match="fn or expr"):
        Library(["A"], custom_terms=[CustomTerm("f")])
    lib = Library(["A"], ["u"])
    with pytest.raises(ValueError, match="pass u"):
        lib.evaluate(np.ones((3, 1)))
    with pytest.raises(ValueError, match="columns"):
        lib.evaluate(np.ones((3, 2)), np.ones((3, 1)))
    with pytest.raises(ValueError, match="PySINDy"):
        Library(["A"], custom_terms=[CustomTerm("f", expr="A")]).to_pysindy()
