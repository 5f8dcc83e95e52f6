"""Field encoders ("eyes"): a world's fields (C, nx, ny, nz) -> a fixed-size latent vector.

Both encoders accept any grid size with the same weights, because their weight shapes depend
only on channel counts, kernel size and the number of Fourier modes, never on nx, ny, nz.
Inputs may carry leading batch dimensions: (..., C, nx, ny, nz) -> (..., latent_dim).
"""

from __future__ import annotations

import math
from typing import Literal, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from atom_sdk.agent.spectral_dft import dft_is_faster, dft_spectral_conv, fft_spectral_conv
from atom_sdk.config import AgentSettings
from atom_sdk.errors import ConfigError

ENCODER_KINDS = ("spectral", "conv")
#: defaults of a module built without arguments: the run config's own (one definition)
_LATENT_DIM = AgentSettings.model_fields["latent_dim"].default
_FOURIER_MODES = AgentSettings.model_fields["fourier_modes"].default


def _check_fields(fields: jnp.ndarray) -> None:
    if fields.ndim < 4:
        raise ConfigError(
            f"fields must have shape (..., C, nx, ny, nz), got shape {tuple(fields.shape)}",
            hint="add a trailing nz=1 axis for 2D worlds",
        )


def _flat_uniform(scale: float):
    """U[0, scale) drawn as a 1-D array and reshaped.

    Why: with JAX's partitionable threefry, XLA:CPU compile time explodes for rank-5 random
    draws (about 15 s for a 15x15x8x16x16 kernel) but not for the same number drawn 1-D.
    """

    def init(key, shape, dtype=jnp.float32):
        return jax.random.uniform(key, (math.prod(shape),), dtype, 0.0, scale).reshape(shape)

    return init


def _flat_lecun_normal(key, shape, dtype=jnp.float32):
    """LeCun-normal conv kernel (fan-in = all but the last axis), drawn 1-D (see above)."""
    fan_in = math.prod(shape[:-1])
    return (jax.random.normal(key, (math.prod(shape),), dtype) / math.sqrt(fan_in)).reshape(shape)


class SpectralConv3d(nn.Module):
    """FNO spectral convolution: DFT, complex channel mixing on the lowest modes, inverse DFT.

    Weights are stored for the full mode box (2m-1, 2m-1, m) and sliced to the modes the grid
    actually has, so a 16x16x1 grid and a 64x64x32 grid share the same parameters.

    ``transform`` picks how the (linear, identical) map is evaluated: "dft" multiplies by
    cos/sin matrices of the kept frequencies only (``spectral_dft``), "fft" runs a full
    rfftn/irfftn and slices (the reference), "auto" takes whichever ``dft_is_faster`` says
    for the grid, decided at trace time from the static shapes. Why the DFT: the kept box is
    k_x*k_y*k_z << nx*ny*nz, the matrix products run as GEMMs near the CPU's peak, while
    XLA:CPU's FFT is a slow one-transform-at-a-time loop (numbers in ``dft_is_faster``). On
    GPU the choice is unmeasured.

    ``channel_axis`` is -1 for channels-last input (..., nx, ny, nz, C) or 0 for channel-major
    (C, ..., nx, ny, nz), the encoder's internal layout; the output has the input's layout.
    ``lift`` = (kernel, bias) applies the layer to ``x @ kernel + bias`` (kernel (Cx, C)), which
    the DFT path folds into the mixing weights instead of lifting the whole grid.
    """

    features: int
    modes: int
    transform: Literal["auto", "dft", "fft"] = "auto"

    @nn.compact
    def __call__(
        self, x: jnp.ndarray, channel_axis: int = -1, lift: tuple[jnp.ndarray, jnp.ndarray] | None = None
    ) -> jnp.ndarray:
        if channel_axis not in (0, -1):
            raise ConfigError(f"channel_axis must be 0 or -1, got {channel_axis}")
        if self.transform not in ("auto", "dft", "fft"):
            raise ConfigError(f"unknown transform {self.transform!r}", hint="use 'auto', 'dft' or 'fft'")
        grid = x.shape[-3:] if channel_axis == 0 else x.shape[-4:-1]
        c_in = x.shape[channel_axis] if lift is None else lift[0].shape[-1]
        m = self.modes
        w_shape = (2 * m - 1, 2 * m - 1, m, c_in, self.features)
        scale = 1.0 / (c_in * self.features)
        init = _flat_uniform(scale)
        w_re = self.param("weight_real", init, w_shape)
        w_im = self.param("weight_imag", init, w_shape)

        use_dft = self.transform == "dft" or (self.transform == "auto" and dft_is_faster(*grid, m))
        if use_dft:
            xc = x if channel_axis == 0 else jnp.moveaxis(x, -1, 0)
            out = dft_spectral_conv(xc, w_re, w_im, m, lift=lift)
            return out if channel_axis == 0 else jnp.moveaxis(out, 0, -1)
        xl = x if channel_axis == -1 else jnp.moveaxis(x, 0, -1)
        if lift is not None:
            kernel, bias = lift
            xl = xl @ kernel + bias
        out = fft_spectral_conv(xl, w_re, w_im, m)
        return out if channel_axis == -1 else jnp.moveaxis(out, -1, 0)


