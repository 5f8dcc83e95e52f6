"""Many seeds of a scientist variant at once: the device rolls out every seed between refits.

Why: a variant with a scientist (``v2_hybrid``, ``v2_residual``, ``v2_raw``, ``v1_raw``) cannot be one
``jit(vmap(train))`` program, because its scientist fits laws with NumPy. But between two refits
(``fit_every`` steps) the scientist's side of the loop is a fixed theory plus two small pieces
of state, which :mod:`atom_sdk.science.jax_theory` runs on the device. So each seed keeps its own
host :class:`~atom_sdk.science.Scientist`; the device runs all seeds' *segments* (from one refit
to the next, never across a PPO update) as one vmapped program with each seed's frozen theory
as input, and between segments the host feeds each scientist the segment's readings in order
(exactly the runner's ``observe``/``mark_boundary``/``update(step)`` calls), refits, and
freezes the theories again. A fit is due at a step the host can predict; where an episode end
makes it due earlier than predicted (before the first fit only), the segment is run again,
shorter. Each seed's run is then the host-stepped runner's run with ``safety.enabled: false``,
to float32 rounding (the device's normaliser and frozen theory are float32).

Measurement noise: the host draws each reading's noise from the generator ``ScienceBridge.measure``
seeds and hands the segment its draws; the device measures in float32 (theory features, the
controller), the host measures the same draws again in float64 for its scientists.
A segment compiles once per distinct length (with the defaults two: the rollout and ``fit_every``).

Limits (``ConfigError`` says which): no latent science or Jacobian features, no recurrent core,
a world's own measurement model only without noise, the ``"sparse"`` backend, and
``v2_residual`` only on worlds whose control target has a device form (``DEVICE_TARGETS``).
"""

from __future__ import annotations

import contextlib
import functools
import json
import math
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from atom_sdk.agent import ppo as P
from atom_sdk.agent.running_stats import RunningNorm
from atom_sdk.config import RunConfig
from atom_sdk.errors import ConfigError
from atom_sdk.experiment.device_science import DEVICE_TARGETS, measurement_draw, next_fit_step, science_loop_blocker
from atom_sdk.experiment.policy import MEASUREMENT_STREAM
from atom_sdk.experiment.variants import VariantSpec, agent_settings_for
from atom_sdk.science import jax_theory as jt

__all__ = ["DEVICE_TARGETS", "science_blocker", "train_science_seeds"]


def science_blocker(config: RunConfig, variant: VariantSpec, world: Any) -> str | None:
    """Why the seed-vectorised trainer cannot run this scientist variant (None when it can): the device
    loop's limits (``device_science.science_loop_blocker``) plus the recurrent core."""
    if variant.recurrent:
        return "the recurrent core needs the host-stepped runner"
    return science_loop_blocker(config, variant, type(world))


# ----------------------------------------------------------------------------- device state
class SciSeedCarry(struct.PyTreeNode):
    """One seed's loop state on the device, between two host events."""

    env_state: Any
    obs: jax.Array
    norm: RunningNorm
    ft: jt.FrozenTheory
    x_prev: jax.Array  # the reading the next act sees (the observables before the next step)
    u_prev: jax.Array  # the control applied last (zeros after a reset)
    sci_x: jax.Array  # the scientist's last observation in this episode, and its control
    sci_u: jax.Array
    sci_has: jax.Array  # whether that observation exists (False after a boundary)
    buffer: P.Rollout  # this rollout so far (rollout_length rows)
    ep_return: jax.Array
    ep_length: jax.Array
    reward_sum: jax.Array
    returns_sum: jax.Array
    n_episodes: jax.Array
    n_diverged: jax.Array
    last_return: jax.Array
    episode_returns: jax.Array
    last: dict[str, Any]  # the segment's last step, for its time-limit bootstrap after a refit
    diag_sums: dict[str, jax.Array]  # the runner's per-step diagnostic sums (its summary's ``mean_<name>``)


@dataclass(frozen=True)
class _Programs:
    """The compiled pieces of one (config, seeds) training, and what they were built from."""

    agents: Callable
    start: Callable
    segment: Callable[[int], Callable]
    rebootstrap: Callable
    update: Callable
    n_vars: int
    n_ctrl: int
    updates: str  # "per seed" (the runner's jitted update, one seed after another) or "vmapped"


