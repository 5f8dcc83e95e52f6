"""Many seeds of a scientist variant at once (device segments between host refits) against the runner.

Reference: ``run_experiment`` itself with ``safety.enabled: false``, one run per seed (the slow
tests): the same laws accepted, the same governance decisions and trust, and the same per-episode
returns to 1e-5 relative (measured: about 5e-8; the device's normaliser and frozen theory are float32).
"""

from __future__ import annotations

import numpy as np
import pytest

from atom_sdk.config import ScientistSettings, build_run_config
from atom_sdk.errors import ConfigError
from atom_sdk.experiment import vectorized_science as vs
from atom_sdk.experiment.vectorized import train_seeds_vectorized
from atom_sdk.science import Scientist
from atom_sdk.worlds.taylor_green import TaylorGreenWorld

TINY = {"world": {"grid": [8, 8, 2], "max_episode_steps": 16}, "steps": 64, "variant": "v2_hybrid",
        "scientist": {"min_samples": 16, "window": 64},
        "agent": {"rollout_length": 16, "num_minibatches": 4, "update_epochs": 1, "latent_dim": 8,
                  "hidden_sizes": [16, 16]},
        "safety": {"enabled": False}}


def test_fit_schedule_prediction_and_episode_ends():
    sci = Scientist(ScientistSettings(min_samples=16, window=64, fit_every=16), ["A"], ["u0"], 0.1)
    assert vs.next_fit_step(sci, 0) == 15  # 16 observations buffered at step 15
    no_end = np.zeros(16, bool)
    assert vs._first_fit(sci, 0, no_end) == 15
    end = no_end.copy()
    end[4] = True  # an episode end buffers the terminal reading too: due one step sooner
    assert vs._first_fit(sci, 0, end) == 14
    assert vs._first_fit(sci, 0, np.zeros(10, bool)) is None
    sci._last_fit_step = 15  # after a fit, fits go by steps only
    for _ in range(20):
        sci.observe(np.ones(1), np.zeros(1))
    assert vs.next_fit_step(sci, 16) == 31 and vs._first_fit(sci, 16, end) == 31
    off = Scientist(ScientistSettings(enabled=False), ["A"], ["u0"], 0.1)
    assert vs.next_fit_step(off, 0) is None and vs._first_fit(off, 0, end) is None


def test_device_control_target_is_the_worlds():
    world = TaylorGreenWorld(grid=(8, 8, 1), max_episode_steps=50)
    world.reset(seed=2)
    for a in (0.05, -0.05, 0.0):
        world.step(np.array([a], np.float32))
        goal, weights = world.control_target()
        diag = world.dynamics.diagnostics(world._state)
        d_goal, d_weights = vs.DEVICE_TARGETS[world.world_id](diag)
        np.testing.assert_allclose(np.asarray(d_goal), goal, rtol=1e-6)
        np.testing.assert_array_equal(np.asarray(d_weights), weights)
    zero = {"amplitude": np.float32(0.0), "target_energy": np.float32(0.25)}
    assert float(vs.DEVICE_TARGETS[world.world_id](zero)[0][0]) == pytest.approx(1.0)  # sign of 0 is +


@pytest.mark.parametrize("change,match", [
    ({"variant": "v2_latent_jacobian"}, "latent"),
    ({"scientist": {**TINY["scientist"], "jacobian_features": True}}, "Jacobian"),
])
def test_what_needs_the_host_runner_is_refused_with_the_reason(change, match):
    with pytest.raises(ConfigError, match=match):
        train_seeds_vectorized(build_run_config({**TINY, **change}), [0])


class _OwnScale(TaylorGreenWorld):
    """A world with its own measurement scale (as the cylinder's lift has): the device does not know it."""

    def measurement_scale(self, clean: np.ndarray) -> np.ndarray:
        return np.ones_like(clean)


