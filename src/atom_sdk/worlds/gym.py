"""Gymnasium registration: every built-in world under a Gymnasium id, for ``gymnasium.make``/``make_vec``.

==========================  =============================
Gymnasium id                world
==========================  =============================
``atom/TaylorGreen-v0``     ``analytical:taylor_green``
``atom/Cylinder-v0``        ``lbm2d:cylinder``
``atom/Wedge-v0``           ``supersonic:wedge``
``atom/Sphere3D-v0``        ``lbm3d:sphere``
``atom/Cylinder3D-v0``      ``lbm3d:cylinder``
``atom/Body3D-v0``          ``lbm3d:body``
==========================  =============================

How the ids get registered: importing ``atom_sdk.worlds`` (or this module) registers them. Gymnasium
1.x has no plugin (entry-point) discovery any more, so ``import gymnasium`` alone does not see them;
either import the SDK first or name the module in the id::

    import gymnasium as gym
    env = gym.make("atom_sdk.worlds:atom/TaylorGreen-v0", grid=(16, 16, 1))

    import atom_sdk.worlds  # noqa: F401 (registers the ids)
    envs = gym.make_vec("atom/TaylorGreen-v0", num_envs=4, vectorization_mode="async")

Keyword arguments of ``gym.make`` are the world's parameters (``grid``, ``dtype`` and those of
``atom worlds list``). Episodes end through Gymnasium's ``TimeLimit`` (the spec's
``max_episode_steps``, 200, as ``atom_sdk.make`` uses; override it with ``gym.make(id,
max_episode_steps=N)``); a world made this way does not truncate on its own.

Vector envs and ``fork``: JAX is multithreaded, and a process forked after JAX has started
dead-locks (``AsyncVectorEnv`` first builds one world in the parent to read its spaces, so the
forked workers always inherit a running JAX). The registered spec cannot carry a default
``context`` for ``AsyncVectorEnv``: ``make_vec`` hands the spec's ``vector_kwargs`` to
``SyncVectorEnv`` too (which refuses ``context``) and lets them replace the caller's. So instead,
building a world (``World.__init__``) sets the process's multiprocessing start method to
``"spawn"`` when nothing has fixed it yet and the platform default is ``"fork"``
(``atom_sdk.worlds.base.prefer_spawn_start_method``), so ``make_vec(...,
vectorization_mode="async")`` spawns its workers and does not hang. A start method you set
yourself is left alone (``fork`` will hang). Worlds added with ``atom_sdk.worlds.register`` get
an id through :func:`register_gymnasium`.
"""

from __future__ import annotations

from typing import Any

from gymnasium.envs.registration import register, registry

from atom_sdk.worlds.registry import GYM_IDS, make, world_class

#: episode length of the registered specs (``TimeLimit``), the worlds' own default
MAX_EPISODE_STEPS = 200
#: the world's own step limit when Gymnasium's ``TimeLimit`` governs the episode
_NO_LIMIT = 2**62

#: world id -> Gymnasium id of the built-in worlds
BUILTIN_GYM_IDS: dict[str, str] = dict(GYM_IDS)


class WorldEntryPoint:
    """Gymnasium entry point of one world: builds it through ``atom_sdk.worlds.make``.

    ``metadata`` is the world class's, so ``gymnasium.make`` checks ``render_mode`` against it.
    """

    def __init__(self, world_id: str) -> None:
        self.world_id = world_id

    def __call__(self, **kwargs: Any) -> Any:
        kwargs.setdefault("max_episode_steps", _NO_LIMIT)
        return make(self.world_id, **kwargs)

    @property
    def metadata(self) -> dict[str, Any]:
        return dict(getattr(world_class(self.world_id), "metadata", {}))

    def __repr__(self) -> str:
        return f"WorldEntryPoint({self.world_id!r})"


# module-level entry points, so the specs name them as strings (``EnvSpec.to_json`` works)
taylor_green = WorldEntryPoint("analytical:taylor_green")
cylinder = WorldEntryPoint("lbm2d:cylinder")
wedge = WorldEntryPoint("supersonic:wedge")
_ENTRY_NAMES = {"analytical:taylor_green": "taylor_green", "lbm2d:cylinder": "cylinder",
                "supersonic:wedge": "wedge"}


def gym_id_for(world_id: str) -> str:
    """A Gymnasium id for ``family:name``: the built-in's, else ``family/CamelName-v0``."""
    if world_id in GYM_IDS:
        return GYM_IDS[world_id]
    family, _, name = world_id.partition(":")
    return f"{family}/{''.join(part.capitalize() for part in name.split('_'))}-v0"


def world_id_of(gym_id: str) -> str | None:
    """The world id behind a registered Gymnasium id (None if it is not an ATOM world)."""
    for world_id, gid in GYM_IDS.items():
        if gid == gym_id:
            return world_id
    return None


def register_gymnasium(world_id: str, gym_id: str | None = None, *,
                       max_episode_steps: int = MAX_EPISODE_STEPS, **kwargs: Any) -> str:
    """Register an ATOM world (built-in or added with ``atom_sdk.worlds.register``) with Gymnasium.

    ``kwargs`` become the spec's default world parameters. Returns the Gymnasium id. A world you
    registered yourself must be registered again in every spawned vector-env worker (do it at the
    import of the module that defines it).
    """
    gym_id = gym_id or gym_id_for(world_id)
    entry: Any = f"{__name__}:{_ENTRY_NAMES[world_id]}" if world_id in _ENTRY_NAMES else WorldEntryPoint(world_id)
    if gym_id in registry:
        registry.pop(gym_id)  # re-registration (a reload): no "overriding" warning
    register(id=gym_id, entry_point=entry, max_episode_steps=max_episode_steps, kwargs=dict(kwargs))
    GYM_IDS[world_id] = gym_id
    return gym_id


for _world_id, _gym_id in BUILTIN_GYM_IDS.items():
    register_gymnasium(_world_id, _gym_id)
