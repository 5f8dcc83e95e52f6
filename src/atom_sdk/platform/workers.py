"""Worker processes: claim queued jobs from the store, run them, record progress and the outcome.

Why processes (``spawn``) and not threads: a run is seconds to hours of JAX and NumPy work; in
separate processes it neither blocks the web server nor shares its interpreter, a crashed job
cannot take the server down, and JAX is never initialised in a forked child. Workers die with the
server (``PR_SET_PDEATHSIG`` on Linux, plus a parent check), and a job a dead worker left
``running`` is marked ``interrupted`` so it can be resumed from its checkpoint.

Cancellation is cooperative: the progress callback reads the job's ``cancel_requested`` flag (at
most every ``progress_every_seconds``) and raises :class:`JobCancelled`, which the worker records.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import signal
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Any, Callable

from atom_sdk.artifacts import JsonlWriter, write_json
from atom_sdk.errors import AtomError
from atom_sdk.platform.jobfiles import TELEMETRY, TIMELINE, write_field_snapshot
from atom_sdk.platform.settings import PlatformSettings
from atom_sdk.platform.store import Store

log = logging.getLogger("atom.platform.workers")


class JobCancelled(Exception):
    """Raised inside a job when its cancel flag is set."""


class JobInterrupted(Exception):
    """Raised inside a job when the worker is asked to stop (server shutdown)."""


class StopFlag:
    """Shared stop flag over a lock-free shared byte.

    Why not ``multiprocessing.Event``: its condition variable can dead-lock ``set()`` when a process
    that was waiting on it has been SIGKILLed, which is exactly what happens to workers here.
    """

    def __init__(self, raw: Any) -> None:
        self.raw = raw

    def is_set(self) -> bool:
        return bool(self.raw.value)

    def set(self) -> None:
        self.raw.value = 1

    def wait(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while not self.is_set() and time.monotonic() < deadline:
            time.sleep(min(0.05, timeout))
        return self.is_set()


class JobContext:
    """What a running job sees: its folder, throttled progress writes and the cancel/stop checks."""

    def __init__(self, store: Store, settings: PlatformSettings, job: dict[str, Any], token: str,
                 stop: Any = None, parent_pid: int | None = None) -> None:
        self.store, self.settings, self.job, self.token = store, settings, job, token
        self.dir = settings.jobs_dir / job["id"]
        self.stop, self.parent_pid = stop, parent_pid
        self._last_progress = 0.0
        self._last_check = 0.0
        self._control = "run"
        self._cancel = False
        self._lock = threading.Lock()
        self._pending: tuple[int, int, dict[str, Any] | None] | None = None
        self._flusher: threading.Thread | None = None
        self._closed = threading.Event()

    def poll(self, force: bool = False) -> tuple[bool, str]:
        """(cancel requested, control), read from the store at most every ``progress_every_seconds``."""
        now = time.monotonic()
        if force or now - self._last_check >= self.settings.progress_every_seconds:
            self._last_check = now
            self._cancel, self._control = self.store.control_of(self.job["id"])
        return self._cancel, self._control

    def check(self) -> None:
        if self.parent_pid is not None and os.getppid() != self.parent_pid:
            os._exit(3)  # the server is gone; the next server marks this job interrupted
        if self.stop is not None and self.stop.is_set():
            raise JobInterrupted("server shutting down")
        if self.poll()[0]:
            raise JobCancelled()

    def progress(self, step: int, total: int, info: dict[str, Any] | None = None, *, force: bool = False) -> None:
        """Record progress; between throttled writes the latest value is kept and flushed by a thread."""
        now = time.monotonic()
        with self._lock:
            if force or step >= total or now - self._last_progress >= self.settings.progress_every_seconds:
                self._last_progress = now
                self._pending = None
                self.store.set_progress(self.job["id"], self.token, step, total, info)
            else:
                self._pending = (step, total, info)
                self._ensure_flusher()

    def _ensure_flusher(self) -> None:
        if self._flusher is None:
            self._flusher = threading.Thread(target=self._flush_loop, name="progress-flush", daemon=True)
            self._flusher.start()

    def _flush_loop(self) -> None:
        while not self._closed.wait(max(self.settings.progress_every_seconds, 0.05)):
            self.flush()

    def flush(self) -> None:
        with self._lock:
            pending, self._pending = self._pending, None
            if pending is not None:
                self._last_progress = time.monotonic()
                self.store.set_progress(self.job["id"], self.token, *pending)

    def close(self) -> None:
        self.flush()
        self._closed.set()


# ---------------------------------------------------------------------------- executors
def execute_run(ctx: JobContext) -> dict[str, Any]:
    from atom_sdk.config import build_run_config
    from atom_sdk.experiment import checkpoint as ckpt
    from atom_sdk.experiment.runner import run_experiment

    data = dict(ctx.job["params"]["config"])
    config = build_run_config(data, source="run request")
    resume = bool(ctx.job.get("resume")) and ckpt.exists(ctx.dir)
    last_snapshot = [0.0]

    def observe(world: Any, step: int) -> None:
        """A heat-map of the world's fields for the UI, at most every field_snapshot_every_seconds."""
        now = time.monotonic()
        if step >= config.steps or now - last_snapshot[0] >= ctx.settings.field_snapshot_every_seconds:
            last_snapshot[0] = now
            try:
                write_field_snapshot(ctx.dir, world, step)
            except (AtomError, ValueError, OSError):  # a world without fields: no heat-map
                pass

    def progress(step: int, total: int, info: dict[str, Any]) -> None:
        ctx.progress(step, total, info)
        ctx.check()

    if not resume:
        from atom_sdk.workspace import adopt_output

        adopt_output(ctx.dir, "run")  # the job folder is the server's own: a retry may replace it
    finished = _finished_results(ctx.dir, config.steps) if resume else None
    results = finished if finished is not None else run_experiment(
        config, ctx.dir, overwrite=not resume, resume=resume, progress=progress, observer=observe)
    return {"summary": results.get("summary", {}), "laws": len(results.get("laws", [])),
            "resumed": resume, "safety_events": (results.get("safety") or {}).get("events_total", 0)}


