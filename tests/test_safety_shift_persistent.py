"""A persistent distribution shift stays flagged until the theory is re-validated or an operator re-baselines.

The world is synthetic (three noisy observation features, a scripted offset from step ``ONSET`` on), so
hundreds of envelope steps take well under a second; the control channel is exercised through the
real ``atom safety rebaseline`` command and the HTTP route.
"""

from __future__ import annotations

import json

import gymnasium as gym
import numpy as np
import pytest

from atom_sdk.config import SafetySettings
from atom_sdk.safety import EnvelopeTuning, SafetyEnvelope
from atom_sdk.safety import monitors as mon
from atom_sdk.safety.control import REBASELINE_FILE, request_rebaseline, take_request

ONSET = 40  # first shifted step (after the 24-sample warm-up)
SHIFT_STEPS = 400
OFFSET = np.array([0.0, 30.0, 0.0])  # 30 standard deviations on feature 1


class ShiftingWorld(gym.Env):
    """Observations N(0, 1) (plus a mean of 5 on feature 2); offset by ``OFFSET`` on steps in [start, end)."""

    def __init__(self, start: int | None = ONSET, end: int | None = None, seed: int = 0) -> None:
        self.action_space = gym.spaces.Box(-1.0, 1.0, shape=(1,), dtype=np.float32)
        self.observation_space = gym.spaces.Box(-1e3, 1e3, shape=(3,), dtype=np.float32)
        self.start, self.end = start, end
        self.rng = np.random.default_rng(seed)
        self.steps = 0

    def _obs(self) -> np.ndarray:
        x = self.rng.normal(0.0, 1.0, size=3) + np.array([0.0, 0.0, 5.0])
        on = self.start is not None and self.steps >= self.start and (self.end is None or self.steps < self.end)
        return (x + (OFFSET if on else 0.0)).astype(np.float32)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return self._obs(), {"diagnostics": self.diagnostics()}

    def step(self, action):
        obs = self._obs()
        self.steps += 1
        return obs, 0.0, False, False, {"diagnostics": self.diagnostics()}

    def diagnostics(self):
        return {"max_speed": 0.5, "density_min": 1.0, "density_max": 1.0}

    def observables(self):
        return np.zeros(1)

    def snapshot(self):
        return (self.steps, self.rng.bit_generator.state)

    def restore(self, snap):
        self.steps, state = snap
        self.rng.bit_generator.state = state


def _envelope(world: gym.Env, trust=None, **kwargs) -> SafetyEnvelope:
    env = SafetyEnvelope(world, SafetySettings(), trust_fn=trust, tuning=EnvelopeTuning(), **kwargs)
    env.reset(seed=0)
    return env


def _run(env: SafetyEnvelope, steps: int) -> list[dict]:
    """Step with zero actions; what the agent sees, plus every event drained as the runner's telemetry would."""
    out = []
    for _ in range(steps):
        *_, info = env.step([0.0])
        out.append({"mode": info["safety"]["mode"], "reasons": info["safety"]["reasons"],
                    "theory": env.theory_allowed, "active": env.shift.active})
        env.drained = getattr(env, "drained", []) + env.drain_events()
    return out


def _rebaseline_events(env: SafetyEnvelope) -> list[dict]:
    """Re-baseline events in the telemetry, checked against the report's own record of them."""
    found = [e for e in getattr(env, "drained", []) + env.drain_events() if e["intervention"] == "rebaseline"]
    assert [(e["step"], e["detail"]["source"]) for e in found] == [
        (r["step"], r["source"]) for r in env.report()["shift"]["rebaselines"]]
    return found


def _shift_flagged(state: dict) -> bool:
    return mon.SAFETY_SHIFT in state["reasons"]


def test_nominal_run_of_the_same_length_has_under_one_percent_interventions():
    env = _envelope(ShiftingWorld(start=None), trust=lambda: 0.9)
    _run(env, ONSET + SHIFT_STEPS + 60)
    rep = env.report()
    assert rep["steps"] == ONSET + SHIFT_STEPS + 60
    assert rep["intervention_rate"] < 0.01 and rep["intervention_steps"] == 0
    assert rep["counts_by_reason"] == {} and not env.shift.active and env.mode_name == "nominal"


