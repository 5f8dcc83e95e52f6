"""Closed-loop throughput: the host-stepped runner per variant, and N seeds vectorised.

(a) Environment steps per second of ``run_experiment`` for every variant on Taylor–Green
    32x32x16 and on the cylinder channel (176x36x1). Steady-state rate is measured from
    per-step timestamps after the first PPO update (so jit compilation is excluded); the time
    to that point beyond steady-state cost is reported as ``startup_s`` (world build, first
    act/update compiles; later variants reuse compiled programs of the same shapes).
(c) Start-up with JAX's persistent compilation cache: the same config run in three fresh processes,
    cache off (the reference), cold cache and warm cache; time to the first step, programs compiled
    and seconds spent compiling, as each run records them under ``timings``.
(d) The device loop (``loop: "device"``: each segment between PPO updates one ``lax.scan``, replayed
    through the safety envelope on the host) beside the host-stepped loop (``loop: "host"``), same
    config and seed, in one process, for ``ppo_baseline``, ``no_scientist`` and ``v2_hybrid`` (its segments
    also cut at the scientist's fits) on Taylor-Green 32x32x16: steady steps/s and wall time (best of two alternated tries each; the first try of each
    compiles), and how far the two runs' returns differ.
(e) Issue 19's goal: ``v2_hybrid`` on Taylor-Green 32x32x16 over a 2,000-step run, as the product ran
    before the issue (the host-stepped loop with the FFT spectral convolution, the reference) and as it
    runs now (``loop: "auto"``, the device loop, with the encoder's ``"auto"`` transform, the truncated DFT
    here); each in a fresh process (so neither reuses the other's compiled programs), persistent
    compilation cache as configured; steps/s over the whole run and steady, and the ratio.
(b) N = 8 seeds of ``ppo_baseline`` trained as one ``jit(vmap(train))`` program versus the same
    jitted single-seed program called 8 times, and versus 8 host-stepped runs (safety off in
    both so they do the same work). The ratios are the in-process reference. Then N = 8 seeds of
    ``v2_hybrid`` (a scientist variant) through ``train_seeds_vectorized``: the seeds' segments
    between refits as one vmapped device program, one host scientist per seed, versus 8
    host-stepped runs; wall time with and without compilation, and whether the laws and returns agree.

(f) Issue 19's sweep: ``atom ablate``'s harness on ``v2_residual`` vs ``ppo_baseline``, 12 seeds x 200 steps on
    Taylor-Green 32x32x16, safety envelope off, once with the seed-vectorised executor (one program per
    variant) and once with a per-run executor (``serial`` in this process, or ``local``: a process pool), in
    one process; wall time, steps/s, this process's CPU time (and its children's), the load average, and
    whether the two sweeps' claims and per-seed metrics agree.

    PYTHONPATH=src venv/bin/python benchmarks/bench_closed_loop.py [--quick] [--out PATH] [--loops-only]
        [--science-seeds-only] [--sweep-only [--sweep-per-run local|serial] [--sweep-seeds N] [--sweep-steps N]]
"""

from __future__ import annotations

import argparse
import json
import os

# XLA:CPU's multi-threaded Eigen pool can wedge (block_until_ready never returns) on long vmapped
# programs; this was seen twice here on 2 cores. Single-threaded Eigen avoids it (set before jax loads).
if "--xla_cpu_multi_thread_eigen" not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_cpu_multi_thread_eigen=false").strip()
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from atom_sdk.config import VARIANTS, RunConfig, build_run_config
from atom_sdk.experiment.runner import run_experiment
from atom_sdk.experiment.vectorized import make_seed_trainer, train_seeds_vectorized

WORLDS = {
    "taylor_green_32x32x16": {"name": "analytical:taylor_green", "grid": [32, 32, 16]},
    "cylinder_176x36x1": {"name": "lbm2d:cylinder", "grid": [176, 36, 1]},
}


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f} (1/5/15 min, {os.cpu_count()} cores)"


def timed_run(config: RunConfig) -> dict[str, Any]:
    """One runner call; steady steps/s from per-step timestamps after the first update."""
    stamps: dict[int, float] = {}
    k0 = config.agent.rollout_length
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        results = run_experiment(config, Path(tmp) / "run",
                                 progress=lambda step, total, info: stamps.__setitem__(step, time.perf_counter()))
        wall = time.perf_counter() - t0
    n = config.steps
    steady = (n - k0) / (stamps[n] - stamps[k0]) if n > k0 else float("nan")
    return {"steps": n, "steady_steps_per_s": steady, "startup_s": (stamps[k0] - t0) - k0 / steady,
            "wall_s": wall, "mean_return": results["summary"]["mean_return"], "loop": results["timings"].get("loop"),
            "compilations": results["timings"].get("compilations"),
            "laws": [law["equation"] for law in results["laws"]], "final_trust": results["summary"]["final_trust"]}


