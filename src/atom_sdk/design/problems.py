"""Built-in inverse-design problems: design space + world setup + objective of a rollout.

A problem says which world to build for a design (``world_params``), which action to send at
each step (``action``), and how to score the rollout's diagnostic trace (``objective``). Some
problems also carry an analytical model (``surrogate``, e.g. the theta-beta-Mach relation) and
its ``known_optimum``, used by tests and to report how close the search got. ``diagnostics`` names
what the evaluation reports (so a spec's objectives and constraints are checked before anything
runs) and ``model`` is an analytical model of those diagnostics; a problem without a ``world`` is
evaluated by its model alone (the constrained quadratic, whose optimum is known in closed form).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
from scipy.optimize import brentq

from atom_sdk.design.space import Design, DesignSpace, Parameter
from atom_sdk.design.language import ObjectiveSpec
from atom_sdk.errors import ConfigError

Trace = dict[str, np.ndarray]


@dataclass(frozen=True)
class Context:
    """The resolved settings a problem's functions see (target, fixed world params, steps)."""

    target: float | None
    world_params: dict[str, Any]
    rollout_steps: int
    grid: tuple[int, int, int]
    objectives: tuple[Any, ...] = ()  # the spec's ``Objective``s (empty: the problem's objective)
    constraints: tuple[Any, ...] = ()  # the spec's ``DiagnosticConstraint``s


@dataclass(frozen=True)
class Problem:
    """A named design problem on one world."""

    name: str
    world: str | None
    description: str
    space: DesignSpace
    objective: Callable[[Trace, Context], float]
    world_params: Callable[[Design, Context], dict[str, Any]]
    action: Callable[[Design, int, Context], np.ndarray] | None = None
    surrogate: Callable[[Design, Context], float] | None = None
    known_optimum: Callable[[Context], Design | None] | None = None
    default_target: float | None = None
    target_meaning: str = ""
    default_steps: int = 40
    default_grid: tuple[int, int, int] = (32, 32, 1)
    default_world_params: dict[str, Any] = field(default_factory=dict)
    objective_meaning: str = ""
    objective_unit: str = ""
    diagnostics: tuple[str, ...] = ()  # default: the world's ``diagnostic_units`` table
    units: dict[str, str] = field(default_factory=dict)  # default: the world's units
    model: Callable[[Design, Context], dict[str, float]] | None = None
    #: the known optimum is the constrained optimum of ``model`` under the spec's objective language
    #: (solved in ``optimum.model_optimum``), so it follows any objectives and constraints
    optimum_from_model: bool = False

    def _world_table(self) -> dict[str, Any]:
        if self.world is None:
            return {}
        from atom_sdk.worlds import world_class

        return dict(getattr(world_class(self.world), "diagnostic_units", {}) or {})

    def diagnostic_names(self) -> tuple[str, ...]:
        """The diagnostics an evaluation reports (what objectives and constraints may name)."""
        return self.diagnostics or tuple(sorted(self._world_table()))

    def unit(self, diagnostic: str) -> str:
        """A diagnostic's unit ("1" = dimensionless), or "" when unknown."""
        if diagnostic in self.units:
            return self.units[diagnostic]
        quantity = self._world_table().get(diagnostic)
        return str(getattr(quantity, "unit", "")) if quantity is not None else ""

    def spec_template(self) -> dict[str, Any]:
        """A JSON-able spec the API/UI can list and pre-fill (``DesignSpec`` keys)."""
        return {
            "problem": self.name,
            "world": self.world or "none",
            "description": self.description,
            "objective": self.objective_meaning,
            "target": self.default_target,
            "target_meaning": self.target_meaning,
            "backend": "cmaes",
            "iterations": 10,
            "population": 8,
            "top_k": 3,
            "rollout_steps": self.default_steps,
            "seed": 0,
            "grid": list(self.default_grid),
            "world_params": dict(self.default_world_params),
            "bounds": {p.name: [p.low, p.high] for p in self.space.parameters},
            "parameters": [p.as_dict() for p in self.space.parameters],
            "constraints": [c.as_dict() for c in self.space.constraints],
            "diagnostics": list(self.diagnostic_names()),
            "objective_unit": self.objective_unit,
            "has_surrogate": self.surrogate is not None or self.model is not None,
            "has_known_optimum": self.known_optimum is not None or self.optimum_from_model,
        }


