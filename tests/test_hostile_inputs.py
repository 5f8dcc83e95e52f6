"""Hostile input across the CLI, the Python API and the HTTP API: refused in one line, nothing touched.

Each CLI case runs ``atom`` in-process inside a scratch folder that holds an output root with
an existing run, a user's own folder and a sibling file; the case must exit with 2 (or the
documented code), print one line without a traceback, and leave the hash of the whole tree
(paths, contents, modes) exactly as it was.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from atom_sdk.cli.main import main
from atom_sdk.errors import AtomError
from atom_sdk.workspace import MARKER_FILE, MARKER_SCHEMA


def tree_hash(root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        digest.update(rel.encode() + b"\0" + oct(path.lstat().st_mode).encode())
        if path.is_file() and not path.is_symlink():
            digest.update(path.read_bytes())
    return digest.hexdigest()


def _owned_run(folder: Path, config: dict, *, finished_steps: int | None = None) -> None:
    """A run folder as ``atom run`` leaves it (marker, config.json, optionally results.json)."""
    from atom_sdk.config import build_run_config, config_hash

    cfg = build_run_config(config)
    folder.mkdir(parents=True)
    (folder / MARKER_FILE).write_text(json.dumps({"schema": MARKER_SCHEMA, "kind": "run"}))
    (folder / "config.json").write_text(json.dumps({"config": cfg.model_dump(mode="json"),
                                                    "config_hash": config_hash(cfg)}))
    if finished_steps is not None:
        (folder / "results.json").write_text(json.dumps({"summary": {"steps": finished_steps}}))


@pytest.fixture()
def scratch(tmp_path, monkeypatch):
    """tmp/work (the cwd) with root/ holding run 'done' and user's 'mine/', plus precious files."""
    work = tmp_path / "work"
    root = work / "root"
    root.mkdir(parents=True)
    (work / "precious.txt").write_text("the user's own file")
    (tmp_path / "above.txt").write_text("a file above the working directory")
    mine = root / "mine"
    mine.mkdir()
    (mine / "notes.md").write_text("not made by atom")
    _owned_run(root / "done", {"name": "done", "steps": 40, "world": {"grid": [16, 16, 4]}}, finished_steps=40)
    design = root / "wedge"
    design.mkdir()
    (design / MARKER_FILE).write_text(json.dumps({"schema": MARKER_SCHEMA, "kind": "design"}))
    (design / "inverse_design_report.json").write_text("{}")
    (work / "good.yaml").write_text("steps: 10\n")
    (work / "bad.yaml").write_text("steps: [1, 2\n  world: {\n")
    (work / "bad.toml").write_text("steps = = 3\n")
    (work / "bad.json").write_text("{\"steps\": 3,,}")
    (work / "unknown.yaml").write_text("stepz: 3\n")
    (work / "list.yaml").write_text("- 1\n- 2\n")
    monkeypatch.chdir(work)
    return tmp_path


def _atom(args: list[str], capsys) -> tuple[int, str]:
    with pytest.raises(SystemExit) as info:
        main(args)
    captured = capsys.readouterr()
    return int(info.value.code or 0), captured.err + captured.out


R = ["--output-root", "root"]
LONG = "n" * 10_000

