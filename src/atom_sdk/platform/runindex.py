"""One index of every closed-loop run in the workspace, wherever it was launched from.

Why: the CLI (``atom run --output-root``), the Python API (``run_experiment(cfg, out_dir)``) and the
platform's workers all write the same run folder (``config.json``, the ``.atom-output.json`` marker
of kind ``run``, ``telemetry.jsonl``, ``ledger.jsonl``, ``results.json`` at the end), but only the
platform's runs had a row in the job store, so runs made outside the UI were invisible to it. This
module finds run folders under the workspace (never following a symlink out of it), summarises
each from its files, and merges in the store's run jobs (the store knows their state, the folder
their numbers). A folder that cannot be read is listed with status ``broken`` and the reason; it
never fails the index. File reads are cached on (size, mtime), so a refresh re-reads only what changed.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable

from atom_sdk.artifacts import confined_path
from atom_sdk.errors import PathOutsideWorkspaceError
from atom_sdk.platform.filecache import StampedFileCache
from atom_sdk.workspace import MARKER_FILE

#: how deep below the workspace run folders are looked for (root/sweep/variant/seed/run)
MAX_DEPTH = 5
#: stop scanning after this many folders (a workspace is not a file system crawl)
MAX_FOLDERS = 20_000
#: folders that are parts of a run or of the platform, never runs themselves
SKIP_DIRS = {"checkpoints", "control", "evaluations", "geometries", "__pycache__", "node_modules"}
#: a folder without results whose telemetry changed this recently is taken to be still running
LIVE_SECONDS = 60.0
#: bytes read from the end of ``telemetry.jsonl`` for the latest step of an unfinished run
TAIL_BYTES = 65_536

FOLDER_PREFIX = "dir:"


@dataclass(frozen=True)
class Found:
    """A run folder found by the scan: its path, its key, and the job id when the store owns it."""

    path: Path
    key: str
    job_id: str | None


CACHE = StampedFileCache()


# ----------------------------------------------------------------------------- finding run folders
def is_run_folder(path: Path) -> bool:
    """A folder the runner wrote: its marker says ``run``, or it holds a run's config or results."""
    marker = path / MARKER_FILE
    if marker.is_file() and not marker.is_symlink():
        try:
            return json.loads(marker.read_text(encoding="utf-8")).get("kind") == "run"
        except (OSError, ValueError, AttributeError):
            pass
    return (path / "config.json").is_file() and ((path / "telemetry.jsonl").is_file()
                                                 or (path / "results.json").is_file())


def scan(workspace: Path, jobs_dir: Path) -> list[Found]:
    """Every run folder under ``workspace`` (breadth first, symlinks not followed, bounded)."""
    root = workspace.resolve()
    jobs = jobs_dir.resolve()
    if not root.is_dir():
        return []
    found: list[Found] = []
    queue: list[tuple[Path, int]] = [(root, 0)]
    seen = 0
    while queue and seen < MAX_FOLDERS:
        folder, depth = queue.pop(0)
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError:
            continue
        for entry in entries:
            if not entry.is_dir(follow_symlinks=False) or entry.name.startswith(".") or entry.name in SKIP_DIRS:
                continue
            seen += 1
            path = Path(entry.path)
            if path.parent == jobs:
                found.append(Found(path, entry.name, entry.name))
                continue
            if is_run_folder(path):
                found.append(Found(path, FOLDER_PREFIX + path.relative_to(root).as_posix(), None))
            elif depth + 1 < MAX_DEPTH:
                queue.append((path, depth + 1))
    return found


def resolve_key(workspace: Path, jobs_dir: Path, key: str) -> Found:
    """The folder a run key names, refused unless it lies inside the workspace and is a run folder."""
    if key.startswith(FOLDER_PREFIX):
        return Found(confined_path(workspace, key[len(FOLDER_PREFIX):]), key, None)
    if "/" in key or "\\" in key or key in (".", ".."):
        raise PathOutsideWorkspaceError(f"run '{key}' is neither a job id nor a 'dir:' key; take keys from "
                                        "GET /api/v1/workspace/runs")
    return Found(jobs_dir.resolve() / key, key, key)


