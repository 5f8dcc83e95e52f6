"""Vectorised multi-seed training: a gymnax-style environment over a World's ``Dynamics``.

Why: the host-stepped runner pays Python and host<->device transfers on every step, and runs
seeds one after another. Without a scientist (NumPy code) the whole closed loop, physics,
observation normalisation and PPO, is a pure JAX function of the seed, so N seeds can be one
``jit(vmap(train))`` program that never leaves the device. With a scientist,
``train_seeds_vectorized`` hands over to ``experiment.vectorized_science``: all seeds' segments
between refits run as one vmapped program and each seed's host scientist refits in between.

``DynamicsEnv`` follows the gymnax 1.0 API (``reset(key, params) -> (obs, state)``;
``step(key, state, action, params) -> (obs, state, reward, terminated, truncated, info)``
with auto-reset and ``info["final_observation"]``), so ``agent.reference.make_train`` can
drive it as well. The training loop itself is ``agent.scan_trainer`` (shared with the gymnax
reference); this module is the task it drives (``DynamicsTask``). ``train_seeds_vectorized`` mirrors ``run_experiment`` step for step so the
returns are comparable: the same world and reward, the same episode length and episode seeds
(``seed + EPISODE_SEED_STRIDE * episode``, the runner's), the same running observation normalisation, PPO settings, key
sequence, rollouts, updates and time-limit bootstrap. Two differences remain: the host-side
safety envelope is not applied (compare with ``safety.enabled: false``), and the normaliser
runs in float32 instead of float64 (differences of order 1e-7 in the agent's inputs).

Known issue: on CPU, a long vmapped program was seen to wedge inside ``block_until_ready``
(no CPU used, every Eigen worker idle) three times on a 2-core machine; ``XLA_FLAGS=
--xla_cpu_multi_thread_eigen=false`` did not prevent it. The cause is not found; the fast tests
therefore train only tiny budgets, and the benchmark should be run with a timeout.
"""

from __future__ import annotations

import functools
import json
import math
import time
from dataclasses import dataclass
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from atom_sdk.agent import ppo as P
from atom_sdk.agent import scan_trainer
from atom_sdk.agent.running_stats import RunningNorm
from atom_sdk.config import AgentSettings, RunConfig, canonical_json
from atom_sdk.errors import ConfigError
from atom_sdk.experiment.runner import EPISODE_SEED_STRIDE, TELEMETRY_DIAGNOSTICS, make_world, resolve_config
from atom_sdk.experiment.variants import VariantSpec, agent_settings_for, resolve_variant

#: largest seed accepted: keeps s + EPISODE_SEED_STRIDE * e inside int32 for ~27k episodes
MAX_SEED = 2**31 - 1 - EPISODE_SEED_STRIDE * 2**15


# ----------------------------------------------------------------------------- environment
@dataclass(frozen=True)
class Box:
    """A gymnax-style continuous space (low/high arrays, shape, dtype, ``sample``)."""

    low: np.ndarray
    high: np.ndarray
    shape: tuple[int, ...]
    dtype: Any

    def sample(self, key: jax.Array) -> jax.Array:
        return jax.random.uniform(key, self.shape, jnp.float32, self.low, self.high).astype(self.dtype)

    def contains(self, x: jax.Array) -> jax.Array:
        return jnp.all((x >= self.low) & (x <= self.high))


class EnvParams(struct.PyTreeNode):
    max_steps_in_episode: int = struct.field(pytree_node=False, default=200)


class EnvState(struct.PyTreeNode):
    physics: Any  # the world's own state pytree
    time: jax.Array  # agent steps taken in this episode (int32)
    episode: jax.Array  # episodes finished since ``reset_seed`` (int32)
    seed: jax.Array  # base seed: episode e starts from PRNGKey(seed + EPISODE_SEED_STRIDE e)