def bench_loops(quick: bool,
                variants: tuple[str, ...] = ("ppo_baseline", "no_scientist", "v2_hybrid")) -> list[dict[str, Any]]:
    """(d) host-stepped vs device loop, same config and seed, in this process (safety envelope on)."""
    steps = 256 if quick else 1024
    rows = []
    for variant in variants:
        base = {"world": WORLDS["taylor_green_32x32x16"], "steps": steps, "variant": variant, "seed": 0}
        tries: dict[str, list[dict[str, Any]]] = {"host": [], "device": []}
        for _ in range(2):  # alternated, best of two: the machine is shared and its load swings
            for loop in ("host", "device"):
                tries[loop].append(timed_run(build_run_config({**base, "loop": loop})))
        host, device = (max(tries[loop], key=lambda r: r["steady_steps_per_s"]) for loop in ("host", "device"))
        row = {"world": "taylor_green_32x32x16", "variant": variant, "steps": steps, "host": host, "device": device,
               "steady_speedup": device["steady_steps_per_s"] / host["steady_steps_per_s"],
               "wall_speedup": host["wall_s"] / device["wall_s"],
               "mean_return_rel_diff": abs(device["mean_return"] - host["mean_return"]) / abs(host["mean_return"]),
               "load": load()}
        rows.append(row)
        print(f"  {variant:<14} host {host['steady_steps_per_s']:8.1f} steps/s ({host['wall_s']:.1f} s), device "
              f"{device['steady_steps_per_s']:8.1f} steps/s ({device['wall_s']:.1f} s): x{row['steady_speedup']:.1f} "
              f"steady, x{row['wall_speedup']:.1f} wall; returns differ by {row['mean_return_rel_diff']:.1e} "
              f"(load {load()})", flush=True)
    return rows


_GOAL_SCRIPT = """
import json, os, sys, tempfile, time
from pathlib import Path
if os.environ.get("ATOM_BENCH_SPECTRAL") == "fft":  # the reference: the spectral layers as rfftn/irfftn
    import atom_sdk.agent.encoder as encoder
    encoder.dft_is_faster = lambda *args, **kwargs: False
from atom_sdk.config import build_run_config
from atom_sdk.experiment.runner import run_experiment
cfg = build_run_config(json.loads(sys.argv[1]))
stamps, cpu_at = {}, {}
def progress(step, total, info):
    stamps[step], cpu_at[step] = time.perf_counter(), time.process_time()
with tempfile.TemporaryDirectory() as tmp:
    t0, c0 = time.perf_counter(), time.process_time()
    r = run_experiment(cfg, Path(tmp) / "run", progress=progress)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
k0, n = cfg.agent.rollout_length, cfg.steps
steady = stamps[n] - stamps[k0]
# CPU seconds of this process (all threads): the whole run, and the steady part (after the first rollout,
# so without the compilations, which a warm or cold persistent cache makes differ between legs)
steady_cpu = cpu_at[n] - cpu_at[k0]
print("RESULT " + json.dumps({"wall_s": wall, "steps_per_s": n / wall, "steady_s": steady, "steady_steps_per_s": (n - k0) / steady,
      "run_cpu_s": cpu, "cpu_ms_per_step": 1e3 * cpu / n, "steady_cpu_s": steady_cpu,
      "steady_cpu_ms_per_step": 1e3 * steady_cpu / (n - k0),
      "first_step_s": r["timings"].get("first_step_seconds"), "loop": r["timings"].get("loop"),
      "compilations": r["timings"].get("compilations"), "mean_return": r["summary"]["mean_return"],
      "laws": [l.get("equation") for l in r["laws"]]}))
"""

#: (e)'s opt-in legs (``--goal-options``): they change the learning, so they are never the default; each is
#: (label, run-config overrides, extra environment)
GOAL_OPTIONS = (
    ("optin_frozen_targets", {"agent": {"frozen_targets": True}}, {}),
    ("optin_update_epochs_2", {"agent": {"update_epochs": 2}}, {}),
    ("optin_both", {"agent": {"update_epochs": 2, "frozen_targets": True}}, {}),
)


