"""Field encoders ("eyes"): a world's fields (C, nx, ny, nz) -> a fixed-size latent vector.

Both encoders accept any grid size with the same weights, because their weight shapes depend
only on channel counts, kernel size and the number of Fourier modes, never on nx, ny, nz.
Inputs may carry leading batch dimensions: (..., C, nx, ny, nz) -> (..., latent_dim).
"""

from __future__ import annotations

import math
from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

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


def _full_axis_ranges(n: int, modes: int) -> list[tuple[int, int, int]]:
    """Kept frequencies of a full FFT axis, |k| < modes, clamped to the grid.

    Returns contiguous (fft_start, weight_start, length) blocks: k = 0..m_pos-1 sits at FFT
    positions 0.. and weight rows modes-1..; k = -m_neg..-1 sits at positions n-m_neg.. and
    weight rows modes-1-m_neg... Slices (not gathers) keep compilation cheap.
    """
    m_pos = min(modes, n // 2 + 1)
    m_neg = min(modes - 1, (n - 1) // 2)  # never overlaps the positive block
    blocks = [(0, modes - 1, m_pos)]
    if m_neg > 0:
        blocks.append((n - m_neg, modes - 1 - m_neg, m_neg))
    return blocks


def _take_blocks(x: jnp.ndarray, blocks, axis: int, use_weight_start: bool) -> jnp.ndarray:
    parts = [
        jax.lax.slice_in_dim(x, w if use_weight_start else f, (w if use_weight_start else f) + n, axis=axis)
        for f, w, n in blocks
    ]
    return parts[0] if len(parts) == 1 else jnp.concatenate(parts, axis=axis)


def _place_blocks(x: jnp.ndarray, blocks, axis: int, size: int) -> jnp.ndarray:
    """Inverse of _take_blocks on the FFT side: zero-fill the dropped frequencies."""
    axis = axis % x.ndim
    out, used = [], 0
    for f, _, n in blocks:
        gap = f - sum(p.shape[axis] for p in out)
        if gap > 0:
            shape = list(x.shape)
            shape[axis] = gap
            out.append(jnp.zeros(shape, x.dtype))
        out.append(jax.lax.slice_in_dim(x, used, used + n, axis=axis))
        used += n
    tail = size - sum(p.shape[axis] for p in out)
    if tail > 0:
        shape = list(x.shape)
        shape[axis] = tail
        out.append(jnp.zeros(shape, x.dtype))
    return jnp.concatenate(out, axis=axis) if len(out) > 1 else out[0]


class SpectralConv3d(nn.Module):
    """FNO spectral convolution: FFT, complex channel mixing on the lowest modes, inverse FFT.

    Weights are stored for the full mode box (2m-1, 2m-1, m) and sliced to the modes the grid
    actually has, so a 16x16x1 grid and a 64x64x32 grid share the same parameters.
    """

    features: int
    modes: int

    @nn.compact
    def __call__(self, x: jnp.ndarray) -> jnp.ndarray:  # x: (..., nx, ny, nz, Cin)
        nx, ny, nz, c_in = x.shape[-4:]
        m = self.modes
        w_shape = (2 * m - 1, 2 * m - 1, m, c_in, self.features)
        scale = 1.0 / (c_in * self.features)
        init = _flat_uniform(scale)
        w_re = self.param("weight_real", init, w_shape)
        w_im = self.param("weight_imag", init, w_shape)

        x_ft = jnp.fft.rfftn(x, axes=(-4, -3, -2))  # (..., nx, ny, nz//2+1, Cin)
        nzf = x_ft.shape[-2]
        blocks = [_full_axis_ranges(nx, m), _full_axis_ranges(ny, m), [(0, 0, min(m, nzf))]]
        sub, w = x_ft, w_re + 1j * w_im
        for ax, bl in enumerate(blocks):
            sub = _take_blocks(sub, bl, ax - 4, use_weight_start=False)
            w = _take_blocks(w, bl, ax, use_weight_start=True)
        out = jnp.einsum("...xyzi,xyzio->...xyzo", sub, w)
        for ax, (bl, size) in enumerate(zip(blocks, (nx, ny, nzf))):
            out = _place_blocks(out, bl, ax - 4, size)
        out_ft = out
        return jnp.fft.irfftn(out_ft, s=(nx, ny, nz), axes=(-4, -3, -2)).astype(x.dtype)


class SpectralEncoder(nn.Module):
    """FNO-style encoder: lift, N x (spectral conv + pointwise linear, GELU), mean-pool, project.

    Spectral and pointwise layers commute with periodic shifts, and the global mean pooling
    removes the shift, so the latent is (up to round-off) invariant to periodic translation.
    """

    latent_dim: int = _LATENT_DIM
    fourier_modes: int = _FOURIER_MODES
    width: int = 16
    n_layers: int = 2

    @nn.compact
    def __call__(self, fields: jnp.ndarray) -> jnp.ndarray:
        _check_fields(fields)
        x = jnp.moveaxis(fields, -4, -1)  # channels last
        x = nn.Dense(self.width, name="lift")(x)
        for i in range(self.n_layers):
            spec = SpectralConv3d(self.width, self.fourier_modes, name=f"spectral_{i}")(x)
            point = nn.Dense(self.width, name=f"pointwise_{i}")(x)
            x = nn.gelu(spec + point)
        mean = x.mean(axis=(-4, -3, -2))
        # sqrt(var + eps) instead of std: a uniform field (fluid at rest) must not give NaN grads.
        spread = jnp.sqrt(x.var(axis=(-4, -3, -2)) + 1e-6)
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


def make_encoder(kind: str, latent_dim: int, fourier_modes: int) -> nn.Module:
    """Build the encoder named in the settings; the message says which names exist."""
    if kind == "spectral":
        if fourier_modes < 1:
            raise ConfigError(f"fourier_modes must be >= 1, got {fourier_modes}")
        return SpectralEncoder(latent_dim=latent_dim, fourier_modes=fourier_modes)
    if kind == "conv":
        return ConvEncoder(latent_dim=latent_dim)
    raise ConfigError(f"unknown encoder {kind!r}", hint=f"use one of {ENCODER_KINDS}")
