"""The envelope's record: every decision as an event, counters, and the ``results.json`` summary.

Why its own class: the record must survive checkpoint/resume (plain JSON state), must stay
bounded in memory on long RL runs (events are capped, the total is kept), and must hand new
events to the runner's telemetry exactly once (``drain``).
"""

from __future__ import annotations

from collections import Counter
from typing import Any, Mapping

MODES = ("nominal", "guarded", "fallback", "halted")
#: decisions that change what the world receives, its state, the episode, the mode or theory use
INTERVENTIONS = frozenset({"clip", "fallback", "rollback", "halt", "guard", "restrict_theory", "sanitize"})
#: records, not breaches: a shift that ended, a re-baseline, a control request that was ignored
RECORDS = frozenset({"shift_ended", "rebaseline", "ignored"})


class SafetyLog:
    """Events (capped list plus total), counts by monitor/reason/intervention, time in each mode."""

    def __init__(self, max_events: int = 500, max_pending: int = 10_000) -> None:
        self.max_events = int(max_events)
        self.max_pending = int(max_pending)
        self.events: list[dict[str, Any]] = []
        self.events_total = 0
        self.pending: list[dict[str, Any]] = []
        self.pending_dropped = 0
        self.by_monitor: Counter[str] = Counter()
        self.by_reason: Counter[str] = Counter()
        self.interventions: Counter[str] = Counter()
        self.intervention_steps = 0
        self.steps = 0
        self.mode_steps: Counter[str] = Counter({m: 0 for m in MODES})
        self.first_violation: dict[str, Any] | None = None
        self.unsafe_episodes = 0

    def add(self, event: dict[str, Any]) -> None:
        self.events_total += 1
        if self.max_events and len(self.events) < self.max_events:
            self.events.append(event)
        if len(self.pending) < self.max_pending:
            self.pending.append(event)
        else:
            self.pending_dropped += 1
        if (event.get("reason", "").startswith("SAFETY_") and event.get("monitor") not in ("mode", "hysteresis")
                and event.get("intervention") not in RECORDS):
            self.by_monitor[event["monitor"]] += 1
            self.by_reason[event["reason"]] += 1
            if self.first_violation is None:
                self.first_violation = dict(event)

    def count_interventions(self, kinds: set[str]) -> bool:
        """Count each kind of intervention once per step (three NaN findings, one rollback)."""
        taken = kinds & INTERVENTIONS
        for kind in taken:
            self.interventions[kind] += 1
        return bool(taken)

    def end_step(self, mode: str, intervened: bool) -> None:
        self.steps += 1
        self.mode_steps[mode] += 1
        self.intervention_steps += int(intervened)

    def drain(self) -> list[dict[str, Any]]:
        """Events recorded since the last drain (for telemetry), oldest first."""
        out, self.pending = self.pending, []
        return out

    def report(self) -> dict[str, Any]:
        steps = self.steps
        return {
            "steps": steps,
            "mode_steps": {m: int(self.mode_steps.get(m, 0)) for m in MODES},
            "counts_by_monitor": dict(sorted(self.by_monitor.items())),
            "counts_by_reason": dict(sorted(self.by_reason.items())),
            "interventions": dict(sorted(self.interventions.items())),
            "interventions_count": int(sum(self.interventions.values())),  # kinds per step, summed
            "intervention_steps": self.intervention_steps,
            "intervention_rate": self.intervention_steps / steps if steps else 0.0,
            "first_violation": self.first_violation,
            "unsafe_episodes": self.unsafe_episodes,
            "events_total": self.events_total,
            "events_truncated": self.events_total > len(self.events),
            "events": list(self.events),
        }

    def state_dict(self) -> dict[str, Any]:
        return {
            "events": self.events, "events_total": self.events_total, "by_monitor": dict(self.by_monitor),
            "by_reason": dict(self.by_reason), "interventions": dict(self.interventions),
            "intervention_steps": self.intervention_steps, "steps": self.steps,
            "mode_steps": dict(self.mode_steps), "first_violation": self.first_violation,
            "unsafe_episodes": self.unsafe_episodes,
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.events = [dict(e) for e in state["events"]]
        self.events_total = int(state["events_total"])
        self.by_monitor = Counter(state["by_monitor"])
        self.by_reason = Counter(state["by_reason"])
        self.interventions = Counter(state["interventions"])
        self.intervention_steps = int(state["intervention_steps"])
        self.steps = int(state["steps"])
        self.mode_steps = Counter({m: 0 for m in MODES}) + Counter(state["mode_steps"])
        for m in MODES:
            self.mode_steps.setdefault(m, 0)
        self.first_violation = state["first_violation"]
        self.unsafe_episodes = int(state["unsafe_episodes"])
        self.pending = []
