"""Variants: which parts of the closed loop a run uses, resolved from one config value.

| variant       | encoder | scientist            | theory features to agent         |
|---------------|---------|----------------------|----------------------------------|
| v2_hybrid     | yes     | ensembled, governed  | trust-gated + theory residuals   |
| v2_residual   | yes     | ensembled, governed  | agent adds a residual to the theory controller |
| v2_raw        | yes     | ensembled, governed  | appended, no trust gate          |
| v1_raw        | yes     | single fit           | appended, no trust gate          |
| no_scientist  | yes     | none                 | none                             |
| ppo_baseline  | no      | none                 | none (raw observation only)      |

The switches ``ablate_scientist``, ``ablate_symplectic`` and ``ablate_trust_gate`` turn one
part off on top of any variant.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from atom_sdk.config import RunConfig


@dataclass(frozen=True)
class VariantSpec:
    name: str
    use_encoder: bool
    use_scientist: bool
    ensembled: bool
    trust_gate: bool
    theory_residual_input: bool
    residual_policy: bool
    symplectic: bool

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


_TABLE: dict[str, dict[str, bool]] = {
    "v2_hybrid": dict(use_encoder=True, use_scientist=True, ensembled=True, trust_gate=True,
                      theory_residual_input=True, residual_policy=False),
    "v2_residual": dict(use_encoder=True, use_scientist=True, ensembled=True, trust_gate=True,
                        theory_residual_input=True, residual_policy=True),
    "v2_raw": dict(use_encoder=True, use_scientist=True, ensembled=True, trust_gate=False,
                   theory_residual_input=False, residual_policy=False),
    "v1_raw": dict(use_encoder=True, use_scientist=True, ensembled=False, trust_gate=False,
                   theory_residual_input=False, residual_policy=False),
    "no_scientist": dict(use_encoder=True, use_scientist=False, ensembled=False, trust_gate=False,
                         theory_residual_input=False, residual_policy=False),
    "ppo_baseline": dict(use_encoder=False, use_scientist=False, ensembled=False, trust_gate=False,
                         theory_residual_input=False, residual_policy=False),
}


def resolve_variant(config: RunConfig) -> VariantSpec:
    """The variant's parts after the ablation switches and the scientist/agent settings."""
    parts = dict(_TABLE[config.variant])
    use_scientist = parts["use_scientist"] and config.scientist.enabled and not config.ablate_scientist
    if not use_scientist:
        parts.update(use_scientist=False, trust_gate=False, theory_residual_input=False, residual_policy=False,
                     ensembled=False)
    if config.ablate_trust_gate:
        parts["trust_gate"] = False
    if use_scientist and not config.scientist.ensembled:
        parts["ensembled"] = False
    symplectic = parts["use_encoder"] and config.agent.symplectic and not config.ablate_symplectic
    return VariantSpec(name=config.variant, symplectic=symplectic, **parts)
