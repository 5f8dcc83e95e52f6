"""The scientist fits measurements: the run's measurement noise reaches its buffer, and only its buffer.

The agent's probe noise (a world parameter) and the scientist's measurement noise
(``world.measurement_noise`` of the run config) are separate knobs; both draws derive from
the run's seed.
"""

from __future__ import annotations

import numpy as np
import pytest

from atom_sdk.config import build_run_config, config_hash
from atom_sdk.errors import ConfigError
from atom_sdk.experiment.policy import ScienceBridge
from atom_sdk.experiment.variants import resolve_variant
from atom_sdk.worlds import make, world_class
from atom_sdk.worlds.base import measure_relative
from atom_sdk.worlds.cylinder import CylinderWorld
from atom_sdk.worlds.taylor_green import N_PROBES

STEPS = 240  # below the scientist's default window (256): every buffered sample stays


def _config(measurement_noise: float, probe_noise: float = 0.0, seed: int = 3):
    return build_run_config({
        "seed": seed, "variant": "v2_hybrid",
        "world": {"name": "analytical:taylor_green", "grid": [8, 8, 1], "params": {"noise": probe_noise},
                  "measurement_noise": measurement_noise, "max_episode_steps": 1000},
        "scientist": {"enabled": False},  # buffer only: no fits, the test is about what is fitted
    })


def _feed(config, tmp_path) -> tuple[np.ndarray, np.ndarray, np.ndarray, ScienceBridge]:
    """Run the Taylor–Green world with a fixed forcing pattern through a ScienceBridge, as the runner does.

    Returns the clean amplitudes, the scientist's buffered samples, the agent's observations and the bridge.
    """
    world = make(config.world.name, grid=tuple(config.world.grid), max_episode_steps=config.world.max_episode_steps,
                 **config.world.params)
    bridge = ScienceBridge(config, resolve_variant(config), world, tmp_path)
    obs, _ = world.reset(seed=config.seed)
    x = world.observables()
    clean, observations = [], [obs]
    for step in range(STEPS):
        u = np.array([0.04 * np.sin(0.3 * step)])
        obs, _, _, _, _ = world.step(u)
        x_next = world.observables()
        bridge.observe(bridge.measure(x, step), u, bridge.measure(x_next, step + 1), False, step)
        clean.append(x)
        observations.append(obs)
        x = x_next
    buffered, _ = bridge.scientist.buffer()
    bridge.close()
    return np.asarray(clean).reshape(-1), buffered.reshape(-1), np.asarray(observations), bridge


def test_measurement_noise_reaches_the_scientists_buffer(tmp_path):
    clean, buffered, _, _ = _feed(_config(0.01), tmp_path)
    assert buffered.shape == clean.shape == (STEPS,)
    rel = (buffered - clean) / np.abs(clean)
    assert 0.0085 < rel.std() < 0.0115, rel.std()  # 1 % relative, Gaussian: the spread is the configured level
    assert abs(rel.mean()) < 4 * 0.01 / np.sqrt(STEPS)  # unbiased
    assert np.all(np.abs(rel) < 0.06)  # Gaussian tails, no outliers at 6 sigma


def test_zero_measurement_noise_buffers_the_exact_diagnostic(tmp_path):
    clean, buffered, _, _ = _feed(_config(0.0), tmp_path)
    np.testing.assert_array_equal(buffered, clean)


def test_probe_noise_and_measurement_noise_are_separate_knobs(tmp_path):
    # the forcing pattern is fixed, so the amplitude trajectory is the same in every run below
    clean_ref, _, exact_obs, _ = _feed(_config(0.0), tmp_path / "reference")
    # probe noise only: the agent's probes are noisy, the scientist's samples exact
    clean, buffered, observations, _ = _feed(_config(0.0, probe_noise=0.2), tmp_path / "probe")
    np.testing.assert_array_equal(clean, clean_ref)
    np.testing.assert_array_equal(buffered, clean)
    assert not np.allclose(observations[:, :N_PROBES], exact_obs[:, :N_PROBES], rtol=1e-2)
    # measurement noise only: the agent's probes are exact, the scientist's samples noisy
    clean, buffered, observations, bridge = _feed(_config(0.05, probe_noise=0.0), tmp_path / "measurement")
    np.testing.assert_array_equal(clean, clean_ref)
    np.testing.assert_array_equal(observations, exact_obs)
    assert not np.allclose(buffered, clean, rtol=1e-2)
    assert bridge.measurement_noise == 0.05


