"""The file-based control channel between an operator and a running envelope.

Why files: ``atom run`` is a plain process with no server, and platform runs execute in worker
processes; both own a run folder. An operator (``atom safety rebaseline`` or
``POST /api/v1/runs/{run_id}/safety/rebaseline``) drops a request into ``<run>/control/``; the envelope
of the running experiment (given that folder as ``control_dir``) polls it once per step, takes the
request exactly once (an atomic rename claims it, so a request written meanwhile is never lost) and
records what it did in its log, so the event reaches ``telemetry.jsonl`` and ``results.json``.

Request file ``control/rebaseline.json`` (written atomically with ``write_json``)::

    {"schema": "atom.safety_control/1", "action": "rebaseline", "source": "cli" | "api" | "operator",
     "who": "alice", "note": "new inlet installed", "requested_at": "2025-01-01T12:00:00Z"}

A second request before the first is taken replaces it: re-baselining twice in a row is once.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from atom_sdk.artifacts import utc_now, write_json
from atom_sdk.errors import ConfigError

CONTROL_DIR = "control"
REBASELINE_FILE = "rebaseline.json"
SCHEMA = "atom.safety_control/1"
SOURCES = ("operator", "cli", "api")
MAX_NOTE = 1000
MAX_WHO = 128


def control_dir(run_dir: str | Path) -> Path:
    """The control folder of a run folder (what the runner hands the envelope as ``control_dir``)."""
    return Path(run_dir) / CONTROL_DIR


def _clean_text(value: Any, what: str, limit: int) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ConfigError(f"{what} must be text, got {type(value).__name__}")
    if len(value) > limit:
        raise ConfigError(f"{what} is {len(value)} characters; keep it to at most {limit}")
    if any(ord(c) < 32 and c not in "\t\n" for c in value):
        raise ConfigError(f"{what} contains control characters; use plain text")
    return value


def make_request(source: str, who: str | None = None, note: str | None = None) -> dict[str, Any]:
    """A validated re-baseline request (``ConfigError`` with one line on a bad field)."""
    if source not in SOURCES:
        raise ConfigError(f"unknown request source {source!r}; use one of {', '.join(SOURCES)}")
    return {"schema": SCHEMA, "action": "rebaseline", "source": source,
            "who": _clean_text(who, "who", MAX_WHO), "note": _clean_text(note, "the note", MAX_NOTE),
            "requested_at": utc_now()}


def request_rebaseline(folder: str | Path, source: str, who: str | None = None,
                       note: str | None = None) -> dict[str, Any]:
    """Write ``<folder>/rebaseline.json`` (``folder`` is a control folder); returns the request written."""
    request = make_request(source, who, note)
    path = Path(folder) / REBASELINE_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json(path, request)
    return request


def take_request(folder: str | Path | None) -> dict[str, Any] | None:
    """Claim and remove the pending request, if any.

    Returns None when there is none, the request when it is valid, or ``{"rejected": why, ...}`` when
    the file could not be used (it is removed either way, so a bad file cannot repeat every step).
    """
    if folder is None:
        return None
    path = Path(folder) / REBASELINE_FILE
    if not path.is_file():
        return None
    claimed = path.with_name(f"{REBASELINE_FILE}.taken.{os.getpid()}")
    try:
        os.replace(path, claimed)
    except OSError:
        return None  # gone meanwhile (another reader), or the folder is read-only: nothing to act on
    try:
        data = json.loads(claimed.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        return {"rejected": f"unreadable request: {exc}"}
    finally:
        try:
            claimed.unlink()
        except OSError:
            pass
    if not isinstance(data, dict) or data.get("action") != "rebaseline":
        return {"rejected": "not a rebaseline request"}
    try:
        return {**make_request(str(data.get("source", "operator")), data.get("who"), data.get("note")),
                "requested_at": data.get("requested_at")}
    except ConfigError as exc:
        return {"rejected": str(exc)}
