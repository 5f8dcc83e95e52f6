"""The supersonic challenge: steer an oblique shock to a moving target angle on the wedge world.

A target shock angle follows a schedule of holds, steps and ramps inside the attached-shock range
of the free-stream Mach number. A PI controller with theta-beta-Mach feed-forward turns the error
between target and *measured* shock angle into a wedge-deflection command:

    theta_cmd = theta_ff(beta_target) + Kp e + Ki sum(e),   e = beta_target - beta_measured

(anti-windup: the integral freezes while the command saturates). The run is audited:

    MAE   = mean over steps of |beta_target - beta_measured|  (a step with no measurement counts 10 deg)
    score = 100 * exp(-MAE / 5 deg) * 0.95 ** safety_violations      (0..100, higher is better)

``run_supersonic_challenge`` is the job the CLI and the HTTP API drive; it accepts a control
callable and/or ``threading.Event`` objects for pause/resume/cancel and reports a timeline.
``controller="agent"`` replaces the PI controller by the SDK's closed loop, trained on the
schedule for a stated budget first (``atom_sdk.design.challenge_agent``), then run through the
same loop, audit and score.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from atom_sdk.errors import AtomError, ConfigError

AUDIT_FILE = "challenge_audit.json"
FIGURE_FILE = "challenge_field.png"
MISSING_ERROR_DEG = 10.0
SCORE_SCALE_DEG = 5.0
VIOLATION_FACTOR = 0.95
SCORE_FORMULA = "score = 100 * exp(-MAE / 5 deg) * 0.95 ** safety_violations; MAE counts a missing measurement as 10 deg"

#: (fraction of the run where the segment starts, kind, shock angle at start, at end); angles in degrees.
DEFAULT_SCHEDULE: tuple[tuple[float, str, float, float], ...] = (
    (0.00, "hold", 40.0, 40.0),
    (0.20, "step", 45.0, 45.0),
    (0.40, "ramp", 45.0, 52.0),
    (0.65, "step", 38.0, 38.0),
    (0.85, "hold", 42.0, 42.0),
)


# ---------------------------------------------------------------------------- target schedule
@dataclass(frozen=True)
class Segment:
    start: float  # fraction of the run
    kind: str     # hold | step | ramp
    begin: float  # target at the start of the segment (deg)
    end: float    # target at its end (deg); equals begin for holds and steps


def make_schedule(segments: Sequence[Sequence[Any]] | None = None) -> list[Segment]:
    segs = [Segment(float(s[0]), str(s[1]), float(s[2]), float(s[3])) for s in (segments or DEFAULT_SCHEDULE)]
    if not segs or segs[0].start != 0.0 or any(b.start <= a.start for a, b in zip(segs, segs[1:])):
        raise ConfigError("a challenge schedule needs segments with increasing start fractions, the first at 0")
    return segs


def segment_index(schedule: list[Segment], step: int, steps: int) -> int:
    frac = step / max(steps, 1)
    return max(i for i, s in enumerate(schedule) if s.start <= frac)


def target_at(schedule: list[Segment], step: int, steps: int) -> float:
    """Target shock angle at ``step`` of ``steps`` (ramps interpolate linearly)."""
    frac = step / max(steps, 1)
    index = segment_index(schedule, step, steps)
    seg = schedule[index]
    stop = schedule[index + 1].start if index + 1 < len(schedule) else 1.0
    alpha = (frac - seg.start) / max(stop - seg.start, 1e-12)
    return seg.begin + (seg.end - seg.begin) * min(max(alpha, 0.0), 1.0)


def check_schedule(schedule: list[Segment], mach: float, margin: float = 1.0) -> tuple[float, float]:
    """Refuse targets outside the attached weak-shock range (Mach angle, beta at max deflection)."""
    from atom_sdk.worlds.gasdynamics import beta_at_max_deflection, mach_angle

    lo, hi = mach_angle(mach) + margin, beta_at_max_deflection(mach) - margin
    for seg in schedule:
        for value in (seg.begin, seg.end):
            if not lo <= value <= hi:
                raise ConfigError(f"target shock angle {value:g} deg is not attainable at Mach {mach:g}; keep targets "
                                  f"within [{lo:.1f}, {hi:.1f}] deg (attached weak shocks)")
    return lo, hi


# ---------------------------------------------------------------------------- controller
@dataclass
class PIController:
    """PI on the shock-angle error with theta-beta-Mach feed-forward and anti-windup.

    The shock answers a wedge change only after the flow has re-converged (tens of steps on the
    wedge world), so the loop is slow and lagged: the feed-forward does the large moves, the P term
    is small, and the integral (conditional integration) only accumulates while the error is inside
    ``band`` degrees, i.e. near steady state, where it removes the model's bias. Its contribution is
    capped at ``integral_limit`` degrees of wedge.
    """

    mach: float
    kp: float = 0.05
    ki: float = 0.02
    feedforward: bool = True
    theta_min: float = 0.0
    theta_max: float = 20.0
    band: float = 2.0
    integral_limit: float = 3.0
    integral: float = 0.0

    def command(self, target: float, measured: float | None, ahead: float | None = None) -> float:
        """Wedge angle for ``target``; ``ahead`` (a later target of a known schedule) feeds forward."""
        from atom_sdk.worlds.gasdynamics import wedge_angle_for_shock

        ff = wedge_angle_for_shock(self.mach, target if ahead is None else ahead) if self.feedforward else 0.0
        if measured is None or not math.isfinite(measured):
            return float(np.clip(ff + self.ki * self.integral, self.theta_min, self.theta_max))
        error = target - measured
        raw = ff + self.kp * error + self.ki * (self.integral + error)
        if abs(error) <= self.band and self.theta_min < raw < self.theta_max:  # anti-windup
            cap = self.integral_limit / self.ki if self.ki > 0 else 0.0
            self.integral = float(np.clip(self.integral + error, -cap, cap))
        return float(np.clip(ff + self.kp * error + self.ki * self.integral, self.theta_min, self.theta_max))


# ---------------------------------------------------------------------------- world adapter
@dataclass(frozen=True)
class WedgeInterface:
    """How the challenge reads the wedge world: diagnostic names and the action's meaning.

    ``action`` is "rate" (a change in degrees per step, bounded by the action space: the
    ``supersonic:wedge`` world) or "angle" (the action is the wedge angle in degrees).
    """

    shock_key: str = "shock_angle"
    wedge_key: str = "wedge_angle"
    action: str = "rate"
    field: str = "density"


class ScriptedControl:
    """The PI controller behind the loop's one interface: ``act`` returns (env action, wedge command)."""

    kind = "scripted"

    def __init__(self, pi: PIController, world: Any, iface: WedgeInterface) -> None:
        self.pi, self.world, self.iface = pi, world, iface

    def act(self, step: int, target: float, ahead: float, measured: float | None, theta_now: float,
            obs: Any) -> tuple[np.ndarray, float]:
        theta_cmd = self.pi.command(target, measured, ahead)
        return _action_for(self.world, self.iface, theta_cmd, theta_now), theta_cmd

    def close(self) -> None:
        """Nothing to release."""


