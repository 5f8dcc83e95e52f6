"""Append-only, hash-chained JSONL ledger of every hypothesis the scientist considered.

Each line is one JSON record::

    {"seq": 0, "time": "2025-01-01T00:00:00.000000+00:00", "run_id": "run", "kind": "candidate",
     "equations": [...], "scores": {...}, "reasons": [...], ..., "prev_sha256": "<64 hex>"}

``kind`` is ``candidate``, ``accepted`` or ``rejected``; ``prev_sha256`` is the SHA-256 of the
previous line's bytes (64 zeros for the first line), so editing or deleting any line breaks
the chain at the next one (:meth:`HypothesisLedger.verify`). :attr:`HypothesisLedger.head` (hash
of the last line) can be stored elsewhere to also pin the final line.

Crash safety: every append writes one ``line + "\\n"`` with a single ``write``, then ``flush`` and
``os.fsync`` before returning. A crash can therefore only leave a torn *final* line. On opening
for append, such a tail (no trailing newline, or an unparseable last line) is detected, copied
to ``<path>.torn`` for inspection, reported (:attr:`HypothesisLedger.recovered` and a warning)
and cut off; complete earlier lines are never rewritten. A corrupt line *before* the last one
cannot come from a crash and raises :class:`LedgerCorruptError`.

One process writes a ledger at a time (an advisory ``flock`` enforces it on POSIX). Within a
process, opening a ledger that another ``HypothesisLedger`` object still holds (e.g. a run resumed
after an interruption) takes it over: the older object can no longer append.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import threading
import warnings
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from atom_sdk.errors import ArtifactError

__all__ = ["HypothesisLedger", "LedgerCorruptError", "VerifyResult", "RECORD_KINDS", "GENESIS_HASH"]

RECORD_KINDS = ("candidate", "accepted", "rejected")
_OPEN: dict[str, weakref.ref[HypothesisLedger]] = {}  # writers open in this process, by real path
_OPEN_LOCK = threading.Lock()
GENESIS_HASH = "0" * 64


class LedgerCorruptError(ArtifactError):
    """A ledger line other than the last one is unreadable, or the file is locked by another writer."""

    code = "ledger_corrupt"
    http_status = 409


@dataclass
class VerifyResult:
    ok: bool
    n_records: int
    first_bad_line: int | None = None
    problems: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return self.ok


def _sha(line: bytes) -> str:
    return hashlib.sha256(line).hexdigest()


def jsonable(obj: Any) -> Any:
    """JSON-safe copy: numpy scalars/arrays to Python, non-finite floats to ``None``."""
    if isinstance(obj, Mapping):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set, frozenset)):
        items = sorted(obj, key=repr) if isinstance(obj, (set, frozenset)) else obj
        return [jsonable(v) for v in items]
    if isinstance(obj, np.ndarray):
        return jsonable(obj.tolist())
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        v = float(obj)
        return v if math.isfinite(v) else None
    if obj is None or isinstance(obj, str):
        return obj
    return str(obj)


def _encode(record: Mapping[str, Any]) -> bytes:
    return json.dumps(record, separators=(",", ":"), ensure_ascii=True, allow_nan=False).encode("ascii")


def _utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


class HypothesisLedger:
    """Hash-chained JSONL ledger (see module docstring).

    Parameters
    ----------
    path:
        File to create or extend (parent folders are created).
    readonly:
        Open for reading/verification only: nothing is repaired or written.
    fsync:
        ``fsync`` after every append (default). Turn off only for throwaway runs.
    clock:
        Callable returning the ``time`` field (default: ISO-8601 UTC now).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        readonly: bool = False,
        fsync: bool = True,
        clock: Callable[[], str] | None = None,
    ) -> None:
        self.path = Path(path)
        self.readonly = readonly
        self.fsync = fsync
        self._clock = clock or _utc_now
        self._lock = threading.Lock()
        self._records: list[dict[str, Any]] = []
        self._last_line: bytes | None = None
        self.recovered: dict[str, Any] | None = None
        self._fh = None
        self._taken_over = False
        if not readonly:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            created = not self.path.exists()
            self._fh = open(self.path, "ab")  # noqa: SIM115 - held open for appends
            self._try_lock()
            if created:
                self._fsync_dir()
        self._load()

    # ------------------------------------------------------------------ open / recovery
    def _try_lock(self) -> None:
        key = os.path.realpath(self.path)
        with _OPEN_LOCK:
            previous = _OPEN.get(key)
            old = previous() if previous is not None else None
            if old is not None and old is not self and old._fh is not None:
                # same process, same file (e.g. a run resumed after an interruption without
                # closing the first ledger): the newer object takes over and the older one can
                # no longer append, so the hash chain cannot fork
                old._close_fh()
                old._taken_over = True
            _OPEN[key] = weakref.ref(self)
        try:
            import fcntl
        except ImportError:  # pragma: no cover - non-POSIX
            return
        try:
            fcntl.flock(self._fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)  # type: ignore[union-attr]
        except OSError as exc:
            self._fh.close()  # type: ignore[union-attr]
            raise LedgerCorruptError(
                f"ledger {self.path} is being written by another process or object",
                hint="close the other HypothesisLedger first, or open this one with readonly=True",
            ) from exc

    def _fsync_dir(self) -> None:
        try:
            fd = os.open(self.path.parent, os.O_RDONLY)
        except OSError:  # pragma: no cover
            return
        try:
            os.fsync(fd)
        except OSError:  # pragma: no cover
            pass
        finally:
            os.close(fd)

    def _load(self) -> None:
        data = self.path.read_bytes() if self.path.exists() else b""
        lines = data.split(b"\n")
        tail = lines.pop()  # bytes after the last newline (b"" when the file ends cleanly)
        good_end = len(data) - len(tail)
        torn: bytes = tail
        records: list[dict[str, Any]] = []
        for i, line in enumerate(lines):
            try:
                rec = json.loads(line)
                if not isinstance(rec, dict):
                    raise ValueError("not an object")
            except ValueError as exc:
                if i == len(lines) - 1 and not tail:
                    # complete-looking but unparseable final line: also a torn write
                    good_end -= len(line) + 1
                    torn = line + b"\n"
                    break
                if self.readonly:
                    records.append({"_corrupt_line": i, "_error": str(exc)})
                    continue
                self._close_fh()
                raise LedgerCorruptError(
                    f"ledger {self.path} line {i + 1} is unreadable ({exc}) and is not the last line",
                    hint="the file was edited or damaged; inspect it or start a new ledger",
                ) from exc
            records.append(rec)
        self._records = records
        complete = [ln for ln in lines[: len(records)]]
        self._last_line = complete[-1] if complete else None
        if torn:
            self.recovered = {"offset": good_end, "bytes": len(torn), "saved_to": None}
            msg = f"ledger {self.path}: ignored a torn final line ({len(torn)} bytes at offset {good_end})"
            if not self.readonly:
                side = self.path.with_name(self.path.name + ".torn")
                with open(side, "ab") as fh:
                    fh.write(torn if torn.endswith(b"\n") else torn + b"\n")
                    fh.flush()
                    os.fsync(fh.fileno())
                self.recovered["saved_to"] = str(side)
                os.truncate(self.path, good_end)
                if self._fh is not None:
                    os.fsync(self._fh.fileno())
                msg += f"; saved to {side} and cut off"
            warnings.warn(msg, RuntimeWarning, stacklevel=3)

    # ------------------------------------------------------------------ writing
    def append(
        self,
        kind: str,
        *,
        run_id: str = "run",
        equations: Sequence[Mapping[str, Any]] = (),
        scores: Mapping[str, Any] | None = None,
        reasons: Sequence[str] = (),
        **extra: Any,
    ) -> dict[str, Any]:
        """Append one record, flush and fsync; returns the record as written."""
        if self._taken_over:
            raise ArtifactError(
                f"ledger {self.path} was reopened by a newer HypothesisLedger in this process",
                hint="append through the newer object",
            )
        if self.readonly or self._fh is None:
            raise ArtifactError(f"ledger {self.path} is open read-only or closed")
        if kind not in RECORD_KINDS:
            raise ValueError(f"kind must be one of {RECORD_KINDS}, got {kind!r}")
        reserved = {"seq", "time", "run_id", "kind", "equations", "scores", "reasons", "prev_sha256"}
        clash = reserved & set(extra)
        if clash:
            raise ValueError(f"extra fields clash with reserved names: {sorted(clash)}")
        with self._lock:
            record: dict[str, Any] = {
                "seq": len(self._records),
                "time": self._clock(),
                "run_id": str(run_id),
                "kind": kind,
                "equations": jsonable(list(equations)),
                "scores": jsonable(dict(scores or {})),
                "reasons": [str(r) for r in reasons],
            }
            record.update(jsonable(extra))
            record["prev_sha256"] = _sha(self._last_line) if self._last_line is not None else GENESIS_HASH
            line = _encode(record)
            self._fh.write(line + b"\n")
            self._fh.flush()
            if self.fsync:
                os.fsync(self._fh.fileno())
            self._records.append(record)
            self._last_line = line
        return dict(record)

    # ------------------------------------------------------------------ reading
    def records(
        self, run_id: str | None = None, kind: str | Sequence[str] | None = None, backend: str | None = None
    ) -> list[dict[str, Any]]:
        """Records in order, optionally filtered by ``run_id``, ``kind`` (one or several) and the
        discovery ``backend`` that proposed the law (a record without one is ``"sparse"``)."""
        kinds = {kind} if isinstance(kind, str) else (set(kind) if kind is not None else None)
        return [
            dict(r)
            for r in self._records
            if (run_id is None or r.get("run_id") == run_id)
            and (kinds is None or r.get("kind") in kinds)
            and (backend is None or r.get("backend", "sparse") == backend)
        ]

    filter = records

    def __len__(self) -> int:
        return len(self._records)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.records())

    @property
    def last(self) -> dict[str, Any] | None:
        return dict(self._records[-1]) if self._records else None

    @property
    def head(self) -> str:
        """SHA-256 of the last line (``GENESIS_HASH`` when empty)."""
        return _sha(self._last_line) if self._last_line is not None else GENESIS_HASH

    def verify(self, expected_head: str | None = None) -> VerifyResult:
        """Re-read the file and check JSON, sequence numbers and the hash chain."""
        data = self.path.read_bytes() if self.path.exists() else b""
        lines = data.split(b"\n")
        tail = lines.pop()
        problems: list[str] = []
        first_bad: int | None = None
        prev = GENESIS_HASH
        n = 0

        def bad(i: int, msg: str) -> None:
            nonlocal first_bad
            problems.append(f"line {i + 1}: {msg}")
            if first_bad is None:
                first_bad = i + 1

        for i, line in enumerate(lines):
            try:
                rec = json.loads(line)
            except ValueError as exc:
                bad(i, f"not JSON ({exc})")
                prev = _sha(line)
                continue
            n += 1
            if not isinstance(rec, dict):
                bad(i, "not a JSON object")
            else:
                if rec.get("prev_sha256") != prev:
                    bad(i, "hash chain broken (previous line was changed, removed or reordered)")
                if rec.get("seq") != i:
                    bad(i, f"sequence number {rec.get('seq')} != {i}")
                if rec.get("kind") not in RECORD_KINDS:
                    bad(i, f"unknown kind {rec.get('kind')!r}")
            prev = _sha(line)
        if tail:
            bad(len(lines), "torn final line (no newline)")
        if expected_head is not None and prev != expected_head:
            problems.append("head hash differs from the expected one (last line changed or lines appended/removed)")
            if first_bad is None:
                first_bad = len(lines)
        return VerifyResult(ok=not problems, n_records=n, first_bad_line=first_bad, problems=problems)

    # ------------------------------------------------------------------ lifecycle
    def _close_fh(self) -> None:
        if self._fh is not None:
            try:
                self._fh.close()
            finally:
                self._fh = None

    def close(self) -> None:
        self._close_fh()

    def __enter__(self) -> HypothesisLedger:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __del__(self) -> None:  # pragma: no cover - best effort
        with contextlib.suppress(Exception):
            self._close_fh()

    def __repr__(self) -> str:
        return f"HypothesisLedger({str(self.path)!r}, records={len(self._records)})"
