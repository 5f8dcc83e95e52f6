"""G-02 Security baseline: bandit, a secrets scan, the API security tests and a dependency audit.

Why the runtime closure and a covering snapshot: an audit vouches only for what it asked about.
The gate asks the OSV service about every distribution the SDK needs at run time, at its installed
version; offline it reads a snapshot that ``atom release advisories fetch`` made on a connected
machine, and under rc/release refuses one that misses a runtime dependency or is too old
(see :mod:`atom_sdk.release.advisories`).
"""

from __future__ import annotations

import json
import math
import re
import subprocess  # nosec B404 - fixed argv lists, no shell
import sys
import tomllib
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

from atom_sdk.errors import ConfigError
from atom_sdk.release.advisories import match_advisories
from atom_sdk.release.gates import GateRecorder, gate

WAIVERS_FILE = "security/bandit_waivers.toml"
SECRETS_ALLOWLIST = "security/secrets_allowlist.toml"

# --------------------------------------------------------------------------- bandit


def load_waivers(path: Path) -> list[dict[str, Any]]:
    """Reviewed bandit waivers; each needs ``test_id``, ``path`` and a non-empty ``justification``."""
    if not path.is_file():
        return []
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    waivers = data.get("waiver", [])
    for i, w in enumerate(waivers):
        missing = [k for k in ("test_id", "path", "justification") if not str(w.get(k, "")).strip()]
        if missing:
            raise ConfigError(f"{path}: waiver #{i + 1} lacks {', '.join(missing)}; every waiver needs a "
                              "test_id, a path and a justification")
    return waivers


def waived(finding: Mapping[str, Any], waivers: list[dict[str, Any]], root: Path) -> dict[str, Any] | None:
    filename = Path(finding["filename"])
    rel = (filename.resolve().relative_to(root) if filename.is_absolute() else filename).as_posix()
    for w in waivers:
        if w["test_id"] == finding["test_id"] and rel == w["path"] and w.get("line") in (None, finding["line_number"]):
            return w
    return None


def run_bandit(root: Path, target: str = "src/atom_sdk") -> list[dict[str, Any]]:
    proc = subprocess.run([sys.executable, "-m", "bandit", "-r", target, "-f", "json", "-q"],  # nosec B603
                          cwd=root, capture_output=True, text=True, timeout=600, check=False)
    try:
        return json.loads(proc.stdout)["results"]
    except (json.JSONDecodeError, KeyError):
        raise RuntimeError(f"bandit produced no report: {proc.stderr.strip()[-300:]}") from None


def bandit_check(rec: GateRecorder, findings: list[dict[str, Any]], waivers: list[dict[str, Any]]) -> None:
    serious = [f for f in findings if f["issue_severity"] in {"MEDIUM", "HIGH"}]
    unwaived = [f for f in serious if waived(f, waivers, rec.ctx.root) is None]
    rec.measure(bandit_findings=dict(Counter(f["issue_severity"].lower() for f in findings)),
                bandit_medium_high=len(serious), bandit_unwaived=len(unwaived), bandit_waivers=len(waivers))
    rec.threshold(bandit_unwaived_medium_high=0)
    names = [f"{f['test_id']} {Path(f['filename']).as_posix()}:{f['line_number']}" for f in unwaived[:5]]
    rec.check("bandit", not unwaived, f"unwaived medium/high: {names}" if unwaived
              else f"{len(findings)} finding(s), none medium/high unwaived")


# --------------------------------------------------------------------------- secrets

SECRET_PATTERNS: dict[str, re.Pattern[str]] = {
    "private key": re.compile(r"-----BEGIN (?:RSA |EC |DSA |OPENSSH |ENCRYPTED )?PRIVATE KEY-----"),
    "AWS access key id": re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),
    "GitHub token": re.compile(r"\bgh[pousr]_[A-Za-z0-9]{36,}\b"),
    "Slack token": re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}\b"),
    "Google API key": re.compile(r"\bAIza[0-9A-Za-z_\-]{35}\b"),
    "PyPI token": re.compile(r"\bpypi-[A-Za-z0-9_\-]{50,}\b"),
}
_ASSIGNED = re.compile(
    r"""(?ix)\b([a-z0-9_]*(?:password|passwd|secret|token|api_?key|access_?key|private_?key)[a-z0-9_]*)\b
        \s*[:=]\s*["']([^"'\s]{12,})["']""")


def shannon_entropy(text: str) -> float:
    counts = Counter(text)
    return -sum(c / len(text) * math.log2(c / len(text)) for c in counts.values())


def scan_text(text: str, *, min_entropy: float = 3.5) -> list[tuple[int, str]]:
    """(line, kind) of every likely secret in ``text``."""
    hits: list[tuple[int, str]] = []
    for lineno, line in enumerate(text.splitlines(), 1):
        for kind, pattern in SECRET_PATTERNS.items():
            if pattern.search(line):
                hits.append((lineno, kind))
        for match in _ASSIGNED.finditer(line):
            value = match.group(2)
            classes = sum(any(f(ch) for ch in value) for f in (str.islower, str.isupper, str.isdigit))
            looks_like_path = "/" in value or "\\" in value or re.search(r"\.[a-z]{2,4}$", value)
            if classes >= 2 and not looks_like_path and shannon_entropy(value) >= min_entropy:
                hits.append((lineno, f"high-entropy value assigned to '{match.group(1)}'"))
    return hits


def tracked_files(root: Path) -> list[Path]:
    """Git-tracked plus new, not-ignored files; every file under ``root`` outside git."""
    proc = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],  # nosec B603 B607
                          cwd=root, capture_output=True, timeout=60, check=False)
    if proc.returncode == 0:
        return [root / p for p in sorted(set(proc.stdout.decode().split("\0"))) if p and (root / p).is_file()]
    return sorted(p for p in root.rglob("*") if p.is_file() and ".git" not in p.parts)


