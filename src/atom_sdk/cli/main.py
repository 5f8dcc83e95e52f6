"""Entry point of the ``atom`` command.

Errors are turned into one line and an exit code by ``atom_sdk.cli.boundary``; ``--debug``
(anywhere on the command line) keeps the traceback. Sub-commands live one per module.
"""

from __future__ import annotations

import sys

import typer

from atom_sdk import __version__
from atom_sdk.cli import bench as bench_cli
from atom_sdk.cli import eval as eval_cli
from atom_sdk.cli import run as run_cli
from atom_sdk.cli import worlds as worlds_cli
from atom_sdk.cli.common import INVERSE_ALIASES, tidy_help, with_aliases
from atom_sdk.release.semver import provide_cli

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
    from atom_sdk.compilation import enable_persistent_cache

    enable_persistent_cache()  # every command that compiles (run, design, reproduce, bench...) reuses programs


app.add_typer(worlds_cli.app, name="worlds")
app.add_typer(bench_cli.app, name="bench")
app.command("run", cls=with_aliases(INVERSE_ALIASES),
            context_settings={"allow_extra_args": True, "ignore_unknown_options": True})(run_cli.run_command)
app.command("demo")(run_cli.demo_command)
app.command("eval", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})(eval_cli.eval_command)


def _mount_optional() -> None:
    """Mount sub-commands whose modules exist (they are added as the SDK grows)."""
    import importlib

    for module_name, name in (("ablate", "ablate"), ("release", "release"), ("design", "design"),
                              ("challenge", "challenge"), ("platform", None), ("reproduce", "reproduce"),
                              ("safety", "safety"), ("interpret", None)):
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


def _root_command() -> object:
    """The click command of ``atom`` as users get it (flags shown without a ``<bool>`` metavar)."""
    return tidy_help(typer.main.get_command(app))


provide_cli(_root_command)  # the release tooling snapshots the CLI surface without importing the CLI


def _plain_sdk_warnings() -> None:
    """The SDK's own warnings print as one ``warning: ...`` line, without the source path and line that
    Python's default format shows (meant for developers; ``--debug`` keeps it). Others are unchanged."""
    import warnings

    default = warnings.formatwarning
    if getattr(default, "atom_plain", False):  # already installed (main() called again in one process)
        return

    def formatwarning(message, category, filename, lineno, line=None):  # noqa: ANN001
        if "atom_sdk" in str(filename).replace("\\", "/").split("/"):
            return f"warning: {message}\n"
        return default(message, category, filename, lineno, line)

    formatwarning.atom_plain = True  # type: ignore[attr-defined]
    warnings.formatwarning = formatwarning


def main(argv: list[str] | None = None) -> None:
    """Run the CLI inside the one error boundary (see ``atom_sdk.cli.boundary`` for exit codes)."""
    from atom_sdk.cli.boundary import run_with_boundary

    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    args = [a for a in args if a != "--debug"]  # accepted anywhere on the line
    if not debug:
        _plain_sdk_warnings()
    command = _root_command()
    sys.exit(run_with_boundary(lambda: command.main(args=args, prog_name="atom", standalone_mode=False),
                               debug=debug, argv=args))


if __name__ == "__main__":
    main()
