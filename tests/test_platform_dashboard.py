"""The dashboard's API: one index of every run in the workspace (platform jobs, CLI / Python-API run
folders, broken folders), overlay curves for comparing runs, and the ledger grouped by law."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

pytest.importorskip("fastapi")

from fastapi.testclient import TestClient  # noqa: E402

from atom_sdk.platform.api import create_app  # noqa: E402
from atom_sdk.platform.testing import FAKE_LAW, fake_finished_run, settings_for  # noqa: E402
from atom_sdk.workspace import MARKER_FILE, MARKER_SCHEMA  # noqa: E402

LAW_B = {**FAKE_LAW, "equation": "damplitude/dt = -0.0201 amplitude + 1.49 u0"}  # same law, refitted
LAW_C = {**FAKE_LAW, "equation": "damplitude/dt = 1.4 u0", "terms": ["u0"], "support": ["u0"], "coefficients": [1.4]}


@pytest.fixture()
def client(tmp_path):
    app = create_app(settings_for(tmp_path))
    with TestClient(app) as c:
        c.platform = app.state.platform
        yield c


def cli_run_folder(folder: Path, *, name: str, seed: int, steps: int = 12, episode_len: int = 4,
                   finished: bool = True, variant: str = "v2_hybrid") -> list[float]:
    """The files ``atom run`` writes (marker, config.json, telemetry, ledger, results.json); returns rewards."""
    folder.mkdir(parents=True)
    (folder / MARKER_FILE).write_text(json.dumps({"schema": MARKER_SCHEMA, "kind": "run"}))
    config = {"name": name, "seed": seed, "steps": steps, "variant": variant,
              "world": {"name": "analytical:taylor_green", "grid": [8, 8, 1]}}
    (folder / "config.json").write_text(json.dumps({"config": config, "config_hash": "x"}))
    rewards = [-1.0 + 0.1 * s + seed for s in range(steps)]
    lines = [{"kind": "step", "step": s, "episode": s // episode_len, "reward": rewards[s], "trust": s / steps,
              "safety_mode": "nominal", "diagnostics": {"amplitude": 1.0 - 0.05 * s}} for s in range(steps)]
    lines.insert(5, {"kind": "update", "step": 5, "update": 1, "loss": 0.3})
    (folder / "telemetry.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    ledger = [{"seq": 0, "time": "2025-02-01T00:00:00+00:00", "kind": "accepted", "step": 6, "equations": [FAKE_LAW]}]
    (folder / "ledger.jsonl").write_text("".join(json.dumps(x) + "\n" for x in ledger))
    if finished:
        returns = [sum(rewards[i:i + episode_len]) for i in range(0, steps, episode_len)]
        (folder / "results.json").write_text(json.dumps({
            "schema": "atom.results/1", "name": name, "world": {"id": "analytical:taylor_green"},
            "variant": {"name": variant}, "laws": [FAKE_LAW],
            "summary": {"steps": steps, "mean_reward": sum(rewards) / steps, "mean_return": sum(returns) / len(returns),
                        "final_trust": (steps - 1) / steps}}))
    return rewards


def test_index_lists_cli_job_partial_and_broken_runs(client):
    s = client.platform.settings
    job_id = fake_finished_run(client.platform.store, s, name="from_ui", mean_reward=-0.25)
    rewards = cli_run_folder(s.workspace / "experiment_results" / "tg_cli", name="tg_cli", seed=3)
    cli_run_folder(s.workspace / "sweep" / "ppo" / "seed1", name="seed1", seed=1, finished=False,
                   variant="ppo_baseline")
    os.utime(s.workspace / "sweep" / "ppo" / "seed1" / "telemetry.jsonl", (1e9, 1e9))  # stopped long ago
    broken = s.workspace / "experiment_results" / "broken"
    broken.mkdir(parents=True)
    (broken / MARKER_FILE).write_text(json.dumps({"schema": MARKER_SCHEMA, "kind": "run"}))
    (broken / "config.json").write_text("{not json")
    (broken / "results.json").write_text('{"summary": ')  # cut off mid-write
    (s.workspace / "notes").mkdir()  # not a run: never listed
    (s.workspace / "notes" / "config.json").write_text("{}")

    data = client.get("/api/v1/workspace/runs").json()
    rows = {r["key"]: r for r in data["items"]}
    assert set(rows) == {job_id, "dir:experiment_results/tg_cli", "dir:sweep/ppo/seed1",
                         "dir:experiment_results/broken"}
    cli = rows["dir:experiment_results/tg_cli"]
    assert cli["source"] == "folder" and cli["status"] == "complete" and cli["seed"] == 3
    assert cli["world"] == "analytical:taylor_green" and cli["variant"] == "v2_hybrid"
    assert cli["mean_reward"] == pytest.approx(sum(rewards) / 12)
    assert cli["mean_return"] == pytest.approx(sum(rewards) / 3)  # three episodes of four steps
    assert cli["law"] == FAKE_LAW["equation"] and cli["steps_done"] == 12
    partial = rows["dir:sweep/ppo/seed1"]
    assert partial["status"] == "partial" and partial["steps_done"] == 12 and partial["mean_return"] is None
    assert partial["final_trust"] == pytest.approx(11 / 12) and partial["law"] == FAKE_LAW["equation"]
    bad = rows["dir:experiment_results/broken"]
    assert bad["status"] == "broken" and "config.json unreadable" in bad["problem"] and "results.json" in bad["problem"]
    job = rows[job_id]
    assert job["source"] == "job" and job["state"] == "succeeded" and job["status"] == "complete"
    assert job["mean_reward"] == -0.25 and job["law"] == FAKE_LAW["equation"] and job["path"] == f"jobs/{job_id}"
    assert data["counts_by_status"] == {"complete": 2, "partial": 1, "broken": 1}
    assert data["variants"] == ["ppo_baseline", "v2_hybrid"]

    # filters and sorting, done by the server
    only = client.get("/api/v1/workspace/runs", params={"variant": "ppo_baseline"}).json()
    assert [r["key"] for r in only["items"]] == ["dir:sweep/ppo/seed1"] and only["total"] == 1
    assert client.get("/api/v1/workspace/runs", params={"status": "broken"}).json()["total"] == 1
    assert client.get("/api/v1/workspace/runs", params={"q": "tg_cli complete"}).json()["total"] == 1
    by_seed = client.get("/api/v1/workspace/runs", params={"sort": "seed", "order": "asc"}).json()["items"]
    assert [r["seed"] for r in by_seed if r["seed"] is not None][:2] == [0, 1]
    by_reward = client.get("/api/v1/workspace/runs", params={"sort": "mean_reward"}).json()["items"]
    assert [r["key"] for r in by_reward[:2]] == ["dir:experiment_results/tg_cli", job_id]
    assert client.get("/api/v1/workspace/runs", params={"sort": "nope"}).status_code == 422


def test_index_merges_queued_and_cancelled_jobs_and_stays_inside_the_workspace(client, tmp_path):
    from atom_sdk.platform.catalog import tiny_run_config

    queued = client.post("/api/v1/runs", json={"config": tiny_run_config("q1")}).json()["id"]
    cancelled = client.post("/api/v1/runs", json={"config": tiny_run_config("c1", variant="ppo_baseline")}).json()["id"]
    client.post(f"/api/v1/runs/{cancelled}/cancel")
    outside = tmp_path.parent / f"{tmp_path.name}_outside"
    cli_run_folder(outside / "escaped", name="escaped", seed=0)
    (client.platform.settings.workspace / "link").symlink_to(outside, target_is_directory=True)

    rows = {r["key"]: r for r in client.get("/api/v1/workspace/runs").json()["items"]}
    assert set(rows) == {queued, cancelled}  # the symlinked folder outside the workspace is not followed
    assert rows[queued]["status"] == "queued" and rows[queued]["seed"] == 0 and rows[queued]["steps"] == 32
    assert rows[cancelled]["status"] == "cancelled" and rows[cancelled]["variant"] == "ppo_baseline"
    resumed = client.post(f"/api/v1/jobs/{cancelled}/resume").json()
    assert resumed["state"] == "queued" and resumed["resume"] is True

    linked = client.platform.settings.workspace / "experiment_results" / "linked"
    cli_run_folder(linked, name="linked", seed=9, finished=False)
    for name in ("results.json", "telemetry.jsonl", "ledger.jsonl"):  # files that lead out of the workspace
        (linked / name).unlink(missing_ok=True)
        (linked / name).symlink_to(outside / "escaped" / name)
    row = [r for r in client.get("/api/v1/workspace/runs").json()["items"] if r["name"] == "linked"][0]
    assert row["status"] == "broken" and row["mean_reward"] is None and row["law"] is None
    assert "results.json is a symlink (not followed)" in row["problem"]
    curves = client.get("/api/v1/workspace/runs/curves", params={"run": row["key"]}).json()["runs"][0]
    assert curves["curves"] == {}
    ledger = client.get("/api/v1/ledger/laws", params={"run_id": row["key"]}).json()
    assert ledger["records"] == 0

    for key in ("dir:../x", "dir:/etc", "dir:link/escaped", "../../etc"):
        resp = client.get("/api/v1/workspace/runs/curves", params={"run": key})
        assert resp.status_code == 400 and resp.json()["code"] == "path_outside_workspace", key
    assert client.get("/api/v1/workspace/runs/curves", params={"run": "run_nope"}).status_code == 404
    assert client.get("/api/v1/workspace/runs/curves", params={"run": "dir:jobs"}).status_code == 404


def test_curves_overlay_two_runs_downsampled(client):
    s = client.platform.settings
    job_id = fake_finished_run(client.platform.store, s, name="ui", mean_reward=-0.5)
    rewards = cli_run_folder(s.workspace / "runs" / "long", name="long", seed=0, steps=40, episode_len=10)
    resp = client.get("/api/v1/workspace/runs/curves", params=[("run", job_id), ("run", "dir:runs/long"),
                                                               ("max_points", "10")])
    assert resp.status_code == 200, resp.text
    ui, long = resp.json()["runs"]
    assert ui["key"] == job_id and ui["name"] == "ui" and long["name"] == "long"
    assert ui["curves"]["reward"] == [[s, -0.5] for s in range(8)] and ui["points_total"]["trust"] == 8
    assert ui["curves"]["diagnostics.energy"][-1] == [7, pytest.approx(0.93)]
    # 40 reward points in 10 buckets of 4: each the bucket mean at the bucket's last step
    assert long["points_total"]["reward"] == 40 and len(long["curves"]["reward"]) == 10
    assert long["curves"]["reward"][0] == [3, pytest.approx(sum(rewards[:4]) / 4)]
    assert long["curves"]["reward"][-1] == [39, pytest.approx(sum(rewards[36:]) / 4)]
    # finished episodes only (the 4th is still open at step 39): returns at each episode's last step
    assert long["curves"]["episode_return"] == [[9, pytest.approx(sum(rewards[:10]))],
                                                [19, pytest.approx(sum(rewards[10:20]))],
                                                [29, pytest.approx(sum(rewards[20:30]))]]
    assert long["units"]["trust"].startswith("theory trust") and "safety_mode" in long["curves"]
    only = client.get("/api/v1/workspace/runs/curves", params=[("run", job_id), ("curve", "trust")]).json()
    assert list(only["runs"][0]["curves"]) == ["trust"]
    assert client.get("/api/v1/workspace/runs/curves").status_code == 422


def test_ledger_grouped_by_law_with_counts(client):
    s = client.platform.settings
    a = fake_finished_run(client.platform.store, s, name="a")  # candidate, rejected, accepted of FAKE_LAW
    b = fake_finished_run(client.platform.store, s, name="b")
    extra = [{"seq": 3 + i, "time": f"2025-01-02T00:00:0{i}+00:00", "kind": "rejected", "step": 9 + i,
              "equations": [LAW_B], "reasons": ["duplicate of the current theory"]} for i in range(5)]
    extra.append({"seq": 9, "time": "2025-01-03T00:00:00+00:00", "kind": "candidate", "step": 20,
                  "equations": [LAW_C], "reasons": []})
    with (s.jobs_dir / b / "ledger.jsonl").open("a") as handle:
        handle.write("".join(json.dumps(x) + "\n" for x in extra))

    flat = client.get("/api/v1/ledger").json()
    assert flat["total"] == 12
    grouped = client.get("/api/v1/ledger/laws", params={"sort": "count"}).json()
    assert grouped["total"] == 2 and grouped["records"] == 12
    top, other = grouped["items"]
    assert top["structure"] == "amplitude(amplitude, u0)" and top["count"] == 11
    assert top["counts_by_kind"] == {"candidate": 2, "rejected": 7, "accepted": 2}
    assert top["counts_by_reason"] == {"does not beat persistence": 2, "duplicate of the current theory": 5}
    assert sorted(top["runs"]) == sorted([a, b]) and top["law"] == LAW_B["equation"] and top["last_step"] == 13
    assert top["first_step"] == 4 and top["last_kind"] == "rejected"
    assert other["structure"] == "amplitude(u0)" and other["count"] == 1 and other["law"] == LAW_C["equation"]
    newest = client.get("/api/v1/ledger/laws").json()["items"]
    assert newest[0]["structure"] == "amplitude(u0)"  # default order: most recently seen first
    accepted = client.get("/api/v1/ledger/laws", params={"kind": "accepted", "run_id": a}).json()
    assert accepted["records"] == 1 and accepted["items"][0]["counts_by_kind"] == {"accepted": 1}

    cli_run_folder(s.workspace / "experiment_results" / "cli", name="cli", seed=0)  # one accepted FAKE_LAW
    everything = client.get("/api/v1/ledger/laws", params={"sort": "count"}).json()
    assert everything["records"] == 13 and everything["items"][0]["count"] == 12
    assert "dir:experiment_results/cli" in everything["items"][0]["runs"]
    one = client.get("/api/v1/ledger/laws", params={"run_id": "dir:experiment_results/cli"}).json()
    assert one["records"] == 1 and one["items"][0]["runs"] == ["dir:experiment_results/cli"]
    assert client.get("/api/v1/ledger/laws", params={"run_id": "dir:../../etc"}).status_code == 400


@pytest.mark.slow
def test_index_reads_a_real_cli_run(client):
    """A real ``run_experiment`` folder inside the workspace: the row agrees with its results.json."""
    from atom_sdk.experiment.runner import run_experiment
    from atom_sdk.platform.catalog import tiny_run_config

    out = client.platform.settings.workspace / "experiment_results" / "real"
    results = run_experiment(tiny_run_config("real", steps=16), out)
    row = client.get("/api/v1/workspace/runs").json()["items"][0]
    assert row["key"] == "dir:experiment_results/real" and row["status"] == "complete"
    assert row["mean_reward"] == pytest.approx(results["summary"]["mean_reward"])
    assert row["final_trust"] == pytest.approx(results["summary"]["final_trust"])
    curves = client.get("/api/v1/workspace/runs/curves", params={"run": row["key"]}).json()["runs"][0]
    assert curves["points_total"]["reward"] == 16


def test_field_snapshot_of_a_3d_field_carries_z_slices(tmp_path):
    """The heat map's slice selector: evenly spaced z-slices, each the block means of that plane."""
    import numpy as np

    from atom_sdk.platform.jobfiles import write_field_snapshot

    class World3D:
        def fields(self):
            x, z = np.arange(8.0)[:, None, None], np.arange(20.0)[None, None, :]
            return {"vorticity": x * np.ones((8, 6, 20)) + 100 * z}

    write_field_snapshot(tmp_path, World3D(), step=3)
    snap = json.loads((tmp_path / "field_snapshot.json").read_text())
    assert snap["grid"] == [8, 6, 20] and snap["slice_index"] == 10 and snap["cell"] == [1, 1]
    assert snap["data"][0] == [1000.0 + i for i in range(8)]  # the middle slice, rows along y
    assert len(snap["slice_positions"]) == 16 and snap["slice_positions"][0] == 0 and snap["slice_positions"][-1] == 19
    k = snap["slice_positions"].index(19)
    assert snap["slices"][k][5] == [1900.0 + i for i in range(8)]
    assert snap["slices_min"] == 0.0 and snap["slices_max"] == 1907.0


