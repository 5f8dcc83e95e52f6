"""The frozen theory in JAX against the numpy Scientist, step by step over real fitted streams.

Tolerance (float32 freeze): every theory feature agrees with the float64 scientist to
``1e-5 * (1 + |value|)`` (measured: about 2e-7, one float32 rounding of values of order 1); the
ACI miss counts and the number of held scores agree exactly. The greedy control agrees to
``1e-5 * (1 + |u|)`` at >= 90 % of the steps; elsewhere float32 cannot separate candidates near a
flat optimum far from the target, and the bound is on what the control is for: its cost (in
float64, under the numpy theory) is the numpy control's to ``1e-6 * (1 + cost)``. A float64 freeze
agrees with the numpy controller to 1e-9 at every step (the same search, only the precision differs).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

jax = pytest.importorskip("jax")
import jax.numpy as jnp  # noqa: E402

from atom_sdk.compilation import CompilationCounter  # noqa: E402
from atom_sdk.config import ScientistSettings  # noqa: E402
from atom_sdk.science import Scientist  # noqa: E402
from atom_sdk.science import jax_theory as jt  # noqa: E402
from atom_sdk.science.library import CustomTerm, Library  # noqa: E402
from atom_sdk.science.systems import TaylorGreenAmplitude, piecewise_constant_control  # noqa: E402
from atom_sdk.science.theory import Equation, Theory  # noqa: E402

DT = 0.1
TOL = 1e-5

_features = jax.jit(jt.theory_features)
_observe = jax.jit(jt.observe)
_greedy = jax.jit(jt.greedy_control)
_predict = jax.jit(jt.predict_next)


def taylor_green_stream(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Measured amplitude (1 % noise) of the controlled Taylor-Green mode, and the controls."""
    rng = np.random.default_rng(seed)
    u = piecewise_constant_control(n, 5, rng)
    sim = TaylorGreenAmplitude(nu=0.01, k2=2.0, g=1.0, dt=DT, A0=0.0)
    amp = np.empty(n)
    for i in range(n):
        amp[i] = sim.A
        sim.step(u[i])
    return (amp + 0.01 * rng.standard_normal(n))[:, None], u[:, None]


def pendulum_stream(n: int, seed: int = 0, episode: int = 150) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A driven, damped pendulum with two controls: ``th' = w + 0.5 u1``, ``w' = -sin(th) - 0.2 w + u0``
    (RK4 with fine substeps), restarted every ``episode`` steps; returns x, u and the episode ends."""
    rng = np.random.default_rng(seed)
    u = np.stack([piecewise_constant_control(n, 6, rng), piecewise_constant_control(n, 9, rng, -0.5, 0.5)], 1)

    def f(z: np.ndarray, uu: np.ndarray) -> np.ndarray:
        return np.array([z[1] + 0.5 * uu[1], -np.sin(z[0]) - 0.2 * z[1] + uu[0]])

    x = np.empty((n, 2))
    ends = np.zeros(n, bool)
    z = np.array([2.0, 0.0])
    for i in range(n):
        if i and i % episode == 0:
            z = rng.uniform(-2.5, 2.5, 2)
            ends[i - 1] = True
        x[i] = z
        h = DT / 10
        for _ in range(10):
            k1 = f(z, u[i])
            k2 = f(z + 0.5 * h * k1, u[i])
            k3 = f(z + 0.5 * h * k2, u[i])
            k4 = f(z + h * k3, u[i])
            z = z + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
    return x + 0.003 * rng.standard_normal(x.shape), u, ends


def close(a: np.ndarray, b: np.ndarray) -> float:
    """Largest error in units of the tolerance (<= 1 passes)."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    return float(np.max(np.abs(a - b) / (TOL * (1.0 + np.abs(b)))))


