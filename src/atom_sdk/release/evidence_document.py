"""The release evidence document: its schema, its checks (G-08) and its Markdown rendering.

Named apart from the ``evidence`` package (the benches behind claims): this module is the
one document a release carries, which ``synthesis`` fills by running every gate.

Why G-08 validates the very document it belongs to: the evidence file is what reviewers and
the release packet trust, so it is checked against the schema shipped in the package before
it is written, and the release profile refuses skips, missing inputs and ``allow_missing``.
"""

from __future__ import annotations

import json
import platform
import sys
from collections.abc import Mapping, Sequence
from importlib import metadata, resources
from pathlib import Path
from typing import Any

from atom_sdk.workspace import ReportKind
from atom_sdk.release.gates import GATE_IDS, GateContext, GateRecorder, GateResult, gate_ok

EVIDENCE_SCHEMA = "atom.release_evidence/1"
#: the first words of ``render_markdown``'s report
MARKDOWN_TITLE = "# Release evidence: atom-oss-sdk"
EVIDENCE_JSON = ReportKind("release evidence JSON", schema=EVIDENCE_SCHEMA)
EVIDENCE_MARKDOWN = ReportKind("release evidence report", kind="markdown", header=MARKDOWN_TITLE)
SYNTHESIS_GATE = "G-08"


def load_schema() -> dict[str, Any]:
    text = resources.files("atom_sdk.release").joinpath("schemas/release_evidence.schema.json").read_text("utf-8")
    return json.loads(text)


def schema_errors(doc: Any) -> list[str]:
    import jsonschema

    validator = jsonschema.Draft202012Validator(load_schema())
    return [f"{'/'.join(str(p) for p in e.absolute_path) or '<root>'}: {e.message}"
            for e in sorted(validator.iter_errors(doc), key=lambda e: list(e.absolute_path))]


def check_evidence_document(rec: GateRecorder, doc: Mapping[str, Any], *, profile: str, draft: bool = False) -> None:
    """The G-08 checks over an evidence document (a draft without G-08 itself, or a stored one)."""
    errors = schema_errors(doc)
    rec.check("schema", not errors, "; ".join(errors[:3]) if errors else f"valid {EVIDENCE_SCHEMA}")
    if errors:
        return
    expected = set(GATE_IDS)
    named = {g["id"] for g in doc["gates"]} | ({SYNTHESIS_GATE} if draft else set())
    rec.check("names every gate", expected <= named, f"missing gates: {sorted(expected - named)}"
              if not expected <= named else f"{len(expected)} gates")
    rec.measure(evidence_profile=doc["profile"], gates_recorded=len(doc["gates"]))
    others = [g for g in doc["gates"] if g["id"] != SYNTHESIS_GATE]
    if profile == "release":
        rec.check("release profile", doc["profile"] == "release",
                  f"evidence was generated under profile {doc['profile']!r}")
        skips = [g["id"] for g in others if g["status"] == "skip"]
        missing = [f"{g['id']}: {m}" for g in others for m in g["missing_inputs"]]
        rec.check("no skip", not skips, f"skipped gates: {skips}" if skips else "none")
        rec.check("no missing input", not missing, f"missing: {missing[:5]}" if missing else "none")
        rec.check("no allow_missing", not doc["options"]["allow_missing"],
                  "allow_missing was set" if doc["options"]["allow_missing"] else "not set")
    bad = [g["id"] for g in others if not gate_ok(g["status"], profile)]
    rec.check("gates pass", not bad, f"failing under {profile}: {bad}" if bad else f"all pass under {profile}")


def dependency_versions() -> dict[str, str | None]:
    return {d.metadata["Name"].lower(): d.version for d in sorted(metadata.distributions(),
                                                                   key=lambda d: str(d.metadata["Name"]).lower())
            if d.metadata["Name"]}


