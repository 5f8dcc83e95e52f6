"""Inverse design: search a world's parameters (or action schedules) by rollouts of the world.

``run_design(spec)`` asks a backend (CMA-ES, evolutionary, random) for a generation of designs,
rolls each out on the real world, scores it, records infeasible designs with their reason, and
writes ``inverse_design_report.json`` plus a convergence plot. A ``DesignSpec`` (with its
``ObjectiveSpec``) names the problem; ``resolve_spec`` fills in the problem's defaults.
``run_search`` is the search alone over a ``DesignSpace`` of ``Parameter``s; a ``Problem`` is
registered by name (``register_problem``, ``get_problem``, ``list_problems``);
``evaluations_to_reach`` reads how fast a search got there. The objective language (weighted
``Objective``s, ``DiagnosticConstraint``s, a ``Penalty``, feasibility-first ranking) is in
``language``; ``ranking`` scores and orders evaluated designs by it. Names are handed on lazily.
"""

import lazy_loader as _lazy

__getattr__, __dir__, __all__ = _lazy.attach(
    __name__,
    submod_attrs={
        "language": ["DiagnosticConstraint", "Objective", "Penalty"],
        "problems": ["Problem", "get_problem", "list_problems", "register_problem"],
        "search": ["evaluations_to_reach", "resolve_spec", "run_design", "run_search"],
        "space": ["DesignSpace", "Parameter"],
        "spec": ["DesignSpec", "ObjectiveSpec"],
    },
)
