"""The closed-loop runner: artifacts, reproducibility, resume, refusal to overwrite."""

import json

import pytest

from atom_sdk.artifacts import read_jsonl
from atom_sdk.config import build_run_config, config_hash
from atom_sdk.errors import ArtifactError
from atom_sdk.experiment import run_experiment

TINY = {
    "name": "tiny", "steps": 64, "seed": 1, "variant": "v2_hybrid",
    "world": {"name": "analytical:taylor_green", "grid": [8, 8, 1], "max_episode_steps": 40,
              "params": {"noise": 0.01}},
    "agent": {"rollout_length": 16, "num_minibatches": 2, "update_epochs": 2, "hidden_sizes": [16, 16],
              "latent_dim": 8, "fourier_modes": 2},
    "scientist": {"fit_every": 8, "min_samples": 16, "ensemble_size": 8},
}


def _stable(results: dict) -> str:
    clean = {k: v for k, v in results.items() if k != "timings"}
    return json.dumps(clean, sort_keys=True)


@pytest.fixture(scope="module")
def first_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "a"
    return out, run_experiment(TINY, out)


def test_artifacts_and_provenance(first_run):
    out, results = first_run
    for name in ("results.json", "telemetry.jsonl", "summary.png", "summary.pdf", "checkpoints/latest.msgpack",
                 "ledger.jsonl"):
        assert (out / name).is_file(), name
    prov = results["provenance"]
    assert prov["config_hash"] == config_hash(build_run_config(TINY))
    assert prov["seed"] == 1 and prov["sdk_version"]
    steps = [r for r in read_jsonl(out / "telemetry.jsonl") if r["kind"] == "step"]
    assert [r["step"] for r in steps] == list(range(64))
    assert results["summary"]["steps"] == 64
    assert results["summary"]["updates"] == 4
    assert results["summary"]["episodes_completed"] == 1


def test_same_config_same_results(first_run, tmp_path):
    _, results = first_run
    again = run_experiment(TINY, tmp_path / "b")
    assert _stable(again) == _stable(results)


def test_resume_after_interruption_gives_same_result(first_run, tmp_path):
    _, results = first_run
    out = tmp_path / "c"
    partial = run_experiment(TINY, out, stop_after=37)
    assert partial == {"interrupted_at": 37}
    assert not (out / "results.json").exists()
    resumed = run_experiment(TINY, out, resume=True)
    assert _stable(resumed) == _stable(results)
    steps = [r["step"] for r in read_jsonl(out / "telemetry.jsonl") if r["kind"] == "step"]
    assert steps == list(range(64))


def test_existing_folder_is_not_overwritten_silently(first_run):
    out, _ = first_run
    before = (out / "results.json").read_bytes()
    with pytest.raises(ArtifactError, match="--overwrite"):
        run_experiment(TINY, out)
    assert (out / "results.json").read_bytes() == before


def test_ppo_baseline_has_no_scientist(tmp_path):
    cfg = {**TINY, "variant": "ppo_baseline", "steps": 32}
    results = run_experiment(cfg, tmp_path / "d")
    assert results["variant"]["use_encoder"] is False and results["variant"]["use_scientist"] is False
    assert results["summary"]["final_trust"] is None and results["laws"] == []
