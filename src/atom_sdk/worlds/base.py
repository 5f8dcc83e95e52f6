"""The world protocol: a ``gymnasium.Env`` whose physics is a pair of pure JAX functions.

Why pure functions: a world written as ``init(key) -> state`` and ``step(state, action) ->
(state, StepOutput)`` can be jit-compiled, ``vmap``-ed over seeds, snapshotted (the state
is an immutable pytree) and rolled back by the safety envelope, without each world having
to re-implement any of that. ``World`` wraps the pair into the Gymnasium API.

A third-party world subclasses ``World`` (or any ``gymnasium.Env`` that provides ``fields()``
and ``diagnostics()``) and registers it with ``atom_sdk.worlds.register``.

What the scientist fits is *measured*: ``observable_names`` names the measured quantities and
``measure`` draws one noisy reading of them (relative Gaussian noise, scaled per quantity by
``measurement_scale``); the run's ``world.measurement_noise`` sets the level. A world's own
probe ``noise`` parameter, where it has one, reaches only the agent's observation.

Every parameter and every diagnostic carries a unit and a description, machine-readable: parameters
are declared with ``param(default, unit=..., description=...)`` (the unit lands in the field's JSON
schema as ``"unit"``, so the CLI, the API and the UI's forms show it), diagnostics in the class's
``diagnostic_units`` table of ``Quantity(unit, description)``. Unit strings: ``"1"`` for a
dimensionless number (ratios, counts, Mach and Reynolds numbers), ``"-"`` for what is not a quantity
(a choice or a switch), ``"deg"`` for angles; a world on nondimensional units names its own scales
(lattice ``dx``/``dt``, the Taylor–Green box's ``L``/``T``, the free stream's ``rho_inf``/``a_inf``)
and says what they are in its module docstring.
"""

from __future__ import annotations

import inspect
import multiprocessing
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar, NamedTuple

import gymnasium as gym
import jax
import jax.numpy as jnp
import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from atom_sdk.errors import InvalidActionError, WorldParameterError, error_problem

#: ``render()`` draws each cell as a square block, so the image's longer side has at least this many pixels
RENDER_MIN_PIXELS = 256


#: the unit of a dimensionless number, and the "unit" of a choice or a switch (not a quantity)
DIMENSIONLESS = "1"
NOT_A_QUANTITY = "-"


def param(default: Any, *, unit: str, description: str, **constraints: Any) -> Any:
    """A world parameter: pydantic ``Field`` whose JSON schema also carries ``"unit"``.

    Why a wrapper: the unit then travels wherever the schema goes (``atom worlds describe``,
    ``GET /api/v1/worlds``, the UI's forms) and a test can require one on every parameter.
    """
    if not unit or not description:
        raise ValueError("a world parameter needs a non-empty unit and description")
    return Field(default, description=description, json_schema_extra={"unit": unit}, **constraints)


class Quantity(NamedTuple):
    """Unit and meaning of one reported number (a diagnostic the scientist fits or a run summarises)."""

    unit: str
    description: str


def field_unit(model: type[BaseModel], name: str) -> str:
    """The unit declared for parameter ``name`` of ``model`` ("" when none was declared)."""
    extra = model.model_fields[name].json_schema_extra
    return str(extra.get("unit", "")) if isinstance(extra, dict) else ""


def param_units(model: type[BaseModel]) -> dict[str, Quantity]:
    """Unit and description of every parameter of ``model``, in declaration order."""
    return {name: Quantity(field_unit(model, name), info.description or "")
            for name, info in model.model_fields.items()}


class WorldParams(BaseModel):
    """Base of every world's parameter model: unknown parameters are errors; declare each with ``param``."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class StepOutput(NamedTuple):
    """What one physics step returns besides the new state (all JAX arrays)."""

    observation: jax.Array
    reward: jax.Array
    diagnostics: dict[str, jax.Array]


@dataclass(frozen=True)
class Dynamics:
    """A world's physics as pure functions, suitable for ``jax.jit`` and ``jax.vmap``."""

    init: Callable[[jax.Array], Any]
    step: Callable[[Any, jax.Array], tuple[Any, StepOutput]]
    observe: Callable[[Any], jax.Array]
    fields: Callable[[Any], dict[str, jax.Array]]
    diagnostics: Callable[[Any], dict[str, jax.Array]]


