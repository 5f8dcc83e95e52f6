"""Shared CLI pieces: the console, one-line error reporting, and ``--world-<param>`` options.

CLI modules must import only typer/rich at module level (heavy imports go inside commands),
so that ``atom --help`` stays fast.
"""

from __future__ import annotations

import json
import re
from typing import Any

import typer
from rich.console import Console
from typer.core import TyperCommand, TyperGroup

from atom_sdk.errors import ConfigError

console = Console()
err_console = Console(stderr=True)

_WORLD_OPTION = re.compile(r"^--world-([a-z][a-z0-9]*(?:-[a-z0-9]+)*)(?:=(.*))?$")


class DefaultCommandGroup(TyperGroup):
    """A group whose first argument falls back to ``default_command`` when it names no sub-command.

    ``atom ablate --world ...`` means ``atom ablate run --world ...``; the docs gate (G-09) reads
    ``default_command`` to parse documented commands the same way.
    """

    default_command = "run"

    def parse_args(self, ctx, args: list[str]) -> list[str]:  # type: ignore[no-untyped-def]
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = [self.default_command, *args]
        return super().parse_args(ctx, args)


def parse_scalar(text: str) -> Any:
    """'0.05' -> 0.05, '3' -> 3, 'true' -> True, anything else stays a string."""
    lowered = text.strip().lower()
    if lowered in {"true", "yes", "on"}:
        return True
    if lowered in {"false", "no", "off"}:
        return False
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return text


def take_world_option(args: list[str], i: int, params: dict[str, Any]) -> int | None:
    """Read a ``--world-<name> VALUE`` (or ``--world-<name>=VALUE``) option at ``args[i]``.

    Stores ``{"<name>": value}`` (dashes turned into underscores) in ``params`` and returns the
    index after the option; returns None when ``args[i]`` is not a world option at all. A
    malformed name, a missing value or a repeated option is refused with a one-line error.
    """
    token = args[i]
    match = _WORLD_OPTION.match(token)
    if not match:
        if token.startswith("--world-"):
            raise ConfigError(f"malformed world option '{token}'; use --world-<name> VALUE with lowercase "
                              "letters, digits and dashes")
        return None
    name = match.group(1).replace("-", "_")
    if match.group(2) is not None:
        value, following = match.group(2), i + 1
        if value == "":
            raise ConfigError(f"option '{token}' needs a value, e.g. {token}0.05")
    elif i + 1 < len(args) and not args[i + 1].startswith("--"):
        value, following = args[i + 1], i + 2
    else:
        raise ConfigError(f"option '{token}' needs a value, e.g. {token} 0.05")
    if name in params:
        raise ConfigError(f"--world-{match.group(1)} given twice; give each world option once")
    params[name] = parse_scalar(value)
    return following


def parse_world_options(args: list[str]) -> dict[str, Any]:
    """Turn extra args like ``--world-u-inlet 0.05 --world-tau=0.53`` into ``{"u_inlet": 0.05, ...}``.

    Anything that is not a ``--world-<name> VALUE`` pair is refused with a message naming it.
    """
    params: dict[str, Any] = {}
    i = 0
    while i < len(args):
        following = take_world_option(args, i, params)
        if following is None:
            raise ConfigError(f"unknown option '{args[i]}'; world parameters are given as --world-<name> VALUE, "
                              "see --help for the other options")
        i = following
    return params


def print_json(obj: Any) -> None:
    from atom_sdk.artifacts import dumps_json

    typer.echo(dumps_json(obj))


def loads_json_option(text: str, option: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{option} must be valid JSON ({exc.msg})") from None


GRID_MESSAGE = "--grid takes three integers nx ny nz (use nz=1 for 2D worlds)"
_INT = re.compile(r"^[+-]?\d+$")

#: One flag per concept: the search settings are spelled the same in ``atom design`` and
#: ``atom run --inverse-design``. The old ``atom run`` spellings stay as hidden, deprecated aliases.
INVERSE_ALIASES = {"--inverse-problem": "--problem", "--inverse-backend": "--backend",
                   "--inverse-target": "--target", "--inverse-bound": "--bound",
                   "--inverse-evaluator": "--evaluator", "--inverse-workers": "--workers"}


def check_grid(args: list[str], option: str = "--grid") -> None:
    """Refuse ``--grid 8 8`` (too few values) with a message that says what --grid takes."""
    for i, token in enumerate(args):
        if token == "--":
            return
        if token == option or token.startswith(option + "="):
            got = args[i + 1:i + 4] if token == option else [token.partition("=")[2]]
            taken = []
            for value in got:
                if value.startswith("--"):
                    break
                taken.append(value)
            if len(taken) < 3 or not all(_INT.match(v) for v in taken):
                shown = " ".join(taken) if taken else "nothing"
                raise ConfigError(f"{GRID_MESSAGE}; got '{shown}'")


class AtomCommand(TyperCommand):
    """A command whose ``--grid`` is checked before parsing and whose deprecated aliases still work.

    ``deprecated_aliases`` maps an old flag to the one to use: the old one is still accepted (it stays in
    the option's names, so the CLI surface loses nothing), is left out of ``--help``, and prints a
    one-line note on stderr when given.
    """

    deprecated_aliases: dict[str, str] = {}

    def parse_args(self, ctx, args: list[str]) -> list[str]:  # type: ignore[no-untyped-def]
        if any(getattr(p, "opts", None) and "--grid" in p.opts for p in self.params):
            check_grid(list(args))
        for token in args:
            if token == "--":
                break
            old = token.partition("=")[0]
            if old in self.deprecated_aliases:
                err_console.print(f"note: {old} is deprecated; use {self.deprecated_aliases[old]}", highlight=False,
                                  soft_wrap=True)
        return super().parse_args(ctx, args)

    def format_help(self, ctx, formatter) -> None:  # type: ignore[no-untyped-def]
        hidden = set(self.deprecated_aliases)
        saved = [(p, list(p.opts)) for p in self.params if hidden & set(getattr(p, "opts", ()))]
        try:
            for p, opts in saved:
                p.opts = [o for o in opts if o not in hidden]
            super().format_help(ctx, formatter)
        finally:
            for p, opts in saved:
                p.opts = opts


def with_aliases(deprecated: dict[str, str]) -> type[AtomCommand]:
    """An ``AtomCommand`` class with these deprecated aliases (old flag -> flag to use)."""
    return type("AtomAliasCommand", (AtomCommand,), {"deprecated_aliases": dict(deprecated)})


def tidy_help(command: Any) -> Any:
    """The whole command tree, with boolean flags shown without a ``<bool>`` metavar; returns it."""
    from atom_sdk.release.semver import walk_commands

    for _path, cmd in walk_commands(command):
        for param in getattr(cmd, "params", []):
            _no_flag_metavar(param)
        cmd.get_help_option = _tidy_help_option(cmd.get_help_option)
    return command


def _no_flag_metavar(param: Any) -> Any:
    if param is not None and getattr(param, "is_flag", False) and getattr(param, "metavar", None) is None:
        param.metavar = ""
    return param


def _tidy_help_option(get_help_option: Any) -> Any:
    def wrapped(ctx: Any) -> Any:
        return _no_flag_metavar(get_help_option(ctx))

    return wrapped
