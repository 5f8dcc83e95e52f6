"""``atom run`` (one closed-loop experiment) and ``atom demo`` (the README's main job)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer

from atom_sdk.cli.common import console, parse_world_options, print_json
from atom_sdk.experiment.variants import variants_help

GRID_HELP = "Grid cells nx ny nz (nz=1 for 2D worlds)."
#: What ``atom run`` uses when neither a flag nor --config sets a value (RunConfig's defaults; a test
#: checks they agree), shown in --help.
RUN_DEFAULTS = {"name": "run", "world": "analytical:taylor_green", "grid": "32 32 16", "steps": "300", "seed": "0",
                "variant": "v2_hybrid", "device": "cpu", "dtype": "float32", "episode_steps": "200",
                "output_root": "experiment_results", "loop": "auto"}


def collect_overrides(**flags: Any) -> dict[str, Any]:
    """CLI flags that were given (not None), as a nested config mapping."""
    overrides: dict[str, Any] = {}
    world: dict[str, Any] = {}
    for key, value in flags.items():
        if value is None:
            continue
        if key in {"world", "grid", "dtype", "episode_steps", "world_params"}:
            target = {"world": "name", "episode_steps": "max_episode_steps", "world_params": "params"}.get(key, key)
            world[target] = list(value) if key == "grid" else value
        elif key.startswith("safety_"):
            overrides.setdefault("safety", {})[key.removeprefix("safety_")] = value
        else:
            overrides[key] = value
    if world:
        overrides["world"] = world
    return overrides


# Long only in its option declarations (the command's surface, one typer.Option a flag); the body is
# about 25 lines.
def run_command(
    ctx: typer.Context,
    name: Optional[str] = typer.Option(None, "--name", show_default=RUN_DEFAULTS["name"],
                                       help="Run name; artifacts go to experiment_results/NAME."),
    world: Optional[str] = typer.Option(None, "--world", show_default=RUN_DEFAULTS["world"],
                                        help="World id (atom worlds list)."),
    grid: Optional[tuple[int, int, int]] = typer.Option(None, "--grid", metavar="NX NY NZ",
                                                        show_default=RUN_DEFAULTS["grid"], help=GRID_HELP),
    steps: Optional[int] = typer.Option(None, "--steps", show_default=RUN_DEFAULTS["steps"],
                                        help="Environment steps."),
    seed: Optional[int] = typer.Option(None, "--seed", show_default=RUN_DEFAULTS["seed"], help="Random seed."),
    variant: Optional[str] = typer.Option(None, "--variant", show_default=RUN_DEFAULTS["variant"],
                                          help=f"One of: {variants_help()}."),
    device: Optional[str] = typer.Option(None, "--device", show_default=RUN_DEFAULTS["device"],
                                         help="cpu, gpu or auto."),
    loop: Optional[str] = typer.Option(None, "--loop", show_default=RUN_DEFAULTS["loop"],
                                       help="auto, host or device: step each segment on the device as one "
                                            "compiled scan (same result), or on the host."),
    config: Optional[Path] = typer.Option(None, "--config", help="YAML, TOML or JSON config; flags override it."),
    dtype: Optional[str] = typer.Option(None, "--dtype", show_default=RUN_DEFAULTS["dtype"],
                                        help="float32 or float64."),
    episode_steps: Optional[int] = typer.Option(None, "--episode-steps", show_default=RUN_DEFAULTS["episode_steps"],
                                                help="Steps per episode."),
    output_root: Optional[str] = typer.Option(None, "--output-root", show_default=RUN_DEFAULTS["output_root"],
                                              help="Folder for run folders."),
    ablate_scientist: Optional[bool] = typer.Option(None, "--ablate-scientist", show_default=False,
                                                    help="Turn the scientist off."),
    ablate_symplectic: Optional[bool] = typer.Option(None, "--ablate-symplectic", show_default=False,
                                                     help="Turn the symplectic latent model off."),
    ablate_trust_gate: Optional[bool] = typer.Option(None, "--ablate-trust-gate", show_default=False,
                                                     help="Feed theory ungated."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing run folder."),
    resume: bool = typer.Option(False, "--resume", help="Continue an interrupted run from its checkpoint (or "
                                "extend a finished one with a larger --steps)."),
    skip_memory_check: bool = typer.Option(False, "--skip-memory-check",
                                           help="Run even when the memory estimate exceeds free memory."),
    as_json: bool = typer.Option(False, "--json", help="Print the results summary as JSON."),
    disable_safety: bool = typer.Option(False, "--disable-safety", help="Run without the safety envelope."),
    safety_min_theory_trust: Optional[float] = typer.Option(None, "--safety-min-theory-trust",
                                                            help="Trust below which theory control is withheld."),
    safety_max_stress: Optional[float] = typer.Option(None, "--safety-max-stress", help="Limit on max_stress."),
    safety_shift_z_threshold: Optional[float] = typer.Option(None, "--safety-shift-z-threshold",
                                                             help="Observation z-score flagged as a shift."),
    safety_shift_warmup: Optional[int] = typer.Option(None, "--safety-shift-warmup",
                                                      help="Steps before the shift monitor acts."),
    safety_density_min: Optional[float] = typer.Option(None, "--safety-density-min", help="Lowest allowed density."),
    safety_density_max: Optional[float] = typer.Option(None, "--safety-density-max", help="Highest allowed density."),
    safety_speed_max: Optional[float] = typer.Option(None, "--safety-speed-max", help="Limit on max_speed."),
    inverse_design: bool = typer.Option(False, "--inverse-design",
                                        help="Run an inverse-design search instead (same as 'atom design')."),
    inverse_problem: Optional[str] = typer.Option(None, "--problem", "--inverse-problem",
                                                  help="Design problem (atom design --list)."),
    inverse_backend: Optional[str] = typer.Option(None, "--backend", "--inverse-backend",
                                                  help="cmaes, evolutionary or random."),
    inverse_iterations: Optional[int] = typer.Option(None, "--inverse-iterations", help="Search generations."),
    inverse_population: Optional[int] = typer.Option(None, "--inverse-population", help="Designs per generation."),
    inverse_top_k: Optional[int] = typer.Option(None, "--inverse-top-k", help="Best designs kept."),
    inverse_rollout_steps: Optional[int] = typer.Option(None, "--inverse-rollout-steps", help="Steps per rollout."),
    inverse_target: Optional[float] = typer.Option(None, "--target", "--inverse-target", help="Problem target."),
    inverse_bound: Optional[list[str]] = typer.Option(None, "--bound", "--inverse-bound",
                                                      help="name=lo:hi (repeatable)."),
    inverse_evaluator: Optional[str] = typer.Option(None, "--evaluator", "--inverse-evaluator",
                                                    help="rollout or surrogate."),
    inverse_workers: Optional[int] = typer.Option(None, "--workers", "--inverse-workers",
                                                  help="Processes per generation."),
) -> None:
    """Run one closed-loop experiment. World parameters: --world-<name> VALUE (e.g. --world-tau 0.53)."""
    from atom_sdk.cli.design import run_inverse_from_run
    from atom_sdk.config import load_run_config

    inverse = {k: v for k, v in locals().items() if k.startswith("inverse_")}
    if run_inverse_from_run(inverse_design=inverse_design, inverse=inverse, extra_args=list(ctx.args),
                            shared={"name": name, "world": world, "grid": grid, "seed": seed,
                                    "output_root": output_root}, config=config, as_json=as_json,
                            overwrite=overwrite):
        return

    world_params = parse_world_options(list(ctx.args)) or None
    overrides = collect_overrides(name=name, world=world, grid=grid, steps=steps, seed=seed, variant=variant,
                                  device=device, loop=loop, dtype=dtype, episode_steps=episode_steps,
                                  output_root=output_root, ablate_scientist=ablate_scientist,
                                  ablate_symplectic=ablate_symplectic, ablate_trust_gate=ablate_trust_gate,
                                  world_params=world_params, safety_enabled=False if disable_safety else None,
                                  safety_min_theory_trust=safety_min_theory_trust, safety_max_stress=safety_max_stress,
                                  safety_shift_z_threshold=safety_shift_z_threshold,
                                  safety_shift_warmup=safety_shift_warmup, safety_density_min=safety_density_min,
                                  safety_density_max=safety_density_max, safety_speed_max=safety_speed_max)
    if resume and config is None:
        cfg = _resume_config(overrides)
    else:
        cfg = load_run_config(config, overrides)
    results = execute(cfg, overwrite=overwrite, resume=resume, quiet=as_json, memory_check=not skip_memory_check)
    if as_json:
        print_json({"name": results["name"], "summary": results["summary"], "laws": results["laws"]})


def _resume_config(overrides: dict[str, Any]):  # type: ignore[no-untyped-def]
    """The config a run folder was started with (its config.json), with any flags on top."""
    from atom_sdk.artifacts import read_json
    from atom_sdk.config import RunConfig, build_run_config

    from atom_sdk.workspace import confined_child

    name = overrides.get("name", "run")
    root = overrides.get("output_root", RunConfig.model_fields["output_root"].default)
    saved = confined_child(root, name, "--name") / "config.json"
    if not saved.is_file():
        from atom_sdk.errors import ArtifactError

        raise ArtifactError(f"there is no run to resume at '{saved.parent}' (no config.json); check --name and "
                            "--output-root, or run without --resume")
    data = read_json(saved)
    if not isinstance(data, dict) or not isinstance(data.get("config"), dict):
        from atom_sdk.errors import ArtifactError

        raise ArtifactError(f"'{saved}' is not a run config; run with --overwrite to start the run again")
    return build_run_config(data["config"], overrides, source=str(saved))


def resume_command(cfg) -> str:  # type: ignore[no-untyped-def]
    """The exact command that continues this run."""
    import shlex

    from atom_sdk.config import RunConfig

    words = ["atom", "run", "--name", cfg.name]
    if cfg.output_root != RunConfig.model_fields["output_root"].default:
        words += ["--output-root", cfg.output_root]
    return shlex.join([*words, "--resume"])


def execute(cfg, *, overwrite: bool = False, resume: bool = False, quiet: bool = False,  # type: ignore[no-untyped-def]
            memory_check: bool = True) -> dict[str, Any]:
    """Run with a rich progress bar and print a short report."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from atom_sdk.errors import RunInterrupted
    from atom_sdk.experiment import run_experiment
    from atom_sdk.experiment.device_loop import choose_loop
    from atom_sdk.experiment.preflight import plan_run
    from atom_sdk.experiment.runner import EPISODE_SEED_STRIDE

    plan = plan_run(cfg, overwrite=overwrite, resume=resume, memory_check=memory_check)
    choose_loop(cfg, stride=EPISODE_SEED_STRIDE)  # `--loop device` it cannot take: refused before the progress bar
    out = plan.out
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TextColumn("{task.fields[info]}"), TimeRemainingColumn(), console=console,
                  disable=quiet, transient=False) as bar:
        task = bar.add_task(f"{cfg.world.name} {cfg.variant}", total=cfg.steps, info="compiling")

        def on_step(step: int, total: int, info: dict[str, Any]) -> None:
            trust = info.get("trust")
            text = f"episode {info.get('episode')}" + (f" trust {trust:.2f}" if trust is not None else "")
            bar.update(task, completed=step, info=text)

        try:
            results = run_experiment(cfg, progress=on_step, plan=plan)
        except RunInterrupted as exc:
            exc.resume_command = resume_command(cfg)
            raise
    if not quiet:
        report(results, out)
    return results