def _row0(tree: Any, i: int) -> Any:
    """Row ``i`` of every leaf of a seed-stacked tree."""
    return jax.tree.map(lambda a: a[i], tree)


def _stack(trees: list[Any]) -> Any:
    """Trees stacked along a new leading axis on the host (``jnp.stack`` would compile per leaf)."""
    return jax.device_put(jax.tree.map(lambda *leaves: np.stack([np.asarray(v) for v in leaves]), *trees))


@functools.lru_cache(maxsize=8)
def _programs(program_key: str, env_type: type) -> tuple[_Programs, Any, Any]:
    """The programs of a config (name and seed aside), built once per process (jit caches by shape)."""
    from atom_sdk.experiment.runner import make_world
    from atom_sdk.experiment.variants import resolve_variant

    config = RunConfig.model_validate(json.loads(program_key))
    variant = resolve_variant(config)
    world = make_world(config)
    why = science_blocker(config, variant, world)
    if why is not None:
        raise ConfigError(f"cannot vectorise variant '{config.variant}': {why}",
                          hint="run it with the host-stepped runner (run_experiment)")
    env = env_type(world)
    return _build(config, variant, world, env), variant, world


@dataclass(frozen=True, eq=False)
class _Loop:
    """What the device loop's steps share: the run's shapes and constants, the world's device functions,
    and the runner's observation pieces (the readings, the scientist's features, the policy's inputs)."""

    variant: VariantSpec
    env: Any
    params: Any
    dynamics: Any
    names: tuple[str, ...]  # the observables the scientist reads
    diag_names: Any  # the diagnostics the runner averages
    n_vars: int
    n_ctrl: int
    obs_size: int
    rollout_length: int
    gamma: float
    max_recorded: int  # episode returns kept per seed
    low: jax.Array
    high: jax.Array
    target_fn: Callable | None  # the world's device control target (``DEVICE_TARGETS``)
    level: float  # relative measurement noise

    def clean(self, physics: Any) -> jax.Array:
        diag = self.dynamics.diagnostics(physics)
        return jnp.stack([jnp.asarray(diag[n], jnp.float32) for n in self.names])

    def readings(self, physics: Any, z: jax.Array) -> jax.Array:
        """``World.measure`` of the observables with the host's standard normal draw ``z``
        (``measure_relative``: relative to each magnitude, floored at 1e-12 of the largest)."""
        x = self.clean(physics)
        if self.level == 0.0:
            return x
        scale = jnp.abs(x)
        scale = jnp.maximum(scale, jnp.maximum(1e-12 * jnp.max(scale), jnp.finfo(jnp.float32).tiny))
        return x + self.level * scale * z

    def features(self, ft: jt.FrozenTheory, x: jax.Array, u: jax.Array) -> jax.Array:
        """``ScienceBridge.features``: the theory features, trust-gated when the variant says so."""
        f = jt.theory_features(ft, x, u)
        if self.variant.trust_gate:
            f = jnp.where(ft.trust >= ft.gate, f * ft.trust.astype(jnp.float32), jnp.zeros_like(f))
        return f

    def inputs(self, norm_obs: jax.Array, ft: jt.FrozenTheory, x: jax.Array, u: jax.Array, state: Any) -> dict:
        out = {"vector": jnp.concatenate([norm_obs, self.features(ft, x, u)]).astype(jnp.float32)}
        if self.variant.use_encoder:
            out["fields"] = self.env.field_tensor(state)
        return out

    def controller(self, ft: jt.FrozenTheory, physics: Any, x: jax.Array) -> jax.Array:
        """``ScienceBridge.controller``: the greedy theory control (zeros while untrusted)."""
        goal, weights = self.target_fn(self.dynamics.diagnostics(physics))
        u = jt.greedy_control(ft, x, goal, weights, self.low, self.high)
        return jnp.where(jt.trusted(ft), u, jnp.zeros_like(u))


