"""Figures read on their own: labelled axes with units, integer ticks for counts, targets, known laws,
episode boundaries, no empty panels, and an ablation dashboard whose height grows slowly with metrics.

Every figure is built from small synthetic inputs (no simulation) and checked on its matplotlib
objects, on the Agg backend.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.container import BarContainer  # noqa: E402

from atom_sdk.reproduce.figures import UNIT, figure_problems  # noqa: E402


@pytest.fixture(autouse=True)
def _close_all():
    yield
    plt.close("all")


def _labels_have_units(ax) -> None:
    for label in (ax.get_xlabel(), ax.get_ylabel()):
        assert label and UNIT.search(label), f"{ax.get_title()!r}: label {label!r} has no unit"


def _integer_ticks(axis) -> bool:
    return all(float(t).is_integer() for t in axis.get_ticklocs())


def _on_axes(fig):
    return [ax for ax in fig.axes if ax.axison]


# ------------------------------------------------------------------------------------ run summary
def _telemetry(diag_fn, n=5, episode_len=3):
    return [{"kind": "step", "step": s, "episode": s // episode_len, "reward": -0.1 * s, "trust": s / n,
             "diagnostics": diag_fn(s)} for s in range(n)]


def _results(world_id, params=None, laws=()):
    return {"name": "t", "world": {"id": world_id}, "variant": {"name": "v2_hybrid"}, "laws": list(laws),
            "provenance": {"config": {"world": {"params": params or {}}}}}


def test_taylor_green_summary_has_units_target_boundaries_and_true_law():
    from atom_sdk.experiment.figures import build_summary_figure

    target = {0: 0.125, 1: 0.11}
    steps = _telemetry(lambda s: {"energy": 0.25 - 0.01 * s, "target_energy": target[s // 3]})
    law = {"target": "amplitude", "equation": "damplitude/dt = -0.0400 amplitude + 1.0000 u0",
           "terms": ["amplitude", "u0"], "coefficients": [-0.0404, 1.0], "coefficient_std": [0.001, 0.0], "r2": 0.999}
    fig = build_summary_figure(steps, _results("analytical:taylor_green", {"nu": 0.02, "k": 1}, [law]))
    reward, trust, diag, text = fig.axes
    for ax in (reward, trust, diag):
        _labels_have_units(ax)
        assert _integer_ticks(ax.xaxis), ax.get_xticks()  # 5 steps: default ticks would be halves
    assert "L^2/T^2" in diag.get_ylabel() and reward.get_ylabel() == "reward [1]"
    target_lines = [ln for ln in diag.lines if "target" in (ln.get_label() or "")]
    assert len(target_lines) == 1
    assert set(np.asarray(target_lines[0].get_ydata(), float)) == set(target.values())
    boundaries = [ln for ln in reward.lines if ln.get_label() == "episode boundary"]
    assert [ln.get_xdata()[0] for ln in boundaries] == [2.5]  # episode 1 starts at step 3
    body = text.texts[0].get_text()
    # the true law at nu = 0.02, k = 1 is dA/dt = -0.04 A + u0; the found -0.0404 is 1 % off
    assert "true law" in body and "-0.04 amplitude" in body and "rel. error 0.01" in body
    assert not text.axison and all(ax.lines for ax in (reward, trust, diag))


def test_cylinder_summary_says_cd_and_cl_not_drag_and_lift():
    from atom_sdk.experiment.figures import build_summary_figure

    steps = _telemetry(lambda s: {"drag": 3.2 - 0.01 * s, "lift": 0.1 * (-1) ** s})
    fig = build_summary_figure(steps, _results("lbm2d:cylinder"))
    diag = fig.axes[2]
    assert diag.get_ylabel() == "C_D, C_L [1]"
    names = [t.get_text() for t in diag.get_legend().get_texts()]
    assert "C_D" in names and "C_L" in names and not any(n in ("drag", "lift") for n in names)


def test_wedge_summary_draws_target_and_theta_beta_mach_law_in_degrees():
    from atom_sdk.experiment.figures import build_summary_figure

    steps = _telemetry(lambda s: {"shock_angle": 38.0 + s, "target_shock_angle": 41.0, "theory_shock_angle": 39.3})
    fig = build_summary_figure(steps, _results("supersonic:wedge"))
    reward, _, diag, _ = fig.axes
    assert reward.get_ylabel() == "reward [deg]" and diag.get_ylabel() == "beta [deg]"
    by_label = {ln.get_label(): np.asarray(ln.get_ydata(), float) for ln in diag.lines}
    assert set(by_label["target beta (reward)"]) == {41.0}
    assert set(next(v for k, v in by_label.items() if k.startswith("true law"))) == {39.3}


def test_summary_without_scientist_has_no_empty_axes():
    from atom_sdk.experiment.figures import build_summary_figure

    steps = [{**r, "trust": None} for r in _telemetry(lambda s: {"energy": 1.0})]
    fig = build_summary_figure(steps, _results("analytical:taylor_green"))
    assert all(ax.lines for ax in _on_axes(fig)) and len(_on_axes(fig)) == 2


# ------------------------------------------------------------------------------ ablation dashboard
DIRECTED = ["mean_return", "final_return", "final_trust", "mean_energy_error", "safety_interventions",
            "diverged_episodes"]


def _dashboard(metrics, *, n_seeds=5, variants=("v2_hybrid", "v1_raw", "ppo_baseline"), rl=True):
    from atom_sdk.evidence.claims import collect_values, evaluate, summarize
    from atom_sdk.evidence.plots import dashboard_figure, plot_data

    runs = []
    for i, v in enumerate(variants):
        for s in range(n_seeds):
            r = np.random.default_rng([s, i])
            values = {"steps": 300, "updates": 4}
            for m in metrics:
                count = m in ("safety_interventions", "diverged_episodes")
                values[m] = int(r.integers(0, 3)) if count else float(r.normal() - 40)
            if v == "ppo_baseline":
                values["final_trust"] = None  # no scientist: nothing to compare the trust with
            runs.append({"variant": v, "seed": s, "status": "ok", "metrics": values})
    summary = summarize(runs, variants=list(variants), n_resamples=200, seed=1)
    if not rl:  # a summary written before the RL-grade section existed
        summary.pop("rl_statistics")
    sig = evaluate(collect_values(runs), variants=list(variants), n_resamples=200, seed=1)
    data = plot_data(summary, sig)
    return data, *dashboard_figure(data)


def test_ablation_dashboard_is_compact_labelled_and_has_no_empty_axes():
    from atom_sdk.evidence.plots import HEAD_HEIGHT, ROW_HEIGHT

    data, fig, roles = _dashboard(DIRECTED)
    assert [p["metric"] for p in data["panels"]] == DIRECTED  # steps, updates: no direction, not drawn
    assert all(p["unit"] for p in data["panels"])
    width, height = fig.get_size_inches() * 120
    assert height <= 120 * (HEAD_HEIGHT + ROW_HEIGHT * len(DIRECTED)) and height < 300 * len(DIRECTED) + 100
    fig.canvas.draw()
    for ax in fig.axes:
        assert ax.lines or ax.collections or ax.containers, f"empty axes {ax.get_title()!r}"
        assert ax.get_ylabel() and UNIT.search(ax.get_ylabel()), ax.get_ylabel()
        assert not any(isinstance(c, BarContainer) for c in ax.containers)
    trust = next(r for r in roles if r["metric"] == "final_trust")
    assert trust["diffs"] is None and trust["p_improvement"] is None  # no baseline values: not drawn
    for role in roles:
        ticks = [t.get_text() for t in role["intervals"].get_xticklabels()]
        assert all("\nn=5" in t for t in ticks), ticks
        if role["metric"] in ("safety_interventions", "diverged_episodes"):
            assert "[count]" in role["intervals"].get_ylabel()
            assert _integer_ticks(role["intervals"].yaxis) and _integer_ticks(role["profile"].xaxis)


def test_ablation_dashboard_height_grows_by_one_row_per_metric():
    from atom_sdk.evidence.plots import ROW_HEIGHT

    _, one, _ = _dashboard(["mean_return"])
    _, three, _ = _dashboard(["mean_return", "final_return", "diverged_episodes"])
    assert three.get_size_inches()[1] - one.get_size_inches()[1] == pytest.approx(2 * ROW_HEIGHT)


def test_ablation_dashboard_leaves_out_columns_no_metric_fills():
    _, fig, roles = _dashboard(["mean_return", "diverged_episodes"], rl=False)
    assert len(fig.axes) == 4 and fig.get_size_inches()[0] == pytest.approx(8.0)  # means and paired differences
    assert all(r["p_improvement"] is None and r["profile"] is None for r in roles)


def test_every_directed_metric_has_a_unit():
    from atom_sdk.evidence.plots import METRIC_UNITS
    from atom_sdk.evidence.stats import METRIC_DIRECTIONS

    assert set(METRIC_DIRECTIONS) <= set(METRIC_UNITS)


# ------------------------------------------------------------------------------- reproductions
@pytest.fixture
def captured(monkeypatch):
    """Each reproduction module's ``save_figure`` keeps the figure instead of writing it."""
    figures: list = []
    from atom_sdk.reproduce import (brunton2016_report, oblique_shock, rabault2019, report, schafer_turek,
                                    taylor_green_decay)

    for module in (report, oblique_shock, schafer_turek, taylor_green_decay, rabault2019, brunton2016_report):
        monkeypatch.setattr(module, "save_figure", lambda fig, path: figures.append(fig))
    return figures


