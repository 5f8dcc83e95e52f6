"""Run configuration: pydantic models, file loading, CLI overrides and the canonical hash.

Why a canonical hash: two people who write the same experiment differently (YAML vs JSON,
other key order, defaults spelled out or not) must get the same identity for it, so results
can be compared and re-run. ``config_hash`` is the SHA-256 of a canonical JSON form.
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator

from atom_sdk.errors import ConfigError, error_problem, nonfinite_text
from atom_sdk.workspace import validate_name

VARIANTS = ("v2_hybrid", "v2_residual", "v2_raw", "v1_raw", "no_scientist", "ppo_baseline", "ppo_recurrent",
            "no_scientist_decoder", "v2_latent_jacobian")
Variant = Literal["v2_hybrid", "v2_residual", "v2_raw", "v1_raw", "no_scientist", "ppo_baseline", "ppo_recurrent",
                  "no_scientist_decoder", "v2_latent_jacobian"]

#: Fields that name or place a run but do not change what it computes; left out of the hash.
NON_SEMANTIC_FIELDS = frozenset({"name", "output_root", "loop"})

#: Fields added after run configs were first hashed, as (section, field). While one holds its
#: default it is left out of the canonical form, so a config written before the field existed
#: keeps its hash and its run can still be resumed or extended. Append new fields here.
ADDED_FIELDS: tuple[tuple[str, str], ...] = (
    ("agent", "core"), ("agent", "core_size"), ("agent", "sequence_length"), ("agent", "decoder_weight"),
    ("scientist", "variables"), ("scientist", "latent_dims"), ("scientist", "jacobian_features"),
    ("agent", "frozen_targets"),
)


class StrictModel(BaseModel):
    """Base for every config section: unknown keys are errors, values are validated."""

    model_config = ConfigDict(extra="forbid", validate_default=True)


class WorldSettings(StrictModel):
    """Which world to run and its physical parameters."""

    name: str = Field("analytical:taylor_green", description="registered world id 'family:name' (atom worlds list)")
    grid: tuple[int, int, int] = Field(
        (32, 32, 16), description="grid cells nx ny nz, each 1 to 4096 (nz=1 for 2D worlds)")
    params: dict[str, float | int | bool | str] = Field(
        default_factory=dict, description="the world's own physical parameters (each world checks its names, "
        "units and ranges)")
    dtype: Literal["float32", "float64"] = Field("float32", description="floating-point precision of the physics")
    max_episode_steps: int = Field(
        200, ge=1, le=1_000_000, description="agent steps before an episode is truncated; 1 to 1000000")
    measurement_noise: float = Field(
        0.0, ge=0.0, le=1.0, description="relative Gaussian noise of the measured quantities the scientist fits "
        "(the world's observables): standard deviation as a fraction of each quantity's measurement scale (see "
        "the world's measurement_model); 0 to 1, 0.01 = 1 %; the default 0 is an ideal sensor (exact "
        "readings; `atom demo` uses 0.01); drawn from the run's seed. Separate from a world's own probe "
        "'noise' parameter, which reaches only the agent")

    @field_validator("grid")
    @classmethod
    def _grid_positive(cls, grid: tuple[int, int, int]) -> tuple[int, int, int]:
        if any(n < 1 or n > 4096 for n in grid):
            raise ValueError("each grid size must be between 1 and 4096 cells")
        return grid

    @field_validator("params")
    @classmethod
    def _params_finite(cls, params: dict[str, Any]) -> dict[str, Any]:
        for key, value in params.items():
            bad = nonfinite_text(value, "finite_number")  # a string "nan" too: the world would read it as NaN
            if bad is not None:
                raise ValueError(f"world parameter '{key}' must be a finite number, got {bad}")
        return params


class AgentSettings(StrictModel):
    """PPO actor-critic and field-encoder hyperparameters: the one definition the agent reads.

    Frozen so that it can sit in the jit cache key of the agent (``atom_sdk.agent.ppo.AgentSpec``).
    """

    model_config = ConfigDict(extra="forbid", validate_default=True, frozen=True)

    encoder: Literal["spectral", "conv"] = Field(
        "spectral", description="field encoder: 'spectral' (Fourier neural operator) or 'conv' (strided CNN)")
    latent_dim: int = Field(32, ge=2, le=1024, description="size of the encoder's latent vector; 2 to 1024")
    fourier_modes: int = Field(
        4, ge=1, le=64, description="Fourier modes kept per axis by the spectral encoder; 1 to 64 "
        "(capped by half the grid)")
    hidden_sizes: tuple[int, ...] = Field(
        (64, 64), description="widths of the actor and critic hidden layers; each at least 1")
    learning_rate: float = Field(3e-4, gt=0.0, le=1.0, description="Adam step size; in (0, 1]")
    anneal_lr: bool = Field(True, description="decay the learning rate linearly to 0 over the run's updates")
    rollout_length: int = Field(
        32, ge=2, le=8192, description="environment steps collected per PPO update; 2 to 8192, a multiple of "
        "num_minibatches (otherwise updates are skipped)")
    update_epochs: int = Field(4, ge=1, le=100, description="passes over each rollout per update; 1 to 100")
    num_minibatches: int = Field(4, ge=1, le=1024, description="minibatches each epoch is split into; 1 to 1024")
    gamma: float = Field(0.99, ge=0.0, le=1.0, description="discount factor per environment step; in [0, 1]")
    gae_lambda: float = Field(0.95, ge=0.0, le=1.0, description="GAE bias-variance trade-off; in [0, 1]")
    clip_eps: float = Field(0.2, gt=0.0, le=1.0, description="PPO probability-ratio clip range; in (0, 1]")
    clip_value: bool = Field(False, description="clip the value update to clip_eps around the old value")
    ent_coef: float = Field(0.0, ge=0.0, le=1.0, description="weight of the entropy bonus in the loss; in [0, 1]")
    vf_coef: float = Field(0.5, ge=0.0, le=10.0, description="weight of the value loss; in [0, 10]")
    max_grad_norm: float = Field(
        0.5, gt=0.0, le=100.0, description="global gradient-norm clip before each Adam step; in (0, 100]")
    normalize_advantages: bool = Field(True, description="standardise advantages within each minibatch")
    policy_head: Literal["state_independent", "state_dependent"] = Field(
        "state_independent", description="whether the action log-std is a learned constant or a network output")
    action_squash: Literal["tanh", "clip"] = Field(
        "tanh", description="how Gaussian samples are mapped into the action bounds")
    symplectic: bool = Field(
        True, description="train a Hamiltonian latent-dynamics model beside PPO (needs the field encoder)")
    symplectic_weight: float = Field(
        0.1, ge=0.0, le=10.0, description="weight of the latent-dynamics loss; in [0, 10]")
    core: Literal["mlp", "gru"] = Field(
        "mlp", description="policy core: 'mlp' (feed-forward) or 'gru' (recurrent memory over the episode)")
    core_size: int = Field(64, ge=1, le=4096, description="hidden-state size of the 'gru' core; 1 to 4096")
    sequence_length: int = Field(
        0, ge=0, le=8192, description="'gru' core: steps per training sequence (divides rollout_length); "
        "0 = as long as the minibatch count allows")
    decoder_weight: float = Field(
        0.0, ge=0.0, le=10.0, description="weight of the field-reconstruction loss of a decoder on the encoder's "
        "latent (needs the field encoder); 0 = no decoder; in [0, 10]")
    frozen_targets: bool = Field(
        False, description="latent-dynamics targets (symplectic): encode them once per update with the encoder as "
        "it was before the update (like a target network; they lag the encoder by up to one update) instead of "
        "with each minibatch's current encoder; off by default because it changes the learning; on Taylor-Green "
        "32x32x16 it saves about a fifth of a PPO update's CPU time")

    @field_validator("hidden_sizes")
    @classmethod
    def _widths_positive(cls, sizes: tuple[int, ...]) -> tuple[int, ...]:
        if any(h < 1 for h in sizes):
            raise ValueError("each hidden layer needs at least 1 unit")
        return sizes


class ScientistSettings(StrictModel):
    """Sparse law discovery, governance and conformal trust: the one definition the scientist reads."""

    enabled: bool = Field(True, description="run the online scientist (variants without one ignore it)")
    ensembled: bool = Field(True, description="bagged ensemble of sparse fits instead of a single fit")
    library_degree: int = Field(2, ge=1, le=5, description="highest polynomial degree of library terms; 1 to 5")
    include_trig: bool = Field(False, description="add sin and cos of each variable to the library")
    threshold: float = Field(
        0.05, ge=0.0, le=10.0, description="sparsity threshold on coefficients (start of the threshold path); 0 to 10")
    ensemble_size: int = Field(20, ge=1, le=500, description="fits in the bagged ensemble; 1 to 500 (at least 2 used)")
    window: int = Field(
        256, ge=16, le=100_000, description="observations (steps) buffered for fitting and held-out checks; "
        "16 to 100000; the scientist needs at least min_samples")
    fit_every: int = Field(16, ge=1, le=100_000, description="steps between two fits; 1 to 100000")
    min_samples: int = Field(32, ge=8, le=100_000, description="buffered steps before the first fit; 8 to 100000")
    derivative: Literal["smoothed_fd", "weak"] = Field(
        "smoothed_fd", description="'smoothed_fd' (Savitzky-Golay) or 'weak' (integral) formulation")
    conformal_alpha: float = Field(
        0.1, gt=0.0, lt=1.0, description="miscoverage of the conformal prediction intervals; in (0, 1)")
    selection: Literal["aic", "bic", "cv"] = Field(
        "bic", description="model selection along the threshold path: 'aic', 'bic' or 'cv'")
    accept_margin: float = Field(
        0.02, ge=0.0, le=1.0, description="held-out skill a candidate must add to replace the accepted theory; "
        "0 to 1")
    trust_gate_threshold: float = Field(
        0.2, ge=0.0, le=1.0, description="trust (0 to 1) below which the theory is hidden from the agent and "
        "the theory controller does not act")
    variables: Literal["measured", "latent"] = Field(
        "measured", description="what the scientist fits: 'measured' (the world's measured observables) or "
        "'latent' (the field encoder's latent, stop-gradient: the window re-encoded with the current encoder at each "
        "fit, its leading latent_dims principal coordinates, and the reward)")
    latent_dims: int = Field(
        4, ge=1, le=64, description="with variables='latent': principal coordinates of the re-encoded window kept, "
        "highest variance first; 1 to 64")
    jacobian_features: bool = Field(
        False, description="append the accepted law's symbolic Jacobian (df/dx, df/du) to the agent's theory "
        "features, behind the same trust gate")


class ScientistTuning(StrictModel):
    """Scientist constants that are not part of a run's configuration (nor of its hash).

    They are fixed by the method, not chosen per experiment; kept here so every setting the
    science code reads has one definition with its meaning and range.
    """

    holdout_fraction: float = Field(
        0.25, gt=0.0, lt=1.0, description="share of the window held out for governance and calibration")
    min_holdout: int = Field(8, ge=1, description="held-out intervals at least")
    min_inclusion: float = Field(
        0.6, ge=0.0, le=1.0, description="governance: ensemble inclusion probability a kept term needs")
    min_jaccard: float = Field(
        0.6, ge=0.0, le=1.0, description="governance: support similarity with the previous window")
    duplicate_rtol: float = Field(
        0.05, ge=0.0, description="governance: relative coefficient tolerance for 'the same theory'")
    min_skill: float = Field(0.0, le=1.0, description="governance: minimum held-out R^2 of the increments")
    trust_rise: float = Field(0.5, gt=0.0, le=1.0, description="trust smoothing rate when quality improves")
    aci_gamma: float = Field(0.01, gt=0.0, lt=1.0, description="adaptive conformal inference step size")
    sg_window: int = Field(15, ge=3, description="Savitzky-Golay window (samples, odd)")
    sg_polyorder: int = Field(2, ge=1, description="Savitzky-Golay polynomial order (below sg_window)")
    weak_window: int | None = Field(
        None, ge=2, description="weak-form test-function support (intervals); None: chosen from the data")
    step_method: Literal["rk4", "euler"] = Field("rk4", description="one-step prediction integrator")
    weak_horizon: bool = Field(
        False, description="governance: judge weak-form laws on h-step held-out increments (h = half the narrowest "
        "test-function support) instead of one step; sees through measurement noise (opt-in)")
    n_thresholds: int = Field(16, ge=1, description="length of the threshold path for model selection")
    library_bagging: bool = Field(False, description="also bag library terms (not only samples) in the ensemble")


class SafetySettings(StrictModel):
    """Runtime safety envelope thresholds (see ``atom_sdk.safety``)."""

    enabled: bool = Field(True, description="supervise the world with the safety envelope")
    min_theory_trust: float = Field(
        0.08, ge=0.0, le=1.0, description="trust (0 to 1) below which theory control and features are withheld")
    max_stress: float = Field(
        8.0, gt=0.0, description="limit on the world's max_stress diagnostic (strain-rate magnitude, world units); "
        "> 0")
    shift_z_threshold: float = Field(
        8.0, gt=0.0, description="observation z-score (standard deviations) flagged as a distribution shift; > 0")
    shift_warmup: int = Field(24, ge=1, le=100_000, description="steps before the shift monitor acts; 1 to 100000")
    density_min: float | None = Field(None, gt=0.0, description="None: 0.05 x the world's reference density")
    density_max: float | None = Field(None, gt=0.0, description="None: max(8, 2 x the world's densest steady flow)")
    speed_max: float | None = Field(None, gt=0.0, description="None: max(3, 1.5 x the world's speed scale)")
    max_action_rate: float | None = Field(
        None, gt=0.0, description="largest change of any action component per agent step (action units); "
        "None: unlimited")


class RunConfig(StrictModel):
    """Everything one closed-loop run takes."""

    name: Annotated[str, BeforeValidator(validate_name)] = Field(
        "run", min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._-]+$",
        description="run folder name inside output_root (one path component)")
    world: WorldSettings = Field(default_factory=WorldSettings, description="the world and its parameters")
    steps: int = Field(300, ge=1, le=10_000_000, description="agent steps of the whole run; 1 to 10000000")
    seed: int = Field(0, ge=0, le=2**31 - 1, description="seed of every random draw; 0 to 2^31-1")
    variant: Variant = Field("v2_hybrid", description="which parts of the loop run (atom_sdk.experiment.variants)")
    device: Literal["cpu", "gpu", "auto"] = Field("cpu", description="where JAX computes; 'auto': a GPU if present")
    agent: AgentSettings = Field(default_factory=AgentSettings, description="PPO agent and field encoder")
    scientist: ScientistSettings = Field(default_factory=ScientistSettings, description="online law discovery")
    safety: SafetySettings = Field(default_factory=SafetySettings, description="runtime safety envelope")
    ablate_scientist: bool = Field(False, description="turn the scientist off on top of the variant")
    ablate_symplectic: bool = Field(False, description="turn the symplectic latent model off")
    ablate_trust_gate: bool = Field(False, description="feed theory features to the agent ungated")
    checkpoint_every: int = Field(0, ge=0, description="steps between checkpoints; 0 = every update")
    output_root: str = Field("experiment_results", description="folder that holds the run folders")
    loop: Literal["auto", "host", "device"] = Field(
        "auto", description="how the closed loop is stepped: 'host' one step at a time from Python (the reference), "
        "'device' each segment between host events (PPO update, scientist fit, checkpoint) as one compiled scan, "
        "'auto' the device loop where it can express the run, else the host loop; both give the same run (to float32 rounding)")



# --------------------------------------------------------------------------- errors

def _format_location(loc: tuple[Any, ...]) -> str:
    return ".".join(str(part) for part in loc) or "<root>"


def validation_error_to_config_error(err: ValidationError, source: str = "config",
                                     root: type[BaseModel] | None = None) -> ConfigError:
    """Turn pydantic's multi-line report into one line that names each key and what to change.

    ``root`` is the model that was validated (default ``RunConfig``), so an unknown key is
    answered with the keys allowed at that place.
    """
    parts: list[str] = []
    for item in err.errors():
        key = _format_location(item["loc"])
        kind = item["type"]
        if kind == "extra_forbidden":
            parent_loc = item["loc"][:-1]
            allowed = _allowed_keys(parent_loc, root or RunConfig)
            parts.append(f"unknown key '{key}' (allowed here: {', '.join(allowed)})")
        else:
            parts.append(f"'{key}': {error_problem(item)}")
    return ConfigError(f"invalid {source}: " + "; ".join(parts))


def _allowed_keys(loc: tuple[Any, ...], root: type[BaseModel]) -> list[str]:
    model = root
    for part in loc:
        field = model.model_fields.get(str(part))
        annotation = getattr(field, "annotation", None)
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            model = annotation
        else:
            return []
    return sorted(model.model_fields)


# --------------------------------------------------------------------------- loading


def read_config_file(path: str | Path) -> dict[str, Any]:
    """Read a YAML, TOML or JSON mapping; the suffix decides the format."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file '{path}' does not exist; pass an existing .yaml, .toml or .json file")
    text = path.read_text(encoding="utf-8")
    suffix = path.suffix.lower()
    try:
        if suffix in {".yaml", ".yml"}:
            data = yaml.safe_load(text)
        elif suffix == ".toml":
            data = tomllib.loads(text)
        elif suffix == ".json":
            data = json.loads(text)
        else:
            raise ConfigError(f"config file '{path}' has suffix '{suffix}'; use .yaml, .yml, .toml or .json")
    except (yaml.YAMLError, tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"config file '{path}' is not valid {suffix[1:].upper()}: {exc}".replace("\n", " ")) from exc
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file '{path}' must hold a mapping at the top level, not {type(data).__name__}")
    return data


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Merge ``override`` into a copy of ``base``; nested mappings merge, other values replace."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def build_run_config(data: dict[str, Any] | None = None, overrides: dict[str, Any] | None = None,
                     source: str = "config") -> RunConfig:
    """Validate a mapping (file values, then CLI overrides on top) into a ``RunConfig``."""
    merged = deep_merge(data or {}, overrides or {})
    try:
        return RunConfig.model_validate(merged)
    except ValidationError as err:
        raise validation_error_to_config_error(err, source) from None