class _ChannelDense(nn.Module):
    """``nn.Dense``'s parameters (names, shapes, init) applied along axis 0 of channel-major input.

    Why not nn.Dense: it contracts the last axis; the encoder keeps channels first so that its
    spectral layers touch the full grid only through plain GEMMs (see ``spectral_dft``).
    """

    features: int

    @nn.compact
    def __call__(self, x: jnp.ndarray, apply: bool = True, lift: tuple[jnp.ndarray, jnp.ndarray] | None = None):
        """``apply=False`` returns (kernel, bias); ``lift`` = (kernel, bias) of a linear map before this one,
        composed into a single product (x -> (x @ k1 + b1) @ k2 + b2 without the intermediate)."""
        c_in = x.shape[0] if lift is None else lift[0].shape[-1]
        kernel = self.param("kernel", nn.initializers.lecun_normal(), (c_in, self.features), jnp.float32)
        bias = self.param("bias", nn.initializers.zeros_init(), (self.features,), jnp.float32)
        if not apply:
            return kernel, bias
        if lift is not None:
            kernel, bias = lift[0] @ kernel, lift[1] @ kernel + bias
        dtype = jnp.result_type(x.dtype, kernel.dtype)
        y = kernel.T.astype(dtype) @ x.reshape(x.shape[0], -1).astype(dtype)
        return (y + bias.astype(dtype)[:, None]).reshape((self.features,) + x.shape[1:])


class SpectralEncoder(nn.Module):
    """FNO-style encoder: lift, N x (spectral conv + pointwise linear, GELU), mean-pool, project.

    Spectral and pointwise layers commute with periodic shifts, and the global mean pooling
    removes the shift, so the latent is (up to round-off) invariant to periodic translation.
    """

    latent_dim: int = _LATENT_DIM
    fourier_modes: int = _FOURIER_MODES
    width: int = 16
    n_layers: int = 2
    transform: Literal["auto", "dft", "fft"] = "auto"

    @nn.compact
    def __call__(self, fields: jnp.ndarray) -> jnp.ndarray:
        _check_fields(fields)
        # channel-major (C, batch..., nx, ny, nz): the layout where the spectral layers' full-grid
        # stages and the pointwise layers are all plain GEMMs
        f = jnp.moveaxis(fields, -4, 0)
        lift = _ChannelDense(self.width, name="lift")
        # With the DFT, the first layer never forms lift(fields) (width channels over the whole
        # grid, and its gradient): its spectral part folds the lift into the mixing weights and
        # its pointwise part composes the two linear maps, so both run over the few field
        # channels. The FFT reference keeps the plain form.
        fold = self.n_layers > 0 and (self.transform == "dft" or (
            self.transform == "auto" and dft_is_faster(*f.shape[-3:], self.fourier_modes)))
        grid = f.shape[-3:]
        # Between layers the activations are kept as (C, batch, nx*ny*nz): the same memory as
        # (C, batch..., nx, ny, nz), but XLA:CPU then emits the GELU (tanh) loops and their
        # gradients over a long minor axis instead of nz. Measured (benchmarks/bench_encoder.py
        # --against REV): the same numbers bit for bit, 8-11 % less CPU time per PPO update.
        flat = lambda a: a.reshape(a.shape[0], -1, math.prod(grid))  # noqa: E731
        x = None if fold else flat(lift(f))
        for i in range(self.n_layers):
            conv = SpectralConv3d(self.width, self.fourier_modes, self.transform, name=f"spectral_{i}")
            point = _ChannelDense(self.width, name=f"pointwise_{i}")
            if i == 0 and fold:
                lift_params = lift(f, apply=False)
                spec, point = conv(f, 0, lift_params), point(f, lift=lift_params)
            else:
                xg = x.reshape(x.shape[:1] + f.shape[1:-3] + grid)
                spec, point = conv(xg, 0), point(xg)
            x = nn.gelu(flat(spec) + flat(point))
        batch = f.shape[1:-3]
        mean = jnp.moveaxis(x.mean(axis=-1), 0, -1).reshape(batch + (-1,))
        # sqrt(var + eps) instead of std: a uniform field (fluid at rest) must not give NaN grads.
        spread = jnp.moveaxis(jnp.sqrt(x.var(axis=-1) + 1e-6), 0, -1).reshape(batch + (-1,))
        pooled = jnp.concatenate([mean, spread], axis=-1)
        return nn.Dense(self.latent_dim, name="project")(pooled)


