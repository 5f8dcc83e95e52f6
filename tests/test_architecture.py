"""The layering of ``docs/ARCHITECTURE.md``, checked on the source: no import circles, no arrow back up.

Why a test: an import that points up a layer, or two modules that import each other, is where a
change starts to need changes everywhere else; a test catches it on the commit that adds it.
The source is read with ``ast`` and nothing is imported, so this runs in well under a second.

Every ``import`` counts, wherever it stands: at module level, inside a function (a lazy import
is an arrow all the same), under ``TYPE_CHECKING``; so does a face's ``lazy_loader.attach``
(it imports those submodules when a name is read). Names looked up by string at run time
(the world, reproduction and CLI registries, ``importlib.import_module``) are not seen.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "atom_sdk"

#: Bottom to top; a module may import its own layer's package and the layers below it, never above.
#: Two packages of one layer do not import each other; the core modules form one group.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("core", ("atom_sdk", "atom_sdk.errors", "atom_sdk.artifacts", "atom_sdk.workspace", "atom_sdk.config",
              "atom_sdk.provenance", "atom_sdk.devices", "atom_sdk.compilation")),
    ("worlds", ("atom_sdk.worlds",)),
    ("learners", ("atom_sdk.agent", "atom_sdk.science")),
    ("safety", ("atom_sdk.safety",)),
    ("experiment", ("atom_sdk.experiment",)),
    ("studies", ("atom_sdk.design", "atom_sdk.evidence")),
    ("reproduce", ("atom_sdk.reproduce",)),
    ("platform", ("atom_sdk.platform",)),
    ("release", ("atom_sdk.release",)),
    ("cli", ("atom_sdk.cli",)),
    ("entry", ("atom_sdk.__main__",)),
]

#: Arrows that still run back up, each with why and what removes it. The test fails when one of
#: them is gone, so that it is struck from here too.
KNOWN_UPWARD: dict[tuple[str, str], str] = {
    # The package face hands on the world registry, so that ``import atom_sdk; atom_sdk.make(...)``
    # (the README's first lines) works; it is lazy: taken only when one of those names is read.
    ("atom_sdk", "atom_sdk.worlds"): "the front door's make/list_worlds/register",
}

#: Import circles that still exist, by the modules they join, each with why. The test fails when
#: one of them is gone.
KNOWN_CIRCLES: dict[str, str] = {
}


def _modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


MODULES = _modules()


def _owner(name: str) -> str | None:
    """The module an imported dotted name lands in (a package's face when it names no submodule)."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _imports(module: str, path: Path) -> Iterator[tuple[str, int]]:
    is_face = path.name == "__init__.py"
    here = module if is_face else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = here.split(".")[: len(here.split(".")) - (node.level - 1)]
                base = ".".join(anchor + ([node.module] if node.module else []))
            names = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base for alias in node.names]
        elif isinstance(node, ast.Call) and _is_lazy_attach(node):
            names = [f"{here}.{sub}" for sub in _lazy_submodules(node)]
        else:
            continue
        for name in names:
            target = _owner(name) if name == "atom_sdk" or name.startswith("atom_sdk.") else None
            if target is not None and target != module:
                yield target, node.lineno


def _is_lazy_attach(call: ast.Call) -> bool:
    """``lazy_loader.attach(__name__, ...)`` under any alias: a face's lazy hand-on."""
    func = call.func
    return (isinstance(func, ast.Attribute) and func.attr == "attach") or (isinstance(func, ast.Name)
                                                                          and func.id == "attach")


def _lazy_submodules(call: ast.Call) -> Iterator[str]:
    """The submodules a lazy face hands names on from: ``submodules`` and the keys of ``submod_attrs``."""
    arguments = dict(zip(("package_name", "submodules", "submod_attrs"), call.args, strict=False))
    arguments.update({k.arg: k.value for k in call.keywords if k.arg})
    listed = arguments.get("submodules")
    if isinstance(listed, (ast.List, ast.Tuple, ast.Set)):
        yield from (e.value for e in listed.elts if isinstance(e, ast.Constant) and isinstance(e.value, str))
    attrs = arguments.get("submod_attrs")
    if isinstance(attrs, ast.Dict):
        yield from (k.value for k in attrs.keys if isinstance(k, ast.Constant) and isinstance(k.value, str))


