"""``atom safety``: operator controls of a running experiment's safety envelope.

``atom safety rebaseline --name RUN [--output-root ROOT] [--note TEXT]`` asks the envelope of the run
in ``ROOT/RUN`` to re-baseline its distribution-shift monitor on the current regime: it drops
``control/rebaseline.json`` into the run folder, which the running ``atom run`` takes at its next
step and records (source ``cli``, user, note) in telemetry and ``results.json``.

Only typer is imported at module level so that ``atom --help`` stays fast.
"""

from __future__ import annotations

import re
from typing import Optional

import typer

app = typer.Typer(help="Operator controls of a run's safety envelope (re-baseline the shift monitor).",
                  no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)

_NAME = re.compile(r"^[A-Za-z0-9._-]{1,128}$")


def _who() -> str | None:
    import getpass

    try:
        return getpass.getuser()[:128]
    except Exception:  # no user name in this environment (e.g. a container without passwd entry)
        return None


@app.command("rebaseline")
def rebaseline_command(
    name: str = typer.Option(..., "--name", help="Run name (its folder is OUTPUT_ROOT/NAME)."),
    output_root: str = typer.Option("experiment_results", "--output-root", help="Folder that holds the run."),
    note: Optional[str] = typer.Option(None, "--note", help="Why: recorded with the re-baseline event."),
) -> None:
    """Ask a running experiment's envelope to re-baseline its shift monitor (the event is recorded)."""
    from pathlib import Path

    from atom_sdk.errors import ArtifactError, ConfigError
    from atom_sdk.safety.control import REBASELINE_FILE, control_dir, request_rebaseline

    if not _NAME.match(name) or name in (".", ".."):
        raise ConfigError(f"--name {name[:60]!r} is not a run name; use letters, digits, '.', '_' or '-' "
                          "(1 to 128 characters), as given to 'atom run --name'")
    if "\x00" in output_root:
        raise ConfigError("--output-root contains a NUL character; give a plain folder path")
    run_dir = Path(output_root) / name
    if not (run_dir / "config.json").is_file():
        raise ArtifactError(f"'{run_dir}' is not a run folder (no config.json); check --name and --output-root")
    if (run_dir / "results.json").is_file():
        raise ArtifactError(f"run '{name}' has finished ('{run_dir / 'results.json'}' exists); "
                            "there is no running envelope to re-baseline")
    try:
        request = request_rebaseline(control_dir(run_dir), "cli", _who(), note)
    except OSError as exc:
        raise ArtifactError(f"cannot write the request into '{control_dir(run_dir)}': {exc.strerror or exc}") from None
    typer.echo(f"re-baseline requested for run '{name}': {control_dir(run_dir) / REBASELINE_FILE} "
               f"(taken at the run's next step; requested_at {request['requested_at']})")