def _all_finite(tree: Any) -> jax.Array:
    leaves = [jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(tree)
              if jnp.issubdtype(jnp.asarray(x).dtype, jnp.inexact)]
    return jnp.all(jnp.stack(leaves)) if leaves else jnp.asarray(True)


class DynamicsEnv:
    """gymnax-compatible environment over ``world.dynamics`` (pure, jittable, vmappable).

    Step semantics match ``World.step``: the action is clipped to the bounds; an episode is
    *terminated* when the observation, the reward or any float leaf of the state is NaN/Inf
    (the observation is then zeroed/clipped and the reward set to 0), and *truncated* at
    ``max_steps_in_episode``. ``step`` auto-resets with the runner's next episode seed.
    """

    def __init__(self, world: Any) -> None:
        if not hasattr(world, "dynamics"):
            raise ConfigError(f"{type(world).__name__} has no pure-JAX 'dynamics'; the vectorised trainer "
                              "needs a World built on Dynamics (use the host-stepped runner otherwise)")
        self.world = world
        self.dynamics = world.dynamics
        obs_space, act_space = world.observation_space, world.action_space
        self.obs_shape = tuple(obs_space.shape)
        self.obs_dtype = jnp.dtype(obs_space.dtype)
        self.obs_low = np.asarray(obs_space.low, self.obs_dtype)
        self.obs_high = np.asarray(obs_space.high, self.obs_dtype)
        self.action_shape = tuple(act_space.shape)
        self.action_dtype = jnp.dtype(world.dtype)
        self.action_low = np.asarray(act_space.low, self.action_dtype)
        self.action_high = np.asarray(act_space.high, self.action_dtype)
        self.max_episode_steps = int(world.max_episode_steps)

    # ---- gymnax surface ---------------------------------------------------------------
    @property
    def name(self) -> str:
        return str(getattr(self.world, "world_id", type(self.world).__name__))

    @property
    def default_params(self) -> EnvParams:
        return EnvParams(max_steps_in_episode=self.max_episode_steps)

    @property
    def num_actions(self) -> int:
        return int(np.prod(self.action_shape))

    def observation_space(self, params: EnvParams | None = None) -> Box:
        return Box(self.obs_low, self.obs_high, self.obs_shape, self.obs_dtype)

    def action_space(self, params: EnvParams | None = None) -> Box:
        return Box(self.action_low, self.action_high, self.action_shape, self.action_dtype)

    def reset_seed(self, seed: Any, params: EnvParams | None = None) -> tuple[jax.Array, EnvState]:
        """Reset exactly as ``World.reset(seed=seed)`` does (physics from ``PRNGKey(seed)``)."""
        seed = jnp.asarray(seed, jnp.int32)
        return self._start(seed, seed, jnp.zeros((), jnp.int32))

    def reset(self, key: jax.Array, params: EnvParams | None = None) -> tuple[jax.Array, EnvState]:
        """gymnax reset: a base seed is drawn from ``key``, then as ``reset_seed``."""
        return self.reset_seed(jax.random.randint(key, (), 0, MAX_SEED), params)

    def step_env(self, key: jax.Array, state: EnvState, action: jax.Array, params: EnvParams | None = None):
        """One step without auto-reset: (obs, state, reward, terminated, info)."""
        del key  # the worlds draw their own noise from the key inside their state
        params = params or self.default_params
        act = jnp.clip(jnp.reshape(jnp.asarray(action), self.action_shape).astype(self.action_dtype),
                       self.action_low, self.action_high)
        physics, out = self.dynamics.step(state.physics, act)
        obs = jnp.reshape(out.observation, self.obs_shape).astype(self.obs_dtype)
        reward = out.reward
        terminated = ~(_all_finite(obs) & jnp.isfinite(reward) & _all_finite(physics))
        clean = jnp.clip(jnp.nan_to_num(obs, nan=0.0, posinf=0.0, neginf=0.0), self.obs_low, self.obs_high)
        obs = jnp.where(terminated, clean, obs)
        reward = jnp.where(jnp.isfinite(reward), reward, jnp.zeros_like(reward))
        new = state.replace(physics=physics, time=state.time + 1)
        return obs, new, reward, terminated, {"diagnostics": out.diagnostics}

    def step(self, key: jax.Array, state: EnvState, action: jax.Array, params: EnvParams | None = None):
        """gymnax 1.0 step: (obs, state, reward, terminated, truncated, info), auto-reset on done."""
        params = params or self.default_params
        obs_st, st, reward, terminated, info = self.step_env(key, state, action, params)
        truncated = st.time >= params.max_steps_in_episode
        done = terminated | truncated
        episode = st.episode + 1
        obs_re, st_re = self._start(st.seed + EPISODE_SEED_STRIDE * episode, st.seed, episode)
        new = jax.tree.map(lambda r, s: jnp.where(done, r, s), st_re, st)
        obs = jnp.where(done, obs_re, obs_st)
        info = {**info, "terminated": terminated, "truncated": truncated, "final_observation": obs_st,
                "final_state": st}
        return obs, new, reward, terminated, truncated, info

    # ---- beyond gymnax ----------------------------------------------------------------
    def field_tensor(self, state: EnvState) -> jax.Array:
        """Fields stacked as channels (C, nx, ny, nz) in ``World.field_tensor``'s order."""
        channels = []
        for value in self.dynamics.fields(state.physics).values():
            channels.append(value if value.ndim == 4 else value[None])
        return jnp.concatenate(channels, axis=0).astype(jnp.float32)

    def diagnostic_names(self) -> tuple[str, ...]:
        """The step diagnostics the runner averages into its summary (``mean_<name>``), in the runner's order."""
        def probe():
            _, state = self.reset_seed(0)
            return self.step_env(jax.random.PRNGKey(0), state, jnp.zeros(self.action_shape, self.action_dtype))[4]

        keys = jax.eval_shape(probe)["diagnostics"].keys()
        return tuple(n for n in TELEMETRY_DIAGNOSTICS if n in keys)

    def _start(self, episode_seed: jax.Array, base_seed: jax.Array, episode: jax.Array):
        physics = self.dynamics.init(jax.random.PRNGKey(episode_seed))
        obs = jnp.reshape(self.dynamics.observe(physics), self.obs_shape).astype(self.obs_dtype)
        return obs, EnvState(physics, jnp.zeros((), jnp.int32), episode, base_seed)