ARROWS: dict[str, dict[str, int]] = {m: {} for m in MODULES}
for _module, _path in MODULES.items():
    for _target, _line in _imports(_module, _path):
        ARROWS[_module].setdefault(_target, _line)


def _layer(module: str) -> tuple[int, str]:
    """(layer index, the package or core group it belongs to) of a module."""
    best: tuple[int, str] | None = None
    for index, (name, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if module == prefix or (prefix != "atom_sdk" and module.startswith(prefix + ".")):
                best = (index, name if name == "core" else prefix)
    if best is None:
        raise AssertionError(f"{module} belongs to no layer: place it in LAYERS and in docs/ARCHITECTURE.md")
    return best


def _circles() -> list[set[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[set[str]] = []
    counter = 0
    for root in MODULES:
        if root in index:
            continue
        work = [(root, iter(ARROWS[root]))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(ARROWS[child])))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(component)
    return found


def _describe(component: set[str], most: int = 20) -> str:
    ties = [f"{a}:{ARROWS[a][b]} -> {b}" for a in sorted(component) for b in sorted(ARROWS[a]) if b in component]
    more = [f"... and {len(ties) - most} more"] if len(ties) > most else []
    return "\n  ".join(ties[:most] + more)


def test_every_module_has_a_layer() -> None:
    for module in MODULES:
        _layer(module)


def test_the_document_places_every_package() -> None:
    """docs/ARCHITECTURE.md names every package and core module that LAYERS places."""
    text = (PACKAGE.parents[1] / "docs" / "ARCHITECTURE.md").read_text(encoding="utf-8")
    missing = [prefix for _, prefixes in LAYERS for prefix in prefixes
               if f"`{prefix}`" not in text and f"`{prefix.removeprefix('atom_sdk.')}`" not in text]
    assert not missing, f"docs/ARCHITECTURE.md does not place {missing}"


def test_no_import_circles() -> None:
    circles = _circles()
    unexpected = [c for c in circles if not any(known in c for known in KNOWN_CIRCLES)]
    assert not unexpected, "import circles (give the shared part a module of its own):\n  " + "\n\n  ".join(
        _describe(c) for c in unexpected)
    gone = [known for known in KNOWN_CIRCLES if not any(known in c for c in circles)]
    assert not gone, f"these known circles are gone; strike them from KNOWN_CIRCLES: {gone}"


def test_no_arrow_runs_back_up() -> None:
    wrong: list[str] = []
    for module, targets in ARROWS.items():
        (low, group) = _layer(module)
        for target, line in targets.items():
            (high, other) = _layer(target)
            if (module, target) in KNOWN_UPWARD:
                continue
            if high > low:
                wrong.append(f"{module}:{line} imports {target} ({LAYERS[low][0]} -> {LAYERS[high][0]}, up)")
            elif high == low and group != other:
                wrong.append(f"{module}:{line} imports {target} (two packages of the layer '{LAYERS[low][0]}')")
    assert not wrong, "imports against the layering of docs/ARCHITECTURE.md:\n  " + "\n  ".join(wrong)


@pytest.mark.parametrize("arrow", sorted(KNOWN_UPWARD))
def test_known_upward_arrows_still_exist(arrow: tuple[str, str]) -> None:
    module, target = arrow
    assert target in ARROWS.get(module, {}), f"{module} no longer imports {target}: strike it from KNOWN_UPWARD"


def test_the_checker_sees_function_level_and_relative_imports(tmp_path: Path) -> None:
    """The reader itself: a lazy import inside a function is an arrow, and so is a relative one."""
    source = tmp_path / "mod.py"
    source.write_text("def f():\n    from atom_sdk.worlds import registry\n    from . import base\n", encoding="utf-8")
    assert dict(_imports("atom_sdk.worlds.cylinder", source)) == {"atom_sdk.worlds.registry": 2,
                                                                  "atom_sdk.worlds.base": 3}


def test_the_checker_sees_lazy_faces(tmp_path: Path) -> None:
    """A face that hands names on through ``lazy_loader.attach`` points at those submodules."""
    face = tmp_path / "__init__.py"
    face.write_text("import lazy_loader as lazy\n__getattr__, __dir__, __all__ = lazy.attach(\n"
                    "    __name__, submod_attrs={'registry': ['make'], 'base': ['World']})\n", encoding="utf-8")
    assert set(dict(_imports("atom_sdk.worlds", face))) == {"atom_sdk.worlds.registry", "atom_sdk.worlds.base"}
