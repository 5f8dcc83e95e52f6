"""``lbm2d:cylinder``: confined channel flow past a cylinder with two synthetic jets.

The set-up follows the Schäfer–Turek (1996) channel scaled to the grid (channel 2.2 x 0.41,
cylinder diameter 0.1 centred at (0.2, 0.2), parabolic inlet) and the active-flow-control
problem of Rabault et al. (J. Fluid Mech. 865, 2019): two jets on the cylinder at +-90
degrees, 10 degrees wide, with zero net mass flux (Q_top = -Q_bottom = action).

Body: ``body="circle"`` (default), ``"square"`` (side 2 ``radius``), ``"polygon"`` (``body_vertices``)
or ``"mask"`` (``body_mask``); interpolated bounce-back takes each link's wall distance from the true
surface (:mod:`atom_sdk.worlds.bodies`). D is the body's frontal height; the jets sit at +-90 degrees
about its centroid.

Units: lattice units inside (dx = dt = 1); ``u_inlet`` is the *mean* inlet velocity U
(the parabola's peak is 1.5 U); coefficients use C = 2 F / (rho U^2 D); ``dt`` (agent
step) is reported in convective time units D / U. The action is the top jet's mass flux
as a fraction of Q_ref = U D (the inlet flux through the cylinder's frontal height),
bounded by +-``max_jet_flux`` (default 0.06, Rabault's order of magnitude).

Reward = -(mean C_D over the agent step - ``drag_offset``) - 0.2 |mean C_L|; set
``drag_offset`` to the uncontrolled mean drag (about 3.2 at Re = 100 in this channel) to
centre rewards near zero. It defaults to 0, i.e. the raw benchmark reward.

Observation (``metadata["observation_names"]``): u/U at each probe ``u/U@(i,j)`` (cell indices:
a ring at 1.5 R and a 5 x 5 near-wake grid, minus probes inside the cylinder), then v/U at the
same probes ``v/U@(i,j)``, then the drag and lift coefficients ``C_D`` and ``C_L`` of the last
lattice update; all dimensionless. The bound stays ±1e6: no tighter bound on a transient
lattice-Boltzmann velocity or force is provable. ``render_mode="rgb_array"`` draws the vorticity.
"""

from __future__ import annotations

import math
import time
from typing import Any, Literal, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from gymnasium import spaces
from atom_sdk.errors import WorldParameterError
from atom_sdk.worlds import bodies, lbm
# collide_bulk_damped: re-exported, the shedding benchmarks' collision (its home is channel_update now)
from atom_sdk.worlds.channel_update import collide_bulk_damped, make_channel_update  # noqa: F401
from atom_sdk.worlds.channel_geometry import (ST_DIAMETER, ST_HEIGHT, Geometry, build_geometry, default_cylinder,
                                              make_body)
from atom_sdk.worlds.lbm_validation import harmonic_extrema, strouhal_from_signal
from atom_sdk.worlds.base import (DIMENSIONLESS, NOT_A_QUANTITY, Dynamics, Quantity, StepOutput, ValidationCase,
                                  ValidationResult, World, WorldParams, param, relative_check)

MAX_MACH = 0.3
MIN_TAU = 0.505  # TRT stays stable down to about here at these resolutions
OBS_BOUND = 1e6


