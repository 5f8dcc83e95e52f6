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

The agent never sees NaN/Inf or out-of-space observations: after a rollback it receives the
last safe observation, otherwise the observation is sanitised and clipped (and an event says so).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Callable, Mapping

import numpy as np

from atom_sdk.config import SafetySettings
from atom_sdk.safety import monitors as mon
from atom_sdk.safety.fallback import FallbackFn, safe_fallback_action
from atom_sdk.safety.proxy import WorldProxy
from atom_sdk.safety.report import MODES, SafetyLog

NOMINAL, GUARDED, FALLBACK_MODE, HALTED = 0, 1, 2, 3
#: the mode a breach of each response level puts the envelope in
_LEVEL_MODE = {mon.GUARD: GUARDED, mon.FALLBACK: FALLBACK_MODE, mon.ROLLBACK: FALLBACK_MODE, mon.HALT: HALTED}

TrustFn = Callable[[], "float | None"]


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


class SafetyEnvelope(WorldProxy):
    """Supervises a world: see the module docstring. Forwards the whole world protocol."""

    def __init__(self, world: Any, settings: SafetySettings | None = None, trust_fn: TrustFn | None = None,
                 fallback: FallbackFn | None = None, *, tuning: EnvelopeTuning | None = None) -> None:
        super().__init__(world)
        self.settings = settings or SafetySettings()
        self.tuning = tuning or EnvelopeTuning()
        self.enabled = bool(self.settings.enabled)
        self.trust_fn = trust_fn
        self.fallback = fallback
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
        self.limits = [mon.UpperLimit("stress", "max_stress", mon.SAFETY_STRESS_HIGH, s.max_stress, t.hard_factor),
                       mon.UpperLimit("speed", "max_speed", mon.SAFETY_SPEED, s.speed_max, t.hard_factor)]
        if lattice and mach is not None:
            self.limits.append(mon.UpperLimit("mach", "mach_max", mon.SAFETY_MACH, float(mach), t.hard_factor))
        self.density = mon.DensityRange(s.density_min, s.density_max, t.hard_factor)
        self.trust_monitor = mon.TrustMonitor(s.min_theory_trust)
        self.shift = mon.ShiftMonitor(s.shift_z_threshold, s.shift_warmup, t.shift_rel_floor, t.shift_abs_floor)
        self.actuator = mon.ActuatorMonitor(self.high - self.low, t.actuator_tolerance, t.actuator_patience)
        self.log = SafetyLog(t.max_events)
        self._trust_hook = getattr(world, "transform_trust", None)  # fault injection of trust (see faults)
        self._obs_low = np.asarray(world.observation_space.low, dtype=np.float64)
        self._obs_high = np.asarray(world.observation_space.high, dtype=np.float64)
        self._can_snapshot = callable(getattr(world, "snapshot", None)) and callable(getattr(world, "restore", None))
        self.mode = NOMINAL
        self.mode_reason: str | None = None
        self.theory_allowed = True
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
        out["thresholds"] = {**self.settings.model_dump(), **{k: v for k, v in asdict(self.tuning).items()},
                             "mach_limit": next((m.limit for m in self.limits if m.monitor == "mach"), None)}
        return out

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
            shift = self.shift.check(obs)
            if shift is not None:
                self._event(shift, "guard", mode_before)
                self.mode = max(self.mode, GUARDED)
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
        action_violations = 0
        obs_prev = self._last_obs if self._last_obs is not None else np.zeros(self.observation_space.shape)
        act = np.asarray(action, dtype=np.float64).reshape(self.low.shape)
        from_fallback = False

        # ---- review the action
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

        # ---- step the world and review its state
        obs, reward, terminated, truncated, info = self.env.step(act.astype(self.action_space.dtype))
        info = dict(info)
        diag = dict(info.get("diagnostics") or self.diagnostics())
        violations = self._review_state(obs, reward, diag, act, info)
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

        # ---- intervene on the state
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
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Inverse of ``state_dict``; the world's current state becomes the last safe snapshot."""
        self.mode = int(state["mode"])
        self.mode_reason = state["mode_reason"]
        self.theory_allowed = bool(state["theory_allowed"])
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
        v = self.shift.check(obs)
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
            self.theory_allowed = False
            self._trust_ok_streak = 0
        elif trust is not None:
            self._trust_ok_streak += 1
            if self._trust_ok_streak >= self.tuning.recovery_steps:
                self.theory_allowed = True
        return found

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
        if self.mode in (GUARDED, FALLBACK_MODE) and self._clean_streak >= self.tuning.recovery_steps:
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
