"""The learning controller of the supersonic challenge: the full closed loop, trained, then scored.

Why through the experiment runner: the agent that meets the challenge is the SDK's own loop
(field encoder, online scientist with its trust gate, safety envelope, PPO), not a second copy of
it. ``train_agent`` runs ``run_experiment`` on ``ChallengeWedge`` (the wedge physics with the
scheduled target in its observation and reward ``-|shock_angle - target|`` in degrees), one
training episode per pass of the challenge's schedule, for a budget of ``AgentBudget.episodes``
episodes. ``AgentControl`` then acts with the trained ``Policy`` (deterministic: the policy mean,
frozen normaliser and theory) inside the challenge's own control loop, so the agent is audited
and scored exactly as the scripted PI controller is.
"""

from __future__ import annotations

import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from atom_sdk.errors import ConfigError

#: scripted: the PI controller (the baseline); agent: the trained closed loop; hold: do nothing (the floor)
CONTROLLERS = ("scripted", "agent", "hold")


def check_controller(name: str) -> str:
    """The controller name, or a ``ConfigError`` that says which names exist."""
    if name not in CONTROLLERS:
        raise ConfigError(f"unknown challenge controller '{name}'; use one of: {', '.join(CONTROLLERS)} "
                          "(scripted: PI + theta-beta-Mach feed-forward; agent: the trained closed loop; hold: no control)")
    return name


@dataclass(frozen=True)
class AgentBudget:
    """What the agent may spend learning: episodes of the schedule and the PPO settings that matter.

    The defaults are sized for a laptop CPU (minutes, not hours): a small budget, and said to be
    one in every audit (``controller.budget``). ``gamma`` 0.9: the shock answers a wedge command
    within a few agent steps, so a short horizon suffices and its values are learned sooner.
    ``min_theory_trust`` 0: the envelope's trust monitor would otherwise hold the loop in its
    guarded mode while the scientist has no trusted law, and guarded mode clips an angle command
    to the middle half of the wedge range (too narrow for the schedule's 52-degree ramp); the
    theory still reaches the agent only through the policy's own trust gate, and every hazard
    monitor (density, speed, non-finite values, distribution shift) stays on.
    """

    episodes: int = 12
    variant: str = "v2_hybrid"
    learning_rate: float = 1e-3
    rollout_length: int = 64
    num_minibatches: int = 4
    update_epochs: int = 4
    ent_coef: float = 0.0
    gamma: float = 0.9
    min_theory_trust: float = 0.0

    def __post_init__(self) -> None:
        if self.episodes < 1:
            raise ConfigError(f"the agent's training budget needs at least 1 episode, got {self.episodes}")
        if self.rollout_length % self.num_minibatches:
            raise ConfigError(f"rollout_length {self.rollout_length} must be a multiple of num_minibatches "
                              f"{self.num_minibatches}")


def run_config(budget: AgentBudget, *, steps: int, seed: int, mach: float, grid: tuple[int, int, int],
               world_params: dict[str, Any], use_safety: bool) -> Any:
    """The ``RunConfig`` of the training run: ``budget.episodes`` episodes of ``steps`` each."""
    from atom_sdk.config import build_run_config

    return build_run_config({
        "name": "challenge-agent",
        "world": {"name": "supersonic:wedge", "grid": list(grid), "params": {"mach": mach, **world_params},
                  "max_episode_steps": steps},
        "steps": budget.episodes * steps, "seed": seed, "variant": budget.variant,
        "agent": {"learning_rate": budget.learning_rate, "rollout_length": budget.rollout_length,
                  "num_minibatches": budget.num_minibatches, "update_epochs": budget.update_epochs,
                  "ent_coef": budget.ent_coef, "gamma": budget.gamma},
        "safety": {"enabled": use_safety, "min_theory_trust": budget.min_theory_trust},
    }, source="the challenge agent's training run")


