"""The closed-loop runner: world -> (eyes, scientist) -> agent -> (safety) -> world.

One function, ``run_experiment``, wires the loop for every variant and writes the artifacts:
``results.json``, ``telemetry.jsonl`` (flushed as it goes), ``checkpoints/`` (so ``resume=True``
continues an interrupted run to the same final result), the hypothesis ledger and a summary
figure. The host-stepped loop is the reference: the scientist is NumPy/PySINDy code and the
safety envelope acts on host values; the world physics and the agent are jit-compiled JAX.

``config.loop`` chooses how the steps run: ``"host"`` one at a time from Python; ``"device"`` each
segment between two host events (an update, a checkpoint, the end, a stop) as one compiled scan
(``atom_sdk.experiment.device_loop``), whose steps are then recorded through the same named parts
below, the safety envelope reviewing each; ``"auto"`` (the default) the device loop where it can
express the run (no recurrent core, latent science or Jacobian block, a ``Dynamics`` world, no
observer or world factory), else the host loop; a scientist's segments end at its fits.
``results.json`` says which under ``timings.loop`` (and why not the device under ``timings.loop_reason``).

Each step of the loop is a named part: the policy (``atom_sdk.experiment.policy``) *acts*, the
world *steps*, the scientist *observes*, the loop *records* (rollout, telemetry, episode ends),
and after each rollout the policy *updates* and the loop *checkpoints*.
"""

from __future__ import annotations

import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import jax
import numpy as np

from atom_sdk.artifacts import JsonlWriter, read_json, write_json
from atom_sdk.compilation import CompilationCounter, active_cache_dir, enable_persistent_cache
from atom_sdk.config import RunConfig, build_run_config, config_hash
from atom_sdk.errors import Interrupted, RunInterrupted
from atom_sdk.experiment import checkpoint as ckpt
from atom_sdk.experiment.units import summary_units
from atom_sdk.experiment.variants import VariantSpec
from atom_sdk.provenance import provenance, utc_now
from atom_sdk.worlds import make

if TYPE_CHECKING:  # the policy pulls in the agent (flax, optax): imported when a run starts
    from atom_sdk.experiment.policy import Decision, Policy

#: Diagnostics copied into every telemetry line when the world provides them.
TELEMETRY_DIAGNOSTICS = ("energy", "energy_error", "amplitude", "drag", "lift", "shock_angle",
                         "pressure_ratio", "max_speed", "density_min", "density_max")
#: written to each step's telemetry line but not averaged into the summary: the targets and the theory
#: values the summary figure draws beside the measured series
TELEMETRY_REFERENCES = ("target_energy", "target_shock_angle", "theory_shock_angle")

#: Episode e of a run with seed s starts the world from seed s + EPISODE_SEED_STRIDE * e (a prime, so that
#: the episodes of nearby run seeds do not share starts); the vectorised trainer uses the same seeds.
EPISODE_SEED_STRIDE = 7919

ProgressFn = Callable[[int, int, dict[str, Any]], None]
ObserverFn = Callable[[Any, int], None]


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


def run_experiment(config: RunConfig | dict[str, Any], out_dir: str | Path | None = None, *,
                   overwrite: bool = False, resume: bool = False, progress: ProgressFn | None = None,
                   stop_after: int | None = None, memory_check: bool = True,
                   world_factory: Callable[[RunConfig], Any] | None = None, plan: Any = None,
                   observer: ObserverFn | None = None) -> dict[str, Any]:
    """Run one closed-loop experiment and write its artifacts; returns the results dict.

    Everything is validated first (``preflight.plan_run``): a refused run writes nothing.
    ``world_factory`` replaces ``make_world`` (the fault-injection suite wraps worlds this way).
    ``observer(world, step)`` is called after every step with the loop's world (behind the safety
    envelope), before ``progress``: the platform reads field snapshots this way.
    ``stop_after`` ends the loop after that many steps *without* writing results (used to
    simulate an interruption in tests); the checkpoint lets a later ``resume=True`` finish.
    Ctrl-C or SIGTERM raise ``RunInterrupted`` naming the last checkpoint.
    """
    from atom_sdk.experiment.device_loop import choose_loop
    from atom_sdk.experiment.preflight import plan_run, start_run

    config = resolve_config(config)
    if plan is None:  # a caller that already checked the run (the CLI, before its progress bar) passes its plan
        plan = plan_run(config, out_dir, overwrite=overwrite, resume=resume, memory_check=memory_check)
    # which loop steps the run; ``loop: "device"`` that cannot run is refused here, before anything is written
    loop_kind = choose_loop(config, stride=EPISODE_SEED_STRIDE, observer=observer, world_factory=world_factory)
    out = start_run(plan, config)
    enable_persistent_cache()  # a second run of the same shapes loads its programs instead of compiling
    with jax.default_device(plan.device):
        return _run(config, out, plan, progress=progress, stop_after=stop_after, world_factory=world_factory,
                    observer=observer, loop_kind=loop_kind)


