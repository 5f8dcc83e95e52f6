"""Which of several web processes serving one workspace owns the job workers.

Why: ``atom serve --web-workers N`` runs N processes of the same app. Exactly one of them may mark
the jobs a previous server left running as interrupted and start the worker pool; if two did, the
second would mark the first one's running jobs interrupted and a job could run twice. The leader
is whoever holds an exclusive ``flock`` on ``<workspace>/serve-leader.lock``; the kernel drops the
lock when that process exits, so a later server can take over, and a second ``atom serve`` on a
workspace that is still being served never touches the first one's jobs.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import IO

LOCK_NAME = "serve-leader.lock"


class LeaderLock:
    """A held leader lock; ``release()`` (or process exit) frees it."""

    def __init__(self, handle: IO[str], path: Path) -> None:
        self._handle: IO[str] | None = handle
        self.path = path

    def release(self) -> None:
        if self._handle is not None:
            self._handle.close()  # closing the descriptor drops the flock
            self._handle = None


def try_acquire(workspace: Path) -> LeaderLock | None:
    """The leader lock of ``workspace`` if no other process (or open app) holds it, else None."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: one web process only, it leads
        return LeaderLock(open(os.devnull, "w", encoding="utf-8"), Path(os.devnull))
    workspace.mkdir(parents=True, exist_ok=True)
    path = workspace / LOCK_NAME
    handle = open(path, "a+", encoding="utf-8")  # noqa: SIM115 - held open for the process's life
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        return None
    handle.seek(0)
    handle.truncate()
    handle.write(f"{os.getpid()}\n")
    handle.flush()
    return LeaderLock(handle, path)
