"""Governance: which candidate laws become the accepted theory, and how far to trust it.

A candidate is **accepted** only if all of these hold (each check is reported, pass or fail,
in the decision's ``reasons``):

1. *Held-out improvement*: on the held-out window (samples the candidate was not fitted on),
   its one-step normalised MSE is at most ``(1 - accept_margin)`` times the baseline's, and its
   held-out R^2 of increments is at least ``min_skill``. The baseline is the best of the current
   theory (when there is one) and the *trivial predictors* (:func:`null_scores`), which hold no
   law: persistence ``x_next = x`` (``dx/dt = 0``), the training-window mean ``x_next =
   mean(x_train)``, and the training-window drift ``x_next = x + mean(increment_train)``
   (``dx/dt`` = the training window's mean derivative); per variable the best of the three is
   taken. Their constants come from the training window only (the samples the candidate was
   fitted on), never from the held-out window, so the baseline does not peek at the data it is
   scored on. Why not persistence alone: on stationary lawless data persistence is the worst
   one-step predictor (nMSE ~ 1, the mean scores ~ 0.5), so any fit pulled towards the mean
   beat it and noise got accepted as a law (the integrity benchmark's null trial); a law must
   beat "no law", and each of these is what "no law" predicts. Without training data
   (``x_train=None``) only persistence is available. Opt-in (``GovernanceConfig.weak_horizon``):
   a weak-form law is judged on ``h``-step increments instead (:func:`weak_horizon`), every
   predictor stepped or moved ``h`` steps; off by default, and other laws are always one-step.
2. *Ensemble stability*: every kept term is kept by at least ``min_inclusion`` of the
   ensemble members (not applicable to single fits, reported as such).
3. *Window stability*: the Jaccard similarity of its support with the candidate fitted on the
   previous window is at least ``min_jaccard`` (the first candidate has no previous window and
   cannot be accepted).
4. *Novelty*: it is not a duplicate of the current theory (same support and every kept
   coefficient within ``duplicate_rtol`` relative difference).

One-step predictions step the theory over each held-out interval with the control held
(``step_method``, RK4 by default). Scores are normalised per variable by the variance of the
observed increments ``x[t+1] - x[t]``: ``nmse = MSE / Var(increment)`` and ``r2 = 1 - nmse``, so
persistence scores ``nmse ~ 1 + mean^2/var`` and a law that predicts the changes perfectly
scores 0.

**Trust** in [0, 1] follows the held-out quality ``q`` of the accepted theory on the most recent
held-out window, smoothed upwards (``trust += trust_rise * (q - trust)``) and followed immediately
downwards (``trust = q`` when ``q < trust``), so it decays as soon as the theory starts failing.
Trust is 0 while there is no accepted theory. The quality is

    q = max(clip(mean_r2, 0, 1),  q_acc * mean_i min(1, (rmse_acc_i / rmse_i)^2))

where ``q_acc`` and ``rmse_acc`` are the theory's held-out quality and one-step RMSE when it was
accepted. The first part is the skill at predicting the observed changes; the second keeps a
correct theory trusted while the system is quiet (increments below the noise, where any R^2 is
~0) as long as its errors stay at the level they had when it was accepted, and vanishes as soon
as they grow.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from atom_sdk.config import ScientistSettings, ScientistTuning
from atom_sdk.science.ledger import HypothesisLedger, jsonable
from atom_sdk.science.theory import Theory

__all__ = [
    "GovernanceConfig",
    "HeldOutScore",
    "Governor",
    "one_step_predictions",
    "heldout_score",
    "null_scores",
    "jaccard",
    "is_duplicate",
    "structural_support",
]


def _default(name: str) -> Any:
    """A governance setting's default, from its one definition in ``atom_sdk.config``."""
    for model in (ScientistSettings, ScientistTuning):
        if name in model.model_fields:
            return model.model_fields[name].default
    raise KeyError(name)


