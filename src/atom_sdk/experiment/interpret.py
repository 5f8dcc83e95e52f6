"""Interpretation of a trained run: where over the field its agent looks, and which of its input
features (observation and theory) move its action.

Why its own step: the saliency functions (``atom_sdk.agent.saliency``) explain one network on
one input; this module chooses the input the way an evaluation would, from the run's last
checkpoint acted frozen, and writes the result as artifacts of the run. The world is reset with
``seed`` and stepped for up to ``batch_steps`` steps under the deterministic policy (normaliser
frozen, the scientist's theory as saved, no safety envelope, theory always allowed); the
observations of those steps are the batch behind permutation importance, and the one after
``at_step`` steps is the observation explained by the maps.

Written to ``RUN_DIR/interpret`` (workspace rules: replaced only with ``overwrite`` and only
when atom made it): ``saliency.npz`` (the maps and Jacobians), ``saliency.json`` (schema
``atom.saliency/1``: shapes, the observation, per-channel shares, feature importances) and
``saliency.png`` (the maps over the field with colour bars, and the importance bars).
"""

from __future__ import annotations

import hashlib
import io
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from atom_sdk.artifacts import atomic_write_bytes, write_json
from atom_sdk.config import RunConfig
from atom_sdk.errors import ArtifactError, ConfigError
from atom_sdk.experiment import checkpoint as ckpt
from atom_sdk.experiment.evaluate import _run_config
from atom_sdk.experiment.runner import EPISODE_SEED_STRIDE, make_world
from atom_sdk.provenance import provenance, utc_now
from atom_sdk.workspace import OutputPlan, claim_output, output_folder, plan_output

__all__ = ["SCHEMA", "FOLDER", "InterpretPlan", "interpret_run", "plan_interpretation", "feature_names",
           "channel_names", "map_2d", "downsample", "read_saliency", "underlay_channel"]

SCHEMA = "atom.saliency/1"
#: the folder under the run folder that holds the artifacts
FOLDER = "interpret"
#: most observations in the permutation batch (one per agent step)
MAX_BATCH_STEPS = 512
#: the scalar outputs whose integrated gradients are kept
IG_TARGETS = ("value", "action:0")


@dataclass(frozen=True)
class InterpretPlan:
    """The checked decision for one interpretation; computed without writing anything."""

    run_dir: Path
    config: RunConfig
    checkpoint_hashes: tuple[str, ...]
    output: OutputPlan


def plan_interpretation(run_dir: str | Path, *, out_dir: str | Path | None = None,
                        overwrite: bool = False) -> InterpretPlan:
    """Check the run folder and the output folder (default ``RUN_DIR/interpret``); writes nothing."""
    run = Path(run_dir).expanduser().resolve()
    config, hashes = _run_config(run)
    out = run / FOLDER if out_dir is None else output_folder(out_dir)
    output = plan_output(out, "interpretation", overwrite=overwrite, flag_hint="pass --overwrite to replace it",
                         foreign_hint=f"move it away yourself (the interpretation always goes to RUN_DIR/{FOLDER})")
    return InterpretPlan(run, config, hashes, output)


# ----------------------------------------------------------------------------- names and shapes
def channel_names(world: Any) -> list[str]:
    """Names of the field tensor's channels in ``World.field_tensor`` order (vectors as name_x, name_y, name_z)."""
    names: list[str] = []
    for key, value in world.fields().items():
        if np.ndim(value) == 4:
            names.extend(f"{key}_{'xyz'[i]}" if np.shape(value)[0] == 3 else f"{key}_{i}"
                         for i in range(np.shape(value)[0]))
        else:
            names.append(key)
    return names


def feature_names(world: Any, obs_size: int, theory_dim: int) -> list[tuple[str, str]]:
    """(name, group) of each entry of the agent's vector: the observation, then the theory features.

    The theory layout is ``Scientist.theory_features``'s: predicted next state, last residual and
    conformal width of each observable, then trust and the has-theory flag.
    """
    obs = list(getattr(world, "metadata", {}).get("observation_names") or [])
    if len(obs) != obs_size:
        obs = [f"obs_{i}" for i in range(obs_size)]
    out = [(name, "observation") for name in obs]
    if theory_dim:
        names = list(getattr(world, "observable_names", ()))
        n = (theory_dim - 2) // 3
        if len(names) != n:
            names = [f"x{i}" for i in range(n)]
        theory = ([f"predicted {v}" for v in names] + [f"residual {v}" for v in names]
                  + [f"interval width {v}" for v in names] + ["trust", "has theory"])
        out.extend((name, "theory") for name in theory)
    return out