def bench_goal(steps: int, options: bool = False, reference: bool = True) -> dict[str, Any]:
    """(e) v2_hybrid, Taylor-Green 32x32x16: the pre-issue product (host loop + FFT) vs now, fresh processes;
    with ``options`` also the opt-in legs of ``GOAL_OPTIONS`` (each against ``now_auto``: CPU and results)."""
    import subprocess
    import sys

    base = {"world": WORLDS["taylor_green_32x32x16"], "variant": "v2_hybrid", "steps": steps, "seed": 0}
    legs: list[tuple[str, dict[str, Any], dict[str, str]]] = []
    if reference:
        legs.append(("reference_host_fft", {"loop": "host"}, {"ATOM_BENCH_SPECTRAL": "fft"}))
    legs.append(("now_auto", {"loop": "auto"}, {"ATOM_BENCH_SPECTRAL": "auto"}))
    legs += [(label, {"loop": "auto", **cfg}, env) for label, cfg, env in GOAL_OPTIONS] if options else []
    runs: dict[str, Any] = {}
    for label, overrides, extra in legs:
        # as a user's `atom run` runs: without this script's single-threaded-Eigen workaround (XLA_FLAGS above)
        flags = " ".join(f for f in os.environ.get("XLA_FLAGS", "").split() if "multi_thread_eigen" not in f)
        env = {**os.environ, **extra, "XLA_FLAGS": flags}
        done = subprocess.run([sys.executable, "-c", _GOAL_SCRIPT, json.dumps({**base, **overrides})], env=env,
                              capture_output=True, text=True, timeout=3600, check=True)
        runs[label] = json.loads([x for x in done.stdout.splitlines() if x.startswith("RESULT ")][-1][7:])
        r = runs[label]
        print(f"  {label:<22} {r['steps_per_s']:7.2f} steps/s over the run, {r['steady_steps_per_s']:7.2f} steady, "
              f"{r['wall_s']:.0f} s, {r['cpu_ms_per_step']:.1f} CPU-ms/step ({r['steady_cpu_ms_per_step']:.1f} steady), "
              f"loop {r['loop']}, "
              f"{r['compilations']} programs, mean return {r['mean_return']:.4f} (load {load()})", flush=True)
    now = runs["now_auto"]
    out = {"world": "taylor_green_32x32x16", "variant": "v2_hybrid", "steps": steps, **runs,
           "goal": ">= 5x steps/s on the 2-core CPU", "load": load()}
    if reference:
        ref = runs["reference_host_fft"]
        out.update(speedup_whole_run=now["steps_per_s"] / ref["steps_per_s"],
                   speedup_steady=now["steady_steps_per_s"] / ref["steady_steps_per_s"],
                   cpu_ratio=ref["run_cpu_s"] / now["run_cpu_s"],
                   steady_cpu_ratio=ref["steady_cpu_s"] / now["steady_cpu_s"])
        out["goal_met"] = out["speedup_whole_run"] >= 5.0
        print(f"  speed-up x{out['speedup_whole_run']:.2f} over the run, x{out['speedup_steady']:.2f} steady, "
              f"x{out['cpu_ratio']:.2f} in CPU seconds (goal x5: {'met' if out['goal_met'] else 'not met'})", flush=True)
    for label, *_ in GOAL_OPTIONS if options else ():
        r = runs[label]
        r["cpu_ratio_to_now"] = now["run_cpu_s"] / r["run_cpu_s"]
        r["steady_cpu_ratio_to_now"] = now["steady_cpu_s"] / r["steady_cpu_s"]
        r["mean_return_rel_diff_to_now"] = abs(r["mean_return"] - now["mean_return"]) / abs(now["mean_return"])
        r["same_laws_as_now"] = r["laws"] == now["laws"]
        print(f"  {label:<22} x{r['cpu_ratio_to_now']:.2f} less CPU than now_auto (x{r['steady_cpu_ratio_to_now']:.2f} "
              f"steady); mean return differs by "
              f"{r['mean_return_rel_diff_to_now']:.1%}; same laws {r['same_laws_as_now']}", flush=True)
    return out


def bench_variants(quick: bool) -> list[dict[str, Any]]:
    rows = []
    for label, world in WORLDS.items():
        steps = (96 if quick else 192) if label.startswith("taylor") else (64 if quick else 128)
        for variant in VARIANTS:
            cfg = build_run_config({"world": world, "steps": steps, "variant": variant, "seed": 0})
            row = {"world": label, "variant": variant, **timed_run(cfg)}
            rows.append(row)
            print(f"  {label:<24}{variant:<14}{row['steady_steps_per_s']:>10.1f} steps/s"
                  f"{row['startup_s']:>9.1f} s startup   ({steps} steps, load {load()})", flush=True)
    return rows


