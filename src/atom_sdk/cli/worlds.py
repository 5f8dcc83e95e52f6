"""``atom worlds``: list the registered worlds and run their physics validation."""

from __future__ import annotations

from typing import Optional

import typer

from atom_sdk.cli.common import console, print_json

app = typer.Typer(help="List worlds and validate their physics against published references.",
                  no_args_is_help=True)


@app.command("list")
def list_command(as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table.")) -> None:
    """List the registered worlds with their parameters."""
    from rich.table import Table

    from atom_sdk.worlds import describe_worlds

    rows = [{"id": w["id"], "source": w["source"], "description": w["description"],
             "parameters": w["parameters_schema"].get("properties", {})} for w in describe_worlds()]
    if as_json:
        print_json(rows)
        return
    table = Table(title="ATOM worlds")
    table.add_column("world")
    table.add_column("source")
    table.add_column("parameters (default)")
    table.add_column("description")
    for row in rows:
        params = ", ".join(f"{k}={v.get('default')}" for k, v in row["parameters"].items())
        table.add_row(row["id"], row["source"], params, row["description"])
    console.print(table)


@app.command("validate")
def validate_command(
    world: Optional[str] = typer.Option(None, "--world", help="Validate one world (default: all)."),
    as_json: bool = typer.Option(False, "--json", help="Print the results as a JSON list."),
    include_slow: bool = typer.Option(False, "--slow", help="Also run the slow cases (e.g. Schäfer–Turek)."),
) -> None:
    """Run the validation cases; exit code 1 when any case fails."""
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from atom_sdk.worlds.validation import run_validation, validation_cases

    cases = validation_cases(world, include_slow=include_slow)
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                  console=console if not as_json else None, transient=True, disable=as_json) as progress:
        task = progress.add_task("validating", total=len(cases))

        def advance(case, _results) -> None:  # type: ignore[no-untyped-def]
            progress.update(task, advance=1, description=f"{case.world} {case.name}")

        results = run_validation(world, include_slow=include_slow, on_case=advance)
    if as_json:
        print_json([r.as_dict() for r in results])
    else:
        from rich.table import Table

        table = Table(title="Physics validation")
        for col in ("world", "case", "quantity", "measured", "reference", "rel. error", "tolerance", "result"):
            table.add_column(col)
        for r in results:
            table.add_row(r.world, r.case, r.quantity, f"{r.measured:.6g}", f"{r.reference:.6g}",
                          f"{r.rel_error:.3g}", f"{r.tolerance:.3g}",
                          "[green]pass[/]" if r.passed else "[red]FAIL[/]")
        console.print(table)
    if not results or not all(r.passed for r in results):
        raise typer.Exit(1)
