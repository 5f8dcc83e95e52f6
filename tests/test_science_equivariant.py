"""The SO(2)-equivariant sparse fit (science.equivariant) on systems whose laws are known.

Why: the wake reproduction fits its mean-field model with this constraint; it must recover an
exact Hopf / mean-field system (ties included) and must say so, loudly, when the data do not have
the symmetry it imposes instead of returning a wrong law in silence.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.integrate import solve_ivp

from atom_sdk.errors import ConfigError
from atom_sdk.science.equivariant import discover_so2, so2_coefficients
from atom_sdk.science.library import Library
from atom_sdk.science.sparse import SparseRegressor

#: mean-field model with a frequency shift, in rotating coordinates (x, y) = (a1 / S1, a2 / S2)
MU, OMEGA, ALPHA, BETA, LAM = 0.1, 1.0, -0.1, 0.05, 1.0
S1, S2 = 2.0, 0.5
NAMES = ["a1", "a2", "a3"]


def mean_field(_t: float, a: np.ndarray) -> list[float]:
    x, y, z = a[0] / S1, a[1] / S2, a[2]
    f, g = MU + ALPHA * z, OMEGA + BETA * z
    return [S1 * (f * x - g * y), S2 * (f * y + g * x), -LAM * (z - x * x - y * y)]


DT = 0.02  # the derivative estimate's error falls as dt^2: 0.7 % on g[a3] at dt = 0.05, 0.2 % at 0.02


def simulate(rhs, a0: list[float], t_end: float, dt: float = DT) -> np.ndarray:
    t = np.arange(0.0, t_end, dt)
    return solve_ivp(rhs, (0, t[-1]), a0, t_eval=t, rtol=1e-10, atol=1e-12, method="DOP853").y.T


@pytest.fixture(scope="module")
def mean_field_runs() -> list[np.ndarray]:
    """The transient from the fixed point, a start off the manifold, and the shift's decay."""
    return [simulate(mean_field, [0.02, 0.0, 0.0], 120.0), simulate(mean_field, [2.0, 0.0, 0.0], 20.0),
            simulate(mean_field, [0.01, 0.0, 1.0], 20.0)]


def test_recovers_the_exact_mean_field_coefficients(mean_field_runs: list[np.ndarray]) -> None:
    theory = discover_so2(mean_field_runs, DT, variable_names=NAMES, scales=(S1, S2),
                          optimizer=SparseRegressor(selection="cv"))
    coef = {eq.target: dict(zip(eq.active_terms, eq.active_coefficients)) for eq in theory.equations}
    expect = {  # d a1/dt = S1 (f x - g y) etc., expanded in a1, a2, a3
        "a1": {"a1": MU, "a1*a3": ALPHA, "a2": -OMEGA * S1 / S2, "a2*a3": -BETA * S1 / S2},
        "a2": {"a2": MU, "a2*a3": ALPHA, "a1": OMEGA * S2 / S1, "a1*a3": BETA * S2 / S1},
        "a3": {"a3": -LAM, "a1^2": LAM / S1**2, "a2^2": LAM / S2**2},
    }
    assert {k: set(v) for k, v in coef.items()} == {k: set(v) for k, v in expect.items()}, str(theory)
    for target, terms in expect.items():
        for term, value in terms.items():
            assert coef[target][term] == pytest.approx(value, rel=3e-3), (target, term)
    eq = theory.metadata["equivariance"]
    assert eq["consistent"] and max(eq["r2_loss"]) < 1e-6
    # the tie is exact, not approximate: one growth rate in both equations
    assert coef["a1"]["a1"] == coef["a2"]["a2"] and coef["a1"]["a1*a3"] == coef["a2"]["a2*a3"]


