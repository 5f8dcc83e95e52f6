"""Declared reproductions: what is run (config, seeds, budget) and what it is compared with.

Why declared data rather than scripts: ``atom reproduce list`` and the README table must be
able to show every reproduction, its budgets and the published numbers with their full
citation without running anything; each module only adds a ``run(out, seeds, budget,
executor)`` function that returns the comparison rows.
"""

from __future__ import annotations

import importlib
import math
from dataclasses import asdict, dataclass, field
from typing import Any

from atom_sdk.errors import ConfigError

BUDGETS = ("quick", "full")


@dataclass(frozen=True)
class Published:
    """One published figure: a value with its accepted range (or uncertainty) and its source."""

    quantity: str
    value: float
    low: float
    high: float
    unit: str = ""
    citation: str = ""
    note: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Reproduction:
    """A published result and how this SDK re-runs it."""

    name: str
    title: str
    citation: str
    module: str  # atom_sdk.reproduce.<module> with run(out, seeds, budget, executor) -> dict
    budgets: dict[str, str]  # budget -> what it runs and roughly how long it takes
    default_seeds: tuple[int, ...] = (0,)
    published: tuple[Published, ...] = field(default_factory=tuple)

    def runner(self):
        return importlib.import_module(f"atom_sdk.reproduce.{self.module}").run


RABAULT_CITATION = ("Rabault, J., Kuchta, M., Jensen, A., Réglade, U. & Cerardi, N. (2019). Artificial neural "
                    "networks trained through deep reinforcement learning discover control strategies for active "
                    "flow control. J. Fluid Mech. 865, 281-302. doi:10.1017/jfm.2019.62")
ST_CITATION = ("Schäfer, M. & Turek, S. (1996). Benchmark computations of laminar flow around a cylinder. In: "
               "Flow Simulation with High-Performance Computers II, Notes on Numerical Fluid Mechanics 52, "
               "547-566, Vieweg. (DFG benchmark 2D-2, Re = 100)")
TG_CITATION = ("Taylor, G. I. & Green, A. E. (1937). Mechanism of the production of small eddies from large ones. "
               "Proc. R. Soc. Lond. A 158, 499-521 (exact decay E(t) = E0 exp(-2 nu |k|^2 t))")
BRUNTON_CITATION = ("Brunton, S. L., Proctor, J. L. & Kutz, J. N. (2016). Discovering governing equations from "
                    "data by sparse identification of nonlinear dynamical systems. PNAS 113(15), 3932-3937. "
                    "doi:10.1073/pnas.1517384113; mean-field model: Noack, B. R. et al. (2003), J. Fluid Mech. "
                    "497, 335-363")
TGV3D_CITATION = ("Brachet, M. E., Meiron, D. I., Orszag, S. A., Nickel, B. G., Morf, R. H. & Frisch, U. (1983). "
                  "Small-scale structure of the Taylor–Green vortex. J. Fluid Mech. 130, 411-452; van Rees, W. M., "
                  "Leonard, A., Pullin, D. I. & Koumoutsakos, P. (2011). A comparison of vortex and pseudo-spectral "
                  "methods for the simulation of periodic vortical flows at high Reynolds numbers. J. Comput. Phys. "
                  "230, 2794-2805")
NACA_CITATION = ("Ames Research Staff (1953). Equations, tables, and charts for compressible flow. NACA Report "
                 "1135 (theta-beta-Mach relation, Rankine-Hugoniot jumps, detachment angle)")

