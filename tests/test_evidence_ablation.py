"""The ablation harness: resume, failure isolation, artifacts, executors, CLI, regeneration."""

from __future__ import annotations

import importlib.util
import json
import os
import zlib
from pathlib import Path

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from atom_sdk.errors import ArtifactError, ConfigError, DependencyMissingError
from atom_sdk.evidence import ablation as abl
from atom_sdk.evidence.ablation import run_ablation, variant_specs
from atom_sdk.evidence.claims import summarize
from atom_sdk.evidence.executors import make_executor
from atom_sdk.evidence.plots import regenerate

EFFECT = {"v2_hybrid": 2.0}  # the only real effect; every other variant equals the baseline
SEEDS = list(range(8))
ARTIFACTS = {"manifest.json", "runs.json", "summary.json", "summary.csv",
             "platform_ablation_dashboard.png", "platform_ablation_dashboard.pdf",
             "platform_ablation_claims.md", "platform_ablation_significance.json",
             "platform_ablation_plots.json"}


def fake_run(config, out_dir, *, overwrite=False):
    """Synthetic runner: seed effect + known variant effect + small noise, one metric."""
    v, s = config["variant"], config["seed"]
    if config.get("ablate_symplectic"):
        v = "ablated"
    noise = np.random.default_rng([s, zlib.crc32(v.encode())]).normal()
    shared = np.random.default_rng(1000 + s).normal()
    return {"summary": {"mean_return": shared + EFFECT.get(v, 0.0) + 0.05 * noise,
                        "steps_per_second": float(int.from_bytes(os.urandom(2), "little")),
                        "trajectory": [1.0, 2.0]}}


def two_metric_run(config, out_dir, *, overwrite=False):
    """Runner-shaped result: an extra noise metric and a separate ``timings`` block."""
    res = fake_run(config, out_dir)
    noise = np.random.default_rng([config["seed"], 7, zlib.crc32(config["variant"].encode())])
    res["summary"]["mean_drag"] = 1.0 + 0.1 * noise.normal()
    res["timings"] = {"wall_seconds": 0.5, "started_at": "2026-01-01T00:00:00Z"}
    return res


def failing_run(config, out_dir, *, overwrite=False):
    if config["variant"] == "v1_raw" and config["seed"] == 1:
        raise RuntimeError("solver diverged at step 7")
    return fake_run(config, out_dir, overwrite=overwrite)


def _sweep(out, **kw):
    args = {"world": "analytical:taylor_green", "grid": [8, 8, 4], "steps": 5, "seeds": SEEDS,
            "variant_set": "production", "device": "cpu", "out": out, "world_params": {"tau": 0.53},
            "executor": "serial", "workers": None, "ray_address": None, "run_fn": fake_run,
            "progress": False, "n_bootstrap": 1000}
    args.update(kw)
    return run_ablation(**args)


def _content(out: Path) -> list[dict]:
    runs = json.loads((out / "runs.json").read_text())["runs"]
    return [{k: v for k, v in r.items() if k != "timing"} for r in runs]


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    out = tmp_path_factory.mktemp("ablation")
    return out, _sweep(out)


def test_artifacts_complete_and_claim_only_for_real_effect(sweep):
    out, res = sweep
    assert ARTIFACTS <= set(res["artifacts"]) and res["ok"] == 48 and res["failed"] == 0
    sig = json.loads((out / "platform_ablation_significance.json").read_text())
    dec = {r["variant"]: r["decision"] for r in sig["records"]}
    # 5 comparisons x n=8: p_raw = 2/256 for v2_hybrid, Holm 5 * 2/256 = 0.039 < 0.05
    assert dec == {"v2_hybrid": "better", "v2_residual": "no_evidence", "v2_raw": "no_evidence",
                   "v1_raw": "no_evidence", "no_scientist": "no_evidence"}
    assert res["claims"] == ["claim-001"]
    md = (out / "platform_ablation_claims.md").read_text()
    assert "Evidence: `sig:v2_hybrid:mean_return`" in md
    for r in sig["records"]:
        assert f"Evidence: `{r['id']}`" in md
    man = json.loads((out / "manifest.json").read_text())
    assert man["status"] == "complete" and man["planned"] == 48 and len(man["runs"]) == 48
    assert man["sweep"]["world_params"] == {"tau": 0.53} and man["versions"]["scipy"]
    assert all(len(r["config_hash"]) == 64 for r in man["runs"])
    run = json.loads((out / "runs" / "v2_hybrid__seed3.json").read_text())
    assert set(run["timing"]) == {"steps_per_second", "wall_time_s"}
    assert set(run["metrics"]) == {"mean_return"}  # the list-valued field is dropped
    assert (out / "platform_ablation_dashboard.png").read_bytes()[:4] == b"\x89PNG"