@dataclass(frozen=True)
class ValidationResult:
    """One checked number: measured against a published/analytical reference.

    ``rel_error`` is always relative, ``|measured - reference| / |reference|`` (NaN when the
    reference is 0); ``abs_error`` is ``|measured - reference|`` in ``unit`` ("" for a
    dimensionless number). ``tolerance`` bounds the error named by ``tolerance_on``
    (``"rel_error"`` or ``"abs_error"``). ``world`` is the registered world whose validation case
    produced the row; ``kind`` is ``"world"`` when the world itself was measured and ``"kernel"``
    when a numerical kernel it is built on was, which ``subject`` then names (``kernel:lbm-periodic``).
    """

    world: str
    case: str
    quantity: str
    measured: float
    reference: float
    rel_error: float
    tolerance: float
    passed: bool
    reference_source: str = ""
    detail: dict[str, Any] = field(default_factory=dict)
    abs_error: float = float("nan")
    unit: str = ""
    tolerance_on: str = "rel_error"
    kind: str = "world"
    subject: str = ""

    def as_dict(self) -> dict[str, Any]:
        """Stable keys; a non-finite error is ``None`` (JSON null)."""
        def num(x: float) -> float | None:
            return float(x) if np.isfinite(x) else None

        return {
            "world": self.world,
            "kind": self.kind,
            "subject": self.subject or self.world,
            "case": self.case,
            "quantity": self.quantity,
            "measured": self.measured,
            "reference": self.reference,
            "rel_error": num(self.rel_error),
            "abs_error": num(self.abs_error),
            "unit": self.unit,
            "tolerance": self.tolerance,
            "tolerance_on": self.tolerance_on,
            "passed": self.passed,
            "reference_source": self.reference_source,
        }


def relative_check(world: str, case: str, quantity: str, measured: float, reference: float,
                   tolerance: float, source: str, *, absolute: bool = False, unit: str = "", kind: str = "world",
                   subject: str = "", **detail: Any) -> ValidationResult:
    """Compare ``measured`` with ``reference``; ``tolerance`` bounds the relative error, or the
    absolute one (in ``unit``) when ``absolute``. Both errors are recorded either way."""
    measured = float(measured)
    reference = float(reference)
    abs_error = abs(measured - reference)
    rel_error = abs_error / abs(reference) if reference != 0.0 else float("nan")
    error = abs_error if absolute else rel_error
    passed = bool(np.isfinite(error) and error <= tolerance)
    return ValidationResult(world, case, quantity, measured, reference, float(rel_error), float(tolerance), passed,
                            source, dict(detail), abs_error=float(abs_error), unit=unit,
                            tolerance_on="abs_error" if absolute else "rel_error", kind=kind,
                            subject=subject or world)


@dataclass(frozen=True)
class ValidationCase:
    """A named validation case; ``run`` returns one or more results. ``slow`` cases run in test-all."""

    world: str
    name: str
    run: Callable[[], list[ValidationResult]]
    slow: bool = False
    description: str = ""


