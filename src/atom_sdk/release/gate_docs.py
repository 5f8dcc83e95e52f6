"""G-09 Docs and OpenAPI freshness: the docs describe the software that is being released.

Why parse every documented command: a copy-pasted command from the README that fails on an
unknown flag is a bug users hit first. Each ``atom ...`` command is walked through the live
click tree; each ``scripts/...`` command is checked against the options its ``--help`` lists.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess  # nosec B404 - fixed argv lists, no shell
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from atom_sdk.release.gates import GATE_TABLE_BEGIN, GATE_TABLE_END, GateRecorder, gate, registered, render_gate_table

SHELL_LANGS = {"", "bash", "sh", "shell", "console", "zsh"}
ATOM_EXES = {"atom", "venv/bin/atom", "./venv/bin/atom"}
DYNAMIC_OPTION_PREFIXES = ("--world-",)  # accepted by commands that take extra --world-<param> options
_FENCE = re.compile(r"^\s*(```|~~~)\s*([\w+-]*)")
_INLINE = re.compile(r"`([^`\n]+)`")
_ENV = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")


@dataclass(frozen=True)
class DocCommand:
    file: str
    line: int
    text: str


def extract_commands(path: Path, root: Path) -> list[DocCommand]:
    """Shell commands in fenced blocks (shell languages) and in inline code spans."""
    rel = path.relative_to(root).as_posix() if path.is_relative_to(root) else str(path)
    out: list[DocCommand] = []
    lines = path.read_text(encoding="utf-8").splitlines()
    fence: str | None = None
    lang = ""
    pending, start = "", 0
    for no, line in enumerate(lines, 1):
        m = _FENCE.match(line)
        if m and fence is None:
            fence, lang = m.group(1), m.group(2).lower()
            continue
        if fence is not None and line.strip().startswith(fence):
            fence = None
            continue
        if fence is not None:
            if lang not in SHELL_LANGS:
                continue
            text = line.strip()
            if text.startswith("$ "):
                text = text[2:]
            if not pending:
                start = no
            if text.endswith("\\"):
                pending += text[:-1] + " "
                continue
            pending += text
            if pending.strip() and not pending.lstrip().startswith("#"):
                out.append(DocCommand(rel, start, pending.strip()))
            pending = ""
            continue
        for span in _INLINE.findall(line):
            out.append(DocCommand(rel, no, span.strip()))
    return out


def _segments(text: str) -> Iterator[list[str]]:
    """Simple commands of a shell line, with leading ``NAME=value`` assignments removed."""
    try:
        lex = shlex.shlex(text, posix=True, punctuation_chars="|&;")
        lex.whitespace_split = True
        lex.commenters = "#"
        tokens = list(lex)
    except ValueError:
        return
    current: list[str] = []
    for tok in [*tokens, ";"]:
        if tok and set(tok) <= set("|&;"):
            while current and _ENV.match(current[0]):
                current.pop(0)
            if current:
                yield current
            current = []
        else:
            current.append(tok)


def _placeholder(tok: str) -> bool:
    return tok.startswith(("<", "{", "[", "...", "$")) or tok in {"…", "..."}


def _is_number(tok: str) -> bool:
    try:
        float(tok)
        return True
    except ValueError:
        return False


def check_atom_args(root: Any, args: list[str]) -> str | None:
    """None when ``atom <args>`` parses against the command tree, else what is wrong."""
    from atom_sdk.release.semver import is_group

    cmd, path = root, ["atom"]
    i = 0
    while i < len(args):
        tok = args[i]
        if tok == "--" or _placeholder(tok):
            return None
        if is_group(cmd) and tok not in cmd.commands and tok not in ("--help", "--debug") and getattr(cmd, "default_command", None) in cmd.commands:
            cmd = cmd.commands[cmd.default_command]  # e.g. `atom ablate --world ...` runs `atom ablate run`
            path.append(cmd.name or "")
            continue
        factory = getattr(getattr(cmd, "callback", None), "argparse_factory", None)
        if factory and not is_group(cmd):
            return _check_argparse(factory, args[i:], path)
        if tok.startswith("-") and not _is_number(tok):
            name = tok.split("=", 1)[0]
            if name in {"--help", "--debug"}:
                i += 1
                continue
            param = next((p for p in cmd.params if name in (*p.opts, *getattr(p, "secondary_opts", []))), None)
            if param is None:
                dynamic = (cmd.context_settings or {}).get("ignore_unknown_options") and name.startswith(
                    DYNAMIC_OPTION_PREFIXES)
                if not dynamic:
                    return f"unknown option {name} for `{' '.join(path)}`"
                i += 1 if "=" in tok else 2
                continue
            takes = 0 if (getattr(param, "is_flag", False) or "=" in tok or name in getattr(param, "secondary_opts", [])) \
                else max(param.nargs, 1)
            i += 1 + takes
            continue
        if is_group(cmd):
            if tok not in cmd.commands:
                return f"unknown sub-command '{tok}' of `{' '.join(path)}`"
            cmd = cmd.commands[tok]
            path.append(tok)
        i += 1
    return None


def _check_argparse(factory: str, rest: list[str], path: list[str]) -> str | None:
    """Parse the rest of a command line with the argparse parser the command itself uses."""
    import importlib

    module, _, attr = factory.partition(":")
    parser = getattr(importlib.import_module(module), attr)()
    try:
        _, unknown = parser.parse_known_args([a for a in rest if a not in ("--help", "--debug")])
    except SystemExit:
        return f"options {' '.join(rest)!r} do not parse for `{' '.join(path)}`"
    return f"unknown option {unknown[0]} for `{' '.join(path)}`" if unknown else None


_OPTION_IN_HELP = re.compile(r"(?<![\w-])(--?[A-Za-z][\w-]*)")


class ScriptOptions:
    """Options each script accepts, read once from its ``--help``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._cache: dict[str, set[str] | str] = {}

    def options(self, script: str) -> set[str] | str:
        if script not in self._cache:
            path = self.root / script
            if not path.is_file():
                self._cache[script] = f"script {script} does not exist"
            elif path.suffix != ".py":
                self._cache[script] = set()
            else:
                proc = subprocess.run([sys.executable, str(path), "--help"], cwd=self.root,  # nosec B603
                                      capture_output=True, text=True, timeout=120, check=False)
                self._cache[script] = (set(_OPTION_IN_HELP.findall(proc.stdout)) | {"--help", "-h"}
                                       if proc.returncode == 0 else
                                       f"`{script} --help` failed: {proc.stderr.strip()[-160:]}")
        return self._cache[script]


