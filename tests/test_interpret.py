"""Interpretability: gradient saliency against finite differences, feature importance on a network
built to ignore some features, the artifacts of ``atom interpret`` on a tiny real run, and the API."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import jax
import numpy as np
import pytest

from atom_sdk.agent import ppo
from atom_sdk.agent import saliency as S
from atom_sdk.artifacts import read_json
from atom_sdk.config import deep_merge
from atom_sdk.errors import ArtifactError, ConfigError
from atom_sdk.experiment import run_experiment
from atom_sdk.experiment.interpret import SCHEMA, downsample, feature_names, interpret_run, map_2d
from atom_sdk.release.gate_reproducibility import TINY_CONFIG

ANSI = re.compile(r"\x1b\[[0-9;]*m")
#: finite differences run in float32 (the agent's dtype): central differences with step EPS on O(1)
#: inputs agree with the exact Jacobian to RTOL of its largest entry
EPS, RTOL = 1e-2, 2e-2
BOUNDS = {"low": [-1.0, -2.0], "high": [1.0, 2.0]}


def _agent(example, settings, *, mean_scale=100.0, seed=0):
    """A small random actor-critic; the policy head (initialised at scale 0.01) is scaled up so that
    the action's derivatives stand well above float32 round-off."""
    agent = ppo.create_agent(jax.random.PRNGKey(seed), example, BOUNDS, settings, ppo.DerivedSettings(1, False, 0.1))
    params = jax.tree.map(lambda x: x, agent.params)
    params["net"]["params"]["mean"]["kernel"] = params["net"]["params"]["mean"]["kernel"] * mean_scale
    return agent.replace(params=params)


def _central_differences(agent, inputs, key):
    """d out / d inputs[key] by central differences, all perturbations evaluated as one batch."""
    x = np.asarray(inputs[key], np.float32)
    n = x.size
    step = (np.eye(n, dtype=np.float32) * EPS).reshape((n,) + x.shape)
    batch = {k: np.broadcast_to(np.asarray(v, np.float32), (2 * n,) + np.shape(v)) for k, v in inputs.items()}
    batch[key] = np.concatenate([x + step, x - step])
    out = jax.device_get(S.policy_outputs(agent, batch))
    result = {}
    for name, values in out.items():
        values = np.asarray(values, np.float64)
        fd = (values[:n] - values[n:]) / (2 * EPS)  # (n, *out_shape)
        result[name] = np.moveaxis(fd.reshape((n,) + values.shape[1:]), 0, -1).reshape(values.shape[1:] + x.shape)
    return result


@pytest.mark.parametrize("encoder", ["conv", "spectral"])
def test_jacobians_match_central_finite_differences(encoder):
    rng = np.random.default_rng(0)
    inputs = {"fields": rng.normal(size=(2, 6, 5, 1)).astype(np.float32), "vector": rng.normal(size=3).astype(np.float32)}
    agent = _agent(inputs, {"encoder": encoder, "latent_dim": 4, "fourier_modes": 2, "hidden_sizes": [8]})
    jac = jax.device_get(S.output_jacobians(agent, inputs))
    assert jac["action/fields"].shape == (2, 2, 6, 5, 1) and jac["latent/fields"].shape == (4, 2, 6, 5, 1)
    assert jac["value/fields"].shape == (2, 6, 5, 1) and jac["action/vector"].shape == (2, 3)
    for key in ("fields", "vector"):
        fd = _central_differences(agent, inputs, key)
        for name in (("action", "value", "latent") if key == "fields" else ("action", "value")):
            exact = np.asarray(jac[f"{name}/{key}"], np.float64)
            scale = np.abs(exact).max()
            assert scale > 1e-4, f"{name}/{key} is too flat to test"
            np.testing.assert_allclose(fd[name], exact, rtol=0, atol=RTOL * scale, err_msg=f"{name}/{key}")
    maps = jax.device_get(S.saliency_maps(agent, inputs))
    np.testing.assert_allclose(maps["action"], np.abs(jac["action/fields"]).sum(axis=0), rtol=1e-6)
    np.testing.assert_allclose(maps["value"], np.abs(jac["value/fields"]), rtol=1e-6)
    np.testing.assert_allclose(maps["latent"], np.abs(jac["latent/fields"]).sum(axis=0), rtol=1e-6)


