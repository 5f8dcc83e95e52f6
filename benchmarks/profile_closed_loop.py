"""Where a closed-loop run's time goes: wall and process CPU seconds per phase of ``run_experiment``.

Why: the loop's speed-ups must be chosen from measurements on the code as it is (issue 19). Each
phase is timed by wrapping the function that does it, synchronously (the device segment is waited
on, as the loop itself waits on it when it copies the segment's outputs to the host), so the
phases add up to the run:

    segment     the segment program (``SegmentProgram``'s scan: world, encoder, policy, science)
    replay      recording a segment through the loop's own bookkeeping (envelope, telemetry, scientist),
                less the scientist's fits and the telemetry writes
    fit         ``Scientist.update`` calls that fit (the host's sparse regressions)
    ppo_update  ``ppo.update`` (the compiled PPO epochs), waited on
    last_value  ``ppo.value`` of the bootstrap observation, waited on
    update_rest ``_update`` less the two above (rollout stacking, host<->device copies, metrics)
    checkpoint  ``_checkpoint`` (serialising the agent, the scientist, the world; atomic write)
    telemetry   ``JsonlWriter.write``
    host_step   steps the host loop takes itself (outside segments)
    other       the run less all of the above (start-up: world, agent, compilation; results, figures)

CPU seconds are ``time.process_time`` (all threads of this process); CPU/wall above 1 means XLA used
more than one core in that phase. Nested phases are subtracted from their parents.

    PYTHONPATH=src venv/bin/python benchmarks/profile_closed_loop.py [--steps 2000] [--variant v2_hybrid]
        [--loop auto] [--out PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

import jax


class PhaseClock:
    """Exclusive wall and CPU seconds per phase (a nested phase's time is not its parent's)."""

    def __init__(self) -> None:
        self.wall: dict[str, float] = {}
        self.cpu: dict[str, float] = {}
        self.calls: dict[str, int] = {}
        self._stack: list[list[Any]] = []  # [name, wall0, cpu0, child_wall, child_cpu]

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        self._stack.append([name, time.perf_counter(), time.process_time(), 0.0, 0.0])
        try:
            yield
        finally:
            name, w0, c0, cw, cc = self._stack.pop()
            dw, dc = time.perf_counter() - w0, time.process_time() - c0
            self.wall[name] = self.wall.get(name, 0.0) + dw - cw
            self.cpu[name] = self.cpu.get(name, 0.0) + dc - cc
            self.calls[name] = self.calls.get(name, 0) + 1
            if self._stack:
                self._stack[-1][3] += dw
                self._stack[-1][4] += dc

    def wrap(self, name: str, fn: Callable[..., Any], block: bool = False) -> Callable[..., Any]:
        """``fn`` timed as phase ``name``; ``block`` waits for its device results."""
        clock = self

        def timed(*args: Any, **kwargs: Any) -> Any:
            with clock.phase(name):
                out = fn(*args, **kwargs)
                return jax.block_until_ready(out) if block else out

        return timed

    def table(self, total_wall: float, total_cpu: float) -> list[dict[str, Any]]:
        rows = [{"phase": k, "wall_s": self.wall[k], "cpu_s": self.cpu[k], "calls": self.calls[k],
                 "wall_share": self.wall[k] / total_wall} for k in self.wall]
        known_w, known_c = sum(self.wall.values()), sum(self.cpu.values())
        rows.append({"phase": "other", "wall_s": total_wall - known_w, "cpu_s": total_cpu - known_c, "calls": 1,
                     "wall_share": (total_wall - known_w) / total_wall})
        return sorted(rows, key=lambda r: -r["wall_s"])


def instrument(clock: PhaseClock) -> None:
    """Wrap the loop's phases (module attributes the runner and policy look up at call time)."""
    from atom_sdk.agent import ppo
    from atom_sdk.experiment import device_loop, runner
    from atom_sdk.science.scientist import Scientist
    from atom_sdk.artifacts import JsonlWriter

    ppo.update = clock.wrap("ppo_update", ppo.update, block=True)
    ppo.value = clock.wrap("last_value", ppo.value, block=True)
    runner._update = clock.wrap("update_rest", runner._update)
    runner._checkpoint = clock.wrap("checkpoint", runner._checkpoint)
    runner._device_segment = clock.wrap("replay", runner._device_segment)
    for name in ("_act", "_step"):
        setattr(runner, name, clock.wrap("host_step", getattr(runner, name)))
    JsonlWriter.write = clock.wrap("telemetry", JsonlWriter.write)
    original_update = Scientist.update

    def sci_update(self: Any, step: int) -> Any:
        name = "fit" if self._fit_due(step) else "science_observe"
        with clock.phase(name):
            return original_update(self, step)

    Scientist.update = sci_update
    build = device_loop.SegmentProgram.build.__func__

    def build_timed(cls: Any, *args: Any, **kwargs: Any) -> Any:
        return clock.wrap("segment", build(cls, *args, **kwargs), block=True)

    device_loop.SegmentProgram.build = classmethod(build_timed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--variant", default="v2_hybrid")
    parser.add_argument("--loop", default="auto", choices=("auto", "host", "device"))
    parser.add_argument("--out", default=None, help="write the table as JSON here")
    args = parser.parse_args()

    from atom_sdk.config import build_run_config
    from atom_sdk.experiment.runner import run_experiment

    clock = PhaseClock()
    instrument(clock)
    cfg = build_run_config({"world": {"name": "analytical:taylor_green", "grid": [32, 32, 16]},
                            "variant": args.variant, "steps": args.steps, "seed": 0, "loop": args.loop})
    load0 = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        w0, c0 = time.perf_counter(), time.process_time()
        results = run_experiment(cfg, Path(tmp) / "run")
        wall, cpu = time.perf_counter() - w0, time.process_time() - c0
    rows = clock.table(wall, cpu)
    print(f"{args.variant}, {args.steps} steps, loop {results['timings'].get('loop')}: {wall:.1f} s wall, "
          f"{cpu:.1f} s CPU ({args.steps / wall:.2f} steps/s, {cpu / args.steps * 1e3:.1f} CPU-ms/step), "
          f"load {load0[0]:.2f} -> {os.getloadavg()[0]:.2f}")
    print(f"{'phase':<16}{'wall s':>9}{'CPU s':>9}{'CPU/wall':>9}{'calls':>7}{'share':>8}")
    for r in rows:
        ratio = r["cpu_s"] / r["wall_s"] if r["wall_s"] > 0 else float("nan")
        print(f"{r['phase']:<16}{r['wall_s']:>9.2f}{r['cpu_s']:>9.2f}{ratio:>9.2f}{r['calls']:>7}"
              f"{100 * r['wall_share']:>7.1f}%")
    if args.out:
        Path(args.out).write_text(json.dumps({"variant": args.variant, "steps": args.steps, "wall_s": wall,
                                              "cpu_s": cpu, "load_before": load0, "load_after": os.getloadavg(),
                                              "timings": results["timings"], "phases": rows}, indent=2))


if __name__ == "__main__":
    main()