def check_script_args(opts: set[str] | str, script: str, args: list[str]) -> str | None:
    if isinstance(opts, str):
        return opts
    if not opts:
        return None
    for tok in args:
        if tok == "--" or _placeholder(tok):
            return None
        if tok.startswith("-") and not _is_number(tok) and tok.split("=", 1)[0] not in opts:
            return f"unknown option {tok.split('=', 1)[0]} for {script}"
    return None


def check_command(cmd: DocCommand, root_cmd: Any, scripts: ScriptOptions) -> list[str]:
    """Problems with one documented command line ('' when it is fine or not ours)."""
    problems = []
    for seg in _segments(cmd.text):
        exe, rest = seg[0], seg[1:]
        error = None
        if exe in ATOM_EXES:
            error = check_atom_args(root_cmd, rest)
        elif re.fullmatch(r"(?:\S*/)?python3?(?:\.\d+)?", exe) and rest:
            if rest[0] == "-m" and len(rest) > 1 and rest[1] == "atom_sdk":
                error = check_atom_args(root_cmd, rest[2:])
            elif rest[0].startswith("scripts/") and not rest[0].endswith("/"):
                error = check_script_args(scripts.options(rest[0]), rest[0], rest[1:])
        elif exe.startswith(("scripts/", "./scripts/")) and not exe.endswith("/"):
            script = exe.removeprefix("./")
            error = check_script_args(scripts.options(script), script, rest)
        if error:
            problems.append(f"{cmd.file}:{cmd.line}: `{' '.join(seg)[:120]}`: {error}")
    return problems


