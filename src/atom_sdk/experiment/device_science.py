"""The measured-variable scientist inside the device loop's segment scan (``device_loop``).

Why: a scientist variant (``v2_hybrid``, ``v2_residual``, ``v2_raw``, ``v1_raw``) reads the theory on
every step, but between two fits the theory is fixed: the accepted law, the trust and the gate
change only when ``Scientist.update`` fits, and the only state that moves per step is the last
residual and the ACI levels and scores, which :mod:`atom_sdk.science.jax_theory` advances on the
device. So a segment is cut at the scientist's next fit step (``_next_fit``; an episode end that
makes it due sooner cuts the segment when the host sees the fit) and at a change of the envelope's
``theory_allowed``; inside it the scan measures the observables with the host's standard normal
draws (``ScienceBridge.measure``'s generators), builds the trust-gated theory features, advances
the frozen theory per observation as ``ScienceBridge.observe`` does and, for ``v2_residual``, adds
the greedy theory control to the agent's residual. The host then feeds its own scientist the
segment's readings, measured again in float64 from the scan's clean observables.

Covered: worlds whose measurement model is the base one (``World.measure``/``measurement_scale``)
or without measurement noise, and, for the residual controller, worlds with a device control
target (``DEVICE_TARGETS``). Latent science and the Jacobian block stay host-only.

The device control target, the fit schedule and the measurement draws are defined here once;
``vectorized_science`` (the seed-vectorised trainer) imports them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from atom_sdk.config import RunConfig
from atom_sdk.experiment.policy import MEASUREMENT_STREAM
from atom_sdk.experiment.variants import VariantSpec
from atom_sdk.science import jax_theory as jt
from atom_sdk.worlds.base import World

__all__ = ["DEVICE_TARGETS", "DeviceScience", "ScienceCarry", "fit_horizon", "measurement_draw", "next_fit_step",
           "science_loop_blocker", "segment_inputs", "start_science"]


def _taylor_green_target(diag: dict[str, jax.Array]) -> tuple[jax.Array, jax.Array]:
    """``TaylorGreenWorld.control_target`` on the device: the amplitude of the target energy, with A's sign."""
    amp = diag["amplitude"]
    sign = jnp.where(amp == 0, 1.0, jnp.sign(amp))
    return jnp.reshape(sign * jnp.sqrt(4.0 * diag["target_energy"]), (1,)), jnp.ones((1,), amp.dtype)


#: world id -> ``control_target`` as a function of the device diagnostics (what ``v2_residual`` needs)
DEVICE_TARGETS: dict[str, Callable[[dict[str, jax.Array]], tuple[jax.Array, jax.Array]]] = {
    "analytical:taylor_green": _taylor_green_target,
}


def science_loop_blocker(config: RunConfig, variant: VariantSpec, cls: type) -> str | None:
    """Why the device loop cannot run this scientist variant on world class ``cls`` (None when it can)."""
    if variant.latent_science or variant.jacobian:
        return ("latent science and the Jacobian features run on the host (the device loop covers the "
                "measured-variable scientist: v2_hybrid, v2_residual, v2_raw, v1_raw)")
    if float(config.world.measurement_noise) != 0.0 and (
            cls.measure is not World.measure or cls.measurement_scale is not World.measurement_scale):
        return (f"world '{config.world.name}' has its own measurement model, which the scan does not see; "
                "set world.measurement_noise to 0 or loop: 'host'")
    if cls.observables is not World.observables:
        return f"world '{config.world.name}' overrides observables(), which the scan does not see"
    if not getattr(cls, "observable_names", ()):
        return f"world '{config.world.name}' has no observables for the scientist"
    if variant.residual_policy and config.world.name not in DEVICE_TARGETS:
        return (f"variant '{config.variant}' needs world '{config.world.name}''s control target on the device; "
                f"known for {sorted(DEVICE_TARGETS)}")
    return None


class ScienceCarry(struct.PyTreeNode):
    """The scientist's side of a step's carry."""

    ft: jt.FrozenTheory
    x_prev: jax.Array  # the reading the next act sees (float32)
    u_prev: jax.Array  # the control applied last, flat (zeros after a reset)
    sci_x: jax.Array  # the scientist's last buffered reading and its control
    sci_u: jax.Array
    sci_has: jax.Array  # whether that reading is in the current episode (False after a boundary)


