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
import os
import threading
from array import array
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np

from atom_sdk.platform.runindex import CACHE

SAFETY_MODES = ("nominal", "guarded", "fallback", "halted")
#: what each curve measures, for axis labels (units where the quantity has one)
CURVE_UNITS = {"reward": "reward per step", "trust": "theory trust (0-1)", "episode_return": "return per episode",
               "safety_mode": "mode (0 nominal … 3 halted)"}
#: full-resolution curves of this many runs are kept (16 bytes a point: a 200k-step run is ~20 MB)
KEEP_RUNS = 16
#: bytes before the parsed end of a file that must be unchanged to continue from there
_CHECK = 64


class _Curves:
    """The curves of one telemetry file, parsed incrementally: a live run's refresh reads only new lines.

    Points are kept in ``array('d')`` pairs (steps, values), not tuples, so a long run stays small.
    A file that shrank or whose bytes before the parsed end changed (a resumed run rewrites from
    its checkpoint) is parsed again from the start.
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        self.offset = 0
        self.check = b""
        self.episode: Any = None
        self.total = 0.0
        self.last_step = -1
        self.points: dict[str, tuple[array, array]] = {}

    def _add(self, name: str, step: int, value: float) -> None:
        pair = self.points.get(name)
        if pair is None:
            pair = self.points[name] = (array("d"), array("d"))
        pair[0].append(step)
        pair[1].append(value)

    def update(self, path: Path) -> None:
        with path.open("rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            if size < self.offset or (self.offset and _tail(handle, self.offset) != self.check):
                self.reset()
            handle.seek(self.offset)
            data = handle.read(size - self.offset)
            complete = data.rfind(b"\n") + 1  # a last line still being written waits for the next call
            for raw in data[:complete].split(b"\n"):
                if b'"step"' in raw:
                    self._line(raw)
            self.offset += complete
            self.check = _tail(handle, self.offset)

    def _line(self, raw: bytes) -> None:
        try:
            rec = json.loads(raw)
        except ValueError:
            return
        if not isinstance(rec, dict) or rec.get("kind") != "step":
            return
        step = int(rec.get("step", 0))
        add = self._add
        if self.episode is not None and rec.get("episode") != self.episode:
            add("episode_return", self.last_step, self.total)
            self.total = 0.0
        self.episode, self.last_step = rec.get("episode"), step
        reward, trust, mode = rec.get("reward"), rec.get("trust"), rec.get("safety_mode")
        if reward.__class__ in (float, int):
            add("reward", step, reward)
            self.total += reward
        if trust.__class__ in (float, int):
            add("trust", step, trust)
        if mode in SAFETY_MODES:
            add("safety_mode", step, SAFETY_MODES.index(mode))
        diagnostics = rec.get("diagnostics")
        if diagnostics:
            for name, value in diagnostics.items():
                if value.__class__ in (float, int):
                    add("diagnostics." + name, step, value)

    def arrays(self) -> dict[str, np.ndarray]:
        return {k: np.column_stack([np.frombuffer(xs), np.frombuffer(ys)]) for k, (xs, ys) in self.points.items()}


def _tail(handle: Any, offset: int) -> bytes:
    start = max(0, offset - _CHECK)
    handle.seek(start)
    return handle.read(offset - start)


_parsed: OrderedDict[str, _Curves] = OrderedDict()
_parsed_lock = threading.Lock()


def telemetry_curves(path: Path) -> dict[str, np.ndarray]:
    """Full-resolution curves of a telemetry file, as (n, 2) arrays of (step, value)."""
    key = str(path)
    with _parsed_lock:
        curves = _parsed.pop(key, None) or _Curves()
        _parsed[key] = curves
        while len(_parsed) > KEEP_RUNS:
            _parsed.popitem(last=False)
    with curves.lock:  # two requests for one live run must not both append its new lines
        curves.update(path)
        return curves.arrays()


def downsample(points: Any, max_points: int) -> list[list[float]]:
    """At most ``max_points`` points: bucket means at each bucket's last step (non-finite values dropped)."""
    arr = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    arr = arr[np.isfinite(arr[:, 1])]
    if len(arr) <= max_points:
        return [[int(x), float(y)] for x, y in arr]
    edges = np.unique(np.linspace(0, len(arr), max_points + 1).astype(int))
    starts, ends = edges[:-1], edges[1:]
    means = np.add.reduceat(arr[:, 1], starts) / (ends - starts)
    return [[int(x), float(y)] for x, y in zip(arr[ends - 1, 0], means)]


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
    path = folder / "telemetry.jsonl"
    try:
        full = {} if path.is_symlink() else telemetry_curves(path)  # a link could lead out of the workspace
    except (OSError, ValueError):
        full = {}
    try:
        world = None if (folder / "config.json").is_symlink() else CACHE.get(folder / "config.json", _world_of)
    except (OSError, ValueError, AttributeError):
        world = None
    selected = {k: v for k, v in full.items() if names is None or k in names}
    return {"curves": {k: downsample(v, max_points) for k, v in sorted(selected.items())},
            "points_total": {k: len(v) for k, v in sorted(selected.items())},
            "units": axis_labels(world, sorted(selected))}
