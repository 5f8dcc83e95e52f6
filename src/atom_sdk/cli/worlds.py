"""``atom worlds``: list the registered worlds and run their physics validation.

Every listing has ``--json`` (stable keys); ``describe`` shows one world's parameters and diagnostics
with their units and descriptions. The tables never cut a world id or a number at
any width (``atom_sdk.cli.tables``). Validation rows name the world whose case ran them;
``kind`` says whether the world itself was measured (``world``) or a numerical kernel it is built
on (``kernel``, with ``subject`` naming it, e.g. ``kernel:lbm-periodic``).
"""

from __future__ import annotations

from typing import Any, Optional

import typer

from atom_sdk.cli.common import console, print_json

app = typer.Typer(help="List worlds and validate their physics against published references.",
                  no_args_is_help=True)


def world_rows() -> list[dict[str, Any]]:
    from atom_sdk.worlds import describe_worlds

    return [{"id": w["id"], "source": w["source"], "description": w["description"],
             "parameters": w["parameters_schema"].get("properties", {})} for w in describe_worlds()]


def _param_text(params: dict[str, Any]) -> str:
    return "  ".join(f"{k}={v.get('default')}" for k, v in params.items())


@app.command("list")
def list_command(as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table.")) -> None:
    """List the registered worlds with their parameters (name=default)."""
    from atom_sdk.cli.tables import Col, fits, print_block, print_rows

    rows = world_rows()
    if as_json:
        print_json(rows)
        return
    cols = [Col("world", keep=True), Col("source", keep=True), Col("parameters (default)"), Col("description")]
    cells = [[r["id"], r["source"], _param_text(r["parameters"]), r["description"]] for r in rows]
    if fits(cols, cells, console.width):
        print_rows(console, cols, cells, title="ATOM worlds", show_lines=True)
        return
    for r in rows:  # narrow: one block per world, the id on its own line
        print_block(console, f"[bold]{r['id']}[/] [dim]({r['source']})[/]")
        print_block(console, f"{r['description']}", 2)
        print_block(console, f"[dim]parameters:[/] {_param_text(r['parameters'])}", 2)


def _constraints(prop: dict[str, Any]) -> str:
    """A parameter's bounds and choices as short text (``> 0``, ``<= 10``, ``one of bgk|trt|mrt``)."""
    ops = (("exclusiveMinimum", ">"), ("minimum", ">="), ("exclusiveMaximum", "<"), ("maximum", "<="))
    bounds = [f"{op} {prop[key]:g}" for key, op in ops if isinstance(prop.get(key), (int, float))]
    enum = prop.get("enum") or next((p["enum"] for p in prop.get("anyOf", []) if "enum" in p), None)
    if enum:
        bounds.append("one of " + "|".join(str(e) for e in enum))
    return ", ".join(bounds)


def describe_row(world_id: str) -> dict[str, Any]:
    """One world's id, description, parameters (default, unit, constraints, description) and
    diagnostics (unit, description, whether the scientist fits it), as ``describe --json`` prints."""
    from atom_sdk.worlds import describe_worlds, get_spec

    get_spec(world_id)  # unknown id: WorldNotFoundError naming the known ones
    row = next(w for w in describe_worlds() if w["id"] == world_id)
    props = row["parameters_schema"].get("properties", {})
    params = [{"name": name, "default": prop.get("default"), "unit": prop.get("unit", ""),
               "constraints": _constraints(prop), "description": prop.get("description", "")}
              for name, prop in props.items()]
    return {"id": row["id"], "source": row["source"], "description": row["description"], "parameters": params,
            "diagnostics": row.get("diagnostics", []), "observables": row["observables"],
            "validation_cases": row["validation_cases"]}


@app.command("describe")
def describe_command(
    world: str = typer.Argument(..., help="World id, e.g. analytical:taylor_green (see 'atom worlds list')."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of tables."),
) -> None:
    """One world's parameters and diagnostics with units ("1": dimensionless, "-": a choice or switch)."""
    from atom_sdk.cli.tables import Col, print_block, print_rows

    row = describe_row(world)
    if as_json:
        print_json(row)
        return
    print_block(console, f"[bold]{row['id']}[/] [dim]({row['source']})[/]: {row['description']}")
    print_rows(console, [Col("parameter", keep=True), Col("default", keep=True), Col("unit", keep=True),
                         Col("constraints"), Col("description")],
               [[p["name"], str(p["default"]), p["unit"], p["constraints"], p["description"]]
                for p in row["parameters"]], title="parameters")
    if row["diagnostics"]:
        print_rows(console, [Col("diagnostic", keep=True), Col("unit", keep=True), Col("fitted", keep=True),
                             Col("description")],
                   [[d["name"], d["unit"], "yes" if d["measured"] else "", d["description"]]
                    for d in row["diagnostics"]], title="diagnostics (fitted: measured by the scientist)")


VALIDATION_COLUMNS = ("world", "kind", "subject", "case", "quantity", "measured", "reference", "rel_error",
                      "abs_error", "unit", "tolerance", "tolerance_on", "passed")


def validation_cells(r: Any) -> list[str]:
    """One validation result as the table shows it (numbers via ``fmt_num``)."""
    from atom_sdk.cli.tables import fmt_num, print_block

    on = "rel" if r.tolerance_on == "rel_error" else "abs"
    subject = "" if r.kind == "world" else r.subject
    return [r.case, f"{r.quantity} {subject}".strip(), fmt_num(r.measured), fmt_num(r.reference),
            fmt_num(r.rel_error, ".3g"), fmt_num(r.abs_error, ".3g"), r.unit,
            f"{on} {fmt_num(r.tolerance, '.3g')}", "[green]pass[/]" if r.passed else "[red]FAIL[/]"]


def print_validation(results: list[Any]) -> None:
    """One table (or list) per world: case, quantity, measured, reference, both errors, unit, tolerance."""
    from atom_sdk.cli.tables import Col, print_rows

    cols = [Col("case", keep=True), Col("quantity"), Col("measured", keep=True, justify="right"),
            Col("reference", keep=True, justify="right"), Col("rel. error", keep=True, justify="right"),
            Col("abs. error", keep=True, justify="right"), Col("unit", keep=True),
            Col("tolerance", keep=True), Col("result", keep=True)]
    for world in dict.fromkeys(r.world for r in results):
        rows = [validation_cells(r) for r in results if r.world == world]
        print_rows(console, cols, rows, title=f"Physics validation: {world}")


@app.command("validate")
def validate_command(
    world: Optional[str] = typer.Option(None, "--world", help="Validate one world (default: all)."),
    as_json: bool = typer.Option(False, "--json", help="Print the results as a JSON list."),
    include_slow: bool = typer.Option(False, "--slow", help="Also run the slow cases (e.g. Schäfer–Turek)."),
) -> None:
    """Run the validation cases; exit code 1 when any case fails.

    rel_error is |measured - reference| / |reference|, abs_error is |measured - reference| in the
    row's unit; the tolerance applies to the one named by tolerance_on.
    """
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
        print_validation(results)
    if not results or not all(r.passed for r in results):
        raise typer.Exit(1)
