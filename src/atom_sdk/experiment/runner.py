"""The closed-loop runner: world -> (eyes, scientist) -> agent -> (safety) -> world.

One function, ``run_experiment``, wires the loop for every variant and writes the artifacts:
``results.json``, ``telemetry.jsonl`` (flushed as it goes), ``checkpoints/`` (so ``resume=True``
continues an interrupted run to the same final result), the hypothesis ledger and a summary
figure. The loop is stepped on the host because the scientist is NumPy/PySINDy code; the world
physics and the agent are jit-compiled JAX.
"""

from __future__ import annotations

import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import jax
import numpy as np

from atom_sdk.artifacts import JsonlWriter, read_json, write_json
from atom_sdk.config import RunConfig, build_run_config, config_hash
from atom_sdk.errors import Interrupted, RunInterrupted
from atom_sdk.experiment import checkpoint as ckpt
from atom_sdk.experiment.normalizer import RunningNorm
from atom_sdk.experiment.variants import VariantSpec, resolve_variant
from atom_sdk.provenance import provenance, utc_now
from atom_sdk.worlds import make

#: Diagnostics copied into every telemetry line when the world provides them.
TELEMETRY_DIAGNOSTICS = ("energy", "energy_error", "amplitude", "drag", "lift", "shock_angle",
                         "pressure_ratio", "max_speed", "density_min", "density_max")

ProgressFn = Callable[[int, int, dict[str, Any]], None]


@dataclass
class LoopState:
    """Everything the loop carries between steps that a checkpoint must restore."""

    step: int = 0
    episode: int = 0
    episode_return: float = 0.0
    episode_length: int = 0
    episode_seed: int = 0
    episodes: list[dict[str, Any]] = field(default_factory=list)
    trust_trajectory: list[list[float]] = field(default_factory=list)
    decisions: dict[str, int] = field(default_factory=dict)
    updates: int = 0
    last_update_metrics: dict[str, float] = field(default_factory=dict)
    reward_sum: float = 0.0
    diag_sums: dict[str, float] = field(default_factory=dict)
    telemetry_lines: int = 0
    prev_action: list[float] = field(default_factory=list)
    safety: dict[str, Any] = field(default_factory=dict)  # SafetyEnvelope.state_dict()


def make_world(config: RunConfig):
    """Build the configured world (grid, dtype, episode length and parameters from the config)."""
    w = config.world
    return make(w.name, grid=tuple(w.grid), dtype=w.dtype, max_episode_steps=w.max_episode_steps, **w.params)


def resolve_config(config: RunConfig | dict[str, Any]) -> RunConfig:
    return config if isinstance(config, RunConfig) else build_run_config(config)


class _ScienceBridge:
    """Adapter between the runner and the scientist: features, gating and the theory controller."""

    def __init__(self, config: RunConfig, variant: VariantSpec, world: Any, out_dir: Path) -> None:
        from atom_sdk.science import HypothesisLedger, Scientist

        settings = config.scientist.model_copy(update={"ensembled": variant.ensembled})
        names = list(getattr(world, "observable_names", ())) or ["x0"]
        n_ctrl = int(np.prod(world.action_space.shape))
        self.n_vars = len(names)
        self.n_ctrl = n_ctrl
        self.variant = variant
        self.gate_threshold = config.scientist.trust_gate_threshold
        self.ledger = HypothesisLedger(out_dir / "ledger.jsonl")
        self.scientist = Scientist(settings, names, [f"u{i}" for i in range(n_ctrl)], float(world.dt),
                                   ledger=self.ledger, run_id=config.name, seed=config.seed)
        self.feature_dim = Scientist.feature_dim(self.n_vars, n_ctrl)

    @property
    def trust(self) -> float:
        return float(self.scientist.trust)

    @property
    def trusted(self) -> bool:
        return self.trust >= self.gate_threshold

    def theory_trust(self) -> float | None:
        """Trust for the safety envelope: None while no law is accepted (no theory to distrust yet)."""
        theory = self.scientist.theory if hasattr(self.scientist, "theory") else self.scientist.laws()
        return self.trust if theory else None

    def features(self, x: np.ndarray, u: np.ndarray) -> np.ndarray:
        feats = np.asarray(self.scientist.theory_features(x, u), dtype=np.float32)
        if self.variant.trust_gate:
            feats = feats * np.float32(self.trust) if self.trusted else np.zeros_like(feats)
        return feats

    def controller(self, world: Any, x: np.ndarray) -> np.ndarray:
        low, high = world.action_space.low.astype(np.float64), world.action_space.high.astype(np.float64)
        target = world.control_target() if hasattr(world, "control_target") else None
        if target is None or not self.trusted:
            return np.zeros(world.action_space.shape)
        goal, weights = target
        return np.asarray(self.scientist.greedy_control(x, goal, weights, low, high)).reshape(world.action_space.shape)