# ----------------------------------------------------------------------------- reading one folder
def _read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def _accepted_laws(path: Path) -> list[dict[str, Any]]:
    """The equations of the last ``accepted`` ledger record (the current law), read line by line."""
    laws: list[dict[str, Any]] = []
    with path.open("rb") as handle:
        for raw in handle:
            if b'"accepted"' not in raw or not raw.endswith(b"\n"):
                continue
            try:
                rec = json.loads(raw)
            except ValueError:
                continue
            if isinstance(rec, dict) and rec.get("kind") == "accepted":
                laws = list(rec.get("equations") or [])
    return laws


def _last_step(path: Path) -> dict[str, Any] | None:
    """The last complete ``step`` line of a telemetry file, from its tail only."""
    size = path.stat().st_size
    with path.open("rb") as handle:
        handle.seek(max(0, size - TAIL_BYTES))
        lines = handle.read().split(b"\n")[:-1]  # the last piece is empty or a line still being written
    for raw in reversed(lines):
        try:
            rec = json.loads(raw)
        except ValueError:
            continue
        if isinstance(rec, dict) and rec.get("kind") == "step":
            return rec
    return None


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).isoformat()


def _law_text(laws: Iterable[dict[str, Any]]) -> str | None:
    text = "; ".join(str(law.get("equation")) for law in laws if law.get("equation"))
    return text or None


