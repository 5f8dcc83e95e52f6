"""Exploratory action proposals and the greedy theory-derived controller."""

from __future__ import annotations

import numpy as np
import pytest

from atom_sdk.science.library import Library
from atom_sdk.science.planning import (
    candidate_actions,
    greedy_action,
    least_certain_control,
    prediction_variance,
    propose_action,
)
from atom_sdk.science.theory import Equation, Theory

LIB = Library(["x"], ["u1", "u2"], degree=1)  # terms: 1, x, u1, u2


def theory(coef=(0.0, -0.5, 1.0, 2.0), spread=(0.0, 0.0, 0.01, 0.5), ensemble=True) -> Theory:
    coef = np.asarray(coef, float)
    spread = np.asarray(spread, float)
    rng = np.random.default_rng(0)
    ens = coef[None, :] + spread[None, :] * rng.standard_normal((30, 4)) if ensemble else None
    eq = Equation("x", LIB.names, coef, spread, (coef != 0).astype(float), coef != 0, ensemble_coefficients=ens)
    return Theory(["x"], ["u1", "u2"], LIB.terms, [eq], {"dt": 0.1})


def test_least_certain_control():
    j, scores = least_certain_control(theory())
    assert j == 1 and scores[1] > scores[0]
    j, _ = least_certain_control(theory(spread=(0, 0, 0.9, 0.01)))
    assert j == 0


@pytest.mark.parametrize("ensemble", [True, False])
def test_propose_action_maximises_predictive_disagreement(ensemble):
    """u2's coefficient is uncertain: the most informative action drives u2 to a bound."""
    th = theory(ensemble=ensemble)
    lo, hi = np.array([-1.0, -2.0]), np.array([1.0, 2.0])
    a = propose_action(th, np.array([0.5]), lo, hi, np.random.default_rng(1), dt=0.1)
    assert np.all(a >= lo) and np.all(a <= hi)
    assert abs(a[1]) == pytest.approx(2.0)
    # it is the arg-max of the predictive variance over the same candidate set
    cands = candidate_actions(lo, hi, np.random.default_rng(1), 64)
    v = prediction_variance(th, np.array([0.5]), cands, 0.1)
    np.testing.assert_array_equal(a, cands[np.argmax(v)])


def test_propose_action_without_theory_and_excite():
    lo, hi = np.array([0.0, -1.0]), np.array([1.0, 3.0])
    rng = np.random.default_rng(2)
    a = np.array([propose_action(None, np.zeros(1), lo, hi, rng) for _ in range(500)])
    assert np.all(a >= lo) and np.all(a <= hi)
    np.testing.assert_allclose(a.mean(axis=0), (lo + hi) / 2, atol=0.15)
    e = propose_action(theory(), np.zeros(1), lo, hi, rng, strategy="excite")
    assert e[1] in (lo[1], hi[1])
    with pytest.raises(ValueError, match="strategy"):
        propose_action(theory(), np.zeros(1), lo, hi, rng, strategy="nope")


def test_greedy_action_reaches_a_reachable_target():
    th = theory(ensemble=False)
    x, dt = np.array([1.0]), 0.1
    target = np.array([1.1])
    lo, hi = np.array([-1.0, -1.0]), np.array([1.0, 1.0])
    u = greedy_action(th, x, target, np.ones(1), lo, hi, dt, method="euler")
    pred = th.step(x, u, dt, "euler")
    assert pred[0] == pytest.approx(1.1, abs=1e-6)
    assert np.all(u >= lo) and np.all(u <= hi)


def test_greedy_action_saturates_for_unreachable_target():
    th = theory(ensemble=False)
    u = greedy_action(th, np.array([0.0]), np.array([10.0]), np.ones(1), -np.ones(2), np.ones(2), 0.1)
    np.testing.assert_allclose(u, [1.0, 1.0])
    u = greedy_action(th, np.array([0.0]), np.array([-10.0]), np.ones(1), -np.ones(2), np.ones(2), 0.1)
    np.testing.assert_allclose(u, [-1.0, -1.0])


def test_greedy_action_many_controls_and_weights():
    lib = Library(["a", "b"], [f"u{i}" for i in range(5)], degree=1)
    coefs = np.zeros((2, lib.n_terms))
    coefs[0, lib.names.index("u0")] = 1.0
    coefs[0, lib.names.index("u3")] = -1.0
    coefs[1, lib.names.index("u4")] = 2.0
    eqs = [
        Equation(v, lib.names, c, np.zeros_like(c), (c != 0).astype(float), c != 0) for v, c in zip(["a", "b"], coefs)
    ]
    th = Theory(["a", "b"], lib.control_names, lib.terms, eqs)
    lo, hi = -np.ones(5), np.ones(5)
    u = greedy_action(th, np.zeros(2), np.array([0.15, -0.1]), np.array([1.0, 1.0]), lo, hi, 0.1, "euler")
    pred = th.step(np.zeros(2), u, 0.1, "euler")
    np.testing.assert_allclose(pred, [0.15, -0.1], atol=2e-3)
    # a zero weight makes a variable irrelevant
    u2 = greedy_action(th, np.zeros(2), np.array([0.15, 5.0]), np.array([1.0, 0.0]), lo, hi, 0.1, "euler")
    assert th.step(np.zeros(2), u2, 0.1, "euler")[0] == pytest.approx(0.15, abs=2e-3)


def test_theory_without_control_terms():
    """E.g. the control was constant so far: greedy control is indifferent (returns the
    smallest control) and exploration excites a control instead of sampling blindly."""
    th = theory(coef=(0.5, -0.04, 0.0, 0.0), spread=(0.01, 0.001, 0.0, 0.0))
    u = greedy_action(th, np.array([1.0]), np.array([3.0]), np.ones(1), -np.ones(2), np.ones(2), 0.1)
    np.testing.assert_allclose(u, 0.0, atol=1e-3)
    a = propose_action(th, np.array([1.0]), -np.ones(2), np.ones(2), np.random.default_rng(0))
    assert np.any(np.abs(a) == 1.0)