def _finished_results(folder: Path, steps: int) -> dict[str, Any] | None:
    """The results of a run that finished all ``steps`` before its job was marked done, else None.

    A worker killed between writing ``results.json`` (the runner's last act) and marking the job
    succeeded leaves a complete run behind; resuming it must report that run, not refuse it."""
    from atom_sdk.experiment.preflight import completed_steps
    from atom_sdk.experiment.runner import load_results

    done = completed_steps(folder)  # the same test `--resume` uses to call a run complete
    return load_results(folder) if done is not None and done >= steps else None


def execute_validation(ctx: JobContext) -> dict[str, Any]:
    from atom_sdk.worlds.validation import run_validation, validation_cases

    params = ctx.job["params"]
    world, slow = params["world"], bool(params.get("include_slow", False))
    total = len(validation_cases(world, include_slow=slow))
    done = [0]
    ctx.dir.mkdir(parents=True, exist_ok=True)
    with JsonlWriter(ctx.dir / TELEMETRY) as telemetry:
        def on_case(case: Any, results: list[Any]) -> None:
            done[0] += 1
            for r in results:
                telemetry.write({"kind": "validation", "case": case.name, **r.as_dict()})
            ctx.progress(done[0], total, {"case": case.name}, force=True)
            ctx.check()

        results = run_validation(world, include_slow=slow, on_case=on_case)
    rows = [r.as_dict() for r in results]
    write_json(ctx.dir / "validation.json", {"world": world, "results": rows})
    return {"passed": sum(r["passed"] for r in rows), "total": len(rows), "all_passed": all(r["passed"] for r in rows)
            and bool(rows)}