def _run(config: RunConfig, out: Path, plan: Any, *, progress: ProgressFn | None, stop_after: int | None,
         world_factory: Callable[[RunConfig], Any] | None, observer: ObserverFn | None,
         loop_kind: tuple[str, str | None] = ("host", None)) -> dict[str, Any]:
    from atom_sdk.devices import describe_device

    started = time.perf_counter()
    started_at = utc_now()
    first_step: float | None = None
    with CompilationCounter() as compiled:
        loop = _start(config, out, plan, world_factory)
        device = _Device.build(loop) if loop_kind[0] == "device" else None
        try:
            while loop.state.step < config.steps:
                if stop_after is not None and loop.state.step >= stop_after:
                    return {"interrupted_at": loop.state.step}
                if device is not None and device.ready(loop):
                    device.done(_device_segment(loop, device, _horizon(loop, stop_after), progress))
                else:
                    decision = _act(loop)
                    transition = _step(loop, decision)
                    _record(loop, transition, _observe(loop, transition))
                    if device is not None:
                        device.host_steps += 1
                if first_step is None:
                    first_step = time.perf_counter() - started
                if len(loop.buffer) == config.agent.rollout_length or loop.state.step == config.steps:
                    _update(loop)
                    _checkpoint(loop)
                if observer is not None:  # never with the device loop
                    observer(loop.world, loop.state.step)
                if progress is not None:  # a segment reported its other steps as it recorded them
                    progress(loop.state.step, config.steps, {"trust": loop.policy.trust, "episode": loop.state.episode})
        except (KeyboardInterrupt, Interrupted) as exc:
            raise _interrupted(exc, out, loop.state.step, loop.checkpoint_step) from None
        finally:
            loop.telemetry.close()
            loop.policy.close()

    wall = time.perf_counter() - started
    results = _results(config, loop.policy, loop.world, loop.state, out, wall, started_at)
    cache = active_cache_dir()
    results["timings"].update(first_step_seconds=first_step, **compiled.as_dict(),
                              compilation_cache=str(cache) if cache is not None else None)
    results["timings"]["loop"] = loop_kind[0]
    if loop_kind[1] is not None:
        results["timings"]["loop_reason"] = loop_kind[1]
    if device is not None:
        results["timings"]["device_loop"] = device.as_dict()
    results["safety"] = loop.envelope.report() if loop.envelope is not None else {"enabled": False}
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


# ----------------------------------------------------------------------------- the loop's parts
@dataclass
class _Loop:
    """What the loop works on: the world (behind the safety envelope), the policy, the carried state."""

    config: RunConfig
    out: Path
    world: Any
    envelope: Any
    policy: Policy
    state: LoopState
    obs: np.ndarray  # observation the next action is chosen from
    x_prev: np.ndarray  # the reading (``Policy.measure``) of the world's observables at that observation
    prev_action: np.ndarray  # the control applied last (zeros after a reset)
    telemetry: JsonlWriter | None = None  # opened once a resume has cut what followed its checkpoint
    buffer: list[dict[str, Any]] = field(default_factory=list)
    checkpoint_step: int | None = None

    @property
    def theory_allowed(self) -> bool:
        """Whether the safety envelope lets the theory reach the agent and the controller now."""
        return self.envelope is None or self.envelope.theory_allowed


