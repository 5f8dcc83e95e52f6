"""The closed loop on the device: each segment between two host events as one compiled ``lax.scan``.

Why: the host-stepped runner pays a Python round trip per step (the act's three results, the
world step call, the telemetry), which dominates small worlds. Between two events that need the
host (a PPO update, a checkpoint, the run's end, a stop) nothing the loop computes depends on the
host, so ``SegmentProgram`` runs those steps in one jitted scan: the normaliser update, the agent's
inputs, ``ppo.act`` with the key sequence ``Policy.act`` uses (``key, act_key = split(key)`` per
step), the world step with ``World.step``'s semantics (clip, NaN termination, truncation), the
time-limit bootstrap value and the auto-reset with the runner's episode seeds. One program per run:
its length is fixed (the rollout length) and a segment's own length is a step mask, so no length
ever compiles a second program.

The host then replays the segment through the loop's real bookkeeping (``runner``): the safety
envelope reviews every step as it would have, talking to a ``ReplayWorld`` that answers from the
recorded steps while the envelope passes the device's action through unchanged, and becomes the
real world (restored to the state before that step) the moment it does not (a clip, a fallback,
a rollback). The first step whose transition differs from the device's is recorded as the host
loop would have recorded it, and the segment ends there; so a run is the host loop's run, to the
float32 rounding of the device's normaliser (the host's is float64) and XLA's fusion.

With a measured-variable scientist (``device_science``) the scan also measures the observables,
builds the theory features from the frozen theory and advances it per observation, and segments
end at the scientist's fits and when the envelope's ``theory_allowed`` changes.

The device loop covers variants without the recurrent core, latent science or the Jacobian block, on
worlds built on ``Dynamics`` whose ``World`` methods are not overridden; ``loop_blocker`` says why not otherwise.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
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
from atom_sdk.safety.proxy import WorldProxy
from atom_sdk.worlds.base import World

__all__ = ["ReplayWorld", "Segment", "SegmentProgram", "choose_loop", "loop_blocker"]

#: ``World`` methods whose semantics the segment program reproduces; a world that overrides one needs the host loop
_WORLD_METHODS = ("step", "reset", "validate_action", "_to_obs", "snapshot", "restore", "fields", "field_tensor",
                  "diagnostics", "observables")


# ----------------------------------------------------------------------------- which loop
def loop_blocker(config: RunConfig, *, stride: int, observer: Any = None, world_factory: Any = None) -> str | None:
    """Why the device loop cannot run ``config`` (None when it can)."""
    from atom_sdk.experiment.variants import resolve_variant
    from atom_sdk.worlds import world_class

    variant = resolve_variant(config)
    if variant.recurrent:
        return "the recurrent core (agent.core='gru', ppo_recurrent) carries a hidden state the device loop does not"
    if world_factory is not None:
        return "a world_factory (the fault suite's wrappers) steps the world in host code"
    if observer is not None:
        return "an observer callback reads the world after every step"
    cls = world_class(config.world.name)
    if not (isinstance(cls, type) and issubclass(cls, World)):
        return f"world '{config.world.name}' is not built on World/Dynamics (pure-JAX physics)"
    changed = [m for m in _WORLD_METHODS if getattr(cls, m) is not getattr(World, m)]
    if changed:
        return f"world '{config.world.name}' overrides World.{', World.'.join(changed)}, which the scan does not see"
    if variant.use_scientist:
        from atom_sdk.experiment.device_science import science_loop_blocker

        why = science_loop_blocker(config, variant, cls)
        if why is not None:
            return why
    if config.seed + stride * (config.steps + 2) > np.iinfo(np.int32).max:
        return (f"seed {config.seed} + {stride} x episodes may pass 2^31 - 1, and the device's episode seeds "
                "are 32-bit; use a smaller seed")
    return None


def choose_loop(config: RunConfig, *, stride: int, observer: Any = None,
                world_factory: Any = None) -> tuple[str, str | None]:
    """("device", None) or ("host", why); ``loop: "device"`` that cannot run raises ConfigError saying why."""
    if config.loop == "host":
        return "host", "loop: 'host' was asked for"
    why = loop_blocker(config, stride=stride, observer=observer, world_factory=world_factory)
    if why is None:
        return "device", None
    if config.loop == "device":
        raise ConfigError(f"loop: 'device' cannot run this config: {why}",
                          hint="set loop: 'auto' (falls back to the host loop) or 'host'")
    return "host", why


# ----------------------------------------------------------------------------- the world, as pure functions
@dataclass(frozen=True)
class WorldFunctions:
    """``World.reset``/``World.step``/``World.field_tensor`` of one world as pure functions of its state.

    Not ``vectorized.DynamicsEnv``: that one also ends an episode when any leaf of the state is
    NaN, where ``World.step`` looks at the observation and the reward only.
    """

    dynamics: Any
    obs_shape: tuple[int, ...]
    obs_dtype: Any
    obs_low: np.ndarray
    obs_high: np.ndarray
    act_shape: tuple[int, ...]
    act_dtype: Any
    act_low: np.ndarray
    act_high: np.ndarray
    max_steps: int

    @classmethod
    def of(cls, world: World) -> "WorldFunctions":
        o, a = world.observation_space, world.action_space
        obs_dtype, act_dtype = jnp.dtype(o.dtype), jnp.dtype(world.dtype)
        return cls(world.dynamics, tuple(o.shape), obs_dtype, np.asarray(o.low, obs_dtype),
                   np.asarray(o.high, obs_dtype), tuple(a.shape), act_dtype, np.asarray(a.low, act_dtype),
                   np.asarray(a.high, act_dtype), int(world.max_episode_steps))

    def reset(self, seed: jax.Array) -> tuple[jax.Array, Any]:
        physics = self.dynamics.init(jax.random.PRNGKey(seed))
        return self._obs(self.dynamics.observe(physics)), physics

    def step(self, physics: Any, action: jax.Array):
        """(physics, obs, reward, terminated, diagnostics, applied action), as ``World.step``."""
        applied = jnp.clip(jnp.reshape(action, self.act_shape).astype(self.act_dtype), self.act_low, self.act_high)
        physics, out = self.dynamics.step(physics, applied)
        obs, reward = self._obs(out.observation), out.reward
        terminated = ~(jnp.all(jnp.isfinite(obs)) & jnp.isfinite(reward))
        clean = jnp.clip(jnp.nan_to_num(obs, nan=0.0, posinf=0.0, neginf=0.0), self.obs_low, self.obs_high)
        obs = jnp.where(terminated, clean, obs)
        reward = jnp.where(jnp.isfinite(reward), reward, jnp.zeros_like(reward))
        return physics, obs, reward, terminated, dict(out.diagnostics), applied

    def field_tensor(self, physics: Any) -> jax.Array:
        channels = [v if v.ndim == 4 else v[None] for v in self.dynamics.fields(physics).values()]
        return jnp.concatenate(channels, axis=0).astype(jnp.float32)

    def _obs(self, obs: jax.Array) -> jax.Array:
        return jnp.reshape(obs, self.obs_shape).astype(self.obs_dtype)


# ----------------------------------------------------------------------------- the scan
class SegmentCarry(struct.PyTreeNode):
    """What one step hands the next inside a segment."""

    norm: RunningNorm
    key: jax.Array
    physics: Any
    time: jax.Array  # agent steps into the episode (World._t)
    episode: jax.Array  # the loop's episode index
    obs: jax.Array
    sci: Any = None  # device_science.ScienceCarry with a scientist


@dataclass(frozen=True)
class SegmentProgram:
    """The jitted scan of up to ``max_length`` loop steps (one program per run).

    ``clean_fields``: the safety envelope hands the agent fields with NaN/Inf set to 0, so the scan does too.
    """

    world: WorldFunctions
    max_length: int
    use_fields: bool
    clean_fields: bool
    stride: int
    science: Any = None  # device_science.DeviceScience with a scientist

    def inputs(self, vector: jax.Array, physics: Any) -> dict[str, jax.Array]:
        inputs = {"vector": vector}
        if self.use_fields:
            fields = self.world.field_tensor(physics)
            inputs["fields"] = jnp.where(jnp.isfinite(fields), fields, 0.0) if self.clean_fields else fields
        return inputs

    def vector(self, norm_obs: jax.Array, ft: Any, x: Any, u: Any, allowed: Any) -> jax.Array:
        """The agent's vector input: the normalised observation (+ the theory features with a scientist)."""
        if self.science is None:
            return norm_obs
        return jnp.concatenate([norm_obs, self.science.features(ft, x, u, allowed)]).astype(jnp.float32)

    def step(self, agent: P.AgentState, seed: jax.Array, c: SegmentCarry,
             sci_in: Any = None) -> tuple[SegmentCarry, dict[str, Any]]:
        """One loop step, as Policy.act + World.step + the runner's record (bootstrap, auto-reset);
        with a scientist ``sci_in`` is ``{"z": this step's draws, "allowed": theory_allowed}``."""
        sc, s = self.science, c.sci
        allowed = None if sc is None else sci_in["allowed"]
        norm = c.norm.update(c.obs)
        vector = self.vector(norm.normalize(c.obs), *((s.ft, s.x_prev, s.u_prev) if sc else (None,) * 3), allowed)
        inputs = self.inputs(vector, c.physics)
        key, act_key = jax.random.split(c.key)
        action, logp, value = P._act(agent, inputs, act_key)
        env_action = action if sc is None else sc.env_action(s, c.physics, action, allowed)
        physics, obs, reward, terminated, diag, applied = self.world.step(c.physics, env_action)
        time = c.time + 1
        truncated = time >= self.world.max_steps
        ended = terminated | truncated
        clean = x_term = None
        if sc is not None:
            clean = sc.clean(physics)
            s, x_term = sc.observe(s, env_action, clean, ended, sci_in["z"])
        zero = jnp.zeros((), jnp.float32)
        v_final = jax.lax.cond(truncated & ~terminated, lambda: jnp.reshape(P.value(agent, self.inputs(
            self.vector(norm.normalize(obs), *((s.ft, x_term, env_action) if sc else (None,) * 3), allowed),
            physics)), ()).astype(jnp.float32), lambda: zero)

        def fresh():
            o, p = self.world.reset(seed + self.stride * (c.episode + 1))
            return o, p, jnp.zeros_like(time), c.episode + 1

        n_obs, n_physics, n_time, n_episode = jax.lax.cond(ended, fresh, lambda: (obs, physics, time, c.episode))
        out = {"inputs": inputs, "action": action, "log_prob": logp, "value": value, "key": key, "applied": applied,
               "obs": obs, "reward": reward, "terminated": terminated, "truncated": truncated, "diagnostics": diag,
               "v_final": v_final, "time": time, "next_obs": n_obs, "physics": physics}
        if sc is not None:
            reset = sc.after_reset(s, n_physics, sci_in["z"])
            s = jax.tree.map(lambda r, k: jnp.where(ended, r, k), reset, s)
            out.update(env_action=env_action, clean=clean)
        return SegmentCarry(norm, key, n_physics, n_time, n_episode, n_obs, s), out

    def run(self, agent: P.AgentState, carry: SegmentCarry, seed: jax.Array, length: jax.Array,
            sci_in: Any = None):
        """``length`` (<= ``max_length``) steps from ``carry``; outputs stacked over ``max_length`` (zeros past it).
        With a scientist ``sci_in`` is ``{"draws": (max_length, 2, n_vars), "allowed": bool}``."""
        def at(t: Any) -> Any:
            return None if sci_in is None else {"z": sci_in["draws"][t], "allowed": sci_in["allowed"]}

        shapes = jax.eval_shape(lambda c: self.step(agent, seed, c, at(0))[1], carry)
        idle_out = jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), shapes)

        def body(c: SegmentCarry, t: jax.Array):
            return jax.lax.cond(t < length, lambda c: self.step(agent, seed, c, at(t)), lambda c: (c, idle_out), c)

        return jax.lax.scan(body, carry, jnp.arange(self.max_length))

    @classmethod
    def build(cls, config: RunConfig, world: World, use_fields: bool, clean_fields: bool,
              stride: int, science: Any = None) -> Callable[..., Any]:
        """The jitted program for a run; runs of one world and rollout length in a process share it (a sweep
        of seeds traces and compiles it once: the agent's settings are static parts of its argument)."""
        key = json.dumps([config.world.model_dump(mode="json"), config.agent.rollout_length, bool(use_fields),
                          bool(clean_fields), int(stride), science.key() if science is not None else None],
                         sort_keys=True)
        program = _PROGRAMS.pop(key, None)
        if program is None:
            run = cls(WorldFunctions.of(world), config.agent.rollout_length, bool(use_fields), bool(clean_fields),
                      int(stride), science).run
            program = jax.jit(run)
        _PROGRAMS[key] = program  # most recent last
        while len(_PROGRAMS) > _MAX_PROGRAMS:
            _PROGRAMS.pop(next(iter(_PROGRAMS)))
        return program


