"""A Gymnasium wrapper that also forwards the ATOM world protocol (fields, diagnostics, snapshots).

Why: ``gymnasium.Wrapper`` forwards only the Gymnasium API, but the runner, the scientist and
the checkpoint code call ``fields()``, ``diagnostics()``, ``observables()``, ``snapshot()`` and
friends on whatever world they are handed. Every safety and fault wrapper derives from this.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np


class WorldProxy(gym.Wrapper):
    """Pass-through for the world protocol of ``atom_sdk.worlds.base.World``."""

    def fields(self) -> dict[str, np.ndarray]:
        return self.env.fields()  # type: ignore[attr-defined]

    def field_tensor(self) -> np.ndarray:
        return self.env.field_tensor()  # type: ignore[attr-defined]

    def diagnostics(self) -> dict[str, float]:
        fn = getattr(self.env, "diagnostics", None)
        return dict(fn()) if fn is not None else {}

    def observables(self) -> np.ndarray:
        return np.asarray(self.env.observables(), dtype=np.float64)  # type: ignore[attr-defined]

    @property
    def observable_names(self) -> tuple[str, ...]:
        return tuple(getattr(self.env, "observable_names", ()))

    def control_target(self) -> tuple[np.ndarray, np.ndarray] | None:
        fn = getattr(self.env, "control_target", None)
        return fn() if fn is not None else None

    @property
    def dt(self) -> float:
        return float(getattr(self.env, "dt", 1.0))

    def snapshot(self) -> Any:
        return self.env.snapshot()  # type: ignore[attr-defined]

    def restore(self, snapshot: Any) -> None:
        self.env.restore(snapshot)  # type: ignore[attr-defined]

    def __getattr__(self, name: str) -> Any:
        # only reached when normal lookup fails: forward public attributes (world_id, grid, params, ...)
        if name.startswith("_") or name == "env":
            raise AttributeError(name)
        return getattr(self.env, name)
