"""``atom bench``: performance and evidence benchmarks."""

from __future__ import annotations

import typer

from atom_sdk.cli.common import console, print_json

app = typer.Typer(help="Benchmarks: world throughput, scientific integrity, reliability.", no_args_is_help=True)


@app.command("worlds")
def bench_worlds(
    size: int = typer.Option(512, "--size", help="Side of the periodic D2Q9 box."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """LBM throughput (MLUPS) vs a NumPy reference, bandwidth bound, wedge cell updates per second."""
    from atom_sdk.worlds.bench import run_world_benchmarks

    report = run_world_benchmarks(size=size)
    if as_json:
        print_json(report)
    else:
        console.print_json(data=report)
