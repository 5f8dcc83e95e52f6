"""Laws over learned features: the scientist on the encoder's latent and the reward, and the
accepted law's symbolic Jacobian as trust-gated agent features (issue 16)."""

import numpy as np
import pytest

from atom_sdk.agent.networks import ActorCritic
from atom_sdk.artifacts import read_jsonl
from atom_sdk.config import build_run_config, canonical_dict, config_hash
from atom_sdk.evidence.ablation import variant_specs
from atom_sdk.experiment.policy import Policy
from atom_sdk.experiment.runner import make_world
from atom_sdk.experiment.variants import resolve_variant
from atom_sdk.science.jacobian import TheoryJacobian, jacobian_dim
from atom_sdk.science.library import Library
from atom_sdk.science.theory import Equation, Theory

#: the runner test's config; its hash as computed before the latent fields existed (commit 6c2706c)
TINY_RUNNER = {
    "name": "tiny", "steps": 64, "seed": 1, "variant": "v2_hybrid",
    "world": {"name": "analytical:taylor_green", "grid": [8, 8, 1], "max_episode_steps": 40,
              "params": {"noise": 0.01}},
    "agent": {"rollout_length": 16, "num_minibatches": 2, "update_epochs": 2, "hidden_sizes": [16, 16],
              "latent_dim": 8, "fourier_modes": 2},
    "scientist": {"fit_every": 8, "min_samples": 16, "ensemble_size": 8},
}
TINY_RUNNER_HASH = "c665941f9d5596555541585e28765942657f2a5c31c51c7a003c2dccd2639616"
DEFAULT_HASH = "8ce6b53ab3ac6ecebaddbc262af86f56f005a57dc3518437679a01424859c7f3"

LATENT = {
    "name": "latent", "steps": 32, "seed": 3, "variant": "v2_latent_jacobian",
    "world": {"name": "analytical:taylor_green", "grid": [8, 8, 1], "max_episode_steps": 12,
              "params": {"noise": 0.01}},
    "agent": {"rollout_length": 16, "num_minibatches": 2, "update_epochs": 1, "hidden_sizes": [8],
              "latent_dim": 6, "fourier_modes": 2},
    "scientist": {"fit_every": 8, "min_samples": 16, "ensemble_size": 4, "latent_dims": 3},
    "safety": {"enabled": False},
}


def _theory(names=("z0", "reward"), controls=("u0",)) -> Theory:
    """A hand-written nonlinear law over the library (trig on, degree 2): every Jacobian entry moves with x."""
    lib = Library(list(names), list(controls), degree=2, include_trig=True)
    terms = lib.term_names
    rng = np.random.default_rng(0)
    eqs = []
    for target in names:
        coef = np.zeros(len(terms))
        keep = rng.choice(len(terms), size=min(5, len(terms)), replace=False)
        coef[keep] = rng.uniform(-1.5, 1.5, size=keep.size)
        eqs.append(Equation(target, terms, coef, np.zeros_like(coef), (coef != 0).astype(float), coef != 0))
    return Theory(list(names), list(controls), lib.terms, eqs)


def test_jacobian_matches_central_differences_of_the_accepted_law():
    theory = _theory()
    jac = TheoryJacobian(theory)
    rng = np.random.default_rng(1)
    h = 1e-5
    for _ in range(5):
        x, u = rng.normal(size=2), rng.normal(size=1)
        jx, ju = jac.evaluate(x, u)
        # the law as the scientist evaluates it (numpy term evaluation, not the sympy path)
        fd_x = np.stack([(theory.predict_derivative(x + h * e, u) - theory.predict_derivative(x - h * e, u)) / (2 * h)
                         for e in np.eye(2)], axis=1)
        fd_u = ((theory.predict_derivative(x, u + h) - theory.predict_derivative(x, u - h)) / (2 * h)).reshape(2, 1)
        np.testing.assert_allclose(jx, fd_x, rtol=1e-6, atol=1e-8)
        np.testing.assert_allclose(ju, fd_u, rtol=1e-6, atol=1e-8)
        np.testing.assert_allclose(jac.rhs(x, u), theory.predict_derivative(x, u), rtol=1e-12)
        assert np.abs(jx).max() > 1e-3  # a law that really depends on the state
    assert jac.features(x, u).shape == (jacobian_dim(2, 1),)