_STARTUP_SCRIPT = """
import json, sys, tempfile
from pathlib import Path
from atom_sdk.config import build_run_config
from atom_sdk.experiment.runner import run_experiment
cfg = build_run_config(json.loads(sys.argv[1]))
with tempfile.TemporaryDirectory() as tmp:
    t = run_experiment(cfg, Path(tmp) / "run")["timings"]
print("RESULT " + json.dumps(t))
"""


def bench_startup(world: str, variant: str, steps: int) -> dict[str, Any]:
    """Time to first step and compilations: cache off, cold cache, warm cache (fresh processes)."""
    import subprocess
    import sys

    config = json.dumps({"world": WORLDS[world], "variant": variant, "steps": steps, "seed": 0})
    rows: dict[str, Any] = {"world": world, "variant": variant, "steps": steps}
    with tempfile.TemporaryDirectory() as cache:
        for label, setting in (("cache_off", "off"), ("cold_cache", cache), ("warm_cache", cache)):
            env = {**os.environ, "ATOM_COMPILATION_CACHE": setting}
            env.pop("JAX_COMPILATION_CACHE_DIR", None)
            t = time.perf_counter()
            done = subprocess.run([sys.executable, "-c", _STARTUP_SCRIPT, config], env=env, capture_output=True,
                                  text=True, timeout=1800, check=True)
            process_s = time.perf_counter() - t
            timings = json.loads([x for x in done.stdout.splitlines() if x.startswith("RESULT ")][-1][7:])
            rows[label] = {"process_s": process_s, **{k: timings.get(k) for k in (
                "first_step_seconds", "compilations", "cache_hits", "compile_seconds", "wall_seconds")}}
            print(f"  {world:<24}{variant:<14}{label:<12} first step {timings['first_step_seconds']:6.2f} s, "
                  f"{timings['compilations']} programs ({timings['cache_hits']} from cache), "
                  f"{timings['compile_seconds']:.2f} s compiling, run {timings['wall_seconds']:.1f} s", flush=True)
    rows["first_step_speedup_warm_vs_off"] = (rows["cache_off"]["first_step_seconds"]
                                              / rows["warm_cache"]["first_step_seconds"])
    rows["load"] = load()
    return rows


def bench_seeds(world: str, steps: int, n_seeds: int, runner_steps: int) -> dict[str, Any]:
    """Vectorised vs sequential-jitted vs host-runner for n_seeds of ppo_baseline."""
    base = {"world": WORLDS[world], "variant": "ppo_baseline", "safety": {"enabled": False}}
    cfg = build_run_config({**base, "steps": steps})
    trainer = make_seed_trainer(cfg)
    seeds = jnp.arange(n_seeds, dtype=jnp.int32)

    t = time.perf_counter()
    vec = jax.jit(jax.vmap(trainer.train)).lower(seeds).compile()
    vec_compile = time.perf_counter() - t
    t = time.perf_counter()
    single = jax.jit(trainer.train).lower(seeds[0]).compile()
    seq_compile = time.perf_counter() - t

    vec_times, seq_times = [], []
    for _ in range(2):  # best of two; the machine is shared
        t = time.perf_counter()
        vec_out = jax.block_until_ready(vec(seeds))
        vec_times.append(time.perf_counter() - t)
        t = time.perf_counter()
        seq_out = [jax.block_until_ready(single(s)) for s in seeds]
        seq_times.append(time.perf_counter() - t)
    vec_s, seq_s = min(vec_times), min(seq_times)
    vec_ret = np.asarray(vec_out["mean_return"], dtype=float)
    seq_ret = np.asarray([o["mean_return"] for o in seq_out], dtype=float)

    runner_cfg = build_run_config({**base, "steps": runner_steps, "loop": "host"})  # the host-stepped reference
    t = time.perf_counter()
    runs = [timed_run(runner_cfg.model_copy(update={"seed": int(s)})) for s in range(n_seeds)]
    runner_wall = time.perf_counter() - t
    runner_steady = float(np.mean([r["steady_steps_per_s"] for r in runs]))

    total = n_seeds * steps
    out = {
        "world": world, "n_seeds": n_seeds, "steps_per_seed": steps, "runner_steps_per_seed": runner_steps,
        "vectorized": {"compile_s": vec_compile, "run_s": vec_s, "steps_per_s": total / vec_s},
        "sequential_jit": {"compile_s": seq_compile, "run_s": seq_s, "steps_per_s": total / seq_s},
        "host_runner": {"wall_s": runner_wall, "steps_per_s_incl_startup": n_seeds * runner_steps / runner_wall,
                        "steady_steps_per_s": runner_steady},
        "speedup_vs_sequential_jit": seq_s / vec_s,
        "speedup_vs_host_runner_steady": (total / vec_s) / runner_steady,
        "speedup_vs_host_runner_wall": (total / vec_s) / (n_seeds * runner_steps / runner_wall),
        "max_rel_diff_vectorized_vs_sequential": float(np.max(np.abs(vec_ret - seq_ret) / np.abs(seq_ret))),
        "mean_return_per_seed": vec_ret.tolist(),
        "load": load(),
    }
    if runner_steps == steps:
        host_ret = np.asarray([r["mean_return"] for r in runs], dtype=float)
        out["max_rel_diff_vectorized_vs_runner"] = float(np.max(np.abs(vec_ret - host_ret) / np.abs(host_ret)))
    return out


