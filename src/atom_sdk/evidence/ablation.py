"""Seed-paired ablation sweeps: plan, execute (resumably), and write the evidence artifacts.

Why this shape: a sweep is a grid of independent ``(variant, seed)`` runs. Each finished
run is persisted at once as ``runs/<variant>__seed<k>.json`` (temp file + ``os.replace``)
by the parent process, so an interrupted sweep loses only the runs in flight and a re-run
executes only what is missing. A failing run is recorded with its error; it never aborts
the others. Reports (summary, significance, claims, figures) are pure functions of the
collected records, so ``atom ablate plot`` can rebuild them from JSON alone.

Run on an existing Ray cluster: see :mod:`atom_sdk.evidence.executors`. Many seeds of a variant as one
program (``executor="vectorized"`` or ``"auto"``, with the safety envelope off): see
:mod:`atom_sdk.evidence.vectorized_sweep`.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import platform
import re
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from atom_sdk.config import canonical_hash, canonical_value
from atom_sdk.errors import ArtifactError, ConfigError
from atom_sdk.evidence.claims import BASELINE, json_safe, write_text_atomic
from atom_sdk.evidence.executors import EXECUTORS, make_executor
from atom_sdk.evidence.vectorized_sweep import VECTOR_EXECUTORS, execute_vectorized, plan_groups
from atom_sdk.workspace import claim_output, output_folder, plan_output

MANIFEST_SCHEMA = "atom.platform_ablation_manifest/1"
RUNS_SCHEMA = "atom.platform_ablation_runs/1"
PRODUCTION = ("v2_hybrid", "v2_residual", "v2_raw", "v1_raw", "no_scientist", BASELINE)
SWITCHES = {"ablate_scientist": "no_scientist", "ablate_symplectic": "no_symplectic",
            "ablate_trust_gate": "no_trust_gate"}
VARIANT_SETS = ("production", "full", "memory", "decoder", "latent")
_TIMING_EXACT = {"steps_per_second", "wall_time_s", "wall_s", "elapsed_s", "runtime_s",
                 "duration_s", "seconds"}
RunFn = Callable[..., Mapping[str, Any]]
ALL_EXECUTORS = EXECUTORS + VECTOR_EXECUTORS


@dataclass(frozen=True)
class VariantSpec:
    """A labelled variant: the runner's ``variant`` plus ablation switches."""

    label: str
    variant: str
    switches: dict[str, bool] = field(default_factory=dict)


def variant_specs(variant_set: str) -> list[VariantSpec]:
    """Variants of a set, baseline last. ``full`` adds single-switch v2_hybrid ablations; ``memory``
    is the recurrent core against the feed-forward baseline (both on the observation vector); ``decoder``
    is the encoder with and without the field decoder's auxiliary loss; ``latent`` is the scientist over the
    encoder's latent with the law's Jacobian to the agent, against the measured-variable hybrid."""
    if variant_set not in VARIANT_SETS:
        raise ConfigError(f"unknown variant set {variant_set!r}",
                          hint=f"use one of {', '.join(VARIANT_SETS)}")
    if variant_set == "memory":
        return [VariantSpec("ppo_recurrent", "ppo_recurrent"), VariantSpec(BASELINE, BASELINE)]
    if variant_set == "decoder":
        return [VariantSpec(v, v) for v in ("no_scientist_decoder", "no_scientist", BASELINE)]
    if variant_set == "latent":
        return [VariantSpec(v, v) for v in ("v2_latent_jacobian", "v2_hybrid", BASELINE)]
    specs = [VariantSpec(v, v) for v in PRODUCTION[:-1]]
    if variant_set == "full":
        specs += [VariantSpec(f"v2_hybrid-{suffix}", "v2_hybrid", {key: True})
                  for key, suffix in SWITCHES.items()]
    return specs + [VariantSpec(BASELINE, BASELINE)]


def build_run_config(spec: VariantSpec, *, world: str, grid: Sequence[int], steps: int,
                     seed: int, device: str, world_params: Mapping[str, Any], safety: bool = True) -> dict:
    """The runner config of one ``(variant, seed)`` pair; every switch is explicit. ``safety=False``
    adds ``safety.enabled: false`` (a sweep with the envelope on keeps its configs, hence hashes)."""
    cfg = {
        "world": {"name": world, "grid": [int(g) for g in grid], "params": dict(world_params)},
        "steps": int(steps), "seed": int(seed), "variant": spec.variant, "device": device,
    }
    cfg.update({k: bool(spec.switches.get(k, False)) for k in SWITCHES})
    if not safety:
        cfg["safety"] = {"enabled": False}
    return cfg