@pytest.fixture(scope="module")
def latent_policy(tmp_path_factory):
    """A v2_latent_jacobian policy acting on Taylor-Green for min_samples + a few steps."""
    config = build_run_config(LATENT)
    world = make_world(config)
    obs, _ = world.reset(seed=config.seed)
    policy = Policy(config, world, ledger_dir=tmp_path_factory.mktemp("latent"))
    u = np.zeros(world.action_space.shape)
    acted = []  # (latent, reward, control, inputs)
    for step in range(24):
        x = policy.measure(world.observables(), step)
        d = policy.act(obs, x=x, u=u)
        obs, reward, terminated, truncated, _ = world.step(d.env_action)
        ended = bool(terminated or truncated)
        terminal = None
        if ended:  # the encoder on the terminal fields, applied here directly
            terminal = np.asarray(policy.agent.spec.network.apply(
                policy.agent.params["net"], {"fields": world.field_tensor()}, method=ActorCritic.encode))
        acted.append((d.latent.copy(), float(reward), d.env_action.reshape(-1).copy(), d.inputs, terminal))
        policy.observe(x, d.env_action, x, ended, step, reward=float(reward))
        u = d.env_action
        if ended:
            obs, _ = world.reset(seed=config.seed + step)
            u = np.zeros(world.action_space.shape)
    yield policy, acted
    policy.close()


def test_recorded_latent_is_the_encoders_output_for_the_acted_observation(latent_policy):
    policy, acted = latent_policy
    net = policy.agent.spec.network
    for latent, _, _, inputs, _ in acted[-3:]:  # parameters unchanged (no update in this loop)
        direct = np.asarray(net.apply(policy.agent.params["net"], {"fields": inputs["fields"]},
                                      method=ActorCritic.encode))
        np.testing.assert_allclose(latent, direct, rtol=1e-6, atol=1e-7)
        assert latent.shape == (LATENT["agent"]["latent_dim"],)


def test_latent_variables_and_reward_are_what_the_scientist_fits(latent_policy):
    """The buffer holds each state's coordinates in the last frame: the leading principal directions of
    the window (re-encoded; no update ran, so the act-time latents), whitened, plus the arrival reward
    (an episode's first state, which no reward has reached, is left out)."""
    import json

    from atom_sdk.experiment.latent_frame import FRAMES_FILE, pca_frame

    policy, acted = latent_policy
    bridge = policy.science
    assert bridge.scientist.variable_names == ["z0", "z1", "z2", "reward"]
    k = LATENT["scientist"]["latent_dims"]
    # rows the scientist buffered: (z_t, reward that arrived at t), with the terminal state at an end
    # (an episode's first state, which no reward has reached, is not buffered)
    latents, rewards, controls, prev_r = [], [], [], None
    for latent, reward, u, _, terminal in acted:
        if prev_r is not None:
            latents.append(latent)
            rewards.append(prev_r)
            controls.append(u)
        prev_r = reward
        if terminal is not None:  # the episode's last state, with the reward that arrived there
            latents.append(terminal.reshape(-1))
            rewards.append(reward)
            controls.append(np.zeros_like(u))
            prev_r = None
    assert any(a[4] is not None for a in acted)  # an episode boundary was crossed
    frames = [json.loads(line) for line in (policy.science.ledger.path.parent / FRAMES_FILE).read_text().splitlines()]
    # 16 rows at step 16 (two episodes' first states left out, a terminal row in)
    assert [f["step"] for f in frames] == [16] and frames[-1]["variables"] == ["z0", "z1", "z2", "reward"]
    z = np.stack(latents)
    expect = pca_frame(z[: frames[-1]["n"]], k)
    frame = bridge.latent.frame
    # the batched re-encoding agrees with the act-time latents to float32 round-off, which can turn
    # nearly tied trailing directions; the leading direction and the variance shares are firm
    np.testing.assert_allclose(frame.components[:, 0], expect.components[:, 0], atol=1e-5)
    np.testing.assert_allclose(frame.explained, expect.explained, atol=1e-5)
    np.testing.assert_allclose(frame.components, np.asarray(frames[-1]["components"]), rtol=1e-12)
    np.testing.assert_allclose(frame.components.T @ frame.components, np.eye(k), atol=1e-10)
    xb, ub = bridge.scientist.buffer()
    coords = xb[:, :k]
    # in latent units (before whitening, which blows float32 round-off up along near-empty directions)
    np.testing.assert_allclose(coords * frame.scale, frame.project(z) * frame.scale, rtol=0, atol=1e-5 * frame.scale[0])
    np.testing.assert_allclose(coords[: frames[-1]["n"]].std(axis=0), 1.0, rtol=1e-6)  # whitened over the window
    np.testing.assert_allclose(xb[:, -1], rewards, rtol=1e-12)
    np.testing.assert_allclose(ub, np.stack(controls), rtol=1e-12)
    assert len(set(bridge.scientist.segments().tolist())) >= 2
    assert np.ptp(xb[:, -1]) > 0  # the reward really varies in what is fitted


