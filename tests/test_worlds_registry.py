"""Registry: built-ins listed, unknown ids refused, third-party worlds by register() and entry points."""

import sys
import textwrap

import pytest

import atom_sdk
from atom_sdk.errors import WorldNotFoundError, WorldParameterError
from atom_sdk.worlds import registry


def test_builtins_listed():
    ids = [spec.world_id for spec in atom_sdk.list_worlds()]
    for world_id in ("analytical:taylor_green", "lbm2d:cylinder", "supersonic:wedge"):
        assert world_id in ids


def test_unknown_world_names_the_known_ones():
    with pytest.raises(WorldNotFoundError, match="analytical:taylor_green"):
        atom_sdk.make("nope:nothing")
    with pytest.raises(WorldParameterError, match="family:name"):
        atom_sdk.register("Bad Id", object)


def test_entry_point_world_is_discovered(tmp_path, monkeypatch):
    package = tmp_path / "mylab_worlds.py"
    package.write_text(textwrap.dedent('''
        from atom_sdk.worlds.taylor_green import TaylorGreenWorld

        class SlowVortex(TaylorGreenWorld):
            """A third-party world shipped through an entry point."""
            world_id = "mylab:slow_vortex"
    '''))
    dist = tmp_path / "mylab_worlds-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: mylab-worlds\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[atom_sdk.worlds]\nmylab:slow_vortex = mylab_worlds:SlowVortex\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(registry, "_ENTRY_POINTS_LOADED", False)
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    spec = registry.get_spec("mylab:slow_vortex")
    assert spec.source.startswith("entry point")
    world = atom_sdk.make("mylab:slow_vortex", grid=(8, 8, 1), nu=0.02)
    obs, _ = world.reset(seed=0)
    assert obs.shape == world.observation_space.shape
    sys.modules.pop("mylab_worlds", None)
