"""Variants: which parts of the closed loop a run uses, resolved from one config value.

| variant       | encoder | scientist            | theory features to agent         |
|---------------|---------|----------------------|----------------------------------|
| v2_hybrid     | yes     | ensembled, governed  | trust-gated + theory residuals   |
| v2_residual   | yes     | ensembled, governed  | agent adds a residual to the theory controller |
| v2_raw        | yes     | ensembled, governed  | appended, no trust gate          |
| v1_raw        | yes     | single fit           | appended, no trust gate          |
| no_scientist  | yes     | none                 | none                             |
| ppo_baseline  | no      | none                 | none (raw observation only)      |
| ppo_recurrent | no      | none                 | none; a GRU core remembers the episode |
| no_scientist_decoder | yes | none               | none; a field decoder shapes the latent |
| v2_latent_jacobian | yes | ensembled, governed, over the latent and the reward | trust-gated + the law's Jacobian |

Every variant but ``ppo_recurrent`` uses the core ``agent.core`` names (feed-forward by
default); ``ppo_recurrent`` is ``ppo_baseline`` with the GRU core, the memory ablation's arm.
``no_scientist_decoder`` is ``no_scientist`` with the field-reconstruction loss on
(``agent.decoder_weight``, or ``DEFAULT_DECODER_WEIGHT`` when the config leaves it at 0).

``v2_latent_jacobian`` is ``v2_hybrid`` whose scientist fits laws over the encoder's latent
(stop-gradient; at each fit the window is re-encoded with the current encoder and the leading
``scientist.latent_dims`` principal coordinates are the variables) and the reward, and
whose theory features carry the accepted law's symbolic Jacobian; the config switches
``scientist.variables = "latent"`` and ``scientist.jacobian_features`` do the same on any
variant with a scientist.

The switches ``ablate_scientist``, ``ablate_symplectic`` and ``ablate_trust_gate`` turn one
part off on top of any variant.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from atom_sdk.config import RunConfig

#: the parts a variant switches, in the order of the flag tuples below
PARTS = ("use_encoder", "use_scientist", "ensembled", "trust_gate", "theory_residual_input", "residual_policy")


@dataclass(frozen=True)
class VariantInfo:
    """What a variant id means, in words: a short descriptive title and one sentence."""

    id: str
    title: str
    description: str


# The ids look like versions for history's sake; users' tooling knows them, so they stay.
#                  encoder, scientist, ensembled, trust_gate, theory_residual_input, residual_policy
_FLAGS: dict[str, tuple[int, int, int, int, int, int]] = {
    "v2_hybrid":    (1, 1, 1, 1, 1, 0),
    "v2_residual":  (1, 1, 1, 1, 1, 1),
    "v2_raw":       (1, 1, 1, 0, 0, 0),
    "v1_raw":       (1, 1, 0, 0, 0, 0),
    "no_scientist": (1, 0, 0, 0, 0, 0),
    "ppo_baseline": (0, 0, 0, 0, 0, 0),
    "ppo_recurrent": (0, 0, 0, 0, 0, 0),
    "no_scientist_decoder": (1, 0, 0, 0, 0, 0),
    "v2_latent_jacobian": (1, 1, 1, 1, 1, 0),
}
#: variants whose agent has the recurrent core whatever ``agent.core`` says
_RECURRENT = frozenset({"ppo_recurrent"})
#: variants that train the field decoder whatever ``agent.decoder_weight`` says
_DECODER = frozenset({"no_scientist_decoder"})
DEFAULT_DECODER_WEIGHT = 0.1
#: variants whose scientist fits the encoder's latent and the reward, with Jacobian features
_LATENT_JACOBIAN = frozenset({"v2_latent_jacobian"})

CATALOG: dict[str, VariantInfo] = {v.id: v for v in (
    VariantInfo("v2_hybrid", "Trust-gated hybrid",
                "The full loop: field encoder, an ensembled and governed scientist, and its theory features and "
                "residuals reaching the agent only as far as the scientist is trusted."),
    VariantInfo("v2_residual", "Residual on the theory controller",
                "As the trust-gated hybrid, but the agent's action is added as a residual to the scientist's "
                "theory controller."),
    VariantInfo("v2_raw", "Ungated theory features",
                "Field encoder and an ensembled, governed scientist whose theory features reach the agent "
                "without a trust gate."),
    VariantInfo("v1_raw", "Single-fit scientist, ungated",
                "Field encoder and a single (not ensembled) scientist fit whose theory features reach the agent "
                "without a trust gate."),
    VariantInfo("no_scientist", "Encoder, no scientist",
                "PPO with the field encoder and no scientist: the agent sees the normalised observation and the "
                "fields."),
    VariantInfo("ppo_baseline", "Plain PPO baseline",
                "PPO on the normalised observation vector alone: no field encoder, no scientist."),
    VariantInfo("ppo_recurrent", "Recurrent PPO baseline",
                "The plain PPO baseline with a GRU core: the agent remembers what it saw earlier in the "
                "episode, for worlds it observes only in part (probes)."),
    VariantInfo("no_scientist_decoder", "Encoder with a field decoder, no scientist",
                "As the encoder without a scientist, with a decoder that reconstructs the observed field from "
                "the latent as an auxiliary loss."),
    VariantInfo("v2_latent_jacobian", "Laws over the latent, Jacobian to the agent",
                "As the trust-gated hybrid, but the scientist fits laws over the encoder's latent (stop-gradient) "
                "and the reward, and the accepted law's symbolic Jacobian reaches the agent as features."),
)}


@dataclass(frozen=True)
class VariantSpec:
    """A resolved variant: its id (``name``, as configs and ``results.json`` spell it) and its parts."""

    name: str
    use_encoder: bool
    use_scientist: bool
    ensembled: bool
    trust_gate: bool
    theory_residual_input: bool
    residual_policy: bool
    symplectic: bool
    recurrent: bool = False  # the agent's GRU core (``agent.core == "gru"`` or a recurrent variant)
    decoder: bool = False  # the field decoder's auxiliary loss (a decoder variant or ``agent.decoder_weight > 0``)
    latent_science: bool = False  # the scientist fits the encoder's latent and the reward
    jacobian: bool = False  # the theory features carry the accepted law's Jacobian

    @property
    def title(self) -> str:
        """A descriptive name for the variant id."""
        return CATALOG[self.name].title

    @property
    def description(self) -> str:
        """One sentence on what the variant does."""
        return CATALOG[self.name].description

    def as_dict(self) -> dict[str, object]:
        """The id and the parts (the ``variant`` entry of ``results.json``; title and description are not in it,
        nor ``recurrent``, ``decoder``, ``latent_science`` and ``jacobian``: those are recorded with the agent and
        scientist settings of the run's config)."""
        out = asdict(self)
        for part in ("recurrent", "decoder", "latent_science", "jacobian"):
            out.pop(part)
        return out


def variants_help() -> str:
    """One line per variant, ``id: title``, for help texts and listings."""
    return "; ".join(f"{v.id} ({v.title})" for v in CATALOG.values())


def resolve_variant(config: RunConfig) -> VariantSpec:
    """The variant's parts after the ablation switches and the scientist/agent settings."""
    parts = {part: bool(flag) for part, flag in zip(PARTS, _FLAGS[config.variant])}
    use_scientist = parts["use_scientist"] and config.scientist.enabled and not config.ablate_scientist
    if not use_scientist:
        parts.update(use_scientist=False, trust_gate=False, theory_residual_input=False, residual_policy=False,
                     ensembled=False)
    if config.ablate_trust_gate:
        parts["trust_gate"] = False
    if use_scientist and not config.scientist.ensembled:
        parts["ensembled"] = False
    symplectic = parts["use_encoder"] and config.agent.symplectic and not config.ablate_symplectic
    recurrent = config.variant in _RECURRENT or config.agent.core == "gru"
    decoder = parts["use_encoder"] and (config.variant in _DECODER or config.agent.decoder_weight > 0)
    latent = use_scientist and (config.variant in _LATENT_JACOBIAN or config.scientist.variables == "latent")
    jacobian = use_scientist and (config.variant in _LATENT_JACOBIAN or config.scientist.jacobian_features)
    if latent and not parts["use_encoder"]:
        from atom_sdk.errors import ConfigError

        raise ConfigError(f"scientist.variables='latent' needs the field encoder, which variant '{config.variant}' "
                          "does not use", hint="use a variant with the encoder (e.g. v2_hybrid) or variables='measured'")
    return VariantSpec(name=config.variant, symplectic=symplectic, recurrent=recurrent, decoder=decoder,
                       latent_science=latent, jacobian=jacobian, **parts)


def agent_settings_for(config: RunConfig, variant: VariantSpec):
    """The agent settings a run uses: ``config.agent``, with the GRU core and the decoder when the variant asks."""
    update: dict[str, object] = {}
    if variant.recurrent and config.agent.core != "gru":
        update["core"] = "gru"
    if variant.decoder and config.agent.decoder_weight == 0.0:
        update["decoder_weight"] = DEFAULT_DECODER_WEIGHT
    return config.agent.model_copy(update=update) if update else config.agent