def test_trust_gate_zeroes_the_jacobian_without_a_trusted_theory(latent_policy):
    policy, _ = latent_policy
    bridge = policy.science
    n, m = bridge.n_vars, bridge.n_ctrl
    assert bridge.feature_dim == 3 * n + 2 + jacobian_dim(n, m)
    x, u = np.linspace(0.1, 0.4, n), np.array([0.02])
    governor = bridge.scientist.governor
    saved = (governor.current, governor.trust)
    try:
        governor.current = None
        assert not np.any(bridge.features(x, u))  # no theory: all zero, has-theory flag 0
        theory = _theory(tuple(bridge.scientist.variable_names), ("u0",))
        governor.current, governor.trust = theory, 0.5 * bridge.gate_threshold
        assert not np.any(bridge.features(x, u))  # a theory, but not trusted: still all zero
        governor.trust = 0.9
        feats = bridge.features(x, u)
        assert feats[3 * n + 1] == pytest.approx(0.9)  # has-theory flag, scaled by trust
        np.testing.assert_allclose(feats[3 * n + 2:], 0.9 * TheoryJacobian(theory).features(x, u), rtol=1e-5)
        assert np.any(feats[3 * n + 2:])
    finally:
        governor.current, governor.trust = saved


def test_defaults_keep_existing_config_hashes():
    assert config_hash(build_run_config(TINY_RUNNER)) == TINY_RUNNER_HASH
    assert config_hash(build_run_config({})) == DEFAULT_HASH
    assert "variables" not in canonical_dict(build_run_config(TINY_RUNNER))["scientist"]
    latent = {**TINY_RUNNER, "scientist": {**TINY_RUNNER["scientist"], "variables": "latent"}}
    assert config_hash(build_run_config(latent)) != TINY_RUNNER_HASH


def test_variant_switches_and_refusals():
    spec = resolve_variant(build_run_config(TINY_RUNNER))
    assert not spec.latent_science and not spec.jacobian
    spec = resolve_variant(build_run_config(LATENT))
    assert spec.latent_science and spec.jacobian and spec.trust_gate
    switched = resolve_variant(build_run_config({**TINY_RUNNER, "scientist": {"jacobian_features": True}}))
    assert switched.jacobian and not switched.latent_science
    ignored = resolve_variant(build_run_config({"variant": "ppo_baseline", "scientist": {"variables": "latent"}}))
    assert not ignored.latent_science  # no scientist, nothing to switch (as with the other scientist settings)
    assert [s.variant for s in variant_specs("latent")] == ["v2_latent_jacobian", "v2_hybrid", "ppo_baseline"]


def test_latent_dims_larger_than_the_latent_is_refused(tmp_path):
    config = build_run_config({**LATENT, "scientist": {**LATENT["scientist"], "latent_dims": 7}})
    world = make_world(config)
    world.reset(seed=0)
    with pytest.raises(ValueError, match="latent_dims"):
        Policy(config, world, ledger_dir=tmp_path)


