"""The public surface (CLI commands/options, OpenAPI paths/methods) and the SemVer rule over it.

Why a snapshot: "did this release break users?" is answered by comparing what a user could
type or call at the last release with what they can now. A removed or changed command,
flag or endpoint needs a MAJOR bump; an added one at least a MINOR bump.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from atom_sdk.errors import ConfigError
from atom_sdk.workspace import ReportKind

SNAPSHOT_SCHEMA = "atom.release_surface/1"
SNAPSHOT_REPORT = ReportKind("release surface snapshot", schema=SNAPSHOT_SCHEMA)
HTTP_METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")


def is_group(cmd: Any) -> bool:
    """Duck-typed: typer >= 0.29 vendors its own click, so isinstance checks against ``click`` fail."""
    return isinstance(getattr(cmd, "commands", None), Mapping)


def is_option(param: Any) -> bool:
    return getattr(param, "param_type_name", "") == "option"


#: The CLI's root command, handed in by ``atom_sdk.cli.main`` when it is imported (the release
#: tooling sits below the CLI and may not import it).
_CLI_FACTORY: Callable[[], Any] | None = None


def provide_cli(factory: Callable[[], Any]) -> None:
    """Called by the CLI module: how to get the root click command whose surface is snapshotted."""
    global _CLI_FACTORY
    _CLI_FACTORY = factory


def root_command() -> Any:
    if _CLI_FACTORY is None:
        raise ConfigError("the CLI surface needs the atom CLI: run this through `atom release ...` or import "
                          "atom_sdk.cli.main first")
    return _CLI_FACTORY()


def walk_commands(cmd: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    """Every command and sub-command with its path (the root has the empty path)."""
    yield path, cmd
    if is_group(cmd):
        for name in sorted(cmd.commands):
            yield from walk_commands(cmd.commands[name], (*path, name))


def _param(p: Any) -> dict[str, Any]:
    kind = "option" if is_option(p) else "argument"
    info: dict[str, Any] = {"kind": kind, "required": bool(p.required), "multiple": bool(p.multiple),
                            "nargs": p.nargs}
    if is_option(p):
        info["opts"] = sorted([*p.opts, *p.secondary_opts])
        info["is_flag"] = bool(p.is_flag)
    return info


def cli_surface(cmd: Any = None) -> dict[str, dict[str, Any]]:
    """``{"atom release gates": {"params": {name: {...}}, "group": bool}}`` for the whole tree."""
    cmd = cmd or root_command()
    surface: dict[str, dict[str, Any]] = {}
    for path, sub in walk_commands(cmd):
        params = {p.name: _param(p) for p in sub.params if p.name and p.name != "help"}
        surface[" ".join(("atom", *path))] = {"group": is_group(sub), "params": params}
    return surface


def openapi_surface(schema: Mapping[str, Any] | None) -> list[str]:
    """Sorted ``"METHOD /path"`` strings of an OpenAPI document."""
    if not schema:
        return []
    return sorted(f"{m.upper()} {path}" for path, ops in (schema.get("paths") or {}).items()
                  for m in ops if m.lower() in HTTP_METHODS)


def live_openapi() -> dict[str, Any] | None:
    """The platform's live schema, or None while the platform module does not exist."""
    import importlib.util

    try:
        if importlib.util.find_spec("atom_sdk.platform.api") is None:
            return None
    except ModuleNotFoundError:
        return None
    from atom_sdk.platform.api import create_app  # type: ignore[import-not-found]

    return create_app().openapi()


def compare_surfaces(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, list[str]]:
    """Removed, changed and added commands, options and endpoints (old snapshot vs current)."""
    removed: list[str] = []
    changed: list[str] = []
    added: list[str] = []
    old_cli, new_cli = old.get("cli", {}), new.get("cli", {})
    for name in sorted(set(old_cli) | set(new_cli)):
        if name not in new_cli:
            removed.append(f"command `{name}`")
            continue
        if name not in old_cli:
            added.append(f"command `{name}`")
            continue
        op, np_ = old_cli[name]["params"], new_cli[name]["params"]
        for pname in sorted(set(op) | set(np_)):
            label = f"`{name}` parameter {pname} ({', '.join((op.get(pname) or np_.get(pname)).get('opts', [pname]))})"
            if pname not in np_:
                removed.append(label)
            elif pname not in op:
                # A new required parameter breaks existing invocations.
                (changed if np_[pname]["required"] else added).append(label)
            elif op[pname] != np_[pname]:
                lost = set(op[pname].get("opts", [])) - set(np_[pname].get("opts", []))
                gained = set(np_[pname].get("opts", [])) - set(op[pname].get("opts", []))
                rest_same = {k: v for k, v in op[pname].items() if k != "opts"} == \
                            {k: v for k, v in np_[pname].items() if k != "opts"}
                relaxed = ({k: v for k, v in op[pname].items() if k not in {"opts", "required"}} ==
                           {k: v for k, v in np_[pname].items() if k not in {"opts", "required"}}
                           and op[pname]["required"] and not np_[pname]["required"])
                if rest_same and not lost and gained:
                    added.append(f"{label}: new spelling(s) {sorted(gained)}")
                elif relaxed and not lost:
                    # Every invocation that passed it still works: a compatible addition, not a break.
                    added.append(f"{label}: no longer required")
                else:
                    changed.append(f"{label}: {op[pname]} -> {np_[pname]}")
    old_api, new_api = set(old.get("openapi", [])), set(new.get("openapi", []))
    removed += [f"endpoint `{e}`" for e in sorted(old_api - new_api)]
    added += [f"endpoint `{e}`" for e in sorted(new_api - old_api)]
    return {"removed": removed, "changed": changed, "added": added}


def parse_version(text: str) -> tuple[int, int, int]:
    from packaging.version import InvalidVersion, Version

    try:
        v = Version(text)
    except InvalidVersion:
        raise ConfigError(f"version {text!r} is not SemVer MAJOR.MINOR.PATCH") from None
    return (v.major, v.minor, v.micro)


def required_bump(diff: Mapping[str, list[str]]) -> str:
    if diff["removed"] or diff["changed"]:
        return "major"
    return "minor" if diff["added"] else "patch"


def bump_ok(old_version: str, new_version: str, required: str) -> tuple[bool, str]:
    """Whether going from ``old_version`` to ``new_version`` is at least the ``required`` bump."""
    old, new = parse_version(old_version), parse_version(new_version)
    if new < old:
        return False, f"version went backwards ({old_version} -> {new_version})"
    actual = ("major" if new[0] > old[0] else "minor" if new[1] > old[1] else
              "patch" if new[2] > old[2] else "none")
    order = {"none": 0, "patch": 1, "minor": 2, "major": 3}
    needed = order[required] if required != "patch" else 0
    need = {"patch": "the surface needs no MINOR/MAJOR bump", "minor": "the surface requires a MINOR bump",
            "major": "the surface requires a MAJOR bump"}.get(required, f"{required} required")
    return order[actual] >= needed, f"{old_version} -> {new_version} is a {actual} bump; {need}"


def current_surface() -> dict[str, Any]:
    from atom_sdk import __version__

    return {"schema": SNAPSHOT_SCHEMA, "version": __version__, "cli": cli_surface(),
            "openapi": openapi_surface(live_openapi())}


def write_snapshot(path: str | Path, surface: Mapping[str, Any] | None = None) -> Path:
    from atom_sdk.artifacts import write_json

    return write_json(path, dict(surface or current_surface()))
