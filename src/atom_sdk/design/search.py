"""The inverse-design loop: ask a generation, roll it out (batched), tell the scores, record all.

Batching choice: a world's parameters are baked in when it is built (its jitted step closes over
them), so designs that change world parameters cannot share one ``jax.vmap``-ed step. One
generation therefore runs either sequentially in this process (``workers=1``, the default: no
process start-up, and the per-process world cache makes action-only designs compile once) or
over a ``concurrent.futures.ProcessPoolExecutor`` with the ``spawn`` start method (``workers>1``;
spawn because forking a process that has initialised JAX is unsafe). Results are collected in
submission order, so the report is identical either way.
"""

from __future__ import annotations

import time
from concurrent.futures import ProcessPoolExecutor
from typing import Any, Callable

import numpy as np

from atom_sdk.design.backends import make_backend
from atom_sdk.design.evaluate import Evaluation, evaluate_design
from atom_sdk.design.problems import Context, Problem, get_problem
from atom_sdk.design.ranking import Scorer, best_feasible_so_far, ranked
from atom_sdk.design.space import DesignSpace, linear_constraint_from_dict
from atom_sdk.design.spec import DesignSpec, build_spec, spec_hash
from atom_sdk.errors import ConfigError

#: progress(done_evaluations, total_evaluations, info)
Progress = Callable[[int, int, dict[str, Any]], None]


def resolve_spec(spec: DesignSpec | dict[str, Any]) -> DesignSpec:
    """Fill the problem's defaults (world, target, steps, grid, fixed world params) into the spec."""
    if isinstance(spec, dict):
        spec = build_spec(spec)
    problem = get_problem(spec.problem)
    world = spec.world or problem.world
    if problem.world is None and world is not None:
        raise ConfigError(f"problem '{problem.name}' has no world (its analytical model gives its diagnostics); "
                          "drop --world")
    if world != problem.world and spec.objective is None and spec.objectives is None:
        raise ConfigError(f"problem '{problem.name}' runs on world '{problem.world}', not '{world}'; drop --world "
                          "or give an objective for the other world")
    evaluator = spec.evaluator if spec.evaluator != "auto" else ("rollout" if problem.world else "surrogate")
    if problem.world is None and evaluator == "rollout":
        raise ConfigError(f"problem '{problem.name}' has no world, only an analytical model: use evaluator "
                          "'surrogate'")
    updates: dict[str, Any] = {
        "world": world,
        "evaluator": evaluator,
        "target": spec.target if spec.target is not None else problem.default_target,
        "rollout_steps": spec.rollout_steps or problem.default_steps,
        "grid": spec.grid or problem.default_grid,
        "world_params": {**problem.default_world_params, **spec.world_params},
    }
    return spec.model_copy(update=updates)


def design_space(problem: Problem, spec: DesignSpec) -> DesignSpace:
    space = problem.space.with_bounds(spec.bounds) if spec.bounds else problem.space
    if spec.linear_constraints:
        space = space.with_constraints(tuple(linear_constraint_from_dict(c) for c in spec.linear_constraints))
    return space


def context(spec: DesignSpec) -> Context:
    assert spec.rollout_steps is not None and spec.grid is not None  # resolved  # nosec B101
    return Scorer.from_spec(spec).context(
        Context(spec.target, dict(spec.world_params), int(spec.rollout_steps), tuple(spec.grid)))


def evaluate_for_spec(spec_data: dict[str, Any], design: dict[str, float]) -> Evaluation:
    """Evaluate one design of a resolved spec (the picklable entry point of worker processes)."""
    spec = build_spec(spec_data)
    problem = get_problem(spec.problem)
    return evaluate_design(problem, design_space(problem, spec), context(spec), design, world_id=spec.world,
                           seed=spec.seed, evaluator=str(spec.evaluator), scorer=Scorer.from_spec(spec))


def _evaluate_batch(spec: DesignSpec, designs: list[dict[str, float]], pool: ProcessPoolExecutor | None,
                    on_done: Callable[[Evaluation], None]) -> list[Evaluation]:
    data = spec.model_dump(mode="json")
    if pool is None:
        out = []
        for design in designs:
            out.append(evaluate_for_spec(data, design))
            on_done(out[-1])
        return out
    futures = [pool.submit(evaluate_for_spec, data, design) for design in designs]
    results = []
    for future in futures:
        results.append(future.result())
        on_done(results[-1])
    return results


