"""Proximal Policy Optimisation, readable top to bottom (CleanRL / PureJaxRL style).

Everything numerical is a pure function of (agent state, data, key); ``act``, ``value`` and
``update`` are jitted. The settings, action spec and network description are static parts of
``AgentState`` (not pytree leaves), so one state is one compiled program and ``jax.vmap`` over
seeds works on ``create_agent``, ``act`` and ``update`` alike.

Conventions of a ``Rollout`` (time first, then an optional env axis):
    inputs[k]  (T, [E,] ...)   observation the action was chosen from
    actions    (T, [E,] A) continuous, (T, [E]) discrete
    log_probs, values, rewards, dones   (T, [E])
``dones[t] = 1`` when the episode ended at step t (the next observation is a reset), so no
value is bootstrapped across it. For a time-limit truncation, add ``gamma * value(final_obs)``
to ``rewards[t]`` before calling ``update``; ``last_value`` is V(observation after step T-1).

With the recurrent core (``AgentSettings.core = "gru"``) acting goes through ``act_step``, which
takes and returns the hidden state; the caller zeroes it when an episode ends, and a rollout's
``hiddens`` (T, [E,] H) holds the state each step was acted from. ``update`` then trains on
sequence minibatches (``agent.recurrent``): whole chunks of consecutive steps, each re-run
through the GRU from its stored state.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping

import flax.serialization
import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import struct
from pydantic import ValidationError

from atom_sdk.agent import decoder as D
from atom_sdk.agent import networks as N
from atom_sdk.agent import recurrent as R
from atom_sdk.agent import symplectic as S
from atom_sdk.config import AgentSettings, validation_error_to_config_error
from atom_sdk.errors import ArtifactError, ConfigError


# ----------------------------------------------------------------------------- settings
@dataclass(frozen=True)
class DerivedSettings:
    """What an agent needs beyond ``AgentSettings``: values that depend on the run, not the config.

    ``total_updates`` is the number of ``update`` calls the learning rate anneals over;
    ``symplectic`` is the variant's decision (``AgentSettings.symplectic`` after ablations and
    only with the field encoder); ``symplectic_dt`` is the world's time step, the latent
    dynamics' step.
    """

    total_updates: int
    symplectic: bool
    symplectic_dt: float
    #: ``AgentSettings.frozen_targets`` (opt-in, changes the learning): encode the latent-dynamics targets once
    #: per update with the encoder as it was before the update, instead of with each minibatch's current
    #: encoder. Why offered: encoding them per minibatch is about 30 % of a PPO update's CPU time on
    #: Taylor-Green 32x32x16 (profiled); once per update saves ~22 % of it (benchmarks/bench_encoder.py
    #: --update-options).
    frozen_targets: bool = False

    def __post_init__(self) -> None:
        if int(self.total_updates) < 1:
            raise ConfigError(f"total_updates must be >= 1, got {self.total_updates}")
        if not float(self.symplectic_dt) > 0.0:
            raise ConfigError(f"symplectic_dt must be > 0, got {self.symplectic_dt}")

    @classmethod
    def for_run(cls, settings: AgentSettings, *, steps: int, symplectic: bool, dt: float) -> "DerivedSettings":
        """A run of ``steps`` environment steps updates once per rollout (the last may be partial)."""
        return cls(total_updates=max(1, math.ceil(steps / settings.rollout_length)), symplectic=bool(symplectic),
                   symplectic_dt=float(dt), frozen_targets=bool(settings.frozen_targets))


def agent_settings(settings: AgentSettings | Mapping[str, Any]) -> AgentSettings:
    """The config model itself, or a mapping validated into it: an unknown key is an error."""
    if isinstance(settings, AgentSettings):
        return settings
    if not isinstance(settings, Mapping):
        raise ConfigError(f"agent settings must be AgentSettings or a mapping, got {type(settings).__name__}")
    try:
        return AgentSettings.model_validate(dict(settings))
    except ValidationError as err:
        raise validation_error_to_config_error(err, "agent settings", AgentSettings) from None


@dataclass(frozen=True)
class AgentSpec:
    """Everything static about an agent: hashed into the jit cache key."""

    settings: AgentSettings
    derived: DerivedSettings
    action: N.ActionSpec
    use_fields: bool
    field_shape: tuple[int, ...] = ()  # (C, nx, ny, nz) of one observed field; () without fields

    @property
    def network(self) -> N.ActorCritic:
        s = self.settings
        return N.ActorCritic(
            action=self.action, hidden_sizes=s.hidden_sizes, encoder=s.encoder,
            latent_dim=s.latent_dim, fourier_modes=s.fourier_modes, policy_head=s.policy_head,
            use_fields=self.use_fields, core=s.core, core_size=s.core_size,
        )

    @property
    def recurrent(self) -> bool:
        return self.settings.core == "gru"

    @property
    def uses_dynamics(self) -> bool:
        return self.derived.symplectic and self.use_fields

    @property
    def uses_decoder(self) -> bool:
        """A field decoder trains beside PPO (``decoder_weight > 0`` and the agent sees fields)."""
        return self.settings.decoder_weight > 0.0 and self.use_fields

    @property
    def decoder_shape(self) -> tuple[int, ...]:
        return D.target_shape(self.field_shape)


class AgentState(struct.PyTreeNode):
    params: Any  # {"net": network params, "dyn": Hamiltonian params (only when used)}
    opt_state: Any
    step: jnp.ndarray  # number of update() calls so far
    spec: AgentSpec = struct.field(pytree_node=False)


class Rollout(struct.PyTreeNode):
    inputs: dict
    actions: jnp.ndarray
    log_probs: jnp.ndarray
    values: jnp.ndarray
    rewards: jnp.ndarray
    dones: jnp.ndarray
    hiddens: Any = None  # recurrent core: the hidden state each step was acted from, (T, [E,] H)


def make_optimizer(settings: AgentSettings, total_updates: int) -> optax.GradientTransformation:
    """Adam behind global-norm clipping; LR annealed linearly to 0 over all minibatch steps."""
    lr: Any = settings.learning_rate
    if settings.anneal_lr:
        steps = total_updates * settings.update_epochs * settings.num_minibatches
        lr = optax.linear_schedule(settings.learning_rate, 0.0, steps)
    return optax.chain(optax.clip_by_global_norm(settings.max_grad_norm), optax.adam(lr, eps=1e-5))


def _clean_inputs(inputs: Mapping[str, Any]) -> dict:
    out = {k: jnp.asarray(v, jnp.float32) for k, v in inputs.items() if k in ("fields", "vector") and v is not None}
    if not out:
        raise ConfigError("inputs need a 'fields' or a 'vector' entry", hint="pass the observation dict")
    return out


# ----------------------------------------------------------------------------- creation
def create_agent(
    key: jax.Array,
    example_inputs: Mapping[str, Any],
    action_space_spec: Any,
    settings: AgentSettings | Mapping[str, Any],
    derived: DerivedSettings,
    *,
    discrete: bool = False,
    n_actions: int | None = None,
) -> AgentState:
    """Initialise network (+ optional latent dynamics) parameters and the optimiser state."""
    settings = agent_settings(settings)
    if not isinstance(derived, DerivedSettings):
        raise ConfigError(f"derived must be DerivedSettings, got {type(derived).__name__}")
    example = _clean_inputs(example_inputs)
    action = N.action_spec_from(action_space_spec, discrete=discrete, n_actions=n_actions)
    field_shape = tuple(int(n) for n in example["fields"].shape[-4:]) if "fields" in example else ()
    spec = AgentSpec(settings=settings, derived=derived, action=action, use_fields="fields" in example,
                     field_shape=field_shape)
    params, opt_state = _init_params(spec, key, example)
    return AgentState(params=params, opt_state=opt_state, step=jnp.zeros((), jnp.int32), spec=spec)


@jax.jit(static_argnums=0)
def _init_params(spec: AgentSpec, key: jax.Array, example: dict):
    """Jitted because eager initialisation of the spectral encoder takes seconds."""
    k_net, k_dyn = jax.random.split(key)
    params = {"net": spec.network.init(k_net, example)}
    if spec.uses_dynamics:
        a_dim = spec.action.n_actions if spec.action.discrete else spec.action.dim
        params["dyn"] = S.init_dynamics(k_dyn, spec.settings.latent_dim, a_dim)
    if spec.uses_decoder:  # its own key, so the other parameters are those of a run without it
        params["dec"] = D.init_decoder(jax.random.fold_in(key, 2), spec.settings.latent_dim, spec.decoder_shape)
    return params, make_optimizer(spec.settings, spec.derived.total_updates).init(params)


# ----------------------------------------------------------------------------- acting
def _act(agent_state: AgentState, inputs, key, deterministic: bool = False):
    spec = agent_state.spec
    pi, value, _ = spec.network.apply(agent_state.params["net"], _clean_inputs(inputs))
    action = N.sample(pi, spec.action, spec.settings.action_squash, key, deterministic)
    logp = N.log_prob(pi, action, spec.action, spec.settings.action_squash)
    return action, logp, value


act = jax.jit(_act, static_argnames=("deterministic",))
act.__doc__ = "(agent_state, inputs, key, deterministic=False) -> (action in bounds, log_prob, value)"


@jax.jit
def value(agent_state: AgentState, inputs, hidden=None) -> jnp.ndarray:
    """V(inputs) (from ``hidden`` with the recurrent core); used for last_value and for bootstrapping
    truncated episodes."""
    return agent_state.spec.network.apply(agent_state.params["net"], _clean_inputs(inputs), hidden)[1]


def initial_hidden(agent_state: AgentState, batch_shape: tuple[int, ...] = ()) -> jnp.ndarray:
    """The hidden state an episode starts from: zeros (batch_shape + (H,)); H = 0 without a recurrent core."""
    return agent_state.spec.network.initial_hidden(tuple(batch_shape))


def _act_step(agent_state: AgentState, inputs, hidden, key, deterministic: bool = False):
    spec = agent_state.spec
    pi, value_, _, new_hidden = spec.network.apply(agent_state.params["net"], _clean_inputs(inputs), hidden,
                                                   method=N.ActorCritic.step)
    action = N.sample(pi, spec.action, spec.settings.action_squash, key, deterministic)
    logp = N.log_prob(pi, action, spec.action, spec.settings.action_squash)
    return action, logp, value_, new_hidden


act_step = jax.jit(_act_step, static_argnames=("deterministic",))
act_step.__doc__ = ("(agent_state, inputs, hidden, key, deterministic=False) -> (action, log_prob, value, "
                    "new hidden); the feed-forward core returns ``hidden`` unchanged")


# ----------------------------------------------------------------------------- advantages
def compute_gae(rewards, values, dones, last_value, gamma: float, gae_lambda: float):
    """Generalised advantage estimation, scanned backwards over time (axis 0)."""

    def step(carry, xs):
        next_adv, next_value = carry
        r, v, d = xs
        not_done = 1.0 - d
        delta = r + gamma * next_value * not_done - v
        adv = delta + gamma * gae_lambda * not_done * next_adv
        return (adv, v), adv

    init = (jnp.zeros_like(last_value), last_value)
    _, adv = jax.lax.scan(step, init, (rewards, values, dones.astype(rewards.dtype)), reverse=True)
    return adv, adv + values


# ----------------------------------------------------------------------------- loss
def clipped_surrogate(log_ratio, advantages, clip_eps: float):
    """-E[min(r A, clip(r, 1-eps, 1+eps) A)]."""
    ratio = jnp.exp(log_ratio)
    unclipped = ratio * advantages
    clipped = jnp.clip(ratio, 1.0 - clip_eps, 1.0 + clip_eps) * advantages
    return -jnp.mean(jnp.minimum(unclipped, clipped))


def value_loss(new_values, old_values, returns, clip_eps: float, clip_value: bool):
    if clip_value:
        v_clipped = old_values + jnp.clip(new_values - old_values, -clip_eps, clip_eps)
        return 0.5 * jnp.mean(jnp.maximum(jnp.square(new_values - returns), jnp.square(v_clipped - returns)))
    return 0.5 * jnp.mean(jnp.square(new_values - returns))


def ppo_loss(params, spec: AgentSpec, batch: dict):
    """Total loss for one minibatch, and its parts for logging."""
    s = spec.settings
    if spec.recurrent:  # a minibatch of sequences (L, B, ...), re-run from each one's stored state
        pi, new_values, latent = spec.network.apply(params["net"], batch["inputs"], batch["hiddens"][0],
                                                    batch["resets"], method=N.ActorCritic.unroll)
    else:
        pi, new_values, latent = spec.network.apply(params["net"], batch["inputs"])
    new_logp = N.log_prob(pi, batch["actions"], spec.action, s.action_squash)
    log_ratio = new_logp - batch["log_probs"]
    adv = batch["advantages"]
    if s.normalize_advantages:
        adv = (adv - adv.mean()) / (adv.std() + 1e-8)
    pg_loss = clipped_surrogate(log_ratio, adv, s.clip_eps)
    v_loss = value_loss(new_values, batch["values"], batch["returns"], s.clip_eps, s.clip_value)
    ent = jnp.mean(N.entropy(pi, spec.action))
    total = pg_loss + s.vf_coef * v_loss - s.ent_coef * ent
    sym = jnp.zeros(())
    if spec.uses_dynamics:
        next_latent = batch.get("next_latent")  # encoded outside the gradient (``_with_targets``)
        if next_latent is None:
            next_latent = spec.network.apply(params["net"], batch["next_inputs"], method=N.ActorCritic.encode)
        a = batch["actions"]
        if spec.action.discrete:
            a = jax.nn.one_hot(a, spec.action.n_actions)
        sym = S.latent_dynamics_loss(params["dyn"], latent, a, next_latent, batch["next_mask"],
                                     dt=spec.derived.symplectic_dt)
        total = total + s.symplectic_weight * sym
    ratio = jnp.exp(log_ratio)
    aux = {
        "pg_loss": pg_loss, "v_loss": v_loss, "entropy": ent, "symplectic_loss": sym,
        "approx_kl": jnp.mean((ratio - 1.0) - log_ratio),  # Schulman's low-variance estimator
        "clip_frac": jnp.mean((jnp.abs(ratio - 1.0) > s.clip_eps).astype(jnp.float32)),
    }
    if spec.uses_decoder:
        rec = D.reconstruction_loss(params["dec"], latent, batch["inputs"]["fields"], spec.decoder_shape)
        total = total + s.decoder_weight * rec
        aux["decoder_loss"] = rec
    return total, aux


# ----------------------------------------------------------------------------- update
def _with_env_axis(rollout: Rollout, last_value) -> tuple[Rollout, jnp.ndarray]:
    """Rollouts without an env axis get one of size 1, so one code path serves both."""
    if rollout.rewards.ndim == 1:
        rollout = jax.tree.map(lambda x: x[:, None], rollout)
        last_value = jnp.reshape(last_value, (1,))
    return rollout, jnp.asarray(last_value, jnp.float32)


def _update(agent_state: AgentState, rollout: Rollout, last_value, key):
    spec = agent_state.spec
    s = spec.settings
    rollout = rollout.replace(inputs=_clean_inputs(rollout.inputs))
    rollout, last_value = _with_env_axis(rollout, last_value)
    rewards = rollout.rewards.astype(jnp.float32)
    dones = rollout.dones.astype(jnp.float32)
    advantages, returns = compute_gae(rewards, rollout.values, dones, last_value, s.gamma, s.gae_lambda)
    data = {
        "inputs": rollout.inputs, "actions": rollout.actions, "log_probs": rollout.log_probs,
        "values": rollout.values, "advantages": advantages, "returns": returns,
    }
    if spec.uses_dynamics:  # pair each step with the next observation of the same episode
        t_len = rewards.shape[0]
        data["next_inputs"] = jax.tree.map(lambda x: jnp.concatenate([x[1:], x[-1:]]), rollout.inputs)
        in_rollout = (jnp.arange(t_len) < t_len - 1).astype(jnp.float32)[:, None]
        data["next_mask"] = (1.0 - dones) * in_rollout
        if spec.derived.frozen_targets:
            data = _with_targets(spec, agent_state.params, data)

    if spec.recurrent:
        return _update_sequences(agent_state, rollout, data, dones, returns, key)
    n = rewards.shape[0] * rewards.shape[1]
    if n % s.num_minibatches:
        raise ConfigError(
            f"rollout of {n} samples does not split into {s.num_minibatches} minibatches",
            hint="make rollout_length * num_envs a multiple of num_minibatches",
        )
    flat = jax.tree.map(lambda x: x.reshape((n,) + x.shape[2:]), data)
    minibatch_step = _minibatch_step(spec)

    def epoch(carry, k):
        perm = jax.random.permutation(k, n)
        shuffled = jax.tree.map(lambda x: x[perm].reshape((s.num_minibatches, -1) + x.shape[1:]), flat)
        return jax.lax.scan(minibatch_step, carry, shuffled)

    (params, opt_state), logs = jax.lax.scan(
        epoch, (agent_state.params, agent_state.opt_state), jax.random.split(key, s.update_epochs)
    )
    return _finish_update(agent_state, params, opt_state, logs, returns, rollout.values)


def _minibatch_step(spec: AgentSpec):
    optimizer = make_optimizer(spec.settings, spec.derived.total_updates)
    grad_fn = jax.value_and_grad(ppo_loss, has_aux=True)

    def minibatch_step(carry, mb):
        params, opt_state = carry
        mb = _with_targets(spec, params, mb)
        (loss, aux), grads = grad_fn(params, spec, mb)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        params = optax.apply_updates(params, updates)
        return (params, opt_state), {"loss": loss, **aux}

    return minibatch_step


def _with_targets(spec: AgentSpec, params, data: dict) -> dict:
    """``data`` with its ``next_inputs`` replaced by their latents under ``params`` (the latent-dynamics
    targets). The loss stops their gradient, so they are encoded here, as a plain forward pass outside
    ``value_and_grad``: the same numbers as encoding them inside the loss."""
    if "next_inputs" not in data:
        return data
    target = spec.network.apply(params["net"], data["next_inputs"], method=N.ActorCritic.encode)
    return {**{k: v for k, v in data.items() if k != "next_inputs"}, "next_latent": target}


def _update_sequences(agent_state: AgentState, rollout: Rollout, data: dict, dones, returns, key):
    """The recurrent core's epochs: minibatches of whole sequences, each with its stored initial state."""
    spec, s = agent_state.spec, agent_state.spec.settings
    if rollout.hiddens is None:
        raise ConfigError("a recurrent agent's rollout needs its hidden states",
                          hint="act with ppo.act_step and store each step's hidden state in Rollout.hiddens")
    t_len, n_envs = dones.shape
    chunks = R.chunk_count(t_len, n_envs, s.num_minibatches, s.sequence_length)
    hiddens = jnp.asarray(rollout.hiddens, jnp.float32).reshape((t_len, n_envs, -1))
    seqs = jax.tree.map(lambda x: R.to_sequences(x, chunks), {**data, "hiddens": hiddens})
    seqs["resets"] = R.sequence_resets(R.to_sequences(dones, chunks))
    n_seq = chunks * n_envs
    minibatch_step = _minibatch_step(spec)

    def epoch(carry, k):
        batches = R.sequence_minibatches(seqs, jax.random.permutation(k, n_seq), s.num_minibatches)
        return jax.lax.scan(minibatch_step, carry, batches)

    (params, opt_state), logs = jax.lax.scan(
        epoch, (agent_state.params, agent_state.opt_state), jax.random.split(key, s.update_epochs)
    )
    return _finish_update(agent_state, params, opt_state, logs, returns, rollout.values)


