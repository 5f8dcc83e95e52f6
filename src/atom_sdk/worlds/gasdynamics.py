"""Oblique-shock relations for a calorically perfect gas (angles in degrees).

These are the reference numbers the supersonic wedge world is validated against and the
closed-form model an inverse-design loop can invert: the theta-beta-Mach relation

    tan(theta) = 2 cot(beta) (M1² sin²beta - 1) / (M1² (gamma + cos 2beta) + 2)

with its weak and strong branches, the detachment (maximum deflection) angle, and the
Rankine–Hugoniot jumps across the normal component M1 sin(beta). Equations as in NACA
Report 1135 (Ames Research Staff, 1953), eqs. 93–165.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy.optimize import brentq

from atom_sdk.errors import WorldParameterError

GAMMA = 1.4
Branch = Literal["weak", "strong"]


class DetachedShockError(WorldParameterError):
    """The deflection exceeds the detachment angle: no attached oblique shock exists."""

    code = "detached_shock"


def _check_mach(mach: float) -> None:
    if not (np.isfinite(mach) and mach > 1.0):
        raise WorldParameterError(f"Mach number {mach!r} is not supersonic; oblique shocks need mach > 1")


def mach_angle(mach: float) -> float:
    """Mach angle mu = asin(1/M): the weakest possible shock (a Mach wave)."""
    _check_mach(mach)
    return math.degrees(math.asin(1.0 / mach))


def deflection_angle(mach: float, beta: float, gamma: float = GAMMA) -> float:
    """theta(beta, M): the flow deflection (wedge half-angle) that produces shock angle ``beta``."""
    _check_mach(mach)
    b = math.radians(beta)
    num = 2.0 / math.tan(b) * (mach**2 * math.sin(b) ** 2 - 1.0)
    den = mach**2 * (gamma + math.cos(2.0 * b)) + 2.0
    return math.degrees(math.atan(num / den))


def beta_at_max_deflection(mach: float, gamma: float = GAMMA) -> float:
    """Shock angle at which theta(beta) peaks (closed form, NACA 1135 eq. 168)."""
    _check_mach(mach)
    m2 = mach**2
    root = math.sqrt((gamma + 1.0) * ((gamma + 1.0) * m2**2 / 16.0 + (gamma - 1.0) * m2 / 2.0 + 1.0))
    sin2 = ((gamma + 1.0) * m2 / 4.0 - 1.0 + root) / (gamma * m2)
    return math.degrees(math.asin(math.sqrt(sin2)))


def detachment_angle(mach: float, gamma: float = GAMMA) -> float:
    """Maximum wedge half-angle with an attached shock; beyond it the shock stands off the nose."""
    return deflection_angle(mach, beta_at_max_deflection(mach, gamma), gamma)


def shock_angle(mach: float, theta: float, gamma: float = GAMMA, branch: Branch = "weak") -> float:
    """beta(M, theta) on the weak or strong branch, by bracketed root finding (brentq).

    The weak root lies in (mu, beta_max], the strong one in [beta_max, 90]; theta = 0 gives the
    Mach angle (weak) or a normal shock (strong).
    """
    _check_mach(mach)
    if branch not in ("weak", "strong"):
        raise WorldParameterError(f"branch must be 'weak' or 'strong', got {branch!r}")
    if not np.isfinite(theta) or theta < 0.0:
        raise WorldParameterError(f"deflection angle must be >= 0 degrees, got {theta!r}")
    b_max = beta_at_max_deflection(mach, gamma)
    t_max = deflection_angle(mach, b_max, gamma)
    if theta > t_max:
        raise DetachedShockError(
            f"deflection {theta:.3f} deg exceeds the detachment angle {t_max:.3f} deg at Mach {mach:g}: "
            f"no attached oblique shock exists; use a wedge angle below {t_max:.2f} deg or a higher Mach number")
    if theta == 0.0:
        return mach_angle(mach) if branch == "weak" else 90.0
    if math.isclose(theta, t_max, rel_tol=0.0, abs_tol=1e-12):
        return b_max

    def f(beta: float) -> float:
        return deflection_angle(mach, beta, gamma) - theta

    if branch == "weak":
        return float(brentq(f, mach_angle(mach), b_max, xtol=1e-12, rtol=1e-14, maxiter=200))
    return float(brentq(f, b_max, 90.0 - 1e-12, xtol=1e-12, rtol=1e-14, maxiter=200))


def wedge_angle_for_shock(mach: float, beta: float, gamma: float = GAMMA) -> float:
    """Inverse design: the wedge half-angle whose attached shock sits at ``beta`` (weak or strong).

    E.g. Mach 2 with a 45-degree shock needs ``wedge_angle_for_shock(2, 45)`` ~ 14.7 degrees.
    """
    mu = mach_angle(mach)
    if not (mu <= beta <= 90.0):
        raise WorldParameterError(f"shock angle {beta!r} deg is impossible at Mach {mach:g}; "
                                  f"choose it between the Mach angle {mu:.3f} and 90 degrees")
    return deflection_angle(mach, beta, gamma)


def normal_shock_pressure_ratio(mn1: float | np.ndarray, gamma: float = GAMMA) -> float | np.ndarray:
    """p2/p1 across a shock with upstream normal Mach number ``mn1`` (NACA 1135 eq. 93)."""
    return 1.0 + 2.0 * gamma / (gamma + 1.0) * (np.asarray(mn1) ** 2 - 1.0)


def normal_shock_density_ratio(mn1: float | np.ndarray, gamma: float = GAMMA) -> float | np.ndarray:
    """rho2/rho1 = (gamma+1) Mn1² / ((gamma-1) Mn1² + 2) (NACA 1135 eq. 94)."""
    m2 = np.asarray(mn1) ** 2
    return (gamma + 1.0) * m2 / ((gamma - 1.0) * m2 + 2.0)


def normal_shock_temperature_ratio(mn1: float | np.ndarray, gamma: float = GAMMA) -> float | np.ndarray:
    """T2/T1 = (p2/p1) / (rho2/rho1) for a perfect gas."""
    return normal_shock_pressure_ratio(mn1, gamma) / normal_shock_density_ratio(mn1, gamma)


def normal_shock_mach(mn1: float | np.ndarray, gamma: float = GAMMA) -> float | np.ndarray:
    """Downstream normal Mach number Mn2 (NACA 1135 eq. 96)."""
    m2 = np.asarray(mn1) ** 2
    return np.sqrt((1.0 + 0.5 * (gamma - 1.0) * m2) / (gamma * m2 - 0.5 * (gamma - 1.0)))


@dataclass(frozen=True)
class ObliqueShock:
    """The full state change across an attached oblique shock."""

    mach: float
    theta: float
    beta: float
    pressure_ratio: float
    density_ratio: float
    temperature_ratio: float
    mach2: float
    gamma: float = GAMMA


def oblique_shock(mach: float, theta: float, gamma: float = GAMMA, branch: Branch = "weak") -> ObliqueShock:
    """Shock angle plus Rankine–Hugoniot ratios and post-shock Mach M2 = Mn2 / sin(beta - theta)."""
    beta = shock_angle(mach, theta, gamma, branch)
    mn1 = mach * math.sin(math.radians(beta))
    mn2 = float(normal_shock_mach(mn1, gamma))
    denom = math.sin(math.radians(beta - theta))
    return ObliqueShock(
        mach=float(mach), theta=float(theta), beta=beta,
        pressure_ratio=float(normal_shock_pressure_ratio(mn1, gamma)),
        density_ratio=float(normal_shock_density_ratio(mn1, gamma)),
        temperature_ratio=float(normal_shock_temperature_ratio(mn1, gamma)),
        mach2=mn2 / denom if denom > 0 else float("inf"), gamma=float(gamma),
    )