class HoldControl(ScriptedControl):
    """Do nothing: keep the wedge where it started. The floor a controller has to beat."""

    kind = "hold"

    def act(self, step: int, target: float, ahead: float, measured: float | None, theta_now: float,
            obs: Any) -> tuple[np.ndarray, float]:
        return _action_for(self.world, self.iface, theta_now, theta_now), theta_now


def _action_for(world: Any, iface: WedgeInterface, theta_cmd: float, theta_now: float) -> np.ndarray:
    shape = world.action_space.shape
    value = theta_cmd if iface.action == "angle" else theta_cmd - theta_now
    low, high = float(np.min(world.action_space.low)), float(np.max(world.action_space.high))
    return np.full(shape, float(np.clip(value, low, high)))


def _finite(value: Any) -> float | None:
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


# ---------------------------------------------------------------------------- the job
class _Hooks:
    """Pause/resume/cancel from a control callable and/or events; records the timeline."""

    def __init__(self, control: Callable[[int], str | None] | None, pause_event: Any, cancel_event: Any,
                 on_event: Callable[[dict[str, Any]], None] | None, poll: float) -> None:
        self.control, self.pause_event, self.cancel_event = control, pause_event, cancel_event
        self.on_event, self.poll = on_event, poll
        self.timeline: list[dict[str, Any]] = []
        self._start = time.monotonic()

    def emit(self, kind: str, step: int, **detail: Any) -> None:
        event = {"kind": kind, "step": step, "elapsed_s": round(time.monotonic() - self._start, 4), **detail}
        self.timeline.append(event)
        if self.on_event is not None:
            self.on_event(event)

    def _state(self, step: int) -> str:
        if self.cancel_event is not None and self.cancel_event.is_set():
            return "cancel"
        command = self.control(step) if self.control is not None else None
        if command in ("cancel", "pause"):
            return command
        if self.pause_event is not None and self.pause_event.is_set():
            return "pause"
        return "run"

    def gate(self, step: int) -> bool:
        """Block while paused; False when the job is cancelled."""
        state = self._state(step)
        if state == "pause":
            self.emit("paused", step)
            while state == "pause":
                time.sleep(self.poll)
                state = self._state(step)
            if state == "run":
                self.emit("resumed", step)
        if state == "cancel":
            self.emit("cancelled", step)
            return False
        return True


