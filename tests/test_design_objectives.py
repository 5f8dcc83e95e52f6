"""The inverse-design objective language: weighted objectives, constraints on diagnostics, penalties, ranking.

Known optima (closed form, no solver): on the ``constrained_quadratic`` problem, minimising
f = (x-2)^2 + (y-1)^2 subject to g = x+y <= 2 projects (2, 1) onto the line x+y = 2: (1.5, 0.5),
f = 0.5; subject to 3.5 <= g <= 5 onto x+y = 3.5: (2.25, 1.25), f = 0.125. Tolerances below are
the worst distance measured over seeds 0-9 at the stated budgets (the tests run seed 0).
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from atom_sdk.cli.main import main
from atom_sdk.design import get_problem, run_design, run_search
from atom_sdk.design.backends import EvolutionaryBackend
from atom_sdk.design.language import Penalty, parse_constraint, parse_objective
from atom_sdk.design.problems import Context
from atom_sdk.design.ranking import ranked, ranking_key
from atom_sdk.design.spec import build_spec, canonical_spec, spec_hash
from atom_sdk.errors import ConfigError

QUAD = {"problem": "constrained_quadratic", "seed": 0}
#: backend -> (iterations, population, design tolerance, objective tolerance), worst over seeds 0-9
#: measured: cmaes 0.037 / 0.0024, evolutionary 0.093 / 0.014, random 0.29 / 0.17
BUDGETS = {"cmaes": (30, 10, 0.05, 0.005), "evolutionary": (30, 10, 0.1, 0.02), "random": (60, 25, 0.3, 0.2)}
CASES = {"upper": (["g<=2"], (1.5, 0.5), 0.5), "between": (["3.5<=g<=5"], (2.25, 1.25), 0.125)}


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("backend", sorted(BUDGETS))
def test_each_backend_reaches_the_known_constrained_optimum(backend: str, case: str) -> None:
    iterations, population, tol_x, tol_f = BUDGETS[backend]
    constraints, optimum, f_opt = CASES[case]
    report = run_search({**QUAD, "backend": backend, "iterations": iterations, "population": population,
                         "constraints": constraints})
    best = report["best"]
    assert best["feasible"] and report["best_feasible"] and best["violation"] == 0.0
    assert math.dist((best["design"]["x"], best["design"]["y"]), optimum) < tol_x
    assert 0.0 <= best["objective"] - f_opt < tol_f  # feasible, so never below the constrained optimum
    assert best["constraints"][0]["margin"] >= 0.0
    # the report's known optimum (SLSQP on the analytical model) is the closed-form one
    known = report["known_optimum"]
    assert math.dist((known["design"]["x"], known["design"]["y"]), optimum) < 1e-6
    assert known["objective"] == pytest.approx(f_opt, abs=1e-8)
    # infeasible designs were scored (objective and violation) but never recorded as best
    violating = [r for r in report["evaluations"] if not r["feasible"]]
    assert violating and all(r["objective"] is not None and r["violation"] > 0 for r in violating)
    assert report["convergence"]["per_iteration"][-1] == best["objective"]


def test_deb_feasibility_first_ranking() -> None:
    records = [
        {"index": 0, "objective": 5.0, "feasible": True, "violation": 0.0, "penalised": 5.0},
        {"index": 1, "objective": -10.0, "feasible": False, "violation": 0.2, "penalised": 190.0},
        {"index": 2, "objective": 1.0, "feasible": False, "violation": 0.1, "penalised": 101.0},
        {"index": 3, "objective": None, "feasible": False, "violation": None, "penalised": None},
        {"index": 4, "objective": 4.0, "feasible": True, "violation": 0.0, "penalised": 4.0},
        {"index": 5, "objective": 0.5, "feasible": False, "violation": 0.001, "penalised": 1.5},
    ]
    # feasible by objective, then infeasible by violation (not objective); unevaluated ones left out
    assert [r["index"] for r in ranked(records)] == [4, 0, 5, 2, 1]
    # a feasible design beats an infeasible one whatever their objectives
    assert ranking_key(records[0]) < ranking_key(records[1])
    assert ranking_key(records[5]) < ranking_key(records[3])
    # ranking by the penalised objective lets a barely infeasible design win
    assert [r["index"] for r in ranked(records, "penalty")] == [5, 4, 0, 2, 1]


def test_evolutionary_elites_follow_deb_rules() -> None:
    backend = EvolutionaryBackend(dim=2, population=4, seed=0, elite=1)
    backend.ask()
    points = np.array([[0.1, 0.1], [0.2, 0.2], [0.3, 0.3], [0.4, 0.4]])
    # objectives: the infeasible point 0 has the smallest; feasible point 2 must be the elite
    backend.tell(points, np.array([0.0, 9.0, 3.0, np.inf]), objectives=np.array([-1.0, 2.0, 3.0, np.inf]),
                 violations=np.array([0.5, 0.0, 0.0, np.inf]))
    assert np.allclose(backend.ask()[0], [0.2, 0.2])  # feasible with the smaller objective (2 < 3)
    only_infeasible = EvolutionaryBackend(dim=2, population=4, seed=0, elite=1)
    only_infeasible.tell(points, np.zeros(4), objectives=np.array([-5.0, 2.0, 3.0, np.inf]),
                         violations=np.array([0.5, 0.1, 0.3, np.inf]))
    assert np.allclose(only_infeasible.ask()[0], [0.2, 0.2])  # smallest violation wins among infeasible


@pytest.mark.parametrize("data, message", [
    ({"objectives": ["foo:min"]}, "unknown diagnostic 'foo'"),
    ({"constraints": ["bar<=1"]}, "its evaluation reports: f, g, h, q, x, y"),
    ({"constraints": ["2<=g<=1"]}, "lower 2 > upper 1 in 'between'"),
    ({"constraints": [{"diagnostic": "g"}]}, "needs 'lower' (>=), 'upper' (<=) or both"),
    ({"objectives": []}, "at least one objective"),
    ({"objectives": ["f:minimum"]}, "must look like NAME:min"),
    ({"objectives": ["f:min:-1"]}, "greater than 0"),
    ({"objectives": ["f:min", "f:max"]}, "same diagnostic twice"),
    ({"objectives": [{"diagnostic": "f", "sense": "max", "target": 1.0}]}, "must be minimised"),
    ({"objectives": ["f:min"], "objective": {"diagnostic": "f"}}, "not both"),
    ({"constraints": ["g<2"]}, "must look like NAME<=U"),
    ({"objectives": ["f@last:min"]}, "unknown reduction '@last'"),
    ({"penalty": {"function": "cubic"}}, "penalty.function"),
])
def test_spec_validation_errors_say_what_to_change(data: dict, message: str) -> None:
    with pytest.raises(ConfigError, match="invalid design spec") as err:
        build_spec({**QUAD, **data})
    assert message in str(err.value)


def test_wedge_diagnostics_are_checked_against_the_world_table() -> None:
    with pytest.raises(ConfigError) as err:
        build_spec({"problem": "wedge_shock_angle", "objectives": ["shock:min"]})
    assert "'shock'" in str(err.value) and "shock_angle" in str(err.value) and "pressure_ratio" in str(err.value)
    spec = build_spec({"problem": "wedge_shock_angle", "objectives": ["shock_angle@final:target=45:2"],
                       "constraints": ["pressure_ratio<=2", {"coefficients": {"wedge_angle": 1}, "upper": 20}]})
    assert [c.text() for c in spec.diagnostic_constraints] == ["pressure_ratio<=2"]
    assert spec.linear_constraints == [{"coefficients": {"wedge_angle": 1}, "upper": 20}]
    assert spec.objectives[0].model_dump() == {"diagnostic": "shock_angle", "sense": "min", "weight": 2.0,
                                               "target": 45.0, "reduce": "final", "last_n": 10}


def test_legacy_specs_keep_their_hash_and_result() -> None:
    legacy = {"problem": "wedge_shock_angle", "evaluator": "surrogate", "iterations": 3, "population": 4}
    data = canonical_spec(build_spec(legacy))
    assert not {"objectives", "penalty", "ranking"} & set(data)
    # a single weight-1 objective is the legacy objective, evaluation for evaluation
    old = run_search({**QUAD, "backend": "cmaes", "iterations": 4, "population": 6,
                      "objective": {"diagnostic": "f", "reduce": "final"}})
    new = run_search({**QUAD, "backend": "cmaes", "iterations": 4, "population": 6, "objectives": ["f@final:min"]})
    default = run_search({**QUAD, "backend": "cmaes", "iterations": 4, "population": 6})
    objective = [r["objective"] for r in old["evaluations"]]
    assert objective == [r["objective"] for r in new["evaluations"]] == [r["objective"] for r in default["evaluations"]]
    assert spec_hash(build_spec(new["spec"])) == new["config_hash"] != default["config_hash"]


@pytest.mark.parametrize("objectives, expected", [
    (["f:min:1", "q:min:1"], (1.0, 0.5)),       # minimise f + q: x = 2 w1/(w1+w2), y = w1/(w1+w2)
    (["f:min:1", "q:min:3"], (0.5, 0.25)),
    (["f:min:1", "x:max:1"], (2.5, 1.0)),       # minimise f - x: x = 2 + w/2
])
def test_weights_and_directions_move_the_optimum_as_predicted(objectives: list[str], expected: tuple) -> None:
    report = run_search({**QUAD, "backend": "cmaes", "iterations": 30, "population": 10, "objectives": objectives})
    best = report["best"]["design"]
    assert math.dist((best["x"], best["y"]), expected) < 0.02
    assert math.dist(tuple(report["known_optimum"]["design"].values()), expected) < 1e-6
    assert set(report["best"]["objectives"]) == {o.split(":")[0] for o in objectives}


def test_quadratic_penalty_ranking_reaches_the_penalised_optimum() -> None:
    # minimise f + w (g - 2)^2 (g > 2 side): d = sqrt2 w/(1+2w) along the normal, so with w = 1 the
    # penalised optimum is (5/3, 2/3), violating g <= 2 by 1/(1+2w) = 1/3
    base = {**QUAD, "backend": "cmaes", "iterations": 30, "population": 10, "constraints": ["g<=2"],
            "penalty": {"function": "quadratic", "weight": 1.0}}
    report = run_search({**base, "ranking": "penalty"})
    best = report["best"]
    assert not best["feasible"] and not report["best_feasible"]
    assert math.dist((best["design"]["x"], best["design"]["y"]), (5 / 3, 2 / 3)) < 0.02
    assert best["violation"] == pytest.approx(1 / 3, abs=0.02)
    assert best["penalised"] == pytest.approx(best["objective"] + best["violation"] ** 2)
    # feasibility first: the recorded best is feasible even though the search followed the penalty
    first = run_search(base)["best"]
    assert first["feasible"] and first["design"]["x"] + first["design"]["y"] <= 2.0
    assert Penalty(function="linear", weight=10.0)([0.1, 0.2]) == pytest.approx(3.0)


def test_wedge_constraint_moves_the_optimum_to_the_pressure_limit() -> None:
    # a 45 deg shock at Mach 2 has p2/p1 = 2.1667 (Anderson eq. 4.9); capping p2/p1 at 2 moves the best wedge
    # to the angle whose shock gives exactly 2 (the wedge_pressure_ratio problem's known optimum, 13.14 deg)
    ctx = Context(2.0, {"mach": 2.0}, 40, (64, 48, 1))
    limit = get_problem("wedge_pressure_ratio").known_optimum(ctx)["wedge_angle"]
    report = run_search({"problem": "wedge_shock_angle", "evaluator": "surrogate", "iterations": 15,
                         "population": 8, "objectives": ["shock_angle:target=45"],
                         "constraints": ["pressure_ratio<=2"]})
    best = report["best"]
    assert best["feasible"] and abs(best["design"]["wedge_angle"] - limit) < 0.05
    assert 0 <= best["constraints"][0]["margin"] < 0.01
    assert report["objective_language"]["objective_unit"] == "deg"


def test_cli_syntax_and_run(tmp_path, capsys) -> None:
    assert parse_objective("drag_mean:min:2") == {"diagnostic": "drag_mean", "reduce": "mean_last", "sense": "min",
                                                  "weight": 2.0}
    assert parse_objective("lift@final:max") == {"diagnostic": "lift", "reduce": "final", "sense": "max"}
    assert parse_objective("shock_angle:target=45.5:0.5")["target"] == 45.5
    assert parse_constraint("lift>=0.1") == {"diagnostic": "lift", "reduce": "mean_last", "lower": 0.1}
    assert parse_constraint("drag <= 1.2e0") == {"diagnostic": "drag", "reduce": "mean_last", "upper": 1.2}
    assert parse_constraint("-0.1<=lift@mean<=0.3") == {"diagnostic": "lift", "reduce": "mean", "lower": -0.1,
                                                        "upper": 0.3}
    argv = ["design", "--problem", "constrained_quadratic", "--objective", "f:min", "--constraint", "g<=2",
            "--constraint", '{"coefficients": {"x": 1}, "upper": 3.5}', "--penalty", "linear:50", "--ranking",
            "feasibility-first", "--inverse-iterations", "30", "--inverse-population", "10", "--name", "quad",
            "--output-root", str(tmp_path)]
    with pytest.raises(SystemExit) as code:
        main(argv)
    assert code.value.code in (0, None)
    out = capsys.readouterr().out
    assert "feasible yes" in out and "constraint g<=2" in out and "known optimum: x=1.5, y=0.5" in out
    report = json.loads((tmp_path / "quad" / "inverse_design_report.json").read_text())
    assert report["spec"]["penalty"] == {"function": "linear", "weight": 50.0}
    assert report["spec"]["constraints"][1] == {"coefficients": {"x": 1}, "upper": 3.5}
    assert math.dist(tuple(report["best"]["design"].values()), (1.5, 0.5)) < 0.05
    with pytest.raises(SystemExit) as code:
        main(["design", "--problem", "constrained_quadratic", "--constraint", "g=<2"])
    assert code.value.code == 2 and "must look like NAME<=U" in capsys.readouterr().err


def test_report_figure_has_integer_ticks_unit_and_optimum_line(tmp_path) -> None:
    from atom_sdk.design.report import OPTIMUM_LABEL, convergence_figure

    report = run_design({**QUAD, "backend": "cmaes", "iterations": 7, "population": 6, "constraints": ["g<=2"],
                         "name": "fig", "output_root": str(tmp_path)})
    assert (tmp_path / "fig" / "convergence.png").stat().st_size > 1000
    fig = convergence_figure(report)
    try:
        ax = fig.axes[1]
        lo, hi = ax.get_xlim()
        ticks = [t for t in ax.get_xticks() if lo <= t <= hi]
        assert ticks and all(float(t).is_integer() for t in ticks)
        assert "[dimensionless]" in ax.get_ylabel() and ax.get_xlabel() == "iteration"
        lines = [ln for ln in ax.get_lines() if ln.get_label().startswith(OPTIMUM_LABEL)]
        assert len(lines) == 1 and np.allclose(lines[0].get_ydata(), 0.5)
        assert all(float(t).is_integer() for t in fig.axes[0].get_xticks())
    finally:
        import matplotlib.pyplot as plt

        plt.close(fig)


def test_api_accepts_the_language_and_refuses_unknown_diagnostics(tmp_path) -> None:
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from atom_sdk.platform.api import create_app
    from atom_sdk.platform.testing import settings_for

    with TestClient(create_app(settings_for(tmp_path))) as client:
        spec = {**QUAD, "objectives": ["f:min", "x:max:0.5"], "constraints": ["g<=2", "0<=h<=0.5"],
                "penalty": {"function": "quadratic", "weight": 100}}
        job = client.post("/api/v1/inverse-design/jobs", json={"spec": spec})
        assert job.status_code == 202, job.text
        stored = client.get(f"/api/v1/inverse-design/jobs/{job.json()['id']}").json()
        assert stored["state"] == "queued"
        bad = client.post("/api/v1/inverse-design/jobs", json={"spec": {**QUAD, "constraints": ["lift>=0.1"]}})
        assert bad.status_code == 422 and "its evaluation reports: f, g, h, q, x, y" in bad.text
        schema = client.get("/api/v1/inverse-design/spec-template").json()
        assert {"objectives", "penalty", "ranking"} <= set(schema["spec_schema"]["properties"])
        quad = [p for p in schema["problems"] if p["problem"] == "constrained_quadratic"][0]
        assert quad["diagnostics"] == ["f", "g", "h", "q", "x", "y"]


def test_rollout_path_scores_world_diagnostics() -> None:
    # the Taylor-Green problem's own objective is the time-mean energy_error: the same term written in the
    # language gives the same numbers, and a constraint on a world diagnostic is scored from the rollout
    base = {"problem": "taylor_green_forcing", "backend": "random", "iterations": 1, "population": 4,
            "rollout_steps": 20, "seed": 3}
    own = run_search(base)["evaluations"]
    spelled = run_search({**base, "objectives": ["energy_error@mean:min"], "constraints": ["energy@final>=0.22"]})
    assert spelled["spec"]["evaluator"] == "rollout"
    for a, b in zip(own, spelled["evaluations"]):
        assert b["objective"] == pytest.approx(a["objective"], rel=1e-12)
        row = b["constraints"][0]
        assert row["value"] == pytest.approx(b["metrics"]["energy"], rel=1e-6)  # @final = last step's value
        assert row["margin"] == pytest.approx(row["value"] - 0.22, rel=1e-9)
        assert b["feasible"] == (row["value"] >= 0.22)
    assert {r["feasible"] for r in spelled["evaluations"]} == {True, False}


def test_spec_file_takes_the_same_texts(tmp_path) -> None:
    from atom_sdk.cli.design import spec_from_options

    path = tmp_path / "spec.yaml"
    path.write_text("problem: constrained_quadratic\nobjectives: ['f:min:2', 'q:min:2']\n"
                    "constraints: ['g<=2', {diagnostic: h, lower: -1, upper: 0.5, scale: 0.1}]\n"
                    "penalty: {function: quadratic, weight: 10}\nranking: penalty\n")
    none = dict.fromkeys(("problem", "world", "backend", "iterations", "population", "top_k", "rollout_steps", "seed",
                          "name", "target", "bounds", "constraints", "grid", "evaluator", "workers", "stop_below",
                          "output_root"))
    spec = spec_from_options(**none, extra_args=[], config=path)
    assert [o.text() for o in spec.objectives] == ["f:min:2", "q:min:2"]
    assert [c.text() for c in spec.diagnostic_constraints] == ["g<=2", "-1<=h<=0.5"]
    assert spec.diagnostic_constraints[1].violation(0.7) == pytest.approx(2.0)  # 0.2 beyond, in units of 0.1
    assert spec.penalty.function == "quadratic" and spec.ranking == "penalty"
    # flags: --objective replaces the file's objectives, --constraint adds to its constraints
    flags = spec_from_options(**{**none, "constraints": ["x>=0"]}, extra_args=[], config=path,
                              objectives=["f:min"], penalty="linear", ranking="feasibility-first")
    assert [o.text() for o in flags.objectives] == ["f:min:1"]
    assert [c.text() for c in flags.diagnostic_constraints] == ["g<=2", "-1<=h<=0.5", "x>=0"]
    assert flags.penalty.function == "linear" and flags.penalty.weight == 1000.0
    assert flags.ranking == "feasibility_first"
