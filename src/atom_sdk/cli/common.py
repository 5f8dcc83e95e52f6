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
from typer.core import TyperGroup

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