#: units: lattice (dx = dt = 1, cells and updates; velocities in dx/dt, density in rho_0 = 1)
class CylinderParams(WorldParams):
    u_inlet: float = param(0.05, unit="dx/dt", description="mean inlet velocity U; the parabola's peak is 1.5 U",
                           gt=0)
    tau: float | None = param(None, unit="dt", description="BGK/shear relaxation time (default 0.53); excludes "
                              "'reynolds'")
    reynolds: float | None = param(None, unit=DIMENSIONLESS, description="Re = U D / nu; sets tau instead", gt=0)
    collision: Literal["bgk", "trt", "mrt"] = param("trt", unit=NOT_A_QUANTITY,
                                                    description="collision operator: BGK, TRT or MRT (relaxation times)")
    substeps: int = param(100, unit=DIMENSIONLESS, description="LBM updates per agent step", ge=1, le=100000)
    cylinder_x: float | None = param(None, unit="dx", description="centre x (default: Schäfer–Turek scaled)")
    cylinder_y: float | None = param(None, unit="dx", description="centre y (default: Schäfer–Turek scaled)")
    radius: float | None = param(None, unit="dx", description="radius (default: D = 0.1/0.41 of the height)")
    inlet_profile: Literal["parabolic", "uniform"] = param("parabolic", unit=NOT_A_QUANTITY,
                                                           description="shape of the inlet velocity profile")
    max_jet_flux: float = param(0.06, unit=DIMENSIONLESS, description="action bound, fraction of Q_ref = U D",
                                ge=0, le=0.5)
    jet_width_deg: float = param(10.0, unit="deg", description="angular width of each jet on the cylinder",
                                 gt=0, lt=90)
    drag_offset: float = param(0.0, unit=DIMENSIONLESS, description="C_D subtracted from the mean drag in the reward")
    interpolated_bounce_back: bool = param(True, unit=NOT_A_QUANTITY,
                                           description="Bouzidi links on the cylinder (else half-way)")
    perturbation: float = param(1e-3, unit=DIMENSIONLESS, description="seeded initial noise, fraction of U", ge=0)
    body: Literal["circle", "square", "polygon", "mask"] = param(
        "circle", unit=NOT_A_QUANTITY, description="body shape: circle (radius), square (side 2 radius, "
        "axis-aligned, at cylinder_x/y), polygon (body_vertices) or mask (body_mask)")
    body_vertices: list[tuple[float, float]] | None = param(
        None, unit="dx", description="polygon body: outline [[x, y], ...] in cells (node (i, j) at (i, j)); "
        "wall distances come from its edges")
    body_mask: list[str] | None = param(
        None, unit=NOT_A_QUANTITY, description="mask body: ny strings of nx characters, top row first, "
        "'#' solid, '.' fluid (half-way walls)")
    kernel: Literal["auto", "reference", "native"] = param(
        "auto", unit=NOT_A_QUANTITY, description="lattice update: 'native' (one fused C++ call per update on the "
        "CPU, TRT or BGK, float32), 'reference' (pure JAX), 'auto' (native where it applies); same result to "
        "float32 round-off")


#: unit and meaning of each diagnostic (coefficients C = 2 F / (rho_0 U² D); lattice units otherwise)
CYLINDER_DIAGNOSTICS: dict[str, Quantity] = {
    "drag": Quantity(DIMENSIONLESS, "drag coefficient C_D of the last lattice update"),
    "lift": Quantity(DIMENSIONLESS, "lift coefficient C_L of the last lattice update"),
    "drag_mean": Quantity(DIMENSIONLESS, "C_D averaged over the agent step"),
    "lift_mean": Quantity(DIMENSIONLESS, "C_L averaged over the agent step"),
    "max_speed": Quantity("dx/dt", "largest fluid speed"),
    "mach_max": Quantity(DIMENSIONLESS, "largest lattice Mach number |u| / c_s"),
    "density_min": Quantity("rho_0", "smallest fluid density"),
    "density_max": Quantity("rho_0", "largest fluid density"),
    "mass": Quantity("rho_0 dx^2", "total fluid mass (per unit depth)"),
    "jet_flux": Quantity("rho_0 dx^2/dt", "net mass injected by both jets in the last update (ideally 0)"),
    "jet": Quantity(DIMENSIONLESS, "current top-jet flux, fraction of Q_ref = U D (the action)"),
    "max_stress": Quantity("1/dt", "largest strain-rate magnitude in the fluid"),
}


class CylinderState(NamedTuple):
    f: jax.Array
    step: jax.Array
    drag: jax.Array  # last substep
    lift: jax.Array
    drag_mean: jax.Array  # mean over the last agent step
    lift_mean: jax.Array
    jet: jax.Array  # action in force (fraction of Q_ref)
    jet_flux: jax.Array  # net injected mass per update by both jets (lattice units)