def default_world(mach: float, grid: tuple[int, int, int], steps: int, params: dict[str, Any]) -> Any:
    from atom_sdk.worlds import make

    return make("supersonic:wedge", grid=grid, max_episode_steps=steps + 1, mach=mach, **params)


def _theory_angle(mach: float, theta: float | None) -> float | None:
    """The oblique-shock angle theory gives for wedge angle ``theta`` (None when detached or unknown)."""
    from atom_sdk.worlds.gasdynamics import shock_angle

    try:
        return shock_angle(mach, theta) if theta is not None else None
    except AtomError:  # e.g. a detached shock
        return None


def _note_safety(info: dict[str, Any], step: int, violations: list[dict[str, Any]], hooks: _Hooks) -> bool:
    """Record a hazardous step as a violation; True when the envelope only left a benign notice."""
    from atom_sdk.design.evaluate import BENIGN_SAFETY_REASONS

    reasons = list((info.get("safety") or {}).get("reasons", []))
    hazards = [r for r in reasons if r not in BENIGN_SAFETY_REASONS]
    if hazards or info.get("unsafe"):
        violations.append({"step": step + 1, "reasons": hazards or ["SAFETY_UNSAFE_EPISODE"],
                           "interventions": (info.get("safety") or {}).get("interventions", [])})
        hooks.emit("safety", step + 1, reasons=hazards, unsafe=bool(info.get("unsafe")))
        return False
    return bool(reasons)


def _steer(runner: Any, base: Any, iface: WedgeInterface, controller: Any, sched: list[Segment],
           steps: int, preview: int, mach: float, hooks: _Hooks, diag: dict[str, Any], obs: Any,
           on_step: Callable[[int, int, dict[str, Any]], None] | None,
           ) -> tuple[dict[str, list[Any]], list[dict[str, Any]], int, str]:
    """The control loop: trajectory, safety violations, benign envelope notices and how the run ended."""
    traj: dict[str, list[Any]] = {k: [] for k in ("target", "measured", "theory", "wedge_angle", "command", "error")}
    violations: list[dict[str, Any]] = []
    notices = 0  # benign envelope events (distribution shift, trust): reported, not penalised
    status = "completed"
    last_segment = -1
    for step in range(steps):
        if not hooks.gate(step):
            status = "cancelled"
            break
        target = target_at(sched, step, steps)
        segment = segment_index(sched, step, steps)
        if segment != last_segment:
            hooks.emit("target", step, target=round(target, 4), segment=segment, segment_kind=sched[segment].kind)
        last_segment = segment
        measured = _finite(diag.get(iface.shock_key))
        theta_now = _finite(diag.get(iface.wedge_key)) or 0.0
        ahead = target_at(sched, min(step + preview, steps), steps)
        action, theta_cmd = controller.act(step, target, ahead, measured, theta_now, obs)
        obs, _, terminated, truncated, info = runner.step(action)
        diag = info.get("diagnostics") or base.diagnostics()
        measured = _finite(diag.get(iface.shock_key))
        theta = _finite(diag.get(iface.wedge_key))
        theory = _theory_angle(mach, theta)
        error = abs(target - measured) if measured is not None else None
        for key, value in (("target", target), ("measured", measured), ("theory", theory), ("wedge_angle", theta),
                           ("command", theta_cmd), ("error", error)):
            traj[key].append(value)
        notices += _note_safety(info, step, violations, hooks)
        if on_step is not None:
            on_step(step + 1, steps, {"target": target, "measured": measured, "wedge_angle": theta})
        if info.get("diverged") or terminated:
            status = "terminated"
            hooks.emit("terminated", step + 1, reason="world diverged or the envelope stopped the episode")
            break
    return traj, violations, notices, status


