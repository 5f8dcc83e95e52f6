"""CLI output that survives a pipe: every listing at 80 columns keeps its ids and numbers whole.

Each listing is rendered twice through ``atom_sdk.cli.main.main``, once with ``--json`` and once as
the table (or list) a person reads at ``COLUMNS=80``; every id and number of the JSON must appear
as a whole word of the table. ``--help`` of every command shows no ``<bool>``, no cut option name,
and ``atom run --help`` shows the defaults of the run config. Validation is rendered from canned
results (the real cases take seconds each), built by the real ``relative_check``.
"""

from __future__ import annotations

import json
import math
import re

import pytest
import typer

from atom_sdk.cli import common
from atom_sdk.cli.main import app, main
from atom_sdk.cli.tables import fmt_num

ANSI = re.compile(r"\x1b\[[0-9;]*m")
BORDERS = "│┃║|"


@pytest.fixture(autouse=True)
def eighty_columns(monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.setattr(common.console, "_width", 80)
    monkeypatch.setattr(common.err_console, "_width", 80)


def _atom(argv: list[str], capsys) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    captured = capsys.readouterr()
    return int(exit_info.value.code or 0), ANSI.sub("", captured.out), ANSI.sub("", captured.err)


def _words(text: str) -> set[str]:
    """Whitespace-separated words with table borders and trailing punctuation removed."""
    for ch in BORDERS:
        text = text.replace(ch, " ")
    return {w.strip(",;()") for w in text.split()}


def _assert_whole(expected: set[str], text: str) -> None:
    assert "…" not in text, text
    assert all(len(line) <= 80 for line in text.splitlines()), max(text.splitlines(), key=len)
    words = _words(text)
    missing = sorted(e for e in expected if e not in words)
    assert not missing, f"cut or missing at 80 columns: {missing}\n{text}"


def test_worlds_list_keeps_ids_and_defaults_whole(capsys):
    code, out, _ = _atom(["worlds", "list", "--json"], capsys)
    rows = json.loads(out)
    assert code == 0 and rows and set(rows[0]) == {"id", "source", "description", "parameters"}
    code, table, _ = _atom(["worlds", "list"], capsys)
    expected = {r["id"] for r in rows}
    expected |= {f"{k}={v.get('default')}" for r in rows for k, v in r["parameters"].items()}
    _assert_whole(expected, table)


def test_reproduce_list_has_json_and_keeps_names_and_values_whole(capsys):
    code, out, _ = _atom(["reproduce", "list", "--json"], capsys)
    rows = json.loads(out)
    assert code == 0 and {"name", "title", "citation", "budgets", "default_seeds", "published"} <= set(rows[0])
    code, table, _ = _atom(["reproduce", "list"], capsys)
    assert code == 0, table
    expected = {r["name"] for r in rows}
    expected |= {fmt_num(p[k], "g") for r in rows for p in r["published"] for k in ("value", "low", "high")}
    _assert_whole(expected, table)
    assert "taylor_green_decay" in _words(table)


def test_design_list_is_readable_and_json_is_the_raw_form(capsys):
    code, out, _ = _atom(["design", "--list", "--json"], capsys)
    problems = json.loads(out)
    assert code == 0 and {"problem", "world", "bounds", "parameters"} <= set(problems[0])
    code, text, _ = _atom(["design", "--list"], capsys)
    assert not text.lstrip().startswith(("[", "{")) and len(text.splitlines()) < 60
    expected = {p["problem"] for p in problems} | {p["world"] for p in problems}
    expected |= {f"{q['name']}={fmt_num(q['low'], 'g')}:{fmt_num(q['high'], 'g')}"
                 for p in problems for q in p["parameters"]}
    _assert_whole(expected, text)


def _canned_results():
    from atom_sdk.worlds.base import relative_check

    return [
        relative_check("analytical:taylor_green", "energy_decay_rate nu=0.01 k=1", "dlnE/dt", 0.0400000000000016,
                       0.04, 0.01, "exact"),
        relative_check("analytical:taylor_green", "lbm_taylor_green_decay", "energy_decay_rate", 0.0154056, 0.0154213,
                       0.02, "exact", unit="1/step", kind="kernel", subject="kernel:lbm-periodic"),
        relative_check("supersonic:wedge", "oblique_shock_M2_theta10", "shock angle", 39.7731, 39.3139, 1.0,
                       "NACA 1135", absolute=True, unit="deg"),
        relative_check("supersonic:wedge", "oblique_shock_M2_theta10", "wall pressure ratio p2/p1", 1.70761, 1.70657,
                       0.03, "NACA 1135"),
        relative_check("lbm2d:cylinder", "poiseuille_profile", "profile_max_deviation / peak", 0.00351, 0.0, 0.02,
                       "exact", absolute=True, kind="kernel", subject="kernel:lbm-channel"),
    ]


@pytest.fixture
def canned_validation(monkeypatch):
    from atom_sdk.worlds import validation

    results = _canned_results()
    monkeypatch.setattr(validation, "validation_cases", lambda *a, **k: [])
    monkeypatch.setattr(validation, "run_validation", lambda *a, **k: results)
    return results


def test_worlds_validate_table_keeps_every_number_of_the_json(canned_validation, capsys):
    code, out, _ = _atom(["worlds", "validate", "--json"], capsys)
    rows = json.loads(out)
    assert code == 0
    assert set(rows[0]) == {"world", "kind", "subject", "case", "quantity", "measured", "reference", "rel_error",
                            "abs_error", "unit", "tolerance", "tolerance_on", "passed", "reference_source"}
    code, table, _ = _atom(["worlds", "validate"], capsys)
    assert code == 0
    expected = {r["world"] for r in rows} | {r["unit"] for r in rows if r["unit"]}
    expected |= {r["subject"] for r in rows if r["kind"] == "kernel"}
    expected |= {w for r in rows for w in r["case"].split()}
    for r in rows:
        expected |= {fmt_num(r["measured"]), fmt_num(r["reference"]), fmt_num(r["rel_error"], ".3g"),
                     fmt_num(r["abs_error"], ".3g"), fmt_num(r["tolerance"], ".3g")}
    _assert_whole(expected, table)
    assert "rel. error" in table and "abs. error" in table


def test_validation_errors_are_relative_with_the_absolute_one_beside_it():
    shock, ratio = _canned_results()[2:4]
    assert shock.unit == "deg" and shock.tolerance_on == "abs_error" and shock.passed
    assert shock.abs_error == pytest.approx(39.7731 - 39.3139)
    assert shock.rel_error == pytest.approx((39.7731 - 39.3139) / 39.3139)  # relative, not degrees
    assert ratio.tolerance_on == "rel_error" and ratio.unit == ""
    assert ratio.rel_error == pytest.approx(abs(1.70761 - 1.70657) / 1.70657)
    zero_ref = _canned_results()[4]
    assert math.isnan(zero_ref.rel_error) and zero_ref.as_dict()["rel_error"] is None and zero_ref.passed


def test_validation_rows_name_registered_worlds(monkeypatch):
    from atom_sdk.worlds import list_worlds, validation
    from atom_sdk.worlds.base import ValidationCase, relative_check

    ids = {spec.world_id for spec in list_worlds()}
    kernel_row = relative_check("kernel:lbm-periodic", "k", "q", 1.0, 1.0, 0.1, "s", kind="kernel")
    case = ValidationCase("analytical:taylor_green", "k", lambda: [kernel_row])
    monkeypatch.setattr(validation, "validation_cases", lambda *a, **k: [case])
    (row,) = validation.run_validation()
    assert row.world == "analytical:taylor_green" and row.world in ids
    assert row.kind == "kernel" and row.subject == "kernel:lbm-periodic"


def _paths():
    def walk(command, path=()):
        yield path, command
        for name, sub in (getattr(command, "commands", None) or {}).items():
            yield from walk(sub, (*path, name))

    return list(walk(typer.main.get_command(app)))


def test_help_has_no_bool_metavar_and_no_cut_option_name(capsys):
    for path, command in _paths():
        code, out, _ = _atom([*path, "--help"], capsys)
        assert code == 0, path
        assert "<bool>" not in out, (path, out)
        words = _words(out)
        for param in command.params:
            if getattr(param, "hidden", False) or param.param_type_name != "option":
                continue
            hidden = common.INVERSE_ALIASES if path in {("run",), ("design",)} else {}
            shown = [o for o in param.opts if o.startswith("--") and o not in hidden]
            assert any(o in words or any(w.startswith(o + ",") for w in words) for o in shown), (path, shown)


def test_run_help_shows_the_run_config_defaults(capsys):
    from atom_sdk.cli.run import RUN_DEFAULTS
    from atom_sdk.config import build_run_config

    cfg = build_run_config({}, {})
    actual = {"name": cfg.name, "world": cfg.world.name, "grid": " ".join(map(str, cfg.world.grid)),
              "steps": str(cfg.steps), "seed": str(cfg.seed), "variant": cfg.variant, "device": cfg.device,
              "dtype": cfg.world.dtype, "episode_steps": str(cfg.world.max_episode_steps),
              "output_root": cfg.output_root, "loop": cfg.loop}
    assert RUN_DEFAULTS == actual
    _, out, _ = _atom(["run", "--help"], capsys)
    assert out.count("default:") >= len(RUN_DEFAULTS) - 1
    for value in ("analytical:taylor_green", "v2_hybrid", "experiment_results", "float32"):
        assert value in out


@pytest.mark.parametrize("old, new", sorted(common.INVERSE_ALIASES.items()))
def test_old_run_spellings_still_work_with_a_note(old, new, capsys):
    value = {"--inverse-bound": "x=0:1", "--inverse-target": "1", "--inverse-workers": "1"}.get(old, "cmaes")
    code, _, err = _atom(["run", old, value], capsys)
    assert code == 2 and "need --inverse-design" in err  # parsed: refused only for the missing --inverse-design
    assert f"note: {old} is deprecated; use {new}" in err
    _, help_text, _ = _atom(["run", "--help"], capsys)
    assert old not in _words(help_text) and new in _words(help_text)


def test_design_and_run_share_the_search_flag_names():
    from atom_sdk.release.semver import cli_surface
    from atom_sdk.cli.main import _root_command

    surface = cli_surface(_root_command())
    run_opts = {o for p in surface["atom run"]["params"].values() for o in p.get("opts", [])}
    design_opts = {o for p in surface["atom design"]["params"].values() for o in p.get("opts", [])}
    for flag in ("--problem", "--backend", "--target", "--bound", "--evaluator", "--workers", "--inverse-iterations",
                 "--inverse-population", "--inverse-top-k", "--inverse-rollout-steps", "--inverse-backend"):
        assert flag in run_opts and flag in design_opts, flag


@pytest.mark.parametrize("argv", [["run", "--grid", "8", "8"], ["run", "--grid", "8", "8", "--steps", "3"],
                                  ["design", "--grid", "8"], ["ablate", "--world", "analytical:taylor_green",
                                                              "--grid", "8", "8", "--seeds", "0"]])
def test_grid_with_too_few_values_says_what_it_takes(argv, capsys):
    code, _, err = _atom(argv, capsys)
    assert code == 2
    assert "--grid takes three integers nx ny nz (use nz=1 for 2D worlds)" in err
    assert "valid integer" not in err


def test_run_loop_device_that_cannot_run_is_refused_before_the_progress_bar(capsys, tmp_path):
    """`--loop device` on a run the device loop cannot take: exit 2, the reason, no bar, nothing written."""
    code, out, err = _atom(["run", "--loop", "device", "--variant", "v2_residual", "--world", "lbm2d:cylinder",
                            "--grid", "80", "36", "1", "--steps", "4", "--output-root", str(tmp_path / "runs")],
                           capsys)
    text = out + err
    assert code == 2
    assert "loop: 'device' cannot run this config" in text and "control target" in text
    assert "compiling" not in text and "0/4" not in text
    assert not (tmp_path / "runs" / "run").exists()