def doc_files(root: Path) -> list[Path]:
    files = [root / "README.md"] if (root / "README.md").is_file() else []
    return files + sorted((root / "docs").glob("*.md"))


def check_doc_commands(rec: GateRecorder, root: Path, root_cmd: Any = None) -> None:
    from atom_sdk.release.semver import root_command

    root_cmd = root_cmd or root_command()
    scripts = ScriptOptions(root)
    problems: list[str] = []
    n = 0
    for path in doc_files(root):
        rec.evidence(path)
        for cmd in extract_commands(path, root):
            n += 1
            problems += check_command(cmd, root_cmd, scripts)
    rec.measure(doc_command_candidates=n, doc_command_problems=len(problems))
    rec.check("documented commands parse", not problems, "; ".join(problems[:5]) if problems
              else f"{n} code spans/lines checked in {len(doc_files(root))} files")


def changelog_entry(text: str, version: str) -> str | None:
    """The body of the ``## [version]`` section, or None when there is none."""
    m = re.search(rf"^##\s*\[?v?{re.escape(version)}\]?[^\n]*\n(.*?)(?=^##\s|\Z)", text, re.M | re.S)
    return m.group(1).strip() if m else None


def check_changelog(rec: GateRecorder, root: Path, version: str) -> None:
    path = root / "CHANGELOG.md"
    if not path.is_file():
        rec.missing("CHANGELOG entry", path, "CHANGELOG.md does not exist")
        return
    rec.evidence(path)
    body = changelog_entry(path.read_text(encoding="utf-8"), version)
    rec.check("CHANGELOG entry", bool(body), f"## [{version}] has {len(body.splitlines())} line(s)" if body
              else f"CHANGELOG.md has no non-empty '## [{version}]' section")


def check_gate_table(rec: GateRecorder, root: Path) -> None:
    path = root / "docs" / "SDK_RELEASE.md"
    if not path.is_file():
        rec.missing("gate table", path, "docs/SDK_RELEASE.md does not exist")
        return
    rec.evidence(path)
    text = path.read_text(encoding="utf-8")
    if GATE_TABLE_BEGIN not in text or GATE_TABLE_END not in text:
        rec.check("gate table", False, "docs/SDK_RELEASE.md lacks the generated gate table markers")
        return
    current = text.split(GATE_TABLE_BEGIN, 1)[1].split(GATE_TABLE_END, 1)[0].strip()
    expected = render_gate_table(registered())  # every gate is registered while the catalogue runs
    rec.check("gate table", current == expected,
              "current" if current == expected else "stale; run `atom release gate-table --write`")


def write_gate_table(path: Path, table: str) -> bool:
    """Replace the generated section in docs/SDK_RELEASE.md by ``table``; returns whether it changed.

    A document without both markers, in order, is refused untouched (ConfigError, exit 2), naming them."""
    from atom_sdk.errors import ConfigError

    if not path.is_file():
        raise ConfigError(f"--doc {path} is not a file; point --doc at the Markdown document holding the gate table")
    text = path.read_text(encoding="utf-8")
    begin, end = text.find(GATE_TABLE_BEGIN), text.find(GATE_TABLE_END)
    if begin < 0 or end < begin:
        missing = [m for m in (GATE_TABLE_BEGIN, GATE_TABLE_END) if m not in text]
        what = (f"lacks the gate table marker{'s' if len(missing) > 1 else ''} {' and '.join(missing)}" if missing
                else f"has {GATE_TABLE_END} before {GATE_TABLE_BEGIN}")
        raise ConfigError(f"--doc {path} {what}; the table goes between the two lines, begin marker first "
                          "(docs/SDK_RELEASE.md has them)")
    head, rest = text.split(GATE_TABLE_BEGIN, 1)
    _, tail = rest.split(GATE_TABLE_END, 1)
    new = f"{head}{GATE_TABLE_BEGIN}\n{table}\n{GATE_TABLE_END}{tail}"
    if new != text:
        path.write_text(new, encoding="utf-8")
    return new != text


def endpoint_documented(text: str, method: str, path: str) -> bool:
    plain = text.replace("`", " ").replace("*", " ")
    return re.search(rf"(?<![A-Z]){method}\s+{re.escape(path)}(?![\w/{{])", plain) is not None


