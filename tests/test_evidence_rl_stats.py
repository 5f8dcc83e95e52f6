"""RL-grade statistics (Agarwal et al. 2021): IQM, probability of improvement, performance
profiles, the stratified bootstrap, and their place in the ablation summary and dashboard.

``rliable`` is not installable here, so the reference values are derived by hand from the
paper's definitions (and IQM is checked against ``scipy.stats.trim_mean(x, 0.25)``, the
definition rliable uses on flattened scores)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from matplotlib.container import BarContainer, ErrorbarContainer
from scipy import stats

from atom_sdk.evidence import rl_stats as rl
from atom_sdk.evidence.plots import dashboard_figure, plot_data


def test_iqm_by_hand_and_against_trim_mean():
    assert rl.iqm(np.arange(1, 9)) == pytest.approx(4.5)  # mean of [3, 4, 5, 6]
    assert rl.iqm([5.0, 1.0, 9.0]) == pytest.approx(5.0)  # n < 4: nothing cut
    assert rl.iqm([0, 0, 1, 2, 3, 100, -100, 50]) == pytest.approx((0 + 1 + 2 + 3) / 4)
    rng = np.random.default_rng(0)
    for n in range(1, 41):
        x = rng.standard_t(2, size=n)
        assert rl.iqm(x) == pytest.approx(stats.trim_mean(x, 0.25), rel=1e-12, abs=1e-12)
    batch = rng.normal(size=(5, 13))
    assert np.allclose(rl.iqm(batch, axis=1), stats.trim_mean(batch, 0.25, axis=1))
    with pytest.raises(ValueError):
        rl.iqm([])


def test_probability_of_improvement_by_hand():
    # pairs (x, y): 3>1, 3>2, 3=3 (half), 4>1, 4>2, 4>3 -> (5 + 0.5) / 6
    assert rl.probability_of_improvement([3, 4], [1, 2, 3]) == pytest.approx(5.5 / 6)
    assert rl.probability_of_improvement([1, 2, 3], [3, 4]) == pytest.approx(0.5 / 6)
    assert rl.probability_of_improvement([1, 1], [1, 1]) == pytest.approx(0.5)
    # averaged over strata: task a gives 1.0, task b gives 0.0
    both = rl.probability_of_improvement({"a": [2, 3], "b": [0]}, {"a": [1], "b": [5, 6]})
    assert both == pytest.approx(0.5)
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=7), rng.normal(size=9)
    manual = np.mean([(a > b) + 0.5 * (a == b) for a in x for b in y])
    assert rl.probability_of_improvement(x, y) == pytest.approx(manual)


def test_performance_profile_by_hand():
    prof = rl.performance_profile([1, 2, 3, 4], [0, 1, 2.5, 4])
    assert prof.tolist() == [1.0, 0.75, 0.5, 0.0]  # strictly above tau
    # two strata are averaged, not pooled: (2/2 + 0/1) / 2
    assert rl.performance_profile({"a": [5, 6], "b": [0]}, [1]).tolist() == [0.5]


def test_stratified_bootstrap_contains_point_narrows_and_is_seeded():
    rng = np.random.default_rng(2)
    small, big = rng.normal(size=8), rng.normal(size=128)
    a = rl.iqm_with_ci(small, n_resamples=2000, seed=5, key="k")
    b = rl.iqm_with_ci(big, n_resamples=2000, seed=5, key="k")
    assert a["n"] == 8 and b["n"] == 128
    for r in (a, b):
        assert r["iqm_ci"][0] <= r["iqm"] <= r["iqm_ci"][1]
    assert np.diff(b["iqm_ci"])[0] < 0.5 * np.diff(a["iqm_ci"])[0]
    assert rl.iqm_with_ci(small, n_resamples=2000, seed=5, key="k") == a
    assert rl.iqm_with_ci(small, n_resamples=2000, seed=6, key="k") != a
    p = rl.p_improvement_with_ci(small + 1.0, rng.normal(size=8), n_resamples=2000, seed=5)
    assert p["p_improvement_ci"][0] <= p["p_improvement"] <= p["p_improvement_ci"][1]
    assert rl.iqm_with_ci([3.0])["iqm_ci"] is None  # one run: no interval
    assert rl.iqm_with_ci([None, float("nan")]) == {"n": 0, "iqm": None, "iqm_ci": None}


def test_bootstrap_resamples_within_strata():
    rng = np.random.default_rng(3)
    strata = {"a": np.array([1.0, 2.0, 3.0]), "b": np.array([100.0, 200.0])}
    res = rl.stratified_resamples(strata, 500, rng)
    assert res["a"].shape == (500, 3) and res["b"].shape == (500, 2)
    assert set(np.unique(res["a"])) <= {1.0, 2.0, 3.0} and set(np.unique(res["b"])) <= {100.0, 200.0}
    # stratified: every resample keeps 3 runs of task a, so the pooled IQM never drops task b
    r = rl.iqm_with_ci(strata, n_resamples=500, seed=0)
    assert r["n"] == 5 and r["iqm"] == pytest.approx(np.mean([2.0, 3.0, 100.0]))


def test_profile_bands_and_lower_is_better_orientation():
    values = {"v": {"drag": {"w": [1.0, 2.0, 3.0, 4.0]}}, "ppo_baseline": {"drag": {"w": [3.0, 4.0, 5.0, 6.0]}}}
    sec = rl.rl_statistics(values, variants=["v", "ppo_baseline"], baseline="ppo_baseline",
                           directions={"drag": "lower", "other": None}, n_resamples=500, n_taus=6)
    m = sec["metrics"]["drag"]
    assert list(sec["metrics"]) == ["drag"] and sec["strata"] == ["w"]
    # lower is better: P(X < Y) = (16 - 3 pairs not below, ties 3=3, 4=4 half) -> (16 - 3 - 1) / 16
    below = np.mean([(a < b) + 0.5 * (a == b) for a in [1, 2, 3, 4] for b in [3, 4, 5, 6]])
    assert m["variants"]["v"]["p_improvement"] == pytest.approx(below)
    assert m["variants"]["ppo_baseline"]["p_improvement"] is None
    prof = m["profiles"]
    assert prof["counts"] == "below" and prof["tau"] == pytest.approx([1, 2, 3, 4, 5, 6])
    assert prof["variants"]["v"]["fraction"] == pytest.approx([0, 0.25, 0.5, 0.75, 1, 1])
    for pr in prof["variants"].values():
        assert all(lo <= f <= hi for lo, f, hi in zip(pr["ci_low"], pr["fraction"], pr["ci_high"]))


def _runs(n_seeds: int):
    V = ["v2_hybrid", "v1_raw", "ppo_baseline"]
    runs = []
    for i, v in enumerate(V):
        for s in range(n_seeds):
            r = np.random.default_rng([s, i])
            runs.append({"variant": v, "seed": s, "status": "ok",
                         "metrics": {"mean_return": float(r.normal() - 5 + 2 * (v == "v2_hybrid")),
                                     "steps": 5}})
    runs.append({"variant": "v1_raw", "seed": n_seeds, "status": "failed", "metrics": {}})
    return V, runs


def test_ablation_sweep_summary_has_rl_section(tmp_path):
    from tests.test_evidence_ablation import _sweep

    out = tmp_path / "sweep"
    _sweep(out, seeds=[0, 1, 2, 3], n_bootstrap=200)
    summary = json.loads((out / "summary.json").read_text())
    assert {"schema", "baseline", "variants", "metrics", "bootstrap", "counts", "rows"} <= set(summary)
    sec = summary["rl_statistics"]
    assert sec["strata"] == ["sweep"] and "Agarwal" in sec["reference"]
    rows = sec["metrics"]["mean_return"]["variants"]
    assert set(rows) == set(summary["variants"])
    assert all(r["n"] == 4 and r["n_baseline"] == 4 for r in rows.values())
    runs = json.loads((out / "runs.json").read_text())["runs"]
    col = {v: [r["metrics"]["mean_return"] for r in runs if r["variant"] == v] for v in rows}
    assert rows["v2_hybrid"]["p_improvement"] == pytest.approx(
        np.mean([(a > b) + 0.5 * (a == b) for a in col["v2_hybrid"] for b in col["ppo_baseline"]]))
    assert rows["v1_raw"]["iqm"] == pytest.approx(stats.trim_mean(col["v1_raw"], 0.25))
    assert rows["ppo_baseline"]["p_improvement"] is None
    lo, hi = rows["v2_hybrid"]["iqm_ci"]
    assert lo <= rows["v2_hybrid"]["iqm"] <= hi
    panels = json.loads((out / "platform_ablation_plots.json").read_text())["panels"]
    assert [p["metric"] for p in panels] == ["mean_return"]
    assert {r["variant"]: r["n"] for r in panels[0]["iqm"]} == dict.fromkeys(summary["variants"], 4)


def test_dashboard_draws_intervals_with_n_and_drops_undirected_metrics():
    from atom_sdk.evidence.claims import collect_values, evaluate, summarize

    V, runs = _runs(6)
    summary = summarize(runs, variants=V, n_resamples=300, seed=1)
    assert summary["metrics"] == {"mean_return": "higher", "steps": None}
    assert summary["rl_statistics"]["metrics"]["mean_return"]["variants"]["v1_raw"]["n"] == 6
    sig = evaluate(collect_values(runs), variants=V, n_resamples=300, seed=1)
    data = plot_data(summary, sig)
    assert [p["metric"] for p in data["panels"]] == ["mean_return"]  # "steps" has no direction
    import matplotlib.pyplot as plt

    fig, roles = dashboard_figure(data)
    try:
        assert len(roles) == 1
        ax = roles[0]["intervals"]
        assert not any(isinstance(c, BarContainer) for a in fig.axes for c in a.containers)
        bars = [c for c in ax.containers if isinstance(c, ErrorbarContainer)]
        assert len(bars) == 2 * len(V)  # mean and IQM, point + CI, per variant
        labels = [t.get_text() for t in ax.get_xticklabels()]
        assert labels == [f"{v}\nn=6" for v in V]
        pi_ax = roles[0]["p_improvement"]
        pts = [c.lines[0].get_ydata()[0] for c in pi_ax.containers if isinstance(c, ErrorbarContainer)]
        rows = summary["rl_statistics"]["metrics"]["mean_return"]["variants"]
        assert pts == pytest.approx([rows["v2_hybrid"]["p_improvement"], rows["v1_raw"]["p_improvement"]])
        prof_ax = roles[0]["profile"]
        assert len(prof_ax.get_lines()) == len(V) and len(prof_ax.collections) == len(V)
        assert "n=6" in prof_ax.get_legend().get_texts()[0].get_text()
        assert ax.get_ylabel() == "mean_return [sum of rewards]"
    finally:
        plt.close(fig)
