"""How every reproduction draws its figures: matplotlib on the file-only Agg backend, PNG at 120 dpi.

A reproduction figure is evidence set beside a paper's, so each axis that carries numbers names its
quantity and unit (``axis_label``: ``"C_D [1]"``, ``"t [D/U]"``), and the published value is drawn
where there is one (``reference_line``, or a band for a published range). ``figure_problems`` lists
what a figure lacks; ``save_figure`` warns with that list, and the tests require it to be empty.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path
from typing import Any

#: a unit in brackets or parentheses: "[deg]", "[1/cells]", "(1)"
UNIT = re.compile(r"\[[^\]]+\]|\([^)]*\)")


def pyplot() -> Any:
    """``matplotlib.pyplot`` on the Agg backend (reports are written to files, never shown)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def axis_label(quantity: str, unit: str) -> str:
    """``"quantity [unit]"``; a dimensionless quantity gets ``[1]``."""
    return f"{quantity} [{unit or '1'}]"


def reference_line(ax: Any, value: float, label: str, *, low: float | None = None, high: float | None = None,
                   color: str = "tab:green") -> None:
    """The published value as a horizontal line (and its published range as a band when given)."""
    if low is not None and high is not None:
        ax.axhspan(low, high, color=color, alpha=0.25, label=f"{label} range")
    ax.axhline(value, color=color, lw=1.5, label=label)


def _has_data(ax: Any) -> bool:
    return bool(ax.lines or ax.collections or ax.images or ax.patches or ax.containers)


def figure_problems(fig: Any) -> list[str]:
    """What the figure lacks: an axis with tick labels but no label with a unit, or an empty panel.

    Axes turned off (text panels) are skipped; an axis without ticks (an image's, a single-point
    comparison's x) needs no label. A colour bar's axis counts like any other.
    """
    fig.canvas.draw()  # tick labels are filled in at draw time
    problems = []
    for i, ax in enumerate(fig.axes):
        if not ax.axison:
            continue
        name = ax.get_title() or ax.get_label() or f"axes {i}"
        if not _has_data(ax):
            problems.append(f"{name}: empty panel")
        for which, axis in (("x", ax.xaxis), ("y", ax.yaxis)):
            if not axis.get_visible() or not len(axis.get_ticklocs()):
                continue
            if not any(t.get_text() for t in axis.get_ticklabels()):
                continue
            label = axis.get_label_text()
            if not label:
                problems.append(f"{name}: the {which} axis has no label")
            elif not UNIT.search(label):
                problems.append(f"{name}: the {which} label {label!r} gives no unit in [..] or (..)")
    return problems


def save_figure(fig: Any, path: Path) -> None:
    """Lay the figure out, write it to ``path`` at 120 dpi and close it; warn when ``figure_problems``
    finds an axis without a unit or an empty panel (the figure is still written)."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    problems = figure_problems(fig)
    if problems:
        warnings.warn(f"{Path(path).name}: " + "; ".join(problems), stacklevel=2)
    fig.savefig(path, dpi=120)
    plt.close(fig)
