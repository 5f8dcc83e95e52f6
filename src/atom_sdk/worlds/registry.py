"""World registry: ``"family:name"`` ids, built-ins, and third-party worlds via entry points.

A package outside the SDK can ship a world by declaring, in its own ``pyproject.toml``::

    [project.entry-points."atom_sdk.worlds"]
    "mylab:channel" = "mylab.worlds:ChannelWorld"

or at run time with ``atom_sdk.worlds.register("mylab:channel", ChannelWorld)``.
"""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass
from importlib import metadata
from typing import Any, Callable

import gymnasium as gym
from gymnasium.envs.registration import EnvSpec
from gymnasium.envs.registration import registry as gym_registry

from atom_sdk.errors import WorldNotFoundError, WorldParameterError

WORLD_ID = re.compile(r"^[a-z0-9_]+:[a-z0-9_]+$")
ENTRY_POINT_GROUP = "atom_sdk.worlds"

#: Built-in worlds, imported lazily so listing them does not compile any JAX code.
_BUILTINS: dict[str, str] = {
    "analytical:taylor_green": "atom_sdk.worlds.taylor_green:TaylorGreenWorld",
    "lbm2d:cylinder": "atom_sdk.worlds.cylinder:CylinderWorld",
    "lbm3d:body": "atom_sdk.worlds.world3d:MeshBodyWorld",
    "lbm3d:cylinder": "atom_sdk.worlds.world3d:Cylinder3DWorld",
    "lbm3d:sphere": "atom_sdk.worlds.world3d:SphereWorld",
    "supersonic:wedge": "atom_sdk.worlds.wedge:WedgeWorld",
}


@dataclass
class WorldSpec:
    """How to build a world, and what the CLI/API show about it."""

    world_id: str
    target: str | Callable[..., gym.Env]
    source: str = "builtin"
    description: str = ""

    def load(self) -> Callable[..., gym.Env]:
        if callable(self.target):
            return self.target
        module_name, _, attr = self.target.partition(":")
        try:
            obj = getattr(importlib.import_module(module_name), attr)
        except (ImportError, AttributeError) as exc:
            raise WorldNotFoundError(f"world '{self.world_id}' points at '{self.target}', which cannot be "
                                     f"imported ({exc}); reinstall the package that provides it") from None
        self.target = obj
        return obj


_REGISTRY: dict[str, WorldSpec] = {wid: WorldSpec(wid, target) for wid, target in _BUILTINS.items()}

#: world id -> Gymnasium id; ``atom_sdk.worlds.gym`` registers these with Gymnasium (and adds to it)
GYM_IDS: dict[str, str] = {
    "analytical:taylor_green": "atom/TaylorGreen-v0",
    "lbm2d:cylinder": "atom/Cylinder-v0",
    "lbm3d:body": "atom/Body3D-v0",
    "lbm3d:cylinder": "atom/Cylinder3D-v0",
    "lbm3d:sphere": "atom/Sphere3D-v0",
    "supersonic:wedge": "atom/Wedge-v0",
}
_ENTRY_POINTS_LOADED = False


def register(world_id: str, factory: str | Callable[..., gym.Env], *, description: str = "",
             overwrite: bool = False) -> None:
    """Register a world class or factory under ``family:name`` (lower-case letters, digits, _)."""
    if not WORLD_ID.match(world_id):
        raise WorldParameterError(f"world id '{world_id}' must look like 'family:name' (lower-case, digits, _)")
    if world_id in _REGISTRY and not overwrite:
        raise WorldParameterError(f"world '{world_id}' is already registered; pass overwrite=True to replace it")
    _REGISTRY[world_id] = WorldSpec(world_id, factory, source="user", description=description)


def unregister(world_id: str) -> None:
    if world_id in _BUILTINS:
        raise WorldParameterError(f"'{world_id}' is built in and cannot be unregistered")
    _REGISTRY.pop(world_id, None)