CLI_CASES: list[tuple[str, list[str]]] = [
    ("dotdot name with overwrite", ["run", "--name", "..", "--overwrite", *R]),
    ("dot name with overwrite", ["run", "--name", ".", "--overwrite", *R]),
    ("dotdot inside a name", ["run", "--name", "../escape", *R]),
    ("absolute name", ["run", "--name", "/tmp/abs", *R]),
    ("separator in name", ["run", "--name", "a/b", *R]),
    ("backslash in name", ["run", "--name", "a\\b", *R]),
    ("NUL in name", ["run", "--name", "a\x00b", *R]),
    ("newline in name", ["run", "--name", "a\nb", *R]),
    ("10 kB name", ["run", "--name", LONG, *R]),
    ("unknown world", ["run", "--name", "x", "--world", "nope:world", *R]),
    ("tau at 0.5", ["run", "--name", "x", "--world", "lbm2d:cylinder", "--grid", "176", "36", "1",
                    "--world-tau", "0.5", *R]),
    ("subsonic wedge", ["run", "--name", "x", "--world", "supersonic:wedge", "--grid", "64", "48", "1",
                        "--world-mach", "0.8", *R]),
    ("detached wedge", ["run", "--name", "x", "--world", "supersonic:wedge", "--grid", "64", "48", "1",
                        "--world-mach", "2", "--world-wedge-angle", "30", *R]),
    ("grid 1 1 1", ["run", "--name", "x", "--grid", "1", "1", "1", *R]),
    ("grid 4096 cubed", ["run", "--name", "x", "--grid", "4096", "4096", "4096", *R]),
    ("grid 4096 4096 64", ["run", "--name", "x", "--grid", "4096", "4096", "64", *R]),
    ("grid zero", ["run", "--name", "x", "--grid", "0", "8", "8", *R]),
    ("grid negative", ["run", "--name", "x", "--grid", "-4", "8", "8", *R]),
    ("grid not numbers", ["run", "--name", "x", "--grid", "a", "b", "c", *R]),
    ("grid over the cap", ["run", "--name", "x", "--grid", "99999", "8", "8", *R]),
    ("non-numeric world value", ["run", "--name", "x", "--world-nu", "abc", *R]),
    ("NaN world value", ["run", "--name", "x", "--world-nu", "nan", *R]),
    ("unknown world option", ["run", "--name", "x", "--world-foo", "1", *R]),
    ("malformed world option", ["run", "--name", "x", "--world-", "1", *R]),
    ("zero steps", ["run", "--name", "x", "--steps", "0", *R]),
    ("negative steps", ["run", "--name", "x", "--steps", "-5", *R]),
    ("huge steps", ["run", "--name", "x", "--steps", "99999999999", *R]),
    ("negative seed", ["run", "--name", "x", "--seed", "-1", *R]),
    ("zero episode steps", ["run", "--name", "x", "--episode-steps", "0", *R]),
    ("unknown variant", ["run", "--name", "x", "--variant", "v9", *R]),
    ("unknown device", ["run", "--name", "x", "--device", "tpu", *R]),
    ("unknown dtype", ["run", "--name", "x", "--dtype", "float16", *R]),
    ("unknown flag", ["run", "--name", "x", "--frobnicate", *R]),
    ("missing config file", ["run", "--name", "x", "--config", "missing.yaml", *R]),
    ("malformed YAML", ["run", "--name", "x", "--config", "bad.yaml", *R]),
    ("malformed TOML", ["run", "--name", "x", "--config", "bad.toml", *R]),
    ("malformed JSON", ["run", "--name", "x", "--config", "bad.json", *R]),
    ("unknown config key", ["run", "--name", "x", "--config", "unknown.yaml", *R]),
    ("config not a mapping", ["run", "--name", "x", "--config", "list.yaml", *R]),
    ("resume of nothing", ["run", "--name", "ghost", "--resume", *R]),
    ("resume of a finished run", ["run", "--name", "done", "--resume", *R]),
    ("resume with another config", ["run", "--name", "done", "--resume", "--world-nu", "0.02", *R]),
    ("resume extending an annealed run", ["run", "--name", "done", "--resume", "--steps", "80", *R]),
    ("resume of a user's folder", ["run", "--name", "mine", "--resume", *R]),
    ("overwrite and resume", ["run", "--name", "done", "--overwrite", "--resume", *R]),
    ("overwrite a user's folder", ["run", "--name", "mine", "--overwrite", *R]),
    ("existing run without overwrite", ["run", "--name", "done", "--steps", "40", "--grid", "16", "16", "4", *R]),
    ("inverse flag without inverse design", ["run", "--name", "x", "--inverse-iterations", "3", *R]),
    ("design dotdot name", ["design", "--name", "..", *R]),
    ("design unknown backend", ["design", "--name", "d", "--backend", "annealing", *R]),
    ("design unknown problem", ["design", "--name", "d", "--problem", "nope", *R]),
    ("design subsonic", ["design", "--name", "d", "--world-mach", "0.8", *R]),
    ("design existing report", ["design", "--name", "wedge", *R]),
    ("design zero iterations", ["design", "--name", "d", "--inverse-iterations", "0", *R]),
    ("challenge into cwd", ["challenge", "supersonic", "--output-dir", ".", "--headless"]),
    ("challenge into a user's folder", ["challenge", "supersonic", "--output-dir", "root/mine", "--headless"]),
    ("challenge zero steps", ["challenge", "supersonic", "--steps", "0", "--output-dir", "root/ch", "--headless"]),
    ("reproduce unknown", ["reproduce", "nope"]),
    ("reproduce into parent", ["reproduce", "taylor_green_decay", "--out", ".."]),
    ("reproduce into a user's folder", ["reproduce", "taylor_green_decay", "--out", "root/mine"]),
    ("reproduce unknown budget", ["reproduce", "taylor_green_decay", "--budget", "huge", "--out", "root/r"]),
    ("ablate into cwd", ["ablate", "--world", "analytical:taylor_green", "--seeds", "0", "--out", "."]),
    ("ablate into a user's folder", ["ablate", "--world", "analytical:taylor_green", "--seeds", "0",
                                     "--out", "root/mine"]),
    ("ablate unstable world", ["ablate", "--world", "lbm2d:cylinder", "--grid", "176", "36", "1", "--seeds", "0",
                               "--world-tau", "0.5", "--out", "root/ab"]),
    ("bench report into a folder", ["bench", "integrity", "--samples", "64", "--output", "root"]),
    ("bench report named '..'", ["bench", "worlds", "--output", "root/.."]),
    ("serve port too high", ["serve", "--port", "99999"]),
    ("serve port zero", ["serve", "--port", "0"]),
]