def _safety_outcome(envelope: Any, violations: list[dict[str, Any]],
                    notices: int) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """Violations (from the envelope's own report when the loop saw none) and the safety summary."""
    from atom_sdk.design.evaluate import safety_events, safety_summary

    full_report = envelope.report() if envelope is not None and hasattr(envelope, "report") else None
    if full_report is not None and not violations:
        violations = [{"step": e.get("step"), "reasons": [e.get("reason")]} for e in safety_events(full_report)]
    safety_report = safety_summary(full_report)
    if safety_report is not None:
        safety_report["benign_notices"] = notices
    return violations, safety_report


def run_supersonic_challenge(
    steps: int = 300, output_dir: str | Path = "challenge_results", seed: int = 0, *,
    mach: float = 2.0, grid: tuple[int, int, int] = (64, 48, 1), world_params: dict[str, Any] | None = None,
    world: Any | None = None, interface: WedgeInterface | None = None,
    schedule: Sequence[Sequence[Any]] | None = None, kp: float = 0.05, ki: float = 0.02,
    feedforward: bool = True, preview: int = 12, use_safety: bool = True, figure: bool = True,
    controller: str = "scripted", agent_budget: Any = None,
    control: Callable[[int], str | None] | None = None, pause_event: Any = None, cancel_event: Any = None,
    on_event: Callable[[dict[str, Any]], None] | None = None,
    on_step: Callable[[int, int, dict[str, Any]], None] | None = None,
    on_train: Callable[[int, int, dict[str, Any]], None] | None = None, poll_seconds: float = 0.05,
    overwrite: bool = False, reuse: bool = False,
) -> dict[str, Any]:
    """Run the challenge, write ``challenge_audit.json`` (+ the figure), return the audit.

    ``controller`` is "scripted" (the PI controller), "agent" (the closed loop, first trained for
    ``agent_budget``, an ``AgentBudget``, on the schedule; ``on_train(step, total, info)`` follows
    its training) or "hold" (no control: the do-nothing floor). ``world`` replaces the default ``supersonic:wedge`` world for the scripted
    controller (tests pass a small stand-in); ``control(step)`` may return "pause", "cancel" or
    None; ``pause_event``/``cancel_event`` are ``threading.Event``-like (``is_set()``); ``on_event``
    receives each timeline event as it happens. The output folder is checked first (an existing
    one is replaced only with ``overwrite``; ``reuse`` writes into a folder the SDK already owns)
    and written only at the end.
    """
    from atom_sdk.config import canonical_value
    from atom_sdk.design.challenge_agent import AgentBudget, check_controller
    from atom_sdk.provenance import provenance
    from atom_sdk.workspace import output_folder, plan_output

    check_controller(controller)
    if steps < 1:
        raise ConfigError(f"--steps must be at least 1, got {steps}")
    if controller == "agent" and (world is not None or interface is not None):
        raise ConfigError("the agent controller trains on the wedge world itself; a custom world or interface "
                          "is for the scripted controller only")
    budget = (agent_budget or AgentBudget()) if controller == "agent" else None
    out_plan = plan_output(output_folder(output_dir, "--output-dir"), "challenge", overwrite=overwrite, reuse=reuse)
    iface = interface or (WedgeInterface(action="angle") if budget is not None else WedgeInterface())
    sched = make_schedule(schedule)
    attainable = check_schedule(sched, mach)
    config = {"challenge": "supersonic", "steps": steps, "seed": seed, "mach": mach, "grid": list(grid),
              "world_params": world_params or {}, "schedule": [asdict(s) for s in sched], "kp": kp, "ki": ki,
              "feedforward": feedforward, "preview": preview, "use_safety": use_safety, "interface": asdict(iface),
              "custom_world": world is not None}
    if controller != "scripted":
        config["controller"] = controller
    if budget is not None:
        config["agent_budget"] = asdict(budget)
    prov = provenance(canonical_value(config, numbers_as_float=True), seed=seed)
    hooks = _Hooks(control, pause_event, cancel_event, on_event, poll_seconds)
    job = _Job(steps, seed, mach, tuple(grid), dict(world_params or {}), sched, preview, use_safety, iface, hooks)
    if controller == "hold":
        outcome = _run_scripted(job, world, None, on_step)
        described = {"kind": "hold: the initial wedge angle, no control (the do-nothing floor)"}
    elif budget is None:
        outcome = _run_scripted(job, world, PIController(mach, kp, ki, feedforward), on_step)
        described = {"kind": "PI + theta-beta-Mach feed-forward" if feedforward else "PI", "kp": kp, "ki": ki}
    else:
        outcome, described = _run_agent(job, budget, on_step, on_train)
    traj, violations, safety_report, status, base, extra = outcome
    audit = _audit(traj, violations, status, steps, config, prov, attainable, hooks, safety_report, mach)
    audit["controller"] = described
    return _finish(audit, out_plan, job, base, extra, figure, status, overwrite and not reuse)


