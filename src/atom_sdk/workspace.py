"""Where the SDK may write and what it may delete: one rule for every output folder.

Why: an output name such as ``..`` once passed a character-class check and ``--overwrite``
then deleted the parent of the output root. Every command (run, design, challenge, ablate,
reproduce, bench, release) and the HTTP API place their outputs through this module:

* a *name* is one path component: not ``.`` or ``..``, no separator, NUL or control
  character, at most ``NAME_MAX`` characters;
* the resolved target (symlinks followed) lies strictly inside its root;
* ``--overwrite`` removes only a folder the SDK created itself, recognised by the marker file
  it writes on creation; anything else is refused and left untouched.

The checks here never touch the disk (``plan_output``); ``claim_output`` is the one place that
creates or replaces a folder, and a command calls it only after all its input was validated.
"""

from __future__ import annotations

import json
import shutil
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Literal

from atom_sdk.errors import ArtifactError, ConfigError, PathOutsideWorkspaceError

#: Longest accepted name (file systems allow 255 bytes; 128 characters leaves room for suffixes).
NAME_MAX = 128
#: File written into every folder the SDK creates; ``--overwrite`` deletes only folders holding it.
MARKER_FILE = ".atom-output.json"
MARKER_SCHEMA = "atom.output/1"


#: what every refused name is told to do instead
NAME_ADVICE = "give a single folder name such as 'run1' (letters, digits, '.', '_' or '-')"


def name_problem(name: object) -> str | None:
    """Why ``name`` is not a valid single path component, or None when it is."""
    if not isinstance(name, str):
        return f"must be text, got {type(name).__name__}"
    if name == "":
        return "is empty"
    if len(name) > NAME_MAX:
        return f"is {len(name)} characters long; use at most {NAME_MAX}"
    if name in {".", ".."}:
        return f"'{name}' names a folder above or at the output root, not a new folder inside it"
    if "/" in name or "\\" in name:
        return "contains a path separator (a name is one folder; the folder that holds it is chosen separately)"
    if any(unicodedata.category(ch) == "Cc" for ch in name):
        return "contains a NUL or control character"
    if name != name.strip():
        return "starts or ends with white space"
    return None


def validate_name(name: object) -> object:
    """Pydantic ``BeforeValidator`` form of the rule (runs before the pattern, so its message wins)."""
    problem = name_problem(name) if isinstance(name, str) else None
    if problem is not None:
        raise ValueError(f"name {problem}; {NAME_ADVICE}")
    return name


def check_name(name: object, what: str = "name") -> str:
    """Return ``name`` when it is one safe path component; otherwise a one-line ``ConfigError``."""
    problem = name_problem(name)
    if problem is not None:
        shown = repr(name) if not isinstance(name, str) or len(name) <= 40 else repr(name[:40] + "...")
        raise ConfigError(f"{what} {shown} {problem}; {NAME_ADVICE}")
    return name  # type: ignore[return-value]


def confined_child(root: str | Path, name: str, what: str = "name") -> Path:
    """``root/name`` as an absolute path, refused unless it lies strictly inside ``root``.

    Symlinks are resolved on both sides, so a link inside the root that points elsewhere is
    refused rather than followed.
    """
    check_name(name, what)
    root_path = Path(root).expanduser().resolve()
    target = (root_path / name).resolve()
    if target == root_path or root_path not in target.parents:
        raise PathOutsideWorkspaceError(f"{what} '{name}' resolves to '{target}', outside '{root_path}' "
                                        "(a symlink?); choose another name")
    return target


def output_folder(path: str | Path, what: str = "output folder") -> Path:
    """A user-given output folder (``--out DIR``) checked by the same rule: its last component is
    a name and it lies inside its parent. ``.``, ``..``, ``/`` and ``~`` are refused."""
    raw = str(path)
    if "\x00" in raw:
        raise ConfigError(f"{what} contains a NUL character; give an ordinary folder path")
    p = Path(raw).expanduser()
    absolute = p if p.is_absolute() else Path.cwd() / p
    if p.name in {"", ".", ".."}:  # '.', '..', '/' and '' have no last component of their own
        raise ConfigError(f"{what} '{raw}' names an existing folder level ('.', '..' or a root) rather than a "
                          "folder of its own; give a new folder, e.g. 'results/sweep1'")
    return confined_child(absolute.parent, p.name, what)


#: the most of an existing file read to decide whether a report may replace it
_REPORT_PEEK_BYTES = 64 * 2**20


@dataclass(frozen=True)
class ReportKind:
    """How to recognise a file that one report option writes, so that a rerun may replace it and
    nothing else is ever replaced (``output_file``).

    JSON: an object whose ``"schema"`` is of the family of ``schema`` ("atom.reliability/1" also
    matches a later "atom.reliability/2"), which holds every key of ``keys``, and which ``accept``
    (when given) takes. Markdown: a text whose first line starts with ``header``. An empty file
    holds nothing to lose and always qualifies.
    """

    label: str
    kind: Literal["json", "markdown"] = "json"
    schema: str | None = None
    keys: tuple[str, ...] = ()
    accept: Callable[[Any], bool] | None = None
    header: str | None = None

    def __post_init__(self) -> None:
        if self.kind == "json" and not (self.schema or self.keys or self.accept):
            raise ValueError("a JSON ReportKind needs a schema, keys or accept to recognise its files by")
        if self.kind == "markdown" and not self.header:
            raise ValueError("a Markdown ReportKind needs the header line its files start with")

    def recognises(self, text: str) -> bool:
        """Whether ``text`` (an existing file's content) is a report of this kind."""
        if not text.strip():
            return True
        if self.kind == "markdown":
            return text.lstrip().splitlines()[0].startswith(str(self.header))
        try:
            data = json.loads(text)
        except json.JSONDecodeError:
            return False
        if not isinstance(data, dict):
            return False
        if self.schema and str(data.get("schema", "")).split("/")[0] != self.schema.split("/")[0]:
            return False
        return all(k in data for k in self.keys) and (self.accept is None or bool(self.accept(data)))


