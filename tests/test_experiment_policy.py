"""The Policy noun: built from (config, world), restored from a run's checkpoint, and the observer hook."""

import jax
import numpy as np
import pytest

from atom_sdk.config import build_run_config, config_hash
from atom_sdk.experiment import checkpoint as ckpt
from atom_sdk.experiment import run_experiment
from atom_sdk.experiment.policy import Policy
from atom_sdk.experiment.runner import make_world

TINY = {
    "name": "tiny", "steps": 32, "seed": 2, "variant": "v2_residual",
    "world": {"name": "analytical:taylor_green", "grid": [8, 8, 1], "max_episode_steps": 20,
              "params": {"noise": 0.01}},
    "agent": {"rollout_length": 16, "num_minibatches": 2, "update_epochs": 1, "hidden_sizes": [8],
              "latent_dim": 4, "fourier_modes": 2},
    "scientist": {"fit_every": 8, "min_samples": 16, "ensemble_size": 4},
    "safety": {"enabled": False},
}


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("policy") / "run"
    seen: list[tuple[int, tuple]] = []
    results = run_experiment(TINY, out, observer=lambda world, step: seen.append((step, world.field_tensor().shape)))
    return out, results, seen


def test_observer_sees_the_world_after_every_step(finished_run):
    _, _, seen = finished_run
    assert [step for step, _ in seen] == list(range(1, TINY["steps"] + 1))
    assert all(shape == seen[0][1] and len(shape) >= 3 for _, shape in seen)


def test_policy_from_checkpoint_is_the_run_last_state(finished_run, tmp_path):
    out, _, _ = finished_run
    config = build_run_config(TINY)
    world = make_world(config)
    obs, _ = world.reset(seed=0)
    policy = Policy.from_checkpoint(config, world, out, ledger_dir=tmp_path)
    try:
        saved = ckpt.load(out, config_hash(config))
        assert policy.state_dict()["agent"] == saved["agent"]
        assert policy.norm.to_dict() == saved["normalizer"]
        assert policy.science is not None and policy.science.scientist.state_dict() == saved["scientist"]
        x, u = world.observables(), np.zeros(world.action_space.shape)
        key_before, norm_before = np.asarray(policy.key), policy.norm.to_dict()
        first = policy.act(obs, x=x, u=u, explore=False)
        again = policy.act(obs, x=x, u=u, explore=False)
        # evaluation freezes the normaliser and the key and acts with the policy mean
        np.testing.assert_array_equal(first.env_action, again.env_action)
        assert policy.norm.to_dict() == norm_before and np.array_equal(np.asarray(policy.key), key_before)
        assert np.all(first.env_action >= world.action_space.low) and np.all(first.env_action <= world.action_space.high)
        sampled = policy.act(obs, x=x, u=u)  # training: the normaliser learns and the key moves on
        assert policy.norm.count == norm_before["count"] + 1 and not np.array_equal(np.asarray(policy.key), key_before)
        assert sampled.inputs["vector"].shape == first.inputs["vector"].shape
    finally:
        policy.close()


def test_policy_needs_a_ledger_folder_for_the_scientist():
    config = build_run_config(TINY)
    world = make_world(config)
    world.reset(seed=0)
    with pytest.raises(ValueError, match="ledger_dir"):
        Policy(config, world)
    baseline = Policy(build_run_config({**TINY, "variant": "ppo_baseline"}), world)
    assert baseline.science is None and baseline.trust is None
    decision = baseline.act(np.zeros(world.observation_space.shape, np.float32), x=world.observables(),
                            u=np.zeros(world.action_space.shape))
    assert "fields" not in decision.inputs and isinstance(jax.numpy.asarray(decision.action), jax.Array)

