"""G-04..G-08 collectors: evidence produced by other modules, read (when fresh) or re-produced.

Why collectors and not re-implementations: the integrity bench, the reliability kernel, the
fault-injection suite and the ablation statistics each have one owner module. The gate runs
that module (or reads its output when it was produced at the current commit) and checks the
verdict and the artifacts; it recomputes ablation summaries with the evidence module's own
functions so the gate and the producer cannot disagree about the arithmetic.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import json
import math
import re
import subprocess  # nosec B404 - fixed argv lists, no shell
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from atom_sdk.release.gates import GateRecorder, gate

# --------------------------------------------------------------------------- helpers


def flatten_numbers(doc: Any, prefix: str = "", *, limit: int | None = None) -> dict[str, float]:
    """Numeric leaves as ``a.b.c -> value`` (list items keyed by their name/id), timings left out;
    the first ``limit`` of them when a limit is given (for display)."""
    from atom_sdk.evidence.ablation import is_timing_key

    out: dict[str, float] = {}

    def walk(obj: Any, path: str) -> None:
        if limit is not None and len(out) >= limit:
            return
        if isinstance(obj, Mapping):
            for k, v in obj.items():
                if k in {"provenance", "versions", "packages", "timings", "timing", "config"} or is_timing_key(str(k)):
                    continue
                walk(v, f"{path}.{k}" if path else str(k))
        elif isinstance(obj, list):
            for i, v in enumerate(obj):
                key = v.get("name", v.get("id", i)) if isinstance(v, Mapping) else i
                walk(v, f"{path}[{key}]")
        elif isinstance(obj, (int, float)) and not isinstance(obj, bool) and math.isfinite(obj):
            out[path] = float(obj)

    walk(doc, prefix)
    return out


def verdict(doc: Mapping[str, Any]) -> bool | None:
    """The producer's overall verdict, whichever common spelling it uses."""
    for key in ("passed", "pass", "overall_pass", "ok", "all_passed"):
        if isinstance(doc.get(key), bool):
            return doc[key]
    status = doc.get("status") or doc.get("verdict")
    if isinstance(status, str):
        return status.lower() in {"pass", "passed", "ok", "success"}
    return None


def recorded_commit(doc: Mapping[str, Any]) -> str | None:
    prov = doc.get("provenance") if isinstance(doc.get("provenance"), Mapping) else {}
    return doc.get("git_commit") or prov.get("git_commit")


def current_commit(root: Path) -> str | None:
    from atom_sdk.provenance import _git

    return _git("rev-parse", "HEAD", cwd=root)


