"""Release tooling: gates G-01..G-10, evidence synthesis, release packets, surface snapshots.

``all_gates()`` lists the gates and ``run_gates(GateContext(...))`` runs them, one ``GateResult``
each; ``gate_table()`` renders them for docs/SDK_RELEASE.md. ``generate_evidence`` runs every gate
into one schema-versioned JSON + Markdown document, which ``validate_evidence`` checks again.
``build_packet`` assembles, hashes and signs a release packet (``keygen`` makes the Ed25519
signing key) and ``verify_packet`` checks one. ``cli_surface`` and ``write_snapshot`` record the
CLI and OpenAPI surface that SemVer is judged against. One ``gate_*`` module per concern holds
the gates themselves. Names are handed on lazily, so ``import atom_sdk.release`` stays cheap.
"""

import lazy_loader as _lazy

__getattr__, __dir__, __all__ = _lazy.attach(
    __name__,
    submod_attrs={
        "catalogue": ["all_gates", "gate_table", "run_gates"],
        "evidence_document": ["validate_evidence"],
        "gates": ["GateContext", "GateResult"],
        "packet": ["build_packet"],
        "semver": ["cli_surface", "write_snapshot"],
        "signing": ["keygen"],
        "synthesis": ["generate_evidence"],
        "verify": ["verify_packet"],
    },
)
