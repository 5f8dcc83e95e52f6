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


def reproduction_rows() -> list[dict]:
    """The declared reproductions as plain data (the ``--json`` form; stable keys)."""
    from atom_sdk.reproduce.registry import list_reproductions

    return [{"name": r.name, "title": r.title, "citation": r.citation, "budgets": dict(r.budgets),
             "default_seeds": list(r.default_seeds), "published": [p.as_dict() for p in r.published]}
            for r in list_reproductions()]


@app.command("list")
def list_command(as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table.")) -> None:
    """List the declared reproductions, their budgets and published values."""
    from atom_sdk.cli.common import print_json
    from atom_sdk.cli.tables import fmt_num, print_block

    rows = reproduction_rows()
    if as_json:
        print_json(rows)
        return
    for r in rows:  # one block per reproduction: the name is never split, values never cut
        print_block(console, f"[bold]{r['name']}[/]  {r['title']}")
        print_block(console, f"[dim]{r['citation']}[/]", 2)
        for k, v in r["budgets"].items():
            print_block(console, f"[dim]budget[/] {k}: {v}", 2)
        for p in r["published"]:
            print_block(console, f"[dim]published[/] {p['quantity']}: {fmt_num(p['value'], 'g')} "
                        f"({fmt_num(p['low'], 'g')} to {fmt_num(p['high'], 'g')}) {p['unit']}".rstrip(), 2)


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
    from atom_sdk.reproduce.report import README_TABLE, readme_table
    from atom_sdk.workspace import output_file

    if out_md is not None:
        output_file(out_md, "--out-md", README_TABLE)
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
