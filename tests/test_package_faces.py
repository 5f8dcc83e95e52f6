"""Package faces: each names about ten public things, documents them for ``help()``, and stays cheap.

Why: a face is what a user reads first (``help(atom_sdk.science)``, tab completion); internals
listed there become promises. Every face hands its names on through one mechanism,
``lazy_loader.attach`` (Scientific Python SPEC 1), so importing a package imports no JAX.
"""

from __future__ import annotations

import importlib
import pydoc
import subprocess
import sys

import pytest

FACES = ["atom_sdk", "atom_sdk.worlds", "atom_sdk.science", "atom_sdk.safety", "atom_sdk.experiment",
         "atom_sdk.design", "atom_sdk.evidence", "atom_sdk.reproduce", "atom_sdk.platform", "atom_sdk.release"]


@pytest.mark.parametrize("name", FACES)
def test_face_documents_a_short_list_of_names_that_all_resolve(name: str) -> None:
    if name == "atom_sdk.platform":
        pytest.importorskip("fastapi")
    face = importlib.import_module(name)
    assert face.__doc__ and len(face.__doc__.split()) >= 20, f"{name} needs a docstring that says what it is for"
    public = list(face.__all__)
    assert len(public) == len(set(public)) and 2 <= len(public) <= 15, public
    for attribute in public:
        assert getattr(face, attribute) is not None, f"{name}.{attribute}"
    assert set(dir(face)) <= set(public), "dir() shows the public names"


@pytest.mark.parametrize("name", FACES)
def test_help_shows_the_docstring_and_every_public_name(name: str) -> None:
    if name == "atom_sdk.platform":
        pytest.importorskip("fastapi")
    face = importlib.import_module(name)
    text = pydoc.render_doc(face, renderer=pydoc.plaintext)
    assert face.__doc__.strip().splitlines()[0] in text
    # pydoc shows ``__version__`` under VERSION, not by name
    hidden = [attribute for attribute in face.__all__ if attribute not in text and not attribute.startswith("__")]
    assert not hidden, f"help({name}) does not show {hidden}"


def test_help_shows_the_front_door() -> None:
    import atom_sdk

    text = pydoc.render_doc(atom_sdk, renderer=pydoc.plaintext)
    for shown in ("make(", "list_worlds(", "register(", "class AtomError", "VERSION"):
        assert shown in text, shown
    assert "__getattr__" not in text


def test_importing_the_faces_imports_no_jax() -> None:
    code = (f"import sys; import {', '.join(FACES)}; "
            "heavy = [m for m in ('jax', 'sklearn', 'fastapi') if m in sys.modules]; "
            "assert not heavy, heavy")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_discover_stays_the_function_after_its_module_is_imported() -> None:
    import atom_sdk.science
    import atom_sdk.science.estimator  # noqa: F401 - imports the ``discover`` submodule

    assert callable(atom_sdk.science.discover)
    assert atom_sdk.science.discover.__module__ == "atom_sdk.science.discover"
