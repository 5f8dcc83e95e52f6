"""Reliability kernel: short closed-loop runs on every world x variant, with hard checks.

Why: the closed loop has many moving parts (JAX physics, PPO, the NumPy scientist, the safety
envelope, checkpoints). A release must show, on every built-in world and every variant, that a
short run (1) produces no NaN/Inf in results or telemetry, (2) writes every artifact and a
``results.json`` that validates against ``experiment/schemas/results.schema.json``, (3) is
deterministic (a re-run gives identical results minus ``timings``) and (4) resumes after a
forced interruption (``stop_after``) to exactly the uninterrupted result.

Determinism and resume are the two expensive checks (two extra runs each); by default they run
on the *subset* :data:`DEEP_CHECK_VARIANTS` of every world (the full-pipeline variant and the
scientist-free baseline); ``deep_variants=None`` runs them everywhere. A world that cannot be
imported or built is recorded as failed with the reason, never skipped.
"""

from __future__ import annotations

import gc
import json
import math
import shutil
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any, NamedTuple

from atom_sdk.config import VARIANTS
from atom_sdk.workspace import ReportKind

__all__ = [
    "DEFAULT_WORLDS", "DEFAULT_VARIANTS", "DEEP_CHECK_VARIANTS", "WORLD_SETTINGS", "kernel_config",
    "results_schema", "schema_errors", "nonfinite_paths", "telemetry_problems", "artifact_problems",
    "stable_view", "check_run", "run_reliability_kernel", "reliability_arg_parser", "resolve_cli_options",
]

SCHEMA = "atom.reliability/1"
REPORT_JSON = ReportKind("reliability JSON report", schema=SCHEMA)
DEFAULT_WORLDS = ("analytical:taylor_green", "lbm2d:cylinder", "supersonic:wedge")
DEFAULT_VARIANTS = tuple(VARIANTS)
DEEP_CHECK_VARIANTS = ("v2_hybrid", "ppo_baseline")
SCHEMA_PATH = Path(__file__).resolve().parent.parent / "experiment" / "schemas" / "results.schema.json"

#: Smallest grids/settings each world accepts, so that the kernel stays a smoke test.
WORLD_SETTINGS: dict[str, dict[str, Any]] = {
    "analytical:taylor_green": {"grid": [8, 8, 2], "params": {"noise": 0.01}},
    "lbm2d:cylinder": {"grid": [64, 34, 1], "params": {"substeps": 5}},  # ny >= 33: D >= 8 cells
    "supersonic:wedge": {"grid": [32, 24, 1], "params": {"substeps": 3}},  # nx >= 31, ny >= 16
}
SMALL_AGENT = {"rollout_length": 16, "num_minibatches": 2, "update_epochs": 2, "hidden_sizes": [16, 16],
               "latent_dim": 8, "fourier_modes": 2}
SMALL_SCIENTIST = {"fit_every": 8, "min_samples": 16, "ensemble_size": 8}
REQUIRED_ARTIFACTS = ("results.json", "telemetry.jsonl", "summary.png", "summary.pdf", "checkpoints/latest.msgpack")