@dataclass
class _Transition:
    """One world step: the decision that caused it and what the world returned."""

    decision: Decision
    next_obs: np.ndarray
    reward: float
    terminated: bool
    truncated: bool
    info: dict[str, Any]
    x_next: np.ndarray | None  # the reading of the observables after the step (the terminal reading at an end);
    # None in a device segment, whose loop reads the observables once, at its end
    bootstrap: float | None = None  # V(final observation) of a truncated step, when the device computed it

    @property
    def done(self) -> bool:
        return bool(self.terminated or self.truncated)


def _start(config: RunConfig, out: Path, plan: Any, world_factory: Callable[[RunConfig], Any] | None) -> _Loop:
    """World (+ envelope), first reset, policy; on resume, everything the checkpoint restores."""
    from atom_sdk.experiment.policy import Policy

    world = (world_factory or make_world)(config)
    envelope = None
    if config.safety.enabled:
        from atom_sdk.safety import SafetyEnvelope

        world = envelope = SafetyEnvelope(world, config.safety, control_dir=out / "control")
    state = LoopState(episode_seed=config.seed)
    obs, _ = world.reset(seed=state.episode_seed)
    policy = Policy(config, world, ledger_dir=out)
    x_prev = policy.measure(world.observables(), state.step)
    loop = _Loop(config, out, world, envelope, policy, state, obs, x_prev, np.zeros(world.action_space.shape))
    science = policy.science
    if envelope is not None and science is not None:
        envelope.trust_fn = science.theory_trust
        # the fallback acts on the reading of the state before the step it replaces
        envelope.fallback = lambda _obs: science.controller(envelope, loop.x_prev)
    if plan.mode in {"resume", "extend"}:
        _restore(loop, ckpt.load(out, plan.checkpoint_hashes))
    loop.telemetry = JsonlWriter(out / "telemetry.jsonl")
    return loop


def _restore(loop: _Loop, restored: dict[str, Any]) -> None:
    """Continue from a checkpoint: world, loop state, policy, envelope; drop telemetry written after it."""
    world = loop.world
    world.restore(ckpt.restore_world(world, restored["world"]))
    loop.policy.load_state_dict(restored)
    loop.state = LoopState(**restored["loop"])
    loop.obs = np.asarray(restored["obs"], dtype=world.observation_space.dtype)
    loop.prev_action = np.asarray(loop.state.prev_action).reshape(world.action_space.shape)
    loop.x_prev = np.asarray(restored["x_prev"], dtype=np.float64)
    if loop.envelope is not None and loop.state.safety:
        loop.envelope.load_state_dict(loop.state.safety)
    ckpt.truncate_lines(loop.out / "telemetry.jsonl", loop.state.telemetry_lines)
    loop.checkpoint_step = loop.state.step


def _act(loop: _Loop) -> Decision:
    """The policy chooses from the current observation (theory withheld when the envelope says so)."""
    return loop.policy.act(loop.obs, x=loop.x_prev, u=loop.prev_action, theory_allowed=loop.theory_allowed)


def _step(loop: _Loop, decision: Decision) -> _Transition:
    """The world takes the action."""
    next_obs, reward, terminated, truncated, info = loop.world.step(decision.env_action)
    x_next = _reading_after(loop, loop.world.observables(), bool(terminated or truncated))
    return _Transition(decision, next_obs, reward, terminated, truncated, info, x_next)


def _reading_after(loop: _Loop, clean: np.ndarray, ended: bool) -> np.ndarray:
    """The scientist's reading of observables ``clean`` after this step: after an end the episode's
    terminal one; otherwise the state before the next step."""
    step = loop.state.step
    return loop.policy.measure(clean, step if ended else step + 1, terminal=ended)


def _observe(loop: _Loop, t: _Transition) -> list[dict[str, Any]]:
    """The scientist sees the transition (and may refit); its decisions are counted."""
    decisions = loop.policy.observe(loop.x_prev, t.decision.env_action, t.x_next, t.done, loop.state.step,
                                    reward=float(t.reward))
    for d in decisions:
        kind = str(d.get("kind", d.get("decision", "decision")))
        loop.state.decisions[kind] = loop.state.decisions.get(kind, 0) + 1
    return decisions