def test_figure_problems_flags_a_missing_unit_and_an_empty_panel():
    fig, (a, b) = plt.subplots(1, 2)
    a.plot([0, 1], [0, 1])
    a.set_xlabel("time")
    a.set_ylabel("C_D [1]")
    problems = figure_problems(fig)
    assert any("'time' gives no unit" in p for p in problems) and any("empty panel" in p for p in problems)


def test_comparison_figure_draws_the_paper_value_with_units(captured, tmp_path):
    from atom_sdk.reproduce.report import comparison_figure

    rows = [{"quantity": "C_D,max", "unit": "", "paper": 3.23, "paper_low": 3.22, "paper_high": 3.24, "ours": 3.25,
             "ci_low": 3.2, "ci_high": 3.3, "verdict": {"reproduced": True}},
            {"quantity": "beta", "unit": "deg", "paper": 39.3, "paper_low": 38.8, "paper_high": 39.8, "ours": 39.0,
             "ci_low": None, "ci_high": None, "verdict": {"reproduced": True}}]
    comparison_figure(rows, tmp_path / "c.png", "t")
    (fig,) = captured
    assert figure_problems(fig) == []
    assert fig.axes[1].get_ylabel() == "beta [deg]" and fig.axes[0].get_ylabel() == "C_D,max [1]"
    for ax, row in zip(fig.axes, rows):
        assert any(set(ln.get_ydata()) == {row["paper"]} for ln in ax.lines)


