"""The release packet: evidence, ablation artifacts, dists, SBOM, provenance, hashes, signature.

Why SHA256SUMS + in-toto/SLSA + Ed25519: anyone holding the packet can check that no file
was changed, added or removed (SHA256SUMS), how and from what it was built (the SLSA
provenance statement), and, with the public key, who built it (the signature over SHA256SUMS).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess  # nosec B404 - fixed argv lists, no shell
import sys
import tempfile
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from atom_sdk.errors import ArtifactError, ConfigError, ValidationFailedError
from atom_sdk.release.gates import sha256_file

SUMS = "SHA256SUMS"
SIGNATURE = "SHA256SUMS.sig"
PUBLIC_KEY = "signing_key.pub.pem"
PROVENANCE = "provenance.intoto.json"
EVIDENCE = "evidence/release_evidence.json"
UNLISTED = {SUMS, SIGNATURE}
STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "https://slsa.dev/provenance/v1"
BUILD_TYPE = "https://atom-oss-sdk.dev/release-packet/v1"
BUILDER_ID = "https://atom-oss-sdk.dev/builders/atom-release-packet"


# --------------------------------------------------------------------------- keys


def keygen(out_dir: str | Path, *, overwrite: bool = False) -> tuple[Path, Path]:
    """An Ed25519 key pair as PEM: ``release_signing_key.pem`` (0600) and ``release_signing_key.pub.pem``."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    private, public = out / "release_signing_key.pem", out / "release_signing_key.pub.pem"
    if not overwrite and (private.exists() or public.exists()):
        raise ArtifactError(f"{private} already exists; pick another --out folder or pass --overwrite")
    key = Ed25519PrivateKey.generate()
    data = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())
    fd = os.open(private, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    public.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                     serialization.PublicFormat.SubjectPublicKeyInfo))
    return private, public


def _load_private(path: Path):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise ConfigError(f"--signing-key {path} is not a readable unencrypted PEM private key ({exc}); "
                          "create one with `atom release keygen --out KEYDIR`") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise ConfigError(f"--signing-key {path} is not an Ed25519 key; create one with `atom release keygen`")
    return key


# --------------------------------------------------------------------------- hashes