def _learn_reward(loop: _Loop, t: _Transition) -> float:
    """The reward PPO learns from: a time limit is not a true end, so bootstrap with gamma * V(final obs)."""
    reward = float(t.reward)
    if t.truncated and not t.terminated:
        value = t.bootstrap  # a device segment's V(final obs), when the scan's theory still holds
        if value is None:
            final = loop.policy.inputs(t.next_obs, t.x_next, t.decision.env_action.reshape(-1), loop.theory_allowed)
            value = loop.policy.value(final)
        reward += loop.config.agent.gamma * value
    return reward


def _record(loop: _Loop, t: _Transition, decisions: list[dict[str, Any]]) -> None:
    """Rollout, sums, telemetry; then the episode's end (reset) and the carry to the next step."""
    state, d = loop.state, t.decision
    loop.buffer.append({"inputs": d.inputs, "action": np.asarray(d.action), "log_prob": d.log_prob,
                        "value": d.value, "reward": _learn_reward(loop, t), "done": t.done, "hidden": d.hidden})
    state.reward_sum += float(t.reward)
    state.episode_return += float(t.reward)
    state.episode_length += 1
    diag = t.info.get("diagnostics", {})
    for name in TELEMETRY_DIAGNOSTICS:
        if name in diag:
            state.diag_sums[name] = state.diag_sums.get(name, 0.0) + diag[name]
    envelope = loop.envelope
    line = {"kind": "step", "step": state.step, "episode": state.episode, "reward": float(t.reward),
            "action": d.env_action.reshape(-1).tolist(), "trust": loop.policy.trust,
            "safety_mode": envelope.mode_name if envelope is not None else None,
            "diagnostics": {k: diag[k] for k in TELEMETRY_DIAGNOSTICS + TELEMETRY_REFERENCES if k in diag}}
    if decisions:
        line["science"] = [{k: x.get(k) for k in ("kind", "reasons", "scores") if k in x} for x in decisions]
    _write(loop, line)
    for event in envelope.drain_events() if envelope is not None else ():
        _write(loop, {"kind": "safety", **event})
    state.step += 1
    next_obs, x_next, action = t.next_obs, t.x_next, d.env_action
    if t.done:
        next_obs, x_next, action = _end_episode(loop, t, diag)
    loop.obs, loop.x_prev, loop.prev_action = next_obs, x_next, action


