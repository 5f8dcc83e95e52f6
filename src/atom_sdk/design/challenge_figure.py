"""The challenge figure: the tracking history over the run and the final field.

Top: the target shock-angle schedule against the measured (and the theta-beta-Mach) shock angle
per agent step, with the safety violations marked; middle: the commanded and the actual wedge
angle; bottom: the final field with the measured and theoretical shock lines. Cell centres come
from the wedge solver's sheared grid (``worlds.euler.make_geometry``), so the field is drawn over
the real wedge surface; the shock lines start at the leading edge and leave the free-stream
direction at the measured angle and at the theta-beta-Mach angle.
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


def _series(values: list[Any]) -> np.ndarray:
    """Trajectory values as floats, a missing measurement as NaN (a gap in the line)."""
    return np.array([np.nan if v is None else float(v) for v in values], dtype=np.float64)


def draw_tracking(ax_shock: Any, ax_wedge: Any, audit: dict[str, Any]) -> None:
    """Target vs measured shock angle, and commanded vs actual wedge angle, over the agent steps."""
    traj = audit["trajectory"]
    steps = np.arange(1, len(traj["target"]) + 1)
    ax_shock.step(steps, _series(traj["target"]), "k-", where="post", lw=1.6, label="target (schedule)")
    ax_shock.plot(steps, _series(traj["measured"]), "r-", lw=1.3, label="measured shock angle")
    ax_shock.plot(steps, _series(traj["theory"]), "c--", lw=1.0, label="theta-beta-Mach of the wedge angle")
    bad = [int(v["step"]) for v in audit.get("violations") or [] if v.get("step") is not None]
    measured = _series(traj["measured"])
    if bad:
        at = np.clip(np.asarray(bad) - 1, 0, max(len(steps) - 1, 0))
        ax_shock.plot(steps[at], np.nan_to_num(measured[at]), "mx", ms=8, mew=2,
                      label=f"safety violation ({len(bad)})")
    ax_shock.set_ylabel("shock angle beta (deg)")
    kind = (audit.get("controller") or {}).get("kind", "")
    ax_shock.set_title(f"tracking: score {audit.get('score', float('nan')):.1f}/100, MAE "
                       f"{(audit.get('summary') or {}).get('mean_abs_error_deg', float('nan')):.2f} deg, "
                       f"{audit.get('violation_count', 0)} violations  [{kind.split(',')[0]}]", fontsize=9)
    ax_shock.legend(loc="best", fontsize=7)
    ax_shock.grid(alpha=0.3)
    ax_wedge.plot(steps, _series(traj["command"]), color="tab:orange", lw=1.2, label="commanded wedge angle")
    ax_wedge.plot(steps, _series(traj["wedge_angle"]), color="tab:blue", lw=1.4, label="actual wedge angle")
    ax_wedge.set_xlabel("agent step")
    ax_wedge.set_ylabel("wedge angle theta (deg)")
    ax_wedge.legend(loc="best", fontsize=7)
    ax_wedge.grid(alpha=0.3)


def draw_field(fig: Any, ax: Any, world: Any, iface: Any, *, mach: float, measured: float | None,
               theory: float | None) -> None:
    """The final field over the wedge-fitted grid, with the measured and theoretical shock lines."""
    from atom_sdk.worlds import euler

    fields = world.fields()
    name = iface.field if iface.field in fields else next(iter(fields))
    field = np.asarray(fields[name], dtype=np.float64)
    field = field[..., 0] if field.ndim == 3 else field
    nx, ny = field.shape
    wedge = float(world.diagnostics().get(iface.wedge_key, 0.0))
    x, y, x0 = cell_centres(nx, ny, wedge)
    mesh = ax.pcolormesh(x, y, field, shading="auto", cmap="viridis")
    fig.colorbar(mesh, ax=ax, label=f"{name} (free-stream units)")
    xs = np.array([x0, euler.LENGTH])
    ax.fill_between(xs, 0.0, (xs - x0) * math.tan(math.radians(wedge)), color="0.3", zorder=3)
    for angle, style, label in ((measured, "r-", "measured shock"), (theory, "c--", "theta-beta-Mach shock")):
        if angle is not None and math.isfinite(angle):
            ax.plot(xs, (xs - x0) * math.tan(math.radians(angle)), style, lw=1.8, label=f"{label} {angle:.2f} deg")
    ax.set_xlim(0.0, euler.LENGTH)
    ax.set_ylim(0.0, float(np.max(y)))
    ax.set_aspect("equal")
    ax.set_xlabel("x (box lengths)")
    ax.set_ylabel("y (box lengths)")
    ax.set_title(f"final {name}, Mach {mach:g}, wedge {wedge:.2f} deg", fontsize=9)
    ax.legend(loc="upper left", fontsize=7)


def challenge_figure(audit: dict[str, Any], world: Any = None, iface: Any = None) -> Any:
    """The figure (not saved): tracking history, wedge angle and, given the world, the final field."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = 3 if world is not None else 2
    fig = plt.figure(figsize=(8.0, 10.5 if rows == 3 else 6.5), constrained_layout=True)
    grid = fig.add_gridspec(rows, 1, height_ratios=[1.2, 0.8, 1.5][:rows])
    ax_shock = fig.add_subplot(grid[0])
    ax_wedge = fig.add_subplot(grid[1], sharex=ax_shock)
    draw_tracking(ax_shock, ax_wedge, audit)
    if world is not None:
        final = audit["summary"]["final"]
        draw_field(fig, fig.add_subplot(grid[2]), world, iface, mach=float(audit["mach"]),
                   measured=final.get("measured"), theory=final.get("theory"))
    fig.suptitle(f"supersonic challenge, Mach {audit['mach']:g}: {audit.get('status', '')}")
    return fig


def plot_challenge(world: Any, iface: Any, path: Path, audit: dict[str, Any]) -> Path:
    """Draw ``challenge_figure`` for a finished run and save it to ``path``."""
    import matplotlib.pyplot as plt

    fig = challenge_figure(audit, world, iface)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
