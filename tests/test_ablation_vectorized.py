"""The ablation harness's seed-vectorised executor: the same records and claims as the host-stepped runs.

Tolerances: each seed's vectorised run is the host-stepped run with the safety envelope off to float32
rounding (the device's normaliser, frozen theory and diagnostic sums are float32), so per-seed metrics
agree to a relative 1e-5 (measured: <= 1e-7 on these runs); counts agree exactly; claims (decisions,
claim ids, paired seeds, exact permutation p-values) agree exactly, the paired differences and their CIs to
2e-5 of the metric's scale.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from typer.testing import CliRunner

from atom_sdk.errors import ConfigError
from atom_sdk.evidence import ablation as abl
from atom_sdk.evidence.ablation import run_ablation
from atom_sdk.evidence.vectorized_sweep import plan_groups, runner_summary

WORLD = {"world": "analytical:taylor_green", "grid": [8, 8, 4]}
REL = 1e-5


def fake_run(config, out_dir, *, overwrite=False):
    """A picklable stand-in runner (the fallback path needs no JAX)."""
    return {"summary": {"mean_return": float(config["seed"]) + (1.0 if config["variant"] == "v2_residual" else 0.0)}}


def _sweep(out: Path, executor: str, *, steps: int, seeds: list[int], **kw) -> dict:
    return run_ablation(WORLD["world"], WORLD["grid"], steps, seeds, "production", "cpu", out, {}, executor,
                        1, progress=False, n_bootstrap=200,
                        **{"safety": False, "variants": ["v2_residual"], "fallback_executor": "serial", **kw})


def _read(out: Path, name: str) -> dict:
    return json.loads((out / name).read_text(encoding="utf-8"))


def _assert_same_runs(vec: Path, host: Path) -> None:
    rv, rh = _read(vec, "runs.json")["runs"], _read(host, "runs.json")["runs"]
    assert [(r["variant"], r["seed"], r["config_hash"], r["status"]) for r in rv] == \
        [(r["variant"], r["seed"], r["config_hash"], r["status"]) for r in rh]
    assert all(r["status"] == "ok" for r in rv)
    for a, b in zip(rv, rh):
        assert set(a["metrics"]) == set(b["metrics"]), (a["variant"], a["seed"])
        for k, x in b["metrics"].items():
            y = a["metrics"][k]
            if x is None or isinstance(x, int) and not isinstance(x, bool) and k != "mean_trust":
                assert y == x, (a["variant"], a["seed"], k, y, x)
            else:
                assert math.isclose(y, x, rel_tol=REL, abs_tol=1e-9), (a["variant"], a["seed"], k, y, x)


def _assert_same_claims(vec: Path, host: Path) -> None:
    sv = _read(vec, "platform_ablation_significance.json")["records"]
    sh = _read(host, "platform_ablation_significance.json")["records"]
    assert [r["id"] for r in sv] == [r["id"] for r in sh] and sv
    for a, b in zip(sv, sh):
        assert (a["decision"], a["claim_id"], a["n"], a["direction"]) == \
            (b["decision"], b["claim_id"], b["n"], b["direction"]), a["id"]
        # a difference of two metrics inherits their float32 error: REL of the metrics' scale, not of itself
        scale = 2 * REL * max(abs(b["variant_mean"] or 0.0), abs(b["baseline_mean"] or 0.0), 1e-9)
        for k in ("p_raw", "p_holm", "mean_diff", "ci_low", "ci_high"):
            if b[k] is None:
                assert a[k] is None, (a["id"], k)
            else:
                tol = 1e-9 if k.startswith("p_") else scale
                assert math.isclose(a[k], b[k], rel_tol=0.0, abs_tol=tol), (a["id"], k, a[k], b[k])
        if b["mean_diff"] is not None and abs(b["mean_diff"]) > scale:
            assert math.copysign(1, a["mean_diff"]) == math.copysign(1, b["mean_diff"]), a["id"]


def test_vectorized_matches_host_stepped_sweep(tmp_path: Path) -> None:
    """ppo_baseline vs v2_residual, 3 seeds, 15 steps (no update, no fit: the cheapest real sweep)."""
    vec, host = tmp_path / "vec", tmp_path / "host"
    res_v = _sweep(vec, "vectorized", steps=15, seeds=[0, 1, 2])
    res_h = _sweep(host, "serial", steps=15, seeds=[0, 1, 2])
    assert res_v["ok"] == res_h["ok"] == 6 and res_v["claims"] == res_h["claims"]
    _assert_same_runs(vec, host)
    _assert_same_claims(vec, host)
    manifest = _read(vec, "manifest.json")
    assert manifest["executor"]["vectorized_variants"] == ["v2_residual", "ppo_baseline"]
    assert manifest["executor"]["fallback"] == {"executor": None, "reasons": {}}
    assert manifest["sweep"]["safety_envelope"] is False
    seed_file = json.loads((vec / "runs" / "v2_residual__seed1" / "vectorized_result.json").read_text())
    assert seed_file["result"]["seed"] == 1 and seed_file["config"]["safety"] == {"enabled": False}
    timing = _read(vec, "runs.json")["runs"][0]["timing"]
    assert timing["runner_group_seeds"] == 3 and timing["wall_time_s"] > 0
    # resume: nothing left to run, the records are reused as written
    again = _sweep(vec, "vectorized", steps=15, seeds=[0, 1, 2])
    assert again["executed"] == 0 and again["skipped"] == 6


@pytest.mark.slow
def test_vectorized_matches_host_stepped_sweep_with_updates_and_fits(tmp_path: Path) -> None:
    """72 steps: two full PPO updates and the runner's last partial one, scientist fits inside the runs."""
    vec, host = tmp_path / "vec", tmp_path / "host"
    _sweep(vec, "vectorized", steps=72, seeds=[0, 1, 2, 3])
    _sweep(host, "serial", steps=72, seeds=[0, 1, 2, 3])
    _assert_same_runs(vec, host)
    _assert_same_claims(vec, host)
    runs = _read(vec, "runs.json")["runs"]
    assert {r["metrics"]["updates"] for r in runs} == {3}  # 72 = 2 x 32 + 8, and 8 splits into 4 minibatches
    assert any(r["metrics"]["final_trust"] for r in runs if r["variant"] == "v2_residual")  # a law was accepted