def _num(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def summarise(found: Found, workspace: Path, now: float | None = None) -> dict[str, Any]:
    """The index row of one run folder; problems become ``status='broken'`` and ``problem``, never raise."""
    now = time.time() if now is None else now
    path = found.path
    row: dict[str, Any] = {"key": found.key, "source": "job" if found.job_id else "folder", "job_id": found.job_id,
                           "path": _relative(path, workspace), "name": path.name, "world": None, "variant": None,
                           "seed": None, "steps": None, "steps_done": None, "status": "partial", "state": None,
                           "mean_return": None, "mean_reward": None, "final_trust": None, "law": None, "laws": [],
                           "updated_at": None, "created_at": None, "problem": None}
    problems: list[str] = []
    if not path.is_dir():
        row["status"] = "missing"
        return row
    row["updated_at"] = row["created_at"] = _iso(path.stat().st_mtime)
    config = _part(path / "config.json", _read_json, problems, "config.json")
    if isinstance(config, dict):
        cfg = config.get("config", config)
        if isinstance(cfg, dict):
            world = cfg.get("world") if isinstance(cfg.get("world"), dict) else {}
            row.update(name=cfg.get("name") or row["name"], world=world.get("name"), variant=cfg.get("variant"),
                       seed=cfg.get("seed", 0), steps=cfg.get("steps"))
    elif config is not None:
        problems.append("config.json is not a JSON object")
    telemetry = path / "telemetry.jsonl"
    if telemetry.is_file():
        row["updated_at"] = _iso(telemetry.stat().st_mtime)
        last = _part(telemetry, _last_step, problems, "telemetry.jsonl")
        if isinstance(last, dict):
            row["steps_done"] = int(last.get("step", 0)) + 1
            row["final_trust"] = _num(last.get("trust"))
    ledger = path / "ledger.jsonl"
    if ledger.is_file():
        laws = _part(ledger, _accepted_laws, problems, "ledger.jsonl")
        if laws:
            row["laws"] = laws
    results_path = path / "results.json"
    if results_path.is_file():
        results = _part(results_path, _read_json, problems, "results.json")
        if isinstance(results, dict) and isinstance(results.get("summary"), dict):
            summary = results["summary"]
            row.update(status="complete", steps_done=summary.get("steps", row["steps_done"]),
                       mean_return=_num(summary.get("mean_return")), mean_reward=_num(summary.get("mean_reward")),
                       final_trust=_num(summary.get("final_trust")))
            world, variant = results.get("world") or {}, results.get("variant") or {}
            row["world"] = row["world"] or (world.get("id") if isinstance(world, dict) else None)
            row["variant"] = row["variant"] or (variant.get("name") if isinstance(variant, dict) else None)
            if isinstance(results.get("laws"), list):
                row["laws"] = results["laws"]
        elif results is not None:
            problems.append("results.json has no 'summary' object")
    elif telemetry.is_file() and now - telemetry.stat().st_mtime < LIVE_SECONDS:
        row["status"] = "running"
    if config is None and row["status"] != "complete" and not any(p.startswith("config.json") for p in problems):
        problems.insert(0, "no config.json")
    if problems:
        row["problem"] = "; ".join(problems)
        if row["status"] != "complete" or row["world"] is None:
            row["status"] = "broken"
    row["law"] = _law_text(row["laws"])
    return row


def _part(path: Path, parse: Any, problems: list[str], what: str) -> Any:
    """A parsed file, or None with the reason added to ``problems`` (missing files are not problems).

    A symlink is not followed: it could point outside the workspace.
    """
    if path.is_symlink():
        problems.append(f"{what} is a symlink (not followed)")
        return None
    try:
        return CACHE.get(path, parse)
    except FileNotFoundError:
        return None
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        problems.append(f"{what} unreadable ({type(exc).__name__}: {str(exc)[:120]})")
        return None


def _relative(path: Path, workspace: Path) -> str:
    try:
        return path.resolve().relative_to(workspace.resolve()).as_posix()
    except ValueError:  # pragma: no cover - scan and resolve_key only hand out paths inside
        return path.name


# ----------------------------------------------------------------------------- merging with the store
#: the index status of a store job whose folder has no results yet
JOB_STATUS = {"queued": "queued", "running": "running", "paused": "running", "succeeded": "complete",
              "failed": "failed", "cancelled": "cancelled", "interrupted": "interrupted"}


def merge_job(row: dict[str, Any] | None, job: dict[str, Any], workspace: Path, jobs_dir: Path) -> dict[str, Any]:
    """The store's view of a run job over its folder's row (the store knows the state)."""
    if row is None:
        row = summarise(Found(jobs_dir.resolve() / job["id"], job["id"], job["id"]), workspace)
    cfg = (job.get("params") or {}).get("config") or {}
    world = cfg.get("world") if isinstance(cfg.get("world"), dict) else {}
    row.update(source="job", job_id=job["id"], state=job["state"], name=job.get("name") or row["name"],
               created_at=_stamp(job.get("created_at")) or row["created_at"],
               world=row["world"] or world.get("name"), variant=row["variant"] or cfg.get("variant"),
               seed=row["seed"] if row["seed"] is not None else cfg.get("seed", 0 if cfg else None),
               steps=row["steps"] or cfg.get("steps"))
    if job["state"] == "succeeded":
        if row["status"] != "complete":
            row["status"] = "broken"
            row["problem"] = row["problem"] or "the job succeeded but its folder has no readable results.json"
    else:
        row["status"] = JOB_STATUS.get(job["state"], job["state"])
    if job["state"] in ("running", "paused"):
        row["steps_done"] = max(row["steps_done"] or 0, int(job["progress"]["step"]))
        trust = (job["progress"].get("info") or {}).get("trust")
        row["final_trust"] = _num(trust) if _num(trust) is not None else row["final_trust"]
    if job.get("error"):
        row["problem"] = row["problem"] or f"{job['error']['code']}: {job['error']['message']}"
    return row


def _stamp(value: Any) -> str | None:
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value) if value else None


def index(workspace: Path, jobs_dir: Path, jobs: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows for every run folder and every run job, newest first."""
    now = time.time()
    rows: dict[str, dict[str, Any]] = {}
    for found in scan(workspace, jobs_dir):
        rows[found.key] = summarise(found, workspace, now)
    for job in jobs:
        rows[job["id"]] = merge_job(rows.get(job["id"]), job, workspace, jobs_dir)
    for key, row in rows.items():  # a folder under jobs/ that the store does not know
        if row["source"] == "job" and row["state"] is None:
            row.update(source="folder", job_id=None, key=FOLDER_PREFIX + row["path"])
            row["problem"] = row["problem"] or "a job folder that the job store does not know (another database?)"
    return sorted(rows.values(), key=lambda r: r["created_at"] or "", reverse=True)