def replay(sci: Scientist, x: np.ndarray, u: np.ndarray, ends: np.ndarray, target: np.ndarray,
           weights: np.ndarray, low: np.ndarray, high: np.ndarray, dtype: Any = jnp.float32) -> dict:
    """Stream ``x, u`` to the scientist (as the runner does, boundaries included), and at every
    step compare its features and greedy control with the frozen theory's, which is advanced by
    ``jax_theory.observe`` between refits and frozen again after each refit."""
    ft = jt.freeze(sci, dtype)
    worst = {"features": 0.0, "control": 0.0, "control_cost": 0.0, "control_off": 0, "refreezes": 0,
             "compared": 0, "with_theory": 0}
    prev: tuple[np.ndarray, np.ndarray] | None = None
    for s in range(len(x)):
        u_last = u[s - 1] if s and prev is not None else np.zeros(u.shape[1])
        f_np = sci.theory_features(x[s], u_last)
        f_jx = np.asarray(_features(ft, x[s], u_last))
        worst["features"] = max(worst["features"], close(f_jx, f_np))
        c_np = sci.greedy_control(x[s], target, weights, low, high)
        c_jx = np.asarray(_greedy(ft, x[s], target, weights, low, high))
        off = close(c_jx, c_np)
        worst["control_off"] += off > 1.0
        worst["control"] = max(worst["control"], off)
        if sci.theory is not None and off > 1.0:
            cost = [np.sum(weights * (sci._step(sci.theory, x[s], c) - target) ** 2) for c in (c_jx, c_np)]
            worst["control_cost"] = max(worst["control_cost"], abs(cost[0] - cost[1]) / (1e-6 * (1 + cost[1])))
        worst["compared"] += 1
        worst["with_theory"] += sci.theory is not None
        # the scientist's observe of x[s] closes the transition from the previous sample
        ft = _observe(ft, prev[0], prev[1], x[s], True) if prev is not None else ft
        sci.observe(x[s], u[s])
        prev = (x[s], u[s])
        if ends[s]:  # terminal reading, then the boundary (ScienceBridge.observe)
            term = x[s + 1] if s + 1 < len(x) else x[s]
            ft = _observe(ft, x[s], u[s], term, True)
            sci.observe(term, np.zeros(u.shape[1]))
            sci.mark_boundary()
            ft = jt.mark_boundary(ft)
            prev = None
        if sci.update(s):
            ft = jt.freeze(sci, dtype)
            worst["refreezes"] += 1
        assert int(ft.n_scores) == len(sci._aci.scores)
        np.testing.assert_array_equal(np.asarray(ft.n_miss), sci._aci.n_miss)
        np.testing.assert_allclose(np.asarray(ft.last_residual), sci._last_residual, rtol=TOL, atol=TOL)
    return worst


@pytest.fixture(scope="module")
def taylor_green():
    sci = Scientist(ScientistSettings(), ["A"], ["u"], DT, seed=0)
    x, u = taylor_green_stream(360)
    worst = replay(sci, x, u, np.zeros(len(x), bool), np.array([0.5]), np.ones(1), -np.ones(1), np.ones(1))
    return sci, worst


def test_taylor_green_features_and_control_match_the_scientist_per_step(taylor_green):
    sci, worst = taylor_green
    assert sci.theory is not None and sci.trust > 0.8
    assert set(sci.theory.equations[0].active_terms) == {"A", "u"}
    assert worst["refreezes"] >= 15 and worst["with_theory"] > 250
    assert worst["features"] <= 1.0, worst
    assert worst["control_cost"] <= 1.0 and worst["control_off"] <= 0.1 * worst["compared"], worst


def test_two_variable_system_with_trig_terms_two_controls_and_episode_ends():
    settings = ScientistSettings(include_trig=True, window=200, min_samples=48)
    sci = Scientist(settings, ["th", "w"], ["u0", "u1"], DT, seed=3)
    x, u, ends = pendulum_stream(420)
    worst = replay(sci, x, u, ends, np.array([0.0, 0.0]), np.array([1.0, 0.5]), -np.ones(2), np.ones(2))
    assert sci.theory is not None and sci.trust > 0.5
    laws = {law["target"]: set(law["terms"]) for law in sci.laws()}
    assert "sin(th)" in laws["w"] and "u0" in laws["w"]  # the trig path is exercised
    assert worst["with_theory"] > 200
    assert worst["features"] <= 1.0, worst
    assert worst["control_cost"] <= 1.0 and worst["control_off"] <= 0.1 * worst["compared"], worst


def test_a_float64_freeze_is_the_numpy_scientist_to_1e9():
    before = bool(jax.config.jax_enable_x64)
    jax.config.update("jax_enable_x64", True)
    try:
        sci = Scientist(ScientistSettings(), ["A"], ["u"], DT, seed=1)
        x, u = taylor_green_stream(200, seed=1)
        worst = replay(sci, x, u, np.zeros(len(x), bool), np.array([0.5]), np.ones(1), -np.ones(1), np.ones(1),
                       dtype=jnp.float64)
    finally:
        jax.config.update("jax_enable_x64", before)
    assert worst["with_theory"] > 120
    assert worst["features"] * TOL <= 1e-9 and worst["control"] * TOL <= 1e-9, worst