def bench_science_seeds(world: str, variant: str, steps: int, n_seeds: int, workers: int = 1) -> dict[str, Any]:
    """(b) ``n_seeds`` of a scientist variant: ``train_seeds_vectorized`` (device segments between host
    refits; called twice, the second time compiled) vs as many host-stepped runs, safety off, one process."""
    base = {"world": WORLDS[world], "variant": variant, "steps": steps, "safety": {"enabled": False}, "seed": 0}
    seeds = list(range(n_seeds))
    config = build_run_config(base)
    t = time.perf_counter()
    first = train_seeds_vectorized(config, seeds, workers=workers)
    first_s = time.perf_counter() - t
    t = time.perf_counter()
    vec = train_seeds_vectorized(config, seeds, workers=workers)
    vec_s = time.perf_counter() - t
    t = time.perf_counter()
    host = [timed_run(build_run_config({**base, "seed": s, "loop": "host"})) for s in seeds]
    host_s = time.perf_counter() - t
    total = n_seeds * steps
    host_steady = float(np.mean([h["steady_steps_per_s"] for h in host]))
    vec_ret = np.asarray(vec["mean_return"], dtype=float)
    host_ret = np.asarray([h["mean_return"] for h in host], dtype=float)
    vec_laws = [[law["equation"] for law in p["laws"]] for p in vec["per_seed"]]
    out = {
        "world": world, "variant": variant, "n_seeds": n_seeds, "steps_per_seed": steps, "workers": workers,
        "vectorized": {"first_call_s": first_s, "run_s": vec_s, "steps_per_s": total / vec_s,
                       "steps_per_s_first_call": total / first_s, "timings": vec["timings"],
                       "first_call_timings": first["timings"]},
        "host_runner": {"wall_s": host_s, "steps_per_s": total / host_s, "steady_steps_per_s": host_steady},
        "speedup_vs_host_wall": host_s / vec_s,
        "speedup_first_call_vs_host_wall": host_s / first_s,
        "speedup_vs_host_steady": (total / vec_s) / host_steady,
        "same_laws": vec_laws == [h["laws"] for h in host],
        "laws_per_seed": vec_laws,
        "max_rel_diff_mean_return": float(np.max(np.abs(vec_ret - host_ret) / np.abs(host_ret))),
        "max_abs_diff_final_trust": float(max(abs(p["final_trust"] - (h["final_trust"] or 0.0))
                                              for p, h in zip(vec["per_seed"], host))),
        "load": load(),
    }
    print(f"  {variant} {world} {n_seeds} seeds x {steps} steps: vectorised {total / vec_s:.1f} steps/s "
          f"({vec_s:.1f} s; first call {first_s:.1f} s), host runs {total / host_s:.1f} steps/s ({host_s:.1f} s): "
          f"x{out['speedup_vs_host_wall']:.1f} wall, x{out['speedup_first_call_vs_host_wall']:.1f} with compilation; "
          f"same laws {out['same_laws']}, returns differ by {out['max_rel_diff_mean_return']:.1e} (load {load()})",
          flush=True)
    return out


def _cpu_s() -> dict[str, float]:
    """CPU seconds of this process (all its threads) and of its finished children."""
    import resource

    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return {"self": me.ru_utime + me.ru_stime, "children": kids.ru_utime + kids.ru_stime}


