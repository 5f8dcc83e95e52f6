"""``lbm3d:sphere``, ``lbm3d:cylinder``, ``lbm3d:body``: 3D channel flow past a body with two jets (D3Q19 TRT).

``lbm3d:cylinder`` is the Schäfer & Turek (1996) 3D-1Z/3D-2Z channel scaled to the grid: a square duct of
height H = ``ny`` cells (geometry in units of H = 0.41: length 2.5, cylinder of diameter 0.1 with its axis
along z, centred at x = 0.5, y = 0.2, spanning the whole depth), the product-parabola inlet
16 U_m y z (H - y)(H - z) / H^4 (mean U = 4/9 U_m) and no-slip side walls. Its lift is only meaningful
when ``ny`` is a multiple of 41: then the cylinder's centre sits on a lattice plane, the discrete body is
mirror-symmetric, and the interpolated bounce-back's q-dependent error cancels between top and bottom
(at ny = 20 and 28 it leaves a spurious C_L of -0.64 and +0.25, against 0.0094; see ``lbm3d_validation``). ``lbm3d:sphere`` is a
sphere in a square duct with a uniform inlet whose side walls slide with the free stream (no wall
boundary layer, so the duct only adds blockage). ``lbm3d:body`` is the sphere's duct around any closed body
given as an STL mesh (:mod:`atom_sdk.worlds.mesh3d`; default: a 1280-face icosphere), with D its frontal
diameter and A its frontal projected area.

Units: lattice units inside (dx = dt = 1, rho_0 = 1); ``u_inlet`` is the mean inlet velocity U; D is the
body's diameter. Coefficients C = 2 F / (rho_0 U^2 A) with A = pi D^2 / 4 (sphere) or D x depth
(cylinder); ``pressure_drop`` is (p_front - p_back) / (rho_0 U^2) between the body's upstream and
downstream points on the mid-plane; ``dt`` (agent step) is in convective units D / U.

Action: the top jet's mass flux as a fraction of Q_ref = U A, bounded by +-``max_jet_flux``; the bottom
jet takes the opposite flux, so the net mass flux is zero (as in the 2D ``lbm2d:cylinder`` after Rabault
et al. 2019). The jets sit on the body at +-y: the poles of the sphere, the +-90 degree lines of the
cylinder. Reward = -(mean C_D - ``drag_offset``) - 0.2 |mean C_L|.

Observation (``metadata["observation_names"]``): u/U, v/U and w/U at probe nodes on the body's
mid-plane (a ring at 1.5 R and a near-wake grid), then C_D and C_L of the last lattice update.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar, Literal, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from gymnasium import spaces

from atom_sdk.errors import WorldParameterError
from atom_sdk.worlds import lbm3d, lbm3d_fused
from atom_sdk.worlds import lbm_d3q19 as d3
from atom_sdk.worlds.base import (DIMENSIONLESS, NOT_A_QUANTITY, Dynamics, Quantity, StepOutput, ValidationCase, World,
                                  WorldParams, param)

#: Schäfer–Turek 3D geometry in units of the channel height H = 0.41
ST3_HEIGHT, ST3_LENGTH, ST3_DIAMETER, ST3_CENTRE = 0.41, 2.5, 0.1, (0.5, 0.2)
MAX_MACH = 0.3
MIN_TAU = 0.505
MIN_DIAMETER = 4.0
OBS_BOUND = 1e6


class Body3DParams(WorldParams):
    u_inlet: float = param(0.05, unit="dx/dt", description="mean inlet velocity U", gt=0)
    tau: float | None = param(None, unit="dt", description="shear relaxation time (default 0.56); excludes 'reynolds'")
    reynolds: float | None = param(None, unit=DIMENSIONLESS, description="Re = U D / nu; sets tau instead", gt=0)
    collision: Literal["bgk", "trt"] = param("trt", unit=NOT_A_QUANTITY, description="collision operator")
    substeps: int = param(20, unit=DIMENSIONLESS, description="LBM updates per agent step", ge=1, le=100000)
    center_x: float | None = param(None, unit="dx", description="body centre x (default: one per world)")
    center_y: float | None = param(None, unit="dx", description="body centre y (default: one per world)")
    center_z: float | None = param(None, unit="dx", description="sphere centre z (default: mid-depth)")
    radius: float | None = param(None, unit="dx", description="body radius (default: one per world)")
    max_jet_flux: float = param(0.06, unit=DIMENSIONLESS, description="action bound, fraction of Q_ref = U A",
                                ge=0, le=0.5)
    jet_width_deg: float = param(20.0, unit="deg", description="angular width of each jet on the body", gt=0, lt=90)
    drag_offset: float = param(0.0, unit=DIMENSIONLESS, description="C_D subtracted from the mean drag in the reward")
    interpolated_bounce_back: bool = param(True, unit=NOT_A_QUANTITY,
                                           description="Bouzidi links on the body (else half-way)")
    perturbation: float = param(1e-3, unit=DIMENSIONLESS, description="seeded initial noise, fraction of U", ge=0)
    inlet_condition: Literal["bounce_back", "equilibrium"] = param(
        "bounce_back", unit=NOT_A_QUANTITY, description="inlet: moving-wall bounce-back at x = -1/2, or the "
        "equilibrium at the profile on the first column (more dissipative, for tau near 1/2)")
    start_ramp: int = param(0, unit="dt", description="LBM updates over which the inlet and sliding walls rise "
                            "from rest to U (0: the fluid starts at U)", ge=0)
    kernel: Literal["auto", "reference", "native"] = param(
        "auto", unit=NOT_A_QUANTITY, description="lattice update: 'native' (one fused C++ call per update on the "
        "CPU, TRT or BGK, float32), 'reference' (pure JAX), 'auto' (native where it applies); same result to "
        "float32 round-off")


class SphereParams(Body3DParams):
    inlet_profile: Literal["uniform", "parabolic"] = param(
        "uniform", unit=NOT_A_QUANTITY, description="inlet profile: uniform, or the duct product parabola")
    side_walls: Literal["free_stream", "no_slip"] = param(
        "free_stream", unit=NOT_A_QUANTITY, description="side walls sliding with U (free_stream) or at rest")


class Cylinder3DParams(Body3DParams):
    inlet_profile: Literal["uniform", "parabolic"] = param(
        "parabolic", unit=NOT_A_QUANTITY, description="inlet profile: the Schäfer–Turek product parabola, or uniform")
    side_walls: Literal["free_stream", "no_slip"] = param(
        "no_slip", unit=NOT_A_QUANTITY, description="side walls at rest (no_slip) or sliding with U")


DIAGNOSTICS_3D: dict[str, Quantity] = {
    "drag": Quantity(DIMENSIONLESS, "drag coefficient C_D = 2 F_x / (rho_0 U^2 A) of the last lattice update"),
    "lift": Quantity(DIMENSIONLESS, "lift coefficient C_L (y force, towards the top jet) of the last update"),
    "side": Quantity(DIMENSIONLESS, "side-force coefficient (z force) of the last update"),
    "drag_mean": Quantity(DIMENSIONLESS, "C_D averaged over the agent step"),
    "lift_mean": Quantity(DIMENSIONLESS, "C_L averaged over the agent step"),
    "pressure_drop": Quantity(DIMENSIONLESS, "(p_front - p_back) / (rho_0 U^2) across the body on the mid-plane"),
    "max_speed": Quantity("dx/dt", "largest fluid speed"),
    "mach_max": Quantity(DIMENSIONLESS, "largest lattice Mach number |u| / c_s"),
    "density_min": Quantity("rho_0", "smallest fluid density"),
    "density_max": Quantity("rho_0", "largest fluid density"),
    "mass": Quantity("rho_0 dx^3", "total fluid mass"),
    "jet_flux": Quantity("rho_0 dx^3/dt", "net mass injected by both jets in the last update (ideally 0)"),
    "jet": Quantity(DIMENSIONLESS, "current top-jet flux, fraction of Q_ref = U A (the action)"),
}


class Body3DState(NamedTuple):
    f: jax.Array
    step: jax.Array
    force: jax.Array  # (3,) coefficients of the last update
    drag_mean: jax.Array
    lift_mean: jax.Array
    jet: jax.Array
    jet_flux: jax.Array


class Geometry3D(NamedTuple):
    shape: tuple[int, int, int]
    body: lbm3d.Body3D
    solid: np.ndarray
    links: lbm3d.Links
    inlet: np.ndarray  # (ny, nz)
    area: float  # reference area A of the coefficients
    probes: np.ndarray  # (n, 3) int
    front: tuple[tuple[int, int], float, np.ndarray, np.ndarray]  # (x1, x2), x_surface, (y0, y1, wy), (z0, z1, wz)
    back: tuple[tuple[int, int], float, np.ndarray, np.ndarray]


def _plane_weights(v: float, n: int) -> np.ndarray:
    """Two neighbouring node indices and the linear weight of the upper one."""
    lo = int(min(max(math.floor(v), 0), n - 2))
    return np.array([lo, lo + 1, min(max(v - lo, 0.0), 1.0)])


def _surface_sampler(solid: np.ndarray, xs: float, y: float, z: float, upstream: bool):
    """Two fluid nodes along x next to the surface point (xs, y, z), for a linear extrapolation of p."""
    nx, ny, nz = solid.shape
    step = -1 if upstream else 1
    x1 = int(math.floor(xs)) if upstream else int(math.ceil(xs))
    iy, iz = int(round(y)), int(round(min(z, nz - 1)))
    while 0 <= x1 < nx and solid[x1, iy, iz]:
        x1 += step
    return (x1, x1 + step), xs, _plane_weights(y, ny), _plane_weights(z, nz)


class Body3DWorld(World):
    """Common 3D channel world; subclasses fix the body shape and the defaults."""

    shape_kind: ClassVar[str] = "sphere"
    observable_names = ("drag", "lift")
    measurement_model = "drag and lift coefficients: each relative to the resultant force coefficient hypot(C_D, C_L)"
    diagnostic_units = DIAGNOSTICS_3D
    arrays_per_cell = 140.0
    field_channels = 5
    render_field = "vorticity_z"

    def measurement_scale(self, clean: np.ndarray) -> np.ndarray:
        clean = np.asarray(clean, dtype=np.float64)
        return np.full(clean.shape, float(np.hypot(*clean[:2])))

    # ---- parameters -----------------------------------------------------------------------
    def default_body(self) -> tuple[float, float, float, float]:  # pragma: no cover - abstract
        raise NotImplementedError

    @property
    def body(self) -> lbm3d.Body3D:
        p = self.params
        cx, cy, cz, r = self.default_body()
        cx = cx if p.center_x is None else p.center_x
        cy = cy if p.center_y is None else p.center_y
        cz = cz if p.center_z is None else p.center_z
        r = r if p.radius is None else p.radius
        return lbm3d.Sphere(cx, cy, cz, r) if self.shape_kind == "sphere" else lbm3d.ZCylinder(cx, cy, r)

    @property
    def diameter(self) -> float:
        return 2.0 * self.body.r

    @property
    def tau(self) -> float:
        p = self.params
        if p.reynolds is not None:
            return 0.5 + (p.u_inlet * self.diameter / p.reynolds) / lbm3d.CS2
        return 0.56 if p.tau is None else p.tau

    @property
    def reynolds(self) -> float:
        return self.params.u_inlet * self.diameter / (lbm3d.CS2 * (self.tau - 0.5))

    @property
    def dt(self) -> float:
        """Agent step in convective units D / U."""
        return self.params.substeps * self.params.u_inlet / self.diameter

    def check_parameters(self) -> None:
        p = self.params
        nx, ny, nz = self.grid
        if min(ny, nz) < 8 or nx < 16:
            raise WorldParameterError(f"{self.world_id} is three-dimensional: the grid needs nx >= 16 and ny, nz >= 8 "
                                      f"(got {self.grid})")
        if p.tau is not None and p.reynolds is not None:
            raise WorldParameterError("give either 'tau' or 'reynolds', not both (reynolds sets tau = 1/2 + 3 U D / Re)")
        if self.shape_kind == "cylinder" and p.center_z is not None:
            raise WorldParameterError("center_z places a sphere; the cylinder spans the whole depth (z)")
        tau = self.tau
        if not tau > 0.5:
            raise WorldParameterError(f"tau must be > 0.5 (got {tau:.4g}); 0.5 gives zero viscosity; try 0.56, or lower "
                                      "the Reynolds number, or raise u_inlet / the resolution")
        if tau < MIN_TAU:
            raise WorldParameterError(f"tau = {tau:.5g} is too close to 0.5 to be stable (needs >= {MIN_TAU}); raise tau "
                                      "if you set it, or lower the Reynolds number, or raise the resolution or u_inlet")
        peak = p.u_inlet * (float(lbm3d.duct_profile(ny, nz, 1.0, "parabolic").max())
                            if p.inlet_profile == "parabolic" else 1.0)
        mach = peak / math.sqrt(lbm3d.CS2)
        if mach > MAX_MACH:
            raise WorldParameterError(f"lattice Mach number {mach:.2f} of the inlet peak exceeds {MAX_MACH}; lower u_inlet "
                                      f"below {MAX_MACH * math.sqrt(lbm3d.CS2) * p.u_inlet / peak:.3f}")
        self.check_placement()

    def check_placement(self) -> None:
        """Refuse a body too small to resolve or too close to the walls, the inlet or the outlet."""
        nx, ny, nz = self.grid
        body, d = self.body, self.diameter
        if d < MIN_DIAMETER:
            raise WorldParameterError(f"the body diameter is {d:.1f} cells; it needs at least {MIN_DIAMETER:.0f}: set "
                                      "radius >= 2 or enlarge the grid")
        lo = [body.cx - body.r, body.cy - body.r]
        hi = [body.cx + body.r, body.cy + body.r]
        size = [nx, ny]
        if isinstance(body, lbm3d.Sphere):
            lo.append(body.cz - body.r)
            hi.append(body.cz + body.r)
            size.append(nz)
        if lo[0] < d or any(l < 2 for l in lo[1:]) or any(h > n - 3 for h, n in zip(hi[1:], size[1:])) or hi[0] > nx:
            raise WorldParameterError(
                f"the {self.shape_kind} (centre {tuple(round(v, 1) for v in body[:-1])}, diameter {d:.1f}) must lie inside "
                f"the channel {self.grid}: at least one diameter behind the inlet and 2 cells from the side walls")
        if nx - hi[0] < 3 * d:
            raise WorldParameterError(f"the channel is too short: {nx - hi[0]:.0f} cells behind the {self.shape_kind}, "
                                      f"need >= 3 diameters ({3 * d:.0f}); raise nx to >= {math.ceil(hi[0] + 3 * d)}")

    # ---- spaces and dynamics --------------------------------------------------------------
    def reference_area(self) -> float:
        b = self.body
        return math.pi * b.r**2 if isinstance(b, lbm3d.Sphere) else 2 * b.r * self.grid[2]

    def surface_x(self) -> tuple[float, float]:
        """x of the body's upstream and downstream surface points on its centre line (pressure_drop)."""
        b = self.body
        return b.cx - b.r, b.cx + b.r

    def build_geometry(self) -> Geometry3D:
        p = self.params
        shape = tuple(int(n) for n in self.grid)
        body = self.body
        area = self.reference_area()
        half = max(math.radians(p.jet_width_deg) / 2, 0.75 / body.r)
        solid, links, _ = lbm3d.build_links(body, shape, p.interpolated_bounce_back, half, p.u_inlet * area, self.dtype)
        inlet = lbm3d.duct_profile(shape[1], shape[2], p.u_inlet, p.inlet_profile)
        zc = 0.5 * (shape[2] - 1) if isinstance(body, lbm3d.ZCylinder) else body.cz
        pts = [(body.cx + 1.5 * body.r * math.cos(t), body.cy + 1.5 * body.r * math.sin(t))
               for t in np.linspace(0, 2 * math.pi, 8, endpoint=False)]
        pts += [(body.cx + fx * 2 * body.r, body.cy + fy * 2 * body.r) for fx in (1.0, 1.5, 2.0, 3.0)
                for fy in (-0.5, 0.0, 0.5)]
        nodes = np.clip(np.rint([(x, y, zc) for x, y in pts]).astype(int), 0, np.array(shape) - 1)
        probes = np.array([n for n in nodes if not solid[tuple(n)]])
        x_front, x_back = self.surface_x()
        front = _surface_sampler(solid, x_front, body.cy, zc, upstream=True)
        back = _surface_sampler(solid, x_back, body.cy, zc, upstream=False)
        return Geometry3D(shape, body, solid, links, inlet, area, probes, front, back)

    def build_dynamics(self) -> Dynamics:
        p = self.params
        self.geometry = build = self.build_geometry()
        n_obs = 3 * len(build.probes) + 2
        self.observation_space = spaces.Box(-OBS_BOUND, OBS_BOUND, shape=(n_obs,), dtype=np.float32)
        bound = np.float32(p.max_jet_flux)
        self.action_space = spaces.Box(-bound, bound, shape=(1,), dtype=np.float32)
        wall_ux = p.u_inlet if p.side_walls == "free_stream" else 0.0
        channel = lbm3d.Channel(build.inlet, wall_ux, inlet=p.inlet_condition)
        return make_dynamics(build, channel, self.tau, p.collision, p.u_inlet, p.substeps, p.drag_offset,
                             p.perturbation, self.dtype, p.start_ramp, p.kernel)

    def observation_components(self) -> list[tuple[str, str]]:
        at = [f"@({int(i)},{int(j)},{int(k)})" for i, j, k in self.geometry.probes]
        return ([(f"u/U{a}", "") for a in at] + [(f"v/U{a}", "") for a in at] + [(f"w/U{a}", "") for a in at]
                + [("C_D", ""), ("C_L", "")])

    @classmethod
    def validation_cases(cls) -> list[ValidationCase]:
        from atom_sdk.worlds import lbm3d_validation as v

        return v.cases_for(cls)


