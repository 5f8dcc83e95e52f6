"""Running moments of a stream of observations, so the agent sees inputs of order one.

One module for every normaliser in the SDK, with two estimators because their callers must
keep their numbers to the last bit:

* :class:`RunningNorm`: Welford, one observation per update, non-finite observations skipped,
  sample variance floored at 1e-8, output clipped to +-``clip`` std. The closed loop's
  normaliser. The *same* class serves the host-stepped runner (NumPy, float64, count a Python
  int, written to checkpoints by ``to_dict``) and the on-device trainer (jax.numpy, float32,
  a pytree carried through ``lax.scan``): the math (:func:`welford_update`,
  :func:`welford_normalize`) is written once in plain operators plus an array namespace, so
  each backend computes exactly what it computed before the two copies were merged.
* :class:`BatchMoments`: the parallel (Chan et al.) merge of a whole batch, population
  variance, starting from count 1e-4, mean 0, var 1: CleanRL/PureJaxRL's ``RunningMeanStd``.
  Used by the gymnax reference loop (``agent.reference``) whose purpose is to match those
  published implementations. It is not expressed through Welford (a batch of one would give
  the same moments in exact arithmetic but not the same float bits), so merging the two would
  change the reference's numbers.
"""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp
import numpy as np
from flax import struct


# ----------------------------------------------------------------------------- the math, once
def welford_update(count: Any, mean: Any, m2: Any, x: Any) -> tuple[Any, Any, Any]:
    """One Welford step: (count, mean, M2) after observing ``x`` (NumPy or jax.numpy alike)."""
    count = count + 1
    delta = x - mean
    mean = mean + delta / count
    return count, mean, m2 + delta * (x - mean)


def welford_std(count: Any, m2: Any, xp: Any) -> Any:
    """Sample standard deviation from (count, M2), variance floored at 1e-8."""
    return xp.sqrt(xp.maximum(m2 / xp.maximum(count - 1, 1), 1e-8))


def welford_normalize(x: Any, count: Any, mean: Any, m2: Any, clip: float, xp: Any) -> Any:
    """(x - mean) / std (only x - mean until two observations), NaN -> 0, clipped to +-clip."""
    z = xp.where(count > 1, (x - mean) / welford_std(count, m2, xp), x - mean)
    return xp.clip(xp.nan_to_num(z), -clip, clip)


# ----------------------------------------------------------------------------- Welford normaliser
class RunningNorm(struct.PyTreeNode):
    """Streaming mean/variance of flat observations; ``normalize`` clips to +-``clip`` std.

    Immutable: ``update`` returns the new statistics. ``RunningNorm.host(size)`` keeps NumPy
    float64 (the runner's; ``to_dict``/``from_dict`` are its checkpoint format);
    ``RunningNorm.device(size)`` keeps jax.numpy float32 and works inside ``jit``/``vmap``.
    """

    count: Any  # host: Python int; device: float32 scalar
    mean: Any
    m2: Any
    clip: float = struct.field(pytree_node=False, default=10.0)

    @classmethod
    def host(cls, size: int, clip: float = 10.0) -> "RunningNorm":
        return cls(0, np.zeros(size, np.float64), np.zeros(size, np.float64), clip)

    @classmethod
    def device(cls, size: int, clip: float = 10.0) -> "RunningNorm":
        return cls(jnp.zeros((), jnp.float32), jnp.zeros(size, jnp.float32), jnp.zeros(size, jnp.float32), clip)

    @property
    def on_host(self) -> bool:
        return isinstance(self.mean, np.ndarray)

    def _flat(self, x: Any) -> Any:
        return np.asarray(x, np.float64).reshape(-1) if self.on_host else jnp.reshape(x, (-1,)).astype(jnp.float32)

    def update(self, x: Any) -> "RunningNorm":
        """The statistics with ``x`` observed; unchanged when ``x`` has a NaN/Inf."""
        x = self._flat(x)
        if self.on_host:
            if not np.all(np.isfinite(x)):
                return self
            return self.replace(**dict(zip(("count", "mean", "m2"), welford_update(self.count, self.mean, self.m2, x))))
        count, mean, m2 = welford_update(self.count, self.mean, self.m2, x)
        ok = jnp.all(jnp.isfinite(x))
        return self.replace(count=jnp.where(ok, count, self.count), mean=jnp.where(ok, mean, self.mean),
                            m2=jnp.where(ok, m2, self.m2))

    @property
    def std(self) -> Any:
        return welford_std(self.count, self.m2, np if self.on_host else jnp)

    def normalize(self, x: Any) -> Any:
        """``x`` standardised by the statistics (which stay as they are), as float32."""
        xp = np if self.on_host else jnp
        return welford_normalize(self._flat(x), self.count, self.mean, self.m2, self.clip, xp).astype(xp.float32)

    def to_dict(self) -> dict[str, Any]:
        return {"count": int(self.count), "mean": np.asarray(self.mean).tolist(), "m2": np.asarray(self.m2).tolist(),
                "clip": self.clip}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "RunningNorm":
        """Host statistics from ``to_dict`` (the checkpoint format)."""
        return cls(int(data["count"]), np.asarray(data["mean"], dtype=np.float64),
                   np.asarray(data["m2"], dtype=np.float64), float(data["clip"]))


# ----------------------------------------------------------------------------- batch merge
class BatchMoments(struct.PyTreeNode):
    """Population mean/variance merged a batch at a time (CleanRL/PureJaxRL ``RunningMeanStd``)."""

    mean: jnp.ndarray
    var: jnp.ndarray
    count: jnp.ndarray

    @classmethod
    def create(cls, shape) -> "BatchMoments":
        return cls(jnp.zeros(shape), jnp.ones(shape), jnp.asarray(1e-4))

    def update(self, batch: jnp.ndarray) -> "BatchMoments":
        """Parallel (Chan et al.) merge of a batch (leading axis) into the running moments."""
        b_mean, b_var, b_n = batch.mean(0), batch.var(0), batch.shape[0]
        delta = b_mean - self.mean
        tot = self.count + b_n
        mean = self.mean + delta * b_n / tot
        m2 = self.var * self.count + b_var * b_n + jnp.square(delta) * self.count * b_n / tot
        return BatchMoments(mean, m2 / tot, tot)

    def normalize(self, x: jnp.ndarray) -> jnp.ndarray:
        return jnp.clip((x - self.mean) / jnp.sqrt(self.var + 1e-8), -10.0, 10.0)
