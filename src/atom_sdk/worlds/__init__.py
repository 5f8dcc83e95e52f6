"""Simulation worlds: Gymnasium environments that also show their fields, diagnostics and validation.

``make("lbm2d:cylinder", grid=(88, 36, 1))`` builds a registered world; ``register`` adds your own
(a ``World`` subclass that returns its ``Dynamics``), ``list_worlds`` and ``describe_worlds`` say
what is there. Every world declares ``validation_cases()`` against analytical or published
references. Kernels (``lbm``, ``euler``, ``gasdynamics``) and the built-in worlds are modules of
this package; names are handed on lazily, so listing worlds compiles no JAX code.
"""

import lazy_loader as _lazy

__getattr__, __dir__, __all__ = _lazy.attach(
    __name__,
    submod_attrs={
        "base": ["Dynamics", "StepOutput", "ValidationCase", "ValidationResult", "World", "WorldParams"],
        "registry": ["describe_worlds", "get_spec", "list_worlds", "make", "register", "unregister", "world_class"],
    },
)