def test_smoothgrad_and_integrated_gradients():
    rng = np.random.default_rng(1)
    inputs = {"fields": rng.normal(size=(2, 6, 5, 1)).astype(np.float32), "vector": rng.normal(size=3).astype(np.float32)}
    agent = _agent(inputs, {"encoder": "conv", "latent_dim": 4, "hidden_sizes": [8]})
    plain = jax.device_get(S.saliency_maps(agent, inputs))
    still = jax.device_get(S.smoothgrad(agent, inputs, jax.random.PRNGKey(0), samples=3, noise=0.0))
    noisy = jax.device_get(S.smoothgrad(agent, inputs, jax.random.PRNGKey(0), samples=3, noise=0.2))
    for k in S.OUTPUTS:  # no noise: the plain map; noise moves it
        np.testing.assert_allclose(still[k], plain[k], rtol=1e-5)
        assert np.abs(noisy[k] - plain[k]).max() > 1e-3 * plain[k].max()
    ig = jax.device_get(S.integrated_gradients(agent, inputs, targets=("value", "action:1"), steps=64))
    for target, (attribution, change) in ig.items():  # completeness: the attributions add up to f(x) - f(0)
        assert attribution.shape == (2, 6, 5, 1)
        assert abs(change) > 1e-3
        assert float(attribution.sum()) == pytest.approx(float(change), rel=1e-2), target
    with pytest.raises(ConfigError, match="unknown target"):
        S.integrated_gradients(agent, inputs, targets=("speed",))


def test_feature_importance_ranks_a_used_feature_above_an_ignored_one():
    """The actor reads features 0 and 1 only (the rows of 2 and 3 in its first layer are zero)."""
    rng = np.random.default_rng(2)
    example = {"vector": np.zeros(4, np.float32)}
    agent = _agent(example, {"hidden_sizes": [8]}, mean_scale=50.0)
    params = jax.tree.map(lambda x: x, agent.params)
    kernel = np.asarray(params["net"]["params"]["actor_0"]["kernel"]).copy()
    kernel[2:] = 0.0
    kernel[1] *= 0.1
    params["net"]["params"]["actor_0"]["kernel"] = kernel
    agent = agent.replace(params=params)
    batch = {"vector": rng.normal(size=(64, 4)).astype(np.float32)}
    gxi = np.asarray(S.gradient_x_input(agent, batch))
    assert gxi.shape == (64, 4)
    mean_gxi = gxi.mean(axis=0)
    assert mean_gxi[0] > mean_gxi[1] > 0.0 and mean_gxi[2] == 0.0 and mean_gxi[3] == 0.0
    one = np.asarray(S.gradient_x_input(agent, {"vector": batch["vector"][0]}))
    np.testing.assert_allclose(one, gxi[0], rtol=1e-6)
    zeroed = batch["vector"][0].copy()
    zeroed[0] = 0.0  # gradient x input of a feature that is zero in the observation is 0
    assert float(S.gradient_x_input(agent, {"vector": zeroed})[0]) == 0.0
    mean, std = (np.asarray(a) for a in S.permutation_importance(agent, batch, jax.random.PRNGKey(3), repeats=4))
    assert mean.shape == std.shape == (4,)
    assert mean[0] > mean[1] > 0.0 and mean[2] == 0.0 and mean[3] == 0.0
    assert mean[0] > 10 * std[0]
    with pytest.raises(ConfigError, match="batch of at least 2"):
        S.permutation_importance(agent, {"vector": batch["vector"][0]}, jax.random.PRNGKey(0))


