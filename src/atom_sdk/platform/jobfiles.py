"""Reading a job's folder from the web process: telemetry pages, artifacts, field snapshots, events.

Why a cursor in *lines*: ``telemetry.jsonl`` is append-only (a resumed run truncates back to its
checkpointed line count and continues), so "lines after N" is a stable, resumable position for
both polling and Server-Sent Events. Byte offsets of recent cursors are cached, so following a
live run reads only the new bytes.
"""

from __future__ import annotations

import json
import mimetypes
import threading
from collections import OrderedDict
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from atom_sdk.artifacts import atomic_write_text, confined_path
from atom_sdk.errors import ArtifactError

TELEMETRY = "telemetry.jsonl"
TIMELINE = "timeline.jsonl"
FIELD = "field_snapshot.json"
HIDDEN = {".lock"}

_offsets: OrderedDict[tuple[str, int], tuple[int, bytes]] = OrderedDict()
_offsets_lock = threading.Lock()
#: bytes before a cached offset that must still be there for the offset to be trusted
_CHECK = 64


def _before(handle: Any, offset: int) -> bytes:
    start = max(0, offset - _CHECK)
    handle.seek(start)
    return handle.read(offset - start)


def read_lines(path: Path, after: int = 0, limit: int = 500) -> tuple[list[dict[str, Any]], int]:
    """Complete JSON lines with index >= ``after`` (at most ``limit``) and the next cursor.

    A cached byte offset is used only while the bytes just before it are unchanged: a resumed
    run truncates the file to its checkpoint and writes it again, possibly with lines of other
    lengths, and a stale offset would then land inside a line.
    """
    if not path.is_file():
        return [], after
    key = (str(path), after)
    with _offsets_lock:
        hit = _offsets.get(key)
    size = path.stat().st_size
    items: list[dict[str, Any]] = []
    with path.open("rb") as handle:
        offset, start_line = (hit[0], after) if hit is not None else (0, 0)
        if hit is not None and (offset > size or _before(handle, offset) != hit[1]):
            offset, start_line = 0, 0
        line_no = start_line
        handle.seek(offset)
        while len(items) < limit:
            raw = handle.readline()
            if not raw or not raw.endswith(b"\n"):
                break  # end of file, or a line still being written
            offset += len(raw)
            if line_no >= after:
                try:
                    record = json.loads(raw)
                except json.JSONDecodeError:
                    record = {"kind": "unreadable"}
                if isinstance(record, dict):
                    record["line"] = line_no
                    items.append(record)
            line_no += 1
        check = _before(handle, offset)
    cursor = max(line_no, after)
    with _offsets_lock:
        _offsets[(str(path), cursor)] = (offset, check)
        _offsets.move_to_end((str(path), cursor))
        while len(_offsets) > 2048:
            _offsets.popitem(last=False)
    return items, cursor


def list_artifacts(root: Path) -> list[dict[str, Any]]:
    if not root.is_dir():
        return []
    out = []
    base = root.resolve()
    for path in sorted(root.rglob("*")):
        if not path.is_file() or path.name.startswith(".") or path.is_symlink():
            continue
        try:
            path.resolve().relative_to(base)
        except ValueError:
            continue
        stat = path.stat()
        rel = path.relative_to(root).as_posix()
        out.append({"path": rel, "size": stat.st_size, "modified": datetime.fromtimestamp(stat.st_mtime, timezone.utc),
                    "media_type": media_type(path)})
    return out


def media_type(path: Path) -> str:
    if path.suffix in (".jsonl", ".log"):
        return "text/plain"
    guessed, _ = mimetypes.guess_type(path.name)
    return guessed or "application/octet-stream"


#: shown inline in the browser; everything else is sent as an attachment (no HTML/SVG rendering)
INLINE_TYPES = {"image/png", "application/json", "text/plain", "application/pdf", "text/csv"}


def artifact_file(root: Path, relative: str) -> Path:
    path = confined_path(root, relative)
    if not path.is_file():
        raise ArtifactError(f"artifact '{relative}' does not exist; list them with GET .../artifacts")
    return path


#: at most this many z-slices of a 3-D field go into a snapshot (for the UI's slice selector)
MAX_SLICES = 16


def _downsample(arr: np.ndarray, max_side: int) -> tuple[np.ndarray, tuple[int, int]]:
    """Block means so that neither side exceeds ``max_side``; also returns the block sizes."""
    sx, sy = max(1, -(-arr.shape[0] // max_side)), max(1, -(-arr.shape[1] // max_side))
    nx, ny = arr.shape[0] // sx * sx or arr.shape[0], arr.shape[1] // sy * sy or arr.shape[1]
    arr = arr[:nx, :ny]
    if sx > 1 or sy > 1:
        arr = arr.reshape(nx // sx, sx, ny // sy, sy).mean(axis=(1, 3))
    return np.nan_to_num(arr, nan=0.0, posinf=0.0, neginf=0.0), (sx, sy)


def write_field_snapshot(out_dir: Path, world: Any, step: int, max_side: int = 64) -> None:
    """Downsampled 2-D slice of the most telling scalar field (vorticity, speed, density...).

    A 3-D field also carries up to ``MAX_SLICES`` evenly spaced z-slices (each at most 32 cells a
    side, so a snapshot stays under ~200 kB), for the heat map's slice selector; ``data`` is the
    middle slice either way. ``grid`` and ``cell`` let the viewer label its axes in grid cells.
    """
    fields = world.fields()
    order = [n for n in ("vorticity", "speed", "velocity", "pressure", "density") if n in fields] + list(fields)
    name, arr = order[0], np.zeros((1, 1))
    for candidate in order:  # the first field that is not constant
        value = np.asarray(fields[candidate], dtype=np.float64)
        if value.ndim == 4:  # vector field (3, nx, ny, nz): magnitude
            value = np.sqrt(np.sum(value**2, axis=0))
            candidate = f"|{candidate}|"
        name, arr = candidate, value
        if np.nanmax(value) > np.nanmin(value):
            break
    while arr.ndim > 3:
        arr = arr[..., 0]
    if arr.ndim == 1:
        arr = arr[:, None]
    volume = arr if arr.ndim == 3 else arr[:, :, None]
    grid = [int(n) for n in volume.shape]
    middle = volume.shape[2] // 2
    plane, (sx, sy) = _downsample(volume[:, :, middle], max_side)
    data: dict[str, Any] = {"step": int(step), "name": name, "shape": [int(plane.shape[0]), int(plane.shape[1])],
                            "min": float(plane.min()), "max": float(plane.max()), "grid": grid, "cell": [sx, sy],
                            "slice_index": middle, "data": np.round(plane.T, 6).tolist()}
    if volume.shape[2] > 1:
        at = sorted({int(k) for k in np.linspace(0, volume.shape[2] - 1, min(MAX_SLICES, volume.shape[2]))})
        planes = [_downsample(volume[:, :, k], min(max_side, 32)) for k in at]
        values = np.stack([p for p, _ in planes])
        data.update(slice_positions=at, slice_cell=list(planes[0][1]),
                    slices=np.round(values.transpose(0, 2, 1), 6).tolist(),
                    slices_min=float(values.min()), slices_max=float(values.max()))
    atomic_write_text(out_dir / FIELD, json.dumps(data))
