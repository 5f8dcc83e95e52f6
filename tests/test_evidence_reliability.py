"""Reliability kernel: results schema, NaN detection, failure reporting, and a short real run."""

import copy
import json

import pytest

from atom_sdk.evidence.reliability import (
    nonfinite_paths,
    run_reliability_kernel,
    schema_errors,
    telemetry_problems,
)


def _valid_results() -> dict:
    return {
        "schema": "atom.results/1", "name": "tiny",
        "provenance": {"sdk_version": "0.1.0", "git_commit": None, "python": "3.11", "platform": "linux",
                       "packages": {"jax": "0.10.2"}, "config": {"world": {}, "steps": 32, "seed": 0,
                                                                   "variant": "v2_hybrid"},
                       "config_hash": "a" * 64, "seed": 0},
        "world": {"id": "analytical:taylor_green", "grid": [8, 8, 2], "dt": 0.1, "observables": ["amplitude"]},
        "variant": {"name": "v2_hybrid", "use_encoder": True, "use_scientist": True, "ensembled": True,
                    "trust_gate": True, "theory_residual_input": True, "residual_policy": False, "symplectic": True},
        "summary": {"steps": 32, "episodes_completed": 1, "mean_reward": -0.5, "mean_return": -12.0,
                    "final_return": -12.0, "updates": 2, "final_trust": 0.4, "mean_trust": 0.2,
                    "diverged_episodes": 0, "mean_energy": 0.2},
        "episodes": [{"episode": 0, "return": -12.0, "length": 24, "diverged": False, "unsafe": False}],
        "laws": [{"target": "amplitude", "equation": "damplitude/dt = -0.1 amplitude", "terms": ["amplitude"],
                  "coefficients": [-0.1]}],
        "trust_trajectory": [[16, 0.0], [32, 0.4]],
        "science_decisions": {"accepted": 1},
        "last_update": {"loss": 0.3},
        "artifacts": ["results.json", "telemetry.jsonl"],
        "timings": {"wall_seconds": 1.0},
        "safety": {"enabled": True},
    }


def test_valid_results_fixture_passes_schema():
    assert schema_errors(_valid_results()) == []


@pytest.mark.parametrize("corrupt, field", [
    (lambda r: r["summary"].update(steps="32"), "summary.steps"),
    (lambda r: r["world"].pop("dt"), "world"),
    (lambda r: r["provenance"].update(config_hash="xyz"), "provenance.config_hash"),
    (lambda r: r["variant"].update(name="v3_magic"), "variant.name"),
    (lambda r: r["summary"].update(mean_reward=None), "summary.mean_reward"),  # a NaN written as null
    (lambda r: r["trust_trajectory"].append([48, 1.7]), "trust_trajectory.2.1"),
])
def test_corrupted_results_fail_schema_with_field_named(corrupt, field):
    bad = copy.deepcopy(_valid_results())
    corrupt(bad)
    errs = schema_errors(bad)
    assert errs and any(e.startswith(field + ":") for e in errs), errs


def test_schema_names_every_variant_the_cli_accepts():
    """results.schema.json's variant enum is the config's VARIANTS (it once lagged by three, and
    ``atom bench reliability`` / gate G-05 then failed every run of those variants); each variant's
    ``results.json`` entry validates."""
    from atom_sdk.config import VARIANTS
    from atom_sdk.evidence.reliability import results_schema
    from atom_sdk.config import build_run_config
    from atom_sdk.experiment.variants import resolve_variant

    assert results_schema()["properties"]["variant"]["properties"]["name"]["enum"] == list(VARIANTS)
    for name in VARIANTS:
        good = copy.deepcopy(_valid_results())
        good["variant"] = resolve_variant(build_run_config({"variant": name})).as_dict()
        assert schema_errors(good) == [], name


def test_corrupted_results_file_on_disk(tmp_path):
    bad = _valid_results()
    del bad["summary"]["updates"]
    path = tmp_path / "results.json"
    path.write_text(json.dumps(bad))
    errs = schema_errors(json.loads(path.read_text()))
    assert errs == ["summary: 'updates' is a required property"]


def test_nonfinite_and_telemetry_detection():
    assert nonfinite_paths({"a": [1.0, float("nan")], "b": {"c": float("inf")}, "d": 2}) == ["a[1]", "b.c"]
    lines = [{"kind": "step", "step": 0, "reward": 1.0, "action": [0.1], "diagnostics": {"drag": None}},
             {"kind": "update", "step": 1, "loss": None}]
    probs = telemetry_problems(lines, 2)
    assert any("diagnostics.drag" in p for p in probs)
    assert any("update metric loss" in p for p in probs)
    assert any("0..1" in p for p in probs)


def test_unimportable_world_is_reported_failed():
    from atom_sdk.worlds.registry import register, unregister

    register("broken:world", "atom_sdk.no_such_module:World", overwrite=True)
    try:
        rep = run_reliability_kernel(worlds=["broken:world"], variants=["ppo_baseline"], steps=24)
    finally:
        unregister("broken:world")
    assert rep["passed"] is False
    rec = rep["records"][0]
    assert rec["checks"]["import"]["passed"] is False and "no_such_module" in rec["error"]
    assert rep["failing"][0]["world"] == "broken:world"


def test_kernel_on_taylor_green_ppo_baseline(tmp_path):
    rep = run_reliability_kernel(worlds=["analytical:taylor_green"], variants=["ppo_baseline"], steps=24,
                                 deep_variants=("ppo_baseline",), workdir=tmp_path)
    rec = rep["records"][0]
    assert {k: c["passed"] for k, c in rec["checks"].items()} == {
        "run": True, "no_nan": True, "artifacts": True, "schema": True, "deterministic": True, "resume": True}
    assert rec["checks"]["resume"]["stop_after"] == 19
    assert rep["passed"] is True
    json.loads(json.dumps(rep))  # the report is plain JSON
    assert schema_errors(json.loads((tmp_path / "analytical_taylor_green__ppo_baseline" / "run" /
                                     "results.json").read_text())) == []


@pytest.mark.slow
def test_kernel_on_taylor_green_two_variants(tmp_path):
    rep = run_reliability_kernel(worlds=["analytical:taylor_green"], variants=["v2_hybrid", "ppo_baseline"],
                                 steps=32, workdir=tmp_path)
    assert rep["passed"], rep["failing"]
    assert [r["variant"] for r in rep["records"]] == ["v2_hybrid", "ppo_baseline"]
    assert all(set(r["checks"]) >= {"deterministic", "resume", "schema"} for r in rep["records"])