def _sweep_against(vec: dict[str, Any], recorded: dict[str, Any], n_seeds: int, steps: int,
                   device: str) -> dict[str, Any]:
    """The vectorised leg beside a recorded host-stepped leg of the same sweep (claims and decisions)."""
    rec = recorded.get("sweep", recorded)
    if (rec.get("n_seeds"), rec.get("steps_per_run")) != (n_seeds, steps):
        raise SystemExit(f"--sweep-against records {rec.get('n_seeds')} seeds x {rec.get('steps_per_run')} steps, "
                         f"not {n_seeds} x {steps}")
    vec.pop("_runs")
    claims = [list(c) for c in vec.pop("_claims")]
    decisions = [c[1] for c in claims]
    out = {"world": "taylor_green_32x32x16", "variants": ["v2_residual", "ppo_baseline"], "n_seeds": n_seeds,
           "steps_per_run": steps, "safety_envelope": False, "device": device, "vectorized": vec,
           "per_run_recorded": {"executor": rec["per_run"]["executor"], "wall_s": rec["per_run"]["wall_s"],
                                "claims": rec["per_run"]["claims"], "decisions": rec["decisions"],
                                "device": recorded.get("device")},
           "decisions": decisions, "same_claims": decisions == rec["decisions"],
           "goal": "< 30 s wall on a GPU for 12 seeds x 200 steps, identical claims to the host-stepped harness",
           "goal_met": vec["wall_s"] < 30.0 and decisions == rec["decisions"], "load": load()}
    print(f"  vectorised on {device}: {vec['wall_s']:.1f} s wall; decisions {decisions}; recorded host-stepped "
          f"{rec['decisions']}; same {out['same_claims']}; goal met {out['goal_met']}", flush=True)
    return out


def _sweep_claims(out: Path) -> list[tuple[Any, ...]]:
    records = json.loads((out / "platform_ablation_significance.json").read_text())["records"]
    return [(r["id"], r["decision"], r["claim_id"], r["n"]) for r in records]


def _sweep_leg(label: str, executor: str, out: Path, steps: int, seeds: list[int], device: str,
               workers: int | None) -> dict[str, Any]:
    """One leg of (f): the ablation sweep by ``executor`` into ``out``, its wall and CPU time and claims."""
    from atom_sdk.evidence.ablation import run_ablation

    world = WORLDS["taylor_green_32x32x16"]
    n_seeds = len(seeds)
    cpu0, load0, t0 = _cpu_s(), load(), time.perf_counter()
    res = run_ablation(world["name"], world["grid"], steps, seeds, "production", device, out, {}, executor,
                       workers, progress=False, safety=False, variants=["v2_residual"])
    wall = time.perf_counter() - t0
    cpu1 = _cpu_s()
    runs = json.loads((out / "runs.json").read_text())["runs"]
    leg = {
        "executor": executor, "workers": workers, "wall_s": wall,
        "steps_per_s": 2 * n_seeds * steps / wall,
        "cpu_s": {k: cpu1[k] - cpu0[k] for k in cpu1}, "load_before": load0, "load_after": load(),
        "ok": res["ok"], "failed": res["failed"], "claims": res["claims"],
        "manifest_executor": json.loads((out / "manifest.json").read_text())["executor"],
        "group_timings": {r["variant"]: {k: v for k, v in r["timing"].items() if k.startswith("runner_")}
                          for r in runs if r["seed"] == seeds[0]} if executor == "vectorized" else None,
        "_claims": _sweep_claims(out), "_runs": runs,
    }
    if executor == "vectorized":  # where each group's time went: device segments, host fits, PPO updates
        files = {r["variant"]: out / "runs" / f"{r['variant']}__seed{r['seed']}" / "vectorized_result.json"
                 for r in runs if r["seed"] == seeds[0]}
        leg["seconds_in"] = {v: json.loads(f.read_text())["trainer"]["timings"].get("seconds_in")
                             for v, f in files.items()}
    print(f"  {label:<11} ({executor}): {wall:7.1f} s wall, {leg['steps_per_s']:6.1f} steps/s, "
          f"CPU {leg['cpu_s']['self']:.0f} s (+{leg['cpu_s']['children']:.0f} s children), "
          f"{res['ok']}/{2 * n_seeds} ok, claims {res['claims'] or 'none'} (load {load()})", flush=True)
    return leg


