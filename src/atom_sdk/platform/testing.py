"""Helpers for tests and benchmarks of the platform: settings in a temp folder, a live server in a
thread, waiting for jobs, and synthetic finished runs (known values, no simulation needed)."""

from __future__ import annotations

import json
import socket
import threading
import time
from pathlib import Path
from typing import Any

from atom_sdk.artifacts import write_json
from atom_sdk.platform.settings import PlatformSettings
from atom_sdk.platform.store import Store


def settings_for(tmp: Path, **overrides: Any) -> PlatformSettings:
    values: dict[str, Any] = {"workspace": Path(tmp), "workers": 0, "database_url": None, "cors_origins": [],
                              "protect_reads": False, "assistant_llm_url": None, "rate_limit_per_minute": 100_000,
                              "rate_limit_burst": 10_000, "progress_every_seconds": 0.05,
                              "field_snapshot_every_seconds": 0.2, "poll_seconds": 0.05}
    values.update(overrides)
    return PlatformSettings(**values)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServerThread:
    """uvicorn serving ``create_app(settings)`` on 127.0.0.1 in a background thread."""

    def __init__(self, settings: PlatformSettings, port: int | None = None) -> None:
        import uvicorn

        from atom_sdk.platform.api import create_app

        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.app = create_app(settings)
        self.server = uvicorn.Server(uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_level="warning",
                                                    lifespan="on"))
        self.thread = threading.Thread(target=self.server.run, name="atom-test-server", daemon=True)

    def __enter__(self) -> "ServerThread":
        self.thread.start()
        deadline = time.monotonic() + 60
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("test server did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(30)


def wait_for(get: Any, path: str, states: tuple[str, ...] = ("succeeded", "failed", "cancelled", "interrupted"),
             timeout: float = 300.0, poll: float = 0.2) -> dict[str, Any]:
    """Poll ``get(path)`` (a TestClient/httpx ``get``) until the job reaches one of ``states``."""
    deadline = time.monotonic() + timeout
    while True:
        job = get(path).json()
        if job.get("state") in states:
            return job
        if time.monotonic() > deadline:
            raise TimeoutError(f"{path} still {job.get('state')} after {timeout} s")
        time.sleep(poll)


FAKE_LAW = {"target": "amplitude", "equation": "damplitude/dt = -0.02 amplitude + 1.5 u0", "terms": ["amplitude", "u0"],
            "coefficients": [-0.02, 1.5], "coefficient_std": [0.001, 0.05], "inclusion_probability": [1.0, 1.0],
            "support": ["amplitude", "u0"], "r2": 0.97, "rmse": 0.001}


def fake_finished_run(store: Store, settings: PlatformSettings, name: str = "fake", mean_reward: float = -0.5,
                      safety_events: int = 2) -> str:
    """A succeeded run job with a results.json, ledger and telemetry of known content."""
    job = store.add_job("run", name, {"config": {"name": name}}, None, max_queue=10**6, max_per_owner=10**6)
    claimed = store.claim(0)
    assert claimed is not None and claimed[0]["id"] == job["id"]  # nosec B101 - test helper
    folder = settings.jobs_dir / job["id"]
    folder.mkdir(parents=True, exist_ok=True)
    events = [{"kind": "safety", "step": 3 + i, "monitor": "state", "reason": "SAFETY_SPEED_LIMIT", "action": "clip"}
              for i in range(safety_events)]
    lines = [{"kind": "step", "step": s, "reward": mean_reward, "trust": 0.1 * s, "safety_mode": "nominal",
              "diagnostics": {"energy": 1.0 - 0.01 * s}} for s in range(8)]
    (folder / "telemetry.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines[:4] + events + lines[4:]))
    ledger = [{"seq": 0, "time": "2025-01-01T00:00:00+00:00", "run_id": name, "kind": "candidate", "step": 4,
               "equations": [FAKE_LAW], "scores": {}, "reasons": []},
              {"seq": 1, "time": "2025-01-01T00:00:01+00:00", "run_id": name, "kind": "rejected", "step": 4,
               "equations": [FAKE_LAW], "scores": {}, "reasons": ["does not beat persistence"]},
              {"seq": 2, "time": "2025-01-01T00:00:02+00:00", "run_id": name, "kind": "accepted", "step": 7,
               "equations": [FAKE_LAW], "scores": {}, "reasons": []}]
    (folder / "ledger.jsonl").write_text("".join(json.dumps(r) + "\n" for r in ledger))
    write_json(folder / "results.json", {
        "schema": "atom.results/1", "name": name, "provenance": {"config": {"scientist": {"trust_gate_threshold": 0.2}}},
        "world": {"id": "analytical:taylor_green"}, "variant": {"name": "v2_hybrid"},
        "summary": {"steps": 8, "mean_reward": mean_reward, "updates": 1, "final_trust": 0.7, "mean_trust": 0.35,
                    "mean_energy": 0.965},
        "laws": [FAKE_LAW], "trust_trajectory": [[8, 0.7]],
        "safety": {"enabled": True, "events_total": safety_events, "intervention_steps": safety_events,
                   "intervention_rate": safety_events / 8, "mode_steps": {"nominal": 8},
                   "counts_by_reason": {"SAFETY_SPEED_LIMIT": safety_events},
                   "first_violation": events[0] if events else None}})
    store.finish(job["id"], claimed[1], "succeeded", result={"summary": {"mean_reward": mean_reward}})
    return job["id"]
