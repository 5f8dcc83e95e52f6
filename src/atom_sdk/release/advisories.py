"""Vulnerability advisories for the SDK's runtime dependencies: the OSV query and its offline snapshot.

Why a snapshot with coverage and a fetch time: "no advisory matched" means something only for the
packages that were asked about, at the versions that are installed, recently. So the offline file
is not a free-form list of OSV records: ``atom release advisories fetch`` (run on a connected
machine) queries the OSV service for every runtime distribution at its installed version and
records when, and the gate fails under the release profile when the snapshot misses a runtime
dependency, names another version, or is older than the profile allows.
"""

from __future__ import annotations

import json
import re
import urllib.request
from collections.abc import Mapping
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

from atom_sdk.errors import ConfigError
from atom_sdk.workspace import ReportKind

SNAPSHOT_SCHEMA = "atom.osv_snapshot/1"
SNAPSHOT_REPORT = ReportKind("OSV advisory snapshot", schema=SNAPSHOT_SCHEMA)
_VERSION = re.compile(r"^[0-9][0-9A-Za-z.+!_-]*$")


def _is_version_map(data: Mapping[str, Any]) -> bool:
    """Whether ``data`` is a {distribution: version} list such as ``runtime_closure`` writes."""
    return bool(data) and all(isinstance(v, str) and _VERSION.match(v) for v in data.values())


#: `atom release advisories list`'s file: {distribution name: installed version}, nothing else
RUNTIME_LIST = ReportKind("runtime-dependency list ({name: version})", accept=_is_version_map)
OSV_QUERYBATCH = "https://api.osv.dev/v1/querybatch"
OSV_VULN = "https://api.osv.dev/v1/vulns/"
SDK_DIST = "atom-oss-sdk"


def norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def runtime_closure(dist: str = SDK_DIST) -> dict[str, str]:
    """``{name: installed version}`` of every distribution ``dist`` needs at run time (no extras), recursively."""
    from packaging.requirements import Requirement

    seen: dict[str, str] = {}
    todo = [dist]
    while todo:
        name = todo.pop()
        try:
            d = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        for line in d.requires or []:
            req = Requirement(line)
            if req.marker is not None and not req.marker.evaluate({"extra": ""}):
                continue
            key = norm(req.name)
            if key in seen:
                continue
            try:
                seen[key] = metadata.version(req.name)
            except metadata.PackageNotFoundError:
                continue
            todo.append(req.name)
    seen.pop(norm(dist), None)
    return dict(sorted(seen.items()))


def _post(url: str, body: Mapping[str, Any], timeout: float) -> Any:
    req = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as resp:  # nosec B310 - fixed https URL
        return json.loads(resp.read())


def _get(url: str, timeout: float) -> Any:
    with urllib.request.urlopen(url, timeout=timeout) as resp:  # nosec B310 - fixed https URL
        return json.loads(resp.read())


def query_osv(packages: Mapping[str, str], *, timeout: float = 20.0) -> dict[str, list[dict[str, Any]]]:
    """``{name: [full OSV records]}`` affecting each package at exactly its version (raises OSError offline)."""
    names = sorted(packages)
    body = {"queries": [{"package": {"name": n, "ecosystem": "PyPI"}, "version": packages[n]} for n in names]}
    results = _post(OSV_QUERYBATCH, body, timeout).get("results", [])
    out: dict[str, list[dict[str, Any]]] = {}
    for name, res in zip(names, results, strict=False):
        out[name] = [_get(OSV_VULN + v["id"], timeout) for v in (res or {}).get("vulns", [])]
    return out


def make_snapshot(packages: Mapping[str, str], vulns: Mapping[str, list[dict[str, Any]]],
                  fetched_at: str | None = None) -> dict[str, Any]:
    return {"schema": SNAPSHOT_SCHEMA, "source": OSV_QUERYBATCH, "ecosystem": "PyPI",
            "fetched_at": fetched_at or datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "packages": [{"name": n, "version": v, "vulns": list(vulns.get(n, []))} for n, v in sorted(packages.items())]}