class CylinderWorld(World):
    """Rabault-style drag reduction with jets, on a D2Q9 TRT/MRT/BGK lattice-Boltzmann channel."""

    world_id = "lbm2d:cylinder"
    Params = CylinderParams
    observable_names = ("drag", "lift")
    measurement_model = "drag and lift coefficients: each relative to the resultant force coefficient hypot(C_D, C_L)"
    diagnostic_units = CYLINDER_DIAGNOSTICS
    #: measured peak full-grid arrays per cell (preflight memory estimate) and field channels
    arrays_per_cell = 140.0
    field_channels = 6

    def __init__(self, grid: tuple[int, int, int] = (440, 82, 1), dtype: str = "float32",
                 max_episode_steps: int = 200, **params: Any) -> None:
        super().__init__(grid=grid, dtype=dtype, max_episode_steps=max_episode_steps, **params)

    render_field = "vorticity"

    def observation_components(self) -> list[tuple[str, str]]:
        """u/U and v/U at each probe cell (i, j), then C_D and C_L of the last lattice update."""
        probes = [f"@({int(i)},{int(j)})" for i, j in self.geometry.probes]
        return ([(f"u/U{at}", "") for at in probes] + [(f"v/U{at}", "") for at in probes]
                + [("C_D", ""), ("C_L", "")])

    def measurement_scale(self, clean: np.ndarray) -> np.ndarray:
        """A force balance's noise scales with the resultant force, not with C_L (which crosses zero)."""
        clean = np.asarray(clean, dtype=np.float64)
        return np.full(clean.shape, float(np.hypot(*clean[:2])))

    # ---- parameters -----------------------------------------------------------------------
    @property
    def body(self) -> bodies.Body:
        """The immersed body in lattice units (built once from the parameters)."""
        cached = getattr(self, "_body", None)
        if cached is None:
            p = self.params
            dx, dy, dr = default_cylinder(self.grid[0], self.grid[1])
            cached = make_body(p.body, dx if p.cylinder_x is None else p.cylinder_x,
                               dy if p.cylinder_y is None else p.cylinder_y, dr if p.radius is None else p.radius,
                               p.body_vertices, p.body_mask, (self.grid[0], self.grid[1]))
            self._body = cached
        return cached

    @property
    def geometry_cells(self) -> tuple[float, float, float]:
        """(centre x, centre y, D / 2): the centroid and half the frontal height of the body."""
        body = self.body
        if isinstance(body, bodies.Circle):
            return body.cx, body.cy, body.radius
        return (*bodies.centroid(body), 0.5 * bodies.frontal_height(body))

    @property
    def tau(self) -> float:
        p = self.params
        if p.reynolds is not None:
            return lbm.tau_from_viscosity(p.u_inlet * 2 * self.geometry_cells[2] / p.reynolds)
        return 0.53 if p.tau is None else p.tau

    @property
    def reynolds(self) -> float:
        return self.params.u_inlet * 2 * self.geometry_cells[2] / lbm.viscosity(self.tau)

    def check_parameters(self) -> None:
        p = self.params
        nx, ny, nz = self.grid
        if nz != 1:
            raise WorldParameterError(f"lbm2d:cylinder is two-dimensional: set nz = 1 in the grid (got nz = {nz})")
        if p.tau is not None and p.reynolds is not None:
            raise WorldParameterError("give either 'tau' or 'reynolds', not both (reynolds sets tau = "
                                      "1/2 + 3 U D / Re)")
        tau = self.tau
        if not tau > 0.5:
            raise WorldParameterError(
                f"tau must be > 0.5 (got {tau:.4g}); 0.5 gives zero viscosity; try 0.53 or higher, or lower "
                "the Reynolds number, or raise u_inlet / the resolution")
        if tau < MIN_TAU:
            raise WorldParameterError(
                f"tau = {tau:.5g} is too close to 0.5 to be stable (needs >= {MIN_TAU}); raise tau if you set it, "
                "or lower the Reynolds number, or raise the resolution (ny) or u_inlet")
        peak = p.u_inlet * (1.5 if p.inlet_profile == "parabolic" else 1.0)
        mach = peak / math.sqrt(lbm.CS2)
        if mach > MAX_MACH:
            raise WorldParameterError(
                f"lattice Mach number {mach:.2f} of the inlet peak exceeds {MAX_MACH}; lower u_inlet below "
                f"{MAX_MACH * math.sqrt(lbm.CS2) / (peak / p.u_inlet):.3f} (and raise the resolution to keep Re)")
        if p.body in ("polygon", "mask") and any(v is not None for v in (p.cylinder_x, p.cylinder_y, p.radius)):
            raise WorldParameterError(f"cylinder_x, cylinder_y and radius place a circle or square; a {p.body} body "
                                      f"is placed by its body_{'vertices' if p.body == 'polygon' else 'mask'}")
        if (p.body_vertices is not None and p.body != "polygon") or (p.body_mask is not None and p.body != "mask"):
            raise WorldParameterError("body_vertices needs body='polygon' and body_mask needs body='mask'")
        bodies.check_body(self.body, nx, ny)
        cx, cy, r = self.geometry_cells
        if 2 * r < 8:
            raise WorldParameterError(
                f"the cylinder diameter is {2 * r:.1f} cells; it needs at least 8 cells to be resolved: raise "
                f"ny to >= {math.ceil(8 * ST_HEIGHT / ST_DIAMETER)} or set radius >= 4")
        x0, y0, x1, y1 = bodies.bounds(self.body)
        if x0 < 2 * r or y0 < 2 or y1 > ny - 3:
            raise WorldParameterError(
                f"the {p.body} (centre {cx:.1f},{cy:.1f}, size {2 * r:.1f}) must sit at least one diameter "
                "behind the inlet and 2 cells from the walls; move it or enlarge the grid")
        if nx - x1 < 5 * 2 * r:
            raise WorldParameterError(
                f"the channel is too short: {nx - x1:.0f} cells behind the {p.body}, need >= 5 diameters "
                f"({10 * r:.0f}); raise nx to >= {math.ceil(x1 + 10 * r)}")

    @property
    def dt(self) -> float:
        """Agent step in convective units D / U."""
        return self.params.substeps * self.params.u_inlet / (2 * self.geometry_cells[2])

    # ---- spaces -----------------------------------------------------------------------------
    def build_dynamics(self) -> Dynamics:
        p = self.params
        self.geometry = build_geometry(self.grid[0], self.grid[1], self.body, p.u_inlet, p.inlet_profile,
                                       p.jet_width_deg, p.interpolated_bounce_back, self.dtype)
        n_obs = 2 * len(self.geometry.probes) + 2
        self.observation_space = spaces.Box(-OBS_BOUND, OBS_BOUND, shape=(n_obs,), dtype=np.float32)
        bound = np.float32(p.max_jet_flux)
        self.action_space = spaces.Box(-bound, bound, shape=(1,), dtype=np.float32)
        return make_dynamics(self.geometry, self.tau, p.collision, p.u_inlet, p.substeps, p.drag_offset,
                             p.perturbation, self.dtype, p.kernel)

    @classmethod
    def validation_cases(cls) -> list[ValidationCase]:
        from atom_sdk.worlds.lbm_validation import poiseuille_case
        from atom_sdk.worlds.square_validation import unconfined_square_case

        return [
            ValidationCase(cls.world_id, "poiseuille_profile", poiseuille_case,
                           description="periodic forced channel vs the analytical parabola (2%)"),
            ValidationCase(cls.world_id, "schafer_turek_2d2", schafer_turek_2d2_case, slow=True,
                           description="Re=100 confined cylinder: max C_D, max C_L, Strouhal (5%)"),
            ValidationCase(cls.world_id, "square_cylinder_re100", square_cylinder_case, slow=True,
                           description="Re=100 square cylinder, blockage 1/8 (Breuer et al. 2000): mean C_D, St (5%); "
                           "UNVERIFIED reference: read off the paper's curves, not checked against it"),
            ValidationCase(cls.world_id, "square_cylinder_unconfined_re100", unconfined_square_case, slow=True,
                           description="Re=100 square cylinder, blockage 5%, free-slip sides (Sohankar et al. 1998, "
                           "Table IV): mean C_D, St (5%)"),
        ]