def _module_exists(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:
        return False


def _find_command(path: list[str]):
    from atom_sdk.release.semver import is_group, root_command

    cmd: Any = root_command()
    for part in path:
        if not is_group(cmd) or part not in cmd.commands:
            return None
        cmd = cmd.commands[part]
    return cmd


@dataclass(frozen=True)
class Producer:
    """Who writes one evidence file and how the gate asks for it."""

    filename: str
    module: str
    cli: tuple[str, ...] = ()
    function: str | None = None


def command_options(cmd: Any) -> set[str]:
    """Option strings a command accepts: its click options, plus those of the argparse parser it
    delegates to (``callback.argparse_factory``, e.g. ``atom bench integrity``)."""
    opts = {o for param in cmd.params for o in (*getattr(param, "opts", []), *getattr(param, "secondary_opts", []))}
    factory = getattr(getattr(cmd, "callback", None), "argparse_factory", None)
    if factory:
        module, _, attr = factory.partition(":")
        parser = getattr(importlib.import_module(module), attr)()
        opts |= set(parser._option_string_actions)  # noqa: SLF001 - argparse has no public accessor
    return opts


def _produce(rec: GateRecorder, p: Producer, out: Path) -> tuple[bool, str]:
    """Run the producer; returns (ran_ok, detail)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    if p.cli:
        cmd = _find_command(list(p.cli))
        if cmd is None:
            return False, f"`atom {' '.join(p.cli)}` does not exist yet"
        opts = command_options(cmd)
        argv = [*p.cli, *rec.ctx.extra.get(f"producer_args:{p.filename}", [])]
        if "--check" in opts:
            argv.append("--check")
        out_opt = next((o for o in ("--output-json", "--output", "--out", "-o") if o in opts), None)
        if out_opt:
            argv += [out_opt, str(out)]
        proc = subprocess.run([sys.executable, "-m", "atom_sdk", *argv], cwd=rec.ctx.root,  # nosec B603
                              capture_output=True, text=True, timeout=3600, check=False)
        tail = " ".join((proc.stderr or proc.stdout).split())[-200:]
        # Exit 1 with a fresh report means "a check failed": the report carries the verdict, which the
        # gate checks on its own. A crash writes no fresh report, and the caller records that.
        ran = proc.returncode in (0, 1)
        return ran, f"`atom {' '.join(argv)}` exit {proc.returncode} {tail}".strip()
    fn = getattr(importlib.import_module(p.module), p.function or "")
    params = inspect.signature(fn).parameters
    kwargs: dict[str, Any] = {}
    for name in ("output_json", "out_path", "output", "out", "out_dir", "output_dir"):
        if name in params:
            # Run folders go under validation_outputs/<stem>/; the report is copied to ``out``.
            kwargs[name] = out if "dir" not in name else out.parent / out.stem
            break
    if "report_name" in params:
        kwargs["report_name"] = out.name
    result = fn(**kwargs)
    if isinstance(result, Mapping):
        from atom_sdk.artifacts import write_json

        stamped = dict(result)
        if not recorded_commit(stamped):
            stamped["git_commit"] = current_commit(rec.ctx.root)  # lets the next run read it as fresh
        write_json(out, stamped)
    return True, f"{p.module}.{p.function}() ran"


def collect(rec: GateRecorder, p: Producer) -> dict[str, Any] | None:
    """Read fresh evidence or re-produce it; records checks; returns the document."""
    out = rec.ctx.outputs / p.filename
    head = current_commit(rec.ctx.root)
    doc = None
    if out.is_file() and not rec.ctx.rerun:
        try:
            doc = json.loads(out.read_text(encoding="utf-8"))
        except json.JSONDecodeError:
            doc = None
        made_at = recorded_commit(doc) if isinstance(doc, Mapping) else None
        fresh = isinstance(doc, Mapping) and (made_at == head if made_at else rec.ctx.profile != "release")
        if not fresh:
            doc = None
    if doc is None:
        if not _module_exists(p.module):
            rec.missing("producer", out, f"{p.module} does not exist yet, so {p.filename} cannot be produced")
            return None
        before = out.stat().st_mtime_ns if out.is_file() else None
        ran, detail = _produce(rec, p, out)
        if not out.is_file() or out.stat().st_mtime_ns == before:
            # A stale file left in place must not stand in for the producer's answer.
            rec.missing("producer", out, f"{detail}; it wrote no {'new ' if before else ''}{out.name}")
            return None
        rec.evidence(out, "written")
        doc = json.loads(out.read_text(encoding="utf-8"))
        rec.check("producer ran", ran, detail)
    else:
        rec.evidence(out, "read")
        rec.check("evidence fresh", True, f"{p.filename} produced at commit {str(recorded_commit(doc))[:12]}")
    ok = verdict(doc)
    numbers = flatten_numbers(doc, limit=40)
    rec.measure(**{k: v for k, v in list(numbers.items())[:25]})
    rec.check("verdict", ok, f"{p.filename} reports {'pass' if ok else 'fail'}" if ok is not None
              else f"{p.filename} has no overall verdict (passed/status)")
    return doc


PRODUCERS = {
    "G-04": Producer("scientific_integrity.json", "atom_sdk.evidence.integrity", cli=("bench", "integrity")),
    "G-05": Producer("reliability.json", "atom_sdk.evidence.reliability", cli=("bench", "reliability")),
    "G-06": Producer("safety_validation.json", "atom_sdk.evidence.fault_suite", function="run_fault_suite"),
}


@gate("G-04", "Scientific integrity", "integrity bench verdict from atom_sdk.evidence.integrity "
      "(validation_outputs/scientific_integrity.json, fresh at this commit, at the profile's declared budget)")
def gate_integrity(rec: GateRecorder) -> None:
    from atom_sdk.release.profiles import budget_mismatch, integrity_args, integrity_budget

    budget = integrity_budget(rec.ctx.profile)
    if budget is not None:  # a report the gate produces itself is made at the declared budget
        rec.ctx.extra[f"producer_args:{PRODUCERS['G-04'].filename}"] = integrity_args(budget)
    doc = collect(rec, PRODUCERS["G-04"])
    if not isinstance(doc, Mapping):
        return
    settings = doc.get("settings") or {}
    rec.measure(integrity_budget={k: settings.get(k) for k in ("samples", "seeds", "noise_levels")})
    _integrity_trials(rec, doc, required=budget is not None)
    if budget is None:
        return
    rec.threshold(integrity_budget=budget)
    wrong = budget_mismatch(settings, budget)
    command = "atom bench integrity " + " ".join(integrity_args(budget)) + " --check --output " + \
        str(rec.ctx.outputs / PRODUCERS["G-04"].filename)
    rec.check("declared budget", not wrong, f"report made at {', '.join(wrong)}; the {rec.ctx.profile} profile "
              f"declares {budget}: run `{command}`" if wrong else f"made at the declared budget {budget}")


def _integrity_trials(rec: GateRecorder, doc: Mapping[str, Any], *, required: bool) -> None:
    """G-04's null and seed-stability checks (``evidence.null_trials.trial_verdicts``, which
    ``verify --recompute`` uses too), against the SDK's limits, not the report's."""
    from atom_sdk.evidence.integrity import THRESHOLDS
    from atom_sdk.evidence.null_trials import trial_verdicts

    for name, ok, detail, measures in trial_verdicts(doc, THRESHOLDS, required=required):
        if measures:
            rec.measure(**measures)
        if name == "null trial" and measures:
            rec.threshold(null_false_discovery_upper_max=float(THRESHOLDS["null_false_discovery_upper_max"]))
        rec.check(name, ok, detail)


@gate("G-05", "Reliability kernel", "reliability kernel verdict from atom_sdk.evidence.reliability (validation_outputs/reliability.json)")
def gate_reliability(rec: GateRecorder) -> None:
    collect(rec, PRODUCERS["G-05"])


@gate("G-06", "Safety validation", "fault-injection suite verdict (atom_sdk.evidence.fault_suite.run_fault_suite, "
      "validation_outputs/safety_validation.json)")
def gate_safety(rec: GateRecorder) -> None:
    collect(rec, PRODUCERS["G-06"])


# --------------------------------------------------------------------------- G-07 ablation

ABLATION_FILES = ("manifest.json", "runs.json", "summary.json", "summary.csv", "platform_ablation_dashboard.png",
                  "platform_ablation_dashboard.pdf", "platform_ablation_claims.md",
                  "platform_ablation_significance.json", "platform_ablation_plots.json")

_REQUIRED_KEYS = {
    "manifest.json": ("schema", "sweep", "runs", "status"),
    "runs.json": ("schema", "baseline", "variants", "seeds", "runs"),
    "summary.json": ("schema", "baseline", "variants", "metrics", "bootstrap", "counts", "rows"),
    "platform_ablation_significance.json": ("schema", "baseline", "alpha", "correction", "records"),
    "platform_ablation_plots.json": ("schema", "baseline", "panels"),
}
_MAGIC = {"platform_ablation_dashboard.png": b"\x89PNG", "platform_ablation_dashboard.pdf": b"%PDF"}
_CLAIM = re.compile(r"\*\*(claim-\d+)\*\*.*?Evidence: `([^`]+)`")


def _close(a: Any, b: Any, rel: float = 1e-9) -> bool:
    """Structural equality with float tolerance (JSON round-trips floats exactly; this is slack)."""
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        return a.keys() == b.keys() and all(_close(a[k], b[k], rel) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_close(x, y, rel) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) or isinstance(b, float):
        return isinstance(a, (int, float)) and isinstance(b, (int, float)) and math.isclose(a, b, rel_tol=rel,
                                                                                             abs_tol=1e-12)
    return a == b


def _json(obj: Any) -> Any:
    from atom_sdk.evidence.claims import json_safe

    return json.loads(json.dumps(json_safe(obj)))


def _read_ablation_docs(folder: Path) -> tuple[dict[str, Any], list[str]]:
    """The ablation JSON documents by file name, and what is wrong with their schemas, keys or images."""
    from atom_sdk.evidence import ablation as abl
    from atom_sdk.evidence import claims as cl
    from atom_sdk.evidence import plots as pl

    docs: dict[str, Any] = {}
    schemas = {"manifest.json": abl.MANIFEST_SCHEMA, "runs.json": abl.RUNS_SCHEMA, "summary.json": cl.SUMMARY_SCHEMA,
               "platform_ablation_significance.json": cl.SIGNIFICANCE_SCHEMA,
               "platform_ablation_plots.json": pl.PLOTS_SCHEMA}
    problems = []
    for name, keys in _REQUIRED_KEYS.items():
        try:
            docs[name] = json.loads((folder / name).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            problems.append(f"{name}: {exc}")
            continue
        lacking = [k for k in keys if k not in docs[name]]
        if lacking:
            problems.append(f"{name} lacks {lacking}")
        elif docs[name]["schema"] != schemas[name]:
            problems.append(f"{name} schema {docs[name]['schema']!r} != {schemas[name]!r}")
    for name, magic in _MAGIC.items():
        path = folder / name
        if path.is_file() and not path.read_bytes().startswith(magic):
            problems.append(f"{name} is not a {magic.decode(errors='ignore').strip('%')} file")
    return docs, problems


def _check_seeds(rec: GateRecorder, runs_doc: Mapping[str, Any], min_seeds: int) -> dict[str, list[Any]]:
    """The seeds each variant finished; checks that each has at least ``min_seeds``."""
    runs = runs_doc["runs"]
    ok_seeds = {v: sorted({r["seed"] for r in runs if r["variant"] == v and r.get("status") == "ok"})
                for v in runs_doc["variants"]}
    few = {v: len(s) for v, s in ok_seeds.items() if len(s) < min_seeds}
    rec.measure(variants=len(ok_seeds), seeds_per_variant_min=min((len(s) for s in ok_seeds.values()), default=0),
                runs=len(runs), runs_failed=sum(r.get("status") != "ok" for r in runs))
    rec.threshold(min_seeds_per_variant=min_seeds)
    rec.check("seeds per variant", not few and bool(ok_seeds), f"fewer than {min_seeds} ok seeds: {few}" if few
              else f">= {min_seeds} seeds for each of {len(ok_seeds)} variants")
    return ok_seeds


def _check_recomputation(rec: GateRecorder, folder: Path, docs: Mapping[str, Any]) -> None:
    """Summary (JSON and CSV), significance records and plot data recompute exactly from runs.json."""
    from atom_sdk.evidence import claims as cl
    from atom_sdk.evidence import plots as pl

    runs_doc, summary, sig = docs["runs.json"], docs["summary.json"], docs["platform_ablation_significance.json"]
    runs = runs_doc["runs"]
    boot = summary["bootstrap"]
    again = cl.summarize(runs, variants=runs_doc["variants"], baseline=runs_doc["baseline"],
                         n_resamples=boot["n_resamples"], seed=boot["seed"], confidence=boot["confidence"])
    same = _close(_json(again), summary)
    bad_rows = [] if same else [f"{r['variant']}:{r['metric']}" for r, s in zip(again["rows"], summary["rows"])
                                if not _close(_json(r), s)][:5]
    csv_same = (folder / "summary.csv").read_text(encoding="utf-8") == pl.summary_csv(summary)
    rec.check("summary recomputes from runs.json", same and csv_same,
              "exact" if same and csv_same else
              (f"summary.json differs at rows {bad_rows or '(structure)'}" if not same else "summary.csv differs"))

    sig_boot = sig.get("bootstrap", boot)
    sig_again = cl.evaluate(cl.collect_values(runs), variants=runs_doc["variants"], baseline=runs_doc["baseline"],
                            alpha=sig["alpha"], min_seeds=sig.get("min_seeds", cl.MIN_SEEDS),
                            n_resamples=sig_boot["n_resamples"], seed=sig_boot["seed"],
                            confidence=sig_boot.get("confidence", 0.95))
    rec.check("significance recomputes", _close(_json(sig_again), sig),
              "exact" if _close(_json(sig_again), sig) else "platform_ablation_significance.json differs from "
              "the records recomputed from runs.json")
    plots_same = _close(_json(pl.plot_data(summary, sig)), docs["platform_ablation_plots.json"])
    rec.check("plot data recomputes", plots_same, "exact" if plots_same else "platform_ablation_plots.json differs")


def _check_claims(rec: GateRecorder, folder: Path, sig: Mapping[str, Any]) -> None:
    """Every written claim names a Holm-corrected 'better' record, and every such record is written."""
    records = {r["id"]: r for r in sig["records"]}
    text = (folder / "platform_ablation_claims.md").read_text(encoding="utf-8")
    claims = _CLAIM.findall(text)
    unbacked = []
    for claim_id, ref in claims:
        r = records.get(ref)
        if (r is None or r.get("claim_id") != claim_id or r.get("decision") != "better" or r.get("p_holm") is None
                or not r["p_holm"] < sig["alpha"] or sig.get("correction") != "holm"):
            unbacked.append(f"{claim_id} -> {ref}")
    listed = {c for c, _ in claims}
    unwritten = [r["claim_id"] for r in sig["records"] if r.get("decision") == "better" and r["claim_id"] not in listed]
    stray = sorted(set(re.findall(r"claim-\d+", text)) - listed)
    rec.measure(claims=len(claims))
    rec.check("claims backed by corrected significance", not unbacked and not unwritten and not stray,
              f"unbacked: {unbacked}, not written: {unwritten}, without evidence: {stray}"
              if unbacked or unwritten or stray else f"{len(claims)} claim(s), each with a Holm-corrected record")


def _check_aa(rec: GateRecorder, sig: Mapping[str, Any], runs_doc: Mapping[str, Any],
              ok_seeds: Mapping[str, list[Any]], min_seeds: int, aa_resamples: int) -> None:
    """A/A calibration: on null data of this sweep's shape, the family-wise false-claim rate stays at alpha."""
    from atom_sdk.evidence import claims as cl

    compared = sorted({r["metric"] for r in sig["records"]}) or ["mean_return"]
    n_seeds = max(len(s) for s in ok_seeds.values()) if ok_seeds else min_seeds
    aa = cl.aa_calibration(n_resamples=aa_resamples, n_seeds=max(n_seeds, 2),
                           n_variants=max(len(runs_doc["variants"]) - 1, 1), metrics=tuple(compared),
                           n_bootstrap=199, alpha=sig["alpha"], seed=0)
    limit = sig["alpha"] + 2 * math.sqrt(sig["alpha"] * (1 - sig["alpha"]) / aa_resamples)
    rate = aa["familywise_false_claim_rate"]
    rec.measure(aa_familywise_false_claim_rate=rate, aa_upper95=aa["familywise_false_claim_upper95"])
    rec.threshold(aa_familywise_false_claim_rate=round(limit, 4))
    rec.check("A/A calibration", rate <= limit,
              f"family-wise false-claim rate {rate:.3f} (limit {limit:.3f}) over {aa_resamples} null resamples, "
              f"n={n_seeds}, {aa['n_comparisons_per_resample']} comparisons each")


