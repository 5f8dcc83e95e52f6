"""Symbolic regression: laws outside the polynomial library, as governed theories."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
import sympy
from scipy.integrate import solve_ivp

from atom_sdk.science import symbolic_regression as sr
from atom_sdk.science.governance import Governor
from atom_sdk.science.implicit import pointwise_rows
from atom_sdk.science.ledger import HypothesisLedger
from atom_sdk.science.scientist import Scientist
from atom_sdk.science.symbolic_regression import SymbolicRegressor, pysr_available, sr_theory
from atom_sdk.science.theory import Theory

X_SYM = sympy.Symbol("x")


def _pendulum_window(x0: float, seed: int, n: int = 400, dt: float = 0.02, noise: float = 0.0):
    """``dx/dt = -sin(x)``: no finite polynomial library holds it exactly."""
    t = np.arange(n) * dt
    x = solve_ivp(lambda t, y: -np.sin(y), (0, t[-1]), [x0], t_eval=t, rtol=1e-10, atol=1e-12).y.T
    if noise:
        x = x + noise * np.std(x) * np.random.default_rng(seed).standard_normal(x.shape)
    return x, t


def test_enumeration_recovers_x_exp_minus_x_exactly() -> None:
    rng = np.random.default_rng(0)
    x = rng.uniform(-1.0, 4.0, 300)
    reg = SymbolicRegressor(random_state=0).fit(x[:, None], x * np.exp(-x), ["x"])
    assert reg.backend_ == "enumerate"  # no Julia here: the pure-Python fallback
    diff = sympy.lambdify(X_SYM, reg.expression_ - X_SYM * sympy.exp(-X_SYM))(np.linspace(-1, 4, 50))
    assert np.max(np.abs(diff)) < 1e-6
    assert reg.expression_.has(sympy.exp) and reg.complexity_ <= 8


def test_pareto_front_trades_complexity_for_error() -> None:
    rng = np.random.default_rng(1)
    x = rng.uniform(-2.0, 2.0, 300)
    y = np.sin(2 * x) + 0.3 * x**2 + 0.01 * rng.standard_normal(300)
    reg = SymbolicRegressor(random_state=0).fit(x[:, None], y, ["x"])
    comp = [c.complexity for c in reg.pareto_]
    err = [c.error for c in reg.pareto_]
    assert comp == sorted(comp) and len(set(comp)) == len(comp)
    assert all(b < a for a, b in zip(err, err[1:]))
    assert reg.error_ < 1e-3  # the chosen law explains the held-out data to the noise level
    assert reg.expression_.has(sympy.sin)


def test_sr_theory_recovers_minus_sin_from_trajectories_within_two_percent() -> None:
    xs, ts = zip(*[_pendulum_window(x0, 0) for x0 in (0.5, 1.5, 2.5, -2.0)])
    X, XD, _, B = pointwise_rows(list(xs), list(ts), None)
    th = sr_theory(["x"], [], X, XD, None, SymbolicRegressor(random_state=0), block=B, metadata={"dt": 0.02})
    eq = th.equations[0]
    assert th.metadata["backend"] == "sr" and th.metadata["structure"] == [["x", "sin(k*x)"]]
    (piece,) = [t.expr for t, s in zip(th.terms, eq.support) if s]
    (k,) = [float(a) for a in piece.atoms(sympy.Float)]
    np.testing.assert_allclose([eq.active_coefficients[0], k], [-1.0, 1.0], rtol=0.02)
    back = Theory.from_json(th.to_json())  # custom terms are rebuilt from their sympy expressions
    grid = np.linspace(-3, 3, 25)[:, None]
    np.testing.assert_allclose(back.predict_derivative(grid), th.predict_derivative(grid), rtol=1e-12)


def _review_twice(make_window, tmp_path) -> list[dict]:
    ledger = HypothesisLedger(tmp_path / "ledger.jsonl")
    gov = Governor(ledger=ledger, dt=0.02)
    out = []
    for seed in (0, 1):
        x_train, t = make_window(seed)
        X, XD, _, B = pointwise_rows([x_train], [t], None)
        cand = sr_theory(["x"], [], X, XD, None, SymbolicRegressor(random_state=seed), block=B, metadata={"dt": 0.02})
        x_ho, _ = make_window(seed + 10)
        out.append(gov.review(cand, x_ho, None, x_train=x_train, backend="sr"))
    return out


def test_governor_accepts_the_symbolic_law_and_ledgers_its_backend(tmp_path) -> None:
    decisions = _review_twice(lambda s: _pendulum_window((2.5, 1.0, 2.8)[s % 3], s, noise=0.002), tmp_path)
    assert [d["kind"] for d in decisions] == ["rejected", "accepted"], decisions[1]["reasons"]
    assert decisions[1]["backend"] == "sr" and "sin" in decisions[1]["expressions"]["x"]
    assert {r["backend"] for r in HypothesisLedger(tmp_path / "ledger.jsonl", readonly=True)} == {"sr"}


def test_governor_refuses_a_symbolic_law_fitted_on_pure_noise(tmp_path) -> None:
    def noise(seed: int):
        return 1.0 + 0.1 * np.random.default_rng(seed).standard_normal((300, 1)), np.arange(300) * 0.02

    decisions = _review_twice(noise, tmp_path)
    assert [d["kind"] for d in decisions] == ["rejected", "rejected"]


def test_scientist_sr_backend_records_its_candidates(tmp_path) -> None:
    ledger = HypothesisLedger(tmp_path / "l.jsonl")
    sci = Scientist({"min_samples": 100, "window": 160, "fit_every": 50}, ["x"], [], 0.02, ledger=ledger,
                    backends=("sr",), sr_options={"unary": ("sin",), "max_terms": 2})
    x, _ = _pendulum_window(2.5, 0, n=220)
    for k, xk in enumerate(x):
        sci.observe(xk, None)
        sci.update(k)
    recs = ledger.records()
    assert recs and {r["backend"] for r in recs} == {"sr"}
    assert any("sin" in r["expressions"]["x"] for r in recs if r["kind"] == "candidate")


def test_pysr_is_detected_without_importing_it(monkeypatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda n, *a: object() if n == "pysr" else real(n, *a))
    monkeypatch.setattr(sr.shutil, "which", lambda n: None)
    monkeypatch.delenv("PYTHON_JULIACALL_EXE", raising=False)
    assert pysr_available() is False  # pysr without a Julia runtime is not used (it would install one)
    monkeypatch.setattr(sr.shutil, "which", lambda n: __file__)
    assert pysr_available() is True


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="unary"):
        SymbolicRegressor(unary=("tanh",))
    with pytest.raises(ValueError, match="backend"):
        SymbolicRegressor(backend="eureqa")
    with pytest.raises(ValueError, match="rows"):
        SymbolicRegressor().fit(np.ones((5, 1)), np.ones(5))


@pytest.mark.skipif(importlib.util.find_spec("gplearn") is None, reason="gplearn (optional extra) not installed")
def test_gplearn_backend_on_a_small_budget() -> None:
    rng = np.random.default_rng(2)
    x = rng.uniform(-3.0, 3.0, 200)
    reg = SymbolicRegressor(backend="gplearn", unary=("sin",), random_state=0,
                            options={"population_size": 300, "generations": 6}).fit(x[:, None], -np.sin(x), ["x"])
    assert reg.backend_ == "gplearn" and reg.error_ < 0.05
    assert reg.expression_.has(sympy.sin)
