"""The curves of a run for overlaying several runs: per-step reward, trust, diagnostics and safety
mode, and the return of each finished episode, read from ``telemetry.jsonl``.

Why server-side and downsampled: a 200 000-step run has a 60 MB telemetry file; the browser needs
at most a few thousand points per curve to draw it. Each curve is cut into equal step buckets and
each bucket is replaced by its mean (at the bucket's last step), so a noisy reward keeps its level
rather than whichever sample a stride happened to pick. Smoothing (EMA) is left to the viewer, as
in TensorBoard, so the slider needs no round trip.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from atom_sdk.platform.runindex import CACHE

SAFETY_MODES = ("nominal", "guarded", "fallback", "halted")
#: what each curve measures, for axis labels (units where the quantity has one)
CURVE_UNITS = {"reward": "reward per step", "trust": "theory trust (0-1)", "episode_return": "return per episode",
               "safety_mode": "mode (0 nominal … 3 halted)"}


def _parse(path: Path) -> dict[str, list[tuple[int, float]]]:
    """Every curve of a telemetry file, at full resolution (cached by the caller on size and mtime)."""
    curves: dict[str, list[tuple[int, float]]] = {"reward": [], "trust": [], "episode_return": [], "safety_mode": []}
    episode, total, last_step = None, 0.0, -1
    with path.open("rb") as handle:
        for raw in handle:
            if not raw.endswith(b"\n") or b'"step"' not in raw:
                continue
            try:
                rec = json.loads(raw)
            except ValueError:
                continue
            if not isinstance(rec, dict) or rec.get("kind") != "step":
                continue
            step = int(rec.get("step", 0))
            if episode is not None and rec.get("episode") != episode:
                curves["episode_return"].append((last_step, total))
                total = 0.0
            episode, last_step = rec.get("episode"), step
            reward = rec.get("reward")
            if isinstance(reward, (int, float)):
                curves["reward"].append((step, float(reward)))
                total += float(reward)
            if isinstance(rec.get("trust"), (int, float)):
                curves["trust"].append((step, float(rec["trust"])))
            mode = rec.get("safety_mode")
            if mode in SAFETY_MODES:
                curves["safety_mode"].append((step, float(SAFETY_MODES.index(mode))))
            for name, value in (rec.get("diagnostics") or {}).items():
                if isinstance(value, (int, float)):
                    curves.setdefault(f"diagnostics.{name}", []).append((step, float(value)))
    return {k: v for k, v in curves.items() if v}


def downsample(points: list[tuple[int, float]], max_points: int) -> list[list[float]]:
    """At most ``max_points`` points: bucket means at each bucket's last step (non-finite values dropped)."""
    if not points:
        return []
    arr = np.asarray(points, dtype=np.float64)
    arr = arr[np.isfinite(arr[:, 1])]
    if len(arr) <= max_points:
        return [[int(x), float(y)] for x, y in arr]
    edges = np.linspace(0, len(arr), max_points + 1).astype(int)
    out = []
    for lo, hi in zip(edges[:-1], edges[1:]):
        if hi > lo:
            out.append([int(arr[hi - 1, 0]), float(arr[lo:hi, 1].mean())])
    return out


def _world_of(path: Path) -> str | None:
    data = json.loads(path.read_text(encoding="utf-8"))
    cfg = data.get("config", data) if isinstance(data, dict) else {}
    world = cfg.get("world") if isinstance(cfg, dict) else None
    return world.get("name") if isinstance(world, dict) else None


def axis_labels(world_id: str | None, names: list[str]) -> dict[str, str]:
    """Axis label of each curve: the quantity and, where the world declares one, its unit."""
    from atom_sdk.errors import AtomError
    from atom_sdk.worlds.registry import world_class

    table: dict[str, Any] = {}
    reward_unit = "1"
    try:
        cls = world_class(world_id or "")
        table, reward_unit = dict(getattr(cls, "diagnostic_units", {}) or {}), str(getattr(cls, "reward_unit", "1"))
    except AtomError:
        pass
    out = {}
    for name in names:
        label, unit = CURVE_UNITS.get(name, name.removeprefix("diagnostics.")), None
        if name in ("reward", "episode_return"):
            unit = reward_unit
        elif name.startswith("diagnostics.") and name.removeprefix("diagnostics.") in table:
            unit = table[name.removeprefix("diagnostics.")].unit
        out[name] = f"{label} ({unit})" if unit and unit != "1" else label
    return out


def run_curves(folder: Path, max_points: int = 1000, names: list[str] | None = None) -> dict[str, Any]:
    """Downsampled curves of one run folder; an absent or unreadable telemetry file gives no curves."""
    try:
        full = CACHE.get(folder / "telemetry.jsonl", _parse)
    except (OSError, ValueError):
        full = {}
    try:
        world = CACHE.get(folder / "config.json", _world_of)
    except (OSError, ValueError, AttributeError):
        world = None
    selected = {k: v for k, v in full.items() if names is None or k in names}
    return {"curves": {k: downsample(v, max_points) for k, v in sorted(selected.items())},
            "points_total": {k: len(v) for k, v in sorted(selected.items())},
            "units": axis_labels(world, sorted(selected))}