def _load_entry_points() -> None:
    global _ENTRY_POINTS_LOADED
    if _ENTRY_POINTS_LOADED:
        return
    _ENTRY_POINTS_LOADED = True
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        if ep.name not in _REGISTRY and WORLD_ID.match(ep.name):
            _REGISTRY[ep.name] = WorldSpec(ep.name, ep.value, source=f"entry point ({ep.dist.name if ep.dist else '?'})")


def list_worlds() -> list[WorldSpec]:
    _load_entry_points()
    return [_REGISTRY[k] for k in sorted(_REGISTRY)]


def describe_worlds() -> list[dict[str, Any]]:
    """One row per registered world for listings (``atom worlds list``, ``GET /api/v1/worlds``):
    id, source, description, parameter JSON Schema (each property with its ``unit``), observables,
    diagnostics (name, unit, description, measured), validation cases, and whether it loads. A world that fails to import is listed as unavailable instead of breaking the listing."""
    from atom_sdk.errors import AtomError
    from atom_sdk.worlds.base import diagnostics_table, params_schema

    rows = []
    for spec in list_worlds():
        row: dict[str, Any] = {"id": spec.world_id, "source": spec.source}
        try:
            cls = spec.load()
        except AtomError as exc:
            rows.append({**row, "description": f"unavailable: {exc}", "parameters_schema": {}, "observables": [],
                         "diagnostics": [], "validation_cases": [], "available": False})
            continue
        params = getattr(cls, "Params", None)
        doc = (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else ""
        cases = []
        finder = getattr(cls, "validation_cases", None)
        if finder is not None:
            try:
                cases = [{"name": c.name, "slow": c.slow, "description": c.description} for c in finder()]
            except AtomError:
                cases = []
        rows.append({**row, "description": spec.description or doc,
                     "parameters_schema": params_schema(params) if params is not None else {},
                     "observables": list(getattr(cls, "observable_names", ())),
                     "diagnostics": diagnostics_table(cls), "validation_cases": cases})
    return rows


def get_spec(world_id: str) -> WorldSpec:
    _load_entry_points()
    try:
        return _REGISTRY[world_id]
    except KeyError:
        known = ", ".join(sorted(_REGISTRY))
        raise WorldNotFoundError(f"unknown world '{world_id}'; choose one of: {known}") from None


def world_class(world_id: str) -> Callable[..., gym.Env]:
    return get_spec(world_id).load()


def make(world_id: str, **kwargs: Any) -> gym.Env:
    """Build a world: ``make("lbm2d:cylinder", grid=(128, 32, 1), u_inlet=0.05)``.

    Its ``spec`` is the Gymnasium spec (``atom/Cylinder-v0`` ...; ``GYM_IDS``) with these keyword
    arguments, so ``gymnasium.make(env.spec)`` rebuilds it (see ``atom_sdk.worlds.gym``)."""
    factory = world_class(world_id)
    try:
        env = factory(**kwargs)
    except TypeError as exc:
        raise WorldParameterError(f"{world_id}: {exc}; see 'atom worlds list' for its parameters") from None
    if getattr(env, "spec", None) is None:
        limit = getattr(env, "max_episode_steps", None)
        env.spec = gym_spec(world_id, kwargs, limit if isinstance(limit, int) and limit < 2**62 else None)
    return env


def gym_spec(world_id: str, kwargs: dict[str, Any], max_episode_steps: int | None) -> EnvSpec | None:
    """The Gymnasium spec of a world built with ``make(world_id, **kwargs)``: ``gymnasium.make(spec)``
    rebuilds it. None when the world has no Gymnasium id."""
    registered = gym_registry.get(GYM_IDS.get(world_id, ""))
    if registered is None:
        return None
    return EnvSpec(id=registered.id, entry_point=registered.entry_point, max_episode_steps=max_episode_steps,
                   kwargs={**registered.kwargs, **kwargs})