# ----------------------------------------------------------------------------- training loop
class SeedCarry(struct.PyTreeNode):
    """One seed's part of the driver's carry (``ScanCarry.task``): the world and the run's summary sums."""

    env_state: EnvState
    obs: jax.Array
    norm: RunningNorm
    ep_return: jax.Array
    ep_length: jax.Array
    reward_sum: jax.Array
    returns_sum: jax.Array
    n_episodes: jax.Array
    n_diverged: jax.Array
    last_return: jax.Array
    episode_returns: jax.Array  # the first ``max_recorded`` finished episode returns (NaN = none)
    diag_sums: dict[str, jax.Array]  # the runner's per-step diagnostic sums (its summary's ``mean_<name>``)

    @classmethod
    def start(cls, env_state: EnvState, obs: jax.Array, obs_size: int, max_recorded: int,
              diag_names: tuple[str, ...] = ()) -> "SeedCarry":
        zero, none = jnp.zeros((), jnp.float32), jnp.zeros((), jnp.int32)
        return cls(env_state=env_state, obs=obs, norm=RunningNorm.device(obs_size), ep_return=zero, ep_length=none,
                   reward_sum=zero, returns_sum=zero, n_episodes=none, n_diverged=none, last_return=zero,
                   episode_returns=jnp.full((max_recorded,), jnp.nan, jnp.float32),
                   diag_sums={n: zero for n in diag_names})

    def summary(self, steps: int) -> dict[str, jax.Array]:
        """The runner's results summary (``mean_return`` ... ``diverged_episodes``) for this seed."""
        done_any = self.n_episodes > 0
        partial = jnp.where(self.ep_length > 0, self.ep_return, jnp.nan)
        return {
            "mean_return": jnp.where(done_any, self.returns_sum / jnp.maximum(self.n_episodes, 1), partial),
            "final_return": jnp.where(done_any, self.last_return, partial),
            "mean_reward": self.reward_sum / steps,
            "episodes_completed": self.n_episodes,
            "diverged_episodes": self.n_diverged,
            "episode_returns": self.episode_returns,
            **{f"mean_{n}": total / steps for n, total in self.diag_sums.items()},
        }


