"""lbm2d:cylinder: Gymnasium contract, determinism, refusals, jets, forces, and the DFG benchmark."""

from __future__ import annotations

import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from atom_sdk.errors import WorldParameterError
from atom_sdk.worlds.cylinder import CylinderWorld

SMALL = (180, 34, 1)  # Schäfer–Turek channel scaled to D = 8.3 cells


@pytest.fixture(scope="module")
def world() -> CylinderWorld:
    return CylinderWorld(grid=SMALL, substeps=20)


def test_check_env_passes(world: CylinderWorld) -> None:
    check_env(world, skip_render_check=True)
    assert world.action_space.high[0] == pytest.approx(0.06)


def test_same_seed_same_result_bit_for_bit(world: CylinderWorld) -> None:
    runs = []
    for seed in (3, 3, 4):
        obs, _ = world.reset(seed=seed)
        for a in (0.02, -0.03):
            obs, *_ = world.step([a])
        runs.append(obs)
    assert np.array_equal(runs[0], runs[1])
    assert not np.array_equal(runs[0], runs[2])


def test_jets_have_zero_net_mass_flux(world: CylinderWorld) -> None:
    jet = np.asarray(world.geometry.links.jet, dtype=np.float64)
    q_ref = world.params.u_inlet * 2 * world.geometry.radius
    assert jet[jet > 0].sum() == pytest.approx(q_ref, rel=1e-5)  # top jet: +Q_ref per unit action
    assert jet[jet < 0].sum() == pytest.approx(-q_ref, rel=1e-5)
    world.reset(seed=0)
    _, _, _, _, info = world.step([0.06])
    diag = info["diagnostics"]
    assert abs(diag["jet_flux"]) < 1e-6 * q_ref
    assert diag["jet"] == pytest.approx(0.06)
    fields = world.fields()
    assert fields["velocity"].shape == (3, *SMALL)
    assert fields["pressure"] == pytest.approx(fields["density"] / 3)


def test_drag_matches_schafer_turek_2d1_at_low_resolution() -> None:
    """Re = 20 steady benchmark (DFG 2D-1: C_D = 5.5795) at D = 8.3 cells, within 5%."""
    env = CylinderWorld(grid=SMALL, u_inlet=0.04, reynolds=20.0, substeps=2000)
    env.reset(seed=0)
    for _ in range(2):
        _, reward, _, _, info = env.step([0.0])
    diag = info["diagnostics"]
    assert diag["drag_mean"] == pytest.approx(5.5795, rel=0.05)
    assert abs(diag["lift_mean"]) < 0.1
    assert reward == pytest.approx(-diag["drag_mean"] - 0.2 * abs(diag["lift_mean"]), rel=1e-5)
    assert 0.97 < diag["density_min"] <= diag["density_max"] < 1.05
    assert 0 < diag["mach_max"] < 0.3 and diag["max_stress"] > 0


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({"tau": 0.5}, "tau must be > 0.5"),
        ({"u_inlet": 0.3}, "Mach"),
        ({"grid": (180, 34, 2)}, "nz = 1"),
        ({"grid": (180, 34, 1), "radius": 2.0}, "at least 8 cells"),
        ({"grid": (60, 34, 1)}, "too short"),
        ({"tau": 0.6, "reynolds": 100.0}, "not both"),
        ({"reynolds": 1e9}, "too close to 0.5"),
        ({"grid": (32, 32, 1)}, "cylinder"),
    ],
)
def test_bad_parameters_are_refused_with_advice(params: dict, fragment: str) -> None:
    params = {"grid": SMALL, **params}
    with pytest.raises(WorldParameterError, match=fragment):
        CylinderWorld(**params)


@pytest.mark.slow
def test_schafer_turek_2d2_within_5_percent() -> None:
    results = CylinderWorld.validation_cases()
    (case,) = [c for c in results if c.name == "schafer_turek_2d2"]
    assert case.slow
    out = case.run()
    for r in out:
        print(r.as_dict(), r.detail)
    assert all(r.passed for r in out), [r.as_dict() for r in out]
