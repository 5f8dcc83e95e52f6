"""Platform settings: one pydantic model, filled from arguments or ``ATOM_*`` environment variables.

Why one object: the web process and every worker process must agree on the database, the
workspace and the limits; the settings travel to spawned workers as a plain dict.
"""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

#: the platform's title (its OpenAPI ``info.title``; how ``atom openapi export`` knows its own document)
TITLE = "ATOM OSS SDK platform"


def _env(name: str, default: Any) -> Any:
    value = os.environ.get(name)
    return default if value in (None, "") else value


def _env_list(name: str) -> list[str]:
    return [v.strip() for v in os.environ.get(name, "").split(",") if v.strip()]


class PlatformSettings(BaseModel):
    """Everything the server and its workers need (limits are per request or per API key)."""

    model_config = ConfigDict(extra="forbid")

    workspace: Path = Field(default_factory=lambda: Path(_env("ATOM_WORKSPACE", ".atom")))
    database_url: str | None = Field(default_factory=lambda: _env("ATOM_DATABASE_URL", None))
    host: str = "127.0.0.1"
    workers: int = Field(default_factory=lambda: int(_env("ATOM_WORKERS", 2)), ge=0, le=64)
    start_workers: bool = True
    max_queue: int = Field(default_factory=lambda: int(_env("ATOM_MAX_QUEUE", 64)), ge=1)
    max_jobs_per_key: int = Field(default_factory=lambda: int(_env("ATOM_MAX_JOBS_PER_KEY", 8)), ge=1)
    max_body_bytes: int = Field(default_factory=lambda: int(_env("ATOM_MAX_BODY_BYTES", 2 * 1024 * 1024)), ge=1024)
    max_grid_cells: int = Field(262_144, ge=1)
    max_steps: int = Field(200_000, ge=1)
    max_design_evaluations: int = Field(5_000, ge=1)
    rate_limit_per_minute: int = Field(default_factory=lambda: int(_env("ATOM_RATE_LIMIT", 120)), ge=1)
    rate_limit_burst: int = Field(30, ge=1)
    cors_origins: list[str] = Field(default_factory=lambda: _env_list("ATOM_CORS_ORIGINS"))
    protect_reads: bool = Field(default_factory=lambda: _env("ATOM_PROTECT_READS", "0") in ("1", "true", "yes"))
    resume_interrupted: bool = False
    poll_seconds: float = Field(0.2, gt=0, le=10)
    progress_every_seconds: float = Field(0.25, ge=0, le=60)
    field_snapshot_every_seconds: float = Field(0.5, ge=0, le=600)
    assistant_llm_url: str | None = Field(default_factory=lambda: _env("ATOM_ASSISTANT_LLM_URL", None))
    assistant_llm_model: str = Field(default_factory=lambda: _env("ATOM_ASSISTANT_LLM_MODEL", "gpt-4o-mini"))

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.workspace / 'platform.db').resolve()}"

    @property
    def jobs_dir(self) -> Path:
        return self.workspace / "jobs"

    @property
    def geometries_dir(self) -> Path:
        return self.workspace / "geometries"

    @property
    def loopback(self) -> bool:
        """True when the server only listens on this machine."""
        if self.host in ("localhost", "testserver"):
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False

    def to_worker(self) -> dict[str, Any]:
        return self.model_dump(mode="json")