def _inputs(variant: VariantSpec, world: Any, obs_norm: np.ndarray, theory: np.ndarray | None) -> dict[str, Any]:
    vector = obs_norm if theory is None else np.concatenate([obs_norm, theory]).astype(np.float32)
    inputs: dict[str, Any] = {"vector": vector.astype(np.float32)}
    if variant.use_encoder:
        inputs["fields"] = world.field_tensor()
    return inputs


def run_experiment(config: RunConfig | dict[str, Any], out_dir: str | Path | None = None, *,
                   overwrite: bool = False, resume: bool = False, progress: ProgressFn | None = None,
                   stop_after: int | None = None, memory_check: bool = True,
                   world_factory: Callable[[RunConfig], Any] | None = None, plan: Any = None) -> dict[str, Any]:
    """Run one closed-loop experiment and write its artifacts; returns the results dict.

    Everything is validated first (``preflight.plan_run``): a refused run writes nothing.
    ``world_factory`` replaces ``make_world`` (the fault-injection suite wraps worlds this way).
    ``stop_after`` ends the loop after that many steps *without* writing results (used to
    simulate an interruption in tests); the checkpoint lets a later ``resume=True`` finish.
    Ctrl-C or SIGTERM raise ``RunInterrupted`` naming the last checkpoint.
    """
    from atom_sdk.experiment.preflight import plan_run, start_run

    config = resolve_config(config)
    if plan is None:  # a caller that already checked the run (the CLI, before its progress bar) passes its plan
        plan = plan_run(config, out_dir, overwrite=overwrite, resume=resume, memory_check=memory_check)
    out = start_run(plan, config)
    with jax.default_device(plan.device):
        return _run(config, out, plan, progress=progress, stop_after=stop_after, world_factory=world_factory)


