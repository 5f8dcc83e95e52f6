"""``atom design``: inverse design of a world's parameters by rollouts (also ``atom run --inverse-design``).

Only typer/rich are imported at module level so that ``atom --help`` stays fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer

from atom_sdk.cli.common import console, loads_json_option, parse_world_options, print_json
from atom_sdk.errors import ConfigError

CONTEXT = {"allow_extra_args": True, "ignore_unknown_options": True}


def spec_from_options(*, problem: Optional[str], world: Optional[str], backend: Optional[str],
                      iterations: Optional[int], population: Optional[int], top_k: Optional[int],
                      rollout_steps: Optional[int], seed: Optional[int], name: Optional[str],
                      target: Optional[float], bounds: list[str] | None, constraints: list[str] | None,
                      grid: Optional[tuple[int, int, int]], evaluator: Optional[str], workers: Optional[int],
                      stop_below: Optional[float], output_root: Optional[str], extra_args: list[str],
                      config: Optional[Path] = None, objectives: list[str] | None = None,
                      penalty: Optional[str] = None, ranking: Optional[str] = None) -> Any:
    """CLI values (None = not given) on top of an optional spec file -> a validated ``DesignSpec``.

    ``--objective`` flags replace the file's objectives (a new weighted sum); ``--constraint`` flags
    add to its constraints (text syntax, or JSON for a linear constraint on design parameters).
    """
    from atom_sdk.config import read_config_file
    from atom_sdk.design.space import parse_bound
    from atom_sdk.design.spec import build_spec

    data: dict[str, Any] = read_config_file(config) if config is not None else {}
    given = {"problem": problem, "world": world, "backend": backend, "iterations": iterations,
             "population": population, "top_k": top_k, "rollout_steps": rollout_steps, "seed": seed,
             "name": name, "target": target, "evaluator": evaluator, "workers": workers,
             "stop_below": stop_below, "output_root": output_root, "grid": list(grid) if grid else None}
    data.update({k: v for k, v in given.items() if v is not None})
    if bounds:
        data["bounds"] = {**data.get("bounds", {}), **dict(parse_bound(b) for b in bounds)}
    if constraints:
        data["constraints"] = list(data.get("constraints", [])) + [
            loads_json_option(c, "--constraint") if c.lstrip().startswith("{") else c for c in constraints]
    if objectives:
        data["objectives"] = list(objectives)
    if penalty is not None:
        from atom_sdk.design.language import parse_penalty

        try:
            data["penalty"] = parse_penalty(penalty)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
    if ranking is not None:
        data["ranking"] = ranking.replace("-", "_")
    world_params = parse_world_options(list(extra_args))
    if world_params:
        data["world_params"] = {**data.get("world_params", {}), **world_params}
    return build_spec(data)


def execute_design(spec: Any, *, quiet: bool = False, overwrite: bool = False) -> dict[str, Any]:
    """Run the search with a rich progress bar and print a short summary."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from atom_sdk.design.search import plan_design, resolve_spec, run_design

    spec = resolve_spec(spec)
    plan = plan_design(spec, overwrite=overwrite)  # refused input leaves no trace and compiles nothing
    total = spec.iterations * spec.population
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TextColumn("{task.fields[info]}"), TimeRemainingColumn(), console=console, disable=quiet) as bar:
        task = bar.add_task(f"{spec.problem} {spec.backend}", total=total, info="compiling")

        def on_progress(done: int, _total: int, info: dict[str, Any]) -> None:
            best = info.get("best")
            text = f"iteration {info['iteration']}" + (f" best {best:.4g}" if best is not None else "")
            bar.update(task, completed=done, info=text)

        report = run_design(spec, progress=on_progress, overwrite=overwrite, plan=plan)
    if not quiet:
        summarize(report)
    return report


def print_problems(problems: list[dict[str, Any]]) -> None:
    """``atom design --list``: one table row per problem (name and world, bounds, objective)."""
    from atom_sdk.cli.tables import Col, fmt_num, print_rows

    rows = []
    for p in problems:
        bounds = "\n".join(f"{q['name']}={fmt_num(q['low'], 'g')}:{fmt_num(q['high'], 'g')}"
                           for q in p.get("parameters", []))
        objective = p["objective"]
        if p.get("target") is not None:
            objective += f"; target {fmt_num(p['target'], 'g')}"
        world = p["world"] if p["world"] != "none" else "none (analytical\nmodel)"
        rows.append([f"[bold]{p['problem']}[/]\n{world}", bounds, objective])
    print_rows(console, [Col("problem / world", keep=True), Col("design bounds", keep=True), Col("objective")],
               rows, show_lines=True)
    console.print("[dim]diagnostics for --objective/--constraint, descriptions and spec templates: "
                  "atom design --list --json[/]")


