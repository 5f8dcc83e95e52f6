"""The policy a run acts with: the agent, its observation normaliser, the science bridge and
the assembly of the agent's inputs, behind one noun.

Why one object: the runner, the reproductions (which evaluate a trained run) and anyone who
wants to act with a checkpoint need the same four pieces wired the same way; built from
``(config, world)``, or restored from a run folder with :meth:`Policy.from_checkpoint`, a
``Policy`` acts exactly as it did inside the run. The loop keeps the world, the rollout and the
bookkeeping; the policy keeps everything that learns.

With the recurrent core (``agent.core = "gru"``) the policy also keeps the agent's hidden state:
every act advances it, :meth:`Policy.reset_memory` zeroes it when the world resets (the loop
calls it at each episode end), and it is part of :meth:`Policy.state_dict`, so a resumed run
remembers what the uninterrupted one did.

With latent science (``scientist.variables = "latent"`` or the ``v2_latent_jacobian`` variant)
the scientist's variables are the encoder's latent (stop-gradient: no law ever trains the
encoder), in the leading principal coordinates of the scientist's window re-encoded with the
current parameters at each fit, and the reward; see :mod:`atom_sdk.experiment.latent_frame`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from atom_sdk.agent import ppo
from atom_sdk.agent.networks import ActorCritic
from atom_sdk.agent.running_stats import RunningNorm
from atom_sdk.config import RunConfig
from atom_sdk.experiment.latent_frame import LatentVariables
from atom_sdk.experiment.variants import VariantSpec, agent_settings_for, resolve_variant
from atom_sdk.science.jacobian import TheoryJacobian
from atom_sdk.worlds.base import measure_relative

__all__ = ["Decision", "LatentVariables", "Policy", "ScienceBridge", "agent_inputs", "encode_latent", "encode_window"]


#: Tag of the measurement-noise stream among the draws derived from a run's seed.
MEASUREMENT_STREAM = 0x6D656173  # "meas"


@jax.jit
def _encode(agent: ppo.AgentState, fields: jnp.ndarray) -> jnp.ndarray:
    net = agent.spec.network
    latent = net.apply(agent.params["net"], {"fields": jnp.asarray(fields, jnp.float32)}, method=ActorCritic.encode)
    return jax.lax.stop_gradient(latent)


def encode_latent(agent: ppo.AgentState, fields: Any) -> np.ndarray:
    """The encoder's latent of ``fields`` with the agent's current parameters, as a float64 numpy copy
    (the same function of the same parameters the agent's act applies, so the same values)."""
    return np.asarray(jax.device_get(_encode(agent, fields)), dtype=np.float64).reshape(-1)


def encode_window(agent: ppo.AgentState, fields: np.ndarray, size: int) -> np.ndarray:
    """Latents ``(n, latent_dim)`` of a stack of fields ``(n, C, nx, ny, nz)``, ``n <= size``, with
    the agent's current parameters; the stack is padded to ``size`` so every window of a run
    compiles one program."""
    fields = np.asarray(fields, dtype=np.float32)
    n = fields.shape[0]
    if n > size:
        raise ValueError(f"{n} fields exceed the window of {size}")
    padded = np.zeros((size, *fields.shape[1:]), np.float32)
    padded[:n] = fields
    latents = np.asarray(jax.device_get(_encode(agent, padded)), dtype=np.float64)
    return latents.reshape(size, -1)[:n]


class ScienceBridge:
    """Adapter between the loop and the scientist: measurement, features, gating and the theory controller.

    The scientist works on *measurements* of the world's observables: the loop reads each state
    once through :meth:`measure` (the world's ``measure`` at the run's ``world.measurement_noise``)
    and hands the readings to :meth:`observe`, the theory features and the theory controller, so
    the exact state never reaches the scientist nor, through its theory, the agent. The draw for
    the state before step ``s`` (and for an episode's terminal state after it) comes from a
    generator seeded by (run seed, ``s``, which of the two), so a run is a function of its seed
    and a resumed run draws what the uninterrupted one drew.
    """

    def __init__(self, config: RunConfig, variant: VariantSpec, world: Any, ledger_dir: Path) -> None:
        from atom_sdk.science import HypothesisLedger, Scientist
        from atom_sdk.science.jacobian import jacobian_dim

        settings = config.scientist.model_copy(update={"ensembled": variant.ensembled})
        names = list(getattr(world, "observable_names", ())) or ["x0"]
        self.latent: LatentVariables | None = None
        if variant.latent_science:
            self.latent = LatentVariables(config.scientist.latent_dims, config.agent.latent_dim, config.scientist,
                                          record_dir=Path(ledger_dir))
            names = self.latent.names
        n_ctrl = int(np.prod(world.action_space.shape))
        self.n_vars = len(names)
        self.n_ctrl = n_ctrl
        self.variant = variant
        self.gate_threshold = config.scientist.trust_gate_threshold
        self.ledger = HypothesisLedger(Path(ledger_dir) / "ledger.jsonl")
        self.scientist = Scientist(settings, names, [f"u{i}" for i in range(n_ctrl)], float(world.dt),
                                   ledger=self.ledger, run_id=config.name, seed=config.seed)
        self.base_dim = Scientist.feature_dim(self.n_vars, n_ctrl)
        self.feature_dim = self.base_dim + (jacobian_dim(self.n_vars, n_ctrl) if variant.jacobian else 0)
        # (the theory it was built from, its laws, the Jacobian): latent science restates the scientist at
        # every fit, which rebuilds the same accepted theory as a new object; its laws say whether it changed
        self._jacobian: tuple[Any, Any, TheoryJacobian | None] = (None, None, None)
        self.measurement_noise = float(config.world.measurement_noise)
        self.seed = int(config.seed)
        self._world = world

    @property
    def trust(self) -> float:
        return float(self.scientist.trust)

    @property
    def trusted(self) -> bool:
        return self.trust >= self.gate_threshold

    def theory_trust(self) -> float | None:
        """Trust for the safety envelope: None while no law is accepted (no theory to distrust yet)."""
        return self.trust if self.scientist.theory else None

    def jacobian(self) -> TheoryJacobian | None:
        """The accepted theory's symbolic Jacobian (built once per accepted theory; None without one)."""
        theory = self.scientist.theory
        if theory is None:
            return None
        if self._jacobian[0] is not theory:
            laws = theory.laws()
            jac = self._jacobian[2] if laws == self._jacobian[1] else TheoryJacobian(theory)
            self._jacobian = (theory, laws, jac)
        return self._jacobian[2]

    def features(self, x: np.ndarray | None, u: np.ndarray) -> np.ndarray:
        """Theory features (with the Jacobian block when the variant asks), trust-gated; ``x`` None
        (latent components not chosen yet) gives zeros."""
        if x is None:
            return np.zeros(self.feature_dim, np.float32)
        feats = np.asarray(self.scientist.theory_features(x, u), dtype=np.float32)
        if self.variant.jacobian:
            jac = self.jacobian()
            block = jac.features(x, u) if jac is not None else np.zeros(self.feature_dim - self.base_dim, np.float32)
            feats = np.concatenate([feats, block])
        if self.variant.trust_gate:
            feats = feats * np.float32(self.trust) if self.trusted else np.zeros_like(feats)
        return feats

    def controller(self, world: Any, x: np.ndarray) -> np.ndarray:
        low, high = world.action_space.low.astype(np.float64), world.action_space.high.astype(np.float64)
        target = world.control_target() if hasattr(world, "control_target") else None
        if target is None or not self.trusted or self.latent is not None:  # a latent law has no measured target
            return np.zeros(world.action_space.shape)
        goal, weights = target
        return np.asarray(self.scientist.greedy_control(x, goal, weights, low, high)).reshape(world.action_space.shape)

    def measure(self, x: np.ndarray, step: int, terminal: bool = False) -> np.ndarray:
        """The scientist's reading of observables ``x``: the state before step ``step`` (or, with
        ``terminal``, the episode's last state after it), with the run's measurement noise."""
        x = np.asarray(x, dtype=np.float64)
        if self.measurement_noise == 0.0:
            return x
        rng = np.random.default_rng([self.seed, MEASUREMENT_STREAM, int(step), int(terminal)])
        measure = getattr(self._world, "measure", None)
        if measure is None:  # a plain gymnasium.Env with the world protocol: relative to each magnitude
            return measure_relative(x, np.abs(x), self.measurement_noise, rng)
        return np.asarray(measure(x, self.measurement_noise, rng), dtype=np.float64)

    def observe(self, x: np.ndarray, u: np.ndarray, x_next: np.ndarray, ended: bool, step: int) -> list[dict]:
        """Feed one transition of readings (``measure``d; the terminal reading at an episode end);
        returns the fit decisions."""
        self.scientist.observe(np.asarray(x, dtype=np.float64), u.reshape(-1))
        if ended:
            self.scientist.observe(np.asarray(x_next, dtype=np.float64), np.zeros(self.n_ctrl))
            self.scientist.mark_boundary()
        return self.scientist.update(step)

    def observe_latent(self, fields: np.ndarray, z: np.ndarray, u: np.ndarray, reward: float, ended: bool,
                       fields_end: np.ndarray | None, z_end: np.ndarray | None, step: int,
                       encode: Any) -> list[dict]:
        """Latent science: feed one transition (the fields and latent the agent acted on, control,
        reward; the terminal fields and latent at an episode end); ``encode`` re-encodes a stack of
        fields with the current parameters before a fit. Returns the fit decisions."""
        assert self.latent is not None
        return self.latent.observe(self.scientist, fields, z, u, reward, ended, fields_end, z_end, step, encode)

    def state_dict(self) -> dict[str, Any]:
        """The scientist's state (plus, with latent science, the component choice and what waits for it)."""
        state = self.scientist.state_dict()
        if self.latent is not None:
            state["latent_variables"] = self.latent.state_dict()
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        state = dict(state)
        latent = state.pop("latent_variables", None)
        if self.latent is not None:
            if latent is None:
                from atom_sdk.errors import ArtifactError

                raise ArtifactError("the checkpoint's scientist did not fit latent variables",
                                    hint="resume with the scientist settings the run was saved with")
            self.latent.load_state_dict(latent)
        self.scientist.load_state_dict(state)

    def close(self) -> None:
        self.ledger.close()


def agent_inputs(variant: VariantSpec, world: Any, obs_norm: np.ndarray, theory: np.ndarray | None) -> dict[str, Any]:
    """What the agent sees: the normalised observation (+ theory features) and, with the encoder, the fields."""
    vector = obs_norm if theory is None else np.concatenate([obs_norm, theory]).astype(np.float32)
    inputs: dict[str, Any] = {"vector": vector.astype(np.float32)}
    if variant.use_encoder:
        inputs["fields"] = world.field_tensor()
    return inputs


@dataclass(frozen=True)
class Decision:
    """One act: what the agent saw and chose, and the action that goes to the world."""

    inputs: dict[str, Any]
    action: Any  # the agent's own sample (the rollout learns from it)
    log_prob: float
    value: float
    env_action: np.ndarray  # the agent's action, or the theory controller's plus the agent's residual
    hidden: np.ndarray | None = None  # recurrent core: the hidden state the action was chosen from
    latent: np.ndarray | None = None  # latent science: the encoder's latent the agent acted on (numpy copy)


class Policy:
    """Agent + observation normaliser + science bridge + input assembly, for one (config, world).

    Build it after the world's first reset (the agent's example input reads the fields).
    ``ledger_dir`` is where the scientist's hypothesis ledger goes (needed when the variant
    uses the scientist). The policy owns its PRNG key: every stochastic act and every update
    splits it, in the loop's order, so a run is a function of its seed.
    """

    def __init__(self, config: RunConfig, world: Any, *, ledger_dir: Path | None = None) -> None:
        self.config = config
        self.variant = resolve_variant(config)
        self.world = world
        self.science: ScienceBridge | None = None
        if self.variant.use_scientist:
            if ledger_dir is None:
                raise ValueError(f"variant '{config.variant}' uses the scientist: pass ledger_dir for its ledger")
            self.science = ScienceBridge(config, self.variant, world, ledger_dir)
        self.low = np.asarray(world.action_space.low, dtype=np.float64)
        self.high = np.asarray(world.action_space.high, dtype=np.float64)
        obs_size = int(world.observation_space.shape[0])
        self.norm = RunningNorm.host(obs_size)
        derived = ppo.DerivedSettings.for_run(config.agent, steps=config.steps, symplectic=self.variant.symplectic,
                                              dt=float(world.dt))
        theory = np.zeros(self.science.feature_dim, np.float32) if self.science else None
        example = agent_inputs(self.variant, world, np.zeros(obs_size, np.float32), theory)
        self.key, init_key = jax.random.split(jax.random.PRNGKey(config.seed))
        settings = agent_settings_for(config, self.variant)
        self.agent = ppo.create_agent(init_key, example, world.action_space, settings, derived)
        # zeros made on the host: jnp.zeros here would compile one more (eager) program per run
        self.hidden = np.zeros(jax.eval_shape(ppo.initial_hidden, self.agent).shape, np.float32)
        self.last_latent: np.ndarray | None = None  # latent science: the latent of the last act
        self.last_fields: np.ndarray | None = None  # latent science: the fields it was encoded from

    @property
    def latent_science(self) -> bool:
        """Whether the scientist fits the encoder's latent and the reward (not the measured observables)."""
        return self.science is not None and self.science.latent is not None

    def latent(self) -> np.ndarray:
        """The encoder's latent of the world's current fields, with the current parameters (numpy copy)."""
        return encode_latent(self.agent, self.world.field_tensor())

    @property
    def recurrent(self) -> bool:
        """Whether the agent has a recurrent core (and so a hidden state to carry)."""
        return bool(self.agent.spec.recurrent)

    def reset_memory(self) -> None:
        """Zero the recurrent core's hidden state: call it whenever the world resets."""
        self.hidden = np.zeros_like(self.hidden)

    @classmethod
    def from_checkpoint(cls, config: RunConfig, world: Any, run_dir: str | Path, *,
                        config_hashes: str | tuple[str, ...] | None = None,
                        ledger_dir: Path | None = None) -> "Policy":
        """The policy as the run's last checkpoint left it (agent, normaliser, key, scientist)."""
        from atom_sdk.config import config_hash
        from atom_sdk.experiment import checkpoint as ckpt

        policy = cls(config, world, ledger_dir=ledger_dir)
        policy.load_state_dict(ckpt.load(Path(run_dir), config_hashes or config_hash(config)))
        return policy

    # ------------------------------------------------------------------ acting
    def measure(self, x: np.ndarray, step: int, terminal: bool = False) -> np.ndarray:
        """The reading of observables ``x`` that the scientist and the theory work on (see
        :meth:`ScienceBridge.measure`); ``x`` itself, as float64, for a variant without a scientist."""
        if self.science is None:
            return np.asarray(x, dtype=np.float64)
        return self.science.measure(x, step, terminal)

    @property
    def trust(self) -> float | None:
        return self.science.trust if self.science else None

    def theory(self, x: np.ndarray, u: np.ndarray, allowed: bool = True,
               latent: np.ndarray | None = None) -> np.ndarray | None:
        """Theory features for state ``x`` and last control ``u``; zeros when the theory is withheld.
        With latent science the state is the latent (``latent``, or the current fields' one) and the last reward."""
        if self.science is None:
            return None
        if self.science.latent is not None:
            x = self.science.latent.state(self.latent() if latent is None else latent)
        feats = self.science.features(x, u)
        return feats if allowed else np.zeros_like(feats)

    def inputs(self, obs: np.ndarray, x: np.ndarray, u: np.ndarray, theory_allowed: bool = True,
               latent: np.ndarray | None = None) -> dict[str, Any]:
        """The agent's inputs for observation ``obs`` (normalised, the normaliser left as it is)."""
        return agent_inputs(self.variant, self.world, self.norm.normalize(obs),
                            self.theory(x, u, theory_allowed, latent))

    def act(self, obs: np.ndarray, *, x: np.ndarray, u: np.ndarray, theory_allowed: bool = True,
            explore: bool = True) -> Decision:
        """Choose the action for ``obs``, with ``x`` the reading of the world's observables
        (:meth:`measure`) and ``u`` the last control.

        ``explore=True`` (training): the normaliser learns ``obs`` and the action is sampled.
        ``explore=False`` (evaluation): the normaliser is frozen and the action is the policy mean.
        ``theory_allowed=False`` (the safety envelope distrusts the theory): zero theory features
        and no theory controller.
        """
        if explore:
            self.norm = self.norm.update(obs)
        latent = self.latent() if self.latent_science else None
        self.last_latent = latent
        inputs = self.inputs(obs, x, u, theory_allowed, latent)
        self.last_fields = inputs.get("fields") if latent is not None else None
        if explore:
            self.key, act_key = jax.random.split(self.key)
        else:
            act_key = self.key  # unused by the policy mean
        hidden = None
        if self.recurrent:  # the memory advances in training and evaluation alike
            hidden = self.hidden
            action, logp, value, new_hidden = jax.device_get(
                ppo.act_step(self.agent, inputs, hidden, act_key, deterministic=not explore))
            self.hidden = np.asarray(new_hidden)
        else:  # one transfer for the three results (three separate reads each waited on the device)
            action, logp, value = jax.device_get(ppo.act(self.agent, inputs, act_key, deterministic=not explore))
        shape = self.world.action_space.shape
        env_action = np.asarray(action, dtype=np.float64).reshape(shape)
        if self.variant.residual_policy and self.science is not None and theory_allowed:
            env_action = np.clip(self.science.controller(self.world, x) + env_action, self.low, self.high)
        return Decision(inputs, action, float(logp), float(value), env_action, hidden, latent)

    def _memory(self) -> np.ndarray | None:
        return self.hidden if self.recurrent else None

    def value(self, inputs: dict[str, Any]) -> float:
        """V(inputs) from the current hidden state: bootstraps a time-limit truncation."""
        return float(ppo.value(self.agent, inputs, self._memory()))

    # ------------------------------------------------------------------ learning
    def update(self, rollout: ppo.Rollout, last_obs: np.ndarray, x: np.ndarray, u: np.ndarray) -> dict[str, float]:
        """One PPO update on ``rollout``; ``last_obs`` (with ``x``, ``u``) gives the bootstrap value."""
        last_value = ppo.value(self.agent, self.inputs(last_obs, x, u), self._memory())
        self.key, update_key = jax.random.split(self.key)
        self.agent, metrics = ppo.update(self.agent, rollout, last_value, update_key)
        return {k: float(v) for k, v in metrics.items()}

    def observe(self, x: np.ndarray, u: np.ndarray, x_next: np.ndarray, ended: bool, step: int,
                reward: float | None = None) -> list[dict]:
        """Feed one transition of readings to the scientist (nothing without one); returns its decisions.

        With latent science the state is the latent of the last :meth:`act` and the fields it was
        encoded from (and, at an episode end, the world's terminal fields and their latent, read now,
        before the reset) and ``reward`` is needed.
        """
        if self.science is None:
            return []
        if self.science.latent is None:
            return self.science.observe(x, u, x_next, ended, step)
        if reward is None or self.last_latent is None or self.last_fields is None:
            raise ValueError("latent science observes after act(), with the transition's reward: pass reward=")
        fields_end = self.world.field_tensor() if ended else None
        z_end = encode_latent(self.agent, fields_end) if ended else None
        window = self.science.latent.window
        return self.science.observe_latent(self.last_fields, self.last_latent, u, float(reward), ended, fields_end,
                                           z_end, step, lambda f: encode_window(self.agent, f, window))

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict[str, Any]:
        """What a checkpoint keeps of the policy (the keys ``checkpoint.save`` takes)."""
        return {"agent": ppo.save(self.agent), "normalizer": self.norm.to_dict(), "key": np.asarray(self.key),
                "scientist": self.science.state_dict() if self.science else None,
                "hidden": np.asarray(self.hidden) if self.recurrent else None}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore from ``state_dict`` or a loaded checkpoint (extra checkpoint keys are ignored)."""
        self.agent = ppo.load(self.agent, state["agent"])
        self.norm = RunningNorm.from_dict(state["normalizer"])
        self.key = jax.numpy.asarray(np.asarray(state["key"], dtype=np.uint32))
        if self.recurrent:
            hidden = state.get("hidden")
            if hidden is None or np.size(hidden) != np.size(self.hidden):
                from atom_sdk.errors import ArtifactError

                raise ArtifactError("the checkpoint holds no hidden state of this recurrent agent's size",
                                    hint="resume with the agent settings (core, core_size) the run was saved with")
            self.hidden = np.asarray(hidden, dtype=np.float32).reshape(self.hidden.shape)
        if self.science is not None and state.get("scientist") is not None:
            self.science.load_state_dict(state["scientist"])

    def close(self) -> None:
        """Close the hypothesis ledger."""
        if self.science is not None:
            self.science.close()
