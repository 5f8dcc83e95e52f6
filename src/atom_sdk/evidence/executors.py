"""Where ablation runs execute: in-process, a local spawn process pool, or a Ray cluster.

Why one small interface: the harness only needs "run this picklable function on these
tasks and hand me each result in the parent as soon as it finishes", so that the parent
(the single writer) can persist it atomically before anything else can go wrong. Results
carry their own identity, so completion order never affects the artifacts.

Running a sweep on an existing Ray cluster::

    # on the head node (once):   ray start --head --port=6379
    # on each worker node:       ray start --address=<head-ip>:6379
    # atom-oss-sdk[distributed] must be installed in the same Python on every node.
    atom ablate --world analytical:taylor_green --grid 32 32 16 --steps 200 \\
        --seeds 0 1 2 3 4 5 --variant-set production --device cpu \\
        --executor ray --ray-address <head-ip>:6379 --out benchmark_results/platform_ablations

``--ray-address auto`` attaches to the cluster the current machine belongs to; no address
(or ``local``) starts a private local instance. Each run is one Ray task with
``num_cpus=1``; artifacts are written by the driver only, so the ``--out`` folder needs
to exist on the driver machine alone. A custom ``run_fn`` must be importable on the
workers (a module installed there, not a script's ``__main__``) unless it is picklable by
value.
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing as mp
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from atom_sdk.errors import ConfigError, DependencyMissingError

EXECUTORS = ("local", "ray", "serial")

OnResult = Callable[[Any], None]
OnTick = Callable[[int], None]


class Executor(Protocol):
    name: str

    def execute(self, fn: Callable[[Any], Any], tasks: Sequence[Any], *,
                on_result: OnResult, on_tick: OnTick) -> None: ...


class SerialExecutor:
    """In-process, one task at a time (debugging, and closures that cannot be pickled)."""

    name = "serial"

    def execute(self, fn, tasks, *, on_result, on_tick) -> None:
        for t in tasks:
            on_tick(1)
            on_result(fn(t))
        on_tick(0)


class LocalExecutor:
    """``ProcessPoolExecutor`` with a ``spawn`` context: no forked JAX/XLA state."""

    name = "local"

    def __init__(self, workers: int | None = None) -> None:
        self.workers = workers or os.cpu_count() or 1

    def execute(self, fn, tasks, *, on_result, on_tick) -> None:
        if not tasks:
            return
        ctx = mp.get_context("spawn")
        pool = cf.ProcessPoolExecutor(max_workers=min(self.workers, len(tasks)), mp_context=ctx)
        try:
            pending = {pool.submit(fn, t) for t in tasks}
            while pending:
                done, pending = cf.wait(pending, timeout=0.25, return_when=cf.FIRST_COMPLETED)
                for fut in done:
                    on_result(fut.result())
                on_tick(sum(1 for f in pending if f.running()))
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        pool.shutdown(wait=True)


class RayExecutor:
    """One Ray task per run; connects to ``address`` or starts a local instance."""

    name = "ray"

    def __init__(self, address: str | None = None, workers: int | None = None) -> None:
        try:
            import ray
        except ImportError as err:
            raise DependencyMissingError(
                "the ray executor needs Ray, which is not installed",
                hint="pip install 'atom-oss-sdk[distributed]', or use --executor local",
            ) from err
        self.ray = ray
        self.address = None if address in (None, "", "local") else address
        self.workers = workers

    def _init(self) -> bool:
        ray = self.ray
        if ray.is_initialized():
            return False
        if self.address is None:
            # Local instance: workers inherit the driver's import path so that functions
            # defined in modules on sys.path (e.g. a test module) unpickle there.
            path = os.pathsep.join(p for p in sys.path if p and os.path.isdir(p))
            try:
                ray.init(num_cpus=self.workers or os.cpu_count() or 1, include_dashboard=False,
                         log_to_driver=False, configure_logging=False,
                         runtime_env={"env_vars": {"PYTHONPATH": path}})
            except Exception as err:  # Ray raises bare Exception on a slow/failed start
                raise ConfigError(
                    f"could not start a local Ray instance: {err}",
                    hint="retry, start one with `ray start --head` and pass --ray-address "
                    "auto, or use --executor local",
                ) from err
        else:
            try:
                ray.init(address=self.address, log_to_driver=False)
            except Exception as err:  # ConnectionError and Ray's own exceptions
                raise ConfigError(
                    f"cannot connect to Ray at {self.address!r}: {err}",
                    hint="check the head address (ray status on the head node) or omit "
                    "--ray-address to start a local instance",
                ) from err
        return True

    def execute(self, fn, tasks, *, on_result, on_tick) -> None:
        if not tasks:
            return
        ray = self.ray
        started = self._init()
        pending: list = []
        try:
            remote = ray.remote(num_cpus=1, max_retries=0)(fn)
            pending = [remote.remote(t) for t in tasks]
            slots = max(1, int(ray.cluster_resources().get("CPU", 1)))
            while pending:
                done, pending = ray.wait(pending, num_returns=1, timeout=0.25)
                for ref in done:
                    on_result(ray.get(ref))
                on_tick(min(slots, len(pending)))
        except BaseException:
            for ref in pending:
                ray.cancel(ref, force=True)
            raise
        finally:
            if started:
                ray.shutdown()


def make_executor(name: str, *, workers: int | None = None,
                  ray_address: str | None = None) -> Executor:
    """Build an executor by name; unknown names are a ``ConfigError``."""
    if workers is not None and workers < 1:
        raise ConfigError(f"workers must be >= 1, got {workers}", hint="pass --workers 1 or more")
    if name == "local":
        return LocalExecutor(workers)
    if name == "ray":
        return RayExecutor(ray_address, workers)
    if name == "serial":
        return SerialExecutor()
    raise ConfigError(f"unknown executor {name!r}", hint=f"use one of {', '.join(EXECUTORS)}")
