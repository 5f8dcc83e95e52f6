"""Units of a run's summary metrics (``results.json`` ``summary_units``).

Why: a summary number without its unit cannot be compared across worlds (a wedge's return is in
degrees, a cylinder's in drag coefficients). Averages of a diagnostic (``mean_<name>``) take the
world's ``diagnostic_units``; returns and rewards take its ``reward_unit`` (a return is a sum of
rewards); counts are ``"count"``; trust is a probability-like score in [0, 1], unit ``"1"``.
"""

from __future__ import annotations

from typing import Any

#: summary metrics that count things
COUNTS = ("steps", "episodes_completed", "updates", "diverged_episodes", "safety_interventions")
#: summary metrics measured in the world's reward unit
REWARDS = ("mean_reward", "mean_return", "final_return")
#: dimensionless summary metrics
SCORES = ("final_trust", "mean_trust")


def summary_units(world: Any, summary: dict[str, Any]) -> dict[str, str]:
    """The unit of every key of ``summary`` that has one known here (``world``: instance or class)."""
    diag = dict(getattr(world, "diagnostic_units", {}) or {})
    reward = str(getattr(world, "reward_unit", "1"))
    units: dict[str, str] = {}
    for key in summary:
        if key in COUNTS:
            units[key] = "count"
        elif key in REWARDS:
            units[key] = reward
        elif key in SCORES:
            units[key] = "1"
        elif key.startswith("mean_") and key[5:] in diag:
            units[key] = diag[key[5:]].unit
    return units
