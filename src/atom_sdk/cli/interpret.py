"""``atom interpret``: saliency of a trained run's agent over the field, and the importance of its input features."""

from __future__ import annotations

from contextlib import nullcontext
from pathlib import Path
from typing import Optional

import typer

from atom_sdk.cli.common import console, print_json


def interpret_command(
    run_dir: Path = typer.Argument(..., help="Folder of a trained run (holds config.json and checkpoints/)."),
    seed: int = typer.Option(0, "--seed", help="The world is reset with this seed before the deterministic steps."),
    at_step: int = typer.Option(0, "--at-step", min=0, help="Explain the observation after this many steps."),
    batch_steps: Optional[int] = typer.Option(None, "--batch-steps", min=2, max=512, show_default="episode length",
                                              help="Observations behind permutation importance."),
    samples: int = typer.Option(16, "--samples", min=1, max=1024, help="SmoothGrad noisy copies."),
    noise: float = typer.Option(0.15, "--noise", min=0.0, max=1.0,
                                help="SmoothGrad noise std as a fraction of each channel's range."),
    ig_steps: int = typer.Option(32, "--ig-steps", min=1, max=1024, help="Integrated-gradients quadrature points."),
    repeats: int = typer.Option(8, "--repeats", min=1, max=256, help="Shuffles per feature (permutation importance)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace RUN_DIR/interpret when atom made it."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Explain a trained run: gradient saliency of its action, value and latent over the field, and the
    importance of each observation and theory feature for its action.

    Writes RUN_DIR/interpret/saliency.npz, saliency.json and saliency.png.
    """
    from atom_sdk.experiment.interpret import interpret_run, plan_interpretation

    plan = plan_interpretation(run_dir, overwrite=overwrite)
    with console.status(f"interpreting {plan.config.name}", spinner="dots") if not as_json else nullcontext():
        doc = interpret_run(plan.run_dir, seed=seed, at_step=at_step, batch_steps=batch_steps, samples=samples,
                            noise=noise, ig_steps=ig_steps, repeats=repeats, plan=plan)
    top = sorted(doc["features"], key=lambda f: f["rank"])[:5]
    if as_json:
        print_json({"output": str(plan.output.folder), "observation": doc["observation"], "shapes": doc["shapes"],
                    "maps": doc["maps"], "theory_features": doc["theory_features"], "features": doc["features"]})
        return
    console.print(f"[bold]interpret[/] {doc['run']['name']} ({doc['run']['variant']})  seed {seed}  "
                  f"step {at_step}  batch {doc['batch']['observations']}", highlight=False)
    if doc["maps"]:
        for key in ("action", "value", "latent"):
            share = doc["maps"]["outputs"][key]["channel_share"]
            channel = max(share, key=share.get)
            console.print(f"  {key} saliency: total {doc['maps']['outputs'][key]['total']:.4g}, "
                          f"most on {channel} ({share[channel]:.0%})", highlight=False)
    else:
        console.print("  this agent sees no fields: no saliency map, feature importances only", highlight=False)
    console.print("  top features: " + ", ".join(f"{f['name']} ({f['group']}) {f['permutation_mean']:.3g}"
                                                 for f in top), highlight=False)
    theory = doc["theory_features"]
    if theory["count"]:
        console.print(f"  theory features carry {theory['share_of_importance']:.1%} of the permutation importance, "
                      f"{theory['share_of_gradient_x_input']:.1%} of the gradient x input", highlight=False)
    console.print(f"  artifacts: {plan.output.folder}/ (saliency.json, saliency.npz, saliency.png)", highlight=False)


def register(app: typer.Typer) -> None:
    """Mount as the single command ``atom interpret``."""
    app.command("interpret")(interpret_command)
