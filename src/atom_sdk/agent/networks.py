"""Actor-critic network and its action spec.

Inputs are a dict {"fields": (..., C, nx, ny, nz), "vector": (..., d)}; either key may be
absent. Fields go through the encoder, the latent is concatenated with the vector, and two
tanh MLP torsos (actor and critic, as in CleanRL/PureJaxRL: separate torsos are more stable
for PPO than a shared one) feed the policy head and the value head.

With ``core="gru"`` a GRU (``agent.recurrent``) sits between the features and the torsos: the
torsos read its hidden state, which carries what the agent saw earlier in the episode.
``__call__`` is then one step from a given (default zero) hidden state; ``step`` also returns the
new state and ``unroll`` runs a stored sequence (the PPO update).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from atom_sdk.agent import distributions
from atom_sdk.agent.encoder import make_encoder
from atom_sdk.agent.recurrent import CORES, GRU
from atom_sdk.errors import ConfigError

POLICY_HEADS = ("state_independent", "state_dependent")
ACTION_SQUASH = ("tanh", "clip")


@dataclass(frozen=True)
class ActionSpec:
    """Static description of the action space (hashable, so it can live in a jit treedef)."""

    discrete: bool
    n_actions: int | None = None
    low: tuple[float, ...] = ()
    high: tuple[float, ...] = ()

    @property
    def dim(self) -> int:
        return 1 if self.discrete else len(self.low)

    @property
    def low_array(self) -> jnp.ndarray:
        return jnp.asarray(self.low, dtype=jnp.float32)

    @property
    def high_array(self) -> jnp.ndarray:
        return jnp.asarray(self.high, dtype=jnp.float32)


def action_spec_from(
    space: Any, *, discrete: bool = False, n_actions: int | None = None
) -> ActionSpec:
    """Accept an ActionSpec, a gymnasium/gymnax space, a mapping {"low","high"} or (low, high)."""
    if isinstance(space, ActionSpec):
        return space
    n = getattr(space, "n", None)
    if discrete or (n is not None and not hasattr(space, "low")):
        n_actions = int(n_actions if n_actions is not None else n if n is not None else 0)
        if n_actions < 2:
            raise ConfigError(
                "a discrete action space needs n_actions >= 2",
                hint="pass n_actions=... or a Discrete space",
            )
        return ActionSpec(discrete=True, n_actions=n_actions)
    if isinstance(space, Mapping):
        low, high = space.get("low"), space.get("high")
    elif hasattr(space, "low") and hasattr(space, "high"):
        low, high = space.low, space.high
    elif isinstance(space, (tuple, list)) and len(space) == 2:
        low, high = space
    else:
        raise ConfigError(
            f"cannot read action bounds from {type(space).__name__}",
            hint="pass a gymnasium Box, a mapping with 'low' and 'high', or (low, high)",
        )
    shape = getattr(space, "shape", None) or np.shape(low) or np.shape(high) or (1,)
    low_a = np.broadcast_to(np.asarray(low, dtype=np.float64), shape).reshape(-1)
    high_a = np.broadcast_to(np.asarray(high, dtype=np.float64), shape).reshape(-1)
    if not (np.all(np.isfinite(low_a)) and np.all(np.isfinite(high_a))):
        raise ConfigError("action bounds must be finite", hint="give the world finite low/high")
    if np.any(high_a <= low_a):
        raise ConfigError("action bounds need high > low in every dimension")
    return ActionSpec(
        discrete=False, low=tuple(float(v) for v in low_a), high=tuple(float(v) for v in high_a)
    )


def _dense(features: int, scale: float, name: str) -> nn.Dense:
    return nn.Dense(
        features, kernel_init=nn.initializers.orthogonal(scale), bias_init=nn.initializers.zeros,
        name=name,
    )


class ActorCritic(nn.Module):
    """Returns (policy parameters dict, value, latent-or-None) for a batch of inputs."""

    action: ActionSpec
    hidden_sizes: Sequence[int]  # the sizes come from AgentSettings (atom_sdk.config); no defaults here
    encoder: str
    latent_dim: int
    fourier_modes: int
    policy_head: str
    use_fields: bool = True
    core: str = "mlp"
    core_size: int = 64

    def setup(self) -> None:
        if self.policy_head not in POLICY_HEADS:
            raise ConfigError(
                f"unknown policy_head {self.policy_head!r}", hint=f"use one of {POLICY_HEADS}"
            )
        if self.core not in CORES:
            raise ConfigError(f"unknown core {self.core!r}", hint=f"use one of {CORES}")
        if self.core == "gru":
            self.memory = GRU(self.core_size, name="gru")
        if self.use_fields:
            self.eyes = make_encoder(self.encoder, self.latent_dim, self.fourier_modes)
        s2 = float(np.sqrt(2.0))
        self.actor_torso = [_dense(h, s2, f"actor_{i}") for i, h in enumerate(self.hidden_sizes)]
        self.critic_torso = [_dense(h, s2, f"critic_{i}") for i, h in enumerate(self.hidden_sizes)]
        self.value_head = _dense(1, 1.0, "value")
        if self.action.discrete:
            self.logits_head = _dense(int(self.action.n_actions), 0.01, "logits")
        else:
            self.mean_head = _dense(self.action.dim, 0.01, "mean")
            if self.policy_head == "state_dependent":
                self.log_std_head = _dense(self.action.dim, 0.01, "log_std_head")
            else:
                self.log_std = self.param("log_std", nn.initializers.zeros, (self.action.dim,))

    def encode(self, inputs: Mapping[str, jnp.ndarray]) -> jnp.ndarray | None:
        """Latent of the fields (None when the agent sees no fields)."""
        if not self.use_fields:
            return None
        return self.eyes(jnp.asarray(inputs["fields"], jnp.float32))

    def features(self, inputs: Mapping[str, jnp.ndarray]) -> tuple[jnp.ndarray, jnp.ndarray | None]:
        latent = self.encode(inputs)
        parts = [] if latent is None else [latent]
        if "vector" in inputs and inputs["vector"] is not None:
            parts.append(jnp.asarray(inputs["vector"], jnp.float32))
        if not parts:
            raise ConfigError("inputs need 'fields' or 'vector'", hint="give the agent an observation")
        return jnp.concatenate(parts, axis=-1), latent

    @property
    def recurrent(self) -> bool:
        return self.core == "gru"

    def initial_hidden(self, batch_shape: tuple[int, ...] = ()) -> jnp.ndarray:
        """Zero hidden state (size 0 for the feed-forward core, which has none)."""
        return jnp.zeros(tuple(batch_shape) + (self.core_size if self.recurrent else 0,), jnp.float32)

    def heads(self, x: jnp.ndarray) -> tuple[dict, jnp.ndarray]:
        """Actor and critic torsos and heads on the features (or the GRU state)."""
        h = x
        for layer in self.critic_torso:
            h = jnp.tanh(layer(h))
        value = self.value_head(h)[..., 0]
        a = x
        for layer in self.actor_torso:
            a = jnp.tanh(layer(a))
        if self.action.discrete:
            pi = {"logits": self.logits_head(a)}
        else:
            mean = self.mean_head(a)
            if self.policy_head == "state_dependent":
                log_std = self.log_std_head(a)
            else:
                log_std = jnp.broadcast_to(self.log_std, mean.shape)
            pi = {"mean": mean, "log_std": jnp.clip(log_std, distributions.LOG_STD_MIN, distributions.LOG_STD_MAX)}
        return pi, value

    def step(self, inputs: Mapping[str, jnp.ndarray], hidden: jnp.ndarray | None = None):
        """One step: (policy parameters, value, latent, new hidden state)."""
        x, latent = self.features(inputs)
        if not self.recurrent:
            pi, value = self.heads(x)
            return pi, value, latent, hidden
        if hidden is None:
            hidden = self.initial_hidden(x.shape[:-1])
        new_hidden, _ = self.memory(x[None], hidden, jnp.zeros((1,) + x.shape[:-1], x.dtype))
        pi, value = self.heads(new_hidden)
        return pi, value, latent, new_hidden

    def unroll(self, inputs: Mapping[str, jnp.ndarray], h0: jnp.ndarray, resets: jnp.ndarray):
        """A stored sequence, inputs (T, B, ...), from hidden ``h0`` (B, H), zeroed where ``resets`` (T, B)."""
        x, latent = self.features(inputs)
        _, hs = self.memory(x, h0, resets)
        pi, value = self.heads(hs)
        return pi, value, latent

    def __call__(self, inputs: Mapping[str, jnp.ndarray], hidden: jnp.ndarray | None = None):
        """(policy parameters, value, latent); the GRU core steps once from ``hidden`` (zeros if None)."""
        pi, value, latent, _ = self.step(inputs, hidden)
        return pi, value, latent


def sample(pi: dict, spec: ActionSpec, squash: str, key: jax.Array, deterministic: bool):
    """Draw an action inside the bounds (or the mode, when deterministic)."""
    if spec.discrete:
        return distributions.categorical_sample(key, pi["logits"], deterministic)
    fn = distributions.tanh_sample if squash == "tanh" else distributions.clip_sample
    return fn(key, pi["mean"], pi["log_std"], spec.low_array, spec.high_array, deterministic)


def log_prob(pi: dict, action: jnp.ndarray, spec: ActionSpec, squash: str) -> jnp.ndarray:
    if spec.discrete:
        return distributions.categorical_log_prob(action, pi["logits"])
    fn = distributions.tanh_log_prob if squash == "tanh" else distributions.clip_log_prob
    return fn(action, pi["mean"], pi["log_std"], spec.low_array, spec.high_array)


def entropy(pi: dict, spec: ActionSpec) -> jnp.ndarray:
    if spec.discrete:
        return distributions.categorical_entropy(pi["logits"])
    return distributions.gaussian_entropy(pi["log_std"])
