"""The objective language of a design spec: weighted objectives, constraints on diagnostics, penalties.

A spec may say *what good means* with any world diagnostic the evaluation returns::

    objectives:  [drag_mean:min:1.0, lift_mean:max:0.2]        # weighted sum, each term signed
    constraints: ["max_stress<=0.02", "0.4<=jet_flux<=0.6"]     # <=, >=, between
    penalty:     {function: linear, weight: 1000}

Why text forms beside the JSON objects: the same short syntax serves the CLI flags, spec files and
the API, and it reads like the inequality it means. The grammar (``@reduce`` is optional and
defaults to ``mean_last``, the mean over the last ``last_n`` steps)::

    objective  := NAME[@REDUCE]:min[:WEIGHT] | NAME[@REDUCE]:max[:WEIGHT] | NAME[@REDUCE]:target=T[:WEIGHT]
    constraint := NAME[@REDUCE]<=U | NAME[@REDUCE]>=L | L<=NAME[@REDUCE]<=U

Everything here is pure validation (no world is built): ``ranking`` scores a diagnostic trace.
"""

from __future__ import annotations

import math
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

Reduce = Literal["mean_last", "final", "mean", "min", "max"]
REDUCES = ("mean_last", "final", "mean", "min", "max")
_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_NUM = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_TERM = re.compile(rf"^\s*(?P<name>{_NAME})(?:@(?P<reduce>\w+))?\s*:\s*(?P<sense>min|max|target\s*=\s*(?P<target>{_NUM}))"
                   rf"\s*(?::\s*(?P<weight>{_NUM}))?\s*$")
_UPPER = re.compile(rf"^\s*(?P<name>{_NAME})(?:@(?P<reduce>\w+))?\s*<=\s*(?P<upper>{_NUM})\s*$")
_LOWER = re.compile(rf"^\s*(?P<name>{_NAME})(?:@(?P<reduce>\w+))?\s*>=\s*(?P<lower>{_NUM})\s*$")
_BETWEEN = re.compile(rf"^\s*(?P<lower>{_NUM})\s*<=\s*(?P<name>{_NAME})(?:@(?P<reduce>\w+))?\s*<=\s*(?P<upper>{_NUM})\s*$")

OBJECTIVE_SYNTAX = "NAME:min[:WEIGHT], NAME:max[:WEIGHT] or NAME:target=T[:WEIGHT] (NAME may end in @final, @mean, ...)"
CONSTRAINT_SYNTAX = "NAME<=U, NAME>=L or L<=NAME<=U (NAME may end in @final, @mean, ...)"


def _reduce(text: str | None, source: str) -> str:
    if text is None:
        return "mean_last"
    if text not in REDUCES:
        raise ValueError(f"'{source}': unknown reduction '@{text}'; use one of {', '.join('@' + r for r in REDUCES)}")
    return text


class ObjectiveSpec(BaseModel):
    """A generic objective: reduce one diagnostic over the rollout, optionally against a target.

    The single-objective form that predates ``Objective``; kept so existing specs stay valid."""

    model_config = ConfigDict(extra="forbid")

    diagnostic: str = Field(..., description="diagnostic name reported by the world")
    reduce: Reduce = "mean_last"
    last_n: int = Field(10, ge=1, description="steps averaged by 'mean_last'")
    target: float | None = Field(None, description="if set, the objective is |reduced - target|")
    sense: Literal["min", "max"] = "min"