def test_latent_run_resumes_exactly(tmp_path):
    """The frame, the buffered fields, the transitions waiting for the first fit and the last reward
    survive a checkpoint; frames written after the checkpoint are dropped on resume."""
    import json

    from atom_sdk.experiment import run_experiment

    def stable(results: dict) -> str:
        return json.dumps({k: v for k, v in results.items() if k != "timings"}, sort_keys=True)

    config = {**LATENT, "steps": 48, "world": {**LATENT["world"], "max_episode_steps": 24},
              "scientist": {**LATENT["scientist"], "latent_dims": 1}}
    full = run_experiment(config, tmp_path / "full")
    assert run_experiment(config, tmp_path / "cut", stop_after=10) == {"interrupted_at": 10}  # before the choice
    assert stable(run_experiment(config, tmp_path / "cut", resume=True)) == stable(full)
    assert full["variant"]["name"] == "v2_latent_jacobian" and full["summary"]["steps"] == 48
    fits = [[(r["kind"], r.get("equations")) for r in read_jsonl(tmp_path / name / "ledger.jsonl")]
            for name in ("full", "cut")]
    assert fits[0] and fits[0] == fits[1]  # the same candidates, fitted on the same latent rows
    # the same frames, each once (the resumed run dropped none and wrote none twice)
    # cut again after a checkpoint (step 32) and a later frame: the resume drops that frame, then refits it
    assert run_experiment(config, tmp_path / "late", stop_after=44) == {"interrupted_at": 44}
    written = (tmp_path / "late" / "latent_frames.jsonl").read_text().splitlines()
    assert max(json.loads(line)["step"] for line in written) > 32
    assert stable(run_experiment(config, tmp_path / "late", resume=True)) == stable(full)
    frames = [(tmp_path / name / "latent_frames.jsonl").read_text() for name in ("full", "cut", "late")]
    assert frames[0] and frames[0] == frames[1] == frames[2]


def test_jacobian_features_of_the_taylor_green_law(tmp_path):
    """Measured variables with the Jacobian switch: the accepted law dA/dt = -2 nu k^2 A + u0 (nu = 0.01,
    k = 1, the world's defaults) gives df/dA = -0.02 and df/du0 = 1, trust-scaled, within 1 %."""
    config = build_run_config({
        "name": "jac", "steps": 160, "seed": 1, "variant": "v2_hybrid",
        "world": {"name": "analytical:taylor_green", "grid": [8, 8, 1], "max_episode_steps": 80,
                  "params": {"noise": 0.01}},
        "agent": {"rollout_length": 16, "num_minibatches": 2, "update_epochs": 1, "hidden_sizes": [8],
                  "latent_dim": 4, "fourier_modes": 2},
        "scientist": {"fit_every": 8, "min_samples": 16, "ensemble_size": 8, "jacobian_features": True},
        "safety": {"enabled": False}})
    world = make_world(config)
    obs, _ = world.reset(seed=1)
    policy = Policy(config, world, ledger_dir=tmp_path)
    u = np.zeros(world.action_space.shape)
    for step in range(160):
        x = policy.measure(world.observables(), step)
        d = policy.act(obs, x=x, u=u)
        obs, reward, terminated, truncated, _ = world.step(d.env_action)
        ended = bool(terminated or truncated)
        policy.observe(x, d.env_action, policy.measure(world.observables(), step + 1, terminal=ended), ended, step,
                       reward=float(reward))
        u = d.env_action
        if ended:
            obs, _ = world.reset(seed=step)
            u = np.zeros(world.action_space.shape)
    bridge = policy.science
    policy.close()
    assert bridge.trusted and bridge.scientist.variable_names == ["amplitude"]
    block = bridge.features(x, u)[bridge.base_dim:]
    np.testing.assert_allclose(block / bridge.trust, [-2 * 0.01 * 1**2, 1.0], rtol=1e-2)
