"""Evaluation of a trained run: its last checkpoint acted for N episodes, nothing learned.

Why its own step: a run's ``results.json`` reports the returns of *training* episodes, taken
with exploration noise while the agent and the scientist were still changing. An evaluation
restores the run's last checkpoint (agent, observation normaliser, scientist) and acts with it
frozen: the policy mean by default (``deterministic``), the normaliser not updated, the
scientist's theory used as saved (features, gating, the theory controller of residual variants)
but never refitted, the safety envelope as the run configured it (a fresh one, so that its
shift monitor learns its baseline from the evaluated conditions). ``world_overrides`` change the
world's parameters for out-of-distribution tests; they pass the same checks as a run's.

Episode ``e`` starts the world from ``seed + EPISODE_SEED_STRIDE * e`` (the runner's rule), so an
evaluation is a function of (checkpoint, overrides, seed, mode). Everything is checked before a
byte is written; the output folder follows the workspace rules (``atom_sdk.workspace``): by
default ``RUN_DIR/evaluations/NAME``, replaced only with ``overwrite`` and only when atom made it.

Written: ``evaluation.json`` (schema ``atom.evaluation/1``), ``telemetry.jsonl`` (one line per
step: episode, step, action, reward) and ``evaluation.png``.
"""

from __future__ import annotations

import hashlib
import math
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from atom_sdk.artifacts import JsonlWriter, read_json, write_json
from atom_sdk.config import RunConfig, build_run_config, config_hash
from atom_sdk.errors import ArtifactError, ConfigError, WorldParameterError
from atom_sdk.experiment import checkpoint as ckpt
from atom_sdk.experiment.runner import EPISODE_SEED_STRIDE, TELEMETRY_DIAGNOSTICS, make_world
from atom_sdk.provenance import provenance, utc_now
from atom_sdk.workspace import OutputPlan, claim_output, confined_child, output_folder, plan_output

__all__ = ["SCHEMA", "EvaluationPlan", "evaluate_checkpoint", "plan_evaluation", "return_statistics"]

SCHEMA = "atom.evaluation/1"
#: the folder name under ``RUN_DIR/evaluations`` when none is given
DEFAULT_NAME = "eval"
#: confidence level of the interval on the mean return
CONFIDENCE = 0.95
#: tag of the sampling stream of a stochastic evaluation among the draws derived from its seed
EVAL_STREAM = 0x6576616C  # "eval"

ProgressFn = Callable[[int, int, dict[str, Any]], None]


@dataclass(frozen=True)
class EvaluationPlan:
    """The checked decision for one evaluation; computed without writing anything."""

    run_dir: Path
    config: RunConfig  # as the run was trained
    evaluated: RunConfig  # the same with the world overrides applied
    checkpoint_hashes: tuple[str, ...]
    overrides: dict[str, Any]
    output: OutputPlan


def _run_config(run_dir: Path) -> tuple[RunConfig, tuple[str, ...]]:
    """The config a run folder was trained with and the config hashes its checkpoint may carry."""
    if not run_dir.is_dir():
        raise ArtifactError(f"run folder '{run_dir}' does not exist; give the folder of a finished run, e.g. "
                            "experiment_results/run")
    if not (run_dir / "config.json").is_file():
        raise ArtifactError(f"'{run_dir}' holds no config.json, so it is not a run folder; give the folder "
                            "'atom run' wrote")
    if not ckpt.exists(run_dir):
        raise ArtifactError(f"'{run_dir}' holds no checkpoint ({ckpt.CHECKPOINT}); let the run reach its first "
                            "update, or resume it with 'atom run --resume'")
    saved = read_json(run_dir / "config.json")
    if not isinstance(saved, dict) or not isinstance(saved.get("config"), dict):
        raise ArtifactError(f"'{run_dir / 'config.json'}' is not a run config")
    config = build_run_config(saved["config"], source=str(run_dir / "config.json"))
    extended = [saved["extended_from"]] if isinstance(saved.get("extended_from"), str) else []
    return config, (config_hash(config), *extended)


