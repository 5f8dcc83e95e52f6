"""Learning agent: field encoders, actor-critic, PPO, and symplectic latent dynamics.

The runner's entry points are re-exported here; ``reference`` (gymnax training loop) is
imported on demand because it is only needed for the reference benchmarks.
"""

from atom_sdk.agent.encoder import ConvEncoder, SpectralConv3d, SpectralEncoder, make_encoder
from atom_sdk.agent.networks import ActionSpec, ActorCritic, action_spec_from
from atom_sdk.agent.ppo import (
    AgentSpec,
    AgentState,
    DerivedSettings,
    Rollout,
    act,
    compute_gae,
    create_agent,
    load,
    save,
    update,
    value,
)

__all__ = [
    "ActionSpec", "ActorCritic", "AgentSpec", "AgentState", "ConvEncoder", "DerivedSettings",
    "Rollout", "SpectralConv3d", "SpectralEncoder", "act", "action_spec_from", "compute_gae",
    "create_agent", "load", "make_encoder", "save", "update", "value",
]
