"""Running mean/variance of observations (Welford), so the agent sees inputs of order one."""

from __future__ import annotations

from typing import Any

import numpy as np


class RunningNorm:
    """Streaming mean/variance; ``normalize`` clips to +-10 standard deviations."""

    def __init__(self, size: int, clip: float = 10.0) -> None:
        self.count = 0
        self.mean = np.zeros(size, dtype=np.float64)
        self.m2 = np.zeros(size, dtype=np.float64)
        self.clip = clip

    def update(self, x: np.ndarray) -> None:
        x = np.asarray(x, dtype=np.float64).reshape(-1)
        if not np.all(np.isfinite(x)):
            return
        self.count += 1
        delta = x - self.mean
        self.mean += delta / self.count
        self.m2 += delta * (x - self.mean)

    @property
    def std(self) -> np.ndarray:
        var = self.m2 / max(self.count - 1, 1)
        return np.sqrt(np.maximum(var, 1e-8))

    def normalize(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64).reshape(-1)
        z = (x - self.mean) / self.std if self.count > 1 else x - self.mean
        return np.clip(np.nan_to_num(z), -self.clip, self.clip).astype(np.float32)

    def to_dict(self) -> dict[str, Any]:
        return {"count": self.count, "mean": self.mean.tolist(), "m2": self.m2.tolist(), "clip": self.clip}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "RunningNorm":
        norm = cls(len(data["mean"]), clip=float(data["clip"]))
        norm.count = int(data["count"])
        norm.mean = np.asarray(data["mean"], dtype=np.float64)
        norm.m2 = np.asarray(data["m2"], dtype=np.float64)
        return norm