def select_variants(specs: Sequence[VariantSpec], labels: Sequence[str] | None) -> list[VariantSpec]:
    """The set's variants named in ``labels`` (the baseline always stays, last); None keeps them all."""
    if labels is None:
        return list(specs)
    known = [s.label for s in specs]
    unknown = [v for v in labels if v not in known]
    if unknown or not labels:
        raise ConfigError(f"variants {unknown or '[]'} are not in this variant set",
                          hint=f"choose from {', '.join(known)} (or another --variant-set)")
    wanted = set(labels) | {BASELINE}
    return [s for s in specs if s.label in wanted]


def config_hash(obj: Any) -> str:
    """SHA-256 of the SDK's one canonical form (``config.canonical_hash``): the identity of a
    sweep and of each of its runs, used for resume and provenance."""
    return canonical_hash(canonical_value(obj))


def is_timing_key(name: str) -> bool:
    """Wall-clock dependent fields: kept apart so results compare across executors."""
    return (name in _TIMING_EXACT or "per_second" in name or name.endswith("_time_s")
            or name.startswith("wall") or name.endswith("_seconds"))


def _scalar(v: Any) -> Any:
    if isinstance(v, bool) or v is None or isinstance(v, str):
        return v
    if isinstance(v, (int, float)) or hasattr(v, "item"):
        try:
            x = v.item() if hasattr(v, "item") else v
        except (ValueError, TypeError):
            return _SKIP
        if isinstance(x, float) and not math.isfinite(x):
            return None
        return x if isinstance(x, (int, float, bool)) else _SKIP
    return _SKIP


_SKIP = object()


def _default_run_fn(config: dict, out_dir: Path, *, overwrite: bool = False) -> Mapping:
    from atom_sdk.experiment import run_experiment  # lazy: the runner pulls in JAX

    return run_experiment(config, out_dir, overwrite=overwrite)


def run_pair(task: Mapping[str, Any]) -> dict:
    """Execute one ``(variant, seed)`` run; never raises for a failing run (picklable)."""
    fn = task.get("run_fn") or _default_run_fn
    rec: dict[str, Any] = {"variant": task["label"], "base_variant": task["config"]["variant"],
                           "seed": task["seed"], "config_hash": task["config_hash"],
                           "status": "ok", "error": None, "metrics": {}, "timing": {}}
    t0 = time.perf_counter()
    try:
        fill_record(rec, fn(task["config"], Path(task["run_dir"]), overwrite=True))
    except Exception as err:  # noqa: BLE001 - isolation is the point: record, don't abort
        rec.update(status="failed", error=f"{type(err).__name__}: {err}", metrics={})
    rec["timing"]["wall_time_s"] = round(time.perf_counter() - t0, 6)
    return rec


def fill_record(rec: dict[str, Any], result: Any) -> None:
    """A run's ``summary`` into the record's metrics (timing-like keys apart), its ``timings`` as
    ``runner_*``: the one place both executors turn a result into a record."""
    summary = result.get("summary") if isinstance(result, Mapping) else None
    if not isinstance(summary, Mapping):
        raise TypeError("run function returned no 'summary' mapping")
    for k in sorted(summary):
        v = _scalar(summary[k])
        if v is _SKIP:
            continue
        (rec["timing"] if is_timing_key(k) else rec["metrics"])[k] = v
    timings = result.get("timings")
    for k in sorted(timings) if isinstance(timings, Mapping) else ():
        v = _scalar(timings[k])
        if v is not _SKIP and not isinstance(v, str):
            rec["timing"][f"runner_{k}"] = v


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def _versions() -> dict[str, str | None]:
    from importlib import metadata

    import atom_sdk

    out: dict[str, str | None] = {"atom_sdk": atom_sdk.__version__,
                                  "python": platform.python_version()}
    for dist in ("numpy", "scipy", "jax", "jaxlib", "matplotlib", "ray"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = None
    return out


def _git_commit() -> str | None:
    try:
        res = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                             timeout=5, cwd=Path(__file__).resolve().parent)
    except (OSError, subprocess.SubprocessError):
        return None
    return res.stdout.strip() or None if res.returncode == 0 else None


def _write_json(path: Path, obj: Any) -> None:
    write_text_atomic(path, json.dumps(json_safe(obj), indent=2, sort_keys=False) + "\n")