def test_reproduction_figures_have_units_and_references(captured, tmp_path):
    from atom_sdk.reproduce import oblique_shock, rabault2019, schafer_turek, taylor_green_decay

    oblique_shock._figure([{"mach": 2.0, "theta": 10.0, "beta": 39.5, "status": "attached", "grid": "64x48"},
                           {"mach": 2.0, "theta": 25.0, "beta": None, "status": "detached", "grid": "64x48"}],
                          tmp_path / "o.png")
    levels = [{"diameter": d, "cd_max": 3.2 + 1 / d, "cl_max": 1.0 - 1 / d, "strouhal": 0.3} for d in (10, 20, 40)]
    schafer_turek._figure(levels, {q: {"richardson": None, "order": None} for q in schafer_turek.QUANTITIES},
                          tmp_path / "s.png")
    taylor_green_decay._figure([{"tau": 0.6, "n": n, "rel_error": 4.0 / n**2} for n in (16, 32, 64)],
                               tmp_path / "t.png")
    vorticity = np.random.default_rng(0).normal(size=(40, 20))
    unc = {"drag": list(3.2 + 0.01 * np.sin(np.arange(20))), "vorticity": vorticity}
    records = [{"status": "ok", "variant": rabault2019.ATOM_VARIANT, "seed": 0,
                "eval": {"drag": list(3.0 + 0.01 * np.arange(20))}}]
    run = tmp_path / "run"
    run.mkdir()
    np.save(run / "eval_vorticity.npy", unc["vorticity"])
    rabault2019._figures(tmp_path, unc, records, 0.5, {"run_dir": str(run), "variant": "v2_hybrid", "seed": 0})
    assert len(captured) == 5
    for fig in captured:
        assert figure_problems(fig) == [], [ax.get_title() for ax in fig.axes]
    # the published values: theta-beta-Mach lines, the DFG band, the -2 slope
    assert any("theory" in (ln.get_label() or "") for ln in captured[0].axes[0].lines)
    assert all(ax.patches for ax in captured[1].axes)
    assert any("slope -2" in (ln.get_label() or "") for ln in captured[2].axes[0].lines)
    assert len(captured[4].axes) == 4  # two vorticity panels, each with its colour bar


def test_brunton_figure_has_units_on_every_axis(captured, tmp_path):
    from atom_sdk.reproduce import brunton2016_report

    t = np.linspace(0.0, 10.0, 50)
    a = np.stack([np.cos(t), np.sin(t), 0.1 * np.ones_like(t)], axis=1)
    res = {"t": t, "a": a, "r": np.hypot(a[:, 0], a[:, 1]), "window": (5, 50), "dt": 0.2, "a_off": a[:10],
           "paraboloid": {"c0": 0.0, "c": 0.1, "r2": 0.99},
           "curves": {"on_cycle": a[:20], "r_model": np.ones(20), "from_off": a[:10]}}
    brunton2016_report.figure(res, {"lift": np.sin(t), "lift_dt": 0.2}, tmp_path / "b.png")
    (fig,) = captured
    assert figure_problems(fig) == []
    assert fig.axes[0].get_ylabel() == "C_L [1]"
