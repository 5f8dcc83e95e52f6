"""Inverse design: search a world's parameters (or action schedules) by rollouts of the world.

``run_design(spec)`` asks a backend (CMA-ES, evolutionary, random) for a generation of designs,
rolls each out on the real world, scores it, records infeasible designs with their reason, and
writes ``inverse_design_report.json`` plus a convergence plot.
"""

from atom_sdk.design.backends import BACKENDS, CMAESBackend, EvolutionaryBackend, RandomBackend, make_backend
from atom_sdk.design.problems import PROBLEMS, Context, Problem, get_problem, list_problems, register_problem
from atom_sdk.design.search import evaluations_to_reach, resolve_spec, run_design, run_search
from atom_sdk.design.space import CallableConstraint, DesignSpace, LinearConstraint, Parameter, parse_bound
from atom_sdk.design.spec import DesignSpec, ObjectiveSpec, build_spec, spec_hash

__all__ = [
    "BACKENDS", "CMAESBackend", "CallableConstraint", "Context", "DesignSpace", "DesignSpec", "EvolutionaryBackend",
    "LinearConstraint", "ObjectiveSpec", "PROBLEMS", "Parameter", "Problem", "RandomBackend", "build_spec",
    "evaluations_to_reach", "get_problem", "list_problems", "make_backend", "parse_bound", "register_problem",
    "resolve_spec", "run_design", "run_search", "spec_hash",
]
