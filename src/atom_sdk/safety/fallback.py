"""Fallback actions: what the envelope sends when the agent's action cannot be trusted.

Why a separate module: the fallback is the one action that must always be valid, so whatever
a user-supplied controller returns (NaN, wrong shape, out of bounds, an exception) is reduced
here to a finite in-bounds action, with zero actuation as the last resort.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

FallbackFn = Callable[[np.ndarray], np.ndarray]


def zero_actuation(low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """The action closest to 'do nothing' (0, or the nearest bound when 0 is not allowed)."""
    return np.clip(np.zeros_like(low, dtype=np.float64), low, high)


def safe_fallback_action(fallback: FallbackFn | None, observation: np.ndarray, low: np.ndarray,
                         high: np.ndarray) -> tuple[np.ndarray, str]:
    """(action, source): the fallback's action made finite and in bounds; zeros if it fails.

    ``source`` is ``"zero"`` or ``"controller"`` (or ``"zero:<why>"`` when the controller failed),
    so an event can say which fallback actually acted.
    """
    zero = zero_actuation(low, high)
    if fallback is None:
        return zero, "zero"
    try:
        action = np.asarray(fallback(observation), dtype=np.float64).reshape(zero.shape)
    except Exception as exc:  # a failing controller must not take the safety net down with it
        return zero, f"zero:controller raised {type(exc).__name__}"
    if not np.all(np.isfinite(action)):
        return zero, "zero:controller returned NaN/Inf"
    return np.clip(action, low, high), "controller"
