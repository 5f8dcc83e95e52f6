"""Default speed/density limits follow the world's own scales; configured limits apply as given."""

from __future__ import annotations

import numpy as np
import pytest

from atom_sdk.config import SafetySettings
from atom_sdk.safety import EnvelopeTuning, SafetyEnvelope
from atom_sdk.safety import monitors as mon
from atom_sdk.safety.limits import configured, resolve_limits, world_scales
from atom_sdk.worlds import make
from atom_sdk.worlds.gasdynamics import normal_shock_density_ratio

GRID = (64, 48, 1)  # the wedge problems' default grid: one compiled solver shared with the design tests


def _wedge(mach: float, wedge_angle: float = 10.0):
    return make("supersonic:wedge", grid=GRID, max_episode_steps=80, mach=mach, wedge_angle=wedge_angle)


def test_fixed_defaults_without_scales_and_formulas_with_them():
    plain = resolve_limits(SafetySettings(), {})
    assert (plain.speed_max, plain.density_min, plain.density_max) == (3.0, 0.05, 8.0)
    assert set(plain.source.values()) == {"default"}
    scaled = resolve_limits(SafetySettings(), {"speed": 5.0, "density": 1.0, "density_max": 5.5, "density_min": 0.5})
    assert scaled.speed_max == 7.5 and scaled.density_max == 11.0 and scaled.density_min == 0.05
    assert scaled.source == {"speed_max": "world scale", "density_max": "world scale", "density_min": "default"}
    dense = resolve_limits(SafetySettings(), {"density": 1000.0, "density_min": 10.0})
    assert dense.density_max == 8000.0 and dense.density_min == 5.0  # relative to the reference density
    slow = resolve_limits(SafetySettings(), {"speed": 0.05})  # a lattice world: never below the fixed default
    assert slow.speed_max == 3.0 and slow.source["speed_max"] == "default"


def test_configured_limits_apply_as_given_and_none_means_derive():
    given = resolve_limits(SafetySettings(speed_max=3.0, density_max=6.0), {"speed": 5.0, "density_max": 5.5})
    assert given.speed_max == 3.0 and given.density_max == 6.0
    assert given.source["speed_max"] == given.source["density_max"] == "configured"
    # a "not given" None (what SafetySettings holds once its defaults become None) derives from the world
    unset = SafetySettings.model_construct(speed_max=None, density_max=None, density_min=None)
    assert configured(unset, "speed_max") is None
    derived = resolve_limits(unset, {"speed": 5.0, "density_max": 5.5})
    assert derived.speed_max == 7.5 and derived.density_max == 11.0 and derived.density_min == 0.05


def test_wedge_declares_free_stream_and_stagnation_density_scales():
    for mach in (1.5, 2.0, 3.0, 5.0, 8.0):
        scales = world_scales(_wedge(mach, 2.0))
        assert scales["speed"] == mach and scales["density"] == 1.0
        # normal-shock jump (NACA 1135 eq. 94), then isentropic compression to rest of the subsonic flow behind it
        m2_sq = (1.0 + 0.2 * mach**2) / (1.4 * mach**2 - 0.2)
        expected = float(normal_shock_density_ratio(mach)) * (1.0 + 0.2 * m2_sq) ** 2.5
        assert scales["density_max"] == pytest.approx(expected, rel=1e-12)
    assert world_scales(_wedge(2.0, 2.0))["density_max"] == pytest.approx(3.1336, abs=1e-4)  # 2.6667 x 1.1751
    assert world_scales(make("analytical:taylor_green", grid=(8, 8, 1))) == {}


@pytest.mark.parametrize("mach", [3.0, 5.0])
def test_wedge_free_stream_trips_no_limit_with_default_settings(mach):
    world = _wedge(mach)
    env = SafetyEnvelope(world, SafetySettings())
    env.reset(seed=0)
    speeds = []
    for _ in range(40):
        *_, info = env.step(np.zeros(1))
        assert info["safety"]["reasons"] == [] and not info["unsafe"]
        speeds.append(info["diagnostics"]["max_speed"])
    rep = env.report()
    assert rep["counts_by_reason"] == {} and rep["intervention_rate"] == 0.0 and rep["mode"] == "nominal"
    assert max(speeds) == pytest.approx(mach, rel=1e-6)  # the free stream itself, e.g. 3.0000002 at Mach 3
    assert rep["thresholds"]["speed_max"] == 1.5 * mach
    assert rep["thresholds"]["limit_sources"]["speed_max"] == "world scale"


def test_hard_actuation_at_mach_8_stays_inside_the_default_density_limit():
    # full-rate ramp (guard clipping off) to detachment and back: the densest transient measured, ~10 against
    # a steady ceiling of 6.0, which the former fixed limit of 8 called a hazard
    env = SafetyEnvelope(_wedge(8.0, 2.0), SafetySettings(), tuning=EnvelopeTuning(guard_action_fraction=1.0))
    env.reset(seed=0)
    densest = 0.0
    for t in range(50):  # up 3 deg/step into the ceiling, 10 steps down at 3 deg/step, then hold
        *_, info = env.step(np.array([3.0 if t < 25 else (-3.0 if t < 35 else 0.0)]))
        densest = max(densest, info["diagnostics"]["density_max"])
    rep = env.report()
    assert mon.SAFETY_DENSITY_RANGE not in rep["counts_by_reason"] and rep["unsafe_episodes"] == 0
    assert 9.0 < densest < rep["thresholds"]["density_max"] == pytest.approx(12.0095, rel=1e-4)


def test_a_configured_speed_limit_still_trips_on_the_mach_3_free_stream():
    env = SafetyEnvelope(_wedge(3.0), SafetySettings(speed_max=3.0))
    env.reset(seed=0)
    *_, info = env.step(np.zeros(1))
    assert mon.SAFETY_SPEED in info["safety"]["reasons"]
    assert env.report()["thresholds"]["limit_sources"]["speed_max"] == "configured"