def execute_design(ctx: JobContext) -> dict[str, Any]:
    from atom_sdk.design import run_design

    spec = dict(ctx.job["params"]["spec"])
    ctx.dir.mkdir(parents=True, exist_ok=True)
    with JsonlWriter(ctx.dir / TELEMETRY) as telemetry:
        def progress(done: int, total: int, info: dict[str, Any]) -> None:
            telemetry.write({"kind": "evaluation", "step": done, **info})
            ctx.progress(done, total, info)
            ctx.check()

        def should_stop() -> bool:
            return ctx.poll(force=True)[0]

        from atom_sdk.workspace import adopt_output

        adopt_output(ctx.dir, "design")
        report = run_design(spec, output_dir=str(ctx.dir), progress=progress, should_stop=should_stop, reuse=True)
    if report.get("stopped") == "cancelled":
        raise JobCancelled()
    return {"best": report.get("best"), "evaluations_used": report.get("evaluations_used"),
            "known_optimum": report.get("known_optimum"), "stopped": report.get("stopped")}


def _agent_budget(p: dict[str, Any]) -> Any:
    """The agent's training budget from a challenge job's parameters (None for other controllers)."""
    from atom_sdk.design.challenge_agent import AgentBudget

    return AgentBudget(episodes=int(p.get("agent_episodes", 12))) if p.get("controller") == "agent" else None


def execute_challenge(ctx: JobContext) -> dict[str, Any]:
    from atom_sdk.design.challenge import run_supersonic_challenge

    from atom_sdk.workspace import adopt_output

    p = dict(ctx.job["params"])
    adopt_output(ctx.dir, "challenge")  # the server's own job folder, written into as the challenge runs
    state = {"paused": False}
    timeline = JsonlWriter(ctx.dir / TIMELINE)
    telemetry = JsonlWriter(ctx.dir / TELEMETRY)

    def control(step: int) -> str | None:
        if ctx.parent_pid is not None and os.getppid() != ctx.parent_pid:
            os._exit(3)
        if ctx.stop is not None and ctx.stop.is_set():
            raise JobInterrupted("server shutting down")
        cancel, mode = ctx.poll()
        if cancel:
            return "cancel"
        paused = mode == "pause"
        if paused != state["paused"]:
            state["paused"] = paused
            ctx.store.set_progress(ctx.job["id"], ctx.token, step, p["steps"], None,
                                   state="paused" if paused else "running")
        return "pause" if paused else None

    def on_step(step: int, total: int, info: dict[str, Any]) -> None:
        telemetry.write({"kind": "step", "step": step, **info})
        ctx.progress(step, total, info)

    try:
        audit = run_supersonic_challenge(
            p["steps"], ctx.dir, p["seed"], mach=p["mach"], grid=tuple(p["grid"]), world_params=p["world_params"],
            schedule=p.get("schedule"), kp=p["kp"], ki=p["ki"], feedforward=p["feedforward"], preview=p["preview"],
            use_safety=p["use_safety"], control=control, on_event=timeline.write, on_step=on_step,
            poll_seconds=0.05, reuse=True, controller=p.get("controller", "scripted"),
            agent_budget=_agent_budget(p), on_train=lambda step, total, info: ctx.progress(step, total, info))
    finally:
        timeline.close()
        telemetry.close()
    if audit.get("status") == "cancelled":
        raise JobCancelled()
    return {"status": audit.get("status"), "score": audit.get("score"), "violation_count": audit.get("violation_count"),
            "mean_abs_error_deg": (audit.get("summary") or {}).get("mean_abs_error_deg")}


EXECUTORS: dict[str, Callable[[JobContext], dict[str, Any]]] = {
    "run": execute_run, "validation": execute_validation, "inverse_design": execute_design,
    "challenge": execute_challenge,
}


