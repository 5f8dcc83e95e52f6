"""PPO reference benchmark: CartPole-v1 and Pendulum-v1 (gymnax), 3 seeds vmapped, full jit.

Prints per-seed final mean return over the last 10 episodes, environment steps per second,
and, as the in-process reference, the ratio of training throughput to the throughput of the
same vmapped environments stepped with random actions (the ceiling the PPO loop could reach).

    PYTHONPATH=src venv/bin/python benchmarks/bench_ppo_reference.py [cartpole|pendulum ...]
"""

from __future__ import annotations

import sys
import time

import jax
import numpy as np

from atom_sdk.agent.reference import REFERENCE_CONFIGS, train_jitted


def random_policy_steps_per_s(env, env_params, num_envs: int, n_steps: int, seeds: int) -> float:
    space = env.action_space(env_params)

    def run(key):
        k0, key = jax.random.split(key)
        _, state = jax.vmap(env.reset, in_axes=(0, None))(jax.random.split(k0, num_envs), env_params)

        def step(carry, _):
            state, key = carry
            key, ka, ks = jax.random.split(key, 3)
            acts = jax.vmap(space.sample)(jax.random.split(ka, num_envs))
            _, state, r, *_ = jax.vmap(env.step, in_axes=(0, 0, 0, None))(
                jax.random.split(ks, num_envs), state, acts, env_params
            )
            return (state, key), r.sum()

        return jax.lax.scan(step, (state, key), None, length=n_steps)[1].sum()

    fn = jax.jit(jax.vmap(run))
    keys = jax.random.split(jax.random.key(0), seeds)
    fn(keys).block_until_ready()  # compile
    t = time.perf_counter()
    fn(keys).block_until_ready()
    return seeds * num_envs * n_steps / (time.perf_counter() - t)


def main(names: list[str]) -> None:
    import gymnax

    seeds = 3
    for name in names:
        cfg = REFERENCE_CONFIGS[name]
        env, env_params = gymnax.make(cfg["env"])
        keys = jax.random.split(jax.random.key(0), seeds)
        t = time.perf_counter()
        _, metrics = train_jitted(env, env_params, cfg["settings"], keys, **cfg["loop"])
        returns = np.asarray(metrics["return_last10"])  # blocks until done
        wall = time.perf_counter() - t
        steps = seeds * cfg["loop"]["total_timesteps"]
        ref = random_policy_steps_per_s(env, env_params, cfg["loop"]["num_envs"], 20_000, seeds)
        print(f"{cfg['env']}: target {cfg['target']}, {cfg['loop']['total_timesteps']} steps/seed")
        for s in range(seeds):
            print(f"  seed {s}: final return (last 10 episodes) {returns[s, -1]:8.1f}   best {np.nanmax(returns[s]):8.1f}")
        print(f"  solved seeds: {int(np.sum(returns[:, -1] >= cfg['target']))}/{seeds}")
        print(f"  PPO training: {steps / wall:,.0f} env steps/s (wall {wall:.1f} s incl. compile)")
        print(f"  random-policy env stepping: {ref:,.0f} steps/s; ratio PPO/random {steps / wall / ref:.3f}")


if __name__ == "__main__":
    main(sys.argv[1:] or ["cartpole", "pendulum"])