@dataclass
class _Job:
    """What one challenge run steers with, whichever controller does it."""

    steps: int
    seed: int
    mach: float
    grid: tuple[int, int, int]
    world_params: dict[str, Any]
    sched: list[Segment]
    preview: int
    use_safety: bool
    iface: WedgeInterface
    hooks: _Hooks


def _drive(job: _Job, base: Any, make_control: Callable[[Any, Any], Any],
           on_step: Callable[[int, int, dict[str, Any]], None] | None,
           wrap: Callable[[Any], Any] | None = None) -> tuple[Any, ...]:
    """Wrap ``base`` in the envelope (``wrap``, default ``safety_wrap``), reset, build the controller,
    steer; the loop's outcome."""
    from atom_sdk.design.evaluate import safety_wrap

    envelope = (wrap or safety_wrap)(base) if job.use_safety else None
    runner = envelope if envelope is not None else base
    obs, info = runner.reset(seed=job.seed)
    diag = info.get("diagnostics") or base.diagnostics()
    control = make_control(runner, envelope)
    job.hooks.emit("started", 0, safety_envelope=envelope is not None, controller=control.kind)
    try:
        traj, violations, notices, status = _steer(runner, base, job.iface, control, job.sched, job.steps,
                                                   job.preview, job.mach, job.hooks, diag, obs, on_step)
    finally:
        control.close()
    violations, safety_report = _safety_outcome(envelope, violations, notices)
    return traj, violations, safety_report, status


def _run_scripted(job: _Job, world: Any, pi: PIController | None,
                  on_step: Callable[[int, int, dict[str, Any]], None] | None) -> tuple[Any, ...]:
    """The PI controller (``pi``) or, with None, the do-nothing hold, on the plain wedge world."""
    from atom_sdk.worlds.gasdynamics import detachment_angle

    base = world if world is not None else default_world(job.mach, job.grid, job.steps, job.world_params)
    if pi is None:
        outcome = _drive(job, base, lambda runner, _env: HoldControl(PIController(job.mach), base, job.iface),
                         on_step)
        return (*outcome, base, {})
    pi.theta_max = detachment_angle(job.mach) - 1.0
    outcome = _drive(job, base, lambda runner, _env: ScriptedControl(pi, base, job.iface), on_step)
    return (*outcome, base, {})


class _Cancelled(Exception):
    """The job was cancelled while the agent trained."""


def _run_agent(job: _Job, budget: Any, on_step: Callable[[int, int, dict[str, Any]], None] | None,
               on_train: Callable[[int, int, dict[str, Any]], None] | None) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """Train the closed loop on the schedule, then steer with it; (outcome, controller description)."""
    from atom_sdk.design.challenge_agent import AgentControl, envelope_for, scratch_dir, train_agent
    from atom_sdk.design.challenge_world import ChallengeWedge

    targets = [target_at(job.sched, k, job.steps) for k in range(job.steps + 1)]
    hooks = job.hooks
    total = budget.episodes * job.steps

    def progress(step: int, _total: int, info: dict[str, Any]) -> None:
        if not hooks.gate(0):
            raise _Cancelled()
        if on_train is not None:
            on_train(step, total, info)

    described: dict[str, Any] = {"kind": f"agent: PPO closed loop ({budget.variant}), trained "
                                         f"{budget.episodes} episodes of the schedule", "variant": budget.variant,
                                 "budget": asdict(budget)}
    with scratch_dir() as tmp:
        hooks.emit("training", 0, episodes=budget.episodes, steps=total)
        try:
            trained = train_agent(budget, targets, job.preview, Path(tmp), steps=job.steps, seed=job.seed,
                                  mach=job.mach, grid=job.grid, world_params=job.world_params,
                                  use_safety=job.use_safety, progress=progress)
        except _Cancelled:
            empty = {k: [] for k in ("target", "measured", "theory", "wedge_angle", "command", "error")}
            return (empty, [], None, "cancelled", None, {}), described
        described["training"] = trained.summary
        hooks.emit("trained", 0, wall_seconds=trained.summary["wall_seconds"],
                   final_episode_mae_deg=(trained.summary["episode_mean_abs_error_deg"] or [None])[-1])
        base = ChallengeWedge(targets, job.preview, grid=job.grid, max_episode_steps=job.steps + 1, mach=job.mach,
                              **job.world_params)
        outcome = _drive(job, base, lambda runner, env: AgentControl(trained, runner, env, Path(tmp) / "eval"),
                         on_step, wrap=lambda world: envelope_for(trained, world))
        results = (trained.run_dir / "results.json").read_bytes()
    return (*outcome, base, {"agent_training.json": results}), described


