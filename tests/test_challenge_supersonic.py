"""Supersonic challenge: controller, schedule, audit, pause/resume/cancel (fast, on a stand-in world).

The stand-in is a real ``World`` (pure JAX dynamics, so the safety envelope can wrap it): the wedge
angle follows the commanded angle with a first-order lag and the "measured" shock angle is the
theta-beta-Mach angle plus a fixed 0.8-degree bias, which feed-forward alone cannot remove.
"""

from __future__ import annotations

import json
import math
import threading
from typing import Any, ClassVar, NamedTuple

import gymnasium as gym
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from pydantic import Field

from atom_sdk.design.challenge import (
    DEFAULT_SCHEDULE,
    PIController,
    WedgeInterface,
    make_schedule,
    run_supersonic_challenge,
    score_from,
    target_at,
)
from atom_sdk.errors import ConfigError
from atom_sdk.worlds.base import Dynamics, StepOutput, World, WorldParams
from atom_sdk.worlds.gasdynamics import detachment_angle, shock_angle, wedge_angle_for_shock

MACH = 2.0
BIAS = 0.8
ANGLE = WedgeInterface(action="angle")


class LagParams(WorldParams):
    mach: float = Field(MACH)
    lag: float = Field(0.5)


class LagState(NamedTuple):
    theta: jax.Array


class LagWedge(World):
    world_id: ClassVar[str] = "test:lag_wedge"
    Params = LagParams

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(grid=(24, 18, 1), **kwargs)
        self.action_space = gym.spaces.Box(0.0, 22.0, shape=(1,), dtype=np.float32)
        self.observation_space = gym.spaces.Box(-1e6, 1e6, shape=(2,), dtype=np.float32)

    def build_dynamics(self) -> Dynamics:
        thetas = np.linspace(0.0, detachment_angle(MACH) - 1e-6, 200)
        betas = np.array([shock_angle(MACH, t) for t in thetas])
        table_t, table_b = jnp.asarray(thetas, jnp.float32), jnp.asarray(betas, jnp.float32)
        lag = self.params.lag

        def diagnostics(s: LagState) -> dict[str, jax.Array]:
            beta = jnp.interp(s.theta, table_t, table_b) + BIAS
            return {"shock_angle": beta, "wedge_angle": s.theta, "max_speed": jnp.asarray(2.0),
                    "max_stress": jnp.asarray(0.0), "density_min": jnp.asarray(1.0), "density_max": jnp.asarray(1.7)}

        def observe(s: LagState) -> jax.Array:
            d = diagnostics(s)
            return jnp.stack([d["shock_angle"], d["wedge_angle"]]).astype(jnp.float32)

        def init(key: jax.Array) -> LagState:
            return LagState(jnp.asarray(10.0, jnp.float32))

        def step(s: LagState, action: jax.Array) -> tuple[LagState, StepOutput]:
            new = LagState((s.theta + lag * (jnp.reshape(action, ()) - s.theta)).astype(jnp.float32))
            return new, StepOutput(observe(new), jnp.asarray(0.0), diagnostics(new))

        def fields(s: LagState) -> dict[str, jax.Array]:
            x = (jnp.arange(24) + 0.5) / 24
            y = (jnp.arange(18) + 0.5) / 18 * 0.75
            beta = jnp.deg2rad(diagnostics(s)["shock_angle"])
            rho = jnp.where(y[None, :] < (x[:, None] - 0.2) * jnp.tan(beta), 1.7, 1.0)
            return {"density": rho[..., None]}

        return Dynamics(init, step, observe, fields, diagnostics)


