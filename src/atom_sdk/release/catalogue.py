"""The gate catalogue: the ten release gates, loaded from the ``gate_*`` modules that define them.

Why a module of its own: each gate module registers its gates with ``release.gates`` when it is
imported; this module imports them all and is the only place that lists, selects and runs the
whole set, so the registry never needs to import the gates back (no circle).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from atom_sdk.errors import ConfigError
from atom_sdk.release import (  # noqa: F401 - importing a gate module registers its gates
    gate_docs,
    gate_evidence,
    gate_packaging,
    gate_regression,
    gate_reproducibility,
    gate_security,
)
from atom_sdk.release.gates import GATE_IDS, Gate, GateContext, GateResult, registered, render_gate_table, run_gate


def all_gates() -> list[Gate]:
    """Every gate, in id order; refuses a catalogue that does not define exactly ``GATE_IDS``."""
    gates = registered()
    if tuple(g.id for g in gates) != GATE_IDS:
        raise ConfigError(f"the gate modules define {[g.id for g in gates]}, not {list(GATE_IDS)}")
    return gates


def get_gates(only: Iterable[str] | None = None) -> list[Gate]:
    """The gates named in ``only`` ("G-01,G-04" or a list), or all of them."""
    gates = all_gates()
    if not only:
        return gates
    wanted = [g.strip().upper() for item in only for g in str(item).split(",") if g.strip()]
    known = {g.id for g in gates}
    unknown = [w for w in wanted if w not in known]
    if unknown:
        raise ConfigError(f"unknown gate id(s) {', '.join(unknown)}; use one of {', '.join(sorted(known))}")
    return [g for g in gates if g.id in wanted]


def run_gates(ctx: GateContext, only: Sequence[str] | None = None,
              on_start: Callable[[Gate], None] | None = None,
              on_done: Callable[[Gate, GateResult], None] | None = None) -> list[GateResult]:
    results = []
    for g in get_gates(only):
        if on_start:
            on_start(g)
        result = run_gate(g, ctx)
        if on_done:
            on_done(g, result)
        results.append(result)
    return results


def gate_table() -> str:
    """The Markdown gate table of docs/SDK_RELEASE.md, from every gate."""
    return render_gate_table(all_gates())
