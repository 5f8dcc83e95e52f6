"""Real ``supersonic:wedge`` rollouts: inverse design and the challenge CLI (slow tier)."""

from __future__ import annotations

import json

import pytest

from atom_sdk.cli.main import main
from atom_sdk.design import evaluations_to_reach, run_search
from atom_sdk.worlds.gasdynamics import wedge_angle_for_shock

pytestmark = pytest.mark.slow


def test_cmaes_with_wedge_rollouts_finds_45_degree_shock() -> None:
    optimum = wedge_angle_for_shock(2.0, 45.0)  # 14.74 deg
    report = run_search({"problem": "wedge_shock_angle", "backend": "cmaes", "iterations": 8, "population": 6,
                         "rollout_steps": 30, "grid": [32, 24, 1], "seed": 0, "target": 45.0,
                         "bounds": {"wedge_angle": [2.0, 26.0]}})
    best = report["best"]["design"]["wedge_angle"]
    assert abs(best - optimum) < 0.5
    assert report["best"]["metrics"]["shock_angle"] == pytest.approx(45.0, abs=0.5)
    assert evaluations_to_reach(report, "wedge_angle", optimum, 0.5) is not None
    refused = [r for r in report["evaluations"] if r["design"]["wedge_angle"] > 22.73]
    assert all(not r["feasible"] and "detachment" in r["reason"] for r in refused)


def test_challenge_cli_on_wedge_world(tmp_path) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["challenge", "supersonic", "--steps", "150", "--headless", "--output-dir", str(tmp_path)])
    assert exit_info.value.code in (0, None)
    audit = json.loads((tmp_path / "challenge_audit.json").read_text())
    assert audit["status"] == "completed" and audit["summary"]["steps_run"] == 150
    assert audit["violation_count"] == 0
    # 22 steps after the last step change (target 42 deg) the shock is within 1.5 deg
    errors = audit["trajectory"]["error"]
    assert errors[-1] < 1.5
    assert audit["score"] > 30.0
    assert (tmp_path / "challenge_field.png").stat().st_size > 10_000


def test_process_pool_matches_sequential() -> None:
    spec = {"problem": "taylor_green_forcing", "iterations": 2, "population": 4, "rollout_steps": 20, "seed": 3}
    sequential = run_search(spec)
    pooled = run_search({**spec, "workers": 2})
    assert pooled["batching"].startswith("process_pool")
    assert [r["objective"] for r in pooled["evaluations"]] == [r["objective"] for r in sequential["evaluations"]]
    assert pooled["config_hash"] == sequential["config_hash"]