def _loop(config: RunConfig, variant: VariantSpec, world: Any, env: Any) -> tuple[_Loop, Any, Any]:
    """The loop's shared context, and the agent's settings as the runner resolves them."""
    settings = agent_settings_for(config, variant)
    derived = P.DerivedSettings.for_run(settings, steps=config.steps, symplectic=variant.symplectic,
                                        dt=float(world.dt))
    names = tuple(world.observable_names)
    loop = _Loop(
        variant=variant, env=env, params=env.default_params, dynamics=env.dynamics, names=names,
        diag_names=env.diagnostic_names(), n_vars=len(names), n_ctrl=int(np.prod(env.action_shape)),
        obs_size=int(np.prod(env.obs_shape)), rollout_length=settings.rollout_length, gamma=float(settings.gamma),
        max_recorded=config.steps // env.max_episode_steps + 8, low=jnp.asarray(env.action_low, jnp.float32),
        high=jnp.asarray(env.action_high, jnp.float32), target_fn=DEVICE_TARGETS.get(config.world.name),
        level=float(config.world.measurement_noise))
    return loop, settings, derived


def _agents(loop: _Loop, world: Any, settings: Any, derived: Any, seeds: list[int]) -> tuple[P.AgentState, jax.Array]:
    """Each seed's agent and key as ``Policy`` makes them (its jitted initialiser, shared with the
    runner's runs in this process), stacked along a seed axis."""
    world.reset(seed=seeds[0])
    feat_dim = 3 * loop.n_vars + 2
    example = {"vector": np.zeros(loop.obs_size + feat_dim, np.float32)}
    if loop.variant.use_encoder:
        example["fields"] = world.field_tensor()
    made, keys = [], []
    for seed in seeds:
        key, init_key = jax.random.split(jax.random.PRNGKey(seed))
        made.append(P.create_agent(init_key, example, world.action_space, settings, derived))
        keys.append(key)
    return _stack(made), _stack(keys)


def _start(loop: _Loop, seed: jax.Array, ft: jt.FrozenTheory, z0: jax.Array) -> SciSeedCarry:
    """One seed's carry after its world's reset: an empty rollout buffer and zeroed bookkeeping."""
    env, n_vars, n_ctrl, rollout_length = loop.env, loop.n_vars, loop.n_ctrl, loop.rollout_length
    obs, env_state = env.reset_seed(seed, loop.params)
    example = loop.inputs(jnp.zeros(loop.obs_size, jnp.float32), ft, jnp.zeros(n_vars), jnp.zeros(n_ctrl), env_state)
    buffer = P.Rollout(
        inputs=jax.tree.map(lambda a: jnp.zeros((rollout_length, *a.shape), a.dtype), example),
        actions=jnp.zeros((rollout_length, *env.action_shape), jnp.float32),
        log_probs=jnp.zeros(rollout_length, jnp.float32), values=jnp.zeros(rollout_length, jnp.float32),
        rewards=jnp.zeros(rollout_length, jnp.float32), dones=jnp.zeros(rollout_length, jnp.float32),
        hiddens=None)
    zero, none = jnp.zeros((), jnp.float32), jnp.zeros((), jnp.int32)
    last = {"final_obs": jnp.zeros(env.obs_shape, env.obs_dtype), "x_after": jnp.zeros(n_vars, jnp.float32),
            "u": jnp.zeros(n_ctrl, jnp.float32), "reward": zero, "boot": jnp.zeros((), bool)}
    if loop.variant.use_encoder:
        last["fields"] = env.field_tensor(env_state)
    return SciSeedCarry(
        env_state=env_state, obs=obs, norm=RunningNorm.device(loop.obs_size), ft=ft,
        x_prev=loop.readings(env_state.physics, z0), u_prev=jnp.zeros(n_ctrl, jnp.float32),
        sci_x=jnp.zeros(n_vars, jnp.float32), sci_u=jnp.zeros(n_ctrl, jnp.float32), sci_has=jnp.zeros((), bool),
        buffer=buffer, ep_return=zero, ep_length=none, reward_sum=zero, returns_sum=zero, n_episodes=none,
        n_diverged=none, last_return=zero, episode_returns=jnp.full((loop.max_recorded,), jnp.nan, jnp.float32),
        last=last, diag_sums={n: zero for n in loop.diag_names})


