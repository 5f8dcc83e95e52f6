"""Dashboard figures and the JSON-only report rebuild behind ``atom ablate plot``.

Why from JSON alone: figures and claims must be reproducible by anyone holding
``runs.json`` and ``summary.json``, without re-running simulations. Everything random is
driven by ``bootstrap_seed``, so the same inputs and seed give byte-identical
significance and plot-data JSON.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping
from pathlib import Path

from atom_sdk.errors import ArtifactError
from atom_sdk.evidence.claims import (
    BASELINE,
    claims_markdown,
    collect_values,
    evaluate,
    json_safe,
    summarize,
    write_text_atomic,
)

PLOTS_SCHEMA = "atom.platform_ablation_plots/1"
_COLORS = {"better": "#2a9d4b", "worse": "#c0392b", "no_evidence": "#7f8c8d",
           "insufficient_seeds": "#bdc3c7"}
#: unit of each directed metric (returns are sums of the world's per-step reward)
METRIC_UNITS: dict[str, str] = {
    "mean_return": "sum of rewards", "final_return": "sum of rewards", "mean_reward": "reward",
    "final_trust": "1", "mean_trust": "1", "mean_drag": "1", "energy_error": "1", "mean_energy_error": "1",
    "safety_interventions": "count", "diverged_episodes": "count",
}
#: metrics that count events: integer ticks on their value axes
COUNT_METRICS = frozenset({"safety_interventions", "diverged_episodes"})
#: figure geometry (inches): one row per metric with data, four columns
ROW_HEIGHT, HEAD_HEIGHT, WIDTH = 2.35, 0.7, 16.0


def _dump(path: Path, obj: object) -> None:
    write_text_atomic(path, json.dumps(json_safe(obj), indent=2) + "\n")


def _rl_panel(rl: Mapping | None, metric: str) -> dict:
    """The RL-grade numbers of one metric from the summary's ``rl_statistics`` (empty when absent)."""
    sec = ((rl or {}).get("metrics") or {}).get(metric)
    if not sec:
        return {"iqm": [], "p_improvement": [], "profile": None}
    rows = sec["variants"]
    return {
        "iqm": [{"variant": v, "n": r["n"], "iqm": r["iqm"], "ci": r["iqm_ci"]} for v, r in rows.items()],
        "p_improvement": [{"variant": v, "n": r["n"], "n_baseline": r["n_baseline"],
                           "p": r["p_improvement"], "ci": r["p_improvement_ci"]}
                          for v, r in rows.items() if r["p_improvement"] is not None],
        "profile": sec["profiles"],
    }


def plot_data(summary: Mapping, significance: Mapping) -> dict:
    """The numbers behind every panel (written as ``platform_ablation_plots.json``).

    Only metrics with a declared direction are drawn: without one, "better" is undefined and
    the number (steps, updates, ...) is bookkeeping, not evidence; it stays in ``summary.json``.
    Each panel carries its metric's ``unit`` (``METRIC_UNITS``).
    """
    panels = []
    for metric, direction in summary["metrics"].items():
        if direction not in ("higher", "lower"):
            continue
        bars = [{k: r[k] for k in ("variant", "n", "mean", "ci_low", "ci_high", "ci_method")}
                for r in summary["rows"] if r["metric"] == metric]
        diffs = [{k: r[k] for k in ("id", "variant", "n", "mean_diff", "ci_low", "ci_high",
                                    "p_holm", "decision")}
                 for r in significance["records"] if r["metric"] == metric]
        panels.append({"metric": metric, "direction": direction, "unit": METRIC_UNITS.get(metric, "?"),
                       "bars": bars, "diffs": diffs,
                       **_rl_panel(summary.get("rl_statistics"), metric)})
    return {"schema": PLOTS_SCHEMA, "baseline": significance["baseline"], "panels": panels}


def metric_label(metric: str) -> str:
    """``metric [unit]`` (``[?]`` for a metric whose unit is not declared in ``METRIC_UNITS``)."""
    return f"{metric} [{METRIC_UNITS.get(metric, '?')}]"


def _intervals(ax, labels: list[str], points: list[float], cis: list, colors: list[str], *,
               marker: str = "o", offset: float = 0.0, label: str | None = None) -> None:
    """Point estimates with their interval as error bars (no bars from zero: returns can be negative)."""
    for i, (y, ci, c) in enumerate(zip(points, cis, colors, strict=True)):
        err = [[y - ci[0]], [ci[1] - y]] if ci is not None and ci[0] is not None else None
        ax.errorbar([i + offset], [y], yerr=err, fmt=marker, capsize=3, color=c,
                    label=label if i == 0 else None)
    ax.set_xticks(list(range(len(labels))), labels, rotation=30, ha="right", fontsize=7)
    ax.set_xlim(-0.6, max(len(labels), 1) - 0.4)


