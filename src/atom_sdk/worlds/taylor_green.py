"""``analytical:taylor_green``: the Taylor–Green vortex with an exactly solvable body force.

Flow on the periodic box [0, 2π)^3 (nz = 1 gives the 2D case)::

    u =  A(t) cos(k x) sin(k y),   v = -A(t) sin(k x) cos(k y),   w = 0

is an exact solution of the incompressible Navier–Stokes equations (Taylor & Green 1937).
The agent's action ``a`` is the amplitude of a body force with the same shape, so the
controlled flow stays exact: the mode amplitude obeys the linear ODE

    dA/dt = -λ A + a,        λ = ν (k_x² + k_y²) = 2 ν k²

and over one agent step of length ``dt`` with ``a`` held constant

    A(t + dt) = A(t) e^{-λ dt} + (a / λ) (1 - e^{-λ dt}).

Kinetic energy (box mean of |u|²/2) is E = A²/4, decaying at rate 2λ = 4 ν k² without
forcing: the "2 ν |k|²" energy decay law with |k|² = 2 k². The reward keeps E near a target.

Observation (18 values, ``metadata["observation_names"]``): u at the 8 fixed probes
``u(x=0.30,y=6.08)`` ... then v at the same probes ``v(x=...,y=...)``, the kinetic energy
``energy`` (E = A²/4) and the ``target_energy``; all in the box's nondimensional units, each with
the relative probe ``noise`` when it is set. The bound stays ±1e6: with probe noise (Gaussian) no
tighter bound holds. ``render_mode="rgb_array"`` draws the speed |u| on a fixed range
[0, |A(0)|] per episode, so the decay shows.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar, NamedTuple

import gymnasium as gym
import jax
import jax.numpy as jnp
import numpy as np
from atom_sdk.errors import WorldParameterError
from atom_sdk.worlds.base import (
    DIMENSIONLESS,
    Dynamics,
    Quantity,
    StepOutput,
    ValidationCase,
    ValidationResult,
    World,
    WorldParams,
    param,
    relative_check,
)

N_PROBES = 8
WORLD_ID = "analytical:taylor_green"


#: the box's units: L = box side / 2π (the box is [0, 2π)), T = the time unit of ``nu`` and ``dt``;
#: velocities are in L/T, energies (per unit mass) in L²/T²
class TaylorGreenParams(WorldParams):
    nu: float = param(0.01, unit="L^2/T", description="kinematic viscosity", gt=0.0, le=10.0)
    k: int = param(1, unit="1/L", description="wavenumber of the vortex mode (integer: the box is periodic)",
                   ge=1, le=16)
    dt: float = param(0.1, unit="T", description="physical time per agent step", gt=0.0, le=10.0)
    amplitude: float = param(1.0, unit="L/T", description="initial mode amplitude A0 (the peak speed)",
                             gt=0.0, le=100.0)
    amplitude_jitter: float = param(0.1, unit=DIMENSIONLESS, description="relative seed-dependent spread of A0",
                                    ge=0.0, lt=1.0)
    target_energy_fraction: float = param(0.5, unit=DIMENSIONLESS, description="target E as a fraction of E(0)",
                                          gt=0.0, le=10.0)
    action_max: float = param(0.05, unit="L/T^2", description="bound on the forcing amplitude a (dA/dt = -λA + a)",
                              gt=0.0, le=100.0)
    noise: float = param(0.0, unit=DIMENSIONLESS, description="relative noise on the agent's probe observation only; "
                         "the scientist's measurement noise is the run's world.measurement_noise", ge=0.0, le=1.0)


#: unit and meaning of each diagnostic (box units L, T as for the parameters)
TG_DIAGNOSTICS: dict[str, Quantity] = {
    "amplitude": Quantity("L/T", "mode amplitude A(t); the scientist fits dA/dt"),
    "energy": Quantity("L^2/T^2", "box-mean kinetic energy per unit mass, E = A²/4"),
    "target_energy": Quantity("L^2/T^2", "energy the reward pursues, target_energy_fraction · E(0)"),
    "energy_error": Quantity(DIMENSIONLESS, "|E - target| / target"),
    "time": Quantity("T", "physical time since reset"),
    "enstrophy": Quantity("1/T^2", "box-mean enstrophy, 2 k² E"),
    "max_speed": Quantity("L/T", "largest |u| on the grid"),
    "max_stress": Quantity("1/T", "largest strain rate, sqrt(2) k |A|"),
    "density_min": Quantity("rho_0", "smallest density (incompressible: 1)"),
    "density_max": Quantity("rho_0", "largest density (incompressible: 1)"),
}


def known_amplitude_law(p: TaylorGreenParams) -> list[dict[str, Any]]:
    """The true law of the measured amplitude: dA/dt = -λ A + u0 with λ = 2 ν k² (u0: the forcing a)."""
    lam = 2.0 * p.nu * p.k**2
    return [{"target": "amplitude", "equation": f"damplitude/dt = {-lam:.6g} amplitude + 1 u0",
             "coefficients": {"amplitude": -lam, "u0": 1.0},
             "source": "Taylor & Green (1937), exact; decay rate 2 nu k^2"}]


class TGState(NamedTuple):
    amplitude: jax.Array
    time: jax.Array
    key: jax.Array
    last_obs: jax.Array
    a0: jax.Array


def probe_positions() -> tuple[np.ndarray, np.ndarray]:
    """x and y of the fixed probes in [0, 2π) (deterministic, not on nodal lines of the mode)."""
    two_pi = 2.0 * math.pi
    return np.linspace(0.3, two_pi - 0.4, N_PROBES), np.linspace(0.7, two_pi - 0.2, N_PROBES)[::-1]


def _mode_geometry(grid: tuple[int, int, int], k: float, dtype: Any) -> tuple[jax.Array, ...]:
    """Grid coordinates, the unit mode shapes u and v on the grid, and the mode at the fixed probes."""
    nx, ny, nz = grid
    two_pi = 2.0 * math.pi
    x = jnp.arange(nx, dtype=dtype) * (two_pi / nx)
    y = jnp.arange(ny, dtype=dtype) * (two_pi / ny)
    xx, yy = jnp.meshgrid(x, y, indexing="ij")
    shape_u = (jnp.cos(k * xx) * jnp.sin(k * yy))[..., None] * jnp.ones((1, 1, nz), dtype)
    shape_v = (-jnp.sin(k * xx) * jnp.cos(k * yy))[..., None] * jnp.ones((1, 1, nz), dtype)
    # fixed probe points (deterministic, not on nodal lines of the mode)
    px, py = probe_positions()
    probe_x = jnp.asarray(px, dtype)
    probe_y = jnp.asarray(py, dtype)
    probe_u = jnp.cos(k * probe_x) * jnp.sin(k * probe_y)
    probe_v = -jnp.sin(k * probe_x) * jnp.cos(k * probe_y)
    return xx, yy, shape_u, shape_v, probe_u, probe_v


class TaylorGreenWorld(World):
    """Exact Taylor–Green vortex with mode-shaped forcing; see the module docstring."""

    world_id: ClassVar[str] = WORLD_ID
    Params = TaylorGreenParams
    observable_names: ClassVar[tuple[str, ...]] = ("amplitude",)
    measurement_model: ClassVar[str] = "amplitude A: relative to |A| (the probes' own 'noise' reaches only the agent)"
    diagnostic_units = TG_DIAGNOSTICS

    @classmethod
    def known_laws(cls, params: WorldParams) -> list[dict[str, Any]]:
        """dA/dt = -2 ν k² A + a: the mode ODE, exact for this flow (see the module docstring)."""
        return known_amplitude_law(params)  # type: ignore[arg-type]
    #: measured peak full-grid arrays per cell (preflight memory estimate) and field channels
    arrays_per_cell = 28.0
    field_channels = 5

    def __init__(self, grid: tuple[int, int, int] = (32, 32, 16), **kwargs: Any) -> None:
        super().__init__(grid=grid, **kwargs)
        p: TaylorGreenParams = self.params  # type: ignore[assignment]
        high = np.full(2 * N_PROBES + 2, 1e6, dtype=self.dtype)
        self.observation_space = gym.spaces.Box(-high, high, dtype=self.dtype)
        self.action_space = gym.spaces.Box(-p.action_max, p.action_max, shape=(1,), dtype=self.dtype)

    def observation_components(self) -> list[tuple[str, str]]:
        """u and v at the probes (the positions in the name), the energy E and its target."""
        xs, ys = probe_positions()
        u = [(f"u(x={x:.2f},y={y:.2f})", "L/T") for x, y in zip(xs, ys)]
        v = [(f"v(x={x:.2f},y={y:.2f})", "L/T") for x, y in zip(xs, ys)]
        return u + v + [("energy", "L^2/T^2"), ("target_energy", "L^2/T^2")]

    def render_limits(self, value: np.ndarray) -> tuple[float, float]:
        """The speed on [0, |A(0)|]: the peak speed of the initial vortex, fixed over an episode."""
        return 0.0, max(abs(float(self._state.a0)), 1e-12)

    @property
    def dt(self) -> float:
        return float(self.params.dt)  # type: ignore[attr-defined]

    @property
    def decay_rate(self) -> float:
        """λ: the amplitude decay rate ν (k_x² + k_y²)."""
        p = self.params
        return float(p.nu * 2 * p.k**2)  # type: ignore[attr-defined]

    def control_target(self) -> tuple[np.ndarray, np.ndarray]:
        """The amplitude whose energy A²/4 equals the target energy (same sign as A)."""
        diag = self.diagnostics()
        amplitude = math.copysign(math.sqrt(4.0 * diag["target_energy"]), diag["amplitude"] or 1.0)
        return np.array([amplitude]), np.array([1.0])

    def check_parameters(self) -> None:
        p: TaylorGreenParams = self.params  # type: ignore[assignment]
        nx, ny, _ = self.grid
        points_per_wave = min(nx, ny) / p.k
        if points_per_wave < 4:
            raise WorldParameterError(
                f"{WORLD_ID}: grid {nx}x{ny} has {points_per_wave:.1f} points per wavelength for k={p.k}; "
                f"use at least {4 * p.k} cells in x and y or a smaller k"
            )

    def build_dynamics(self) -> Dynamics:
        p: TaylorGreenParams = self.params  # type: ignore[assignment]
        nz = self.grid[2]
        dtype = self.dtype
        lam = self.decay_rate
        decay = math.exp(-lam * p.dt)
        gain = (1.0 - decay) / lam
        k = float(p.k)
        xx, yy, shape_u, shape_v, probe_u, probe_v = _mode_geometry(self.grid, k, dtype)

        def energy_of(amplitude: jax.Array) -> jax.Array:
            return amplitude**2 / 4.0

        def observe_clean(amplitude: jax.Array, a0: jax.Array) -> jax.Array:
            return jnp.concatenate([
                amplitude * probe_u,
                amplitude * probe_v,
                jnp.stack([energy_of(amplitude), energy_of(a0) * p.target_energy_fraction]),
            ]).astype(dtype)

        def noisy(obs: jax.Array, key: jax.Array) -> jax.Array:
            if p.noise == 0.0:
                return obs
            scale = p.noise * jnp.maximum(jnp.abs(obs), 1e-3)
            return (obs + scale * jax.random.normal(key, obs.shape, dtype)).astype(dtype)

        def init(key: jax.Array) -> TGState:
            key, sub, noise_key = jax.random.split(key, 3)
            jitter = jax.random.uniform(sub, (), dtype, -p.amplitude_jitter, p.amplitude_jitter)
            a0 = jnp.asarray(p.amplitude, dtype) * (1.0 + jitter)
            obs = noisy(observe_clean(a0, a0), noise_key)
            return TGState(a0, jnp.zeros((), dtype), key, obs, a0)

        def diagnostics(state: TGState) -> dict[str, jax.Array]:
            amp = state.amplitude
            energy = energy_of(amp)
            target = energy_of(state.a0) * p.target_energy_fraction
            return {
                "amplitude": amp,
                "energy": energy,
                "target_energy": target,
                "energy_error": jnp.abs(energy - target) / target,
                "time": state.time,
                "enstrophy": energy * 2.0 * k**2,
                "max_speed": jnp.abs(amp) * jnp.max(jnp.sqrt(shape_u**2 + shape_v**2)),
                "max_stress": jnp.abs(amp) * k * math.sqrt(2.0),
                "density_min": jnp.ones((), dtype),
                "density_max": jnp.ones((), dtype),
            }

        def step(state: TGState, action: jax.Array) -> tuple[TGState, StepOutput]:
            forcing = jnp.reshape(action, ()).astype(dtype)
            amp = state.amplitude * decay + forcing * gain
            key, noise_key = jax.random.split(state.key)
            obs = noisy(observe_clean(amp, state.a0), noise_key)
            new_state = TGState(amp.astype(dtype), state.time + p.dt, key, obs, state.a0)
            diag = diagnostics(new_state)
            reward = -diag["energy_error"]
            return new_state, StepOutput(obs, reward, diag)

        def fields(state: TGState) -> dict[str, jax.Array]:
            amp = state.amplitude
            u = amp * shape_u
            v = amp * shape_v
            w = jnp.zeros_like(u)
            pressure = -(amp**2 / 4.0) * (jnp.cos(2 * k * xx) + jnp.cos(2 * k * yy))[..., None] * jnp.ones(
                (1, 1, nz), dtype
            )
            return {"velocity": jnp.stack([u, v, w]), "pressure": pressure, "density": jnp.ones_like(u)}

        return Dynamics(init=init, step=step, observe=lambda s: s.last_obs, fields=fields, diagnostics=diagnostics)

    @classmethod
    def validation_cases(cls) -> list[ValidationCase]:
        return [
            ValidationCase(WORLD_ID, "energy_decay_rate", _energy_decay_case,
                           description="unforced energy decay from the grid fields vs 2ν|k|²"),
            ValidationCase(WORLD_ID, "forced_amplitude", _forced_amplitude_case,
                           description="amplitude under constant forcing vs the closed-form ODE solution"),
            ValidationCase(WORLD_ID, "lbm_periodic_decay", _lbm_decay_case,
                           description="D2Q9 lattice Boltzmann on a periodic box vs the exact decay"),
        ]


REFERENCE = "Taylor & Green (1937), Proc. R. Soc. A 158: exact decaying solution, E(t) = E0 exp(-2ν|k|²t)"


def _energy_from_fields(world: TaylorGreenWorld) -> float:
    vel = world.fields()["velocity"].astype(np.float64)
    return float(0.5 * np.mean(np.sum(vel**2, axis=0)))


def _energy_decay_case() -> list[ValidationResult]:
    results = []
    for nu, k, grid in ((0.01, 1, (32, 32, 4)), (0.05, 2, (24, 24, 1))):
        world = TaylorGreenWorld(grid=grid, dtype="float64", nu=nu, k=k, amplitude_jitter=0.0,
                                 max_episode_steps=100)
        world.reset(seed=0)
        times, energies = [0.0], [_energy_from_fields(world)]
        for _ in range(40):
            world.step(np.zeros(1))
            times.append(world.diagnostics()["time"])
            energies.append(_energy_from_fields(world))
        slope = -np.polyfit(np.asarray(times), np.log(np.asarray(energies)), 1)[0]
        exact = 2.0 * nu * (2 * k**2)
        # the decay rate -dlnE/dt = 2ν|k|² (positive; |k|² = 2k² for the 2D mode), per time unit T
        results.append(relative_check(WORLD_ID, f"energy_decay_rate nu={nu} k={k}", "-dlnE/dt",
                                      slope, exact, 0.01, REFERENCE, unit="1/T"))
    return results


def _forced_amplitude_case() -> list[ValidationResult]:
    nu, k, dt, forcing = 0.02, 1, 0.1, 0.03
    world = TaylorGreenWorld(grid=(16, 16, 1), dtype="float64", nu=nu, k=k, dt=dt, amplitude_jitter=0.0)
    world.reset(seed=0)
    for _ in range(50):
        world.step(np.array([forcing]))
    lam = 2 * nu * k**2
    t = 50 * dt
    exact = math.exp(-lam * t) + forcing / lam * (1 - math.exp(-lam * t))
    measured = world.diagnostics()["amplitude"]
    return [relative_check(WORLD_ID, "forced_amplitude", "A(t=5)", measured, exact, 1e-9,
                           "closed-form solution of dA/dt = -2νk²A + a", unit="L/T")]


def _lbm_decay_case() -> list[ValidationResult]:
    try:
        from atom_sdk.worlds.lbm_validation import lbm_taylor_green_decay_case
    except ImportError:  # pragma: no cover - only while the LBM module is absent
        return []
    return lbm_taylor_green_decay_case()
