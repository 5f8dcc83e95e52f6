"""Inverse design with DEFAULT safety settings finds the theta-beta-Mach wedge angle at every Mach number.

Before the envelope's default limits followed the world's scales, the Mach 3 free stream (max_speed
3.0000002 in float32) tripped ``speed_max = 3`` on every step: most candidates were rejected as unsafe
and the search ended degrees away (Mach 3: 19.99 deg for 17.58 deg; Mach 4 and 5: no feasible design).
Real ``supersonic:wedge`` rollouts on the problem's default 64x48 grid; each target shock angle is
attached at its Mach number, with the optimum mid-range of the design bounds.
"""

from __future__ import annotations

import pytest

from atom_sdk.design import run_design, run_search
from atom_sdk.worlds.gasdynamics import detachment_angle, mach_angle, wedge_angle_for_shock

#: (Mach, target shock angle in deg): optima 6.45, 14.74, 17.58, 17.78, 18.41 and 22.80 deg
TARGETS = ((1.5, 50.0), (2.0, 45.0), (3.0, 35.0), (4.0, 30.0), (5.0, 28.0), (8.0, 30.0))


def _search(mach: float, beta: float, iterations: int, population: int, steps: int | None = None) -> dict:
    spec = {"problem": "wedge_shock_angle", "backend": "cmaes", "iterations": iterations, "population": population,
            "seed": 0, "target": beta, "world_params": {"mach": mach}}
    if steps is not None:
        spec["rollout_steps"] = steps
    return run_search(spec)


def _check(report: dict, mach: float, beta: float) -> float:
    optimum = wedge_angle_for_shock(mach, beta)
    assert mach_angle(mach) < beta and optimum < detachment_angle(mach)  # an attached shock
    assert report["known_optimum"]["design"]["wedge_angle"] == pytest.approx(optimum)
    best = report["best"]["design"]["wedge_angle"]
    assert abs(best - optimum) < 0.5, (mach, best, optimum)
    assert abs(report["best"]["metrics"]["shock_angle"] - beta) < 0.5
    # no candidate was rejected by the envelope: only detached designs (Mach 1.5) are refused, by the world
    unsafe = [r for r in report["evaluations"] if not r["feasible"] and "safety" in (r["reason"] or "")]
    assert unsafe == []
    refused = [r for r in report["evaluations"] if not r["feasible"]]
    assert all(r["design"]["wedge_angle"] > detachment_angle(mach) - 0.25 for r in refused)
    return best


@pytest.mark.parametrize("mach,beta", [(3.0, 35.0), (5.0, 28.0)])
def test_default_settings_design_finds_wedge_angle_at_mach_3_and_5(mach, beta):
    """Fast variant: the two Mach numbers the fixed limits broke, 24 rollouts of 30 steps each."""
    _check(_search(mach, beta, iterations=4, population=6, steps=30), mach, beta)


def test_run_design_writes_only_under_its_output_dir(tmp_path):
    report = run_design({"problem": "wedge_shock_angle", "iterations": 2, "population": 4, "seed": 0,
                         "target": 35.0, "rollout_steps": 20, "world_params": {"mach": 3.0},
                         "output_root": str(tmp_path / "unused")}, output_dir=str(tmp_path / "out"))
    assert report["feasible_count"] == report["evaluations_used"] == 8  # none unsafe at Mach 3
    assert (tmp_path / "out" / "inverse_design_report.json").is_file() and not (tmp_path / "unused").exists()


@pytest.mark.slow
@pytest.mark.parametrize("mach,beta", TARGETS)
def test_default_settings_design_mach_sweep(mach, beta):
    """Mach 1.5 to the world's ceiling of 8, the problem's default 40-step rollouts, 36 rollouts each."""
    _check(_search(mach, beta, iterations=6, population=6), mach, beta)