REPRODUCTIONS: dict[str, Reproduction] = {
    "rabault2019": Reproduction(
        name="rabault2019",
        title="DRL active flow control of a cylinder with two synthetic jets (Re = 100): drag reduction",
        citation=RABAULT_CITATION,
        module="rabault2019",
        budgets={"quick": "D = 10 cells (220 x 41), 64 PPO steps per run, 3 seeds x 2 variants; ~5 min on 2 cores",
                 "full": "D = 20 cells (440 x 82, as the world's default), 6000 PPO steps per run, 3 seeds x 2 "
                         "variants; 5 min on one H200 GPU, hours on 2 CPU cores (see docs/REPRODUCTIONS.md)"},
        default_seeds=(0, 1, 2),
        published=(
            Published("drag reduction", 8.0, 7.0, 9.0, "%", RABAULT_CITATION,
                      "mean C_D from about 3.205 (uncontrolled) to about 2.95 (controlled): ~8%"),
            Published("uncontrolled mean C_D", 3.205, 3.15, 3.26, "", RABAULT_CITATION,
                      "Re = 100 confined cylinder; range = +-1.7% around the paper's value"),
            Published("jet mass-flow fraction", 0.5, 0.0, 1.0, "%", RABAULT_CITATION,
                      "|Q_jet| about 0.5% of the inflow through the cylinder section; range: below 1%"),
        ),
    ),
    "schafer_turek_2d2": Reproduction(
        name="schafer_turek_2d2",
        title="DFG benchmark 2D-2 (Re = 100 confined cylinder): grid convergence and Richardson extrapolation",
        citation=ST_CITATION,
        module="schafer_turek",
        budgets={"quick": "D = 8, 12, 18 cells at tau 0.5144, and D = 12 at half speed and moved half a cell, "
                          "50 convective times each, TRT with a non-reflecting outlet; < 1 min on 2 cores",
                 "full": "D = 40, 60, 80 cells at fixed tau 0.52 (inlet-peak Mach 0.043/0.029/0.022), each at two "
                         "cylinder placements (averaged), and D = 40 at half speed, 50 convective times each, TRT "
                         "with a non-reflecting outlet; ~25 min on 2 CPU cores (native channel kernel)"},
        published=(
            Published("C_D,max", 3.23, 3.22, 3.24, "", ST_CITATION),
            Published("C_L,max", 1.00, 0.99, 1.01, "", ST_CITATION),
            Published("St", 0.300, 0.295, 0.305, "", ST_CITATION),
        ),
    ),
    "taylor_green_decay": Reproduction(
        name="taylor_green_decay",
        title="Taylor–Green vortex energy decay rate: analytical world and D2Q9 LBM convergence",
        citation=TG_CITATION,
        module="taylor_green_decay",
        budgets={"quick": "3 viscosities x 3 resolutions (n = 16, 32, 64); < 1 min",
                 "full": "3 viscosities x 4 resolutions (n = 16..128); ~2 min"},
        published=(
            Published("LBM decay-rate relative error (finest grid)", 0.0, 0.0, 0.01, "", TG_CITATION,
                      "analytical rate 4 nu k^2 (2D, |k|^2 = 2k^2); accepted: within 1%"),
            Published("LBM observed order", 2.0, 1.8, 2.2, "", TG_CITATION,
                      "lattice Boltzmann is second order in space under diffusive scaling"),
        ),
    ),
    "taylor_green_3d": Reproduction(
        name="taylor_green_3d",
        title="3D Taylor–Green vortex at Re = 1600: kinetic-energy dissipation rate (D3Q19 recursive-regularised)",
        citation=TGV3D_CITATION,
        module="taylor_green_3d",
        budgets={"quick": "32^3 box to t = 12 L/V0 (1230 lattice steps); about 15 s on 2 cores; under-resolved: "
                          "the peak comes two convective times early",
                 "full": "128^3 box to t = 20 L/V0 at V0 = 0.05 (8159 lattice steps, 1.7e10 cell updates); meant "
                         "for one GPU (pure-JAX kernels; benchmarks/gpu_validation.py); about 2.1-2.3 h on 2 CPU "
                         "cores"},
        published=(
            Published("peak dissipation rate -dE/dt", 0.0127, 0.01143, 0.01397, "V0^3/L", TGV3D_CITATION,
                      "DNS peak; range +-10% (this SDK's tolerance, the same at both budgets: the quick 32^3 and "
                      "the full 128^3 box; resolved DNS agree to about 2%)"),
            Published("time of peak dissipation", 9.0, 8.5, 9.5, "L/V0", TGV3D_CITATION,
                      "DNS peak near t = 9; range +-0.5 (this SDK's tolerance, the same at both budgets)"),
        ),
    ),
    "oblique_shock": Reproduction(
        name="oblique_shock",
        title="Oblique shocks on a wedge: shock angle and pressure ratio vs theta-beta-Mach / Rankine–Hugoniot",
        citation=NACA_CITATION,
        module="oblique_shock",
        budgets={"quick": "Mach {1.5, 2, 3} x wedge {5..30 deg} on 64 x 48; ~1 min",
                 "full": "Mach {1.5, 2, 2.5, 3, 4} x wedge {5..35 deg} on 64 x 48 and 128 x 96; ~10 min"},
        published=(
            Published("max shock-angle error", 0.0, 0.0, 1.0, "deg", NACA_CITATION, "tolerance 1 degree"),
            Published("max pressure-ratio error", 0.0, 0.0, 3.0, "%", NACA_CITATION, "tolerance 3%"),
        ),
    ),
    "brunton2016_wake": Reproduction(
        name="brunton2016_wake",
        title="Sparse model of the Re = 100 cylinder wake in two POD modes and the shift mode (mean-field model)",
        citation=BRUNTON_CITATION,
        module="brunton2016",
        budgets={"quick": "D = 8 cells in a 12 D x 24 D free-slip domain (192 x 96), base flow by SFD (60 D/U), 220 "
                           "D/U free run, two 30 D/U restarts off the manifold (off the cycle, from its mean flow); "
                           "~11 s on 2 CPU cores (native channel kernel)",
                 "full": "D = 16 cells in a 16 D x 30 D free-slip domain (480 x 256), 100 D/U SFD, 280 D/U free run, "
                          "two 40 D/U restarts; 1.1e10 cell updates, ~1 min on 2 CPU cores (native channel kernel)"},
        # (quantity, value, low, high, unit, note); tolerances of the issue or of this SDK, not the paper's
        published=tuple(Published(q, v, lo, hi, unit, BRUNTON_CITATION, note) for q, v, lo, hi, unit, note in (
            ("mean-field terms missing", 0.0, 0.0, 0.0, "",
             "a1, a2, a1*a_shift | a1, a2, a2*a_shift | a_shift, a1^2, a2^2 (Noack 2003)"),
            ("terms outside the mean-field structure", 0.0, 0.0, 0.0, "",
             "besides the frequency shift (a2*a_shift in da1/dt, a1*a_shift in da2/dt)"),
            ("limit-cycle frequency error", 0.0, -2.0, 2.0, "%",
             "model against the shedding frequency of the simulated lift; tolerance set by the issue"),
            ("limit-cycle amplitude error", 0.0, -5.0, 5.0, "%",
             "model against the simulation's POD amplitude; tolerance set by the issue"),
            ("paraboloid R^2", 1.0, 0.95, 1.0, "",
             "slow manifold a_shift = c0 + c (a1^2 + a2^2); accepted above 0.95"),
            ("transient timing error", 0.0, -10.0, 10.0, "%",
             "time from 2 % to half the cycle amplitude, model from the same start; accepted within 10%"),
            ("off-manifold transient timing error", 0.0, -10.0, 10.0, "%",
             "LBM restarted at the cycle amplitude with SFD's shift; time for a_shift to cover half its way "
             "to the cycle's value, model vs LBM"),
        )),
    ),
}


