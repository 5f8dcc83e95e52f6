"""Evidence for platform claims: seed-paired ablation sweeps, statistics and worded claims.

Modules: ``stats`` (bootstrap CIs, sign-flip tests, effect sizes, Holm), ``claims``
(decisions, claims markdown, A/A calibration), ``ablation`` (the resumable sweep),
``executors`` (serial / local process pool / Ray), ``plots`` (dashboard and JSON-only
regeneration). Names are re-exported lazily so importing the package stays cheap in
spawned workers.
"""

from __future__ import annotations

_EXPORTS = {
    "run_ablation": "ablation",
    "variant_specs": "ablation",
    "VARIANT_SETS": "ablation",
    "aa_calibration": "claims",
    "evaluate": "claims",
    "summarize": "claims",
    "claims_markdown": "claims",
    "regenerate": "plots",
    "write_reports": "plots",
    "METRIC_DIRECTIONS": "stats",
    "bootstrap_mean_ci": "stats",
    "sign_flip_pvalue": "stats",
    "cohens_dz": "stats",
    "cliffs_delta": "stats",
    "holm": "stats",
    "paired_comparison": "stats",
    "make_executor": "executors",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(f"atom_sdk.evidence.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'atom_sdk.evidence' has no attribute {name!r}")