def _end_episode(loop: _Loop, t: _Transition, diag: dict[str, Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Record the finished episode and reset the world; returns the new (obs, observables, last control)."""
    state, world = loop.state, loop.world
    state.episodes.append({"episode": state.episode, "return": state.episode_return,
                           "length": state.episode_length, "diverged": bool(t.terminated),
                           "unsafe": bool(t.info.get("unsafe", False)),
                           "final_diagnostics": {k: diag[k] for k in TELEMETRY_DIAGNOSTICS if k in diag}})
    state.episode += 1
    state.episode_return, state.episode_length = 0.0, 0
    state.episode_seed = loop.config.seed + EPISODE_SEED_STRIDE * state.episode
    next_obs, _ = world.reset(seed=state.episode_seed)
    loop.policy.reset_memory()
    return next_obs, loop.policy.measure(world.observables(), state.step), np.zeros(world.action_space.shape)


def _update(loop: _Loop) -> None:
    """A PPO update on the collected rollout (skipped when it does not split into the minibatches)."""
    state = loop.state
    if len(loop.buffer) % loop.config.agent.num_minibatches == 0:
        state.last_update_metrics = loop.policy.update(_stack_rollout(loop.buffer), loop.obs, loop.x_prev,
                                                       loop.prev_action)
        state.updates += 1
        _write(loop, {"kind": "update", "step": state.step, "update": state.updates, **state.last_update_metrics})
    loop.buffer.clear()


def _checkpoint(loop: _Loop) -> None:
    """Everything a resume needs, written atomically after each rollout."""
    state = loop.state
    if loop.policy.science is not None:
        state.trust_trajectory.append([state.step, loop.policy.science.trust])
    state.prev_action = loop.prev_action.reshape(-1).tolist()
    if loop.envelope is not None:
        state.safety = loop.envelope.state_dict()
    ckpt.save(loop.out, config_hash(loop.config), world=loop.world, loop=state, obs=loop.obs, x_prev=loop.x_prev,
              **loop.policy.state_dict())
    loop.checkpoint_step = state.step


# ----------------------------------------------------------------------------- the device loop
@dataclass
class _Device:
    """The device loop's program and counters (``atom_sdk.experiment.device_loop``)."""

    program: Callable[..., Any]
    real: Any  # the world itself, behind the envelope
    seed: np.int32
    segments: int = 0
    device_steps: int = 0
    host_steps: int = 0
    early_stops: int = 0
    backoff: int = 0  # host steps still to take after a segment that stopped early

    @classmethod
    def build(cls, loop: _Loop) -> "_Device":
        from atom_sdk.experiment.device_loop import SegmentProgram

        real = loop.envelope.env if loop.envelope is not None else loop.world
        science = None
        if loop.policy.science is not None:
            from atom_sdk.experiment.device_science import DeviceScience

            science = DeviceScience.of(loop.config, loop.policy.variant, real)
        program = SegmentProgram.build(loop.config, real, loop.policy.variant.use_encoder,
                                       clean_fields=loop.envelope is not None, stride=EPISODE_SEED_STRIDE,
                                       science=science)
        return cls(program, real, np.int32(loop.config.seed))

    def ready(self, loop: _Loop) -> bool:
        """A segment now? Not while the envelope is above nominal (it clips or replaces most actions
        there, so segments would stop after a step) nor right after a segment that stopped early."""
        from atom_sdk.safety.envelope import NOMINAL

        if self.backoff > 0:
            self.backoff -= 1
            return False
        return loop.envelope is None or loop.envelope.mode == NOMINAL

    def done(self, used: tuple[int, bool]) -> None:
        steps, whole = used
        self.segments += 1
        self.device_steps += steps
        if whole:
            self.early_stops = 0
        else:  # back off to the host loop for 1, 2, 4, ... 64 steps while segments keep stopping early
            self.backoff = min(2 ** self.early_stops, 64)
            self.early_stops += 1

    def as_dict(self) -> dict[str, int]:
        return {"segments": self.segments, "device_steps": self.device_steps, "host_steps": self.host_steps}


def _horizon(loop: _Loop, stop_after: int | None) -> int:
    """Steps to the next event that needs the host: the rollout's end (update, checkpoint), the run's end, a stop."""
    state = loop.state
    steps = min(loop.config.agent.rollout_length - len(loop.buffer), loop.config.steps - state.step)
    return steps if stop_after is None else min(steps, stop_after - state.step)


def _device_segment(loop: _Loop, device: _Device, horizon: int, progress: ProgressFn | None) -> tuple[int, bool]:
    """Run ``horizon`` steps on the device, then record them through the loop's own parts.

    The world behind the envelope is swapped for a ``ReplayWorld`` of the segment while it is
    recorded, so the envelope reviews every step as in the host loop; the first step whose
    transition differs from the scan's (the envelope clipped, replaced or rolled back) is recorded
    as the real world answered it and ends the segment. With a scientist the segment also ends at
    its next fit (the theory is fixed inside one) and where the envelope's ``theory_allowed`` changes,
    and the scientist sees each step as in the host loop. Returns (steps recorded, whole segment used).
    """
    from atom_sdk.experiment import device_science as ds
    from atom_sdk.experiment.device_loop import ReplayWorld, Segment, start_carry
    from atom_sdk.experiment.policy import Decision

    policy, state, science = loop.policy, loop.state, loop.policy.science
    sci, sci_in, allowed = None, None, loop.theory_allowed
    if science is not None:
        horizon = ds.fit_horizon(science, state.step, horizon)
        sci = ds.start_science(science, loop.x_prev, loop.prev_action)
        sci_in = ds.segment_inputs(science, state.step, horizon, loop.config.agent.rollout_length, allowed)
    carry = start_carry(policy, device.real, loop.obs, state.episode, sci)
    final, outs = device.program(policy.agent, carry, device.seed, np.int32(horizon), sci_in)
    segment = Segment(final, outs, horizon, device.real.action_space.shape)
    replay = ReplayWorld(device.real, segment)
    if loop.envelope is not None:
        loop.envelope.env = replay
    else:
        loop.world = replay
    steps, ended, whole = 0, False, True
    try:
        for i in range(horizon):
            parts = segment.decision_parts(i)
            decision = Decision(parts["inputs"], parts["action"], parts["log_prob"], parts["value"],
                                parts["env_action"])
            policy.norm = policy.norm.update(loop.obs)  # what Policy.act does, in the host's float64
            policy.key = segment.key_after(i)
            next_obs, reward, terminated, truncated, info = loop.world.step(decision.env_action)
            same = not replay.live and segment.matches(i, next_obs, reward, terminated, truncated)
            transition = _Transition(decision, next_obs, reward, terminated, truncated, info, None,
                                     bootstrap=segment.bootstrap(i) if same else None)
            decisions, cut = [], False
            if science is not None:
                transition.x_next = _segment_reading(loop, segment, i, same, transition.done)
                fitted_before = science.scientist._last_fit_step
                decisions = _observe(loop, transition)
                # a fit changes the theory the next step reads; a changed gate, whether it reaches the agent
                cut = science.scientist._last_fit_step != fitted_before or loop.theory_allowed != allowed
                if cut:  # the truncation bootstrap reads the refitted (or newly withheld) theory
                    transition.bootstrap = None
            _record(loop, transition, decisions)
            steps, ended = steps + 1, transition.done
            stop = not same or (ended and not segment.reset_matches(i, loop.obs))
            if stop or cut or i == horizon - 1:  # the loop reports the last step, after the update it may bring
                whole = not stop or i == horizon - 1
                break
            if progress is not None:
                progress(state.step, loop.config.steps, {"trust": policy.trust, "episode": state.episode})
    finally:
        replay.finish()
        if loop.envelope is not None:
            loop.envelope.env = device.real
        else:
            loop.world = device.real
    if not ended and science is None:  # the reading the next step acts on (an episode's end read it after its reset)
        loop.x_prev = policy.measure(loop.world.observables(), state.step)
    return steps, whole


def _segment_reading(loop: _Loop, segment: Any, i: int, same: bool, ended: bool) -> np.ndarray:
    """The scientist's reading after segment step ``i`` (``_step``'s), measured in float64 from the scan's
    clean observables when the step is the scan's, from the world otherwise."""
    clean = segment.host["clean"][i] if same else loop.world.observables()
    return _reading_after(loop, np.asarray(clean, np.float64), ended)


def _write(loop: _Loop, line: dict[str, Any]) -> None:
    assert loop.telemetry is not None
    loop.telemetry.write(line)
    loop.state.telemetry_lines += 1


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
    inputs = {k: _stack_inputs([b["inputs"][k] for b in buffer]) for k in keys}
    return Rollout(
        inputs=inputs,
        actions=np.stack([np.asarray(b["action"]) for b in buffer]),
        log_probs=np.asarray([b["log_prob"] for b in buffer], np.float32),
        values=np.asarray([b["value"] for b in buffer], np.float32),
        rewards=np.asarray([b["reward"] for b in buffer], np.float32),
        dones=np.asarray([b["done"] for b in buffer], np.float32),
        hiddens=np.stack([b["hidden"] for b in buffer]) if buffer[0].get("hidden") is not None else None,
    )


def _stack_inputs(rows: list[Any]) -> Any:
    """One input of the rollout stacked over its steps (a device segment's fields may stay on the device)."""
    if isinstance(rows[0], np.ndarray):
        return np.stack(rows)
    from atom_sdk.experiment.device_loop import stack_fields

    return stack_fields(rows)


def _results(config: RunConfig, policy: Policy, world: Any, state: LoopState, out: Path, wall: float,
             started_at: str) -> dict[str, Any]:
    variant: VariantSpec = policy.variant
    science = policy.science
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
        "summary_units": summary_units(world, summary),
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