def _pressure_at(p: jax.Array, sampler: tuple) -> jax.Array:
    """Linear extrapolation along x to the surface point, bilinear in y and z."""
    (x1, x2), xs, (y0, y1, wy), (z0, z1, wz) = sampler
    y0, y1, z0, z1 = int(y0), int(y1), int(z0), int(z1)

    def plane(x: int) -> jax.Array:
        return ((1 - wy) * ((1 - wz) * p[x, y0, z0] + wz * p[x, y0, z1])
                + wy * ((1 - wz) * p[x, y1, z0] + wz * p[x, y1, z1]))

    p1, p2 = plane(x1), plane(x2)
    return p1 + (p1 - p2) * abs(xs - x1)


def make_dynamics(geo: Geometry3D, channel: lbm3d.Channel, tau: float, kind: str, u_mean: float, substeps: int,
                  drag_offset: float, perturbation: float, dtype: Any, start_ramp: int = 0,
                  kernel: str = "auto") -> Dynamics:
    """The world's pure (init, step, observe, fields, diagnostics) functions. With ``start_ramp`` > 0 the
    fluid starts at rest and the inlet rises smoothly (a sine quarter wave) over that many updates: an
    impulsive start at U next to a no-slip body sends a pressure shock that tau near 1/2 cannot damp.
    ``kernel`` picks the lattice update (:mod:`atom_sdk.worlds.lbm3d_fused`)."""
    native = lbm3d_fused.resolve_kernel(kernel, kind, dtype, geo.shape, channel, geo.links) == "native"
    update = lbm3d_fused.make_update(geo.shape, tau, kind, channel, geo.links, geo.solid, dtype,
                                     kernel="native" if native else "reference")
    # the native update cannot write its input: two updates per loop body let XLA ping-pong two buffers
    unroll = 2 if native else 1
    norm = 2.0 / (u_mean**2 * geo.area)
    fluid = jnp.asarray(~geo.solid)
    probes = jnp.asarray(geo.probes)
    zero = jnp.zeros((), dtype)

    def init(key: jax.Array) -> Body3DState:
        ux = jnp.broadcast_to(jnp.asarray(geo.inlet, dtype)[None] * (start_ramp == 0), geo.shape)
        noise = jax.random.normal(key, (3, *geo.shape), dtype) * (perturbation * u_mean)
        u = [jnp.where(fluid, ux + noise[0], 0.0), jnp.where(fluid, noise[1], 0.0), jnp.where(fluid, noise[2], 0.0)]
        f = d3.equilibrium(jnp.ones(geo.shape, dtype), *u).astype(dtype)
        return Body3DState(f, jnp.zeros((), jnp.int32), jnp.zeros(3, dtype), zero, zero, zero, zero)

    def step(state: Body3DState, action: jax.Array) -> tuple[Body3DState, StepOutput]:
        target = jnp.reshape(action, ()).astype(dtype)

        def body(s, carry):
            f, total, _, _ = carry
            amp = state.jet + (target - state.jet) * ((s + 1) / substeps).astype(dtype)
            if start_ramp > 0:
                phase = jnp.minimum((state.step + s + 1).astype(dtype) / start_ramp, 1.0)
                f, force, inj = update(f, amp, (0.5 - 0.5 * jnp.cos(jnp.pi * phase)).astype(dtype))
            else:
                f, force, inj = update(f, amp)
            return f, total + force, force, inj

        f, total, force, inj = jax.lax.fori_loop(0, substeps, body, (state.f, jnp.zeros(3, dtype),
                                                                     jnp.zeros(3, dtype), zero), unroll=unroll)
        mean = norm * total / substeps
        new = Body3DState(f, state.step + substeps, norm * force, mean[0], mean[1], target, inj)
        reward = -(mean[0] - drag_offset) - 0.2 * jnp.abs(mean[1])
        return new, StepOutput(observe(new), reward, diagnostics(new))

    def observe(state: Body3DState) -> jax.Array:
        _, ux, uy, uz = lbm3d.macroscopic(state.f)
        at = (probes[:, 0], probes[:, 1], probes[:, 2])
        return jnp.concatenate([ux[at] / u_mean, uy[at] / u_mean, uz[at] / u_mean,
                                state.force[:2]]).astype(jnp.float32)

    def fields(state: Body3DState) -> dict[str, jax.Array]:
        rho, ux, uy, uz = lbm3d.macroscopic(state.f)
        ux, uy, uz = (jnp.where(fluid, v, 0.0) for v in (ux, uy, uz))
        return {"velocity": jnp.stack([ux, uy, uz]), "density": rho, "pressure": lbm3d.CS2 * rho,
                "vorticity_z": jnp.gradient(uy, axis=0) - jnp.gradient(ux, axis=1)}

    def diagnostics(state: Body3DState) -> dict[str, jax.Array]:
        rho, ux, uy, uz = lbm3d.macroscopic(state.f)
        speed = jnp.where(fluid, jnp.sqrt(ux * ux + uy * uy + uz * uz), 0.0)
        big = jnp.asarray(jnp.inf, rho.dtype)
        p = lbm3d.CS2 * rho
        dp = (_pressure_at(p, geo.front) - _pressure_at(p, geo.back)) / u_mean**2
        return {
            "drag": state.force[0], "lift": state.force[1], "side": state.force[2], "drag_mean": state.drag_mean,
            "lift_mean": state.lift_mean, "pressure_drop": dp, "max_speed": jnp.max(speed),
            "mach_max": jnp.max(speed) / math.sqrt(lbm3d.CS2),
            "density_min": jnp.min(jnp.where(fluid, rho, big)), "density_max": jnp.max(jnp.where(fluid, rho, -big)),
            "mass": jnp.sum(jnp.where(fluid, rho, 0.0)), "jet_flux": state.jet_flux, "jet": state.jet,
        }

    return Dynamics(init=init, step=step, observe=jax.jit(observe), fields=jax.jit(fields),
                    diagnostics=jax.jit(diagnostics))