def make_substep(geo: Geometry, tau: float, kind: str, dtype: Any, bulk_rate: float | None = None,
                 kernel: str = "auto"):
    """One lattice update of the world's channel (outlet density anchored at 1): collide, stream, patches.

    ``bulk_rate`` (with ``kind="mrt"`` only) sets MRT's bulk relaxation rate (see
    :func:`collide_bulk_damped`); None keeps the kernel's own collision. ``kernel`` (see
    :mod:`atom_sdk.worlds.lbm_channel_fused`): "native" runs the whole update in one fused C++ call
    (TRT/BGK, float32, CPU), "reference" the pure-JAX update, "auto" native where it applies. The
    builder is :func:`atom_sdk.worlds.channel_update.make_channel_update`, shared with ``st_channel``.
    """
    return make_channel_update(geo, tau, kind, dtype, bulk_rate=bulk_rate, kernel=kernel).substep


def make_dynamics(geo: Geometry, tau: float, kind: str, u_mean: float, substeps: int, drag_offset: float,
                  perturbation: float, dtype: Any, kernel: str = "auto") -> Dynamics:
    """The world's pure (init, step, observe, fields, diagnostics) functions."""
    substep, resolved = make_channel_update(geo, tau, kind, dtype, kernel=kernel)
    # the native update cannot write its input: two updates per loop body let XLA ping-pong two
    # buffers instead of copying the state into the loop carry after every update
    unroll = 2 if resolved == "native" else 1
    norm = 2.0 / (u_mean**2 * 2 * geo.radius)
    fluid = jnp.asarray(~geo.solid)
    probes = jnp.asarray(geo.probes)
    zero = jnp.zeros((), dtype)

    def init(key: jax.Array) -> CylinderState:
        ux = jnp.broadcast_to(jnp.asarray(geo.inlet_ux, dtype)[None, :], (geo.nx, geo.ny))
        noise = jax.random.normal(key, (2, geo.nx, geo.ny), dtype) * (perturbation * u_mean)
        ux = jnp.where(fluid, ux + noise[0], 0.0)
        uy = jnp.where(fluid, noise[1], 0.0)
        f = lbm.equilibrium(jnp.ones((geo.nx, geo.ny), dtype), ux, uy).astype(dtype)
        return CylinderState(f, jnp.zeros((), jnp.int32), zero, zero, zero, zero, zero, zero)

    def step(state: CylinderState, action: jax.Array) -> tuple[CylinderState, StepOutput]:
        target = jnp.reshape(action, ()).astype(dtype)

        def body(s, carry):
            f, sfx, sfy, _, _, _ = carry
            # ramp the jets linearly over the agent step, as Rabault did, to avoid pressure shocks
            amp = state.jet + (target - state.jet) * ((s + 1) / substeps).astype(dtype)
            f, fx, fy, inj = substep(f, amp)
            return f, sfx + fx, sfy + fy, fx, fy, inj

        f, sfx, sfy, fx, fy, inj = jax.lax.fori_loop(0, substeps, body, (state.f, zero, zero, zero, zero, zero),
                                                     unroll=unroll)
        cd_mean, cl_mean = norm * sfx / substeps, norm * sfy / substeps
        new = CylinderState(f, state.step + substeps, norm * fx, norm * fy, cd_mean, cl_mean, target, inj)
        reward = -(cd_mean - drag_offset) - 0.2 * jnp.abs(cl_mean)
        return new, StepOutput(observe(new), reward, diagnostics(new))

    def observe(state: CylinderState) -> jax.Array:
        _, ux, uy = lbm.macroscopic(state.f)
        pu = ux[probes[:, 0], probes[:, 1]] / u_mean
        pv = uy[probes[:, 0], probes[:, 1]] / u_mean
        return jnp.concatenate([pu, pv, jnp.stack([state.drag, state.lift])]).astype(jnp.float32)

    def fields(state: CylinderState) -> dict[str, jax.Array]:
        rho, ux, uy = lbm.macroscopic(state.f)
        ux, uy = jnp.where(fluid, ux, 0.0), jnp.where(fluid, uy, 0.0)
        vel = jnp.stack([ux, uy, jnp.zeros_like(ux)])[..., None]
        return {"velocity": vel, "density": rho[..., None], "pressure": (lbm.CS2 * rho)[..., None],
                "vorticity": lbm.vorticity(ux, uy)[..., None]}

    def diagnostics(state: CylinderState) -> dict[str, jax.Array]:
        rho, ux, uy = lbm.macroscopic(state.f)
        speed = jnp.where(fluid, jnp.sqrt(ux * ux + uy * uy), 0.0)
        big = jnp.asarray(jnp.inf, rho.dtype)
        return {
            "drag": state.drag, "lift": state.lift, "drag_mean": state.drag_mean, "lift_mean": state.lift_mean,
            "max_speed": jnp.max(speed), "mach_max": jnp.max(speed) / math.sqrt(lbm.CS2),
            "density_min": jnp.min(jnp.where(fluid, rho, big)), "density_max": jnp.max(jnp.where(fluid, rho, -big)),
            "mass": jnp.sum(jnp.where(fluid, rho, 0.0)), "jet_flux": state.jet_flux, "jet": state.jet,
            "max_stress": jnp.max(jnp.where(fluid, lbm.strain_rate_magnitude(state.f, tau), 0.0)),
        }

    return Dynamics(init=init, step=step, observe=jax.jit(observe), fields=jax.jit(fields),
                    diagnostics=jax.jit(diagnostics))


