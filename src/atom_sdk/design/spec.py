"""The inverse-design spec: what to search, how, and its canonical hash.

Why a hash of the spec: two searches with the same problem, bounds, backend, budget and seed
must be recognisably the same experiment (and give the same report), whatever the run name
or the number of worker processes used to compute it.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator, model_validator

from atom_sdk.config import canonical_hash, canonical_value
from atom_sdk.design.language import (
    CONSTRAINT_SYNTAX,
    OBJECTIVE_SYNTAX,
    DiagnosticConstraint,
    Objective,
    ObjectiveSpec,
    Penalty,
    constraint_item,
    objective_item,
)
from atom_sdk.errors import ConfigError, error_problem
from atom_sdk.workspace import validate_name

#: Fields that name, place or parallelise a search but do not change its result.
NON_SEMANTIC = frozenset({"name", "output_root", "workers"})
#: Fields added with the objective language, left out of the hash at their defaults so that specs
#: written before it keep their config hash.
LANGUAGE_DEFAULTS: dict[str, Any] = {"objectives": None, "penalty": Penalty().model_dump(mode="json"),
                                     "ranking": "feasibility_first"}


class DesignSpec(BaseModel):
    """Everything one inverse-design search takes (CLI flags and the API map onto it)."""

    model_config = ConfigDict(extra="forbid", validate_default=True)

    name: Annotated[str, BeforeValidator(validate_name)] = Field(
        "inverse_design", min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._-]+$",
        description="design folder name inside output_root (one path component)")
    problem: str = Field("wedge_shock_angle", description="built-in problem name (see list_problems())")
    world: str | None = Field(None, description="world id; defaults to the problem's world")
    backend: Literal["cmaes", "evolutionary", "random"] = "cmaes"
    iterations: int = Field(10, ge=1, le=10_000)
    population: int = Field(8, ge=2, le=4096)
    top_k: int = Field(3, ge=1, le=1000)
    rollout_steps: int | None = Field(None, ge=1, le=1_000_000, description="default: the problem's")
    seed: int = Field(0, ge=0, le=2**31 - 1)
    target: float | None = Field(None, description="problem target (default: the problem's)")
    bounds: dict[str, tuple[float, float]] = Field(default_factory=dict)
    constraints: list[DiagnosticConstraint | dict[str, Any]] = Field(
        default_factory=list, description=f"constraints on world diagnostics ({CONSTRAINT_SYNTAX}, or "
        "{diagnostic, lower, upper}) and linear constraints on design parameters "
        "{coefficients: {name: c}, upper: u}: sum c*x <= u")
    world_params: dict[str, float | int | bool | str] = Field(default_factory=dict)
    grid: tuple[int, int, int] | None = None
    objective: ObjectiveSpec | None = Field(None, description="override the problem's objective (one diagnostic)")
    objectives: list[Objective] | None = Field(
        None, description=f"weighted objectives, summed ({OBJECTIVE_SYNTAX}); default: the problem's objective")
    penalty: Penalty = Field(default_factory=Penalty, description="how constraint violations enter the scalar "
                             "CMA-ES minimises (and the ranking when ranking is 'penalty')")
    ranking: Literal["feasibility_first", "penalty"] = Field(
        "feasibility_first", description="feasibility_first (Deb's rules): feasible beats infeasible, then smaller "
        "total violation, then the weighted objective; penalty: the penalised objective alone")
    evaluator: Literal["auto", "rollout", "surrogate"] = Field(
        "auto", description="'surrogate' uses the problem's analytical model instead of rollouts; 'auto': rollout, "
        "or surrogate for a problem without a world")
    stop_below: float | None = Field(None, description="stop once the best objective is at or below this")
    workers: int = Field(1, ge=1, le=256, description="processes for one generation's rollouts")
    output_root: str = "experiment_results"

    @field_validator("objectives", mode="before")
    @classmethod
    def _objective_texts(cls, items: Any) -> Any:
        if items is None:
            return None
        if isinstance(items, (str, dict)):
            items = [items]
        if not isinstance(items, list) or not items:
            raise ValueError(f"objectives must list at least one objective ({OBJECTIVE_SYNTAX}); leave it out to "
                             "use the problem's objective")
        return [objective_item(item) for item in items]

    @field_validator("constraints", mode="before")
    @classmethod
    def _constraint_texts(cls, items: Any) -> Any:
        if isinstance(items, (str, dict)):
            items = [items]
        if not isinstance(items, list):
            raise ValueError(f"constraints must be a list ({CONSTRAINT_SYNTAX})")
        return [constraint_item(item) for item in items]

    @model_validator(mode="after")
    def _language(self) -> "DesignSpec":
        if self.objective is not None and self.objectives is not None:
            raise ValueError("give either 'objective' (one diagnostic) or 'objectives' (a weighted list), not both")
        labels = [o.label for o in self.objectives or []]
        if len(set(labels)) != len(labels):
            raise ValueError(f"objectives name the same diagnostic twice: {labels}; merge them into one weight")
        check_diagnostics(self)
        return self

    @property
    def diagnostic_constraints(self) -> list[DiagnosticConstraint]:
        return [c for c in self.constraints if isinstance(c, DiagnosticConstraint)]

    @property
    def linear_constraints(self) -> list[dict[str, Any]]:
        return [c for c in self.constraints if isinstance(c, dict)]

    @property
    def uses_language(self) -> bool:
        """True when the spec replaces the problem's objective or constrains a diagnostic."""
        return self.objective is not None or self.objectives is not None or bool(self.diagnostic_constraints)

    @field_validator("bounds")
    @classmethod
    def _bounds_ordered(cls, bounds: dict[str, tuple[float, float]]) -> dict[str, tuple[float, float]]:
        for key, (lo, hi) in bounds.items():
            if not (math.isfinite(lo) and math.isfinite(hi)) or lo >= hi:
                raise ValueError(f"bound '{key}' needs finite low < high, got [{lo}, {hi}]")
        return bounds