def check_openapi(rec: GateRecorder, root: Path, live: dict[str, Any] | None) -> None:
    from atom_sdk.release.semver import openapi_surface

    if live is None:
        rec.skip("OpenAPI freshness", "atom_sdk.platform.api does not exist yet (no platform to document)")
        return
    doc_path, api_doc = root / "docs" / "openapi.json", root / "docs" / "PLATFORM_API_UI.md"
    if not doc_path.is_file():
        rec.missing("OpenAPI freshness", doc_path, "docs/openapi.json does not exist; run from the repository root, or write the live schema there (atom openapi export)")
    else:
        rec.evidence(doc_path)
        stored = json.loads(doc_path.read_text(encoding="utf-8"))
        live_json = json.loads(json.dumps(live))
        if stored == live_json:
            rec.check("OpenAPI freshness", True, "docs/openapi.json equals the live schema")
        else:
            old, new = set(openapi_surface(stored)), set(openapi_surface(live_json))
            detail = (f"endpoints only live: {sorted(new - old)[:3]}, only in the file: {sorted(old - new)[:3]}"
                      if old != new else "same endpoints, different schema content")
            rec.check("OpenAPI freshness", False, f"docs/openapi.json is stale ({detail})")
    if not api_doc.is_file():
        rec.missing("endpoints documented", api_doc, "docs/PLATFORM_API_UI.md does not exist")
        return
    rec.evidence(api_doc)
    text = api_doc.read_text(encoding="utf-8")
    endpoints = [e.split(" ", 1) for e in openapi_surface(live)]
    undocumented = [f"{m} {p}" for m, p in endpoints if not endpoint_documented(text, m, p)]
    rec.measure(endpoints=len(endpoints), endpoints_undocumented=len(undocumented))
    rec.check("endpoints documented", not undocumented, f"not in docs/PLATFORM_API_UI.md: {undocumented[:5]}"
              if undocumented else f"{len(endpoints)} endpoints documented")


def check_cli_surface(rec: GateRecorder, root: Path, live: dict[str, Any]) -> None:
    """docs/cli_surface.json (re-exported by `atom release prepare`) equals the live CLI surface."""
    path = root / "docs" / "cli_surface.json"
    if not path.is_file():
        rec.missing("CLI surface export", path, "docs/cli_surface.json does not exist; run `atom release prepare X.Y.Z`")
        return
    rec.evidence(path)
    stored = json.loads(path.read_text(encoding="utf-8"))
    live = json.loads(json.dumps(live))
    if stored == live:
        rec.check("CLI surface export", True, "docs/cli_surface.json equals the live CLI surface")
        return
    from atom_sdk.release.semver import compare_surfaces

    diff = compare_surfaces(stored, live)
    first = (diff["removed"] + diff["changed"] + diff["added"])[:3]
    what = f"version {stored.get('version')} vs {live.get('version')}" if not first else "; ".join(first)
    rec.check("CLI surface export", False, f"docs/cli_surface.json is stale ({what}); run `atom release prepare X.Y.Z`")


@gate("G-09", "Docs and OpenAPI freshness", "docs/openapi.json and docs/cli_surface.json equal the live surface, "
      "every endpoint documented, every documented `atom`/`scripts/` command parses, CHANGELOG entry, current gate table")
def gate_docs(rec: GateRecorder) -> None:
    from atom_sdk import __version__
    from atom_sdk.release.semver import live_openapi

    root = rec.ctx.root
    live = rec.ctx.extra["openapi"] if "openapi" in rec.ctx.extra else live_openapi()
    check_openapi(rec, root, live)
    if "cli_surface" in rec.ctx.extra or rec.ctx.profile != "dev" or (root / "docs" / "cli_surface.json").is_file():
        from atom_sdk.release.semver import current_surface

        check_cli_surface(rec, root, rec.ctx.extra.get("cli_surface") or current_surface())
    check_doc_commands(rec, root, rec.ctx.extra.get("root_command"))
    check_changelog(rec, root, rec.ctx.extra.get("version", __version__))
    check_gate_table(rec, root)
