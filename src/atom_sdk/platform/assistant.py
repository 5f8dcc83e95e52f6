"""A grounded assistant: answers questions about runs, laws, safety and evidence from stored data only.

Why deterministic: an answer a scientist acts on must be traceable. The question is matched to an
intent by keywords, the facts come from the job store and the job folders (``results.json``,
``ledger.jsonl``, challenge audits, design reports), and every statement carries citations (job id,
artifact path, JSON pointer, ledger sequence number). An optional LLM (OpenAI-compatible endpoint in
``ATOM_ASSISTANT_LLM_URL``) may rephrase the cited statements into a summary; it is never needed and
never adds statements.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any, Iterator

from atom_sdk.artifacts import read_jsonl
from atom_sdk.platform.settings import PlatformSettings
from atom_sdk.platform.store import Store

JOB_ID = re.compile(r"\b(?:run|val|inv|cha)_[0-9a-f]{16}\b")

INTENTS: list[tuple[str, tuple[str, ...]]] = [
    ("laws", ("law", "equation", "discover", "model", "sindy", "formula")),
    ("safety", ("safety", "safe", "violation", "intervention", "fallback", "halt", "guard")),
    ("trust", ("trust", "confiden", "conformal")),
    ("evidence", ("hypothes", "evidence", "ledger", "reject", "accept", "candidate", "why")),
    ("compare", ("compare", "versus", " vs ", "better", "differ")),
    ("challenge", ("challenge", "score", "shock", "supersonic")),
    ("design", ("design", "optim", "best design", "inverse")),
    ("performance", ("reward", "return", "perform", "drag", "energy", "summary", "result", "how did")),
    ("jobs", ("list", "runs", "jobs", "queue", "status", "running", "how many", "worker")),
]
HELP = ("I answer from the stored runs only. Ask about: discovered laws ('which laws did run_... find?'), "
        "safety events, trust, the hypothesis ledger (accepted/rejected and why), run performance, comparisons "
        "of runs, the supersonic challenge score, inverse-design results, or the job queue.")


def classify(question: str) -> str:
    text = f" {question.lower()} "
    scores = {name: sum(k in text for k in keys) for name, keys in INTENTS}
    best = max(scores.values())
    if best == 0:
        return "help"
    return next(name for name, _ in INTENTS if scores[name] == best)


def _cite(job_id: str | None = None, artifact: str | None = None, pointer: str | None = None,
          ledger_seq: int | None = None) -> dict[str, Any]:
    return {"job_id": job_id, "artifact": artifact, "pointer": pointer, "ledger_seq": ledger_seq}


def _said(text: str, *citations: dict[str, Any]) -> dict[str, Any]:
    """One statement of an answer with the places it comes from."""
    return {"text": text, "citations": list(citations)}


def _fmt(value: Any, digits: int = 4) -> str:
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    return str(value)


class Assistant:
    def __init__(self, store: Store, settings: PlatformSettings) -> None:
        self.store, self.settings = store, settings

    # ------------------------------------------------------------------ data
    def _dir(self, job_id: str) -> Path:
        return self.settings.jobs_dir / job_id

    def _json(self, job_id: str, name: str) -> dict[str, Any] | None:
        path = self._dir(job_id) / name
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            return None

    def _finished(self, kind: str, state: str | None = "succeeded") -> list[dict[str, Any]]:
        return [j for j in self.store.iter_jobs(kind) if state is None or j["state"] == state]

    def _target_runs(self, question: str, run_id: str | None, kind: str = "run", n: int = 1) -> list[dict[str, Any]]:
        ids = ([run_id] if run_id else []) + JOB_ID.findall(question)
        if ids:
            out = []
            for job_id in dict.fromkeys(ids):
                try:
                    out.append(self.store.get_job(job_id))
                except Exception:  # noqa: BLE001 - an unknown id is reported below
                    continue
            return out
        return list(reversed(self._finished(kind)))[:n]

    # ------------------------------------------------------------------ answers
    def answer(self, question: str, run_id: str | None = None, summarize: bool = False) -> dict[str, Any]:
        intent = classify(question)
        handler = getattr(self, f"_{intent}")
        statements: list[dict[str, Any]] = handler(question, run_id)
        if not statements:
            statements = [{"text": "I found no stored data for this question; launch or finish a run first "
                                   "(the job list is empty or has no finished job of this kind).",
                           "citations": [_cite(artifact="job store", pointer="GET /api/v1/jobs")]}]
        answer = " ".join(s["text"] for s in statements)
        out = {"question": question, "intent": intent, "answer": answer, "statements": statements,
               "llm_summary": None, "llm_error": None}
        if summarize:
            out["llm_summary"], out["llm_error"] = self._summarize(question, statements)
        return out

    def _help(self, question: str, run_id: str | None) -> list[dict[str, Any]]:
        runs, total = self.store.list_jobs(limit=1)
        return [{"text": HELP + f" There are {total} jobs stored.",
                 "citations": [_cite(artifact="job store", pointer="GET /api/v1/jobs")]}]

    def _jobs(self, question: str, run_id: str | None) -> list[dict[str, Any]]:
        counts = self.store.counts_by_state()
        items, total = self.store.list_jobs(limit=5)
        text = f"{total} jobs are stored: " + ", ".join(f"{n} {s}" for s, n in counts.items() if n) + "."
        out = [{"text": text, "citations": [_cite(artifact="job store", pointer="GET /api/v1/runtime/telemetry")]}]
        for job in items:
            out.append({"text": f"{job['kind']} {job['id']} ('{job['name']}') is {job['state']} "
                                f"({job['progress']['step']}/{job['progress']['total']}).",
                        "citations": [_cite(job["id"], pointer="state")]})
        return out

    def _results(self, job: dict[str, Any]) -> dict[str, Any] | None:
        return self._json(job["id"], "results.json")

    def _stored(self, question: str, run_id: str | None, name: str = "results.json",
                kind: str = "run") -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
        """(job, its JSON file ``name``) for each job the question is about that has written the file."""
        for job in self._target_runs(question, run_id, kind=kind):
            data = self._json(job["id"], name)
            if data is not None:
                yield job, data

    def _records(self, job: dict[str, Any], name: str, kind: str | None = None) -> list[dict[str, Any]]:
        """The lines of a job's JSON-lines file (``ledger.jsonl``, ``telemetry.jsonl``), of one kind if given."""
        records = read_jsonl(self._dir(job["id"]) / name)
        return records if kind is None else [r for r in records if r.get("kind") == kind]

    def _laws(self, question: str, run_id: str | None) -> list[dict[str, Any]]:
        out = []
        for job in self._target_runs(question, run_id):
            res = self._results(job)
            if res is None:
                accepted = self._records(job, "ledger.jsonl", "accepted")
                if not accepted:
                    out.append({"text": f"Run {job['id']} ({job['state']}) has no accepted law yet.",
                                "citations": [_cite(job["id"], "ledger.jsonl")]})
                for rec in accepted[-3:]:
                    eqs = "; ".join(e.get("equation", "?") for e in rec.get("equations", []))
                    out.append({"text": f"Run {job['id']} accepted {eqs} at step {rec.get('step')}.",
                                "citations": [_cite(job["id"], "ledger.jsonl", f"line {rec.get('seq')}",
                                                    rec.get("seq"))]})
                continue
            laws = res.get("laws") or []
            if not laws:
                out.append({"text": f"Run {job['id']} ended without an accepted law (final trust "
                                    f"{_fmt(res['summary'].get('final_trust'))}).",
                            "citations": [_cite(job["id"], "results.json", "/laws")]})
            for i, law in enumerate(laws):
                std = law.get("coefficient_std") or []
                coef = ", ".join(f"{t}: {_fmt(c)}" + (f" ± {_fmt(s, 2)}" if s is not None else "")
                                 for t, c, s in zip(law.get("terms", []), law.get("coefficients", []),
                                                    std or [None] * len(law.get("terms", []))))
                out.append({"text": f"Run {job['id']} discovered {law.get('equation')} (R² {_fmt(law.get('r2'), 3)}, "
                                    f"coefficients {coef}).",
                            "citations": [_cite(job["id"], "results.json", f"/laws/{i}")]})
            accepted = self._records(job, "ledger.jsonl", "accepted")
            if accepted:
                rec = accepted[-1]
                out.append({"text": f"The ledger records {len(accepted)} acceptance(s); the last at step "
                                    f"{rec.get('step')}.",
                            "citations": [_cite(job["id"], "ledger.jsonl", f"line {rec.get('seq')}", rec.get("seq"))]})
        return out

    def _safety(self, question: str, run_id: str | None) -> list[dict[str, Any]]:
        out = []
        for job in self._target_runs(question, run_id):
            res = self._results(job)
            safety = (res or {}).get("safety")
            if not safety:
                events = self._records(job, "telemetry.jsonl", "safety")
                out.append({"text": f"Run {job['id']} ({job['state']}) has {len(events)} safety events in its "
                                    "telemetry so far.", "citations": [_cite(job["id"], "telemetry.jsonl")]})
                continue
            if not safety.get("enabled", True):
                out.append({"text": f"Run {job['id']} ran without the safety envelope.",
                            "citations": [_cite(job["id"], "results.json", "/safety/enabled")]})
                continue
            modes = ", ".join(f"{m} {n}" for m, n in (safety.get("mode_steps") or {}).items() if n)
            out.append({"text": f"Run {job['id']}: {safety.get('events_total', 0)} safety events, "
                                f"{safety.get('intervention_steps', 0)} steps with interventions (rate "
                                f"{_fmt(safety.get('intervention_rate', 0.0), 3)}); steps per mode: {modes}.",
                        "citations": [_cite(job["id"], "results.json", "/safety")]})
            if reasons := safety.get("counts_by_reason"):
                out.append(_said("Reasons: " + ", ".join(f"{k} x{v}" for k, v in reasons.items()) + ".",
                                 _cite(job["id"], "results.json", "/safety/counts_by_reason")))
            if first := safety.get("first_violation"):
                out.append(_said(f"The first violation was {first.get('reason')} at step {first.get('step')}.",
                                 _cite(job["id"], "results.json", "/safety/first_violation")))
        return out

    def _trust(self, question: str, run_id: str | None) -> list[dict[str, Any]]:
        def said(job: dict[str, Any], res: dict[str, Any]) -> dict[str, Any]:
            s, scientist = res["summary"], res["provenance"].get("config", {}).get("scientist", {})
            return _said(f"Run {job['id']} ended with theory trust {_fmt(s.get('final_trust'))} (mean "
                         f"{_fmt(s.get('mean_trust'))}); the trust gate hides theory below "
                         f"{_fmt(scientist.get('trust_gate_threshold', 0.2))}.",
                         _cite(job["id"], "results.json", "/summary/final_trust"),
                         _cite(job["id"], "results.json", "/trust_trajectory"))

        return [said(job, res) for job, res in self._stored(question, run_id)]

    def _evidence(self, question: str, run_id: str | None) -> list[dict[str, Any]]:
        out = []
        for job in self._target_runs(question, run_id):
            records = self._records(job, "ledger.jsonl")
            counts: dict[str, int] = {}
            for r in records:
                counts[str(r.get("kind"))] = counts.get(str(r.get("kind")), 0) + 1
            out.append({"text": f"Run {job['id']}'s ledger holds {len(records)} records: "
                                + (", ".join(f"{n} {k}" for k, n in sorted(counts.items())) or "none") + ".",
                        "citations": [_cite(job["id"], "ledger.jsonl")]})
            for rec in [r for r in records if r.get("kind") == "rejected"][-3:]:
                eqs = "; ".join(e.get("equation", "?") for e in rec.get("equations", []))
                reasons = ", ".join(rec.get("reasons") or []) or "no reason recorded"
                out.append({"text": f"Rejected at step {rec.get('step')}: {eqs} because {reasons}.",
                            "citations": [_cite(job["id"], "ledger.jsonl", f"line {rec.get('seq')}", rec.get("seq"))]})
        return out

    def _performance(self, question: str, run_id: str | None) -> list[dict[str, Any]]:
        def said(job: dict[str, Any], res: dict[str, Any]) -> dict[str, Any]:
            s = res["summary"]
            extra = ", ".join(f"{k} {_fmt(v)}" for k, v in s.items() if k.startswith("mean_") and k not in
                              ("mean_reward", "mean_return", "mean_trust"))
            return _said(f"Run {job['id']} ({res['variant'].get('name', '?')} on {res['world']['id']}) ran "
                         f"{s['steps']} steps: mean reward {_fmt(s['mean_reward'])}, {s['updates']} PPO updates"
                         + (f"; {extra}" if extra else "") + ".", _cite(job["id"], "results.json", "/summary"))

        return [said(job, res) for job, res in self._stored(question, run_id)]

    def _compare(self, question: str, run_id: str | None) -> list[dict[str, Any]]:
        jobs = self._target_runs(question, None, n=2)
        if len(jobs) < 2:
            jobs = list(reversed(self._finished("run")))[:2]
        rows = [(j, self._results(j)) for j in jobs]
        rows = [(j, r) for j, r in rows if r is not None]
        if len(rows) < 2:
            return []
        out = [{"text": f"Run {j['id']} ({r['variant'].get('name', '?')}): mean reward {_fmt(r['summary']['mean_reward'])}"
                        f", final trust {_fmt(r['summary'].get('final_trust'))}, {len(r.get('laws') or [])} laws.",
                "citations": [_cite(j["id"], "results.json", "/summary")]} for j, r in rows]
        (a, ra), (b, rb) = rows[:2]
        better = a if ra["summary"]["mean_reward"] >= rb["summary"]["mean_reward"] else b
        out.append({"text": f"By mean reward, {better['id']} did better (one seed each: not a statistical claim; use "
                            "'atom ablate' for that).",
                    "citations": [_cite(a["id"], "results.json", "/summary/mean_reward"),
                                  _cite(b["id"], "results.json", "/summary/mean_reward")]})
        return out

    def _challenge(self, question: str, run_id: str | None) -> list[dict[str, Any]]:
        return [_said(f"Challenge {job['id']} {audit['status']}: score {_fmt(audit['score'])}/100, mean absolute "
                      f"shock-angle error {_fmt(audit['summary']['mean_abs_error_deg'])} deg, "
                      f"{audit['violation_count']} safety violations ({audit['score_formula']}).",
                      _cite(job["id"], "challenge_audit.json", "/score"),
                      _cite(job["id"], "challenge_audit.json", "/summary"))
                for job, audit in self._stored(question, run_id, "challenge_audit.json", "challenge")]

    def _design(self, question: str, run_id: str | None) -> list[dict[str, Any]]:
        out = []
        for job, report in self._stored(question, run_id, "inverse_design_report.json", "inverse_design"):
            if report.get("best") is None:
                continue
            best = report["best"]
            design = ", ".join(f"{k} = {_fmt(v)}" for k, v in best["design"].items())
            out.append(_said(f"Inverse design {job['id']} ({report['problem']['name']}, {report['backend']}) found "
                             f"{design} with objective {_fmt(best['objective'])} after "
                             f"{report['evaluations_used']} evaluations.",
                             _cite(job["id"], "inverse_design_report.json", "/best")))
            if known := report.get("known_optimum"):
                out.append(_said(f"The analytical optimum is {known['design']} ({known['source']}).",
                                 _cite(job["id"], "inverse_design_report.json", "/known_optimum")))
        return out

    # ------------------------------------------------------------------ optional LLM
    def _summarize(self, question: str, statements: list[dict[str, Any]]) -> tuple[str | None, str | None]:
        url = self.settings.assistant_llm_url
        if not url:
            return None, "no LLM configured (set ATOM_ASSISTANT_LLM_URL to an OpenAI-compatible endpoint)"
        import httpx

        endpoint = url.rstrip("/")
        if not endpoint.endswith("/chat/completions"):
            endpoint += "/chat/completions"
        headers = {"content-type": "application/json"}
        if os.environ.get("ATOM_ASSISTANT_LLM_KEY"):
            headers["authorization"] = f"Bearer {os.environ['ATOM_ASSISTANT_LLM_KEY']}"
        body = {"model": self.settings.assistant_llm_model, "temperature": 0,
                "messages": [{"role": "system", "content": "Summarise the numbered statements for a scientist in "
                              "at most three sentences. Use only these statements; add no facts; keep the run ids."},
                             {"role": "user", "content": f"Question: {question}\n" + "\n".join(
                                 f"[{i + 1}] {s['text']}" for i, s in enumerate(statements))}]}
        try:
            resp = httpx.post(endpoint, json=body, headers=headers, timeout=20.0)
            resp.raise_for_status()
            return str(resp.json()["choices"][0]["message"]["content"]).strip(), None
        except (httpx.HTTPError, KeyError, IndexError, ValueError, TypeError) as exc:
            return None, f"LLM summary unavailable ({type(exc).__name__}); the cited statements stand on their own"
