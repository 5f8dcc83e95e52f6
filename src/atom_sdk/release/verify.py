"""Verify a release packet from the packet alone: hashes, provenance, signature, and re-derived verdicts.

Why a separate ``--recompute``: the hash and signature checks say the packet is what its builder
made; they do not say the builder was right. With ``--recompute`` a third party re-derives, from
the packet's own ``inputs/``, ``ablation/`` and ``dist/``, every verdict the evidence claims that
can be recomputed, and checks that the Markdown report is the one rendered from the JSON.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from atom_sdk.release import signing
from atom_sdk.release.gates import sha256_file
from atom_sdk.release.packet import (
    EVIDENCE, EVIDENCE_MD, INPUTS_MANIFEST, PREDICATE_TYPE, PROVENANCE, PUBLIC_KEY, SIGNATURE, STATEMENT_TYPE, SUMS,
    SURFACE, UNLISTED, packet_files, read_sums,
)


def _hash_problems(folder: Path) -> tuple[list[str], set[str]]:
    sums = read_sums(folder / SUMS)
    present = {rel for rel in packet_files(folder) if rel not in UNLISTED}
    problems = [f"removed: {rel} is listed in {SUMS} but missing" for rel in sorted(set(sums) - present)]
    problems += [f"added: {rel} is not listed in {SUMS}" for rel in sorted(present - set(sums))]
    problems += [f"changed: {rel} does not match its SHA-256" for rel in sorted(set(sums) & present)
                 if sha256_file(folder / rel) != sums[rel]]
    return problems, present


def _provenance_problems(folder: Path, present: set[str]) -> tuple[list[str], dict[str, Any] | None]:
    """Problems with the statement and the evidence document (parsed on its own, so each is named right)."""
    problems: list[str] = []
    prov_path = folder / PROVENANCE
    if not prov_path.is_file():
        return [f"{PROVENANCE} is missing"], None
    try:
        stmt = json.loads(prov_path.read_text(encoding="utf-8"))
        if stmt.get("_type") != STATEMENT_TYPE or stmt.get("predicateType") != PREDICATE_TYPE:
            problems.append(f"{PROVENANCE} is not an in-toto v1 statement with a SLSA v1 predicate")
        subjects = {s["name"]: s["digest"]["sha256"] for s in stmt.get("subject", [])}
        expected = present - {PROVENANCE}
        problems += [f"provenance: {rel} is not a subject" for rel in sorted(expected - set(subjects))]
        problems += [f"provenance: subject {rel} is not in the packet" for rel in sorted(set(subjects) - expected)]
        problems += [f"provenance: subject {rel} digest differs from the file" for rel in sorted(set(subjects) & expected)
                     if subjects[rel] != sha256_file(folder / rel)]
        deps = stmt["predicate"]["buildDefinition"]["resolvedDependencies"]
        commit = next((d["digest"].get("gitCommit") for d in deps if d.get("name") == "source"), None)
    except (json.JSONDecodeError, KeyError, TypeError, AttributeError) as exc:
        return [*problems, f"{PROVENANCE} is malformed ({exc})"], None
    ev_path = folder / EVIDENCE
    if not ev_path.is_file():
        return problems, None
    try:
        doc = json.loads(ev_path.read_text(encoding="utf-8"))
        ev_commit = doc["git"]["commit"]
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError) as exc:
        return [*problems, f"{EVIDENCE} is malformed ({type(exc).__name__}: {exc})"], None
    if ev_commit != commit:
        problems.append(f"provenance commit {commit} differs from the evidence commit {ev_commit}")
    return problems, doc


def recompute_problems(folder: Path, doc: dict[str, Any]) -> tuple[list[str], list[str]]:
    """Re-derive the evidence from the packet's own inputs: (problems, what was re-derived)."""
    from atom_sdk.release.evidence_document import render_markdown
    from atom_sdk.release.recompute import audit

    manifest_path = folder / INPUTS_MANIFEST
    if not manifest_path.is_file():
        return [f"{INPUTS_MANIFEST} is missing: the packet carries no inputs to recompute from"], []
    layout = json.loads(manifest_path.read_text(encoding="utf-8")).get("files", {})

    def resolve(rec: str) -> Path | None:
        rel = layout.get(rec)
        return folder / rel if rel else None

    surface = json.loads((folder / SURFACE).read_text(encoding="utf-8")) if (folder / SURFACE).is_file() else None
    dists = sorted((folder / "dist").glob("*")) if (folder / "dist").is_dir() else []
    result = audit(doc, resolve, profile=doc.get("profile", "release"), root=folder, dists=dists, surface=surface)
    sbom = folder / "sbom" / "sbom.cdx.json"
    try:
        component = json.loads(sbom.read_text(encoding="utf-8"))["metadata"]["component"]
        described = (component.get("name"), component.get("version"))
    except (OSError, json.JSONDecodeError, KeyError, TypeError):
        described = None
    result.rederived.append(f"SBOM describes {described}")
    if described != ("atom-oss-sdk", doc.get("sdk_version")):
        result.problems.append(f"sbom/sbom.cdx.json metadata.component is {described}, not atom-oss-sdk "
                               f"{doc.get('sdk_version')}")
    md = folder / EVIDENCE_MD
    try:
        same = md.is_file() and md.read_text(encoding="utf-8") == render_markdown(doc)
    except (KeyError, TypeError):
        same = False
    if not same:
        result.problems.append(f"{EVIDENCE_MD} is not the report rendered from {EVIDENCE}")
    return result.problems, result.rederived


def verify_packet(folder: str | Path, *, public_key: str | Path | None = None, require_signature: bool = False,
                  profile: str | None = None, recompute: bool = False) -> dict[str, Any]:
    """Every problem with a packet (changed/added/removed files, provenance, signature, re-derived verdicts).

    ``profile`` defaults to the profile the packet's evidence was made under; under ``release`` an
    unsigned packet fails. ``recompute`` re-derives every recomputable verdict from the packet alone.
    """
    folder = Path(folder)
    if not (folder / SUMS).is_file():
        return {"ok": False, "problems": [f"{SUMS} is missing from {folder}"], "files": 0, "signed": False,
                "key": None, "profile": profile, "rederived": []}
    problems, present = _hash_problems(folder)
    more, doc = _provenance_problems(folder, present)
    problems += more
    profile = profile or (doc or {}).get("profile")

    signed = (folder / SIGNATURE).is_file()
    pinned = signing.resolve_public_key(public_key)
    key_source = None
    if signed:
        key_source = "pinned" if pinned else "included in the packet (not pinned)"
        problem = signing.signature_problem(pinned or folder / PUBLIC_KEY, folder / SIGNATURE,
                                            (folder / SUMS).read_bytes(), key_source)
        if problem:
            problems.append(problem)
    elif require_signature or pinned:
        problems.append(f"signature: {SIGNATURE} is missing")
    elif profile == "release":
        problems.append(f"signature: {SIGNATURE} is missing and the release profile requires a signed packet")
    elif PUBLIC_KEY in present:
        # The hashed file list says the packet was built signed: a stripped signature is a downgrade.
        problems.append(f"signature: {SIGNATURE} is missing although the packet was signed ({PUBLIC_KEY} is listed)")

    rederived: list[str] = []
    if recompute:
        if doc is None:
            problems.append(f"--recompute: {EVIDENCE} is missing or unreadable")
        else:
            more, rederived = recompute_problems(folder, doc)
            problems += [f"recompute: {p}" for p in more]
    return {"ok": not problems, "problems": problems, "files": len(present), "signed": signed, "key": key_source,
            "profile": profile, "rederived": rederived}
