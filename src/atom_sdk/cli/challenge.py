"""``atom challenge supersonic``: the shock-tracking challenge on the wedge world, scripted or learned."""

from __future__ import annotations

from typing import Any, Optional

import typer

from atom_sdk.cli.common import AtomCommand, console, parse_world_options, print_json

app = typer.Typer(help="Challenges scored into an audit file.", no_args_is_help=True)


@app.callback()
def _challenge() -> None:
    """Challenges scored into an audit file."""


@app.command("supersonic", cls=AtomCommand, context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def supersonic(
    ctx: typer.Context,
    steps: int = typer.Option(300, "--steps", help="Agent steps of the challenge."),
    output_dir: str = typer.Option("challenge_results", "--output-dir", help="Folder for the audit and figure."),
    seed: int = typer.Option(0, "--seed", help="Random seed."),
    mach: float = typer.Option(2.0, "--mach", help="Free-stream Mach number."),
    grid: Optional[tuple[int, int, int]] = typer.Option(None, "--grid", metavar="NX NY NZ",
                                                          help="Grid cells nx ny nz (nz=1)."),
    kp: float = typer.Option(0.05, "--kp", help="Proportional gain (deg wedge per deg shock error)."),
    ki: float = typer.Option(0.02, "--ki", help="Integral gain per step."),
    preview: int = typer.Option(12, "--preview", help="Steps the feed-forward reads the schedule ahead."),
    no_feedforward: bool = typer.Option(False, "--no-feedforward", help="PI only, no theta-beta-Mach model."),
    no_safety: bool = typer.Option(False, "--no-safety", help="Run without the safety envelope."),
    controller: str = typer.Option("scripted", "--controller", metavar="scripted|agent|hold",
                                   help="scripted: PI + theta-beta-Mach feed-forward (the baseline); agent: the "
                                        "closed loop (encoder, scientist, safety, PPO) trained on the schedule "
                                        "first; hold: no control (the do-nothing floor)."),
    agent_episodes: int = typer.Option(12, "--agent-episodes",
                                       help="Training budget of --controller agent: passes over the schedule."),
    headless: bool = typer.Option(False, "--headless", help="No progress display (for CI and servers)."),
    as_json: bool = typer.Option(False, "--json", help="Print the audit summary as JSON."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing --output-dir made by atom."),
) -> None:
    """Track a moving target shock angle (PI controller or trained agent); writes challenge_audit.json and a figure.

    World parameters: --world-<name> VALUE (e.g. --world-cfl 0.4).
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from atom_sdk.design.challenge import run_supersonic_challenge
    from atom_sdk.design.challenge_agent import AgentBudget, check_controller

    check_controller(controller)
    world_params = parse_world_options(list(ctx.args))
    kwargs: dict[str, Any] = {"mach": mach, "kp": kp, "ki": ki, "feedforward": not no_feedforward, "preview": preview,
                              "use_safety": not no_safety, "world_params": world_params, "overwrite": overwrite,
                              "controller": controller}
    if controller == "agent":
        kwargs["agent_budget"] = AgentBudget(episodes=agent_episodes)
    if grid is not None:
        kwargs["grid"] = tuple(grid)
    quiet = headless or as_json
    with Progress(TextColumn("[bold]supersonic"), BarColumn(), MofNCompleteColumn(),
                  TextColumn("{task.fields[info]}"), console=console, disable=quiet) as bar:
        task = bar.add_task("challenge", total=steps, info="compiling")

        def on_step(step: int, total: int, info: dict[str, Any]) -> None:
            measured = info.get("measured")
            text = f"target {info['target']:.2f}" + (f" measured {measured:.2f}" if measured is not None else "")
            bar.update(task, completed=step, total=total, info=text)

        def on_train(step: int, total: int, info: dict[str, Any]) -> None:
            bar.update(task, completed=step, total=total, info=f"training episode {info.get('episode', 0) + 1}")

        audit = run_supersonic_challenge(steps, output_dir, seed, on_step=on_step, on_train=on_train, **kwargs)
    if as_json:
        print_json({k: audit[k] for k in ("status", "score", "score_formula", "violation_count", "summary", "controller",
                                          "config_hash", "artifacts")})
        return
    summary = audit["summary"]
    console.print(f"[bold]supersonic challenge[/] ({controller}) {audit['status']}: score {audit['score']:.1f}/100  "
                  f"MAE {summary['mean_abs_error_deg']:.3f} deg  violations {audit['violation_count']}")
    console.print(f"  {audit['score_formula']}", highlight=False)
    console.print(f"  artifacts: {audit['artifacts'].get('audit')}"
                  + (f", {audit['artifacts']['figure']}" if "figure" in audit["artifacts"] else ""))
