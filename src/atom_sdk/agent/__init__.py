"""Learning agent: PPO over an actor-critic with optional field encoder and symplectic latent dynamics.

What a user needs is here: build an agent (``create_agent`` with ``DerivedSettings``), act with
it (``act``, ``value``), learn from a ``Rollout`` (``update``), keep it (``save``, ``load``), and
train it on a gymnax environment entirely on the device (``train_jitted``). The parts live in
submodules, imported by their paths: ``ppo`` (the algorithm), ``networks``, ``encoder``,
``distributions``, ``symplectic``, ``running_stats`` (observation normalisers), ``scan_trainer``
(the on-device rollout/update driver) and ``reference`` (its gymnax task and reference configs).
Names are handed on lazily, so importing the package does not import JAX.
"""

import lazy_loader as _lazy

__getattr__, __dir__, __all__ = _lazy.attach(
    __name__,
    submod_attrs={
        "ppo": ["AgentState", "DerivedSettings", "Rollout", "act", "create_agent", "load", "save", "update", "value"],
        "reference": ["train_jitted"],
    },
)
