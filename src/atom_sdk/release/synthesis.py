"""Evidence synthesis: run the selected gates, then G-08 over the assembled document.

Why apart from ``release.evidence_document``: G-08 (in ``gate_evidence``) checks evidence documents with
``release.evidence_document``; running all gates needs the catalogue, which loads ``gate_evidence``.
Keeping the run here keeps both arrows pointing one way.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from atom_sdk.release.catalogue import get_gates
from atom_sdk.release.evidence_document import SYNTHESIS_GATE, evidence_document, relative_to_root
from atom_sdk.release.gates import Gate, GateContext, GateResult, run_gate


def generate_evidence(ctx: GateContext, only: Sequence[str] | None = None,
                      on_start: Callable[[Gate], None] | None = None,
                      on_done: Callable[[Gate, GateResult], None] | None = None) -> dict[str, Any]:
    """Run every selected gate, then G-08 over the assembled document; returns the document."""
    selected = get_gates(only)
    results = []
    for g in selected:
        if g.id == SYNTHESIS_GATE:
            continue
        if on_start:
            on_start(g)
        results.append(run_gate(g, ctx))
        if on_done:
            on_done(g, results[-1])
    options = {"only": list(only) if only else None, "rerun": ctx.rerun,
               "advisories": str(ctx.advisories) if ctx.advisories else None,
               "ablation_dir": relative_to_root(ctx.ablation_dir, ctx.root)}
    synth = next((g for g in selected if g.id == SYNTHESIS_GATE), None)
    if synth is not None:
        if on_start:
            on_start(synth)
        draft = evidence_document(ctx, results, options)
        ctx.extra["evidence_document"] = draft
        try:
            result = run_gate(synth, ctx)
        finally:
            ctx.extra.pop("evidence_document", None)
        results.append(result)
        if on_done:
            on_done(synth, result)
    results.sort(key=lambda r: r.id)
    return evidence_document(ctx, results, options)