# ---- validation: vortex shedding behind the body (Schäfer–Turek 2D-2, Breuer square) -------------
ST_SOURCE = ("Schäfer & Turek (1996), 'Benchmark computations of laminar flow around a cylinder', "
             "DFG benchmark 2D-2 (Re=100): C_D,max 3.22-3.24, C_L,max 0.99-1.01, St 0.295-0.305")
#: MRT bulk rate of the 2D-2 runs: nu_b = c_s^2 (1/0.5 - 1/2) = 0.5, against nu = 0.006-0.012 at D = 20-40,
#: U = 0.03. It lowered the acoustic drag peaks from 0.083 to 0.008 at D = 20 (FFT of the last 24 D/U); its
#: damping per convective time falls like 1/D, leaving 0.038 at D = 30 and 0.050 at D = 40; doubling nu_b at
#: D = 40 (rate 0.286: peak 0.019) moved the cycle C_D,max by 0.0004, so 0.5 is kept for every grid
ST_BULK_RATE = 0.5
SQUARE_SOURCE = ("UNVERIFIED (numbers read off curves, not compared with the paper): "
                 "Breuer, Bernsdorf, Zeiser & Durst (2000), Int. J. Heat Fluid Flow 21:186-196 (doi:10.1016/"
                 "S0142-727X(99)00081-8): square cylinder centred in a channel, blockage D/H = 1/8, parabolic "
                 "inflow, L = 50 D, centre 12.5 D behind the inlet (their Sec. 3.1, Fig. 1), Re = U_max D / nu = 100 "
                 "(Re and C_D on the inflow's peak velocity, Sec. 4): mean C_D about 1.40, St = f D / U_max about "
                 "0.139, read off the paper's curves of C_D and St against Re; reading uncertainty a few per cent")