def _finish(audit: dict[str, Any], out_plan: Any, job: _Job, base: Any, extra: dict[str, bytes], figure: bool,
            status: str, replace: bool) -> dict[str, Any]:
    """Claim the output folder and write the figure, extra artifacts and the audit."""
    from atom_sdk.artifacts import write_json
    from atom_sdk.workspace import claim_output

    traj = audit["trajectory"]
    out = claim_output(out_plan, replace=replace)
    for name, data in extra.items():
        (out / name).write_bytes(data)
        audit["artifacts"][name.split(".")[0]] = str(out / name)
    if figure and traj["target"] and base is not None:
        from atom_sdk.design.challenge_figure import plot_challenge

        audit["artifacts"]["figure"] = str(plot_challenge(base, job.iface, out / FIGURE_FILE, audit))
    job.hooks.emit(status, len(traj["target"]), score=audit["score"])
    audit["timeline"] = job.hooks.timeline
    audit["artifacts"]["audit"] = str(out / AUDIT_FILE)
    write_json(out / AUDIT_FILE, audit)
    return audit


def score_from(mae: float, violations: int) -> float:
    return float(100.0 * math.exp(-mae / SCORE_SCALE_DEG) * VIOLATION_FACTOR**violations)


def _audit(traj: dict[str, list[Any]], violations: list[dict[str, Any]], status: str, steps: int,
           config: dict[str, Any], prov: dict[str, Any], attainable: tuple[float, float], hooks: _Hooks,
           safety_report: Any, mach: float) -> dict[str, Any]:
    errors = [e if e is not None else MISSING_ERROR_DEG for e in traj["error"]]
    measured_errors = np.array([e for e in traj["error"] if e is not None], dtype=np.float64)
    mae = float(np.mean(errors)) if errors else float("nan")
    rms = float(np.sqrt(np.mean(np.square(errors)))) if errors else float("nan")
    model_gap = [abs(m - t) for m, t in zip(traj["measured"], traj["theory"]) if m is not None and t is not None]
    summary = {
        "steps_run": len(traj["target"]),
        "mean_abs_error_deg": mae,
        "rms_error_deg": rms,
        "max_abs_error_deg": float(np.max(measured_errors)) if measured_errors.size else None,
        "fraction_within_1deg": float(np.mean(measured_errors <= 1.0)) if measured_errors.size else 0.0,
        "missing_measurements": int(sum(e is None for e in traj["error"])),
        "mean_abs_measured_minus_theory_deg": float(np.mean(model_gap)) if model_gap else None,
        "final": {k: (v[-1] if v else None) for k, v in traj.items()},
        "attainable_target_range_deg": list(attainable),
    }
    score = score_from(mae, len(violations)) if errors else 0.0
    return {
        "schema": "atom.challenge_audit/1",
        "challenge": "supersonic",
        "status": status,
        "steps_requested": steps,
        "mach": mach,
        "score": score,
        "score_formula": SCORE_FORMULA,
        "violations": violations,
        "violation_count": len(violations),
        "safety_report": safety_report,
        "summary": summary,
        "trajectory": traj,
        "controller": {"kind": "PI + theta-beta-Mach feed-forward" if config["feedforward"] else "PI",
                       "kp": config["kp"], "ki": config["ki"]},
        "config": config,
        "config_hash": prov["config_hash"],
        "provenance": prov,
        "artifacts": {},
    }