def load_run_config(path: str | Path | None = None, overrides: dict[str, Any] | None = None) -> RunConfig:
    """Load a run config from a file (optional) with CLI overrides applied on top."""
    data = read_config_file(path) if path is not None else {}
    return build_run_config(data, overrides, source=str(path) if path else "config")


# --------------------------------------------------------------------------- canonical form


def canonical_value(value: Any, *, numbers_as_float: bool = False) -> Any:
    """A JSON-ready copy of ``value`` with sorted keys, lists for tuples and unknown objects as ``str``.

    With ``numbers_as_float`` every number goes through ``float`` (so ``1`` and ``1.0`` are the
    same, written ``1``); otherwise only floats are normalised that way and ints are kept.
    """
    if isinstance(value, dict):
        return {str(k): canonical_value(v, numbers_as_float=numbers_as_float) for k, v in sorted(value.items())}
    if isinstance(value, (list, tuple)):
        return [canonical_value(v, numbers_as_float=numbers_as_float) for v in value]
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, (int, float)):
        if numbers_as_float or isinstance(value, float):
            value = float(value)
            return int(value) if value.is_integer() and abs(value) < 2**53 else value
        return value
    return str(value)


def canonical_text(data: Any) -> str:
    """The one canonical JSON spelling: sorted keys, no spaces, UTF-8 kept as is."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def canonical_hash(data: Any) -> str:
    """SHA-256 hex digest of ``canonical_text(data)``: the hash behind configs and design specs."""
    return hashlib.sha256(canonical_text(data).encode("utf-8")).hexdigest()


def canonical_dict(config: RunConfig | dict[str, Any]) -> dict[str, Any]:
    """The semantic content of a config: defaults filled in, names/places dropped, numbers normalised.

    World parameters are free-form (each world validates its own), so ``1`` and ``1.0`` are
    treated as the same number there.
    """
    if isinstance(config, dict):
        config = build_run_config(config)
    data = config.model_dump(mode="json")
    for key in NON_SEMANTIC_FIELDS:
        data.pop(key, None)
    for section, name in ADDED_FIELDS:
        field = type(getattr(config, section)).model_fields[name]
        if section in data and name in data[section] and data[section][name] == field.get_default():
            del data[section][name]
    world = data["world"]
    world["params"] = canonical_value(world["params"], numbers_as_float=True)
    return canonical_value(data)


def canonical_json(config: RunConfig | dict[str, Any]) -> str:
    return canonical_text(canonical_dict(config))


def config_hash(config: RunConfig | dict[str, Any]) -> str:
    """SHA-256 hex digest of the canonical JSON form."""
    return canonical_hash(canonical_dict(config))
