"""Native CPU kernel of one ``lbm2d:cylinder`` channel update: bulk collide+stream and every boundary, one FFI call.

Why a second native library: the bulk of a channel update is the periodic D2Q9 single pass of
:mod:`atom_sdk.worlds.lbm_native`, but patching the boundaries afterwards in XLA cost more than the
pass itself (measured at 440 x 82 float32 TRT, the bulk alone ~440 MLUPS per CPU-second): some
47 small XLA operations per update (each a dispatched thunk on XLA:CPU) plus, wherever XLA could
not prove a slice read ordered before a slice write, a full copy of the state; the best XLA
composition reached ~145 MLUPS per CPU-second. Here one call makes the whole update:

* the bulk: ``lbm_native``'s folded TRT row (``trt9``), one pass, rows split over the OpenMP
  threads, with the half-way walls folded in: the populations that row 0 sends down and row ny-1
  sends up come back into their own cell instead of wrapping around (``push_row_walls``). That
  is what the reference's wall patch writes, so no second pass over the wall rows is needed;
  every destination value is written once. Measured: 345 MLUPS per CPU-second at 440 x 82 with
  a separate wall pass, 506 with the walls in the sweep (the periodic single pass: 437);
* then, in the reference's order, the interpolated bounce-back of the body with the
  momentum-exchange force and the jets' mass source (post-collision values recomputed on the
  links with the same ``trt9``: collision is local), the density-anchored extrapolated outlet
  (column nx-1, from column nx-2; or :mod:`atom_sdk.worlds.st_channel`'s non-reflecting
  characteristic one) and the Zou-He velocity inlet (column 0).

The walls acting before the body patch instead of after it changes nothing while the body's
links and solid cells stay off rows 0 and ny-1 (``lbm_channel_fused.window_blocker`` checks).
The library is ``lbm_native``'s source plus this file's, compiled once per machine into the same
cache under a key of its own and registered as the FFI target ``atom_lbm_channel_d2q9``
(jit-able; ``vmap`` runs batch members one after another).
"""

from __future__ import annotations

import threading
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from atom_sdk.worlds import lbm_native

