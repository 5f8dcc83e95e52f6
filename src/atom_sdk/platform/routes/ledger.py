"""The hypothesis ledger across runs: every law the scientist considered, and why it was kept or not."""

from __future__ import annotations

from typing import Annotated, Any, Iterator

from fastapi import APIRouter, Query

from atom_sdk.platform import models
from atom_sdk.platform.deps import PlatformDep, ReaderDep

router = APIRouter(prefix="/api/v1", tags=["science"])


def _entry(job_id: str, kind: str, rec: dict[str, Any]) -> dict[str, Any]:
    return {"job_id": job_id, "seq": int(rec.get("seq", 0)), "kind": kind, "time": rec.get("time"),
            "run_name": rec.get("run_id"), "step": rec.get("step"), "equations": rec.get("equations") or [],
            "scores": rec.get("scores") or {}, "reasons": [str(r) for r in rec.get("reasons") or []]}


@router.get("/ledger", response_model=models.LedgerPage, summary="Every hypothesis the scientist considered, across runs")
def ledger(p: PlatformDep, _r: ReaderDep, run_id: Annotated[str | None, Query(max_length=64)] = None,
           kind: Annotated[str | None, Query(pattern="^(candidate|accepted|rejected)$")] = None,
           limit: Annotated[int, Query(ge=1, le=5000)] = 200,
           offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0) -> dict[str, Any]:
    jobs = [p.store.get_job(run_id, "run")] if run_id is not None else list(p.store.iter_jobs("run"))
    entries: list[dict[str, Any]] = []
    counts: dict[str, int] = {}
    for job in jobs:
        for rec in p.ledger_records(job["id"]):
            k = str(rec.get("kind"))
            counts[k] = counts.get(k, 0) + 1
            if kind is None or k == kind:
                entries.append(_entry(job["id"], k, rec))
    entries.sort(key=lambda e: (e["time"] or "", e["seq"]), reverse=True)
    return {"items": entries[offset:offset + limit], "total": len(entries), "counts_by_kind": counts}


def _structure(equations: list[dict[str, Any]]) -> str:
    """The grouping key of a record: each equation's target and sorted terms (coefficients aside).

    Why not the equation text: a refit of the same law moves its coefficients in the 4th digit,
    and the governor then rejects it as a duplicate; those records are one law, proposed again.
    """
    parts = []
    for eq in equations:
        terms = eq.get("support") or eq.get("terms") or []
        parts.append(f"{eq.get('target', '?')}({', '.join(sorted(str(t) for t in terms))})")
    return "; ".join(sorted(parts)) or "(no equation)"


def _ledgers(p: Any, run_id: str | None) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """(run key, ledger records) of one run, or of every run of the workspace: jobs and CLI/API folders."""
    from atom_sdk.platform import runindex

    s = p.settings
    if run_id is not None and run_id.startswith(runindex.FOLDER_PREFIX):
        found = runindex.resolve_key(s.workspace, s.jobs_dir, run_id)
        yield run_id, _folder_ledger(p, found.path)
        return
    if run_id is not None:
        yield run_id, p.ledger_records(p.store.get_job(run_id, "run")["id"])
        return
    for job in p.store.iter_jobs("run"):
        yield job["id"], p.ledger_records(job["id"])
    for found in runindex.scan(s.workspace, s.jobs_dir):
        if found.job_id is None:
            yield found.key, _folder_ledger(p, found.path)


def _folder_ledger(p: Any, folder: Any) -> list[dict[str, Any]]:
    path = folder / "ledger.jsonl"
    return [] if path.is_symlink() else p.cached_jsonl(path)  # a link could lead out of the workspace


@router.get("/ledger/laws", response_model=models.LedgerLawGroups,
            summary="The ledger grouped by law (target and terms), with counts by kind and by reason")
def ledger_by_law(p: PlatformDep, _r: ReaderDep, run_id: Annotated[str | None, Query(
                      max_length=1024, description="a run job id, or a 'dir:' key from GET /api/v1/workspace/runs "
                      "(default: every run of the workspace)")] = None,
                  kind: Annotated[str | None, Query(pattern="^(candidate|accepted|rejected)$",
                                                    description="only records of this kind")] = None,
                  sort: Annotated[str, Query(pattern="^(count|last_time)$")] = "last_time",
                  limit: Annotated[int, Query(ge=1, le=5000)] = 200,
                  offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0) -> dict[str, Any]:
    groups: dict[str, dict[str, Any]] = {}
    counts: dict[str, int] = {}
    records = 0
    for source, ledger_records in _ledgers(p, run_id):
        for rec in ledger_records:
            k = str(rec.get("kind"))
            if kind is not None and k != kind:
                continue
            records += 1
            counts[k] = counts.get(k, 0) + 1
            equations = list(rec.get("equations") or [])
            key = _structure(equations)
            g = groups.setdefault(key, {"structure": key, "count": 0, "counts_by_kind": {}, "counts_by_reason": {},
                                        "runs": [], "first_time": None, "last_time": None, "first_step": None,
                                        "last_step": None, "last_kind": k, "equations": equations})
            g["count"] += 1
            g["counts_by_kind"][k] = g["counts_by_kind"].get(k, 0) + 1
            for reason in rec.get("reasons") or []:
                g["counts_by_reason"][str(reason)] = g["counts_by_reason"].get(str(reason), 0) + 1
            if source not in g["runs"]:
                g["runs"].append(source)
            t, step = rec.get("time"), rec.get("step")
            if t is not None and (g["first_time"] is None or t < g["first_time"]):
                g["first_time"], g["first_step"] = t, step
            if g["last_time"] is None or (t or "") >= g["last_time"]:
                g["last_time"], g["last_step"], g["last_kind"], g["equations"] = t or "", step, k, equations
    items = list(groups.values())
    for g in items:
        g["law"] = "; ".join(str(e.get("equation")) for e in g["equations"] if e.get("equation")) or g["structure"]
        g["last_time"] = g["last_time"] or None
    if sort == "count":
        items.sort(key=lambda g: (-g["count"], g["structure"]))
    else:
        items.sort(key=lambda g: (g["last_time"] or "", g["count"]), reverse=True)
    return {"items": items[offset:offset + limit], "total": len(items), "records": records, "counts_by_kind": counts}
