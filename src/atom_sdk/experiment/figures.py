"""Summary figure of one run: reward, trust, the world's key diagnostic, and the laws found."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from atom_sdk.artifacts import read_jsonl


def summary_figure(out_dir: Path, results: dict[str, Any]) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = [r for r in read_jsonl(out_dir / "telemetry.jsonl") if r.get("kind") == "step"]
    x = [r["step"] for r in steps]
    fig, axes = plt.subplots(2, 2, figsize=(11, 7), constrained_layout=True)
    ax = axes[0, 0]
    ax.plot(x, [r["reward"] for r in steps], lw=0.8)
    ax.set(title="reward per step", xlabel="step", ylabel="reward")

    ax = axes[0, 1]
    trust = [(r["step"], r["trust"]) for r in steps if r.get("trust") is not None]
    if trust:
        ax.plot(*zip(*trust), color="tab:green")
        ax.set_ylim(-0.02, 1.02)
    else:
        ax.text(0.5, 0.5, "no scientist in this variant", ha="center", va="center", transform=ax.transAxes)
    ax.set(title="theory trust", xlabel="step", ylabel="trust")

    ax = axes[1, 0]
    for name in ("energy", "drag", "shock_angle", "lift"):
        series = [(r["step"], r["diagnostics"][name]) for r in steps if name in r.get("diagnostics", {})]
        if series:
            ax.plot(*zip(*series), label=name, lw=0.9)
    ax.legend(loc="best")
    ax.set(title="world diagnostics", xlabel="step")

    ax = axes[1, 1]
    ax.axis("off")
    laws = results.get("laws") or []
    text = "\n".join(str(law.get("equation", law)) for law in laws) or "no accepted law"
    ax.text(0.0, 1.0, "discovered laws:\n" + text, va="top", family="monospace", fontsize=9, wrap=True)
    fig.suptitle(f"{results.get('name')} - {results['world']['id']} - {results['variant']['name']}")
    paths = [out_dir / "summary.png", out_dir / "summary.pdf"]
    for path in paths:
        fig.savefig(path, dpi=110)
    plt.close(fig)
    return paths