class ConvEncoder(nn.Module):
    """Plain CNN encoder: strided 3x3x3 convs (SAME padding) + global average pooling.

    On a 2D world (nz == 1) SAME padding means only the middle z-slice of each 3x3x3 kernel
    ever touches data, so that slice is applied as a 2D convolution: the same function and
    the same weights, without the cost of a 3D convolution over one plane.
    """

    latent_dim: int = _LATENT_DIM
    features: Sequence[int] = (16, 32, 32)

    @nn.compact
    def __call__(self, fields: jnp.ndarray) -> jnp.ndarray:
        _check_fields(fields)
        x = jnp.moveaxis(fields, -4, -1)
        batch = x.shape[:-4]
        x = x.reshape((-1,) + x.shape[-4:])  # lax convolutions want exactly one batch axis
        flat = x.shape[-2] == 1
        if flat:
            x = x[..., 0, :]
        for i, f in enumerate(self.features):
            kernel = self.param(
                f"conv_{i}_kernel", _flat_lecun_normal, (3, 3, 3, x.shape[-1], f)
            )
            bias = self.param(f"conv_{i}_bias", nn.initializers.zeros, (f,))
            spatial = x.shape[1:-1]
            # stride 1 on an axis of length 1 keeps thin grids well defined
            strides = tuple(2 if n > 1 else 1 for n in spatial)
            k = kernel[:, :, 1] if flat else kernel
            dims = ("NHWC", "HWIO", "NHWC") if flat else ("NHWDC", "HWDIO", "NHWDC")
            # inputs follow the weights' dtype: a float64 world elsewhere in the process turns on
            # JAX's x64 mode, which must not break a float32 agent
            x = jax.lax.conv_general_dilated(x.astype(k.dtype), k, strides, "SAME", dimension_numbers=dims)
            x = nn.gelu(x + bias)
        pooled = x.mean(axis=tuple(range(1, x.ndim - 1)))
        pooled = pooled.reshape(batch + pooled.shape[-1:])
        return nn.Dense(self.latent_dim, name="project")(pooled)


def make_encoder(kind: str, latent_dim: int, fourier_modes: int, transform: str = "auto") -> nn.Module:
    """Build the encoder named in the settings; the message says which names exist.

    ``transform`` (spectral only) is the SpectralConv3d evaluation: "auto", "dft" or "fft".
    """
    if kind == "spectral":
        if fourier_modes < 1:
            raise ConfigError(f"fourier_modes must be >= 1, got {fourier_modes}")
        if transform not in ("auto", "dft", "fft"):
            raise ConfigError(f"unknown transform {transform!r}", hint="use 'auto', 'dft' or 'fft'")
        return SpectralEncoder(latent_dim=latent_dim, fourier_modes=fourier_modes, transform=transform)
    if kind == "conv":
        return ConvEncoder(latent_dim=latent_dim)
    raise ConfigError(f"unknown encoder {kind!r}", hint=f"use one of {ENCODER_KINDS}")