_CHANNEL_SOURCE = r"""
#include <cmath>
// ---- the lbm2d:cylinder channel update: the periodic single pass, then the boundary patches ----
static inline void post9(const float* f, int64_t n, int64_t k, const Coef9& c, float* o) {
  trt9(f[k], f[n + k], f[2 * n + k], f[3 * n + k], f[4 * n + k], f[5 * n + k], f[6 * n + k], f[7 * n + k],
       f[8 * n + k], c, o[0], o[1], o[2], o[3], o[4], o[5], o[6], o[7], o[8]);
}

// One row x of the bulk: push_row9's periodic push, except that the populations leaving row 0 downwards
// and row ny-1 upwards bounce back into their own cell (half-way walls): f_opp(i)(x, y) = f*_i(x, y).
// in[i]: population i of row x; out[i]: row x + c_ix of plane i; own[i]: row x of plane i.
static void push_row_walls(const float* const* in, float* const* out, float* const* own, int64_t ny, const Coef9& k) {
  const float *__restrict i0 = in[0], *__restrict i1 = in[1], *__restrict i2 = in[2], *__restrict i3 = in[3],
              *__restrict i4 = in[4], *__restrict i5 = in[5], *__restrict i6 = in[6], *__restrict i7 = in[7],
              *__restrict i8 = in[8];
  float *__restrict q0 = out[0], *__restrict q1 = out[1], *__restrict q2 = out[2], *__restrict q3 = out[3],
        *__restrict q4 = out[4], *__restrict q5 = out[5], *__restrict q6 = out[6], *__restrict q7 = out[7],
        *__restrict q8 = out[8];
  float o0, o1, o2, o3, o4, o5, o6, o7, o8;
  int64_t y = 0;  // bottom row: 4, 7, 8 come back as 2, 5, 6
  trt9(i0[y], i1[y], i2[y], i3[y], i4[y], i5[y], i6[y], i7[y], i8[y], k, o0, o1, o2, o3, o4, o5, o6, o7, o8);
  q0[y] = o0; q1[y] = o1; q3[y] = o3; q2[y + 1] = o2; q5[y + 1] = o5; q6[y + 1] = o6;
  own[2][y] = o4; own[5][y] = o7; own[6][y] = o8;
#pragma omp simd
  for (y = 1; y < ny - 1; ++y) {
    trt9(i0[y], i1[y], i2[y], i3[y], i4[y], i5[y], i6[y], i7[y], i8[y], k, o0, o1, o2, o3, o4, o5, o6, o7, o8);
    q0[y] = o0; q1[y] = o1; q2[y + 1] = o2; q3[y] = o3; q4[y - 1] = o4;
    q5[y + 1] = o5; q6[y + 1] = o6; q7[y - 1] = o7; q8[y - 1] = o8;
  }
  y = ny - 1;  // top row: 2, 5, 6 come back as 4, 7, 8
  trt9(i0[y], i1[y], i2[y], i3[y], i4[y], i5[y], i6[y], i7[y], i8[y], k, o0, o1, o2, o3, o4, o5, o6, o7, o8);
  q0[y] = o0; q1[y] = o1; q3[y] = o3; q4[y - 1] = o4; q7[y - 1] = o7; q8[y - 1] = o8;
  own[4][y] = o2; own[7][y] = o5; own[8][y] = o6;
}

// The bulk with the walls: one pass, rows split evenly over the threads (each dst value written once).
static void sweep_walls(const float* src, float* dst, int64_t nx, int64_t ny, const Coef9& k, int threads) {
  const int64_t n = nx * ny;
  using L = Lat<9>;
#pragma omp parallel for schedule(static) num_threads(threads)
  for (int64_t x = 0; x < nx; ++x) {
    const float* in[9];
    float *out[9], *own[9];
    for (int i = 0; i < 9; ++i) {
      in[i] = src + i * n + x * ny;
      out[i] = dst + i * n + wrap(x + L::c[i][0], nx) * ny;
      own[i] = dst + i * n + x * ny;
    }
    push_row_walls(in, out, own, ny, k);
  }
}

// links: (5, 9, wx, wy) = mask (0/1), a, b, c, jet of lbm.BodyLinks; solid: (wx, wy) 0/1.
static ffi::Error channel(ffi::Buffer<ffi::F32> f, ffi::Buffer<ffi::F32> inlet, ffi::Buffer<ffi::F32> amplitude,
                          ffi::Buffer<ffi::F32> links, ffi::Buffer<ffi::F32> solid,
                          ffi::ResultBuffer<ffi::F32> out, ffi::ResultBuffer<ffi::F32> forces,
                          float om_p, float om_m, int64_t x0, int64_t y0, float rho_out, int64_t characteristic,
                          float u_ref, int64_t threads) {
  using L = Lat<9>;
  auto dims = f.dimensions();
  const int64_t nx = dims[1], ny = dims[2], n = nx * ny;
  auto wd = solid.dimensions();
  const int64_t wx = wd[0], wy = wd[1], wn = wx * wy;
  if (threads < 1) return ffi::Error::InvalidArgument("threads must be >= 1");
  if (x0 < 1 || x0 + wx > nx - 2 || y0 < 0 || y0 + wy > ny || ny < 3)
    return ffi::Error::InvalidArgument("the body's link window must lie inside columns 1..nx-3 (and ny >= 3)");
  const float* src = f.typed_data();
  float* dst = out->typed_data();
  const Coef9 k = coef9(om_p, om_m);
  sweep_walls(src, dst, nx, ny, k, int(threads));

  // 1. body: f_opp(i)(x) = a f*_i(x) + b f_i(x) + c f*_opp(i)(x) + amp jet, read before any write
  const float amp = amplitude.typed_data()[0];
  const float* mask = links.typed_data();
  const float *A = mask + 9 * wn, *B = mask + 18 * wn, *Cc = mask + 27 * wn, *J = mask + 36 * wn;
  const float* sol = solid.typed_data();
  double fx = 0.0, fy = 0.0, injected = 0.0;
  for (int64_t lx = 0; lx < wx; ++lx) {
    for (int64_t ly = 0; ly < wy; ++ly) {
      const int64_t w = lx * wy + ly, cell = (x0 + lx) * ny + (y0 + ly);
      if (sol[w] != 0.f) {
        for (int i = 0; i < 9; ++i) dst[i * n + cell] = L::w[i];
        continue;
      }
      bool any = false;
      for (int i = 1; i < 9; ++i) any |= mask[i * wn + w] != 0.f;
      if (!any) continue;
      float post[9], val[9], streamed[9];
      post9(src, n, cell, k, post);
      for (int i = 0; i < 9; ++i) streamed[i] = dst[i * n + cell];
      for (int i = 1; i < 9; ++i) {
        if (mask[i * wn + w] == 0.f) continue;
        const int b = L::opp[i];
        const float source = amp * J[i * wn + w];
        val[i] = A[i * wn + w] * post[i] + B[i * wn + w] * streamed[i] + Cc[i * wn + w] * post[b] + source;
        const double exchanged = double(post[i]) + double(val[i]);
        fx += L::c[i][0] * exchanged; fy += L::c[i][1] * exchanged; injected += source;
      }
      for (int i = 1; i < 9; ++i)
        if (mask[i * wn + w] != 0.f) dst[L::opp[i] * n + cell] = val[i];
    }
  }
  // 2. the walls acted in the sweep: the body's links and solid cells never touch rows 0 and ny-1
  // 3. outlet (column nx-1): equilibrium at (rho_out, u of column nx-2) plus that column's non-equilibrium;
  // characteristic: rho_out = 1 + (mean u_x of column nx-2 - u_ref) / c_s (the outgoing plane wave)
  std::vector<float> rho_c(ny), ux_c(ny), uy_c(ny);
  double ux_sum = 0.0;
  for (int64_t y = 0; y < ny; ++y) {
    const int64_t g = (nx - 2) * ny + y;
    float q[9];
    for (int i = 0; i < 9; ++i) q[i] = dst[i * n + g];
    const float rho = q[0] + q[1] + q[2] + q[3] + q[4] + q[5] + q[6] + q[7] + q[8];
    rho_c[y] = rho;
    ux_c[y] = (q[1] - q[3] + q[5] - q[6] - q[7] + q[8]) / rho;
    uy_c[y] = (q[2] - q[4] + q[5] + q[6] - q[7] - q[8]) / rho;
    ux_sum += ux_c[y];
  }
  if (characteristic) rho_out = 1.f + (float(ux_sum / double(ny)) - u_ref) / std::sqrt(1.f / 3.f);
  for (int64_t y = 0; y < ny; ++y) {
    const int64_t g = (nx - 2) * ny + y, o = (nx - 1) * ny + y;
    const float ux = ux_c[y], uy = uy_c[y], usq = 1.5f * (ux * ux + uy * uy);
    for (int i : {3, 6, 7}) {
      const float cu = 3.f * (L::c[i][0] * ux + L::c[i][1] * uy);
      dst[i * n + o] = dst[i * n + g] + (rho_out - rho_c[y]) * (L::w[i] * (1.f + cu + 0.5f * cu * cu - usq));
    }
  }
  // 4. Zou-He velocity inlet on column 0 with u = (inlet(y), 0)
  const float* uin = inlet.typed_data();
  for (int64_t y = 0; y < ny; ++y) {
    float q[9];
    for (int i = 0; i < 9; ++i) q[i] = dst[i * n + y];
    const float ux = uin[y];
    const float rho = (q[0] + q[2] + q[4] + 2.f * (q[3] + q[6] + q[7])) / (1.f - ux);
    const float dy = 0.5f * (q[2] - q[4]);
    dst[1 * n + y] = q[3] + (2.f / 3.f) * rho * ux;
    dst[5 * n + y] = q[7] - dy + (1.f / 6.f) * rho * ux;
    dst[8 * n + y] = q[6] + dy + (1.f / 6.f) * rho * ux;
  }
  float* fo = forces->typed_data();
  fo[0] = float(fx); fo[1] = float(fy); fo[2] = float(injected);
  return ffi::Error::Success();
}

XLA_FFI_DEFINE_HANDLER_SYMBOL(AtomLbmChannelD2Q9, channel, ffi::Ffi::Bind()
    .Arg<ffi::Buffer<ffi::F32>>().Arg<ffi::Buffer<ffi::F32>>().Arg<ffi::Buffer<ffi::F32>>()
    .Arg<ffi::Buffer<ffi::F32>>().Arg<ffi::Buffer<ffi::F32>>()
    .Ret<ffi::Buffer<ffi::F32>>().Ret<ffi::Buffer<ffi::F32>>()
    .Attr<float>("omega_p").Attr<float>("omega_m").Attr<int64_t>("x0").Attr<int64_t>("y0")
    .Attr<float>("rho_out").Attr<int64_t>("characteristic").Attr<float>("u_ref").Attr<int64_t>("threads"));
"""

