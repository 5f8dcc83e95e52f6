"""taylor_green_3d reproduction: initial state and the laminar dissipation rate on the D3Q19 box."""

from __future__ import annotations

import numpy as np
import pytest

from atom_sdk.reproduce.registry import get_reproduction
from atom_sdk.reproduce.taylor_green_3d import dissipation_curve


def test_initial_energy_and_viscous_decay_rate() -> None:
    """E(0) = 1/8 exactly; at Re = 10 the vortex barely interacts nonlinearly, so E decays as
    exp(-2 nu |k|^2 t) with |k|^2 = 3: a rate of 6 / Re in units of V0 / L."""
    re = 10.0
    curve = dissipation_curve(n=16, t_end=1.5, samples=30, reynolds=re)
    assert curve["energy"][0] == pytest.approx(0.125, rel=1e-5)
    assert not curve["diverged"]
    t, e = np.asarray(curve["t"]), np.asarray(curve["energy"])
    late = t >= 0.3  # after the initial acoustic adjustment
    rate = -np.polyfit(t[late], np.log(e[late]), 1)[0]
    assert rate == pytest.approx(6.0 / re, rel=0.03)


def test_declared_with_dns_peak_and_budgets() -> None:
    repro = get_reproduction("taylor_green_3d")
    assert [p.value for p in repro.published] == [0.0127, 9.0]
    assert set(repro.budgets) == {"quick", "full"}
    assert "J. Fluid Mech. 130" in repro.citation
