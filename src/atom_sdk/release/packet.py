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

from atom_sdk.errors import ArtifactError, ValidationFailedError
from atom_sdk.release import signing as _signing
from atom_sdk.release.gates import sha256_file

SUMS = "SHA256SUMS"
SIGNATURE = "SHA256SUMS.sig"
PUBLIC_KEY = "signing_key.pub.pem"
PROVENANCE = "provenance.intoto.json"
EVIDENCE = "evidence/release_evidence.json"
EVIDENCE_MD = "evidence/release_evidence.md"
INPUTS = "inputs"
INPUTS_MANIFEST = "inputs.json"
INPUTS_SCHEMA = "atom.release_inputs/1"
SURFACE = "surface.json"
SOURCE_URL_ENV = "ATOM_RELEASE_SOURCE_URL"
UNLISTED = {SUMS, SIGNATURE}
STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "https://slsa.dev/provenance/v1"
BUILD_TYPE = "https://atom-oss-sdk.dev/release-packet/v1"
BUILDER_ID = "https://atom-oss-sdk.dev/builders/atom-release-packet"


# --------------------------------------------------------------------------- keys (see signing.py)

keygen = _signing.keygen


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


def make_sbom(dest: Path, wheel: Path, *, timeout: float = 1800) -> Path:
    """CycloneDX JSON SBOM of the wheel's runtime closure, resolved by installing it into a clean venv.

    Why not the build environment: the product is the wheel and what ``pip install`` brings with
    it; pytest, twine or hatchling in the build venv are not shipped. The venv has no pip of its
    own (the builder's pip installs into it), so it holds exactly the SDK and its runtime closure;
    ``metadata.component`` is the SDK at the wheel's version, with its direct requirements.
    """
    import tomli_w

    from atom_sdk.release.gate_packaging import wheel_metadata

    headers, _ = wheel_metadata(wheel)
    requires = [r for r in headers.get("Requires-Dist", []) if "extra ==" not in r.replace('"', "'")]
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="atom-sbom-") as tmp:
        env_dir = Path(tmp) / "venv"
        import venv

        venv.EnvBuilder(with_pip=False, clear=True).create(env_dir)
        py = env_dir / "bin" / "python"
        env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "VIRTUAL_ENV"}}
        proc = subprocess.run([sys.executable, "-m", "pip", "--python", str(py), "install", "--quiet",  # nosec B603
                               "--disable-pip-version-check", str(wheel)], capture_output=True, text=True,
                              timeout=timeout, check=False, env=env)
        if proc.returncode != 0:
            raise ArtifactError(f"installing {wheel.name} into a clean venv for the SBOM failed: "
                                f"{proc.stderr.strip()[-300:]}", hint="the SBOM needs the package index (or a "
                                "wheel cache) that `pip install` uses")
        root_meta = Path(tmp) / "pyproject.toml"
        root_meta.write_text(tomli_w.dumps({"project": {
            "name": headers["Name"][0], "version": headers["Version"][0],
            "description": (headers.get("Summary") or [""])[0], "dependencies": requires}}), encoding="utf-8")
        proc = subprocess.run([sys.executable, "-m", "cyclonedx_py", "environment", "--of", "JSON",  # nosec B603
                               "--output-reproducible", "--mc-type", "library", "--pyproject", str(root_meta),
                               "-o", str(dest), str(py)], capture_output=True, text=True, timeout=600, check=False)
    if proc.returncode != 0 or not dest.is_file():
        raise ArtifactError(f"SBOM generation failed: {proc.stderr.strip()[-300:]}",
                            hint="install the dev extra (cyclonedx-bom) and retry")
    return dest


def _default_dists(root: Path, dest: Path) -> list[Path]:
    from atom_sdk.release.gate_packaging import build_dists

    return list(build_dists(root, dest))


# --------------------------------------------------------------------------- provenance


def source_uri(root: Path | None) -> str:
    """Where the source lives: ``$ATOM_RELEASE_SOURCE_URL``, else the git remote ``origin``, else the project URL."""
    from atom_sdk.provenance import _git

    url = os.environ.get(SOURCE_URL_ENV) or (_git("remote", "get-url", "origin", cwd=root) if root else None)
    if not url and root is not None and (root / "pyproject.toml").is_file():
        import tomllib

        urls = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8")).get("project", {}).get("urls", {})
        url = urls.get("Repository") or urls.get("Source") or urls.get("Homepage")
    if not url:
        return "git+unknown"
    return url if url.startswith("git+") else f"git+{url}"


def provenance_statement(folder: Path, *, commit: str | None, dirty: bool | None, materials: list[dict[str, Any]],
                         parameters: Mapping[str, Any], started: str, finished: str,
                         root: Path | None = None) -> dict[str, Any]:
    """in-toto Statement v1 with a SLSA provenance v1 predicate; subjects are every packet file."""
    from atom_sdk import __version__

    subjects = [{"name": rel, "digest": {"sha256": sha256_file(folder / rel)}}
                for rel in packet_files(folder) if rel not in UNLISTED | {PROVENANCE}]
    deps = [{"uri": source_uri(root), "digest": {"gitCommit": commit or ""}, "name": "source"}, *materials]
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