def report(results: dict[str, Any], out: Path) -> None:
    summary = results["summary"]
    console.print(f"[bold]run[/] {results['name']}  world {results['world']['id']}  variant "
                  f"{results['variant']['name']}  config {results['provenance']['config_hash'][:12]}")
    for law in results.get("laws") or []:
        console.print(f"  law: {law.get('equation')}", highlight=False)
    if not results.get("laws") and results["variant"]["use_scientist"]:
        console.print("  law: none accepted yet")
    if summary.get("final_trust") is not None:
        console.print(f"  trust: {summary['final_trust']:.3f}")
    ret = summary.get("mean_return")
    console.print(f"  mean episode return: {ret:.4f}" if ret is not None else "  mean episode return: n/a")
    console.print(f"  artifacts: {out}/ ({artifact_listing(out)})", highlight=False)


def artifact_listing(out: Path) -> str:
    """What the run folder holds, read from disk (a fixed list once left out ``ledger.jsonl`` and
    ``summary.pdf``): the visible top-level entries in name order, folders with a trailing ``/``."""
    entries = sorted((p for p in out.iterdir() if not p.name.startswith(".")), key=lambda p: p.name)
    return ", ".join(p.name + ("/" if p.is_dir() else "") for p in entries)


def demo_command(
    steps: int = typer.Option(400, "--steps", help="Environment steps of the demo run."),
    seed: int = typer.Option(0, "--seed", help="Random seed."),
) -> None:
    """The main job on the embedded default: a short closed-loop run on a small Taylor–Green box.

    1 % noise on the agent's probes and 1 % measurement noise on the amplitude the scientist fits;
    agent steps of 0.5 time units, so that the amplitude changes per step stand above that noise.
    Writes experiment_results/demo/ (replaced on each demo run).
    """
    from atom_sdk.config import build_run_config

    cfg = build_run_config({
        "name": "demo", "steps": steps, "seed": seed, "variant": "v2_hybrid",
        "world": {"name": "analytical:taylor_green", "grid": [16, 16, 4], "max_episode_steps": 200,
                  "params": {"noise": 0.01, "dt": 0.5}, "measurement_noise": 0.01},
        "scientist": {"fit_every": 16, "min_samples": 32},
    })
    execute(cfg, overwrite=True)