@pytest.mark.parametrize("args", [c[1] for c in CLI_CASES], ids=[c[0] for c in CLI_CASES])
def test_cli_refuses_in_one_line_and_touches_nothing(args, scratch, capsys):
    before = tree_hash(scratch)
    code, text = _atom(args, capsys)
    assert code == 2, text
    lines = [line for line in text.strip().splitlines() if line.strip()]
    assert len(lines) == 1, text
    assert "Traceback" not in text and lines[0].startswith("error:"), text
    assert tree_hash(scratch) == before


def test_suite_has_at_least_forty_cases():
    assert len(CLI_CASES) >= 40


def test_messages_say_what_to_change(scratch, capsys):
    _, text = _atom(["run", "--name", "..", "--overwrite", *R], capsys)
    assert "'..'" in text and "such as 'run1'" in text
    _, text = _atom(["run", "--name", "x", "--grid", "4096", "4096", "64", *R], capsys)
    assert "GiB" in text and "--skip-memory-check" in text and "smaller --grid" in text
    _, text = _atom(["run", "--name", "mine", "--overwrite", *R], capsys)
    assert "not created by atom" in text and "left untouched" in text
    _, text = _atom(["run", "--name", "done", "--resume", *R], capsys)
    assert "already complete (40 steps)" in text
    _, text = _atom(["run", "--name", "done", "--resume", "--world-nu", "0.02", *R], capsys)
    assert "world.params.nu" in text
    _, text = _atom(["run", "--name", "done", "--resume", "--steps", "80", *R], capsys)
    assert "anneal" in text and "--overwrite" in text
    _, text = _atom(["serve", "--port", "99999"], capsys)
    assert "--port" in text and "65535" in text


