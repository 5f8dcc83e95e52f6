"""Native CPU kernels for periodic D2Q9 / D3Q19 (BGK and TRT), called from JAX via XLA FFI.

Why native code on the CPU: XLA's CPU backend emits the nine (or nineteen) periodic shifts of a
collide-stream update as concatenates, whose per-element operand selection defeats
vectorisation; no XLA restructuring measured here (pull streaming of a tuple of arrays,
ghost layers updated in place) reached a quarter of the copy bound (see ``lbm_fused``). A
C++ loop that reads a cell's populations once, collides in registers and pushes each
post-collision value straight to its neighbour's slot touches every population exactly once per
update - the 72 B/update assumed by the copy bound - and is vectorised by the compiler along
the contiguous (last) axis, with OpenMP threads over the first axis.

D2Q9 goes further, because a single pass at 512^2 is limited by its arithmetic as much as by
memory (9 read and 9 write streams plus about 110 vector operations per 16 cells):

* the TRT collision is folded into per-call coefficients and pair sums/differences (about 60
  operations, most of them fused multiply-adds: ``-ffp-contract=fast``; the result still
  matches the reference to float32 round-off, 5e-7 after 12 updates against a 2e-6 tolerance);
* with AVX-512 and rows of a multiple of 16 cells, a row is collided 16 cells at a time (the
  same templated TRT as the scalar path, and bit-identical to it: 12 updates of 8 x 48 compared
  in a standalone build) and every load and store covers whole 64-byte blocks:
  the +-1 y shifts of populations 2 and 4-8 are made in registers (``valignd`` with the
  neighbouring 16 cells) instead of by stores that straddle two cache lines, and the periodic
  wrap is the carry from the row's last chunk into its first. Other rows, and CPUs without
  AVX-512, take an ``omp simd`` loop that starts on a 64-byte boundary and peels the edges;
* **temporal blocking**: ``time_block`` = K updates per sweep over memory. Each thread owns a
  block of rows and sweeps it once; the K-1 intermediate states live in private rings of four
  rows in its L2, and the K-1 rows a block shares with its neighbour are recomputed. Memory
  traffic is 72/K B per update; every cell runs the same arithmetic, so the result is
  bit-identical for every K and thread count (tested). :func:`default_time_block` picks the
  largest K <= 8 whose rings fit 1 MiB, with K-1 at most an eighth of a thread's rows.

Measured on the 2-core AMD EPYC (Zen 4, 2.6 GHz; L1d 32 KiB and L2 1 MiB per core, L3 32 MiB
shared; the 512^2 state is 9.4 MB and its two buffers, 18.9 MB, fit the L3, so the copy bound at
that size is an L3 bandwidth: 45 GB/s per core on a quiet machine, 16-30 GB per CPU-second when
other jobs share the L3), in a standalone harness, work per CPU-second as a share of a copy with
the same threads (wall time swings several-fold). At load 15-18, one thread: the original single
pass 50-58 %, folded TRT 60-66 %, K = 4 blocking 80-93 %. At load 8-12 (session 27): the
compute-bound rate (16 x 512, in the L2, one thread, one pass) went from 610-630 to 850 MLUPS per
CPU-second with the aligned 16-cell row; 512^2 with 2 threads, K = 4: 305-408 before, 446-551
after; K = 8: 552-636 (K = 12, rings 0.8 MB: 650-665, a small further gain; at 64 x 512 K = 8
lost 10 % to K = 4, the recomputed edge rows). Tried and not kept: a reciprocal estimate
(``rcp14`` and one Newton step) instead of the division (849 against 847 MLUPS per CPU-second),
the TRT in momentum form with 5 of its 20 multiplies removed (850-869 against 847-872: the
multiply pipes are not the limit), spinning OpenMP barriers (``OMP_WAIT_POLICY=ACTIVE`` at load
9: the copy fell from 545-650 to 19-42 MLUPS-equivalent, K = 8 from 615-680 to 106-162),
pull instead of push streaming (44-52 %, unaligned loads), rows of the nine populations
interleaved in memory (no gain), software prefetch of the next rows (no gain), 256-bit vectors
(K = 4: 64 % against 81 % with 512-bit), ``-ffast-math`` (no gain), more blocks than threads with
dynamic scheduling (no gain; the shared rows cost more). The in-place AA pattern would halve the
footprint but not the traffic and needs input/output aliasing of the FFI buffers; the 512^2
state already fits the L3, so it was not pursued. Non-temporal stores help only past the L3,
which this size is not. Transparent huge pages are in ``madvise`` mode here, so XLA's buffers, the
kernel's and the copy bound's, use 4 KiB pages; a copy between ``madvise(MADV_HUGEPAGE)`` buffers
ran about 40 % faster per CPU-second while the kernel did not change, so on a machine that backs
XLA's buffers with huge pages the share of the copy bound would be lower. The figures through
JAX, against the bound that ``atom bench worlds`` measures, are in ``lbm_fused``.

The source is compiled once per machine with the system C++ compiler (``g++``/``c++``, found
on ``$CXX`` or ``PATH``) with ``-march=native`` into ``$XDG_CACHE_HOME/atom-sdk/lbm``, under a
name keyed by the source, flags, compiler, jax version and the CPU's model and instruction-set
flags (a library built for one CPU is never loaded on another), and registered as an XLA FFI
target, so the call works under jit (not under grad), and ``vmap`` runs it sequentially.
Without a compiler :func:`available` is False and callers use the XLA path.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import platform
import shutil
import subprocess
import threading
from pathlib import Path
from typing import Callable

import jax
import numpy as np

_SOURCE = r"""
#include <cstdint>
#include <cstdlib>
#include <algorithm>
#include <cstring>
#include <memory>
#include <vector>
#include <omp.h>
#include "xla/ffi/api/ffi.h"
namespace ffi = xla::ffi;