def _validate(world: str, grid: Sequence[int], steps: int, seeds: Sequence[int],
              executor: str, world_params: Mapping[str, Any]) -> None:
    if not isinstance(world, str) or not world:
        raise ConfigError("world must be a non-empty name", hint="e.g. --world analytical:taylor_green")
    if len(grid) != 3 or any(int(g) < 1 for g in grid):
        raise ConfigError(f"grid must be 3 positive ints, got {list(grid)}", hint="e.g. --grid 32 32 16")
    if int(steps) < 1:
        raise ConfigError(f"steps must be >= 1, got {steps}", hint="pass --steps 1 or more")
    if not seeds:
        raise ConfigError("no seeds given", hint="pass e.g. --seeds 0 1 2 (3+ for claims)")
    if any(int(s) < 0 for s in seeds) or len(set(seeds)) != len(seeds):
        raise ConfigError(f"seeds must be distinct non-negative ints, got {list(seeds)}",
                          hint="remove duplicates / negative values from --seeds")
    if executor not in ALL_EXECUTORS:
        raise ConfigError(f"unknown executor {executor!r}", hint=f"use one of {', '.join(ALL_EXECUTORS)}")
    for k, v in world_params.items():
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", str(k)):
            raise ConfigError(f"world parameter name {k!r} is not an identifier",
                              hint="use --world-<name> VALUE with letters, digits, dashes")
        if not isinstance(v, (int, float, str, bool)):
            raise ConfigError(f"world parameter {k!r} must be a scalar, got {type(v).__name__}")


def _precheck(configs: Sequence[dict]) -> None:
    """Validate configs with the runner's schema up front: a typo must not fail N runs."""
    try:
        from atom_sdk.config import build_run_config as validate
    except ImportError:  # runner schema not available: each run reports its own error
        return
    from atom_sdk.devices import resolve_device
    from atom_sdk.worlds import world_class

    checked: set[str] = set()
    for cfg in configs:
        config = validate(cfg)  # raises ConfigError naming the key
        world = config.world
        key = repr((world.name, world.grid, world.dtype, sorted(world.params.items()), config.device))
        if key in checked:
            continue
        checked.add(key)
        checker = getattr(world_class(world.name), "check_config", None)
        if checker is not None:  # unstable parameters are refused before any folder is made
            checker(tuple(world.grid), world.dtype, world.max_episode_steps, **world.params)
        resolve_device(config.device)


def _load_done(path: Path, chash: str, overwrite: bool) -> dict | None:
    """A finished record to reuse, or None to (re)run; refuses silent config drift."""
    if not path.exists():
        return None
    try:
        rec = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None  # unreadable: run again
    if rec.get("config_hash") != chash:
        if overwrite:
            return None
        raise ArtifactError(
            f"{path} was produced by a different run config",
            hint="use a new --out folder, or pass overwrite=True to re-run such pairs",
        )
    return rec if rec.get("status") == "ok" else None


def _claim_metrics(claim_metrics: Sequence[str] | None) -> list[str] | None:
    """The pre-declared primary metrics, de-duplicated; each must have a declared direction."""
    if claim_metrics is None:
        return None
    from atom_sdk.evidence.stats import METRIC_DIRECTIONS

    unknown = [m for m in claim_metrics if m not in METRIC_DIRECTIONS]
    if unknown or not claim_metrics:
        raise ConfigError(f"claim metrics must have a declared direction, got {unknown or '[]'}",
                          hint=f"choose from {', '.join(METRIC_DIRECTIONS)}")
    return list(dict.fromkeys(claim_metrics))


def _plan_runs(specs: Sequence[VariantSpec], seeds: Sequence[int], runs_dir: Path, run_fn: RunFn | None, *,
               world: str, grid: Sequence[int], steps: int, device: str,
               world_params: Mapping[str, Any], safety: bool = True) -> list[dict]:
    """One task per (variant, seed) pair, variants outermost."""
    plan: list[dict] = []
    for spec in specs:
        for seed in seeds:
            cfg = build_run_config(spec, world=world, grid=grid, steps=steps, seed=seed,
                                   device=device, world_params=world_params, safety=safety)
            stem = f"{spec.label}__seed{seed}"
            plan.append({"label": spec.label, "seed": seed, "config": cfg,
                         "config_hash": config_hash(cfg), "stem": stem,
                         "run_dir": str(runs_dir / stem), "run_fn": run_fn})
    return plan