def _apply_overrides(config: RunConfig, overrides: dict[str, Any],
                     spelled: Callable[[str], str] = lambda key: f"'{key}'") -> RunConfig:
    """``config`` with its world parameters overridden, checked as a run's would be (nothing built);
    a refusal names the overrides as ``spelled`` writes them (the caller's own spelling)."""
    from atom_sdk.worlds import world_class

    if not overrides:
        return config
    params = {**config.world.params, **overrides}
    world = config.world
    checker = getattr(world_class(world.name), "check_config", None)
    try:
        if checker is not None:
            checker(tuple(world.grid), world.dtype, world.max_episode_steps, **params)
        evaluated = build_run_config(config.model_dump(mode="json"), {"world": {"params": params}},
                                     source="world overrides")
    except (WorldParameterError, ConfigError) as exc:
        keys = ", ".join(spelled(k) for k in overrides)
        raise type(exc)(f"world override {keys} rejected: {exc}") from None
    return evaluated


def plan_evaluation(run_dir: str | Path, *, episodes: int, world_overrides: dict[str, Any] | None = None,
                    out_dir: str | Path | None = None, name: str | None = None,
                    overwrite: bool = False,
                    override_spelling: Callable[[str], str] = lambda key: f"'{key}'") -> EvaluationPlan:
    """Check the run folder, the episode count, the overrides and the output folder; writes nothing.
    ``override_spelling`` is how the caller writes an override's key in a refusal (the CLI: --world-KEY)."""
    if isinstance(episodes, bool) or not isinstance(episodes, int) or episodes < 1:
        raise ConfigError(f"episodes must be a whole number of at least 1, got {episodes!r}")
    run = Path(run_dir).expanduser().resolve()
    config, hashes = _run_config(run)
    overrides = dict(world_overrides or {})
    evaluated = _apply_overrides(config, overrides, override_spelling)
    if out_dir is None:
        out = confined_child(run / "evaluations", name or DEFAULT_NAME, "--name")
    else:
        out = output_folder(out_dir)
    output = plan_output(out, "evaluation", overwrite=overwrite,
                         flag_hint="pass --overwrite to replace it or choose another --name")
    return EvaluationPlan(run, config, evaluated, hashes, overrides, output)


def return_statistics(returns: list[float], confidence: float = CONFIDENCE) -> dict[str, Any]:
    """Mean, sample std and the Student-t confidence interval of the mean of the finite returns."""
    from scipy import stats

    values = np.asarray([r for r in returns if math.isfinite(r)], dtype=np.float64)
    n = int(values.size)
    out: dict[str, Any] = {"n": n, "non_finite": len(returns) - n, "confidence": confidence,
                           "ci_method": "Student t interval of the mean (scipy.stats.t.interval, df = n - 1, "
                                        "scale = std / sqrt(n)); none for fewer than 2 episodes",
                           "mean": None, "std": None, "ci_low": None, "ci_high": None}
    if n == 0:
        return out
    mean = float(values.mean())
    std = float(values.std(ddof=1)) if n > 1 else 0.0
    out.update(mean=mean, std=std)
    if n > 1:
        if std == 0.0:
            low = high = mean
        else:
            low, high = (float(v) for v in stats.t.interval(confidence, n - 1, loc=mean, scale=std / math.sqrt(n)))
        out.update(ci_low=low, ci_high=high)
    return out


class _FrozenNorm:
    """The observation normaliser of a checkpoint, kept as it is when the policy samples."""

    def __init__(self, norm: Any) -> None:
        self._norm = norm

    def update(self, _obs: Any) -> "_FrozenNorm":
        return self

    def normalize(self, obs: Any) -> Any:
        return self._norm.normalize(obs)


def evaluate_checkpoint(run_dir: str | Path, *, episodes: int, world_overrides: dict[str, Any] | None = None,
                        seed: int = 0, deterministic: bool = True, out_dir: str | Path | None = None,
                        name: str | None = None, overwrite: bool = False, progress: ProgressFn | None = None,
                        plan: EvaluationPlan | None = None) -> dict[str, Any]:
    """Evaluate the last checkpoint of ``run_dir`` for ``episodes`` episodes; returns ``evaluation.json``.

    ``deterministic`` acts with the policy mean; otherwise actions are sampled from the policy
    with a key derived from ``seed`` (the normaliser stays frozen either way). ``progress(done,
    episodes, info)`` is called after each episode. A refused evaluation writes nothing.
    """
    import jax

    from atom_sdk.devices import resolve_device

    if plan is None:
        plan = plan_evaluation(run_dir, episodes=episodes, world_overrides=world_overrides, out_dir=out_dir,
                               name=name, overwrite=overwrite)
    with jax.default_device(resolve_device(plan.config.device)):
        return _evaluate(plan, episodes=episodes, seed=int(seed), deterministic=deterministic, progress=progress)