def load_allowlist(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    return tomllib.loads(path.read_text(encoding="utf-8")).get("allow", [])


def scan_secrets(root: Path, files: Iterable[Path], allow: list[dict[str, Any]]) -> list[str]:
    findings = []
    for path in files:
        try:
            if path.stat().st_size > 2_000_000:
                continue
            data = path.read_bytes()
        except OSError:
            continue
        if b"\0" in data[:4096]:
            continue  # binary
        rel = path.relative_to(root).as_posix() if path.is_relative_to(root) else str(path)
        for lineno, kind in scan_text(data.decode("utf-8", errors="replace")):
            if any(a.get("path") == rel and a.get("line") in (None, lineno) for a in allow):
                continue
            findings.append(f"{rel}:{lineno} {kind}")
    return findings


# --------------------------------------------------------------------------- advisories (OSV)


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def installed_packages() -> dict[str, str]:
    return {d.metadata["Name"]: d.version for d in metadata.distributions() if d.metadata["Name"]}


def load_advisories(path: Path) -> list[dict[str, Any]]:
    """OSV records of a plain list or of an advisory snapshot (for matching only; coverage is separate)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"advisory file {path} is not readable JSON ({exc}); pass an OSV snapshot") from None
    if isinstance(data, dict) and isinstance(data.get("packages"), list):
        return [r for p in data["packages"] for r in p.get("vulns", [])]
    if isinstance(data, dict):
        data = data.get("vulns", [data])
    if not isinstance(data, list):
        raise ConfigError(f"advisory file {path} must hold an OSV snapshot")
    return data


def audit_check(rec: GateRecorder, advisories: Path | None, runtime: Mapping[str, str],
                online: Callable[[Mapping[str, str]], Mapping[str, list[dict[str, Any]]]] | None = None) -> None:
    """OSV over the exact runtime closure: online, or from a snapshot that must cover it and be recent."""
    from atom_sdk.release import advisories as adv
    from atom_sdk.release.profiles import ADVISORY_MAX_AGE_DAYS

    strict = rec.ctx.profile != "dev"
    max_age = ADVISORY_MAX_AGE_DAYS.get(rec.ctx.profile)
    rec.measure(runtime_dependencies=dict(runtime), advisory_mode="snapshot" if advisories else "online")
    rec.threshold(advisory_snapshot_max_age_days=max_age, snapshot_covers="every runtime dependency at its version")
    if advisories is not None:
        if not advisories.is_file():
            rec.check("advisory snapshot", False, f"advisory snapshot {advisories} does not exist; produce it with "
                      "`atom release advisories fetch --out FILE` on a connected machine")
            return
        rec.evidence(advisories)
        found = adv.snapshot_findings(adv.load_snapshot(advisories), runtime, max_age_days=max_age)
        rec.measure(advisory_records=found.get("records", 0), advisory_covered=found["covered"],
                    advisory_age_days=found.get("age_days"), advisory_hits=len(found["hits"]))
        if found["problems"]:
            rec.check("advisory snapshot", False if strict else None,
                      f"{advisories} " + "; ".join(found["problems"]))
        else:
            rec.check("advisory snapshot", True, f"covers all {len(runtime)} runtime dependencies, "
                      f"fetched {found['age_days']:.1f} days ago")
        hits = found["hits"]
    else:
        try:
            vulns = (online or adv.query_osv)(runtime)
        except OSError as exc:
            rec.check("dependency audit", False if strict else None,
                      f"OSV service unreachable ({type(exc).__name__}); produce a snapshot on a connected machine "
                      "with `atom release advisories fetch --out FILE` and pass --advisories FILE")
            return
        hits = [{"id": r.get("id", "?"), "package": n, "version": runtime[n]} for n, rs in vulns.items() for r in rs]
        rec.measure(advisory_hits=len(hits))
    rec.check("no known vulnerability", not hits,
              "vulnerable: " + ", ".join(f"{h['package']} {h['version']} ({h['id']})" for h in hits[:5]) if hits
              else f"{len(runtime)} runtime dependencies at their installed versions: no OSV advisory")


# --------------------------------------------------------------------------- the gate


@gate("G-02", "Security baseline", "bandit (no unwaived medium/high), secrets scan, API security tests, "
      "OSV advisories for the runtime closure (online, or a recent snapshot covering it)", slow=True)
def gate_security(rec: GateRecorder) -> None:
    root = rec.ctx.root
    waivers_path = root / WAIVERS_FILE
    rec.evidence(waivers_path)
    bandit_check(rec, run_bandit(root), load_waivers(waivers_path))

    allow_path = root / SECRETS_ALLOWLIST
    rec.evidence(allow_path)
    files = tracked_files(root)
    secrets = scan_secrets(root, files, load_allowlist(allow_path))
    rec.measure(secrets_files_scanned=len(files), secrets_found=len(secrets))
    rec.check("secrets scan", not secrets, f"possible secrets: {secrets[:5]}" if secrets
              else f"{len(files)} files scanned")

    tests = sorted((root / "tests").glob("test_platform_security*.py"))
    if tests:
        proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",  # nosec B603
                               *[str(t) for t in tests]], cwd=root, capture_output=True, text=True,
                              timeout=900, check=False)
        tail = proc.stdout.strip().splitlines()[-1:] or [""]
        rec.check("API security tests", proc.returncode == 0, tail[0])
    else:
        rec.skip("API security tests", "tests/test_platform_security*.py do not exist yet (no platform)")

    from atom_sdk.release.advisories import runtime_closure

    audit_check(rec, rec.ctx.advisories, runtime_closure())