def test_summary_recomputes_exactly_from_runs_json(sweep):
    out, _ = sweep
    runs = json.loads((out / "runs.json").read_text())
    summary = json.loads((out / "summary.json").read_text())
    again = summarize(runs["runs"], variants=runs["variants"], n_resamples=1000, seed=123)
    assert json.loads(json.dumps(again)) == summary
    row = next(r for r in summary["rows"] if r["variant"] == "v2_hybrid")
    vals = [r["metrics"]["mean_return"] for r in runs["runs"] if r["variant"] == "v2_hybrid"]
    assert row["mean"] == pytest.approx(np.mean(vals), abs=1e-12) and row["n"] == 8
    csv_lines = (out / "summary.csv").read_text().splitlines()
    assert csv_lines[0].startswith("variant,metric,n,mean") and len(csv_lines) == 1 + 6


def test_plot_regeneration_reproduces_significance(sweep, tmp_path):
    out, _ = sweep
    regenerate(out / "summary.json", out / "runs.json", tmp_path, n_bootstrap=1000,
               bootstrap_seed=123)
    for name in ("platform_ablation_significance.json", "platform_ablation_plots.json",
                 "platform_ablation_claims.md"):
        assert (tmp_path / name).read_text() == (out / name).read_text()
    regenerate(out / "summary.json", out / "runs.json", tmp_path / "b", n_bootstrap=1000,
               bootstrap_seed=9)  # another seed moves the CIs but not the decisions
    a = json.loads((out / "platform_ablation_significance.json").read_text())["records"]
    b = json.loads((tmp_path / "b" / "platform_ablation_significance.json").read_text())["records"]
    assert [r["ci_low"] for r in a] != [r["ci_low"] for r in b]
    assert [r["decision"] for r in a] == [r["decision"] for r in b]


def test_resume_runs_nothing_new_and_interrupt_keeps_written(tmp_path):
    calls, interrupt_at = [], [4]

    def counting(config, out_dir, *, overwrite=False):
        calls.append((config["variant"], config["seed"]))
        if len(calls) == interrupt_at[0]:
            interrupt_at[0] = -1  # Ctrl-C once, during the 4th run
            raise KeyboardInterrupt
        return fake_run(config, out_dir)

    out = tmp_path / "interrupt"
    with pytest.raises(KeyboardInterrupt):
        _sweep(out, seeds=[0, 1, 2], run_fn=counting)
    assert len(list((out / "runs").glob("*.json"))) == 3
    assert json.loads((out / "manifest.json").read_text())["status"] == "interrupted"
    calls.clear()
    res = _sweep(out, seeds=[0, 1, 2], run_fn=counting)
    assert len(calls) == 18 - 3 and res["executed"] == 15 and res["skipped"] == 3
    calls.clear()
    res = _sweep(out, seeds=[0, 1, 2], run_fn=counting)
    assert calls == [] and res["executed"] == 0 and res["skipped"] == 18
    with pytest.raises(ArtifactError, match="different run config"):
        _sweep(out, seeds=[0, 1, 2], steps=6, run_fn=counting)


def test_failure_is_isolated_and_retried(tmp_path):
    res = _sweep(tmp_path, seeds=[0, 1, 2], run_fn=failing_run)
    assert res["failed"] == 1 and res["ok"] == 17
    runs = json.loads((tmp_path / "runs.json").read_text())["runs"]
    bad = [r for r in runs if r["status"] == "failed"]
    assert [(r["variant"], r["seed"]) for r in bad] == [("v1_raw", 1)]
    assert bad[0]["error"] == "RuntimeError: solver diverged at step 7" and bad[0]["metrics"] == {}
    sig = json.loads((tmp_path / "platform_ablation_significance.json").read_text())
    v1 = next(r for r in sig["records"] if r["variant"] == "v1_raw")
    assert v1["n"] == 2 and v1["decision"] == "insufficient_seeds"
    res = _sweep(tmp_path, seeds=[0, 1, 2], run_fn=fake_run)  # failed pair is retried
    assert res["executed"] == 1 and res["failed"] == 0


def test_claim_family_size_decides_whether_a_real_effect_is_claimed(tmp_path):
    # 5 variants x 2 metrics: Holm p = 10 * 2/256 = 0.078 -> no claim despite d_z >> 1
    res = _sweep(tmp_path / "all", run_fn=two_metric_run)
    sig = json.loads((tmp_path / "all" / "platform_ablation_significance.json").read_text())
    assert res["claims"] == [] and sig["family_size"] == 10 and sig["metrics"] == ["mean_return", "mean_drag"]
    hyb = next(r for r in sig["records"] if r["id"] == "sig:v2_hybrid:mean_return")
    assert hyb["p_holm"] == pytest.approx(10 * 2 / 256) and hyb["decision"] == "no_evidence"
    # pre-declared primary metric: family of 5, p_Holm = 0.039 -> claim
    res = _sweep(tmp_path / "primary", run_fn=two_metric_run, claim_metrics=["mean_return"])
    assert res["claims"] == ["claim-001"]
    run = json.loads((tmp_path / "primary" / "runs" / "v2_raw__seed0.json").read_text())
    assert run["timing"]["runner_wall_seconds"] == 0.5 and "runner_started_at" not in run["timing"]
    with pytest.raises(ConfigError, match="declared direction"):
        _sweep(tmp_path / "bad", run_fn=two_metric_run, claim_metrics=["mean_amplitude"])


