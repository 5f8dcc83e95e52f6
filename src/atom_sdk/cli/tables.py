"""Listings that survive a pipe: ids and numbers are never cut, at any width.

Why: at 80 columns (a pipe, a CI log) rich shrinks every column and ends cells with "…", so a
world id could not be copied and a number lost its exponent. Here every column is at least as
wide as its longest word (an id, a number, a ``name=value`` pair), so wrapping happens only
between words; columns marked ``keep`` (ids, numbers) never wrap at all. When even that does not
fit the console, the rows are printed as a list instead (one block per row, ``name: value``
pairs that wrap between pairs), where nothing is cut either.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text


@dataclass(frozen=True)
class Col:
    """One column: ``keep`` for ids and numbers (never wrapped), ``justify`` for numbers."""

    header: str
    keep: bool = False
    justify: str = "left"


def fmt_num(value: Any, spec: str = ".6g") -> str:
    """A number as the tables show it (the ``--json`` output carries the full value); n/a for none/NaN."""
    if value is None or isinstance(value, bool):
        return "n/a" if value is None else str(value).lower()
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    if not math.isfinite(number):
        return "n/a" if math.isnan(number) else ("inf" if number > 0 else "-inf")
    return format(number, spec)


def _longest_word(text: str) -> int:
    return max((Text.from_markup(t).cell_len for t in text.split()), default=0)


def _longest_line(text: str) -> int:
    return max((Text.from_markup(t).cell_len for t in text.splitlines()), default=0)


def min_widths(columns: Sequence[Col], rows: Sequence[Sequence[str]]) -> list[int]:
    out = []
    for i, col in enumerate(columns):
        cells = [str(row[i]) for row in rows]
        measure = _longest_line if col.keep else _longest_word
        out.append(max([len(col.header.split()[0]) if col.header else 0, *(measure(c) for c in cells)]))
    return out


def fits(columns: Sequence[Col], rows: Sequence[Sequence[str]], width: int) -> bool:
    """Whether a table (rich's default box: one border + two padding per column) fits ``width``."""
    return sum(min_widths(columns, rows)) + 3 * len(columns) + 1 <= width


def print_rows(console: Console, columns: Sequence[Col], rows: Sequence[Sequence[str]], *,
               title: str | None = None, show_lines: bool = False) -> None:
    """A table when it fits the console with no word cut, else a list layout (see the module doc)."""
    if fits(columns, rows, console.width):
        table = Table(title=title, show_lines=show_lines)
        for col, width in zip(columns, min_widths(columns, rows)):
            table.add_column(col.header, min_width=width, no_wrap=col.keep, overflow="fold",
                             justify=col.justify)  # type: ignore[arg-type]
        for row in rows:
            table.add_row(*(str(c) for c in row))
        console.print(table)
        return
    if title:
        console.print(f"[bold]{title}[/]")
    for row in rows:
        head, rest = str(row[0]), list(zip(columns[1:], row[1:]))
        console.print(Text.from_markup(head, style="bold"), soft_wrap=True)
        pairs = [Text.from_markup(f"[dim]{col.header}:[/] {str(cell).replace(chr(10), ' ')}")
                 for col, cell in rest if str(cell) != ""]
        for line in pack(pairs, console.width - 2):
            console.print(Text("  ").append(line), overflow="fold", soft_wrap=False)


def pack(pieces: Sequence[Text], width: int, gap: str = "   ") -> list[Text]:
    """Greedy lines of whole pieces (a ``name: value`` pair is never split unless alone too wide)."""
    lines: list[Text] = []
    line = Text()
    for piece in pieces:
        if line.cell_len and line.cell_len + len(gap) + piece.cell_len > width:
            lines.append(line)
            line = Text()
        if line.cell_len:
            line.append(gap)
        line.append(piece)
    if line.cell_len:
        lines.append(line)
    return lines


def print_block(console: Console, text: str, indent: int = 0) -> None:
    """One markup line of a list layout; wrapped lines keep the indent, words are never cut."""
    from rich.padding import Padding

    body = Text.from_markup(text)
    console.print(Padding(body, (0, 0, 0, indent)) if indent else body, highlight=False)
