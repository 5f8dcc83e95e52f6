"""The ``atom`` command: version, every command's help, one-line errors with exit code 2."""

import subprocess
import sys

import pytest
import typer

from atom_sdk import __version__
from atom_sdk.cli.main import app, main


def _walk(command, path: tuple[str, ...] = ()):
    yield path
    if hasattr(command, "commands"):
        for name, sub in command.commands.items():
            yield from _walk(sub, path + (name,))


def test_version(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"atom-oss-sdk {__version__}"


def test_every_command_has_help(capsys):
    paths = list(_walk(typer.main.get_command(app)))
    assert ("run",) in paths and ("worlds", "validate") in paths
    for path in paths:
        with pytest.raises(SystemExit) as exit_info:
            main([*path, "--help"])
        assert exit_info.value.code == 0, path
        assert "Usage" in capsys.readouterr().out


def test_user_error_is_one_line_exit_2():
    proc = subprocess.run([sys.executable, "-m", "atom_sdk", "run", "--steps", "0"], capture_output=True, text=True)
    assert proc.returncode == 2
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "'steps'" in lines[0] and "Traceback" not in proc.stderr


def test_unknown_world_option_is_refused(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["run", "--world-tau"])
    assert exit_info.value.code == 2
    assert "needs a value" in capsys.readouterr().err


def test_worlds_list_json(capsys):
    with pytest.raises(SystemExit):
        main(["worlds", "list", "--json"])
    out = capsys.readouterr().out
    assert '"analytical:taylor_green"' in out and '"nu"' in out


def test_sdk_warnings_print_as_one_plain_line(monkeypatch):
    """The CLI shows the SDK's own warnings as ``warning: ...`` (no source path); others keep Python's format."""
    import warnings

    from atom_sdk.cli.main import _plain_sdk_warnings

    monkeypatch.setattr(warnings, "formatwarning", warnings.formatwarning)
    _plain_sdk_warnings()
    _plain_sdk_warnings()  # idempotent
    sdk = warnings.formatwarning("the data lack the SO(2) symmetry", UserWarning,
                                 "/x/src/atom_sdk/science/modes.py", 311)
    other = warnings.formatwarning("deprecated", DeprecationWarning, "/x/site-packages/numpy/core.py", 7)
    assert sdk == "warning: the data lack the SO(2) symmetry\n"
    assert other.startswith("/x/site-packages/numpy/core.py:7: DeprecationWarning: deprecated")