def summarize(report: dict[str, Any]) -> None:
    """The search in a few lines: best design, its objectives, constraint margins, feasibility."""
    from atom_sdk.cli.tables import fmt_num

    best = report["best"]
    console.print(f"[bold]design[/] {report['name']}  problem {report['problem']['name']}  backend "
                  f"{report['backend']}  config {report['config_hash'][:12]}")
    console.print(f"  evaluations: {report['evaluations_used']} ({report['feasible_count']} feasible, "
                  f"{report['infeasible_count']} infeasible)")
    if best is None:
        console.print("  no design could be evaluated: widen --bound or check the reasons in the report")
    else:
        values = ", ".join(f"{k}={v:.6g}" for k, v in best["design"].items())
        console.print(f"  best: {values}  objective {best['objective']:.6g}  feasible "
                      f"{'yes' if best['feasible'] else 'NO (smallest violation found)'}", highlight=False)
        if len(best.get("objectives") or {}) > 1 or report.get("objective_language", {}).get("objectives", [{}])[
                0].get("diagnostic"):
            terms = ", ".join(f"{k}={fmt_num(v)}" for k, v in best["objectives"].items())
            console.print(f"  objectives: {terms}", highlight=False)
        for row in best.get("constraints") or []:
            state = "ok" if row["violation"] == 0 else "VIOLATED"
            console.print(f"  constraint {row['constraint']}: value {fmt_num(row['value'])}, margin "
                          f"{fmt_num(row['margin'])} ({state})", highlight=False)
    known = report.get("known_optimum")
    if known:
        values = ", ".join(f"{k}={v:.6g}" for k, v in known["design"].items())
        value = f"  objective {known['objective']:.6g}" if known.get("objective") is not None else ""
        console.print(f"  known optimum: {values}{value}", highlight=False)
    console.print(f"  artifacts: {Path(report['artifacts']['report']).parent}/ "
                  "(inverse_design_report.json, convergence.png, convergence.pdf)")


OBJECTIVE_HELP = ("Objective term NAME:min[:WEIGHT], NAME:max[:WEIGHT] or NAME:target=T[:WEIGHT] on a world "
                  "diagnostic (repeatable; the weighted terms are summed and minimised). NAME@final, @mean, @min, "
                  "@max choose the reduction over the rollout (default: mean of the last 10 steps). Default: the "
                  "problem's objective.")
CONSTRAINT_HELP = ("Constraint NAME<=U, NAME>=L or L<=NAME<=U on a world diagnostic (quote it), or JSON "
                   '{"coefficients": {...}, "upper": u} for a linear constraint on design parameters (repeatable).')


