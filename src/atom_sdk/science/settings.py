"""Settings the online :class:`~atom_sdk.science.scientist.Scientist` reads.

The experiment configuration (``atom_sdk.config``) defines the authoritative pydantic
``ScientistSettings``; the scientist accepts *any* object with the attributes of
:class:`SettingsLike`. The dataclass :class:`ScientistSettings` here has the same fields and
defaults, for tests and library use. Optional tuning attributes (:data:`TUNING_DEFAULTS`)
are read with ``getattr`` and fall back to these defaults when the settings object lacks them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Protocol, runtime_checkable

__all__ = ["ScientistSettings", "SettingsLike", "TUNING_DEFAULTS", "resolve_settings"]


@runtime_checkable
class SettingsLike(Protocol):
    enabled: bool
    ensembled: bool
    library_degree: int
    include_trig: bool
    threshold: float
    ensemble_size: int
    window: int
    fit_every: int
    min_samples: int
    derivative: str
    conformal_alpha: float
    selection: str
    accept_margin: float


@dataclass
class ScientistSettings:
    """Dataclass twin of the config's ``ScientistSettings`` (same fields and defaults)."""

    enabled: bool = True
    ensembled: bool = True
    library_degree: int = 2
    include_trig: bool = False
    threshold: float = 0.05
    ensemble_size: int = 20
    window: int = 256
    fit_every: int = 16
    min_samples: int = 32
    derivative: Literal["smoothed_fd", "weak"] = "smoothed_fd"
    conformal_alpha: float = 0.1
    selection: Literal["aic", "bic", "cv"] = "bic"
    accept_margin: float = 0.02


#: Optional attributes (read with ``getattr(settings, name, default)``).
TUNING_DEFAULTS: dict[str, Any] = {
    "holdout_fraction": 0.25,  # share of the window held out for governance and calibration
    "min_holdout": 8,  # at least this many held-out intervals
    "min_inclusion": 0.6,  # governance: ensemble stability of kept terms
    "min_jaccard": 0.6,  # governance: support similarity with the previous window
    "duplicate_rtol": 0.05,  # governance: coefficient tolerance for "same theory"
    "min_skill": 0.0,  # governance: minimum held-out R^2 of increments
    "trust_rise": 0.5,  # trust smoothing rate when quality improves
    "trust_threshold": None,  # greedy_control acts at/above this trust (None: trust_gate_threshold or 0.5)
    "aci_gamma": 0.01,  # adaptive conformal step size
    "sg_window": 15,  # Savitzky-Golay window (samples)
    "sg_polyorder": 2,
    "weak_window": None,  # weak-form test-function support (intervals); None = auto
    "step_method": "rk4",  # one-step prediction integrator ("rk4" | "euler")
    "n_thresholds": 16,  # threshold path length for model selection
    "library_bagging": False,
}

_REQUIRED = {
    "enabled": True,
    "ensembled": True,
    "library_degree": 2,
    "include_trig": False,
    "threshold": 0.05,
    "ensemble_size": 20,
    "window": 256,
    "fit_every": 16,
    "min_samples": 32,
    "derivative": "smoothed_fd",
    "conformal_alpha": 0.1,
    "selection": "bic",
    "accept_margin": 0.02,
}


def resolve_settings(settings: Any) -> dict[str, Any]:
    """Plain dict of every field (required ones must exist on ``settings``) plus tuning values."""
    if settings is None:
        settings = ScientistSettings()
    out: dict[str, Any] = {}
    missing = [k for k in _REQUIRED if not hasattr(settings, k)]
    if missing:
        raise TypeError(f"scientist settings lack {missing}")
    for k in _REQUIRED:
        out[k] = getattr(settings, k)
    for k, v in TUNING_DEFAULTS.items():
        out[k] = getattr(settings, k, v)
    if out["derivative"] not in ("smoothed_fd", "weak"):
        raise ValueError(f"derivative must be 'smoothed_fd' or 'weak', got {out['derivative']!r}")
    if out["selection"] not in ("aic", "bic", "cv", "none"):
        raise ValueError(f"selection must be 'aic', 'bic' or 'cv', got {out['selection']!r}")
    if not 0.0 < float(out["conformal_alpha"]) < 1.0:
        raise ValueError("conformal_alpha must be in (0, 1)")
    if int(out["window"]) < int(out["min_samples"]):
        raise ValueError("window must be >= min_samples")
    if int(out["fit_every"]) < 1:
        raise ValueError("fit_every must be >= 1")
    return out
