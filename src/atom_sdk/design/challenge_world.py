"""The wedge world as the supersonic challenge poses it to a learning agent.

Why a world of its own: the plain ``supersonic:wedge`` world pursues one fixed target shock
angle, while the challenge moves the target along a schedule. ``ChallengeWedge`` is the same
physics (the same compiled solver step, the same measured shock angle) with three changes:

* the target of step ``k`` is ``targets[k]`` (the challenge's ``target_at``), so the reward
  ``-|shock_angle - target|`` (deg) is the negative tracking error the challenge scores;
* the observation appends the target now (deg), the target ``preview`` steps ahead (deg, the same
  look-ahead the scripted controller's feed-forward reads) and the tracking error target - shock
  angle (deg);
* the action is the commanded wedge angle in degrees, the scripted controller's command
  (``WedgeInterface(action="angle")``); each step moves the wedge toward it by at most
  ``max_delta`` degrees, exactly as the rate action of the plain world does.

The state carries the step index and the target table, so the pure-JAX step stays one compiled
program, and the safety envelope, checkpoints and rollbacks see an ordinary ``World``.
"""

from __future__ import annotations

from typing import Any, ClassVar, NamedTuple, Sequence

import gymnasium as gym
import jax
import jax.numpy as jnp
import numpy as np

from atom_sdk.errors import WorldParameterError
from atom_sdk.worlds.base import Dynamics, StepOutput
from atom_sdk.worlds.wedge import N_PROBES, WedgeState, WedgeWorld

#: what the challenge world appends to the wedge observation (name, unit)
EXTRA_COMPONENTS = (("target_shock_angle", "deg"), ("target_shock_angle_ahead", "deg"),
                    ("tracking_error", "deg"))


class ChallengeState(NamedTuple):
    """The wedge flow, the index of the next step and the per-step target table (deg)."""

    wedge: WedgeState
    t: jax.Array
    targets: jax.Array


class ChallengeWedge(WedgeWorld):
    """``supersonic:wedge`` with a scheduled target, target observations and an angle action."""

    world_id: ClassVar[str] = "supersonic:wedge_challenge"

    def __init__(self, targets: Sequence[float], preview: int = 12, grid: tuple[int, int, int] = (64, 48, 1),
                 **kwargs: Any) -> None:
        table = np.asarray(targets, dtype=np.float64).reshape(-1)
        if table.size < 1 or not np.all(np.isfinite(table)):
            raise WorldParameterError("the challenge world needs a non-empty, finite table of target angles (deg)")
        if preview < 0:
            raise WorldParameterError(f"preview must be >= 0 steps, got {preview}")
        self.targets = table
        self.preview = int(preview)
        super().__init__(grid=grid, **kwargs)
        low = np.concatenate([self.observation_space.low, np.array([0.0, 0.0, -90.0], np.float32)])
        high = np.concatenate([self.observation_space.high, np.array([90.0, 90.0, 90.0], np.float32)])
        self.observation_space = gym.spaces.Box(low.astype(np.float32), high.astype(np.float32), dtype=np.float32)
        self.action_space = gym.spaces.Box(0.0, float(self.max_wedge_angle), shape=(1,), dtype=np.float32)

    def observation_components(self) -> list[tuple[str, str]]:
        """The wedge world's 11 components, then target now, target ahead and tracking error (deg)."""
        return super().observation_components() + list(EXTRA_COMPONENTS)

    def control_target(self) -> tuple[np.ndarray, np.ndarray]:
        """Shock angle at the current scheduled target (the pressure ratio is free)."""
        t = 0 if self._state is None else int(self._state.t)
        goal = self.targets[min(t, self.targets.size - 1)]
        return np.array([goal, 0.0]), np.array([1.0, 0.0])

    def build_dynamics(self) -> Dynamics:
        inner = super().build_dynamics()
        table = jnp.asarray(self.targets, self.dtype)
        last = int(self.targets.size - 1)
        preview = self.preview

        def target(state: ChallengeState, ahead: int = 0) -> jax.Array:
            return state.targets[jnp.minimum(state.t + ahead, last)]

        def observe(state: ChallengeState) -> jax.Array:
            base = inner.observe(state.wedge)
            now = target(state)
            extra = jnp.stack([now, target(state, preview), now - base[N_PROBES]])
            return jnp.concatenate([base, extra.astype(base.dtype)])

        def init(key: jax.Array) -> ChallengeState:
            wedge = inner.init(key)
            t0 = jnp.zeros((), jnp.int32)
            return ChallengeState(wedge._replace(target=table[0]), t0, table)

        def step(state: ChallengeState, action: jax.Array) -> tuple[ChallengeState, StepOutput]:
            command = jnp.reshape(action, (-1,))[0].astype(state.wedge.q.dtype)
            wedge = state.wedge._replace(target=target(state))  # the reward scores this step's target
            wedge, out = inner.step(wedge, command - jnp.degrees(wedge.theta))
            new = ChallengeState(wedge, state.t + 1, state.targets)
            return new, StepOutput(observe(new), out.reward, out.diagnostics)

        def fields(state: ChallengeState) -> dict[str, jax.Array]:
            return inner.fields(state.wedge)

        def diagnostics(state: ChallengeState) -> dict[str, jax.Array]:
            return inner.diagnostics(state.wedge)

        return Dynamics(init=init, step=step, observe=observe, fields=fields, diagnostics=diagnostics)