def kernel_config(world: str, variant: str, steps: int = 40, seed: int = 0) -> dict[str, Any]:
    """The small run config of one (world, variant) cell; episodes end inside the run."""
    ws = WORLD_SETTINGS.get(world, {"grid": [16, 16, 1], "params": {}})
    return {
        "name": f"rk-{world.replace(':', '-')}-{variant}", "steps": int(steps), "seed": int(seed),
        "variant": variant,
        "world": {"name": world, "grid": list(ws["grid"]), "params": dict(ws["params"]),
                  "max_episode_steps": max(8, (3 * int(steps)) // 4)},
        "agent": dict(SMALL_AGENT), "scientist": dict(SMALL_SCIENTIST),
    }


# --------------------------------------------------------------------------- checks (pure)


@lru_cache(maxsize=1)
def results_schema() -> dict[str, Any]:
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


def schema_errors(results: Mapping[str, Any]) -> list[str]:
    """Every schema violation as ``'<field.path>: <message>'`` (empty when valid)."""
    import jsonschema

    validator = jsonschema.Draft202012Validator(results_schema())
    out = []
    for err in sorted(validator.iter_errors(results), key=lambda e: [str(p) for p in e.absolute_path]):
        where = ".".join(str(p) for p in err.absolute_path) or "<root>"
        out.append(f"{where}: {err.message}")
    return out


def nonfinite_paths(obj: Any, path: str = "") -> list[str]:
    """Paths of NaN/Inf floats anywhere in a nested structure."""
    if isinstance(obj, float):
        return [] if math.isfinite(obj) else [path or "<root>"]
    if isinstance(obj, Mapping):
        return [p for k, v in obj.items() for p in nonfinite_paths(v, f"{path}.{k}" if path else str(k))]
    if isinstance(obj, (list, tuple)):
        return [p for i, v in enumerate(obj) for p in nonfinite_paths(v, f"{path}[{i}]")]
    if hasattr(obj, "dtype") and hasattr(obj, "tolist"):
        return nonfinite_paths(obj.tolist(), path)
    return []


def telemetry_problems(lines: Sequence[Mapping[str, Any]], steps: int) -> list[str]:
    """NaN (stored as null by the writer) in rewards/actions/diagnostics/update metrics, gaps in steps."""
    probs: list[str] = []
    step_ids = []
    for i, rec in enumerate(lines):
        kind = rec.get("kind")
        if kind == "step":
            step_ids.append(rec.get("step"))
            if not isinstance(rec.get("reward"), (int, float)):
                probs.append(f"line {i}: reward is {rec.get('reward')!r}")
            if any(not isinstance(a, (int, float)) for a in rec.get("action", [])):
                probs.append(f"line {i}: non-finite action {rec.get('action')}")
            for k, v in (rec.get("diagnostics") or {}).items():
                if not isinstance(v, (int, float)):
                    probs.append(f"line {i}: diagnostics.{k} is {v!r}")
        elif kind == "update":
            for k, v in rec.items():
                if k not in ("kind",) and not isinstance(v, (int, float)):
                    probs.append(f"line {i}: update metric {k} is {v!r}")
    if step_ids != list(range(steps)):
        probs.append(f"telemetry steps are not 0..{steps - 1} exactly once (got {len(step_ids)} step lines)")
    return probs


def artifact_problems(out: Path, results: Mapping[str, Any]) -> list[str]:
    probs = [f"missing {name}" for name in REQUIRED_ARTIFACTS if not (out / name).is_file()]
    if results.get("variant", {}).get("use_scientist") and not (out / "ledger.jsonl").is_file():
        probs.append("missing ledger.jsonl (the variant uses the scientist)")
    probs += [f"listed artifact {a} does not exist" for a in results.get("artifacts", []) if not (out / a).is_file()]
    return probs


def stable_view(results: Mapping[str, Any]) -> str:
    """Canonical JSON of a results dict minus ``timings`` (what determinism/resume compare)."""
    from atom_sdk.artifacts import dumps_json

    return dumps_json({k: v for k, v in results.items() if k != "timings"})


class Difference(NamedTuple):
    """Where two JSON-like values first differ: ``kind`` is "missing" (a key in one only), "length" or "value"."""

    path: str
    kind: str
    left: Any
    right: Any


def first_difference(a: Any, b: Any, path: str = "") -> Difference | None:
    """The first difference between two nested mappings/lists (keys in sorted order), or None when equal."""
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        for k in sorted(set(a) | set(b), key=str):
            if k not in a or k not in b:
                return Difference(f"{path}.{k}", "missing", a.get(k), b.get(k))
            d = first_difference(a[k], b[k], f"{path}.{k}")
            if d:
                return d
        return None
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return Difference(path, "length", len(a), len(b))
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            d = first_difference(x, y, f"{path}[{i}]")
            if d:
                return d
        return None
    return None if a == b else Difference(path, "value", a, b)


def _first_difference(a: Any, b: Any) -> str | None:
    d = first_difference(a, b)
    if d is None:
        return None
    where = d.path.lstrip(".")
    if d.kind == "missing":
        return where + " present in only one run"
    if d.kind == "length":
        return f"{where}: lengths {d.left} vs {d.right}"
    return f"{where}: {d.left!r} vs {d.right!r}"


def _compare(ref: Mapping[str, Any], other: Mapping[str, Any]) -> tuple[bool, str | None]:
    sa, sb = stable_view(ref), stable_view(other)
    if sa == sb:
        return True, None
    return False, _first_difference(json.loads(sa), json.loads(sb))


# --------------------------------------------------------------------------- running


def _outcome(ok: bool, detail: Any = None) -> dict[str, Any]:
    return {"passed": bool(ok), "detail": detail}


def check_run(world: str, variant: str, *, steps: int = 40, seed: int = 0, deep: bool = True,
              workdir: Path, run_fn: Callable[..., Mapping[str, Any]] | None = None) -> dict[str, Any]:
    """Run one (world, variant) cell and every check on it; never raises for run failures."""
    from atom_sdk.artifacts import read_json, read_jsonl

    if run_fn is None:
        from atom_sdk.experiment.runner import run_experiment as run_fn  # lazy: pulls in JAX
    cfg = kernel_config(world, variant, steps, seed)
    rec: dict[str, Any] = {"world": world, "variant": variant, "steps": steps, "seed": seed,
                           "config": cfg, "checks": {}, "durations": {}}
    base = workdir / f"{world.replace(':', '_')}__{variant}"
    t0 = time.perf_counter()
    try:
        results = dict(run_fn(cfg, base / "run", overwrite=True))
    except Exception as exc:  # noqa: BLE001 - a failing run is a failing record
        rec["durations"]["run_seconds"] = time.perf_counter() - t0
        rec["error"] = f"{type(exc).__name__}: {exc}"
        rec["checks"]["run"] = _outcome(False, rec["error"])
        rec["passed"] = False
        return rec
    rec["durations"]["run_seconds"] = time.perf_counter() - t0
    rec["checks"]["run"] = _outcome(True)
    out = base / "run"
    on_disk = read_json(out / "results.json")
    bad = nonfinite_paths(results)
    tel = read_jsonl(out / "telemetry.jsonl")
    tel_probs = telemetry_problems(tel, steps)
    rec["checks"]["no_nan"] = _outcome(not bad and not tel_probs, (bad + tel_probs)[:20] or None)
    art = artifact_problems(out, on_disk)
    errs = schema_errors(on_disk)
    rec["checks"]["artifacts"] = _outcome(not art, art or None)
    rec["checks"]["schema"] = _outcome(not errs, errs[:20] or None)
    rec["summary"] = {k: on_disk.get("summary", {}).get(k) for k in
                      ("mean_reward", "episodes_completed", "updates", "final_trust", "diverged_episodes")}
    if deep:
        t1 = time.perf_counter()
        try:
            again = run_fn(cfg, base / "rerun", overwrite=True)
            same, diff = _compare(results, again)
            rec["checks"]["deterministic"] = _outcome(same, diff)
        except Exception as exc:  # noqa: BLE001
            rec["checks"]["deterministic"] = _outcome(False, f"{type(exc).__name__}: {exc}")
        rec["durations"]["rerun_seconds"] = time.perf_counter() - t1
        t2 = time.perf_counter()
        # after the first checkpoint (one rollout) and deliberately not on a rollout boundary
        stop = max(SMALL_AGENT["rollout_length"] + 3, steps // 2 + 3)
        try:
            partial = run_fn(cfg, base / "resume", overwrite=True, stop_after=stop)
            # the runner returns early without closing its hypothesis ledger; collecting the dead
            # run's objects releases the ledger's writer lock, as a process exit would
            gc.collect()
            interrupted = dict(partial).get("interrupted_at") == stop and not (base / "resume" / "results.json").exists()
            resumed = run_fn(cfg, base / "resume", resume=True)
            same, diff = _compare(results, resumed)
            rec["checks"]["resume"] = _outcome(same and interrupted,
                                               diff if not same else (None if interrupted else
                                                                      f"stop_after={stop} did not interrupt"))
            rec["checks"]["resume"]["stop_after"] = stop
        except Exception as exc:  # noqa: BLE001
            rec["checks"]["resume"] = _outcome(False, f"{type(exc).__name__}: {exc}")
        rec["durations"]["resume_seconds"] = time.perf_counter() - t2
    rec["durations"]["total_seconds"] = time.perf_counter() - t0
    rec["passed"] = all(c["passed"] for c in rec["checks"].values())
    return rec


def _world_importable(world: str) -> str | None:
    """None when the world class loads, else the reason (recorded as a failure)."""
    try:
        from atom_sdk.worlds.registry import world_class

        world_class(world)
    except Exception as exc:  # noqa: BLE001
        return f"{type(exc).__name__}: {exc}"
    return None


def run_reliability_kernel(
    *,
    worlds: Sequence[str] = DEFAULT_WORLDS,
    variants: Sequence[str] = DEFAULT_VARIANTS,
    steps: int = 40,
    seed: int = 0,
    deep_variants: Sequence[str] | None = DEEP_CHECK_VARIANTS,
    workdir: str | Path | None = None,
    keep: bool = False,
    progress: Callable[[dict[str, Any]], None] | None = None,
    run_fn: Callable[..., Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """Run the kernel and return the report (``passed`` is the AND of every record)."""
    from atom_sdk.errors import ConfigError
    from atom_sdk.provenance import provenance

    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        raise ConfigError(f"unknown variant(s) {unknown}; choose from {', '.join(VARIANTS)}")
    min_steps = SMALL_AGENT["rollout_length"] + 4
    if steps < min_steps:
        raise ConfigError(f"--steps {steps} is too short to checkpoint and resume; use at least {min_steps}")
    tmp = Path(workdir) if workdir is not None else Path(tempfile.mkdtemp(prefix="atom-reliability-"))
    tmp.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    records = []
    try:
        for world in worlds:
            reason = _world_importable(world)
            for variant in variants:
                if reason is not None:
                    rec = {"world": world, "variant": variant, "passed": False, "error": reason,
                           "checks": {"import": _outcome(False, reason)}, "durations": {}}
                else:
                    deep = deep_variants is None or variant in deep_variants
                    rec = check_run(world, variant, steps=steps, seed=seed, deep=deep, workdir=tmp, run_fn=run_fn)
                records.append(rec)
                if progress is not None:
                    progress(rec)
    finally:
        if not keep and workdir is None:
            shutil.rmtree(tmp, ignore_errors=True)
    failing = [{"world": r["world"], "variant": r["variant"],
                "checks": [k for k, c in r["checks"].items() if not c["passed"]], "error": r.get("error")}
               for r in records if not r["passed"]]
    settings = {"worlds": list(worlds), "variants": list(variants), "steps": int(steps), "seed": int(seed),
                "deep_check_variants": None if deep_variants is None else list(deep_variants),
                "world_settings": {w: WORLD_SETTINGS.get(w) for w in worlds}, "agent": SMALL_AGENT,
                "scientist": SMALL_SCIENTIST}
    return {
        "schema": SCHEMA,
        "provenance": provenance(settings, seed=seed),
        "settings": settings,
        "records": records,
        "failing": failing,
        "passed": bool(records) and not failing,
        "duration_seconds": time.perf_counter() - t0,
    }


def reliability_arg_parser():
    """Options shared by ``atom bench reliability`` and ``scripts/reliability_kernel_smoke.py``."""
    import argparse

    ap = argparse.ArgumentParser(prog="atom bench reliability", description="reliability kernel")
    ap.add_argument("--worlds", nargs="+", default=None)
    ap.add_argument("--variants", nargs="+", default=None)
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--output", default="validation_outputs/reliability.json")
    ap.add_argument("--quick", action="store_true", help="Taylor-Green only, v2_hybrid and ppo_baseline, 32 steps")
    ap.add_argument("--deep-all", action="store_true", help="determinism and resume on every variant")
    return ap


def resolve_cli_options(a: Any) -> dict[str, Any]:
    """Keyword arguments of :func:`run_reliability_kernel` from parsed options (``--quick`` applied)."""
    worlds, variants, steps = a.worlds, a.variants, a.steps
    if a.quick:
        worlds = worlds or ["analytical:taylor_green"]
        variants = variants or ["v2_hybrid", "ppo_baseline"]
        steps = min(steps, 32)
    return {"worlds": worlds or DEFAULT_WORLDS, "variants": variants or DEFAULT_VARIANTS, "steps": steps,
            "deep_variants": None if a.deep_all else DEEP_CHECK_VARIANTS}
