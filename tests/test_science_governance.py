"""Governance: acceptance rules, ledger records and trust."""

from __future__ import annotations

import numpy as np
import pytest

from atom_sdk.science.governance import (
    GovernanceConfig,
    Governor,
    heldout_score,
    is_duplicate,
    jaccard,
    null_scores,
)
from atom_sdk.science.ledger import HypothesisLedger
from atom_sdk.science.library import Library
from atom_sdk.science.systems import taylor_green_amplitude
from atom_sdk.science.theory import Equation, Theory

DT = 0.1
LIB = Library(["A"], ["u"], degree=1)  # terms: 1, A, u


def make_theory(a: float, g: float, inclusion=(0.0, 1.0, 1.0), const: float = 0.0, ensemble: bool = True) -> Theory:
    coef = np.array([const, a, g])
    support = coef != 0
    ens = None
    if ensemble:
        rng = np.random.default_rng(0)
        ens = coef[None, :] * (1 + 0.01 * rng.standard_normal((10, 3)))
    eq = Equation(
        "A", LIB.names, coef, np.abs(coef) * 0.01, np.array(inclusion, float), support, ensemble_coefficients=ens
    )
    return Theory(["A"], ["u"], LIB.terms, [eq], {"dt": DT})


def heldout(seed: int = 0, n: int = 80, g: float = 1.0):
    rng = np.random.default_rng(seed)
    _, A, u = taylor_green_amplitude(n, dt=DT, g=g, hold=3, A0=1.0, rng=rng)
    return A + 0.005 * rng.standard_normal(A.shape), u


@pytest.fixture
def governor(tmp_path):
    led = HypothesisLedger(tmp_path / "ledger.jsonl")
    yield Governor(GovernanceConfig(accept_margin=0.02), ledger=led, run_id="gov", dt=DT)
    led.close()


def test_accepts_true_law_then_rejects_worse_and_duplicate(governor):
    x, u = heldout(1)
    true = make_theory(-0.04, 1.0)
    first = governor.review(true, x, u, step=16)
    assert first["kind"] == "rejected"  # no previous window to check stability against
    assert any("no previous window" in r for r in first["reasons"])
    assert governor.current is None and governor.trust == 0.0

    x, u = heldout(2)
    d = governor.review(true, x, u, step=32)
    assert d["kind"] == "accepted", d["reasons"]
    assert governor.current is true
    assert d["scores"]["candidate"]["nmse_mean"] < 0.98 * d["scores"]["baseline"]["nmse_mean"]
    assert d["scores"]["baseline_kind"] == "persistence"
    assert 0 < governor.trust <= 1

    # a worse candidate: same support, wrong coefficients
    x, u = heldout(3)
    worse = make_theory(-0.2, 0.7)
    d = governor.review(worse, x, u, step=48)
    assert d["kind"] == "rejected"
    assert any("does not beat it" in r for r in d["reasons"])
    assert d["scores"]["candidate"]["nmse_mean"] > d["scores"]["baseline"]["nmse_mean"]
    assert governor.current is true

    # a duplicate of the current theory (coefficients within 5 %)
    dup = make_theory(-0.0402, 1.003)
    assert is_duplicate(dup, true)
    d = governor.review(dup, *heldout(4), step=64)
    assert d["kind"] == "rejected" and d["scores"]["duplicate"] is True
    assert any("duplicate" in r for r in d["reasons"])
    assert governor.current is true

    led = governor.ledger
    kinds = [r["kind"] for r in led.records(run_id="gov")]
    assert kinds == ["candidate", "rejected", "candidate", "accepted"] + ["candidate", "rejected"] * 2
    assert all(r["reasons"] for r in led.records(kind=["accepted", "rejected"]))
    assert led.records(kind="accepted")[0]["equations"][0]["equation"] == "dA/dt = -0.0400 A + 1.0000 u"
    assert led.verify().ok