template <int Q> struct Lat;
template <> struct Lat<9> {
  static constexpr int D = 2;
  static constexpr int c[9][3] = {{0,0,0},{1,0,0},{0,1,0},{-1,0,0},{0,-1,0},{1,1,0},{-1,1,0},{-1,-1,0},{1,-1,0}};
  static constexpr int opp[9] = {0,3,4,1,2,7,8,5,6};
  static constexpr float w[9] = {4.f/9,1.f/9,1.f/9,1.f/9,1.f/9,1.f/36,1.f/36,1.f/36,1.f/36};
};
template <> struct Lat<19> {
  static constexpr int D = 3;
  static constexpr int c[19][3] = {{0,0,0},{1,0,0},{-1,0,0},{0,1,0},{0,-1,0},{0,0,1},{0,0,-1},
    {1,1,0},{-1,-1,0},{1,-1,0},{-1,1,0},{1,0,1},{-1,0,-1},{1,0,-1},{-1,0,1},{0,1,1},{0,-1,-1},{0,1,-1},{0,-1,1}};
  static constexpr int opp[19] = {0,2,1,4,3,6,5,8,7,10,9,12,11,14,13,16,15,18,17};
  static constexpr float w[19] = {1.f/3,1.f/18,1.f/18,1.f/18,1.f/18,1.f/18,1.f/18,
    1.f/36,1.f/36,1.f/36,1.f/36,1.f/36,1.f/36,1.f/36,1.f/36,1.f/36,1.f/36,1.f/36,1.f/36};
};

// One cell: read f_i at offset k of every population plane, collide (TRT; BGK when
// om_m == om_p) in the reference's pairwise form, push f*_i to the plane offset dst_off[i] + k.
template <int Q>
static inline void cell(const float* __restrict src, float* __restrict dst, int64_t n, int64_t k,
                        const int64_t* dst_off, float om_p, float om_m) {
  using L = Lat<Q>;
  float f[Q];
  float rho = 0.f, jx = 0.f, jy = 0.f, jz = 0.f;
#pragma GCC unroll 32
  for (int i = 0; i < Q; ++i) {
    f[i] = src[i * n + k];
    rho += f[i];
    jx += L::c[i][0] * f[i]; jy += L::c[i][1] * f[i]; jz += L::c[i][2] * f[i];
  }
  const float inv = 1.f / rho, ux = jx * inv, uy = jy * inv, uz = jz * inv;
  const float usq = 1.5f * (ux * ux + uy * uy + uz * uz);
  float cu[Q];
#pragma GCC unroll 32
  for (int i = 0; i < Q; ++i) cu[i] = 3.f * (L::c[i][0] * ux + L::c[i][1] * uy + L::c[i][2] * uz);
  dst[dst_off[0] + k] = f[0] - om_p * (f[0] - L::w[0] * rho * (1.f - usq));
  // each opposite pair (i, b) once: relax its even and odd parts, then recombine
#pragma GCC unroll 32
  for (int i = 1; i < Q; ++i) {
    const int b = L::opp[i];
    if (b < i) continue;
    const float even_eq = L::w[i] * rho * (1.f + 0.5f * cu[i] * cu[i] - usq);
    const float odd_eq = L::w[i] * rho * cu[i];
    float even = 0.5f * (f[i] + f[b]), odd = 0.5f * (f[i] - f[b]);
    even -= om_p * (even - even_eq);
    odd -= om_m * (odd - odd_eq);
    dst[dst_off[i] + k] = even + odd;
    dst[dst_off[b] + k] = even - odd;
  }
}