def _finish_update(agent_state: AgentState, params, opt_state, logs, returns, values):
    spec, s = agent_state.spec, agent_state.spec.settings
    metrics = jax.tree.map(jnp.mean, logs)
    var_y = jnp.var(returns)
    metrics["explained_variance"] = jnp.where(var_y > 0, 1.0 - jnp.var(returns - values) / var_y, 0.0)
    lr_scale = 1.0 - agent_state.step / spec.derived.total_updates if s.anneal_lr else 1.0
    metrics["learning_rate"] = s.learning_rate * jnp.clip(lr_scale, 0.0, 1.0) * jnp.ones(())
    new_state = agent_state.replace(params=params, opt_state=opt_state, step=agent_state.step + 1)
    return new_state, metrics


update = jax.jit(_update)
update.__doc__ = "(agent_state, rollout, last_value, key) -> (agent_state, metrics of 0-d arrays)"


# ----------------------------------------------------------------------------- checkpoints
def save(agent_state: AgentState) -> bytes:
    """Serialise params, optimiser state and step (flax msgpack) to bytes."""
    payload = {"params": agent_state.params, "opt_state": agent_state.opt_state, "step": agent_state.step}
    return flax.serialization.to_bytes(jax.device_get(payload))


def load(template: AgentState, data: bytes) -> AgentState:
    """Restore bytes from ``save`` into an agent built by ``create_agent`` with the same settings."""
    target = {"params": template.params, "opt_state": template.opt_state, "step": template.step}
    try:
        restored = flax.serialization.from_bytes(target, data)
    except (ValueError, KeyError, TypeError) as err:
        raise ArtifactError(
            f"checkpoint does not match this agent: {err}",
            hint="create the template agent with the same settings and inputs as the saved run",
        ) from err
    restored = jax.tree.map(jnp.asarray, restored)
    want = jax.tree.map(jnp.shape, target)
    if jax.tree.map(jnp.shape, restored) != want:
        raise ArtifactError(
            "checkpoint array shapes differ from this agent's",
            hint="create the template agent with the same settings and inputs as the saved run",
        )
    return template.replace(params=restored["params"], opt_state=restored["opt_state"], step=restored["step"])


def num_params(agent_state: AgentState) -> int:
    return int(sum(np.prod(x.shape) for x in jax.tree.leaves(agent_state.params)))