def check_diagnostics(spec: DesignSpec) -> None:
    """Refuse a diagnostic the problem's evaluation does not report, listing the ones it does.

    The names come from the problem (its world's ``diagnostic_units`` table, or its own list), or
    from the table of the world a spec moves it to; where none is declared (an unknown problem or
    world, a third-party world without a table) the rollout checks them when it reports.
    """
    from atom_sdk.design.problems import PROBLEMS
    from atom_sdk.errors import AtomError

    problem = PROBLEMS.get(spec.problem)
    if problem is None:
        return
    try:
        if spec.world is None or spec.world == problem.world:
            known = set(problem.diagnostic_names())
        else:
            from atom_sdk.worlds import world_class

            known = set(getattr(world_class(spec.world), "diagnostic_units", {}) or {})
    except AtomError:
        return  # an unknown world is refused with its own message when the spec is resolved
    if not known:
        return
    names = [o.diagnostic for o in spec.objectives or []] + [c.diagnostic for c in spec.diagnostic_constraints]
    if spec.objective is not None:
        names.append(spec.objective.diagnostic)
    unknown = sorted({n for n in names if n not in known})
    if unknown:
        raise ValueError(f"unknown diagnostic {', '.join(repr(n) for n in unknown)} for problem '{problem.name}' "
                         f"on {spec.world or problem.world or 'its analytical model'}; its evaluation reports: "
                         f"{', '.join(sorted(known))}")


def build_spec(data: dict[str, Any]) -> DesignSpec:
    """Validate a mapping into a ``DesignSpec`` with a one-line ``ConfigError`` on failure."""
    try:
        return DesignSpec.model_validate(data)
    except ValidationError as err:
        parts = []
        for item in err.errors():
            key = ".".join(str(p) for p in item["loc"]) or "<spec>"
            if item["type"] == "extra_forbidden":
                parts.append(f"unknown key '{key}' (allowed: {', '.join(sorted(DesignSpec.model_fields))})")
            elif key == "<spec>":  # a rule across fields: the message names them, the whole input would be noise
                parts.append(item["msg"].removeprefix("Value error, "))
            else:
                parts.append(f"'{key}': {error_problem(item)}")
        raise ConfigError("invalid design spec: " + "; ".join(parts)) from None


def canonical_spec(spec: DesignSpec) -> dict[str, Any]:
    """Semantic content of a spec: defaults filled, names dropped, 1 and 1.0 the same number."""
    data = spec.model_dump(mode="json")
    for key in NON_SEMANTIC:
        data.pop(key, None)
    for key, default in LANGUAGE_DEFAULTS.items():
        if data.get(key) == default:
            data.pop(key)
    return canonical_value(data, numbers_as_float=True)


def spec_hash(spec: DesignSpec) -> str:
    """SHA-256 of the canonical JSON of the spec."""
    return canonical_hash(canonical_spec(spec))