def test_persistent_shift_stays_flagged_until_an_operator_rebaselines():
    env = _envelope(ShiftingWorld())
    before = _run(env, ONSET)
    assert all(s["mode"] == "nominal" and not s["reasons"] for s in before)
    during = _run(env, SHIFT_STEPS)
    # every one of the 400 shifted steps is flagged, the envelope stays guarded and withholds the theory
    assert all(mon.SAFETY_SHIFT in s["reasons"] and s["mode"] == "guarded" for s in during)
    assert all(s["active"] and not s["theory"] for s in during)
    rep = env.report()
    assert rep["counts_by_reason"] == {mon.SAFETY_SHIFT: SHIFT_STEPS}
    assert rep["first_violation"]["step"] == ONSET and rep["first_violation"]["detail"]["onset"] is True
    assert rep["shift"] == {"active": True, "onset_step": ONSET, "post_shift_samples": SHIFT_STEPS,
                            "rebaselines": []}

    event = env.rebaseline(source="operator", note="new probe calibration", who="alice")
    assert event["reason"] == mon.SAFETY_REBASELINE and event["step"] == ONSET + SHIFT_STEPS
    assert event["detail"]["source"] == "operator" and event["detail"]["note"] == "new probe calibration"
    assert event["detail"]["who"] == "alice" and event["detail"]["post_shift_samples"] == SHIFT_STEPS
    assert not env.shift.active and env.shift.count == SHIFT_STEPS and env.theory_allowed
    after = _run(env, 60)
    assert not any(_shift_flagged(s) for s in after)  # the new regime is the baseline now
    assert [s["mode"] for s in after[:7]] == ["guarded"] * 7 and after[7]["mode"] == "nominal"  # hysteresis: 8
    rep = env.report()
    assert rep["counts_by_reason"] == {mon.SAFETY_SHIFT: SHIFT_STEPS}  # the re-baseline is a record, not a breach
    assert [r["source"] for r in rep["shift"]["rebaselines"]] == ["operator"]
    assert rep["shift"]["rebaselines"][0]["step"] == ONSET + SHIFT_STEPS


def test_persistent_shift_clears_after_trust_recovers_on_post_shift_data():
    trust = {"value": 0.9}
    env = _envelope(ShiftingWorld(), trust=lambda: trust["value"])
    _run(env, ONSET)
    assert env.theory_allowed and env.mode_name == "nominal"
    trust["value"] = 0.01  # the old theory fails on the new regime
    during = _run(env, SHIFT_STEPS)
    assert all(mon.SAFETY_SHIFT in s["reasons"] and s["mode"] == "guarded" and not s["theory"] for s in during)
    assert _rebaseline_events(env) == []
    trust["value"] = 0.6  # a re-fitted theory scores well on held-out post-shift data
    recovering = _run(env, 16)
    # checks 1..15 of the 16 needed: still flagged; the 16th re-validates and re-baselines
    assert all(mon.SAFETY_SHIFT in s["reasons"] and s["active"] for s in recovering[:15])
    assert not recovering[15]["active"] and recovering[15]["theory"]
    (event,) = _rebaseline_events(env)
    assert event["step"] == ONSET + SHIFT_STEPS + 15
    assert event["detail"]["source"] == "revalidation" and event["detail"]["trust"] == 0.6
    assert event["detail"]["post_shift_samples"] == SHIFT_STEPS + 16 and event["detail"]["checks"] == 16
    after = _run(env, 40)
    assert not any(_shift_flagged(s) for s in after) and after[-1]["mode"] == "nominal" and after[-1]["theory"]


def test_trust_counts_only_after_enough_post_shift_samples():
    env = _envelope(ShiftingWorld(), trust=lambda: 0.9)  # a theory that never looked bad (stale or robust)
    _run(env, ONSET)
    states = _run(env, 100)
    (event,) = _rebaseline_events(env)
    # sample 64 after the onset is the first check that counts; the 16th counting check re-validates
    assert event["step"] == ONSET + 63 + 15 and event["detail"]["post_shift_samples"] == 64 + 15
    assert all(s["active"] for s in states[:78]) and not states[78]["active"]


def test_transient_outlier_ends_on_its_own_and_is_recorded():
    env = _envelope(ShiftingWorld(start=ONSET, end=ONSET + 1))
    states = _run(env, ONSET + 40)
    rep = env.report()
    assert rep["counts_by_reason"] == {mon.SAFETY_SHIFT: 1}
    ended = [e for e in rep["events"] if e["intervention"] == "shift_ended"]
    assert len(ended) == 1 and ended[0]["step"] == ONSET + 8 and ended[0]["detail"]["onset_step"] == ONSET
    assert states[-1]["mode"] == "nominal" and not env.shift.active and rep["intervention_steps"] == 1