class SphereWorld(Body3DWorld):
    """Flow past a sphere in a square duct with two polar jets, on a D3Q19 TRT lattice-Boltzmann channel."""

    world_id = "lbm3d:sphere"
    Params = SphereParams
    shape_kind = "sphere"

    def __init__(self, grid: tuple[int, int, int] = (64, 24, 24), dtype: str = "float32",
                 max_episode_steps: int = 200, **params: Any) -> None:
        super().__init__(grid=grid, dtype=dtype, max_episode_steps=max_episode_steps, **params)

    def default_body(self) -> tuple[float, float, float, float]:
        """Diameter a quarter of the duct, centre 2.5 diameters from the inlet, on the duct axis."""
        nx, ny, nz = self.grid
        r = min(ny, nz) / 8
        return 5 * r, 0.5 * (ny - 1), 0.5 * (nz - 1), r


class Cylinder3DWorld(Body3DWorld):
    """Schäfer–Turek 3D channel flow past a spanning cylinder with two jets, on a D3Q19 TRT lattice."""

    world_id = "lbm3d:cylinder"
    Params = Cylinder3DParams
    shape_kind = "cylinder"

    def __init__(self, grid: tuple[int, int, int] = (122, 20, 20), dtype: str = "float32",
                 max_episode_steps: int = 200, **params: Any) -> None:
        super().__init__(grid=grid, dtype=dtype, max_episode_steps=max_episode_steps, **params)

    def default_body(self) -> tuple[float, float, float, float]:
        """Schäfer–Turek placement scaled so the duct height is ny cells (walls at -1/2 and ny - 1/2)."""
        scale = self.grid[1] / ST3_HEIGHT
        return (ST3_CENTRE[0] * scale - 0.5, ST3_CENTRE[1] * scale - 0.5, 0.5 * (self.grid[2] - 1),
                0.5 * ST3_DIAMETER * scale)