def _manifest(sweep: dict, plan: list[dict], todo: list[dict], *, executor: str, workers: int | None,
              ray_address: str | None) -> dict:
    """The sweep manifest as written before any pair runs (status "running")."""
    return {
        "schema": MANIFEST_SCHEMA, "sweep": sweep, "sweep_hash": config_hash(sweep),
        "runs": [{"variant": p["label"], "seed": p["seed"], "config_hash": p["config_hash"],
                  "config": p["config"]} for p in plan],
        "executor": {"name": executor, "workers": workers, "ray_address": ray_address},
        "versions": _versions(), "git_commit": _git_commit(),
        "started_at": _now(), "finished_at": None, "status": "running",
        "planned": len(plan), "skipped": len(plan) - len(todo), "executed": 0, "failed": 0,
    }


def _route(todo: list[dict], executor: str, fallback: str) -> tuple[list[list[dict]], list[dict], dict]:
    """Which pending pairs run as seed-vectorised groups and which per run, and the manifest's account
    of it. ``vectorized`` refuses a sweep it cannot vectorise whole; ``auto`` falls back per variant."""
    if executor not in VECTOR_EXECUTORS:
        return [], todo, {}
    groups, reasons = plan_groups(todo)
    if reasons and executor == "vectorized":
        raise ConfigError("the vectorized executor cannot run "
                          + "; ".join(f"{label}: {why}" for label, why in reasons.items()),
                          hint="use --executor auto to run those variants per run, or change what is named")
    vectorised = {t["label"] for g in groups for t in g}
    per_run = [t for t in todo if t["label"] not in vectorised]
    return groups, per_run, {"vectorized_variants": sorted(vectorised, key=[t["label"] for t in todo].index),
                             "fallback": {"executor": fallback if per_run else None, "reasons": reasons}}


def _execute(todo: list[dict], out: Path, runs_dir: Path, manifest: dict, *, executor: str,
             workers: int | None, ray_address: str | None, progress: bool,
             groups: Sequence[Sequence[dict]] = ()) -> dict[str, int]:
    """Run the pending pairs (``groups`` first, as one program each; ``todo`` per run on ``executor``),
    writing each record as it lands and the manifest when done or stopped."""
    counts = {"done": 0, "failed": 0}

    def on_result(rec: dict) -> None:
        _write_json(runs_dir / f"{rec['variant']}__seed{rec['seed']}.json", rec)
        counts["done"] += 1
        counts["failed"] += rec["status"] != "ok"

    status = "interrupted"
    try:
        ex = make_executor(executor, workers=workers, ray_address=ray_address) if todo or not groups else None
        with _Progress(len(todo) + sum(len(g) for g in groups), enabled=progress) as bar:
            execute_vectorized(groups, workers=workers, fill=fill_record,
                               on_result=lambda r: (on_result(r), bar.update(counts, None)),
                               on_tick=lambda running: bar.update(counts, running))
            if ex is not None:
                ex.execute(run_pair, todo,
                           on_result=lambda r: (on_result(r), bar.update(counts, None)),
                           on_tick=lambda running: bar.update(counts, running))
        status = "complete"
    finally:
        manifest.update(finished_at=_now(), status=status, executed=counts["done"],
                        failed=counts["failed"])
        _write_json(out / "manifest.json", manifest)
    return counts


