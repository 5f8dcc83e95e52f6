"""The symbolic scientist: discover, govern and use governing laws ``dx/dt = f(x, u)``.

``discover(x, t)`` fits a sparse law to trajectories and returns a ``Theory`` (its ``Equation``s
print, predict and serialise); like PySINDy's ``SINDy``, it composes three parts that each hold
their own settings: a candidate ``Library``, a ``Differentiation`` (how derivative targets are
formed) and a ``SparseRegressor`` (the optimiser: STLSQ, model selection, ensemble).
``LawDiscoverer`` is the same in scikit-learn's fit/predict shape.
The online ``Scientist`` used by the experiment runner refits as data arrives, asks the
``Governor`` whether to trust a law, records every hypothesis in a ``HypothesisLedger`` and
wraps predictions in conformal intervals (``conformal.SplitConformal``,
``conformal.AdaptiveConformal``).

Modules: ``library`` (candidate terms), ``derivatives`` (Savitzky-Golay and weak-form systems),
``sparse`` (ensembled STLSQ with AIC/BIC/CV selection), ``theory``, ``discover``, ``estimator``,
``conformal``, ``ledger``, ``governance``, ``planning`` (exploration and theory-derived control),
``systems`` (reference systems with known laws), ``scientist``, ``modes`` (flow fields to
models: ``PODModes`` reduces snapshot fields to modal amplitudes, with an optional shift mode,
and ``discover_modes`` fits a sparse law to them), ``implicit`` (rational laws ``N/D`` by
SINDy-PI: ``ImplicitDiscoverer``) and ``symbolic_regression`` (``SymbolicRegressor``: PySR
where Julia is installed, else a built-in expression search; gplearn on request). The online
``Scientist(backends=("sparse", "implicit", "sr"))`` sends every backend's candidate through
the same governor and ledger. Names are handed on
lazily, so the online scientist never imports scikit-learn or PySINDy unless asked to.
"""

import lazy_loader as _lazy

# ``discover`` is both a submodule and its entry point; lazy_loader keeps the name bound to the
# function even after the submodule has been imported.
__getattr__, __dir__, __all__ = _lazy.attach(
    __name__,
    submod_attrs={
        "derivatives": ["Differentiation"],
        "discover": ["discover"],
        "estimator": ["LawDiscoverer"],
        "governance": ["Governor"],
        "implicit": ["ImplicitDiscoverer"],
        "ledger": ["HypothesisLedger"],
        "library": ["CustomTerm", "Library"],
        "modes": ["PODModes", "discover_modes"],
        "scientist": ["Scientist"],
        "sparse": ["SparseRegressor"],
        "symbolic_regression": ["SymbolicRegressor"],
        "theory": ["Equation", "Theory"],
    },
)