def test_rejects_unstable_ensemble_and_unstable_support(governor):
    good = make_theory(-0.04, 1.0)
    governor.review(good, *heldout(1))
    shaky = make_theory(-0.04, 1.0, inclusion=(0.0, 0.55, 1.0))
    d = governor.review(shaky, *heldout(2))
    assert d["kind"] == "rejected"
    assert any("unstable" in r and "inclusion" in r for r in d["reasons"])
    # support that jumps between windows: {A, u} -> {1, u}
    other = make_theory(0.0, 1.0, inclusion=(1.0, 0.0, 1.0), const=0.05)
    d = governor.review(other, *heldout(3))
    assert d["kind"] == "rejected" and d["scores"]["jaccard"] == pytest.approx(1 / 3)
    assert any("window stability" in r and "unstable" in r for r in d["reasons"])


def test_single_fit_candidates_skip_the_ensemble_check(governor):
    t = make_theory(-0.04, 1.0, ensemble=False)
    governor.review(t, *heldout(1))
    d = governor.review(t, *heldout(2))
    assert d["kind"] == "accepted"
    assert any("not applicable" in r for r in d["reasons"])


def test_trust_rises_with_good_predictions_and_decays_when_failing(governor):
    true = make_theory(-0.04, 1.0)
    governor.review(true, *heldout(1))
    governor.review(true, *heldout(2))
    for s in range(3, 9):
        governor.assess(*heldout(s))
    assert governor.trust > 0.9
    # the world changes: the control now acts with the opposite sign
    x, u = heldout(9, g=-1.0)
    governor.assess(x, u)
    assert governor.trust < 0.2
    assert governor.quality(heldout_score(true, x, u, DT)) == pytest.approx(governor.trust)
    # and a candidate that describes the new world (same support) beats the failing theory
    new = make_theory(-0.04, -1.0)
    d = governor.review(new, *heldout(10, g=-1.0))
    assert d["kind"] == "accepted" and d["scores"]["baseline_kind"] == "theory"
    assert governor.current is new


def test_heldout_scores_and_jaccard():
    x, u = heldout(5)
    perfect = heldout_score(make_theory(-0.04, 1.0), x, u, DT)
    persistence = heldout_score(None, x, u, DT)
    assert perfect.r2_mean > 0.9 and persistence.r2_mean < 0.1
    assert perfect.residuals.shape == (len(x) - 1, 1)
    assert jaccard(frozenset(), frozenset()) == 1.0
    assert jaccard({1, 2}, {2, 3}) == pytest.approx(1 / 3)


def test_governor_state_roundtrip(governor):
    true = make_theory(-0.04, 1.0)
    governor.review(true, *heldout(1))
    governor.review(true, *heldout(2))
    g2 = Governor(GovernanceConfig())
    g2.load_state_dict(governor.state_dict())
    assert g2.trust == governor.trust and str(g2.current) == str(true)
    assert g2.previous_support == governor.previous_support


def test_trust_survives_quiet_periods(governor):
    """When the state barely moves, increments are pure noise and any R^2 is ~0; a correct
    theory whose errors stay at their accepted level keeps its trust."""
    true = make_theory(-0.04, 1.0)
    governor.review(true, *heldout(1))
    governor.review(true, *heldout(2))
    for s in range(3, 7):
        governor.assess(*heldout(s))
    high = governor.trust
    rng = np.random.default_rng(20)
    x = np.full((80, 1), 0.0) + 0.005 * rng.standard_normal((80, 1))  # at rest, u = 0
    u = np.zeros((80, 1))
    assert heldout_score(true, x, u, DT).quality < 0.2
    governor.assess(x, u)
    assert governor.trust > 0.6 and high > 0.9


