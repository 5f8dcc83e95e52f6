"""Safe artifact I/O: atomic writes, flushed JSONL appends, and paths confined to a root.

Why: a crash or Ctrl-C must never leave a half-written ``results.json``, and a user-supplied
relative path must never escape the folder it is meant for.
"""

from __future__ import annotations

import datetime as _dt
import functools
import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any

from atom_sdk.errors import ArtifactError, PathOutsideWorkspaceError


def utc_now() -> str:
    """The time stamp artifacts record (ISO 8601, UTC, whole seconds), so files from any machine compare."""
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def _json_default(obj: Any) -> Any:
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if hasattr(obj, "item"):
        return obj.item()
    if isinstance(obj, Path):
        return str(obj)
    if hasattr(obj, "model_dump"):
        return obj.model_dump(mode="json")
    raise TypeError(f"cannot serialise {type(obj).__name__} to JSON")


def _sanitize(obj: Any) -> Any:
    """Replace NaN/Inf by None so the file stays valid JSON (RFC 8259 has no NaN)."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _sanitize(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_sanitize(v) for v in obj]
    return obj


def dumps_json(obj: Any, *, indent: int | None = 2) -> str:
    obj = json.loads(json.dumps(obj, default=_json_default))
    return json.dumps(_sanitize(obj), indent=indent, sort_keys=True, allow_nan=False)


@functools.lru_cache(maxsize=1)
def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write to a temporary file in the same folder, fsync, then rename over the target.

    A failure (disk full, permission, Ctrl-C) leaves the previous file untouched and no
    temporary behind; an ``OSError`` names the target, not the temporary file.
    """
    path = Path(path)
    tmp: str | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600; artifacts get the user's usual mode
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        raise OSError(exc.errno, exc.strerror, str(path)) from exc
    except BaseException:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path: str | Path, text: str) -> Path:
    """``atomic_write_bytes`` of UTF-8 text."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def write_json(path: str | Path, obj: Any) -> Path:
    return atomic_write_text(path, dumps_json(obj) + "\n")


def read_json(path: str | Path) -> Any:
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ArtifactError(f"'{path}' does not exist; check the path or produce it first") from None
    except json.JSONDecodeError as exc:
        raise ArtifactError(f"'{path}' is not valid JSON ({exc.msg} at line {exc.lineno}); regenerate it") from None


class JsonlWriter:
    """Append-only JSON-lines file, flushed after every record so a reader sees it at once."""

    def __init__(self, path: str | Path, *, fsync: bool = False) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fsync = fsync
        self._handle = self.path.open("a", encoding="utf-8")

    def write(self, record: dict[str, Any]) -> None:
        self._handle.write(dumps_json(record, indent=None) + "\n")
        self._handle.flush()
        if self._fsync:
            os.fsync(self._handle.fileno())

    def close(self) -> None:
        if not self._handle.closed:
            self._handle.close()

    def __enter__(self) -> "JsonlWriter":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_jsonl(path: str | Path) -> list[dict[str, Any]]:
    """Read every complete line; a torn last line (crash mid-write) is skipped."""
    records: list[dict[str, Any]] = []
    path = Path(path)
    if not path.exists():
        return records
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return records


def confined_path(root: str | Path, relative: str) -> Path:
    """Resolve ``relative`` under ``root``; refuse absolute paths, ``..`` and symlinks that escape."""
    root_path = Path(root).resolve()
    if not relative or "\x00" in relative:
        raise PathOutsideWorkspaceError("empty or invalid path; give a path relative to the folder")
    candidate = Path(relative)
    if candidate.is_absolute() or any(part == ".." for part in candidate.parts):
        raise PathOutsideWorkspaceError(
            f"path '{relative}' is absolute or contains '..'; give a path inside '{root_path.name}'"
        )
    resolved = (root_path / candidate).resolve()
    if resolved != root_path and root_path not in resolved.parents:
        raise PathOutsideWorkspaceError(f"path '{relative}' leaves '{root_path.name}' through a symlink; refusing")
    return resolved
