"""``atom eval`` / ``evaluate_checkpoint``: a trained checkpoint acted frozen for N episodes."""

from __future__ import annotations

import copy
import hashlib
import json
import re

import numpy as np
import pytest

from atom_sdk.artifacts import read_json, read_jsonl
from atom_sdk.config import build_run_config, deep_merge
from atom_sdk.errors import WorldParameterError
from atom_sdk.experiment import run_experiment
from atom_sdk.experiment.evaluate import SCHEMA, evaluate_checkpoint, return_statistics
from atom_sdk.experiment.runner import make_world
from atom_sdk.release.gate_reproducibility import TINY_CONFIG

ANSI = re.compile(r"\x1b\[[0-9;]*m")

#: the release gate's tiny Taylor-Green run, shortened to 8-step episodes (4 per run of 32 steps)
TINY = deep_merge(TINY_CONFIG, {"name": "tiny-eval", "steps": 32, "seed": 3, "variant": "ppo_baseline",
                                "world": {"grid": [8, 8, 2], "max_episode_steps": 8, "params": {"noise": 0.01}},
                                "agent": {"num_minibatches": 2}, "safety": {"enabled": False}})


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A ppo_baseline run (safety off) and a v2_hybrid run (scientist, safety envelope on)."""
    root = tmp_path_factory.mktemp("eval_runs")
    baseline = root / "baseline"
    run_experiment(TINY, baseline)
    hybrid_cfg = {**copy.deepcopy(TINY), "name": "tiny-hybrid", "variant": "v2_hybrid", "safety": {"enabled": True}}
    hybrid = root / "hybrid"
    run_experiment(hybrid_cfg, hybrid)
    return {"baseline": baseline, "hybrid": hybrid}


def _stable(doc: dict) -> str:
    """The document without its timing fields (and the git commit, which another commit may move)."""
    clean = {k: v for k, v in doc.items() if k != "timings"}
    clean["provenance"] = {k: v for k, v in doc["provenance"].items() if k != "git_commit"}
    return json.dumps(clean, sort_keys=True)


def _atom(argv, capsys):
    from atom_sdk.cli.main import main

    with pytest.raises(SystemExit) as exit_info:
        main([str(a) for a in argv])
    captured = capsys.readouterr()
    return int(exit_info.value.code or 0), ANSI.sub("", captured.out), ANSI.sub("", captured.err)


def test_same_seed_same_evaluation_other_seed_differs(runs, tmp_path):
    run = runs["baseline"]
    a = evaluate_checkpoint(run, episodes=3, seed=0, out_dir=tmp_path / "a")
    b = evaluate_checkpoint(run, episodes=3, seed=0, out_dir=tmp_path / "b")
    c = evaluate_checkpoint(run, episodes=3, seed=5, out_dir=tmp_path / "c")
    assert a["schema"] == SCHEMA
    assert _stable(a) == _stable(b)
    assert _stable(read_json(tmp_path / "a" / "evaluation.json")) == _stable(read_json(tmp_path / "b" /
                                                                                      "evaluation.json"))
    assert [e["seed"] for e in a["episodes"]] == [0, 7919, 15838]
    assert [e["seed"] for e in c["episodes"]] == [5, 7924, 15843]
    assert [e["return"] for e in a["episodes"]] != [e["return"] for e in c["episodes"]]
    for name in ("evaluation.json", "evaluation.png", "telemetry.jsonl", ".atom-output.json"):
        assert (tmp_path / "a" / name).is_file()
    stats = a["summary"]["return"]
    returns = [e["return"] for e in a["episodes"]]
    assert stats["n"] == 3 and stats["mean"] == pytest.approx(np.mean(returns))
    assert stats["ci_low"] < stats["mean"] < stats["ci_high"]
    assert a["provenance"]["config_hash"] == a["provenance"]["run_config_hash"]  # no overrides
    ckpt_bytes = (run / "checkpoints" / "latest.msgpack").read_bytes()
    assert a["provenance"]["checkpoint"]["sha256"] == hashlib.sha256(ckpt_bytes).hexdigest()
    assert a["provenance"]["checkpoint"]["step"] == 32 and a["run"]["trained_steps"] == 32


def test_return_statistics_t_interval():
    stats = return_statistics([1.0, 2.0, 3.0, 4.0])
    # mean 2.5, std 1.2910, t(0.975, 3) = 3.1824: half width 3.1824 * 1.2910 / 2 = 2.0543
    assert stats["mean"] == 2.5 and stats["std"] == pytest.approx(1.290994, rel=1e-6)
    assert (stats["ci_low"], stats["ci_high"]) == pytest.approx((0.445740, 4.554260), abs=1e-6)
    single = return_statistics([1.5])
    assert single["mean"] == 1.5 and single["ci_low"] is None
    assert return_statistics([1.0, float("nan")])["non_finite"] == 1


def test_deterministic_action_is_the_policy_mean(runs, tmp_path):
    from atom_sdk.experiment.policy import Policy

    run = runs["baseline"]
    evaluate_checkpoint(run, episodes=1, seed=0, out_dir=tmp_path / "det")
    evaluate_checkpoint(run, episodes=1, seed=0, deterministic=False, out_dir=tmp_path / "sto1")
    evaluate_checkpoint(run, episodes=1, seed=0, deterministic=False, out_dir=tmp_path / "sto2")
    first = read_jsonl(tmp_path / "det" / "telemetry.jsonl")[0]
    config = build_run_config(read_json(run / "config.json")["config"])
    world = make_world(config)
    obs, _ = world.reset(seed=0)
    policy = Policy.from_checkpoint(config, world, run, ledger_dir=tmp_path)
    decision = policy.act(obs, x=world.observables(), u=np.zeros(world.action_space.shape), explore=False)
    assert first["step"] == 0 and first["episode"] == 0
    assert first["action"] == pytest.approx(decision.env_action.reshape(-1).tolist(), abs=1e-7)
    sampled = [read_jsonl(tmp_path / name / "telemetry.jsonl") for name in ("sto1", "sto2")]
    assert sampled[0] == sampled[1]  # sampling is seeded
    assert sampled[0][0]["action"] != pytest.approx(first["action"], abs=1e-6)  # and is not the mean
    assert read_json(tmp_path / "sto1" / "evaluation.json")["settings"]["deterministic"] is False


def test_returns_equal_the_rewards_of_the_same_actions_stepped_by_hand(runs, tmp_path):
    run = runs["baseline"]
    result = evaluate_checkpoint(run, episodes=2, seed=1, out_dir=tmp_path / "e")
    lines = read_jsonl(tmp_path / "e" / "telemetry.jsonl")
    world = make_world(build_run_config(read_json(run / "config.json")["config"]))
    for record in result["episodes"]:
        world.reset(seed=record["seed"])
        actions = [np.asarray(r["action"]) for r in lines if r["episode"] == record["episode"]]
        total = 0.0
        for action in actions:
            _, reward, _, _, _ = world.step(action.reshape(world.action_space.shape))
            total += float(reward)
        assert len(actions) == record["length"] == 8
        assert record["return"] == pytest.approx(total, rel=1e-9)
        assert record["return"] < 0.0


def test_world_override_changes_returns_and_is_recorded(runs, tmp_path):
    run = runs["baseline"]
    base = evaluate_checkpoint(run, episodes=2, seed=0, out_dir=tmp_path / "base")
    ood = evaluate_checkpoint(run, episodes=2, seed=0, world_overrides={"nu": 0.05}, out_dir=tmp_path / "ood")
    assert ood["world_overrides"] == {"nu": 0.05}
    assert ood["world"]["params"] == {"k": 1, "noise": 0.01, "nu": 0.05}
    assert base["world_overrides"] == {} and "nu" not in base["world"]["params"]
    for b, o in zip(base["episodes"], ood["episodes"]):
        assert abs(b["return"] - o["return"]) > 1e-4
    assert ood["provenance"]["config_hash"] != ood["provenance"]["run_config_hash"]
    assert ood["provenance"]["run_config_hash"] == base["provenance"]["run_config_hash"]


def test_scientist_variant_is_frozen_and_checkpoint_untouched(runs):
    run = runs["hybrid"]
    before = {p: (run / p).read_bytes() for p in ("checkpoints/latest.msgpack", "ledger.jsonl", "results.json")}
    result = evaluate_checkpoint(run, episodes=2, seed=0)
    assert (run / "evaluations" / "eval" / "evaluation.json").is_file()
    assert result["settings"]["scientist"].startswith("frozen")
    assert result["safety"]["enabled"] is True
    assert result["science"]["trust"] == pytest.approx(read_json(run / "results.json")["summary"]["final_trust"])
    assert {p: (run / p).read_bytes() for p in before} == before


def test_bad_override_is_refused_in_one_line_and_writes_nothing(runs, capsys):
    run = runs["baseline"]
    code, _, err = _atom(["eval", run, "--episodes", "1", "--world-bogus", "1", "--name", "bad"], capsys)
    assert code == 2
    assert "bogus" in err and "--world-bogus" in err and len(err.strip().splitlines()) == 1
    code, _, err = _atom(["eval", run, "--episodes", "1", "--world-nu", "-1", "--name", "bad"], capsys)
    assert code == 2 and "nu" in err
    assert not (run / "evaluations" / "bad").exists()
    with pytest.raises(WorldParameterError, match="bogus"):
        evaluate_checkpoint(run, episodes=1, world_overrides={"bogus": 1}, name="bad2")
    assert not (run / "evaluations" / "bad2").exists()


def test_cli_overwrite_rules(runs, capsys):
    run = runs["baseline"]
    code, out, _ = _atom(["eval", run, "--episodes", "2", "--name", "cli", "--world-nu", "0.02", "--json"], capsys)
    assert code == 0
    doc = json.loads(out)
    assert doc["world_overrides"] == {"nu": 0.02} and len(doc["episodes"]) == 2
    assert doc["output"] == str((run / "evaluations" / "cli").resolve())
    code, _, err = _atom(["eval", run, "--episodes", "1", "--name", "cli"], capsys)
    assert code == 2 and "already exists" in err and "--overwrite" in err
    assert read_json(run / "evaluations" / "cli" / "evaluation.json")["settings"]["episodes"] == 2
    code, _, _ = _atom(["eval", run, "--episodes", "1", "--name", "cli", "--overwrite"], capsys)
    assert code == 0
    assert read_json(run / "evaluations" / "cli" / "evaluation.json")["settings"]["episodes"] == 1
    foreign = run / "evaluations" / "mine"
    foreign.mkdir(parents=True)
    (foreign / "notes.txt").write_text("keep me")
    code, _, err = _atom(["eval", run, "--episodes", "1", "--name", "mine", "--overwrite"], capsys)
    assert code == 2 and "not created by atom" in err
    assert (foreign / "notes.txt").read_text() == "keep me" and sorted(p.name for p in foreign.iterdir()) == [
        "notes.txt"]
    code, _, err = _atom(["eval", run, "--episodes", "1", "--name", ".."], capsys)
    assert code == 2 and "--name" in err
    code, _, err = _atom(["eval", run.parent / "missing", "--episodes", "1"], capsys)
    assert code == 2 and "does not exist" in err


def test_http_evaluation_of_a_finished_run(runs, tmp_path):
    import shutil

    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from atom_sdk.platform.api import create_app
    from atom_sdk.platform.testing import fake_finished_run, settings_for

    settings = settings_for(tmp_path, max_steps=40)
    app = create_app(settings)
    with TestClient(app) as client:
        store = app.state.platform.store
        run_id = fake_finished_run(store, settings, name="evaluated")
        shutil.copytree(runs["baseline"], settings.jobs_dir / run_id, dirs_exist_ok=True)
        url = f"/api/v1/runs/{run_id}/evaluations"
        r = client.post(url, json={"episodes": 2, "seed": 0, "world_overrides": {"nu": 0.05}})
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["artifacts_prefix"] == "evaluations/eval"
        assert body["evaluation"]["world_overrides"] == {"nu": 0.05}
        assert len(body["evaluation"]["episodes"]) == 2
        listed = {a["path"] for a in client.get(f"/api/v1/runs/{run_id}/artifacts").json()["items"]}
        assert "evaluations/eval/evaluation.json" in listed
        assert client.post(url, json={"episodes": 2}).status_code == 409  # exists, no overwrite
        assert client.post(url, json={"episodes": 1, "overwrite": True}).status_code == 200
        assert client.post(url, json={"episodes": 1001}).status_code == 422
        assert client.post(url, json={"episodes": 6, "name": "long"}).status_code == 422  # 48 > max_steps 40
        bad = client.post(url, json={"episodes": 1, "name": "bad", "world_overrides": {"bogus": 1}})
        assert bad.status_code == 422 and "bogus" in bad.json()["message"]
        assert client.post(url, json={"episodes": 1, "name": ".."}).status_code == 422
        assert not (settings.jobs_dir / run_id / "evaluations" / "bad").exists()
        assert client.post("/api/v1/runs/nope/evaluations", json={"episodes": 1}).status_code == 404