# ----------------------------------------------------------------------------- Python API


def test_python_api_refuses_escaping_outputs(scratch):
    from atom_sdk.design.search import run_design
    from atom_sdk.experiment import run_experiment
    from atom_sdk.reproduce.registry import run_reproduction
    from atom_sdk.workspace import confined_child, output_folder

    before = tree_hash(scratch)
    bad = [
        lambda: run_experiment({"name": "..", "output_root": "root"}, overwrite=True),
        lambda: run_experiment({"name": "ok"}, "..", overwrite=True),
        lambda: run_experiment({"name": "ok"}, "root/mine", overwrite=True),
        lambda: run_experiment({"name": "ok", "world": {"grid": [4096, 4096, 64]}}, "root/big"),
        lambda: run_design({"name": "../up", "output_root": "root"}),
        lambda: run_design({"name": "d"}, output_dir="root/mine"),
        lambda: run_reproduction("taylor_green_decay", "."),
        lambda: output_folder("/"),
        lambda: confined_child("root", "a\x00b"),
    ]
    for call in bad:
        with pytest.raises(AtomError):
            call()
    assert tree_hash(scratch) == before


def test_symlink_leaving_the_root_is_refused(scratch):
    from atom_sdk.errors import PathOutsideWorkspaceError
    from atom_sdk.workspace import confined_child

    outside = scratch / "outside"
    outside.mkdir()
    os.symlink(outside, scratch / "work" / "root" / "link")
    with pytest.raises(PathOutsideWorkspaceError):
        confined_child(scratch / "work" / "root", "link")


def test_overwrite_replaces_only_an_owned_folder(tmp_path):
    from atom_sdk.workspace import prepare_output

    owned = prepare_output(tmp_path / "run", "run", overwrite=False)
    (owned / "old.txt").write_text("old")
    prepare_output(owned, "run", overwrite=True)
    assert not (owned / "old.txt").exists() and (owned / MARKER_FILE).is_file()
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "data.csv").write_text("1,2")
    with pytest.raises(AtomError, match="not created by atom"):
        prepare_output(foreign, "run", overwrite=True)
    assert (foreign / "data.csv").read_text() == "1,2"


# ----------------------------------------------------------------------------- HTTP API

fastapi = pytest.importorskip("fastapi")


@pytest.fixture()
def client(tmp_path):
    from fastapi.testclient import TestClient

    from atom_sdk.platform.api import create_app
    from atom_sdk.platform.testing import settings_for

    app = create_app(settings_for(tmp_path / "ws"))
    with TestClient(app) as c:
        yield c


HTTP_CASES: list[tuple[str, str, dict]] = [
    ("run output_root", "/api/v1/runs", {"config": {"name": "r", "output_root": "/tmp"}}),
    ("run dotdot name", "/api/v1/runs", {"config": {"name": ".."}}),
    ("run separator name", "/api/v1/runs", {"config": {"name": "a/b"}}),
    ("run control char name", "/api/v1/runs", {"config": {"name": "a\u0007b"}}),
    ("run 10 kB name", "/api/v1/runs", {"config": {"name": LONG}}),
    ("run tau 0.5", "/api/v1/runs", {"config": {"world": {"name": "lbm2d:cylinder", "grid": [176, 36, 1],
                                                          "params": {"tau": 0.5}}}}),
    ("run subsonic wedge", "/api/v1/runs", {"config": {"world": {"name": "supersonic:wedge", "grid": [64, 48, 1],
                                                                 "params": {"mach": 0.8}}}}),
    ("run grid 1 1 1", "/api/v1/runs", {"config": {"world": {"grid": [1, 1, 1]}}}),
    ("run non-numeric steps", "/api/v1/runs", {"config": {"steps": "many"}}),
    ("design output_root", "/api/v1/inverse-design/jobs", {"spec": {"name": "d", "output_root": "/etc"}}),
    ("design dotdot name", "/api/v1/inverse-design/jobs", {"spec": {"name": "../d"}}),
]