def test_feature_names_follow_the_theory_layout():
    class World:
        metadata = {"observation_names": ["a", "b"]}
        observable_names = ("energy",)

    names = feature_names(World(), 2, 5)
    assert names == [("a", "observation"), ("b", "observation"), ("predicted energy", "theory"),
                     ("residual energy", "theory"), ("interval width energy", "theory"), ("trust", "theory"),
                     ("has theory", "theory")]
    assert feature_names(World(), 3, 0) == [("obs_0", "observation"), ("obs_1", "observation"),
                                           ("obs_2", "observation")]


def test_downsample_is_block_means_and_bounded():
    image = np.arange(10 * 7, dtype=float).reshape(10, 7)
    small = downsample(image, 4)
    assert small.shape == (4, 4)  # blocks of 3 (10 -> 3+3+3+1) and 2 (7 -> 2+2+2+1)
    assert small[0, 0] == pytest.approx(image[:3, :2].mean()) and small[-1, -1] == pytest.approx(image[9:, 6:].mean())
    assert np.array_equal(downsample(image, 64), image)
    assert map_2d(np.ones((3, 4, 5, 2))).shape == (4, 5) and map_2d(np.ones((3, 4, 5, 2)))[0, 0] == 3.0


# ----------------------------------------------------------------------------- a tiny real run
TINY = deep_merge(TINY_CONFIG, {"name": "tiny-interpret", "steps": 32, "seed": 3, "variant": "v2_hybrid",
                                "world": {"grid": [8, 8, 2], "max_episode_steps": 8, "params": {"noise": 0.01}},
                                "agent": {"num_minibatches": 2}, "safety": {"enabled": False}})