// One periodic D3Q19 update src -> dst on an (nx, ny, nz) box, z contiguous.
template <int Q>
static void update(const float* src, float* dst, int64_t nx, int64_t ny, int64_t nz, float om_p, float om_m,
                   int threads) {
  using L = Lat<Q>;
  const int64_t n = nx * ny * nz;
#pragma omp parallel for schedule(dynamic, 4) collapse(2) num_threads(threads)
  for (int64_t x = 0; x < nx; ++x) {
    for (int64_t y = 0; y < ny; ++y) {
      int64_t base[Q];
      for (int i = 0; i < Q; ++i) {
        const int64_t xd = (x + L::c[i][0] + nx) % nx, yd = (y + L::c[i][1] + ny) % ny;
        base[i] = i * n + (xd * ny + yd) * nz;
      }
      const int64_t row = (x * ny + y) * nz;
      int64_t off[Q];
      // z runs contiguously: the first and last z wrap, the rest vectorise with fixed offsets
      for (int64_t z = 0; z < nz; z += (nz > 1 ? nz - 1 : 1)) {
        for (int i = 0; i < Q; ++i) off[i] = base[i] + (z + L::c[i][2] + nz) % nz - row - z;
        cell<Q>(src, dst, n, row + z, off, om_p, om_m);
      }
      for (int i = 0; i < Q; ++i) off[i] = base[i] + L::c[i][2] - row;
#pragma omp simd
      for (int64_t z = 1; z < nz - 1; ++z) cell<Q>(src, dst, n, row + z, off, om_p, om_m);
    }
  }
}

// ---- D2Q9: a row primitive, used one update per sweep or K updates per sweep (temporal blocking) ----
// TRT (BGK when om_m == om_p) with the relaxation folded into per-call coefficients, so that the
// cell costs about 60 vector operations (fused multiply-adds) instead of about 110:
//   even' = (1-om_p)/2 (f_a+f_b) + om_p w rho (1 + 4.5 u_c^2 - 1.5 |u|^2)
//   odd'  = (1-om_m)/2 (f_a-f_b) + om_m w 3 rho u_c,     f*_a = even' + odd',  f*_b = even' - odd'
struct Coef9 { float hp0, ap0, hp, hm, ap1, ap2, bp1, bp2, cm1, cm2; };
static Coef9 coef9(float op, float om) {
  return Coef9{1.f - op, op * 4.f / 9, 0.5f * (1.f - op), 0.5f * (1.f - om), op / 9, op / 36,
               op * 4.5f / 9, op * 4.5f / 36, om * 3.f / 9, om * 3.f / 36};
}
// T is float (scalar and `omp simd` loops) or a 16-float vector (the AVX-512 row below): one
// definition of the arithmetic for both.
template <class T>
static inline __attribute__((always_inline)) void pair9(T fa, T fb, T u, T A, T B, T Cm, const Coef9& k, T& oa, T& ob) {
  const T en = k.hp * (fa + fb) + (B * (u * u) + A), on = k.hm * (fa - fb) + Cm * u;
  oa = en + on; ob = en - on;
}
template <class T>
static inline __attribute__((always_inline)) void trt9_t(T f0, T f1, T f2, T f3, T f4, T f5, T f6, T f7, T f8,
                                                         const Coef9& k, T& o0, T& o1, T& o2, T& o3, T& o4, T& o5,
                                                         T& o6, T& o7, T& o8) {
  const T d13 = f1 - f3, d24 = f2 - f4, d57 = f5 - f7, d68 = f6 - f8;
  const T rho = f0 + ((f1 + f3) + (f2 + f4) + ((f5 + f7) + (f6 + f8)));
  const T inv = 1.f / rho, ux = (d13 + (d57 - d68)) * inv, uy = (d24 + (d57 + d68)) * inv;
  const T r1 = rho - 1.5f * rho * (ux * ux + uy * uy);
  const T A1 = k.ap1 * r1, A2 = k.ap2 * r1, B1 = k.bp1 * rho, B2 = k.bp2 * rho, C1 = k.cm1 * rho, C2 = k.cm2 * rho;
  o0 = k.hp0 * f0 + k.ap0 * r1;
  pair9<T>(f1, f3, ux, A1, B1, C1, k, o1, o3);
  pair9<T>(f2, f4, uy, A1, B1, C1, k, o2, o4);
  pair9<T>(f5, f7, ux + uy, A2, B2, C2, k, o5, o7);
  pair9<T>(f6, f8, uy - ux, A2, B2, C2, k, o6, o8);
}
// D2Q9 order: 0 rest, 1 +x, 2 +y, 3 -x, 4 -y, 5 (+,+), 6 (-,+), 7 (-,-), 8 (+,-); pairs (1,3) (2,4) (5,7) (6,8).
// Scalars in and out (no arrays): GCC vectorises an `omp simd` loop over this only then.
#define ATOM_F9 float f0, float f1, float f2, float f3, float f4, float f5, float f6, float f7, float f8
#define ATOM_O9 float& o0, float& o1, float& o2, float& o3, float& o4, float& o5, float& o6, float& o7, float& o8
static inline __attribute__((always_inline)) void trt9(ATOM_F9, const Coef9& k, ATOM_O9) {
  trt9_t<float>(f0, f1, f2, f3, f4, f5, f6, f7, f8, k, o0, o1, o2, o3, o4, o5, o6, o7, o8);
}

