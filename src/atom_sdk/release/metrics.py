"""What G-10 tracks from each evidence file, each number with its direction and tolerance.

Why curated extractors: a blanket walk over every numeric leaf tracks noise (per-seed timings,
per-cell coefficients, sample counts) next to the figures a release is judged on, and any cap
on its size keeps an arbitrary subset. For the evidence files whose schema we own, this module
names the release metrics and states a tolerance for each, with the reason:

* integrity, per (system, noise): ``recovery_rate`` may not drop at all (losing one seed out of
  three is a regression); ``coef_rel_error_median`` may grow by half or by 0.5 points, whichever
  is larger (errors of 0.1 % move by that much when the derivative filter changes); the
  conformal ``coverage_gap`` = |coverage - nominal| may widen by 1.5 points (the
  split-conformal sampling spread on ~1,500 test intervals is about 0.8 points).
* reliability: the number of failed checks may not grow.
* safety, per world: the nominal false-intervention rate may grow by 0.5 points; per fault,
  detection may not be lost and its latency may grow by one step.
* ablation, per variant and metric with a declared direction: the candidate mean may not fall
  outside the baseline's own 95 % confidence interval on the worse side.

Other sources (world validation, benchmark ratios) fall back to every numeric leaf with the
direction read from its name and the default tolerance.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

DEFAULT_REL_TOL = 0.05
DEFAULT_ABS_TOL = 1e-6

_LOWER = ("error", "violation", "false", "fail", "diverg", "drift", "residual", "latency", "delay", "miss", "leak")
_HIGHER = ("pass", "coverage", "success", "detect", "accuracy", "ratio", "speedup", "mlups", "recall",
           "precision", "throughput", "return", "reward", "trust", "recover")


def infer_direction(name: str) -> str:
    """Which way is better for a metric, from its name; ``both`` means any drift is a change.

    Keywords match the start of a word of the leaf name (``coef_rel_error_max`` -> error), so
    ``n_calibration`` does not read as a "ratio" nor ``undetected_faults`` as "detect".
    """
    leaf = name.lower().rsplit(".", 1)[-1]
    words = [w for w in re.split(r"[^a-z0-9]+", leaf) if w]
    if any(w.startswith(k) for w in words for k in _LOWER):
        return "lower"
    if any(w.startswith(k) for w in words for k in _HIGHER):
        return "higher"
    return "both"


def spec(value: float, direction: str, *, abs_tol: float = DEFAULT_ABS_TOL,
         rel_tol: float = DEFAULT_REL_TOL) -> dict[str, Any]:
    """One tracked metric: regression means moving past ``max(abs_tol, rel_tol*|value|)`` the wrong way."""
    return {"value": float(value), "direction": direction, "rel_tol": float(rel_tol), "abs_tol": float(abs_tol)}


def _number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def integrity_metrics(doc: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    nominal = float(doc.get("thresholds", {}).get("coverage_nominal", 0.9))
    out: dict[str, dict[str, Any]] = {}
    for row in doc.get("aggregates", []):
        key, ours = f"integrity.{row['system']}@{float(row['noise']):g}", row["ours"]
        out[f"{key}.recovery_rate"] = spec(ours["recovery_rate"], "higher", abs_tol=1e-9, rel_tol=0.0)
        if _number(ours.get("coef_rel_error_median")):
            out[f"{key}.coef_rel_error_median"] = spec(ours["coef_rel_error_median"], "lower", abs_tol=0.005, rel_tol=0.5)
        if _number(ours.get("coverage_mean")):
            out[f"{key}.coverage_gap"] = spec(abs(ours["coverage_mean"] - nominal), "lower", abs_tol=0.015, rel_tol=0.0)
    return out


def reliability_metrics(doc: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    checks = [c for r in doc.get("records", []) for c in r.get("checks", {}).values() if isinstance(c, Mapping)]
    failed = sum(1 for c in checks if c.get("passed") is False)
    return {"reliability.checks_failed": spec(failed, "lower", abs_tol=0.0, rel_tol=0.0)}


def safety_metrics(doc: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for world, res in doc.get("worlds", {}).items():
        if not isinstance(res, Mapping) or res.get("skipped"):
            continue
        rate = (res.get("nominal") or {}).get("false_intervention_rate")
        if _number(rate):
            out[f"safety.{world}.false_intervention_rate"] = spec(rate, "lower", abs_tol=0.005, rel_tol=0.0)
        for fault, f in (res.get("faults") or {}).items():
            if isinstance(f, Mapping) and "detected" in f:
                out[f"safety.{world}.{fault}.detected"] = spec(float(bool(f["detected"])), "higher", abs_tol=0.0,
                                                               rel_tol=0.0)
                if _number(f.get("latency_steps")):
                    out[f"safety.{world}.{fault}.latency_steps"] = spec(f["latency_steps"], "lower", abs_tol=1.0,
                                                                        rel_tol=0.0)
    return out


def ablation_metrics(doc: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    directions = doc.get("metrics", {})
    out: dict[str, dict[str, Any]] = {}
    for row in doc.get("rows", []):
        direction, mean = directions.get(row.get("metric")), row.get("mean")
        if direction not in ("higher", "lower") or not _number(mean):
            continue
        lo, hi = row.get("ci_low"), row.get("ci_high")
        if _number(lo) and _number(hi):  # the worse side of the baseline's own 95 % interval
            tol = (mean - lo) if direction == "higher" else (hi - mean)
            s = spec(mean, direction, abs_tol=max(float(tol), DEFAULT_ABS_TOL), rel_tol=0.0)
        else:
            s = spec(mean, direction, rel_tol=0.1)
        out[f"ablation.{row['variant']}.{row['metric']}"] = s
    return out


def generic_metrics(doc: Any, prefix: str) -> dict[str, dict[str, Any]]:
    from atom_sdk.release.gate_evidence import flatten_numbers

    return {k: spec(v, infer_direction(k)) for k, v in flatten_numbers(doc, prefix).items()}


EXTRACTORS = {"integrity": integrity_metrics, "reliability": reliability_metrics, "safety": safety_metrics,
              "ablation": ablation_metrics}


def source_metrics(prefix: str, path: Path) -> dict[str, dict[str, Any]]:
    """Tracked metrics of one evidence file (nothing when it is not readable JSON)."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError, UnicodeDecodeError):
        return {}
    extractor = EXTRACTORS.get(prefix)
    return extractor(doc) if extractor is not None else generic_metrics(doc, prefix)
