"""The envelope: escalation, hysteresis, sanitised observations, rollback, halting, report, checkpoint."""

import json
import math
import warnings

import gymnasium as gym
import numpy as np
import pytest

from atom_sdk.config import SafetySettings
from atom_sdk.safety import EnvelopeTuning, SafetyEnvelope
from atom_sdk.safety import monitors as mon
from atom_sdk.safety.faults import NaNInjection


class ScriptedWorld(gym.Env):
    """A one-number world (x += action) whose diagnostics/observation a test can script per step."""

    observable_names = ("x",)

    def __init__(self) -> None:
        self.action_space = gym.spaces.Box(-1.0, 1.0, shape=(1,), dtype=np.float32)
        self.observation_space = gym.spaces.Box(-100.0, 100.0, shape=(2,), dtype=np.float32)
        self.x, self.t = 0.0, 0
        self.script: dict[int, dict] = {}  # step index -> overrides {"diag": {...}, "obs": [...]}
        self.received: list[float] = []
        self.steps = 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.x, self.t = 0.0, 0
        return self._obs(), {"diagnostics": self.diagnostics()}

    def _obs(self):
        return np.array([self.x, 1.0], dtype=np.float32)

    def diagnostics(self):
        return {"max_stress": abs(self.x), "max_speed": abs(self.x), "density_min": 1.0, "density_max": 1.0}

    def step(self, action):
        a = float(np.asarray(action).reshape(-1)[0])
        self.received.append(a)
        self.x += a
        self.t += 1
        over = self.script.get(self.steps, {})
        self.steps += 1
        diag = {**self.diagnostics(), **over.get("diag", {})}
        obs = np.asarray(over.get("obs", self._obs()), dtype=np.float32)
        return obs, over.get("reward", -abs(self.x)), False, False, {"diagnostics": diag}

    def observables(self):
        return np.array([self.x])

    def snapshot(self):
        return (self.x, self.t)

    def restore(self, snap):
        self.x, self.t = snap


class NoSnapshotWorld(ScriptedWorld):
    snapshot = None  # a plain Gymnasium env: nothing to roll back to
    restore = None


def _envelope(world=None, **tuning):
    world = world or ScriptedWorld()
    tun = EnvelopeTuning(**{"recovery_steps": 4, **tuning})
    env = SafetyEnvelope(world, SafetySettings(max_stress=8.0, speed_max=3.0, shift_warmup=1000), tuning=tun)
    env.reset(seed=0)
    return env, world


def test_stress_breach_goes_to_fallback_and_replaces_actions():
    env, world = _envelope()
    world.script = {2: {"diag": {"max_stress": 8.5}}}
    for _ in range(3):
        env.step([0.3])
    assert env.mode_name == "fallback"
    event = env.report()["first_violation"]
    assert event["reason"] == mon.SAFETY_STRESS_HIGH and event["value"] == 8.5 and event["threshold"] == 8.0
    assert event["intervention"] == "fallback" and event["mode_before"] == "nominal"
    assert event["mode_after"] == "fallback" and event["step"] == 2
    env.step([0.3])
    assert world.received[-1] == 0.0  # zero actuation replaced the agent's 0.3


def test_given_fallback_controller_is_used_and_sanitised():
    env, world = _envelope()
    env.fallback = lambda obs: np.array([5.0])  # out of bounds: clipped to the action bound
    world.script = {0: {"diag": {"max_stress": 9.0}}}
    env.step([0.1])
    env.step([0.1])
    assert world.received[-1] == 1.0
    env.fallback = lambda obs: np.array([math.nan])
    env.step([0.1])
    assert world.received[-1] == 0.0


def test_hysteresis_no_flapping_on_alternating_signal():
    env, world = _envelope(recovery_steps=4)
    world.script = {i: {"diag": {"max_speed": 3.2}} for i in range(0, 40, 2)}  # breach every other step
    modes = []
    for _ in range(40):
        env.step([0.0])
        modes.append(env.mode_name)
    changes = sum(a != b for a, b in zip(modes, modes[1:]))
    assert modes[0] == "fallback" and changes == 0
    # then a clean stretch (step 39 was the first clean one): one level down per 4 clean steps, no faster
    for _ in range(2):
        env.step([0.0])
    assert env.mode_name == "fallback"
    env.step([0.0])
    assert env.mode_name == "guarded"
    for _ in range(4):
        env.step([0.0])
    assert env.mode_name == "nominal"


def test_nan_observation_never_reaches_agent_and_rollback_restores_last_safe_state():
    env, world = _envelope()
    for _ in range(3):
        obs, *_ = env.step([0.25])
    safe_obs, safe_x = obs.copy(), world.x
    world.script = {3: {"obs": [math.nan, math.inf], "diag": {"max_speed": math.nan}, "reward": math.nan}}
    obs, reward, terminated, truncated, info = env.step([0.25])
    assert np.all(np.isfinite(obs)) and env.observation_space.contains(obs)
    assert np.array_equal(obs, safe_obs) and world.x == safe_x  # rolled back to the last safe state
    assert reward == 0.0 and not terminated and info["rolled_back"] and info["safety"]["mode"] == "fallback"
    assert "rollback" in info["safety"]["interventions"]
    reasons = env.report()["counts_by_reason"]
    assert reasons == {mon.SAFETY_NONFINITE: 3}  # observation, reward and diagnostics


def test_without_snapshots_nan_halts_with_sanitised_observation():
    env, world = _envelope(NoSnapshotWorld())
    world.script = {0: {"obs": [math.nan, 1e9]}}
    obs, reward, terminated, _, info = env.step([0.1])
    assert terminated and info["unsafe"] and env.mode_name == "halted"
    assert np.array_equal(obs, np.array([0.0, 100.0], np.float32))  # NaN -> 0, 1e9 clipped to the space
    sanitize = [e for e in env.report()["events"] if e["intervention"] == "sanitize"]
    assert sanitize and sanitize[0]["detail"]["sanitized"] is True


