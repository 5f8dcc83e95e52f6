"""Fault injection: world wrappers that break a world on purpose.

Each wrapper counts agent steps across episodes (the envelope steps the world exactly once per
runner step, rollbacks included, so the count equals the runner's step index) and records
``injected_at``, the first step on which the fault acted. The suite that runs them through whole
closed-loop experiments and measures detection latency is a bench:
:mod:`atom_sdk.evidence.fault_suite`.
"""

from __future__ import annotations

from typing import Any, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from atom_sdk.safety.proxy import WorldProxy


class FaultWrapper(WorldProxy):
    """Base: active on steps ``start <= step < start + duration`` (``duration=None``: for ever)."""

    fault: str = "fault"

    def __init__(self, world: Any, start: int, duration: int | None = None) -> None:
        super().__init__(world)
        self.start = int(start)
        self.duration = duration
        self.steps = 0
        self.injected_at: int | None = None

    def active(self, index: int) -> bool:
        return index >= self.start and (self.duration is None or index < self.start + self.duration)

    def step(self, action: Any):
        index = self.steps
        self.steps += 1
        on = self.active(index)
        if on and self.injected_at is None:
            self.injected_at = index
        return self.faulty_step(action, index, on)

    def faulty_step(self, action: Any, index: int, on: bool):
        return self.env.step(action)

    def fault_info(self) -> dict[str, Any]:
        return {"fault": self.fault, "start": self.start, "duration": self.duration, "injected_at": self.injected_at}


def _map_state(world: Any, fn, leaves: Sequence[str] | None = None) -> None:
    """Apply ``fn`` to the floating-point leaves of the world's state (optionally only named fields)."""
    state, t = world.snapshot()

    def apply(x: Any) -> Any:
        arr = jnp.asarray(x)
        return fn(arr).astype(arr.dtype) if jnp.issubdtype(arr.dtype, jnp.floating) else x

    if leaves is not None and hasattr(state, "_replace"):
        state = state._replace(**{name: apply(getattr(state, name)) for name in leaves})
    else:
        state = jax.tree.map(apply, state)
    world.restore((state, t))


def _refresh(world: Any, info: dict[str, Any]) -> dict[str, Any]:
    info = dict(info)
    try:
        info["diagnostics"] = world.diagnostics()
    except Exception:  # a world without diagnostics keeps what it reported
        pass
    return info


class NaNInjection(FaultWrapper):
    """(a) At step ``start`` the world's state and the observation become NaN (once)."""

    fault = "nan_state"

    def __init__(self, world: Any, start: int, duration: int | None = 1) -> None:
        super().__init__(world, start, duration)

    def faulty_step(self, action: Any, index: int, on: bool):
        obs, reward, terminated, truncated, info = self.env.step(action)
        if not on:
            return obs, reward, terminated, truncated, info
        _map_state(self.env, lambda x: x * jnp.nan)
        obs = np.full_like(np.asarray(obs, dtype=np.float32), np.nan)
        return obs, float("nan"), terminated, truncated, _refresh(self.env, info)


class DivergingWorld(FaultWrapper):
    """(b) From ``start`` the state grows by ``growth`` per step (an unstable mode), until the episode ends.

    ``leaves`` picks state fields to grow (e.g. ``("amplitude", "last_obs")`` for Taylor–Green,
    ``("f",)`` for lattice Boltzmann populations, which grows the density); default: every
    floating-point leaf. This stands in for a relaxation time pushed to the stability limit,
    which cannot be changed inside an already compiled world.
    """

    fault = "diverging"

    def __init__(self, world: Any, start: int, growth: float = 1.5, leaves: Sequence[str] | None = None,
                 duration: int | None = None) -> None:
        super().__init__(world, start, duration)
        self.growth = float(growth)
        self.leaves = tuple(leaves) if leaves is not None else None
        self._stopped = False

    def reset(self, **kwargs: Any):
        if self.injected_at is not None:
            self._stopped = True  # a fresh episode is a fresh (stable) world
        return self.env.reset(**kwargs)

    def faulty_step(self, action: Any, index: int, on: bool):
        obs, reward, terminated, truncated, info = self.env.step(action)
        if not on or self._stopped:
            return obs, reward, terminated, truncated, info
        _map_state(self.env, lambda x: x * self.growth, self.leaves)
        obs = np.asarray(obs) * np.asarray(self.growth, dtype=np.asarray(obs).dtype)
        return obs, reward, terminated, truncated, _refresh(self.env, info)


