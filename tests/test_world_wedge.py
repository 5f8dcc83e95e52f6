"""``supersonic:wedge``: Gymnasium contract, refusals, conservation checks and oblique-shock validation.

All fast tests share one static configuration (default grid 64x48, 30 substeps), so the solver
compiles once per process; Mach number and wedge angle live in the state, not the compiled code.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from atom_sdk.errors import WorldParameterError
from atom_sdk.worlds import euler, make
from atom_sdk.worlds.gasdynamics import oblique_shock
from atom_sdk.worlds.wedge import N_PROBES, WedgeWorld, converge


@pytest.fixture(scope="module")
def world() -> WedgeWorld:
    return WedgeWorld()


def test_registry_builds_the_wedge_world() -> None:
    env = make("supersonic:wedge", mach=2.5, wedge_angle=12.0)
    assert isinstance(env, WedgeWorld)
    assert env.observable_names == ("shock_angle", "pressure_ratio")


@pytest.mark.parametrize("mach", [0.8, 1.0])
def test_refuses_subsonic_and_sonic_flow(mach: float) -> None:
    with pytest.raises(WorldParameterError, match=r"supersonic.*mach > 1"):
        WedgeWorld(mach=mach)


def test_refuses_detached_wedge_unless_opted_in() -> None:
    with pytest.raises(WorldParameterError, match=r"detachment angle 22\.97.*allow_detached=True"):
        WedgeWorld(mach=2.0, wedge_angle=25.0)
    env = WedgeWorld(mach=2.0, wedge_angle=25.0, allow_detached=True)
    assert env.max_wedge_angle == 45.0


def test_refuses_grids_too_small_and_unknown_params() -> None:
    with pytest.raises(WorldParameterError, match="too coarse"):
        WedgeWorld(grid=(24, 16, 1))
    with pytest.raises(WorldParameterError, match="two-dimensional"):
        WedgeWorld(grid=(64, 48, 4))
    with pytest.raises(WorldParameterError, match="unknown parameter 'wedge'"):
        WedgeWorld(wedge=3.0)


def test_check_env_determinism_and_action_semantics(world: WedgeWorld) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check_env(world, skip_render_check=True)
    runs = []
    for _ in range(2):
        obs, _ = world.reset(seed=3)
        trace = [obs]
        for action in (2.0, -1.0, 7.0):
            obs, reward, terminated, truncated, info = world.step(np.array([action], dtype=np.float32))
            trace.append(obs)
        runs.append(np.stack(trace))
    np.testing.assert_array_equal(runs[0], runs[1])
    assert runs[0].shape == (4, N_PROBES + 3)
    # wedge angle: 10 + 2 - 1 + min(7, max_delta=3) = 14 deg (last observation entry)
    assert info["diagnostics"]["wedge_angle"] == pytest.approx(14.0, abs=1e-4)
    assert runs[0][-1, -1] == pytest.approx(14.0, abs=1e-4)
    assert reward == pytest.approx(-abs(info["diagnostics"]["shock_angle"] - world.target_shock_angle), abs=1e-4)
    assert world.target_shock_angle == pytest.approx(oblique_shock(2.0, 12.0).beta, abs=1e-9)
    fields = world.fields()
    assert fields["velocity"].shape == (3, 64, 48, 1)
    assert fields["density"].shape == fields["pressure"].shape == (64, 48, 1)


def test_jitted_step_matches_numpy_reference(world: WedgeWorld) -> None:
    """The world's compiled solver and the same scheme run eagerly by NumPy agree to float32 round-off."""
    world.reset(seed=0)
    q0 = np.asarray(world.state.q, dtype=np.float64)
    world.step(np.zeros(1, dtype=np.float32))
    geom = euler.make_geometry(64, 48, np.deg2rad(10.0), dtype=np.float64, xp=np)
    q_np, _ = euler.advance_numpy(q0, geom, euler.freestream(2.0, 1.4, np.float64), gamma=1.4, cfl=0.5,
                                  n_steps=30)
    scale = np.max(np.abs(q_np), axis=(1, 2), keepdims=True)
    assert np.max(np.abs(np.asarray(world.state.q) - q_np) / scale) < 1e-4


def test_free_stream_is_preserved_without_a_wedge(world: WedgeWorld) -> None:
    flat = WedgeWorld(wedge_angle=0.0, max_delta=world.params.max_delta)
    flat.reset(seed=0)
    for _ in range(10):
        flat.step(np.zeros(1, dtype=np.float32))
    f = flat.fields()
    assert flat.diagnostics()["time"] > 0.5          # more than one flow-through of the box
    assert np.max(np.abs(f["density"] - 1.0)) < 1e-5
    assert np.max(np.abs(f["pressure"] * 1.4 - 1.0)) < 1e-5
    assert np.max(np.abs(f["velocity"][0] - 2.0)) < 1e-5
    assert np.max(np.abs(f["velocity"][1])) < 1e-5
    assert flat.diagnostics()["shock_angle"] == 0.0


def test_sheared_grid_keeps_uniform_flow_exactly() -> None:
    """Geometric conservation: on the 15-degree wall-fitted grid a uniform stream has zero residual
    away from the wall (float64, NumPy executor of the same scheme)."""
    geom = euler.make_geometry(40, 24, np.deg2rad(15.0), dtype=np.float64, xp=np)
    w_inf = euler.freestream(2.0, 1.4, np.float64)
    q = euler.uniform_state(40, 24, w_inf, 1.4, xp=np)
    res = euler.residual(q, geom, w_inf, 1.4, xp=np)
    assert np.max(np.abs(res[:, :, 2:])) < 1e-11
    # while the wall itself turns the flow (non-zero residual next to the wedge only)
    assert np.max(np.abs(res[:, :, 0])) > 1.0


def test_fast_validation_case_mach2_theta10() -> None:
    case = WedgeWorld.validation_cases()[0]
    assert not case.slow
    results = case.run()
    assert all(r.passed for r in results), [r.as_dict() for r in results]
    angle, pressure = results
    assert angle.reference == pytest.approx(39.31, abs=0.01)
    assert abs(angle.measured - 39.31) < 1.0
    assert pressure.measured == pytest.approx(1.707, rel=0.03)


@pytest.mark.slow
@pytest.mark.parametrize("index", [0, 1, 2])
def test_all_validation_pairs(index: int) -> None:
    case = WedgeWorld.validation_cases()[index]
    results = case.run()
    assert len(results) == 2
    assert all(r.passed for r in results), [r.as_dict() for r in results]


@pytest.mark.slow
def test_shock_tracks_theory_while_the_wedge_moves() -> None:
    """After a commanded change 10 -> 13 deg the re-converged shock matches the new weak solution."""
    env = WedgeWorld(mach=2.0, wedge_angle=10.0)
    converge(env)
    env.step(np.array([3.0], dtype=np.float32))
    for _ in range(40):
        _, _, _, _, info = env.step(np.zeros(1, dtype=np.float32))
    diag = info["diagnostics"]
    assert diag["wedge_angle"] == pytest.approx(13.0, abs=1e-4)
    assert diag["shock_angle"] == pytest.approx(oblique_shock(2.0, 13.0).beta, abs=1.0)
    assert diag["pressure_ratio"] == pytest.approx(oblique_shock(2.0, 13.0).pressure_ratio, rel=0.03)
