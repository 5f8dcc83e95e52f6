"""`atom run`'s "artifacts:" line names what the run folder holds on disk, not a fixed list."""

from __future__ import annotations

import io
from pathlib import Path

from rich.console import Console

import atom_sdk.cli.run as run_cli


def _run_folder(tmp_path: Path, files: list[str]) -> Path:
    out = tmp_path / "tg"
    (out / "checkpoints").mkdir(parents=True)
    for name in files + [".atom-output.json"]:
        (out / name).write_text("{}", encoding="utf-8")
    return out


def test_listing_is_read_from_disk(tmp_path: Path) -> None:
    out = _run_folder(tmp_path, ["results.json", "telemetry.jsonl", "ledger.jsonl", "summary.png", "summary.pdf",
                                 "config.json"])
    assert run_cli.artifact_listing(out) == ("checkpoints/, config.json, ledger.jsonl, results.json, summary.pdf, "
                                             "summary.png, telemetry.jsonl")
    (out / "summary.pdf").unlink()
    assert "summary.pdf" not in run_cli.artifact_listing(out)
    assert ".atom-output.json" not in run_cli.artifact_listing(out)


def test_report_prints_the_listing(tmp_path: Path, monkeypatch) -> None:
    out = _run_folder(tmp_path, ["results.json", "ledger.jsonl"])
    buffer = io.StringIO()
    monkeypatch.setattr(run_cli, "console", Console(file=buffer, width=400, color_system=None))
    results = {"name": "tg", "world": {"id": "analytical:taylor_green"}, "variant": {"name": "ppo_baseline",
               "use_scientist": False}, "provenance": {"config_hash": "0" * 64}, "summary": {"mean_return": -1.5},
               "laws": []}
    run_cli.report(results, out)
    line = [text for text in buffer.getvalue().splitlines() if "artifacts:" in text]
    assert line == [f"  artifacts: {out}/ (checkpoints/, ledger.jsonl, results.json)"]