def _step(loop: _Loop, agent: P.AgentState, key: jax.Array, c: SciSeedCarry, z: jax.Array):
    """One step of the runner's loop: act, world step, the scientist's observation, bookkeeping.
    ``z``: the measurement draws of the reading before the next step and of a terminal reading."""
    key, act_key = jax.random.split(key)
    norm = c.norm.update(c.obs)
    inp = loop.inputs(norm.normalize(c.obs), c.ft, c.x_prev, c.u_prev, c.env_state)
    action, logp, value = P._act(agent, inp, act_key)
    env_action = jnp.reshape(action, (loop.n_ctrl,)).astype(jnp.float32)
    if loop.variant.residual_policy:
        env_action = jnp.clip(loop.controller(c.ft, c.env_state.physics, c.x_prev) + env_action, loop.low, loop.high)
    obs, env_state, reward, term, trunc, info = loop.env.step(act_key, c.env_state, env_action, loop.params)
    done = term | trunc
    x_after = loop.readings(info["final_state"].physics, jnp.where(done, z[1], z[0]))
    # the scientist observes (x_t, u_t): closes the transition from its last observation
    ft = jt.observe(c.ft, c.sci_x, c.sci_u, c.x_prev, c.sci_has)
    # at an episode end: the terminal reading, then the boundary
    ft_end = jt.mark_boundary(jt.observe(ft, c.x_prev, env_action, x_after, True))
    ft = jax.tree.map(lambda e, k: jnp.where(done, e, k), ft_end, ft)
    boot = trunc & ~term
    final = loop.inputs(norm.normalize(info["final_observation"]), ft, x_after, env_action, info["final_state"])
    reward32 = reward.astype(jnp.float32)
    ep_return = c.ep_return + reward32
    slot = jnp.where(done, c.n_episodes, loop.max_recorded)
    last = {"final_obs": info["final_observation"], "x_after": x_after, "u": env_action, "reward": reward32,
            "boot": boot}
    if loop.variant.use_encoder:
        last["fields"] = loop.env.field_tensor(info["final_state"])
    new = c.replace(
        env_state=env_state, obs=obs, norm=norm, ft=ft,
        x_prev=jnp.where(done, loop.readings(env_state.physics, z[0]), x_after),
        u_prev=jnp.where(done, jnp.zeros_like(env_action), env_action),
        sci_x=c.x_prev, sci_u=env_action, sci_has=~done,
        ep_return=jnp.where(done, 0.0, ep_return), ep_length=jnp.where(done, 0, c.ep_length + 1),
        reward_sum=c.reward_sum + reward32, returns_sum=c.returns_sum + jnp.where(done, ep_return, 0.0),
        n_episodes=c.n_episodes + done.astype(jnp.int32), n_diverged=c.n_diverged + term.astype(jnp.int32),
        last_return=jnp.where(done, ep_return, c.last_return),
        episode_returns=c.episode_returns.at[slot].set(ep_return, mode="drop"), last=last,
        diag_sums={n: s + info["diagnostics"][n].astype(jnp.float32) for n, s in c.diag_sums.items()})
    row = (inp, action, logp, value, reward32, done.astype(jnp.float32))
    host = {"x": loop.clean(c.env_state.physics), "u": env_action, "done": done, "boot": boot,
            "x_after": loop.clean(info["final_state"].physics)}  # the host measures these in float64
    return key, new, row, host, final


def _write(buffer: P.Rollout, rows: tuple, pos: jax.Array) -> P.Rollout:
    """One seed's segment rows ``(L, ...)`` into its rollout buffer from row ``pos``."""
    inp, actions, logps, values, rewards, dones = rows
    put = functools.partial(jax.lax.dynamic_update_slice_in_dim, start_index=pos, axis=0)
    return buffer.replace(inputs=jax.tree.map(put, buffer.inputs, inp),
                          actions=put(buffer.actions, jnp.reshape(actions, (-1, *buffer.actions.shape[1:]))),
                          log_probs=put(buffer.log_probs, logps), values=put(buffer.values, values),
                          rewards=put(buffer.rewards, rewards), dones=put(buffer.dones, dones))