# ---------------------------------------------------------------------------- objectives
def reduce_trace(trace: Trace, name: str, reduce: str = "mean_last", last_n: int = 10) -> float:
    """One number from a diagnostic's time series (NaN if the diagnostic is missing)."""
    if name not in trace:
        known = ", ".join(sorted(trace))
        raise ConfigError(f"the world reports no diagnostic '{name}'; it reports: {known}")
    series = np.asarray(trace[name], dtype=np.float64)
    if series.size == 0:
        return float("nan")
    if reduce == "mean_last":
        return float(np.mean(series[-last_n:]))
    if reduce == "final":
        return float(series[-1])
    return float({"mean": np.mean, "min": np.min, "max": np.max}[reduce](series))


def objective_from_spec(obj: ObjectiveSpec) -> Callable[[Trace, Context], float]:
    """``ObjectiveSpec`` -> objective function (minimised)."""

    def objective(trace: Trace, ctx: Context) -> float:
        value = reduce_trace(trace, obj.diagnostic, obj.reduce, obj.last_n)
        if obj.target is not None:
            return abs(value - obj.target)
        return value if obj.sense == "min" else -value

    return objective


def _last_n(ctx: Context) -> int:
    return max(1, ctx.rollout_steps // 4)


# ---------------------------------------------------------------------------- wedge problems
WEDGE_WORLD = "supersonic:wedge"
SHOCK_DIAGNOSTIC = "shock_angle"
PRESSURE_DIAGNOSTIC = "pressure_ratio"


def _mach(ctx: Context) -> float:
    return float(ctx.world_params.get("mach", 2.0))


def _wedge_params(design: Design, ctx: Context) -> dict[str, Any]:
    return {**ctx.world_params, "wedge_angle": design["wedge_angle"]}


def _shock_angle_objective(trace: Trace, ctx: Context) -> float:
    return abs(reduce_trace(trace, SHOCK_DIAGNOSTIC, "mean_last", _last_n(ctx)) - float(ctx.target))


def _shock_angle_surrogate(design: Design, ctx: Context) -> float:
    from atom_sdk.worlds.gasdynamics import shock_angle

    return abs(shock_angle(_mach(ctx), design["wedge_angle"]) - float(ctx.target))


def _shock_angle_optimum(ctx: Context) -> Design:
    from atom_sdk.worlds.gasdynamics import wedge_angle_for_shock

    return {"wedge_angle": wedge_angle_for_shock(_mach(ctx), float(ctx.target))}


def _pressure_objective(trace: Trace, ctx: Context) -> float:
    return abs(reduce_trace(trace, PRESSURE_DIAGNOSTIC, "mean_last", _last_n(ctx)) - float(ctx.target))


def _pressure_surrogate(design: Design, ctx: Context) -> float:
    from atom_sdk.worlds.gasdynamics import oblique_shock

    return abs(oblique_shock(_mach(ctx), design["wedge_angle"]).pressure_ratio - float(ctx.target))


def _pressure_optimum(ctx: Context) -> Design | None:
    from atom_sdk.worlds.gasdynamics import detachment_angle, oblique_shock

    mach, target = _mach(ctx), float(ctx.target)
    top = detachment_angle(mach) - 1e-9
    f = lambda theta: oblique_shock(mach, theta).pressure_ratio - target  # noqa: E731
    if f(0.0) > 0 or f(top) < 0:
        return None
    return {"wedge_angle": float(brentq(f, 0.0, top, xtol=1e-12))}


def _wedge_model(design: Design, ctx: Context) -> dict[str, float]:
    """The oblique-shock relations for the wedge world's shock diagnostics (raises past detachment)."""
    from atom_sdk.worlds.gasdynamics import oblique_shock

    shock = oblique_shock(_mach(ctx), design["wedge_angle"])
    out = {"shock_angle": shock.beta, "pressure_ratio": shock.pressure_ratio, "wedge_angle": design["wedge_angle"],
           "theory_shock_angle": shock.beta, "theory_pressure_ratio": shock.pressure_ratio}
    if ctx.target is not None:
        out["shock_angle_error"] = abs(shock.beta - float(ctx.target))
    return out


WEDGE_SPACE = DesignSpace((Parameter("wedge_angle", 2.0, 28.0, "wedge half-angle in degrees"),))
def _wedge_problem(**kwargs: Any) -> Problem:
    """A problem over the wedge half-angle on the wedge world: Mach 2, 64 x 48 cells, 40 steps by default."""
    return Problem(world=WEDGE_WORLD, space=WEDGE_SPACE, world_params=_wedge_params, default_steps=40,
                   default_grid=(64, 48, 1), default_world_params={"mach": 2.0}, model=_wedge_model,
                   **kwargs)


WEDGE_SHOCK_ANGLE = _wedge_problem(
    name="wedge_shock_angle",
    description="find the wedge half-angle whose attached oblique shock sits at a target angle",
    objective=_shock_angle_objective, surrogate=_shock_angle_surrogate, known_optimum=_shock_angle_optimum,
    default_target=45.0, target_meaning="shock angle beta in degrees",
    objective_meaning="|mean measured shock angle over the last quarter of the rollout - target| (deg)",
    objective_unit="deg",
)

WEDGE_PRESSURE_RATIO = _wedge_problem(
    name="wedge_pressure_ratio",
    description="find the wedge half-angle whose oblique shock gives a target static-pressure ratio p2/p1",
    objective=_pressure_objective, surrogate=_pressure_surrogate, known_optimum=_pressure_optimum,
    default_target=2.0, target_meaning="pressure ratio p2/p1 across the shock",
    objective_meaning="|mean measured p2/p1 over the last quarter of the rollout - target|",
    objective_unit="1",
)


# ---------------------------------------------------------------------------- cylinder
def _cylinder_params(design: Design, ctx: Context) -> dict[str, Any]:
    ny = ctx.grid[1]
    return {**ctx.world_params, "cylinder_y": design["cylinder_y_fraction"] * ny - 0.5}


def _cylinder_action(design: Design, step: int, ctx: Context) -> np.ndarray:
    del step, ctx
    return np.array([design["jet"]])


def _cylinder_objective(trace: Trace, ctx: Context) -> float:
    return reduce_trace(trace, "drag_mean", "mean_last", _last_n(ctx))


CYLINDER_DRAG = Problem(
    name="cylinder_drag", world="lbm2d:cylinder",
    description="steady jet blowing and vertical cylinder placement that minimise the mean drag coefficient",
    space=DesignSpace((
        Parameter("jet", -0.06, 0.06, "steady top-jet mass flux, fraction of U D (bottom jet = -jet)"),
        Parameter("cylinder_y_fraction", 0.35, 0.65, "cylinder centre height as a fraction of the channel"),
    )),
    objective=_cylinder_objective, world_params=_cylinder_params, action=_cylinder_action,
    default_steps=20, default_grid=(96, 34, 1),
    default_world_params={"u_inlet": 0.05, "reynolds": 20.0, "substeps": 40},
    objective_meaning="mean drag coefficient C_D over the last quarter of the rollout",
    objective_unit="1",
)


# ---------------------------------------------------------------------------- analytical quadratic
def _quadratic_model(design: Design, ctx: Context) -> dict[str, float]:
    """Diagnostics of the analytical test problem (no world): f, q and the linear forms g, h."""
    del ctx
    x, y = design["x"], design["y"]
    return {"f": (x - 2.0) ** 2 + (y - 1.0) ** 2, "q": x * x + y * y, "g": x + y, "h": x - y, "x": x, "y": y}


def _no_world_params(design: Design, ctx: Context) -> dict[str, Any]:
    del design, ctx
    return {}


def _quadratic_objective(trace: Trace, ctx: Context) -> float:
    del ctx
    return reduce_trace(trace, "f", "final")


CONSTRAINED_QUADRATIC = Problem(
    name="constrained_quadratic", world=None,
    description="analytical test of the objective language: minimise f=(x-2)^2+(y-1)^2 under constraints on "
                "g=x+y, h=x-y (e.g. g<=2 -> optimum (1.5, 0.5), f=0.5); also q=x^2+y^2, x, y",
    space=DesignSpace((Parameter("x", -1.0, 4.0, "first coordinate"), Parameter("y", -1.0, 4.0, "second coordinate"))),
    objective=_quadratic_objective, world_params=_no_world_params, model=_quadratic_model,
    optimum_from_model=True, default_steps=1, default_grid=(1, 1, 1),
    diagnostics=("f", "g", "h", "q", "x", "y"), units={k: "1" for k in "fghqxy"}, objective_meaning="f = (x-2)^2 + (y-1)^2",
    objective_unit="1",
)


# ---------------------------------------------------------------------------- Taylor-Green
TG_SEGMENTS = 4
TG_ACTION_MAX = 0.05


def _tg_params(design: Design, ctx: Context) -> dict[str, Any]:
    del design
    params = dict(ctx.world_params)
    if ctx.target is not None:
        params["target_energy_fraction"] = float(ctx.target)
    return params


def _tg_action(design: Design, step: int, ctx: Context) -> np.ndarray:
    segment = min(TG_SEGMENTS - 1, step * TG_SEGMENTS // max(ctx.rollout_steps, 1))
    return np.array([design[f"level_{segment}"]])


def _tg_objective(trace: Trace, ctx: Context) -> float:
    return reduce_trace(trace, "energy_error", "mean")


TAYLOR_GREEN_FORCING = Problem(
    name="taylor_green_forcing", world="analytical:taylor_green",
    description="a piecewise-constant forcing schedule that drives the vortex energy to a target fastest",
    space=DesignSpace(tuple(Parameter(f"level_{i}", -TG_ACTION_MAX, TG_ACTION_MAX,
                                      f"forcing amplitude in segment {i} of {TG_SEGMENTS}")
                            for i in range(TG_SEGMENTS))),
    objective=_tg_objective, world_params=_tg_params, action=_tg_action,
    default_target=0.5, target_meaning="target energy as a fraction of the initial energy",
    default_steps=60, default_grid=(8, 8, 1),
    default_world_params={"amplitude_jitter": 0.0, "action_max": TG_ACTION_MAX},
    objective_meaning="time-mean relative energy error |E - E*| / E* (small = reached fast and held)",
    objective_unit="1",
)


PROBLEMS: dict[str, Problem] = {p.name: p for p in (WEDGE_SHOCK_ANGLE, WEDGE_PRESSURE_RATIO, CYLINDER_DRAG,
                                                    TAYLOR_GREEN_FORCING, CONSTRAINED_QUADRATIC)}


def register_problem(problem: Problem, *, overwrite: bool = False) -> None:
    """Add a problem (module-level functions only if it should run in worker processes)."""
    if problem.name in PROBLEMS and not overwrite:
        raise ConfigError(f"problem '{problem.name}' already exists; pass overwrite=True to replace it")
    PROBLEMS[problem.name] = problem


def get_problem(name: str) -> Problem:
    try:
        return PROBLEMS[name]
    except KeyError:
        raise ConfigError(f"unknown design problem '{name}'; choose one of: {', '.join(sorted(PROBLEMS))}") from None


def list_problems() -> list[dict[str, Any]]:
    """Every problem's spec template (for ``atom design --list`` and the API)."""
    return [PROBLEMS[name].spec_template() for name in sorted(PROBLEMS)]

