"""Re-derive release verdicts from the inputs themselves, never from what the evidence says.

Why: the evidence JSON is a claim. A failing run with its statuses edited to "pass" is still a
well-formed document, so the packet builder and ``atom release verify --recompute`` check it the
way a third party would: every named input must hash to what the evidence recorded, every gate's
status must follow from its own checks, and every verdict that can be recomputed from the input
files (the integrity cells, the reliability records, the ablation folder, the baseline and the
surface snapshot, the advisory snapshot, the wheel) is recomputed and must agree.

``resolve(recorded_path)`` maps a path as the evidence records it to a local file: the
repository for the builder, the packet's ``inputs/`` folder for ``verify``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from atom_sdk.release.gates import GateContext, GateRecorder, gate_ok, sha256_file

Resolver = Callable[[str], Path | None]


@dataclass
class Rederivation:
    """Problems found and what was re-derived (for the report)."""

    problems: list[str] = field(default_factory=list)
    rederived: list[str] = field(default_factory=list)

    def disagree(self, gate: Mapping[str, Any], what: str, ok: bool, detail: str) -> None:
        self.rederived.append(f"{gate['id']} {what}: {'pass' if ok else 'fail'}")
        if not ok and gate["status"] == "pass":
            self.problems.append(f"{gate['id']} says pass, but {what} recomputed from its inputs fails: {detail}")


def derived_status(checks: list[Mapping[str, Any]]) -> str:
    """The status :meth:`GateRecorder.settle` gives these checks."""
    statuses = [c.get("status") for c in checks]
    if "fail" in statuses:
        return "fail"
    return "skip" if "skip" in statuses or not statuses else "pass"


def entries(doc: Mapping[str, Any], gate_id: str | None = None) -> list[dict[str, str]]:
    return [e for g in doc.get("gates", []) if gate_id in (None, g.get("id")) for e in g.get("evidence", [])]


def _named(doc: Mapping[str, Any], gate_id: str, basename: str) -> str | None:
    return next((e["path"] for e in entries(doc, gate_id) if Path(e["path"]).name == basename), None)


def _load(path: Path | None) -> Any:
    return json.loads(path.read_text(encoding="utf-8")) if path is not None and path.is_file() else None


# --------------------------------------------------------------------------- structure


def check_structure(doc: Mapping[str, Any], profile: str, root: Path) -> list[str]:
    """G-08 over the document, statuses that follow from the checks, an overall verdict that follows."""
    from atom_sdk.release.evidence_document import SYNTHESIS_GATE, check_evidence_document

    rec = GateRecorder(GateContext(root=root, profile=profile), SYNTHESIS_GATE, "Release evidence synthesis")
    check_evidence_document(rec, doc, profile=profile)
    if rec.settle().status != "pass":
        return [f"evidence does not pass under profile {profile!r}: {rec.result.reason}"]
    problems = []
    for g in doc["gates"]:
        want = derived_status(g["checks"])
        if g["status"] != want:
            failing = [f"{c['name']}: {c['detail'][:100]}" for c in g["checks"] if c["status"] != "pass"][:2]
            problems.append(f"{g['id']} status is {g['status']!r} but its own checks give {want!r}"
                            + (f" ({'; '.join(failing)})" if failing else ""))
    failed = [g["id"] for g in doc["gates"] if not gate_ok(g["status"], doc["profile"])]
    if doc["overall_pass"] != (not failed) or sorted(doc["failed_gates"]) != sorted(failed):
        problems.append(f"overall_pass={doc['overall_pass']} / failed_gates={doc['failed_gates']} do not follow "
                        f"from the gate statuses (failing: {failed})")
    return problems


def check_hashes(doc: Mapping[str, Any], resolve: Resolver) -> list[str]:
    """Every input the evidence names exists and has the SHA-256 it recorded."""
    problems = []
    for e in entries(doc):
        path = resolve(e["path"])
        if path is None or not path.is_file():
            problems.append(f"input {e['path']} named by the evidence is missing")
        elif sha256_file(path) != e["sha256"]:
            problems.append(f"input {e['path']} changed since the evidence was generated (SHA-256 differs)")
    return problems


# --------------------------------------------------------------------------- per gate


def _integrity(doc: Mapping[str, Any], gate: Mapping[str, Any], resolve: Resolver, out: Rederivation) -> None:
    from atom_sdk.evidence import integrity, null_trials
    from atom_sdk.release.profiles import budget_mismatch, integrity_budget

    rel = _named(doc, "G-04", "scientific_integrity.json")
    report = _load(resolve(rel)) if rel else None
    if not isinstance(report, Mapping) or "cells" not in report:
        out.disagree(gate, "the integrity verdict", False, "no integrity report with its cells is named")
        return
    failing = integrity.check(integrity.aggregate(report["cells"]), integrity.THRESHOLDS)
    names = [f"{f['system']}@{f['noise']:g} {f['check']}" for f in failing[:4]]
    loose = {k: v for k, v in (report.get("thresholds") or {}).items() if integrity.THRESHOLDS.get(k) != v}
    out.disagree(gate, "the integrity verdict", not failing and not loose and report.get("passed") is True,
                 f"failing cells {names}" if failing else f"thresholds differ from the SDK's: {loose}" if loose
                 else "the report does not say passed")
    budget = integrity_budget(doc["profile"])
    for name, ok, detail, _ in null_trials.trial_verdicts(report, integrity.THRESHOLDS, required=budget is not None):
        out.disagree(gate, f"the integrity {name}", ok, detail)
    if budget is not None:
        wrong = budget_mismatch(report.get("settings"), budget)
        out.disagree(gate, "the integrity budget", not wrong, f"report made at {', '.join(wrong)}")


def _reliability(doc: Mapping[str, Any], gate: Mapping[str, Any], resolve: Resolver, out: Rederivation) -> None:
    rel = _named(doc, "G-05", "reliability.json")
    report = _load(resolve(rel)) if rel else None
    if not isinstance(report, Mapping):
        out.disagree(gate, "the reliability verdict", False, "no reliability report is named")
        return
    records = report.get("records") or []
    bad = [f"{r.get('name', r.get('id', i))}.{k}" for i, r in enumerate(records)
           for k, c in (r.get("checks") or {}).items() if isinstance(c, Mapping) and c.get("passed") is not True]
    out.disagree(gate, "the reliability verdict", bool(records) and not bad and report.get("passed") is True,
                 f"failed checks {bad[:4]}" if bad else "no passing records")


def _safety(doc: Mapping[str, Any], gate: Mapping[str, Any], resolve: Resolver, out: Rederivation) -> None:
    from atom_sdk.release.gate_evidence import verdict

    rel = _named(doc, "G-06", "safety_validation.json")
    report = _load(resolve(rel)) if rel else None
    ok = isinstance(report, Mapping) and verdict(report) is True
    out.disagree(gate, "the safety verdict", ok, "no safety report that says passed is named")


def _ablation(doc: Mapping[str, Any], gate: Mapping[str, Any], resolve: Resolver, out: Rederivation,
              root: Path) -> None:
    from atom_sdk.release.gate_evidence import check_ablation

    rel = _named(doc, "G-07", "runs.json")
    folder = resolve(rel).parent if rel and resolve(rel) is not None else None
    if folder is None:
        out.disagree(gate, "the ablation checks", False, "no ablation folder is named")
        return
    rec = GateRecorder(GateContext(root=root, profile=doc["profile"]), "G-07", "Ablation validity")
    check_ablation(rec, folder)
    out.disagree(gate, "the ablation checks", rec.settle().status == "pass", rec.result.reason)


def _regression(doc: Mapping[str, Any], gate: Mapping[str, Any], resolve: Resolver, out: Rederivation,
                surface: Mapping[str, Any] | None) -> None:
    from atom_sdk.release.gate_regression import (
        EVIDENCE_SOURCES, compare_metrics, settings_differences, source_settings,
    )
    from atom_sdk.release.metrics import source_metrics
    from atom_sdk.release.semver import bump_ok, compare_surfaces, required_bump

    base_rel = _named(doc, "G-10", "baseline_evidence.json")
    baseline = _load(resolve(base_rel)) if base_rel else None
    if isinstance(baseline, Mapping) and baseline.get("metrics"):
        prefixes = {name: prefix for prefix, name in EVIDENCE_SOURCES.items()}
        prefixes["summary.json"] = "ablation"
        sources = {}
        for e in entries(doc, "G-10"):
            prefix, path = prefixes.get(Path(e["path"]).name), resolve(e["path"])
            if prefix and path is not None:
                sources[prefix] = path
        candidate = {k: s["value"] for prefix, path in sources.items() for k, s in source_metrics(prefix, path).items()}
        out.disagree(gate, "the version check", baseline.get("version") != doc["sdk_version"],
                     f"{doc['sdk_version']} was already released")
        differ = settings_differences(baseline.get("settings") or {}, source_settings(sources))
        out.disagree(gate, "the settings comparison", bool(baseline.get("settings")) and not differ,
                     "; ".join(differ[:3]) or "the baseline records no settings")
        bad = [r for r in compare_metrics(baseline, candidate) if r["regressed"]]
        out.disagree(gate, "the metric comparison", not bad, "; ".join(f"{r['metric']} ({r['why']})" for r in bad[:3]))
    snap_rel = _named(doc, "G-10", "surface_snapshot.json")
    snapshot = _load(resolve(snap_rel)) if snap_rel else None
    if isinstance(snapshot, Mapping) and surface is not None:
        need = required_bump(compare_surfaces(snapshot, surface))
        ok, detail = bump_ok(snapshot["version"], doc["sdk_version"], need)
        same = surface.get("version") == doc["sdk_version"]
        out.disagree(gate, "the SemVer check", ok and same, detail if same else
                     f"surface is of version {surface.get('version')}, evidence of {doc['sdk_version']}")


def _security(doc: Mapping[str, Any], gate: Mapping[str, Any], resolve: Resolver, out: Rederivation) -> None:
    from atom_sdk.release.advisories import advisory_problems, norm

    adv = (doc.get("options") or {}).get("advisories")
    rel = next((e["path"] for e in entries(doc, "G-02") if adv and Path(e["path"]).name == Path(adv).name), None)
    if rel is None:
        return  # audited online: nothing in the evidence to recompute from
    installed = {norm(k): v for k, v in (doc.get("dependencies") or {}).items()}
    runtime = (gate.get("measured") or {}).get("runtime_dependencies") or {}
    drift = [f"{n} {v} (evidence lists {installed.get(n)})" for n, v in runtime.items() if installed.get(norm(n)) != v]
    path = resolve(rel)
    problems = (["no runtime dependencies recorded"] if not runtime else []) + \
        ([f"runtime versions differ from the recorded environment: {drift[:3]}"] if drift else []) + \
        (advisory_problems(path, runtime, profile=doc["profile"], generated_at=doc.get("generated_at"))
         if path is not None and path.is_file() else [f"{rel} is missing"])
    out.disagree(gate, "the advisory snapshot", not problems, "; ".join(problems[:3]))


def _docs(doc: Mapping[str, Any], gate: Mapping[str, Any], resolve: Resolver, out: Rederivation) -> None:
    from atom_sdk.release.gate_docs import changelog_entry
    from atom_sdk.release.catalogue import gate_table
    from atom_sdk.release.gates import GATE_TABLE_BEGIN, GATE_TABLE_END

    rel = _named(doc, "G-09", "CHANGELOG.md")
    path = resolve(rel) if rel else None
    text = path.read_text(encoding="utf-8") if path is not None and path.is_file() else ""
    out.disagree(gate, "the CHANGELOG entry", bool(changelog_entry(text, doc["sdk_version"])),
                 f"no '## [{doc['sdk_version']}]' section")
    rel = _named(doc, "G-09", "SDK_RELEASE.md")
    path = resolve(rel) if rel else None
    if path is not None and path.is_file():
        body = path.read_text(encoding="utf-8")
        table = body.split(GATE_TABLE_BEGIN, 1)[-1].split(GATE_TABLE_END, 1)[0].strip()
        out.disagree(gate, "the gate table", table == gate_table(), "docs/SDK_RELEASE.md table is stale")


def _packaging(doc: Mapping[str, Any], gate: Mapping[str, Any], dists: list[Path], out: Rederivation) -> None:
    from atom_sdk.release.gate_packaging import EXTRA_ONLY, PACKAGE_DATA, split_requirements, wheel_metadata

    wheels = [d for d in dists if d.suffix == ".whl"]
    if len(wheels) != 1:
        out.disagree(gate, "the wheel checks", False, f"{len(wheels)} wheels in the packet")
        return
    try:
        headers, names = wheel_metadata(wheels[0])
    except Exception as exc:  # noqa: BLE001 - a wheel that cannot be read is a failed check, named
        out.disagree(gate, "the wheel checks", False, f"{wheels[0].name} is not a readable wheel ({exc})")
        return
    base, _ = split_requirements(headers.get("Requires-Dist", []))
    version = (headers.get("Version") or ["?"])[0]
    leaked = sorted({p for pkgs in EXTRA_ONLY.values() for p in pkgs} & set(base))
    lacking = [p for p in PACKAGE_DATA if p not in names]
    problems = ([f"wheel version {version} != evidence {doc['sdk_version']}"] if version != doc["sdk_version"] else []) \
        + ([f"extras as base requirements: {leaked}"] if leaked else []) + ([f"missing data {lacking}"] if lacking else [])
    out.disagree(gate, "the wheel checks", not problems, "; ".join(problems))


def rederive(doc: Mapping[str, Any], resolve: Resolver, *, root: Path, dists: list[Path] | None = None,
             surface: Mapping[str, Any] | None = None) -> Rederivation:
    """Every verdict that can be recomputed from the inputs; problems where a 'pass' does not hold."""
    out = Rederivation()
    gates = {g["id"]: g for g in doc.get("gates", [])}
    if "G-01" in gates and dists is not None:
        _packaging(doc, gates["G-01"], dists, out)
    if "G-02" in gates:
        _security(doc, gates["G-02"], resolve, out)
    if "G-04" in gates:
        _integrity(doc, gates["G-04"], resolve, out)
    if "G-05" in gates:
        _reliability(doc, gates["G-05"], resolve, out)
    if "G-06" in gates:
        _safety(doc, gates["G-06"], resolve, out)
    if "G-07" in gates:
        _ablation(doc, gates["G-07"], resolve, out, root)
    if "G-09" in gates:
        _docs(doc, gates["G-09"], resolve, out)
    if "G-10" in gates:
        _regression(doc, gates["G-10"], resolve, out, surface)
    return out


def audit(doc: Mapping[str, Any], resolve: Resolver, *, profile: str, root: Path, dists: list[Path] | None = None,
          surface: Mapping[str, Any] | None = None) -> Rederivation:
    """Structure, hashes and re-derived verdicts together (what the builder and verify --recompute run)."""
    out = Rederivation(problems=check_structure(doc, profile, root))
    if out.problems and any(p.startswith("evidence does not pass") and "schema" in p for p in out.problems):
        return out  # a document that is not even schema-valid cannot be walked
    out.problems += check_hashes(doc, resolve)
    again = rederive(doc, resolve, root=root, dists=dists, surface=surface)
    out.problems += again.problems
    out.rederived += again.rederived
    return out