def _segment(loop: _Loop, length: int) -> Callable:
    """All seeds' next ``length`` steps. The scan runs over steps with the seeds vmapped inside,
    so the time-limit bootstrap's value pass is a real branch taken only at a truncation
    (vmapped per seed, a ``cond`` would compute it at every step)."""
    seeds_step = jax.vmap(functools.partial(_step, loop))
    seeds_value = jax.vmap(P.value)
    seeds_write = jax.vmap(_write, in_axes=(0, 0, None))

    def run(agent: P.AgentState, key: jax.Array, c: SciSeedCarry, pos: jax.Array, draws: jax.Array):
        def body(kc, z):
            key, c = kc
            key, c, row, host, final = seeds_step(agent, key, c, z)
            boot = host["boot"]
            v = jax.lax.cond(jnp.any(boot), lambda: seeds_value(agent, final),
                             lambda: jnp.zeros(boot.shape, jnp.float32))
            inp, action, logp, value, reward, done = row
            row = (inp, action, logp, value, reward + loop.gamma * jnp.where(boot, v, 0.0), done)
            return (key, c), (row, host)

        (key, c), (rows, host) = jax.lax.scan(body, (key, c), draws, length=length)
        rows = jax.tree.map(lambda a: jnp.swapaxes(a, 0, 1), rows)  # (seeds, length, ...)
        return key, c.replace(buffer=seeds_write(c.buffer, rows, pos)), host

    return jax.jit(run)


def _rebootstrap(loop: _Loop, agent: P.AgentState, c: SciSeedCarry, pos: jax.Array) -> SciSeedCarry:
    """The last step's time-limit bootstrap again, with the theory refrozen after its refit."""
    last = c.last
    final = {"vector": jnp.concatenate([c.norm.normalize(last["final_obs"]),
                                        loop.features(c.ft, last["x_after"], last["u"])]).astype(jnp.float32)}
    if loop.variant.use_encoder:
        final["fields"] = last["fields"]
    v = P.value(agent, final)
    reward = jnp.where(last["boot"], last["reward"] + loop.gamma * v, c.buffer.rewards[pos])
    return c.replace(buffer=c.buffer.replace(rewards=c.buffer.rewards.at[pos].set(reward)))


def _prepare(loop: _Loop, agent: P.AgentState, key: jax.Array, c: SciSeedCarry):
    """The rollout's bootstrap value and the update's key, as ``Policy.update`` takes them."""
    last_inputs = loop.inputs(c.norm.normalize(c.obs), c.ft, c.x_prev, c.u_prev, c.env_state)
    key, update_key = jax.random.split(key)
    return P.value(agent, last_inputs), key, update_key


def _update_vmapped(loop: _Loop, agent: P.AgentState, key: jax.Array, c: SciSeedCarry):
    """Every seed's PPO update as one vmapped program (jitted by :func:`_build`)."""
    last_value, key, update_key = jax.vmap(functools.partial(_prepare, loop))(agent, key, c)
    agent, metrics = jax.vmap(P._update)(agent, c.buffer, last_value, update_key)
    return agent, key, metrics


def _update_per_seed(seeds_prepare: Callable, agent: P.AgentState, key: jax.Array, c: SciSeedCarry):
    """Each seed's PPO update by the runner's own jitted ``ppo.update``, one after another."""
    last_value, key, update_key = seeds_prepare(agent, key, c)
    agents, buffers, last_value, update_key = jax.device_get((agent, c.buffer, last_value, update_key))
    n = int(np.asarray(last_value).shape[0])
    done = [P.update(_row0(agents, i), _row0(buffers, i), last_value[i], update_key[i]) for i in range(n)]
    return _stack([a for a, _ in done]), key, _stack([m for _, m in done])


