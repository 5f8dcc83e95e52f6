"""The FNO spectral convolution as a truncated DFT: separable real matrix products on kept modes only.

An FNO layer keeps only the lowest ``modes`` frequencies per axis (a box of at most
(2m-1) x (2m-1) x m of the rfft half-spectrum), so a full ``rfftn``/``irfftn`` over the grid
computes mostly coefficients that are thrown away. Here the same linear map is evaluated as
three 1-D DFTs restricted to the kept frequencies (cos/sin matrices), channel mixing on the
kept box, and three restricted inverse DFTs. Cost per big stage is 2*K rows per grid point
(K kept frequencies on that axis) against log2(n) butterflies per point for the FFT, but the
matrix products run as dense GEMMs near the CPU's peak while XLA:CPU's FFT runs one
transform at a time; measured numbers and the crossover are at ``DFT_MAX_COST_RATIO``.

Layout: channel-major, (C, batch..., nx, ny, nz). The two stages that touch the full grid
(forward z on the input, inverse z on the output) are then plain 2-D GEMMs on the last axis,
(C*b*nx*ny, nz) @ (nz, 2k_z), with no transposes of the full field; everything between them
works on the kept box, at most 2*m/nz of the data.
"""

from __future__ import annotations

import math
from functools import lru_cache

import jax
import jax.numpy as jnp
import numpy as np

#: Full f32 products for the DFT matrices: on GPUs the default f32 matmul precision may be
#: TF32 (10-bit mantissa), which would make this path differ from the FFT at ~1e-3; on CPU the
#: two precisions are the same instructions (measured: equal time, equal results).
_PRECISION = jax.lax.Precision.HIGHEST


def full_axis_ranges(n: int, modes: int) -> list[tuple[int, int, int]]:
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


def take_blocks(x: jnp.ndarray, blocks, axis: int, use_weight_start: bool) -> jnp.ndarray:
    """Concatenate the kept blocks of ``axis`` (FFT positions, or weight rows if ``use_weight_start``)."""
    parts = [
        jax.lax.slice_in_dim(x, w if use_weight_start else f, (w if use_weight_start else f) + n, axis=axis)
        for f, w, n in blocks
    ]
    return parts[0] if len(parts) == 1 else jnp.concatenate(parts, axis=axis)


