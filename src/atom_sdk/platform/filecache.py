"""Parsed files kept until the file changes: keyed on (what parsed it, path), stamped (size, mtime).

Why one cache: the run index, the curves and the job readers all re-read files that mostly have
not changed since the last request; a stat is far cheaper than a parse. Least recently used
entries go first once ``size`` is reached.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any, Callable


class StampedFileCache:
    """``get(path, parse)`` returns ``parse(path)``, re-parsed only when the file's size or mtime moved."""

    def __init__(self, size: int = 8192) -> None:
        self._data: OrderedDict[str, tuple[tuple[int, int], Any]] = OrderedDict()
        self._lock = threading.Lock()
        self._size = size

    def get(self, path: Path, parse: Callable[[Path], Any], tag: str | None = None) -> Any:
        """The parsed file; ``tag`` names the parse when ``parse.__name__`` alone is not unique.
        OSError from the stat propagates: the caller decides what a missing file means."""
        stat = path.stat()
        stamp = (stat.st_size, stat.st_mtime_ns)
        key = f"{tag or parse.__name__}|{path}"
        with self._lock:
            hit = self._data.get(key)
        if hit is not None and hit[0] == stamp:
            return hit[1]
        value = parse(path)
        with self._lock:
            self._data[key] = (stamp, value)
            self._data.move_to_end(key)
            while len(self._data) > self._size:
                self._data.popitem(last=False)
        return value
