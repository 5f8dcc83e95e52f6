"""FNO spectral convolution: FFT reference vs truncated DFT, layer, encoder and one PPO update (issue 19).

In one process, for each case both evaluations of the same parameters run interleaved
(fft, dft, fft, dft, ...) so a change of machine load hits both alike; the figure is the
median wall time of ``--repeats`` calls after a warm-up call (compilation excluded), and the
ratio is fft/dft (>1: the DFT is faster). The process CPU time per call is recorded too: on a
shared, overloaded machine it moves far less than wall time. Cases:

* layer: ``SpectralConv3d`` forward, width 16, channel-major, batch 1/8/16;
* encoder: ``SpectralEncoder`` forward+backward (grad w.r.t. parameters), 5 field channels,
  batch 1/8/16, on Taylor-Green 32x32x16 and the cylinder's 176x36x1;
* update: one ``ppo.update`` of a ``v2_hybrid`` agent on Taylor-Green 32x32x16 (the agent of
  a real ``Policy``; a synthetic 32-step rollout of the right shapes: 4 epochs x 4 minibatches
  of 8 samples, each with its next sample for the symplectic loss);
* ``--crossover``: layer forward+backward on cubic grids with growing modes, where "auto" switches;
* ``--update-options``: one ``ppo.update`` as above with the default settings and with the opt-ins that
  change the learning (``DerivedSettings.frozen_targets``, ``update_epochs`` 2, both): CPU time per call
  and the largest parameter difference from the default's update;
* ``--against REV``: the encoder of this tree against ``agent/encoder.py`` as it was at git
  revision REV (loaded from ``git show`` into this process), both with the "auto" transform:
  encoder forward and forward+backward at batch 8, and one ``ppo.update`` as above, with the
  largest parameter difference of the two updates (same agent, same rollout, same key).

    venv/bin/python benchmarks/bench_encoder.py [--repeats 7] [--quick] [--crossover] [--against REV]
        [--update-options] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import types
from functools import partial
from pathlib import Path
from typing import Any, Callable

import flax
import jax
import jax.numpy as jnp
import numpy as np

from atom_sdk.agent import encoder, networks, ppo
from atom_sdk.agent.encoder import SpectralConv3d, SpectralEncoder

GRIDS = {"taylor_green": (32, 32, 16), "cylinder": (176, 36, 1)}
TRANSFORMS = ("fft", "dft")


def machine() -> dict[str, Any]:
    one, five, _ = os.getloadavg()
    return {"cpus": os.cpu_count(), "loadavg_1m": round(one, 2), "loadavg_5m": round(five, 2),
            "device": str(jax.devices()[0]), "jax": jax.__version__, "flax": flax.__version__,
            "numpy": np.__version__, "python": platform.python_version(), "platform": platform.platform()}


def interleaved(calls: dict[str, Callable[[], Any]], repeats: int) -> dict[str, dict[str, float]]:
    """Median and min seconds per call of each callable, run in turn after one warm-up each."""
    for f in calls.values():
        jax.block_until_ready(f())
    times: dict[str, list[float]] = {k: [] for k in calls}
    cpu: dict[str, list[float]] = {k: [] for k in calls}
    for _ in range(repeats):
        for k, f in calls.items():
            t, c = time.perf_counter(), time.process_time()
            jax.block_until_ready(f())
            times[k].append(time.perf_counter() - t)
            cpu[k].append(time.process_time() - c)
    return {k: {"median_ms": 1e3 * statistics.median(v), "min_ms": 1e3 * min(v),
                "cpu_median_ms": 1e3 * statistics.median(cpu[k]), "cpu_min_ms": 1e3 * min(cpu[k])}
            for k, v in times.items()}


def _row(case: str, timing: dict[str, dict[str, float]], **extra: Any) -> dict[str, Any]:
    row = {"case": case, **extra, **{f"{k}_{s}": round(v[s], 3) for k, v in timing.items() for s in v}}
    row["ratio_median"] = round(timing["fft"]["median_ms"] / timing["dft"]["median_ms"], 2)
    row["ratio_min"] = round(timing["fft"]["min_ms"] / timing["dft"]["min_ms"], 2)
    row["ratio_cpu"] = round(timing["fft"]["cpu_median_ms"] / timing["dft"]["cpu_median_ms"], 2)
    return row


def bench_layer(grid: tuple[int, int, int], batch: int, modes: int, repeats: int, grad: bool = False) -> dict:
    x = jax.random.normal(jax.random.key(1), (16, batch, *grid))
    params = jax.jit(SpectralConv3d(16, modes, "fft").init, static_argnums=2)(jax.random.key(0), x, 0)
    calls = {}
    for t in TRANSFORMS:
        layer = SpectralConv3d(16, modes, t)
        if grad:
            f = jax.jit(jax.grad(lambda p, x, layer=layer: jnp.sum(jnp.sin(layer.apply(p, x, 0))), argnums=(0, 1)))
        else:
            f = jax.jit(lambda p, x, layer=layer: layer.apply(p, x, 0))
        calls[t] = partial(f, params, x)
    what = "layer fwd+bwd" if grad else "layer fwd"
    return _row(what, interleaved(calls, repeats), grid=list(grid), batch=batch, modes=modes)


def bench_encoder(grid: tuple[int, int, int], batch: int, repeats: int) -> dict:
    fields = jax.random.normal(jax.random.key(2), (batch, 5, *grid))
    params = jax.jit(SpectralEncoder().init)(jax.random.key(0), fields)
    calls = {}
    for t in TRANSFORMS:
        enc = SpectralEncoder(transform=t)
        f = jax.jit(jax.grad(lambda p, f, enc=enc: jnp.sum(jnp.sin(enc.apply(p, f)))))
        calls[t] = partial(f, params, fields)
    return _row("encoder fwd+bwd", interleaved(calls, repeats), grid=list(grid), batch=batch)


def _policy_and_rollout(steps: int = 32):
    from atom_sdk.config import build_run_config
    from atom_sdk.experiment.policy import Policy
    from atom_sdk.experiment.runner import make_world

    cfg = build_run_config({"world": {"name": "analytical:taylor_green", "grid": list(GRIDS["taylor_green"])},
                            "variant": "v2_hybrid", "steps": 400, "seed": 0})
    world = make_world(cfg)
    obs, _ = world.reset(seed=0)
    policy = Policy(cfg, world, ledger_dir=Path(tempfile.mkdtemp(prefix="bench_encoder_")))
    one = policy.inputs(np.asarray(obs), np.zeros(1), np.zeros(1))
    rng = np.random.default_rng(0)
    inputs = {k: np.stack([np.asarray(v, np.float32) * (1 + 0.01 * rng.normal(size=np.shape(v))).astype(np.float32)
                           for _ in range(steps)]) for k, v in one.items() if v is not None}
    act_dim = int(np.prod(world.action_space.shape))
    rollout = ppo.Rollout(
        inputs=inputs, actions=rng.normal(size=(steps, act_dim)).astype(np.float32),
        log_probs=np.full(steps, -1.0, np.float32), values=rng.normal(size=steps).astype(np.float32),
        rewards=rng.normal(size=steps).astype(np.float32), dones=np.zeros(steps, np.float32))
    return policy, rollout, cfg


def bench_update(repeats: int) -> dict:
    original = networks.make_encoder
    calls = {}
    try:
        for t in TRANSFORMS:
            # the transform is read when the network is built and traced: patch it, then build a
            # fresh policy (same seed, so the same parameters) and a fresh jit for each transform
            networks.make_encoder = partial(encoder.make_encoder, transform=t)
            jax.clear_caches()
            policy, rollout, cfg = _policy_and_rollout()
            args = (policy.agent, rollout, jnp.float32(0.0), jax.random.key(0))
            # compiled ahead of time: clear_caches() for the next transform must not make this
            # one re-trace later, under the other transform
            compiled = jax.jit(lambda *a: ppo._update(*a)).lower(*args).compile()
            calls[t] = partial(compiled, *args)
    finally:
        networks.make_encoder = original
    s = cfg.agent
    return _row("ppo.update", interleaved(calls, repeats), grid=list(GRIDS["taylor_green"]),
                rollout=int(rollout.rewards.shape[0]), epochs=s.update_epochs, minibatches=s.num_minibatches)


def bench_update_options(repeats: int) -> list[dict]:
    """One ppo.update (v2_hybrid agent, synthetic 32-step rollout): default vs the opt-ins that change the learning."""
    import dataclasses

    policy, rollout, cfg = _policy_and_rollout()
    agent = policy.agent
    spec = agent.spec
    frozen = dataclasses.replace(spec.derived, frozen_targets=True)
    two = spec.settings.model_copy(update={"update_epochs": 2})
    agents = {"default": agent,
              "frozen_targets": agent.replace(spec=dataclasses.replace(spec, derived=frozen)),
              "update_epochs_2": agent.replace(spec=dataclasses.replace(spec, settings=two)),
              "both": agent.replace(spec=dataclasses.replace(spec, settings=two, derived=frozen))}
    calls, params = {}, {}
    for name, a in agents.items():
        args = (a, rollout, jnp.float32(0.3), jax.random.key(0))
        compiled = jax.jit(lambda *x: ppo._update(*x)).lower(*args).compile()
        calls[name] = partial(compiled, *args)
        params[name] = calls[name]()[0].params
    timing = interleaved(calls, repeats)
    rows = []
    for name, t in timing.items():
        diff = max(float(jnp.max(jnp.abs(x - y))) for x, y in zip(jax.tree.leaves(params["default"]),
                                                                   jax.tree.leaves(params[name])))
        rows.append({"case": f"ppo.update {name}", **{k: round(v, 3) for k, v in t.items()},
                     "cpu_ratio_to_default": round(timing["default"]["cpu_median_ms"] / t["cpu_median_ms"], 3),
                     "max_abs_param_diff_to_default": diff, "epochs": agents[name].spec.settings.update_epochs,
                     "minibatches": cfg.agent.num_minibatches})
        print(f"{rows[-1]['case']:28s} {t['median_ms']:8.1f} ms (cpu {t['cpu_median_ms']:.1f}, min {t['cpu_min_ms']:.1f}); "
              f"default/this cpu x{rows[-1]['cpu_ratio_to_default']:.2f}; max |param - default's| {diff:.1e}", flush=True)
    return rows


def encoder_at(rev: str) -> types.ModuleType:
    """``atom_sdk.agent.encoder`` as it was at git revision ``rev``, as a module of its own."""
    root = Path(__file__).resolve().parents[1]
    done = subprocess.run(["git", "show", f"{rev}:src/atom_sdk/agent/encoder.py"], cwd=root, capture_output=True,
                          text=True)
    if done.returncode:
        raise SystemExit(f"cannot read the encoder at {rev!r}: {done.stderr.strip()} (give a commit, e.g. HEAD~1)")
    name = f"encoder_at_{rev}".replace("~", "_").replace("^", "_").replace("/", "_")
    module = types.ModuleType(name)
    sys.modules[name] = module  # flax's dataclass transform looks the module up
    exec(compile(done.stdout, f"{rev}:encoder.py", "exec"), module.__dict__)
    return module


def _ab_row(case: str, timing: dict[str, dict[str, float]], **extra: Any) -> dict[str, Any]:
    row = {"case": case, **extra, **{f"{k}_{s}": round(v[s], 3) for k, v in timing.items() for s in v}}
    for s in ("median_ms", "min_ms", "cpu_median_ms", "cpu_min_ms"):
        row[f"speedup_{s[:-3]}"] = round(timing["before"][s] / timing["now"][s], 3)
    return row


def bench_against(rev: str, repeats: int) -> list[dict]:
    """This tree's encoder vs the one at ``rev``: encoder fwd, fwd+bwd (batch 8) and one ppo.update."""
    old = encoder_at(rev)
    makers = {"before": old.make_encoder, "now": encoder.make_encoder}
    fields = jax.random.normal(jax.random.key(2), (8, 5, *GRIDS["taylor_green"]))
    params = jax.jit(SpectralEncoder().init)(jax.random.key(0), fields)
    rows = []
    for what in ("fwd", "fwd+bwd"):
        calls, outs = {}, {}
        for k, make in makers.items():
            enc = make("spectral", encoder._LATENT_DIM, encoder._FOURIER_MODES)
            fn = enc.apply if what == "fwd" else jax.grad(lambda p, f, enc=enc: jnp.sum(jnp.sin(enc.apply(p, f))))
            calls[k] = partial(jax.jit(fn), params, fields)
            outs[k] = calls[k]()
        diff = max(float(jnp.max(jnp.abs(a - b))) for a, b in zip(jax.tree.leaves(outs["before"]),
                                                                   jax.tree.leaves(outs["now"])))
        rows.append(_ab_row(f"encoder {what}", interleaved(calls, repeats), grid=list(GRIDS["taylor_green"]), batch=8,
                            max_abs_diff=diff))
        print(_fmt_ab(rows[-1]), flush=True)
    original = networks.make_encoder
    calls, states = {}, {}
    try:
        for k, make in makers.items():
            networks.make_encoder = make
            jax.clear_caches()
            policy, rollout, cfg = _policy_and_rollout()
            args = (policy.agent, rollout, jnp.float32(0.0), jax.random.key(0))
            t = time.perf_counter()
            compiled = jax.jit(lambda *a: ppo._update(*a)).lower(*args).compile()
            print(f"ppo.update ({k}) compiled in {time.perf_counter() - t:.1f} s", flush=True)
            calls[k] = partial(compiled, *args)
            states[k] = calls[k]()[0].params
    finally:
        networks.make_encoder = original
    diff = max(float(jnp.max(jnp.abs(a - b))) for a, b in zip(jax.tree.leaves(states["before"]),
                                                               jax.tree.leaves(states["now"])))
    s = cfg.agent
    rows.append(_ab_row("ppo.update", interleaved(calls, repeats), grid=list(GRIDS["taylor_green"]),
                        rollout=int(rollout.rewards.shape[0]), epochs=s.update_epochs, minibatches=s.num_minibatches,
                        max_abs_param_diff=diff))
    print(_fmt_ab(rows[-1]), flush=True)
    return rows


