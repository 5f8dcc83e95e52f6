"""`atom release gate-table --write` and `atom release keygen` refuse bad targets with exit 2 and one line
that says what to change, leaving the user's file untouched (the newcomer audit saw exit 1 and 3)."""

from __future__ import annotations

from pathlib import Path

import pytest

from atom_sdk.cli.main import main
from atom_sdk.release.gates import GATE_TABLE_BEGIN, GATE_TABLE_END


def _exit(argv: list[str]) -> int:
    with pytest.raises(SystemExit) as done:
        main(argv)
    return int(done.value.code)


def test_gate_table_write_names_the_missing_markers(tmp_path: Path, capsys) -> None:
    doc = tmp_path / "precious.md"
    doc.write_text("# my notes\n", encoding="utf-8")
    assert _exit(["release", "gate-table", "--write", "--doc", str(doc)]) == 2
    err = capsys.readouterr().err
    assert GATE_TABLE_BEGIN in err and GATE_TABLE_END in err and "unexpected" not in err
    assert doc.read_text(encoding="utf-8") == "# my notes\n"


def test_gate_table_write_names_the_one_missing_marker(tmp_path: Path, capsys) -> None:
    doc = tmp_path / "half.md"
    doc.write_text(f"{GATE_TABLE_BEGIN}\nold\n", encoding="utf-8")
    assert _exit(["release", "gate-table", "--write", "--doc", str(doc)]) == 2
    err = capsys.readouterr().err
    assert f"marker {GATE_TABLE_END}" in err and "markers" not in err


def test_gate_table_write_into_a_document_with_markers(tmp_path: Path) -> None:
    doc = tmp_path / "release.md"
    doc.write_text(f"intro\n{GATE_TABLE_BEGIN}\nold\n{GATE_TABLE_END}\nend\n", encoding="utf-8")
    assert _exit(["release", "gate-table", "--write", "--doc", str(doc)]) == 0
    text = doc.read_text(encoding="utf-8")
    assert text.startswith(f"intro\n{GATE_TABLE_BEGIN}\n|") and text.endswith(f"{GATE_TABLE_END}\nend\n")
    assert "G-09" in text and "\nold\n" not in text


@pytest.mark.parametrize("below", [False, True])
def test_keygen_out_must_be_a_folder(tmp_path: Path, capsys, below: bool) -> None:
    precious = tmp_path / "precious.txt"
    precious.write_text("mine\n", encoding="utf-8")
    out = precious / "keys" if below else precious
    assert _exit(["release", "keygen", "--out", str(out)]) == 2
    assert "--out must be a folder" in capsys.readouterr().err
    assert precious.read_text(encoding="utf-8") == "mine\n"