def design_command(
    ctx: typer.Context,
    problem: Optional[str] = typer.Option(None, "--problem", "--inverse-problem",
                                           help="Problem name (see --list)."),
    world: Optional[str] = typer.Option(None, "--world", help="World id (default: the problem's)."),
    backend: Optional[str] = typer.Option(None, "--backend", "--inverse-backend",
                                           help="cmaes, evolutionary or random."),
    iterations: Optional[int] = typer.Option(None, "--inverse-iterations", help="Generations."),
    population: Optional[int] = typer.Option(None, "--inverse-population", help="Designs per generation."),
    top_k: Optional[int] = typer.Option(None, "--inverse-top-k", help="Best designs kept (and elites)."),
    rollout_steps: Optional[int] = typer.Option(None, "--inverse-rollout-steps", help="World steps per rollout."),
    seed: Optional[int] = typer.Option(None, "--seed", help="Search and rollout seed."),
    name: Optional[str] = typer.Option(None, "--name", help="Artifacts go to experiment_results/NAME."),
    target: Optional[float] = typer.Option(None, "--target", "--inverse-target",
                                            help="Problem target (e.g. shock angle in deg)."),
    bound: Optional[list[str]] = typer.Option(None, "--bound", "--inverse-bound",
                                                help="name=lo:hi (repeatable)."),
    objective: Optional[list[str]] = typer.Option(None, "--objective", help=OBJECTIVE_HELP),
    constraint: Optional[list[str]] = typer.Option(None, "--constraint", help=CONSTRAINT_HELP),
    penalty: Optional[str] = typer.Option(None, "--penalty", metavar="FUNCTION[:WEIGHT]",
                                          help="Penalty for violations in the scalar CMA-ES minimises: linear "
                                               "or quadratic, weight default 1000 (e.g. linear:1000)."),
    ranking: Optional[str] = typer.Option(None, "--ranking",
                                          help="feasibility-first (default; Deb's rules: feasible beats "
                                               "infeasible, then smaller violation, then objective) or penalty."),
    grid: Optional[tuple[int, int, int]] = typer.Option(None, "--grid", metavar="NX NY NZ",
                                                               help="Grid cells nx ny nz (nz=1 for 2D worlds)."),
    evaluator: Optional[str] = typer.Option(None, "--evaluator", "--inverse-evaluator",
                                             help="rollout (default) or surrogate (the problem's analytical model)."),
    workers: Optional[int] = typer.Option(None, "--workers", "--inverse-workers",
                                           help="Processes per generation (spawn)."),
    stop_below: Optional[float] = typer.Option(None, "--stop-below", help="Stop once best <= this."),
    output_root: Optional[str] = typer.Option(None, "--output-root", help="Folder for run folders."),
    config: Optional[Path] = typer.Option(None, "--config", help="Design spec file (YAML/TOML/JSON)."),
    list_: bool = typer.Option(False, "--list", help="List the problems (with --json: their spec templates)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON: the report summary, or with --list the "
                                 "problems' spec templates."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing design folder of the same name."),
) -> None:
    """Search design parameters by world rollouts. Fixed world parameters: --world-<name> VALUE.

    Objective language, e.g. on cylinder_drag: --objective "drag_mean:min:1" --objective "lift_mean:max:0.2" --constraint "-0.05<=lift_mean<=0.05" --penalty linear:1000 (the same texts work in a --config spec file under 'objectives' and 'constraints'; the diagnostics each problem reports: --list --json).
    """
    if list_:
        from atom_sdk.design.problems import list_problems

        if as_json:
            print_json(list_problems())
        else:
            print_problems(list_problems())
        return
    spec = spec_from_options(problem=problem, world=world, backend=backend, iterations=iterations,
                             population=population, top_k=top_k, rollout_steps=rollout_steps, seed=seed,
                             name=name, target=target, bounds=bound, constraints=constraint, grid=grid,
                             evaluator=evaluator, workers=workers, stop_below=stop_below,
                             output_root=output_root, extra_args=list(ctx.args), config=config,
                             objectives=objective, penalty=penalty, ranking=ranking)
    report = execute_design(spec, quiet=as_json, overwrite=overwrite)
    if as_json:
        print_json({k: report[k] for k in ("name", "config_hash", "evaluations_used", "best", "best_feasible",
                                           "top_k", "known_optimum", "objective_language", "artifacts")})


def register(app: typer.Typer) -> None:
    """Mount as the single command ``atom design`` (not a group)."""
    from atom_sdk.cli.common import INVERSE_ALIASES, with_aliases

    app.command("design", cls=with_aliases(INVERSE_ALIASES), context_settings=CONTEXT)(design_command)


def run_inverse_from_run(*, inverse_design: bool, inverse: dict[str, Any], shared: dict[str, Any],
                         extra_args: list[str], config: Optional[Path], as_json: bool,
                         overwrite: bool = False) -> bool:
    """``atom run --inverse-design ...``: True when handled here (the run command then returns).

    The objective language (``--objective``, ``--constraint``) lives on ``atom design`` only.

    ``inverse`` holds the --inverse-* values, ``shared`` the run options that mean the same thing
    for a search (name, world, grid, seed, output_root).
    """
    given = sorted(k for k, v in inverse.items() if k != "inverse_design" and v is not None and v != [])
    if not inverse_design:
        if given:
            raise ConfigError(f"options {', '.join('--' + k.replace('_', '-') for k in given)} need --inverse-design")
        return False
    if config is not None:
        raise ConfigError("--config with --inverse-design: give a design spec file to 'atom design --config' instead")
    spec = spec_from_options(
        problem=inverse.get("inverse_problem"), backend=inverse.get("inverse_backend"),
        iterations=inverse.get("inverse_iterations"), population=inverse.get("inverse_population"),
        top_k=inverse.get("inverse_top_k"), rollout_steps=inverse.get("inverse_rollout_steps"),
        target=inverse.get("inverse_target"), bounds=inverse.get("inverse_bound"), constraints=None,
        evaluator=inverse.get("inverse_evaluator"), workers=inverse.get("inverse_workers"), stop_below=None,
        world=shared.get("world"), seed=shared.get("seed"), name=shared.get("name"), grid=shared.get("grid"),
        output_root=shared.get("output_root"), extra_args=extra_args)
    report = execute_design(spec, quiet=as_json, overwrite=overwrite)
    if as_json:
        print_json({k: report[k] for k in ("name", "config_hash", "evaluations_used", "best", "top_k",
                                           "known_optimum", "artifacts")})
    return True