def map_2d(volume: np.ndarray) -> np.ndarray:
    """A (C, nx, ny, nz) saliency volume as one (nx, ny) map: summed over channels, averaged over z."""
    volume = np.asarray(volume, dtype=np.float64)
    return volume.sum(axis=0).mean(axis=-1)


def downsample(image: np.ndarray, max_size: int) -> np.ndarray:
    """Block means of a 2-D array so that neither axis exceeds ``max_size`` (edges take partial blocks)."""
    image = np.asarray(image, dtype=np.float64)
    if max_size < 1:
        raise ConfigError(f"max_size must be >= 1, got {max_size}")
    for axis in (0, 1):
        n = image.shape[axis]
        if n <= max_size:
            continue
        block = -(-n // max_size)
        starts = np.arange(0, n, block)
        image = np.add.reduceat(image, starts, axis=axis) / np.diff(np.append(starts, n)).reshape(
            (-1, 1) if axis == 0 else (1, -1))
    return image


# ----------------------------------------------------------------------------- the computation
def interpret_run(run_dir: str | Path, *, seed: int = 0, at_step: int = 0, batch_steps: int | None = None,
                  samples: int = 16, noise: float = 0.15, ig_steps: int = 32, repeats: int = 8,
                  out_dir: str | Path | None = None, overwrite: bool = False,
                  plan: InterpretPlan | None = None) -> dict[str, Any]:
    """Explain the last checkpoint of ``run_dir``; writes the artifacts and returns ``saliency.json``.

    ``at_step`` picks the explained observation (after that many deterministic steps from the
    reset with ``seed``); ``batch_steps`` (default: the episode length, at most 512) is the
    number of observations behind permutation importance; ``samples``/``noise`` set SmoothGrad,
    ``ig_steps`` the integrated-gradients quadrature and ``repeats`` the permutation shuffles.
    A refused interpretation writes nothing.
    """
    import jax

    from atom_sdk.compilation import enable_persistent_cache
    from atom_sdk.devices import resolve_device

    for name, value, low in (("at_step", at_step, 0), ("samples", samples, 1), ("ig_steps", ig_steps, 1),
                             ("repeats", repeats, 1)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ConfigError(f"{name} must be a whole number >= {low}, got {value!r}")
    if not 0.0 <= float(noise) <= 1.0:
        raise ConfigError(f"noise must be in [0, 1] (a fraction of each channel's range), got {noise}")
    if plan is None:
        plan = plan_interpretation(run_dir, out_dir=out_dir, overwrite=overwrite)
    limit = int(plan.config.world.max_episode_steps)
    steps = max(2, min(limit, MAX_BATCH_STEPS)) if batch_steps is None else batch_steps
    if isinstance(steps, bool) or not isinstance(steps, int):
        raise ConfigError(f"batch_steps must be a whole number, got {batch_steps!r}")
    if not 2 <= steps <= MAX_BATCH_STEPS:
        raise ConfigError(f"batch_steps must be between 2 and {MAX_BATCH_STEPS}, got {batch_steps}")
    if at_step >= steps:
        raise ConfigError(f"at_step={at_step} is past the {steps} observations collected; choose at_step < "
                          f"{steps} or a larger batch_steps")
    enable_persistent_cache()  # a second interpretation of the same shapes loads its programs
    with jax.default_device(resolve_device(plan.config.device)):
        return _interpret(plan, seed=int(seed), at_step=at_step, steps=steps, samples=samples, noise=float(noise),
                          ig_steps=ig_steps, repeats=repeats)


def _collect(plan: InterpretPlan, seed: int, steps: int, ledger_dir: Path) -> tuple[Any, Any, list[dict], list]:
    """World and restored policy, and the agent inputs of ``steps`` deterministic steps.

    An episode that ends early is followed by the next one, started from ``seed +
    EPISODE_SEED_STRIDE * e`` as an evaluation's episode ``e`` is."""
    from atom_sdk.experiment.policy import Policy

    state = ckpt.load(plan.run_dir, plan.checkpoint_hashes)
    world = make_world(plan.config)
    obs, _ = world.reset(seed=seed)
    policy = Policy(plan.config, world, ledger_dir=ledger_dir)
    policy.load_state_dict(state)
    policy.reset_memory()  # the world was just reset: a recurrent core starts the episode empty
    inputs: list[dict] = []
    decisions: list[Any] = []
    u, episode, length = np.zeros(world.action_space.shape), 0, 0
    limit = int(plan.config.world.max_episode_steps)
    for step in range(steps):
        x = policy.measure(world.observables(), step)
        decision = policy.act(obs, x=x, u=u, explore=False)
        seen = {k: np.array(v, dtype=np.float32, copy=True) for k, v in decision.inputs.items()}
        if getattr(decision, "hidden", None) is not None:  # a recurrent core: the state it acted from
            seen["hidden"] = np.array(decision.hidden, dtype=np.float32, copy=True)
        inputs.append(seen)
        decisions.append(decision)
        obs, _, terminated, truncated, _ = world.step(decision.env_action)
        u, length = decision.env_action, length + 1
        if terminated or truncated or length >= limit:
            episode, length = episode + 1, 0
            obs, _ = world.reset(seed=seed + EPISODE_SEED_STRIDE * episode)
            policy.reset_memory()
            u = np.zeros(world.action_space.shape)
    return world, policy, inputs, decisions


def _interpret(plan: InterpretPlan, *, seed: int, at_step: int, steps: int, samples: int, noise: float,
               ig_steps: int, repeats: int) -> dict[str, Any]:
    import jax

    from atom_sdk.agent import saliency as S

    started, started_at = time.perf_counter(), utc_now()
    with tempfile.TemporaryDirectory() as ledger_tmp:  # the frozen scientist fits nothing
        world, policy, inputs, decisions = _collect(plan, seed, steps, Path(ledger_tmp))
        policy.close()
    agent = policy.agent
    explained = inputs[at_step]
    obs_size = int(world.observation_space.shape[0])
    theory_dim = int(explained["vector"].shape[0]) - obs_size
    arrays: dict[str, np.ndarray] = {"vector": explained["vector"]}
    doc_maps: dict[str, Any] = {}
    if "fields" in explained:
        jac = jax.device_get(S.output_jacobians(agent, explained))
        maps = jax.device_get(S.maps_from_jacobians(jac))
        smooth = jax.device_get(S.smoothgrad(agent, explained, jax.random.PRNGKey(seed), samples=samples,
                                             noise=noise))
        ig = jax.device_get(S.integrated_gradients(agent, explained, targets=IG_TARGETS, steps=ig_steps))
        arrays.update(field=explained["fields"], action_jacobian=jac["action/fields"],
                      value_gradient=jac["value/fields"])
        arrays.update({f"saliency_{k}": v for k, v in maps.items()})
        arrays.update({f"smoothgrad_{k}": v for k, v in smooth.items()})
        arrays.update({f"integrated_gradients_{t.replace(':', '_')}": a for t, (a, _) in ig.items()})
        names = channel_names(world)
        if len(names) != explained["fields"].shape[0]:
            names = [f"channel_{i}" for i in range(explained["fields"].shape[0])]
        doc_maps = _map_summary(maps, smooth, names, explained["fields"])
        doc_maps["integrated_gradients"] = {
            "baseline": "zero field", "steps": ig_steps, "rule": "midpoint",
            **{t: {"attribution_sum": float(np.sum(a, dtype=np.float64)), "output_change": float(d)}
               for t, (a, d) in ig.items()}}
    batch = {k: np.stack([i[k] for i in inputs]) for k in explained}
    gxi_rows = np.asarray(jax.device_get(S.gradient_x_input(agent, batch)), dtype=np.float64)
    gxi_one, gxi_batch = gxi_rows[at_step], gxi_rows.mean(axis=0)
    perm_mean, perm_std = (np.asarray(a, dtype=np.float64) for a in
                           jax.device_get(S.permutation_importance(agent, batch, jax.random.PRNGKey(seed + 1),
                                                                   repeats=repeats)))
    arrays.update(gradient_x_input=gxi_one, gradient_x_input_batch=gxi_batch, permutation_mean=perm_mean,
                  permutation_std=perm_std, batch_vectors=batch["vector"])
    constant = np.ptp(batch["vector"], axis=0) == 0.0
    features = _feature_table(feature_names(world, obs_size, theory_dim), explained["vector"], gxi_one, gxi_batch,
                              perm_mean, perm_std, constant)
    decision = decisions[at_step]
    out = claim_output(plan.output, replace=True)  # the first write
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **{k: np.asarray(v) for k, v in arrays.items()})
    atomic_write_bytes(out / "saliency.npz", buffer.getvalue())
    doc = _document(plan, world, seed=seed, at_step=at_step, batch=len(inputs), decision=decision,
                    maps=doc_maps, features=features, arrays=arrays,
                    settings={"samples": samples, "noise": noise, "ig_steps": ig_steps, "repeats": repeats})
    doc["timings"] = {"wall_seconds": time.perf_counter() - started, "started_at": started_at,
                      "finished_at": utc_now()}
    write_json(out / "saliency.json", doc)
    saliency_figure(out / "saliency.png", doc, arrays)
    return doc


def _map_summary(maps: dict, smooth: dict, names: list[str], fields: np.ndarray) -> dict[str, Any]:
    """Per output: total, maximum and each channel's share of the map (what the agent looks at)."""
    out: dict[str, Any] = {"channels": names, "field_shape": list(fields.shape), "outputs": {}}
    for key, volume in maps.items():
        volume = np.asarray(volume, dtype=np.float64)
        total = float(volume.sum())
        per_channel = volume.reshape(volume.shape[0], -1).sum(axis=1)
        peak = np.unravel_index(int(np.argmax(volume)), volume.shape)
        out["outputs"][key] = {
            "total": total, "max": float(volume.max()), "argmax": [int(i) for i in peak],
            "channel_share": {n: (float(c / total) if total > 0 else 0.0) for n, c in zip(names, per_channel)},
            "smoothgrad_total": float(np.asarray(smooth[key], dtype=np.float64).sum())}
    return out


def _feature_table(names: list[tuple[str, str]], vector: np.ndarray, gxi_one: np.ndarray, gxi_batch: np.ndarray,
                   perm_mean: np.ndarray, perm_std: np.ndarray, constant: np.ndarray) -> list[dict[str, Any]]:
    """One row per vector feature, ranked by permutation importance (rank 1: the largest).

    ``constant_in_batch`` marks a feature that never changes over the batch (a trust or a
    has-theory flag often does not): shuffling it changes nothing, so its permutation importance
    is 0 whatever the policy does with it; its gradient x input still says how much it counts."""
    order = np.argsort(-perm_mean, kind="stable")
    rank = np.empty(len(order), dtype=int)
    rank[order] = np.arange(1, len(order) + 1)
    return [{"index": i, "name": n, "group": g, "value": float(vector[i]),
             "gradient_x_input": float(gxi_one[i]), "gradient_x_input_batch": float(gxi_batch[i]),
             "permutation_mean": float(perm_mean[i]), "permutation_std": float(perm_std[i]), "rank": int(rank[i]),
             "constant_in_batch": bool(constant[i])}
            for i, (n, g) in enumerate(names)]


def _document(plan: InterpretPlan, world: Any, *, seed: int, at_step: int, batch: int, decision: Any,
              maps: dict[str, Any], features: list[dict[str, Any]], arrays: dict[str, np.ndarray],
              settings: dict[str, Any]) -> dict[str, Any]:
    config = plan.config
    raw = (plan.run_dir / ckpt.CHECKPOINT).read_bytes()
    prov = provenance(config, seed=seed)
    prov["checkpoint"] = {"path": ckpt.CHECKPOINT.as_posix(), "sha256": hashlib.sha256(raw).hexdigest()}
    theory = [f for f in features if f["group"] == "theory"]
    return {
        "schema": SCHEMA,
        "run": {"dir": str(plan.run_dir), "name": config.name, "variant": config.variant},
        "world": {"id": config.world.name, "grid": list(config.world.grid)},
        "observation": {"seed": seed, "at_step": at_step, "rule": f"world.reset(seed={seed}), then {at_step} "
                        "deterministic steps of the checkpoint's policy (normaliser frozen, no safety envelope)",
                        "agent_action": np.asarray(decision.action, dtype=np.float64).reshape(-1).tolist(),
                        "env_action": np.asarray(decision.env_action, dtype=np.float64).reshape(-1).tolist(),
                        "value": float(decision.value), "vector": arrays["vector"].astype(float).tolist()},
        "batch": {"observations": batch, "rule": f"the observations of the same deterministic steps; an episode "
                  f"that ends is followed by the next, reset with seed + {EPISODE_SEED_STRIDE} x episode"},
        "settings": {**settings, "smoothgrad": "mean over samples of sum_k |d out_k / d field| with Gaussian noise "
                     "of std noise x each channel's range (Smilkov et al. 2017)",
                     "saliency": "sum over output components of |d out_k / d field|; action = the deterministic "
                     "action in the world's bounds (probabilities for a discrete policy)",
                     "permutation": "mean over the batch of sum_k |a_k(column shuffled) - a_k|, repeats shuffles"},
        "shapes": {k: list(np.shape(v)) for k, v in arrays.items()},
        "maps": maps or None,
        "features": features,
        "theory_features": _theory_summary(features),
        "artifacts": ["saliency.json", "saliency.npz", "saliency.png"],
        "provenance": prov,
    }


def _theory_summary(features: list[dict[str, Any]]) -> dict[str, Any]:
    """How much of the action's permutation importance the theory features carry, and the top one."""
    theory = [f for f in features if f["group"] == "theory"]
    total = sum(f["permutation_mean"] for f in features)
    top = max(theory, key=lambda f: f["permutation_mean"]) if theory else None
    gxi_total = sum(f["gradient_x_input_batch"] for f in features)
    return {"count": len(theory),
            "share_of_importance": (sum(f["permutation_mean"] for f in theory) / total) if total > 0 else 0.0,
            "share_of_gradient_x_input": (sum(f["gradient_x_input_batch"] for f in theory) / gxi_total)
            if gxi_total > 0 else 0.0,
            "most_important": top["name"] if top is not None and top["permutation_mean"] > 0 else None,
            "nonzero_in_batch": any(f["permutation_mean"] > 0 or f["value"] != 0 for f in theory)}


def underlay_channel(field: np.ndarray, share: dict[str, float], names: list[str]) -> int:
    """The field channel drawn beneath the maps: the one with the largest share of the action
    saliency among those that vary over the grid (a uniform channel shows nothing), else the largest."""
    field = np.asarray(field, dtype=np.float64)
    order = sorted(range(len(names)), key=lambda i: -share.get(names[i], 0.0))
    varying = [i for i in order if np.ptp(field[i]) > 1e-9 * max(1.0, float(np.abs(field[i]).max()))]
    return (varying or order)[0]


# ----------------------------------------------------------------------------- the figure
def saliency_figure(path: Path, doc: dict[str, Any], arrays: dict[str, np.ndarray]) -> Path:
    """The action and value saliency over the field (grey contours of the most salient channel) with
    colour bars, and the feature importances as bars."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    has_maps = "saliency_action" in arrays
    panels = 3 if has_maps else 1
    fig, axes = plt.subplots(1, panels, figsize=(5.2 * panels, 4.8), constrained_layout=True, squeeze=False)
    axes = axes[0]
    if has_maps:
        names = doc["maps"]["channels"]
        top = underlay_channel(arrays["field"], doc["maps"]["outputs"]["action"]["channel_share"], names)
        under = np.asarray(arrays["field"], dtype=np.float64)[top].mean(axis=-1)
        for ax, key, title in ((axes[0], "saliency_action", "action"), (axes[1], "saliency_value", "value")):
            image = map_2d(arrays[key])
            shown = ax.imshow(image.T, origin="lower", cmap="magma", aspect="equal")
            drawn = under.shape[0] > 1 and under.shape[1] > 1 and np.ptp(under) > 1e-9 * max(1.0, np.abs(under).max())
            if drawn:
                ax.contour(under.T, levels=8, colors="0.85", linewidths=0.6, origin="lower")
            fig.colorbar(shown, ax=ax, shrink=0.85, label=f"Σ |∂ {title} / ∂ field| per cell")
            ax.set_xlabel("x (cell index)")
            ax.set_ylabel("y (cell index)")
            beneath = f"contours: field {names[top]}" if drawn else f"field {names[top]} uniform: no contours"
            ax.set_title(f"{title} saliency (summed over channels, z-mean)\n{beneath}", fontsize=9)
    ax = axes[-1]
    feats = doc["features"]
    values = [f["permutation_mean"] for f in feats]
    colours = ["tab:orange" if f["group"] == "theory" else "tab:blue" for f in feats]
    ypos = np.arange(len(feats))
    ax.barh(ypos, values, color=colours, xerr=[f["permutation_std"] for f in feats])
    ax.set_yticks(ypos, [f["name"] + (" (constant)" if f["constant_in_batch"] else "") for f in feats], fontsize=7)
    ax.invert_yaxis()
    ax.ticklabel_format(axis="x", style="sci", scilimits=(-2, 3))
    ax.set_xlabel("permutation importance, mean |Δ action|")
    ax.set_title("feature importance (blue: observation, orange: theory)", fontsize=9)
    fig.suptitle(f"{doc['run']['name']} ({doc['run']['variant']}) on {doc['world']['id']}: observation at step "
                 f"{doc['observation']['at_step']}, seed {doc['observation']['seed']}", fontsize=9)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def read_saliency(run_dir: Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The stored ``saliency.json`` and the arrays of ``saliency.npz`` of a run; ArtifactError when absent."""
    import json

    folder = Path(run_dir) / FOLDER
    try:
        doc = json.loads((folder / "saliency.json").read_text(encoding="utf-8"))
        with np.load(folder / "saliency.npz", allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except (OSError, ValueError) as exc:
        raise ArtifactError(f"run '{run_dir}' has no readable saliency artifacts ({type(exc).__name__}); run "
                            "'atom interpret RUN_DIR' first") from None
    return doc, arrays
