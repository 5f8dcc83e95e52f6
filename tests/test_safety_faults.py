"""Fault injection through the real runner on Taylor–Green: detection latency, interventions, artifacts."""

import json

import flax.serialization
import pytest

from atom_sdk.safety import monitors as mon
from atom_sdk.evidence.fault_suite import run_fault_suite

STEPS, INJECT = 48, 32  # injection after the shift monitor's 24-step warm-up


@pytest.fixture(scope="module")
def suite(tmp_path_factory):
    out = tmp_path_factory.mktemp("safety_suite")
    report = run_fault_suite(out, worlds=["analytical:taylor_green", "supersonic:no_such_world"], steps=STEPS,
                             seed=0, faults=["nan_state", "obs_shift", "diverging"], inject_at=INJECT)
    return out, report


def test_each_fault_detected_within_its_bound(suite):
    out, report = suite
    tg = report["worlds"]["analytical:taylor_green"]
    expected = {"nan_state": (mon.SAFETY_NONFINITE, 0, "rollback"), "obs_shift": (mon.SAFETY_SHIFT, 0, "guard"),
                "diverging": (None, 10, "fallback")}
    for name, (reason, bound, intervention) in expected.items():
        entry = tg["faults"][name]
        assert entry["injected_at"] == INJECT
        assert entry["detected"] and entry["latency_steps"] <= bound == entry["bound_steps"], entry
        if reason is not None:
            assert entry["detected_by"] == reason
        assert intervention in entry["interventions_taken"]
        assert entry["pre_injection_events"] == 0  # nothing fired before the fault
        assert entry["artifacts_intact"] and entry["passed"]
    # the exponential growth (x1.5 per step) crosses speed_max = 3 from |A| ~ 0.5-1 in 3-5 steps
    assert 2 <= tg["faults"]["diverging"]["latency_steps"] <= 6
    written = json.loads((out / "safety_validation.json").read_text())
    assert written["passed"] == report["passed"] is True
    assert written["thresholds"]["false_intervention_rate_below"] == 0.01


def test_nominal_run_has_no_false_interventions(suite):
    _, report = suite
    nominal = report["worlds"]["analytical:taylor_green"]["nominal"]
    assert nominal["false_intervention_rate"] < 0.01 and nominal["passed"] and nominal["artifacts_intact"]


def test_unimportable_world_is_skipped_and_said_so(suite):
    _, report = suite
    entry = report["worlds"]["supersonic:no_such_world"]
    assert entry["skipped"] and "no_such_world" in entry["reason"] and entry["passed"]


def test_runner_writes_safety_into_results_telemetry_and_checkpoint(suite):
    out, _ = suite
    run = out / "analytical_taylor_green" / "nan_state"
    results = json.loads((run / "results.json").read_text())
    safety = results["safety"]
    assert safety["enabled"] and safety["counts_by_reason"][mon.SAFETY_NONFINITE] == 3
    assert safety["interventions"]["rollback"] == 1 and safety["first_violation"]["step"] == INJECT
    assert sum(safety["mode_steps"].values()) == STEPS
    lines = [json.loads(line) for line in (run / "telemetry.jsonl").read_text().splitlines()]
    steps = [line for line in lines if line["kind"] == "step"]
    assert [s["safety_mode"] for s in steps[INJECT - 1:INJECT + 1]] == ["nominal", "fallback"]
    events = [line for line in lines if line["kind"] == "safety"]
    assert len(events) == safety["events_total"]
    payload = flax.serialization.msgpack_restore((run / "checkpoints" / "latest.msgpack").read_bytes())
    saved = json.loads(payload["loop"])["safety"]
    assert saved["log"]["events_total"] == safety["events_total"] and saved["total_steps"] == STEPS


def test_cli_safety_flags_map_to_config():
    from atom_sdk.cli.run import collect_overrides
    from atom_sdk.config import SafetySettings, build_run_config

    cfg = build_run_config(overrides=collect_overrides(safety_enabled=False, safety_max_stress=4.0,
                                                       safety_shift_warmup=10, safety_speed_max=None))
    assert cfg.safety.enabled is False and cfg.safety.max_stress == 4.0 and cfg.safety.shift_warmup == 10
    assert cfg.safety.speed_max == SafetySettings().speed_max  # not given: the default (3.0, or None = derive)


def test_envelope_state_survives_checkpoint_resume(tmp_path):
    from atom_sdk.experiment.runner import make_world, run_experiment
    from atom_sdk.safety.faults import NaNInjection
    from atom_sdk.evidence.fault_suite import _base_config

    cfg = _base_config("analytical:taylor_green", {"world": {"grid": [8, 8, 1], "max_episode_steps": 200}},
                       STEPS, 0, "ppo_baseline", "resume")

    def factory(c):
        return NaNInjection(make_world(c), start=20)

    full = run_experiment(cfg, tmp_path / "full", world_factory=factory)
    assert run_experiment(cfg, tmp_path / "cut", world_factory=factory, stop_after=32) == {"interrupted_at": 32}
    resumed = run_experiment(cfg, tmp_path / "cut", world_factory=factory, resume=True)
    assert full["safety"]["interventions"]["rollback"] == 1
    assert resumed["safety"] == full["safety"]
    assert resumed["summary"]["mean_reward"] == pytest.approx(full["summary"]["mean_reward"], rel=1e-6)
