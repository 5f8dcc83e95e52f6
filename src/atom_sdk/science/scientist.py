"""The online scientist used inside experiment loops.

Data convention: call :meth:`Scientist.observe` once per world step, in order, with the state
``x_t`` observed at that step and the control ``u_t`` applied *from that state until the next
observation* (``x_{t+1} = world.step(u_t)``). Controls are treated as held constant over a step
(zero-order hold), which is how the discovery formulations and the one-step predictions
(``x_{t+1} = step(x_t, u_t)``, RK4 by default) are built. At the end of an episode, observe the
terminal state (with any control, e.g. zeros) and call :meth:`Scientist.mark_boundary` before the
first observation of the next episode: intervals never cross a boundary.

Every ``fit_every`` steps (once ``min_samples`` are buffered) :meth:`Scientist.update` fits a
candidate theory on the older part of the buffered window, lets the
:class:`~atom_sdk.science.governance.Governor` compare it with the accepted theory on the most
recent ``holdout_fraction`` of the window (never used for fitting), records both in the ledger,
updates the trust, and on acceptance recalibrates the conformal intervals on that held-out
window. Between fits, each observation updates an adaptive conformal inference (ACI) level per
variable from whether the last interval covered the new state.

All randomness of a fit is drawn from ``numpy.random.default_rng([seed, step])``, so the
scientist is a deterministic function of its inputs and :meth:`state_dict` (plain JSON) is
enough to resume a run with identical subsequent outputs.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from typing import Any

import numpy as np

from atom_sdk.config import ScientistSettings, ScientistTuning
from atom_sdk.science.conformal import AdaptiveConformal
from atom_sdk.science.derivatives import Differentiation, RegressionSystem
from atom_sdk.science.governance import GovernanceConfig, Governor, one_step_predictions
from atom_sdk.science.ledger import HypothesisLedger
from atom_sdk.science.library import Library
from atom_sdk.science.planning import greedy_action
from atom_sdk.science.planning import propose_action as _propose
from atom_sdk.science.sparse import SparseRegressor
from atom_sdk.science.theory import Theory, theory_from_result

__all__ = ["Scientist", "BACKENDS"]

#: Discovery backends a scientist can run on each fit (see ``Scientist(backends=...)``).
BACKENDS = ("sparse", "implicit", "sr")

_STATE_VERSION = 1
_FEATURE_CLIP = 1e6


def _as_model(value: Any, model: type, what: str) -> Any:
    """The pydantic model itself, or a mapping validated into it (an unknown key is an error)."""
    if isinstance(value, model):
        return value
    if isinstance(value, Mapping):
        return model.model_validate(dict(value))
    raise TypeError(f"{what} must be a {model.__name__} (atom_sdk.config) or a mapping, not {type(value).__name__}")


def resolve_settings(settings: Any, tuning: Any = None) -> dict[str, Any]:
    """One plain dict of the run's scientist settings and the method's tuning constants.

    Why a dict: the fitting code reads both kinds the same way, and one lookup table keeps
    ``state_dict`` free of model objects. Defaults live only in ``atom_sdk.config``.
    """
    settings = _as_model(ScientistSettings() if settings is None else settings, ScientistSettings, "settings")
    tuning = _as_model(ScientistTuning() if tuning is None else tuning, ScientistTuning, "tuning")
    if settings.window < settings.min_samples:
        raise ValueError(f"window ({settings.window}) must be >= min_samples ({settings.min_samples})")
    return {**settings.model_dump(), **tuning.model_dump()}


class Scientist:
    """Online law discovery, governance, trust, conformal prediction and planning.

    Parameters
    ----------
    settings:
        :class:`atom_sdk.config.ScientistSettings` (or a mapping of its fields); ``None``: defaults.
    variable_names, control_names:
        Names of the observables ``x`` and controls ``u`` (fixed order).
    dt:
        Time between two observations.
    ledger:
        Optional :class:`HypothesisLedger`; every candidate and decision is appended to it.
    run_id:
        Written in every ledger record.
    seed:
        Seed of the fitting randomness (bagging).
    tuning:
        :class:`atom_sdk.config.ScientistTuning`, the method's constants (``None``: defaults).
    backends:
        Discovery backends run on each fit, each proposing one candidate that the governor
        reviews by the same rules, in this order: ``"sparse"`` (ensembled STLSQ over the library,
        the default), ``"implicit"`` (rational laws ``N/D`` by SINDy-PI,
        :mod:`~atom_sdk.science.implicit`) and ``"sr"`` (symbolic regression,
        :mod:`~atom_sdk.science.symbolic_regression`). With more than the default, every ledger
        record names its ``backend`` and the trust moves once per fit, not once per candidate.
    sr_options:
        Keyword arguments of the ``"sr"`` backend's
        :class:`~atom_sdk.science.symbolic_regression.SymbolicRegressor` (e.g. ``backend``,
        ``max_terms``, ``unary``).
    """

    def __init__(
        self,
        settings: Any,
        variable_names: list[str],
        control_names: list[str],
        dt: float,
        *,
        ledger: HypothesisLedger | None = None,
        run_id: str = "run",
        seed: int = 0,
        tuning: ScientistTuning | None = None,
        backends: tuple[str, ...] | list[str] = ("sparse",),
        sr_options: Mapping[str, Any] | None = None,
    ) -> None:
        self.backends = tuple(str(b) for b in backends)
        bad = [b for b in self.backends if b not in BACKENDS]
        if not self.backends or bad or len(set(self.backends)) != len(self.backends):
            raise ValueError(f"backends must be distinct names from {BACKENDS}, got {backends!r}")
        self.sr_options = dict(sr_options or {})
        self.settings = _as_model(ScientistSettings() if settings is None else settings, ScientistSettings, "settings")
        self._cfg = resolve_settings(self.settings, tuning)
        self.variable_names = [str(v) for v in variable_names]
        self.control_names = [str(c) for c in control_names]
        if float(dt) <= 0:
            raise ValueError("dt must be positive")
        self.dt = float(dt)
        self.run_id = str(run_id)
        self.seed = int(seed)
        self.ledger = ledger
        c = self._cfg
        self.n_vars = len(self.variable_names)
        self.n_ctrl = len(self.control_names)
        self.library = Library(
            self.variable_names,
            self.control_names,
            degree=int(c["library_degree"]),
            include_trig=bool(c["include_trig"]),
        )
        self.regressor = SparseRegressor(
            threshold=float(c["threshold"]),
            selection=str(c["selection"]),
            n_thresholds=int(c["n_thresholds"]),
            ensembled=bool(c["ensembled"]),
            ensemble_size=max(int(c["ensemble_size"]), 2),
            library_bagging=bool(c["library_bagging"]),
        )
        self.governor = Governor(
            GovernanceConfig(
                accept_margin=float(c["accept_margin"]),
                min_inclusion=float(c["min_inclusion"]),
                min_jaccard=float(c["min_jaccard"]),
                duplicate_rtol=float(c["duplicate_rtol"]),
                min_skill=float(c["min_skill"]),
                trust_rise=float(c["trust_rise"]),
                step_method=str(c["step_method"]),
                weak_horizon=bool(c["weak_horizon"]),
            ),
            ledger=ledger,
            run_id=self.run_id,
            dt=self.dt,
        )
        self._window = int(c["window"])
        self._x: deque[np.ndarray] = deque(maxlen=self._window)
        self._u: deque[np.ndarray] = deque(maxlen=self._window)
        self._seg: deque[int] = deque(maxlen=self._window)  # episode (segment) id of each sample
        self._segment = 0
        self._n_obs = 0
        self._last_fit_step: int | None = None
        self._last_residual = np.zeros(self.n_vars)
        self._aci = AdaptiveConformal(
            alpha=float(c["conformal_alpha"]), gamma=float(c["aci_gamma"]), window=self._window, dim=self.n_vars
        )
        self.last_fit_seconds: float | None = None
        #: per backend, fits ``attempted`` (due, with data), ``run`` (a candidate reached the
        #: governor) and ``declined`` (the window could not be fitted); diagnostics, not state
        self.fit_counts: dict[str, dict[str, int]] = {b: {"attempted": 0, "run": 0, "declined": 0}
                                                      for b in self.backends}
        self.declines: list[dict[str, Any]] = []  # the first 20 declines: step, backend, reason
        self._trust_threshold = float(c["trust_gate_threshold"])

    # ------------------------------------------------------------------ properties
    @property
    def trust(self) -> float:
        """Trust in the accepted theory, in [0, 1] (0 before any accepted theory)."""
        return float(self.governor.trust) if self.governor.current is not None else 0.0

    @property
    def theory(self) -> Theory | None:
        """The accepted theory (``None`` before the first acceptance)."""
        return self.governor.current

    @property
    def n_observed(self) -> int:
        return self._n_obs

    @property
    def n_buffered(self) -> int:
        return len(self._x)

    def buffer(self) -> tuple[np.ndarray, np.ndarray]:
        """Buffered ``x (n, n_vars)`` and ``u (n, n_ctrl)``, oldest first."""
        x = np.array(self._x, dtype=float).reshape(-1, self.n_vars)
        u = np.array(self._u, dtype=float).reshape(x.shape[0], self.n_ctrl)
        return x, u

    def segments(self) -> np.ndarray:
        """Episode (segment) id of each buffered sample; :meth:`mark_boundary` starts a new one."""
        return np.array(self._seg, dtype=int)

    def mark_boundary(self) -> None:
        """Declare an episode boundary (e.g. after observing a terminal state and before the
        world is reset): no interval between the last buffered sample and the next one is used
        for fitting, held-out scoring, residuals or conformal updates. The control passed with
        the last sample before the boundary is ignored."""
        if self._seg and self._seg[-1] == self._segment:
            self._segment += 1
        self._last_residual = np.zeros(self.n_vars)

    # ------------------------------------------------------------------ streaming
    def _check_xu(self, x: Any, u: Any) -> tuple[np.ndarray, np.ndarray]:
        xa = np.asarray(x, dtype=float).reshape(-1)
        ua = np.asarray(u if u is not None else np.zeros(self.n_ctrl), dtype=float).reshape(-1)
        if xa.size != self.n_vars:
            raise ValueError(f"x has {xa.size} entries, expected {self.n_vars} ({self.variable_names})")
        if ua.size != self.n_ctrl:
            raise ValueError(f"u has {ua.size} entries, expected {self.n_ctrl} ({self.control_names})")
        return xa, ua

    def observe(self, x: np.ndarray, u: np.ndarray) -> None:
        """Buffer one step: state ``x_t`` and the control ``u_t`` applied from it (see module doc)."""
        xa, ua = self._check_xu(x, u)
        if not (np.all(np.isfinite(xa)) and np.all(np.isfinite(ua))):
            raise ValueError("observe() got NaN/Inf in x or u; the scientist only buffers finite samples")
        theory = self.theory
        if theory is not None and self._x and self._seg[-1] == self._segment:
            pred = self._step(theory, self._x[-1], self._u[-1])
            self._last_residual = xa - pred
            self._aci.update(pred, xa)
        self._x.append(xa)
        self._u.append(ua)
        self._seg.append(self._segment)
        self._n_obs += 1

    def _step(self, theory: Theory, x: np.ndarray, u: np.ndarray) -> np.ndarray:
        with np.errstate(all="ignore"):
            out = theory.step(x, u if self.n_ctrl else None, self.dt, self._cfg["step_method"])
        return np.where(np.isfinite(out), out, x)

    def update(self, step: int) -> list[dict[str, Any]]:
        """Refit if due (every ``fit_every`` steps once ``min_samples`` are buffered).

        Returns the governance decisions made (each also appended to the ledger): a list with
        zero or one decision record ``{"seq", "time", "run_id", "kind": "accepted"|"rejected",
        "equations", "scores", "reasons", "step", "fit", ...}``.
        """
        if not self._fit_due(step):
            return []
        import time

        t0 = time.perf_counter()
        self._last_fit_step = int(step)
        x, u = self.buffer()
        seg = self.segments()
        n_train = _n_train(len(x), self._cfg)
        x_ho, u_ho = x[n_train - 1 :], u[n_train - 1 :]
        valid_ho = seg[n_train:] == seg[n_train - 1 : -1]  # held-out intervals inside one episode
        if valid_ho.sum() < 4:
            return self._decline_all(step, "fewer than 4 held-out intervals")
        systems = self._segment_systems(x[:n_train], u[:n_train], seg[:n_train])
        if not systems:
            return self._decline_all(step, "no episode piece long enough for the derivative filter")
        system = RegressionSystem.concatenate(systems)
        if system.n_rows < self.library.n_terms + 2:
            return self._decline_all(step, f"{system.n_rows} regression rows for {self.library.n_terms} terms")
        candidates = self._candidates(system, int(step), n_train, x[:n_train], u[:n_train], seg[:n_train])
        fit_info = {
            "n_train": n_train,
            "n_holdout": int(valid_ho.sum()),
            "n_rows": system.n_rows,
            "n_eff": system.n_eff,
            "n_segments": len(systems),
        }
        u_ctrl = u_ho if self.n_ctrl else None
        tagged = self.backends != ("sparse",)  # the default run's records stay exactly as they were
        decisions: list[dict[str, Any]] = []
        accepted = None
        for i, (backend, candidate) in enumerate(candidates):
            decision = self.governor.review(
                candidate, x_ho, u_ctrl, dt=self.dt, step=int(step), fit_info=fit_info, valid=valid_ho,
                x_train=x[:n_train], valid_train=seg[1:n_train] == seg[: n_train - 1],
                backend=backend if tagged else None, fold_trust=accepted is None and i == len(candidates) - 1,
            )
            decisions.append(decision)
            if decision["kind"] == "accepted":
                accepted = candidate
        if accepted is not None:
            resid = x_ho[1:] - one_step_predictions(accepted, x_ho, u_ctrl, self.dt, str(self._cfg["step_method"]))
            self._aci.reset(scores=np.abs(resid[valid_ho]))
            self._last_residual = np.zeros(self.n_vars)
        self.last_fit_seconds = time.perf_counter() - t0
        return decisions

    def _count(self, backend: str, outcome: str, step: int, reason: str = "") -> None:
        counts = self.fit_counts.setdefault(backend, {"attempted": 0, "run": 0, "declined": 0})
        counts["attempted"] += 1
        counts[outcome] += 1
        if outcome == "declined" and len(self.declines) < 20:
            self.declines.append({"step": int(step), "backend": backend, "reason": reason})

    def _decline_all(self, step: int, reason: str) -> list[dict[str, Any]]:
        for backend in self.backends:
            self._count(backend, "declined", step, reason)
        return []

    def _fit_due(self, step: int) -> bool:
        c = self._cfg
        if not c["enabled"] or len(self._x) < int(c["min_samples"]):
            return False
        return self._last_fit_step is None or int(step) - self._last_fit_step >= int(c["fit_every"])

    def _segment_systems(self, x: np.ndarray, u: np.ndarray, seg: np.ndarray) -> list[RegressionSystem]:
        """One regression system per episode piece of the training window (pieces too short
        for the derivative filter are skipped); the Savitzky-Golay window shrinks to fit short pieces."""
        c = self._cfg
        t = np.arange(len(x)) * self.dt
        systems = []
        for s_id in np.unique(seg):
            idx = np.flatnonzero(seg == s_id)  # contiguous: ids only increase
            sg_window = min(int(c["sg_window"]), max(3, (len(idx) - 1) // 2))
            try:
                diff = Differentiation(
                    method=str(c["derivative"]),
                    sg_window=sg_window,
                    sg_polyorder=min(int(c["sg_polyorder"]), max(sg_window - 2, 1)),
                    weak_window=c["weak_window"],
                )
                systems.append(diff.system(self.library, x[idx], t[idx], u[idx] if self.n_ctrl else None))
            except ValueError:  # episode piece too short for the filter
                continue
        return systems

    def _candidates(
        self, system: RegressionSystem, step: int, n_train: int, x: np.ndarray, u: np.ndarray, seg: np.ndarray
    ) -> list[tuple[str, Theory]]:
        """One candidate per backend, in ``backends`` order; a backend that cannot fit this
        window (too few rows, no finite candidate) proposes nothing."""
        out: list[tuple[str, Theory]] = []
        for backend in self.backends:
            if backend == "sparse":
                out.append((backend, self._fit(system, step, n_train)))
                self._count(backend, "run", step)
                continue
            try:
                theory = self._fit_pointwise(backend, step, n_train, x, u, seg)
            except ValueError as exc:
                self._count(backend, "declined", step, str(exc))
                continue
            out.append((backend, theory))
            self._count(backend, "run", step)
        return out

    def _fit_pointwise(
        self, backend: str, step: int, n_train: int, x: np.ndarray, u: np.ndarray, seg: np.ndarray
    ) -> Theory:
        """The ``"implicit"`` or ``"sr"`` candidate of the training window's episode pieces: the
        implicit law in the weak (integral) form, which needs no pointwise derivatives and keeps
        its support under measurement noise (``science.implicit_weak``); symbolic regression on
        pointwise Savitzky-Golay derivatives."""
        from atom_sdk.science.implicit import pointwise_rows

        c = self._cfg
        t = np.arange(len(x)) * self.dt
        pieces = [np.flatnonzero(seg == s_id) for s_id in np.unique(seg)]
        pieces = [idx for idx in pieces if len(idx) >= 7]
        if not pieces:
            raise ValueError("no episode piece is long enough for derivatives")
        us = [u[i] for i in pieces] if self.n_ctrl else None
        if backend == "implicit":
            from atom_sdk.science.implicit_weak import fit_implicit_trajectories

            lib = Library(self.variable_names, self.control_names, degree=int(c["library_degree"]))
            return fit_implicit_trajectories(lib, [x[i] for i in pieces], [t[i] for i in pieces], us,
                                             metadata={"dt": self.dt, "step": step, "derivative": "weak",
                                                       "n_train": n_train})
        window = min(int(c["sg_window"]), max(5, min(len(i) for i in pieces) // 2 * 2 - 1))
        diff = Differentiation(sg_window=window, sg_polyorder=min(int(c["sg_polyorder"]), window - 2))
        X, XD, U, B = pointwise_rows([x[i] for i in pieces], [t[i] for i in pieces], us, diff)
        meta = {"dt": self.dt, "step": step, "derivative": "smoothed_fd", "n_train": n_train}
        from atom_sdk.science.symbolic_regression import SymbolicRegressor, sr_theory

        opts = {"random_state": [self.seed, step & 0x7FFFFFFF], **self.sr_options}
        return sr_theory(self.variable_names, self.control_names, X, XD, U, SymbolicRegressor(**opts), metadata=meta)

    def _fit(self, system: RegressionSystem, step: int, n_train: int) -> Theory:
        """The candidate theory of one fit (bagging seeded by the run seed and the step)."""
        c = self._cfg
        rng = np.random.default_rng([self.seed, step & 0x7FFFFFFF])
        result = self.regressor.fit_system(system, rng)
        meta = {
            "dt": self.dt,
            "step": step,
            "derivative": c["derivative"],
            "selection": c["selection"],
            "ensembled": bool(c["ensembled"]),
            "n_train": n_train,
        }
        return theory_from_result(self.library, result, meta)

    # ------------------------------------------------------------------ predictions & features
    def predict_next(self, x: np.ndarray, u: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Predicted next state and its conformal interval ``(mean, lower, upper)``.

        Without an accepted theory: persistence (``mean = x``) with an infinite interval.
        """
        xa, ua = self._check_xu(x, u)
        theory = self.theory
        if theory is None:
            return xa.copy(), np.full(self.n_vars, -np.inf), np.full(self.n_vars, np.inf)
        mean = self._step(theory, xa, ua)
        lo, hi = self._aci.interval(mean)
        return mean, lo, hi

    @staticmethod
    def feature_dim(n_vars: int, n_ctrl: int) -> int:
        """Size of :meth:`theory_features`: ``3 * n_vars + 2`` (independent of ``n_ctrl``)."""
        return 3 * int(n_vars) + 2

    def theory_features(self, x: np.ndarray, u: np.ndarray) -> np.ndarray:
        """Theory-derived features for the agent, ``float32`` of size ``feature_dim``.

        Layout (``n = n_vars``), all zeros before a theory is accepted:

        * ``[0, n)``: predicted next state ``x_hat_{t+1} = step(x, u)`` under the accepted theory
          (``u`` is the control about to be applied, or the last applied one).
        * ``[n, 2n)``: residual of the last one-step prediction, ``x_t - step(x_{t-1}, u_{t-1})``
          (reset to 0 when a new theory is accepted).
        * ``[2n, 3n)``: widths ``upper - lower`` of the conformal interval of the next state
          (an infinite width, i.e. too few calibration scores, is reported as ``1e6``).
        * ``3n``: trust in [0, 1].
        * ``3n + 1``: has-theory flag (1.0 once a theory has been accepted, else 0.0).

        Values are clipped to ``[-1e6, 1e6]`` and NaN/Inf are replaced, so the vector is always finite.
        """
        n = self.n_vars
        out = np.zeros(self.feature_dim(n, self.n_ctrl), dtype=np.float64)
        theory = self.theory
        if theory is not None:
            mean, lo, hi = self.predict_next(x, u)
            out[:n] = mean
            out[n : 2 * n] = self._last_residual
            out[2 * n : 3 * n] = hi - lo
            out[3 * n] = self.trust
            out[3 * n + 1] = 1.0
        out = np.nan_to_num(out, nan=0.0, posinf=_FEATURE_CLIP, neginf=-_FEATURE_CLIP)
        return np.clip(out, -_FEATURE_CLIP, _FEATURE_CLIP).astype(np.float32)

    # ------------------------------------------------------------------ control & planning
    def greedy_control(
        self, x: np.ndarray, target: np.ndarray, weights: np.ndarray, low: np.ndarray, high: np.ndarray
    ) -> np.ndarray:
        """Theory-derived controller: ``u`` in ``[low, high]`` minimising
        ``sum_i weights_i (x_hat_next_i(u) - target_i)^2``.

        Returns ``clip(0, low, high)`` when there is no theory or its trust is below
        ``settings.trust_gate_threshold``.
        """
        lo = np.asarray(low, dtype=float).reshape(-1)
        hi = np.asarray(high, dtype=float).reshape(-1)
        theory = self.theory
        if theory is None or self.trust < self._trust_threshold or self.n_ctrl == 0:
            return np.clip(np.zeros(lo.size), lo, hi)
        xa = np.asarray(x, dtype=float).reshape(-1)
        return greedy_action(
            theory,
            xa,
            np.asarray(target, dtype=float),
            np.asarray(weights, dtype=float),
            lo,
            hi,
            self.dt,
            str(self._cfg["step_method"]),
        )

    def propose_action(self, x: np.ndarray, low: np.ndarray, high: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Exploratory action in ``[low, high]`` that maximises the ensemble's disagreement about
        the next state (uniformly random before a theory exists); see :mod:`~atom_sdk.science.planning`."""
        xb, _ = self.buffer()
        scale = xb.std(axis=0) if xb.shape[0] > 1 else None
        return _propose(self.theory, np.asarray(x, dtype=float).reshape(-1), low, high, rng, dt=self.dt, scale=scale)

    def laws(self) -> list[dict[str, Any]]:
        """Accepted equations as dicts (string form, kept terms, coefficients, std, inclusion)."""
        return [] if self.theory is None else self.theory.laws()

    # ------------------------------------------------------------------ persistence
    def state_dict(self) -> dict[str, Any]:
        """JSON-serialisable state; :meth:`load_state_dict` on a fresh scientist resumes exactly."""
        x, u = self.buffer()
        return {
            "version": _STATE_VERSION,
            "variable_names": self.variable_names,
            "control_names": self.control_names,
            "dt": self.dt,
            "seed": self.seed,
            "run_id": self.run_id,
            "n_obs": self._n_obs,
            "last_fit_step": self._last_fit_step,
            "buffer_x": x.tolist(),
            "buffer_u": u.tolist(),
            "buffer_segment": self.segments().tolist(),
            "segment": self._segment,
            "last_residual": self._last_residual.tolist(),
            "governor": self.governor.state_dict(),
            "aci": self._aci.state_dict(),
        }

    def load_state_dict(self, d: dict[str, Any]) -> None:
        if int(d.get("version", -1)) != _STATE_VERSION:
            raise ValueError(f"unsupported scientist state version {d.get('version')!r}")
        if list(d["variable_names"]) != self.variable_names or list(d["control_names"]) != self.control_names:
            raise ValueError(
                f"state is for variables {d['variable_names']} / controls {d['control_names']}, "
                f"this scientist has {self.variable_names} / {self.control_names}"
            )
        if float(d["dt"]) != self.dt:
            raise ValueError(f"state was saved with dt={d['dt']}, this scientist has dt={self.dt}")
        self.seed = int(d["seed"])
        self._n_obs = int(d["n_obs"])
        self._last_fit_step = None if d["last_fit_step"] is None else int(d["last_fit_step"])
        self._x = deque((np.asarray(r, dtype=float) for r in d["buffer_x"]), maxlen=self._window)
        self._u = deque((np.asarray(r, dtype=float).reshape(self.n_ctrl) for r in d["buffer_u"]), maxlen=self._window)
        self._seg = deque((int(v) for v in d["buffer_segment"]), maxlen=self._window)
        self._segment = int(d["segment"])
        self._last_residual = np.asarray(d["last_residual"], dtype=float)
        self.governor.load_state_dict(d["governor"])
        self._aci.load_state_dict(d["aci"])


def _n_train(n: int, cfg: Mapping[str, Any]) -> int:
    """Training samples of a window of ``n``: the rest (at least ``min_holdout``, at most
    ``n - 4``) is held out for governance and calibration."""
    h = max(int(cfg["min_holdout"]), int(round(float(cfg["holdout_fraction"]) * n)))
    return n - min(h, n - 4)
