"""What each profile declares beyond "may a gate skip": the budgets its evidence must be produced at.

Why declared budgets: a verdict is only comparable with the budget it was measured at. The
integrity check at 192 samples and at 3072 samples answers different questions (at 192 the
Lorenz data do not identify the law, see ``docs/EVIDENCE.md``), so the release profile names
the one budget its G-04 report must have been run with, the gate records it and refuses a
report made at another, and the command that produces the report is printed from here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: Integrity bench settings per profile (``None``: any budget is accepted and recorded).
INTEGRITY_BUDGETS: dict[str, dict[str, Any] | None] = {
    "dev": None,
    "rc": None,
    "release": {"samples": 3072, "seeds": [0, 1, 2], "noise_levels": [0.0, 0.03, 0.06]},
}

#: How old an offline advisory snapshot may be under each profile (days; ``None``: no limit).
ADVISORY_MAX_AGE_DAYS: dict[str, int | None] = {"dev": None, "rc": 30, "release": 7}


def integrity_budget(profile: str) -> dict[str, Any] | None:
    return INTEGRITY_BUDGETS.get(profile)


def integrity_args(budget: Mapping[str, Any]) -> list[str]:
    """``atom bench integrity`` arguments that produce a report at ``budget``."""
    return ["--seeds", *map(str, budget["seeds"]), "--noise-levels", *(f"{n:g}" for n in budget["noise_levels"]),
            "--samples", str(budget["samples"])]


def budget_mismatch(settings: Mapping[str, Any] | None, budget: Mapping[str, Any]) -> list[str]:
    """Each declared setting that the report's ``settings`` do not match (empty: same budget)."""
    settings = settings or {}
    out = []
    for key, want in budget.items():
        have = settings.get(key)
        same = (sorted(float(x) for x in have) == sorted(float(x) for x in want)
                if isinstance(want, list) and isinstance(have, list) else have == want)
        if not same:
            out.append(f"{key}={have} (declared {want})")
    return out
