"""Summary figure of one run: reward, trust, the world's measured quantities, and the laws found.

Why each element: a reader must be able to judge the run from the picture alone, so every axis
names its quantity and unit (the world's ``diagnostic_units`` and ``reward_unit``), steps are
integer ticks, dotted lines mark where an episode ended (the world was reset there, so jumps are
not dynamics), the target the reward pursues is drawn beside the measured series, and where the
physics is known the true law is shown: the theta-beta-Mach shock angle of the wedge as a line,
the Taylor-Green mode ODE beside the discovered equation (``World.known_laws``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from atom_sdk.artifacts import read_jsonl

#: the measured series the diagnostics panel draws: (diagnostic, symbol on the axis)
SERIES = (("energy", "E"), ("drag", "C_D"), ("lift", "C_L"), ("shock_angle", "beta"))
#: reference series drawn beside a measured one: (diagnostic, legend text, line style)
REFERENCES = {
    "energy": (("target_energy", "target E (reward)", "--"),),
    "shock_angle": (("target_shock_angle", "target beta (reward)", "--"),
                    ("theory_shock_angle", "true law: theta-beta-Mach beta(M, theta)", ":")),
}
#: more episode boundaries than this are not drawn one by one (they would paint the panel grey)
MAX_BOUNDARIES = 60


def summary_figure(out_dir: Path, results: dict[str, Any]) -> list[Path]:
    """Write ``summary.png`` and ``summary.pdf`` of a finished run from its telemetry and results."""
    steps = [r for r in read_jsonl(out_dir / "telemetry.jsonl") if r.get("kind") == "step"]
    fig = build_summary_figure(steps, results)
    import matplotlib.pyplot as plt  # after build_summary_figure chose the backend

    paths = [out_dir / "summary.png", out_dir / "summary.pdf"]
    for path in paths:
        fig.savefig(path, dpi=110)
    plt.close(fig)
    return paths


def world_facts(results: dict[str, Any]) -> tuple[dict[str, Any], str, list[dict[str, Any]]]:
    """(diagnostic units, reward unit, true laws at the run's parameters) of the run's world; empty
    when the world is not registered here (a results file from elsewhere still plots)."""
    from atom_sdk.errors import AtomError
    from atom_sdk.worlds.registry import world_class

    world_id = (results.get("world") or {}).get("id", "")
    try:
        cls = world_class(world_id)
    except AtomError:
        return {}, "1", []
    units = dict(getattr(cls, "diagnostic_units", {}) or {})
    laws: list[dict[str, Any]] = []
    params = (((results.get("provenance") or {}).get("config") or {}).get("world") or {}).get("params", {})
    finder, model = getattr(cls, "known_laws", None), getattr(cls, "Params", None)
    if finder is not None and model is not None:
        try:
            laws = finder(model.model_validate(params))
        except ValueError:  # parameters this version no longer accepts: no true law to show
            laws = []
    return units, str(getattr(cls, "reward_unit", "1")), laws


def episode_starts(steps: list[dict[str, Any]]) -> list[int]:
    """The step of each telemetry line that begins a new episode (not the first)."""
    return [b["step"] for a, b in zip(steps, steps[1:])
            if "episode" in a and "episode" in b and b["episode"] != a["episode"]]


def _boundaries(ax: Any, starts: list[int]) -> None:
    """Dotted verticals half a step before each episode's first step; one legend entry."""
    if not starts or len(starts) > MAX_BOUNDARIES:
        return
    for i, s in enumerate(starts):
        ax.axvline(s - 0.5, color="0.55", lw=0.7, ls=":", label="episode boundary" if i == 0 else None)


def _steps_axis(ax: Any) -> None:
    from matplotlib.ticker import MaxNLocator

    ax.set_xlabel("agent step [1]")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def _unit(units: dict[str, Any], name: str) -> str:
    q = units.get(name)
    return getattr(q, "unit", "") or "1"


def _diagnostics_panel(ax: Any, steps: list[dict[str, Any]], units: dict[str, Any], starts: list[int]) -> bool:
    """The measured series with their targets and known-law lines; False when none was logged."""
    drawn: list[tuple[str, str]] = []
    for name, symbol in SERIES:
        series = [(r["step"], r["diagnostics"][name]) for r in steps if name in r.get("diagnostics", {})]
        if not series:
            continue
        (line,) = ax.plot(*zip(*series), label=symbol, lw=0.9)
        drawn.append((symbol, _unit(units, name)))
        for ref, text, style in REFERENCES.get(name, ()):
            values = [(r["step"], r["diagnostics"][ref]) for r in steps if ref in r.get("diagnostics", {})]
            if values:
                ax.plot(*zip(*values), ls=style, lw=1.2, color=line.get_color(), alpha=0.8, label=text,
                        drawstyle="steps-post")
    if not drawn:
        return False
    unit_set = {u for _, u in drawn}
    symbols = ", ".join(s for s, _ in drawn)
    ax.set_ylabel(f"{symbols} [{unit_set.pop()}]" if len(unit_set) == 1
                  else ", ".join(f"{s} [{u}]" for s, u in drawn))
    _boundaries(ax, starts)
    ax.legend(loc="best", fontsize=7)
    ax.set_title("measured quantities, targets and known laws")
    return True


def law_text(laws: list[dict[str, Any]], true_laws: list[dict[str, Any]]) -> str:
    """Discovered laws (with R²), then each known true law and, term by term, found vs true coefficients."""
    lines = ["discovered laws:"]
    lines += [f"  {law.get('equation', law)}" + (f"   (R² {law['r2']:.4f})" if law.get("r2") is not None else "")
              for law in laws] or ["  no accepted law"]
    for truth in true_laws:
        lines += ["", "true law:", f"  {truth['equation']}", f"  source: {truth.get('source', 'known physics')}"]
        found = next((law for law in laws if law.get("target") == truth.get("target")), None)
        if found is None:
            continue
        coef = dict(zip(found.get("terms", []), found.get("coefficients", [])))
        std = dict(zip(found.get("terms", []), found.get("coefficient_std", [])))
        for term, true_value in truth.get("coefficients", {}).items():
            value = coef.get(term)
            if value is None:
                lines.append(f"  {term}: missing (true {true_value:.4g})")
                continue
            rel = abs(value - true_value) / abs(true_value) if true_value else float("nan")
            spread = f" ± {std[term]:.2g}" if std.get(term) is not None else ""
            lines.append(f"  {term}: found {value:.6g}{spread}, true {true_value:.6g} (rel. error {rel:.2g})")
    return "\n".join(lines)


def build_summary_figure(steps: list[dict[str, Any]], results: dict[str, Any]) -> Any:
    """The 2x2 summary as a matplotlib figure (Agg): reward, trust, measured quantities, laws."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    units, reward_unit, true_laws = world_facts(results)
    starts = episode_starts(steps)
    x = [r["step"] for r in steps]
    fig, axes = plt.subplots(2, 2, figsize=(11, 7), constrained_layout=True)

    ax = axes[0, 0]
    ax.plot(x, [r["reward"] for r in steps], lw=0.8, label="reward")
    ax.set(title="reward per step", ylabel=f"reward [{reward_unit}]")
    _steps_axis(ax)
    _boundaries(ax, starts)
    if starts:
        ax.legend(loc="best", fontsize=7)

    ax = axes[0, 1]
    trust = [(r["step"], r["trust"]) for r in steps if r.get("trust") is not None]
    if trust:
        ax.plot(*zip(*trust), color="tab:green", label="trust")
        ax.set_ylim(-0.02, 1.02)
        ax.set(title="theory trust", ylabel="trust [1]")
        _steps_axis(ax)
        _boundaries(ax, starts)
    else:
        ax.axis("off")
        ax.text(0.5, 0.5, "no scientist in this variant: no theory trust", ha="center", va="center",
                transform=ax.transAxes)

    ax = axes[1, 0]
    if _diagnostics_panel(ax, steps, units, starts):
        _steps_axis(ax)
    else:
        ax.axis("off")
        ax.text(0.5, 0.5, "no measured quantity in the telemetry", ha="center", va="center", transform=ax.transAxes)

    ax = axes[1, 1]
    ax.axis("off")
    ax.text(0.0, 1.0, law_text(results.get("laws") or [], true_laws), va="top", family="monospace", fontsize=8,
            wrap=True)
    world = results.get("world") or {}
    fig.suptitle(f"{results.get('name')} - {world.get('id')} - {(results.get('variant') or {}).get('name')}")
    return fig