@dataclass(frozen=True)
class DeviceScience:
    """The static part: which observables, the noise level, gating and the residual controller."""

    dynamics: Any
    names: tuple[str, ...]
    level: float
    trust_gate: bool
    residual: bool
    world_name: str
    low: np.ndarray
    high: np.ndarray

    @classmethod
    def of(cls, config: RunConfig, variant: VariantSpec, world: Any) -> "DeviceScience":
        a = world.action_space
        return cls(world.dynamics, tuple(world.observable_names), float(config.world.measurement_noise),
                   bool(variant.trust_gate), bool(variant.residual_policy), config.world.name,
                   np.asarray(a.low, np.float32).reshape(-1), np.asarray(a.high, np.float32).reshape(-1))

    def key(self) -> list[Any]:
        """What the compiled program depends on (for the program cache)."""
        return [list(self.names), self.level, self.trust_gate, self.residual]

    def clean(self, physics: Any) -> jax.Array:
        """``World.observables`` of ``physics`` (float32)."""
        diag = self.dynamics.diagnostics(physics)
        return jnp.stack([jnp.asarray(diag[n], jnp.float32) for n in self.names])

    def reading(self, clean: jax.Array, z: jax.Array) -> jax.Array:
        """``World.measure`` with the host's standard normal draw ``z`` (``measure_relative``'s floors)."""
        if self.level == 0.0:
            return clean
        scale = jnp.abs(clean)
        scale = jnp.maximum(scale, jnp.maximum(1e-12 * jnp.max(scale), jnp.finfo(jnp.float32).tiny))
        return clean + self.level * scale * z

    def features(self, ft: jt.FrozenTheory, x: jax.Array, u: jax.Array, allowed: jax.Array) -> jax.Array:
        """``Policy.theory``: ``ScienceBridge.features`` (trust-gated), zeros when the envelope withholds them."""
        f = jt.theory_features(ft, x, u)
        if self.trust_gate:
            f = jnp.where(ft.trust >= ft.gate, f * ft.trust.astype(jnp.float32), jnp.zeros_like(f))
        return jnp.where(allowed, f, jnp.zeros_like(f))

    def env_action(self, s: ScienceCarry, physics: Any, action: jax.Array, allowed: jax.Array) -> jax.Array:
        """``Policy.act``'s action to the world: the agent's, or the theory control plus the agent's residual."""
        flat = jnp.reshape(action, (-1,)).astype(jnp.float32)
        if not self.residual:
            return flat
        goal, weights = DEVICE_TARGETS[self.world_name](self.dynamics.diagnostics(physics))
        u = jt.greedy_control(s.ft, s.x_prev, goal, weights, self.low, self.high)
        u = jnp.where(jt.trusted(s.ft), u, jnp.zeros_like(u)).astype(jnp.float32)
        return jnp.where(allowed, jnp.clip(u + flat, self.low, self.high), flat)

    def observe(self, s: ScienceCarry, u: jax.Array, clean_next: jax.Array, ended: jax.Array,
                z: jax.Array) -> tuple[ScienceCarry, jax.Array]:
        """``ScienceBridge.observe`` of one step on the frozen theory: the reading the step acted from
        (and at an end the terminal reading, then the boundary). Returns the carry before a reset and
        the step's terminal reading (what a time-limit bootstrap reads)."""
        ft = jt.observe(s.ft, s.sci_x, s.sci_u, s.x_prev, s.sci_has)
        x_next = self.reading(clean_next, z[0])
        x_term = self.reading(clean_next, z[1])
        ended_ft = jt.mark_boundary(jt.observe(ft, s.x_prev, u, x_term, True))
        ft = jax.tree.map(lambda e, o: jnp.where(ended, e, o), ended_ft, ft)
        after = ScienceCarry(ft, jnp.where(ended, x_term, x_next), u, s.x_prev, u, ~ended)
        return after, x_term

    def after_reset(self, s: ScienceCarry, physics: Any, z: jax.Array) -> ScienceCarry:
        """The first reading of the new episode (the draw of the reading before the next step)."""
        return s.replace(x_prev=self.reading(self.clean(physics), z[0]), u_prev=jnp.zeros_like(s.u_prev))


# ----------------------------------------------------------------------------- the host's side
def start_science(science: Any, x_prev: np.ndarray, prev_action: np.ndarray) -> ScienceCarry:
    """The scan's science carry at the loop's current step, from the host bridge's scientist."""
    sci = science.scientist
    has = bool(sci._x) and sci._seg[-1] == sci._segment
    n, m = sci.n_vars, sci.n_ctrl
    last_x = np.asarray(sci._x[-1] if sci._x else np.zeros(n), np.float32)
    last_u = np.asarray(sci._u[-1] if sci._u else np.zeros(m), np.float32)
    return ScienceCarry(jt.freeze(sci), np.asarray(x_prev, np.float32).reshape(n),
                        np.asarray(prev_action, np.float32).reshape(m), last_x, last_u, np.asarray(has))


def next_fit_step(sci: Any, step: int) -> int | None:
    """The step of the scientist's next fit (``Scientist._fit_due``) if each step from ``step`` buffers one
    reading (an episode end buffers two, so the fit can only come sooner); None when fitting is off."""
    c = sci._cfg
    if not c["enabled"]:
        return None
    last = sci._last_fit_step
    due = step if last is None else max(step, last + int(c["fit_every"]))
    return max(due, step + int(c["min_samples"]) - sci.n_buffered - 1)


def fit_horizon(science: Any, step: int, horizon: int) -> int:
    """Steps up to and including the scientist's next fit (``next_fit_step``), at most ``horizon`` (an episode
    end may make the fit come sooner: the runner cuts the segment there)."""
    due = next_fit_step(science.scientist, step)
    return horizon if due is None else max(1, min(horizon, due - step + 1))


def measurement_draw(seed: int, step: int, terminal: bool, n_vars: int) -> np.ndarray:
    """The standard normals of one reading: the generator ``ScienceBridge.measure`` seeds for (run seed,
    step, terminal), from which ``measure_relative`` draws."""
    return np.random.default_rng([seed, MEASUREMENT_STREAM, step, int(terminal)]).standard_normal(n_vars)


def segment_inputs(science: Any, step: int, length: int, max_length: int, allowed: bool) -> dict[str, Any]:
    """The scan's per-segment science inputs and ``theory_allowed``: ``draws[i, 0]`` the standard normals of the
    reading before step ``step + i + 1``, ``draws[i, 1]`` of step ``step + i``'s terminal reading, each from the
    generator ``ScienceBridge.measure`` seeds (zeros without measurement noise)."""
    n = science.n_vars
    draws = np.zeros((max_length, 2, n), np.float32)
    if science.measurement_noise != 0.0:
        for i in range(length):
            for k, (at, terminal) in enumerate(((step + i + 1, False), (step + i, True))):
                draws[i, k] = measurement_draw(science.seed, at, terminal, n)
    return {"draws": draws, "allowed": np.asarray(bool(allowed))}
