"""G-10 RC regression: candidate metrics vs the last release's baseline, and the SemVer check.

Why stated tolerances: every metric in the baseline carries its direction and tolerance, so a
reviewer sees *why* a change is or is not a regression, and the gate names each one that is.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from atom_sdk.release.gates import GateContext, GateRecorder, gate
from atom_sdk.workspace import ReportKind
from atom_sdk.release.metrics import DEFAULT_ABS_TOL, DEFAULT_REL_TOL, infer_direction, source_metrics, spec

__all__ = ["infer_direction", "tracked_metrics", "candidate_metrics", "baseline_from_evidence", "make_baseline",
           "compare_metrics", "check_regression", "check_semver", "gate_regression"]

BASELINE_SCHEMA = "atom.release_baseline/1"
BASELINE_REPORT = ReportKind("release baseline (baseline_evidence.json)", schema=BASELINE_SCHEMA)

#: Evidence files whose metrics are tracked, by metric prefix (relative to validation_outputs/);
#: what each contributes, and with which tolerance, is in :mod:`atom_sdk.release.metrics`.
EVIDENCE_SOURCES = {"integrity": "scientific_integrity.json", "reliability": "reliability.json",
                    "safety": "safety_validation.json", "worlds": "world_validation.json",
                    "bench": "benchmarks.json"}


#: The settings that make two runs comparable, per source (device, executor and timings are not settings).
SETTING_KEYS = {"ablation": ("world", "grid", "steps", "seeds", "variant_set", "world_params", "variants",
                             "bootstrap"),
                "integrity": ("samples", "seeds", "noise_levels", "systems", "force_sparse")}


def source_settings(sources: Mapping[str, Path]) -> dict[str, dict[str, Any]]:
    """The settings each metric source was produced at: the integrity report's, the ablation sweep's
    (from the ``manifest.json`` next to ``summary.json``)."""
    out: dict[str, dict[str, Any]] = {}
    files = {"integrity": sources.get("integrity"),
             "ablation": Path(sources["ablation"]).parent / "manifest.json" if sources.get("ablation") else None}
    for prefix, path in files.items():
        try:
            doc = json.loads(Path(path).read_text(encoding="utf-8")) if path else None
        except (OSError, json.JSONDecodeError):
            doc = None
        block = (doc or {}).get("sweep" if prefix == "ablation" else "settings")
        if isinstance(block, Mapping):
            out[prefix] = {k: block.get(k) for k in SETTING_KEYS[prefix]}
    return out


def settings_differences(baseline: Mapping[str, Any], candidate: Mapping[str, Any]) -> list[str]:
    """``"ablation steps: candidate 50, baseline 200"`` for each setting that differs."""
    out = []
    for prefix, base in sorted(baseline.items()):
        cand = candidate.get(prefix)
        if cand is None:
            out.append(f"{prefix}: the candidate has no {prefix} settings")
            continue
        out += [f"{prefix} {k}: candidate {cand.get(k)}, baseline {v}" for k, v in base.items() if cand.get(k) != v]
    return out


def metric_sources(ctx: GateContext) -> dict[str, Path]:
    """``prefix -> file`` of every metric source that exists (evidence outputs, ablation summary)."""
    found = {prefix: ctx.outputs / name for prefix, name in EVIDENCE_SOURCES.items()}
    found["ablation"] = ctx.ablation_dir / "summary.json"
    return {prefix: path for prefix, path in found.items() if path.is_file()}


def tracked_metrics(ctx: GateContext, sources: Mapping[str, Path] | None = None) -> dict[str, dict[str, Any]]:
    """``name -> {value, direction, rel_tol, abs_tol}`` over the evidence files (missing ones add nothing)."""
    out: dict[str, dict[str, Any]] = {}
    for prefix, path in (metric_sources(ctx) if sources is None else sources).items():
        out.update(source_metrics(prefix, path))
    return out


def candidate_metrics(ctx: GateContext, sources: Mapping[str, Path] | None = None) -> dict[str, float]:
    """The candidate's value of every tracked metric."""
    return {name: s["value"] for name, s in tracked_metrics(ctx, sources).items()}