#if defined(__AVX512F__)
#include <immintrin.h>
#define ATOM_ROW16 1
typedef float atom_v16 __attribute__((vector_size(64)));
// Collide the 16 cells [y, y + 16) of a row into o[0..8].
static inline __attribute__((always_inline)) void trt16(const float* const* in, int64_t y, const Coef9& k, atom_v16* o) {
  atom_v16 f[9];
  for (int i = 0; i < 9; ++i) f[i] = (atom_v16)_mm512_loadu_ps(in[i] + y);
  trt9_t<atom_v16>(f[0], f[1], f[2], f[3], f[4], f[5], f[6], f[7], f[8], k, o[0], o[1], o[2], o[3], o[4], o[5], o[6],
                   o[7], o[8]);
}
// 16 lanes of a:b shifted by n: n = 15 gives (b[15], a[0..14]), n = 1 gives (b[1..15], a[0])
#define ATOM_ALIGNR(a, b, n) ((atom_v16)_mm512_alignr_epi32(_mm512_castps_si512((__m512)(a)), \
                                                            _mm512_castps_si512((__m512)(b)), n))
// push_row9 for ny % 16 == 0, 16 cells at a time: every load and store covers whole 64-byte
// blocks of the rows, the +-1 y shifts of populations 2, 4-8 are made in registers from the
// neighbouring chunk instead of by stores that straddle two cache lines, and the periodic wrap
// in y is the carry from the row's last chunk (collided first) into its first.
static void push_row9_16(const float* const* in, float* const* out, int64_t ny, const Coef9& kk) {
  const Coef9 k = kk;  // a local copy: the stores cannot alias it, so the coefficients stay in registers
  const int64_t nc = ny / 16;
  atom_v16 last[9], prev[9], cur[9];
  trt16(in, ny - 16, k, last);
  for (int i = 0; i < 9; ++i) prev[i] = last[i];
  for (int64_t j = 0; j < nc; ++j) {
    const int64_t y = 16 * j, ym = 16 * (j == 0 ? nc - 1 : j - 1);
    if (j == nc - 1) { for (int i = 0; i < 9; ++i) cur[i] = last[i]; } else trt16(in, y, k, cur);
    for (int i : {0, 1, 3}) _mm512_storeu_ps(out[i] + y, (__m512)cur[i]);        // c_iy = 0
    for (int i : {2, 5, 6}) _mm512_storeu_ps(out[i] + y, (__m512)ATOM_ALIGNR(cur[i], prev[i], 15));   // +1
    for (int i : {4, 7, 8}) _mm512_storeu_ps(out[i] + ym, (__m512)ATOM_ALIGNR(cur[i], prev[i], 1));   // -1
    for (int i = 0; i < 9; ++i) prev[i] = cur[i];
  }
}
#endif

