"""Design spaces: named parameters with bounds, plus linear and callable constraints.

Why a unit cube: every backend searches ``[0, 1]^d`` and the space maps to physical values,
so CMA-ES's step size and the evolutionary mutation mean the same thing on a wedge angle in
degrees and on a jet flux of a few percent.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Mapping

import numpy as np

from atom_sdk.errors import ConfigError

Design = dict[str, float]


@dataclass(frozen=True)
class Parameter:
    """One design variable ``low <= value <= high`` (``integer`` rounds after mapping)."""

    name: str
    low: float
    high: float
    description: str = ""
    integer: bool = False

    def __post_init__(self) -> None:
        if not (math.isfinite(self.low) and math.isfinite(self.high)) or self.low >= self.high:
            raise ConfigError(f"design parameter '{self.name}': bounds must be finite with low < high, "
                              f"got [{self.low}, {self.high}]")

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "low": self.low, "high": self.high, "description": self.description,
                "integer": self.integer}


@dataclass(frozen=True)
class LinearConstraint:
    """``sum(coefficients[name] * value) <= upper``: e.g. jet flux plus offset below a budget."""

    coefficients: Mapping[str, float]
    upper: float
    name: str = ""

    def violation(self, design: Design) -> float:
        """How far over the limit the design is (0 when satisfied)."""
        total = sum(float(c) * float(design[k]) for k, c in self.coefficients.items())
        return max(0.0, total - self.upper)

    def describe(self) -> str:
        terms = " + ".join(f"{c:g}*{k}" for k, c in self.coefficients.items())
        return self.name or f"{terms} <= {self.upper:g}"

    def as_dict(self) -> dict[str, Any]:
        return {"type": "linear", "coefficients": dict(self.coefficients), "upper": self.upper, "name": self.name}


@dataclass(frozen=True)
class CallableConstraint:
    """A Python predicate on the design: returns True (or a number <= 0) when feasible."""

    fn: Callable[[Design], bool | float]
    name: str

    def violation(self, design: Design) -> float:
        value = self.fn(design)
        if isinstance(value, (bool, np.bool_)):
            return 0.0 if value else 1.0
        return max(0.0, float(value))

    def describe(self) -> str:
        return self.name

    def as_dict(self) -> dict[str, Any]:
        return {"type": "callable", "name": self.name}


Constraint = LinearConstraint | CallableConstraint


@dataclass(frozen=True)
class DesignSpace:
    """An ordered set of parameters plus constraints, mapped to and from the unit cube."""

    parameters: tuple[Parameter, ...]
    constraints: tuple[Constraint, ...] = field(default=())

    def __post_init__(self) -> None:
        names = [p.name for p in self.parameters]
        if not names:
            raise ConfigError("a design space needs at least one parameter")
        if len(set(names)) != len(names):
            raise ConfigError(f"design parameter names must be unique, got {names}")
        for con in self.constraints:
            if isinstance(con, LinearConstraint):
                unknown = set(con.coefficients) - set(names)
                if unknown:
                    raise ConfigError(f"constraint '{con.describe()}' names unknown parameters {sorted(unknown)}; "
                                      f"the design parameters are {names}")

    @property
    def names(self) -> list[str]:
        return [p.name for p in self.parameters]

    @property
    def dim(self) -> int:
        return len(self.parameters)

    @property
    def low(self) -> np.ndarray:
        return np.array([p.low for p in self.parameters], dtype=np.float64)

    @property
    def high(self) -> np.ndarray:
        return np.array([p.high for p in self.parameters], dtype=np.float64)

    def from_unit(self, u: np.ndarray) -> Design:
        """Unit-cube point (clipped) -> physical design."""
        u = np.clip(np.asarray(u, dtype=np.float64).reshape(-1), 0.0, 1.0)
        values = self.low + u * (self.high - self.low)
        design: Design = {}
        for p, v in zip(self.parameters, values):
            design[p.name] = float(round(v)) if p.integer else float(v)
        return design

    def to_unit(self, design: Mapping[str, float]) -> np.ndarray:
        values = np.array([float(design[n]) for n in self.names], dtype=np.float64)
        return (values - self.low) / (self.high - self.low)

    def check(self, design: Design) -> str | None:
        """The reason the design is infeasible, or None when it meets bounds and constraints."""
        for p in self.parameters:
            v = design[p.name]
            if not math.isfinite(v) or v < p.low - 1e-12 or v > p.high + 1e-12:
                return f"parameter {p.name}={v:g} is outside [{p.low:g}, {p.high:g}]"
        for con in self.constraints:
            over = con.violation(design)
            if over > 0.0:
                return f"constraint '{con.describe()}' violated by {over:.4g}"
        return None

    def with_bounds(self, bounds: Mapping[str, tuple[float, float]]) -> "DesignSpace":
        """A copy with some bounds replaced (``--bound name=lo:hi``)."""
        unknown = set(bounds) - set(self.names)
        if unknown:
            raise ConfigError(f"--bound names unknown design parameters {sorted(unknown)}; "
                              f"this problem's parameters are {self.names}")
        params = tuple(replace(p, low=float(bounds[p.name][0]), high=float(bounds[p.name][1]))
                       if p.name in bounds else p for p in self.parameters)
        return replace(self, parameters=params)

    def with_constraints(self, extra: tuple[Constraint, ...]) -> "DesignSpace":
        return DesignSpace(self.parameters, tuple(self.constraints) + tuple(extra))

    def as_dict(self) -> dict[str, Any]:
        return {"parameters": [p.as_dict() for p in self.parameters],
                "constraints": [c.as_dict() for c in self.constraints]}


def parse_bound(text: str) -> tuple[str, tuple[float, float]]:
    """``"wedge_angle=5:20"`` -> ("wedge_angle", (5.0, 20.0))."""
    name, sep, rng = text.partition("=")
    lo, sep2, hi = rng.partition(":")
    try:
        if not sep or not sep2:
            raise ValueError
        low, high = float(lo), float(hi)
    except ValueError:
        raise ConfigError(f"bound '{text}' must look like name=low:high, e.g. wedge_angle=5:20") from None
    if not (math.isfinite(low) and math.isfinite(high)) or low >= high:
        raise ConfigError(f"bound '{text}' needs finite low < high")
    return name.strip(), (low, high)


def linear_constraint_from_dict(data: Mapping[str, Any]) -> LinearConstraint:
    """``{"coefficients": {"a": 1, "b": 1}, "upper": 0.1}`` (the JSON form of a constraint)."""
    try:
        coeffs = {str(k): float(v) for k, v in dict(data["coefficients"]).items()}
        upper = float(data["upper"])
    except (KeyError, TypeError, ValueError):
        raise ConfigError("a linear constraint needs 'coefficients' (name -> number) and 'upper' (number), "
                          f"got {dict(data)!r}") from None
    return LinearConstraint(coeffs, upper, str(data.get("name", "")))
