"""ATOM OSS SDK: simulation-first, closed-loop scientific discovery on fluid-dynamics worlds.

A world (``make("analytical:taylor_green")``) is a Gymnasium environment that also shows its
fields; ``atom_sdk.experiment.run_experiment`` closes the loop around it with a PPO agent, a
sparse-regression scientist and a safety envelope. Packages, bottom to top: ``worlds``,
``agent`` and ``science``, ``safety``, ``experiment``, ``design`` and ``evidence``,
``reproduce``, ``platform``, ``release``, ``cli`` (see docs/ARCHITECTURE.md).

Names are handed on lazily (Scientific Python SPEC 1) so that ``import atom_sdk`` stays cheap:
JAX is imported only when a world or an agent is used.
"""

from __future__ import annotations

import lazy_loader as _lazy

__version__ = "0.1.0"

__getattr__, __dir__, __all__ = _lazy.attach(
    __name__,
    submod_attrs={
        "errors": ["AtomError"],
        "worlds": ["list_worlds", "make", "register"],
    },
)
__all__ += ["__version__"]
