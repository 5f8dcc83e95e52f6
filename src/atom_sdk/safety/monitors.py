"""Safety monitors: small NumPy checks on a few scalars, each answering with a reason code.

Why separate from the envelope: a monitor only *measures* (value against threshold) and says
how serious a breach is (``level``); deciding what to do about it (clip, fall back, roll back,
halt) is the envelope's job. That keeps every monitor testable at its threshold in isolation.
All checks run on the host every agent step, so they stay O(observation size) with no JAX.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np

# --------------------------------------------------------------------------- reason codes
SAFETY_TRUST_LOW = "SAFETY_TRUST_LOW"
SAFETY_STRESS_HIGH = "SAFETY_STRESS_HIGH"
SAFETY_SHIFT = "SAFETY_SHIFT"
SAFETY_DENSITY_RANGE = "SAFETY_DENSITY_RANGE"
SAFETY_SPEED = "SAFETY_SPEED"
SAFETY_MACH = "SAFETY_MACH"
SAFETY_ACTION_BOUNDS = "SAFETY_ACTION_BOUNDS"
SAFETY_ACTION_RATE = "SAFETY_ACTION_RATE"
SAFETY_NONFINITE = "SAFETY_NONFINITE"
SAFETY_ACTUATOR = "SAFETY_ACTUATOR"
SAFETY_OBS_BOUNDS = "SAFETY_OBS_BOUNDS"
#: not breaches but records: a shift monitor re-baselined, a control request that could not be used
SAFETY_REBASELINE = "SAFETY_REBASELINE"
SAFETY_CONTROL_REJECTED = "SAFETY_CONTROL_REJECTED"

REASON_CODES = (SAFETY_TRUST_LOW, SAFETY_STRESS_HIGH, SAFETY_SHIFT, SAFETY_DENSITY_RANGE, SAFETY_SPEED,
                SAFETY_MACH, SAFETY_ACTION_BOUNDS, SAFETY_ACTION_RATE, SAFETY_NONFINITE, SAFETY_ACTUATOR,
                SAFETY_OBS_BOUNDS)

# --------------------------------------------------------------------------- response levels
#: what a breach asks for; the envelope maps levels to interventions and modes
GUARD, FALLBACK, ROLLBACK, HALT = 1, 2, 3, 4


@dataclass(frozen=True)
class Violation:
    """One breach: which monitor, why, the measured value against its threshold, how serious."""

    monitor: str
    reason: str
    value: float | None
    threshold: float | None
    level: int
    detail: dict[str, Any] = field(default_factory=dict)


def _finite_or_none(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


# --------------------------------------------------------------------------- NaN / Inf
def count_nonfinite(values: Any) -> int:
    """Number of NaN/Inf entries in an array, a scalar or a mapping of scalars/arrays."""
    if values is None:
        return 0
    if isinstance(values, (float, int)):  # the common case (diagnostics, reward): no array needed
        return 0 if math.isfinite(values) else 1
    if isinstance(values, Mapping):
        return sum(count_nonfinite(v) for v in values.values())
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        return 0
    return int(arr.size - np.count_nonzero(np.isfinite(arr)))


def check_nonfinite(where: str, values: Any, level: int = ROLLBACK) -> Violation | None:
    """``SAFETY_NONFINITE`` if ``values`` (action, observation, reward or diagnostics) holds NaN/Inf."""
    bad = count_nonfinite(values)
    if bad == 0:
        return None
    return Violation(f"nonfinite_{where}", SAFETY_NONFINITE, float(bad), 0.0, level, {"where": where})


# --------------------------------------------------------------------------- physical limits
@dataclass(frozen=True)
class UpperLimit:
    """A diagnostic that must stay at or below ``limit``; above ``hard_factor * limit`` asks for rollback.

    A missing diagnostic means the world does not report it: the monitor is silent, not failed.
    """

    monitor: str
    diagnostic: str
    reason: str
    limit: float
    hard_factor: float = 1.5

    def check(self, diagnostics: Mapping[str, float]) -> Violation | None:
        if self.diagnostic not in diagnostics:
            return None
        value = float(diagnostics[self.diagnostic])
        if not math.isfinite(value) or value <= self.limit:
            return None  # non-finite values are the NaN monitor's business
        level = ROLLBACK if value > self.hard_factor * self.limit else FALLBACK
        return Violation(self.monitor, self.reason, value, self.limit, level)


@dataclass(frozen=True)
class DensityRange:
    """``density_min >= low`` and ``density_max <= high``; far outside (``hard_factor``) asks for rollback."""

    low: float
    high: float
    hard_factor: float = 1.5

    def check(self, diagnostics: Mapping[str, float]) -> Violation | None:
        lo = diagnostics.get("density_min")
        hi = diagnostics.get("density_max")
        if lo is not None and math.isfinite(float(lo)) and float(lo) < self.low:
            level = ROLLBACK if float(lo) < self.low / self.hard_factor else FALLBACK
            return Violation("density", SAFETY_DENSITY_RANGE, float(lo), self.low, level, {"side": "min"})
        if hi is not None and math.isfinite(float(hi)) and float(hi) > self.high:
            level = ROLLBACK if float(hi) > self.high * self.hard_factor else FALLBACK
            return Violation("density", SAFETY_DENSITY_RANGE, float(hi), self.high, level, {"side": "max"})
        return None


# --------------------------------------------------------------------------- theory trust
@dataclass(frozen=True)
class TrustMonitor:
    """Trust in the current theory below ``min_trust``.

    ``None`` trust means *no theory yet*: nothing to distrust, so the monitor is silent and a
    run without a scientist is never stopped by it. A breach only asks for GUARD: the envelope
    withholds theory-based control and features, it never halts a run on trust alone.
    """

    min_trust: float

    def check(self, trust: float | None) -> Violation | None:
        if trust is None:
            return None
        value = float(trust)
        if math.isfinite(value) and value >= self.min_trust:
            return None
        return Violation("trust", SAFETY_TRUST_LOW, _finite_or_none(value), self.min_trust, GUARD)


# --------------------------------------------------------------------------- distribution shift
class RunningStats:
    """Welford mean and sum of squared deviations of a stream of vectors (plain JSON state)."""

    def __init__(self) -> None:
        self.count = 0
        self.mean: np.ndarray | None = None
        self.m2: np.ndarray | None = None

    def update(self, x: np.ndarray) -> None:
        if self.mean is None or self.m2 is None or self.mean.shape != x.shape:
            self.count, self.mean, self.m2 = 0, np.zeros_like(x), np.zeros_like(x)
        self.count += 1
        delta = x - self.mean
        self.mean += delta / self.count
        self.m2 += delta * (x - self.mean)

    def std(self) -> np.ndarray:
        assert self.m2 is not None  # nosec B101 - callers check count first
        return np.sqrt(self.m2 / max(self.count - 1, 1))

    def state_dict(self) -> dict[str, Any]:
        return {"count": self.count, "mean": None if self.mean is None else self.mean.tolist(),
                "m2": None if self.m2 is None else self.m2.tolist()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.count = int(state["count"])
        self.mean = None if state["mean"] is None else np.asarray(state["mean"], dtype=np.float64)
        self.m2 = None if state["m2"] is None else np.asarray(state["m2"], dtype=np.float64)


class ShiftMonitor:
    """Largest per-feature z-score of an observation against a running (Welford) baseline.

    Silent for the first ``warmup`` samples. The standard deviation has a floor
    (``abs_floor + rel_floor * |mean|``) so a feature that is constant during warm-up does not
    turn rounding noise into an infinite z-score.

    Persistent shifts stay flagged. While no shift is active the baseline learns from every sample
    within the threshold, so slow drift is followed. The first sample beyond the threshold opens a
    *shift* (``active``, ``onset`` = the step it came on): from then on the baseline is frozen, every
    sample beyond the threshold is flagged again (a lasting regime change is never absorbed), and
    the samples since the onset are collected (``post``) as the candidate baseline of the new regime.
    A shift closes in one of two ways:

    * it goes away: ``end_after`` consecutive samples are back within the threshold of the old
      baseline (a transient outlier, or a regime that reverted); the old baseline resumes learning;
    * ``rebaseline()``: the post-shift statistics become the baseline (the envelope calls it once the
      theory is re-validated on the new regime, or on an operator's request).
    """

    def __init__(self, threshold: float, warmup: int, rel_floor: float = 0.05, abs_floor: float = 1e-3,
                 end_after: int = 8) -> None:
        self.threshold = float(threshold)
        self.warmup = int(warmup)
        self.rel_floor = float(rel_floor)
        self.abs_floor = float(abs_floor)
        self.end_after = max(1, int(end_after))
        self.base = RunningStats()
        self.post = RunningStats()
        self.active = False
        self.onset: int | None = None
        self.back_streak = 0

    # the baseline's numbers, as before the persistent-shift change (tests and reports read them)
    @property
    def count(self) -> int:
        return self.base.count

    @property
    def mean(self) -> np.ndarray | None:
        return self.base.mean

    @property
    def m2(self) -> np.ndarray | None:
        return self.base.m2

    def zscore(self, x: np.ndarray) -> tuple[float, int]:
        """(max |z|, index of that feature) against the current baseline; (0, -1) before warm-up."""
        mean = self.base.mean
        if self.base.count < self.warmup or mean is None:
            return 0.0, -1
        scale = np.maximum(self.base.std(), self.abs_floor + self.rel_floor * np.abs(mean))
        z = np.abs(x - mean) / scale
        idx = int(np.argmax(z))
        return float(z[idx]), idx

    def update(self, x: np.ndarray) -> None:
        """Learn one sample into the baseline."""
        self.base.update(x)

    def check(self, observation: Any, step: int | None = None) -> Violation | None:
        """Flag ``observation`` if it lies beyond the threshold; ``step`` dates a shift's onset."""
        x = np.asarray(observation, dtype=np.float64).reshape(-1)
        if not np.all(np.isfinite(x)):
            return None  # the NaN monitor reports it; never learn a baseline from it
        z, idx = self.zscore(x)
        beyond = z > self.threshold
        if not self.active:
            if not beyond:
                self.base.update(x)
                return None
            self.active, self.onset, self.back_streak = True, step, 0
            self.post = RunningStats()
            self.post.update(x)
            return Violation("shift", SAFETY_SHIFT, z, self.threshold, GUARD,
                             {"feature": idx, "onset_step": step, "onset": True})
        self.post.update(x)
        if beyond:
            self.back_streak = 0
            return Violation("shift", SAFETY_SHIFT, z, self.threshold, GUARD,
                             {"feature": idx, "onset_step": self.onset, "persistent": True,
                              "post_shift_samples": self.post.count})
        self.back_streak += 1
        if self.back_streak >= self.end_after:
            self._close()
        return None

    def _close(self) -> None:
        self.active, self.onset, self.back_streak = False, None, 0
        self.post = RunningStats()

    def rebaseline(self) -> dict[str, Any]:
        """Adopt the post-shift statistics as the baseline (none active: learn a fresh one from the next samples).

        With fewer than ``warmup`` post-shift samples the monitor is warming up again, silent until it has
        seen ``warmup`` samples of the new regime. Returns what was done (for the event record).
        """
        info = {"shift_active": self.active, "onset_step": self.onset, "post_shift_samples": self.post.count,
                "previous_baseline_samples": self.base.count}
        self.base = self.post if self.active else RunningStats()
        self.post = RunningStats()
        self.active, self.onset, self.back_streak = False, None, 0
        info["warming_up"] = self.base.count < self.warmup
        return info

    def state_dict(self) -> dict[str, Any]:
        return {**self.base.state_dict(), "active": self.active, "onset": self.onset,
                "back_streak": self.back_streak, "post": self.post.state_dict()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.base.load_state_dict(state)
        self.active = bool(state.get("active", False))
        self.onset = None if state.get("onset") is None else int(state["onset"])
        self.back_streak = int(state.get("back_streak", 0))
        self.post = RunningStats()
        if state.get("post") is not None:
            self.post.load_state_dict(state["post"])


@dataclass
class ShiftRevalidation:
    """When is the theory re-validated on a shifted regime? (then the shift monitor re-baselines)

    Rule: after a shift's onset, an envelope check (one per step) *counts* when at least
    ``min_samples`` observations have arrived since the onset and the theory's held-out trust is
    at or above ``min_trust``; ``checks`` consecutive counting checks re-validate the theory. A
    check with no theory (trust None), a non-finite trust or a trust below ``min_trust`` starts
    the count again. The envelope cannot see which samples the trust was scored on, so the
    defaults follow the runner's scientist: its held-out tail is the last 25 % of a 256-sample
    window (64 samples, so ``min_samples`` = 64 makes it purely post-shift) and it refits every
    16 steps (``checks`` = 16 makes at least one refit on that post-shift tail fall inside the run).
    """

    min_trust: float
    min_samples: int = 64
    checks: int = 16
    streak: int = 0

    def update(self, trust: float | None, post_samples: int) -> bool:
        """Count one check; True once the theory is re-validated (the caller then resets ``streak``)."""
        ok = (post_samples >= self.min_samples and trust is not None and math.isfinite(float(trust))
              and float(trust) >= self.min_trust)
        self.streak = self.streak + 1 if ok else 0
        return self.streak >= self.checks


# --------------------------------------------------------------------------- actions
def _tolerance(bound: np.ndarray) -> np.ndarray:
    """float32 rounding slack, so an action exactly on a float32 bound is not a breach."""
    return 1e-6 * np.maximum(1.0, np.abs(bound))


def check_action_bounds(action: np.ndarray, low: np.ndarray, high: np.ndarray) -> tuple[np.ndarray, Violation | None]:
    """Clip to [low, high]; ``SAFETY_ACTION_BOUNDS`` (value: largest excess) if it was outside."""
    excess = np.maximum(action - high, low - action)
    slack = np.maximum(_tolerance(high), _tolerance(low))
    clipped = np.clip(action, low, high)
    if not excess.size or np.all(excess <= slack):
        return clipped, None
    worst = float(np.max(excess))
    return clipped, Violation("action_bounds", SAFETY_ACTION_BOUNDS, worst, 0.0, GUARD)


def check_action_rate(action: np.ndarray, previous: np.ndarray | None,
                      max_rate: float | None) -> tuple[np.ndarray, Violation | None]:
    """Limit |a_t - a_{t-1}| per component to ``max_rate`` (per agent step); None disables."""
    if max_rate is None or previous is None:
        return action, None
    change = action - previous
    worst = float(np.max(np.abs(change))) if change.size else 0.0
    if worst <= max_rate * (1.0 + 1e-6):
        return action, None
    limited = previous + np.clip(change, -max_rate, max_rate)
    return limited, Violation("action_rate", SAFETY_ACTION_RATE, worst, float(max_rate), GUARD)


class ActuatorMonitor:
    """Commanded vs applied action, for worlds whose actuators report back (``info["applied_action"]``).

    ``patience`` consecutive mismatches beyond ``tolerance`` (relative to the action range) mean the
    actuator is not doing what it is told (stuck, saturated, disconnected). Without that feedback a
    stuck actuator is only visible through its physical consequences (the other monitors).
    """

    def __init__(self, span: np.ndarray, tolerance: float = 1e-3, patience: int = 3) -> None:
        self.span = np.maximum(np.asarray(span, dtype=np.float64), 1e-12)
        self.tolerance = float(tolerance)
        self.patience = int(patience)
        self.streak = 0

    def check(self, commanded: np.ndarray, applied: Any) -> Violation | None:
        if applied is None:
            self.streak = 0
            return None
        applied = np.asarray(applied, dtype=np.float64).reshape(commanded.shape)
        mismatch = float(np.max(np.abs(applied - commanded) / self.span)) if commanded.size else 0.0
        if not math.isfinite(mismatch) or mismatch <= self.tolerance:
            self.streak = 0
            return None
        self.streak += 1
        if self.streak < self.patience:
            return None
        return Violation("actuator", SAFETY_ACTUATOR, mismatch, self.tolerance, FALLBACK, {"streak": self.streak})
