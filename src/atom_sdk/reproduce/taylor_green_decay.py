"""Taylor–Green decay rate: the analytical world and the D2Q9 LBM box against 2 nu |k|^2.

Why both: the analytical world must reproduce its closed form to round-off at any grid (a
check of the field output the agent sees), while the lattice-Boltzmann box has a genuine
discretisation error whose observed order under diffusive scaling (tau fixed, dt ~ dx^2)
must come out near 2.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from atom_sdk.reproduce.convergence import fitted_order, observed_order, richardson
from atom_sdk.reproduce.figures import pyplot, save_figure
from atom_sdk.reproduce.registry import REPRODUCTIONS, TG_CITATION, Published, comparison_row

BUDGETS: dict[str, dict[str, Any]] = {
    "quick": {"nus": (0.01, 0.05, 0.1), "grids": (8, 16, 32), "taus": (0.6, 0.8, 1.0), "lbm_n": (16, 32, 64)},
    "full": {"nus": (0.01, 0.05, 0.1), "grids": (8, 16, 32, 64), "taus": (0.6, 0.8, 1.0),
             "lbm_n": (16, 32, 64, 128)},
}


def analytical_rate(nu: float, n: int, k: int = 1, steps: int = 40) -> dict[str, float]:
    """Energy decay rate measured from the analytical world's velocity field on an n x n grid."""
    from atom_sdk.worlds.taylor_green import TaylorGreenWorld

    world = TaylorGreenWorld(grid=(n, n, 1), nu=nu, k=k, amplitude_jitter=0.0, max_episode_steps=steps + 1)
    world.reset(seed=0)

    def energy() -> float:
        vel = world.fields()["velocity"].astype(np.float64)
        return float(0.5 * np.mean(np.sum(vel**2, axis=0)))

    t, e = [0.0], [energy()]
    for _ in range(steps):
        world.step(np.zeros(1))
        t.append(world.diagnostics()["time"])
        e.append(energy())
    rate = -float(np.polyfit(np.asarray(t), np.log(np.asarray(e)), 1)[0])
    exact = 2.0 * nu * 2 * k**2
    return {"nu": nu, "n": n, "measured_rate": rate, "exact_rate": exact, "rel_error": rate / exact - 1.0}


def lbm_rate(n: int, tau: float) -> dict[str, float]:
    """LBM decay rate on an n x n periodic box, diffusive scaling from the n = 32 reference run."""
    from atom_sdk.worlds.lbm_validation import taylor_green_decay

    s = (n / 32) ** 2
    out = taylor_green_decay(n=n, tau=tau, u0=0.02 * 32 / n, steps=max(int(round(120 * s)), 8),
                             skip=max(int(round(20 * s)), 1))
    out["rel_error"] = out["measured_rate"] / out["exact_rate"] - 1.0
    return out


def lbm_convergence(taus, ns) -> tuple[list[dict], list[dict]]:
    rows = [lbm_rate(n, tau) for tau in taus for n in ns]
    orders = []
    for tau in taus:
        sub = sorted((r for r in rows if r["tau"] == tau), key=lambda r: -r["n"])  # fine first
        h = [1.0 / r["n"] for r in sub]
        ratio = [r["measured_rate"] / r["exact_rate"] for r in sub]
        p3 = observed_order(ratio[:3], h[:3])
        extrap = richardson(ratio[0], ratio[1], h[1] / h[0], p3) if p3 else None
        orders.append({"tau": tau, "observed_order_3grid": p3,
                       "fitted_order": fitted_order(h, [r["rel_error"] for r in sub]),
                       "finest_n": sub[0]["n"], "finest_rel_error": sub[0]["rel_error"],
                       "richardson_rate_ratio": extrap})
    return rows, orders


def _figure(lbm_rows: list[dict], path: Path) -> None:
    plt = pyplot()

    fig, ax = plt.subplots(figsize=(5, 3.8))
    for i, tau in enumerate(sorted({r["tau"] for r in lbm_rows})):
        sub = sorted((r for r in lbm_rows if r["tau"] == tau), key=lambda r: r["n"])
        n = np.array([r["n"] for r in sub], float)
        err = np.abs([r["rel_error"] for r in sub])
        ax.loglog(n, err, "o-", color=f"C{i}", label=f"tau = {tau:g}")
    n = np.array(sorted({r["n"] for r in lbm_rows}), float)
    ax.loglog(n, 0.5 * np.abs(lbm_rows[0]["rel_error"]) * (n / n[0]) ** -2, "k--", lw=1, label="slope -2")
    ax.set_xlabel("lattice size n [cells]")
    ax.set_ylabel("|decay-rate relative error| [1]")
    ax.set_title("D2Q9 Taylor–Green decay vs 2 nu |k|^2", fontsize=9)
    ax.legend(fontsize=7)
    save_figure(fig, path)


def run(out: Path, *, seeds: list[int], budget: str, executor: str) -> dict[str, Any]:
    """Deterministic (no seed dependence): analytical table, LBM table, orders and verdicts."""
    b = BUDGETS[budget]
    analytic = [analytical_rate(nu, n) for nu in b["nus"] for n in b["grids"]]
    lbm_rows, orders = lbm_convergence(b["taus"], b["lbm_n"])
    _figure(lbm_rows, out / "lbm_convergence.png")
    published = REPRODUCTIONS["taylor_green_decay"].published
    worst_fine = max(abs(o["finest_rel_error"]) for o in orders)
    p_vals = [o["fitted_order"] for o in orders if o["fitted_order"] is not None]
    p_mean = float(np.mean(p_vals)) if p_vals else None
    p_ci = (min(p_vals), max(p_vals)) if p_vals else None
    analytic_ref = Published("analytical-world decay-rate abs. relative error", 0.0, 0.0, 1e-4, "", TG_CITATION,
                             "closed-form world: must match to float32 round-off")
    rows = [
        comparison_row(analytic_ref, max(abs(r["rel_error"]) for r in analytic), n=len(analytic)),
        comparison_row(published[0], 100 * worst_fine, label="LBM abs. rate error, finest grid (worst tau)",
                       n=len(orders)),
        comparison_row(published[1], p_mean, p_ci, label="LBM observed order (log-log fit, mean over tau; "
                       "bracket: min-max)", n=len(p_vals)),
    ]
    rows[1]["unit"], rows[1]["paper_low"], rows[1]["paper_high"] = "%", 0.0, 1.0
    rows[1]["verdict"] = comparison_row(Published("", 0.0, 0.0, 1.0), 100 * worst_fine)["verdict"]
    return {
        "rows": rows, "figures": ["lbm_convergence.png"],
        "notes": ["Analytical world: 2D, k = 1, float32 fields, rate from a log-linear fit of E(t) over 40 steps.",
                  "LBM: D2Q9 TRT, periodic n x n box, diffusive scaling (steps ~ n^2, u0 ~ 1/n) from n = 32, "
                  "120 steps, u0 = 0.02; orders from the relative rate error vs h = 1/n."],
        "tables": [
            {"title": "Analytical world", "columns": ["nu", "n", "exact_rate", "measured_rate", "rel_error"],
             "rows": analytic},
            {"title": "D2Q9 LBM periodic box", "columns": ["tau", "n", "exact_rate", "measured_rate", "rel_error"],
             "rows": lbm_rows},
            {"title": "Observed order per tau", "columns": ["tau", "observed_order_3grid", "fitted_order",
                                                            "finest_n", "finest_rel_error",
                                                            "richardson_rate_ratio"], "rows": orders},
        ],
    }