@dataclass(frozen=True)
class DynamicsTask:
    """The runner's closed loop for one seed as a ``scan_trainer.ScanTask``.

    As in ``Policy.act``: the normaliser learns the observation, then the agent sees it
    normalised (with the fields when the variant has the encoder). A time-limit truncation adds
    gamma * V(final observation) to the learned reward, as the runner's ``_learn_reward``.
    """

    env: DynamicsEnv
    params: EnvParams
    rollout_length: int
    gamma: float
    use_fields: bool
    max_recorded: int

    def split_key(self, key: jax.Array):
        key, act_key = jax.random.split(key)
        return key, act_key, act_key  # the world draws its own noise: the act key is passed and unused

    def inputs(self, norm_obs: jax.Array, state: EnvState) -> dict[str, jax.Array]:
        inputs = {"vector": norm_obs}
        if self.use_fields:
            inputs["fields"] = self.env.field_tensor(state)
        return inputs

    def observe(self, c: SeedCarry):
        norm = c.norm.update(c.obs)
        return c.replace(norm=norm), self.inputs(norm.normalize(c.obs), c.env_state)

    def last_inputs(self, c: SeedCarry) -> dict[str, jax.Array]:
        return self.inputs(c.norm.normalize(c.obs), c.env_state)

    def respond(self, agent: P.AgentState, c: SeedCarry, action: jax.Array, key: jax.Array):
        obs, env_state, reward, term, trunc, info = self.env.step(key, c.env_state, action, self.params)
        boot = trunc & ~term
        final_inputs = self.inputs(c.norm.normalize(info["final_observation"]), info["final_state"])
        v_final = jax.lax.cond(boot, lambda: P.value(agent, final_inputs), lambda: jnp.zeros((), jnp.float32))
        reward32 = reward.astype(jnp.float32)
        learn_reward = reward32 + self.gamma * v_final
        done = term | trunc
        ep_return = c.ep_return + reward32
        slot = jnp.where(done, c.n_episodes, self.max_recorded)
        new = c.replace(
            env_state=env_state, obs=obs,
            ep_return=jnp.where(done, 0.0, ep_return), ep_length=jnp.where(done, 0, c.ep_length + 1),
            reward_sum=c.reward_sum + reward32,
            returns_sum=c.returns_sum + jnp.where(done, ep_return, 0.0),
            n_episodes=c.n_episodes + done.astype(jnp.int32), n_diverged=c.n_diverged + term.astype(jnp.int32),
            last_return=jnp.where(done, ep_return, c.last_return),
            episode_returns=c.episode_returns.at[slot].set(ep_return, mode="drop"),
            diag_sums={n: s + info["diagnostics"][n].astype(jnp.float32) for n, s in c.diag_sums.items()},
        )
        return new, learn_reward, done.astype(jnp.float32)

    def metrics(self, c: SeedCarry, metrics: dict[str, jax.Array]) -> dict[str, jax.Array]:
        return metrics


