"""Gymnasium-native worlds: ids, specs, make/make_vec (sync and async), check_env, rendering, names."""

import subprocess
import sys
import textwrap

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import atom_sdk
from atom_sdk.worlds import registry
from atom_sdk.worlds.gym import BUILTIN_GYM_IDS

#: the smallest grids (and fewest substeps) each world's parameter checks allow
SMALL = {
    "atom/TaylorGreen-v0": {"grid": (8, 8, 1)},
    "atom/Cylinder-v0": {"grid": (70, 34, 1), "substeps": 2},
    "atom/Wedge-v0": {"grid": (32, 24, 1), "substeps": 2},
    "atom/Sphere3D-v0": {"grid": (32, 16, 16), "substeps": 1},
    "atom/Cylinder3D-v0": {"grid": (48, 17, 17), "substeps": 1},
    "atom/Body3D-v0": {"grid": (32, 16, 16), "substeps": 1},
}
IDS = sorted(SMALL)


def test_every_world_has_an_id():
    assert sorted(BUILTIN_GYM_IDS.values()) == IDS
    assert set(BUILTIN_GYM_IDS) == {spec.world_id for spec in registry.list_worlds() if spec.source == "builtin"}
    for gym_id in IDS:
        spec = gym.spec(gym_id)
        assert spec.max_episode_steps == 200 and spec.namespace == "atom"


@pytest.mark.parametrize("gym_id", IDS)
def test_make_check_render_and_names(gym_id):
    env = gym.make(gym_id, render_mode="rgb_array", **SMALL[gym_id])
    assert env.spec.id == gym_id and env.spec.max_episode_steps == 200
    check_env(env.unwrapped, skip_render_check=True)
    obs, _ = env.reset(seed=1)
    obs2, *_ = env.step(env.action_space.sample())
    assert obs2.shape == obs.shape
    names = env.unwrapped.metadata["observation_names"]
    units = env.unwrapped.metadata["observation_units"]
    assert len(names) == len(units) == obs.size == len(set(names))
    image = env.render()
    assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3 and max(image.shape[:2]) >= 256
    assert len(np.unique(image.reshape(-1, 3), axis=0)) > 1  # a field, not a flat colour
    assert env.metadata["render_modes"] == ["rgb_array"] and env.metadata["render_fps"] > 0
    env.close()


def test_module_prefix_make_and_spec_from_sdk_make():
    env = gym.make("atom_sdk.worlds:atom/TaylorGreen-v0", grid=(8, 8, 1), max_episode_steps=3)
    env.reset(seed=0)
    truncated = [env.step(np.zeros(1))[3] for _ in range(3)]
    assert truncated == [False, False, True]  # Gymnasium's TimeLimit governs, not the world's own 200
    world = atom_sdk.make("analytical:taylor_green", grid=(8, 8, 1), max_episode_steps=5)
    assert world.spec.id == "atom/TaylorGreen-v0" and world.spec.max_episode_steps == 5
    again = gym.make(world.spec)
    assert again.spec.kwargs["grid"] == (8, 8, 1) and again.unwrapped.max_episode_steps == 5
    with pytest.raises(atom_sdk.AtomError, match="render_mode"):
        atom_sdk.make("analytical:taylor_green", grid=(8, 8, 1), render_mode="human")


def test_rendering_leaves_the_observations_alone():
    a = gym.make("atom/TaylorGreen-v0", grid=(8, 8, 1), render_mode="rgb_array")
    b = gym.make("atom/TaylorGreen-v0", grid=(8, 8, 1))
    for env in (a, b):
        env.reset(seed=3)
    for _ in range(3):
        oa, ra, *_ = a.step(np.array([0.01]))
        a.render()
        ob, rb, *_ = b.step(np.array([0.01]))
        assert np.array_equal(oa, ob) and ra == rb


@pytest.mark.parametrize("gym_id", IDS)
def test_make_vec_sync(gym_id):
    envs = gym.make_vec(gym_id, num_envs=4, vectorization_mode="sync", **SMALL[gym_id])
    obs, _ = envs.reset(seed=0)
    assert obs.shape == (4, *envs.single_observation_space.shape)
    obs, reward, *_ = envs.step(envs.action_space.sample())
    assert reward.shape == (4,) and np.all(np.isfinite(obs))
    envs.close()


ASYNC = textwrap.dedent("""
    import multiprocessing, sys
    import gymnasium as gym
    import atom_sdk.worlds  # registers the ids

    if __name__ == "__main__":
        for gym_id, kwargs in eval(sys.argv[1]).items():
            # the default context: nothing here picks 'spawn', the first world built does
            envs = gym.make_vec(gym_id, num_envs=4, vectorization_mode="async", **kwargs)
            obs, _ = envs.reset(seed=0)
            assert obs.shape[0] == 4, obs.shape
            if gym_id == "atom/TaylorGreen-v0":  # the others' steps compile for long; sync covers them
                obs, reward, *_ = envs.step(envs.action_space.sample())
                assert reward.shape == (4,), reward.shape
            envs.close()
            print(gym_id, "ok")
        print("start method", multiprocessing.get_start_method())
""")


def test_make_vec_async_default_context_does_not_hang(tmp_path):
    """Every world, 4 async workers with the default context; a fork dead-lock fails after 300 s (generous: 2 loaded cores spawn 4 JAX workers)."""
    script = tmp_path / "vec.py"
    script.write_text(ASYNC)
    out = subprocess.run([sys.executable, str(script), repr(SMALL)], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert all(f"{gym_id} ok" in out.stdout for gym_id in IDS) and "start method spawn" in out.stdout


def test_a_user_world_gets_an_id(monkeypatch):
    from atom_sdk.worlds import gym as atom_gym
    from atom_sdk.worlds.taylor_green import TaylorGreenWorld

    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    monkeypatch.setattr(registry, "GYM_IDS", dict(registry.GYM_IDS))
    monkeypatch.setattr(atom_gym, "GYM_IDS", registry.GYM_IDS)
    atom_sdk.register("mylab:slow_vortex", TaylorGreenWorld)
    gym_id = atom_gym.register_gymnasium("mylab:slow_vortex", grid=(8, 8, 1))
    try:
        assert gym_id == "mylab/SlowVortex-v0"
        env = gym.make(gym_id, nu=0.02)
        assert env.spec.kwargs == {"grid": (8, 8, 1), "nu": 0.02}
        assert atom_gym.world_id_of(gym_id) == "mylab:slow_vortex"
        assert atom_sdk.make("mylab:slow_vortex", grid=(8, 8, 1)).spec.id == gym_id
    finally:
        gym.envs.registry.pop(gym_id)