def _nlabel(variant: str, n: int) -> str:
    return f"{variant}\nn={n}"


def _integer(axis) -> None:
    from matplotlib.ticker import MaxNLocator

    axis.set_major_locator(MaxNLocator(integer=True))


def _present(panel: Mapping) -> dict[str, bool]:
    """Which of the four panels of a metric have something to draw."""
    prof = panel.get("profile") or {}
    return {"intervals": any(b["mean"] is not None for b in panel["bars"]),
            "diffs": any(d["mean_diff"] is not None for d in panel["diffs"]),
            "p_improvement": bool(panel.get("p_improvement")),
            "profile": bool(prof.get("tau")) and any(v.get("fraction") is not None
                                                     for v in (prof.get("variants") or {}).values())}


def _draw_intervals(ax, panel: Mapping, base: str, legend: bool) -> None:
    bars = [b for b in panel["bars"] if b["mean"] is not None]
    colors = ["#34495e" if b["variant"] == base else "#2e86c1" for b in bars]
    _intervals(ax, [_nlabel(b["variant"], b["n"]) for b in bars], [b["mean"] for b in bars],
               [[b["ci_low"], b["ci_high"]] if b["ci_low"] is not None else None for b in bars],
               colors, offset=-0.12, label="mean (BCa 95% CI)")
    iq = {r["variant"]: r for r in panel.get("iqm", []) if r["iqm"] is not None}
    first = True
    for i, b in enumerate(bars):
        r = iq.get(b["variant"])
        if r is not None:
            err = [[r["iqm"] - r["ci"][0]], [r["ci"][1] - r["iqm"]]] if r["ci"] else None
            ax.errorbar([i + 0.12], [r["iqm"]], yerr=err, fmt="s", capsize=3, color="#e67e22",
                        label="IQM (stratified bootstrap 95% CI)" if first else None)
            first = False
    ax.set_ylabel(metric_label(panel["metric"]), fontsize=8)
    arrow = {"higher": "higher is better", "lower": "lower is better"}.get(panel["direction"], "")
    ax.set_title(f"{panel['metric']} ({arrow})", fontsize=9)
    if legend:
        ax.legend(fontsize=6, loc="best")


def _draw_diffs(ax, panel: Mapping, base: str) -> None:
    diffs = [d for d in panel["diffs"] if d["mean_diff"] is not None]
    _intervals(ax, [_nlabel(d["variant"], d["n"]) for d in diffs], [d["mean_diff"] for d in diffs],
               [[d["ci_low"], d["ci_high"]] if d["ci_low"] is not None else None for d in diffs],
               [_COLORS[d["decision"]] for d in diffs])
    ax.axhline(0.0, color="black", lw=0.8, label="no difference")
    ax.set_ylabel(f"Δ {metric_label(panel['metric'])}", fontsize=8)
    ax.set_title(f"seed-paired difference vs {base}", fontsize=9)


def _draw_p_improvement(ax, panel: Mapping, base: str) -> None:
    pis = panel["p_improvement"]
    _intervals(ax, [_nlabel(p["variant"], p["n"]) for p in pis], [p["p"] for p in pis],
               [p["ci"] for p in pis], ["#8e44ad"] * len(pis))
    ax.axhline(0.5, color="black", lw=0.8, ls="--", label="0.5: no difference")
    ax.set_ylim(-0.02, 1.02)
    ax.set_ylabel(f"P(better than {base}) [1]", fontsize=8)
    ax.set_title(f"probability of improvement over {base}", fontsize=9)


def _draw_profile(ax, panel: Mapping, base: str, colours: Mapping[str, object], legend: bool) -> None:
    prof = panel["profile"]
    taus = prof["tau"]
    for v, pr in prof["variants"].items():
        if pr.get("fraction") is None:
            continue
        ax.plot(taus, pr["fraction"], color=colours.get(v), lw=1.4, label=f"{v} (n={pr['n']})",
                ls="-" if v != base else "--", drawstyle="steps-post")
        ax.fill_between(taus, pr["ci_low"], pr["ci_high"], color=colours.get(v), alpha=0.15, lw=0, step="post")
    word = "above" if prof.get("counts", "above") == "above" else "below"
    ax.set_xlabel(f"threshold tau on {metric_label(panel['metric'])}", fontsize=8)
    ax.set_ylabel(f"fraction of runs {word} tau [1]", fontsize=8)
    ax.set_ylim(-0.02, 1.02)
    ax.set_title("performance profile (95% bands)", fontsize=9)
    if legend:
        ax.legend(fontsize=6, loc="best")


