"""Each safety monitor fires just above its threshold and stays silent at and below it."""

import math

import numpy as np
import pytest

from atom_sdk.safety import monitors as mon


@pytest.mark.parametrize("monitor,diag,reason", [
    ("stress", "max_stress", mon.SAFETY_STRESS_HIGH),
    ("speed", "max_speed", mon.SAFETY_SPEED),
    ("mach", "mach_max", mon.SAFETY_MACH),
])
def test_upper_limits_trigger_above_threshold_only(monitor, diag, reason):
    limit = mon.UpperLimit(monitor, diag, reason, limit=2.0, hard_factor=1.5)
    assert limit.check({diag: 2.0}) is None  # at the threshold: allowed
    assert limit.check({diag: 1.999}) is None
    assert limit.check({}) is None  # world does not report it: silent
    v = limit.check({diag: 2.001})
    assert v.reason == reason and v.value == pytest.approx(2.001) and v.threshold == 2.0
    assert v.level == mon.FALLBACK
    assert limit.check({diag: 3.0}).level == mon.FALLBACK  # exactly hard_factor x limit
    assert limit.check({diag: 3.0001}).level == mon.ROLLBACK


def test_density_range_both_sides():
    rng = mon.DensityRange(0.05, 8.0, hard_factor=1.5)
    assert rng.check({"density_min": 0.05, "density_max": 8.0}) is None
    low = rng.check({"density_min": 0.049, "density_max": 1.0})
    assert low.reason == mon.SAFETY_DENSITY_RANGE and low.detail["side"] == "min" and low.threshold == 0.05
    high = rng.check({"density_min": 1.0, "density_max": 8.01})
    assert high.detail["side"] == "max" and high.level == mon.FALLBACK
    assert rng.check({"density_min": 1.0, "density_max": 12.01}).level == mon.ROLLBACK


def test_trust_monitor_none_means_no_theory():
    trust = mon.TrustMonitor(0.08)
    assert trust.check(None) is None  # no theory yet: never a breach
    assert trust.check(0.08) is None
    v = trust.check(0.0799)
    assert v.reason == mon.SAFETY_TRUST_LOW and v.level == mon.GUARD
    assert trust.check(math.nan).reason == mon.SAFETY_TRUST_LOW


def test_shift_zscore_against_welford_baseline():
    rng = np.random.default_rng(0)
    base = rng.normal(5.0, 2.0, size=(40, 3))
    shift = mon.ShiftMonitor(threshold=8.0, warmup=24, rel_floor=0.0, abs_floor=1e-9)
    for i, x in enumerate(base):
        v = shift.check(x)
        assert v is None, i  # samples of the baseline itself never reach z = 8
    mean, std = base.mean(axis=0), base.std(axis=0, ddof=1)
    probe = mean.copy()
    probe[1] = mean[1] + 7.99 * std[1]
    assert shift.zscore(probe)[0] == pytest.approx(7.99, rel=1e-9)
    probe[1] = mean[1] + 8.01 * std[1]
    z, idx = shift.zscore(probe)
    assert z == pytest.approx(8.01, rel=1e-9) and idx == 1
    v = shift.check(probe)
    assert v.reason == mon.SAFETY_SHIFT and v.detail["feature"] == 1 and v.level == mon.GUARD


def test_shift_silent_during_warmup_and_floor_on_constant_features():
    shift = mon.ShiftMonitor(threshold=8.0, warmup=5, rel_floor=0.05, abs_floor=1e-3)
    for _ in range(4):
        assert shift.check([1.0, 100.0]) is None
    assert shift.check([1000.0, 100.0]) is None  # 5th sample: still warming up (4 seen)
    fresh = mon.ShiftMonitor(threshold=8.0, warmup=5, rel_floor=0.05, abs_floor=1e-3)
    for _ in range(6):
        fresh.check([1.0, 100.0])
    # a constant feature has std 0: the floor 1e-3 + 0.05 * 100 = 5.001 sets the scale instead
    assert fresh.zscore(np.array([1.0, 100.0 + 7.99 * 5.001]))[0] == pytest.approx(7.99)
    assert fresh.check([1.0, 100.0 + 8.01 * 5.001]).value == pytest.approx(8.01)