def _build(plan: EvaluationPlan, seed: int, ledger_dir: Path,
           reading: dict[str, Any]) -> tuple[Any, Any, Any, dict[str, Any], bytes]:
    """World (+ a fresh envelope) and the policy restored from the checkpoint; checked before any write.

    ``reading["x"]`` is the reading of the observables before the current step (kept by ``_episode``)."""
    from atom_sdk.experiment.policy import Policy

    raw = (plan.run_dir / ckpt.CHECKPOINT).read_bytes()
    state = ckpt.load(plan.run_dir, plan.checkpoint_hashes)
    world = make_world(plan.evaluated)
    saved_obs = tuple(np.shape(state["obs"]))
    if tuple(world.observation_space.shape) != saved_obs:
        raise ConfigError(f"the world overrides change the observation from shape {saved_obs} to "
                          f"{tuple(world.observation_space.shape)}; the checkpoint's agent cannot act on it: drop "
                          "the override that changes the sensors")
    envelope = None
    if plan.config.safety.enabled:
        from atom_sdk.safety import SafetyEnvelope

        world = envelope = SafetyEnvelope(world, plan.config.safety)
    world.reset(seed=seed)  # the policy's example input reads the fields
    policy = Policy(plan.config, world, ledger_dir=ledger_dir)
    policy.load_state_dict(state)
    science = policy.science
    if envelope is not None and science is not None:
        envelope.trust_fn = science.theory_trust
        # the fallback acts on the reading of the state before the step it replaces
        envelope.fallback = lambda _obs: science.controller(envelope, reading["x"])
    return world, envelope, policy, state, raw


def _evaluate(plan: EvaluationPlan, *, episodes: int, seed: int, deterministic: bool,
              progress: ProgressFn | None) -> dict[str, Any]:
    import jax

    started, started_at = time.perf_counter(), utc_now()
    with tempfile.TemporaryDirectory() as ledger_tmp:  # the frozen scientist fits nothing: its ledger is not kept
        reading: dict[str, Any] = {"x": None, "step": 0}
        world, envelope, policy, state, raw = _build(plan, seed, Path(ledger_tmp), reading)
        try:
            if not deterministic:
                policy.norm = _FrozenNorm(policy.norm)
                policy.key = jax.random.fold_in(jax.random.PRNGKey(seed), EVAL_STREAM)
            out = claim_output(plan.output, replace=True)  # the first write
            records: list[dict[str, Any]] = []
            with JsonlWriter(out / "telemetry.jsonl") as telemetry:
                for e in range(episodes):
                    records.append(_episode(plan, world, envelope, policy, e, seed, deterministic, telemetry,
                                            reading))
                    if progress is not None:
                        progress(e + 1, episodes, {"return": records[-1]["return"]})
            laws = policy.science.scientist.laws() if policy.science else []
            trust = policy.trust
        finally:
            policy.close()
    result = _document(plan, records, seed=seed, deterministic=deterministic, world=world, envelope=envelope,
                       laws=laws, trust=trust, saved_loop=state["loop"], checkpoint=raw)
    result["timings"] = {"wall_seconds": time.perf_counter() - started, "started_at": started_at,
                         "finished_at": utc_now()}
    write_json(out / "evaluation.json", result)
    evaluation_figure(out / "evaluation.png", result)
    return result


def _read(policy: Any, world: Any, reading: dict[str, Any]) -> np.ndarray:
    """The reading of the world's observables the policy acts on (``Policy.measure``: the run's
    measurement noise), kept in ``reading`` for the envelope's fallback."""
    reading["x"] = policy.measure(world.observables(), reading["step"])
    return reading["x"]


def _episode(plan: EvaluationPlan, world: Any, envelope: Any, policy: Any, e: int, seed: int, deterministic: bool,
             telemetry: JsonlWriter, reading: dict[str, Any]) -> dict[str, Any]:
    """One episode from its seeded start to termination or the time limit."""
    episode_seed = seed + EPISODE_SEED_STRIDE * e
    obs, _ = world.reset(seed=episode_seed)
    policy.reset_memory()  # a recurrent core starts every episode with an empty memory, as in training
    x, u = _read(policy, world, reading), np.zeros(world.action_space.shape)
    total, length, limit = 0.0, 0, int(plan.evaluated.world.max_episode_steps)
    terminated = truncated = unsafe = False
    diag: dict[str, Any] = {}
    while not (terminated or truncated):
        allowed = envelope is None or envelope.theory_allowed
        action = policy.act(obs, x=x, u=u, theory_allowed=allowed, explore=not deterministic).env_action
        obs, reward, terminated, truncated, info = world.step(action)
        telemetry.write({"kind": "step", "episode": e, "step": length, "action": action.reshape(-1).tolist(),
                         "reward": float(reward),
                         "safety_mode": envelope.mode_name if envelope is not None else None})
        total += float(reward)
        length += 1
        unsafe = unsafe or bool(info.get("unsafe", False))
        diag = info.get("diagnostics", {})
        reading["step"] += 1
        x, u = _read(policy, world, reading), action
        truncated = bool(truncated) or length >= limit
    return {"episode": e, "seed": episode_seed, "return": total, "length": length, "diverged": bool(terminated),
            "unsafe": unsafe, "final_diagnostics": {k: float(diag[k]) for k in TELEMETRY_DIAGNOSTICS if k in diag}}