def test_schedule_and_feedforward_model() -> None:
    sched = make_schedule()
    assert target_at(sched, 0, 300) == 40.0 and target_at(sched, 70, 300) == 45.0
    assert target_at(sched, 120 + 37, 300) == pytest.approx(45.0 + 7.0 * 37 / 75, abs=1e-9)  # mid ramp
    with pytest.raises(ConfigError, match="not attainable"):
        run_supersonic_challenge(5, "unused", schedule=[(0.0, "hold", 70.0, 70.0)], world=LagWedge(), interface=ANGLE)
    # with a perfect model (no bias) feed-forward alone puts the shock on target
    pi = PIController(MACH, kp=0.0, ki=0.0)
    assert shock_angle(MACH, pi.command(45.0, None)) == pytest.approx(45.0, abs=1e-9)
    assert pi.command(45.0, None) == pytest.approx(wedge_angle_for_shock(MACH, 45.0))


def test_pi_tracks_moving_target_and_audit(tmp_path) -> None:
    # the stand-in answers within a few steps, so no schedule preview and stiffer gains than the defaults
    fast = {"world": LagWedge(), "interface": ANGLE, "preview": 0}
    audit = run_supersonic_challenge(120, tmp_path / "pi", 0, kp=0.25, ki=0.08, **fast)
    ff_only = run_supersonic_challenge(120, tmp_path / "ff", 0, kp=0.0, ki=0.0, figure=False, **fast)
    saved = json.loads((tmp_path / "pi" / "challenge_audit.json").read_text())
    assert saved["status"] == "completed" and saved["summary"]["steps_run"] == 120
    mae = saved["summary"]["mean_abs_error_deg"]
    errors = np.array(saved["trajectory"]["error"])
    assert mae == pytest.approx(errors.mean(), rel=1e-12)
    assert saved["score"] == pytest.approx(100 * math.exp(-mae / 5) * 0.95 ** saved["violation_count"])
    assert saved["score"] == pytest.approx(score_from(mae, saved["violation_count"]))
    # feed-forward alone keeps the 0.8-degree model bias; the integral term removes it
    assert ff_only["summary"]["mean_abs_error_deg"] == pytest.approx(BIAS, abs=0.35)
    assert mae < ff_only["summary"]["mean_abs_error_deg"]
    hold = errors[int(0.9 * 120):]  # last hold segment (target 42 deg)
    assert hold[-1] < 0.1 and np.all(hold < 0.25 * BIAS) and np.all(np.diff(hold) < 0)
    # measured vs theory differs by exactly the injected bias
    assert saved["summary"]["mean_abs_measured_minus_theory_deg"] == pytest.approx(BIAS, abs=0.01)
    assert saved["violation_count"] == 0 and saved["safety_report"]["enabled"] is True
    assert (tmp_path / "pi" / "challenge_field.png").stat().st_size > 5000
    kinds = [e["kind"] for e in saved["timeline"]]
    assert kinds[0] == "started" and kinds[-1] == "completed" and kinds.count("target") >= len(DEFAULT_SCHEDULE)
    assert len(saved["config_hash"]) == 64 and saved["provenance"]["config_hash"] == saved["config_hash"]


def test_pause_resume_and_cancel(tmp_path) -> None:
    cancel = threading.Event()
    pause = threading.Event()
    seen: list[str] = []
    polls = {"n": 0}

    def control(step: int) -> str | None:
        if step == 5 and polls["n"] < 3:  # pause for three polls at step 5, then resume
            polls["n"] += 1
            return "pause"
        return None

    def on_step(step: int, total: int, info: dict[str, Any]) -> None:
        if step == 12:
            cancel.set()

    audit = run_supersonic_challenge(50, tmp_path, 0, world=LagWedge(), interface=ANGLE,
                                     control=control, pause_event=pause,
                                     cancel_event=cancel, on_event=lambda e: seen.append(e["kind"]),
                                     on_step=on_step, poll_seconds=0.001, figure=False)
    assert audit["status"] == "cancelled" and audit["summary"]["steps_run"] == 12
    assert seen[:2] == ["started", "target"] and "paused" in seen and "resumed" in seen
    assert seen.index("paused") < seen.index("resumed") < seen.index("cancelled")
    assert json.loads((tmp_path / "challenge_audit.json").read_text())["status"] == "cancelled"