def test_action_bounds_and_rate():
    low, high = np.array([-1.0, 0.0]), np.array([1.0, 2.0])
    a, v = mon.check_action_bounds(np.array([1.0, 0.0]), low, high)
    assert v is None and np.array_equal(a, [1.0, 0.0])
    a, v = mon.check_action_bounds(np.array([1.5, -0.25]), low, high)
    assert v.reason == mon.SAFETY_ACTION_BOUNDS and v.value == pytest.approx(0.5)
    assert np.array_equal(a, [1.0, 0.0])
    a, v = mon.check_action_rate(np.array([0.5]), np.array([0.3]), 0.2)
    assert v is None
    a, v = mon.check_action_rate(np.array([0.9]), np.array([0.3]), 0.2)
    assert v.reason == mon.SAFETY_ACTION_RATE and v.value == pytest.approx(0.6) and a == pytest.approx([0.5])
    assert mon.check_action_rate(np.array([9.0]), np.array([0.0]), None)[1] is None


def test_nonfinite_everywhere():
    assert mon.check_nonfinite("observation", np.ones(4)) is None
    v = mon.check_nonfinite("diagnostics", {"a": 1.0, "b": math.inf, "c": math.nan})
    assert v.reason == mon.SAFETY_NONFINITE and v.value == 2.0 and v.monitor == "nonfinite_diagnostics"
    assert mon.check_nonfinite("reward", math.nan).value == 1.0


def test_actuator_patience():
    act = mon.ActuatorMonitor(np.array([2.0]), tolerance=1e-3, patience=3)
    assert act.check(np.array([0.5]), None) is None
    assert act.check(np.array([0.5]), [0.5]) is None
    assert act.check(np.array([0.5]), [0.0]) is None
    assert act.check(np.array([0.6]), [0.0]) is None
    v = act.check(np.array([0.7]), [0.0])
    assert v.reason == mon.SAFETY_ACTUATOR and v.value == pytest.approx(0.35) and v.detail["streak"] == 3


def test_shift_persists_against_a_frozen_baseline_until_it_ends_or_is_rebaselined():
    rng = np.random.default_rng(1)
    shift = mon.ShiftMonitor(threshold=8.0, warmup=24, rel_floor=0.0, abs_floor=1e-9, end_after=3)
    for x in rng.normal(0.0, 1.0, size=(30, 2)):
        assert shift.check(x, step=0) is None
    frozen = shift.state_dict()
    flags = [shift.check(x + [50.0, 0.0], step=30 + i) for i, x in enumerate(rng.normal(0.0, 1.0, size=(300, 2)))]
    assert all(v is not None and v.reason == mon.SAFETY_SHIFT for v in flags)  # never absorbed
    assert flags[0].detail["onset"] and flags[-1].detail == {"feature": 0, "onset_step": 30, "persistent": True,
                                                             "post_shift_samples": 300}
    assert shift.state_dict()["mean"] == frozen["mean"] and shift.count == 30  # baseline frozen while active
    info = shift.rebaseline()
    assert info["post_shift_samples"] == 300 and not shift.active and shift.count == 300
    assert shift.mean[0] == pytest.approx(50.0, abs=0.2) and shift.check([50.0, 0.0]) is None
    # an outlier followed by `end_after` normal samples closes on its own; the baseline then learns again
    assert shift.check([500.0, 0.0], step=400) is not None and shift.active
    for _ in range(3):
        assert shift.check([50.0, 0.0], step=401) is None
    assert not shift.active and shift.onset is None and shift.count == 301  # the outlier was not learned
    assert shift.check([50.0, 0.0]) is None and shift.count == 302


def test_revalidation_needs_post_shift_samples_then_consecutive_trusted_checks():
    rule = mon.ShiftRevalidation(min_trust=0.08, min_samples=64, checks=16)
    assert not any(rule.update(0.9, n) for n in range(1, 64)) and rule.streak == 0  # too few post-shift samples
    assert not any(rule.update(0.9, n) for n in range(64, 79)) and rule.streak == 15
    assert not rule.update(0.07, 79) and rule.streak == 0  # one distrusted check starts the count again
    assert not rule.update(None, 80) and not rule.update(math.nan, 81) and rule.streak == 0
    assert [rule.update(0.08, n) for n in range(82, 98)][-1] and rule.streak == 16