def test_measurements_are_a_function_of_seed_and_step(tmp_path):
    a = _feed(_config(0.01, seed=3), tmp_path / "a")[1]
    b = _feed(_config(0.01, seed=3), tmp_path / "b")[1]
    c = _feed(_config(0.01, seed=4), tmp_path / "c")[1]
    np.testing.assert_array_equal(a, b)  # same seed: the same readings (what a resumed run relies on)
    assert not np.allclose(a, c)  # another seed: other readings (of another initial amplitude too)
    bridge = _feed(_config(0.01), tmp_path / "d")[3]
    x = np.array([0.8])
    assert bridge.measure(x, 7)[0] == bridge.measure(x, 7)[0]  # a reading is fixed by (seed, step) ...
    assert bridge.measure(x, 7)[0] != bridge.measure(x, 8)[0]  # ... and differs between steps
    assert bridge.measure(x, 7)[0] != bridge.measure(x, 7, terminal=True)[0]  # and for a terminal state


def test_each_world_states_what_it_measures():
    rng = np.random.default_rng(0)
    for world_id, names in (("analytical:taylor_green", ("amplitude",)), ("lbm2d:cylinder", ("drag", "lift")),
                            ("supersonic:wedge", ("shock_angle", "pressure_ratio"))):
        cls = world_class(world_id)
        assert cls.observable_names == names
        assert isinstance(cls.measurement_model, str) and cls.measurement_model
    # the cylinder's lift crosses zero: its noise scales with the resultant force, not with C_L
    cylinder = CylinderWorld.__new__(CylinderWorld)  # measurement_scale needs no physics
    np.testing.assert_allclose(cylinder.measurement_scale(np.array([3.0, 4.0])), [5.0, 5.0])
    reading = cylinder.measure(np.array([3.0, 0.0]), 0.01, rng)
    assert reading[1] != 0.0
    np.testing.assert_array_equal(measure_relative(np.array([2.0, -1.0]), np.array([2.0, 1.0]), 0.0, rng), [2.0, -1.0])


def test_measurement_noise_setting_range():
    assert build_run_config({}).world.measurement_noise == 0.0  # an ideal sensor unless the user says otherwise
    assert build_run_config({"world": {"measurement_noise": 0}}).world.measurement_noise == 0.0
    for bad in (-0.01, 1.5):
        with pytest.raises(ConfigError, match="measurement_noise"):
            build_run_config({"world": {"measurement_noise": bad}})


def test_the_loop_carries_readings_so_the_exact_state_never_reaches_the_theory(tmp_path):
    """The runner's ``x_prev`` (theory features, theory controller, the envelope's fallback) is the
    scientist's reading of the state, not the state: checked on the checkpoint a run leaves."""
    from atom_sdk.experiment import checkpoint as ckpt
    from atom_sdk.experiment.policy import Policy
    from atom_sdk.experiment.runner import make_world, run_experiment

    config = build_run_config({"seed": 5, "variant": "v2_hybrid", "steps": 32,
                               "world": {"name": "analytical:taylor_green", "grid": [8, 8, 1],
                                         "measurement_noise": 0.05},
                               "agent": {"rollout_length": 16, "num_minibatches": 2}})
    run_experiment(config, tmp_path / "run")
    saved = ckpt.load(tmp_path / "run", config_hash(config))
    world = make_world(config)
    world.reset(seed=0)
    world.restore(ckpt.restore_world(world, saved["world"]))
    exact = np.asarray(world.observables(), dtype=np.float64)
    policy = Policy(config, world, ledger_dir=tmp_path / "ledger")
    step = saved["loop"]["step"]
    np.testing.assert_array_equal(saved["x_prev"], policy.measure(exact, step))
    assert not np.allclose(saved["x_prev"], exact, rtol=1e-6, atol=0.0)
    rel = abs(saved["x_prev"][0] - exact[0]) / abs(exact[0])
    assert 0.0 < rel < 0.3  # one draw at 5 % relative noise
    policy.close()