def world_factory(targets: Sequence[float], preview: int) -> Callable[[Any], Any]:
    """Build ``ChallengeWedge`` from a run config (the runner's ``world_factory``)."""
    from atom_sdk.design.challenge_world import ChallengeWedge

    def build(config: Any) -> Any:
        w = config.world
        return ChallengeWedge(targets, preview, grid=tuple(w.grid), dtype=w.dtype,
                              max_episode_steps=w.max_episode_steps, **w.params)

    return build


@dataclass
class Trained:
    """A trained run: its config, where its checkpoint lies, and what training measured."""

    config: Any
    run_dir: Path
    summary: dict[str, Any]


def train_agent(budget: AgentBudget, targets: Sequence[float], preview: int, workdir: Path, *, steps: int,
                seed: int, mach: float, grid: tuple[int, int, int], world_params: dict[str, Any], use_safety: bool,
                progress: Callable[[int, int, dict[str, Any]], None] | None = None) -> Trained:
    """Train the closed loop on the challenge world in ``workdir``; returns the run to act from."""
    from atom_sdk.experiment.runner import run_experiment

    config = run_config(budget, steps=steps, seed=seed, mach=mach, grid=grid, world_params=world_params,
                        use_safety=use_safety)
    run_dir = Path(workdir) / "train"
    results = run_experiment(config, run_dir, world_factory=world_factory(targets, preview), progress=progress)
    returns = [float(e["return"]) for e in results.get("episodes", [])]
    summary = {"budget": asdict(budget), "train_steps": int(results["summary"]["steps"]),
               "episode_returns": returns,
               "episode_mean_abs_error_deg": [-r / steps for r in returns],
               "updates": results["summary"].get("updates"), "final_trust": results["summary"].get("final_trust"),
               "wall_seconds": results["timings"].get("wall_seconds"), "variant": results["variant"]}
    return Trained(config, run_dir, summary)


def envelope_for(trained: Trained, world: Any) -> Any:
    """The safety envelope the agent is evaluated under: the one it trained under (its run config's
    settings; the hazard limits are the defaults the scripted controller's envelope uses)."""
    from atom_sdk.safety import SafetyEnvelope

    return SafetyEnvelope(world, trained.config.safety)


class AgentControl:
    """Acts with a trained ``Policy`` in the challenge loop (policy mean; theory as the envelope allows)."""

    kind = "agent"

    def __init__(self, trained: Trained, world: Any, envelope: Any, ledger_dir: Path) -> None:
        from atom_sdk.config import config_hash
        from atom_sdk.experiment.policy import Policy

        self.world, self.envelope = world, envelope
        self.policy = Policy.from_checkpoint(trained.config, world, trained.run_dir,
                                             config_hashes=config_hash(trained.config), ledger_dir=ledger_dir)
        self.prev = np.zeros(world.action_space.shape)
        self.x = self.policy.measure(world.observables(), 0)
        science = self.policy.science
        if envelope is not None and science is not None and hasattr(envelope, "trust_fn"):
            envelope.trust_fn = science.theory_trust  # as the runner wires it
            envelope.fallback = lambda _obs: science.controller(envelope, self.x)

    def act(self, step: int, target: float, ahead: float, measured: float | None, theta_now: float,
            obs: np.ndarray) -> tuple[np.ndarray, float]:
        """The env action and the commanded wedge angle (deg) for observation ``obs``."""
        self.x = self.policy.measure(self.world.observables(), step)
        allowed = self.envelope is None or bool(getattr(self.envelope, "theory_allowed", True))
        decision = self.policy.act(np.asarray(obs), x=self.x, u=self.prev, theory_allowed=allowed, explore=False)
        self.prev = np.asarray(decision.env_action, dtype=np.float64)
        return decision.env_action, float(self.prev.reshape(-1)[0])

    def close(self) -> None:
        self.policy.close()


def scratch_dir() -> tempfile.TemporaryDirectory:
    """Where training and the evaluation's ledger go before the audit folder is written."""
    return tempfile.TemporaryDirectory(prefix="atom-challenge-agent-")