def _build(config: RunConfig, variant: VariantSpec, world: Any, env: Any) -> _Programs:
    """The programs of one config: each step above, bound to the loop's shared context."""
    loop, settings, derived = _loop(config, variant, world, env)
    seeds_prepare = jax.jit(jax.vmap(functools.partial(_prepare, loop)))
    # XLA:CPU runs a vmapped update slower per seed than one seed's (measured: 4 seeds of the spectral
    # encoder on Taylor-Green 32x32x16, 3.2-3.6 s per seed vmapped against 2.3-2.9 s alone); the
    # per-seed update also shares its compiled program with the host-stepped runs of the same shapes
    per_seed = jax.default_backend() == "cpu"
    update = (functools.partial(_update_per_seed, seeds_prepare) if per_seed
              else jax.jit(functools.partial(_update_vmapped, loop)))
    return _Programs(agents=functools.partial(_agents, loop, world, settings, derived),
                     start=jax.jit(jax.vmap(functools.partial(_start, loop))),
                     segment=functools.lru_cache(maxsize=None)(functools.partial(_segment, loop)),
                     rebootstrap=jax.jit(jax.vmap(functools.partial(_rebootstrap, loop), in_axes=(0, 0, None))),
                     update=update, n_vars=loop.n_vars, n_ctrl=loop.n_ctrl,
                     updates="per seed" if per_seed else "vmapped")


# ----------------------------------------------------------------------------- the host side
def _scientists(config: RunConfig, variant: VariantSpec, world: Any, seeds: list[int]) -> list[Any]:
    """One scientist per seed, built as ``ScienceBridge`` builds the runner's (without a ledger file)."""
    from atom_sdk.science import Scientist

    settings = config.scientist.model_copy(update={"ensembled": variant.ensembled})
    n_ctrl = int(np.prod(world.action_space.shape))
    return [Scientist(settings, list(world.observable_names), [f"u{i}" for i in range(n_ctrl)], float(world.dt),
                      run_id=config.name, seed=int(s)) for s in seeds]


def _first_fit(sci: Any, step: int, dones: np.ndarray) -> int | None:
    """The first step of a segment at which ``Scientist.update`` will fit, given its episode ends."""
    c = sci._cfg
    if not c["enabled"]:
        return None
    n, last = sci.n_buffered, sci._last_fit_step
    for i, done in enumerate(dones):
        n += 1 + int(done)
        t = step + i
        if n >= int(c["min_samples"]) and (last is None or t - last >= int(c["fit_every"])):
            return t
    return None


def _feed(sci: Any, step: int, host: dict[str, np.ndarray]) -> tuple[dict[str, int], bool]:
    """The runner's ``observe``/``mark_boundary``/``update`` calls for one seed's segment, in order;
    returns the decision counts and whether a fit ran at the segment's last step."""
    counts: dict[str, int] = {}
    length = len(host["done"])
    zeros = np.zeros(sci.n_ctrl)
    fitted_last = False
    for j in range(length):
        sci.observe(np.asarray(host["x"][j], np.float64), np.asarray(host["u"][j], np.float64))
        if host["done"][j]:
            sci.observe(np.asarray(host["x_after"][j], np.float64), zeros)
            sci.mark_boundary()
        before = sci._last_fit_step
        for d in sci.update(step + j):
            kind = str(d.get("kind", "decision"))
            counts[kind] = counts.get(kind, 0) + 1
        fitted_last = fitted_last or (j == length - 1 and sci._last_fit_step != before)
    return counts, fitted_last


def _draws(seeds: list[int], start: int, length: int, n_vars: int, level: float) -> np.ndarray:
    """The measurement draws of steps ``start .. start + length - 1``, ``(length, seeds, 2, n_vars)``:
    ``[t, i, 0]`` for the reading before step ``t + 1``, ``[t, i, 1]`` for step ``t``'s terminal reading,
    each from the generator ``ScienceBridge.measure`` seeds (zeros without measurement noise)."""
    out = np.zeros((length, len(seeds), 2, n_vars), np.float32)
    if level == 0.0:
        return out
    for j in range(length):
        for i, seed in enumerate(seeds):
            out[j, i, 0] = measurement_draw(seed, start + j + 1, False, n_vars)
            out[j, i, 1] = measurement_draw(seed, start + j, True, n_vars)
    return out


