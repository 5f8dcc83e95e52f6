"""``atom reproduce``: re-run published results and write report.json / report.md / figures.

``atom reproduce list`` shows the declared reproductions; ``atom reproduce NAME [--seeds 0 1 2]
[--budget quick|full] [--executor local|ray] [--out DIR]`` runs one; ``atom reproduce table
--out-md FILE DIR...`` writes the README's "Reproduced results" table from finished reports.
"""

from __future__ import annotations

from pathlib import Path

import typer

from atom_sdk.cli.common import DefaultCommandGroup, console
from atom_sdk.errors import ConfigError


app = typer.Typer(cls=DefaultCommandGroup, help="Re-run published results and compare with the papers' numbers.",
                  no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)


def _seeds(values: list[str]) -> list[int]:
    out: list[int] = []
    for v in values:
        for part in v.replace(",", " ").split():
            try:
                out.append(int(part))
            except ValueError:
                raise ConfigError(f"seed '{part}' is not an integer; pass e.g. --seeds 0 1 2") from None
    return out


@app.command("list")
def list_command() -> None:
    """List the declared reproductions, their budgets and published values."""
    from rich.table import Table

    from atom_sdk.reproduce.registry import list_reproductions

    table = Table(show_lines=True)
    for col in ("name", "reproduces", "budgets", "published"):
        table.add_column(col, overflow="fold")
    for r in list_reproductions():
        pubs = "\n".join(f"{p.quantity}: {p.value:g} ({p.low:g}–{p.high:g}) {p.unit}" for p in r.published)
        budgets = "\n".join(f"{k}: {v}" for k, v in r.budgets.items())
        table.add_row(r.name, f"{r.title}\n[dim]{r.citation}[/]", budgets, pubs)
    console.print(table)


@app.command("run", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def run_command(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="reproduction name (see 'atom reproduce list')"),
    seeds: list[str] = typer.Option(None, "--seeds", help="seeds, e.g. --seeds 0 1 2 (default: declared)"),
    budget: str = typer.Option("quick", "--budget", help="quick (CI, minutes) or full (release)"),
    executor: str = typer.Option("local", "--executor", help="local (process pool), ray or serial"),
    out: Path = typer.Option(None, "--out", help="output folder (default reproductions/NAME)"),
    overwrite: bool = typer.Option(False, "--overwrite", help="replace an existing output folder made by atom"),
) -> None:
    """Run one reproduction; writes report.json, report.md and PNG figures into --out."""
    from atom_sdk.reproduce.registry import run_reproduction

    extra = list(ctx.args)
    bad = [a for a in extra if not a.lstrip("-").replace(",", "").isdigit() or a.startswith("--")]
    if bad:
        raise ConfigError(f"unexpected argument(s) {bad}; options are --seeds, --budget, --executor, --out, "
                          "--overwrite")
    seed_list = _seeds(list(seeds or []) + extra) or None
    target = out if out is not None else Path("reproductions") / name
    report = run_reproduction(name, str(target), seeds=seed_list, budget=budget, executor=executor,
                              overwrite=overwrite)
    console.print(f"[bold]{report['title']}[/]: {report['overall']} ({report['wall_seconds']:.0f} s)")
    for row in report["rows"]:
        console.print(f"  {row['quantity']}: {row['verdict']['text']}", highlight=False)
    console.print(f"report: {target / 'report.md'}")


@app.command("table")
def table_command(
    dirs: list[Path] = typer.Argument(None, help="report folders (default: every reproductions/*/report.json)"),
    out_md: Path = typer.Option(None, "--out-md", help="write the markdown table here"),
) -> None:
    """Markdown 'Reproduced results' table from finished reports (for the README)."""
    from atom_sdk.reproduce.report import readme_table
    from atom_sdk.workspace import output_file

    if out_md is not None:
        output_file(out_md, "--out-md")
    folders = list(dirs or []) or sorted(p.parent for p in Path("reproductions").glob("*/report.json"))
    if not folders:
        raise ConfigError("no report folders given and none found under reproductions/; run "
                          "'atom reproduce NAME' first or pass the folders")
    text = readme_table(folders)
    if out_md is not None:
        from atom_sdk.artifacts import atomic_write_text

        atomic_write_text(out_md, text)
        console.print(f"wrote {out_md}")
    else:
        typer.echo(text)
