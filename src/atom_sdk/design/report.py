"""Inverse-design artifacts: the JSON report and the convergence plot (PNG + PDF).

Left: every evaluation (feasible designs as dots, designs that violate a constraint on a diagnostic
as open triangles at their objective, designs that could not be evaluated as red crosses on the top
edge, so a reader sees what the infeasible region cost) with the best feasible objective so far.
Right: the best feasible objective after each iteration, on integer iteration ticks, with the
known optimum as a dashed line where the problem knows it. Both y axes carry the objective's unit.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from atom_sdk.artifacts import write_json

REPORT_FILE = "inverse_design_report.json"
PLOT_STEM = "convergence"
OPTIMUM_LABEL = "known optimum"


def unit_text(unit: str) -> str:
    """`` [deg]``, `` [dimensionless]`` for "1", nothing when the unit is unknown."""
    if not unit:
        return ""
    return " [dimensionless]" if unit == "1" else f" [{unit}]"


def convergence_figure(report: dict[str, Any]) -> Any:
    """The convergence figure of a report (a matplotlib ``Figure``; the caller saves and closes it)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    from matplotlib.ticker import MaxNLocator

    records = report["evaluations"]
    feas = [(r["index"] + 1, r["objective"]) for r in records if r["feasible"]]
    violating = [(r["index"] + 1, r["objective"]) for r in records if not r["feasible"] and r["objective"] is not None]
    failed = [r["index"] + 1 for r in records if r["objective"] is None]
    best_eval = report["convergence"]["per_evaluation"]
    best_iter = report["convergence"]["per_iteration"]
    language = report.get("objective_language") or {}
    unit = unit_text(language.get("objective_unit", ""))
    weighted = len(language.get("objectives", [])) > 1
    known = report.get("known_optimum") or {}
    optimum = known.get("objective")
    values = [v for _, v in feas + violating] + ([optimum] if optimum is not None else [])
    log = bool(values) and all(v > 0 for v in values)

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.8), constrained_layout=True)
    if feas:
        x, y = zip(*feas)
        ax1.scatter(x, y, s=12, color="tab:blue", alpha=0.6, label="feasible design")
    if violating:
        x, y = zip(*violating)
        ax1.scatter(x, y, s=16, marker="^", facecolors="none", edgecolors="tab:orange",
                    label=f"violates a constraint ({len(violating)})")
    if failed:
        top = max((v for _, v in feas + violating), default=1.0)
        ax1.scatter(failed, np.full(len(failed), top), marker="x", color="tab:red", s=20,
                    label=f"not evaluated ({len(failed)})")
    xs = [i + 1 for i, v in enumerate(best_eval) if v is not None]
    ax1.step(xs, [v for v in best_eval if v is not None], where="post", color="k", label="best feasible so far")
    ax1.set_xlabel("evaluation")
    name = "weighted objective" if weighted else "objective"
    ax1.set_ylabel(f"{name}{unit}\n(lower is better)")
    ax1.xaxis.set_major_locator(MaxNLocator(integer=True))
    its = [i + 1 for i, v in enumerate(best_iter) if v is not None]
    ax2.plot(its, [v for v in best_iter if v is not None], "o-", color="k", label="best feasible so far")
    if optimum is not None:
        ax2.axhline(optimum, color="tab:green", linestyle="--", label=f"{OPTIMUM_LABEL} ({optimum:.4g})")
    ax2.set_xlabel("iteration")
    ax2.set_ylabel(f"best feasible\n{name}{unit}")
    ax2.set_xlim(0.5, max(len(best_iter), 1) + 0.5)
    ax2.xaxis.set_major_locator(MaxNLocator(integer=True))
    if log:
        ax1.set_yscale("log")
        ax2.set_yscale("log")
    elif optimum is not None:  # keep the optimum line off the frame
        shown = [v for v in best_iter if v is not None] + [optimum]
        pad = 0.08 * ((max(shown) - min(shown)) or abs(optimum) or 1.0)
        ax2.set_ylim(min(shown) - pad, max(shown) + pad)
    ax1.legend(fontsize=8)
    ax2.legend(fontsize=8)
    problem = report["problem"]
    where = problem["world"] or "its analytical model"
    fig.suptitle(f"{problem['name']} on {where} — {report['backend']}, seed {report['seeds']['search']}, "
                 f"{report['evaluations_used']} evaluations", fontsize=10)
    return fig


def plot_convergence(report: dict[str, Any], png: Path, pdf: Path) -> None:
    import matplotlib.pyplot as plt

    fig = convergence_figure(report)
    fig.savefig(png, dpi=120)
    fig.savefig(pdf)
    plt.close(fig)


def write_report(report: dict[str, Any], out_dir: str | Path) -> dict[str, Path]:
    """Write the plot and then the JSON report (atomically) into ``out_dir``; returns the paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"report": out / REPORT_FILE, "plot_png": out / f"{PLOT_STEM}.png", "plot_pdf": out / f"{PLOT_STEM}.pdf"}
    plot_convergence(report, paths["plot_png"], paths["plot_pdf"])
    report["artifacts"] = {k: str(v) for k, v in paths.items()}
    write_json(paths["report"], report)
    return paths