def kept_weights(w: jnp.ndarray, nx: int, ny: int, nz: int, modes: int) -> jnp.ndarray:
    """The weight box (2m-1, 2m-1, m, ...) cut to the modes an (nx, ny, nz) grid has, in FFT block order."""
    w = take_blocks(w, full_axis_ranges(nx, modes), 0, use_weight_start=True)
    w = take_blocks(w, full_axis_ranges(ny, modes), 1, use_weight_start=True)
    return w[:, :, : min(modes, nz // 2 + 1)]


def _positions(n: int, modes: int) -> np.ndarray:
    return np.concatenate([np.arange(f, f + k) for f, _, k in full_axis_ranges(n, modes)])


def _phase(pos: np.ndarray, n: int) -> np.ndarray:
    """2*pi*k*j/n with k*j reduced mod n in integers first, so large k*j loses no accuracy."""
    return 2.0 * np.pi * (np.outer(pos, np.arange(n)) % n) / n  # (K, n)


def _complex_block(re: np.ndarray, im: np.ndarray) -> np.ndarray:
    """Real form of a complex matrix acting on (re, im)-stacked data: [q_out, k, p_in, n]."""
    return np.stack([np.stack([re, -im], 1), np.stack([im, re], 1)], 0)


@lru_cache(maxsize=64)
def _matrices(nx: int, ny: int, nz: int, modes: int) -> dict[str, np.ndarray]:
    """float64 DFT matrices of the kept frequencies (cached: built once per grid and mode count)."""
    px, py, pz = _positions(nx, modes), _positions(ny, modes), np.arange(min(modes, nz // 2 + 1))
    ph_x, ph_y, ph_z = _phase(px, nx), _phase(py, ny), _phase(pz, nz)
    # forward e^{-i phase}; inverse e^{+i phase}/n
    fz = np.concatenate([np.cos(ph_z), -np.sin(ph_z)], 0).T  # (nz, 2kz): real -> (re, im)
    fy = _complex_block(np.cos(ph_y), -np.sin(ph_y))  # (2, ky, 2, ny)
    fx = _complex_block(np.cos(ph_x), -np.sin(ph_x))  # (2, kx, 2, nx)
    gx = _complex_block(np.cos(ph_x).T, np.sin(ph_x).T) / nx  # (2, nx, 2, kx)
    gy = _complex_block(np.cos(ph_y).T, np.sin(ph_y).T) / ny  # (2, ny, 2, ky)
    # half-spectrum -> real (irfft): bins other than DC and Nyquist stand for their mirror too
    weight = np.where((pz == 0) | ((nz % 2 == 0) & (pz == nz // 2)), 1.0, 2.0)[:, None] / nz
    gz = np.concatenate([np.cos(ph_z) * weight, -np.sin(ph_z) * weight], 0)  # (2kz, nz): (re, im) -> real
    return {"fz": fz, "fy": fy, "fx": fx, "gx": gx, "gy": gy, "gz": gz}


def dft_spectral_conv(
    x: jnp.ndarray,
    w_re: jnp.ndarray,
    w_im: jnp.ndarray,
    modes: int,
    lift: tuple[jnp.ndarray, jnp.ndarray] | None = None,
) -> jnp.ndarray:
    """Spectral convolution of channel-major ``x`` (Cin, batch..., nx, ny, nz) -> (Cout, batch..., nx, ny, nz).

    ``w_re``/``w_im`` are the full weight box (2m-1, 2m-1, m, C, Cout). With ``lift`` =
    (kernel (Cin, C), bias (C,)), the layer acts on ``kernel.T @ x + bias`` without forming it:
    the DFT is linear, so the kernel folds into the mixing weights and the bias (a constant
    field) only reaches the zero mode, with amplitude nx*ny*nz.
    """
    c_in, *batch, nx, ny, nz = x.shape
    dtype = jnp.result_type(x.dtype, w_re.dtype, *(() if lift is None else (lift[0].dtype, lift[1].dtype)))
    mats = {k: jnp.asarray(v, dtype) for k, v in _matrices(nx, ny, nz, modes).items()}
    b = math.prod(batch)
    kz = mats["fz"].shape[1] // 2
    x = x.astype(dtype)
    dot = lambda a, m: jnp.matmul(a, m, precision=_PRECISION)  # noqa: E731
    ein = lambda s, *a: jnp.einsum(s, *a, precision=_PRECISION)  # noqa: E731

    # forward: z on the full grid (one GEMM), then y and x on the kept part only
    a = dot(x.reshape(-1, nz), mats["fz"]).reshape(c_in, b, nx, ny, 2, kz)
    a = ein("qkpy,cbxypz->cbxqkz", mats["fy"], a)  # (c, b, nx, 2, ky, kz)
    a = ein("rjqx,cbxqkz->jkzrcb", mats["fx"], a)  # (kx, ky, kz, 2, c, b)

    w_re, w_im = (kept_weights(w, nx, ny, nz, modes).astype(dtype) for w in (w_re, w_im))
    if lift is not None:
        kernel, bias = (v.astype(dtype) for v in lift)
        w0 = jnp.stack([w_re[0, 0, 0], w_im[0, 0, 0]])  # (2, C, Cout): the zero mode's weights
        w_re, w_im = (ein("fc,jkzco->jkzfo", kernel, w) for w in (w_re, w_im))
    # complex channel mixing per kept mode, as one real contraction over (re/im, channel)
    w_blk = jnp.stack([jnp.stack([w_re, -w_im], 3), jnp.stack([w_im, w_re], 3)], 3)  # (kx,ky,kz,2s,2r,c,o)
    a = ein("jkzsrco,jkzrcb->jkzsob", w_blk, a)
    if lift is not None:
        dc = (nx * ny * nz) * ein("c,sco->so", bias, w0)  # (2, Cout)
        a = a.at[0, 0, 0].add(dc[:, :, None])

    # inverse: x and y on the kept part, z back onto the full grid (one GEMM, real part only)
    a = ein("txsj,jkzsob->obxtkz", mats["gx"], a)  # (o, b, nx, 2, ky, kz)
    a = ein("uyts,obxtsz->obxyuz", mats["gy"], a)  # (o, b, nx, ny, 2, kz)
    out = dot(a.reshape(-1, 2 * kz), mats["gz"])
    return out.reshape(w_re.shape[-1], *batch, nx, ny, nz)


def fft_spectral_conv(x: jnp.ndarray, w_re: jnp.ndarray, w_im: jnp.ndarray, modes: int) -> jnp.ndarray:
    """Reference: the same layer with a full ``rfftn``/``irfftn``, channels-last (..., nx, ny, nz, Cin)."""
    nx, ny, nz, _ = x.shape[-4:]
    x_ft = jnp.fft.rfftn(x, axes=(-4, -3, -2))  # (..., nx, ny, nz//2+1, Cin)
    nzf = x_ft.shape[-2]
    blocks = [full_axis_ranges(nx, modes), full_axis_ranges(ny, modes), [(0, 0, min(modes, nzf))]]
    sub, w = x_ft, w_re + 1j * w_im
    for ax, bl in enumerate(blocks):
        sub = take_blocks(sub, bl, ax - 4, use_weight_start=False)
        w = take_blocks(w, bl, ax, use_weight_start=True)
    out = jnp.einsum("...xyzi,xyzio->...xyzo", sub, w)
    for ax, (bl, size) in enumerate(zip(blocks, (nx, ny, nzf))):
        out = _place_blocks(out, bl, ax - 4, size)
    return jnp.fft.irfftn(out, s=(nx, ny, nz), axes=(-4, -3, -2)).astype(x.dtype)


def _place_blocks(x: jnp.ndarray, blocks, axis: int, size: int) -> jnp.ndarray:
    """Inverse of take_blocks on the FFT side: zero-fill the dropped frequencies."""
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


def _kept_count(n: int, modes: int) -> int:
    return sum(k for _, _, k in full_axis_ranges(n, modes))


def dft_cost_ratio(nx: int, ny: int, nz: int, modes: int) -> float:
    """Multiply-adds of the truncated DFT over the FFT's 2.5*N*log2(N), per channel (a static estimate).

    DFT, forward (the inverse costs the same): z on the full grid, real -> 2*k_z outputs per
    point; y and x on what is left, complex (4 real products per term).
    """
    n = nx * ny * nz
    kz, ky, kx = min(modes, nz // 2 + 1), _kept_count(ny, modes), _kept_count(nx, modes)
    dft = 2 * n * 2 * kz + 8 * nx * ny * kz * ky + 8 * nx * ky * kz * kx
    return dft / (2.5 * n * max(math.log2(n), 1.0))


#: Above this cost ratio the FFT is used. Measured (benchmarks/bench_encoder.py --crossover:
#: SpectralConv3d forward+backward, width 16, batch 4, process CPU time fft/dft, XLA:CPU,
#: jax 0.10.2, 2 cores shared with ~20 runnable processes, 2026-11-30):
#:   16x16x8   m=4  ratio 2.0 -> DFT 1.32x faster;  m=6  4.1 -> 0.99;  m=9  6.5 -> 0.89
#:   32x32x16  m=4  ratio 0.95 -> DFT 2.63x faster; m=8  3.4 -> 0.93;  m=12 6.1 -> 0.83; m=17 9.3 -> 0.86
#:   64x64x32  m=4  ratio 0.56 -> DFT 2.87x faster; m=8  1.6 -> 1.92;  m=16 5.8 -> 0.75
#: so the crossover sits at a cost ratio of 3.5 to 4; 3.0 keeps a margin for the FFT side.
#: (176x36x1 m=4, the cylinder, is 2.2: DFT.) On GPU this is unmeasured.
DFT_MAX_COST_RATIO = 3.0


def dft_is_faster(nx: int, ny: int, nz: int, modes: int) -> bool:
    """Whether the truncated DFT beats the FFT for this grid and mode count (static shapes)."""
    return dft_cost_ratio(nx, ny, nz, modes) < DFT_MAX_COST_RATIO
