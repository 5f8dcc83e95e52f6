"""Release gates: the record every gate produces, the context it runs in, and the registry.

Why one record shape: the evidence file, the Markdown report, the CLI table and the release
packet all read the same fields, so a gate cannot "pass" in one view and not in another.
A gate is a pure-ish function ``GateContext -> GateResult``; every path it reads comes from
the context, so tests point it at fixtures instead of the real repository.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from atom_sdk.errors import ConfigError

PROFILES = ("dev", "rc", "release")
STATUSES = ("pass", "fail", "skip")


def sha256_file(path: str | Path) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass
class GateContext:
    """Where a gate looks. Defaults follow the repository layout; tests override any of them."""

    root: Path
    profile: str = "dev"
    outputs: Path | None = None          # validation_outputs/
    ablation_dir: Path | None = None     # benchmark_results/platform_ablations
    advisories: Path | None = None       # OSV advisory file for offline auditing
    baseline: Path | None = None         # release/baseline_evidence.json
    snapshot: Path | None = None         # release/surface_snapshot.json
    evidence_json: Path | None = None    # the synthesised evidence read by G-08 standalone
    allow_missing: bool = False          # dev convenience: a missing input is a skip, not a fail
    rerun: bool = False                  # re-produce G-04..G-06 evidence even when it is fresh
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.root = Path(self.root).resolve()
        if self.profile not in PROFILES:
            raise ConfigError(f"unknown profile {self.profile!r}; use one of {', '.join(PROFILES)}")
        self.outputs = Path(self.outputs) if self.outputs else self.root / "validation_outputs"
        self.ablation_dir = Path(self.ablation_dir) if self.ablation_dir else (
            self.root / "benchmark_results" / "platform_ablations")
        self.baseline = Path(self.baseline) if self.baseline else self.root / "release" / "baseline_evidence.json"
        self.snapshot = Path(self.snapshot) if self.snapshot else self.root / "release" / "surface_snapshot.json"
        self.evidence_json = Path(self.evidence_json) if self.evidence_json else (
            self.outputs / "release_evidence.json")
        if self.advisories is not None:
            self.advisories = Path(self.advisories)


@dataclass
class Check:
    """One sub-check inside a gate (a gate passes only if all of its checks pass)."""

    name: str
    status: str
    detail: str = ""


@dataclass
class GateResult:
    id: str
    name: str
    status: str = "pass"
    reason: str = ""
    measured: dict[str, Any] = field(default_factory=dict)
    thresholds: dict[str, Any] = field(default_factory=dict)
    evidence: list[dict[str, str]] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)
    missing_inputs: list[str] = field(default_factory=list)
    duration_s: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class GateRecorder:
    """Collects checks, evidence files and figures while a gate runs, then settles its status."""

    def __init__(self, ctx: GateContext, gate_id: str, name: str) -> None:
        self.ctx = ctx
        self.result = GateResult(gate_id, name)

    def check(self, name: str, ok: bool | None, detail: str = "") -> bool:
        """Record a sub-check; ``ok=None`` records a skip."""
        status = "skip" if ok is None else ("pass" if ok else "fail")
        self.result.checks.append(Check(name, status, detail))
        return bool(ok)

    def skip(self, name: str, detail: str) -> None:
        self.check(name, None, detail)

    def missing(self, name: str, path: str | Path, detail: str) -> None:
        """An input the gate needs does not exist: fail, or skip when the context allows it."""
        self.result.missing_inputs.append(self._rel(path))
        self.check(name, None if self.ctx.allow_missing else False, detail)

    def evidence(self, path: str | Path, role: str = "read") -> None:
        path = Path(path)
        if path.is_file():
            entry = {"path": self._rel(path), "sha256": sha256_file(path), "role": role}
            if entry not in self.result.evidence:
                self.result.evidence.append(entry)

    def measure(self, **values: Any) -> None:
        self.result.measured.update(values)

    def threshold(self, **values: Any) -> None:
        self.result.thresholds.update(values)

    def _rel(self, path: str | Path) -> str:
        path = Path(path).resolve()
        try:
            return path.relative_to(self.ctx.root).as_posix()
        except ValueError:
            return str(path)

    def settle(self) -> GateResult:
        statuses = [c.status for c in self.result.checks]
        failed = [c for c in self.result.checks if c.status == "fail"]
        skipped = [c for c in self.result.checks if c.status == "skip"]
        if failed:
            self.result.status = "fail"
            first = failed[0]
            more = f" (+{len(failed) - 1} more)" if len(failed) > 1 else ""
            self.result.reason = f"{first.name}: {first.detail}{more}"
        elif skipped or not statuses:
            self.result.status = "skip"
            first = skipped[0] if skipped else Check("gate", "skip", "no check ran")
            self.result.reason = f"{first.name}: {first.detail}"
        else:
            self.result.status = "pass"
            self.result.reason = f"{len(statuses)} check(s) passed"
        self.result.reason = " ".join(self.result.reason.split())[:400]
        return self.result


GateFn = Callable[[GateRecorder], None]


@dataclass(frozen=True)
class Gate:
    id: str
    name: str
    summary: str
    fn: GateFn
    slow: bool = False


_REGISTRY: dict[str, Gate] = {}

#: The ten release gates, by id. The gate modules register their functions under these ids and
#: ``atom_sdk.release.catalogue`` checks, when it loads them, that exactly these are defined; code
#: that needs only the ids (the evidence schema check) reads them here without loading any gate.
GATE_IDS: tuple[str, ...] = tuple(f"G-{i:02d}" for i in range(1, 11))


def gate(gate_id: str, name: str, summary: str, *, slow: bool = False) -> Callable[[GateFn], GateFn]:
    """Register a gate function under its id (``G-01`` ...)."""

    def decorate(fn: GateFn) -> GateFn:
        _REGISTRY[gate_id] = Gate(gate_id, name, summary, fn, slow)
        return fn

    return decorate


def registered() -> list[Gate]:
    """The gates registered so far, in id order (all of them once the catalogue is loaded)."""
    return [_REGISTRY[k] for k in sorted(_REGISTRY)]


def run_gate(g: Gate, ctx: GateContext) -> GateResult:
    """Run one gate; an unexpected exception is a failed gate, never a crash of the whole run."""
    rec = GateRecorder(ctx, g.id, g.name)
    started = time.perf_counter()
    try:
        g.fn(rec)
    except Exception as exc:  # noqa: BLE001 - a broken gate is a failed gate, reported by name
        rec.check("gate raised", False, f"{type(exc).__name__}: {exc}")
    result = rec.settle()
    result.duration_s = round(time.perf_counter() - started, 3)
    return result


def gate_ok(status: str, profile: str) -> bool:
    """A skip is tolerated while developing, never in a release."""
    return status == "pass" or (status == "skip" and profile != "release")


GATE_TABLE_BEGIN = "<!-- BEGIN GENERATED GATE TABLE (atom release gate-table --write) -->"
GATE_TABLE_END = "<!-- END GENERATED GATE TABLE -->"


def render_gate_table(gates: Sequence[Gate]) -> str:
    """The Markdown table kept between the markers in docs/SDK_RELEASE.md."""
    lines = ["| Gate | Name | What it checks |", "|---|---|---|"]
    lines += [f"| {g.id} | {g.name} | {g.summary} |" for g in gates]
    return "\n".join(lines)
