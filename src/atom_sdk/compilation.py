"""XLA compilation: JAX's persistent cache switched on for runs, and compilations counted.

Why: a closed-loop run on a small grid spends about half its wall time compiling, and a second
run of the same configuration used to pay it all again. JAX can keep compiled programs on disk
(its persistent compilation cache); the cache key already covers the JAX and jaxlib versions,
the backend, the device kind and the XLA flags, so one folder is safe across upgrades (an
entry written by another version is never read back: it simply misses).

Where the cache lives, first match wins:

1. ``ATOM_COMPILATION_CACHE=off`` (or ``0``, ``false``, ``no``): no persistent cache;
2. ``JAX_COMPILATION_CACHE_DIR`` (JAX's own setting) when the user already set it;
3. ``ATOM_COMPILATION_CACHE=/some/folder``;
4. ``$XDG_CACHE_HOME/atom-sdk/jax`` or ``~/.cache/atom-sdk/jax``.

A folder that cannot be created or written leaves the cache off with one warning; a run never
fails because of its cache. ``CompilationCounter`` counts backend compilations (programs XLA
built, or loaded from the persistent cache) through ``jax.monitoring``, so a test can pin the
number of programs a run compiles and a benchmark can report it.
"""

from __future__ import annotations

import os
import sys
import threading
import warnings
from dataclasses import dataclass
from pathlib import Path

#: the environment variable that places (or switches off) the persistent cache
CACHE_ENV = "ATOM_COMPILATION_CACHE"
_OFF = {"off", "0", "false", "no"}

_BACKEND_COMPILE = "/jax/core/compile/backend_compile_duration"
_CACHE_HIT = "/jax/compilation_cache/cache_hits"
_CACHE_MISS = "/jax/compilation_cache/cache_misses"

_lock = threading.Lock()
_enabled_dir: Path | None = None
_configured = False


def default_cache_dir() -> Path | None:
    """The folder the persistent cache uses under the rules above (None: switched off)."""
    setting = os.environ.get(CACHE_ENV, "").strip()
    if setting.lower() in _OFF:
        return None
    jax_own = os.environ.get("JAX_COMPILATION_CACHE_DIR", "").strip()
    if jax_own:
        return Path(jax_own).expanduser()
    if setting:
        return Path(setting).expanduser()
    base = os.environ.get("XDG_CACHE_HOME", "").strip() or str(Path.home() / ".cache")
    return Path(base).expanduser() / "atom-sdk" / "jax"


def enable_persistent_cache(directory: str | Path | None = None) -> Path | None:
    """Switch JAX's persistent compilation cache on (once per process); the folder, or None.

    Every program is cached, however quick its compilation: a run compiles dozens of small
    programs (0.1 to 1 s each) whose sum, not any single one, is the cost. Call it before the
    first computation; a later call is a no-op that returns the folder already in use. It does
    not import JAX: the CLI calls it for every command.
    """
    global _enabled_dir, _configured
    with _lock:
        if _configured:
            return _enabled_dir
        _configured = True
        folder = Path(directory).expanduser() if directory is not None else default_cache_dir()
        if folder is None:  # switched off: also for a JAX_COMPILATION_CACHE_DIR inherited from a parent
            os.environ.pop("JAX_COMPILATION_CACHE_DIR", None)
            if "jax" in sys.modules:
                import jax

                jax.config.update("jax_compilation_cache_dir", None)
            return None
        try:
            folder.mkdir(parents=True, exist_ok=True)
            probe = folder / f".write-probe-{os.getpid()}"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as exc:
            warnings.warn(f"compilation cache off: cannot write {folder} ({exc.strerror or exc}); "
                          f"set {CACHE_ENV} to a writable folder, or to 'off'", RuntimeWarning, stacklevel=2)
            return None
        # The environment reaches JAX when it is imported later, and the worker processes a run
        # or a sweep starts; a JAX already imported is configured directly.
        os.environ["JAX_COMPILATION_CACHE_DIR"] = str(folder)
        os.environ["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0"
        os.environ["JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES"] = "0"
        if "jax" in sys.modules:
            import jax

            jax.config.update("jax_compilation_cache_dir", str(folder))
            jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
            jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
        _enabled_dir = folder
        return folder


def active_cache_dir() -> Path | None:
    """The folder the persistent cache of this process uses (None: not switched on)."""
    return _enabled_dir


@dataclass
class CompilationCount:
    """Backend compilations seen, and how many of them the persistent cache served."""

    compiled: int = 0
    cache_hits: int = 0
    cache_misses: int = 0
    seconds: float = 0.0

    def as_dict(self) -> dict[str, float | int]:
        return {"compilations": self.compiled, "cache_hits": self.cache_hits,
                "cache_misses": self.cache_misses, "compile_seconds": round(self.seconds, 3)}


_totals = CompilationCount()
_listening = False


def _on_event(event: str, **_: object) -> None:
    if event == _CACHE_HIT:
        _totals.cache_hits += 1
    elif event == _CACHE_MISS:
        _totals.cache_misses += 1


def _on_duration(event: str, duration: float, **_: object) -> None:
    if event == _BACKEND_COMPILE:
        _totals.compiled += 1
        _totals.seconds += float(duration)


def _listen() -> None:
    global _listening
    with _lock:
        if _listening:
            return
        from jax import monitoring

        monitoring.register_event_listener(_on_event)
        monitoring.register_event_duration_secs_listener(_on_duration)
        _listening = True


class CompilationCounter:
    """Counts the backend compilations inside a ``with`` block (process-wide, all threads)::

        with CompilationCounter() as count:
            run_experiment(config, out)
        count.compiled, count.cache_hits
    """

    def __enter__(self) -> CompilationCount:
        _listen()
        self._start = CompilationCount(**vars(_totals))
        self._count = CompilationCount()
        return self._count

    def __exit__(self, *exc: object) -> None:
        for name in ("compiled", "cache_hits", "cache_misses", "seconds"):
            setattr(self._count, name, getattr(_totals, name) - getattr(self._start, name))