class Objective(BaseModel):
    """One weighted term: ``weight * reduced`` (min), ``-weight * reduced`` (max) or ``weight * |reduced - target|``."""

    model_config = ConfigDict(extra="forbid")

    diagnostic: str = Field(..., min_length=1, description="diagnostic name reported by the world")
    sense: Literal["min", "max"] = Field("min", description="min: smaller is better; max: larger is better")
    weight: float = Field(1.0, gt=0.0, allow_inf_nan=False, description="weight in the weighted sum (> 0)")
    target: float | None = Field(None, allow_inf_nan=False, description="if set, the term is |reduced - target| "
                                 "(sense must be 'min')")
    reduce: Reduce = "mean_last"
    last_n: int = Field(10, ge=1, description="steps averaged by 'mean_last'")

    @field_validator("sense", mode="before")
    @classmethod
    def _long_senses(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value  # pydantic's Literal check says what is allowed
        return {"minimize": "min", "minimise": "min", "maximize": "max", "maximise": "max"}.get(value, value)

    @model_validator(mode="after")
    def _target_is_minimised(self) -> "Objective":
        if self.target is not None and self.sense != "min":
            raise ValueError(f"objective '{self.diagnostic}' has a target, so it is |value - target| and must be "
                             "minimised; drop sense 'max'")
        return self

    @property
    def label(self) -> str:
        return self.diagnostic if self.reduce == "mean_last" else f"{self.diagnostic}@{self.reduce}"

    def text(self) -> str:
        sense = f"target={self.target:g}" if self.target is not None else self.sense
        return f"{self.label}:{sense}:{self.weight:g}"


class DiagnosticConstraint(BaseModel):
    """``lower <= reduced(diagnostic) <= upper`` with one bound (<=, >=) or both (between)."""

    model_config = ConfigDict(extra="forbid")

    diagnostic: str = Field(..., min_length=1, description="diagnostic name reported by the world")
    lower: float | None = Field(None, allow_inf_nan=False, description=">= bound")
    upper: float | None = Field(None, allow_inf_nan=False, description="<= bound")
    reduce: Reduce = "mean_last"
    last_n: int = Field(10, ge=1, description="steps averaged by 'mean_last'")
    scale: float = Field(1.0, gt=0.0, allow_inf_nan=False,
                         description="violation unit: a violation counts as (amount beyond the bound) / scale")

    @model_validator(mode="after")
    def _bounds(self) -> "DiagnosticConstraint":
        if self.lower is None and self.upper is None:
            raise ValueError(f"constraint on '{self.diagnostic}' needs 'lower' (>=), 'upper' (<=) or both (between)")
        if self.lower is not None and self.upper is not None and self.lower > self.upper:
            raise ValueError(f"constraint on '{self.diagnostic}': lower {self.lower:g} > upper {self.upper:g} in "
                             "'between'; swap them")
        return self

    @property
    def kind(self) -> str:
        return "between" if self.lower is not None and self.upper is not None else ("<=" if self.upper is not None
                                                                                    else ">=")

    @property
    def label(self) -> str:
        return self.diagnostic if self.reduce == "mean_last" else f"{self.diagnostic}@{self.reduce}"

    def text(self) -> str:
        if self.kind == "between":
            return f"{self.lower:g}<={self.label}<={self.upper:g}"
        return f"{self.label}<={self.upper:g}" if self.kind == "<=" else f"{self.label}>={self.lower:g}"

    def margin(self, value: float) -> float:
        """Distance inside the feasible set (> 0 satisfied, < 0 violated), in the diagnostic's units."""
        if not math.isfinite(value):
            return -math.inf
        parts = []
        if self.lower is not None:
            parts.append(value - self.lower)
        if self.upper is not None:
            parts.append(self.upper - value)
        return min(parts)

    def violation(self, value: float) -> float:
        return max(0.0, -self.margin(value)) / self.scale


class Penalty(BaseModel):
    """How violations enter the scalar that CMA-ES (and ``ranking: penalty``) minimise."""

    model_config = ConfigDict(extra="forbid")

    function: Literal["linear", "quadratic"] = Field(
        "linear", description="linear: weight * sum(v) (an exact penalty once weight exceeds the constraint's "
                              "Lagrange multiplier); quadratic: weight * sum(v^2) (smooth, slightly infeasible optimum)")
    weight: float = Field(1000.0, gt=0.0, allow_inf_nan=False, description="penalty weight")

    def __call__(self, violations: list[float]) -> float:
        if self.function == "linear":
            return self.weight * float(sum(violations))
        return self.weight * float(sum(v * v for v in violations))


def parse_objective(text: str) -> dict[str, Any]:
    """``"drag:min:2"`` -> ``{"diagnostic": "drag", "sense": "min", "weight": 2.0}`` (see the module grammar)."""
    m = _TERM.match(text)
    if m is None:
        raise ValueError(f"objective '{text}' must look like {OBJECTIVE_SYNTAX}, e.g. drag_mean:min:1.0")
    out: dict[str, Any] = {"diagnostic": m["name"], "reduce": _reduce(m["reduce"], text)}
    if m["target"] is not None:
        out.update(sense="min", target=float(m["target"]))
    else:
        out["sense"] = m["sense"]
    if m["weight"] is not None:
        out["weight"] = float(m["weight"])
    return out


def parse_constraint(text: str) -> dict[str, Any]:
    """``"lift>=0.1"``, ``"drag<=1.2"``, ``"0.1<=lift<=0.3"`` -> a ``DiagnosticConstraint`` mapping."""
    for pattern in (_BETWEEN, _UPPER, _LOWER):
        m = pattern.match(text)
        if m is not None:
            groups = m.groupdict()
            out: dict[str, Any] = {"diagnostic": m["name"], "reduce": _reduce(m["reduce"], text)}
            for key in ("lower", "upper"):
                if groups.get(key) is not None:
                    out[key] = float(groups[key])
            return out
    raise ValueError(f"constraint '{text}' must look like {CONSTRAINT_SYNTAX}, e.g. lift>=0.1")


def parse_penalty(text: str) -> dict[str, Any]:
    """``"linear:1000"`` or ``"quadratic"`` -> a ``Penalty`` mapping."""
    function, _, weight = text.partition(":")
    out: dict[str, Any] = {"function": function.strip()}
    if weight:
        try:
            out["weight"] = float(weight)
        except ValueError:
            raise ValueError(f"penalty '{text}' must look like FUNCTION[:WEIGHT], e.g. linear:1000") from None
    return out


def _validated(model: type[BaseModel], data: Any, source: Any) -> Any:
    """Validate inside a spec validator, turning pydantic's report into one readable ValueError."""
    try:
        return model.model_validate(data)
    except ValidationError as err:
        parts = []
        for e in err.errors():
            where = ".".join(str(p) for p in e["loc"])
            parts.append((f"{where}: " if where else "") + e["msg"].removeprefix("Value error, "))
        raise ValueError(f"{source!r}: " + "; ".join(parts)) from None


def objective_item(item: Any) -> Any:
    """A spec's objective entry: text in the short syntax, or the mapping/model itself."""
    if isinstance(item, str):
        return _validated(Objective, parse_objective(item), item)
    if isinstance(item, dict):
        return _validated(Objective, item, item)
    return item


def constraint_item(item: Any) -> Any:
    """A spec's constraint entry: short text -> diagnostic constraint; a mapping with 'diagnostic' -> one;
    a mapping with 'coefficients' stays a linear constraint on design parameters."""
    if isinstance(item, str):
        return _validated(DiagnosticConstraint, parse_constraint(item), item)
    if isinstance(item, dict) and "diagnostic" in item:
        return _validated(DiagnosticConstraint, item, item)
    if isinstance(item, dict) and "coefficients" in item:
        coeffs, upper = item.get("coefficients"), item.get("upper")
        if not isinstance(coeffs, dict) or not isinstance(upper, (int, float)) or isinstance(upper, bool):
            raise ValueError("a linear constraint needs 'coefficients' (name -> number) and 'upper' (number), "
                             f"got {item!r}")
        return item
    if isinstance(item, DiagnosticConstraint):
        return item
    raise ValueError(f"constraint {item!r} is neither {CONSTRAINT_SYNTAX}, a mapping with 'diagnostic' and "
                     "'lower'/'upper', nor a linear constraint {'coefficients': {name: c}, 'upper': u}")