def test_full_set_labels_and_switches():
    specs = {s.label: s for s in variant_specs("full")}
    assert list(specs)[-1] == "ppo_baseline" and len(specs) == 9
    s = specs["v2_hybrid-no_symplectic"]
    assert s.variant == "v2_hybrid" and s.switches == {"ablate_symplectic": True}
    with pytest.raises(ConfigError):
        variant_specs("everything")


def test_local_process_pool_matches_serial(tmp_path):
    _sweep(tmp_path / "s", seeds=[0, 1, 2], run_fn=failing_run)
    _sweep(tmp_path / "l", seeds=[0, 1, 2], run_fn=failing_run, executor="local", workers=2)
    assert _content(tmp_path / "s") == _content(tmp_path / "l")


# a local Ray instance in CI: ~30 s on 2 cores (the start alone took ~45 s on a loaded host)
@pytest.mark.skipif(importlib.util.find_spec("ray") is None, reason="ray not installed")
def test_ray_local_instance_matches_serial(tmp_path):
    _sweep(tmp_path / "s", seeds=[0, 1, 2], run_fn=failing_run)
    try:
        _sweep(tmp_path / "r", seeds=[0, 1, 2], run_fn=failing_run, executor="ray", workers=2)
    except ConfigError as err:  # Ray's raylet start has a fixed 30 s limit; overloaded hosts miss it
        if "could not start a local Ray instance" in str(err):
            pytest.skip(f"local Ray did not start on this host: {err}")
        raise
    assert _content(tmp_path / "s") == _content(tmp_path / "r")
    assert (tmp_path / "s" / "runs.json").read_text() != (tmp_path / "r" / "runs.json").read_text()


def test_missing_ray_raises_dependency_error(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(DependencyMissingError, match=r"pip install 'atom-oss-sdk\[distributed\]'"):
        make_executor("ray")
    with pytest.raises(ConfigError):
        make_executor("dask")


def test_cli_world_options_seeds_and_errors(tmp_path, monkeypatch):
    from atom_sdk.cli.ablate import app, parse_extra_args

    monkeypatch.setattr(abl, "_default_run_fn", fake_run)
    parent = typer.Typer()
    parent.add_typer(app, name="ablate")
    runner = CliRunner()
    out = tmp_path / "cli"
    res = runner.invoke(parent, [
        "ablate", "--world", "analytical:taylor_green", "--grid", "8", "8", "4", "--steps", "3",
        "--seeds", "0", "1", "2", "--world-nu", "0.05", "--world-k=2",
        "--world-noise", "0.01", "--variant-set", "production", "--executor", "serial",
        "--no-progress", "--out", str(out)])
    assert res.exit_code == 0, res.output
    sweep = json.loads((out / "manifest.json").read_text())["sweep"]
    assert sweep["seeds"] == [0, 1, 2] and sweep["grid"] == [8, 8, 4]
    assert sweep["world_params"] == {"nu": 0.05, "k": 2, "noise": 0.01}
    res = runner.invoke(parent, ["ablate", "plot", "--summary", str(out / "summary.json"),
                                 "--runs", str(out / "runs.json"), "--bootstrap-samples", "4000",
                                 "--bootstrap-seed", "123", "--out", str(tmp_path / "re")])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "re" / "platform_ablation_significance.json").read_text() == \
        (out / "platform_ablation_significance.json").read_text()
    for bad, msg in ((["--world-tau"], "needs a value"), (["--world-Tau", "1"], "malformed"),
                     (["--colour", "red"], "unknown option")):
        res = runner.invoke(parent, ["ablate", "--world", "w", "--seeds", "0", *bad,
                                     "--executor", "serial", "--out", str(tmp_path / "x")])
        assert res.exit_code == 2 and msg in res.output
        assert len([ln for ln in res.output.splitlines() if ln.startswith("error:")]) == 1
    res = runner.invoke(parent, ["ablate", "plot", "--summary", str(tmp_path / "no.json"),
                                 "--runs", str(out / "runs.json")])
    assert res.exit_code == 2 and "does not exist" in res.output
    with pytest.raises(ConfigError):
        parse_extra_args(["7"], seeds_given=False)
