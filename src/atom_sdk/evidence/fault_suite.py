"""The fault-injection suite: does the envelope notice each fault, how fast, and what does it do?

Why here, beside the integrity and reliability benches: like them it drives whole closed-loop
runs through the experiment runner, so it sits above ``safety`` and ``experiment`` (the
wrappers it injects live in :mod:`atom_sdk.safety.faults`).

For every built-in world that can be imported: one short nominal closed-loop run (false-
intervention rate) and one run per fault, all through ``run_experiment(..., world_factory=...)``
so the real runner, telemetry and results code is exercised. Detection latency is read back
from the run's own ``telemetry.jsonl`` (``{"kind": "safety"}`` lines), which also checks that
the artifacts are intact. A world that cannot be imported yet is skipped and said so; under
``strict=True`` a skipped world fails the suite.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from atom_sdk.artifacts import write_json
from atom_sdk.safety import faults as F
from atom_sdk.safety import monitors as mon

#: goal for nominal runs: interventions on fewer than this fraction of steps
FALSE_INTERVENTION_GOAL = 0.01


@dataclass(frozen=True)
class FaultSpec:
    """A fault, what must detect it, within how many steps, and the intervention that must follow."""

    name: str
    build: Callable[[Any, int, dict[str, Any]], F.FaultWrapper]
    reasons: tuple[str, ...]
    bound_steps: int
    interventions: tuple[str, ...]
    why_bound: str


FAULTS: dict[str, FaultSpec] = {
    "nan_state": FaultSpec(
        "nan_state", lambda w, s, o: F.NaNInjection(w, s), (mon.SAFETY_NONFINITE,), 0, ("rollback", "halt"),
        "NaN/Inf is checked on every observation, reward and diagnostic of the step it appears in"),
    "diverging": FaultSpec(
        "diverging", lambda w, s, o: F.DivergingWorld(w, s, growth=o.get("growth", 1.5), leaves=o.get("leaves")),
        (mon.SAFETY_SPEED, mon.SAFETY_STRESS_HIGH, mon.SAFETY_DENSITY_RANGE, mon.SAFETY_MACH, mon.SAFETY_NONFINITE),
        10, ("fallback", "rollback", "halt"),
        "growth 1.5/step crosses a 3x-10x margin to the speed/stress/density limits in <= log(10)/log(1.5) ~ 6 steps"),
    "obs_shift": FaultSpec(
        "obs_shift", lambda w, s, o: F.ObservationShift(w, s, magnitude=o.get("magnitude", 20.0)),
        (mon.SAFETY_SHIFT,), 0, ("guard",),
        "an offset of 20 x (|mean| + std) gives z >= 20 > shift_z_threshold on the first shifted observation"),
    "trust_collapse": FaultSpec(
        "trust_collapse", lambda w, s, o: F.TrustCollapse(w, s), (mon.SAFETY_TRUST_LOW,), 0, ("restrict_theory",),
        "trust is read after every step"),
    "stuck_actuator": FaultSpec(
        "stuck_actuator", lambda w, s, o: F.StuckActuator(w, s), (mon.SAFETY_ACTUATOR,), 4,
        ("fallback", "rollback", "halt"),
        "actuator_patience = 3 consecutive mismatches (commanded vs applied), plus one step of slack"),
}

#: small settings per built-in world so the suite runs in minutes; ``fault_options`` per fault
WORLD_SETUPS: dict[str, dict[str, Any]] = {
    "analytical:taylor_green": {"world": {"grid": [8, 8, 1], "max_episode_steps": 200},
                                "fault_options": {"diverging": {"leaves": ("amplitude", "last_obs")}}},
    "lbm2d:cylinder": {"world": {"grid": [88, 36, 1], "max_episode_steps": 200, "params": {"substeps": 10}},
                       "fault_options": {"diverging": {"leaves": ("f",)}}},
    "supersonic:wedge": {"world": {"grid": [48, 32, 1], "max_episode_steps": 200}, "fault_options": {}},
}


@dataclass
class _Run:
    results: dict[str, Any] | None = None
    error: str | None = None
    fault: F.FaultWrapper | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _base_config(world_id: str, setup: dict[str, Any], steps: int, seed: int, variant: str,
                 name: str) -> dict[str, Any]:
    return {
        "name": name, "steps": steps, "seed": seed, "variant": variant,
        "world": {"name": world_id, **setup.get("world", {})},
        "agent": {"rollout_length": 16, "hidden_sizes": [32, 32], "latent_dim": 8, "num_minibatches": 2,
                  "update_epochs": 2, "symplectic": False},
        "scientist": {"fit_every": 16, "min_samples": 32, "ensemble_size": 5},
        "safety": {"enabled": True},
    }


def _read_artifacts(run_dir: Path, steps: int) -> tuple[bool, list[dict[str, Any]], str | None]:
    """(intact, safety events, problem): results.json and every telemetry line parse, steps all there."""
    try:
        results = json.loads((run_dir / "results.json").read_text(encoding="utf-8"))
        lines = [json.loads(line) for line in (run_dir / "telemetry.jsonl").read_text(encoding="utf-8").splitlines()
                 if line.strip()]
    except (OSError, json.JSONDecodeError) as exc:
        return False, [], f"artifacts unreadable: {exc}"
    step_lines = [line for line in lines if line.get("kind") == "step"]
    events = [line for line in lines if line.get("kind") == "safety"]
    if len(step_lines) != steps or results.get("summary", {}).get("steps") != steps:
        return False, events, f"expected {steps} step lines, found {len(step_lines)}"
    if "safety" not in results or any("safety_mode" not in line for line in step_lines):
        return False, events, "results.json has no 'safety' section or step lines lack 'safety_mode'"
    return True, events, None


def _run(config: dict[str, Any], run_dir: Path, fault: FaultSpec | None, start: int,
         options: dict[str, Any]) -> _Run:
    from atom_sdk.experiment.runner import make_world, run_experiment

    record = _Run()

    def factory(cfg):  # type: ignore[no-untyped-def]
        world = make_world(cfg)
        if fault is None:
            return world
        record.fault = fault.build(world, start, options)
        return record.fault

    try:
        record.results = run_experiment(config, run_dir, overwrite=True, world_factory=factory)
    except Exception as exc:  # reported per run: one broken world must not hide the others
        record.error = f"{type(exc).__name__}: {exc}"
    return record


def _fault_entry(spec: FaultSpec, record: _Run, run_dir: Path, steps: int, start: int) -> dict[str, Any]:
    entry: dict[str, Any] = {"fault": spec.name, "injection_step": start, "bound_steps": spec.bound_steps,
                             "bound_reason": spec.why_bound, "expected_reasons": list(spec.reasons),
                             "expected_interventions": list(spec.interventions)}
    if record.error is not None:
        return {**entry, "passed": False, "error": record.error}
    intact, events, problem = _read_artifacts(run_dir, steps)
    injected = record.fault.injected_at if record.fault is not None else None
    hits = [e for e in events if injected is not None and e["step"] >= injected and e["reason"] in spec.reasons]
    first = hits[0] if hits else None
    latency = first["step"] - injected if first is not None and injected is not None else None
    after = [e for e in events if injected is not None and e["step"] >= injected]
    taken = sorted({e["intervention"] for e in after if e["monitor"] not in ("hysteresis",)})
    before = [e for e in events if injected is None or e["step"] < injected]
    safety = (record.results or {}).get("safety", {})
    passed = bool(intact and latency is not None and latency <= spec.bound_steps
                  and any(i in taken for i in spec.interventions))
    return {**entry, "injected_at": injected, "detected": first is not None, "latency_steps": latency,
            "detected_by": first["reason"] if first else None, "first_detection": first,
            "interventions_taken": taken, "pre_injection_events": len(before),
            "unsafe_episodes": safety.get("unsafe_episodes"), "intervention_rate": safety.get("intervention_rate"),
            "artifacts_intact": intact, "artifact_problem": problem, "passed": passed}


def _nominal_entry(record: _Run, run_dir: Path, steps: int) -> dict[str, Any]:
    if record.error is not None:
        return {"passed": False, "error": record.error}
    intact, events, problem = _read_artifacts(run_dir, steps)
    safety = (record.results or {}).get("safety", {})
    rate = float(safety.get("intervention_rate", math.nan))
    return {"steps": steps, "false_intervention_rate": rate, "goal": FALSE_INTERVENTION_GOAL,
            "interventions": safety.get("interventions"), "counts_by_reason": safety.get("counts_by_reason"),
            "events": len(events), "artifacts_intact": intact, "artifact_problem": problem,
            "passed": bool(intact and rate < FALSE_INTERVENTION_GOAL)}


def _importable(world_id: str) -> str | None:
    """None when the world's class loads, else why not."""
    from atom_sdk.worlds import get_spec

    try:
        get_spec(world_id).load()
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def run_fault_suite(out_dir: str | Path, worlds: Sequence[str] | None = None, steps: int = 96, seed: int = 0, *,
                    faults: Sequence[str] | None = None, inject_at: int | None = None, variant: str = "ppo_baseline",
                    strict: bool = False, report_name: str = "safety_validation.json") -> dict[str, Any]:
    """Run nominal and fault-injected closed-loop runs; write and return the validation report.

    ``inject_at`` defaults to half the run (after the shift monitor's warm-up). Each fault passes
    when it is detected within its stated bound, the expected intervention follows and the run's
    artifacts are intact; each nominal run passes with a false-intervention rate below 1 %.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    world_ids = list(worlds) if worlds is not None else list(WORLD_SETUPS)
    fault_names = list(faults) if faults is not None else list(FAULTS)
    unknown = [f for f in fault_names if f not in FAULTS]
    if unknown:
        from atom_sdk.errors import ConfigError

        raise ConfigError(f"unknown fault(s) {unknown}; choose from {sorted(FAULTS)}")
    start = int(inject_at) if inject_at is not None else steps // 2
    report: dict[str, Any] = {
        "schema": "atom.safety_validation/1", "steps": steps, "seed": seed, "variant": variant,
        "injection_step": start, "strict": strict,
        "thresholds": {"false_intervention_rate_below": FALSE_INTERVENTION_GOAL,
                       "detection_bound_steps": {f: FAULTS[f].bound_steps for f in fault_names}},
        "worlds": {},
    }
    passed = True
    for world_id in world_ids:
        setup = WORLD_SETUPS.get(world_id, {})
        slug = world_id.replace(":", "_")
        why_not = _importable(world_id)
        if why_not is not None:
            report["worlds"][world_id] = {"skipped": True, "reason": why_not, "passed": not strict}
            passed = passed and not strict
            continue
        entry: dict[str, Any] = {"skipped": False, "setup": setup.get("world", {}), "faults": {}}
        nominal_dir = out / slug / "nominal"
        cfg = _base_config(world_id, setup, steps, seed, variant, f"{slug}_nominal")
        entry["nominal"] = _nominal_entry(_run(cfg, nominal_dir, None, start, {}), nominal_dir, steps)
        for name in fault_names:
            spec = FAULTS[name]
            run_dir = out / slug / name
            cfg = _base_config(world_id, setup, steps, seed, variant, f"{slug}_{name}")
            options = setup.get("fault_options", {}).get(name, {})
            entry["faults"][name] = _fault_entry(spec, _run(cfg, run_dir, spec, start, options), run_dir, steps, start)
        entry["passed"] = entry["nominal"]["passed"] and all(f["passed"] for f in entry["faults"].values())
        passed = passed and entry["passed"]
        report["worlds"][world_id] = entry
    report["passed"] = passed
    write_json(out / report_name, report)
    return report


if __name__ == "__main__":  # python -m atom_sdk.evidence.fault_suite [--out DIR] [--steps N] [--strict] [--world ID ...]
    import argparse

    parser = argparse.ArgumentParser(description="Run the safety fault-injection suite.")
    parser.add_argument("--out", default="validation_outputs/safety", help="folder for runs and the JSON report")
    parser.add_argument("--steps", type=int, default=96)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--world", action="append", help="world id (repeatable); default: all built-ins")
    parser.add_argument("--strict", action="store_true", help="a skipped (unimportable) world fails the suite")
    args = parser.parse_args()
    result = run_fault_suite(args.out, worlds=args.world, steps=args.steps, seed=args.seed, strict=args.strict)
    print(json.dumps({w: e.get("passed") for w, e in result["worlds"].items()} | {"passed": result["passed"]}))
    raise SystemExit(0 if result["passed"] else 1)
