"""``supersonic:wedge``: an attached oblique shock on a wedge, steered by changing its angle.

A uniform supersonic stream (Mach ``mach``, freestream rho = 1 and sound speed = 1) meets a
wedge whose surface starts at x = 0.2 on the lower wall of the box [0, 1] x [0, 0.75] (see
``atom_sdk.worlds.euler`` for the wall-fitted grid and the HLLC/MUSCL/SSP-RK2 scheme). Each
agent step runs ``substeps`` solver steps, so the flow relaxes toward the steady oblique shock
of theta-beta-Mach theory (``atom_sdk.worlds.gasdynamics``).

Action: one number, the change of the wedge half-angle in degrees this step, bounded by
``max_delta``; the angle is kept in [0, detachment angle - 0.25 deg] (or [0, 45] with
``allow_detached=True``). The grid follows the new wall: the flow is interpolated onto it
(the fluid stays in place, the wall turns) and then relaxes toward the new steady shock over
roughly 20 agent steps with the default 30 substeps on 64x48 (a quasi-steady actuator).

Measured shock angle: along every vertical grid line over the middle of the wedge the shock
is located at the centroid of the pressure drop within 3 faces of the steepest drop (the
captured jump, sub-cell accurate, and blind to the weaker compressions behind a moving shock);
a least-squares line through these shock points gives beta = atan(slope) relative to the
freestream. With no pressure rise (wedge angle 0) it reads 0.

With ``allow_detached=True`` the solver runs past detachment, but the result is qualitative:
the wedge reaches the outflow boundary, so the stand-off distance is set by the box (the shock
may leave through the inflow) and ``theory_shock_angle`` then reports 90 (normal shock).

Observation (float32, 11 values): 8 wall-pressure probes p/p_inf spread along the wedge, the
measured shock angle (deg), the wall pressure ratio p2/p_inf and the current wedge angle (deg).
Reward: ``-|shock_angle - target_shock_angle|`` in degrees. The default target is the weak
theta-beta-Mach angle of the initial wedge angle + 2 degrees (clamped to the attached range).
The names (``metadata["observation_names"]``, units in ``metadata["observation_units"]``):
``p_wall/p_inf(s=0.05)`` ... ``p_wall/p_inf(s=0.95)`` (s: position along the wedge as a fraction
of its length), ``shock_angle`` (deg), ``pressure_ratio`` (p2/p_inf) and ``wedge_angle`` (deg).
``render_mode="rgb_array"`` draws the pressure in grid-index space (the wall along the bottom).
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Any, ClassVar, Literal, NamedTuple

import gymnasium as gym
import jax
import jax.numpy as jnp
import numpy as np
from atom_sdk.errors import WorldParameterError
from atom_sdk.worlds import euler
from atom_sdk.worlds.base import (
    DIMENSIONLESS,
    NOT_A_QUANTITY,
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
from atom_sdk.worlds.gasdynamics import (
    detachment_angle,
    mach_angle,
    normal_shock_density_ratio,
    normal_shock_mach,
    oblique_shock,
    shock_angle,
)

WORLD_ID = "supersonic:wedge"
N_PROBES = 8
DETACH_MARGIN = 0.25        # degrees kept between the largest allowed wedge angle and detachment
DETACHED_MAX_ANGLE = 45.0   # wedge-angle ceiling when detached shocks are allowed
MIN_WEDGE_CELLS = 24        # columns along the wedge needed to fit a shock line
MIN_NY = 16
TABLE_SIZE = 512
WINDOW = (0.3, 0.95)        # fraction of the wedge length where shock points are measured
SHOCK_HALF_WIDTH = 3        # faces either side of the steepest pressure drop that belong to the shock


#: units: angles in degrees; the flow in free-stream units (density rho_inf, sound speed a_inf, pressure
#: p_inf); lengths in the box length L (the box is [0, 1] x [0, 0.75]), times in L / a_inf
class WedgeParams(WorldParams):
    mach: float = param(2.0, unit=DIMENSIONLESS, description="freestream Mach number (must be > 1)", le=8.0)
    wedge_angle: float = param(10.0, unit="deg", description="initial wedge half-angle", ge=0.0,
                               lt=DETACHED_MAX_ANGLE)
    gamma: float = param(1.4, unit=DIMENSIONLESS, description="ratio of specific heats c_p / c_v", gt=1.0,
                         le=5.0 / 3.0)
    cfl: float = param(0.5, unit=DIMENSIONLESS, description="Courant number of each solver step", gt=0.0, le=0.9)
    substeps: int = param(30, unit=DIMENSIONLESS, description="solver steps per agent step", ge=1, le=10_000)
    max_delta: float = param(3.0, unit="deg", description="largest wedge-angle change per agent step",
                             gt=0.0, le=10.0)
    target_shock_angle: float | None = param(
        None, unit="deg", description="target shock angle; default: theory angle of wedge_angle + 2 deg")
    allow_detached: bool = param(False, unit=NOT_A_QUANTITY,
                                 description="allow wedge angles beyond the detachment angle")
    limiter: Literal["minmod", "vanleer"] = param("minmod", unit=NOT_A_QUANTITY, description="MUSCL slope limiter")
    order: Literal[1, 2] = param(2, unit=NOT_A_QUANTITY,
                                 description="spatial order (1: piecewise constant, 2: MUSCL)")


#: unit and meaning of each diagnostic (free-stream units as for the parameters)
WEDGE_DIAGNOSTICS: dict[str, Quantity] = {
    "shock_angle": Quantity("deg", "measured shock angle beta relative to the free stream"),
    "pressure_ratio": Quantity(DIMENSIONLESS, "measured wall pressure behind the shock, p2 / p_inf"),
    "theory_shock_angle": Quantity("deg", "weak theta-beta-Mach shock angle of the current wedge angle"),
    "theory_pressure_ratio": Quantity(DIMENSIONLESS, "oblique-shock theory p2 / p_inf of the current wedge angle"),
    "wedge_angle": Quantity("deg", "current wedge half-angle theta"),
    "target_shock_angle": Quantity("deg", "shock angle the reward pursues"),
    "shock_angle_error": Quantity("deg", "|shock_angle - target_shock_angle|"),
    "time": Quantity("L/a_inf", "physical time since reset"),
    "max_speed": Quantity("a_inf", "largest flow speed"),
    "mach_max": Quantity(DIMENSIONLESS, "largest local Mach number"),
    "density_min": Quantity("rho_inf", "smallest density"),
    "density_max": Quantity("rho_inf", "largest density"),
    "pressure_min": Quantity(DIMENSIONLESS, "smallest pressure, p / p_inf"),
}


class WedgeState(NamedTuple):
    """Flow plus the per-world numbers, so one compiled step serves every Mach and angle."""

    q: jax.Array            # (4, nx, ny) conserved variables
    theta: jax.Array        # current wedge half-angle (rad)
    time: jax.Array         # physical time
    w_inf: jax.Array        # (4,) freestream primitive state
    target: jax.Array       # target shock angle (deg)
    theta_max: jax.Array    # ceiling of the wedge angle (rad)
    table: jax.Array        # (3, TABLE_SIZE): theta (deg), weak beta (deg), p2/p1 from gasdynamics


class _Static(NamedTuple):
    nx: int
    ny: int
    gamma: float
    cfl: float
    substeps: int
    order: int
    limiter: str
    max_delta: float
    dtype: str


def theory_table(mach: float, theta_max: float, gamma: float) -> np.ndarray:
    """(theta, beta, p2/p1) on [0, theta_max]; beyond detachment beta = 90 (normal shock at the nose)."""
    thetas = np.linspace(0.0, theta_max, TABLE_SIZE)
    t_det = detachment_angle(mach, gamma)
    mn_normal = mach
    betas, ratios = [], []
    for th in thetas:
        if th <= t_det:
            shock = oblique_shock(mach, float(th), gamma)
            betas.append(shock.beta)
            ratios.append(shock.pressure_ratio if th > 0 else 1.0)
        else:
            betas.append(90.0)
            ratios.append(1.0 + 2.0 * gamma / (gamma + 1.0) * (mn_normal**2 - 1.0))
    return np.stack([thetas, np.asarray(betas), np.asarray(ratios)])


def measure(q: jax.Array, theta: jax.Array, w_inf: jax.Array, s: _Static) -> dict[str, jax.Array]:
    """Shock angle (deg), wall pressure ratio and wall probes from one flow field (pure JAX)."""
    dtype = q.dtype
    geom = euler.make_geometry(s.nx, s.ny, theta, dtype=dtype)
    w = euler.cons_to_prim(q, s.gamma)
    p, p_inf = w[3], w_inf[3]
    i0 = euler.leading_edge_index(s.nx)
    n_w = s.nx - i0
    cols = np.arange(s.nx)
    window = (cols >= i0 + WINDOW[0] * n_w) & (cols <= i0 + WINDOW[1] * n_w)
    window_f = jnp.asarray(window, dtype)
    p_wall = p[:, 0]
    p2 = jnp.sum(p_wall * window_f) / jnp.sum(window_f)
    rise = p2 - p_inf
    has_shock = rise > 1e-3 * p_inf
    # per vertical line: centroid of the pressure drop within SHOCK_HALF_WIDTH faces of its largest value
    drop = jnp.maximum(p[:, :-1] - p[:, 1:], 0.0)                          # (nx, ny-1) at faces j+1/2
    faces = jnp.arange(s.ny - 1)
    peak = jnp.argmax(drop, axis=1)
    drop = drop * (jnp.abs(faces[None, :] - peak[:, None]) <= SHOCK_HALF_WIDTH)
    strength = jnp.sum(drop, axis=1)
    height = geom.dy * jnp.sum(drop * (faces + 1.0), axis=1) / jnp.maximum(strength, 1e-30)
    good = (window_f * (height < 0.85 * euler.HEIGHT) * (height > 2.0 * geom.dy)
            * (strength > 0.25 * rise))
    weights = jnp.where(jnp.sum(good) >= 3, good, window_f)
    x = geom.x_center
    y = geom.y_wall + height
    wsum = jnp.sum(weights)
    xm = jnp.sum(weights * x) / wsum
    ym = jnp.sum(weights * y) / wsum
    slope = jnp.sum(weights * (x - xm) * (y - ym)) / jnp.sum(weights * (x - xm) ** 2)
    angle = jnp.where(has_shock, jnp.degrees(jnp.arctan(slope)), 0.0)
    probes = np.round(i0 + np.linspace(0.05, 0.95, N_PROBES) * (n_w - 1)).astype(int)
    return {"shock_angle": angle, "pressure_ratio": p2 / p_inf, "probes": p_wall[probes] / p_inf, "w": w}


@lru_cache(maxsize=32)
def _dynamics_for(s: _Static) -> tuple[Any, Any, Any, Any]:
    """step/observe/fields/diagnostics for one static configuration (shared, so compiled once)."""

    def diagnostics(state: WedgeState) -> dict[str, jax.Array]:
        m = measure(state.q, state.theta, state.w_inf, s)
        w = m["w"]
        speed = jnp.sqrt(w[1] ** 2 + w[2] ** 2)
        sound = jnp.sqrt(s.gamma * jnp.maximum(w[3], 0.0) / w[0])
        theta_deg = jnp.degrees(state.theta)
        return {
            "shock_angle": m["shock_angle"],
            "pressure_ratio": m["pressure_ratio"],
            "theory_shock_angle": jnp.interp(theta_deg, state.table[0], state.table[1]),
            "theory_pressure_ratio": jnp.interp(theta_deg, state.table[0], state.table[2]),
            "wedge_angle": theta_deg,
            "target_shock_angle": state.target,
            "shock_angle_error": jnp.abs(m["shock_angle"] - state.target),
            "time": state.time,
            "max_speed": jnp.max(speed),
            "mach_max": jnp.max(speed / sound),
            "density_min": jnp.min(w[0]),
            "density_max": jnp.max(w[0]),
            "pressure_min": jnp.min(w[3]) / state.w_inf[3],
        }

    def observe(state: WedgeState) -> jax.Array:
        m = measure(state.q, state.theta, state.w_inf, s)
        tail = jnp.stack([m["shock_angle"], m["pressure_ratio"], jnp.degrees(state.theta)])
        return jnp.concatenate([m["probes"], tail]).astype(state.q.dtype)

    def step(state: WedgeState, action: jax.Array) -> tuple[WedgeState, StepOutput]:
        dtype = state.q.dtype
        delta = jnp.clip(jnp.reshape(action, (-1,))[0].astype(dtype), -s.max_delta, s.max_delta)
        theta = jnp.clip(state.theta + jnp.radians(delta), 0.0, state.theta_max)
        geom = euler.make_geometry(s.nx, s.ny, theta, dtype=dtype)
        q = euler.regrid(state.q, euler.make_geometry(s.nx, s.ny, state.theta, dtype=dtype), geom)
        q, elapsed = euler.advance(q, geom, state.w_inf, gamma=s.gamma, cfl=s.cfl, n_steps=s.substeps,
                                   order=s.order, limiter=s.limiter)
        new = state._replace(q=q, theta=theta, time=state.time + elapsed)
        diag = diagnostics(new)
        return new, StepOutput(observe(new), -diag["shock_angle_error"], diag)

    def fields(state: WedgeState) -> dict[str, jax.Array]:
        w = euler.cons_to_prim(state.q, s.gamma)[..., None]
        return {"velocity": jnp.stack([w[1], w[2], jnp.zeros_like(w[1])]), "density": w[0], "pressure": w[3]}

    return step, jax.jit(observe), jax.jit(fields), jax.jit(diagnostics)


class WedgeWorld(World):
    """Supersonic flow over a wedge with a measurable, steerable oblique shock (module docstring)."""

    world_id: ClassVar[str] = WORLD_ID
    Params = WedgeParams
    observable_names: ClassVar[tuple[str, ...]] = ("shock_angle", "pressure_ratio")
    measurement_model: ClassVar[str] = "shock_angle (deg) and pressure_ratio: each relative to its own value"
    diagnostic_units = WEDGE_DIAGNOSTICS
    reward_unit = "deg"  # -|shock_angle - target_shock_angle|
    #: measured peak full-grid arrays per cell (preflight memory estimate) and field channels
    arrays_per_cell = 48.0
    field_channels = 5

    def __init__(self, grid: tuple[int, int, int] = (64, 48, 1), **kwargs: Any) -> None:
        super().__init__(grid=grid, **kwargs)
        p: WedgeParams = self.params  # type: ignore[assignment]
        n_obs = N_PROBES + 3
        # no steady-flow pressure exceeds isentropic stagnation; twice that bounds the transients
        stagnation = (1.0 + 0.5 * (p.gamma - 1.0) * p.mach**2) ** (p.gamma / (p.gamma - 1.0))
        low = np.zeros(n_obs, dtype=np.float32)
        high = np.full(n_obs, 2.0 * stagnation, dtype=np.float32)
        low[N_PROBES], high[N_PROBES] = -90.0, 90.0
        low[N_PROBES + 2], high[N_PROBES + 2] = 0.0, 90.0
        self.observation_space = gym.spaces.Box(low, high, dtype=np.float32)
        self.action_space = gym.spaces.Box(-p.max_delta, p.max_delta, shape=(1,), dtype=np.float32)

    render_field = "pressure"

    def observation_components(self) -> list[tuple[str, str]]:
        """Wall pressure p/p_inf at 8 stations along the wedge, shock angle, p2/p_inf, wedge angle."""
        probes = [(f"p_wall/p_inf(s={f:.2f})", "") for f in np.linspace(0.05, 0.95, N_PROBES)]
        return probes + [("shock_angle", "deg"), ("pressure_ratio", ""), ("wedge_angle", "deg")]

    # ---- parameters -------------------------------------------------------------------------
    @property
    def detachment_angle(self) -> float:
        p: WedgeParams = self.params  # type: ignore[assignment]
        return detachment_angle(p.mach, p.gamma)

    @property
    def max_wedge_angle(self) -> float:
        """Ceiling the action cannot push the wedge beyond (deg)."""
        p: WedgeParams = self.params  # type: ignore[assignment]
        return DETACHED_MAX_ANGLE if p.allow_detached else self.detachment_angle - DETACH_MARGIN

    @property
    def target_shock_angle(self) -> float:
        p: WedgeParams = self.params  # type: ignore[assignment]
        if p.target_shock_angle is not None:
            return float(p.target_shock_angle)
        theta = min(p.wedge_angle + 2.0, self.detachment_angle - DETACH_MARGIN)
        return shock_angle(p.mach, max(theta, 0.0), p.gamma)

    def check_parameters(self) -> None:
        p: WedgeParams = self.params  # type: ignore[assignment]
        nx, ny, nz = self.grid
        if not p.mach > 1.0:
            raise WorldParameterError(f"{WORLD_ID}: mach={p.mach:g} is not supersonic; an oblique shock needs "
                                      f"supersonic flow, so set mach > 1 (e.g. mach=2)")
        if nz != 1:
            raise WorldParameterError(f"{WORLD_ID} is two-dimensional; use a grid 'nx ny 1', got nz={nz}")
        n_wedge = nx - euler.leading_edge_index(nx)
        if n_wedge < MIN_WEDGE_CELLS or ny < MIN_NY:
            raise WorldParameterError(
                f"{WORLD_ID}: grid {nx}x{ny} is too coarse to resolve the wedge and its shock ({n_wedge} columns "
                f"along the wedge, {ny} rows); use at least nx={math.ceil(MIN_WEDGE_CELLS / 0.8) + 1} and ny={MIN_NY}")
        aspect = (euler.LENGTH / nx) / (euler.HEIGHT / ny)
        if not 0.25 <= aspect <= 4.0:
            raise WorldParameterError(f"{WORLD_ID}: cells of grid {nx}x{ny} have aspect ratio {aspect:.2f}; keep "
                                      f"ny near {round(nx * euler.HEIGHT / euler.LENGTH)} (ratio within 0.25..4)")
        t_det = detachment_angle(p.mach, p.gamma)
        if not p.allow_detached and p.wedge_angle > t_det - DETACH_MARGIN:
            raise WorldParameterError(
                f"{WORLD_ID}: wedge_angle={p.wedge_angle:g} deg is at or beyond the detachment angle {t_det:.2f} deg "
                f"for Mach {p.mach:g} (gamma={p.gamma:g}), where the shock stands off the wedge; use wedge_angle "
                f"< {t_det - DETACH_MARGIN:.2f}, a higher Mach number, or allow_detached=True")
        if p.target_shock_angle is not None:
            mu = mach_angle(p.mach)
            if not mu < p.target_shock_angle <= 90.0:
                raise WorldParameterError(f"{WORLD_ID}: target_shock_angle={p.target_shock_angle:g} deg is "
                                          f"unreachable at Mach {p.mach:g}; choose it in ({mu:.2f}, 90]")

    def _static(self) -> _Static:
        p: WedgeParams = self.params  # type: ignore[assignment]
        nx, ny, _ = self.grid
        return _Static(nx, ny, float(p.gamma), float(p.cfl), int(p.substeps), int(p.order), str(p.limiter),
                       float(p.max_delta), str(self.dtype))

    @property
    def dt(self) -> float:
        """Approximate physical time per agent step (freestream CFL estimate; the solver's step is
        adaptive, ``diagnostics()['time']`` is exact)."""
        p: WedgeParams = self.params  # type: ignore[assignment]
        nx, ny, _ = self.grid
        th = math.radians(p.wedge_angle)
        rate = (p.mach + 1.0) * nx / euler.LENGTH + (p.mach * math.sin(th) + 1.0) * ny / (euler.HEIGHT * math.cos(th))
        return p.substeps * p.cfl / rate

    def safety_scales(self) -> dict[str, float]:
        """Free-stream speed and density, and the densest steady flow this Mach number allows.

        The free stream is (rho, u) = (1, mach) in units of its density and sound speed, so the speed
        scale is the Mach number itself. No steady flow over the wedge, attached or detached, is
        denser than the stagnation point behind a normal shock (shock ratio, then isentropic
        compression of the subsonic flow to rest): 3.1 at Mach 2, 5.4 at Mach 5, 6.0 at Mach 8.
        """
        p: WedgeParams = self.params  # type: ignore[assignment]
        g, mach = float(p.gamma), float(p.mach)
        m2 = float(normal_shock_mach(mach, g))
        stagnation = (1.0 + 0.5 * (g - 1.0) * m2**2) ** (1.0 / (g - 1.0))
        return {"speed": mach, "density": 1.0, "density_max": float(normal_shock_density_ratio(mach, g)) * stagnation}

    # ---- physics ----------------------------------------------------------------------------
    def build_dynamics(self) -> Dynamics:
        p: WedgeParams = self.params  # type: ignore[assignment]
        s = self._static()
        dtype = self.dtype
        nx, ny = s.nx, s.ny
        w_inf = euler.freestream(p.mach, p.gamma, np.dtype(dtype))
        theta_max = self.max_wedge_angle
        table = theory_table(p.mach, theta_max, p.gamma).astype(np.dtype(dtype))
        scalars = (math.radians(p.wedge_angle), self.target_shock_angle, math.radians(theta_max))
        step, observe, fields, diagnostics = _dynamics_for(s)

        def init(key: jax.Array) -> WedgeState:
            del key  # the impulsive start is deterministic
            w = jnp.asarray(w_inf)
            theta, target, t_max = (jnp.asarray(v, dtype) for v in scalars)
            return WedgeState(euler.uniform_state(nx, ny, w, p.gamma), theta, jnp.zeros((), dtype), w, target,
                              t_max, jnp.asarray(table))

        return Dynamics(init=init, step=step, observe=observe, fields=fields, diagnostics=diagnostics)

    # ---- validation -------------------------------------------------------------------------
    @classmethod
    def validation_cases(cls) -> list[ValidationCase]:
        return [
            ValidationCase(WORLD_ID, f"oblique_shock_M{m:g}_theta{t:g}", _make_case(m, t), slow=slow,
                           description=f"converged Mach {m:g} flow over a {t:g}-deg wedge vs theta-beta-Mach "
                                       f"(1 deg) and Rankine-Hugoniot p2/p1 (3 %)")
            for m, t, slow in VALIDATION_PAIRS
        ]


#: (Mach, wedge angle, slow): all three share one compiled solver and converge in ~1 s each after it
VALIDATION_PAIRS = ((2.0, 10.0, False), (2.5, 15.0, False), (3.0, 20.0, False))
VALIDATION_GRID = (64, 48, 1)
REFERENCE = "theta-beta-Mach and Rankine-Hugoniot relations, NACA Report 1135 (Ames Research Staff, 1953)"


def converge(world: WedgeWorld, max_steps: int = 200, tol: float = 0.005, window: int = 3) -> dict[str, float]:
    """Step with zero action until shock angle and wall pressure stop changing (or max_steps)."""
    world.reset(seed=0)
    history: list[tuple[float, float]] = []
    diag = world.diagnostics()
    for _ in range(max_steps):
        _, _, terminated, _, info = world.step(np.zeros(1, dtype=np.float32))
        diag = info["diagnostics"]
        history.append((diag["shock_angle"], diag["pressure_ratio"]))
        if terminated:
            break
        if len(history) > window:
            recent = np.asarray(history[-window - 1:])
            if np.all(np.ptp(recent, axis=0) <= [tol, tol * 1e-2 * recent[-1, 1]]):
                break
    diag = dict(diag)
    diag["agent_steps"] = float(len(history))
    return diag


def _make_case(mach: float, theta: float) -> Any:
    def run() -> list[ValidationResult]:
        world = WedgeWorld(grid=VALIDATION_GRID, mach=mach, wedge_angle=theta)
        diag = converge(world)
        ref = oblique_shock(mach, theta)
        name = f"oblique_shock_M{mach:g}_theta{theta:g}"
        detail = {"agent_steps": diag["agent_steps"], "grid": list(VALIDATION_GRID), "time": diag["time"]}
        return [
            relative_check(WORLD_ID, name, "shock angle", diag["shock_angle"], ref.beta, 1.0,  # within 1 deg
                           REFERENCE + ", weak solution", absolute=True, unit="deg", **detail),
            relative_check(WORLD_ID, name, "wall pressure ratio p2/p1", diag["pressure_ratio"], ref.pressure_ratio,
                           0.03, REFERENCE + ", Rankine-Hugoniot", **detail),
        ]

    return run
