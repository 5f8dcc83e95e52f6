"""Config validation errors and the canonical hash (same config, same hash, however written)."""

import json

import pytest
import tomli_w
import yaml

from atom_sdk.config import build_run_config, canonical_json, config_hash, load_run_config
from atom_sdk.errors import ConfigError

SPARSE = {"world": {"name": "lbm2d:cylinder", "grid": [64, 32, 1], "params": {"tau": 0.53, "u_inlet": 0.05}},
          "steps": 120, "seed": 3}


def _spelled_out() -> dict:
    full = build_run_config(SPARSE).model_dump(mode="json")
    full["world"]["params"] = {"u_inlet": 0.05, "tau": 0.53}
    return dict(reversed(list(full.items())))


def test_hash_same_across_formats_key_order_and_defaults(tmp_path):
    (tmp_path / "a.yaml").write_text(yaml.safe_dump(SPARSE))
    (tmp_path / "b.json").write_text(json.dumps(_spelled_out(), indent=1))
    (tmp_path / "c.toml").write_text(tomli_w.dumps(SPARSE))
    hashes = {config_hash(load_run_config(tmp_path / name)) for name in ("a.yaml", "b.json", "c.toml")}
    assert len(hashes) == 1
    assert len(hashes.pop()) == 64


def test_hash_changes_with_semantics_not_with_name():
    base = build_run_config(SPARSE)
    assert config_hash(base) == config_hash(base.model_copy(update={"name": "other"}))
    assert config_hash(base) != config_hash(base.model_copy(update={"seed": 4}))
    ints = build_run_config({**SPARSE, "world": {**SPARSE["world"], "params": {"tau": 0.53, "u_inlet": 0.05, "k": 1}}})
    floats = build_run_config({**SPARSE, "world": {**SPARSE["world"], "params": {"tau": 0.53, "u_inlet": 0.05,
                                                                                "k": 1.0}}})
    assert config_hash(ints) == config_hash(floats)
    assert json.loads(canonical_json(base))["steps"] == 120


def test_unknown_key_names_key_and_allowed_keys():
    with pytest.raises(ConfigError) as err:
        build_run_config({"agent": {"learning_rat": 0.1}})
    message = str(err.value)
    assert "agent.learning_rat" in message and "learning_rate" in message


def test_out_of_range_names_key_and_range():
    with pytest.raises(ConfigError) as err:
        build_run_config({"scientist": {"conformal_alpha": 1.5}})
    assert "scientist.conformal_alpha" in str(err.value) and "less than 1" in str(err.value)
    with pytest.raises(ConfigError, match="world.params"):
        build_run_config({"world": {"params": {"tau": float("nan")}}})


def test_wrong_type_and_bad_file(tmp_path):
    with pytest.raises(ConfigError, match="'steps'"):
        build_run_config({"steps": "many"})
    bad = tmp_path / "bad.yaml"
    bad.write_text("steps: [unclosed")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_run_config(bad)
    with pytest.raises(ConfigError, match="does not exist"):
        load_run_config(tmp_path / "missing.json")
    (tmp_path / "x.ini").write_text("")
    with pytest.raises(ConfigError, match="suffix"):
        load_run_config(tmp_path / "x.ini")


def test_cli_overrides_replace_file_values(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(SPARSE))
    cfg = load_run_config(path, {"seed": 9, "world": {"params": {"tau": 0.6}}})
    assert cfg.seed == 9
    assert cfg.world.params == {"tau": 0.6, "u_inlet": 0.05}
    assert cfg.world.grid == (64, 32, 1)


def test_fields_added_later_keep_older_hashes_while_at_their_default():
    """The default config hashed as it did before agent.core/decoder_weight existed (0.1.x, commit
    8394cde), so older runs can still be resumed; a field set away from its default changes it."""
    from atom_sdk.config import ADDED_FIELDS, config_hash

    assert config_hash({}) == "8ce6b53ab3ac6ecebaddbc262af86f56f005a57dc3518437679a01424859c7f3"
    assert config_hash({"agent": {"core": "mlp", "decoder_weight": 0.0}}) == config_hash({})
    assert ("agent", "core") in ADDED_FIELDS
    assert config_hash({"agent": {"core": "gru"}}) != config_hash({})
    assert config_hash({"agent": {"decoder_weight": 0.5}}) != config_hash({})
    assert config_hash({"agent": {"frozen_targets": False}}) == config_hash({})
    assert config_hash({"agent": {"frozen_targets": True}}) != config_hash({})


def test_frozen_targets_setting_reaches_the_agent():
    """``agent.frozen_targets`` is a run setting: the derived settings every trainer builds carry it."""
    from atom_sdk.agent.ppo import DerivedSettings
    from atom_sdk.config import AgentSettings

    on = DerivedSettings.for_run(AgentSettings(frozen_targets=True), steps=64, symplectic=True, dt=0.1)
    off = DerivedSettings.for_run(AgentSettings(), steps=64, symplectic=True, dt=0.1)
    assert (on.frozen_targets, off.frozen_targets) == (True, False)
    with pytest.raises(Exception, match="frozen_targets"):
        AgentSettings(frozen_targets="sometimes")