def packet_files(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


def write_sums(folder: Path) -> Path:
    lines = [f"{sha256_file(folder / rel)}  {rel}" for rel in packet_files(folder) if rel not in UNLISTED]
    path = folder / SUMS
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def read_sums(path: Path) -> dict[str, str]:
    sums: dict[str, str] = {}
    for no, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        digest, sep, rel = line.partition("  ")
        if not sep or len(digest) != 64:
            raise ArtifactError(f"{path.name} line {no} is malformed: {line[:80]!r}")
        sums[rel] = digest
    return sums


# --------------------------------------------------------------------------- SBOM and dists


def make_sbom(dest: Path, python: str = sys.executable) -> Path:
    """CycloneDX JSON SBOM of the environment that builds the release."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run([sys.executable, "-m", "cyclonedx_py", "environment", "--of", "JSON",  # nosec B603
                           "--output-reproducible", "-o", str(dest), python],
                          capture_output=True, text=True, timeout=600, check=False)
    if proc.returncode != 0 or not dest.is_file():
        raise ArtifactError(f"SBOM generation failed: {proc.stderr.strip()[-300:]}",
                            hint="install the dev extra (cyclonedx-bom) and retry")
    return dest


def _default_dists(root: Path, dest: Path) -> list[Path]:
    from atom_sdk.release.gate_packaging import build_dists

    return list(build_dists(root, dest))


# --------------------------------------------------------------------------- provenance


def provenance_statement(folder: Path, *, commit: str | None, dirty: bool | None, materials: list[dict[str, Any]],
                         parameters: Mapping[str, Any], started: str, finished: str) -> dict[str, Any]:
    """in-toto Statement v1 with a SLSA provenance v1 predicate; subjects are every packet file."""
    from atom_sdk import __version__

    subjects = [{"name": rel, "digest": {"sha256": sha256_file(folder / rel)}}
                for rel in packet_files(folder) if rel not in UNLISTED | {PROVENANCE}]
    deps = [{"uri": "git+file://atom-oss-sdk", "digest": {"gitCommit": commit or ""}, "name": "source"}, *materials]
    return {
        "_type": STATEMENT_TYPE,
        "subject": subjects,
        "predicateType": PREDICATE_TYPE,
        "predicate": {
            "buildDefinition": {
                "buildType": BUILD_TYPE,
                "externalParameters": dict(parameters),
                "internalParameters": {"python": sys.version.split()[0], "dirty_tree": dirty},
                "resolvedDependencies": deps,
            },
            "runDetails": {
                "builder": {"id": BUILDER_ID, "version": {"atom-oss-sdk": __version__}},
                "metadata": {"invocationId": str(uuid.uuid4()), "startedOn": started, "finishedOn": finished},
            },
        },
    }


# --------------------------------------------------------------------------- build


def _changelog_entry(root: Path, version: str) -> str:
    from atom_sdk.release.gate_docs import changelog_entry

    path = root / "CHANGELOG.md"
    body = changelog_entry(path.read_text(encoding="utf-8"), version) if path.is_file() else None
    if not body:
        raise ValidationFailedError(f"CHANGELOG.md has no '## [{version}]' entry; add one before building a packet")
    return f"## [{version}]\n\n{body}\n"


def build_packet(root: str | Path, *, ablation_dir: str | Path, evidence_json: str | Path,
                 evidence_md: str | Path, output_dir: str | Path, profile: str = "release",
                 signing_key: str | Path | None = None, overwrite: bool = False,
                 commit: str | None = None, dirty: bool | None = None,
                 dists_fn: Callable[[Path, Path], list[Path]] | None = None,
                 sbom_fn: Callable[[Path], Path] | None = None) -> dict[str, Any]:
    """Assemble and hash a release packet; refuses unless the evidence passes for this commit.

    ``commit``/``dirty`` default to the repository's; ``dists_fn(root, dest)`` and
    ``sbom_fn(dest)`` default to building sdist+wheel and running cyclonedx-py (tests inject fakes).
    """
    from atom_sdk import __version__
    from atom_sdk.provenance import _git, utc_now
    from atom_sdk.release.evidence import validate_evidence

    root = Path(root).resolve()
    started = utc_now()
    ev_json, ev_md, abl = Path(evidence_json), Path(evidence_md), Path(ablation_dir)
    for path, flag in ((ev_json, "--release-evidence-json"), (ev_md, "--release-evidence-md")):
        if not path.is_file():
            raise ArtifactError(f"{flag} {path} does not exist; run scripts/generate_release_evidence.py first")
    if not abl.is_dir():
        raise ArtifactError(f"--ablation-dir {abl} does not exist; run `atom ablate` first")
    doc = json.loads(ev_json.read_text(encoding="utf-8"))
    verdict = validate_evidence(doc, profile, root)
    if verdict.status != "pass" or not doc.get("overall_pass"):
        raise ValidationFailedError(f"release evidence does not pass under profile {profile!r}: {verdict.reason}; "
                                    f"failed gates: {doc.get('failed_gates')}")
    if commit is None:
        commit = _git("rev-parse", "HEAD", cwd=root)
        status = _git("status", "--porcelain", "--untracked-files=no", cwd=root)
        dirty = None if status is None else bool(status)
    if doc["git"]["commit"] != commit:
        raise ValidationFailedError(f"evidence was generated at commit {doc['git']['commit']} but the tree is at "
                                    f"{commit}; regenerate the evidence")
    if profile == "release" and (dirty or doc["git"].get("dirty")):
        raise ValidationFailedError("the working tree has uncommitted changes to tracked files; commit them and "
                                    "regenerate the evidence before building a release packet")
    if doc["sdk_version"] != __version__:
        raise ValidationFailedError(f"evidence is for version {doc['sdk_version']} but the package is {__version__}")

    out = Path(output_dir)
    if out.exists() and any(out.iterdir()):
        if not overwrite:
            raise ArtifactError(f"{out} exists and is not empty; pick another --output-dir or pass --overwrite")
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    materials = []
    (out / "evidence").mkdir()
    shutil.copy2(ev_json, out / "evidence" / "release_evidence.json")
    shutil.copy2(ev_md, out / "evidence" / "release_evidence.md")
    (out / "ablation").mkdir()
    for src in sorted(p for p in abl.rglob("*") if p.is_file() and "runs" not in p.relative_to(abl).parts[:-1]):
        dest = out / "ablation" / src.relative_to(abl)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dest)
    with tempfile.TemporaryDirectory(prefix="atom-packet-") as tmp:
        dists = (dists_fn or _default_dists)(root, Path(tmp))
        (out / "dist").mkdir()
        for d in dists:
            shutil.copy2(d, out / "dist" / d.name)
    (sbom_fn or make_sbom)(out / "sbom" / "sbom.cdx.json")
    (out / "CHANGELOG_ENTRY.md").write_text(_changelog_entry(root, __version__), encoding="utf-8")
    openapi = root / "docs" / "openapi.json"
    if openapi.is_file():
        shutil.copy2(openapi, out / "openapi.json")
    for name in ("pyproject.toml", "CHANGELOG.md"):
        if (root / name).is_file():
            materials.append({"uri": f"file:{name}", "digest": {"sha256": sha256_file(root / name)}, "name": name})
    for g in doc["gates"]:
        for e in g["evidence"]:
            materials.append({"uri": f"file:{e['path']}", "digest": {"sha256": e["sha256"]},
                              "name": f"{g['id']}:{e['role']}"})

    if signing_key is not None:
        from cryptography.hazmat.primitives import serialization

        key = _load_private(Path(signing_key))
        (out / PUBLIC_KEY).write_bytes(key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    params = {"profile": profile, "ablation_dir": str(abl), "release_evidence_json": str(ev_json),
              "release_evidence_md": str(ev_md), "signed": signing_key is not None}
    statement = provenance_statement(out, commit=commit, dirty=dirty, materials=materials, parameters=params,
                                     started=started, finished=utc_now())
    (out / PROVENANCE).write_text(json.dumps(statement, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    sums = write_sums(out)
    if signing_key is not None:
        (out / SIGNATURE).write_bytes(_load_private(Path(signing_key)).sign(sums.read_bytes()).hex().encode() + b"\n")
    return {"output_dir": str(out), "files": len(packet_files(out)), "commit": commit,
            "signed": signing_key is not None, "subjects": len(statement["subject"])}


# --------------------------------------------------------------------------- verify


def verify_packet(folder: str | Path, *, public_key: str | Path | None = None,
                  require_signature: bool = False) -> dict[str, Any]:
    """Every problem with a packet (changed/added/removed files, provenance, signature)."""
    folder = Path(folder)
    problems: list[str] = []
    if not (folder / SUMS).is_file():
        return {"ok": False, "problems": [f"{SUMS} is missing from {folder}"], "files": 0, "signed": False}
    sums = read_sums(folder / SUMS)
    present = {rel for rel in packet_files(folder) if rel not in UNLISTED}
    for rel in sorted(set(sums) - present):
        problems.append(f"removed: {rel} is listed in {SUMS} but missing")
    for rel in sorted(present - set(sums)):
        problems.append(f"added: {rel} is not listed in {SUMS}")
    for rel in sorted(set(sums) & present):
        if sha256_file(folder / rel) != sums[rel]:
            problems.append(f"changed: {rel} does not match its SHA-256")

    prov_path = folder / PROVENANCE
    if not prov_path.is_file():
        problems.append(f"{PROVENANCE} is missing")
    else:
        try:
            stmt = json.loads(prov_path.read_text(encoding="utf-8"))
            if stmt.get("_type") != STATEMENT_TYPE or stmt.get("predicateType") != PREDICATE_TYPE:
                problems.append(f"{PROVENANCE} is not an in-toto v1 statement with a SLSA v1 predicate")
            subjects = {s["name"]: s["digest"]["sha256"] for s in stmt.get("subject", [])}
            expected = present - {PROVENANCE}
            for rel in sorted(expected - set(subjects)):
                problems.append(f"provenance: {rel} is not a subject")
            for rel in sorted(set(subjects) - expected):
                problems.append(f"provenance: subject {rel} is not in the packet")
            for rel in sorted(set(subjects) & expected):
                if subjects[rel] != sha256_file(folder / rel):
                    problems.append(f"provenance: subject {rel} digest differs from the file")
            deps = stmt["predicate"]["buildDefinition"]["resolvedDependencies"]
            commit = next((d["digest"].get("gitCommit") for d in deps if d.get("name") == "source"), None)
        except (json.JSONDecodeError, KeyError, TypeError, AttributeError) as exc:
            problems.append(f"{PROVENANCE} is malformed ({exc})")
        else:
            # Parsed on its own, so a broken evidence file is named as such, not as broken provenance.
            ev_path = folder / EVIDENCE
            if ev_path.is_file():
                try:
                    ev_commit = json.loads(ev_path.read_text(encoding="utf-8"))["git"]["commit"]
                except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError) as exc:
                    problems.append(f"{EVIDENCE} is malformed ({type(exc).__name__}: {exc})")
                else:
                    if ev_commit != commit:
                        problems.append(f"provenance commit {commit} differs from the evidence commit {ev_commit}")

    signed = (folder / SIGNATURE).is_file()
    key_source = None
    if signed:
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives import serialization

        key_path = Path(public_key) if public_key else folder / PUBLIC_KEY
        key_source = "pinned" if public_key else "included in the packet (not pinned)"
        try:
            key = serialization.load_pem_public_key(key_path.read_bytes())
            key.verify(bytes.fromhex((folder / SIGNATURE).read_text().strip()), (folder / SUMS).read_bytes())
        except FileNotFoundError:
            problems.append(f"signature: public key {key_path} not found")
        except (InvalidSignature, ValueError):
            problems.append(f"signature: {SIGNATURE} does not verify against the {key_source} key")
    elif require_signature or public_key:
        problems.append(f"signature: {SIGNATURE} is missing")
    elif PUBLIC_KEY in present:
        # The hashed file list says the packet was built signed: a stripped signature is a downgrade.
        problems.append(f"signature: {SIGNATURE} is missing although the packet was signed ({PUBLIC_KEY} is listed)")
    return {"ok": not problems, "problems": problems, "files": len(present), "signed": signed,
            "key": key_source}