# ---------------------------------------------------------------------------- controllers: agent and hold
def test_controller_option_validates(tmp_path) -> None:
    from atom_sdk.cli.main import main
    from atom_sdk.design.challenge_agent import AgentBudget

    with pytest.raises(ConfigError, match="unknown challenge controller 'pid'; use one of: scripted, agent, hold"):
        run_supersonic_challenge(5, tmp_path / "x", controller="pid", world=LagWedge(), interface=ANGLE)
    with pytest.raises(ConfigError, match="custom world or interface is for the scripted controller"):
        run_supersonic_challenge(5, tmp_path / "y", controller="agent", world=LagWedge())
    with pytest.raises(ConfigError, match="at least 1 episode"):
        AgentBudget(episodes=0)
    with pytest.raises(SystemExit) as exc:
        main(["challenge", "supersonic", "--controller", "neural", "--output-dir", str(tmp_path / "z"), "--headless"])
    assert exc.value.code != 0 and not (tmp_path / "x").exists() and not (tmp_path / "z").exists()
    from pydantic import ValidationError

    from atom_sdk.platform.models import ChallengeRequest

    assert ChallengeRequest(controller="agent", agent_episodes=3).controller == "agent"
    with pytest.raises(ValidationError, match="controller"):
        ChallengeRequest(controller="neural")


def test_api_takes_the_controller(tmp_path) -> None:
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from atom_sdk.platform.api import create_app
    from atom_sdk.platform.testing import settings_for

    url = "/api/v1/challenges/supersonic/jobs"
    with TestClient(create_app(settings_for(tmp_path, max_queue=5))) as client:
        job = client.post(url, json={"steps": 20, "grid": [32, 24, 1], "controller": "agent", "agent_episodes": 2})
        assert job.status_code == 202
        params = client.app.state.platform.store.get_job(job.json()["id"], "challenge")["params"]
        assert params["controller"] == "agent" and params["agent_episodes"] == 2
        bad = client.post(url, json={"controller": "neural"})
        assert bad.status_code == 422 and "controller" in bad.text
        # training counts against the server's step limit: 300 steps x 1000 episodes > 200,000
        huge = client.post(url, json={"controller": "agent", "agent_episodes": 1000})
        assert huge.status_code == 422 and "agent_episodes" in huge.json()["message"]


def test_hold_controller_keeps_the_wedge(tmp_path) -> None:
    audit = run_supersonic_challenge(30, tmp_path, 0, controller="hold", world=LagWedge(), interface=ANGLE,
                                     figure=False)
    wedge = np.array(audit["trajectory"]["wedge_angle"])
    assert np.allclose(wedge, 10.0) and audit["controller"]["kind"].startswith("hold")
    # the stand-in's shock sits at theta-beta-Mach(10 deg) + bias; the audit scores that against the schedule
    expected = np.mean([abs(target_at(make_schedule(), k, 30) - (shock_angle(MACH, 10.0) + BIAS)) for k in range(30)])
    assert audit["summary"]["mean_abs_error_deg"] == pytest.approx(expected, abs=1e-3)
    assert audit["config"]["controller"] == "hold"