def dashboard_figure(data: Mapping):
    """The dashboard as a matplotlib figure and the axes by role, one row per directed metric.

    Columns: (1) mean and IQM of each variant with 95 % intervals (BCa for the mean, stratified
    bootstrap for the IQM), n under each name; (2) seed-paired mean difference vs the baseline,
    coloured by the Holm-corrected decision; (3) probability of improvement over the baseline
    with its interval, 0.5 = no difference; (4) performance profiles with bootstrap bands.
    Compact: a metric without any finite value gets no row, a panel with nothing to draw is not
    created (its role is None) and a column no metric fills is left out (a summary without
    ``rl_statistics`` has two), so no axes is empty; the height is ``HEAD_HEIGHT + ROW_HEIGHT * rows``
    inches. Counts get integer ticks; every axis names its unit.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    base = data["baseline"]
    panels = [(p, _present(p)) for p in data["panels"]]
    dropped = [p["metric"] for p, has in panels if not any(has.values())]
    panels = [(p, has) for p, has in panels if any(has.values())]
    if not panels:
        fig, ax = plt.subplots(figsize=(6, 1.2))
        ax.axis("off")
        ax.text(0.5, 0.5, "no metric with a declared direction and finite values", ha="center", va="center")
        return fig, []
    variants = list(dict.fromkeys(b["variant"] for p, _ in panels for b in p["bars"]))
    cmap = plt.get_cmap("tab10")
    colours = {v: cmap(k % 10) for k, v in enumerate(variants)}
    kinds = [k for k in ("intervals", "diffs", "p_improvement", "profile") if any(has[k] for _, has in panels)]
    fig = plt.figure(figsize=(max(WIDTH * len(kinds) / 4, 8.0), HEAD_HEIGHT + ROW_HEIGHT * len(panels)),
                     layout="constrained")
    grid = fig.add_gridspec(len(panels), len(kinds))
    roles: list[dict] = []
    for r, (panel, has) in enumerate(panels):
        role: dict = {"metric": panel["metric"], "intervals": None, "diffs": None, "p_improvement": None,
                      "profile": None}
        for c, kind in enumerate(kinds):
            role[kind] = fig.add_subplot(grid[r, c]) if has[kind] else None
        if role["intervals"] is not None:
            _draw_intervals(role["intervals"], panel, base, legend=r == 0)
        if role["diffs"] is not None:
            _draw_diffs(role["diffs"], panel, base)
        if role["p_improvement"] is not None:
            _draw_p_improvement(role["p_improvement"], panel, base)
        if role["profile"] is not None:
            _draw_profile(role["profile"], panel, base, colours, legend=r == 0)
        if panel["metric"] in COUNT_METRICS:
            for kind in ("intervals", "diffs"):
                if role[kind] is not None:
                    _integer(role[kind].yaxis)
            if role["profile"] is not None:
                _integer(role["profile"].xaxis)
        if not has["diffs"] and not has["p_improvement"] and role["intervals"] is not None:
            role["intervals"].set_title(role["intervals"].get_title() + f"\n(no {base} values: no comparison)",
                                        fontsize=8)
        roles.append(role)
    n = max((b["n"] for p, _ in panels for b in p["bars"]), default=0)
    head = (f"ablation vs {base}: {len(variants)} variants, up to n={n} seeds each\n95% CIs (mean: BCa, IQM: "
            "stratified bootstrap); differences: green better, red worse, grey n.s. (Holm)")
    if dropped:
        head += f"\nno finite values, not drawn: {', '.join(dropped)}"
    fig.suptitle(head, fontsize=9)
    return fig, roles


def plot_dashboard(data: Mapping, out_dir: Path) -> list[Path]:
    """Write the dashboard (:func:`dashboard_figure`) as PNG and PDF."""
    fig, _ = dashboard_figure(data)
    import matplotlib.pyplot as plt  # after dashboard_figure chose the backend

    paths = [out_dir / "platform_ablation_dashboard.png", out_dir / "platform_ablation_dashboard.pdf"]
    for p in paths:
        fig.savefig(p, dpi=120, metadata={"CreationDate": None} if p.suffix == ".pdf" else None)
    plt.close(fig)
    return paths


def summary_csv(summary: Mapping) -> str:
    buf = io.StringIO()
    cols = ["variant", "metric", "n", "mean", "std", "ci_low", "ci_high", "ci_method", "ci_note"]
    w = csv.DictWriter(buf, fieldnames=cols, lineterminator="\n")
    w.writeheader()
    for r in summary["rows"]:
        w.writerow({c: ("" if r[c] is None else r[c]) for c in cols})
    return buf.getvalue()


def write_evidence(runs_doc: Mapping, summary: Mapping, out: Path, *, n_bootstrap: int,
                   bootstrap_seed: int) -> dict:
    """Significance, claims and figures from run records plus a summary."""
    variants = runs_doc.get("variants") or summary["variants"]
    baseline = runs_doc.get("baseline") or summary.get("baseline") or BASELINE
    values = collect_values(runs_doc["runs"])
    metrics = runs_doc.get("claim_metrics")
    if metrics is not None:  # pre-declared family: keep only metrics that have data
        metrics = [m for m in metrics if any(m in per for per in values.values())]
    sig = evaluate(values, variants=variants, baseline=baseline, metrics=metrics,
                   n_resamples=n_bootstrap, seed=bootstrap_seed)
    _dump(out / "platform_ablation_significance.json", sig)
    write_text_atomic(out / "platform_ablation_claims.md", claims_markdown(sig))
    data = plot_data(summary, sig)
    _dump(out / "platform_ablation_plots.json", data)
    plot_dashboard(data, out)
    return sig


def write_reports(runs_doc: Mapping, out: Path, *, n_bootstrap: int = 4000,
                  bootstrap_seed: int = 123) -> dict:
    """Every derived artifact of a sweep; returns the significance document."""
    summary = summarize(runs_doc["runs"], variants=runs_doc["variants"],
                        baseline=runs_doc.get("baseline", BASELINE),
                        n_resamples=n_bootstrap, seed=bootstrap_seed)
    _dump(out / "summary.json", summary)
    write_text_atomic(out / "summary.csv", summary_csv(summary))
    return write_evidence(runs_doc, summary, out, n_bootstrap=n_bootstrap,
                          bootstrap_seed=bootstrap_seed)


def _read(path: Path, what: str) -> dict:
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError as err:
        raise ArtifactError(f"{what} file {path} does not exist",
                            hint=f"pass the {what}.json written by `atom ablate`") from err
    except (OSError, json.JSONDecodeError) as err:
        raise ArtifactError(f"{what} file {path} is not valid JSON: {err}",
                            hint="regenerate it with `atom ablate`") from err
    if not isinstance(doc, dict):
        raise ArtifactError(f"{what} file {path} is not a JSON object")
    return doc


def regenerate(summary_path: str | Path, runs_path: str | Path, out: str | Path | None = None,
               *, n_bootstrap: int = 4000, bootstrap_seed: int = 123) -> dict:
    """Rebuild significance, claims, plot data and figures from ``summary.json`` + ``runs.json``.

    Per-variant bars come from the given summary; paired statistics are recomputed from
    the per-seed records with the given bootstrap settings.
    """
    summary, runs_doc = _read(Path(summary_path), "summary"), _read(Path(runs_path), "runs")
    for key, doc, name in (("rows", summary, "summary"), ("metrics", summary, "summary"),
                           ("runs", runs_doc, "runs")):
        if key not in doc:
            raise ArtifactError(f"{name} file lacks the {key!r} key",
                                hint=f"pass the {name}.json written by `atom ablate`")
    if n_bootstrap < 100:
        from atom_sdk.errors import ConfigError

        raise ConfigError(f"--bootstrap-samples {n_bootstrap} is too small",
                          hint="use 1000 or more (4000 is the default)")
    out_dir = Path(out) if out is not None else Path(summary_path).parent
    if out_dir.resolve() != Path(summary_path).resolve().parent:
        # another folder than the sweep's own: a new one, or one atom created; never a folder of the user's,
        # whose files of the same names would be replaced
        from atom_sdk.workspace import claim_output, plan_output

        claim_output(plan_output(out_dir, "ablation_plots", overwrite=False, reuse=True), replace=False)
    out_dir.mkdir(parents=True, exist_ok=True)
    return write_evidence(runs_doc, summary, out_dir, n_bootstrap=n_bootstrap,
                          bootstrap_seed=bootstrap_seed)