def test_a_law_must_beat_the_trivial_predictors_of_the_training_window(tmp_path):
    """On lawless (i.i.d.) data a fit that pulls towards the mean beats persistence (nMSE ~ 0.9
    against ~ 1) but not the training window's mean (~ 0.5): with the training window the bar is
    the best trivial predictor, and such a fit is rejected; a true law still clears it."""
    rng = np.random.default_rng(7)
    m, s = 0.3, 0.05
    noise = lambda n: m + s * rng.standard_normal((n, 1))  # noqa: E731
    pull = 0.1 / DT  # dA/dt = pull (m - A): moves 10 % of the way to the mean per step
    fake = make_theory(-pull, 0.0, inclusion=(1.0, 1.0, 0.0), const=pull * m)
    u = np.zeros((80, 1))
    old = Governor(GovernanceConfig(accept_margin=0.02), dt=DT)  # persistence only: the old bar
    assert old.review(fake, noise(80), u)["kind"] == "rejected"  # (no previous window)
    d = old.review(fake, noise(80), u)
    assert d["kind"] == "accepted" and 0.85 < d["scores"]["candidate"]["nmse_mean"] < 0.98

    gov = Governor(GovernanceConfig(accept_margin=0.02), dt=DT)
    for _ in range(2):
        x_train, x_ho = noise(240), noise(80)
        d = gov.review(fake, x_ho, u, x_train=x_train)
        assert d["kind"] == "rejected" and gov.current is None
    assert d["scores"]["bar_kind"] == "trivial"
    assert d["scores"]["null"]["window_mean"][0] == pytest.approx(0.5, abs=0.15)
    assert d["scores"]["null"]["persistence"][0] == pytest.approx(1.0, abs=0.3)
    assert d["scores"]["bar_nmse"] == pytest.approx(min(v[0] for v in d["scores"]["null"].values()))
    assert any("best trivial predictor" in r and "does not beat it" in r for r in d["reasons"])

    true = make_theory(-0.04, 1.0)
    x_train, u_train = heldout(1, n=240)
    gov.review(true, *heldout(2), x_train=x_train)
    d = gov.review(true, *heldout(3), x_train=x_train)
    assert d["kind"] == "accepted" and d["scores"]["bar_kind"] == "trivial"
    assert d["scores"]["candidate"]["nmse_mean"] < 0.1 * d["scores"]["bar_nmse"]


def test_trivial_predictors_take_their_constants_from_the_training_window_only():
    rng = np.random.default_rng(3)
    x_ho = 1.0 + 0.1 * rng.standard_normal((60, 1))
    x_tr = 1.0 + 0.1 * rng.standard_normal((200, 1))
    assert set(null_scores(x_ho)) == {"persistence"}  # without a training window
    near = null_scores(x_ho, x_train=x_tr)
    far = null_scores(x_ho, x_train=x_tr + 5.0)  # the held-out mean would not move; the training mean does
    assert near["window_mean"].nmse[0] < 0.7 and far["window_mean"].nmse[0] > 100
    assert near["persistence"].nmse[0] == far["persistence"].nmse[0] == heldout_score(None, x_ho, None, DT).nmse[0]
    # mean drift (dx/dt = the training window's mean derivative); valid_train drops a jump across
    # an episode boundary from the mean increment
    t = np.arange(120, dtype=float)[:, None]
    ramp = 0.1 * t + 0.001 * rng.standard_normal((120, 1))
    tr = np.concatenate([ramp[:50], ramp[:50] + 7.0])  # two episodes
    ok = np.ones(99, bool)
    ok[49] = False
    good = null_scores(ramp[60:], x_train=tr, valid_train=ok)
    bad = null_scores(ramp[60:], x_train=tr)["mean_drift"].nmse[0]
    # scores are normalised by the variance of the increments: the right drift leaves only their
    # noise (nMSE ~ 1), persistence misses the whole drift
    assert good["mean_drift"].nmse[0] < 1.2 and good["persistence"].nmse[0] > 1e3
    assert bad > 50 * good["mean_drift"].nmse[0]


def test_weak_horizon_tuning_reaches_the_scientists_governor():
    """``ScientistTuning.weak_horizon`` is the one switch: off by default, on when the tuning says so."""
    from atom_sdk.config import ScientistSettings, ScientistTuning
    from atom_sdk.science.scientist import Scientist

    default = Scientist(ScientistSettings(), ["x"], [], 0.01)
    opted = Scientist(ScientistSettings(), ["x"], [], 0.01, tuning=ScientistTuning(weak_horizon=True))
    assert default.governor.config.weak_horizon is False
    assert opted.governor.config.weak_horizon is True
    assert GovernanceConfig().weak_horizon is ScientistTuning().weak_horizon is False