@dataclass(frozen=True)
class SeedTrainer:
    """A single-seed training function ``train(seed) -> per-seed results`` and what it was built from."""

    train: Callable[[jax.Array], dict[str, jax.Array]]
    env: DynamicsEnv
    variant: VariantSpec
    settings: AgentSettings
    derived: P.DerivedSettings
    n_updates: int
    remainder: int
    max_recorded: int


def check_vectorizable(config: RunConfig, *, scientist: bool = False) -> VariantSpec:
    """The resolved variant, or a ConfigError when it needs the host-stepped runner.

    ``scientist=True``: a variant with a scientist is accepted (``train_seeds_vectorized`` runs it
    with one host scientist per seed, ``experiment.vectorized_science``); the pure one-program
    trainer (``make_seed_trainer``) refuses it.
    """
    variant = resolve_variant(config)
    if variant.use_scientist and not scientist:
        raise ConfigError(
            f"variant '{config.variant}' uses the scientist (NumPy fits on the host), so it is not one pure "
            "program; train it with train_seeds_vectorized (a host scientist per seed, segments on the device) "
            "or the host-stepped runner (atom_sdk.experiment.runner.run_experiment), or use "
            "'ppo_baseline'/'no_scientist' (or set ablate_scientist: true) for make_seed_trainer")
    a = config.agent
    if a.rollout_length % a.num_minibatches:
        raise ConfigError(
            f"agent.rollout_length ({a.rollout_length}) is not a multiple of agent.num_minibatches "
            f"({a.num_minibatches}); the runner would skip every update. Make it a multiple")
    return variant


def make_seed_trainer(config: RunConfig) -> SeedTrainer:
    """Build ``train(seed)``: the runner's closed loop for one seed as one pure JAX function."""
    variant = check_vectorizable(config)
    world = make_world(config)
    env = DynamicsEnv(world)
    params = env.default_params
    settings = agent_settings_for(config, variant)  # a variant's GRU core or field decoder, as the runner
    n_updates, remainder = divmod(config.steps, settings.rollout_length)
    derived = P.DerivedSettings.for_run(settings, steps=config.steps, symplectic=variant.symplectic, dt=float(world.dt))
    obs_size = int(np.prod(env.obs_shape))
    max_recorded = config.steps // env.max_episode_steps + 8
    diag_names = env.diagnostic_names()
    task = DynamicsTask(env, params, settings.rollout_length, float(settings.gamma), variant.use_encoder, max_recorded)

    def train(seed: jax.Array) -> dict[str, jax.Array]:
        seed = jnp.asarray(seed, jnp.int32)
        obs, env_state = env.reset_seed(seed, params)
        key, init_key = jax.random.split(jax.random.PRNGKey(seed))
        example = task.inputs(jnp.zeros(obs_size, jnp.float32), env_state)
        agent = P.create_agent(init_key, example, env.action_space(params), settings, derived)
        c = scan_trainer.ScanCarry(agent=agent, key=key, task=SeedCarry.start(env_state, obs, obs_size, max_recorded,
                                                                                 diag_names))
        c, metrics = scan_trainer.train(task, c, n_updates)
        if remainder:  # the runner's last, partial rollout: its steps count, its update changes no return
            c, _ = scan_trainer.rollout(task, c, remainder)
        return {**c.task.summary(config.steps), "update_metrics": metrics}

    return SeedTrainer(train, env, variant, settings, derived, n_updates, remainder, max_recorded)


# ----------------------------------------------------------------------------- public entry point
def _program_key(config: RunConfig) -> str:
    """Everything that shapes the compiled program: the config without its name and seed."""
    data = json.loads(canonical_json(config))
    data.pop("seed", None)
    return json.dumps(data, sort_keys=True)


@functools.lru_cache(maxsize=16)
def _compiled(program_key: str, n_seeds: int):
    config = RunConfig.model_validate(json.loads(program_key))
    trainer = make_seed_trainer(config)
    t0 = time.perf_counter()
    fn = jax.jit(jax.vmap(trainer.train)).lower(jnp.zeros(n_seeds, jnp.int32)).compile()
    return trainer, fn, time.perf_counter() - t0


