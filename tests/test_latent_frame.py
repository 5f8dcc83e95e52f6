"""Laws over learned features in one coordinate frame per fit (issue 16): the scientist's window is
re-encoded with the current encoder before each fit and fitted in its whitened principal frame.

On Taylor-Green the fields are A(t) times fixed shapes, so the latent is a smooth function of the
amplitude and a law over it must pass governance with held-out skill, even when the encoder is
replaced twice in the run (a harsher move than a PPO update); the reward -|E - E*|/E* must follow
the energy's decay dE/dt = -4 nu k^2 E (Taylor & Green 1937), i.e. dr/dt = 4 nu k^2 (1 - r) + (control).
On the same transitions in shuffled time order no law may pass."""

import numpy as np
import pytest

from atom_sdk.config import build_run_config
from atom_sdk.experiment.latent_frame import LatentVariables, pca_frame
from atom_sdk.experiment.policy import Policy, encode_latent, encode_window
from atom_sdk.experiment.runner import make_world
from atom_sdk.science import Scientist

NU, K = 0.01, 1.0  # the Taylor-Green world's defaults
TG = {"name": "tg-latent", "steps": 64, "seed": 0, "variant": "v2_latent_jacobian",
      "world": {"name": "analytical:taylor_green", "grid": [8, 8, 1], "max_episode_steps": 80},
      "agent": {"latent_dim": 8, "fourier_modes": 2, "hidden_sizes": [8]},
      "scientist": {"fit_every": 16, "min_samples": 48, "window": 128, "ensemble_size": 8, "latent_dims": 1},
      "safety": {"enabled": False}}
STEPS, SWITCH = 240, (64, 128)  # the encoder is replaced (a fresh initialisation) at these steps


def test_pca_frame_is_deterministic_whitened_and_keeps_its_signs():
    rng = np.random.default_rng(0)
    basis = np.linalg.qr(rng.normal(size=(6, 6)))[0]
    z = (rng.normal(size=(200, 3)) * [3.0, 1.0, 0.2]) @ basis[:, :3].T + 5.0
    frame = pca_frame(z, 2)
    p = frame.project(z)
    np.testing.assert_allclose(p.mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(p.std(axis=0), 1.0, rtol=1e-12)
    np.testing.assert_allclose(np.abs(frame.components.T @ basis[:, :2]), np.eye(2), atol=0.05)
    assert frame.explained[0] > 0.85 and frame.explained.sum() < 1.0
    # sign convention without a previous frame: the largest loading is positive
    assert all(frame.components[np.argmax(np.abs(c)), i] > 0 for i, c in enumerate(frame.components.T))
    flipped = pca_frame(z, 2, previous=type(frame)(frame.mean, -frame.components, frame.scale, frame.explained))
    np.testing.assert_allclose(flipped.components, -frame.components, atol=1e-12)  # follows the previous frame
    flat = pca_frame(np.column_stack([z[:, :2], np.full(200, 1.0)]), 3)  # a direction with no variance
    assert np.all(np.isfinite(flat.project(z[:, :3]))) and flat.scale[2] == 1.0
    with pytest.raises(ValueError, match="k=4"):
        pca_frame(z[:, :3], 4)


@pytest.fixture(scope="module")
def tg_run(tmp_path_factory):
    """A Taylor-Green trajectory under random forcing, and three encoders (fresh initialisations)."""
    config = build_run_config(TG)
    world = make_world(config)
    world.reset(seed=0)
    agents = []
    for seed in (0, 1, 2):
        policy = Policy(build_run_config({**TG, "seed": seed}), world, ledger_dir=tmp_path_factory.mktemp("tg"))
        agents.append(policy.agent)
        policy.close()
    rng = np.random.default_rng(7)
    low, high = world.action_space.low, world.action_space.high
    steps, episode = [], 0
    for _ in range(STEPS):
        fields = world.field_tensor()
        u = rng.uniform(low, high)
        _, reward, terminated, truncated, _ = world.step(u)
        ended = bool(terminated or truncated)
        steps.append({"fields": fields, "u": u, "reward": float(reward), "ended": ended,
                      "fields_end": world.field_tensor() if ended else None})
        if ended:
            episode += 1
            world.reset(seed=100 + episode)
    return config, agents, steps


def _replay(config, agents, steps):
    """Feed ``steps`` in the given order; the encoder in use switches at ``SWITCH``."""
    settings = config.scientist.model_copy(update={"ensembled": True})
    latent = LatentVariables(settings.latent_dims, config.agent.latent_dim, settings)
    scientist = Scientist(settings, latent.names, ["u0"], float(make_world(config).dt), seed=0)
    decisions = []
    for i, s in enumerate(steps):
        agent = agents[sum(i >= b for b in SWITCH)]
        z_end = encode_latent(agent, s["fields_end"]) if s["ended"] else None
        decisions += latent.observe(scientist, s["fields"], encode_latent(agent, s["fields"]), s["u"], s["reward"],
                                    s["ended"], s["fields_end"], z_end, i,
                                    lambda f, a=agent: encode_window(a, f, latent.window))
    return scientist, latent, decisions


def test_a_latent_law_passes_governance_with_held_out_skill_on_taylor_green(tg_run):
    config, agents, steps = tg_run
    scientist, latent, decisions = _replay(config, agents, steps)
    accepted = [d for d in decisions if d["kind"] == "accepted"]
    assert accepted and accepted[0]["step"] < SWITCH[0] + 48
    after_last_switch = [d for d in accepted if d["step"] > SWITCH[-1]]
    assert after_last_switch  # the law is refound in the new encoder's coordinates
    last = accepted[-1]["scores"]["candidate"]
    assert last["nmse_mean"] < 0.02 and min(last["r2"]) > 0.95  # held-out one-step skill, every variable
    assert scientist.trust > 0.9
    assert latent.frame.explained[0] > 0.9  # one amplitude, one leading direction
    reward_law = next(e for e in accepted[-1]["equations"] if e["target"] == "reward")
    coef = dict(zip(reward_law["terms"], reward_law["coefficients"]))
    rate = 4 * NU * K**2
    assert coef["1"] == pytest.approx(rate, rel=0.05) and coef["reward"] == pytest.approx(-rate, rel=0.05)


def test_no_latent_law_passes_on_time_shuffled_transitions(tg_run):
    config, agents, steps = tg_run
    rng = np.random.default_rng(3)
    order = rng.permutation(len(steps))
    shuffled = [{**steps[j], "ended": steps[i]["ended"], "fields_end": steps[i]["fields_end"]}
                for i, j in enumerate(order)]  # same episode lengths, states in random time order
    scientist, _, decisions = _replay(config, agents, shuffled)
    assert decisions and not [d for d in decisions if d["kind"] == "accepted"]
    assert scientist.trust == 0.0


def test_a_window_of_fields_too_large_to_keep_is_refused_with_what_to_change(monkeypatch):
    from atom_sdk.errors import ConfigError
    from atom_sdk.experiment import latent_frame

    settings = build_run_config(TG).scientist
    latent = LatentVariables(1, 8, settings)
    fields = np.zeros((5, 8, 8, 1), np.float32)  # 1280 bytes a state, 128 states: 160 KiB
    monkeypatch.setattr(latent_frame, "MAX_RING_BYTES", 100_000)
    with pytest.raises(ConfigError, match="scientist.window") as err:
        latent.observe(None, fields, np.zeros(8), np.zeros(1), 0.0, False, None, None, 0, lambda f: f)
    assert "lower scientist.window below 78" in err.value.hint