#: segment programs kept for later runs in this process, by world settings and rollout length (oldest first)
_PROGRAMS: dict[str, Callable[..., Any]] = {}
_MAX_PROGRAMS = 8


@jax.jit
def _take(tree: Any, index: jax.Array) -> Any:
    """Row ``index`` of every leaf (a dynamic index: one program whatever the row)."""
    return jax.tree.map(lambda x: jax.lax.dynamic_index_in_dim(x, index, keepdims=False), tree)


class StackedSnapshot(Sequence):
    """A world snapshot ``(state, t)`` kept as row ``index`` of a segment's stacked states, cut out when read.

    Why: the envelope takes a snapshot after every clean step and almost never restores one;
    ``World.restore`` unpacks it like the tuple ``World.snapshot`` returns.
    """

    def __init__(self, stacked: Any, index: int, t: int) -> None:
        self._stacked, self._index, self._t = stacked, int(index), int(t)
        self._state: Any = None

    def __len__(self) -> int:
        return 2

    def __getitem__(self, k: int) -> Any:  # type: ignore[override]
        if k in (1, -1):
            return self._t
        if k not in (0, -2):
            raise IndexError(k)
        if self._state is None:
            self._state = _take(self._stacked, np.int32(self._index))
        return self._state


# ----------------------------------------------------------------------------- a segment on the host
class Segment:
    """One segment's outputs: the small ones copied to the host at once, states and fields left on the device."""

    def __init__(self, carry: SegmentCarry, outs: dict[str, Any], length: int, action_shape: tuple[int, ...]) -> None:
        self.carry, self.length, self.action_shape = carry, int(length), tuple(action_shape)
        outs = dict(outs)
        self.physics = outs.pop("physics")
        inputs = dict(outs.pop("inputs"))
        self.fields = inputs.pop("fields", None)
        self.host = jax.device_get({**outs, "vector": inputs["vector"]})
        self._fields_host: np.ndarray | None = None

    def decision_parts(self, i: int) -> dict[str, Any]:
        """What ``Policy.act`` would have returned at step ``i`` (inputs, action, log-prob, value, env action)."""
        h = self.host
        inputs: dict[str, Any] = {"vector": h["vector"][i]}
        if self.fields is not None:
            inputs["fields"] = FieldRow(self, i)
        action = h["action"][i]
        env = h["env_action"][i] if "env_action" in h else action  # the residual controller's sum, with one
        return {"inputs": inputs, "action": action, "log_prob": float(h["log_prob"][i]), "value": float(h["value"][i]),
                "env_action": np.asarray(env, dtype=np.float64).reshape(self.action_shape)}

    def key_after(self, i: int) -> Any:
        """The policy's PRNG key after step ``i``'s act (the raw uint32 pair, as numpy: no transfer per step)."""
        return self.host["key"][i]

    def matches(self, i: int, obs: Any, reward: float, terminated: bool, truncated: bool) -> bool:
        """Whether the loop's transition at step ``i`` is the one the scan computed."""
        h = self.host
        return (bool(terminated) == bool(h["terminated"][i]) and bool(truncated) == bool(h["truncated"][i])
                and float(reward) == float(h["reward"][i]) and np.array_equal(np.asarray(obs), h["obs"][i]))

    def reset_matches(self, i: int, obs: Any) -> bool:
        """Whether the observation after the loop's reset at step ``i`` is the scan's."""
        return np.array_equal(np.asarray(obs), self.host["next_obs"][i])

    def bootstrap(self, i: int) -> float:
        """V(final observation) of a truncated step ``i`` (0 otherwise)."""
        return float(self.host["v_final"][i])

    def fields_host(self) -> np.ndarray:
        if self._fields_host is None:
            self._fields_host = np.asarray(jax.device_get(self.fields))
        return self._fields_host


