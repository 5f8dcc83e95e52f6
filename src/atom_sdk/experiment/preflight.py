"""Everything a run checks before it writes a byte or compiles a program.

Why: a command refused for bad input must leave the file system exactly as it found it, and
must say so in seconds, not after 20 s of XLA compilation. ``plan_run`` validates the world
and its parameters, the device, a memory estimate against the machine, the output folder
(name rule, ownership, overwrite) and, for ``--resume``, the saved config and whether the run
is already complete or can be extended exactly. ``start_run`` then creates the folder.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from atom_sdk.artifacts import read_json, write_json
from atom_sdk.config import RunConfig, build_run_config, canonical_dict, config_hash
from atom_sdk.errors import ArtifactError, ConfigError, ResourceLimitError
from atom_sdk.experiment import checkpoint as ckpt
from atom_sdk.workspace import OutputPlan, claim_output, confined_child, output_folder, plan_output

RunMode = Literal["new", "replace", "resume", "extend", "restart"]
#: extra full-grid copies of the encoder's input the rollout keeps besides its ``rollout_length``
ENCODER_EXTRA_COPIES = 4
#: peak bytes per grid cell and per sample of a PPO minibatch in the field encoder's forward and
#: backward pass. Measured as peak RSS slopes (jax 0.10, CPU, 2026-11-30): Taylor-Green 850,
#: cylinder 1000, wedge 1225; the largest, rounded up, so the estimate errs on the safe side.
ENCODER_BYTES_PER_CELL_PER_SAMPLE = 1250
#: the interpreter, JAX runtime and compiled programs before any grid is allocated (measured ~560 MiB)
PROCESS_BASE_BYTES = 600 * 2**20


@dataclass(frozen=True)
class MemoryEstimate:
    world_bytes: int
    encoder_bytes: int
    limit_bytes: int | None
    where: str

    @property
    def total_bytes(self) -> int:
        return PROCESS_BASE_BYTES + self.world_bytes + self.encoder_bytes


@dataclass(frozen=True)
class RunPlan:
    """The checked decision for one run: where, in which mode, on which device."""

    out: Path
    output: OutputPlan
    mode: RunMode
    checkpoint_hashes: tuple[str, ...]
    device: Any
    memory: MemoryEstimate
    saved_steps: int | None = None


def _gib(n: float) -> str:
    return f"{n / 2**30:.1f} GiB" if n >= 2**30 else f"{n / 2**20:.0f} MiB"


def estimate_memory(config: RunConfig, world_cls: Any, device: Any) -> MemoryEstimate:
    """Peak memory of the run: runtime, the world's arrays, the encoder's rollout and minibatch.

    An estimate from measured per-cell slopes (see the constants above), good to within about
    a factor of two; it exists to refuse runs that cannot fit, not to budget to the byte.
    """
    from atom_sdk.devices import device_memory_bytes, host_available_bytes
    from atom_sdk.experiment.variants import resolve_variant

    grid = tuple(config.world.grid)
    cells = math.prod(int(n) for n in grid)
    estimator = getattr(world_cls, "estimate_memory_bytes", None)
    world_bytes = int(estimator(grid, config.world.dtype)) if estimator is not None else cells * 24 * 4
    encoder_bytes = 0
    if resolve_variant(config).use_encoder:
        channels = int(getattr(world_cls, "field_channels", 6))
        minibatch = max(1, config.agent.rollout_length // config.agent.num_minibatches)
        stored = cells * channels * 4 * (config.agent.rollout_length + ENCODER_EXTRA_COPIES)
        encoder_bytes = stored + cells * minibatch * ENCODER_BYTES_PER_CELL_PER_SAMPLE
    accel = device_memory_bytes(device)
    if accel is not None:
        return MemoryEstimate(world_bytes, encoder_bytes, accel, f"{device.platform} memory")
    return MemoryEstimate(world_bytes, encoder_bytes, host_available_bytes(), "available host memory")


def check_memory(config: RunConfig, estimate: MemoryEstimate) -> None:
    if estimate.limit_bytes is None or estimate.total_bytes <= estimate.limit_bytes:
        return
    nx, ny, nz = config.world.grid
    raise ResourceLimitError(
        f"grid {nx}x{ny}x{nz} needs about {_gib(estimate.total_bytes)} (world {_gib(estimate.world_bytes)}, "
        f"encoder rollout {_gib(estimate.encoder_bytes)}) but only {_gib(estimate.limit_bytes)} of "
        f"{estimate.where} is free; use a smaller --grid (or a shorter agent.rollout_length), or pass "
        "--skip-memory-check if you know the estimate is too high")


def _changed_keys(old: dict[str, Any], new: dict[str, Any], prefix: str = "") -> list[str]:
    keys: list[str] = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            keys.extend(_changed_keys(a, b, f"{prefix}{key}."))
        elif a != b:
            keys.append(f"{prefix}{key}")
    return keys


def _saved_config(out: Path) -> tuple[RunConfig, str, dict[str, Any]]:
    saved = read_json(out / "config.json")
    if not isinstance(saved, dict) or "config" not in saved:
        raise ArtifactError(f"'{out / 'config.json'}' is not a run config; run without --resume (with --overwrite "
                            "to replace the folder)")
    cfg = build_run_config(saved["config"], source=str(out / "config.json"))
    return cfg, config_hash(cfg), saved


def completed_steps(out: Path) -> int | None:
    """Steps a finished run in ``out`` recorded in its results.json (None: no readable results)."""
    results = out / "results.json"
    if not results.is_file():
        return None
    try:
        return int(read_json(results)["summary"]["steps"])
    except (ArtifactError, KeyError, TypeError, ValueError):
        return None


def extension_problem(old: RunConfig, new_steps: int) -> str | None:
    """Why a run of ``old.steps`` cannot be extended to ``new_steps`` exactly, or None if it can.

    A run continued from its final checkpoint equals a run of ``new_steps`` from the start only
    if nothing already done depended on the total: the learning rate must not anneal over the
    total number of updates, and the last rollout must have been a full one (a shorter final
    rollout is updated early, which a longer run would not do).
    """
    if new_steps <= old.steps:
        return f"--steps {new_steps} is not more than the {old.steps} steps already run"
    if old.agent.anneal_lr:
        return ("the learning rate anneals over the total number of updates (agent.anneal_lr), so a longer run "
                "would have used other rates from the first update on")
    if old.steps % old.agent.rollout_length:
        return (f"its last rollout was shorter ({old.steps % old.agent.rollout_length} of "
                f"{old.agent.rollout_length} steps) and was updated early")
    return None


def _plan_resume(out: Path, output: OutputPlan, config: RunConfig) -> tuple[RunMode, tuple[str, ...], int | None]:
    if output.state in {"new", "empty"}:
        raise ArtifactError(f"there is no run to resume at '{out}'; run without --resume, or check --name and "
                            "--output-root")
    if not (out / "config.json").is_file():
        raise ArtifactError(f"'{out}' holds no config.json, so it cannot be resumed; run with --overwrite to "
                            "start it again")
    saved, saved_hash, raw = _saved_config(out)
    new_hash = config_hash(config)
    done = completed_steps(out)
    has_checkpoint = ckpt.exists(out)
    if saved_hash == new_hash:
        if done is not None and done >= config.steps:
            raise ArtifactError(f"run '{out.name}' is already complete ({done} steps); pass a larger --steps with "
                                "--resume to extend it, or --overwrite to run it again")
        # an extension interrupted before its first checkpoint still holds the shorter run's checkpoint
        accepted = (saved_hash, *([raw["extended_from"]] if isinstance(raw.get("extended_from"), str) else []))
        return ("resume" if has_checkpoint else "restart"), accepted, saved.steps
    changed = _changed_keys(canonical_dict(saved), canonical_dict(config))
    if changed != ["steps"]:
        raise ConfigError(f"--resume with another config: {', '.join(changed)} differ from the run in '{out}'; "
                          "resume with the same settings (only --steps may grow), or pass --overwrite")
    why = extension_problem(saved, config.steps)
    if why is not None:
        raise ConfigError(f"run '{out.name}' cannot be extended from {saved.steps} to {config.steps} steps with "
                          f"the same result as a fresh {config.steps}-step run: {why}; use --overwrite to run "
                          f"{config.steps} steps from the start")
    if not has_checkpoint:
        return "restart", (saved_hash,), saved.steps
    return "extend", (saved_hash,), saved.steps


def plan_run(config: RunConfig, out_dir: str | Path | None = None, *, overwrite: bool = False,
             resume: bool = False, memory_check: bool = True) -> RunPlan:
    """Validate everything about a run without writing; raises a one-line ``AtomError``."""
    from atom_sdk.devices import resolve_device
    from atom_sdk.worlds import world_class

    if overwrite and resume:
        raise ConfigError("--overwrite and --resume contradict each other; pass one of them")
    cls = world_class(config.world.name)
    checker = getattr(cls, "check_config", None)
    if checker is not None:
        checker(tuple(config.world.grid), config.world.dtype, config.world.max_episode_steps, **config.world.params)
    device = resolve_device(config.device)
    memory = estimate_memory(config, cls, device)
    if memory_check:
        check_memory(config, memory)
    out = confined_child(config.output_root, config.name, "--name") if out_dir is None else output_folder(out_dir)
    output = plan_output(out, "run", overwrite=overwrite, reuse=resume,
                         flag_hint="pass --overwrite to replace it, --resume to continue it, or choose another --name")
    if resume:
        mode, hashes, saved_steps = _plan_resume(out, output, config)
        return RunPlan(out, output, mode, hashes, device, memory, saved_steps)
    mode: RunMode = "replace" if output.state == "owned" else "new"
    return RunPlan(out, output, mode, (), device, memory)


def start_run(plan: RunPlan, config: RunConfig) -> Path:
    """Create (or replace, or reopen) the run folder and write ``config.json``; the first write."""
    replace = plan.mode in {"replace", "restart"}
    out = claim_output(plan.output, replace=replace)
    if plan.mode in {"new", "replace", "restart", "extend"}:
        record: dict[str, Any] = {"config": config.model_dump(mode="json"), "config_hash": config_hash(config)}
        if plan.mode == "extend":
            record["extended_from"] = plan.checkpoint_hashes[0]
            record["extended_from_steps"] = plan.saved_steps
        write_json(out / "config.json", record)
    return out
