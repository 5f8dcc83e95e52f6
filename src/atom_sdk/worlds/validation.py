"""Run the physics validation cases of the registered worlds."""

from __future__ import annotations

from dataclasses import replace
from typing import Callable

from atom_sdk.errors import AtomError
from atom_sdk.worlds.base import ValidationCase, ValidationResult
from atom_sdk.worlds.registry import get_spec, list_worlds


def validation_cases(world: str | None = None, *, include_slow: bool = False) -> list[ValidationCase]:
    """The cases of one world (or of every registered world); slow ones only when asked."""
    specs = [get_spec(world)] if world else list_worlds()
    cases: list[ValidationCase] = []
    for spec in specs:
        cls = spec.load()
        found = getattr(cls, "validation_cases", None)
        if found is None:
            continue
        cases.extend(case for case in found() if include_slow or not case.slow)
    return cases


def run_validation(world: str | None = None, *, include_slow: bool = False,
                   on_case: Callable[[ValidationCase, list[ValidationResult]], None] | None = None,
                   ) -> list[ValidationResult]:
    """Run the cases; a case that raises is recorded as a failed result, not a crash."""
    results: list[ValidationResult] = []
    for case in validation_cases(world, include_slow=include_slow):
        try:
            case_results = case.run()
        except AtomError as exc:
            case_results = [ValidationResult(case.world, case.name, "error", float("nan"), float("nan"),
                                              float("nan"), 0.0, False, detail={"error": str(exc)})]
        # every row names a registered world: the one whose case ran it (see ValidationResult.kind)
        results.extend(r if r.world == case.world else replace(r, world=case.world, subject=r.subject or r.world)
                       for r in case_results)
        if on_case is not None:
            on_case(case, case_results)
    return results