def _search_loop(spec: DesignSpec, space: DesignSpace, backend: Any, pool: ProcessPoolExecutor | None,
                 progress: Progress | None, should_stop: Callable[[], bool] | None,
                 ) -> tuple[list[dict[str, Any]], list[float | None], list[float | None], str | None]:
    """Ask, evaluate, tell: the evaluation records, best-so-far and best-of each iteration, why it stopped."""
    total = spec.iterations * spec.population
    records: list[dict[str, Any]] = []
    per_iteration: list[float | None] = []
    iteration_best: list[float | None] = []
    stopped = None
    for iteration in range(spec.iterations):
        if should_stop is not None and should_stop():
            stopped = "cancelled"
            break
        unit = backend.ask()
        designs = [space.from_unit(u) for u in unit]

        def on_done(ev: Evaluation, _it: int = iteration) -> None:
            record = {"index": len(records), "iteration": _it, **ev.as_dict()}
            records.append(record)
            if progress is not None:
                best = min((r["objective"] for r in records if r["feasible"]), default=None)
                progress(len(records), total, {"iteration": _it + 1, "best": best})

        evals = _evaluate_batch(spec, designs, pool, on_done)
        failed = [e.objective is None for e in evals]
        objectives = np.array([np.inf if f else e.objective for e, f in zip(evals, failed)], dtype=np.float64)
        violations = np.array([np.inf if f else e.violation or 0.0 for e, f in zip(evals, failed)], dtype=np.float64)
        penalised = np.array([np.inf if f else e.penalised for e, f in zip(evals, failed)], dtype=np.float64)
        if spec.ranking == "penalty":
            backend.tell(unit, penalised)
        else:
            backend.tell(unit, penalised, objectives, violations)
        feasible = [e.objective for e in evals if e.feasible]
        iteration_best.append(float(min(feasible)) if feasible else None)
        per_iteration.append(best_feasible_so_far(records)[-1])
        if spec.stop_below is not None and per_iteration[-1] is not None and per_iteration[-1] <= spec.stop_below:
            stopped = "stop_below reached"
            break
    return records, per_iteration, iteration_best, stopped


def run_search(spec: DesignSpec | dict[str, Any], *, progress: Progress | None = None,
               should_stop: Callable[[], bool] | None = None) -> dict[str, Any]:
    """Run a search and return the full report (see ``report.write_report`` for the file)."""
    from atom_sdk.provenance import provenance

    spec = resolve_spec(spec)
    problem = get_problem(spec.problem)
    space = design_space(problem, spec)
    ctx = context(spec)
    backend = make_backend(spec.backend, space.dim, spec.population, spec.seed, top_k=spec.top_k)
    started = time.perf_counter()
    pool = None
    if spec.workers > 1:
        import multiprocessing

        pool = ProcessPoolExecutor(max_workers=spec.workers, mp_context=multiprocessing.get_context("spawn"))
    try:
        records, per_iteration, iteration_best, stopped = _search_loop(spec, space, backend, pool, progress,
                                                                       should_stop)
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)

    feasible_records = [r for r in records if r["feasible"]]
    top = ranked(records, spec.ranking)[: spec.top_k]
    scorer = Scorer.from_spec(spec)
    config_hash = spec_hash(spec)
    prov = provenance(spec.model_dump(mode="json"), seed=spec.seed)
    prov["config_hash"] = config_hash
    return {
        "schema": "atom.inverse_design/1",
        "name": spec.name,
        "problem": {"name": problem.name, "world": spec.world, "description": problem.description,
                    "objective": (spec.objective.model_dump() if spec.objective is not None
                                  else problem.objective_meaning),
                    "target": spec.target, "target_meaning": problem.target_meaning},
        "objective_language": language_summary(spec, problem, scorer),
        "spec": spec.model_dump(mode="json"),
        "config_hash": config_hash,
        "design_space": space.as_dict(),
        "backend": spec.backend,
        "evaluator": spec.evaluator,
        "seeds": {"search": spec.seed, "rollout": spec.seed},
        "batching": "sequential" if pool is None else f"process_pool(spawn, workers={spec.workers})",
        "evaluations": records,
        "evaluations_used": len(records),
        "feasible_count": len(feasible_records),
        "infeasible_count": len(records) - len(feasible_records),
        "best": top[0] if top else None,
        "best_feasible": bool(top and top[0]["feasible"]),
        "top_k": top,
        "convergence": {
            "per_evaluation": best_feasible_so_far(records),
            "per_iteration": per_iteration,
            "iteration_best": iteration_best,
        },
        "known_optimum": _known_optimum(problem, spec, ctx, scorer, top[0] if top else None),
        "stopped": stopped,
        "wall_seconds": round(time.perf_counter() - started, 3),
        "provenance": prov,
    }