def run_ablation(
    world: str,
    grid: Sequence[int],
    steps: int,
    seeds: Sequence[int],
    variant_set: str = "production",
    device: str = "cpu",
    out: str | Path = "benchmark_results/platform_ablations",
    world_params: Mapping[str, Any] | None = None,
    executor: str = "local",
    workers: int | None = None,
    ray_address: str | None = None,
    run_fn: RunFn | None = None,
    progress: bool = True,
    *,
    n_bootstrap: int = 4000,
    bootstrap_seed: int = 123,
    overwrite: bool = False,
    claim_metrics: Sequence[str] | None = None,
    safety: bool = True,
    variants: Sequence[str] | None = None,
    fallback_executor: str = "local",
) -> dict:
    """Run (or resume) a seed-paired ablation sweep and write every artifact into ``out``.

    ``run_fn(config, out_dir, overwrite=...) -> {"summary": {...}}`` defaults to
    :func:`atom_sdk.experiment.run_experiment`; with the ``local``/``ray`` executors it
    must be picklable (module-level). Failed pairs are retried on the next call; pairs
    finished with a different config raise :class:`ArtifactError` unless ``overwrite``.
    ``claim_metrics`` restricts the Holm family to pre-declared primary metrics (default:
    every metric with a declared direction); fewer comparisons make each test stronger.
    ``safety=False`` runs every pair with the safety envelope off; ``variants`` keeps only those labels
    of the set (and the baseline). ``executor="vectorized"`` trains each variant's seeds as one program
    (:mod:`atom_sdk.evidence.vectorized_sweep`) and refuses a sweep it cannot; ``"auto"`` does so where
    it can and runs the other variants on ``fallback_executor``, the reasons in the manifest.
    Returns counts and artifact paths.
    """
    world_params = dict(world_params or {})
    seeds = [int(s) for s in seeds]
    _validate(world, grid, steps, seeds, executor, world_params)
    if fallback_executor not in EXECUTORS:
        raise ConfigError(f"fallback executor must be a per-run executor, got {fallback_executor!r}",
                          hint=f"use one of {', '.join(EXECUTORS)}")
    claim_metrics = _claim_metrics(claim_metrics)
    specs = select_variants(variant_specs(variant_set), variants)
    # a sweep folder is continued (finished pairs are kept); one atom did not make is refused
    out = output_folder(out, "--out")
    out_plan = plan_output(out, "ablation", overwrite=False, reuse=True)
    runs_dir = out / "runs"
    sweep = {"world": world, "grid": [int(g) for g in grid], "steps": int(steps),
             "seeds": seeds, "variant_set": variant_set, "device": device,
             "world_params": world_params, "baseline": BASELINE,
             "variants": [s.label for s in specs], "claim_metrics": claim_metrics,
             "bootstrap": {"n_resamples": n_bootstrap, "seed": bootstrap_seed}}
    if not safety:  # only then: a sweep with the envelope on keeps its sweep hash
        sweep["safety_envelope"] = False
    plan = _plan_runs(specs, seeds, runs_dir, run_fn, world=world, grid=grid, steps=steps, device=device,
                      world_params=world_params, safety=safety)
    if run_fn is None:
        _precheck([p["config"] for p in plan])
    done = {p["stem"]: _load_done(runs_dir / f"{p['stem']}.json", p["config_hash"], overwrite)
            for p in plan}
    todo = [p for p in plan if done[p["stem"]] is None]
    groups, per_run, routing = _route(todo, executor, fallback_executor)
    claim_output(out_plan, replace=False)
    runs_dir.mkdir(parents=True, exist_ok=True)
    manifest = _manifest(sweep, plan, todo, executor=executor, workers=workers, ray_address=ray_address)
    manifest["executor"].update(routing)
    _write_json(out / "manifest.json", manifest)
    counts = _execute(per_run, out, runs_dir, manifest,
                      executor=fallback_executor if executor in VECTOR_EXECUTORS else executor,
                      workers=workers, ray_address=ray_address, progress=progress, groups=groups)

    records = [json.loads((runs_dir / f"{p['stem']}.json").read_text(encoding="utf-8"))
               for p in plan]
    runs_doc = {"schema": RUNS_SCHEMA, "baseline": BASELINE, "variants": sweep["variants"],
                "seeds": seeds, "claim_metrics": claim_metrics, "runs": records}
    _write_json(out / "runs.json", runs_doc)
    from atom_sdk.evidence.plots import write_reports  # lazy: matplotlib

    sig = write_reports(runs_doc, out, n_bootstrap=n_bootstrap, bootstrap_seed=bootstrap_seed)
    return {
        "out": str(out), "planned": len(plan), "executed": counts["done"],
        "skipped": len(plan) - len(todo),
        "ok": sum(r["status"] == "ok" for r in records),
        "failed": sum(r["status"] != "ok" for r in records),
        "claims": [r["claim_id"] for r in sig["records"] if r["claim_id"]],
        "artifacts": sorted(p.name for p in out.iterdir() if p.is_file()),
    }


class _Progress:
    """Rich bar "runs done / running / failed"; a no-op when disabled."""

    def __init__(self, total: int, *, enabled: bool) -> None:
        self.total, self.enabled, self._p, self._task = total, enabled and total > 0, None, None
        self._running = 0

    def __enter__(self) -> _Progress:
        if self.enabled:
            from rich.progress import (BarColumn, MofNCompleteColumn, Progress,
                                       TextColumn, TimeElapsedColumn)

            self._p = Progress(TextColumn("[bold]ablation"), BarColumn(), MofNCompleteColumn(),
                               TextColumn("{task.description}"), TimeElapsedColumn())
            self._p.start()
            self._task = self._p.add_task("running 0 | failed 0", total=self.total)
        return self

    def update(self, counts: Mapping[str, int], running: int | None) -> None:
        if self._p is None:
            return
        if running is not None:
            self._running = running
        self._p.update(self._task, completed=counts["done"],
                       description=f"running {self._running} | failed {counts['failed']}")

    def __exit__(self, *exc: object) -> None:
        if self._p is not None:
            self._p.stop()
