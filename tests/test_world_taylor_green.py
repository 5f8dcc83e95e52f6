"""Taylor–Green world: Gymnasium compliance, exactness, determinism, refusal of bad input."""

import math

import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import atom_sdk
from atom_sdk.errors import InvalidActionError, WorldParameterError
from atom_sdk.worlds.taylor_green import TaylorGreenWorld


def test_env_checker_passes():
    check_env(atom_sdk.make("analytical:taylor_green", grid=(8, 8, 2)), skip_render_check=True)


def test_validation_cases_pass_against_exact_solution():
    for case in TaylorGreenWorld.validation_cases()[:2]:
        for result in case.run():
            assert result.passed, result
            assert result.rel_error < result.tolerance


def test_energy_matches_closed_form_with_forcing_float64():
    world = TaylorGreenWorld(grid=(16, 16, 1), dtype="float64", nu=0.05, k=1, dt=0.2, amplitude_jitter=0.0)
    world.reset(seed=0)
    lam = 2 * 0.05
    amp = 1.0
    for a in (0.02, -0.01, 0.0, 0.04):
        world.step(np.array([a]))
        amp = amp * math.exp(-lam * 0.2) + a / lam * (1 - math.exp(-lam * 0.2))
    diag = world.diagnostics()
    assert diag["amplitude"] == pytest.approx(amp, rel=1e-12)
    vel = world.fields()["velocity"]
    assert 0.5 * np.mean(np.sum(vel**2, axis=0)) == pytest.approx(amp**2 / 4, rel=1e-12)


def test_same_seed_same_result_bit_for_bit():
    def rollout(seed):
        world = atom_sdk.make("analytical:taylor_green", grid=(8, 8, 2), noise=0.01)
        obs, _ = world.reset(seed=seed)
        out = [obs]
        for i in range(10):
            obs, *_ = world.step(np.array([0.01 * (-1) ** i]))
            out.append(obs)
        return np.stack(out)

    assert np.array_equal(rollout(5), rollout(5))
    assert not np.array_equal(rollout(5), rollout(6))


def test_bad_parameters_and_actions_are_refused():
    with pytest.raises(WorldParameterError, match="points per wavelength"):
        TaylorGreenWorld(grid=(8, 8, 1), k=4)
    with pytest.raises(WorldParameterError, match="unknown parameter 'viscosity'"):
        atom_sdk.make("analytical:taylor_green", grid=(8, 8, 1), viscosity=0.1)
    with pytest.raises(WorldParameterError, match="'nu'"):
        atom_sdk.make("analytical:taylor_green", grid=(8, 8, 1), nu=-1.0)
    world = atom_sdk.make("analytical:taylor_green", grid=(8, 8, 1))
    world.reset(seed=0)
    with pytest.raises(InvalidActionError, match="NaN"):
        world.step(np.array([np.nan]))
    with pytest.raises(InvalidActionError, match="expects an action of 1"):
        world.step(np.array([0.0, 1.0]))
