"""The experiment runner: wires world, eyes, scientist, agent and safety into one closed loop."""

from atom_sdk.experiment.runner import load_results, make_world, run_experiment
from atom_sdk.experiment.variants import VariantSpec, resolve_variant

__all__ = ["VariantSpec", "load_results", "make_world", "resolve_variant", "run_experiment"]