def execute(store: Store, settings: PlatformSettings, job: dict[str, Any], token: str, stop: Any = None,
            parent_pid: int | None = None) -> str:
    """Run one claimed job to its end state and record it; returns the state."""
    ctx = JobContext(store, settings, job, token, stop, parent_pid)
    try:
        try:
            result = EXECUTORS[job["kind"]](ctx)
        finally:
            ctx.close()
    except JobCancelled:
        store.finish(job["id"], token, "cancelled", error=("cancelled", "cancelled on request"))
        return "cancelled"
    except JobInterrupted:
        store.finish(job["id"], token, "interrupted", error=("interrupted", "the server stopped while this job ran; "
                                                                            "resume it to continue"))
        return "interrupted"
    except AtomError as exc:
        store.finish(job["id"], token, "failed", error=(exc.code, str(exc)))
        return "failed"
    except Exception as exc:  # noqa: BLE001 - a job bug must not kill the worker
        ctx.dir.mkdir(parents=True, exist_ok=True)
        (ctx.dir / "worker_error.log").write_text(traceback.format_exc(), encoding="utf-8")
        store.finish(job["id"], token, "failed", error=("internal_error", f"{type(exc).__name__}: {exc}; see the "
                                                                          "artifact worker_error.log"))
        return "failed"
    store.finish(job["id"], token, "succeeded", result=json.loads(json.dumps(result, default=str)))
    return "succeeded"


def _die_with_parent() -> None:
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            libc = ctypes.CDLL("libc.so.6", use_errno=True)
            libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        except OSError:
            pass


def worker_main(settings_data: dict[str, Any], stop_raw: Any, parent_pid: int) -> None:
    """Entry point of a worker process: claim, execute, repeat until ``stop`` is set."""
    _die_with_parent()
    stop = StopFlag(stop_raw)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C goes to the server, which stops us cleanly
    if os.getppid() != parent_pid:
        return
    settings = PlatformSettings.model_validate(settings_data)
    store = Store(settings.db_url)
    try:
        while not stop.is_set():
            if os.getppid() != parent_pid:
                return
            claimed = store.claim(os.getpid())
            if claimed is None:
                stop.wait(settings.poll_seconds)
                continue
            job, token = claimed
            execute(store, settings, job, token, stop, parent_pid)
    finally:
        store.dispose()


class WorkerPool:
    """Spawned worker processes plus a supervisor thread that replaces dead ones."""

    def __init__(self, settings: PlatformSettings, store: Store) -> None:
        self.settings, self.store = settings, store
        self._ctx = multiprocessing.get_context("spawn")
        self._stop_raw = self._ctx.RawValue("b", 0)
        self._stop = StopFlag(self._stop_raw)
        self._procs: list[Any] = []
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._thread: threading.Thread | None = None

    def _spawn(self) -> Any:
        proc = self._ctx.Process(target=worker_main, args=(self.settings.to_worker(), self._stop_raw, os.getpid()),
                                 name="atom-worker", daemon=True)
        proc.start()
        return proc

    def start(self) -> None:
        with self._lock:
            self._procs = [self._spawn() for _ in range(self.settings.workers)]
        self._thread = threading.Thread(target=self._supervise, name="atom-worker-supervisor", daemon=True)
        self._thread.start()

    def _supervise(self) -> None:
        while not self._closing.wait(1.0):
            with self._lock:
                for i, proc in enumerate(self._procs):
                    if not proc.is_alive() and not self._closing.is_set():
                        self.store.mark_interrupted(pids=[proc.pid])
                        log.warning("worker %s exited with %s; starting a new one", proc.pid, proc.exitcode)
                        self._procs[i] = self._spawn()

    @property
    def expected(self) -> int:
        return self.settings.workers

    def pids(self) -> list[int]:
        with self._lock:
            return [p.pid for p in self._procs if p.is_alive()]

    def alive(self) -> int:
        return len(self.pids())

    def close(self, timeout: float = 15.0) -> None:
        """Ask workers to stop (a running job is checkpointed and marked interrupted), then reap them."""
        self._closing.set()
        self._stop.set()
        deadline = time.monotonic() + timeout
        with self._lock:
            procs = list(self._procs)
        for proc in procs:
            proc.join(max(0.0, deadline - time.monotonic()))
        stragglers = [p for p in procs if p.is_alive()]
        for proc in stragglers:
            proc.terminate()
            proc.join(2.0)
        if stragglers:
            self.store.mark_interrupted(pids=[p.pid for p in stragglers])
        if self._thread is not None:
            self._thread.join(2.0)


def job_dir(settings: PlatformSettings, job_id: str) -> Path:
    return settings.jobs_dir / job_id
