"""Run checkpoints: one msgpack file, written atomically after every agent update.

It holds the agent (params, optimiser), the world state (a JAX pytree), the loop bookkeeping,
the observation normaliser, the RNG key, the scientist's state and the recurrent core's hidden
state, so that a resumed run
continues to the same final result as an uninterrupted one.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import flax.serialization
import jax
import numpy as np

from atom_sdk.artifacts import atomic_write_bytes
from atom_sdk.errors import ArtifactError

CHECKPOINT = Path("checkpoints") / "latest.msgpack"


def exists(out_dir: Path) -> bool:
    return (out_dir / CHECKPOINT).is_file()


def save(out_dir: Path, config_hash: str, *, agent: bytes, world: Any, loop: Any, normalizer: dict[str, Any],
         key: np.ndarray, obs: np.ndarray, x_prev: np.ndarray, scientist: dict[str, Any] | None,
         hidden: np.ndarray | None = None) -> Path:
    world_state, world_t = world.snapshot()
    payload = {
        "config_hash": config_hash,
        "agent": agent,
        "world": {"state": flax.serialization.to_state_dict(jax.device_get(world_state)), "t": int(world_t)},
        "loop": json.dumps(dataclasses.asdict(loop)),
        "normalizer": json.dumps(normalizer),
        "key": np.asarray(key),
        "obs": np.asarray(obs),
        "x_prev": np.asarray(x_prev, dtype=np.float64),
        "scientist": json.dumps(scientist) if scientist is not None else "",
        "hidden": np.asarray(hidden, dtype=np.float32) if hidden is not None else np.zeros(0, np.float32),
    }
    return atomic_write_bytes(out_dir / CHECKPOINT, flax.serialization.msgpack_serialize(payload))


def load(out_dir: Path, config_hash: str | tuple[str, ...]) -> dict[str, Any]:
    """Read the checkpoint; refused unless it was written by one of the accepted config hashes."""
    accepted = (config_hash,) if isinstance(config_hash, str) else tuple(config_hash)
    path = out_dir / CHECKPOINT
    try:
        payload = flax.serialization.msgpack_restore(path.read_bytes())
    except FileNotFoundError:
        raise ArtifactError(f"no checkpoint at '{path}'; run without --resume") from None
    except Exception as exc:  # msgpack raises several unrelated types on corrupt input
        raise ArtifactError(f"checkpoint '{path}' is unreadable ({exc}); rerun with --overwrite") from None
    if payload.get("config_hash") not in accepted:
        raise ArtifactError(f"checkpoint in '{out_dir}' was written by a different config "
                            f"(hash {str(payload.get('config_hash'))[:12]}); resume with the same config "
                            "or use --overwrite")
    return {
        "agent": payload["agent"],
        "world": payload["world"],
        "loop": json.loads(payload["loop"]),
        "normalizer": json.loads(payload["normalizer"]),
        "key": payload["key"],
        "obs": payload["obs"],
        "x_prev": payload["x_prev"],
        "scientist": json.loads(payload["scientist"]) if payload["scientist"] else None,
        "hidden": payload["hidden"] if np.size(payload.get("hidden", ())) else None,  # absent: feed-forward core
    }


def restore_world(world: Any, saved: dict[str, Any]) -> Any:
    """A snapshot for ``world.restore`` built from a saved state dict (template: the live state)."""
    template, _ = world.snapshot()
    state = flax.serialization.from_state_dict(template, saved["state"])
    state = jax.tree.map(lambda t, s: jax.numpy.asarray(s, dtype=t.dtype), template, state)
    return state, int(saved["t"])


def truncate_lines(path: Path, keep: int) -> None:
    """Keep the first ``keep`` lines of a JSONL file (drop what was written after the checkpoint)."""
    if not path.exists():
        return
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    if len(lines) > keep:
        from atom_sdk.artifacts import atomic_write_text

        atomic_write_text(path, "".join(lines[:keep]))