def language_summary(spec: DesignSpec, problem: Problem, scorer: Scorer) -> dict[str, Any]:
    """What 'good' meant in this search: the terms, the constraints, the penalty, the ranking, units."""
    terms = [{"label": o.label, "text": o.text(), "diagnostic": o.diagnostic, "sense": o.sense, "weight": o.weight,
              "target": o.target, "unit": problem.unit(o.diagnostic)} for o in scorer.objectives]
    if not terms:
        terms = [{"label": "objective", "text": problem.objective_meaning, "diagnostic": None, "sense": "min",
                  "weight": 1.0, "target": spec.target, "unit": problem.objective_unit}]
    units = {t["unit"] for t in terms}
    # a weighted sum keeps its terms' unit when they share one; mixed units make it a plain score
    unit = units.pop() if len(units) == 1 else "weighted sum of mixed units"
    return {"objectives": terms, "constraints": [c.text() for c in scorer.constraints],
            "penalty": spec.penalty.model_dump(), "ranking": spec.ranking, "objective_unit": unit}


def _known_optimum(problem: Problem, spec: DesignSpec, ctx: Context, scorer: Scorer,
                   best: dict[str, Any] | None) -> Any:
    from atom_sdk.design.optimum import model_optimum, optimum_value

    if problem.optimum_from_model:
        optimum = model_optimum(problem, ctx)
    elif problem.known_optimum is None or spec.uses_language:
        return None
    else:
        optimum = problem.known_optimum(ctx)
    if optimum is None:
        return None
    error = None
    if best is not None:
        error = {k: abs(best["design"][k] - v) for k, v in optimum.items()}
    source = ("constrained optimum of the analytical model (SLSQP on a convex programme)"
              if problem.optimum_from_model else "analytical model (theta-beta-Mach / oblique-shock relations)")
    return {"design": optimum, "objective": optimum_value(problem, ctx, optimum, scorer), "source": source,
            "best_abs_error": error}


def evaluations_to_reach(report: dict[str, Any], parameter: str, value: float, tolerance: float) -> int | None:
    """How many evaluations a search used before one design came within ``tolerance`` of ``value``."""
    for record in report["evaluations"]:
        if record["feasible"] and abs(record["design"][parameter] - value) <= tolerance:
            return record["index"] + 1
    return None


def plan_design(spec: DesignSpec, *, output_dir: str | None = None, overwrite: bool = False,
                reuse: bool = False) -> Any:
    """Check the world and the output folder of a resolved spec without writing anything."""
    from atom_sdk.workspace import confined_child, output_folder, plan_output

    check_world(spec)
    folder = confined_child(spec.output_root, spec.name, "--name") if output_dir is None else output_folder(output_dir)
    return plan_output(folder, "design", overwrite=overwrite, reuse=reuse)


def run_design(spec: DesignSpec | dict[str, Any], *, output_dir: str | None = None,
               progress: Progress | None = None, should_stop: Callable[[], bool] | None = None,
               overwrite: bool = False, reuse: bool = False, plan: Any = None) -> dict[str, Any]:
    """Search, then write ``inverse_design_report.json`` + convergence plots to ``output_dir``.

    ``output_dir`` defaults to ``<output_root>/<name>`` (the name confined to the root). The
    folder is checked before the search (an existing report is replaced only with
    ``overwrite``; ``reuse`` writes into a folder the SDK already owns, e.g. a platform job
    folder) and written only after it; the report gains an ``artifacts`` entry.
    """
    from atom_sdk.design.report import write_report
    from atom_sdk.workspace import claim_output

    spec = resolve_spec(spec)
    if plan is None:
        plan = plan_design(spec, output_dir=output_dir, overwrite=overwrite, reuse=reuse)
    report = run_search(spec, progress=progress, should_stop=should_stop)
    write_report(report, claim_output(plan, replace=overwrite and not reuse))
    return report


def check_world(spec: DesignSpec) -> None:
    """Refuse an unknown world or bad fixed parameters before anything is compiled or written.

    The world is checked at the lower corner and at the centre of the design space; it is refused
    only when neither is a valid world (a bound may legitimately reach an invalid region, such as
    a detached wedge at low Mach, which the search then reports as infeasible).
    """
    from atom_sdk.errors import AtomError
    from atom_sdk.worlds import world_class

    problem = get_problem(spec.problem)
    if (spec.world or problem.world) is None:
        return  # an analytical problem: nothing to build
    cls = world_class(str(spec.world or problem.world))
    checker = getattr(cls, "check_config", None)
    if checker is None:
        return
    space = design_space(problem, spec)
    ctx = context(spec)
    corners = [{p.name: p.low for p in space.parameters},
               {p.name: 0.5 * (p.low + p.high) for p in space.parameters}]
    first: AtomError | None = None
    for design in corners:
        try:
            checker(tuple(spec.grid) if spec.grid else None, **problem.world_params(design, ctx))
            return
        except AtomError as exc:
            first = first or exc
    if first is not None:
        raise first