def test_shift_state_round_trips_and_a_resumed_envelope_continues_identically():
    trust = {"value": 0.01}
    env = _envelope(ShiftingWorld(), trust=lambda: trust["value"])
    _run(env, ONSET + 100)
    trust["value"] = 0.5
    _run(env, 5)  # mid re-validation: 5 of 16 counting checks
    assert env.shift.active and env.revalidation.streak == 5
    state = json.loads(json.dumps(env.state_dict()))
    world_state = env.env.snapshot()
    assert state["shift"]["active"] and state["shift"]["onset"] == ONSET
    assert state["shift"]["post"]["count"] == 105 and state["revalidation_streak"] == 5

    resumed_world = ShiftingWorld()
    resumed_world.restore(world_state)
    resumed = SafetyEnvelope(resumed_world, SafetySettings(), trust_fn=lambda: trust["value"])
    resumed.load_state_dict(state)
    assert resumed.state_dict() == state
    a, b = _run(env, 40), _run(resumed, 40)
    assert a == b
    assert env.report() == resumed.report() and len(_rebaseline_events(resumed)) == 1

    monitor = mon.ShiftMonitor(8.0, 24)
    monitor.load_state_dict(state["shift"])
    assert monitor.state_dict() == state["shift"] and monitor.active and monitor.post.count == 105


def test_control_file_from_the_cli_is_taken_once_and_recorded(tmp_path):
    from atom_sdk.cli.main import main

    run = tmp_path / "runs" / "shifted"
    run.mkdir(parents=True)
    (run / "config.json").write_text("{}")
    env = _envelope(ShiftingWorld(), control_dir=run / "control")
    _run(env, ONSET + 300)
    assert env.shift.active
    with pytest.raises(SystemExit) as done:
        main(["safety", "rebaseline", "--name", "shifted", "--output-root", str(tmp_path / "runs"),
              "--note", "moved the probe rack"])
    assert done.value.code == 0
    request = json.loads((run / "control" / REBASELINE_FILE).read_text())
    assert request["source"] == "cli" and request["note"] == "moved the probe rack"
    states = _run(env, 20)
    assert not (run / "control" / REBASELINE_FILE).exists() and list((run / "control").iterdir()) == []
    (event,) = _rebaseline_events(env)
    assert event["step"] == ONSET + 300 and event["detail"]["source"] == "cli"
    assert event["detail"]["note"] == "moved the probe rack" and event["detail"]["requested_at"]
    assert not any(_shift_flagged(s) for s in states)

    (run / "results.json").write_text("{}")
    with pytest.raises(SystemExit) as refused:
        main(["safety", "rebaseline", "--name", "shifted", "--output-root", str(tmp_path / "runs")])
    assert refused.value.code == 2
    with pytest.raises(SystemExit) as bad_name:
        main(["safety", "rebaseline", "--name", "../shifted", "--output-root", str(tmp_path / "runs")])
    assert bad_name.value.code == 2 and not (tmp_path / "shifted").exists()


def test_bad_request_file_is_removed_and_recorded_without_rebaselining(tmp_path):
    control = tmp_path / "control"
    env = _envelope(ShiftingWorld(), control_dir=control)
    _run(env, ONSET + 10)
    control.mkdir()
    (control / REBASELINE_FILE).write_text("{not json")
    states = _run(env, 3)
    assert env.shift.active and all(mon.SAFETY_SHIFT in s["reasons"] for s in states)
    assert not (control / REBASELINE_FILE).exists()
    rejected = [e for e in env.report()["events"] if e["reason"] == mon.SAFETY_CONTROL_REJECTED]
    assert len(rejected) == 1 and "unreadable" in rejected[0]["detail"]["why"]
    assert mon.SAFETY_CONTROL_REJECTED not in env.report()["counts_by_reason"]
    # a valid request written later is taken; take_request leaves nothing behind
    request_rebaseline(control, "operator", note="ok")
    assert take_request(control)["note"] == "ok" and take_request(control) is None


