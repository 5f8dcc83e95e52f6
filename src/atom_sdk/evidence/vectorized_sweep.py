"""The ablation harness's seed-vectorised executor: one program per variant instead of one run per seed.

Why: a sweep's runs of one variant differ only by their seed, and
:func:`atom_sdk.experiment.vectorized.train_seeds_vectorized` trains many seeds of one config at once
(``ppo_baseline``-like variants as one ``jit(vmap)`` program; scientist variants as vmapped device
segments between host refits, one scientist per seed). Each seed's run is then the host-stepped
runner's run with the safety envelope off, to float32 rounding, so this executor writes the same
per-run record (``metrics``, ``timing``, seed, config hash) that :func:`ablation.run_pair` writes from
the runner's summary, and claims, statistics, figures and resume read it unchanged.

A variant group is vectorised only when the trainer reproduces the runner for it (see
:func:`why_not_vectorized`); ``executor="vectorized"`` refuses a sweep with any other group, ``"auto"``
runs those groups with a per-run executor and records why in the manifest.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from atom_sdk.errors import ConfigError

VECTOR_EXECUTORS = ("vectorized", "auto")
OnResult = Callable[[dict], None]


def group_by_variant(tasks: Sequence[Mapping[str, Any]]) -> dict[str, list[Mapping[str, Any]]]:
    """The pending tasks of each variant label, in plan order (a group differs only by seed)."""
    groups: dict[str, list[Mapping[str, Any]]] = {}
    for task in tasks:
        groups.setdefault(task["label"], []).append(task)
    return groups


def why_not_vectorized(tasks: Sequence[Mapping[str, Any]]) -> str | None:
    """Why one variant group cannot be trained as one seed-vectorised program (None when it can)."""
    if not tasks:
        return "no pending runs"
    if any(t.get("run_fn") is not None for t in tasks):
        return "a custom run function (run_fn) runs each pair itself"
    first = {k: v for k, v in tasks[0]["config"].items() if k != "seed"}
    if any({k: v for k, v in t["config"].items() if k != "seed"} != first for t in tasks[1:]):
        return "the group's runs differ by more than their seed"
    from atom_sdk.config import build_run_config
    from atom_sdk.experiment.runner import make_world
    from atom_sdk.experiment.variants import resolve_variant
    from atom_sdk.experiment.vectorized import MAX_SEED, check_vectorizable
    from atom_sdk.experiment.vectorized_science import science_blocker

    config = build_run_config(tasks[0]["config"])
    if config.safety.enabled:
        return ("the safety envelope is on and the seed-vectorised trainer does not apply it "
                "(sweep with the envelope off, safety=False / --no-safety, to vectorise)")
    if any(int(t["seed"]) > MAX_SEED for t in tasks):
        return f"a seed above {MAX_SEED} (episode seeds must stay 32-bit on the device)"
    variant = resolve_variant(config)
    if variant.recurrent:
        return "the recurrent core needs the host-stepped runner (the seed-vectorised trainers carry no hidden state)"
    try:
        check_vectorizable(config, scientist=True)
    except ConfigError as err:
        return str(err)
    world = make_world(config)
    if not hasattr(world, "dynamics"):
        return f"world {config.world.name!r} has no pure-JAX dynamics"
    if variant.use_scientist:
        return science_blocker(config, variant, world)
    return None


def plan_groups(todo: Sequence[Mapping[str, Any]]) -> tuple[list[list[Mapping[str, Any]]], dict[str, str]]:
    """The groups to vectorise, and for every other variant label the reason it runs per run."""
    vectorised: list[list[Mapping[str, Any]]] = []
    reasons: dict[str, str] = {}
    for label, tasks in group_by_variant(todo).items():
        why = why_not_vectorized(tasks)
        if why is None:
            vectorised.append(tasks)
        else:
            reasons[label] = why
    return vectorised, reasons


def runner_summary(config: Any, seed_result: Mapping[str, Any]) -> dict[str, Any]:
    """One seed's vectorised result as the runner's results ``summary`` (the same keys, same meaning)."""
    a = config.agent
    full, rest = divmod(int(config.steps), int(a.rollout_length))
    trust = [float(t) for _, t in seed_result.get("trust_trajectory", [])]
    summary: dict[str, Any] = {
        "steps": int(config.steps),
        "episodes_completed": seed_result["episodes_completed"],
        "mean_reward": seed_result["mean_reward"],
        "mean_return": seed_result["mean_return"],
        "final_return": seed_result["final_return"],
        # the runner updates after every full rollout, and after the last partial one when it splits
        "updates": full + int(rest > 0 and rest % int(a.num_minibatches) == 0),
        "final_trust": seed_result.get("final_trust"),
        "mean_trust": sum(trust) / len(trust) if trust else None,
        "diverged_episodes": seed_result["diverged_episodes"],
    }
    for key in sorted(k for k in seed_result if k.startswith("mean_") and k not in summary):
        summary[key] = seed_result[key]
    return summary


def run_group(tasks: Sequence[Mapping[str, Any]], *, workers: int | None,
              fill: Callable[[dict, Mapping[str, Any]], None]) -> list[dict]:
    """Train one variant group's seeds as one program; one ``run_pair``-shaped record per seed.

    ``fill(record, result)`` is the harness's own summary-to-record step, so both executors
    record the same fields. A failure fails every seed of the group (recorded, never raised)."""
    from atom_sdk.compilation import enable_persistent_cache
    from atom_sdk.config import build_run_config
    from atom_sdk.devices import resolve_device

    # as run_experiment does: a second sweep of the same shapes loads its programs from disk (on a
    # GPU the compilations were 62 of a 12-seed sweep's 80 s) instead of compiling them again
    enable_persistent_cache()
    t0 = time.perf_counter()
    seeds = [int(t["seed"]) for t in tasks]
    records = [{"variant": t["label"], "base_variant": t["config"]["variant"], "seed": t["seed"],
                "config_hash": t["config_hash"], "status": "ok", "error": None, "metrics": {}, "timing": {}}
               for t in tasks]
    try:
        import jax

        from atom_sdk.experiment.vectorized import train_seeds_vectorized

        config = build_run_config(tasks[0]["config"])
        threads = max(1, min(len(seeds), workers or os.cpu_count() or 1))
        with jax.default_device(resolve_device(config.device)):
            out = train_seeds_vectorized(config, seeds, workers=threads)
        wall = time.perf_counter() - t0
        timings = {"group_wall_seconds": wall, "group_seeds": len(seeds),
                   **{k: v for k, v in out.get("timings", {}).items() if isinstance(v, (int, float))}}
        for rec, task, seed_result in zip(records, tasks, out["per_seed"]):
            if int(seed_result["seed"]) != int(task["seed"]):
                raise RuntimeError(f"vectorised result for seed {seed_result['seed']} where {task['seed']} was due")
            fill(rec, {"summary": runner_summary(config, seed_result), "timings": timings})
            _write_seed(Path(task["run_dir"]), task, out, seed_result)
    except Exception as err:  # noqa: BLE001 - as run_pair: record the failure, never abort the sweep
        for rec in records:
            rec.update(status="failed", error=f"{type(err).__name__}: {err}", metrics={})
    share = (time.perf_counter() - t0) / len(records)
    for rec in records:
        rec["timing"]["wall_time_s"] = round(share, 6)
    return records


def _write_seed(run_dir: Path, task: Mapping[str, Any], out: Mapping[str, Any], seed_result: Mapping[str, Any]) -> None:
    """The seed's own result file (laws, trust, episode returns) where the runner would write its run folder."""
    from atom_sdk.evidence.claims import json_safe, write_text_atomic

    run_dir.mkdir(parents=True, exist_ok=True)
    doc = {"schema": "atom.ablation_vectorized_run/1", "config": task["config"], "config_hash": task["config_hash"],
           "trainer": {k: out.get(k) for k in ("schema", "variant", "seeds", "safety_envelope", "scientist",
                                                "timings")},
           "result": seed_result}
    write_text_atomic(run_dir / "vectorized_result.json", json.dumps(json_safe(doc), indent=2) + "\n")


def execute_vectorized(groups: Sequence[Sequence[Mapping[str, Any]]], *, workers: int | None,
                       fill: Callable[[dict, Mapping[str, Any]], None], on_result: OnResult,
                       on_tick: Callable[[int], None]) -> None:
    """Run every vectorisable group, handing each seed's record to ``on_result`` as its group lands."""
    for tasks in groups:
        on_tick(len(tasks))
        for rec in run_group(tasks, workers=workers, fill=fill):
            on_result(rec)
    on_tick(0)