def check_ablation(rec: GateRecorder, folder: Path, *, min_seeds: int = 3, aa_resamples: int = 200) -> None:
    """Completeness, schema, seeds, exact recomputation, claim backing and A/A calibration."""
    missing = [f for f in ABLATION_FILES if not (folder / f).is_file()]
    if len(missing) == len(ABLATION_FILES):
        rec.missing("ablation folder", folder, f"{folder} has none of the ablation artifacts; run "
                    "`atom ablate` first")
        return
    rec.check("complete", not missing, f"missing: {missing}" if missing else f"{len(ABLATION_FILES)} files present")
    for name in ABLATION_FILES:
        rec.evidence(folder / name)
    docs, problems = _read_ablation_docs(folder)
    if not rec.check("schema", not problems, "; ".join(problems[:4]) or "schemas and required keys valid"):
        return
    runs_doc, sig = docs["runs.json"], docs["platform_ablation_significance.json"]
    ok_seeds = _check_seeds(rec, runs_doc, min_seeds)
    _check_recomputation(rec, folder, docs)
    _check_claims(rec, folder, sig)
    _check_aa(rec, sig, runs_doc, ok_seeds, min_seeds, aa_resamples)


@gate("G-07", "Ablation validity", "ablation folder complete and schema-valid, >= 3 seeds per variant, summary "
      "and significance recompute from runs.json, every claim backed, A/A calibration holds")
def gate_ablation(rec: GateRecorder) -> None:
    check_ablation(rec, rec.ctx.ablation_dir)


# --------------------------------------------------------------------------- G-08


@gate("G-08", "Release evidence synthesis", "evidence JSON validates against the shipped schema, names every "
      "gate; under the release profile no skip, no missing input, no allow_missing")
def gate_synthesis(rec: GateRecorder) -> None:
    from atom_sdk.release.evidence_document import check_evidence_document

    doc = rec.ctx.extra.get("evidence_document")
    draft = doc is not None
    if doc is None:
        path = rec.ctx.evidence_json
        if not path.is_file():
            rec.missing("evidence file", path, f"{path} does not exist; run `atom release evidence` first")
            return
        rec.evidence(path)
        doc = json.loads(path.read_text(encoding="utf-8"))
    check_evidence_document(rec, doc, profile=rec.ctx.profile, draft=draft)