// Collide one row (in[i]: population i of the row) and push population i to out[i] (the row
// x + c_ix) at y + c_iy, periodic in y; the interior is one SIMD loop over the contiguous y.
static void push_row9(const float* const* in, float* const* out, int64_t ny, const Coef9& k) {
  const float *__restrict i0 = in[0], *__restrict i1 = in[1], *__restrict i2 = in[2], *__restrict i3 = in[3],
              *__restrict i4 = in[4], *__restrict i5 = in[5], *__restrict i6 = in[6], *__restrict i7 = in[7],
              *__restrict i8 = in[8];
  float *__restrict q0 = out[0], *__restrict q1 = out[1], *__restrict q2 = out[2], *__restrict q3 = out[3],
        *__restrict q4 = out[4], *__restrict q5 = out[5], *__restrict q6 = out[6], *__restrict q7 = out[7],
        *__restrict q8 = out[8];
  auto edge = [&](int64_t y, int64_t ym, int64_t yp) {
    float o0, o1, o2, o3, o4, o5, o6, o7, o8;
    trt9(i0[y], i1[y], i2[y], i3[y], i4[y], i5[y], i6[y], i7[y], i8[y], k, o0, o1, o2, o3, o4, o5, o6, o7, o8);
    q0[y] = o0; q1[y] = o1; q2[yp] = o2; q3[y] = o3; q4[ym] = o4; q5[yp] = o5; q6[yp] = o6; q7[ym] = o7; q8[ym] = o8;
  };
  auto interior = [&](int64_t lo, int64_t hi) {
#pragma omp simd
    for (int64_t y = lo; y < hi; ++y) {
      float o0, o1, o2, o3, o4, o5, o6, o7, o8;
      trt9(i0[y], i1[y], i2[y], i3[y], i4[y], i5[y], i6[y], i7[y], i8[y], k, o0, o1, o2, o3, o4, o5, o6, o7, o8);
      q0[y] = o0; q1[y] = o1; q2[y + 1] = o2; q3[y] = o3; q4[y - 1] = o4;
      q5[y + 1] = o5; q6[y + 1] = o6; q7[y - 1] = o7; q8[y - 1] = o8;
    }
  };
#ifdef ATOM_ROW16
  if (ny % 16 == 0) { push_row9_16(in, out, ny, k); return; }
#endif
  if (ny == 1) { edge(0, 0, 0); return; }
  edge(0, ny - 1, 1);
  // the main loop starts on a 64-byte boundary of the rows (the loads are then aligned)
  const int64_t split = std::min<int64_t>(ny - 1, 16);
  interior(1, split);
  interior(split, ny - 1);
  edge(ny - 1, ny - 2, 0);
}

static inline int64_t wrap(int64_t x, int64_t n) { x %= n; return x < 0 ? x + n : x; }

// 64-byte aligned, uninitialised float storage (std::vector would zero it on every call)
struct AlignedBuffer {
  float* data;
  explicit AlignedBuffer(size_t count)
      : data(count ? static_cast<float*>(std::aligned_alloc(64, (count * sizeof(float) + 63) / 64 * 64)) : nullptr) {}
  ~AlignedBuffer() { std::free(data); }
  AlignedBuffer(const AlignedBuffer&) = delete;
  AlignedBuffer& operator=(const AlignedBuffer&) = delete;
};

// K periodic updates src -> dst in one sweep over memory (temporal blocking; K = 1 is the plain
// single pass). Thread t owns the final rows [x0, x1); level l (0 = src, K = dst) keeps the rows
// [x0-(K-l), x1+(K-l)) it needs in a private ring of 4 rows, so the K-1 intermediate states never
// leave the thread's L2; a thread recomputes the K-1 rows it shares with each neighbour. Level l
// row r is complete once level l-1 row r+1 has been pushed, which is the order of the sweep.
static inline int64_t ring_stride(int64_t ny) { return (ny + 15) / 16 * 16; }  // rows on 64-byte boundaries
static size_t ring_floats(int64_t ny, int K) { return K > 1 ? size_t(K - 1) * 4 * 9 * ring_stride(ny) : 0; }

// `rings` holds ring_floats(ny, K) floats for each of `threads` threads.
static void sweep9(const float* src, float* dst, int64_t nx, int64_t ny, int K, const Coef9& k, int threads,
                   float* rings) {
  const int64_t n = nx * ny, stride = ring_stride(ny);
  using L = Lat<9>;
#pragma omp parallel num_threads(threads)
  {
    const int64_t T = omp_get_num_threads(), t = omp_get_thread_num();
    const int64_t x0 = nx * t / T, x1 = nx * (t + 1) / T;
    float* ring = rings + size_t(t) * ring_floats(ny, K);
    auto slot = [&](int l, int64_t r) { return ring + (size_t(l - 1) * 4 + size_t(wrap(r, 4))) * 9 * stride; };
    const float* in[9];
    float* out[9];
    for (int64_t p = x0 - (K - 1); p <= x1 + K - 2; ++p) {
      for (int l = 0; l < K; ++l) {
        const int64_t r = p - l;
        if (r < x0 - (K - 1 - l) || r >= x1 + (K - 1 - l)) continue;
        for (int i = 0; i < 9; ++i) {
          in[i] = l == 0 ? src + i * n + wrap(r, nx) * ny : slot(l, r) + i * stride;
          out[i] = l == K - 1 ? dst + i * n + wrap(r + L::c[i][0], nx) * ny : slot(l + 1, r + L::c[i][0]) + i * stride;
        }
        push_row9(in, out, ny, k);
      }
    }
  }
}