class World(gym.Env):
    """Gymnasium environment over a ``Dynamics`` pair, with fields and diagnostics exposed.

    Subclasses set ``world_id``, ``Params`` and implement ``build_dynamics`` plus the two
    spaces. ``step`` refuses NaN/Inf or wrongly shaped actions and clips to the action bounds.
    """

    #: ``render_modes``: what ``render_mode`` accepts (``"human"`` comes from Gymnasium's
    #: ``HumanRendering`` wrapper, which needs pygame). An instance adds ``observation_names`` and
    #: ``observation_units``: what each entry of the observation vector is (``observation_components``).
    metadata: ClassVar[dict[str, Any]] = {"render_modes": ["rgb_array"], "render_fps": 10}
    #: the field ``render()`` draws: a scalar field of ``fields()``, or ``"speed"`` for |velocity|
    render_field: ClassVar[str] = "speed"
    world_id: ClassVar[str] = "custom:world"
    Params: ClassVar[type[WorldParams]] = WorldParams
    #: the measured quantities: names of the scalar diagnostics the scientist fits (its variables), read
    #: through ``measure`` with the run's measurement noise (``world.measurement_noise`` of a run config)
    observable_names: ClassVar[tuple[str, ...]] = ()
    #: one line saying what the measurement noise of each measured quantity is relative to
    measurement_model: ClassVar[str] = "each measured quantity: relative to its own magnitude"
    #: unit and meaning of every key of ``diagnostics()`` (the scientist's variables among them)
    diagnostic_units: ClassVar[dict[str, Quantity]] = {}
    #: unit of the per-step reward (figures label their axes with it)
    reward_unit: ClassVar[str] = DIMENSIONLESS

    #: full-grid arrays (of the world's dtype) that state, fields and one step's temporaries hold
    #: at their peak; ``estimate_memory_bytes`` multiplies it by the cell count. Measured per world.
    arrays_per_cell: ClassVar[float] = 24.0
    #: channels of ``field_tensor()`` (the encoder's input), for the same estimate
    field_channels: ClassVar[int] = 6

    def __init__(self, grid: tuple[int, int, int] = (32, 32, 1), dtype: str = "float32",
                 max_episode_steps: int = 200, render_mode: str | None = None, **params: Any) -> None:
        super().__init__()
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise WorldParameterError(f"{self.world_id}: render_mode {render_mode!r} is not one of "
                                      f"{self.metadata['render_modes']} (or None)")
        self.render_mode = render_mode
        self._configure(grid, dtype, max_episode_steps, params)
        # JAX is about to start: a process forked from here on dead-locks
        prefer_spawn_start_method()
        if dtype == "float64" and not jax.config.jax_enable_x64:
            jax.config.update("jax_enable_x64", True)
        self.dynamics = self.build_dynamics()
        components = self.observation_components()
        self.metadata = {**type(self).metadata, "observation_names": [name for name, _ in components],
                         "observation_units": [unit for _, unit in components]}
        self._step_jit = jax.jit(self.dynamics.step)
        self._init_jit = jax.jit(self.dynamics.init)
        self._state: Any = None
        self._t = 0
        self._seed_key = jax.random.PRNGKey(0)

    def _configure(self, grid: Any, dtype: str, max_episode_steps: int, params: dict[str, Any]) -> None:
        """Validate grid, dtype and parameters and store them; allocates nothing."""
        try:
            self.grid = tuple(int(n) for n in grid)
        except (TypeError, ValueError):
            raise WorldParameterError(f"grid must be three integers 'nx ny nz', got {grid!r}") from None
        if len(self.grid) != 3:
            raise WorldParameterError(f"grid must have three sizes 'nx ny nz' (nz=1 for 2D), got {grid}")
        if any(n < 1 for n in self.grid):
            raise WorldParameterError(f"grid sizes must be positive, got {self.grid}")
        if dtype not in ("float32", "float64"):
            raise WorldParameterError(f"dtype must be 'float32' or 'float64', got '{dtype}'")
        self.dtype = jnp.dtype(dtype)
        self.max_episode_steps = int(max_episode_steps)
        self.params = parse_params(self.Params, params, self.world_id)
        self.check_parameters()

    @classmethod
    def check_config(cls, grid: Any = None, dtype: str = "float32", max_episode_steps: int = 200,
                     **params: Any) -> WorldParams:
        """Run every check the constructor runs, without building the physics or allocating fields.

        Why: a command must refuse an unstable or meaningless world *before* it creates an
        output folder or compiles anything. Returns the validated parameters.
        """
        probe = cls.__new__(cls)
        if grid is None:
            default = inspect.signature(cls.__init__).parameters.get("grid")
            grid = default.default if default is not None and default.default is not inspect.Parameter.empty \
                else (32, 32, 1)
        probe._configure(grid, dtype, max_episode_steps, params)
        return probe.params

    @classmethod
    def estimate_memory_bytes(cls, grid: tuple[int, int, int], dtype: str = "float32") -> int:
        """Rough peak memory of one world instance at ``grid`` (``arrays_per_cell`` full-grid arrays)."""
        cells = int(np.prod([int(n) for n in grid], dtype=np.float64))
        return int(cells * cls.arrays_per_cell * jnp.dtype(dtype).itemsize)

    # ---- to implement -------------------------------------------------------------
    def build_dynamics(self) -> Dynamics:  # pragma: no cover - abstract
        raise NotImplementedError

    def check_parameters(self) -> None:
        """Raise ``WorldParameterError`` for unstable or meaningless parameters."""

    @property
    def dt(self) -> float:
        """Physical time between two agent steps (used by the scientist)."""
        return 1.0

    # ---- Gymnasium API ---------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        if seed is not None:
            self._seed_key = jax.random.PRNGKey(int(seed))
        else:
            self._seed_key = jax.random.PRNGKey(int(self.np_random.integers(0, 2**31 - 1)))
        self._state = self._init_jit(self._seed_key)
        self._t = 0
        obs = self._to_obs(self.dynamics.observe(self._state))
        return obs, {"diagnostics": self.diagnostics(), "t": 0}

    def step(self, action: Any):
        if self._state is None:
            raise InvalidActionError("call reset() before step()")
        act = self.validate_action(action)
        self._state, out = self._step_jit(self._state, jnp.asarray(act, dtype=self.dtype))
        self._t += 1
        obs = self._to_obs(out.observation)
        diag = {k: float(v) for k, v in out.diagnostics.items()}
        reward = float(out.reward)
        terminated = not (np.all(np.isfinite(obs)) and np.isfinite(reward))
        if terminated:
            obs = np.nan_to_num(obs, nan=0.0, posinf=0.0, neginf=0.0)
            obs = np.clip(obs, self.observation_space.low, self.observation_space.high).astype(obs.dtype)
            reward = 0.0 if not np.isfinite(reward) else reward
        truncated = self._t >= self.max_episode_steps
        info = {"diagnostics": diag, "t": self._t, "diverged": terminated}
        return obs, reward, terminated, truncated, info

    def validate_action(self, action: Any) -> np.ndarray:
        act = np.asarray(action, dtype=np.float64).reshape(-1)
        expected = int(np.prod(self.action_space.shape))
        if act.size != expected:
            raise InvalidActionError(f"{self.world_id} expects an action of {expected} values, got {act.size}")
        if not np.all(np.isfinite(act)):
            raise InvalidActionError(f"{self.world_id} got a NaN or infinite action {act.tolist()}; send finite values")
        act = np.clip(act, self.action_space.low, self.action_space.high)
        return act.reshape(self.action_space.shape)

    def _to_obs(self, obs: jax.Array) -> np.ndarray:
        return np.asarray(obs, dtype=self.observation_space.dtype).reshape(self.observation_space.shape)

    def observation_components(self) -> list[tuple[str, str]]:
        """(name, unit) of each entry of the observation vector, in order ("" when dimensionless);
        ``metadata["observation_names"]`` and ``metadata["observation_units"]`` hold them. Empty: unnamed."""
        return []

    def render(self) -> np.ndarray | None:
        """``render_mode="rgb_array"``: the field ``render_field`` as a uint8 (H, W, 3) image.

        A 2D slice (the middle z plane) in grid-index space, x to the right and y up, through
        matplotlib's ``viridis`` on ``render_limits()`` (default: the frame's own min..max), each
        cell drawn as a square block so the image is at least 256 pixels on its longer side.
        """
        if self.render_mode is None:
            gym.logger.warn(f"{self.world_id}: render() without a render_mode; make the world with "
                            "render_mode='rgb_array'")
            return None
        return self.render_rgb()

    def render_scalar(self) -> np.ndarray:
        """The rendered field as a 2D (nx, ny) array: ``render_field``, middle z plane."""
        fields = self.fields()
        if self.render_field == "speed":
            value = np.sqrt(np.sum(np.asarray(fields["velocity"], dtype=np.float64) ** 2, axis=0))
        else:
            value = np.asarray(fields[self.render_field], dtype=np.float64)
        if value.ndim == 3:
            value = value[:, :, value.shape[2] // 2]
        return value

    def render_limits(self, value: np.ndarray) -> tuple[float, float]:
        """Colour range of one frame; the default normalises each frame to its own min..max."""
        finite = value[np.isfinite(value)]
        return (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)

    def render_rgb(self) -> np.ndarray:
        from matplotlib import colormaps

        value = self.render_scalar()
        lo, hi = self.render_limits(value)
        scaled = (value - lo) / (hi - lo) if hi > lo else np.full_like(value, 0.5)
        scaled = np.nan_to_num(np.clip(scaled, 0.0, 1.0), nan=0.0)
        image = colormaps["viridis"](scaled.T[::-1], bytes=True)[..., :3]
        block = max(1, -(-RENDER_MIN_PIXELS // max(image.shape[:2])))
        return np.ascontiguousarray(np.repeat(np.repeat(image, block, axis=0), block, axis=1), dtype=np.uint8)

    # ---- beyond Gymnasium ----------------------------------------------------------------
    def fields(self) -> dict[str, np.ndarray]:
        """Full fields as NumPy arrays shaped (nx, ny, nz) or (3, nx, ny, nz) for vectors."""
        self._require_state()
        return {k: np.asarray(v) for k, v in self.dynamics.fields(self._state).items()}

    def field_tensor(self) -> np.ndarray:
        """Fields stacked as channels (C, nx, ny, nz): the field encoder's input."""
        channels: list[np.ndarray] = []
        for value in self.fields().values():
            value = np.asarray(value)
            channels.extend(value if value.ndim == 4 else value[None])
        return np.stack(channels).astype(np.float32)

    def diagnostics(self) -> dict[str, float]:
        self._require_state()
        return {k: float(v) for k, v in self.dynamics.diagnostics(self._state).items()}

    def observables(self) -> np.ndarray:
        """The scalar observables the scientist models, in ``observable_names`` order."""
        diag = self.diagnostics()
        return np.array([diag[name] for name in self.observable_names], dtype=np.float64)

    def measurement_scale(self, clean: np.ndarray) -> np.ndarray:
        """What the measurement noise of each measured quantity is relative to (``measurement_model``).

        Default: the quantity's own magnitude. A world whose quantity crosses zero (a lift force)
        overrides it with a full-scale value, as a real sensor's noise does not vanish at zero.
        """
        return np.abs(np.asarray(clean, dtype=np.float64))

    def measure(self, clean: np.ndarray, level: float, rng: np.random.Generator) -> np.ndarray:
        """A measurement of the observables ``clean``: relative Gaussian noise of ``level`` (0.01 = 1 %)."""
        clean = np.asarray(clean, dtype=np.float64)
        return measure_relative(clean, self.measurement_scale(clean), level, rng)

    @classmethod
    def known_laws(cls, params: WorldParams) -> list[dict[str, Any]]:
        """The true laws of the measured quantities at ``params``, where the physics is known exactly.

        Each: ``target`` (an ``observable_names`` entry), ``equation`` (text), ``coefficients`` (term ->
        value, terms named as the scientist names them: observables and controls ``u0``, ``u1``, ...) and
        ``source``. Why: a figure or a report can then set the discovered law beside the true one.
        """
        return []

    def control_target(self) -> tuple[np.ndarray, np.ndarray] | None:
        """(target, weights) over ``observable_names`` that the reward pursues, if it has one.

        Used to derive a controller from a discovered law (the ``v2_residual`` variant).
        """
        return None

    def safety_scales(self) -> dict[str, float]:
        """Natural scales the safety envelope derives its *default* limits from (``atom_sdk.safety.limits``).

        Why on the world: only the world knows that its free stream runs at speed 5 or that its shocks
        compress the gas five-fold; one fixed default cannot fit every world. Keys, all optional:
        ``speed`` (reference flow speed), ``density`` (reference density), ``density_max`` and
        ``density_min`` (extremes of normal operation). Empty (the default): the fixed defaults apply.
        """
        return {}

    def snapshot(self) -> Any:
        """An immutable copy of the state (a JAX pytree) for rollback."""
        self._require_state()
        return (self._state, self._t)

    def restore(self, snapshot: Any) -> None:
        self._state, self._t = snapshot

    @property
    def state(self) -> Any:
        return self._state

    def _require_state(self) -> None:
        if self._state is None:
            raise InvalidActionError(f"{self.world_id}: call reset() first")

    @classmethod
    def validation_cases(cls) -> list[ValidationCase]:
        return []


def prefer_spawn_start_method() -> None:
    """Make ``"spawn"`` the process's multiprocessing start method if nothing fixed one yet and the
    platform default is ``"fork"``: once JAX runs, forked workers dead-lock (``AsyncVectorEnv``
    builds one world in the parent first, so its forked workers always inherit a running JAX)."""
    if multiprocessing.get_start_method(allow_none=True) is not None:
        return
    if multiprocessing.get_all_start_methods()[0] != "fork":
        return
    try:
        multiprocessing.set_start_method("spawn")
    except RuntimeError:  # pragma: no cover - fixed concurrently
        pass


def measure_relative(clean: np.ndarray, scale: np.ndarray, level: float, rng: np.random.Generator) -> np.ndarray:
    """``clean + level * scale * N(0, 1)`` per quantity; exactly ``clean`` (no draw) at ``level == 0``.

    The scale is floored at 1e-12 of the largest one (and 1e-300) so a quantity at zero is not exempt.
    """
    clean = np.asarray(clean, dtype=np.float64)
    if level == 0.0 or clean.size == 0:
        return clean.copy()
    scale = np.abs(np.asarray(scale, dtype=np.float64)).reshape(clean.shape)
    scale = np.maximum(scale, max(1e-12 * float(np.max(scale)), 1e-300))
    return clean + float(level) * scale * rng.standard_normal(clean.shape)


def parse_params(model: type[WorldParams], params: dict[str, Any], world_id: str) -> WorldParams:
    """Validate world parameters, turning pydantic's report into a one-line ``WorldParameterError``."""
    try:
        return model.model_validate(params)
    except ValidationError as err:
        messages = []
        for item in err.errors():
            key = ".".join(str(p) for p in item["loc"]) or "<params>"
            if item["type"] == "extra_forbidden":
                messages.append(f"unknown parameter '{key}' (allowed: {', '.join(sorted(model.model_fields))})")
            else:
                messages.append(f"parameter '{key}': {error_problem(item)}")
        raise WorldParameterError(f"{world_id}: " + "; ".join(messages)) from None


def params_schema(model: type[WorldParams]) -> dict[str, Any]:
    """JSON schema of a world's parameters (for the CLI, the API and the UI's forms); each property
    carries its ``description`` and, declared with ``param``, its ``unit``."""
    return model.model_json_schema()


def diagnostics_table(cls: type[World]) -> list[dict[str, str]]:
    """``diagnostic_units`` of a world class as rows (name, unit, description, measured) for listings;
    ``measured`` says whether the scientist fits it (``observable_names``)."""
    table = getattr(cls, "diagnostic_units", {}) or {}
    observed = set(getattr(cls, "observable_names", ()))
    return [{"name": name, "unit": q.unit, "description": q.description, "measured": name in observed}
            for name, q in table.items()]