def list_reproductions() -> list[Reproduction]:
    return [REPRODUCTIONS[k] for k in sorted(REPRODUCTIONS)]


def get_reproduction(name: str) -> Reproduction:
    try:
        return REPRODUCTIONS[name]
    except KeyError:
        raise ConfigError(f"unknown reproduction '{name}'; choose one of: {', '.join(sorted(REPRODUCTIONS))} "
                          "(see 'atom reproduce list')") from None


def verdict(value: float | None, low: float, high: float, *, ci: tuple[float | None, float | None] | None = None,
            rel_to: float | None = None) -> dict[str, Any]:
    """'reproduced' when our point value lies in the published [low, high]; otherwise the gap.

    The gap is the signed distance to the nearest end of the range (positive: above it) and,
    relative to ``rel_to`` (default: the range centre), in percent. Whether our 95% CI overlaps
    the range is reported too, so "not reproduced, but not excluded" stays visible.
    """
    if value is None or not math.isfinite(value):
        return {"status": "not reproduced", "reproduced": False, "gap": None, "gap_percent": None,
                "ci_overlaps_range": None, "text": "not reproduced: no finite value was measured"}
    inside = low <= value <= high
    gap = 0.0 if inside else (value - high if value > high else value - low)
    ref = rel_to if rel_to is not None else 0.5 * (low + high)
    gap_pct = 100.0 * gap / abs(ref) if ref else None
    overlaps = None
    if ci is not None and ci[0] is not None and ci[1] is not None:
        overlaps = bool(ci[0] <= high and ci[1] >= low)
    if inside:
        text = f"reproduced: {value:.4g} lies in [{low:.4g}, {high:.4g}]"
    else:
        side = "above" if gap > 0 else "below"
        pct = f" ({abs(gap_pct):.1f}% of the reference)" if gap_pct is not None else ""
        text = f"not reproduced: {value:.4g} is {abs(gap):.3g} {side} the range [{low:.4g}, {high:.4g}]{pct}"
        if overlaps:
            text += "; the 95% CI still overlaps the range"
    return {"status": "reproduced" if inside else "not reproduced", "reproduced": inside, "gap": gap,
            "gap_percent": gap_pct, "ci_overlaps_range": overlaps, "text": text}