def evidence_document(ctx: GateContext, results: Sequence[GateResult], options: Mapping[str, Any]) -> dict[str, Any]:
    from atom_sdk import __version__
    from atom_sdk.provenance import _git, utc_now

    status = _git("status", "--porcelain", "--untracked-files=no", cwd=ctx.root)
    failed = [r.id for r in results if not gate_ok(r.status, ctx.profile)]
    return {
        "schema": EVIDENCE_SCHEMA,
        "schema_version": 1,
        "generated_at": utc_now(),
        "profile": ctx.profile,
        "sdk_version": __version__,
        "git": {"commit": _git("rev-parse", "HEAD", cwd=ctx.root), "dirty": None if status is None else bool(status)},
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "dependencies": dependency_versions(),
        "options": {"allow_missing": ctx.allow_missing, **options},
        "gates": [r.to_dict() for r in results],
        "overall_pass": not failed,
        "failed_gates": failed,
    }


def relative_to_root(path: Path | None, root: Path) -> str | None:
    if path is None:
        return None
    try:
        return Path(path).resolve().relative_to(root).as_posix()
    except ValueError:
        return str(path)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    text = json.dumps(value) if isinstance(value, (list, dict)) else str(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _link(path: str, report_md: str | None) -> str:
    """Link target of an evidence file as seen from the report (a pure function of the JSON)."""
    import posixpath

    if report_md is None or posixpath.isabs(path) or posixpath.isabs(report_md):
        return path
    return posixpath.relpath(path, posixpath.dirname(report_md) or ".")


def render_markdown(doc: Mapping[str, Any]) -> str:
    """Gate table, key figures and links to every evidence file, from the JSON alone.

    Why from the JSON alone: the packet builder and ``verify --recompute`` re-render the report and
    refuse one that differs, so a Markdown report cannot say something its evidence does not.
    """
    verdict = "PASS" if doc["overall_pass"] else f"FAIL ({', '.join(doc['failed_gates'])})"
    commit = doc["git"]["commit"] or "unknown"
    report_md = (doc.get("options") or {}).get("report_md")
    lines = [f"{MARKDOWN_TITLE} {doc['sdk_version']}", "",
             f"- Profile: `{doc['profile']}`; overall: **{verdict}**",
             f"- Commit: `{commit}`{' (dirty tree)' if doc['git']['dirty'] else ''}",
             f"- Python {doc['python']} on {doc['platform']}; generated {doc['generated_at']}", "",
             "| Gate | Name | Status | Time (s) | Reason |", "|---|---|---|---|---|"]
    for g in doc["gates"]:
        reason = g["reason"].replace("|", "\\|")
        lines.append(f"| {g['id']} | {g['name']} | {g['status'].upper()} | {g['duration_s']:.1f} | {reason} |")
    lines += ["", "## Key figures", ""]
    for g in doc["gates"]:
        if g["measured"]:
            figures = ", ".join(f"{k}={_fmt(v)}" for k, v in list(g["measured"].items())[:8])
            lines.append(f"- **{g['id']}**: {figures}")
    lines += ["", "## Checks", ""]
    for g in doc["gates"]:
        for c in g["checks"]:
            lines.append(f"- {g['id']} {c['name']}: {c['status']} ({c['detail'][:160]})")
    lines += ["", "## Evidence files", ""]
    for g in doc["gates"]:
        for e in g["evidence"]:
            lines.append(f"- {g['id']} ({e['role']}): [{e['path']}]({_link(e['path'], report_md)}) "
                         f"sha256 `{e['sha256'][:16]}...`")
    return "\n".join(lines) + "\n"


def write_evidence(doc: Mapping[str, Any], json_path: Path, md_path: Path | None, root: Path) -> dict[str, Any]:
    """Write the JSON (recording where its report lives) and the report rendered from it; returns the JSON."""
    from atom_sdk.artifacts import atomic_write_text, write_json

    doc = {**doc, "options": {**doc["options"], "report_md": relative_to_root(md_path, Path(root).resolve()) if md_path else None}}
    write_json(json_path, doc)
    doc = json.loads(Path(json_path).read_text(encoding="utf-8"))  # render what the file says (key order included)
    if md_path is not None:
        atomic_write_text(md_path, render_markdown(doc))
    return doc


def validate_evidence(doc: Mapping[str, Any], profile: str, root: Path) -> GateResult:
    """G-08 over a stored document (used by the packet builder)."""
    rec = GateRecorder(GateContext(root=root, profile=profile), SYNTHESIS_GATE, "Release evidence synthesis")
    check_evidence_document(rec, doc, profile=profile)
    return rec.settle()