def test_persistent_divergence_rolls_back_then_ends_episode_unsafe():
    env, world = _envelope(max_rollbacks=2, rollback_after=3)
    world.script = {i: {"diag": {"max_speed": 4.0}} for i in range(2, 100)}  # soft breach, never recovers
    outcomes = []
    for _ in range(20):
        _, _, terminated, _, info = env.step([0.1])
        outcomes.append((info["safety"]["interventions"], terminated, info["unsafe"]))
        if terminated:
            break
    rollbacks = sum("rollback" in i for i, _, _ in outcomes)
    assert rollbacks == 2 and outcomes[-1][1] and outcomes[-1][2] and "halt" in outcomes[-1][0]
    assert env.mode_name == "halted"
    env.reset(seed=1)
    assert env.mode_name == "guarded"  # a new episode after an unsafe end starts cautious
    assert env.report()["unsafe_episodes"] == 1


def test_trust_low_without_theory_does_not_stop_run():
    trust = {"value": None}
    env, world = _envelope()
    env.trust_fn = lambda: trust["value"]
    for _ in range(5):
        env.step([0.1])
    assert env.mode_name == "nominal" and env.theory_allowed
    trust["value"] = 0.01
    _, _, terminated, _, info = env.step([0.1])
    assert not terminated and env.mode_name == "guarded" and not env.theory_allowed
    assert info["safety"]["interventions"] == ["restrict_theory"]
    for _ in range(10):
        _, _, terminated, _, _ = env.step([0.1])
        assert not terminated and env.mode_name == "guarded"  # never escalates past guarded on trust alone


def test_action_bounds_rate_and_nonfinite_action():
    world = ScriptedWorld()
    env = SafetyEnvelope(world, SafetySettings(max_action_rate=0.2, shift_warmup=1000),
                         tuning=EnvelopeTuning(guard_action_fraction=1.0))
    env.reset(seed=0)
    env.step([0.1])
    env.step([2.0])  # out of bounds -> clipped to 1.0 -> rate-limited to 0.1 + 0.2
    assert world.received[-1] == pytest.approx(0.3)
    env.step([math.nan])
    assert world.received[-1] == 0.0
    counts = env.report()["counts_by_reason"]
    assert counts == {mon.SAFETY_ACTION_BOUNDS: 1, mon.SAFETY_ACTION_RATE: 1, mon.SAFETY_NONFINITE: 1}


def test_mach_limit_only_for_lattice_worlds():
    env, world = _envelope()
    world.script = {0: {"diag": {"mach_max": 2.5}}}
    env.step([0.0])
    assert env.mode_name == "nominal"  # a supersonic world's Mach number is not a lattice limit
    env, world = _envelope(lattice=True)
    world.script = {0: {"diag": {"mach_max": 0.31}}}
    env.step([0.0])
    assert env.report()["counts_by_reason"] == {mon.SAFETY_MACH: 1}


def test_report_counts_and_state_dict_roundtrip():
    env, world = _envelope(max_events=3)
    world.script = {i: {"diag": {"max_speed": 3.1}} for i in (1, 2, 3, 10)}
    for _ in range(20):
        env.step([0.0])
    rep = env.report()
    assert rep["steps"] == 20 and sum(rep["mode_steps"].values()) == 20
    assert rep["counts_by_monitor"] == {"speed": 4}
    assert rep["intervention_rate"] == pytest.approx(rep["intervention_steps"] / 20)
    assert len(rep["events"]) == 3 and rep["events_total"] > 3 and rep["events_truncated"]
    state = json.loads(json.dumps(env.state_dict()))
    fresh, _ = _envelope(max_events=3)
    fresh.load_state_dict(state)
    assert fresh.report() == rep
    assert fresh.mode_name == env.mode_name


def test_envelope_passes_gymnasium_env_checker_on_taylor_green():
    from gymnasium.utils.env_checker import check_env

    from atom_sdk.worlds import make

    world = make("analytical:taylor_green", grid=(8, 8, 1), max_episode_steps=50)
    env = SafetyEnvelope(world, SafetySettings())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the checker warns that a wrapper is applied
        check_env(env, skip_render_check=True)
    # and the world protocol is forwarded
    env.reset(seed=0)
    assert env.observable_names == ("amplitude",) and env.dt == pytest.approx(0.1)
    assert env.field_tensor().shape[0] == 5 and set(env.fields()) == {"velocity", "pressure", "density"}
    target, weights = env.control_target()
    assert weights.tolist() == [1.0]


def test_rollback_on_taylor_green_restores_state_after_nan_injection():
    from atom_sdk.worlds import make

    world = make("analytical:taylor_green", grid=(8, 8, 1), max_episode_steps=50, amplitude_jitter=0.0)
    env = SafetyEnvelope(NaNInjection(world, start=5), SafetySettings())
    env.reset(seed=0)
    for _ in range(5):
        obs, *_ = env.step([0.02])
    amplitude = world.diagnostics()["amplitude"]
    obs2, reward, terminated, _, info = env.step([0.02])  # the world turns NaN on this step
    assert info["rolled_back"] and not terminated and np.array_equal(obs2, obs)
    assert world.diagnostics()["amplitude"] == amplitude and math.isfinite(amplitude)
    exact = math.exp(-0.02 * 0.5) + 0.02 / 0.02 * (1 - math.exp(-0.02 * 0.5))  # A(t=0.5) with a = 0.02
    assert amplitude == pytest.approx(exact, rel=1e-5)
    assert np.all(np.isfinite(env.observables())) and np.all(np.isfinite(env.field_tensor()))
