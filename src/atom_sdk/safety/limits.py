"""The envelope's physical limits: as configured, or derived from the world's own scales.

Why: a fixed default cannot fit every world. The wedge's free stream at Mach 3 *is* speed 3.0000002
in float32, so a default ``speed_max = 3`` tripped on every step of a perfectly healthy flow. A world
may therefore declare its natural scales (``World.safety_scales()``: ``speed``, ``density``,
``density_max``, ``density_min``), and every limit the user did *not* configure becomes

=============  =====================================================================================
limit          default
=============  =====================================================================================
speed_max      ``max(3.0, speed_factor * speed)``
density_max    ``max(8.0 * density, density_factor * density_max)``
density_min    ``min(0.05 * density, density_min / density_factor)``
=============  =====================================================================================

with ``speed_factor`` 1.5 and ``density_factor`` 2 (``EnvelopeTuning.scale_*_factor``). Missing scales drop
out of these formulas: a world without scales keeps the fixed 3.0 / 8.0 / 0.05, and with a reference density
of 1 the defaults only ever widen, for worlds that declare faster or denser normal operation.

A limit counts as *configured* when ``SafetySettings`` holds a number the user set: a field whose value
is ``None`` ("derive it"), or which the settings object did not receive explicitly (its pydantic default),
is derived. An explicitly configured number always applies as given.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Mapping

#: world-agnostic defaults (units of a unit-density, unit-sound-speed flow)
DEFAULT_SPEED_MAX = 3.0
DEFAULT_DENSITY_MIN = 0.05
DEFAULT_DENSITY_MAX = 8.0


@dataclass(frozen=True)
class Limits:
    """Effective limits, where each came from ('configured', 'default' or 'world scale'), and the scales."""

    speed_max: float
    density_min: float
    density_max: float
    source: dict[str, str] = field(default_factory=dict)
    scales: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"speed_max": self.speed_max, "density_min": self.density_min, "density_max": self.density_max,
                "source": dict(self.source), "scales": dict(self.scales)}


def configured(settings: Any, name: str) -> float | None:
    """The number the user set for ``name``, or None when it is left to the world (None or not given)."""
    value = getattr(settings, name, None)
    if value is None:
        return None
    fields_set = getattr(settings, "model_fields_set", None)
    if fields_set is not None and name not in fields_set:
        return None  # the model's own default, not a choice of the user
    return float(value)


def world_scales(world: Any) -> dict[str, float]:
    """``world.safety_scales()`` (through any wrapper), keeping positive finite numbers only."""
    fn = getattr(world, "safety_scales", None)
    if not callable(fn):
        return {}
    try:
        raw = fn() or {}
    except Exception:  # a world that cannot say keeps the fixed defaults rather than failing the run
        return {}
    out: dict[str, float] = {}
    for key, value in dict(raw).items():
        try:
            number = float(value)
        except (TypeError, ValueError):
            continue
        if math.isfinite(number) and number > 0.0:
            out[str(key)] = number
    return out


def resolve_limits(settings: Any, scales: Mapping[str, float], *, speed_factor: float = 1.5,
                   density_factor: float = 2.0) -> Limits:
    """Effective speed/density limits for ``settings`` on a world with ``scales`` (module docstring)."""
    source: dict[str, str] = {}
    density_ref = scales.get("density", 1.0)

    def pick(name: str, fixed: float, derived: float | None) -> float:
        given = configured(settings, name)
        if given is not None:
            source[name] = "configured"
            return given
        if derived is not None and derived != fixed:
            source[name] = "world scale"
            return derived
        source[name] = "default"
        return fixed

    speed = scales.get("speed")
    speed_max = pick("speed_max", DEFAULT_SPEED_MAX,
                     max(DEFAULT_SPEED_MAX, speed_factor * speed) if speed is not None else None)
    high = DEFAULT_DENSITY_MAX * density_ref
    if "density_max" in scales:
        high = max(high, density_factor * scales["density_max"])
    density_max = pick("density_max", DEFAULT_DENSITY_MAX, high)
    low = DEFAULT_DENSITY_MIN * density_ref
    if "density_min" in scales:
        low = min(low, scales["density_min"] / density_factor)
    density_min = pick("density_min", DEFAULT_DENSITY_MIN, low)
    return Limits(float(speed_max), float(density_min), float(density_max), source, dict(scales))
