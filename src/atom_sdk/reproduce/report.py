"""Reproduction reports: ``report.json`` (the record), ``report.md`` (for people), figures.

Why the record is JSON first: the README table (``readme_table``) and any later re-rendering
are pure functions of ``report.json``, so a report can be regenerated without re-running.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from atom_sdk.artifacts import read_json, write_json
from atom_sdk.errors import ArtifactError
from atom_sdk.workspace import ReportKind
from atom_sdk.reproduce.figures import axis_label, pyplot, reference_line, save_figure

SCHEMA = "atom.reproduction_report/1"


def _fmt(x: Any, spec: str = ".4g") -> str:
    if x is None:
        return "n/a"
    if isinstance(x, float) and not math.isfinite(x):
        return str(x)
    if isinstance(x, (int, float)):
        return format(x, spec)
    return str(x)


def fmt_ours(row: dict[str, Any]) -> str:
    text = _fmt(row.get("ours"))
    if row.get("ci_low") is not None and row.get("ci_high") is not None:
        text += f" [{_fmt(row['ci_low'])}, {_fmt(row['ci_high'])}]"
    return text + (f" {row['unit']}" if row.get("unit") else "")


def fmt_paper(row: dict[str, Any]) -> str:
    text = f"{_fmt(row['paper'])} ({_fmt(row['paper_low'])}–{_fmt(row['paper_high'])})"
    return text + (f" {row['unit']}" if row.get("unit") else "")


def comparison_figure(rows: Sequence[dict[str, Any]], path: Path, title: str) -> Path:
    """One panel per compared quantity: the paper's range (band), its value, ours with the 95% CI."""
    plt = pyplot()

    n = max(len(rows), 1)
    fig, axes = plt.subplots(1, n, figsize=(3.0 * n, 3.2), squeeze=False)
    for ax, row in zip(axes[0], rows):
        reference_line(ax, row["paper"], "paper", low=row["paper_low"], high=row["paper_high"])
        ours = row.get("ours")
        if ours is not None and math.isfinite(ours):
            lo, hi = row.get("ci_low"), row.get("ci_high")
            yerr = [[ours - lo], [hi - ours]] if lo is not None and hi is not None else None
            colour = "tab:blue" if row["verdict"]["reproduced"] else "tab:red"
            ax.errorbar([0], [ours], yerr=yerr, fmt="o", color=colour, capsize=6, label="ours (95% CI)")
        ax.set_xticks([])
        ax.set_title(row["quantity"], fontsize=8)
        ax.set_ylabel(axis_label(row["quantity"], row.get("unit", "")), fontsize=8)
        ax.tick_params(labelsize=7)
    axes[0][0].legend(fontsize=6, loc="best")
    fig.suptitle(title, fontsize=9)
    save_figure(fig, path)
    return path


def _table_md(table: dict[str, Any]) -> str:
    cols = table["columns"]
    lines = [f"### {table['title']}", ""]
    if table.get("caption"):
        lines += [table["caption"], ""]
    lines.append("| " + " | ".join(cols) + " |")
    lines.append("|" + "|".join("---" for _ in cols) + "|")
    for r in table["rows"]:
        lines.append("| " + " | ".join(_fmt(r.get(c)) for c in cols) + " |")
    return "\n".join(lines) + "\n"


def render_markdown(report: dict[str, Any]) -> str:
    lines = [f"# Reproduction: {report['title']}", "",
             f"**Reference:** {report['citation']}", "",
             f"Budget `{report['budget']}`, seeds {report['seeds']}, executor `{report['executor']}`, "
             f"wall time {report['wall_seconds']:.0f} s. Overall: **{report['overall']}**.", "",
             "| Quantity | Ours (95% CI) | Paper (range) | Verdict |", "|---|---|---|---|"]
    for row in report["rows"]:
        lines.append(f"| {row['quantity']} | {fmt_ours(row)} | {fmt_paper(row)} | {row['verdict']['text']} |")
    lines.append("")
    for note in report.get("notes", []):
        lines.append(f"- {note}")
    if report.get("notes"):
        lines.append("")
    for table in report.get("tables", []):
        lines.append(_table_md(table))
    if report.get("figures"):
        lines.append("## Figures\n")
        lines += [f"![{f}]({f})" for f in report["figures"]]
        lines.append("")
    prov = report.get("provenance", {})
    lines.append(f"_git commit {prov.get('git_commit')}, dirty {prov.get('git_dirty')}, "
                 f"written {report.get('written_at')}._")
    return "\n".join(lines) + "\n"


def write_report(out: Path, repro: Any, body: dict[str, Any], *, seeds: list[int], budget: str,
                 executor: str) -> dict[str, Any]:
    """Assemble, write and return the report (``body`` comes from the reproduction's ``run``)."""
    from atom_sdk.artifacts import utc_now
    from atom_sdk.provenance import provenance

    rows = body.get("rows", [])
    figures = list(body.get("figures", []))
    if rows:
        comparison_figure(rows, out / "comparison.png", repro.title)
        figures.insert(0, "comparison.png")
    n_ok = sum(1 for r in rows if r["verdict"]["reproduced"])
    overall = ("reproduced" if rows and n_ok == len(rows) else
               f"partly reproduced ({n_ok}/{len(rows)})" if n_ok else "not reproduced")
    report = {
        "schema": SCHEMA, "name": repro.name, "title": repro.title, "citation": repro.citation,
        "budget": budget, "seeds": seeds, "executor": executor, "overall": overall, "rows": rows,
        "tables": body.get("tables", []), "notes": body.get("notes", []), "figures": figures,
        "extra": body.get("extra", {}), "wall_seconds": body.get("wall_seconds", 0.0),
        "published": [p.as_dict() for p in repro.published],
        "provenance": provenance(seed=seeds[0] if seeds else None), "written_at": utc_now(),
    }
    write_json(out / "report.json", report)
    (out / "report.md").write_text(render_markdown(report), encoding="utf-8")
    return report


def load_report(path: str | Path) -> dict[str, Any]:
    p = Path(path)
    p = p / "report.json" if p.is_dir() else p
    if not p.is_file():
        raise ArtifactError(f"no report at '{p}'; run 'atom reproduce NAME --out DIR' first")
    report = read_json(p)
    if report.get("schema") != SCHEMA:
        raise ArtifactError(f"'{p}' is not a reproduction report (schema {report.get('schema')!r})")
    return report


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|")


#: the first line of ``readme_table`` (what a rerun's --out-md may replace)
TABLE_HEADER = "| Reproduction | Quantity | Ours (95% CI) | Published (range) | Verdict | Budget |"
README_TABLE = ReportKind("reproductions Markdown table", kind="markdown", header=TABLE_HEADER)


def readme_table(report_dirs: Sequence[str | Path]) -> str:
    """Markdown 'Reproduced results' table, one line per compared quantity of each report."""
    lines = [TABLE_HEADER,
             "|---|---|---|---|---|---|"]
    for d in report_dirs:
        rep = load_report(d)
        for row in rep["rows"]:
            v = row["verdict"]
            mark = "reproduced" if v["reproduced"] else (
                f"not reproduced (gap {_fmt(v['gap'], '.3g')}{' ' + row['unit'] if row.get('unit') else ''})")
            lines.append(f"| {rep['name']} | {_cell(row['quantity'])} | {fmt_ours(row)} | {fmt_paper(row)} | {mark} | "
                         f"{rep['budget']}, seeds {len(rep['seeds'])} |")
    return "\n".join(lines) + "\n"