@pytest.mark.parametrize("path,body", [c[1:] for c in HTTP_CASES], ids=[c[0] for c in HTTP_CASES])
def test_http_refuses_with_4xx(client, tmp_path, path, body):
    before = tree_hash(tmp_path)
    response = client.post(path, json=body)
    assert 400 <= response.status_code < 500, response.text
    assert response.json().get("message")
    assert tree_hash(tmp_path) == before


@pytest.mark.parametrize("name", ["../up", "a/b", "a\x00b", "bell\u0007", ".."])
def test_geometry_display_names_refused(client, name):
    response = client.post("/api/v1/geometries/upload",
                           data={"name": name, "polygon": "[[30, 10], [40, 10], [40, 20], [30, 20]]"})
    assert response.status_code == 422, response.text


def test_report_outputs_never_replace_a_file_the_sdk_did_not_write(tmp_path):
    """``--output`` / ``--out-md`` may replace an earlier report of the same kind on a rerun, but
    another file (``~/.bashrc``, the user's own JSON or Markdown table, another report) is refused
    and left as it was."""
    from atom_sdk.errors import ConfigError
    from atom_sdk.evidence.integrity import REPORT_JSON, REPORT_MARKDOWN, SCHEMA
    from atom_sdk.reproduce.report import README_TABLE, TABLE_HEADER
    from atom_sdk.workspace import output_file

    foreign = {"passwd": "root:x:0:0:root:/root:/bin/bash\n", "notes.md": "# my notes\n",
               "mine.json": '{"mine": true, "thesis": "chapter 3"}\n', "list.json": "[1, 2]",
               "other.json": '{"schema": "atom.reliability/1", "rows": []}\n',
               "lab.md": "| sample | mass (g) |\n|---|---|\n| A1 | 3.2 |\n"}
    for name, text in foreign.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    for name in foreign:
        kind = REPORT_MARKDOWN if name.endswith(".md") else REPORT_JSON
        with pytest.raises(ConfigError, match="is not a .* this SDK writes; it is left untouched"):
            output_file(tmp_path / name, "--output", kind)
        assert (tmp_path / name).read_text(encoding="utf-8") == foreign[name]
    with pytest.raises(ConfigError, match="reproductions Markdown table"):
        output_file(tmp_path / "lab.md", "--out-md", README_TABLE)
    report, table = tmp_path / "report.json", tmp_path / "table.md"
    report.write_text('{"schema": "%s", "rows": []}\n' % SCHEMA, encoding="utf-8")
    table.write_text(TABLE_HEADER + "\n|---|---|\n", encoding="utf-8")
    assert output_file(report, "--output", REPORT_JSON) == report
    assert output_file(table, "--out-md", README_TABLE) == table
    assert output_file(tmp_path / "new.json", "--output", REPORT_JSON) == tmp_path / "new.json"
    (tmp_path / "empty.json").touch()
    assert output_file(tmp_path / "empty.json", "--output", REPORT_JSON) == tmp_path / "empty.json"