def test_a_world_measurement_model_is_refused_only_with_noise():
    from atom_sdk.experiment.variants import resolve_variant

    world = _OwnScale(grid=(8, 8, 1))
    noisy = build_run_config({**TINY, "world": {**TINY["world"], "measurement_noise": 0.01}})
    assert "measurement model" in vs.science_blocker(noisy, resolve_variant(noisy), world)
    exact = build_run_config(TINY)
    assert vs.science_blocker(exact, resolve_variant(exact), world) is None
    assert vs.science_blocker(noisy, resolve_variant(noisy), TaylorGreenWorld(grid=(8, 8, 1))) is None


def test_measurement_draws_are_the_bridges():
    from atom_sdk.experiment.policy import MEASUREMENT_STREAM

    z = vs._draws([5, 6], 10, 3, 2, 0.01)
    assert z.shape == (3, 2, 2, 2)
    rng = np.random.default_rng([6, MEASUREMENT_STREAM, 12, 0])  # seed 6, the reading before step 12
    np.testing.assert_allclose(z[1, 1, 0], rng.standard_normal(2), rtol=1e-6)
    rng = np.random.default_rng([5, MEASUREMENT_STREAM, 12, 1])  # seed 5, step 12's terminal reading
    np.testing.assert_allclose(z[2, 0, 1], rng.standard_normal(2), rtol=1e-6)
    assert not np.any(vs._draws([5], 0, 4, 1, 0.0))


def _host_runs(tmp_path, config: dict, seeds: list[int]) -> list[dict]:
    from atom_sdk.experiment.runner import run_experiment

    return [run_experiment(build_run_config({**config, "seed": s}), tmp_path / f"run{s}") for s in seeds]


def _assert_same_runs(vec: dict, host: list[dict]) -> None:
    for p, h in zip(vec["per_seed"], host):
        assert [law["equation"] for law in p["laws"]] == [law["equation"] for law in h["laws"]]
        assert p["science_decisions"] == h["science_decisions"]
        assert p["final_trust"] == pytest.approx(h["summary"]["final_trust"], abs=1e-9)
        np.testing.assert_allclose(p["episode_returns"], [e["return"] for e in h["episodes"]], rtol=1e-5)
        assert p["mean_reward"] == pytest.approx(h["summary"]["mean_reward"], rel=1e-5)
        assert [t for _, t in p["trust_trajectory"]] == pytest.approx([t for _, t in h["trust_trajectory"]],
                                                                      abs=1e-9)


@pytest.mark.slow  # compiles the encoder's segment, update and two host runs (about a minute unloaded)
@pytest.mark.parametrize("variant", ["v2_hybrid", "v2_residual"])
def test_seeds_match_host_stepped_runs_with_fits_at_episode_ends(tmp_path, variant):
    """Episodes of 16 steps and a fit every 16 steps from step 15: every fit falls on a time-limit
    truncation, whose bootstrap must then use the refitted theory (as the runner's does)."""
    config = {**TINY, "variant": variant}
    vec = train_seeds_vectorized(build_run_config(config), [3, 4])
    assert all(p["laws"] for p in vec["per_seed"]), "the tiny budget should accept a law"
    assert vec["timings"]["segment_reruns"] == 0
    _assert_same_runs(vec, _host_runs(tmp_path, config, [3, 4]))


@pytest.mark.slow
def test_an_episode_end_before_the_first_fit_reruns_the_segment_shorter(tmp_path):
    """Also with 1 % measurement noise (the host's draws, measured on the device) and two refit threads."""
    config = {**TINY, "world": {**TINY["world"], "max_episode_steps": 12, "measurement_noise": 0.01}, "steps": 48}
    vec = train_seeds_vectorized(build_run_config(config), [3], workers=2)
    assert vec["timings"]["segment_reruns"] == 1  # the first fit comes at step 14, not 15
    _assert_same_runs(vec, _host_runs(tmp_path, config, [3]))
