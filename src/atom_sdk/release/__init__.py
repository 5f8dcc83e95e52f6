"""Release tooling: gates G-01..G-10, evidence synthesis, release packets, surface snapshots.

Modules: ``gates`` (record, context, registry), one ``gate_*`` module per concern,
``evidence`` (runs every gate into one schema-versioned JSON + Markdown), ``packet``
(build / verify / sign), ``semver`` (CLI and OpenAPI surface snapshot, SemVer rules).
Names are re-exported lazily so ``import atom_sdk.release`` stays cheap.
"""

from __future__ import annotations

_EXPORTS = {
    "GateContext": "gates",
    "GateResult": "gates",
    "all_gates": "catalogue",
    "run_gates": "catalogue",
    "gate_table": "catalogue",
    "generate_evidence": "synthesis",
    "validate_evidence": "evidence",
    "build_packet": "packet",
    "verify_packet": "verify",
    "keygen": "packet",
    "cli_surface": "semver",
    "write_snapshot": "semver",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(f"atom_sdk.release.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'atom_sdk.release' has no attribute {name!r}")