#: Breuer et al. (2000) at Re = 100, normalised by the inflow's peak velocity. Provenance, checked in this
#: session: the set-up above agrees with the paper as a public re-implementation quotes it, which also
#: says the paper gives its (steady) C_D as figures, not as a table. The two numbers themselves could not be
#: compared with the paper's figures here (no copy of it in the searchable sources) and were written
#: from a reading of those curves: treat them as +-5 %, the tolerance of the case.
SQUARE_CD, SQUARE_ST = 1.40, 0.139



def shedding(world: Any, steps: int, measure: int, chunk: int = 1000, kick: float = 0.05, kick_steps: int = 2000,
             series_path: str | None = None, ramp_steps: int = 0, bulk_rate: float | None = None) -> dict[str, float]:
    """Run an ``lbm2d:cylinder`` world without control; force statistics over the last ``measure`` updates.

    The jets blow (``kick`` x Q_ref) for the first ``kick_steps`` updates only, to break the symmetry so
    that shedding starts early instead of growing from round-off. With ``ramp_steps`` > 0 the fluid
    starts at rest and the inlet rises as sin^2 over that many updates: an impulsive start excites the
    channel's acoustic modes, which then ride on the forces. Coefficients use the world's mean inlet
    velocity U and the body's frontal height D: C = 2 F / (rho_0 U^2 D), St = D f / U. Besides the raw
    extrema, ``*_max_cycle`` are the extrema of the shedding cycle (:func:`harmonic_extrema`).
    """
    geo = world.geometry
    u_mean = world.params.u_inlet
    substep = make_substep(geo, world.tau, world.params.collision, world.dtype, bulk_rate)
    norm = 2.0 / (u_mean**2 * 2 * geo.radius)
    zero = jnp.zeros((), world.dtype)

    @jax.jit
    def run(f: jax.Array, first: jax.Array) -> tuple[jax.Array, tuple[jax.Array, jax.Array]]:
        def body(g, n):
            amp = jnp.where(n < kick_steps, jnp.asarray(kick, world.dtype), zero)
            if ramp_steps > 0:
                phase = jnp.minimum(n.astype(world.dtype) / ramp_steps, 1.0)
                g, fx, fy, _ = substep(g, amp, jnp.sin(0.5 * jnp.pi * phase) ** 2)
            else:
                g, fx, fy, _ = substep(g, amp)
            return g, (norm * fx, norm * fy)
        return jax.lax.scan(body, f, first + jnp.arange(chunk))

    world.reset(seed=0)
    f = world.state.f
    if ramp_steps > 0:  # start at rest
        rest = jnp.ones((geo.nx, geo.ny), world.dtype)
        f = lbm.equilibrium(rest, jnp.zeros_like(rest), jnp.zeros_like(rest)).astype(world.dtype)
    start = time.perf_counter()
    drag, lift = [], []
    for n in range(math.ceil(steps / chunk)):
        f, (cd, cl) = run(f, jnp.asarray(n * chunk))
        drag.append(np.asarray(cd))
        lift.append(np.asarray(cl))
    elapsed = time.perf_counter() - start
    cd_all, cl_all = np.concatenate(drag), np.concatenate(lift)
    cd = cd_all[-measure:].astype(np.float64)
    cl = cl_all[-measure:].astype(np.float64)
    if series_path is not None:
        np.save(series_path, np.stack([cd_all, cl_all]))
    strouhal = strouhal_from_signal(cl, 2 * geo.radius, u_mean)
    cycle = dict.fromkeys(("cd_max_cycle", "cd_min_cycle", "cl_max_cycle", "cl_min_cycle"), float("nan"))
    if np.isfinite(strouhal):
        period = 2 * geo.radius / (strouhal * u_mean)
        cycle["cd_max_cycle"], cycle["cd_min_cycle"] = harmonic_extrema(cd, period)
        cycle["cl_max_cycle"], cycle["cl_min_cycle"] = harmonic_extrema(cl, period)
    return {"cd_max": float(cd.max()), "cl_max": float(cl.max()), "cd_mean": float(cd.mean()),
            "cl_amplitude": float(0.5 * (cl.max() - cl.min())), **cycle,
            "strouhal": strouhal, "seconds": elapsed,
            "cells": geo.nx * geo.ny, "steps": len(cd_all), "tau": world.tau, "diameter": 2 * geo.radius,
            "mach_inlet_peak": 1.5 * u_mean / math.sqrt(lbm.CS2)}


