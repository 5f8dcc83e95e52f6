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
        panels.append({"metric": metric, "direction": direction, "bars": bars, "diffs": diffs,
                       **_rl_panel(summary.get("rl_statistics"), metric)})
    return {"schema": PLOTS_SCHEMA, "baseline": significance["baseline"], "panels": panels}


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


def dashboard_figure(data: Mapping):
    """The dashboard as a matplotlib figure and the axes by role, one row per directed metric.

    Columns: (1) mean and IQM of each variant with 95 % intervals (BCa for the mean, stratified
    bootstrap for the IQM), n under each name; (2) seed-paired mean difference vs the baseline,
    coloured by the Holm-corrected decision; (3) probability of improvement over the baseline
    with its interval, 0.5 = no difference; (4) performance profiles with bootstrap bands.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    panels = data["panels"] or [{"metric": "(no metric with a declared direction)", "direction": None,
                                 "bars": [], "diffs": [], "iqm": [], "p_improvement": [], "profile": None}]
    fig, axes = plt.subplots(len(panels), 4, figsize=(16, 2.9 * len(panels) + 0.8), squeeze=False)
    base = data["baseline"]
    roles: list[dict] = []
    for row, panel in zip(axes, panels, strict=True):
        arrow = {"higher": " (higher is better)", "lower": " (lower is better)"}
        title = panel["metric"] + arrow.get(panel["direction"], "")
        roles.append({"metric": panel["metric"], "intervals": row[0], "diffs": row[1],
                      "p_improvement": row[2], "profile": row[3]})
        ax = row[0]
        bars = [b for b in panel["bars"] if b["mean"] is not None]
        colors = ["#34495e" if b["variant"] == base else "#2e86c1" for b in bars]
        _intervals(ax, [_nlabel(b["variant"], b["n"]) for b in bars], [b["mean"] for b in bars],
                   [[b["ci_low"], b["ci_high"]] if b["ci_low"] is not None else None for b in bars],
                   colors, offset=-0.12, label="mean (BCa 95% CI)")
        iq = {r["variant"]: r for r in panel.get("iqm", []) if r["iqm"] is not None}
        shown = [b["variant"] for b in bars if b["variant"] in iq]
        for i, b in enumerate(bars):
            r = iq.get(b["variant"])
            if r is not None:
                err = [[r["iqm"] - r["ci"][0]], [r["ci"][1] - r["iqm"]]] if r["ci"] else None
                ax.errorbar([i + 0.12], [r["iqm"]], yerr=err, fmt="s", capsize=3, color="#e67e22",
                            label="IQM (stratified bootstrap 95% CI)" if b["variant"] == shown[0] else None)
        ax.set_ylabel(panel["metric"], fontsize=8)
        ax.set_title(f"{title}: mean and IQM, 95% CI", fontsize=9)
        if bars:
            ax.legend(fontsize=6, loc="best")
        else:
            ax.text(0.5, 0.5, "no finite values", transform=ax.transAxes, ha="center")
        ax = row[1]
        diffs = [d for d in panel["diffs"] if d["mean_diff"] is not None]
        _intervals(ax, [_nlabel(d["variant"], d["n"]) for d in diffs], [d["mean_diff"] for d in diffs],
                   [[d["ci_low"], d["ci_high"]] if d["ci_low"] is not None else None for d in diffs],
                   [_COLORS[d["decision"]] for d in diffs])
        ax.axhline(0.0, color="black", lw=0.8)
        if not diffs:
            ax.text(0.5, 0.5, "nothing to compare", transform=ax.transAxes, ha="center")
        ax.set_ylabel(f"difference in {panel['metric']}", fontsize=8)
        ax.set_title(f"paired diff vs {base} (green better, red worse, grey n.s.)", fontsize=9)
        ax = row[2]
        pis = panel.get("p_improvement", [])
        _intervals(ax, [_nlabel(p["variant"], p["n"]) for p in pis], [p["p"] for p in pis],
                   [p["ci"] for p in pis], ["#8e44ad"] * len(pis))
        ax.axhline(0.5, color="black", lw=0.8, ls="--")
        ax.set_ylim(-0.02, 1.02)
        ax.set_ylabel(f"P(variant better than {base})", fontsize=8)
        ax.set_title("probability of improvement, 95% CI", fontsize=9)
        if not pis:
            ax.text(0.5, 0.5, "nothing to compare", transform=ax.transAxes, ha="center")
        ax = row[3]
        prof = panel.get("profile") or {}
        taus = prof.get("tau") or []
        cmap = plt.get_cmap("tab10")
        for k, (v, pr) in enumerate((prof.get("variants") or {}).items()):
            if pr.get("fraction") is None:
                continue
            ax.plot(taus, pr["fraction"], color=cmap(k % 10), lw=1.4, label=f"{v} (n={pr['n']})",
                    ls="-" if v != base else "--", drawstyle="steps-post")
            ax.fill_between(taus, pr["ci_low"], pr["ci_high"], color=cmap(k % 10), alpha=0.15, lw=0,
                            step="post")
        word = "above" if prof.get("counts", "above") == "above" else "below"
        ax.set_xlabel(f"threshold tau ({panel['metric']})", fontsize=8)
        ax.set_ylabel(f"fraction of runs {word} tau", fontsize=8)
        ax.set_ylim(-0.02, 1.02)
        ax.set_title("performance profile, 95% bands", fontsize=9)
        if taus:
            ax.legend(fontsize=6, loc="best")
        else:
            ax.text(0.5, 0.5, "no finite values", transform=ax.transAxes, ha="center")
    fig.tight_layout()
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
    out_dir.mkdir(parents=True, exist_ok=True)
    return write_evidence(runs_doc, summary, out_dir, n_bootstrap=n_bootstrap,
                          bootstrap_seed=bootstrap_seed)
