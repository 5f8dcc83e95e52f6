"""PPO pieces against hand computations, bounds, determinism, checkpoints, and a tiny task."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from atom_sdk.agent import distributions as D
from atom_sdk.agent import ppo as P
from atom_sdk.config import AgentSettings
from atom_sdk.errors import ArtifactError, ConfigError

SMALL = dict(hidden_sizes=(16, 16), rollout_length=8, num_minibatches=2, update_epochs=2)


def _derived(total_updates=10, symplectic=True):
    return P.DerivedSettings(total_updates=total_updates, symplectic=symplectic, symplectic_dt=0.1)


def _vector_agent(key, squash="tanh", low=(-1.0, 0.0), high=(2.0, 0.5), total_updates=10, **kw):
    settings = AgentSettings(**{**SMALL, "action_squash": squash, **kw})
    example = {"vector": np.zeros(3, np.float32)}
    return P.create_agent(key, example, {"low": list(low), "high": list(high)}, settings, _derived(total_updates))


def _rollout(agent, key, t=8, e=4):
    k1, k2, k3 = jax.random.split(key, 3)
    vec = jax.random.normal(k1, (t, e, 3))
    actions, logp, values = P.act(agent, {"vector": vec}, k2)
    rewards = jax.random.normal(k3, (t, e))
    dones = jnp.zeros((t, e)).at[3, 1].set(1.0)
    return P.Rollout({"vector": vec}, actions, logp, values, rewards, dones)


def test_gae_matches_hand_computation():
    rewards = jnp.array([1.0, 1.0, 1.0])
    values = jnp.array([0.5, 0.4, 0.3])
    dones = jnp.array([0.0, 1.0, 0.0])
    adv, ret = P.compute_gae(rewards, values, dones, jnp.asarray(0.2), gamma=0.9, gae_lambda=0.8)
    # t=2: 1 + .9*.2 - .3 = .88 ; t=1 (episode ends): 1 - .4 = .6 ; t=0: 1 + .9*.4 - .5 + .9*.8*.6
    np.testing.assert_allclose(adv, [1.292, 0.6, 0.88], atol=1e-6)
    np.testing.assert_allclose(ret, [1.792, 1.0, 1.18], atol=1e-6)


def test_clipped_surrogate_and_value_clipping_by_hand():
    ratio = jnp.array([1.5, 0.5, 1.1, 0.7])
    adv = jnp.array([1.0, 1.0, -2.0, -1.0])
    # min(r A, clip(r) A) = [1.2, 0.5, -2.2, -0.8] -> loss = -mean = 0.325
    loss = P.clipped_surrogate(jnp.log(ratio), adv, 0.2)
    np.testing.assert_allclose(loss, 0.325, atol=1e-6)
    new_v, old_v, ret = jnp.array([1.0, 0.0]), jnp.array([0.5, 0.1]), jnp.array([2.0, 0.0])
    # clipped new values [0.7, 0.0]: max((1-2)^2,(0.7-2)^2)=1.69, max(0, 0)=0 -> 0.5*mean = 0.4225
    np.testing.assert_allclose(P.value_loss(new_v, old_v, ret, 0.2, True), 0.4225, atol=1e-6)
    np.testing.assert_allclose(P.value_loss(new_v, old_v, ret, 0.2, False), 0.25, atol=1e-6)


@pytest.mark.parametrize("squash", ["tanh", "clip"])
def test_action_densities_integrate_to_one(squash):
    """The log-probs PPO uses are those of a proper distribution on [low, high]."""
    low, high, mean, log_std = jnp.array([-1.0]), jnp.array([3.0]), jnp.array([0.8]), jnp.array([0.3])
    a = jnp.linspace(-1.0, 3.0, 200_001)[1:-1, None]
    fn = D.tanh_log_prob if squash == "tanh" else D.clip_log_prob
    inside = float(jnp.trapezoid(jnp.exp(fn(a, mean, log_std, low, high)), a[:, 0]))
    if squash == "clip":  # plus the probability mass sitting exactly on each bound
        inside += float(jnp.exp(fn(low[None], mean, log_std, low, high))[0])
        inside += float(jnp.exp(fn(high[None], mean, log_std, low, high))[0])
    np.testing.assert_allclose(inside, 1.0, atol=2e-3)


@pytest.mark.parametrize("squash", ["tanh", "clip"])
def test_act_respects_bounds_and_recomputes_its_log_prob(squash):
    agent = _vector_agent(jax.random.key(0), squash)
    net = agent.params["net"]["params"]
    wide = agent.replace(params={"net": {"params": {**net, "log_std": jnp.full((2,), 1.5)}}})
    obs = {"vector": jax.random.normal(jax.random.key(1), (2000, 3))}
    a, logp, v = P.act(wide, obs, jax.random.key(2))
    lo, hi = np.array([-1.0, 0.0]), np.array([2.0, 0.5])
    assert a.shape == (2000, 2) and logp.shape == (2000,) and v.shape == (2000,)
    assert np.all(np.asarray(a) >= lo) and np.all(np.asarray(a) <= hi)
    if squash == "clip":  # a wide Gaussian puts real mass on the bounds
        assert np.mean(np.asarray(a[:, 1]) == hi[1]) > 0.2
    pi, _, _ = wide.spec.network.apply(wide.params["net"], obs)
    from atom_sdk.agent.networks import log_prob

    np.testing.assert_allclose(log_prob(pi, a, wide.spec.action, squash), logp, rtol=1e-5, atol=1e-5)
    a_det, _, _ = P.act(wide, obs, jax.random.key(9), deterministic=True)
    a_det2, _, _ = P.act(wide, obs, jax.random.key(10), deterministic=True)
    np.testing.assert_array_equal(a_det, a_det2)


def test_determinism_vmap_and_checkpoint_resume_bit_for_bit():
    key = jax.random.key(42)
    a1, a2 = _vector_agent(key), _vector_agent(key)
    assert all(jax.tree.leaves(jax.tree.map(lambda x, y: bool(jnp.all(x == y)), a1.params, a2.params)))
    ro1, ro2 = _rollout(a1, jax.random.key(1)), _rollout(a1, jax.random.key(2))
    last = jnp.zeros(4)
    # uninterrupted: two updates
    s1, m1 = P.update(a1, ro1, last, jax.random.key(3))
    s2, _ = P.update(s1, ro2, last, jax.random.key(4))
    # interrupted: save after the first, restore into a fresh template, continue
    restored = P.load(_vector_agent(jax.random.key(7)), P.save(s1))
    r2, _ = P.update(restored, ro2, last, jax.random.key(4))
    same = jax.tree.map(lambda x, y: bool(jnp.all(x == y)), (s2.params, s2.opt_state), (r2.params, r2.opt_state))
    assert all(jax.tree.leaves(same)) and int(r2.step) == 2
    assert np.isfinite(float(m1["loss"])) and 0.0 <= float(m1["clip_frac"]) <= 1.0
    # a rerun of the same update is bit-identical
    s1b, _ = P.update(a1, ro1, last, jax.random.key(3))
    assert all(jax.tree.leaves(jax.tree.map(lambda x, y: bool(jnp.all(x == y)), s1.params, s1b.params)))
    # vmap over seeds: creating agents for 3 seeds at once equals creating them one by one
    keys = jax.random.split(key, 3)
    batched = jax.vmap(lambda k: _vector_agent(k))(keys)
    single = _vector_agent(keys[2])
    np.testing.assert_allclose(
        batched.params["net"]["params"]["actor_0"]["kernel"][2],
        single.params["net"]["params"]["actor_0"]["kernel"], atol=1e-6,
    )
    # a corrupt checkpoint is refused with an AtomError
    with pytest.raises(ArtifactError):
        P.load(a1, P.save(s1)[:-7])


def test_agent_settings_are_the_config_model_and_unknown_keys_are_errors():
    s = P.agent_settings({"learning_rate": 1e-3, "hidden_sizes": [32]})
    assert isinstance(s, AgentSettings) and s.learning_rate == 1e-3 and s.hidden_sizes == (32,)
    with pytest.raises(ConfigError, match="unknown key 'world'.*rollout_length"):
        P.agent_settings({"learning_rate": 1e-3, "world": "x"})
    with pytest.raises(ConfigError):
        P.agent_settings({"clip_eps": 0.0})
    with pytest.raises(ConfigError):
        P.agent_settings({"encoder": "vit"})
    with pytest.raises(ConfigError):
        P.DerivedSettings(total_updates=0, symplectic=False, symplectic_dt=0.1)
    derived = P.DerivedSettings.for_run(AgentSettings(rollout_length=32), steps=65, symplectic=True, dt=0.5)
    assert derived == P.DerivedSettings(total_updates=3, symplectic=True, symplectic_dt=0.5)


def _target_env():
    """1-D 'move toward target': x' = x + 0.2 a, reward -|x' - target|, 16 steps."""

    def reset(key):
        x, target = jax.random.uniform(key, (2, 16), minval=-1.0, maxval=1.0)
        return x, target

    @jax.jit
    def step(x, target, a):
        x = x + 0.2 * a[:, 0]
        return x, -jnp.abs(x - target)

    return reset, step


def _episode_return(agent, key, deterministic):
    reset, step = _target_env()
    k_reset, key = jax.random.split(key)
    x, target = reset(k_reset)
    obs, rewards = [], []
    acts, logps, values = [], [], []
    for _ in range(16):
        key, k = jax.random.split(key)
        o = jnp.stack([x, target, x - target], axis=1)
        a, lp, v = P.act(agent, {"vector": o}, k, deterministic=deterministic)
        x, r = step(x, target, a)
        obs.append(o), acts.append(a), logps.append(lp), values.append(v), rewards.append(r)
    rewards = jnp.stack(rewards)
    ro = P.Rollout({"vector": jnp.stack(obs)}, jnp.stack(acts), jnp.stack(logps), jnp.stack(values),
                   rewards, jnp.zeros_like(rewards).at[-1].set(1.0))
    return float(rewards.sum(0).mean()), ro


def test_ppo_learns_move_to_target_within_a_few_thousand_steps():
    settings = dict(rollout_length=16, num_minibatches=4, update_epochs=4, learning_rate=3e-3,
                    total_updates=20, gamma=0.9)
    agent = _vector_agent(jax.random.key(0), "tanh", low=(-1.0,), high=(1.0,), **settings)
    before, _ = _episode_return(agent, jax.random.key(100), deterministic=True)
    key = jax.random.key(1)
    for _ in range(20):  # 20 updates x 16 envs x 16 steps = 5120 environment steps
        key, k_roll, k_upd = jax.random.split(key, 3)
        _, ro = _episode_return(agent, k_roll, deterministic=False)
        agent, _ = P.update(agent, ro, jnp.zeros(16), k_upd)
    after, _ = _episode_return(agent, jax.random.key(100), deterministic=True)
    # Standing still scores about -16 * E|x - target| = -10.7; walking straight to the target
    # at 0.2 per step scores about -2.5 on these start states.
    assert after > before + 4.0 and after > -5.0, (before, after)


@pytest.mark.slow  # ~10-20 s of XLA compile (conv encoder + second-order Hamiltonian grads)
def test_field_agent_with_symplectic_auxiliary_loss_updates():
    """Fields + vector through the encoder; the latent-dynamics loss is trained alongside PPO."""
    settings = AgentSettings(**{**SMALL, "encoder": "conv", "latent_dim": 4, "symplectic": True,
                                "symplectic_weight": 1.0, "learning_rate": 3e-3})
    example = {"fields": np.zeros((2, 6, 5, 1), np.float32), "vector": np.zeros(3, np.float32)}
    agent = P.create_agent(jax.random.key(0), example, {"low": [-1.0], "high": [1.0]}, settings, _derived())
    assert set(agent.params) == {"net", "dyn"}
    k = jax.random.split(jax.random.key(1), 3)
    inputs = {"fields": jax.random.normal(k[0], (8, 4, 2, 6, 5, 1)),
              "vector": jax.random.normal(k[1], (8, 4, 3))}
    actions, logp, values = P.act(agent, inputs, k[2])
    assert actions.shape == (8, 4, 1) and bool(jnp.all(jnp.abs(actions) <= 1.0))
    ro = P.Rollout(inputs, actions, logp, values, jnp.ones((8, 4)), jnp.zeros((8, 4)))
    new, m = P.update(agent, ro, jnp.zeros(4), jax.random.key(10))
    # the Hamiltonian parameters are trained only by the auxiliary loss: they must move
    moved = jax.tree.map(lambda a, b: float(jnp.max(jnp.abs(a - b))), agent.params["dyn"], new.params["dyn"])
    # (the output biases of T and V cannot move: only dH/dq and dH/dp enter the dynamics)
    assert moved["force"] > 0.0 and moved["V"]["params"]["Dense_0"]["kernel"] > 0.0
    assert moved["T"]["params"]["Dense_2"]["bias"] == 0.0
    assert np.isfinite(float(m["symplectic_loss"])) and float(m["symplectic_loss"]) > 0.0
    assert np.isfinite(float(m["loss"]))


def _field_agent(frozen_targets=False, **kw):
    settings = AgentSettings(**{**SMALL, "encoder": "conv", "latent_dim": 4, "symplectic": True,
                                "symplectic_weight": 1.0, "learning_rate": 3e-3, **kw})
    example = {"fields": np.zeros((2, 6, 5, 1), np.float32), "vector": np.zeros(3, np.float32)}
    derived = P.DerivedSettings(total_updates=10, symplectic=True, symplectic_dt=0.1, frozen_targets=frozen_targets)
    return P.create_agent(jax.random.key(0), example, {"low": [-1.0], "high": [1.0]}, settings, derived)


def _field_rollout(agent):
    k = jax.random.split(jax.random.key(1), 3)
    inputs = {"fields": jax.random.normal(k[0], (8, 4, 2, 6, 5, 1)), "vector": jax.random.normal(k[1], (8, 4, 3))}
    actions, logp, values = P.act(agent, inputs, k[2])
    return P.Rollout(inputs, actions, logp, values, jnp.ones((8, 4)), jnp.zeros((8, 4)))


@pytest.mark.slow  # eager second-order Hamiltonian gradients of a conv field agent, twice (~20 s unloaded)
def test_symplectic_targets_encoded_outside_the_gradient_give_the_same_loss_and_gradient():
    """The minibatch step encodes the stop-gradient latent-dynamics targets before ``value_and_grad``; the loss
    and its gradient are those of encoding them inside the loss."""
    agent = _field_agent()
    ro = _field_rollout(agent)
    flat = jax.tree.map(lambda x: x.reshape((-1,) + x.shape[2:]), ro.inputs)
    nxt = jax.tree.map(lambda x: jnp.roll(x, -1, axis=0), flat)
    batch = {"inputs": flat, "next_inputs": nxt, "actions": ro.actions.reshape(32, 1),
             "log_probs": ro.log_probs.reshape(-1), "values": ro.values.reshape(-1),
             "advantages": jnp.linspace(-1.0, 1.0, 32), "returns": jnp.linspace(0.0, 2.0, 32),
             "next_mask": jnp.ones(32)}
    grad = jax.value_and_grad(P.ppo_loss, has_aux=True)
    (inside, aux_in), g_in = grad(agent.params, agent.spec, batch)
    outside_batch = P._with_targets(agent.spec, agent.params, batch)
    assert "next_inputs" not in outside_batch and outside_batch["next_latent"].shape == (32, 4)
    (outside, aux_out), g_out = grad(agent.params, agent.spec, outside_batch)
    assert float(aux_in["symplectic_loss"]) > 0.0
    np.testing.assert_allclose(float(outside), float(inside), rtol=1e-6)
    np.testing.assert_allclose(float(aux_out["symplectic_loss"]), float(aux_in["symplectic_loss"]), rtol=1e-6)
    for a, b in zip(jax.tree.leaves(g_out), jax.tree.leaves(g_in)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-7)


@pytest.mark.slow  # three update compiles of the conv encoder with second-order Hamiltonian grads (~40 s)
def test_frozen_targets_opt_in_lags_the_encoder_by_one_update():
    """``frozen_targets`` encodes the targets once, with the pre-update encoder: with one minibatch step per
    update that is the encoder each step uses anyway (same result); with more steps the result differs."""
    one = dict(update_epochs=1, num_minibatches=1)
    args = (jnp.zeros(4), jax.random.key(10))
    online = P.update(_field_agent(**one), _field_rollout(_field_agent(**one)), *args)[0]
    frozen = P.update(_field_agent(frozen_targets=True, **one), _field_rollout(_field_agent(**one)), *args)[0]
    for a, b in zip(jax.tree.leaves(online.params), jax.tree.leaves(frozen.params)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-6)
    ro = _field_rollout(_field_agent())
    online, m_on = P.update(_field_agent(), ro, *args)
    frozen, m_fr = P.update(_field_agent(frozen_targets=True), ro, *args)
    moved = max(float(jnp.max(jnp.abs(a - b))) for a, b in zip(jax.tree.leaves(online.params["dyn"]),
                                                              jax.tree.leaves(frozen.params["dyn"])))
    assert moved > 1e-6
    assert np.isfinite(float(m_fr["symplectic_loss"])) and float(m_fr["symplectic_loss"]) > 0.0
