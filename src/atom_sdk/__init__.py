"""ATOM OSS SDK: simulation-first, closed-loop scientific discovery on fluid-dynamics worlds.

The public API is re-exported lazily so that ``import atom_sdk`` stays cheap (no JAX
import until a world or an agent is actually used).
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__", "make", "list_worlds", "register", "AtomError"]


def __getattr__(name: str):  # pragma: no cover - thin lazy loader
    if name in {"make", "list_worlds", "register"}:
        from atom_sdk import worlds

        return getattr(worlds, name)
    if name == "AtomError":
        from atom_sdk.errors import AtomError

        return AtomError
    raise AttributeError(f"module 'atom_sdk' has no attribute {name!r}")
