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


def plot_data(summary: Mapping, significance: Mapping) -> dict:
    """The numbers behind every panel (written as ``platform_ablation_plots.json``)."""
    panels = []
    for metric, direction in summary["metrics"].items():
        bars = [{k: r[k] for k in ("variant", "n", "mean", "ci_low", "ci_high", "ci_method")}
                for r in summary["rows"] if r["metric"] == metric]
        diffs = [{k: r[k] for k in ("id", "variant", "n", "mean_diff", "ci_low", "ci_high",
                                    "p_holm", "decision")}
                 for r in significance["records"] if r["metric"] == metric]
        panels.append({"metric": metric, "direction": direction, "bars": bars, "diffs": diffs})
    return {"schema": PLOTS_SCHEMA, "baseline": significance["baseline"], "panels": panels}


def plot_dashboard(data: Mapping, out_dir: Path) -> list[Path]:
    """Per-metric bars with CIs (left) and paired differences vs baseline (right)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    panels = data["panels"] or [{"metric": "(no metrics)", "direction": None, "bars": [],
                                 "diffs": []}]
    fig, axes = plt.subplots(len(panels), 2, figsize=(12, 2.6 * len(panels) + 0.8),
                             squeeze=False)
    for row, panel in zip(axes, panels, strict=True):
        arrow = {"higher": " (higher is better)", "lower": " (lower is better)"}
        title = panel["metric"] + arrow.get(panel["direction"], "")
        ax = row[0]
        bars = [b for b in panel["bars"] if b["mean"] is not None]
        xs = range(len(bars))
        means = [b["mean"] for b in bars]
        lo = [b["mean"] - b["ci_low"] if b["ci_low"] is not None else 0.0 for b in bars]
        hi = [b["ci_high"] - b["mean"] if b["ci_high"] is not None else 0.0 for b in bars]
        ax.bar(xs, means, yerr=[lo, hi], capsize=3,
               color=["#34495e" if b["variant"] == data["baseline"] else "#5dade2" for b in bars])
        ax.set_xticks(list(xs), [b["variant"] for b in bars], rotation=30, ha="right", fontsize=7)
        ax.set_title(f"{title}: mean, 95% CI", fontsize=9)
        if not bars:
            ax.text(0.5, 0.5, "no finite values", transform=ax.transAxes, ha="center")
        ax = row[1]
        diffs = [d for d in panel["diffs"] if d["mean_diff"] is not None]
        for i, d in enumerate(diffs):
            err = ([[d["mean_diff"] - d["ci_low"]], [d["ci_high"] - d["mean_diff"]]]
                   if d["ci_low"] is not None else None)
            ax.errorbar([i], [d["mean_diff"]], yerr=err, fmt="o", capsize=3,
                        color=_COLORS[d["decision"]])
        ax.axhline(0.0, color="black", lw=0.8)
        if not diffs:
            ax.text(0.5, 0.5, "nothing to compare", transform=ax.transAxes, ha="center")
        ax.set_xticks(list(range(len(diffs))), [d["variant"] for d in diffs], rotation=30,
                      ha="right", fontsize=7)
        ax.set_title(f"{panel['metric']}: paired diff vs {data['baseline']} "
                     "(green better, red worse, grey n.s.)", fontsize=9)
    fig.tight_layout()
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