def _run(config: RunConfig, out: Path, plan: Any, *, progress: ProgressFn | None, stop_after: int | None,
         world_factory: Callable[[RunConfig], Any] | None) -> dict[str, Any]:
    from atom_sdk.agent import ppo
    from atom_sdk.devices import describe_device

    resuming = plan.mode in {"resume", "extend"}
    variant = resolve_variant(config)
    started = time.perf_counter()
    started_at = utc_now()

    world = (world_factory or make_world)(config)
    envelope = None
    if config.safety.enabled:
        from atom_sdk.safety import SafetyEnvelope

        world = envelope = SafetyEnvelope(world, config.safety, control_dir=out / "control")
    low = np.asarray(world.action_space.low, dtype=np.float64)
    high = np.asarray(world.action_space.high, dtype=np.float64)
    science = _ScienceBridge(config, variant, world, out) if variant.use_scientist else None
    if envelope is not None and science is not None:
        envelope.trust_fn = science.theory_trust
        envelope.fallback = lambda _obs: science.controller(envelope, envelope.observables())
    theory_dim = science.feature_dim if science else 0

    state = LoopState(episode_seed=config.seed)
    obs, _ = world.reset(seed=state.episode_seed)
    norm = RunningNorm(obs.shape[0])
    prev_action = np.zeros(world.action_space.shape)
    x_prev = world.observables()

    derived = ppo.DerivedSettings.for_run(config.agent, steps=config.steps, symplectic=variant.symplectic,
                                          dt=float(world.dt))
    example = _inputs(variant, world, np.zeros(obs.shape[0], np.float32),
                      np.zeros(theory_dim, np.float32) if science else None)
    key = jax.random.PRNGKey(config.seed)
    key, init_key = jax.random.split(key)
    agent = ppo.create_agent(init_key, example, world.action_space, config.agent, derived)

    if resuming:
        restored = ckpt.load(out, plan.checkpoint_hashes)
        agent = ppo.load(agent, restored["agent"])
        world.restore(ckpt.restore_world(world, restored["world"]))
        state = LoopState(**restored["loop"])
        norm = RunningNorm.from_dict(restored["normalizer"])
        key = jax.numpy.asarray(np.asarray(restored["key"], dtype=np.uint32))
        obs = np.asarray(restored["obs"], dtype=world.observation_space.dtype)
        prev_action = np.asarray(state.prev_action).reshape(world.action_space.shape)
        x_prev = np.asarray(restored["x_prev"], dtype=np.float64)
        if science is not None and restored.get("scientist") is not None:
            science.scientist.load_state_dict(restored["scientist"])
        if envelope is not None and state.safety:
            envelope.load_state_dict(state.safety)
        ckpt.truncate_lines(out / "telemetry.jsonl", state.telemetry_lines)

    telemetry = JsonlWriter(out / "telemetry.jsonl")
    buffer: list[dict[str, Any]] = []
    checkpoint_step = state.step if resuming else None
    try:
        while state.step < config.steps:
            if stop_after is not None and state.step >= stop_after:
                return {"interrupted_at": state.step}
            norm.update(obs)
            theory = science.features(x_prev, prev_action) if science else None
            if theory is not None and envelope is not None and not envelope.theory_allowed:
                theory = np.zeros_like(theory)  # the envelope withholds a distrusted theory
            inputs = _inputs(variant, world, norm.normalize(obs), theory)
            key, act_key = jax.random.split(key)
            action, logp, value = ppo.act(agent, inputs, act_key)
            agent_action = np.asarray(action, dtype=np.float64).reshape(world.action_space.shape)
            env_action = agent_action
            if variant.residual_policy and science is not None and (envelope is None or envelope.theory_allowed):
                env_action = np.clip(science.controller(world, x_prev) + agent_action, low, high)

            next_obs, reward, terminated, truncated, info = world.step(env_action)
            x_next = world.observables()
            decisions: list[dict[str, Any]] = []
            if science is not None:
                science.scientist.observe(x_prev, env_action.reshape(-1))
                if terminated or truncated:
                    science.scientist.observe(x_next, np.zeros(science.n_ctrl))
                    science.scientist.mark_boundary()
                decisions = science.scientist.update(state.step)
                for d in decisions:
                    kind = str(d.get("kind", d.get("decision", "decision")))
                    state.decisions[kind] = state.decisions.get(kind, 0) + 1

            done = bool(terminated or truncated)
            learn_reward = float(reward)
            if truncated and not terminated:
                # a time limit is not a true end: bootstrap with gamma * V(final observation)
                final_theory = science.features(x_next, env_action.reshape(-1)) if science else None
                if final_theory is not None and envelope is not None and not envelope.theory_allowed:
                    final_theory = np.zeros_like(final_theory)
                final_inputs = _inputs(variant, world, norm.normalize(next_obs), final_theory)
                learn_reward += config.agent.gamma * float(ppo.value(agent, final_inputs))
            buffer.append({"inputs": inputs, "action": np.asarray(action), "log_prob": float(logp),
                           "value": float(value), "reward": learn_reward, "done": done})
            state.reward_sum += float(reward)
            state.episode_return += float(reward)
            state.episode_length += 1
            diag = info.get("diagnostics", {})
            for name in TELEMETRY_DIAGNOSTICS:
                if name in diag:
                    state.diag_sums[name] = state.diag_sums.get(name, 0.0) + diag[name]
            trust = science.trust if science else None
            line = {"kind": "step", "step": state.step, "episode": state.episode, "reward": float(reward),
                    "action": env_action.reshape(-1).tolist(), "trust": trust,
                    "safety_mode": envelope.mode_name if envelope is not None else None,
                    "diagnostics": {k: diag[k] for k in TELEMETRY_DIAGNOSTICS if k in diag}}
            if decisions:
                line["science"] = [{k: d.get(k) for k in ("kind", "reasons", "scores") if k in d} for d in decisions]
            telemetry.write(line)
            state.telemetry_lines += 1
            for event in envelope.drain_events() if envelope is not None else ():
                telemetry.write({"kind": "safety", **event})
                state.telemetry_lines += 1
            state.step += 1

            if done:
                state.episodes.append({"episode": state.episode, "return": state.episode_return,
                                       "length": state.episode_length, "diverged": bool(terminated),
                                       "unsafe": bool(info.get("unsafe", False)),
                                       "final_diagnostics": {k: diag[k] for k in TELEMETRY_DIAGNOSTICS if k in diag}})
                state.episode += 1
                state.episode_return, state.episode_length = 0.0, 0
                state.episode_seed = config.seed + 7919 * state.episode
                next_obs, _ = world.reset(seed=state.episode_seed)
                x_next = world.observables()
                env_action = np.zeros(world.action_space.shape)
            obs, x_prev, prev_action = next_obs, x_next, env_action

            if len(buffer) == config.agent.rollout_length or state.step == config.steps:
                if len(buffer) % config.agent.num_minibatches == 0:
                    norm_obs = norm.normalize(obs)
                    theory = science.features(x_prev, prev_action) if science else None
                    last_value = ppo.value(agent, _inputs(variant, world, norm_obs, theory))
                    key, update_key = jax.random.split(key)
                    agent, metrics = ppo.update(agent, _stack_rollout(buffer), last_value, update_key)
                    state.updates += 1
                    state.last_update_metrics = {k: float(v) for k, v in metrics.items()}
                    telemetry.write({"kind": "update", "step": state.step, "update": state.updates,
                                     **state.last_update_metrics})
                    state.telemetry_lines += 1
                buffer.clear()
                if science is not None:
                    state.trust_trajectory.append([state.step, science.trust])
                state.prev_action = prev_action.reshape(-1).tolist()
                if envelope is not None:
                    state.safety = envelope.state_dict()
                ckpt.save(out, config_hash(config), agent=ppo.save(agent), world=world, loop=state,
                          normalizer=norm.to_dict(), key=np.asarray(key), obs=obs, x_prev=x_prev,
                          scientist=science.scientist.state_dict() if science else None)
                checkpoint_step = state.step
            if progress is not None:
                progress(state.step, config.steps, {"trust": trust, "episode": state.episode})
    except (KeyboardInterrupt, Interrupted) as exc:
        raise _interrupted(exc, out, state.step, checkpoint_step) from None
    finally:
        telemetry.close()
        if science is not None:
            science.ledger.close()

    wall = time.perf_counter() - started
    results = _results(config, variant, world, state, science, out, wall, started_at)
    results["safety"] = envelope.report() if envelope is not None else {"enabled": False}
    results["provenance"]["device"] = describe_device(plan.device, config.device)
    if plan.mode == "extend":
        results["provenance"]["extended_from_steps"] = plan.saved_steps
    write_json(out / "results.json", results)
    try:
        from atom_sdk.experiment.figures import summary_figure

        summary_figure(out, results)
    except ImportError:  # pragma: no cover - matplotlib is a core dependency
        pass
    return results


