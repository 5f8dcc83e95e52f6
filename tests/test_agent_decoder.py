"""The field decoder's auxiliary loss: off by default, learns to reconstruct the field when on, and leaves
the rest of the agent's initial parameters as they are."""

import jax
import numpy as np
import pytest

from atom_sdk.agent import decoder as D
from atom_sdk.agent import ppo

SETTINGS = {"encoder": "conv", "latent_dim": 8, "hidden_sizes": (16,), "rollout_length": 16, "num_minibatches": 2,
            "update_epochs": 4, "symplectic": False, "learning_rate": 3e-3, "anneal_lr": False}


def _agent(weight: float):
    example = {"fields": np.zeros((2, 12, 10, 1), np.float32), "vector": np.zeros(3, np.float32)}
    return ppo.create_agent(jax.random.key(0), example, {"low": [-1.0], "high": [1.0]},
                            {**SETTINGS, "decoder_weight": weight}, ppo.DerivedSettings(8, False, 0.1))


def test_target_is_resized_and_standardised():
    assert D.target_shape((2, 12, 10, 1)) == (2, 8, 8, 1)
    assert D.target_shape((3, 64, 4, 2)) == (3, 8, 4, 2)
    fields = np.random.default_rng(0).normal(5.0, 3.0, (6, 2, 12, 10, 1))
    t = np.asarray(D.field_target(fields, (2, 8, 8, 1)))
    assert t.shape == (6, 2, 8, 8, 1)
    np.testing.assert_allclose(t.mean(axis=(0, 2, 3, 4)), 0.0, atol=1e-5)
    np.testing.assert_allclose(t.std(axis=(0, 2, 3, 4)), 1.0, atol=1e-3)


def test_decoder_is_off_by_default_and_does_not_change_the_other_parameters():
    off, on = _agent(0.0), _agent(0.5)
    assert "dec" not in off.params and "dec" in on.params
    same = jax.tree.map(lambda a, b: bool(np.array_equal(a, b)), off.params["net"], on.params["net"])
    assert all(jax.tree.leaves(same))


def test_decoder_loss_falls_as_the_latent_learns_the_field():
    agent = _agent(1.0)
    rng = np.random.default_rng(1)
    x = np.linspace(0, 2 * np.pi, 12)[:, None, None]
    phase = rng.uniform(0, 2 * np.pi, (16, 1, 1, 1, 1))
    fields = np.concatenate([np.sin(x + phase), np.cos(x + phase)], axis=1) * np.ones((1, 1, 12, 10, 1))
    ro = ppo.Rollout(inputs={"fields": fields.astype(np.float32), "vector": np.zeros((16, 3), np.float32)},
                     actions=np.zeros((16, 1)), log_probs=np.zeros(16), values=np.zeros(16), rewards=np.zeros(16),
                     dones=np.zeros(16))
    losses = []
    for i in range(8):
        agent, m = ppo.update(agent, ro, 0.0, jax.random.key(i))
        losses.append(float(m["decoder_loss"]))
    assert losses[-1] < 0.6 * losses[0], losses


@pytest.mark.parametrize("variant,expected", [("no_scientist_decoder", 0.1), ("no_scientist", 0.0),
                                              ("ppo_baseline", 0.0)])
def test_decoder_variant(variant, expected):
    from atom_sdk.config import build_run_config
    from atom_sdk.experiment.variants import agent_settings_for, resolve_variant

    config = build_run_config({"variant": variant})
    v = resolve_variant(config)
    assert v.decoder == (expected > 0)
    assert agent_settings_for(config, v).decoder_weight == expected