def test_http_route_writes_the_request_for_a_running_run(tmp_path):
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from atom_sdk.platform.api import create_app
    from atom_sdk.platform.testing import fake_finished_run, settings_for

    app = create_app(settings_for(tmp_path))
    with TestClient(app) as client:
        p = app.state.platform
        job = p.store.add_job("run", "live", {"config": {"name": "live"}}, None, max_queue=10, max_per_owner=10)
        assert p.store.claim(0)[0]["id"] == job["id"]  # running now
        folder = p.job_dir(job["id"])
        folder.mkdir(parents=True)
        ok = client.post(f"/api/v1/runs/{job['id']}/safety/rebaseline", json={"note": "inlet swapped"})
        assert ok.status_code == 202, ok.text
        body = ok.json()
        assert body["path"] == "control/rebaseline.json" and body["request"]["source"] == "api"
        assert body["request"]["note"] == "inlet swapped" and body["state"] == "running"
        env = _envelope(ShiftingWorld(), control_dir=folder / "control")
        _run(env, ONSET + 5)
        (event,) = _rebaseline_events(env)
        assert event["detail"]["source"] == "api" and event["detail"]["note"] == "inlet swapped"
        assert event["detail"]["who"] == "anonymous"

        missing = client.post("/api/v1/runs/run_0000000000000000/safety/rebaseline")
        assert missing.status_code == 404
        finished = fake_finished_run(p.store, p.settings, name="done")
        conflict = client.post(f"/api/v1/runs/{finished}/safety/rebaseline", json={})
        assert conflict.status_code == 409 and "succeeded" in conflict.json()["message"]
        too_long = client.post(f"/api/v1/runs/{job['id']}/safety/rebaseline", json={"note": "x" * 1001})
        assert too_long.status_code == 422
        unknown = client.post(f"/api/v1/runs/{job['id']}/safety/rebaseline", json={"nope": 1})
        assert unknown.status_code == 422


def test_request_dropped_during_a_closed_loop_run_reaches_telemetry_and_results(tmp_path, monkeypatch):
    """Through the real runner: the envelope polls ``<run>/control`` (the runner hands it that folder)."""
    import atom_sdk.safety as safety_pkg
    from atom_sdk.evidence.fault_suite import _base_config
    from atom_sdk.experiment.runner import make_world, run_experiment
    from atom_sdk.safety.faults import ObservationShift

    run = tmp_path / "run"

    class RunEnvelope(SafetyEnvelope):  # what the runner's one-line change does: control_dir = <run>/control
        def __init__(self, world, settings=None, *args, **kwargs):
            super().__init__(world, settings, *args, **kwargs)
            self.control_dir = run / "control"

    monkeypatch.setattr(safety_pkg, "SafetyEnvelope", RunEnvelope)
    cfg = _base_config("analytical:taylor_green", {"world": {"grid": [8, 8, 1], "max_episode_steps": 500}},
                       120, 0, "ppo_baseline", "rebaseline")

    def progress(step: int, total: int, info: dict) -> None:
        if step == 80:  # the operator, while the run is going (after its 80th step)
            request_rebaseline(run / "control", "cli", "bob", "sensor offset confirmed")

    results = run_experiment(cfg, run, progress=progress,
                             world_factory=lambda c: ObservationShift(make_world(c), start=30))
    safety = results["safety"]
    assert safety["counts_by_reason"] == {mon.SAFETY_SHIFT: 50}  # steps 30..79: flagged on every one
    assert safety["shift"]["active"] is False
    (record,) = safety["shift"]["rebaselines"]
    assert record["step"] == 80 and record["source"] == "cli" and record["who"] == "bob"
    assert record["onset_step"] == 30 and record["post_shift_samples"] == 50
    lines = [json.loads(line) for line in (run / "telemetry.jsonl").read_text().splitlines()]
    modes = {line["step"]: line["safety_mode"] for line in lines if line["kind"] == "step"}
    # guarded from the onset until the 8th clean step after the re-baseline (hysteresis)
    assert all(modes[s] == "guarded" for s in range(30, 87)) and modes[87] == modes[119] == "nominal"
    assert modes[29] == "nominal"
    events = [line for line in lines if line["kind"] == "safety" and line["intervention"] == "rebaseline"]
    assert len(events) == 1 and events[0]["detail"]["note"] == "sensor offset confirmed"
    assert not (run / "control" / REBASELINE_FILE).exists()