def comparison_row(published: Published, value: float | None, ci: tuple[float | None, float | None] | None = None,
                   *, label: str | None = None, n: int | None = None, note: str = "") -> dict[str, Any]:
    """One report row: our value (with CI) next to the paper's, and the verdict."""
    lo, hi = (ci if ci is not None else (None, None))
    return {"quantity": label or published.quantity, "unit": published.unit, "ours": value, "ci_low": lo,
            "ci_high": hi, "n": n, "paper": published.value, "paper_low": published.low,
            "paper_high": published.high, "citation": published.citation, "paper_note": published.note,
            "note": note, "verdict": verdict(value, published.low, published.high, ci=ci)}


def run_reproduction(name: str, out: str, *, seeds: list[int] | None = None, budget: str = "quick",
                     executor: str = "local", overwrite: bool = False) -> dict[str, Any]:
    """Run a declared reproduction and write report.json, report.md and figures into ``out``.

    An existing ``out`` made by atom is replaced only with ``overwrite``; one atom did not make
    is never touched.
    """
    from pathlib import Path

    from atom_sdk.reproduce.report import write_report

    repro = get_reproduction(name)
    if budget not in BUDGETS:
        raise ConfigError(f"unknown budget '{budget}'; use one of: {', '.join(BUDGETS)}")
    if executor not in ("local", "ray", "serial"):
        raise ConfigError(f"unknown executor '{executor}'; use local, ray or serial")
    seeds = list(seeds) if seeds else list(repro.default_seeds)
    if len(set(seeds)) != len(seeds) or any(s < 0 for s in seeds):
        raise ConfigError(f"seeds must be distinct non-negative integers, got {seeds}")
    from atom_sdk.workspace import claim_output, output_folder, plan_output

    plan = plan_output(output_folder(out, "--out"), "reproduction", overwrite=overwrite)
    out_path = claim_output(plan, replace=overwrite)
    import time

    started = time.perf_counter()
    body = repro.runner()(out_path, seeds=seeds, budget=budget, executor=executor)
    body["wall_seconds"] = time.perf_counter() - started
    return write_report(out_path, repro, body, seeds=seeds, budget=budget, executor=executor)
