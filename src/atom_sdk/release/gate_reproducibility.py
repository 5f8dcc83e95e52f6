"""G-03 Config reproducibility: same config + seed -> same results; one config, one hash.

Why three checks: determinism of a run, identity of a config however it is spelled, and
the promise that ``results["provenance"]["config"]`` is enough to reproduce a result.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import yaml

from atom_sdk.release.gates import GateRecorder, gate

#: A tiny Taylor-Green run: a few seconds on CPU, still exercising agent, scientist and telemetry.
TINY_CONFIG: dict[str, Any] = {
    "name": "g03",
    "world": {"name": "analytical:taylor_green", "grid": [8, 8, 1], "max_episode_steps": 24,
              "params": {"k": 1}},
    "steps": 48,
    "seed": 7,
    "agent": {"rollout_length": 16, "latent_dim": 8, "fourier_modes": 2, "hidden_sizes": [16]},
    "scientist": {"window": 32, "min_samples": 16, "fit_every": 16, "ensemble_size": 4},
}

_VOLATILE = ("timings", "started_at", "finished_at", "timestamp", "created_at", "updated_at")


def strip_volatile(obj: Any) -> Any:
    """Drop wall-clock fields (timings, timestamps) before comparing two results."""
    if isinstance(obj, Mapping):
        return {k: strip_volatile(v) for k, v in obj.items() if k not in _VOLATILE and not str(k).endswith("_at")}
    if isinstance(obj, list):
        return [strip_volatile(v) for v in obj]
    return obj


def first_difference(a: Any, b: Any, path: str = "") -> str | None:
    """Path of the first differing value (exact comparison), or None when identical."""
    from atom_sdk.evidence.reliability import first_difference as locate

    d = locate(a, b, path)
    if d is None:
        return None
    if d.kind == "missing":
        return f"{d.path} (present in one result only)"
    if d.kind == "length":
        return f"{d.path} (length {d.left} vs {d.right})"
    return f"{d.path} ({d.left!r} vs {d.right!r})"


def config_spellings(config: Mapping[str, Any], out: Path) -> list[Path]:
    """The same config three ways: YAML (defaults left out), JSON (keys reversed, every default
    spelled out) and TOML (another name, integer world params written as floats)."""
    from atom_sdk.config import build_run_config

    full = build_run_config(dict(config)).model_dump(mode="json")
    yaml_path = out / "config.yaml"
    yaml_path.write_text(yaml.safe_dump(dict(config), sort_keys=True), encoding="utf-8")
    json_path = out / "config.json"
    json_path.write_text(json.dumps(dict(reversed(list(full.items()))), indent=1), encoding="utf-8")
    toml_doc = json.loads(json.dumps(dict(config)))
    toml_doc["name"] = f"{toml_doc.get('name', 'run')}-toml"
    params = toml_doc.setdefault("world", {}).get("params", {})
    toml_doc["world"]["params"] = {k: float(v) if isinstance(v, int) and not isinstance(v, bool) else v
                                   for k, v in params.items()}
    import tomli_w

    toml_path = out / "config.toml"
    toml_path.write_bytes(tomli_w.dumps(toml_doc).encode("utf-8"))
    return [yaml_path, json_path, toml_path]


RunFn = Callable[..., Mapping[str, Any]]


def _default_run(config: Any, out_dir: Path) -> Mapping[str, Any]:
    from atom_sdk.experiment import run_experiment

    return run_experiment(config, out_dir, overwrite=True)


def check_reproducibility(rec: GateRecorder, config: Mapping[str, Any], run_fn: RunFn | None = None,
                          workdir: Path | None = None) -> None:
    """The three G-03 checks; ``run_fn(config, out_dir)`` defaults to ``run_experiment``."""
    from atom_sdk.config import config_hash, load_run_config

    run = run_fn or _default_run
    with tempfile.TemporaryDirectory(prefix="atom-g03-") as tmp:
        base = Path(workdir or tmp)
        spellings = config_spellings(config, base)
        hashes = {p.suffix[1:]: config_hash(load_run_config(p)) for p in spellings}
        yaml_cfg = load_run_config(spellings[0])
        seed_changed = config_hash(yaml_cfg.model_copy(update={"seed": yaml_cfg.seed + 1}))
        same = len(set(hashes.values())) == 1
        rec.measure(config_hashes=hashes)
        rec.check("config hash stable across YAML/JSON/TOML", same and seed_changed != hashes["yaml"],
                  f"hashes differ: {hashes}" if not same else
                  ("changing the seed did not change the hash" if seed_changed == hashes["yaml"]
                   else f"{hashes['yaml'][:12]} for all three spellings; another seed gives another hash"))

        first = run(yaml_cfg, base / "run1")
        second = run(load_run_config(spellings[1]), base / "run2")
        diff = first_difference(strip_volatile(first), strip_volatile(second))
        rec.measure(result_summary={k: v for k, v in (first.get("summary") or {}).items()
                                    if isinstance(v, (int, float)) and not isinstance(v, bool)})
        rec.check("same config and seed give identical results", diff is None,
                  f"results differ at {diff}" if diff else "identical (timings excluded)")

        recorded = (first.get("provenance") or {}).get("config")
        if not isinstance(recorded, Mapping):
            rec.check("recorded config re-runs", False, "results['provenance']['config'] is missing")
            return
        third = run(load_run_config(None, dict(recorded)), base / "run3")
        diff = first_difference(strip_volatile(first), strip_volatile(third))
        rec.check("recorded config re-runs to the same result", diff is None,
                  f"results differ at {diff}" if diff else "identical (timings excluded)")


@gate("G-03", "Config reproducibility", "same config+seed twice -> identical results (timings excluded); "
      "config hash stable across YAML/JSON/TOML; recorded config re-runs to the same result")
def gate_reproducibility(rec: GateRecorder) -> None:
    config = rec.ctx.extra.get("g03_config", TINY_CONFIG)
    rec.threshold(result_difference="exact (timings and timestamps excluded)", config_hash="identical")
    check_reproducibility(rec, config, rec.ctx.extra.get("g03_run_fn"))