class MeshBodyParams(SphereParams):
    radius: float | None = param(None, unit="dx", description="half the mesh's frontal diameter D (its larger y or z "
                                 "extent); the mesh is scaled uniformly to it (default: a quarter of the duct)")
    mesh: str | None = param(None, unit=NOT_A_QUANTITY, description="path of an STL file (ASCII or binary), x "
                             "stream-wise; default: a 1280-face icosphere")
    mesh_sha256: str | None = param(None, unit=NOT_A_QUANTITY, description="expected SHA-256 of the STL file's bytes; "
                                    "refuses a file that has changed since the run was configured")


class MeshBodyWorld(SphereWorld):
    """Flow past any closed body given as an STL mesh, in a square duct with two jets (D3Q19 TRT).

    The mesh is checked (closed, consistently oriented, one body, finite, no degenerate faces), scaled so
    its frontal diameter is 2 ``radius`` cells and its bounding-box centre sits at the body centre; its
    link fractions q come from the true triangles (:mod:`atom_sdk.worlds.mesh3d`). The coefficients use
    the mesh's frontal projected area; the jets sit where the surface faces +y and -y."""

    world_id = "lbm3d:body"
    Params = MeshBodyParams
    shape_kind = "mesh"
    # the sphere world's grid default and placement (D a quarter of the duct, 2.5 D from the inlet)

    def mesh_triangles(self) -> np.ndarray:
        """The checked triangles of the ``mesh`` file (or the default icosphere), in the file's units."""
        from atom_sdk.worlds import mesh3d

        p = self.params
        if p.mesh is None:
            if p.mesh_sha256 is not None:
                raise WorldParameterError("mesh_sha256 checks a mesh file; give 'mesh' too or drop it")
            return mesh3d.check_mesh(mesh3d.icosphere(3))
        from pathlib import Path

        path = Path(p.mesh)
        if not path.is_file():
            raise WorldParameterError(f"mesh file '{p.mesh}' does not exist; give the path of an STL file")
        data = path.read_bytes()
        if p.mesh_sha256 is not None:
            import hashlib

            digest = hashlib.sha256(data).hexdigest()
            if digest != p.mesh_sha256.lower():
                raise WorldParameterError(f"mesh file '{p.mesh}' has SHA-256 {digest}, not the expected "
                                          f"{p.mesh_sha256}; the file changed since the run was configured")
        return mesh3d.check_mesh(mesh3d.read_stl(data))

    @property
    def body(self) -> lbm3d.Body3D:
        from atom_sdk.worlds import mesh3d

        cached = getattr(self, "_mesh_body", None)
        if cached is None:
            p = self.params
            cx, cy, cz, r = self.default_body()
            centre = (cx if p.center_x is None else p.center_x, cy if p.center_y is None else p.center_y,
                      cz if p.center_z is None else p.center_z)
            r = r if p.radius is None else p.radius
            cached = self._mesh_body = mesh3d.place(self.mesh_triangles(), 2 * r, centre)
        return cached

    def check_placement(self) -> None:
        body, d = self.body, self.diameter
        grid = self.grid
        lo, hi = np.asarray(body.lo), np.asarray(body.hi)
        if d < MIN_DIAMETER:
            raise WorldParameterError(f"the body's frontal diameter is {d:.1f} cells; it needs at least "
                                      f"{MIN_DIAMETER:.0f}: set radius >= 2 or enlarge the grid")
        thin = hi - lo
        if thin.min() < 2.0:
            axis = "xyz"[int(np.argmin(thin))]
            raise WorldParameterError(f"the body is {thin.min():.2f} cells thick along {axis}; the lattice cannot "
                                      f"resolve it: give it at least 2 cells (raise radius or the grid)")
        where = f"(x {lo[0]:.1f}..{hi[0]:.1f}, y {lo[1]:.1f}..{hi[1]:.1f}, z {lo[2]:.1f}..{hi[2]:.1f})"
        if np.any(lo[1:] < 2) or np.any(hi[1:] > np.asarray(grid[1:]) - 3):
            raise WorldParameterError(f"the body {where} must lie inside the channel {grid}, at least 2 cells from "
                                      "the side walls: lower radius, move center_y/center_z or enlarge ny, nz")
        if lo[0] < d:
            raise WorldParameterError(f"the body {where} must lie inside the channel {grid} at least one frontal "
                                      f"diameter ({d:.1f} cells) behind the inlet: raise center_x")
        if grid[0] - hi[0] < 3 * d:
            raise WorldParameterError(f"the channel is too short: {grid[0] - hi[0]:.0f} cells behind the body, need "
                                      f">= 3 diameters ({3 * d:.0f}); raise nx to >= {math.ceil(hi[0] + 3 * d)}")

    def reference_area(self) -> float:
        """The mesh's frontal projected area (on the y-z plane)."""
        from atom_sdk.worlds import mesh3d

        cached = getattr(self, "_frontal_area", None)
        if cached is None:
            cached = self._frontal_area = mesh3d.frontal_area(self.body.triangles)
        return cached

    def surface_x(self) -> tuple[float, float]:
        """Where the centre line first and last crosses the mesh (its bounding box when it misses)."""
        from atom_sdk.worlds import mesh3d

        b = self.body
        xs = mesh3d.centreline_crossings(b.triangles, b.cy, b.cz)
        return (float(xs[0]), float(xs[-1])) if len(xs) else (b.lo[0], b.hi[0])

    @classmethod
    def validation_cases(cls) -> list[ValidationCase]:
        """The channel kernel's duct profile, and the Re = 100 sphere of ``lbm3d:sphere`` run through the
        mesh path (the default 1280-face icosphere) against the same published C_D."""
        from atom_sdk.worlds import lbm3d_validation as v
        from atom_sdk.worlds.base import relative_check

        def icosphere_re100() -> list:
            out = v.sphere_re100(cls)
            detail = {k: out[k] for k in ("grid", "diameter", "tau", "budget", "blockage_epsilon", "cd_duct",
                                          "updates", "convective_times", "seconds")}
            return [relative_check(cls.world_id, "icosphere_re100", "cd", out["cd_unconfined"], v.JOHNSON_PATEL_CD,
                                   v.SPHERE_TOL, v.SPHERE_SOURCE, mesh="icosphere, 1280 faces", **detail)]

        return [ValidationCase(cls.world_id, "duct_profile", lambda: v.duct_case(cls.world_id),
                               description="developed square-duct flow: u_max/u_mean = 2.096 (3%)"),
                ValidationCase(cls.world_id, "icosphere_re100", icosphere_re100, slow=True,
                               description="Re=100 sphere given as a 1280-face STL icosphere, D=12 cells, blockage-"
                                           "corrected C_D vs Johnson & Patel 1999 (5%); ~2 min on 2 CPU cores "
                                           "(native kernel; ~30 min on the reference)")]