@dataclass
class GovernanceConfig:
    """The governor's thresholds; defaults (and meanings, units, ranges) are those of
    ``config.ScientistSettings``/``ScientistTuning``, so a standalone ``Governor`` judges as a run does."""

    accept_margin: float = _default("accept_margin")
    min_inclusion: float = _default("min_inclusion")
    min_jaccard: float = _default("min_jaccard")
    duplicate_rtol: float = _default("duplicate_rtol")
    duplicate_atol: float = 1e-9  # absolute floor of the duplicate test, for coefficients near zero
    min_skill: float = _default("min_skill")
    trust_rise: float = _default("trust_rise")
    step_method: str = _default("step_method")
    #: opt-in: judge a weak-form law (``metadata["derivative"] == "weak"``) on ``h``-step increments
    #: (``h`` half its narrowest test-function support), see :func:`weak_horizon`; off: one step
    weak_horizon: bool = _default("weak_horizon")


@dataclass
class HeldOutScore:
    """One-step prediction quality on a held-out window (arrays per state variable)."""

    mse: np.ndarray
    nmse: np.ndarray
    r2: np.ndarray
    rmse: np.ndarray
    residuals: np.ndarray = field(repr=False)

    @property
    def nmse_mean(self) -> float:
        return float(np.mean(self.nmse))

    @property
    def r2_mean(self) -> float:
        return float(np.mean(self.r2))

    @property
    def quality(self) -> float:
        """``clip(mean R^2 of increments, 0, 1)``."""
        v = self.r2_mean
        return float(np.clip(v, 0.0, 1.0)) if np.isfinite(v) else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "nmse": self.nmse.tolist(),
            "nmse_mean": self.nmse_mean,
            "r2": self.r2.tolist(),
            "r2_mean": self.r2_mean,
            "rmse": self.rmse.tolist(),
        }


def one_step_predictions(
    theory: Theory | None, x: np.ndarray, u: np.ndarray | None, dt: float, method: str = "rk4"
) -> np.ndarray:
    """Predictions of ``x[1:]`` from ``x[:-1]`` (control ``u[:-1]`` held); persistence if no theory."""
    x = np.asarray(x, dtype=float)
    if theory is None:
        return x[:-1].copy()
    uu = None if u is None or np.size(u) == 0 else np.asarray(u, dtype=float)[:-1]
    with np.errstate(all="ignore"):
        pred = theory.step(x[:-1], uu, dt, method)
    # a diverging prediction counts as a huge (finite) error instead of poisoning the scores
    return np.where(np.isfinite(pred), pred, 1e150)


def h_step_predictions(
    theory: Theory | None, x: np.ndarray, u: np.ndarray | None, dt: float, method: str, h: int
) -> np.ndarray:
    """Predictions of ``x[h:]`` from ``x[:-h]``, stepping the theory ``h`` times (control ``u[t+j]``
    held over step ``j``); persistence if no theory. ``h = 1`` is :func:`one_step_predictions`."""
    x = np.asarray(x, dtype=float)
    if h == 1 or theory is None:
        return one_step_predictions(theory, x, u, dt, method) if h == 1 else x[:-h].copy()
    uu = None if u is None or np.size(u) == 0 else np.asarray(u, dtype=float)
    n = x.shape[0] - h
    y = x[:n].copy()
    with np.errstate(all="ignore"):
        for j in range(h):
            y = theory.step(y, None if uu is None else uu[j : j + n], dt, method)
    return np.where(np.isfinite(y), y, 1e150)


def _valid_h(valid: np.ndarray | None, h: int) -> np.ndarray | None:
    """``h``-step windows whose every interval is valid."""
    if valid is None or h == 1:
        return valid
    v = np.asarray(valid, dtype=bool)
    return np.lib.stride_tricks.sliding_window_view(v, h).all(axis=1) if v.size >= h else np.zeros(0, bool)