def test_telemetry_cursor_survives_a_resume_rewriting_lines_of_other_lengths(tmp_path):
    """A resumed run truncates telemetry to its checkpoint and writes on: a cached offset must not cut a line."""
    from atom_sdk.platform.jobfiles import read_lines

    path = tmp_path / "telemetry.jsonl"
    path.write_text("".join(json.dumps({"kind": "step", "step": s, "reward": 0.5}) + "\n" for s in range(10)))
    items, cursor = read_lines(path, 0)
    assert cursor == 10 and len(items) == 10
    lines = path.read_text().splitlines(keepends=True)[:6]  # back to the checkpoint at 6 lines ...
    lines += [json.dumps({"kind": "step", "step": s, "reward": -0.123456789}) + "\n" for s in range(6, 14)]
    path.write_text("".join(lines))  # ... and on, with longer lines
    items, cursor = read_lines(path, 10)
    assert cursor == 14 and [i["step"] for i in items] == [10, 11, 12, 13]
    assert all(i["kind"] == "step" and i["reward"] == -0.123456789 for i in items)


def test_curves_of_a_live_run_read_only_new_lines_and_follow_a_resume(tmp_path):
    """Appended lines extend the parsed curves; a rewrite from a checkpoint is parsed again from the start."""
    from atom_sdk.platform.runcurves import run_curves

    folder = tmp_path / "live"
    folder.mkdir()
    path = folder / "telemetry.jsonl"
    line = lambda s, r: json.dumps({"kind": "step", "step": s, "episode": s // 5, "reward": r, "trust": 0.5}) + "\n"
    path.write_text("".join(line(s, 1.0) for s in range(7)) + '{"kind": "step", "st')  # last line half-written
    first = run_curves(folder)
    assert first["points_total"]["reward"] == 7 and first["curves"]["episode_return"] == [[4, 5.0]]
    with path.open("a") as handle:  # the half line completes, more follow
        handle.write('ep": 7, "episode": 1, "reward": 1.0}\n' + "".join(line(s, 1.0) for s in range(8, 12)))
    grown = run_curves(folder)
    assert grown["points_total"]["reward"] == 12 and [p[0] for p in grown["curves"]["reward"]] == list(range(12))
    assert grown["curves"]["episode_return"] == [[4, 5.0], [9, 5.0]]
    path.write_text("".join(line(s, 1.0) for s in range(5)) + "".join(line(s, 2.0) for s in range(5, 12)))
    resumed = run_curves(folder)  # same length class, other bytes: not appended to the old parse
    assert resumed["points_total"]["reward"] == 12 and resumed["curves"]["episode_return"] == [[4, 5.0], [9, 10.0]]
