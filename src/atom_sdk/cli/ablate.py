"""``atom ablate``: seed-paired ablation sweeps and JSON-only report regeneration.

``atom ablate [run] --world W --grid NX NY NZ --steps N --seeds 0 1 2 ...`` runs (or
resumes) a sweep; ``run`` is the default command, so it may be omitted. Any
``--world-<name> VALUE`` (or ``--world-<name>=VALUE``) becomes world parameter
``<name>`` with dashes turned into underscores, e.g. ``--world-u-inlet 0.05`` ->
``{"u_inlet": 0.05}``. ``atom ablate plot --summary S --runs R`` rebuilds figures,
significance and claims from the JSON artifacts alone.

On an existing Ray cluster: ``--executor ray --ray-address <head-ip>:6379`` (or ``auto``
on a cluster node); see :mod:`atom_sdk.evidence.executors` for the setup. Each variant's seeds as
one program: ``--no-safety --executor auto`` (or ``vectorized``, which refuses what it cannot run);
see :mod:`atom_sdk.evidence.vectorized_sweep`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import typer

from atom_sdk.cli.common import AtomCommand, DefaultCommandGroup, take_world_option
from atom_sdk.errors import AtomError, ConfigError

_INT = re.compile(r"[+-]?\d+$")


app = typer.Typer(
    cls=DefaultCommandGroup,
    help="Seed-paired ablation sweeps with bootstrap CIs, permutation tests and Holm-corrected claims.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def parse_extra_args(args: list[str], *, seeds_given: bool) -> tuple[dict[str, Any], list[int]]:
    """Split the arguments Click did not know into world params and extra seeds.

    Click stores ``--seeds 0 1 2`` as seed ``0`` plus stray ``1 2``; stray integers are
    extra seeds only when ``--seeds`` was given. Anything else is rejected.
    """
    params: dict[str, Any] = {}
    seeds: list[int] = []
    i = 0
    while i < len(args):
        tok = args[i]
        following = take_world_option(args, i, params)
        if following is not None:
            i = following
        elif _INT.match(tok) and seeds_given:
            seeds.append(int(tok))
            i += 1
        elif tok.startswith("-"):
            raise ConfigError(f"unknown option {tok!r}", hint="see `atom ablate run --help`")
        else:
            raise ConfigError(f"unexpected argument {tok!r}",
                              hint="seeds go after --seeds; world options are --world-<name> VALUE")
    return params, seeds


def _fail(err: AtomError) -> None:
    typer.echo(f"error: {err}", err=True)
    raise typer.Exit(2)


@app.command(
    "run",
    cls=AtomCommand,
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    help="Run or resume a sweep. Extra options --world-<name> VALUE set world parameters.",
)
def run_cmd(
    ctx: typer.Context,
    world: str = typer.Option(..., "--world", help="World name, e.g. analytical:taylor_green."),
    grid: tuple[int, int, int] = typer.Option((32, 32, 16), "--grid", metavar="NX NY NZ",
                                                 help="Grid cells nx ny nz (nz=1 for 2D worlds)."),
    steps: int = typer.Option(200, "--steps", help="Steps per run."),
    seeds: list[int] = typer.Option(None, "--seeds", help="Seeds, e.g. --seeds 0 1 2 (3+ for claims)."),
    variant_set: str = typer.Option(
        "production", "--variant-set",
        help="production, full, memory (ppo_recurrent vs ppo_baseline), decoder (field decoder vs none) or "
             "latent (laws over the latent, Jacobian features)."),
    device: str = typer.Option("cpu", "--device", help="cpu or gpu."),
    out: Path = typer.Option(Path("benchmark_results/platform_ablations"), "--out", help="Output folder."),
    variant: list[str] = typer.Option(
        None, "--variant", help="Keep only this variant of the set (repeatable); the baseline always runs."),
    safety: bool = typer.Option(True, "--safety/--no-safety",
                                help="Run with the safety envelope (off: the seed-vectorised executor can run)."),
    executor: str = typer.Option(
        "local", "--executor",
        help="local, ray, serial, vectorized (each variant's seeds as one program; refuses what it cannot) or "
             "auto (vectorized where it can, else --fallback-executor; the reasons go in the manifest)."),
    fallback_executor: str = typer.Option("local", "--fallback-executor",
                                          help="Per-run executor for what auto cannot vectorise."),
    ray_address: str = typer.Option(None, "--ray-address", help="Ray head address, 'auto', or omit for local."),
    workers: int = typer.Option(None, "--workers", help="Parallel runs (default: CPU count)."),
    bootstrap_samples: int = typer.Option(4000, "--bootstrap-samples", help="Bootstrap resamples."),
    bootstrap_seed: int = typer.Option(123, "--bootstrap-seed", help="Bootstrap seed."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Re-run pairs whose stored config differs."),
    claim_metric: list[str] = typer.Option(
        None, "--claim-metric",
        help="Primary metric for claims (repeatable); default: all with a declared direction."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar."),
) -> None:
    from atom_sdk.evidence.ablation import run_ablation

    try:
        world_params, more = parse_extra_args(list(ctx.args), seeds_given=bool(seeds))
        all_seeds = list(seeds or []) + more
        if not all_seeds:
            raise ConfigError("no seeds given", hint="pass e.g. --seeds 0 1 2 (3+ for claims)")
        res = run_ablation(world, list(grid), steps, all_seeds, variant_set, device, out,
                           world_params, executor, workers, ray_address, progress=progress,
                           n_bootstrap=bootstrap_samples, bootstrap_seed=bootstrap_seed,
                           overwrite=overwrite, claim_metrics=claim_metric or None, safety=safety,
                           variants=variant or None, fallback_executor=fallback_executor)
    except AtomError as err:
        _fail(err)
        return
    typer.echo(f"{res['ok']}/{res['planned']} runs ok ({res['executed']} executed, "
               f"{res['skipped']} resumed, {res['failed']} failed); "
               f"claims: {', '.join(res['claims']) or 'none'}; artifacts in {res['out']}")


@app.command("plot", help="Regenerate figures, significance and claims from summary.json + runs.json.")
def plot_cmd(
    summary: Path = typer.Option(..., "--summary", help="summary.json of a sweep."),
    runs: Path = typer.Option(..., "--runs", help="runs.json of the same sweep."),
    bootstrap_samples: int = typer.Option(4000, "--bootstrap-samples", help="Bootstrap resamples."),
    bootstrap_seed: int = typer.Option(123, "--bootstrap-seed", help="Bootstrap seed."),
    out: Path = typer.Option(None, "--out", help="Output folder (default: next to --summary)."),
) -> None:
    from atom_sdk.evidence.plots import regenerate

    try:
        sig = regenerate(summary, runs, out, n_bootstrap=bootstrap_samples,
                         bootstrap_seed=bootstrap_seed)
    except AtomError as err:
        _fail(err)
        return
    claims = [r["claim_id"] for r in sig["records"] if r["claim_id"]]
    typer.echo(f"{len(sig['records'])} comparisons, claims: {', '.join(claims) or 'none'}; "
               f"written to {out or Path(summary).parent}")