_TARGET = ("atom_lbm_channel_d2q9", "AtomLbmChannelD2Q9")
_lock = threading.Lock()
_state: dict[str, object] = {}


def _source() -> str:
    return lbm_native._SOURCE + _CHANNEL_SOURCE


def load() -> None:
    """Build (once, with ``lbm_native``'s flags and cache) and register the FFI target; raises RuntimeError."""
    lbm_native.load_library(_state, _lock, _source(), "lbm_channel", "the native channel kernel", (_TARGET,))


def available() -> bool:
    """True when the channel kernel compiled and registered on this machine."""
    return lbm_native.loads(load)


def link_table(links: Any) -> tuple[jax.Array, jax.Array]:
    """``lbm.BodyLinks`` as the kernel takes them: (5, 9, wx, wy) mask/a/b/c/jet and the (wx, wy) solid, float32."""
    table = jnp.stack([jnp.asarray(links.mask, jnp.float32), *(jnp.asarray(v, jnp.float32)
                                                                for v in (links.a, links.b, links.c, links.jet))])
    return table, jnp.asarray(links.solid, jnp.float32)


def channel_update(f: jax.Array, inlet_ux: jax.Array, amplitude: jax.Array, table: jax.Array, solid: jax.Array,
                   origin: tuple[int, int], omega_p: float, omega_m: float, rho_out: float = 1.0,
                   u_ref: float | None = None, threads: int | None = None) -> tuple[jax.Array, jax.Array]:
    """One channel update of a float32 (9, nx, ny) state; returns (f, [F_x, F_y, injected mass]).

    The outlet anchors the density at ``rho_out`` (``lbm.outflow_extrapolated``), or, given ``u_ref``,
    at the outgoing characteristic 1 + (mean u_x - u_ref) / c_s (``st_channel.outflow_characteristic``).
    """
    if f.dtype != np.float32 or f.ndim != 3 or f.shape[0] != 9:
        raise ValueError(f"the native channel kernel takes a float32 (9, nx, ny) state, got {f.dtype} {f.shape}")
    n = lbm_native.default_threads() if threads is None else int(threads)
    if n < 1:
        raise ValueError(f"threads must be >= 1, got {threads}")
    load()
    call = jax.ffi.ffi_call(_TARGET[0], (jax.ShapeDtypeStruct(f.shape, f.dtype), jax.ShapeDtypeStruct((3,), f.dtype)),
                            vmap_method="sequential")
    return call(f, jnp.asarray(inlet_ux, jnp.float32), jnp.reshape(jnp.asarray(amplitude, jnp.float32), ()), table,
                solid, omega_p=np.float32(omega_p), omega_m=np.float32(omega_m), x0=np.int64(origin[0]),
                y0=np.int64(origin[1]), rho_out=np.float32(rho_out), characteristic=np.int64(u_ref is not None),
                u_ref=np.float32(0.0 if u_ref is None else u_ref), threads=np.int64(n))
