"""Evaluate one design: build the world, roll it out, score it, or say why it is infeasible.

Not evaluated (recorded with a reason, never scored): a design outside its bounds or linear design
constraints, a world that refuses the parameters (``WorldParameterError``, e.g. a detached shock),
a rollout that goes non-finite, or one the safety envelope flags. A design that violates a
constraint on a diagnostic *is* scored (objective, margins, total violation) but is infeasible:
feasibility-first ranking needs how far it is from the feasible set (``ranking``).

Worlds are cached per process by their constructor arguments: when a design only changes the
actions (a forcing schedule, a jet flux), every evaluation reuses one compiled world.
"""

from __future__ import annotations

import json
import math
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from atom_sdk.design.problems import Context, Problem, Trace
from atom_sdk.design.ranking import Score, Scorer
from atom_sdk.design.space import Design, DesignSpace
from atom_sdk.errors import AtomError, ConfigError, WorldParameterError

_WORLD_CACHE: "OrderedDict[str, Any]" = OrderedDict()
_WORLD_CACHE_SIZE = 4


@dataclass
class Evaluation:
    """One evaluated design (objective is None when it could not be evaluated).

    ``objective`` is the weighted objective, ``objectives`` the value of each term, ``constraints``
    each diagnostic constraint's value and margin, ``violation`` their total, ``penalised`` the
    objective plus the penalty; ``feasible`` is True only for an evaluated design without violation.
    """

    design: Design
    objective: float | None
    feasible: bool
    reason: str | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0
    safety: dict[str, Any] | None = None
    objectives: dict[str, float] = field(default_factory=dict)
    constraints: list[dict[str, Any]] = field(default_factory=list)
    violation: float | None = None
    penalised: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"design": self.design, "objective": self.objective, "feasible": self.feasible,
                "reason": self.reason, "metrics": self.metrics, "seconds": round(self.seconds, 4),
                "safety": self.safety, "objectives": self.objectives, "constraints": self.constraints,
                "violation": self.violation, "penalised": self.penalised}


def infeasible(design: Design, reason: str, **extra: Any) -> Evaluation:
    return Evaluation(design, None, False, reason, **extra)


def cached_world(world_id: str, grid: tuple[int, int, int], params: dict[str, Any], max_steps: int) -> Any:
    """Build (or reuse) a world; raises the world's own ``WorldParameterError``."""
    from atom_sdk.worlds import make

    key = json.dumps([world_id, list(grid), params, max_steps], sort_keys=True, default=str)
    if key in _WORLD_CACHE:
        _WORLD_CACHE.move_to_end(key)
        return _WORLD_CACHE[key]
    world = make(world_id, grid=tuple(grid), max_episode_steps=max_steps, **params)
    _WORLD_CACHE[key] = world
    while len(_WORLD_CACHE) > _WORLD_CACHE_SIZE:
        _WORLD_CACHE.popitem(last=False)
    return world


def safety_wrap(world: Any) -> Any | None:
    """Wrap in the safety envelope when ``atom_sdk.safety`` provides one, else None."""
    try:
        from atom_sdk.safety import SafetyEnvelope  # type: ignore[attr-defined]
    except ImportError:
        return None
    from atom_sdk.config import SafetySettings

    return SafetyEnvelope(world, SafetySettings())


#: envelope reasons that describe the observer (distribution shift, theory trust), not a physical
#: hazard of the design itself: recorded, but they do not make a design infeasible
BENIGN_SAFETY_REASONS = frozenset({"SAFETY_SHIFT", "SAFETY_TRUST_LOW"})


def safety_events(report: Any) -> list[dict[str, Any]]:
    """Disqualifying events from a ``SafetyEnvelope.report()`` (hazards, clipped actions, halts)."""
    if not isinstance(report, dict):
        return []
    events = [e for e in report.get("events") or [] if e.get("reason") not in BENIGN_SAFETY_REASONS]
    if not events and report.get("unsafe_episodes"):
        events = [{"reason": "SAFETY_UNSAFE_EPISODE", "count": report["unsafe_episodes"]}]
    return events


def safety_summary(report: Any) -> dict[str, Any] | None:
    """The compact part of an envelope report kept per evaluation."""
    if not isinstance(report, dict):
        return None
    keys = ("enabled", "mode", "counts_by_reason", "interventions_count", "unsafe_episodes", "first_violation")
    return {k: report[k] for k in keys if k in report}