def schafer_turek_2d2(diameter: int = 30, u_mean: float = 0.06, collision: str = "trt", steps: int = 45000,
                      measure: int = 6000, chunk: int = 1000, kick: float = 0.05, kick_steps: int = 2000,
                      series_path: str | None = None, polygon_sides: int | None = None,
                      ramp_steps: int = 0, dtype: str = "float32", bulk_rate: float | None = None) -> dict[str, float]:
    """Run the Re = 100 DFG channel, return C_D,max, C_L,max and St over the last ``measure`` steps.

    Benchmark normalisation: C = 2 F / (rho U_mean^2 D), St = D f / U_mean, U_mean = 2/3 U_max.
    ``polygon_sides`` runs the cylinder as an inscribed regular polygon through the generic
    polygon path instead of the analytic circle. Compressibility errors grow like Ma^2 (inlet
    peak Ma = 1.5 u_mean / c_s). ``collision="mrt"`` with ``bulk_rate`` (:data:`ST_BULK_RATE`)
    damps the channel's acoustic standing waves: with TRT their drag peaks (0.05-0.08, the
    quarter-wave modes (2n+1) c_s / 4L, measured by FFT over the last 24 D/U at D = 20-30,
    u_mean = 0.03) exceed the shedding's own drag oscillation (0.03), so the cycle maxima moved by
    up to 0.1 with the window (D = 20: 3.23-3.34). The setting of :func:`schafer_turek_2d2_case`
    and the convergence table are in :data:`ST_CASE` and the ``schafer_turek_2d2`` reproduction.
    """
    ny = round(diameter * 4.1)
    nx = round(diameter * 22)
    shape: dict[str, Any] = {}
    if polygon_sides is not None:
        cx, cy, r = default_cylinder(nx, ny)
        shape = {"body": "polygon", "body_vertices": bodies.regular_polygon(cx, cy, r, polygon_sides).vertices.tolist()}
    world = CylinderWorld(grid=(nx, ny, 1), dtype=dtype, u_inlet=u_mean, reynolds=100.0, collision=collision,
                          substeps=1, **shape)
    return shedding(world, steps, measure, chunk, kick, kick_steps, series_path, ramp_steps, bulk_rate)


