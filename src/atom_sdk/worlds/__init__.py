"""Simulation worlds: Gymnasium environments that also show their fields, diagnostics and validation.

``make("lbm2d:cylinder", grid=(88, 36, 1))`` builds a registered world; ``register`` adds your own
(a ``World`` subclass that returns its ``Dynamics``), ``list_worlds`` and ``describe_worlds`` say
what is there. Every world declares ``validation_cases()`` against analytical or published
references. Kernels (``lbm``, ``euler``, ``gasdynamics``) and the built-in worlds are modules of
this package; names are handed on lazily, so listing worlds compiles no JAX code.

Importing this package registers every built-in world with Gymnasium (``atom_sdk.worlds.gym``):
``gymnasium.make("atom/TaylorGreen-v0")``, ``atom/Cylinder-v0``, ``atom/Wedge-v0``, also as
``gymnasium.make("atom_sdk.worlds:atom/TaylorGreen-v0")`` without importing the SDK first.
"""

import lazy_loader as _lazy

__getattr__, __dir__, __all__ = _lazy.attach(
    __name__,
    submod_attrs={
        "base": ["Dynamics", "StepOutput", "ValidationCase", "ValidationResult", "World", "WorldParams"],
        "gym": ["register_gymnasium"],
        "registry": ["describe_worlds", "get_spec", "list_worlds", "make", "register", "unregister", "world_class"],
    },
)

from atom_sdk.worlds import gym as _gym  # noqa: E402,F401  (registers the Gymnasium ids; imports no JAX)