def rollout(problem: Problem, ctx: Context, design: Design, world_id: str, seed: int,
            use_safety: bool = True) -> tuple[Trace, str | None, dict[str, Any] | None]:
    """Run the world for ``ctx.rollout_steps``; returns (trace, infeasibility reason, safety report)."""
    params = problem.world_params(design, ctx)
    world = cached_world(world_id, ctx.grid, params, ctx.rollout_steps)
    env = safety_wrap(world) if use_safety else None
    runner = env if env is not None else world
    runner.reset(seed=seed)
    trace: dict[str, list[float]] = {}
    reason = None
    shape = world.action_space.shape
    for t in range(ctx.rollout_steps):
        action = problem.action(design, t, ctx) if problem.action else np.zeros(shape)
        _, _, terminated, _, info = runner.step(np.asarray(action, dtype=np.float64).reshape(shape))
        diag = info.get("diagnostics") or world.diagnostics()
        for key, value in diag.items():
            trace.setdefault(key, []).append(float(value))
        if info.get("diverged") or not all(math.isfinite(float(v)) for v in diag.values()):
            reason = f"rollout became non-finite (diverged) at step {t + 1}"
            break
        reasons = [r for r in (info.get("safety") or {}).get("reasons", []) if r not in BENIGN_SAFETY_REASONS]
        if info.get("unsafe") or reasons:
            reason = f"safety envelope flagged step {t + 1}: {', '.join(reasons) or 'unsafe episode'}"
            break
    report = None
    if env is not None and hasattr(env, "report"):
        full = env.report()
        events = safety_events(full)
        if events and reason is None:
            reason = f"safety envelope flagged {len(events)} event(s), first: {events[0].get('reason')}"
        report = safety_summary(full)
    return {k: np.asarray(v) for k, v in trace.items()}, reason, report


def model_trace(problem: Problem, design: Design, ctx: Context) -> Trace:
    """The problem's analytical model as a one-step trace of diagnostics."""
    assert problem.model is not None  # nosec B101 - checked by the caller
    return {k: np.asarray([float(v)]) for k, v in problem.model(design, ctx).items()}


def _surrogate(problem: Problem, design: Design, ctx: Context, scorer: Scorer) -> tuple[Trace, Score]:
    if problem.model is not None and (scorer.uses_diagnostics or problem.surrogate is None):
        trace = model_trace(problem, design, ctx)
        return trace, scorer.score(trace, lambda: problem.objective(trace, ctx))
    if problem.surrogate is None:
        raise WorldParameterError(f"problem '{problem.name}' has no analytical surrogate; use evaluator 'rollout'")
    if scorer.uses_diagnostics:
        raise ConfigError(f"problem '{problem.name}' has no analytical model of its diagnostics, so objectives and "
                          "constraints on diagnostics need evaluator 'rollout'")
    return {}, scorer.score({}, lambda: problem.surrogate(design, ctx))  # type: ignore[misc]


def evaluate_design(problem: Problem, space: DesignSpace, ctx: Context, design: Design, *, world_id: str | None,
                    seed: int, evaluator: str = "rollout",
                    objective: Callable[[Trace, Context], float] | None = None,
                    scorer: Scorer | None = None) -> Evaluation:
    """Score one design (see the module docstring for what counts as infeasible).

    ``scorer`` is the spec's objective language (default: the problem's objective alone);
    ``objective`` replaces the problem's objective function inside it.
    """
    start = time.perf_counter()
    scorer = scorer or Scorer()
    reason = space.check(design)
    if reason is not None:
        return infeasible(design, reason)
    report = None
    try:
        if evaluator == "surrogate":
            trace, score = _surrogate(problem, design, ctx, scorer)
        else:
            if world_id is None:
                raise ConfigError(f"problem '{problem.name}' has no world, only an analytical model: use evaluator "
                                  "'surrogate'")
            trace, reason, report = rollout(problem, ctx, design, world_id, seed)
            if reason is not None:
                return infeasible(design, reason, metrics=_last(trace), seconds=time.perf_counter() - start,
                                  safety=report)
            score = scorer.score(trace, lambda: (objective or problem.objective)(trace, ctx))
    except WorldParameterError as exc:
        return infeasible(design, f"world refused the design: {exc}", seconds=time.perf_counter() - start)
    except ConfigError:
        raise  # a mistake in the spec (e.g. an unknown diagnostic), not a property of the design
    except AtomError as exc:
        return infeasible(design, f"{type(exc).__name__}: {exc}", seconds=time.perf_counter() - start)
    metrics = _last(trace)
    seconds = time.perf_counter() - start
    if not math.isfinite(score.objective):
        return infeasible(design, "objective is NaN or infinite", metrics=metrics, seconds=seconds, safety=report)
    if not all(math.isfinite(c["value"]) for c in score.constraints):
        bad = [c["constraint"] for c in score.constraints if not math.isfinite(c["value"])]
        return infeasible(design, f"constrained diagnostic is NaN or infinite: {', '.join(bad)}", metrics=metrics,
                          seconds=seconds, safety=report)
    return Evaluation(design, score.objective, score.feasible, score.reason(), metrics, seconds, report,
                      score.objectives, score.constraints, score.violation, score.penalised)


def _last(trace: Trace) -> dict[str, float]:
    return {k: float(v[-1]) for k, v in trace.items() if v.size}