def test_before_any_theory_features_are_zero_and_the_control_is_clipped_zero():
    sci = Scientist(ScientistSettings(), ["A", "B"], ["u1", "u2"], DT)
    ft = jt.freeze(sci)
    assert not bool(ft.has_theory) and ft.coef.shape == (sci.library.n_terms, 2)
    f = np.asarray(_features(ft, np.ones(2), np.zeros(2)))
    assert f.dtype == np.float32 and f.shape == (Scientist.feature_dim(2, 2),) and np.all(f == 0)
    mean, lo, hi = (np.asarray(v) for v in _predict(ft, np.array([1.5, -2.0]), np.zeros(2)))
    np.testing.assert_array_equal(mean, [1.5, -2.0])
    assert np.all(np.isneginf(lo)) and np.all(np.isposinf(hi))
    np.testing.assert_array_equal(_greedy(ft, np.ones(2), np.zeros(2), np.ones(2), -np.ones(2), np.ones(2)), 0)
    np.testing.assert_array_equal(_greedy(ft, np.ones(2), np.zeros(2), np.ones(2), np.ones(2), 2 * np.ones(2)), 1)
    # observing without a theory changes nothing (the scientist keeps no residual either)
    after = _observe(ft, np.ones(2), np.ones(2), 3 * np.ones(2), True)
    assert int(after.n_seen) == 0 and int(after.n_scores) == 0 and np.all(np.asarray(after.last_residual) == 0)


def test_trust_gate_withholds_the_controller_and_huge_inputs_stay_finite(taylor_green):
    sci, _ = taylor_green
    ft = jt.freeze(sci)
    x, tgt, w, lo, hi = np.array([0.2]), np.array([3.0]), np.ones(1), -np.ones(1), np.ones(1)
    assert bool(jt.trusted(ft))
    assert float(_greedy(ft, x, tgt, w, lo, hi)[0]) == pytest.approx(1.0)  # out of reach: full forcing
    saved = sci.governor.trust
    try:
        sci.governor.trust = float(ft.gate) - 0.01  # just under the gate: both withhold the controller
        low_trust = jt.freeze(sci)
        assert not bool(jt.trusted(low_trust))
        assert float(_greedy(low_trust, x, tgt, w, lo, hi)[0]) == 0.0 == float(sci.greedy_control(x, tgt, w, lo, hi)[0])
        assert close(_features(low_trust, x, np.zeros(1)), sci.theory_features(x, np.zeros(1))) <= 1.0
    finally:
        sci.governor.trust = saved
    g = np.asarray(_features(ft, np.array([1e30]), np.array([1e30])))
    assert np.all(np.isfinite(g)) and np.abs(g).max() <= 1e6


def test_a_new_theory_is_new_values_in_the_same_program(taylor_green):
    sci, _ = taylor_green
    empty = jt.freeze(Scientist(ScientistSettings(), ["A"], ["u"], DT))
    fitted = jt.freeze(sci)
    fn = jax.jit(lambda ft, x, u: (jt.theory_features(ft, x, u), jt.observe(ft, x, u, x + 1.0),
                                   jt.greedy_control(ft, x, x, jnp.ones(1), -jnp.ones(1), jnp.ones(1))))
    with CompilationCounter() as first:
        jax.block_until_ready(fn(empty, jnp.ones(1), jnp.zeros(1)))
    with CompilationCounter() as again:
        jax.block_until_ready(fn(fitted, jnp.ones(1), jnp.zeros(1)))
        jax.block_until_ready(fn(fitted.replace(trust=jnp.float32(0.5)), jnp.ones(1), jnp.zeros(1)))
    assert first.compiled >= 1 and again.compiled == 0


def test_stacked_seeds_vmap_to_each_seed_own_answer(taylor_green):
    sci, _ = taylor_green
    fitted = jt.freeze(sci)
    empty = jt.freeze(Scientist(ScientistSettings(), ["A"], ["u"], DT))
    both = jt.stack([fitted, empty])
    x = jnp.array([[0.3], [0.3]])
    u = jnp.array([[0.1], [0.1]])
    feats = np.asarray(jax.vmap(jt.theory_features)(both, x, u))
    np.testing.assert_allclose(feats[0], np.asarray(_features(fitted, x[0], u[0])), rtol=1e-6)
    assert np.all(feats[1] == 0)


def test_theories_outside_the_library_are_refused_with_a_clear_message():
    sci = Scientist(ScientistSettings(), ["A"], ["u"], DT)
    lib = Library(["A"], ["u"], degree=1, custom_terms=[CustomTerm("A*|A|", expr="A*Abs(A)")])
    p = lib.n_terms
    eq = Equation("A", lib.names, np.r_[np.zeros(p - 1), -1.0], np.zeros(p), np.r_[np.zeros(p - 1), 1.0],
                  np.r_[np.zeros(p - 1, bool), True])
    sci.governor.current = Theory(["A"], ["u"], lib.terms, [eq])
    with pytest.raises(ValueError, match="sparse"):
        jt.freeze(sci)
    custom = Scientist(ScientistSettings(), ["A"], ["u"], DT)
    custom.library = lib  # a library with a custom term cannot be frozen, theory or not
    with pytest.raises(ValueError, match="custom"):
        jt.freeze(custom)
