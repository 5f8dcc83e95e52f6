"""``atom eval``: evaluate a trained run's checkpoint for N episodes, frozen, optionally out of distribution."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer

from atom_sdk.cli.common import console, parse_world_options, print_json


def eval_command(
    ctx: typer.Context,
    run_dir: Path = typer.Argument(..., help="Folder of a trained run (holds config.json and checkpoints/)."),
    episodes: int = typer.Option(..., "--episodes", min=1, help="Evaluation episodes."),
    seed: int = typer.Option(0, "--seed", help="Episode e starts the world from seed + 7919 e."),
    stochastic: bool = typer.Option(False, "--stochastic",
                                    help="Sample actions from the policy instead of taking its mean."),
    name: Optional[str] = typer.Option(None, "--name", show_default="eval",
                                       help="Output folder RUN_DIR/evaluations/NAME."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an evaluation folder atom made."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Evaluate a trained run: its last checkpoint acted for N episodes with nothing learned.

    World parameters for out-of-distribution tests: --world-<name> VALUE (e.g. --world-nu 0.02),
    checked as a run's are. Writes evaluation.json, evaluation.png and telemetry.jsonl.
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from atom_sdk.experiment.evaluate import evaluate_checkpoint, plan_evaluation

    overrides = parse_world_options(list(ctx.args))
    plan = plan_evaluation(run_dir, episodes=episodes, world_overrides=overrides, name=name, overwrite=overwrite,
                           override_spelling=lambda key: "--world-" + key.replace("_", "-"))
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TextColumn("{task.fields[info]}"), console=console, disable=as_json) as bar:
        task = bar.add_task(f"eval {plan.config.name}", total=episodes, info="compiling")

        def on_episode(done: int, total: int, info: dict[str, Any]) -> None:
            bar.update(task, completed=done, info=f"return {info['return']:.4g}")

        result = evaluate_checkpoint(plan.run_dir, episodes=episodes, seed=seed, deterministic=not stochastic,
                                     progress=on_episode, plan=plan)
    if as_json:
        print_json({"output": str(plan.output.folder), "world_overrides": result["world_overrides"],
                    "summary": result["summary"], "episodes": result["episodes"]})
        return
    stats = result["summary"]["return"]
    ci = "n/a" if stats["ci_low"] is None else f"[{stats['ci_low']:.4g}, {stats['ci_high']:.4g}]"
    console.print(f"[bold]eval[/] {result['run']['name']}  {episodes} episodes  "
                  f"{'deterministic' if not stochastic else 'stochastic'}  seed {seed}", highlight=False)
    console.print(f"  mean return {stats['mean']:.4g} (std {stats['std']:.3g}), 95% CI {ci}; "
                  f"diverged {result['summary']['diverged_episodes']}, unsafe {result['summary']['unsafe_episodes']}",
                  highlight=False)
    console.print(f"  artifacts: {plan.output.folder}/ (evaluation.json, evaluation.png, telemetry.jsonl)",
                  highlight=False)