// The copy bound with the same threads, partition and buffers as the kernel: dst = src * s.
static void copy_pass(const float* __restrict src, float* __restrict dst, int64_t total, float s, int threads) {
#pragma omp parallel for schedule(static) num_threads(threads)
  for (int64_t i = 0; i < total; ++i) dst[i] = src[i] * s;
}

// `steps` updates (Q = 9: in sweeps of `block` updates; Q = 19: one per pass), ping-ponging
// between the result and one scratch buffer so that the last pass lands in the result.
template <int Q>
static ffi::Error run(ffi::Buffer<ffi::F32> f, ffi::ResultBuffer<ffi::F32> out, int64_t steps, float om_p,
                      float om_m, int64_t threads, int64_t block) {
  auto dims = f.dimensions();
  const int64_t nx = dims[1], ny = dims[2], nz = (Q == 19) ? dims[3] : 1;
  const int64_t total = f.element_count();
  float* res = out->typed_data();
  if (steps <= 0) { std::memcpy(res, f.typed_data(), total * sizeof(float)); return ffi::Error::Success(); }
  if (threads < 1 || block < 1) return ffi::Error::InvalidArgument("threads and time_block must be >= 1");
  const int64_t K = (Q == 9) ? block : 1, passes = (steps + K - 1) / K;
  AlignedBuffer tmp(passes > 1 ? size_t(total) : 0);
  AlignedBuffer rings(Q == 9 ? size_t(threads) * ring_floats(ny, int(K)) : 0);
  if ((passes > 1 && !tmp.data) || (Q == 9 && K > 1 && !rings.data))
    return ffi::Error(ffi::ErrorCode::kResourceExhausted, "out of memory for the LBM kernel's scratch buffers");
  const float* src = f.typed_data();
  const Coef9 k = coef9(om_p, om_m);
  for (int64_t j = 1, done = 0; j <= passes; ++j) {
    float* dst = ((passes - j) % 2 == 0) ? res : tmp.data;
    const int64_t kk = std::min(K, steps - done);
    if (Q == 9) sweep9(src, dst, nx, ny, int(kk), k, int(threads), rings.data);
    else update<Q>(src, dst, nx, ny, nz, om_p, om_m, int(threads));
    done += kk;
    src = dst;
  }
  return ffi::Error::Success();
}

// `steps` copies of the state (the same ping-pong and threads as `run`): the copy bound.
static ffi::Error copy_bound(ffi::Buffer<ffi::F32> f, ffi::ResultBuffer<ffi::F32> out, int64_t steps, int64_t threads) {
  const int64_t total = f.element_count();
  float* res = out->typed_data();
  AlignedBuffer tmp(steps > 1 ? size_t(total) : 0);
  if (steps > 1 && !tmp.data) return ffi::Error(ffi::ErrorCode::kResourceExhausted, "out of memory for the copy");
  const float* src = f.typed_data();
  for (int64_t j = 1; j <= steps; ++j) {
    float* dst = ((steps - j) % 2 == 0) ? res : tmp.data;
    copy_pass(src, dst, total, 1.0f, int(threads));
    src = dst;
  }
  return ffi::Error::Success();
}

#define ATOM_LBM_BIND ffi::Ffi::Bind().Arg<ffi::Buffer<ffi::F32>>().Ret<ffi::Buffer<ffi::F32>>().Attr<int64_t>("steps") \
    .Attr<float>("omega_p").Attr<float>("omega_m").Attr<int64_t>("threads").Attr<int64_t>("time_block")
XLA_FFI_DEFINE_HANDLER_SYMBOL(AtomLbmD2Q9, run<9>, ATOM_LBM_BIND);
XLA_FFI_DEFINE_HANDLER_SYMBOL(AtomLbmD3Q19, run<19>, ATOM_LBM_BIND);
XLA_FFI_DEFINE_HANDLER_SYMBOL(AtomCopyF32, copy_bound, ffi::Ffi::Bind().Arg<ffi::Buffer<ffi::F32>>()
    .Ret<ffi::Buffer<ffi::F32>>().Attr<int64_t>("steps").Attr<int64_t>("threads"));