def input_layout(doc: Mapping[str, Any], root: Path, ablation_dir: Path) -> dict[str, str]:
    """``recorded path -> packet path`` of every input the evidence names (ablation files go to ablation/)."""
    layout: dict[str, str] = {}
    abl = ablation_dir.resolve()
    for g in doc["gates"]:
        for e in g["evidence"]:
            rec = e["path"]
            local = (root / rec if not Path(rec).is_absolute() else Path(rec)).resolve()
            if local.is_relative_to(abl):
                layout[rec] = f"ablation/{local.relative_to(abl).as_posix()}"
            elif not Path(rec).is_absolute() and ".." not in Path(rec).parts:
                layout[rec] = f"{INPUTS}/{rec}"
            else:
                layout[rec] = f"{INPUTS}/_external/{e['sha256'][:12]}-{Path(rec).name}"
    return layout


def _refuse(what: str, problems: list[str]) -> None:
    if problems:
        raise ValidationFailedError(f"{what}: " + "; ".join(problems[:6])
                                    + (f" (+{len(problems) - 6} more)" if len(problems) > 6 else ""))


def _check_inputs(ev_json: Path, ev_md: Path, abl: Path) -> None:
    for path, flag in ((ev_json, "--release-evidence-json"), (ev_md, "--release-evidence-md")):
        if not path.is_file():
            raise ArtifactError(f"{flag} {path} does not exist; run scripts/generate_release_evidence.py first")
    if not abl.is_dir():
        raise ArtifactError(f"--ablation-dir {abl} does not exist; run `atom ablate` first")


def _signing_key(signing_key: str | Path | None, profile: str) -> tuple[Any, str | None]:
    """The private key (or None when unsigned is allowed) and where it came from."""
    key_path, key_source = _signing.resolve_signing_key(signing_key)
    if key_path is None and profile == "release":
        raise ValidationFailedError(
            "the release profile refuses an unsigned packet: pass --signing-key, set "
            f"${_signing.SIGNING_KEY_ENV}, or create the default key with `atom release keygen` "
            f"(writes {_signing.default_key_dir() / _signing.PRIVATE_NAME})")
    return (_signing.load_private(key_path) if key_path is not None else None), key_source


def _load_evidence(ev_json: Path, ev_md: Path, profile: str, root: Path) -> dict[str, Any]:
    """The evidence document, refused unless well-formed and rendered into exactly ``ev_md``."""
    from atom_sdk.release.evidence_document import render_markdown
    from atom_sdk.release.recompute import check_structure

    doc = json.loads(ev_json.read_text(encoding="utf-8"))
    _refuse(f"release evidence {ev_json} is refused", check_structure(doc, profile, root))
    if render_markdown(doc) != ev_md.read_text(encoding="utf-8"):
        raise ValidationFailedError(f"{ev_md} is not the report rendered from {ev_json}; regenerate both with "
                                    "scripts/generate_release_evidence.py (the packet carries the rendered one)")
    return doc


def _check_tree(doc: Mapping[str, Any], root: Path, profile: str, commit: str | None,
                dirty: bool | None) -> tuple[str | None, bool | None]:
    """The commit and dirtiness of the tree, refused unless the evidence was made there (and clean)."""
    from atom_sdk import __version__
    from atom_sdk.provenance import _git

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
    return commit, dirty


