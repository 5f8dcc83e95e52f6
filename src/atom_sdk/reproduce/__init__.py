"""Reproductions: published results re-run by one command (``atom reproduce NAME``).

Each reproduction is declared in :mod:`atom_sdk.reproduce.registry` (config, seeds, budgets,
published values with their citation) and writes ``report.json``, ``report.md`` and figures
(:mod:`atom_sdk.reproduce.report`). ``readme_table`` turns finished reports into the README's
"Reproduced results" table.
"""

from __future__ import annotations

from atom_sdk.reproduce.convergence import fitted_order, grid_convergence_index, observed_order, richardson
from atom_sdk.reproduce.registry import (
    BUDGETS,
    REPRODUCTIONS,
    Published,
    Reproduction,
    comparison_row,
    get_reproduction,
    list_reproductions,
    run_reproduction,
    verdict,
)
from atom_sdk.reproduce.report import load_report, readme_table, write_report

__all__ = ["BUDGETS", "REPRODUCTIONS", "Published", "Reproduction", "comparison_row", "fitted_order",
           "get_reproduction", "grid_convergence_index", "list_reproductions", "load_report", "observed_order",
           "readme_table", "richardson", "run_reproduction", "verdict", "write_report"]