"""

_TARGETS = {9: ("atom_lbm_d2q9", "AtomLbmD2Q9"), 19: ("atom_lbm_d3q19", "AtomLbmD3Q19")}
_COPY_TARGET = ("atom_copy_f32", "AtomCopyF32")
# -march=native: the library is built on, and cached for, the machine that runs it (the cache key
# holds the CPU's model and flags); -ffp-contract=fast lets the folded TRT use fused multiply-adds
_FLAGS = ["-O3", "-march=native", "-ffp-contract=fast", "-fopenmp", "-shared", "-fPIC", "-std=c++17"]
#: intermediate rows a thread keeps per extra update of a sweep must stay in its L2: 4 rows x 9 planes
_RING_BYTES = 1 << 20
#: updates per sweep at most (512^2 on the 2-core EPYC: 8 against 4 gained 5-25 % per CPU-second)
_MAX_TIME_BLOCK = 8
_lock = threading.Lock()
_state: dict[str, object] = {}


def _cache_dir() -> Path:
    root = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(root) / "atom-sdk" / "lbm"


def _compiler() -> str | None:
    return os.environ.get("CXX") or shutil.which("g++") or shutil.which("c++")


def _cpu_signature() -> str:
    """The CPU model and instruction-set flags: a library built with -march=native runs only there."""
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return platform.processor()
    keep = [line for line in text.splitlines() if line.split(":")[0].strip() in ("model name", "flags", "Features")]
    return "\n".join(sorted(set(keep)))


def library_path(cxx: str, source: str, prefix: str) -> Path:
    """Cache path of a library: keyed by source, flags, compiler, CPU (model and flags) and jax version."""
    key = hashlib.sha256("|".join([source, *_FLAGS, cxx, platform.machine(), _cpu_signature(),
                                   jax.__version__]).encode()).hexdigest()[:16]
    return _cache_dir() / f"{prefix}_{key}.so"


def _library_path(cxx: str) -> Path:
    return library_path(cxx, _SOURCE, "lbm")


def compile_library(source: str, prefix: str, what: str) -> Path:
    """Compile ``source`` once per machine (see :func:`library_path`) and return the library's path."""
    cxx = _compiler()
    if cxx is None:
        raise RuntimeError(f"no C++ compiler on PATH (install g++ or set $CXX) for {what}")
    out = library_path(cxx, source, prefix)
    return out if out.exists() else build_library([cxx, *_FLAGS], source, out, ".cc", what)


def build_library(command: list[str], source: str, out: Path, suffix: str, what: str) -> Path:
    """Compile ``source`` with ``command`` (compiler and flags) into ``out``, atomically.

    The source and the partial library get per-process names, so concurrent first builds never share
    a file, and ``out`` appears only complete (``os.replace``)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    src = out.with_suffix(f".{os.getpid()}{suffix}")
    src.write_text(source, encoding="utf-8")
    tmp = out.with_suffix(f".{os.getpid()}.tmp")
    cmd = [*command, f"-I{jax.ffi.include_dir()}", str(src), "-o", str(tmp)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"compiling {what} failed ({' '.join(cmd)}):\n{proc.stderr[-3000:]}")
    os.replace(tmp, out)
    src.unlink(missing_ok=True)
    return out


def load_library(state: dict[str, object], lock: threading.Lock, source: str, prefix: str, what: str,
                 targets: tuple[tuple[str, str], ...]) -> None:
    """Build (once) and register ``targets`` (FFI name, symbol) on the CPU; the first failure is remembered in ``state``."""
    # sleeping (not spinning) OpenMP workers: on a shared machine a spinning barrier waits
    # on a descheduled thread; read by libgomp when the library loads
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    register_library(state, lock, lambda: compile_library(source, prefix, what), targets, "cpu")


def register_library(state: dict[str, object], lock: threading.Lock, build: Callable[[], Path],
                     targets: tuple[tuple[str, str], ...], platform: str, hint: str = "") -> None:
    """Load the library ``build`` returns (once per process) and register ``targets`` for ``platform``.

    The first failure is remembered in ``state`` and raised again, as RuntimeError with ``hint``
    appended (what runs instead), on every later call, so a missing compiler costs one attempt."""
    with lock:
        if "error" in state:
            raise RuntimeError(str(state["error"]))
        if "lib" in state:
            return
        try:
            lib = ctypes.cdll.LoadLibrary(str(build()))
            for name, symbol in targets:
                jax.ffi.register_ffi_target(name, jax.ffi.pycapsule(getattr(lib, symbol)), platform=platform)
        except (OSError, RuntimeError, AttributeError) as exc:
            state["error"] = RuntimeError(f"{exc}{hint}")
            raise state["error"] from exc
        state["lib"] = lib


def load() -> None:
    """Build (once) and register the FFI targets; raises RuntimeError with the reason on failure."""
    load_library(_state, _lock, _SOURCE, "lbm", "the native LBM kernels", (*_TARGETS.values(), _COPY_TARGET))


def loads(load_fn: Callable[[], None]) -> bool:
    """True when a native library's ``load_fn`` builds and registers it (it raises RuntimeError if not)."""
    try:
        load_fn()
    except RuntimeError:
        return False
    return True


