"""The symbolic scientist: discover, govern and use governing laws ``dx/dt = f(x, u)``.

Modules
-------
library      candidate term libraries (polynomial, trigonometric, custom; PySINDy-compatible)
derivatives  Savitzky-Golay and weak-form regression systems (zero-order-hold aware)
sparse       ensembled STLSQ with AIC/BIC/CV threshold selection
theory       ``Equation`` / ``Theory`` dataclasses (strings, sympy, JSON, prediction, RK4)
discover     ``discover()``
estimator    the scikit-learn style ``LawDiscoverer``
conformal    split conformal and adaptive conformal inference intervals
ledger       append-only hash-chained JSONL hypothesis ledger
governance   acceptance rules and trust
planning     exploratory actions and the greedy theory-derived controller
systems      reference systems with known laws (oscillator, Lorenz, Taylor-Green amplitude)
scientist    the online ``Scientist`` used by experiment runners
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# name -> submodule; resolved on first access so that ``import atom_sdk.science`` stays cheap
# and the online Scientist never imports scikit-learn or PySINDy unless asked to.
_EXPORTS: dict[str, str] = {
    "Library": "library",
    "Term": "library",
    "CustomTerm": "library",
    "smoothed_derivative": "derivatives",
    "build_system": "derivatives",
    "RegressionSystem": "derivatives",
    "savgol_interval_weights": "derivatives",
    "bump_interval_weights": "derivatives",
    "SparseRegressor": "sparse",
    "SparseResult": "sparse",
    "stlsq": "sparse",
    "stlsq_gram": "sparse",
    "Equation": "theory",
    "Theory": "theory",
    "theory_from_result": "theory",
    "LawDiscoverer": "estimator",
    "SplitConformal": "conformal",
    "AdaptiveConformal": "conformal",
    "conformal_quantile": "conformal",
    "conformal_rank": "conformal",
    "HypothesisLedger": "ledger",
    "LedgerCorruptError": "ledger",
    "VerifyResult": "ledger",
    "RECORD_KINDS": "ledger",
    "GENESIS_HASH": "ledger",
    "Governor": "governance",
    "GovernanceConfig": "governance",
    "HeldOutScore": "governance",
    "heldout_score": "governance",
    "one_step_predictions": "governance",
    "jaccard": "governance",
    "is_duplicate": "governance",
    "propose_action": "planning",
    "greedy_action": "planning",
    "prediction_variance": "planning",
    "least_certain_control": "planning",
    "Scientist": "scientist",
    "ScientistSettings": "settings",
    "SettingsLike": "settings",
    "TUNING_DEFAULTS": "settings",
    "resolve_settings": "settings",
    "damped_oscillator": "systems",
    "lorenz": "systems",
    "taylor_green_amplitude": "systems",
    "TaylorGreenAmplitude": "systems",
    "add_noise": "systems",
}

if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs
    from atom_sdk.science.conformal import AdaptiveConformal, SplitConformal, conformal_quantile, conformal_rank
    from atom_sdk.science.derivatives import (
        RegressionSystem,
        build_system,
        bump_interval_weights,
        savgol_interval_weights,
        smoothed_derivative,
    )
    from atom_sdk.science.estimator import LawDiscoverer
    from atom_sdk.science.governance import (
        GovernanceConfig,
        Governor,
        HeldOutScore,
        heldout_score,
        is_duplicate,
        jaccard,
        one_step_predictions,
    )
    from atom_sdk.science.ledger import GENESIS_HASH, RECORD_KINDS, HypothesisLedger, LedgerCorruptError, VerifyResult
    from atom_sdk.science.library import CustomTerm, Library, Term
    from atom_sdk.science.planning import greedy_action, least_certain_control, prediction_variance, propose_action
    from atom_sdk.science.scientist import Scientist
    from atom_sdk.science.settings import TUNING_DEFAULTS, ScientistSettings, SettingsLike, resolve_settings
    from atom_sdk.science.sparse import SparseRegressor, SparseResult, stlsq, stlsq_gram
    from atom_sdk.science.systems import (
        TaylorGreenAmplitude,
        add_noise,
        damped_oscillator,
        lorenz,
        taylor_green_amplitude,
    )
    from atom_sdk.science.theory import Equation, Theory, theory_from_result


# ``discover`` is both a submodule and a function: bind the function eagerly (the module is
# light: numpy/scipy/sympy only), so that ``atom_sdk.science.discover`` is always the function.
from atom_sdk.science.discover import discover  # noqa: E402


def __getattr__(name: str) -> Any:
    mod = _EXPORTS.get(name)
    if mod is None:
        raise AttributeError(f"module 'atom_sdk.science' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"atom_sdk.science.{mod}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))


__all__ = [
    # library
    "Library",
    "Term",
    "CustomTerm",
    # derivatives
    "smoothed_derivative",
    "build_system",
    "RegressionSystem",
    "savgol_interval_weights",
    "bump_interval_weights",
    # sparse regression
    "SparseRegressor",
    "SparseResult",
    "stlsq",
    "stlsq_gram",
    # theory
    "Equation",
    "Theory",
    # entry points
    "discover",
    "LawDiscoverer",
    "theory_from_result",
    # conformal
    "SplitConformal",
    "AdaptiveConformal",
    "conformal_quantile",
    "conformal_rank",
    # ledger
    "HypothesisLedger",
    "LedgerCorruptError",
    "VerifyResult",
    "RECORD_KINDS",
    "GENESIS_HASH",
    # governance
    "Governor",
    "GovernanceConfig",
    "HeldOutScore",
    "heldout_score",
    "one_step_predictions",
    "jaccard",
    "is_duplicate",
    # planning
    "propose_action",
    "greedy_action",
    "prediction_variance",
    "least_certain_control",
    # online scientist
    "Scientist",
    "ScientistSettings",
    "SettingsLike",
    "TUNING_DEFAULTS",
    "resolve_settings",
    # reference systems
    "damped_oscillator",
    "lorenz",
    "taylor_green_amplitude",
    "TaylorGreenAmplitude",
    "add_noise",
]
