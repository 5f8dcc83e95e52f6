"""Figure of the challenge's final field with the measured and theoretical shock lines.

Cell centres come from the wedge solver's sheared grid (``worlds.euler.make_geometry``), so the
field is drawn over the real wedge surface; the shock lines start at the leading edge and leave
the free-stream direction at the measured angle and at the theta-beta-Mach angle.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np


def cell_centres(nx: int, ny: int, wedge_deg: float) -> tuple[np.ndarray, np.ndarray, float]:
    """(X, Y) of cell centres on the wedge-fitted grid, and the leading-edge x."""
    from atom_sdk.worlds import euler

    geom = euler.make_geometry(nx, ny, math.radians(wedge_deg), dtype=np.float64, xp=np)
    eta = (np.arange(ny) + 0.5) * float(geom.dy)
    x = np.asarray(geom.x_center)[:, None] * np.ones((1, ny))
    y = np.asarray(geom.y_wall)[:, None] + eta[None, :]
    x0 = euler.leading_edge_index(nx) * float(geom.dx)
    return x, y, x0


def plot_final_field(world: Any, iface: Any, path: Path, *, mach: float, measured: float | None,
                     theory: float | None) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from atom_sdk.worlds import euler

    fields = world.fields()
    name = iface.field if iface.field in fields else next(iter(fields))
    field = np.asarray(fields[name], dtype=np.float64)
    field = field[..., 0] if field.ndim == 3 else field
    nx, ny = field.shape
    wedge = float(world.diagnostics().get(iface.wedge_key, 0.0))
    x, y, x0 = cell_centres(nx, ny, wedge)
    fig, ax = plt.subplots(figsize=(7.5, 5.2), constrained_layout=True)
    mesh = ax.pcolormesh(x, y, field, shading="auto", cmap="viridis")
    fig.colorbar(mesh, ax=ax, label=name)
    xs = np.array([x0, euler.LENGTH])
    ax.fill_between(xs, 0.0, (xs - x0) * math.tan(math.radians(wedge)), color="0.3", zorder=3)
    for angle, style, label in ((measured, "r-", "measured shock"), (theory, "c--", "theta-beta-Mach shock")):
        if angle is not None and math.isfinite(angle):
            ax.plot(xs, (xs - x0) * math.tan(math.radians(angle)), style, lw=1.8, label=f"{label} {angle:.2f} deg")
    ax.set_xlim(0.0, euler.LENGTH)
    ax.set_ylim(0.0, float(np.max(y)))
    ax.set_aspect("equal")
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    ax.set_title(f"supersonic challenge: final {name}, Mach {mach:g}, wedge {wedge:.2f} deg")
    ax.legend(loc="upper left", fontsize=8)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