def _document(plan: EvaluationPlan, records: list[dict[str, Any]], *, seed: int, deterministic: bool, world: Any,
              envelope: Any, laws: list[Any], trust: float | None, saved_loop: dict[str, Any],
              checkpoint: bytes) -> dict[str, Any]:
    config, evaluated = plan.config, plan.evaluated
    prov = provenance(evaluated, seed=seed)
    prov["run_config_hash"] = config_hash(config)
    prov["checkpoint"] = {"path": ckpt.CHECKPOINT.as_posix(), "sha256": hashlib.sha256(checkpoint).hexdigest(),
                          "step": int(saved_loop.get("step", 0))}
    return {
        "schema": SCHEMA,
        "run": {"dir": str(plan.run_dir), "name": config.name, "variant": config.variant,
                "trained_steps": int(saved_loop.get("step", 0))},
        "settings": {"episodes": len(records), "seed": seed, "deterministic": deterministic,
                     "episode_seed_rule": f"seed + {EPISODE_SEED_STRIDE} * episode",
                     "max_episode_steps": int(evaluated.world.max_episode_steps),
                     "scientist": "frozen (theory as saved in the checkpoint, never refitted)" if trust is not None
                     else None,
                     "safety": "fresh envelope with the run's settings" if envelope is not None else "disabled"},
        "world": {"id": evaluated.world.name, "grid": list(evaluated.world.grid), "dt": float(world.dt),
                  "params": dict(evaluated.world.params)},
        "world_overrides": dict(plan.overrides),
        "summary": {"return": return_statistics([r["return"] for r in records]),
                    "mean_length": float(np.mean([r["length"] for r in records])),
                    "diverged_episodes": sum(r["diverged"] for r in records),
                    "unsafe_episodes": sum(r["unsafe"] for r in records)},
        "episodes": records,
        "science": {"trust": trust, "laws": laws},
        "safety": envelope.report() if envelope is not None else {"enabled": False},
        "artifacts": ["evaluation.json", "evaluation.png", "telemetry.jsonl"],
        "provenance": prov,
    }


def evaluation_figure(path: Path, result: dict[str, Any]) -> Path:
    """Return per episode with the mean and its confidence band."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    episodes = result["episodes"]
    stats = result["summary"]["return"]
    fig, ax = plt.subplots(figsize=(7, 3.8), constrained_layout=True)
    ax.plot([r["episode"] for r in episodes], [r["return"] for r in episodes], "o-", lw=1, ms=4,
            label="episode return")
    bad = [r for r in episodes if r["diverged"] or r["unsafe"]]
    if bad:
        ax.plot([r["episode"] for r in bad], [r["return"] for r in bad], "x", color="tab:red", ms=8,
                label="diverged or unsafe")
    if stats["mean"] is not None:
        ax.axhline(stats["mean"], color="k", lw=1.2, label=f"mean {stats['mean']:.4g}")
    if stats["ci_low"] is not None:
        ax.axhspan(stats["ci_low"], stats["ci_high"], color="0.85", zorder=0,
                   label=f"{stats['confidence']:.0%} CI of the mean (t)")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("evaluation episode (index)")
    ax.set_ylabel("episode return (sum of rewards, reward units)")
    mode = "deterministic (policy mean)" if result["settings"]["deterministic"] else "stochastic (sampled)"
    overrides = ", ".join(f"{k}={v}" for k, v in result["world_overrides"].items()) or "none"
    ax.set_title(f"{result['run']['name']} ({result['run']['variant']}) on {result['world']['id']}: {mode}; "
                 f"overrides: {overrides}", fontsize=8)
    ax.legend(fontsize=7, loc="best")
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