class FieldRow:
    """Row ``i`` of a segment's stacked fields (the rollout takes the whole stack when it can)."""

    def __init__(self, segment: Segment, index: int) -> None:
        self.segment, self.index = segment, index

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        row = self.segment.fields_host()[self.index]
        return row if dtype is None else row.astype(dtype)


def stack_fields(rows: list[Any]) -> Any:
    """The rollout's fields: a segment's device stack when the rows are all of it in order, else a numpy stack."""
    first = rows[0]
    if isinstance(first, FieldRow):
        seg = first.segment
        whole = len(rows) == seg.fields.shape[0] and all(
            isinstance(r, FieldRow) and r.segment is seg and r.index == n for n, r in enumerate(rows))
        if whole:
            return seg.fields
    return np.stack([np.asarray(r) for r in rows])


# ----------------------------------------------------------------------------- replaying a segment
class ReplayWorld(WorldProxy):
    """Answers the loop (and the safety envelope) from a segment's recorded steps; the real world otherwise.

    While each action it receives is the one the scan applied, ``step`` returns the recorded
    transition and ``snapshot`` a :class:`StackedSnapshot` of it, and the real world is not touched.
    Anything else, a different action, a ``restore`` (rollback), a read of fields or diagnostics,
    first brings the real world to the state the replay has reached, then asks it; after a
    different action or a restore the replay is ``live`` and every later call goes to the real world.
    ``reset`` always resets the real world (a reset is what ``World.reset`` computes from the seed).
    """

    def __init__(self, real: World, segment: Segment) -> None:
        super().__init__(real)
        self.segment = segment
        self.cursor = 0  # the next step to answer
        self.live = False
        self._at: int | None = None  # the recorded step whose state the replay is in (None: the real world's)

    def step(self, action: Any):
        h, i = self.segment.host, self.cursor
        self.cursor += 1
        if not self.live and i < self.segment.length:
            applied = self.env.validate_action(action)  # type: ignore[attr-defined]
            if np.array_equal(np.asarray(applied, dtype=h["applied"].dtype), h["applied"][i]):
                self._at = i
                diag = {k: float(v[i]) for k, v in h["diagnostics"].items()}
                terminated = bool(h["terminated"][i])
                info = {"diagnostics": diag, "t": int(h["time"][i]), "diverged": terminated}
                return (np.array(h["obs"][i]), float(h["reward"][i]), terminated, bool(h["truncated"][i]), info)
        self.sync()
        self.live = True
        return self.env.step(action)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        self._at = None
        return self.env.reset(seed=seed, options=options)

    def sync(self) -> None:
        """Bring the real world to the state the replay has reached."""
        if self._at is not None:
            self.env.restore(self.snapshot())  # type: ignore[attr-defined]
            self._at = None

    def finish(self) -> None:
        """Leave the real world in the replay's state (the scan's final state when the whole segment ran)."""
        seg = self.segment
        if self._at is not None and self._at == seg.length - 1 and not bool(
                seg.host["terminated"][self._at] or seg.host["truncated"][self._at]):
            self.env.restore((seg.carry.physics, int(seg.host["time"][self._at])))  # type: ignore[attr-defined]
            self._at = None
        self.sync()

    def snapshot(self) -> Any:
        if self._at is None:
            return self.env.snapshot()  # type: ignore[attr-defined]
        return StackedSnapshot(self.segment.physics, self._at, int(self.segment.host["time"][self._at]))

    def restore(self, snapshot: Any) -> None:
        self._at = None
        self.live = True
        self.env.restore(snapshot)  # type: ignore[attr-defined]

    def fields(self) -> dict[str, np.ndarray]:
        self.sync()
        return super().fields()

    def field_tensor(self) -> np.ndarray:
        self.sync()
        return super().field_tensor()

    def diagnostics(self) -> dict[str, float]:
        self.sync()
        return super().diagnostics()

    def observables(self) -> np.ndarray:
        self.sync()
        return super().observables()

    @property
    def state(self) -> Any:
        self.sync()
        return self.env.state  # type: ignore[attr-defined]


def start_carry(policy: Any, world: World, obs: np.ndarray, episode: int, sci: Any = None) -> SegmentCarry:
    """The scan's carry at the loop's current step (the host's float64 normaliser cast to float32);
    ``sci`` the science carry (``device_science.start_science``) with a scientist."""
    norm = policy.norm
    physics, t = world.snapshot()
    device_norm = RunningNorm(np.float32(norm.count), np.asarray(norm.mean, np.float32),
                              np.asarray(norm.m2, np.float32), norm.clip)
    return SegmentCarry(device_norm, policy.key, physics, np.int32(t), np.int32(episode), np.asarray(obs), sci)