def fetch_snapshot(dest: Path, packages: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Query OSV for the runtime closure and write the snapshot (``atom release advisories fetch``)."""
    from atom_sdk.artifacts import write_json

    packages = dict(packages or runtime_closure())
    snap = make_snapshot(packages, query_osv(packages))
    write_json(dest, snap)
    return snap


def load_snapshot(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"advisory snapshot {path} is not readable JSON ({exc})") from None
    return data


def _age_days(fetched_at: str, now: str | None) -> float | None:
    try:
        start = datetime.fromisoformat(fetched_at)
        end = datetime.fromisoformat(now) if now else datetime.now(timezone.utc)
    except (TypeError, ValueError):
        return None
    return (end - start).total_seconds() / 86400


def snapshot_findings(snap: Any, runtime: Mapping[str, str], *, max_age_days: int | None,
                      now: str | None = None) -> dict[str, Any]:
    """Coverage, age and advisory hits of a snapshot against the runtime ``{name: version}``."""
    if not isinstance(snap, Mapping) or snap.get("schema") != SNAPSHOT_SCHEMA:
        return {"problems": [f"not an OSV snapshot ({SNAPSHOT_SCHEMA}): it records no fetch time and no coverage; "
                             "produce one with `atom release advisories fetch`"], "hits": [], "covered": 0}
    covered = {norm(p["name"]): p["version"] for p in snap.get("packages", [])}
    missing = sorted(n for n in runtime if norm(n) not in covered)
    other = sorted(f"{n} {covered[norm(n)]} (installed {v})" for n, v in runtime.items()
                   if norm(n) in covered and covered[norm(n)] != v)
    problems = []
    if missing:
        problems.append(f"does not cover {len(missing)} runtime dependenc{'y' if len(missing) == 1 else 'ies'}: "
                        f"{', '.join(missing[:6])}")
    if other:
        problems.append(f"covers other versions: {', '.join(other[:6])}")
    age = _age_days(snap.get("fetched_at", ""), now)
    if age is None:
        problems.append("has no valid fetched_at time")
    elif max_age_days is not None and age > max_age_days:
        problems.append(f"was fetched {age:.1f} days ago (older than {max_age_days} days)")
    records = [r for p in snap.get("packages", []) for r in p.get("vulns", [])]
    listed = [{"id": r.get("id", "?"), "package": norm(p["name"]), "version": p["version"]}
              for p in snap.get("packages", []) for r in p.get("vulns", [])
              if norm(p["name"]) in runtime and runtime.get(norm(p["name"])) == p["version"]]
    hits = {(h["id"], h["package"]): h for h in [*listed, *match_advisories(records, runtime)]}
    return {"problems": problems, "hits": list(hits.values()), "covered": len(covered), "age_days": age,
            "records": len(records)}


def advisory_problems(path: Path, runtime: Mapping[str, str], *, profile: str,
                      generated_at: str | None = None) -> list[str]:
    """What makes an advisory snapshot fail the gate (used again when the evidence is re-derived)."""
    from atom_sdk.release.profiles import ADVISORY_MAX_AGE_DAYS

    found = snapshot_findings(load_snapshot(path), {norm(k): v for k, v in runtime.items()},
                              max_age_days=ADVISORY_MAX_AGE_DAYS.get(profile), now=generated_at)
    problems = [f"advisory snapshot {path.name} {p}" for p in found["problems"]]
    problems += [f"vulnerable: {h['package']} {h['version']} ({h['id']})" for h in found["hits"]]
    return problems


# --------------------------------------------------------------------------- matching


def _affected_by_ranges(version: Any, ranges: list[dict[str, Any]]) -> bool:
    """The OSV range algorithm over ECOSYSTEM/SEMVER events, with PEP 440 ordering."""
    from packaging.version import InvalidVersion, Version

    def v(text: str) -> Version:
        return Version("0") if text == "0" else Version(text)

    for rng in ranges:
        if rng.get("type") not in {"ECOSYSTEM", "SEMVER"}:
            continue
        try:
            events = sorted(((v(val), kind) for e in rng.get("events", []) for kind, val in e.items()),
                            key=lambda item: item[0])
        except InvalidVersion:
            continue
        affected = False
        for at, kind in events:
            if kind == "introduced" and version >= at:
                affected = True
            elif kind in {"fixed", "limit"} and version >= at:
                affected = False
            elif kind == "last_affected" and version > at:
                affected = False
        if affected:
            return True
    return False


def match_advisories(advisories: list[dict[str, Any]], installed: Mapping[str, str]) -> list[dict[str, str]]:
    """Installed ``{name: version}`` matched against OSV records; returns the hits."""
    from packaging.version import InvalidVersion, Version

    by_name = {norm(k): v for k, v in installed.items()}
    hits = []
    for adv in advisories:
        for aff in adv.get("affected", []):
            pkg = aff.get("package", {})
            if str(pkg.get("ecosystem", "")).lower() != "pypi":
                continue
            name = norm(pkg.get("name", ""))
            if name not in by_name:
                continue
            have = by_name[name]
            try:
                version = Version(have)
            except InvalidVersion:
                continue
            listed = any(Version(x) == version for x in aff.get("versions", []) if _valid(x))
            if listed or _affected_by_ranges(version, aff.get("ranges", [])):
                hits.append({"id": adv.get("id", "?"), "package": name, "version": have})
    return hits


def _valid(text: str) -> bool:
    from packaging.version import InvalidVersion, Version

    try:
        Version(text)
        return True
    except InvalidVersion:
        return False
