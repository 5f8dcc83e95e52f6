"""Variant ids stay as users' tooling knows them; each has a descriptive title and one sentence."""

from atom_sdk.config import VARIANTS, build_run_config
from atom_sdk.experiment.variants import CATALOG, resolve_variant, variants_help


def test_every_id_has_a_title_and_a_one_sentence_description():
    assert tuple(CATALOG) == VARIANTS
    for vid in VARIANTS:
        spec = resolve_variant(build_run_config({"variant": vid}))
        assert spec.name == vid and spec.title and spec.description.endswith(".")
        assert spec.description.count(". ") == 0
        assert set(spec.as_dict()) == {"name", "use_encoder", "use_scientist", "ensembled", "trust_gate",
                                       "theory_residual_input", "residual_policy", "symplectic"}
        assert f"{vid} ({spec.title})" in variants_help()


def test_parts_of_the_variants():
    parts = {v: resolve_variant(build_run_config({"variant": v})) for v in VARIANTS}
    assert parts["v2_residual"].residual_policy and not parts["v2_hybrid"].residual_policy
    assert parts["v1_raw"].use_scientist and not parts["v1_raw"].ensembled
    assert not parts["ppo_baseline"].use_encoder and parts["no_scientist"].use_encoder
    assert not parts["v2_raw"].trust_gate and parts["v2_hybrid"].trust_gate