def _sweep_compared(vec: dict[str, Any], host: dict[str, Any], n_seeds: int, steps: int) -> dict[str, Any]:
    """The two legs of (f) side by side: speed-up, same claims, and each metric's largest relative difference."""
    worst: dict[str, float] = {}
    for a, b in zip(vec.pop("_runs"), host.pop("_runs")):
        for k, x in b["metrics"].items():
            y = a["metrics"].get(k)
            if isinstance(x, (int, float)) and isinstance(y, (int, float)) and not isinstance(x, bool):
                worst[k] = max(worst.get(k, 0.0), abs(y - x) / max(abs(x), 1e-12))
    claims_v, claims_h = vec.pop("_claims"), host.pop("_claims")
    out = {"world": "taylor_green_32x32x16", "variants": ["v2_residual", "ppo_baseline"], "n_seeds": n_seeds,
           "steps_per_run": steps, "safety_envelope": False, "vectorized": vec, "per_run": host,
           "speedup_wall": host["wall_s"] / vec["wall_s"],
           "same_claims": claims_v == claims_h, "decisions": [c[1] for c in claims_h],
           "max_rel_diff_per_metric": worst,
           "goal": "< 30 s wall on a GPU for 12 seeds x 200 steps, identical claims to the host-stepped harness",
           "load": load()}
    print(f"  speed-up x{out['speedup_wall']:.2f} wall; same claims {out['same_claims']}; largest relative metric "
          f"difference {max(worst.values(), default=0.0):.1e}", flush=True)
    return out


def bench_sweep(n_seeds: int, steps: int, per_run: str, workers: int | None, device: str = "cpu",
                against: Path | None = None) -> dict[str, Any]:
    """(f) The ablation harness, seed-vectorised executor vs a per-run executor, same sweep, same process.

    ``device`` runs the sweep there (``gpu`` for the issue's goal). ``against``: instead of running the
    per-run (host-stepped) leg again, compare the claims with the ``per_run`` leg recorded in that JSON
    (a report of this script for the same sweep): on a GPU the host-stepped leg alone would take most
    of a lease, and its claims do not depend on where it ran.
    """
    seeds = list(range(n_seeds))
    plan = (("vectorized", "vectorized"),) if against is not None else (("vectorized", "vectorized"), ("per_run", per_run))
    with tempfile.TemporaryDirectory() as tmp:
        legs = {label: _sweep_leg(label, executor, Path(tmp) / label, steps, seeds, device, workers)
                for label, executor in plan}
    if against is not None:
        return _sweep_against(legs["vectorized"], json.loads(Path(against).read_text()), n_seeds, steps, device)
    return _sweep_compared(legs["vectorized"], legs["per_run"], n_seeds, steps)


def build_parser() -> argparse.ArgumentParser:
    """The command line: which parts run (default all but (e) and (f)) and the sweep's settings."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer steps (about a third of the time)")
    parser.add_argument("--out", default="benchmark_results/closed_loop_bench.json")
    parser.add_argument("--skip-variants", action="store_true", help="only the vectorised speed-up part")
    parser.add_argument("--startup-only", action="store_true", help="only (c), the compilation-cache start-up")
    parser.add_argument("--loops-only", action="store_true", help="only (d), the device loop beside the host loop")
    parser.add_argument("--goal-only", action="store_true",
                        help="only (e), issue 19's goal: v2_hybrid 2,000 steps, pre-issue loop vs now")
    parser.add_argument("--goal-options", action="store_true",
                        help="with --goal-only: also the opt-in legs that change the learning (GOAL_OPTIONS)")
    parser.add_argument("--goal-no-reference", action="store_true",
                        help="with --goal-only: skip the host-loop + FFT reference leg (its figure is 12.24 steps/s)")
    parser.add_argument("--science-seeds-only", action="store_true",
                        help="only (b)'s scientist part: 8 seeds of v2_hybrid vectorised vs 8 host-stepped runs")
    parser.add_argument("--sweep-only", action="store_true",
                        help="only (f), issue 19's sweep: v2_residual vs ppo_baseline, vectorised vs per-run executor")
    parser.add_argument("--sweep-per-run", default="serial", choices=("serial", "local"),
                        help="(f)'s per-run executor: serial (this process) or local (a process pool)")
    parser.add_argument("--sweep-seeds", type=int, default=None, help="(f)'s seeds (default 12; --quick 3)")
    parser.add_argument("--sweep-steps", type=int, default=None, help="(f)'s steps per run (default 200; --quick 48)")
    parser.add_argument("--sweep-workers", type=int, default=None, help="(f)'s workers (default: CPU count)")
    parser.add_argument("--sweep-device", default="cpu", choices=("cpu", "gpu", "auto"), help="(f)'s device")
    parser.add_argument("--sweep-against", default=None,
                        help="(f): compare with the per-run leg recorded in this JSON instead of running it again")
    return parser


def run_single_part(args: argparse.Namespace, report: dict[str, Any], science_steps: int) -> bool:
    """Run (f), (e) or (b)'s scientist part alone when asked (in that precedence); whether one ran."""
    if args.sweep_only:
        n, steps = args.sweep_seeds or (3 if args.quick else 12), args.sweep_steps or (48 if args.quick else 200)
        print(f"(f) issue 19's sweep: v2_residual vs ppo_baseline, {n} seeds x {steps} steps, Taylor-Green 32x32x16, "
              f"vectorised executor on {args.sweep_device} vs "
              f"{'the per-run leg recorded in ' + args.sweep_against if args.sweep_against else args.sweep_per_run}")
        report["sweep"] = bench_sweep(n, steps, args.sweep_per_run, args.sweep_workers, args.sweep_device,
                                      Path(args.sweep_against) if args.sweep_against else None)
        return True
    if args.goal_only:
        print("(e) v2_hybrid, Taylor-Green 32x32x16: host loop + FFT (before issue 19) vs now, fresh processes")
        report["goal"] = bench_goal(256 if args.quick else 2000, options=args.goal_options,
                                    reference=not args.goal_no_reference)
        return True
    if args.science_seeds_only:
        print("(b) v2_hybrid, 8 seeds: device segments between host refits vs 8 host-stepped runs")
        report["science_seeds"] = [bench_science_seeds("taylor_green_32x32x16", "v2_hybrid", science_steps, 8)]
        return True
    return False