def baseline_from_evidence(ctx: GateContext, evidence_path: Path) -> dict[str, Any]:
    """The baseline of the release whose evidence is ``evidence_path``.

    Only metric files that the evidence run itself read or wrote are used, each checked against
    the SHA-256 the evidence recorded: a file re-produced (or edited) since then is refused, so the
    baseline holds exactly the numbers the evidence was judged on. The baseline names the
    evidence's commit, version, profile and verdict, not whatever the working tree holds now.
    """
    from atom_sdk.errors import ArtifactError, ValidationFailedError
    from atom_sdk.release.gates import sha256_file

    if not evidence_path.is_file():
        raise ArtifactError(f"{evidence_path} does not exist; run `atom release evidence` first (the baseline is "
                            "written from a real evidence run)")
    doc = json.loads(evidence_path.read_text(encoding="utf-8"))
    recorded = {e["path"]: e["sha256"] for g in doc.get("gates", []) for e in g.get("evidence", [])}
    rec = GateRecorder(ctx, "G-10", "RC regression")  # only for its path spelling (relative to the root)
    used, digests, stale = {}, {}, []
    for prefix, path in metric_sources(ctx).items():
        rel = rec._rel(path)  # noqa: SLF001
        if rel not in recorded:
            continue                        # not part of this evidence run: not vouched for
        if sha256_file(path) != recorded[rel]:
            stale.append(rel)
        else:
            used[prefix], digests[rel] = path, recorded[rel]
    if stale:
        raise ValidationFailedError(f"{', '.join(stale)} changed since {evidence_path} was generated; regenerate the "
                                    "evidence (or restore the files) before writing the baseline")
    if not used:
        raise ValidationFailedError(f"{evidence_path} records none of the metric files "
                                    f"({', '.join(sorted(EVIDENCE_SOURCES.values()))}, ablation summary.json)")
    baseline = make_baseline(tracked_metrics(ctx, used), version=doc.get("sdk_version", "?"),
                             commit=(doc.get("git") or {}).get("commit"), settings=source_settings(used))
    baseline["evidence"] = {"path": rec._rel(evidence_path), "sha256": sha256_file(evidence_path),  # noqa: SLF001
                            "generated_at": doc.get("generated_at"), "profile": doc.get("profile"),
                            "dirty": (doc.get("git") or {}).get("dirty"), "overall_pass": doc.get("overall_pass"),
                            "failed_gates": doc.get("failed_gates", [])}
    baseline["sources"] = digests
    return baseline


