"""ODE-Strogatz beside PySINDy (atom_sdk.evidence.strogatz): the systems, the noise, the report."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from atom_sdk.errors import ConfigError
from atom_sdk.evidence import strogatz as S

# --------------------------------------------------------------------------- fast tier

# (system, point (x, y), hand-computed (x', y'))
HAND_VALUES = [
    ("bacres", (1.0, 2.0), (20 - 1 - 4 / 3, 10 - 4 / 3)),  # x y / (1 + 0.5 x^2) = 2 / 1.5
    ("barmag", (1.0, 2.0), (-1.5 * 0.8414709848078965, 0.5 * 0.8414709848078965 - 0.9092974268256817)),
    ("glider", (2.0, 0.0), (-0.2, 1.5)),  # -0.05 * 4 - sin 0, 2 - cos 0 / 2
    ("lv", (1.0, 2.0), (-2.0, -2.0)),  # 3 - 4 - 1, 4 - 2 - 4
    ("predprey", (1.0, 2.0), (2.0, 0.7)),  # 1 (4 - 1 - 1), 2 (0.5 - 0.15)
    ("shearflow", (0.0, math.pi / 4), (1.0, 0.0)),  # cot(pi/4) cos 0, 0.55 sin 0
    ("shearflow", (math.pi / 2, math.pi / 4), (0.0, 0.55)),  # cos(pi/2) = 0, (0.5 + 0.05) sin(pi/2)
    ("vdp", (2.0, 1.0), (-10.0, -0.2)),  # 10 (1 - (8 - 2) / 3), -0.1 * 2
]


@pytest.mark.parametrize("name,point,expected", HAND_VALUES)
def test_right_hand_sides_match_hand_computed_values(name, point, expected):
    got = S.SYSTEMS[name].f(0.0, np.array(point))
    assert got == pytest.approx(expected, abs=1e-12)


def test_all_seven_systems_and_which_lie_in_the_library():
    assert S.system_names() == ["bacres", "barmag", "glider", "lv", "predprey", "shearflow", "vdp"]
    assert {n for n, s in S.SYSTEMS.items() if s.in_library} == {"lv", "vdp"}


@pytest.mark.parametrize("name", ["lv", "vdp"])
def test_truth_over_the_library_is_the_law(name):
    system = S.SYSTEMS[name]
    lib = S._library()
    truth = S.truth_matrix(system, lib.names)
    pts = np.random.default_rng(0).uniform(-3, 3, size=(20, 2))
    by_library = lib.evaluate(pts) @ truth.T
    by_law = np.array([system.f(0.0, p) for p in pts])
    np.testing.assert_allclose(by_library, by_law, rtol=1e-12, atol=1e-12)
    assert S.truth_matrix(S.SYSTEMS["bacres"], lib.names) is None


def test_regenerated_lotka_volterra_uses_the_original_initial_conditions():
    runs = S.simulate_system(S.SYSTEMS["lv"], S.LV_TRAIN_ICS, t_end=1.0)
    assert [r.shape for r in runs] == [(51, 2)] * 4
    np.testing.assert_allclose([r[0] for r in runs], S.LV_TRAIN_ICS)


def test_noise_is_relative_and_seeded():
    rng = np.random.default_rng(1)
    clean = [np.column_stack([rng.normal(0, 1, 4000), rng.normal(0, 100, 4000)])]
    a, sigma = S.relative_noise(clean, 0.05, np.random.default_rng(7))
    b, _ = S.relative_noise(clean, 0.05, np.random.default_rng(7))
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_allclose(sigma, 0.05 * clean[0].std(axis=0))
    residual = (a[0] - clean[0]).std(axis=0)
    np.testing.assert_allclose(residual / clean[0].std(axis=0), 0.05, rtol=0.1)
    c, _ = S.relative_noise(clean, 0.05, np.random.default_rng(8))
    assert not np.array_equal(a[0], c[0])
    z, zs = S.relative_noise(clean, 0.0, np.random.default_rng(7))
    np.testing.assert_array_equal(z[0], clean[0])
    np.testing.assert_array_equal(zs, 0.0)


def test_report_schema_is_json_and_out_of_library_support_is_undefined():
    report = S.run_strogatz_benchmark(systems=["lv", "bacres"], noise_levels=[0.0], methods=["ours", "pysindy_default"])
    json.loads(json.dumps(report))
    assert report["schema"] == S.SCHEMA
    assert {"git_commit", "packages", "config_hash"} <= set(report["provenance"])
    assert report["settings"]["dt"] == S.DT and "degree 3" in report["settings"]["library"]
    assert [(c["system"], c["noise"]) for c in report["cells"]] == [("lv", 0.0), ("bacres", 0.0)]
    for cell in report["cells"]:
        assert set(cell["methods"]) == {"ours", "pysindy_default"}
        for row in cell["methods"].values():
            assert {"support_exact", "coef_rel_error", "heldout_nrmse", "diverged", "fit_s", "n_terms"} <= set(row)
    bacres = report["cells"][1]
    assert bacres["in_library"] is False
    assert all(r["support_exact"] is None and r["coef_rel_error"] is None for r in bacres["methods"].values())
    assert report["cells"][0]["methods"]["ours"]["support_exact"] in (True, False)
    table = S.markdown_table(report)
    assert "| bacres | no | 0 % | n/a;" in table


def test_bad_arguments_are_config_errors():
    with pytest.raises(ConfigError):
        S.run_strogatz_benchmark(systems=["lorenz"])
    with pytest.raises(ConfigError):
        S.run_strogatz_benchmark(systems=["lv"], methods=["pysr"])
    with pytest.raises(ConfigError):
        S.run_strogatz_benchmark(systems=["lv"], noise_levels=[-0.1])


# --------------------------------------------------------------------------- slow: the quick table


@pytest.fixture(scope="module")
def quick_report():
    return S.run_strogatz_benchmark(noise_levels=[0.0, 0.05])


def _row(report, system, noise, method="ours"):
    (cell,) = [c for c in report["cells"] if c["system"] == system and c["noise"] == noise]
    return cell["methods"][method]


@pytest.mark.slow
@pytest.mark.parametrize("system", ["lv", "vdp"])
def test_quick_table_in_library_systems_exact_at_zero_noise(quick_report, system):
    row = _row(quick_report, system, 0.0)
    assert row["support_exact"] is True
    assert row["coef_rel_error"] < 0.01
    assert row["heldout_nrmse"] < 0.01 and row["diverged"] == 0


@pytest.mark.slow
def test_quick_table_rows_at_five_percent_noise(quick_report):
    cells = [c for c in quick_report["cells"] if c["noise"] == 0.05]
    assert sorted(c["system"] for c in cells) == S.system_names()
    for cell in cells:
        assert set(cell["methods"]) == set(S.METHODS)
        for row in cell["methods"].values():
            if row["heldout_nrmse"] is None:
                assert row["diverged"] > 0
            else:
                assert math.isfinite(row["heldout_nrmse"]) and row["diverged"] == 0
            assert row["fit_s"] > 0
    assert math.isfinite(_row(quick_report, "vdp", 0.05)["heldout_nrmse"])


@pytest.mark.slow
def test_quick_table_out_of_library_support_is_none_not_false(quick_report):
    for cell in quick_report["cells"]:
        if cell["system"] in ("lv", "vdp"):
            assert cell["in_library"] is True
            continue
        assert cell["in_library"] is False
        for row in cell["methods"].values():
            assert row["support_exact"] is None and row["coef_rel_error"] is None