def run_default_parts(args: argparse.Namespace, report: dict[str, Any], science_steps: int) -> bool:
    """(d), (c), (a) and (b) in that order, stopping after (d) or (c) when only that one is asked for;
    whether all ran (then the summary tables are printed)."""
    if not args.startup_only:
        print("(d) host-stepped loop vs device loop, Taylor-Green 32x32x16, one process")
        report["loops"] = bench_loops(args.quick)
        if args.loops_only:
            return False
    print("(c) start-up: cache off / cold / warm, fresh processes")
    report["startup"] = [bench_startup("taylor_green_32x32x16", v, 64) for v in ("v2_hybrid", "v2_residual")]
    if args.startup_only:
        return False
    if not args.skip_variants:
        print("(a) run_experiment closed-loop steady-state steps/s (compile excluded)")
        report["variants"] = bench_variants(args.quick)
    print("(b) ppo_baseline, 8 seeds: one vmapped program vs 8 sequential calls vs 8 host-stepped runs")
    tg_steps = 1024 if args.quick else 4096
    cyl_steps = 64 if args.quick else 128
    report["seeds"] = [
        bench_seeds("taylor_green_32x32x16", tg_steps, 8, 256 if args.quick else 512),
        bench_seeds("cylinder_176x36x1", cyl_steps, 8, cyl_steps),
    ]
    print("(b) v2_hybrid, 8 seeds: device segments between host refits vs 8 host-stepped runs")
    report["science_seeds"] = [bench_science_seeds("taylor_green_32x32x16", "v2_hybrid", science_steps, 8)]
    return True


def print_summary(report: dict[str, Any]) -> None:
    """The (a) and (b) tables on the terminal, for reading a run without opening the JSON."""
    if "variants" in report:
        print(f"\n{'world':<24}{'variant':<14}{'steps/s':>10}{'startup s':>11}")
        for r in report["variants"]:
            print(f"{r['world']:<24}{r['variant']:<14}{r['steady_steps_per_s']:>10.1f}{r['startup_s']:>11.1f}")
    print(f"\n{'world':<24}{'vmap 8 st/s':>12}{'seq-jit st/s':>13}{'runner st/s':>12}{'x seq-jit':>10}"
          f"{'x runner':>10}{'compile s (vmap/seq)':>22}")
    for s in report["seeds"]:
        print(f"{s['world']:<24}{s['vectorized']['steps_per_s']:>12.0f}{s['sequential_jit']['steps_per_s']:>13.0f}"
              f"{s['host_runner']['steady_steps_per_s']:>12.0f}{s['speedup_vs_sequential_jit']:>10.2f}"
              f"{s['speedup_vs_host_runner_steady']:>10.1f}"
              f"{s['vectorized']['compile_s']:>11.1f}/{s['sequential_jit']['compile_s']:.1f}")


def main() -> None:
    """Parse the command line, run the parts it asks for and write the report."""
    args = build_parser().parse_args()
    report: dict[str, Any] = {"quick": args.quick, "device": str(jax.devices()[0]), "jax": jax.__version__,
                              "python": platform.python_version(), "load_start": load()}
    print(f"device {report['device']}, load {report['load_start']}")
    science_steps = 64 if args.quick else 256
    if not run_single_part(args, report, science_steps) and run_default_parts(args, report, science_steps):
        print_summary(report)
    _write(report, args.out)


def _write(report: dict[str, Any], path: str) -> None:
    report["load_end"] = load()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    print(f"\nload at end {report['load_end']}; wrote {out}")


if __name__ == "__main__":
    main()