class ObservationShift(FaultWrapper):
    """(c) From ``start`` every observation is offset by ``magnitude`` x (|mean| + std) of what came before.

    The world itself is untouched: this is a sensor fault or an unmodelled regime change.
    """

    fault = "obs_shift"

    def __init__(self, world: Any, start: int, magnitude: float = 20.0, duration: int | None = None) -> None:
        super().__init__(world, start, duration)
        self.magnitude = float(magnitude)
        self._n = 0
        self._mean: np.ndarray | None = None
        self._m2: np.ndarray | None = None
        self._offset: np.ndarray | None = None

    def faulty_step(self, action: Any, index: int, on: bool):
        obs, reward, terminated, truncated, info = self.env.step(action)
        x = np.asarray(obs, dtype=np.float64).reshape(-1)
        if not on:
            if np.all(np.isfinite(x)):
                if self._mean is None:
                    self._mean, self._m2 = np.zeros_like(x), np.zeros_like(x)
                self._n += 1
                delta = x - self._mean
                self._mean += delta / self._n
                self._m2 += delta * (x - self._mean)
            return obs, reward, terminated, truncated, info
        if self._offset is None:
            mean = self._mean if self._mean is not None else np.zeros_like(x)
            std = np.sqrt(self._m2 / max(self._n - 1, 1)) if self._m2 is not None else np.zeros_like(x)
            self._offset = self.magnitude * (np.abs(mean) + std + 1e-3)
        shifted = (x + self._offset).astype(np.asarray(obs).dtype).reshape(np.shape(obs))
        return shifted, reward, terminated, truncated, info


class TrustCollapse(FaultWrapper):
    """(d) From ``start`` the theory-trust the envelope reads drops to 0 (via ``transform_trust``)."""

    fault = "trust_collapse"

    def transform_trust(self, trust: float | None) -> float | None:
        index = self.steps - 1  # the envelope asks for trust after stepping the world
        if index >= 0 and self.active(index):
            if self.injected_at is None:
                self.injected_at = index
            return 0.0
        inner = getattr(self.env, "transform_trust", None)
        return inner(trust) if inner is not None else trust

    def step(self, action: Any):
        self.steps += 1  # injection is recorded when the trust is read, not when the world steps
        return self.env.step(action)


class StuckActuator(FaultWrapper):
    """(e) From ``start`` the actuator keeps the last action it received and ignores new ones.

    It reports what it applied in ``info["applied_action"]`` (actuator position feedback), which
    is what lets the envelope tell a stuck actuator from a policy that happens to repeat itself.
    """

    fault = "stuck_actuator"

    def __init__(self, world: Any, start: int, duration: int | None = None) -> None:
        super().__init__(world, start, duration)
        self._last: np.ndarray | None = None

    def faulty_step(self, action: Any, index: int, on: bool):
        commanded = np.asarray(action, dtype=np.float64).reshape(self.action_space.shape)
        if not on or self._last is None:
            self._last = commanded.copy()
        applied = self._last if on else commanded
        obs, reward, terminated, truncated, info = self.env.step(applied.astype(self.action_space.dtype))
        info = dict(info)
        info["applied_action"] = applied.copy()
        return obs, reward, terminated, truncated, info


FAULT_TYPES: dict[str, type[FaultWrapper]] = {cls.fault: cls for cls in
                                              (NaNInjection, DivergingWorld, ObservationShift, TrustCollapse,
                                               StuckActuator)}