def _check_seeds(seeds: list[int]) -> np.ndarray:
    if len(seeds) < 1:
        raise ConfigError("give at least one seed to train_seeds_vectorized")
    arr = np.asarray([int(s) for s in seeds], dtype=np.int64)
    if np.any(arr < 0) or np.any(arr > MAX_SEED):
        raise ConfigError(f"seeds must lie in [0, {MAX_SEED}] so that episode seeds stay 32-bit; got {seeds}")
    return arr.astype(np.int32)


def train_seeds_vectorized(config: RunConfig | dict[str, Any], seeds: list[int], *,
                           workers: int = 1) -> dict[str, Any]:
    """Train one agent per seed, all seeds in one jitted, vmapped program on the device.

    Returns per-seed ``mean_return`` / ``final_return`` / ``mean_reward`` /
    ``episodes_completed`` / ``diverged_episodes`` (defined as in the runner's results
    summary), the recorded episode returns, each update's PPO metrics and timings.
    A variant with a scientist runs as device segments between host refits, one scientist per
    seed (``experiment.vectorized_science``; ``workers`` threads refit them); its seeds also
    report their accepted ``laws`` and trust. ``ConfigError`` names what needs the host runner.
    """
    config = resolve_config(config)
    variant = check_vectorizable(config, scientist=True)
    seed_arr = _check_seeds(seeds)
    if variant.use_scientist:
        from atom_sdk.experiment.vectorized_science import train_science_seeds

        return train_science_seeds(config, seed_arr, env_type=DynamicsEnv, program_key=_program_key(config),
                                   workers=workers)
    key = _program_key(config)
    cached = _compiled.cache_info().currsize
    trainer, fn, compile_s = _compiled(key, len(seed_arr))
    fresh = _compiled.cache_info().currsize > cached
    t0 = time.perf_counter()
    out = jax.block_until_ready(fn(jnp.asarray(seed_arr)))
    run_s = time.perf_counter() - t0
    out = jax.device_get(out)
    per_seed = []
    for i, seed in enumerate(seed_arr.tolist()):
        n_ep = int(out["episodes_completed"][i])
        recorded = out["episode_returns"][i][: min(n_ep, trainer.max_recorded)]
        per_seed.append({
            "seed": seed,
            "mean_return": _float(out["mean_return"][i]),
            "final_return": _float(out["final_return"][i]),
            "mean_reward": _float(out["mean_reward"][i]),
            "episodes_completed": n_ep,
            "diverged_episodes": int(out["diverged_episodes"][i]),
            "episode_returns": [float(r) for r in recorded],
            "last_update": {k: _float(v[i, -1]) for k, v in out["update_metrics"].items()} if trainer.n_updates else {},
            **{k: _float(v[i]) for k, v in out.items() if k.startswith("mean_") and k not in ("mean_return",
                                                                                             "mean_reward")},
        })
    return {
        "schema": "atom.vectorized/1",
        "world": config.world.name,
        "grid": list(config.world.grid),
        "variant": trainer.variant.as_dict(),
        "seeds": seed_arr.tolist(),
        "steps_per_seed": config.steps,
        "updates_per_seed": trainer.n_updates,
        "mean_return": [p["mean_return"] for p in per_seed],
        "per_seed": per_seed,
        "update_metrics": {k: np.asarray(v).tolist() for k, v in out["update_metrics"].items()},
        "safety_envelope": "not applied (host-side); compare with a runner config with safety.enabled=false",
        "timings": {"compile_seconds": compile_s if fresh else 0.0, "run_seconds": run_s,
                    "env_steps_per_second": len(seed_arr) * config.steps / run_s if run_s > 0 else None,
                    "device": str(jax.devices()[0])},
    }


def _float(x: Any) -> float | None:
    value = float(x)
    return value if math.isfinite(value) else None