def make_baseline(metrics: Mapping[str, float | Mapping[str, Any]], *, version: str,
                  commit: str | None, settings: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A baseline document; a bare number gets the direction its name implies and the default
    tolerance, a spec (see :func:`atom_sdk.release.metrics.spec`) is kept as it is."""
    entries = {name: dict(value) if isinstance(value, Mapping) else spec(value, infer_direction(name))
               for name, value in sorted(metrics.items())}
    return {"schema": BASELINE_SCHEMA, "version": version, "git_commit": commit, "settings": dict(settings or {}),
            "metrics": entries}


def compare_metrics(baseline: Mapping[str, Any], candidate: Mapping[str, float]) -> list[dict[str, Any]]:
    """One row per baseline metric: value, candidate, tolerance, and whether it regressed."""
    rows = []
    for name, entry in sorted(baseline.get("metrics", {}).items()):
        base = float(entry["value"])
        tol = max(float(entry.get("abs_tol", DEFAULT_ABS_TOL)), float(entry.get("rel_tol", DEFAULT_REL_TOL)) * abs(base))
        direction = entry.get("direction", "both")
        cand = candidate.get(name)
        if cand is None:
            regressed, why = True, "missing from the candidate's evidence"
        elif direction == "lower":
            regressed, why = cand > base + tol, f"{cand:.6g} > {base:.6g} + {tol:.3g}"
        elif direction == "higher":
            regressed, why = cand < base - tol, f"{cand:.6g} < {base:.6g} - {tol:.3g}"
        else:
            regressed, why = abs(cand - base) > tol, f"|{cand:.6g} - {base:.6g}| > {tol:.3g}"
        rows.append({"metric": name, "baseline": base, "candidate": cand, "direction": direction,
                     "tolerance": tol, "regressed": regressed, "why": why if regressed else ""})
    return rows


def _snapshot_present(rec: GateRecorder, path: Path, what: str, when: str = "") -> bool:
    """Whether ``atom release snapshot`` wrote ``path``: recorded as evidence if so, as missing if not."""
    if not path.is_file():
        rec.missing(what, path, f"{path} does not exist; write it with `atom release snapshot`{when}")
        return False
    rec.evidence(path)
    return True


def check_regression(rec: GateRecorder, baseline_path: Path, candidate: Mapping[str, float], *,
                     settings: Mapping[str, Any] | None = None, version: str | None = None) -> None:
    """Metrics vs the baseline, but only like with like: a new version, at the baseline's settings."""
    if not _snapshot_present(rec, baseline_path, "metric baseline", " at the last release"):
        return
    baseline = json.loads(baseline_path.read_text(encoding="utf-8"))
    if version is not None:
        again = version == baseline.get("version")
        rec.check("new version", not again, f"{version} was already released ({baseline_path.name} is its "
                  "baseline); set a new version with `atom release prepare X.Y.Z`" if again
                  else f"{version} after {baseline.get('version')}")
    if settings is not None:
        recorded = baseline.get("settings")
        if not recorded:
            rec.skip("same settings", f"{baseline_path.name} records no sweep settings, so a difference in metrics "
                     "cannot be told from a difference in settings; record the baseline with `atom release snapshot`")
        else:
            differ = settings_differences(recorded, settings)
            rec.measure(settings_compared=sorted(recorded), settings_differences=differ[:10])
            if not rec.check("same settings", not differ, "the candidate was run at other settings than the baseline "
                             f"({'; '.join(differ[:4])}); re-run it at the baseline's settings, its metrics are not "
                             "comparable" if differ else f"{', '.join(sorted(recorded))} at the baseline's settings"):
                return  # metrics at other settings are not regressions; do not report them as such
    rows = compare_metrics(baseline, candidate)
    bad = [r for r in rows if r["regressed"]]
    rec.measure(metrics_compared=len(rows), metrics_regressed=len(bad),
                regressions=[f"{r['metric']}: {r['why']}" for r in bad[:10]])
    rec.threshold(metric_tolerance="per metric: max(abs_tol, rel_tol*|baseline|) in its worse direction")
    if not rows:
        rec.skip("metric regression", f"baseline {baseline_path.name} holds no metrics; nothing to compare")
        return
    rec.check("metric regression", not bad, "; ".join(f"{r['metric']} ({r['why']})" for r in bad[:5]) if bad
              else f"{len(rows)} metric(s) within tolerance of {baseline.get('version', '?')}")


def check_semver(rec: GateRecorder, snapshot_path: Path, current: Mapping[str, Any]) -> None:
    from atom_sdk.release.semver import bump_ok, compare_surfaces, required_bump

    if not _snapshot_present(rec, snapshot_path, "SemVer surface"):
        return
    old = json.loads(snapshot_path.read_text(encoding="utf-8"))
    diff = compare_surfaces(old, current)
    need = required_bump(diff)
    ok, detail = bump_ok(old["version"], current["version"], need)
    rec.measure(surface_removed=diff["removed"][:20], surface_changed=diff["changed"][:20],
                surface_added=len(diff["added"]), required_bump=need,
                version_from=old["version"], version_to=current["version"])
    first = (diff["removed"] + diff["changed"] + diff["added"])[:3]
    rec.check("SemVer", ok, detail + (f" (e.g. {'; '.join(first)})" if first else " (surface unchanged)"))


@gate("G-10", "RC regression", "candidate metrics vs release/baseline_evidence.json within stated tolerances; "
      "CLI/OpenAPI surface vs release/surface_snapshot.json obeys SemVer")
def gate_regression(rec: GateRecorder) -> None:
    from atom_sdk.release.semver import current_surface

    from atom_sdk import __version__

    sources = metric_sources(rec.ctx)
    for path in sources.values():  # the candidate files are named, so the packet can recompute this gate
        rec.evidence(path)
    if "ablation" in sources:
        rec.evidence(sources["ablation"].parent / "manifest.json")
    check_regression(rec, rec.ctx.baseline, candidate_metrics(rec.ctx, sources), settings=source_settings(sources),
                     version=rec.ctx.extra.get("version", __version__))
    check_semver(rec, rec.ctx.snapshot, rec.ctx.extra.get("surface") or current_surface())
