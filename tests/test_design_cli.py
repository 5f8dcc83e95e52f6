"""``atom design`` and ``atom run --inverse-design``: same options, same report; errors exit 2."""

from __future__ import annotations

import json

import pytest

from atom_sdk.cli.main import main
from atom_sdk.worlds.gasdynamics import wedge_angle_for_shock

COMMON = ["--world", "supersonic:wedge", "--problem", "wedge_shock_angle", "--backend", "cmaes",
          "--inverse-iterations", "8", "--inverse-population", "6", "--inverse-top-k", "3",
          "--inverse-rollout-steps", "40", "--seed", "0", "--target", "40", "--bound", "wedge_angle=4:22",
          "--world-mach", "2.5"]


def _run(argv: list[str]) -> int:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    return int(exit_info.value.code or 0)


def test_design_and_run_inverse_design_agree(tmp_path, capsys) -> None:
    root = str(tmp_path)
    assert _run(["design", *COMMON, "--evaluator", "surrogate", "--name", "a", "--output-root", root]) == 0
    assert _run(["run", "--inverse-design", *COMMON, "--inverse-evaluator", "surrogate", "--name", "b",
                 "--output-root", root, "--json"]) == 0
    a = json.loads((tmp_path / "a" / "inverse_design_report.json").read_text())
    b = json.loads((tmp_path / "b" / "inverse_design_report.json").read_text())
    assert a["config_hash"] == b["config_hash"]
    assert a["evaluations"] == b["evaluations"] or [r["design"] for r in a["evaluations"]] == [
        r["design"] for r in b["evaluations"]]
    assert a["spec"]["world_params"]["mach"] == 2.5 and a["spec"]["bounds"]["wedge_angle"] == [4.0, 22.0]
    optimum = wedge_angle_for_shock(2.5, 40.0)  # ~17.68 deg
    assert a["known_optimum"]["design"]["wedge_angle"] == pytest.approx(optimum)
    assert abs(a["best"]["design"]["wedge_angle"] - optimum) < 0.5
    assert (tmp_path / "a" / "convergence.png").exists() and (tmp_path / "a" / "convergence.pdf").exists()


@pytest.mark.parametrize("argv, message", [
    (["design", "--problem", "nope"], "unknown design problem"),
    (["design", "--bound", "wedge_angle=5"], "name=low:high"),
    (["design", "--backend", "annealing"], "backend"),
    (["run", "--inverse-iterations", "3"], "need --inverse-design"),
])
def test_errors_are_one_line_exit_2(argv, message, capsys) -> None:
    assert _run(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "Traceback" not in err and err.startswith("error:")