def _interrupted(exc: BaseException, out: Path, step: int, checkpoint_step: int | None) -> RunInterrupted:
    signum = int(getattr(exc, "signal_number", signal.SIGINT))
    what = "interrupted" if signum == signal.SIGINT else f"stopped by {signal.Signals(signum).name}"
    if checkpoint_step is None:
        kept = "no checkpoint was written yet, so resuming starts it again from step 0"
    else:
        kept = (f"the checkpoint at step {checkpoint_step} is intact in '{out / ckpt.CHECKPOINT}' and resuming "
                f"continues from there to the same result")
    return RunInterrupted(f"run {what} at step {step}; {kept}", signal_number=signum)


def _stack_rollout(buffer: list[dict[str, Any]]):
    from atom_sdk.agent.ppo import Rollout

    keys = buffer[0]["inputs"].keys()
    inputs = {k: np.stack([b["inputs"][k] for b in buffer]) for k in keys}
    return Rollout(
        inputs=inputs,
        actions=np.stack([np.asarray(b["action"]) for b in buffer]),
        log_probs=np.asarray([b["log_prob"] for b in buffer], np.float32),
        values=np.asarray([b["value"] for b in buffer], np.float32),
        rewards=np.asarray([b["reward"] for b in buffer], np.float32),
        dones=np.asarray([b["done"] for b in buffer], np.float32),
    )


def _results(config: RunConfig, variant: VariantSpec, world: Any, state: LoopState, science: _ScienceBridge | None,
             out: Path, wall: float, started_at: str) -> dict[str, Any]:
    episodes = state.episodes
    returns = [e["return"] for e in episodes]
    partial = state.episode_return if state.episode_length else None
    steps = max(state.step, 1)
    summary: dict[str, Any] = {
        "steps": state.step,
        "episodes_completed": len(episodes),
        "mean_reward": state.reward_sum / steps,
        "mean_return": float(np.mean(returns)) if returns else partial,
        "final_return": returns[-1] if returns else partial,
        "updates": state.updates,
        "final_trust": science.trust if science else None,
        "mean_trust": (float(np.mean([t for _, t in state.trust_trajectory])) if state.trust_trajectory else None),
        "diverged_episodes": sum(1 for e in episodes if e["diverged"]),
    }
    for name, total in sorted(state.diag_sums.items()):
        summary[f"mean_{name}"] = total / steps
    laws = science.scientist.laws() if science else []
    return {
        "schema": "atom.results/1",
        "name": config.name,
        "provenance": provenance(config),
        "world": {"id": config.world.name, "grid": list(config.world.grid), "dt": float(world.dt),
                  "observables": list(getattr(world, "observable_names", ()))},
        "variant": variant.as_dict(),
        "summary": summary,
        "episodes": episodes,
        "laws": laws,
        "trust_trajectory": state.trust_trajectory,
        "science_decisions": dict(sorted(state.decisions.items())),
        "last_update": state.last_update_metrics,
        "artifacts": sorted({p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()
                             and not p.name.startswith(".")} | {"results.json", "summary.png", "summary.pdf"}),
        "timings": {"wall_seconds": wall, "steps_per_second": state.step / wall if wall > 0 else None,
                    "started_at": started_at, "finished_at": utc_now()},
    }


def load_results(path: str | Path) -> dict[str, Any]:
    return read_json(Path(path) / "results.json" if Path(path).is_dir() else path)