def _plan(variant_set: str, *, safety: bool, labels=None, run_fn=None) -> list[dict]:
    specs = abl.select_variants(abl.variant_specs(variant_set), labels)
    return abl._plan_runs(specs, [0, 1], Path("/nonexistent"), run_fn, world=WORLD["world"], grid=WORLD["grid"],
                          steps=8, device="cpu", world_params={}, safety=safety)


def test_unsupported_groups_fall_back_with_their_reason() -> None:
    groups, reasons = plan_groups(_plan("production", safety=True, labels=["v2_residual"]))
    assert groups == [] and set(reasons) == {"v2_residual", "ppo_baseline"}
    assert all("safety envelope is on" in why for why in reasons.values())

    groups, reasons = plan_groups(_plan("memory", safety=False))
    assert [g[0]["label"] for g in groups] == ["ppo_baseline"] and "recurrent core" in reasons["ppo_recurrent"]

    groups, reasons = plan_groups(_plan("latent", safety=False))
    assert [g[0]["label"] for g in groups] == ["v2_hybrid", "ppo_baseline"]
    assert "latent science" in reasons["v2_latent_jacobian"]

    groups, reasons = plan_groups(_plan("production", safety=False, labels=["v2_hybrid"], run_fn=fake_run))
    assert groups == [] and "custom run function" in reasons["v2_hybrid"]


def test_auto_runs_the_rest_per_run_and_records_why(tmp_path: Path) -> None:
    res = _sweep(tmp_path / "auto", "auto", steps=4, seeds=[0, 1, 2], run_fn=fake_run)
    assert res["ok"] == 6 and res["failed"] == 0
    ex = _read(tmp_path / "auto", "manifest.json")["executor"]
    assert ex["name"] == "auto" and ex["vectorized_variants"] == []
    assert ex["fallback"]["executor"] == "serial"
    assert set(ex["fallback"]["reasons"]) == {"v2_residual", "ppo_baseline"}
    runs = _read(tmp_path / "auto", "runs.json")["runs"]
    assert [r["metrics"]["mean_return"] for r in runs] == [1.0, 2.0, 3.0, 0.0, 1.0, 2.0]


def test_vectorized_refuses_what_it_cannot_run_and_bad_names(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="safety envelope is on"):
        run_ablation(WORLD["world"], WORLD["grid"], 4, [0, 1], "production", "cpu", tmp_path / "strict", {},
                     "vectorized", progress=False, variants=["v2_residual"])
    assert not (tmp_path / "strict").exists()  # refused before any folder is made
    with pytest.raises(ConfigError, match="unknown executor 'vectorised'"):
        _sweep(tmp_path / "x", "vectorised", steps=4, seeds=[0, 1, 2])
    with pytest.raises(ConfigError, match="fallback executor"):
        _sweep(tmp_path / "y", "auto", steps=4, seeds=[0, 1, 2], fallback_executor="auto")
    with pytest.raises(ConfigError, match="not in this variant set"):
        _sweep(tmp_path / "z", "auto", steps=4, seeds=[0, 1, 2], variants=["v9"])


def test_cli_refuses_a_bad_executor_name(tmp_path: Path) -> None:
    from atom_sdk.cli.ablate import app

    res = CliRunner().invoke(app, ["run", "--world", "analytical:taylor_green", "--grid", "8", "8", "4",
                                   "--steps", "4", "--seeds", "0", "1", "2", "--no-safety", "--variant",
                                   "v2_residual", "--executor", "gpu-vmap", "--out", str(tmp_path / "o"),
                                   "--no-progress"])
    assert res.exit_code == 2 and "unknown executor 'gpu-vmap'" in res.output


def test_runner_summary_counts_the_runners_updates() -> None:
    from atom_sdk.config import build_run_config

    seed = {"episodes_completed": 1, "mean_reward": -0.5, "mean_return": -3.0, "final_return": -2.0,
            "diverged_episodes": 0, "final_trust": 0.25, "trust_trajectory": [[32, 0.0], [64, 0.5]],
            "mean_energy_error": 0.5, "episode_returns": [-3.0]}
    for steps, updates in ((32, 1), (40, 2), (45, 1), (15, 0)):
        cfg = build_run_config({"world": {"name": WORLD["world"], "grid": WORLD["grid"]}, "steps": steps})
        s = runner_summary(cfg, seed)
        assert s["updates"] == updates, steps
    assert s["mean_trust"] == 0.25 and s["mean_energy_error"] == 0.5 and "episode_returns" not in s
    assert list(s)[:9] == ["steps", "episodes_completed", "mean_reward", "mean_return", "final_return", "updates",
                           "final_trust", "mean_trust", "diverged_episodes"]