def test_release_and_plot_outputs_refuse_what_they_did_not_write(tmp_path, capsys):
    """The newcomer audit's cases: release evidence, the surface snapshot, the advisories list and the
    OpenAPI export each replace only their own kind of file; ``ablate plot --out`` a folder atom made."""
    notes = {"t.txt": "notes\n", "precious.md": "# my notes\n", "adv.json": '{"mine": true}\n',
             "design_report.json": '{"schema": "atom.inverse_design/1", "best": 1}\n'}
    for name, text in notes.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    snap = tmp_path / "snap"
    snap.mkdir()
    (snap / "surface_snapshot.json").write_text("my notes\n", encoding="utf-8")
    for args in (["release", "evidence", "--only", "G-09", "--output-json", str(tmp_path / "t.txt"),
                  "--output-md", str(tmp_path / "new.md")],
                 ["release", "evidence", "--only", "G-09", "--output-json", str(tmp_path / "new.json"),
                  "--output-md", str(tmp_path / "precious.md")],
                 ["release", "advisories", "list", "--out", str(tmp_path / "adv.json")],
                 ["openapi", "export", "--output", str(tmp_path / "design_report.json")],
                 ["release", "snapshot", "--out-dir", str(snap), "--surface-only"]):
        code, text = _atom(args, capsys)
        assert code == 2 and "left untouched" in text, (args, text)
    for name, text in notes.items():
        assert (tmp_path / name).read_text(encoding="utf-8") == text
    assert (snap / "surface_snapshot.json").read_text(encoding="utf-8") == "my notes\n"
    assert not (tmp_path / "new.md").exists() and not (tmp_path / "new.json").exists()
    # a rerun over its own files still works
    assert _atom(["release", "advisories", "list", "--out", str(tmp_path / "deps.json")], capsys)[0] == 0
    assert _atom(["release", "advisories", "list", "--out", str(tmp_path / "deps.json")], capsys)[0] == 0
    assert _atom(["release", "snapshot", "--out-dir", str(tmp_path / "rel"), "--surface-only"], capsys)[0] == 0
    assert _atom(["release", "snapshot", "--out-dir", str(tmp_path / "rel"), "--surface-only"], capsys)[0] == 0


def test_ablate_plot_out_refuses_a_folder_atom_did_not_create(tmp_path):
    from atom_sdk.errors import ArtifactError
    from atom_sdk.evidence.plots import regenerate

    summary, runs = tmp_path / "summary.json", tmp_path / "runs.json"
    summary.write_text('{"rows": [], "metrics": [], "variants": []}', encoding="utf-8")
    runs.write_text('{"runs": []}', encoding="utf-8")
    mine = tmp_path / "plotdst"
    mine.mkdir()
    (mine / "platform_ablation_claims.md").write_text("my own claims notes\n", encoding="utf-8")
    with pytest.raises(ArtifactError, match="not created by atom"):
        regenerate(summary, runs, mine)
    assert (mine / "platform_ablation_claims.md").read_text(encoding="utf-8") == "my own claims notes\n"
    assert sorted(p.name for p in mine.iterdir()) == ["platform_ablation_claims.md"]


def test_cli_output_to_a_foreign_file_is_refused_before_any_work(tmp_path, capsys):
    target = tmp_path / "bashrc"
    target.write_text("export PATH=/usr/bin\n", encoding="utf-8")
    for args in (["bench", "worlds", "--size", "8", "--size3d", "0", "--output", str(target)],
                 ["openapi", "export", "--output", str(target)],
                 ["reproduce", "table", "--out-md", str(target)]):
        code, text = _atom(args, capsys)
        assert code == 2 and "left untouched" in text and len(text.strip().splitlines()) == 1, text
        assert target.read_text(encoding="utf-8") == "export PATH=/usr/bin\n"


def test_a_huge_png_mask_is_refused_by_its_size_not_by_pillow():
    """A 20000x20000 PNG (a few KB compressed) trips Pillow's decompression-bomb guard when opened; the
    header's size is checked first, so the message says what to change."""
    import struct
    import zlib

    from atom_sdk.platform.geometries import GeometryError, decode_mask

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 20000, 20000, 1, 0, 0, 0, 0))
           + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b""))
    with pytest.raises(GeometryError, match=r"mask is 20000x20000 pixels; use 8 to 1024 pixels per side"):
        decode_mask(png)


def test_tau_too_close_to_half_says_to_raise_it():
    from atom_sdk.errors import WorldParameterError
    from atom_sdk.worlds.registry import world_class

    with pytest.raises(WorldParameterError, match="raise tau if you set it"):
        world_class("lbm2d:cylinder")(tau=0.5001, u_inlet=0.1)