def _copy_evidence(out: Path, doc: Mapping[str, Any], ev_json: Path, abl: Path, root: Path,
                   resolve: Callable[[str], Path]) -> None:
    """Evidence (JSON + rendered report), the ablation folder without its runs, and the named inputs."""
    from atom_sdk.release.evidence_document import render_markdown

    (out / "evidence").mkdir()
    shutil.copy2(ev_json, out / EVIDENCE)
    (out / EVIDENCE_MD).write_text(render_markdown(doc), encoding="utf-8")
    (out / "ablation").mkdir()
    for src in sorted(p for p in abl.rglob("*") if p.is_file() and "runs" not in p.relative_to(abl).parts[:-1]):
        dest = out / "ablation" / src.relative_to(abl)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dest)
    layout = input_layout(doc, root, abl)
    for rec, rel in layout.items():
        if not (out / rel).is_file():
            (out / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(resolve(rec), out / rel)
    (out / INPUTS_MANIFEST).write_text(json.dumps({"schema": INPUTS_SCHEMA, "files": layout}, indent=2,
                                                  sort_keys=True) + "\n", encoding="utf-8")


def _write_companions(out: Path, root: Path, surface: Mapping[str, Any],
                      sbom_fn: Callable[[Path], Path] | None) -> None:
    """Surface snapshot, SBOM, changelog entry and OpenAPI document beside the evidence."""
    from atom_sdk import __version__

    (out / SURFACE).write_text(json.dumps(surface, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    wheel = next(p for p in sorted((out / "dist").glob("*.whl")))
    if sbom_fn is not None:
        sbom_fn(out / "sbom" / "sbom.cdx.json")
    else:
        make_sbom(out / "sbom" / "sbom.cdx.json", wheel)
    (out / "CHANGELOG_ENTRY.md").write_text(_changelog_entry(root, __version__), encoding="utf-8")
    openapi = root / "docs" / "openapi.json"
    if openapi.is_file():
        shutil.copy2(openapi, out / "openapi.json")


def _materials(doc: Mapping[str, Any], root: Path) -> list[dict[str, Any]]:
    materials = [{"uri": f"file:{name}", "digest": {"sha256": sha256_file(root / name)}, "name": name}
                 for name in ("pyproject.toml", "CHANGELOG.md") if (root / name).is_file()]
    materials += [{"uri": f"file:{e['path']}", "digest": {"sha256": e["sha256"]}, "name": f"{g['id']}:{e['role']}"}
                  for g in doc["gates"] for e in g["evidence"]]
    return materials


def build_packet(root: str | Path, *, ablation_dir: str | Path, evidence_json: str | Path,
                 evidence_md: str | Path, output_dir: str | Path, profile: str = "release",
                 signing_key: str | Path | None = None, overwrite: bool = False,
                 commit: str | None = None, dirty: bool | None = None,
                 dists_fn: Callable[[Path, Path], list[Path]] | None = None,
                 sbom_fn: Callable[[Path], Path] | None = None,
                 surface_fn: Callable[[], Mapping[str, Any]] | None = None) -> dict[str, Any]:
    """Assemble, hash and sign a release packet after re-deriving the evidence from its inputs.

    Refuses when the evidence does not pass under ``profile``, was made at another commit, names an
    input whose SHA-256 changed, claims a verdict that its inputs do not give, comes with a Markdown
    report that is not the one rendered from it, or (under ``release``) when there is no signing key.
    ``commit``/``dirty`` default to the repository's; ``dists_fn(root, dest)``, ``sbom_fn(dest)`` and
    ``surface_fn()`` default to building sdist+wheel, the CycloneDX SBOM and the live CLI/OpenAPI surface.
    """
    from atom_sdk.provenance import utc_now
    from atom_sdk.release.recompute import audit
    from atom_sdk.release.semver import current_surface
    from atom_sdk.workspace import claim_output, output_folder, plan_output

    root = Path(root).resolve()
    started = utc_now()
    ev_json, ev_md, abl = Path(evidence_json), Path(evidence_md), Path(ablation_dir)
    _check_inputs(ev_json, ev_md, abl)
    key, key_source = _signing_key(signing_key, profile)
    doc = _load_evidence(ev_json, ev_md, profile, root)
    commit, dirty = _check_tree(doc, root, profile, commit, dirty)

    def resolve(rec: str) -> Path:
        return root / rec if not Path(rec).is_absolute() else Path(rec)

    # the one output rule: --overwrite replaces only a packet folder that atom made
    out = output_folder(output_dir, "--output-dir")
    out_plan = plan_output(out, "release_packet", overwrite=overwrite,
                           flag_hint="pick another --output-dir or pass --overwrite")
    surface = dict((surface_fn or current_surface)())
    with tempfile.TemporaryDirectory(prefix="atom-packet-") as tmp:
        dists = (dists_fn or _default_dists)(root, Path(tmp))
        verdicts = audit(doc, resolve, profile=profile, root=root, dists=dists, surface=surface)
        _refuse("the evidence does not hold when re-derived from its inputs", verdicts.problems)
        claim_output(out_plan, replace=overwrite)
        (out / "dist").mkdir()
        for d in dists:
            shutil.copy2(d, out / "dist" / d.name)
    _copy_evidence(out, doc, ev_json, abl, root, resolve)
    _write_companions(out, root, surface, sbom_fn)
    materials = _materials(doc, root)
    if key is not None:
        (out / PUBLIC_KEY).write_bytes(_signing.public_pem(key))
    params = {"profile": profile, "ablation_dir": str(abl), "release_evidence_json": str(ev_json),
              "release_evidence_md": str(ev_md), "signed": key is not None}
    statement = provenance_statement(out, commit=commit, dirty=dirty, materials=materials, parameters=params,
                                     started=started, finished=utc_now(), root=root)
    (out / PROVENANCE).write_text(json.dumps(statement, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    sums = write_sums(out)
    if key is not None:
        (out / SIGNATURE).write_bytes(_signing.sign(key, sums.read_bytes()))
    return {"output_dir": str(out), "files": len(packet_files(out)), "commit": commit, "signed": key is not None,
            "key_source": key_source if key is not None else None, "subjects": len(statement["subject"]),
            "rederived": verdicts.rederived}
