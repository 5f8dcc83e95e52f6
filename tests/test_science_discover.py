"""Law discovery from noisy simulated data: exact support and coefficients within 5 %."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import sympy

from atom_sdk.science import Differentiation, LawDiscoverer, Library, SparseRegressor, Theory, discover
from atom_sdk.science.systems import add_noise, damped_oscillator, lorenz, taylor_green_amplitude

NOISE = 0.01  # 1 % of each signal's standard deviation


def assert_law(theory: Theory, expected: dict[str, dict[str, float]], rtol: float = 0.05) -> None:
    """Exact support and every coefficient within ``rtol`` (relative)."""
    for eq in theory.equations:
        want = expected[eq.target]
        assert set(eq.active_terms) == set(want), f"{eq}: support {eq.active_terms} != {sorted(want)}"
        for term, c in want.items():
            got = eq.coefficients[eq.terms.index(term)]
            assert abs(got - c) <= rtol * abs(c), f"{eq}: {term} = {got:.5f}, expected {c} +- {rtol:.0%}"


@pytest.fixture(scope="module")
def oscillator_data():
    t, x = damped_oscillator(k=1.0, c=0.1, dt=0.01, t_end=50.0)
    return t, add_noise(x, NOISE, np.random.default_rng(1))


@pytest.fixture(scope="module")
def lorenz_data():
    t, x = lorenz(dt=0.002, t_end=10.0)
    return t, add_noise(x, NOISE, np.random.default_rng(2))


@pytest.fixture(scope="module")
def tg_data():
    # dA/dt = -2 nu k^2 A + g u with nu = 0.01, k^2 = 2, g = 1, u random piecewise constant
    t, A, u = taylor_green_amplitude(
        3000, dt=0.05, nu=0.01, k2=2.0, g=1.0, hold=40, A0=1.0, rng=np.random.default_rng(3)
    )
    return t, add_noise(A, NOISE, np.random.default_rng(4)), u


OSC = {"x": {"v": 1.0}, "v": {"x": -1.0, "v": -0.1}}
LORENZ = {"x": {"x": -10.0, "y": 10.0}, "y": {"x": 28.0, "y": -1.0, "x*z": -1.0}, "z": {"x*y": 1.0, "z": -8.0 / 3.0}}
TG = {"A": {"A": -0.04, "u": 1.0}}

def parts(derivative: str, selection: str, ensembled: bool) -> dict:
    """The differentiation and optimiser of one mode."""
    return {
        "differentiation": Differentiation(derivative),
        "optimizer": SparseRegressor(selection=selection, ensembled=ensembled),
    }


MODES = [
    pytest.param("smoothed_fd", "bic", True, id="sg-bic-ensemble"),
    pytest.param("weak", "bic", True, id="weak-bic-ensemble"),
    pytest.param("smoothed_fd", "aic", False, id="sg-aic-single"),
    pytest.param("weak", "cv", False, id="weak-cv-single"),
    pytest.param("smoothed_fd", "cv", True, id="sg-cv-ensemble"),
]


@pytest.mark.parametrize(("derivative", "selection", "ensembled"), MODES)
def test_damped_oscillator(oscillator_data, derivative, selection, ensembled):
    t, x = oscillator_data
    th = discover(x, t, variable_names=["x", "v"], **parts(derivative, selection, ensembled))
    assert_law(th, OSC)


@pytest.mark.parametrize(("derivative", "selection", "ensembled"), MODES)
def test_lorenz(lorenz_data, derivative, selection, ensembled):
    t, x = lorenz_data
    th = discover(x, t, variable_names=["x", "y", "z"], **parts(derivative, selection, ensembled))
    assert_law(th, LORENZ)


@pytest.mark.parametrize(("derivative", "selection", "ensembled"), MODES)
def test_taylor_green_controlled(tg_data, derivative, selection, ensembled):
    t, A, u = tg_data
    th = discover(
        A,
        t,
        u,
        variable_names=["A"],
        control_names=["u"],
        **parts(derivative, selection, ensembled),
    )
    assert_law(th, TG)
    assert str(th.equations[0]).startswith("dA/dt = -0.04")


def test_taylor_green_control_changes_every_step():
    """Zero-order-hold consistency: the control may jump at every sample (RL-style)."""
    rng = np.random.default_rng(5)
    t, A, u = taylor_green_amplitude(1500, dt=0.1, hold=1, A0=0.0, rng=rng)
    A = add_noise(A, NOISE, rng)
    for derivative in ("smoothed_fd", "weak"):
        th = discover(A, 0.1, u, variable_names=["A"], control_names=["u"], differentiation=Differentiation(derivative))
        assert_law(th, TG)


def test_ensemble_uncertainty_and_inclusion(lorenz_data):
    t, x = lorenz_data
    th = discover(x, t, variable_names=["x", "y", "z"], optimizer=SparseRegressor(ensemble_size=30), seed=7)
    for eq in th.equations:
        incl = eq.inclusion_probability
        assert np.all(incl[eq.support] >= 0.9)
        assert np.all(incl[~eq.support] <= 0.5)
        assert np.all(eq.coefficient_std[eq.support] > 0)
        # the true coefficient is within a few ensemble standard deviations (plus 1 %)
        assert np.all(eq.coefficient_std[eq.support] < 0.05 * np.abs(eq.coefficients[eq.support]))
        assert eq.ensemble_coefficients is not None and eq.ensemble_coefficients.shape == (30, len(eq.terms))
    single = discover(x, t, variable_names=["x", "y", "z"], optimizer=SparseRegressor(ensembled=False))
    for eq in single.equations:
        assert set(np.unique(eq.inclusion_probability)) <= {0.0, 1.0}
        assert np.all(eq.coefficient_std[eq.support] > 0)
        assert eq.ensemble_coefficients is None


def test_library_bagging_and_seed_determinism(oscillator_data):
    t, x = oscillator_data
    a = discover(x, t, variable_names=["x", "v"], optimizer=SparseRegressor(library_bagging=True), seed=3)
    b = discover(x, t, variable_names=["x", "v"], optimizer=SparseRegressor(library_bagging=True), seed=3)
    assert_law(a, OSC)
    assert a.to_dict() == b.to_dict()


def test_trig_and_custom_terms():
    """Pendulum x' = v, v' = -sin(x): found with trig terms; a custom term also works."""
    from atom_sdk.science import CustomTerm
    from atom_sdk.science.systems import simulate_ode

    t = np.arange(0, 30, 0.01)
    x = simulate_ode(lambda _t, z: [z[1], -np.sin(z[0])], [2.0, 0.0], t)
    x = add_noise(x, NOISE, np.random.default_rng(8))
    th = discover(x, t, library=Library(["x", "v"], degree=1, include_trig=True))
    assert_law(th, {"x": {"v": 1.0}, "v": {"sin(x)": -1.0}})
    th2 = discover(
        x,
        t,
        library=Library(
            ["x", "v"], degree=1, custom_terms=[CustomTerm("sin(x)", fn=np.sin, expr="sin(x)", inputs=["x"])]
        ),
    )
    assert_law(th2, {"x": {"v": 1.0}, "v": {"sin(x)": -1.0}})


def test_multiple_trajectories_and_nonuniform_time():
    rng = np.random.default_rng(9)
    runs = [damped_oscillator(x0=x0, t_end=25.0) for x0 in [(2.0, 0.0), (0.0, 1.5), (-1.0, 1.0)]]
    xs = [add_noise(x, NOISE, rng) for _, x in runs]
    th = discover(xs, 0.01, variable_names=["x", "v"])
    assert_law(th, OSC)
    assert th.metadata["n_trajectories"] == 3
    # non-uniform sampling
    from atom_sdk.science.systems import simulate_ode

    t = np.sort(np.concatenate([[0.0], np.cumsum(rng.uniform(0.005, 0.015, 4000))]))
    x = simulate_ode(lambda _t, z: [z[1], -z[0] - 0.1 * z[1]], [2.0, 0.0], t)
    x = add_noise(x, NOISE, rng)
    for derivative in ("smoothed_fd", "weak"):
        assert_law(discover(x, t, variable_names=["x", "v"], differentiation=Differentiation(derivative)), OSC)


# ---------------------------------------------------------------------------------- Theory


def test_theory_strings_sympy_and_json_roundtrip(tg_data):
    t, A, u = tg_data
    th = discover(A, t, u, variable_names=["A"], control_names=["u"])
    eq = th.equations[0]
    s = eq.to_string()
    assert re.fullmatch(r"dA/dt = -0\.0[34]\d\d A \+ (0\.9[5-9]|1\.0[0-5])\d\d u", s), s
    a_sym, u_sym = sympy.symbols("A u")
    expr = eq.expression
    assert expr.free_symbols == {a_sym, u_sym}
    assert float(expr.coeff(a_sym)) == pytest.approx(eq.coefficients[eq.terms.index("A")])
    assert float(expr.coeff(u_sym)) == pytest.approx(eq.coefficients[eq.terms.index("u")])
    assert eq.sympy_equation.lhs == sympy.Symbol("dA/dt")
    assert 0.99 < eq.r2 <= 1.0 and eq.rmse > 0

    d = json.loads(json.dumps(th.to_dict()))
    back = Theory.from_dict(d)
    assert back.to_dict() == th.to_dict()
    assert str(back) == str(th)
    xs = np.random.default_rng(0).normal(size=(10, 1))
    us = np.random.default_rng(1).normal(size=(10, 1))
    np.testing.assert_array_equal(back.predict_derivative(xs, us), th.predict_derivative(xs, us))
    np.testing.assert_array_equal(back.ensemble_predict_derivative(xs, us), th.ensemble_predict_derivative(xs, us))
    assert Theory.from_json(th.to_json()).to_dict() == th.to_dict()


def test_theory_step_euler_and_rk4_match_exact_solution(tg_data):
    t, A, u = tg_data
    th = discover(A, t, u, variable_names=["A"], control_names=["u"])
    a = -th.equations[0].coefficients[th.equations[0].terms.index("A")]
    g = th.equations[0].coefficients[th.equations[0].terms.index("u")]
    x0, u0, dt = np.array([2.0]), np.array([0.5]), 0.5
    exact = x0 * np.exp(-a * dt) + g * u0 / a * (1 - np.exp(-a * dt))
    assert th.step(x0, u0, dt, "rk4") == pytest.approx(exact, rel=1e-8)
    assert th.step(x0, u0, dt, "euler") == pytest.approx(x0 + dt * (-a * x0 + g * u0), rel=1e-12)
    traj = th.simulate(x0, dt, u=np.full((4, 1), 0.5))
    assert traj.shape == (5, 1) and traj[1] == pytest.approx(exact, rel=1e-8)
    # batched evaluation over leading axes
    xb = np.ones((3, 4, 1))
    assert th.predict_derivative(xb, np.zeros((3, 4, 1))).shape == (3, 4, 1)


def test_theory_with_opaque_custom_term_needs_function():
    from atom_sdk.science import CustomTerm

    t, x = damped_oscillator(t_end=20.0)
    ct = CustomTerm("clip(x)", fn=lambda a: np.clip(a, -1, 1), inputs=["x"])
    th = discover(x, t, library=Library(["x", "v"], custom_terms=[ct]))
    d = json.loads(th.to_json())
    with pytest.raises(ValueError, match="custom_functions"):
        Theory.from_dict(d)
    back = Theory.from_dict(d, custom_functions={"clip(x)": ct.fn})
    assert str(back) == str(th)


# ---------------------------------------------------------------------------------- estimator


def test_law_discoverer_sklearn_api(oscillator_data):
    from sklearn.base import clone

    t, x = oscillator_data
    est = LawDiscoverer(Library(["x", "v"]), optimizer=SparseRegressor(selection="aic", ensemble_size=10))
    params = est.get_params()
    assert params["optimizer"] == SparseRegressor(selection="aic", ensemble_size=10)
    assert params["library"].names == ["1", "x", "v", "x^2", "x*v", "v^2"] and params["differentiation"] is None
    est.set_params(optimizer=SparseRegressor(selection="bic", ensembled=False), differentiation=Differentiation())
    assert est.get_params()["optimizer"].selection == "bic" and est.optimizer.ensembled is False
    c = clone(est)
    assert repr(c.get_params()) == repr(est.get_params()) and not hasattr(c, "theory_")
    assert est.fit(x, t) is est
    assert_law(est.theory_, OSC)
    assert est.library_.names == Library(["x", "v"]).names
    pred = est.predict(x[:5])
    assert pred.shape == (5, 2)
    np.testing.assert_allclose(
        pred[:, 0], x[:5, 1] * est.theory_.equations[0].coefficients[est.theory_.equations[0].terms.index("v")]
    )
    assert est.score(x, t) > 0.99
    assert est.equations()[1].startswith("dv/dt = -1.0")
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        LawDiscoverer().predict(x)


def test_input_validation():
    x = np.ones((50, 2))
    with pytest.raises(ValueError, match="NaN"):
        discover(np.full((50, 1), np.nan), 0.1)
    with pytest.raises(ValueError, match="dt must be positive"):
        discover(x, 0.0)
    with pytest.raises(ValueError, match="rows"):
        discover(x, 0.1, np.ones((49, 1)))
    with pytest.raises(ValueError, match="derivative"):
        Differentiation("spline")
    with pytest.raises(ValueError, match="selection"):
        SparseRegressor(selection="magic")
    with pytest.raises(ValueError, match="data has 2 variables"):
        discover(x, 0.1, library=Library(["x"]))
