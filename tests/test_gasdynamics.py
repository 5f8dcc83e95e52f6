"""Oblique- and normal-shock relations against NACA Report 1135 (Ames Research Staff, 1953).

Chart/table values are quoted to the digits the report gives; tolerances are half a unit in
the last quoted digit unless stated.
"""

from __future__ import annotations

import math

import pytest

from atom_sdk.errors import WorldParameterError
from atom_sdk.worlds.gasdynamics import (
    DetachedShockError,
    beta_at_max_deflection,
    deflection_angle,
    detachment_angle,
    mach_angle,
    normal_shock_density_ratio,
    normal_shock_mach,
    normal_shock_pressure_ratio,
    normal_shock_temperature_ratio,
    oblique_shock,
    shock_angle,
    wedge_angle_for_shock,
)


@pytest.mark.parametrize(
    ("mach", "theta", "beta", "p_ratio", "mach2"),
    [
        (2.0, 10.0, 39.31, 1.707, 1.641),   # NACA 1135 chart 2 / oblique-shock tables
        (3.0, 20.0, 37.76, 3.771, 1.994),
        (2.5, 15.0, 36.94, 2.468, 1.874),
    ],
)
def test_weak_oblique_shock_matches_naca_1135(mach: float, theta: float, beta: float, p_ratio: float,
                                              mach2: float) -> None:
    shock = oblique_shock(mach, theta)
    assert shock.beta == pytest.approx(beta, abs=0.01)
    assert shock.pressure_ratio == pytest.approx(p_ratio, abs=0.001)
    assert shock.mach2 == pytest.approx(mach2, abs=0.001)
    assert shock.temperature_ratio == pytest.approx(shock.pressure_ratio / shock.density_ratio, rel=1e-12)


def test_detachment_angles() -> None:
    # maximum deflection: 22.97 deg at M=2 and 34.07 deg at M=3 (NACA 1135 chart 2)
    assert detachment_angle(2.0) == pytest.approx(22.97, abs=0.01)
    assert detachment_angle(3.0) == pytest.approx(34.07, abs=0.01)
    assert beta_at_max_deflection(2.0) == pytest.approx(64.67, abs=0.01)
    # the closed form is the actual maximum of theta(beta)
    b = beta_at_max_deflection(2.0)
    assert deflection_angle(2.0, b) > max(deflection_angle(2.0, b - 0.01), deflection_angle(2.0, b + 0.01))


def test_strong_branch_and_limits() -> None:
    assert shock_angle(2.0, 10.0, branch="strong") == pytest.approx(83.70, abs=0.01)
    assert shock_angle(2.0, 0.0) == pytest.approx(30.0, abs=1e-9)            # Mach wave asin(1/2)
    assert shock_angle(2.0, 0.0, branch="strong") == 90.0
    assert mach_angle(2.0) == pytest.approx(30.0, abs=1e-12)
    # both roots reproduce the deflection
    for branch in ("weak", "strong"):
        assert deflection_angle(2.0, shock_angle(2.0, 10.0, branch=branch)) == pytest.approx(10.0, abs=1e-9)


def test_normal_shock_table_mach_2() -> None:
    # NACA 1135 normal-shock table at M1 = 2.00
    assert normal_shock_pressure_ratio(2.0) == pytest.approx(4.5, abs=1e-12)
    assert normal_shock_density_ratio(2.0) == pytest.approx(2.6667, abs=5e-5)
    assert normal_shock_temperature_ratio(2.0) == pytest.approx(1.6875, abs=5e-5)
    assert normal_shock_mach(2.0) == pytest.approx(0.57735, abs=5e-6)


def test_inverse_design_wedge_for_45_degree_shock_at_mach_2() -> None:
    theta = wedge_angle_for_shock(2.0, 45.0)
    assert theta == pytest.approx(14.74, abs=0.01)
    assert shock_angle(2.0, theta) == pytest.approx(45.0, abs=1e-8)


def test_refusals_name_the_fix() -> None:
    with pytest.raises(WorldParameterError, match="mach > 1"):
        shock_angle(0.9, 5.0)
    with pytest.raises(DetachedShockError, match="22.97"):
        shock_angle(2.0, 25.0)
    with pytest.raises(WorldParameterError, match="Mach angle"):
        wedge_angle_for_shock(2.0, 20.0)
    assert isinstance(DetachedShockError("x"), WorldParameterError)
    assert math.isfinite(oblique_shock(2.0, detachment_angle(2.0)).beta)
