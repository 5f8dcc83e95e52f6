"""``SafetyEnvelope``: reviews every action before it reaches the world and every state after.

Escalating interventions, each tied to a mode:

=========  ==========================================================================
mode       what the envelope does to the agent's action
=========  ==========================================================================
nominal    nothing (out-of-bounds or too-fast actions are still clipped)
guarded    clip to a tighter box (``guard_action_fraction`` of the range); theory
           control/features withheld while trust is low
fallback   replace the action with the fallback policy (zero actuation, or a given
           theory-based controller while the theory is trusted)
halted     the episode has ended as ``unsafe`` (terminated=True, info["unsafe"]=True)
=========  ==========================================================================

A breach raises the mode at once (never lowers it). Rollback to the last safe snapshot
happens on NaN/Inf, on a hard breach (beyond ``hard_factor`` x threshold) or when a fallback-level
breach persists ``rollback_after`` steps in fallback mode; after ``max_rollbacks`` rollbacks in
one episode (or with no snapshot to return to) the episode is halted. Stepping down is slow on
purpose (hysteresis): ``recovery_steps`` consecutive clean steps lower the mode by one level,
so an alternating signal keeps the envelope up instead of flapping.

A persistent distribution shift stays flagged (``ShiftMonitor``): while it lasts the envelope stays
at least guarded and withholds the theory, until the shift goes away, the theory is re-validated on
the new regime (``ShiftRevalidation``: held-out trust back above ``min_theory_trust`` on post-shift
data) or an operator re-baselines (``rebaseline()``, or a request file in ``control_dir``, see
``atom_sdk.safety.control``); each re-baseline is an event in the log, with its source.

Speed and density limits the user did not configure follow the world's own scales
(``atom_sdk.safety.limits``).

The agent never sees NaN/Inf or out-of-space observations: after a rollback it receives the
last safe observation, otherwise the observation is sanitised and clipped (and an event says so).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

import gymnasium as gym
import numpy as np

from atom_sdk.config import SafetySettings
from atom_sdk.safety import monitors as mon
from atom_sdk.safety.control import take_request
from atom_sdk.safety.fallback import FallbackFn, safe_fallback_action
from atom_sdk.safety.limits import resolve_limits, world_scales
from atom_sdk.safety.proxy import WorldProxy
from atom_sdk.safety.report import MODES, SafetyLog

NOMINAL, GUARDED, FALLBACK_MODE, HALTED = 0, 1, 2, 3
#: the mode a breach of each response level puts the envelope in
_LEVEL_MODE = {mon.GUARD: GUARDED, mon.FALLBACK: FALLBACK_MODE, mon.ROLLBACK: FALLBACK_MODE, mon.HALT: HALTED}

TrustFn = Callable[[], "float | None"]
MAX_REBASELINE_RECORDS = 100


@dataclass(frozen=True)
class EnvelopeTuning:
    """Envelope behaviour beyond the thresholds in ``SafetySettings`` (defaults suit every built-in world)."""

    recovery_steps: int = 8  # consecutive clean steps to step the mode down one level
    hard_factor: float = 1.5  # a limit exceeded by this factor asks for rollback straight away
    rollback_after: int = 3  # fallback-level breaches in a row, in fallback mode, before rollback
    max_rollbacks: int = 3  # per episode; one more unsafe state halts the episode
    guard_action_fraction: float = 0.5  # guarded mode: actions limited to this fraction of the range
    mach_max: float | None = 0.3  # lattice Mach limit (LBM worlds only; None disables)
    lattice: bool | None = None  # apply the Mach limit; None: detect from a world id starting with 'lbm'
    shift_rel_floor: float = 0.05
    shift_abs_floor: float = 1e-3
    actuator_tolerance: float = 1e-3
    actuator_patience: int = 3
    max_events: int = 500
    shift_end_after: int = 8  # samples back within the old baseline that end a shift on its own
    revalidate_samples: int = 64  # post-shift samples before trust checks count towards re-validation
    revalidate_checks: int = 16  # consecutive trusted checks that re-validate the theory after a shift
    scale_speed_factor: float = 1.5  # default speed limit: this x the world's speed scale (at least 3)
    # default density limit: this x the world's densest steady flow (at least 8); ramping the wedge at its full
    # 3 deg/step up to detachment at Mach 8 peaks at 1.7x its steady ceiling, a transient, not a hazard
    scale_density_factor: float = 2.0


class SafetyEnvelope(WorldProxy, gym.utils.RecordConstructorArgs):
    """Supervises a world: see the module docstring. Forwards the whole world protocol.

    Its settings are recorded as constructor arguments, so the ``spec`` of an enveloped world can
    be made again with ``gymnasium.make(env.spec)`` (the trust function and fallback are the run's
    wiring, set by the runner, not part of the environment's definition).
    """

    def __init__(self, env: Any, settings: SafetySettings | None = None, trust_fn: TrustFn | None = None,
                 fallback: FallbackFn | None = None, *, tuning: EnvelopeTuning | None = None,
                 control_dir: str | Path | None = None) -> None:
        world = env  # ``env``: the name gymnasium.make passes a wrapper's inner environment under
        super().__init__(world)
        self.settings = settings or SafetySettings()
        self.tuning = tuning or EnvelopeTuning()
        gym.utils.RecordConstructorArgs.__init__(self, settings=self.settings, tuning=self.tuning,
                                                 control_dir=control_dir)
        self.enabled = bool(self.settings.enabled)
        self.trust_fn = trust_fn
        self.fallback = fallback
        #: folder polled once per step for operator requests (``atom_sdk.safety.control``); None: no channel
        self.control_dir: Path | None = Path(control_dir) if control_dir is not None else None
        t, s = self.tuning, self.settings
        self.low = np.asarray(world.action_space.low, dtype=np.float64)
        self.high = np.asarray(world.action_space.high, dtype=np.float64)
        centre, half = (self.low + self.high) / 2.0, (self.high - self.low) / 2.0
        self.guard_low = centre - t.guard_action_fraction * half
        self.guard_high = centre + t.guard_action_fraction * half
        self.max_action_rate = getattr(s, "max_action_rate", None)
        world_id = str(getattr(world.unwrapped, "world_id", getattr(world, "world_id", "")))
        lattice = t.lattice if t.lattice is not None else world_id.startswith("lbm")
        mach = getattr(s, "mach_max", None) or t.mach_max
        self.resolved = resolve_limits(s, world_scales(world), speed_factor=t.scale_speed_factor,
                                       density_factor=t.scale_density_factor)
        r = self.resolved
        self.limits = [mon.UpperLimit("stress", "max_stress", mon.SAFETY_STRESS_HIGH, s.max_stress, t.hard_factor),
                       mon.UpperLimit("speed", "max_speed", mon.SAFETY_SPEED, r.speed_max, t.hard_factor)]
        if lattice and mach is not None:
            self.limits.append(mon.UpperLimit("mach", "mach_max", mon.SAFETY_MACH, float(mach), t.hard_factor))
        self.density = mon.DensityRange(r.density_min, r.density_max, t.hard_factor)
        self.trust_monitor = mon.TrustMonitor(s.min_theory_trust)
        self.shift = mon.ShiftMonitor(s.shift_z_threshold, s.shift_warmup, t.shift_rel_floor, t.shift_abs_floor,
                                      end_after=t.shift_end_after)
        self.revalidation = mon.ShiftRevalidation(s.min_theory_trust, t.revalidate_samples, t.revalidate_checks)
        self.actuator = mon.ActuatorMonitor(self.high - self.low, t.actuator_tolerance, t.actuator_patience)
        self.log = SafetyLog(t.max_events)
        self._trust_hook = getattr(world, "transform_trust", None)  # fault injection of trust (see faults)
        self._obs_low = np.asarray(world.observation_space.low, dtype=np.float64)
        self._obs_high = np.asarray(world.observation_space.high, dtype=np.float64)
        self._can_snapshot = callable(getattr(world, "snapshot", None)) and callable(getattr(world, "restore", None))
        self.mode = NOMINAL
        self.mode_reason: str | None = None
        self.theory_allowed = True  # trust allows the theory and no distribution shift is active
        self._trust_allows = True
        self.rebaselines: list[dict[str, Any]] = []  # every re-baseline: step, source, who, note (for the report)
        self.last_trust: float | None = None
        self.total_steps = 0
        self.episode = -1
        self._clean_streak = 0
        self._trust_ok_streak = 0
        self._fallback_streak = 0
        self._rollbacks_episode = 0
        self._prev_action: np.ndarray | None = None
        self._last_obs: np.ndarray | None = None
        self._safe: tuple[Any, np.ndarray, dict[str, float]] | None = None
        self._step_events: list[dict[str, Any]] = []

    # ------------------------------------------------------------------ public state
    @property
    def mode_name(self) -> str:
        return MODES[self.mode]

    def report(self) -> dict[str, Any]:
        """The safety section of ``results.json``."""
        if not self.enabled:
            return {"enabled": False}
        out: dict[str, Any] = {"enabled": True, "mode": self.mode_name}
        out.update(self.log.report())
        r = self.resolved
        out["thresholds"] = {**self.settings.model_dump(), **{k: v for k, v in asdict(self.tuning).items()},
                             "mach_limit": next((m.limit for m in self.limits if m.monitor == "mach"), None),
                             "speed_max": r.speed_max, "density_min": r.density_min, "density_max": r.density_max,
                             "limit_sources": dict(r.source), "world_scales": dict(r.scales)}
        out["shift"] = {"active": self.shift.active, "onset_step": self.shift.onset,
                        "post_shift_samples": self.shift.post.count if self.shift.active else 0,
                        "rebaselines": [dict(r) for r in self.rebaselines]}
        return out

    def rebaseline(self, source: str = "operator", note: str | None = None, who: str | None = None,
                   **extra: Any) -> dict[str, Any]:
        """Re-baseline the shift monitor on the current regime and record it (who, why, when).

        With a shift active its post-shift samples become the baseline; otherwise the monitor learns
        a fresh baseline from the next ``shift_warmup`` samples. Either way the theory is no longer
        withheld for the shift (trust still decides). Returns the event written to the log.
        """
        info = self.shift.rebaseline()
        self.revalidation.streak = 0
        self.theory_allowed = self._trust_allows
        event = self._make_event("shift", mon.SAFETY_REBASELINE, float(info["post_shift_samples"]), None,
                                 "rebaseline", self.mode)
        event["detail"] = {"source": source, "who": who, "note": note, **info, **extra}
        event["mode_after"] = self.mode_name
        self.log.add(event)
        if len(self.rebaselines) < MAX_REBASELINE_RECORDS:
            self.rebaselines.append({"step": event["step"], "episode": event["episode"], **event["detail"]})
        return event

    def drain_events(self) -> list[dict[str, Any]]:
        """New events since the last call (the runner writes them to telemetry)."""
        return self.log.drain()

    # ------------------------------------------------------------------ Gymnasium API
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        obs, info = self.env.reset(seed=seed, options=options)
        if not self.enabled:
            return obs, info
        self.episode += 1
        self._rollbacks_episode = 0
        self._prev_action = None
        self._fallback_streak = 0
        self.actuator.streak = 0
        mode_before = self.mode
        if self.mode == HALTED:
            self.mode = GUARDED  # a new episode after an unsafe end starts cautious, not nominal
        self._step_events = []
        bad = mon.check_nonfinite("observation", obs, level=mon.HALT)
        if bad is not None:
            self._event(bad, "sanitize", mode_before, detail={"sanitized": True, "at": "reset"})
        else:
            shift = self._check_shift(obs, mode_before)
            if shift is not None:
                self._event(shift, "guard", mode_before)
                self.mode = max(self.mode, GUARDED)
            self.theory_allowed = self._trust_allows and not self.shift.active
        clean_obs, changed = self._sanitize_obs(obs)
        if changed and bad is None:
            self._event(mon.Violation("observation", mon.SAFETY_OBS_BOUNDS, None, None, mon.GUARD),
                        "sanitize", mode_before, detail={"sanitized": True, "at": "reset"})
        diag = dict(info.get("diagnostics") or self.diagnostics())
        if bad is None:
            self._remember_safe(clean_obs, diag)
        self._last_obs = clean_obs
        self._commit(mode_before, count_step=False)
        info = dict(info)
        info["safety"] = {"mode": self.mode_name}
        return clean_obs, info

    def step(self, action: Any):
        if not self.enabled:
            return self.env.step(action)
        mode_before = self.mode
        self._step_events = []
        if self.control_dir is not None:
            self._poll_control()
        act, action_violations = self._review_action(action, mode_before)

        # ---- step the world and review its state
        obs, reward, terminated, truncated, info = self.env.step(act.astype(self.action_space.dtype))
        info = dict(info)
        diag = dict(info.get("diagnostics") or self.diagnostics())
        violations = self._review_state(obs, reward, diag, act, info)
        top, decision = self._decide(violations, mode_before)

        # ---- intervene on the state
        obs, diag, terminated, unsafe = self._intervene(decision, violations, obs, diag, info, terminated)
        reward = float(reward)
        if not math.isfinite(reward):
            reward = 0.0
        clean_obs, changed = self._sanitize_obs(obs)
        if changed:
            self._event(mon.Violation("observation", mon.SAFETY_OBS_BOUNDS, None, None, mon.GUARD), "sanitize",
                        mode_before, detail={"sanitized": True})
        if decision is None and top < mon.FALLBACK:
            self._remember_safe(clean_obs, diag)

        # ---- hysteresis and bookkeeping
        clean = not violations and action_violations == 0 and not changed
        self._step_down_if_recovered(clean, mode_before)
        self._prev_action = act
        self._last_obs = clean_obs
        step_events = list(self._step_events)
        self._commit(mode_before, count_step=True)
        self.total_steps += 1
        info["unsafe"] = unsafe
        info["safety"] = {"mode": self.mode_name, "interventions": [e["intervention"] for e in step_events],
                          "reasons": [e["reason"] for e in step_events]}
        return clean_obs, reward, bool(terminated), bool(truncated), info

    def _review_action(self, action: Any, mode_before: int) -> tuple[np.ndarray, int]:
        """The action the world receives (fallback, clipped or as given) and how many action breaches."""
        action_violations = 0
        obs_prev = self._last_obs if self._last_obs is not None else np.zeros(self.observation_space.shape)
        act = np.asarray(action, dtype=np.float64).reshape(self.low.shape)
        from_fallback = False
        bad = mon.check_nonfinite("action", act, level=mon.FALLBACK)
        if bad is not None:
            act, source = safe_fallback_action(self._theory_fallback(), obs_prev, self.low, self.high)
            self._event(bad, "fallback", mode_before, detail={"fallback": source})
            self._raise_mode(FALLBACK_MODE, bad.reason)
            action_violations += 1
            from_fallback = True
        else:
            act, v = mon.check_action_bounds(act, self.low, self.high)
            if v is not None:
                self._event(v, "clip", mode_before)
                self._raise_mode(GUARDED, v.reason)
                action_violations += 1
        if not from_fallback and self.mode >= FALLBACK_MODE:
            act, source = safe_fallback_action(self._theory_fallback(), obs_prev, self.low, self.high)
            self._mode_event("fallback", mode_before, {"fallback": source})
            from_fallback = True
        elif not from_fallback and self.mode == GUARDED:
            guarded = np.clip(act, self.guard_low, self.guard_high)
            if not np.array_equal(guarded, act):
                self._mode_event("clip", mode_before, {"box": [self.guard_low.tolist(), self.guard_high.tolist()]})
                act = guarded
        if not from_fallback:
            act, v = mon.check_action_rate(act, self._prev_action, self.max_action_rate)
            if v is not None:
                self._event(v, "clip", mode_before)
                self._raise_mode(GUARDED, v.reason)
                action_violations += 1
        return act, action_violations

    def _decide(self, violations: list[mon.Violation], mode_before: int) -> tuple[int, str | None]:
        """The highest breach level and the state intervention it calls for ("rollback", "halt" or None)."""
        top = max((v.level for v in violations), default=0)
        self._fallback_streak = self._fallback_streak + 1 if top >= mon.FALLBACK else 0
        persistent = (top == mon.FALLBACK and mode_before >= FALLBACK_MODE
                      and self._fallback_streak >= self.tuning.rollback_after)
        decision = None
        if top >= mon.ROLLBACK or persistent:
            decision = "rollback" if (self._safe is not None and
                                      self._rollbacks_episode < self.tuning.max_rollbacks) else "halt"
        for v in violations:  # trust breaches are GUARD level: they never raise the mode past guarded
            self._event(v, self._intervention_for(v, decision), mode_before)
            self._raise_mode(_LEVEL_MODE[min(v.level, mon.ROLLBACK)], v.reason)
        return top, decision

    def _intervene(self, decision: str | None, violations: list[mon.Violation], obs: Any, diag: dict[str, float],
                   info: dict[str, Any], terminated: bool) -> tuple[Any, dict[str, float], bool, bool]:
        """Roll back to the last safe state or halt; returns (obs, diagnostics, terminated, unsafe)."""
        unsafe = False
        if decision is not None and self._safe is not None:
            snapshot, safe_obs, safe_diag = self._safe
            self.env.restore(snapshot)
            obs, diag = safe_obs.copy(), dict(safe_diag)
            info["diagnostics"] = dict(safe_diag)
            info["rolled_back"] = True
            self._fallback_streak = 0
        if decision == "rollback":
            self._rollbacks_episode += 1
            self._raise_mode(FALLBACK_MODE, self.mode_reason)
            terminated = False  # the world's own divergence flag refers to the state that was undone
        elif decision == "halt":
            unsafe = True
            terminated = True
            self.mode = HALTED
            self.mode_reason = max(violations, key=lambda v: v.level).reason
            self.log.unsafe_episodes += 1
        return obs, diag, terminated, unsafe

    # ------------------------------------------------------------------ world protocol
    def observables(self) -> np.ndarray:
        x = super().observables()
        return x if np.all(np.isfinite(x)) else np.nan_to_num(x, nan=0.0, posinf=0.0, neginf=0.0)

    def field_tensor(self) -> np.ndarray:
        x = super().field_tensor()
        return x if np.all(np.isfinite(x)) else np.nan_to_num(x, nan=0.0, posinf=0.0, neginf=0.0)

    def restore(self, snapshot: Any) -> None:
        """Restore the world (e.g. from a checkpoint); the restored state becomes the safe snapshot."""
        self.env.restore(snapshot)  # type: ignore[attr-defined]
        if self._last_obs is not None:
            self._safe = (snapshot, self._last_obs.copy(), self.diagnostics())

    # ------------------------------------------------------------------ checkpointing
    def state_dict(self) -> dict[str, Any]:
        """JSON-able state (the world's own state is checkpointed by the runner through ``snapshot``)."""
        return {
            "mode": self.mode, "mode_reason": self.mode_reason, "theory_allowed": self.theory_allowed,
            "last_trust": self.last_trust, "total_steps": self.total_steps, "episode": self.episode,
            "clean_streak": self._clean_streak, "trust_ok_streak": self._trust_ok_streak,
            "fallback_streak": self._fallback_streak, "rollbacks_episode": self._rollbacks_episode,
            "prev_action": None if self._prev_action is None else self._prev_action.tolist(),
            "last_obs": None if self._last_obs is None else self._last_obs.tolist(),
            "shift": self.shift.state_dict(), "actuator_streak": self.actuator.streak, "log": self.log.state_dict(),
            "trust_allows": self._trust_allows, "revalidation_streak": self.revalidation.streak,
            "rebaselines": [dict(r) for r in self.rebaselines],
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Inverse of ``state_dict``; the world's current state becomes the last safe snapshot."""
        self.mode = int(state["mode"])
        self.mode_reason = state["mode_reason"]
        self.theory_allowed = bool(state["theory_allowed"])
        self._trust_allows = bool(state.get("trust_allows", self.theory_allowed))
        self.revalidation.streak = int(state.get("revalidation_streak", 0))
        self.rebaselines = [dict(r) for r in state.get("rebaselines", [])]
        self.last_trust = state["last_trust"]
        self.total_steps = int(state["total_steps"])
        self.episode = int(state["episode"])
        self._clean_streak = int(state["clean_streak"])
        self._trust_ok_streak = int(state["trust_ok_streak"])
        self._fallback_streak = int(state["fallback_streak"])
        self._rollbacks_episode = int(state["rollbacks_episode"])
        prev = state["prev_action"]
        self._prev_action = None if prev is None else np.asarray(prev, dtype=np.float64).reshape(self.low.shape)
        last = state["last_obs"]
        self._last_obs = None if last is None else np.asarray(last, dtype=self.observation_space.dtype)
        self.shift.load_state_dict(state["shift"])
        self.actuator.streak = int(state["actuator_streak"])
        self.log.load_state_dict(state["log"])
        if self._can_snapshot and self._last_obs is not None:
            try:
                self._safe = (self.env.snapshot(), self._last_obs.copy(), self.diagnostics())  # type: ignore[attr-defined]
            except Exception:  # no state yet: the next clean step sets one
                self._safe = None

    # ------------------------------------------------------------------ internals
    def _review_state(self, obs: Any, reward: Any, diag: dict[str, float], act: np.ndarray,
                      info: dict[str, Any]) -> list[mon.Violation]:
        found: list[mon.Violation] = []
        for where, values in (("observation", obs), ("reward", reward), ("diagnostics", diag)):
            v = mon.check_nonfinite(where, values)
            if v is not None:
                found.append(v)
        for limit in self.limits:
            v = limit.check(diag)
            if v is not None:
                found.append(v)
        v = self.density.check(diag)
        if v is not None:
            found.append(v)
        v = self._check_shift(obs, self.mode)
        if v is not None:
            found.append(v)
        v = self.actuator.check(act, info.get("applied_action"))
        if v is not None:
            found.append(v)
        trust = self._trust()
        self.last_trust = trust
        v = self.trust_monitor.check(trust)
        if v is not None:
            found.append(v)
            self._trust_allows = False
            self._trust_ok_streak = 0
        elif trust is not None:
            self._trust_ok_streak += 1
            if self._trust_ok_streak >= self.tuning.recovery_steps:
                self._trust_allows = True
        if self.shift.active and self.revalidation.update(trust, self.shift.post.count):
            self.rebaseline("revalidation", trust=trust, checks=self.revalidation.checks,
                            min_samples=self.revalidation.min_samples)
        elif not self.shift.active:
            self.revalidation.streak = 0
        self.theory_allowed = self._trust_allows and not self.shift.active
        return found

    def _check_shift(self, obs: Any, mode_before: int) -> mon.Violation | None:
        """The shift monitor's verdict; a shift that went away on its own is recorded (not a breach)."""
        onset = self.shift.onset
        was_active = self.shift.active
        v = self.shift.check(obs, step=self.total_steps)
        if was_active and not self.shift.active:
            event = self._make_event("shift", mon.SAFETY_SHIFT, None, self.shift.threshold, "shift_ended",
                                     mode_before)
            event["detail"] = {"onset_step": onset, "back_samples": self.shift.end_after}
            self._step_events.append(event)
        return v

    def _poll_control(self) -> None:
        """Take an operator's request from ``control_dir`` (once) and act on it."""
        request = take_request(self.control_dir)
        if request is None:
            return
        if "rejected" in request:
            event = self._make_event("control", mon.SAFETY_CONTROL_REJECTED, None, None, "ignored", self.mode)
            event["detail"] = {"why": request["rejected"], "folder": str(self.control_dir)}
            event["mode_after"] = self.mode_name
            self.log.add(event)
            return
        self.rebaseline(str(request["source"]), request.get("note"), request.get("who"),
                        requested_at=request.get("requested_at"))

    def _intervention_for(self, v: mon.Violation, decision: str | None) -> str:
        if v.reason == mon.SAFETY_TRUST_LOW:
            return "restrict_theory"
        if decision is not None and v.level >= mon.FALLBACK:
            return decision
        return {mon.GUARD: "guard", mon.FALLBACK: "fallback"}.get(v.level, "fallback")

    def _trust(self) -> float | None:
        trust = self.trust_fn() if self.trust_fn is not None else None
        if self._trust_hook is not None:
            trust = self._trust_hook(trust)
        return None if trust is None else float(trust)

    def _theory_fallback(self) -> FallbackFn | None:
        """The given fallback controller, unless theory is currently distrusted (then zero actuation)."""
        return self.fallback if self.theory_allowed else None

    def _sanitize_obs(self, obs: Any) -> tuple[np.ndarray, bool]:
        space = self.observation_space
        raw = np.asarray(obs, dtype=np.float64).reshape(space.shape)
        finite = np.all(np.isfinite(raw))
        inside = finite and np.all(raw >= self._obs_low) and np.all(raw <= self._obs_high)
        if inside:
            return np.asarray(obs, dtype=space.dtype).reshape(space.shape), False
        fixed = np.nan_to_num(raw, nan=0.0, posinf=0.0, neginf=0.0)
        fixed = np.clip(fixed, self._obs_low, self._obs_high)
        return fixed.astype(space.dtype), True

    def _remember_safe(self, obs: np.ndarray, diag: dict[str, float]) -> None:
        if self._can_snapshot:
            self._safe = (self.env.snapshot(), obs.copy(), dict(diag))  # type: ignore[attr-defined]

    def _raise_mode(self, mode: int, reason: str | None) -> None:
        if mode > self.mode:
            self.mode = mode
            self.mode_reason = reason
            self._clean_streak = 0

    def _step_down_if_recovered(self, clean: bool, mode_before: int) -> None:
        if not clean:
            self._clean_streak = 0
            return
        self._clean_streak += 1
        floor = GUARDED if self.shift.active else NOMINAL  # a shift holds the envelope guarded while it lasts
        if (self.mode in (GUARDED, FALLBACK_MODE) and self.mode - 1 >= floor
                and self._clean_streak >= self.tuning.recovery_steps):
            self.mode -= 1
            self._clean_streak = 0
            self._step_events.append(self._make_event("hysteresis", "SAFETY_RECOVERED", self.tuning.recovery_steps,
                                                      self.tuning.recovery_steps, "step_down", mode_before))

    def _event(self, v: mon.Violation, intervention: str, mode_before: int,
               detail: dict[str, Any] | None = None) -> None:
        event = self._make_event(v.monitor, v.reason, v.value, v.threshold, intervention, mode_before)
        merged = {**v.detail, **(detail or {})}
        if merged:
            event["detail"] = merged
        self._step_events.append(event)

    def _mode_event(self, intervention: str, mode_before: int, detail: dict[str, Any]) -> None:
        event = self._make_event("mode", self.mode_reason or "SAFETY_MODE", None, None, intervention, mode_before)
        event["detail"] = detail
        self._step_events.append(event)

    def _make_event(self, monitor: str, reason: str, value: float | None, threshold: float | None,
                    intervention: str, mode_before: int) -> dict[str, Any]:
        clean = None if value is None or not math.isfinite(float(value)) else float(value)
        return {"step": self.total_steps, "episode": self.episode, "monitor": monitor, "reason": reason,
                "value": clean, "threshold": threshold, "intervention": intervention,
                "mode_before": MODES[mode_before], "mode_after": None}

    def _commit(self, mode_before: int, *, count_step: bool) -> None:
        del mode_before
        for event in self._step_events:
            event["mode_after"] = self.mode_name
            self.log.add(event)
        intervened = self.log.count_interventions({e["intervention"] for e in self._step_events})
        self._step_events = []
        if count_step:
            self.log.end_step(self.mode_name, intervened)
