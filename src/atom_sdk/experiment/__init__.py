"""The experiment runner: wires world, eyes, scientist, agent and safety into one closed loop.

``run_experiment(config, out_dir)`` runs one configured experiment (a ``RunConfig`` or a
mapping) and writes ``results.json``, ``telemetry.jsonl`` and checkpoints; ``load_results``
reads a finished run back; ``make_world`` builds the world a config names.
A variant (``resolve_variant`` -> ``VariantSpec``) says which theory features the agent sees;
a ``Policy`` (agent, normaliser, scientist bridge) acts on a world, fresh or from a checkpoint;
``plan_run`` checks a run (world, memory, output folder, resume) without writing anything.
Names are handed on lazily, so importing the package does not import JAX.
"""

import lazy_loader as _lazy

__getattr__, __dir__, __all__ = _lazy.attach(
    __name__,
    submod_attrs={
        "runner": ["load_results", "make_world", "run_experiment"],
        "policy": ["Policy"],
        "preflight": ["plan_run"],
        "variants": ["VariantSpec", "resolve_variant"],
    },
)
