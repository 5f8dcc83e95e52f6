"""Evidence for platform claims: seed-paired ablation sweeps, statistics, worded claims and benches.

``run_ablation`` runs a resumable, seed-paired sweep of variants on an executor
(``make_executor``: serial, local process pool or Ray); ``summarize``, ``evaluate`` and
``claims_markdown`` turn its runs into decisions and worded claims (``paired_comparison`` is the
statistics behind each, ``aa_calibration`` its false-positive check); ``write_reports`` and
``regenerate`` draw the dashboard. The benches a release rests on run whole closed loops:
``run_integrity_benchmark`` (does the scientist recover known laws, honestly?),
``run_reliability_kernel`` (every world x variant: finite, complete, deterministic, resumable)
and ``run_fault_suite`` (does the safety envelope catch each injected fault?). Names are handed
on lazily, so importing the package stays cheap in spawned workers.
"""

import lazy_loader as _lazy

__getattr__, __dir__, __all__ = _lazy.attach(
    __name__,
    submod_attrs={
        "ablation": ["run_ablation"],
        "claims": ["aa_calibration", "claims_markdown", "evaluate", "summarize"],
        "executors": ["make_executor"],
        "fault_suite": ["run_fault_suite"],
        "integrity": ["run_integrity_benchmark"],
        "plots": ["regenerate", "write_reports"],
        "reliability": ["run_reliability_kernel"],
        "stats": ["paired_comparison"],
    },
)
