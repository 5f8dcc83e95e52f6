"""Inverse-design artifacts: the JSON report and the convergence plot (PNG + PDF).

The plot shows every evaluation (infeasible ones as red crosses on the top edge, so a reader sees
how much of the budget the infeasible region cost) with the best-so-far curve, and the best per
iteration.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from atom_sdk.artifacts import write_json

REPORT_FILE = "inverse_design_report.json"
PLOT_STEM = "convergence"


def plot_convergence(report: dict[str, Any], png: Path, pdf: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    records = report["evaluations"]
    feas = [(r["index"] + 1, r["objective"]) for r in records if r["feasible"]]
    infeas = [r["index"] + 1 for r in records if not r["feasible"]]
    best_eval = report["convergence"]["per_evaluation"]
    best_iter = report["convergence"]["per_iteration"]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.8), constrained_layout=True)
    positive = all(v is None or v > 0 for _, v in feas) and feas
    if feas:
        x, y = zip(*feas)
        ax1.scatter(x, y, s=12, color="tab:blue", alpha=0.6, label="feasible design")
    if infeas:
        top = max((v for _, v in feas), default=1.0)
        ax1.scatter(infeas, np.full(len(infeas), top), marker="x", color="tab:red", s=20,
                    label=f"infeasible ({len(infeas)})")
    xs = [i + 1 for i, v in enumerate(best_eval) if v is not None]
    ax1.step(xs, [v for v in best_eval if v is not None], where="post", color="k", label="best so far")
    ax1.set_xlabel("evaluation")
    ax1.set_ylabel("objective (lower is better)")
    if positive:
        ax1.set_yscale("log")
    ax1.legend(fontsize=8)
    its = [i + 1 for i, v in enumerate(best_iter) if v is not None]
    ax2.plot(its, [v for v in best_iter if v is not None], "o-", color="k", label="best so far")
    ax2.set_xlabel("iteration")
    ax2.set_ylabel("best objective")
    if positive:
        ax2.set_yscale("log")
    problem = report["problem"]
    fig.suptitle(f"{problem['name']} on {problem['world']} — {report['backend']}, seed {report['seeds']['search']}, "
                 f"{report['evaluations_used']} evaluations", fontsize=10)
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
