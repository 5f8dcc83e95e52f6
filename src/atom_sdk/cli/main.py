"""Entry point of the ``atom`` command.

Every ``AtomError`` is printed on one line and exits with code 2; ``--debug`` (anywhere on
the command line) shows the traceback instead. Sub-commands live one per module.
"""

from __future__ import annotations

import sys
import traceback

import typer
from typer._click.exceptions import ClickException

from atom_sdk import __version__
from atom_sdk.cli import bench as bench_cli
from atom_sdk.cli import run as run_cli
from atom_sdk.cli import worlds as worlds_cli
from atom_sdk.cli.common import err_console
from atom_sdk.errors import AtomError

app = typer.Typer(
    name="atom",
    help="ATOM OSS SDK: simulation worlds, closed-loop discovery, evidence and release tooling.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"atom-oss-sdk {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks for errors."),
) -> None:
    """ATOM OSS SDK command line."""


app.add_typer(worlds_cli.app, name="worlds")
app.add_typer(bench_cli.app, name="bench")
app.command("run", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})(run_cli.run_command)
app.command("demo")(run_cli.demo_command)


def _mount_optional() -> None:
    """Mount sub-commands whose modules exist (they are added as the SDK grows)."""
    import importlib

    for module_name, name in (("ablate", "ablate"), ("release", "release"), ("design", "design"),
                              ("challenge", "challenge"), ("platform", None), ("reproduce", "reproduce")):
        try:
            module = importlib.import_module(f"atom_sdk.cli.{module_name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"atom_sdk.cli.{module_name}":
                continue
            raise
        register = getattr(module, "register", None)
        if register is not None:
            register(app)
        else:
            app.add_typer(module.app, name=name)


_mount_optional()


def main(argv: list[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    args = [a for a in args if a != "--debug"]  # accepted anywhere on the line
    command = typer.main.get_command(app)
    try:
        rv = command.main(args=args, prog_name="atom", standalone_mode=False)
    except AtomError as exc:
        if debug:
            traceback.print_exc()
        err_console.print(f"[bold red]error:[/] {exc}", markup=True, highlight=False, soft_wrap=True)
        sys.exit(2)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        err_console.print("aborted")
        sys.exit(130)
    except ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        err_console.print("interrupted; artifacts written so far are kept")
        sys.exit(130)
    sys.exit(rv if isinstance(rv, int) else 0)


if __name__ == "__main__":
    main()
