"""Recurrent-core benchmark: CartPole-v1 with its velocities masked, GRU core vs feed-forward, 3 seeds.

The agent sees cart position and pole angle only (POPGym's StatelessCartPole, sb3-contrib's
CartPoleNoVel-v1), so it has to infer the velocities from what it saw before. Published level:
sb3-contrib RecurrentPPO (RL Zoo ``ppo_lstm``, CartPoleNoVel-v1) scores 500.00 +/- 0.00 after 100k
steps; the check is the CartPole-v1 solve threshold 475 (mean of the last 10 finished episodes at
the end of training) on at least 2 of 3 seeds within 150k steps. The same settings with the
feed-forward core are the control: they must stay below the threshold.

    venv/bin/python benchmarks/bench_recurrent.py [--seeds 3] [--steps 150000] [--json]
"""

from __future__ import annotations

import argparse
import json
import time

import jax
import numpy as np

from atom_sdk.agent.reference import REFERENCE_CONFIGS, make_env, train_jitted

PUBLISHED = {"source": "sb3-contrib RecurrentPPO, RL Zoo ppo_lstm on CartPoleNoVel-v1 (huggingface sb3/"
             "ppo_lstm-CartPoleNoVel-v1)", "mean_return": 500.0, "std": 0.0, "timesteps": 100_000}


def run(core: str, seeds: int, steps: int) -> dict:
    """Train ``seeds`` vmapped seeds with ``core``; final and best return (last 10 episodes) per seed."""
    cfg = REFERENCE_CONFIGS["masked_cartpole"]
    settings = cfg["settings"].model_copy(update={"core": core})
    env, params = make_env(cfg["env"])
    loop = {**cfg["loop"], "total_timesteps": steps}
    t = time.perf_counter()
    _, metrics = train_jitted(env, params, settings, jax.random.split(jax.random.key(0), seeds), **loop)
    returns = np.asarray(metrics["return_last10"])
    wall = time.perf_counter() - t
    final = returns[:, -1]
    return {"core": core, "final_return": [float(v) for v in final],
            "best_return": [float(np.nanmax(r)) for r in returns],
            "solved_seeds": int(np.sum(final >= cfg["target"])), "seeds": seeds,
            "wall_seconds_incl_compile": wall}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--steps", type=int, default=REFERENCE_CONFIGS["masked_cartpole"]["loop"]["total_timesteps"])
    ap.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    args = ap.parse_args()
    cfg = REFERENCE_CONFIGS["masked_cartpole"]
    results = [run(core, args.seeds, args.steps) for core in ("gru", "mlp")]
    report = {"env": cfg["env"], "target": cfg["target"], "steps_per_seed": args.steps, "published": PUBLISHED,
              "results": results}
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print(f"{cfg['env']}: target {cfg['target']} (published: {PUBLISHED['mean_return']} by {PUBLISHED['source']}), "
          f"{args.steps} steps/seed")
    for r in results:
        print(f"  core {r['core']}: solved {r['solved_seeds']}/{r['seeds']}  ({r['wall_seconds_incl_compile']:.0f} s)")
        for s, (f, b) in enumerate(zip(r["final_return"], r["best_return"])):
            print(f"    seed {s}: final return (last 10 episodes) {f:7.1f}   best {b:7.1f}")


if __name__ == "__main__":
    main()
