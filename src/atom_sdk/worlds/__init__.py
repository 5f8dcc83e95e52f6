"""Simulation worlds: Gymnasium environments with exposed fields, diagnostics and validation."""

from atom_sdk.worlds.base import (
    Dynamics,
    StepOutput,
    ValidationCase,
    ValidationResult,
    World,
    WorldParams,
    params_schema,
    relative_check,
)
from atom_sdk.worlds.registry import describe_worlds, get_spec, list_worlds, make, register, unregister, world_class

__all__ = [
    "Dynamics",
    "StepOutput",
    "ValidationCase",
    "ValidationResult",
    "World",
    "WorldParams",
    "describe_worlds",
    "get_spec",
    "list_worlds",
    "make",
    "params_schema",
    "register",
    "relative_check",
    "unregister",
    "world_class",
]