#: the validation case's setting: D = 30 cells, inlet-peak Ma = 0.078, acoustic waves damped, 50 D/U with
#: the maxima taken over the last 12 D/U (the cycle extrema settle to 0.01 after about 36 D/U)
ST_CASE: dict[str, Any] = {"diameter": 30, "u_mean": 0.03, "collision": "mrt", "bulk_rate": ST_BULK_RATE,
                           "steps": 50000, "measure": 12000, "kick_steps": 2000}


def schafer_turek_2d2_case() -> list[ValidationResult]:
    """The DFG 2D-2 benchmark at :data:`ST_CASE`, each quantity within 5% of the reference interval's centre."""
    out = schafer_turek_2d2(**ST_CASE)
    detail = {k: out[k] for k in ("seconds", "cells", "steps", "tau", "diameter", "cd_max", "cl_max", "cd_mean",
                                  "mach_inlet_peak")}
    case = "schafer_turek_2d2"
    return [  # the extrema of the shedding cycle (a fit of its harmonics); the raw ones are in detail
        relative_check("lbm2d:cylinder", case, "cd_max", out["cd_max_cycle"], 3.23, 0.05, ST_SOURCE, **detail),
        relative_check("lbm2d:cylinder", case, "cl_max", out["cl_max_cycle"], 1.00, 0.05, ST_SOURCE, **detail),
        relative_check("lbm2d:cylinder", case, "strouhal", out["strouhal"], 0.30, 0.05, ST_SOURCE, **detail),
    ]


def square_cylinder(side: int = 20, u_max: float = 0.075, reynolds: float = 100.0, collision: str = "trt",
                    convective_time: float = 150.0, measure_time: float = 30.0, chunk: int = 1000) -> dict[str, float]:
    """Breuer et al. (2000) channel: square of ``side`` cells centred in H = 8 D, inlet 12.5 D upstream, L = 50 D.

    Breuer normalise with the inflow's peak velocity U_max (Re, C_D and St); the world uses the mean
    U = 2/3 U_max, so Re_world = 2/3 Re, C_D = 4/9 C_D,world and St = 2/3 St_world. The square's
    faces lie half-way between nodes (side even, centre on a half-integer), so its cut links have
    q = 1/2 exactly, from the polygon path. Measured (float32, TRT, Ma = 0.13, 150 D/U_max, last 30):
    side 10 gives mean C_D 1.311 and St 0.1446, side 20 (the default, 160k cells) 1.347 and 0.1419.
    """
    if side % 2:
        raise ValueError(f"side must be even so that the faces lie half-way between nodes (got {side})")
    ny, nx = 8 * side, 50 * side
    u_mean = 2.0 / 3.0 * u_max
    world = CylinderWorld(grid=(nx, ny, 1), u_inlet=u_mean, reynolds=reynolds * 2.0 / 3.0, collision=collision,
                          substeps=1, body="square", cylinder_x=12.5 * side + 0.5, cylinder_y=ny / 2 - 0.5,
                          radius=side / 2)
    per_unit = side / u_max  # updates per convective time D / U_max
    steps = int(math.ceil(convective_time * per_unit / chunk) * chunk)
    out = shedding(world, steps, int(measure_time * per_unit), chunk, kick_steps=int(min(20 * per_unit, steps // 10)))
    scale = (u_mean / u_max) ** 2
    return {**out, "cd_mean": out["cd_mean"] * scale, "cd_max": out["cd_max"] * scale,
            "cl_max": out["cl_max"] * scale, "cl_amplitude": out["cl_amplitude"] * scale,
            "strouhal": out["strouhal"] * u_mean / u_max, "reynolds_umax": reynolds}


def square_cylinder_case() -> list[ValidationResult]:
    """Mean C_D and St of the Re = 100 confined square cylinder within 5% of Breuer et al. (2000).

    The reference numbers are unverified (see :data:`SQUARE_SOURCE`); the square checked against
    tabulated values is ``square_cylinder_unconfined_re100`` (:mod:`atom_sdk.worlds.square_validation`).
    """
    out = square_cylinder()
    detail = {k: out[k] for k in ("seconds", "cells", "steps", "tau", "diameter", "reynolds_umax")}
    case = "square_cylinder_re100"
    return [
        relative_check("lbm2d:cylinder", case, "cd_mean", out["cd_mean"], SQUARE_CD, 0.05, SQUARE_SOURCE, **detail),
        relative_check("lbm2d:cylinder", case, "strouhal", out["strouhal"], SQUARE_ST, 0.05, SQUARE_SOURCE, **detail),
    ]
