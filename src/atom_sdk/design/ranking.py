"""Scoring a diagnostic trace with the objective language, and feasibility-first ranking.

The weighted objective is ``F = sum_i w_i * s_i(reduced_i)`` with ``s_i(v) = v`` (min), ``-v``
(max) or ``|v - target|``; the total violation ``V = sum_j violation_j`` over the diagnostic
constraints (amount beyond the bound / the constraint's scale); the penalised objective
``P = F + penalty(violations)``.

Ranking (``ranking_key``), Deb's feasibility rules (K. Deb, "An efficient constraint handling
method for genetic algorithms", Comput. Methods Appl. Mech. Engrg. 186 (2000) 311-338):
a feasible design beats an infeasible one; of two infeasible designs the smaller total violation
wins; of two feasible ones the smaller weighted objective. Designs that could not be evaluated at
all (world refused them, diverged, unsafe, outside a linear design constraint) rank last. With
``ranking: penalty`` the penalised objective alone orders evaluated designs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable

from atom_sdk.design.language import DiagnosticConstraint, Objective, Penalty
from atom_sdk.design.problems import Context, Trace, reduce_trace

#: the label of the problem's own objective among a record's per-objective values
PROBLEM_OBJECTIVE = "objective"


@dataclass
class Score:
    """What one evaluated trace scores: weighted objective, per-term values, constraint margins."""

    objective: float
    objectives: dict[str, float]
    constraints: list[dict[str, Any]] = field(default_factory=list)
    violation: float = 0.0
    penalised: float = 0.0

    @property
    def feasible(self) -> bool:
        return self.violation == 0.0

    def reason(self) -> str | None:
        """Why the design is infeasible (its violated constraints), or None."""
        bad = [c for c in self.constraints if c["violation"] > 0.0]
        if not bad:
            return None
        return "; ".join(f"constraint '{c['constraint']}' violated by {-c['margin']:.4g} (value {c['value']:.6g})"
                         for c in bad)


@dataclass(frozen=True)
class Scorer:
    """The spec's objective language, ready to score traces (empty objectives: the problem's own)."""

    objectives: tuple[Objective, ...] = ()
    constraints: tuple[DiagnosticConstraint, ...] = ()
    penalty: Penalty = field(default_factory=Penalty)
    ranking: str = "feasibility_first"

    @classmethod
    def from_spec(cls, spec: Any) -> "Scorer":
        """From a ``DesignSpec``: 'objectives', or the legacy single 'objective' as one term of weight 1."""
        objectives: tuple[Objective, ...] = tuple(spec.objectives or ())
        if spec.objective is not None:
            o = spec.objective
            objectives = (Objective(diagnostic=o.diagnostic, sense="min" if o.target is not None else o.sense,
                                    target=o.target, reduce=o.reduce, last_n=o.last_n),)
        return cls(objectives, tuple(spec.diagnostic_constraints), spec.penalty, spec.ranking)

    @property
    def uses_diagnostics(self) -> bool:
        """True when scoring needs the diagnostic trace (not just the problem's objective)."""
        return bool(self.objectives or self.constraints)

    def context(self, ctx: Context) -> Context:
        """``ctx`` carrying this language (for problems whose known optimum depends on it)."""
        from dataclasses import replace

        return replace(ctx, objectives=self.objectives, constraints=self.constraints)

    def score(self, trace: Trace, problem_value: Callable[[], float]) -> Score:
        """Score a trace; ``problem_value`` computes the problem's own objective when no objectives are given."""
        if not self.objectives:
            value = float(problem_value())
            objectives = {PROBLEM_OBJECTIVE: value}
            total = value
        else:
            objectives, total = {}, 0.0
            for term in self.objectives:
                value = reduce_trace(trace, term.diagnostic, term.reduce, term.last_n)
                objectives[term.label] = value
                part = abs(value - term.target) if term.target is not None else value
                total += term.weight * (part if term.sense == "min" else -part)
        rows, violations = [], []
        for con in self.constraints:
            value = reduce_trace(trace, con.diagnostic, con.reduce, con.last_n)
            margin = con.margin(value)
            violations.append(con.violation(value))
            rows.append({"constraint": con.text(), "kind": con.kind, "value": value, "margin": margin,
                         "violation": violations[-1]})
        violation = float(sum(violations))
        return Score(float(total), objectives, rows, violation, float(total) + self.penalty(violations))


def ranking_key(record: dict[str, Any], ranking: str = "feasibility_first") -> tuple[int, float, int]:
    """Sort key of an evaluation record (smaller is better); see the module docstring."""
    index = int(record.get("index", 0))
    if record.get("objective") is None:
        return (2, 0.0, index)
    if ranking == "penalty":
        return (0, float(record.get("penalised", record["objective"])), index)
    violation = float(record.get("violation") or 0.0)
    if record.get("feasible", violation == 0.0):
        return (0, float(record["objective"]), index)
    return (1, violation, index)


def ranked(records: list[dict[str, Any]], ranking: str = "feasibility_first") -> list[dict[str, Any]]:
    """Evaluated records, best first (records that could not be evaluated are left out)."""
    return sorted((r for r in records if r.get("objective") is not None), key=lambda r: ranking_key(r, ranking))


def best_feasible_so_far(records: list[dict[str, Any]]) -> list[float | None]:
    """The best feasible weighted objective after each evaluation (None before the first feasible one)."""
    best, out = math.inf, []
    for r in records:
        if r.get("feasible") and r.get("objective") is not None and r["objective"] < best:
            best = r["objective"]
        out.append(best if math.isfinite(best) else None)
    return out