def test_agent_tiny_budget_audit_matches_scripted(tmp_path) -> None:
    from atom_sdk.design.challenge_agent import AgentBudget

    small = {"grid": (32, 24, 1), "world_params": {"substeps": 5}, "figure": False}
    budget = AgentBudget(episodes=1, rollout_length=8, num_minibatches=2, update_epochs=1)
    agent = run_supersonic_challenge(8, tmp_path / "agent", 0, controller="agent", agent_budget=budget, **small)
    scripted = run_supersonic_challenge(8, tmp_path / "scripted", 0, **small)
    assert set(agent) == set(scripted) and set(agent["summary"]) == set(scripted["summary"])
    assert set(agent["trajectory"]) == set(scripted["trajectory"]) and len(agent["trajectory"]["target"]) == 8
    assert agent["status"] == "completed" and math.isfinite(agent["score"]) and 0.0 <= agent["score"] <= 100.0
    assert agent["score"] == pytest.approx(score_from(agent["summary"]["mean_abs_error_deg"], agent["violation_count"]))
    assert agent["trajectory"]["target"] == scripted["trajectory"]["target"]  # the same schedule, step by step
    training = agent["controller"]["training"]
    assert training["train_steps"] == 8 and training["variant"]["use_encoder"] and training["variant"]["use_scientist"]
    assert agent["config"]["agent_budget"]["episodes"] == 1 and agent["config_hash"] != scripted["config_hash"]
    assert json.loads((tmp_path / "agent" / "agent_training.json").read_text())["summary"]["steps"] == 8
    kinds = [e["kind"] for e in agent["timeline"]]
    assert kinds[:3] == ["training", "trained", "started"] and kinds[-1] == "completed"
    # the commanded wedge angle is the agent's action; the wedge moves toward it by at most max_delta per step
    command, wedge = np.array(agent["trajectory"]["command"]), np.array(agent["trajectory"]["wedge_angle"])
    assert np.all(np.abs(np.diff(np.r_[10.0, wedge])) <= 3.0 + 1e-4)
    assert np.all((command >= 0.0) & (command <= detachment_angle(MACH) - 0.25 + 1e-4))


def test_figure_draws_the_tracking_history(tmp_path) -> None:
    from atom_sdk.design.challenge_figure import challenge_figure

    world = LagWedge()
    audit = run_supersonic_challenge(40, tmp_path, 0, world=world, interface=ANGLE, preview=0, figure=False)
    audit["violations"] = [{"step": 7, "reasons": ["SAFETY_TEST"]}, {"step": 21, "reasons": ["SAFETY_TEST"]}]
    fig = challenge_figure(audit, world, ANGLE)
    shock, wedge, field = fig.axes[0], fig.axes[1], fig.axes[2]
    assert shock.get_ylabel() == "shock angle beta (deg)" and wedge.get_xlabel() == "agent step"
    assert wedge.get_ylabel() == "wedge angle theta (deg)" and field.get_xlabel() == "x (box lengths)"
    lines = {line.get_label(): line for line in shock.get_lines()}
    assert np.allclose(lines["target (schedule)"].get_ydata(), audit["trajectory"]["target"])
    assert np.allclose(lines["measured shock angle"].get_ydata(), audit["trajectory"]["measured"])
    marks = lines["safety violation (2)"]
    assert list(marks.get_xdata()) == [7, 21]
    assert np.allclose(marks.get_ydata(), np.array(audit["trajectory"]["measured"])[[6, 20]])
    wedge_lines = {line.get_label(): line for line in wedge.get_lines()}
    assert np.allclose(wedge_lines["commanded wedge angle"].get_ydata(), audit["trajectory"]["command"])
    assert np.allclose(wedge_lines["actual wedge angle"].get_ydata(), audit["trajectory"]["wedge_angle"])
    import matplotlib.pyplot as plt

    plt.close(fig)


@pytest.mark.slow
def test_agent_small_budget_beats_doing_nothing(tmp_path) -> None:
    """The closed loop, trained 12 passes of a 100-step schedule (1200 steps, about 1.5 min on a free
    core), tracks the schedule better than holding the wedge still; the settings of the benchmark."""
    from atom_sdk.design.challenge_agent import AgentBudget

    world = {"grid": (40, 30, 1), "world_params": {"substeps": 120}, "preview": 3, "figure": False}
    agent = run_supersonic_challenge(100, tmp_path / "agent", 0, controller="agent",
                                     agent_budget=AgentBudget(episodes=12), **world)
    hold = run_supersonic_challenge(100, tmp_path / "hold", 0, controller="hold", **world)
    assert agent["status"] == hold["status"] == "completed"
    assert agent["summary"]["mean_abs_error_deg"] < hold["summary"]["mean_abs_error_deg"] - 0.5
    assert agent["score"] > hold["score"] + 5.0
    assert agent["controller"]["training"]["train_steps"] == 1200