def _measured(world: Any, level: float, seed: int, start: int, host: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """One seed's segment outputs with the readings measured as the runner measures them (float64)."""
    if level == 0.0:
        return {**host, "x": host["x"].astype(np.float64), "x_after": host["x_after"].astype(np.float64)}

    def measure(clean: np.ndarray, step: int, terminal: bool) -> np.ndarray:
        rng = np.random.default_rng([seed, MEASUREMENT_STREAM, step, int(terminal)])
        return np.asarray(world.measure(np.asarray(clean, np.float64), level, rng), np.float64)

    x = np.stack([measure(c, start + j, False) for j, c in enumerate(host["x"])])
    after = np.stack([measure(c, start + j, True) if d else np.zeros(len(c))
                      for j, (c, d) in enumerate(zip(host["x_after"], host["done"]))])
    return {**host, "x": x, "x_after": after}


def _row(tree: Any, i: int) -> Any:
    """Seed ``i``'s part of the segment's host outputs (stacked step-major, ``(length, seeds, ...)``)."""
    return jax.tree.map(lambda a: a[:, i], tree)


def train_science_seeds(config: RunConfig, seeds: np.ndarray, *, env_type: type, program_key: str,
                        workers: int = 1) -> dict[str, Any]:
    """Train ``config`` (a scientist variant) for every seed at once; see the module docstring.

    ``env_type`` is ``vectorized.DynamicsEnv`` and ``program_key`` the config less its seed
    (``vectorized._program_key``): ``train_seeds_vectorized`` passes both, so neither module imports the other.

    ``workers`` > 1 feeds and refits the seeds' scientists in that many threads (NumPy's fits
    release the GIL). Returns ``train_seeds_vectorized``'s result, each seed with its accepted
    ``laws``, ``final_trust``, ``science_decisions`` and ``trust_trajectory``.
    """
    from atom_sdk.compilation import CompilationCounter

    programs, variant, world = _programs(program_key, env_type)
    seed_list = [int(s) for s in np.asarray(seeds).tolist()]
    scis = _scientists(config, variant, world, seed_list)
    try:
        frozen = [jt.freeze(s) for s in scis]
    except ValueError as exc:
        raise ConfigError(f"cannot vectorise variant '{config.variant}': {exc}") from None
    rollout_length = agent_settings_for(config, variant).rollout_length
    pool = ThreadPoolExecutor(max_workers=workers) if workers > 1 else None
    decisions = [dict() for _ in seed_list]
    trust_trajectory: list[list[list[float]]] = [[] for _ in seed_list]
    metrics: list[dict[str, Any]] = []
    started = time.perf_counter()
    first_segment: float | None = None
    segments = reruns = 0
    split = {"segments": 0.0, "scientists": 0.0, "updates": 0.0}  # seconds: device rollouts, host fits, PPO
    with CompilationCounter() as compiled, pool or contextlib.nullcontext():
        agent, key = programs.agents(seed_list)
        level = float(config.world.measurement_noise)
        z0 = np.stack([measurement_draw(seed, 0, False, programs.n_vars) if level else np.zeros(programs.n_vars)
                       for seed in seed_list]).astype(np.float32)  # the reading before step 0
        carry = programs.start(jnp.asarray(seed_list, jnp.int32), jt.stack(frozen), jnp.asarray(z0))
        step, pos = 0, 0
        while step < config.steps:
            ends = [step + rollout_length - pos - 1, config.steps - 1]
            ends += [t for t in (next_fit_step(s, step) for s in scis) if t is not None]
            last = min(ends)
            t0 = time.perf_counter()
            draws = _draws(seed_list, step, last - step + 1, programs.n_vars, level)
            out = programs.segment(last - step + 1)(agent, key, carry, jnp.int32(pos), jnp.asarray(draws))
            host = jax.device_get(out[2])
            due = [t for t in (_first_fit(s, step, host["done"][:, i]) for i, s in enumerate(scis)) if t is not None]
            if due and min(due) < last:  # an episode end made a fit due sooner: run the segment again, shorter
                last = min(due)
                out = programs.segment(last - step + 1)(agent, key, carry, jnp.int32(pos),
                                                        jnp.asarray(draws[: last - step + 1]))
                host = jax.device_get(out[2])
                reruns += 1
            key, carry = out[0], out[1]
            segments += 1
            t1 = time.perf_counter()
            split["segments"] += t1 - t0
            if first_segment is None:
                first_segment = time.perf_counter() - started
            jobs = [(s, step, _measured(world, level, seed_list[i], step, _row(host, i))) for i, s in enumerate(scis)]
            fed = list(pool.map(lambda a: _feed(*a), jobs)) if pool else [_feed(*a) for a in jobs]
            for i, (counts, _) in enumerate(fed):
                for k, v in counts.items():
                    decisions[i][k] = decisions[i].get(k, 0) + v
            carry = carry.replace(ft=jt.stack([jt.freeze(s) for s in scis]))
            length = last - step + 1
            if any(f for _, f in fed) and bool(np.any(host["boot"][-1])):
                carry = programs.rebootstrap(agent, carry, jnp.int32(pos + length - 1))
            step, pos = step + length, pos + length
            t2 = time.perf_counter()
            split["scientists"] += t2 - t1
            if pos == rollout_length:
                agent, key, m = programs.update(agent, key, carry)
                metrics.append(jax.device_get(m))
                split["updates"] += time.perf_counter() - t2
                pos = 0
                for i, s in enumerate(scis):
                    trust_trajectory[i].append([step, float(s.trust)])
        if pos:  # the runner checkpoints (and records the trust) at the run's end as well
            for i, s in enumerate(scis):
                trust_trajectory[i].append([step, float(s.trust)])
        carry = jax.block_until_ready(carry)
    wall = time.perf_counter() - started
    return _results(config, variant, seed_list, scis, jax.device_get(carry), metrics, decisions, trust_trajectory,
                    {"wall_seconds": wall, "first_segment_seconds": first_segment, "segments": segments,
                     "segment_reruns": reruns, "seconds_in": split, "ppo_updates": programs.updates,
                     **compiled.as_dict(),
                     "env_steps_per_second": len(seed_list) * config.steps / wall if wall > 0 else None,
                     "device": str(jax.devices()[0])})


def _results(config: RunConfig, variant: VariantSpec, seeds: list[int], scis: list[Any], c: SciSeedCarry,
             metrics: list[dict[str, Any]], decisions: list[dict[str, int]], trust: list[list[list[float]]],
             timings: dict[str, Any]) -> dict[str, Any]:
    per_seed = []
    for i, seed in enumerate(seeds):
        n_ep = int(c.n_episodes[i])
        partial = float(c.ep_return[i]) if int(c.ep_length[i]) > 0 else None
        mean_return = float(c.returns_sum[i]) / n_ep if n_ep else partial
        recorded = c.episode_returns[i][: min(n_ep, c.episode_returns.shape[1])]
        per_seed.append({
            "seed": seed,
            "mean_return": _finite(mean_return),
            "final_return": _finite(float(c.last_return[i]) if n_ep else partial),
            "mean_reward": _finite(float(c.reward_sum[i]) / config.steps),
            "episodes_completed": n_ep,
            "diverged_episodes": int(c.n_diverged[i]),
            "episode_returns": [float(r) for r in recorded],
            "last_update": {k: _finite(float(v[i])) for k, v in metrics[-1].items()} if metrics else {},
            "laws": scis[i].laws(),
            "final_trust": float(scis[i].trust),
            "science_decisions": dict(sorted(decisions[i].items())),
            "trust_trajectory": trust[i],
            **{f"mean_{n}": _finite(float(total[i]) / config.steps) for n, total in c.diag_sums.items()},
        })
    return {
        "schema": "atom.vectorized/1",
        "world": config.world.name,
        "grid": list(config.world.grid),
        "variant": variant.as_dict(),
        "seeds": seeds,
        "steps_per_seed": config.steps,
        "updates_per_seed": len(metrics),
        "mean_return": [p["mean_return"] for p in per_seed],
        "per_seed": per_seed,
        "update_metrics": {k: np.stack([m[k] for m in metrics], axis=1).tolist() for k in metrics[0]}
        if metrics else {},
        "safety_envelope": "not applied (host-side); compare with a runner config with safety.enabled=false",
        "scientist": "one host Scientist per seed, refitted between device segments",
        "timings": timings,
    }


def _finite(x: float | None) -> float | None:
    return x if x is not None and math.isfinite(x) else None