def available() -> bool:
    """True when the native kernels compiled and registered on this machine."""
    return loads(load)


def default_threads() -> int:
    """OpenMP threads per call: $ATOM_LBM_THREADS, else the CPUs this process may run on."""
    value = os.environ.get("ATOM_LBM_THREADS")
    if value:
        return max(1, int(value))
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def default_time_block(ny: int, nx: int | None = None, threads: int | None = None) -> int:
    """Updates per sweep over memory: $ATOM_LBM_TIME_BLOCK, else the most (up to 8) whose rings fit 1 MiB.

    A thread keeps 4 rows x 9 populations x ny floats per extra update; past the L2 the
    intermediate rows would cost the memory traffic that blocking saves. Given ``nx`` (and
    ``threads``, default :func:`default_threads`), K - 1 is also kept to at most an eighth of a
    thread's rows: each thread recomputes (K - 1) / rows of the work at its block's edges.
    """
    value = os.environ.get("ATOM_LBM_TIME_BLOCK")
    if value:
        return max(1, int(value))
    ring_row = 4 * 9 * 4 * int(ny)
    block = min(_MAX_TIME_BLOCK, 1 + _RING_BYTES // max(ring_row, 1))
    if nx is not None:
        rows = int(nx) // max(default_threads() if threads is None else int(threads), 1)
        block = min(block, 1 + rows // 8)
    return max(1, block)


def run_periodic_native(f: jax.Array, steps: int, omega_p: float, omega_m: float,
                        threads: int | None = None, time_block: int | None = None) -> jax.Array:
    """``steps`` periodic collide-stream updates of a float32 (Q, nx, ny[, nz]) state on the CPU.

    ``time_block`` (D2Q9 only; default :func:`default_time_block`) is the number of updates made
    per sweep over memory; the result is bit-identical for every value. Runs on the host CPU
    only; traceable under jit, and vmap runs the batch one member at a time.
    """
    q = int(f.shape[0])
    if q not in _TARGETS or f.ndim != {9: 3, 19: 4}[q]:
        raise ValueError(f"native LBM kernels take (9, nx, ny) or (19, nx, ny, nz) states, got shape {f.shape}")
    if f.dtype != np.float32:
        raise ValueError(f"native LBM kernels are float32 only, got {f.dtype}; use backend='xla' for float64")
    if jax.default_backend() != "cpu":
        raise ValueError(f"the native LBM kernels run on the CPU only (default backend is {jax.default_backend()!r}); "
                         "use backend='xla' on an accelerator")
    n = default_threads() if threads is None else int(threads)
    if n < 1:
        raise ValueError(f"threads must be >= 1, got {threads}")
    block = default_time_block(int(f.shape[2]), int(f.shape[1]), n) if time_block is None else int(time_block)
    if block < 1:
        raise ValueError(f"time_block must be >= 1 (updates per sweep over memory), got {time_block}")
    load()
    call = jax.ffi.ffi_call(_TARGETS[q][0], jax.ShapeDtypeStruct(f.shape, f.dtype), vmap_method="sequential")
    return call(f, steps=np.int64(steps), omega_p=np.float32(omega_p), omega_m=np.float32(omega_m),
                threads=np.int64(n), time_block=np.int64(block))


def copy_native(x: jax.Array, repeats: int, threads: int | None = None) -> jax.Array:
    """``repeats`` float32 copies ``x * 1.0`` ping-ponging between two buffers, as the kernel does.

    The copy bound with the kernel's own threads, partition and buffers; returns ``x``'s values.
    """
    if x.dtype != np.float32:
        raise ValueError(f"the native copy is float32 only, got {x.dtype}")
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    load()
    n = default_threads() if threads is None else int(threads)
    call = jax.ffi.ffi_call(_COPY_TARGET[0], jax.ShapeDtypeStruct(x.shape, x.dtype), vmap_method="sequential")
    return call(x, steps=np.int64(repeats), threads=np.int64(max(n, 1)))