def test_default_scales_are_the_pair_rms(mean_field_runs: list[np.ndarray]) -> None:
    theory = discover_so2(mean_field_runs, DT, variable_names=NAMES)
    allx = np.concatenate(mean_field_runs)
    assert theory.metadata["equivariance"]["scales"] == pytest.approx(
        [np.sqrt(np.mean(allx[:, 0] ** 2)), np.sqrt(np.mean(allx[:, 1] ** 2))])
    # the ellipse's axes (S1 : S2 = 4) show in the rotation coefficients whatever the overall scale
    coef = {eq.target: dict(zip(eq.active_terms, eq.active_coefficients)) for eq in theory.equations}
    assert -coef["a1"]["a2"] / coef["a2"]["a1"] == pytest.approx(
        (np.sqrt(np.mean(allx[:, 0] ** 2)) / np.sqrt(np.mean(allx[:, 1] ** 2))) ** 2, rel=1e-9)


def test_a_system_without_the_symmetry_is_flagged_with_its_residual() -> None:
    """A focus whose two equations damp at different rates (0.3 and 0.05) is not a rotation-invariant law:
    the tied fit must lose explained variance and warn, not return a tidy law in silence."""

    def unequal(_t: float, a: np.ndarray) -> list[float]:
        x, y, z = a
        return [-0.3 * x - y, x - 0.05 * y, -z + x * y]

    runs = [simulate(unequal, [1.0, 0.0, 0.5], 20.0), simulate(unequal, [0.0, 1.0, -0.5], 20.0)]
    with pytest.warns(UserWarning, match="lack the SO\\(2\\) symmetry"):
        theory = discover_so2(runs, DT, variable_names=NAMES, scales=(1.0, 1.0))
    eq = theory.metadata["equivariance"]
    assert not eq["consistent"]
    assert max(eq["r2_free"]) > 1 - 1e-6  # the free fit explains the data ...
    assert eq["r2_loss"][2] > 0.5  # ... x*y is not invariant: h(r^2, z) cannot explain dz/dt
    assert max(eq["r2_loss"][:2]) > 0.01  # the unequal damping cannot be tied


def test_parameters_expand_to_library_monomials() -> None:
    lib = Library(NAMES, degree=3)
    params = {p.name: p for p in so2_coefficients(lib, (0, 1), (2.0, 1.0))}
    assert set(params) == {"f[1]", "g[1]", "f[a3]", "g[a3]", "f[a3^2]", "g[a3^2]", "f[r^2]", "g[r^2]",
                           "h_a3[1]", "h_a3[a3]", "h_a3[a3^2]", "h_a3[a3^3]", "h_a3[r^2]", "h_a3[r^2*a3]"}
    col = {t.name: n for n, t in enumerate(lib.terms)}
    m = params["f[r^2]"].matrix  # d a1/dt = 2 (x^2 + y^2) x with x = a1 / 2, y = a2: a1^3 / 4 + a1 a2^2
    assert m[0, col["a1^3"]] == pytest.approx(0.25) and m[0, col["a1*a2^2"]] == pytest.approx(1.0)
    assert m[1, col["a1^2*a2"]] == pytest.approx(0.25) and m[1, col["a2^3"]] == pytest.approx(1.0)
    assert np.count_nonzero(m) == 4 and params["f[r^2]"].group == "radial" and params["g[1]"].group == "angular"


def test_bad_input_says_what_to_change() -> None:
    x = [np.random.default_rng(0).normal(size=(50, 3))]
    cases = [
        (lambda: so2_coefficients(Library(NAMES, ["u"]), (0, 1)), "controls"),
        (lambda: so2_coefficients(Library(NAMES), (1, 1)), "two different"),
        (lambda: so2_coefficients(Library(NAMES), (0, 1), (1.0, 0.0)), "positive"),
        (lambda: so2_coefficients(Library(NAMES, degree=2, include_interaction=False), (0, 1)), "lacks the monomial"),
        (lambda: discover_so2(x, 0.1, pair=(0, 5)), "two different"),
    ]
    for make, word in cases:
        with pytest.raises(ConfigError, match=word):
            make()