def output_file(path: str | Path, what: str, report: ReportKind) -> Path:
    """A user-given report file: its name follows the name rule, it is not an existing folder, and an
    existing file there is a ``report`` of the same kind (see ``ReportKind``), so a typo such as
    ``--output ~/.bashrc``, or a user's own JSON or Markdown, is refused and left untouched."""
    p = Path(str(path)).expanduser()
    check_name(p.name, what)
    if p.is_dir():
        raise ConfigError(f"{what} '{path}' is a folder; give a file path such as 'validation_outputs/report.json'")
    if p.exists() and not _is_report(p, report):
        raise ConfigError(f"{what} '{path}' exists and is not a {report.label} this SDK writes; it is left "
                          "untouched: give a new file name, or move that file away first")
    return p


def _is_report(path: Path, report: ReportKind) -> bool:
    """Whether an existing file is a report of ``report``'s kind (so a rerun may replace it)."""
    try:
        if path.is_symlink() or not path.is_file() or path.stat().st_size > _REPORT_PEEK_BYTES:
            return False
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return False
    return report.recognises(text)


# --------------------------------------------------------------------------- ownership


def read_marker(folder: Path) -> dict | None:
    """The marker of a folder the SDK created, or None."""
    marker = folder / MARKER_FILE
    if marker.is_symlink() or not marker.is_file():
        return None
    try:
        data = json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("schema") == MARKER_SCHEMA else None


def is_owned(folder: Path) -> bool:
    return read_marker(folder) is not None


def _has_content(folder: Path) -> bool:
    return folder.is_dir() and any(folder.iterdir())


OutputState = Literal["new", "empty", "owned", "foreign", "not_a_folder"]


@dataclass(frozen=True)
class OutputPlan:
    """What claiming ``folder`` will do; computed without writing anything."""

    folder: Path
    state: OutputState
    kind: str


def inspect_output(folder: Path, kind: str) -> OutputPlan:
    if folder.is_symlink():
        return OutputPlan(folder, "foreign", kind)
    if folder.exists() and not folder.is_dir():
        return OutputPlan(folder, "not_a_folder", kind)
    if not folder.exists():
        return OutputPlan(folder, "new", kind)
    if not _has_content(folder):
        return OutputPlan(folder, "empty", kind)
    return OutputPlan(folder, "owned" if is_owned(folder) else "foreign", kind)


def plan_output(folder: Path, kind: str, *, overwrite: bool, reuse: bool = False,
                flag_hint: str = "pass --overwrite to replace it or choose another name",
                foreign_hint: str = "choose another name or output folder, or move it away yourself") -> OutputPlan:
    """Check that ``folder`` may be created (or replaced, or reused) without touching the disk.

    ``reuse`` means the command continues what is there (``--resume``, a sweep's finished
    pairs): an owned folder is kept. ``overwrite`` means an owned folder is replaced. A folder
    with content the SDK did not create is never replaced or reused.
    """
    plan = inspect_output(folder, kind)
    if plan.state == "not_a_folder":
        raise ArtifactError(f"'{folder}' exists and is a file, not a folder; choose another name or path")
    if plan.state == "foreign":
        raise ArtifactError(f"'{folder}' already exists and was not created by atom (it has no {MARKER_FILE}); "
                            f"it is left untouched: {foreign_hint}")
    if plan.state == "owned" and not (overwrite or reuse):
        raise ArtifactError(f"'{folder}' already exists; {flag_hint}")
    return plan


def claim_output(plan: OutputPlan, *, replace: bool) -> Path:
    """Create the planned folder (replacing an owned one when ``replace``) and write its marker."""
    from atom_sdk import __version__
    from atom_sdk.artifacts import utc_now, write_json

    folder = plan.folder
    if replace and plan.state == "owned":
        remove_owned(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if read_marker(folder) is None:
        marker = {"schema": MARKER_SCHEMA, "kind": plan.kind, "created_by": f"atom-oss-sdk {__version__}",
                  "created_at": utc_now()}
        write_json(folder / MARKER_FILE, marker)
    return folder


def remove_owned(folder: Path) -> None:
    """Delete a folder the SDK created; anything else is refused (never a parent, never a link)."""
    if folder.is_symlink() or not is_owned(folder):
        raise ArtifactError(f"refusing to delete '{folder}': it was not created by atom")
    shutil.rmtree(folder)


def prepare_output(folder: Path, kind: str, *, overwrite: bool, reuse: bool = False,
                   flag_hint: str = "pass --overwrite to replace it or choose another name") -> Path:
    """``plan_output`` then ``claim_output``: for commands whose inputs are already validated."""
    plan = plan_output(folder, kind, overwrite=overwrite, reuse=reuse, flag_hint=flag_hint)
    return claim_output(plan, replace=overwrite and not reuse)


def adopt_output(folder: Path, kind: str) -> Path:
    """Mark a folder the SDK itself made by other means (a platform job folder) as its own."""
    folder.mkdir(parents=True, exist_ok=True)
    return claim_output(OutputPlan(folder, "empty", kind), replace=False)