def _fmt_ab(r: dict) -> str:
    diff = r.get("max_abs_diff", r.get("max_abs_param_diff"))
    return (f"{r['case']:16s} before {r['before_median_ms']:8.1f} ms (cpu {r['before_cpu_median_ms']:.1f})  now "
            f"{r['now_median_ms']:8.1f} ms (cpu {r['now_cpu_median_ms']:.1f})  before/now: "
            f"wall {r['speedup_median']:.2f} min {r['speedup_min']:.2f} cpu {r['speedup_cpu_median']:.2f} "
            f"cpu min {r['speedup_cpu_min']:.2f}  max |diff| {diff:.1e}")


def bench_crossover(repeats: int) -> list[dict]:
    rows = []
    for n, modes_list in ((16, (4, 6, 9)), (32, (4, 8, 12, 17)), (64, (4, 8, 16))):
        for m in modes_list:
            rows.append(bench_layer((n, n, n // 2), 4, m, repeats, grad=True))
            print(_fmt(rows[-1]), flush=True)
    return rows


def _fmt(r: dict) -> str:
    where = "x".join(map(str, r["grid"])) + (f" b{r['batch']}" if "batch" in r else "") + \
        (f" m{r['modes']}" if "modes" in r else "")
    return (f"{r['case']:16s} {where:18s} fft {r['fft_median_ms']:9.2f} ms  dft {r['dft_median_ms']:9.2f} ms  "
            f"fft/dft {r['ratio_median']:5.2f} (min {r['ratio_min']:5.2f}; cpu time: fft {r['fft_cpu_median_ms']:.1f}"
            f" dft {r['dft_cpu_median_ms']:.1f} ms, {r['ratio_cpu']:5.2f})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--quick", action="store_true", help="batch 16 only, no PPO update")
    ap.add_argument("--only", choices=("layer", "encoder", "update"), help="run one kind of case")
    ap.add_argument("--crossover", action="store_true", help="only the FFT/DFT crossover sweep")
    ap.add_argument("--update-options", action="store_true",
                    help="only: one ppo.update, default vs the learning-changing opt-ins (frozen targets, 2 epochs)")
    ap.add_argument("--against", metavar="REV", help="only: this tree's encoder vs the one at git revision REV")
    ap.add_argument("--json", type=Path, help="also write the results here")
    args = ap.parse_args()
    report: dict[str, Any] = {"machine_start": machine(), "repeats": args.repeats, "rows": []}
    print(f"machine: {report['machine_start']}", flush=True)
    rows = report["rows"]
    if args.update_options:
        rows.extend(bench_update_options(args.repeats))
    elif args.against:
        report["against"] = args.against
        rows.extend(bench_against(args.against, args.repeats))
    elif args.crossover:
        rows.extend(bench_crossover(args.repeats))
    else:
        batches = (16,) if args.quick else (1, 8, 16)
        for name, grid in GRIDS.items():
            for b in batches if args.only in (None, "layer") else ():
                rows.append(bench_layer(grid, b, encoder._FOURIER_MODES, args.repeats))
                print(_fmt(rows[-1]), flush=True)
            for b in batches if args.only in (None, "encoder") else ():
                rows.append(bench_encoder(grid, b, args.repeats))
                print(_fmt(rows[-1]), flush=True)
        if not args.quick and args.only in (None, "update"):
            rows.append(bench_update(args.repeats))
            print(_fmt(rows[-1]), flush=True)
    report["machine_end"] = machine()
    print(f"load average 1 min: {report['machine_start']['loadavg_1m']} at start, "
          f"{report['machine_end']['loadavg_1m']} at end ({report['machine_start']['cpus']} CPUs)")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
        print(f"wrote {args.json}", file=sys.stderr)


if __name__ == "__main__":
    main()