FAST = {"batch_steps": 6, "samples": 2, "ig_steps": 16, "repeats": 2}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A finished v2_hybrid run (encoder and scientist) with its interpretation written."""
    folder = tmp_path_factory.mktemp("interpret") / "run"
    run_experiment(TINY, folder)
    doc = interpret_run(folder, at_step=2, **FAST)
    return folder, doc


def test_artifacts_of_a_tiny_run(run):
    folder, doc = run
    out = folder / "interpret"
    for name in ("saliency.json", "saliency.npz", "saliency.png", ".atom-output.json"):
        assert (out / name).is_file() and (out / name).stat().st_size > 0
    assert read_json(out / "saliency.json")["schema"] == doc["schema"] == SCHEMA
    with np.load(out / "saliency.npz") as data:
        arrays = {k: data[k] for k in data.files}
    assert {k: list(v.shape) for k, v in arrays.items()} == doc["shapes"]
    assert arrays["field"].shape == (5, 8, 8, 2)  # Taylor-Green: velocity (3), pressure, density
    assert doc["maps"]["channels"] == ["velocity_x", "velocity_y", "velocity_z", "pressure", "density"]
    np.testing.assert_allclose(arrays["saliency_action"], np.abs(arrays["action_jacobian"]).sum(axis=0), rtol=1e-6)
    np.testing.assert_allclose(arrays["saliency_value"], np.abs(arrays["value_gradient"]), rtol=1e-6)
    for output in ("action", "value", "latent"):
        summary = doc["maps"]["outputs"][output]
        assert summary["total"] == pytest.approx(float(arrays[f"saliency_{output}"].sum()), rel=1e-5)
        assert sum(summary["channel_share"].values()) == pytest.approx(1.0, abs=1e-6)
    for target in ("value", "action:0"):  # the integrated gradients add up to the change from the zero field
        ig = doc["maps"]["integrated_gradients"][target]
        assert ig["attribution_sum"] == pytest.approx(ig["output_change"], rel=0.05, abs=1e-7)
    obs_size = 18  # 8 probes x (u, v) + energy + target energy
    features = doc["features"]
    assert len(features) == obs_size + 5 and [f["group"] for f in features].count("theory") == 5
    assert sorted(f["rank"] for f in features) == list(range(1, len(features) + 1))
    assert np.allclose([f["permutation_mean"] for f in features], arrays["permutation_mean"])
    assert doc["observation"]["at_step"] == 2 and doc["batch"]["observations"] == 6
    assert arrays["batch_vectors"].shape == (6, obs_size + 5)
    np.testing.assert_allclose(arrays["vector"], arrays["batch_vectors"][2])
    np.testing.assert_allclose(arrays["gradient_x_input"], [f["gradient_x_input"] for f in features], rtol=1e-6)
    assert max(f["permutation_mean"] for f in features) > 0.0
    constant = np.ptp(arrays["batch_vectors"], axis=0) == 0.0
    assert [f["constant_in_batch"] for f in features] == constant.tolist()
    assert all(f["permutation_mean"] == 0.0 for f in features if f["constant_in_batch"])  # shuffling cannot move them
    with pytest.raises(ArtifactError, match="already exists"):  # no replacement without overwrite
        interpret_run(folder, **FAST)
    before = (out / "saliency.json").read_bytes()
    with pytest.raises(ConfigError, match="at_step"):
        interpret_run(folder, at_step=6, overwrite=True, **FAST)
    assert (out / "saliency.json").read_bytes() == before  # a refused interpretation writes nothing


def test_cli_interpret_json(run, tmp_path, capsys):
    from atom_sdk.cli.main import main

    copy = tmp_path / "run"
    shutil.copytree(run[0], copy)
    with pytest.raises(SystemExit) as exit_info:
        main(["interpret", str(copy), "--json", "--overwrite", "--batch-steps", "4", "--samples", "2",
              "--ig-steps", "8", "--repeats", "2", "--seed", "1"])
    out = ANSI.sub("", capsys.readouterr().out)
    assert int(exit_info.value.code or 0) == 0, out
    doc = json.loads(out)
    assert doc["output"] == str((copy / "interpret").resolve())
    assert doc["observation"]["seed"] == 1 and len(doc["features"]) == 23
    assert read_json(copy / "interpret" / "saliency.json")["batch"]["observations"] == 4
    with pytest.raises(SystemExit) as exit_info:
        main(["interpret", str(tmp_path / "missing")])
    assert int(exit_info.value.code or 0) != 0


def test_api_saliency_shapes_404_and_traversal(run, tmp_path):
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from atom_sdk.platform.api import create_app
    from atom_sdk.platform.testing import fake_finished_run, settings_for

    settings = settings_for(tmp_path)
    app = create_app(settings)
    with TestClient(app) as client:
        run_id = fake_finished_run(app.state.platform.store, settings, name="explained")
        shutil.copytree(run[0], settings.jobs_dir / run_id, dirs_exist_ok=True)
        body = client.get(f"/api/v1/runs/{run_id}/saliency").json()
        assert body["schema"] == SCHEMA and body["run_id"] == run_id
        assert set(body["maps"]) == {"action", "value", "latent"}
        for grid in (*body["maps"].values(), body["field"]):
            assert grid["shape"] == [8, 8] and len(grid["data"]) == 8 and {len(r) for r in grid["data"]} == {8}
            assert grid["min"] <= min(map(min, grid["data"])) and grid["max"] >= max(map(max, grid["data"]))
        expected = map_2d(np.load(run[0] / "interpret" / "saliency.npz")["saliency_action"])
        np.testing.assert_allclose(np.asarray(body["maps"]["action"]["data"]).T, expected, rtol=1e-5)
        assert len(body["features"]) == 23 and body["theory_features"]["count"] == 5
        small = client.get(f"/api/v1/runs/{run_id}/saliency", params={"max_size": 4}).json()
        assert [len(small["maps"]["value"]["data"]), len(small["maps"]["value"]["data"][0])] == [4, 4]
        assert small["maps"]["value"]["shape"] == [8, 8]
        assert client.get(f"/api/v1/runs/{run_id}/saliency", params={"max_size": 1000}).status_code == 422
        assert client.get("/api/v1/runs/nope/saliency").status_code == 404
        for bad in ("..", "%2E%2E", "..%2F..%2Fplatform.db", f"..%2F{run_id}", "%2Fetc%2Fpasswd"):
            r = client.get(f"/api/v1/runs/{bad}/saliency")
            assert r.status_code == 404 and "schema" not in r.json(), bad
        other = fake_finished_run(app.state.platform.store, settings, name="unexplained")
        missing = client.get(f"/api/v1/runs/{other}/saliency")
        assert missing.status_code == 404 and "atom interpret" in missing.json()["message"]
        assert client.post("/api/v1/runs/nope/saliency", json={}).status_code == 404
        assert client.post(f"/api/v1/runs/{run_id}/saliency", json={"samples": 0}).status_code == 422
        assert client.post(f"/api/v1/runs/{run_id}/saliency", json={}).status_code == 409  # exists, no overwrite


def test_recurrent_core_is_explained_from_its_hidden_state():
    """With a GRU core the maps hold the hidden state the action was chosen from (inputs["hidden"])."""
    from atom_sdk.config import AgentSettings

    if "core" not in AgentSettings.model_fields:
        pytest.skip("this tree has no recurrent core")
    rng = np.random.default_rng(4)
    inputs = {"fields": rng.normal(size=(2, 5, 4, 1)).astype(np.float32), "vector": rng.normal(size=3).astype(np.float32)}
    agent = _agent(inputs, {"encoder": "conv", "latent_dim": 4, "hidden_sizes": [8], "core": "gru", "core_size": 6})
    remembered = {**inputs, "hidden": rng.normal(size=6).astype(np.float32)}
    fresh = jax.device_get(S.policy_outputs(agent, inputs))
    recalled = jax.device_get(S.policy_outputs(agent, remembered))
    assert abs(float(fresh["value"]) - float(recalled["value"])) > 1e-4  # the memory matters
    jac = jax.device_get(S.output_jacobians(agent, remembered))
    fd = _central_differences(agent, remembered, "fields")
    exact = np.asarray(jac["value/fields"], np.float64)  # the value (O(0.1)) is the output above float32 round-off
    np.testing.assert_allclose(fd["value"], exact, rtol=0, atol=RTOL * np.abs(exact).max())
    other = jax.device_get(S.output_jacobians(agent, inputs))["value/fields"]
    assert np.abs(other - exact).max() > 0.05 * np.abs(exact).max()  # and the maps differ with the memory


@pytest.mark.browser
def test_ui_draws_the_saliency_over_the_field(run, tmp_path):
    """The run view's saliency section in headless Chromium: heat map with a colour bar, the output
    picker, the importance bars; a run without artifacts offers to compute them."""
    chromium = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
    if chromium is None:
        pytest.skip("chromium is not installed (run scripts/ci_install_browser.sh)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    from atom_sdk.platform.testing import ServerThread, fake_finished_run, settings_for

    settings = settings_for(tmp_path)
    with ServerThread(settings) as srv:
        store = srv.app.state.platform.store
        run_id = fake_finished_run(store, settings, name="explained")
        shutil.copytree(run[0], settings.jobs_dir / run_id, dirs_exist_ok=True)
        plain = fake_finished_run(store, settings, name="plain")
        with sync_api.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium, headless=True,
                                        args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"])
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            failures: list[str] = []
            page.on("pageerror", lambda e: failures.append(str(e)))
            page.goto(f"{srv.url}/#/runs/{run_id}")
            page.wait_for_selector("#saliency-map[data-cells]", timeout=30_000)
            assert page.eval_on_selector("#saliency-map", "c => c.dataset.cells") == "8x8"
            assert len(page.eval_on_selector("#saliency-map", "c => c.dataset.colorbar").split(",")) == 5
            assert page.eval_on_selector("#saliency-features", "c => c.dataset.features") == "23"
            page.select_option("#saliency-output", "value")
            assert page.eval_on_selector("#saliency-map", "c => c.dataset.output") == "value"
            page.goto(f"{srv.url}/#/runs/{plain}")
            page.wait_for_selector("#saliency-compute", timeout=30_000)
            browser.close()
            assert not failures, failures