def weak_horizon(candidate: Theory, n_holdout: int, valid: np.ndarray | None = None, min_windows: int = 8) -> int:
    """The ``h`` at which :class:`GovernanceConfig` ``weak_horizon`` judges a weak-form law: half of
    its narrowest test-function support (the fit averaged over that scale, so its one-step
    increments are not what it claims to predict; under measurement noise they are mostly noise:
    with dt = 0.01 and 5 % noise the correct Michaelis-Menten law scores one-step nMSE 0.987 vs
    persistence's 1.001, and at 25 steps 0.37 vs 1.47), at most what leaves ``min_windows``
    held-out windows; 1 for any other law."""
    windows = candidate.metadata.get("weak_windows") if candidate.metadata.get("derivative") == "weak" else None
    if not windows:
        return 1
    h = max(1, int(min(windows)) // 2)
    while h > 1:
        vh = _valid_h(valid, h)
        if (n_holdout - h if vh is None else int(vh.sum())) >= min_windows:
            return h
        h //= 2
    return 1


def heldout_score(
    theory: Theory | None,
    x: np.ndarray,
    u: np.ndarray | None,
    dt: float,
    method: str = "rk4",
    valid: np.ndarray | None = None,
    horizon: int = 1,
) -> HeldOutScore:
    """One-step (``horizon``-step) scores on ``x (n, n_vars)``; ``valid (n-1,)`` masks the
    intervals to use (e.g. not across an episode boundary)."""
    x = np.asarray(x, dtype=float)
    h = int(horizon)
    return _score_predictions(h_step_predictions(theory, x, u, dt, method, h), x, _valid_h(valid, h), h)


def _score_predictions(pred: np.ndarray, x: np.ndarray, valid: np.ndarray | None, h: int = 1) -> HeldOutScore:
    """Scores of predictions ``pred`` of ``x[h:]`` (see :func:`heldout_score`)."""
    resid = x[h:] - pred
    inc = x[h:] - x[:-h]
    if valid is not None:
        resid, inc = resid[valid], inc[valid]
    with np.errstate(all="ignore"):
        mse = np.mean(resid**2, axis=0)
        var = np.var(inc, axis=0)
        scale = np.where(var > 0, var, np.maximum(np.mean(inc**2, axis=0), 1e-300))
        nmse = np.minimum(mse / scale, 1e12)
    return HeldOutScore(mse=mse, nmse=nmse, r2=1.0 - nmse, rmse=np.sqrt(mse), residuals=resid)


def null_scores(
    x: np.ndarray,
    valid: np.ndarray | None = None,
    x_train: np.ndarray | None = None,
    valid_train: np.ndarray | None = None,
    horizon: int = 1,
) -> dict[str, HeldOutScore]:
    """Held-out scores on ``x`` of the trivial predictors, which hold no law (see check 1 in the
    module docstring): ``persistence`` always; with a training window ``x_train`` (``valid_train``
    masks its intervals), also ``window_mean`` (``x_next = mean(x_train)``) and ``mean_drift``
    (``x_next = x + mean(x_train[t+1] - x_train[t])``). Their constants are computed from
    ``x_train`` only, so nothing is learnt from the held-out window. ``horizon``: scored on
    ``h``-step increments (the drift predictor then moves ``h`` mean increments)."""
    x = np.asarray(x, dtype=float)
    h = int(horizon)
    valid = _valid_h(valid, h)
    out = {"persistence": _score_predictions(x[:-h].copy(), x, valid, h)}
    if x_train is None:
        return out
    xt = np.asarray(x_train, dtype=float).reshape(-1, x.shape[1])
    if xt.shape[0] >= 1:
        out["window_mean"] = _score_predictions(np.broadcast_to(xt.mean(axis=0), x[:-h].shape).copy(), x, valid, h)
    inc = np.diff(xt, axis=0)
    if valid_train is not None:
        inc = inc[np.asarray(valid_train, dtype=bool)]
    if inc.shape[0] >= 1:
        out["mean_drift"] = _score_predictions(x[:-h] + h * inc.mean(axis=0), x, valid, h)
    return out


def structural_support(theory: Theory) -> frozenset[Any]:
    """The law's support as compared across windows: ``metadata["structure"]`` when the backend
    gives one (a rational or symbolic law's terms carry fitted constants in their names, so two
    fits of one law would never share names), else the kept ``(target, term)`` pairs."""
    structure = theory.metadata.get("structure")
    if structure is None:
        return theory.support_set()
    return frozenset(tuple(str(v) for v in pair) for pair in structure)


def jaccard(a: frozenset[Any] | set[Any], b: frozenset[Any] | set[Any]) -> float:
    if not a and not b:
        return 1.0
    return len(a & b) / len(a | b)


def is_duplicate(candidate: Theory, current: Theory | None, rtol: float = 0.05, atol: float = 1e-9) -> bool:
    """Same support and every kept coefficient within ``rtol`` (relative) of the current one."""
    if current is None or candidate.support_set() != current.support_set():
        return False
    if candidate.term_names != current.term_names:
        return False
    a = candidate.coefficient_matrix()
    b = current.coefficient_matrix()
    sup = current.support_matrix()
    return bool(np.all(np.abs(a[sup] - b[sup]) <= rtol * np.abs(b[sup]) + atol))


class Governor:
    """Reviews candidate theories against the current one and keeps the trust score.

    Every :meth:`review` writes a ``candidate`` record and then an ``accepted``/``rejected``
    record (with reasons and scores) to the ledger, when one is given.
    """

    def __init__(
        self,
        config: GovernanceConfig | None = None,
        ledger: HypothesisLedger | None = None,
        run_id: str = "run",
        dt: float | None = None,
    ) -> None:
        self.config = config or GovernanceConfig()
        self.ledger = ledger
        self.run_id = run_id
        self.dt = dt
        self.current: Theory | None = None
        self.trust: float = 0.0
        self.previous_support: frozenset[tuple[str, str]] | None = None
        # window stability compares a candidate with the previous one *of its own backend*
        self.previous_support_by_backend: dict[str, frozenset[tuple[str, str]]] = {}
        self.n_records = 0
        self.last_quality: float | None = None
        self.accepted_quality: float = 0.0
        self.accepted_rmse: np.ndarray | None = None

    # ------------------------------------------------------------------ records
    def _record(self, kind: str, **fields: Any) -> dict[str, Any]:
        if self.ledger is not None:
            rec = self.ledger.append(kind, run_id=self.run_id, **fields)
        else:
            rec = {"seq": self.n_records, "time": None, "run_id": self.run_id, "kind": kind}
            rec.update(jsonable(fields))
        self.n_records += 1
        return rec

    # ------------------------------------------------------------------ decisions
    def review(
        self,
        candidate: Theory,
        x_holdout: np.ndarray,
        u_holdout: np.ndarray | None,
        *,
        dt: float | None = None,
        step: int | None = None,
        fit_info: dict[str, Any] | None = None,
        valid: np.ndarray | None = None,
        x_train: np.ndarray | None = None,
        valid_train: np.ndarray | None = None,
        backend: str | None = None,
        fold_trust: bool = True,
    ) -> dict[str, Any]:
        """Decide on ``candidate`` using the held-out window (``valid`` masks its intervals);
        ``x_train`` (the samples the candidate was fitted on; ``valid_train`` masks its intervals)
        sets the trivial predictors' constants (check 1). Returns the decision record.

        ``backend`` names the discovery backend that proposed the candidate (``"sparse"``,
        ``"implicit"``, ``"sr"``): it is written in both records, and window stability compares
        with that backend's previous candidate (``None``: the sparse default, records unchanged).
        ``fold_trust=False`` leaves the trust as it is when the candidate is rejected, so that a
        fit proposing several candidates on one held-out window moves the trust once, not once
        per candidate; an acceptance always sets it."""
        dt = float(dt if dt is not None else (self.dt if self.dt is not None else candidate.metadata.get("dt", 1.0)))
        scored = self._heldout_scores(candidate, x_holdout, u_holdout, dt, valid)
        cand, base = scored[0], scored[1]
        passed, reasons, scores, sup = self._judge(candidate, scored, x_holdout, valid, x_train, valid_train, backend)
        extra = _review_extra(candidate, step, fit_info, backend)
        equations = candidate.laws()
        self._record("candidate", equations=equations, scores=scores, reasons=[], **extra)
        self._remember_support(sup, backend)
        self._settle(passed, candidate, cand, base, fold_trust)
        scores["trust"] = self.trust
        kind = "accepted" if passed else "rejected"
        return self._record(kind, equations=equations, scores=scores, reasons=reasons, **extra)

    def _judge(
        self, candidate: Theory, scored: tuple[HeldOutScore, HeldOutScore, int, HeldOutScore, HeldOutScore],
        x_holdout: np.ndarray, valid: np.ndarray | None, x_train: np.ndarray | None,
        valid_train: np.ndarray | None, backend: str | None,
    ) -> tuple[bool, list[str], dict[str, Any], frozenset[Any]]:
        """The four checks (improvement over the bar, ensemble, window stability, novelty): the verdict, its
        reasons, the scores the records carry and the candidate's support."""
        cfg = self.config
        cand, base, h, judged, judged_base = scored
        nulls = null_scores(x_holdout, valid, x_train, valid_train, horizon=h)
        sup = structural_support(candidate)
        previous = self.previous_support if backend in (None, "sparse") else self.previous_support_by_backend.get(backend)
        improves, reasons, bar = _improvement_check(judged, judged_base if self.current is not None else None, nulls,
                                                    cfg)
        if h > 1:
            reasons[0] = f"{h}-step increments (weak-form law): " + reasons[0].replace("one-step ", "")
        stable, min_incl, why_stable = _ensemble_check(candidate, cfg)
        window_ok, jac, why_window = _window_check(sup, previous, cfg)
        dup = is_duplicate(candidate, self.current, cfg.duplicate_rtol, cfg.duplicate_atol)
        reasons += [why_stable, why_window, _novelty_reason(dup, cfg)]
        passed = improves and stable and window_ok and not dup
        scores = {
            "candidate": cand.to_dict(),
            "baseline": base.to_dict(),
            "baseline_kind": "theory" if self.current is not None else "persistence",
            "null": {name: sc.nmse.tolist() for name, sc in nulls.items()},
            "bar_kind": bar["kind"],
            "bar_nmse": bar["nmse"],
            "min_inclusion": min_incl,
            "jaccard": jac,
            "duplicate": dup,
            "fit_r2": [float(eq.r2) for eq in candidate.equations],
        }
        if h > 1:
            scores.update(horizon=h, candidate_horizon=judged.to_dict())
        return passed, reasons, scores, sup

    def _heldout_scores(
        self, candidate: Theory, x_holdout: np.ndarray, u_holdout: np.ndarray | None, dt: float,
        valid: np.ndarray | None,
    ) -> tuple[HeldOutScore, HeldOutScore, int, HeldOutScore, HeldOutScore]:
        """One-step scores of the candidate and the current theory, and those that check 1 judges: at the weak
        horizon ``h`` for a weak-form law (its one-step increments are not what it predicts), else the same."""
        method = self.config.step_method
        cand = heldout_score(candidate, x_holdout, u_holdout, dt, method, valid)
        base = heldout_score(self.current, x_holdout, u_holdout, dt, method, valid)
        h = weak_horizon(candidate, len(x_holdout) - 1, valid) if self.config.weak_horizon else 1
        if h > 1:  # check 1 on h-step increments; trust and calibration stay one-step
            judged = heldout_score(candidate, x_holdout, u_holdout, dt, method, valid, horizon=h)
            judged_base = heldout_score(self.current, x_holdout, u_holdout, dt, method, valid, horizon=h)
        else:
            judged, judged_base = cand, base
        return cand, base, h, judged, judged_base

    def _remember_support(self, sup: frozenset[Any], backend: str | None) -> None:
        """Keep the candidate's support for the next window-stability check of its own backend."""
        if backend in (None, "sparse"):
            self.previous_support = sup
        else:
            self.previous_support_by_backend[str(backend)] = sup

    def _settle(self, passed: bool, candidate: Theory, cand: HeldOutScore, base: HeldOutScore,
                fold_trust: bool) -> None:
        """Adopt an accepted candidate and fold the held-out quality into the trust (a rejection only when
        ``fold_trust``): the accepted law's quality, else the current theory's on this window."""
        if passed:
            self.current = candidate
            self.accepted_quality = cand.quality
            self.accepted_rmse = cand.rmse.copy()
            q = cand.quality
        else:
            q = self.quality(base) if self.current is not None else 0.0
        if passed or fold_trust:
            self.update_trust(q if self.current is not None else 0.0, reset=passed)

    def update_trust(self, quality: float, *, reset: bool = False) -> float:
        """Fold a new held-out quality into the trust score (see module docstring)."""
        q = float(np.clip(quality, 0.0, 1.0)) if np.isfinite(quality) else 0.0
        self.last_quality = q
        if self.current is None:
            self.trust = 0.0
        elif reset and self.trust == 0.0:
            self.trust = self.config.trust_rise * q
        elif q < self.trust:
            self.trust = q
        else:
            self.trust = self.trust + self.config.trust_rise * (q - self.trust)
        return self.trust

    def quality(self, score: HeldOutScore) -> float:
        """Held-out quality of the accepted theory (see the module docstring)."""
        q = score.quality
        if self.accepted_rmse is not None and score.rmse.shape == self.accepted_rmse.shape:
            with np.errstate(all="ignore"):
                ratio = np.where(score.rmse > 0, self.accepted_rmse / score.rmse, 1.0)
            consistent = float(np.mean(np.minimum(1.0, np.nan_to_num(ratio, nan=0.0)) ** 2))
            q = max(q, self.accepted_quality * consistent)
        return float(np.clip(q, 0.0, 1.0))

    def assess(
        self,
        x_holdout: np.ndarray,
        u_holdout: np.ndarray | None,
        dt: float | None = None,
        valid: np.ndarray | None = None,
    ) -> float:
        """Update trust from a new held-out window without a candidate; returns the trust."""
        if self.current is None:
            return self.update_trust(0.0)
        dt = float(dt if dt is not None else self.dt)
        score = heldout_score(self.current, x_holdout, u_holdout, dt, self.config.step_method, valid)
        return self.update_trust(self.quality(score))

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict[str, Any]:
        return {
            "config": asdict(self.config),
            "current": None if self.current is None else self.current.to_dict(),
            "trust": self.trust,
            "previous_support": None
            if self.previous_support is None
            else sorted(list(p) for p in self.previous_support),
            "n_records": self.n_records,
            "last_quality": self.last_quality,
            "accepted_quality": self.accepted_quality,
            "accepted_rmse": None if self.accepted_rmse is None else self.accepted_rmse.tolist(),
        } | (
            {"previous_support_by_backend": {b: sorted(list(p) for p in s) for b, s in self.previous_support_by_backend.items()}}
            if self.previous_support_by_backend
            else {}
        )

    def load_state_dict(self, d: dict[str, Any], custom_functions: dict[str, Any] | None = None) -> None:
        self.current = (
            None if d["current"] is None else Theory.from_dict(d["current"], custom_functions=custom_functions)
        )
        self.trust = float(d["trust"])
        ps = d.get("previous_support")
        self.previous_support = None if ps is None else frozenset(tuple(p) for p in ps)
        self.n_records = int(d.get("n_records", 0))
        self.last_quality = d.get("last_quality")
        self.accepted_quality = float(d.get("accepted_quality", 0.0))
        ar = d.get("accepted_rmse")
        self.accepted_rmse = None if ar is None else np.asarray(ar, dtype=float)
        self.previous_support_by_backend = {
            str(b): frozenset(tuple(p) for p in sup) for b, sup in (d.get("previous_support_by_backend") or {}).items()
        }


# --------------------------------------------------------------------------- the four checks of review


def _review_extra(candidate: Theory, step: int | None, fit_info: dict[str, Any] | None,
                  backend: str | None) -> dict[str, Any]:
    """The optional fields that both of a review's records carry (step, fit details, backend and expressions)."""
    extra: dict[str, Any] = {}
    if step is not None:
        extra["step"] = int(step)
    if fit_info:
        extra["fit"] = jsonable(fit_info)
    if backend is not None:
        extra["backend"] = str(backend)
        if "expressions" in candidate.metadata:
            extra["expressions"] = candidate.metadata["expressions"]
    return extra


def _improvement_check(
    cand: HeldOutScore, theory: HeldOutScore | None, nulls: dict[str, HeldOutScore], cfg: GovernanceConfig
) -> tuple[bool, list[str], dict[str, Any]]:
    """Check 1: held-out improvement over the best of the current theory (``None``: no theory yet)
    and the trivial predictors (per variable the best of ``nulls``), and minimum skill; returns
    the verdict, its reasons and the bar (``kind``, ``nmse``)."""
    null_nmse = np.min(np.stack([sc.nmse for sc in nulls.values()]), axis=0)
    null_mean = float(np.mean(null_nmse))
    null_name = "best trivial predictor (" + ", ".join(nulls) + ")"
    if theory is not None and theory.nmse_mean <= null_mean:
        base_name, base_mean = "current theory", theory.nmse_mean
    else:
        base_name, base_mean = null_name, null_mean
        if theory is None:
            base_name += ", no theory yet"
    limit = (1.0 - cfg.accept_margin) * base_mean
    improves = bool(np.isfinite(cand.nmse_mean) and cand.nmse_mean <= limit)
    skill_ok = cand.r2_mean >= cfg.min_skill
    reasons = [
        f"held-out one-step nMSE {cand.nmse_mean:.4g} vs {base_name} {base_mean:.4g} "
        f"(needs <= {limit:.4g}, margin {cfg.accept_margin:.0%}): {'improves' if improves else 'does not beat it'}"
    ]
    if not skill_ok:
        reasons.append(f"held-out R2 {cand.r2_mean:.4g} below the minimum skill {cfg.min_skill:.4g}")
    bar = {"kind": "theory" if base_name == "current theory" else "trivial", "nmse": base_mean}
    return improves and skill_ok, reasons, bar


def _ensemble_check(candidate: Theory, cfg: GovernanceConfig) -> tuple[bool, float, str]:
    """Check 2: every kept term kept by ``min_inclusion`` of the ensemble members (passes for
    single fits); returns the verdict, the lowest inclusion of a kept term and the reason."""
    kept_incl = [float(p) for eq in candidate.equations for p, s in zip(eq.inclusion_probability, eq.support) if s]
    min_incl = min(kept_incl) if kept_incl else 1.0
    if not candidate.has_ensemble:
        return True, min_incl, "ensemble stability: not applicable (single fit)"
    stable = min_incl >= cfg.min_inclusion
    return stable, min_incl, (
        f"ensemble stability: lowest inclusion probability of a kept term {min_incl:.2f} "
        f"(needs >= {cfg.min_inclusion:.2f}): {'stable' if stable else 'unstable'}"
    )


def _window_check(
    sup: frozenset[Any], previous: frozenset[Any] | None, cfg: GovernanceConfig
) -> tuple[bool, float | None, str]:
    """Check 3: support similarity with the previous window's candidate (fails without one);
    returns the verdict, the Jaccard similarity (``None`` without a previous window) and the reason."""
    if previous is None:
        return False, None, "window stability: no previous window to compare with"
    jac = jaccard(sup, previous)
    ok = jac >= cfg.min_jaccard
    return ok, jac, (
        f"window stability: support Jaccard similarity with the previous window {jac:.2f} "
        f"(needs >= {cfg.min_jaccard:.2f}): {'stable' if ok else 'unstable'}"
    )


def _novelty_reason(duplicate: bool, cfg: GovernanceConfig) -> str:
    """Check 4's reason: a duplicate of the current theory is not news."""
    if duplicate:
        return f"duplicate of the current theory (same support, coefficients within {cfg.duplicate_rtol:.0%})"
    return "novelty: differs from the current theory"
