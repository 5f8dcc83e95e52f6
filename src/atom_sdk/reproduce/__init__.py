"""Reproductions: published results re-run by one command (``atom reproduce NAME``).

Each ``Reproduction`` in ``REPRODUCTIONS`` declares its config, seeds, ``BUDGETS`` and the
``Published`` values it is compared with (with their citation); ``run_reproduction`` runs one
(``get_reproduction``, ``list_reproductions`` find them) and ``write_report`` writes
``report.json``, ``report.md`` and figures, which ``load_report`` reads back. ``readme_table``
turns finished reports into the README's "Reproduced results" table. Grid-convergence helpers
(Richardson extrapolation, observed order, GCI) are in :mod:`atom_sdk.reproduce.convergence`.
Names are handed on lazily.
"""

import lazy_loader as _lazy

__getattr__, __dir__, __all__ = _lazy.attach(
    __name__,
    submod_attrs={
        "registry": ["BUDGETS", "REPRODUCTIONS", "Published", "Reproduction", "get_reproduction",
                     "list_reproductions", "run_reproduction"],
        "report": ["load_report", "readme_table", "write_report"],
    },
)
