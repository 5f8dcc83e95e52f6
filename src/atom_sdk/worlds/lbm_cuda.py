"""CUDA kernels for periodic D2Q9 / D3Q19 (BGK and TRT), called from JAX on an NVIDIA GPU via XLA FFI.

Why CUDA C++ behind XLA's FFI, and not Pallas, Warp or another XLA program: on an H200 the
pure-JAX reference reached about a fifth of the measured copy bound, while a plain CUDA kernel
(one thread per cell, structure of arrays) reaches over 90 % of it (issue 15's own measurement).
A periodic stencil needs every neighbour of a cell, across tile edges with wrap-around; Pallas
expresses blocks that do not overlap, so it would need halo copies (extra passes) or a gather,
and Warp would add a second runtime and its own memory pool beside XLA's. A kernel registered as
an FFI target runs on the stream XLA gives it, on XLA's own buffers, stays callable under jit,
and ``vmap`` runs a batch one member after another. The compiler is the one the GPU came with
(``nvcc``); without it :func:`available` is False and callers use the XLA path.

What one update does (the same arithmetic, in the same order, as the CPU kernel in
``lbm_native``): each thread owns one cell, reads its populations once, collides them in
registers (TRT in the reference's pairwise even/odd form; BGK when both rates are equal) and
writes each post-collision value once. Two streaming patterns, chosen by ``pattern``:

* ``push``: read the own cell (aligned, coalesced), write each value to the neighbour it moves to;
* ``pull``: read each value from the neighbour it comes from, write the own cell (aligned). Pull
  makes ``C(S(f))``; a first collide-only pass and a last stream-only pass turn ``n`` of them into
  the reference's ``(S C)^n`` (``S (C S)^(n-1) C``), so the result is the same to float32 round-off
  and the per-update traffic is the same 72 B (D2Q9) / 152 B (D3Q19) once ``n`` is large.

Both patterns touch each population exactly once per update: the bytes the copy bound assumes.

Measured on one NVIDIA H200 (2026-11-30, jax 0.11.2, nvcc 13.0, ``-arch=native``; ``atom bench worlds
--size 4096 --size3d 256 --steps 200 --numpy-steps 1``, best of 3 interleaved rounds; the copy bound is
the faster of a jitted XLA ``x*s`` (4.19 TB/s counting reads and writes) and this module's float4 copy
kernel (3.84 TB/s), on the state's own size; ``docs/measurements/h200_2026-11-30``):

==========================  ==================  ===============  ===================
case (float32, TRT)         MLUPS               of copy bound    x pure-JAX reference
==========================  ==================  ===============  ===================
D2Q9 4096^2, pull           54,273              93 %             4.95
D2Q9 4096^2, push           50,110              86 %             4.57
D2Q9 4096^2, reference      10,974              19 %             1
D3Q19 256^3, pull           22,468              83 %             3.94
D3Q19 256^3, push           20,565              76 %             3.60
D3Q19 256^3, reference      5,706               21 %             1
==========================  ==================  ===============  ===================

(BGK: the same to 0.1 %.) Pull is faster on both lattices, so it is the default. Before timing, the
device build matched the reference on 64 cases (both patterns, BGK and TRT, 0-7 updates, sizes that
are not multiples of the block) within 2.7e-7, ``vmap`` equalled single calls bit for bit, and every
output cell was written (``benchmarks/gpu_check_cuda.py``).
Threads run along the contiguous (last) axis, 128 per block, so each warp's 32 loads or stores of
one population cover 128 consecutive bytes; the +-1 shifts along that axis cost one extra 32 B
sector per warp, which the L2 absorbs. Which pattern is faster is measured by ``atom bench worlds``
on the device it runs on (both rows are reported); ``auto`` takes :data:`DEFAULT_PATTERN`.

The same per-cell function is compiled for the host too (``atom_lbm_cuda_host_update``; without
``__CUDACC__`` the source builds with the system C++ compiler), so a fast-tier test on any machine
checks the kernels' indexing, pass sequence and collision against the pure-JAX reference without a
GPU; on the GPU ``benchmarks/gpu_check_cuda.py`` checks the device build the same way.

The source is compiled once per machine into ``$XDG_CACHE_HOME/atom-sdk/lbm`` under a name keyed
by the source, flags, ``nvcc --version``, the jax version and the GPU's name (``-arch=native``
builds for the GPU present, e.g. sm_90 on Hopper).
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import shutil
import subprocess
import threading
from pathlib import Path

import jax
import numpy as np

from atom_sdk.worlds import lbm_native

#: the streaming pattern ``auto`` picks (see the module docstring); measured per device by the bench
DEFAULT_PATTERN = "pull"
PATTERNS = ("auto", "push", "pull")
#: threads per block along the contiguous axis
BLOCK = 128

_SOURCE = r"""
#include <cstdint>
#include <cstring>
#include <string>
#ifdef __CUDACC__
#include <cuda_runtime.h>
#include "xla/ffi/api/ffi.h"
namespace ffi = xla::ffi;
#else  // a plain C++ build of the per-cell code and the host entry point (tests without nvcc)
#define __host__
#define __device__
#define __forceinline__ inline
#define __restrict__ __restrict
#endif

// Lattice velocity of direction i along axis a of a (n0, n1, n2) state; D2Q9 states are (1, nx, ny).
template <int Q> __host__ __device__ constexpr int vel(int i, int a) {
  if constexpr (Q == 9) {
    constexpr int c[9][2] = {{0,0},{1,0},{0,1},{-1,0},{0,-1},{1,1},{-1,1},{-1,-1},{1,-1}};
    return a == 0 ? 0 : c[i][a - 1];
  } else {
    constexpr int c[19][3] = {{0,0,0},{1,0,0},{-1,0,0},{0,1,0},{0,-1,0},{0,0,1},{0,0,-1},
      {1,1,0},{-1,-1,0},{1,-1,0},{-1,1,0},{1,0,1},{-1,0,-1},{1,0,-1},{-1,0,1},{0,1,1},{0,-1,-1},{0,1,-1},{0,-1,1}};
    return c[i][a];
  }
}
template <int Q> __host__ __device__ constexpr int opp(int i) {
  if constexpr (Q == 9) {
    constexpr int o[9] = {0,3,4,1,2,7,8,5,6};
    return o[i];
  } else {
    constexpr int o[19] = {0,2,1,4,3,6,5,8,7,10,9,12,11,14,13,16,15,18,17};
    return o[i];
  }
}
template <int Q> __host__ __device__ constexpr float wgt(int i) {
  if constexpr (Q == 9) return i == 0 ? 4.f / 9 : (i < 5 ? 1.f / 9 : 1.f / 36);
  else return i == 0 ? 1.f / 3 : (i < 7 ? 1.f / 18 : 1.f / 36);
}

__host__ __device__ __forceinline__ int wrap(int x, int d, int n) {
  x += d;
  return x < 0 ? x + n : (x >= n ? x - n : x);
}

// One cell at (x0, x1, x2): gather (own cell, or PULL: from the upwind neighbours), collide unless
// !COLLIDE, scatter (own cell, or PUSH: to the downwind neighbours).
template <int Q, bool PULL, bool COLLIDE, bool PUSH>
__host__ __device__ __forceinline__ void update_cell(const float* __restrict__ src, float* __restrict__ dst,
    int n0, int n1, int n2, int x0, int x1, int x2, float om_p, float om_m) {
  const int64_t n = (int64_t)n0 * n1 * n2;
  const int64_t k = ((int64_t)x0 * n1 + x1) * n2 + x2;
  float f[Q];
#pragma unroll
  for (int i = 0; i < Q; ++i) {
    int64_t at = k;
    if (PULL) at = ((int64_t)wrap(x0, -vel<Q>(i, 0), n0) * n1 + wrap(x1, -vel<Q>(i, 1), n1)) * n2
                   + wrap(x2, -vel<Q>(i, 2), n2);
    f[i] = src[i * n + at];
  }
  if (COLLIDE) {
    float rho = 0.f, j0 = 0.f, j1 = 0.f, j2 = 0.f;
#pragma unroll
    for (int i = 0; i < Q; ++i) {
      rho += f[i];
      j0 += vel<Q>(i, 0) * f[i]; j1 += vel<Q>(i, 1) * f[i]; j2 += vel<Q>(i, 2) * f[i];
    }
    const float inv = 1.f / rho, u0 = j0 * inv, u1 = j1 * inv, u2 = j2 * inv;
    const float usq = 1.5f * (u0 * u0 + u1 * u1 + u2 * u2);
    f[0] = f[0] - om_p * (f[0] - wgt<Q>(0) * rho * (1.f - usq));
#pragma unroll
    for (int i = 1; i < Q; ++i) {
      const int b = opp<Q>(i);
      if (b < i) continue;
      const float cu = 3.f * (vel<Q>(i, 0) * u0 + vel<Q>(i, 1) * u1 + vel<Q>(i, 2) * u2);
      const float even_eq = wgt<Q>(i) * rho * (1.f + 0.5f * cu * cu - usq);
      const float odd_eq = wgt<Q>(i) * rho * cu;
      float even = 0.5f * (f[i] + f[b]), odd = 0.5f * (f[i] - f[b]);
      even -= om_p * (even - even_eq);
      odd -= om_m * (odd - odd_eq);
      f[i] = even + odd;
      f[b] = even - odd;
    }
  }
#pragma unroll
  for (int i = 0; i < Q; ++i) {
    int64_t at = k;
    if (PUSH) at = ((int64_t)wrap(x0, vel<Q>(i, 0), n0) * n1 + wrap(x1, vel<Q>(i, 1), n1)) * n2
                   + wrap(x2, vel<Q>(i, 2), n2);
    dst[i * n + at] = f[i];
  }
}

enum Pass { PUSH_CS = 0, PULL_CS = 1, COLLIDE_ONLY = 2, STREAM_ONLY = 3 };

#ifdef __CUDACC__
template <int Q, bool PULL, bool COLLIDE, bool PUSH>
__global__ void __launch_bounds__(128) update_kernel(const float* __restrict__ src, float* __restrict__ dst,
                                                     int n0, int n1, int n2, float om_p, float om_m) {
  const int x2 = blockIdx.x * blockDim.x + threadIdx.x;
  if (x2 < n2) update_cell<Q, PULL, COLLIDE, PUSH>(src, dst, n0, n1, n2, blockIdx.z, blockIdx.y, x2, om_p, om_m);
}

__global__ void copy_kernel(const float4* __restrict__ src, float4* __restrict__ dst, int64_t n4) {
  for (int64_t k = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; k < n4; k += (int64_t)gridDim.x * blockDim.x)
    dst[k] = src[k];
}

template <int Q>
static void launch(Pass pass, cudaStream_t s, const float* src, float* dst, int n0, int n1, int n2,
                   float om_p, float om_m) {
  const dim3 grid((n2 + 127) / 128, n1, n0), block(128);
  switch (pass) {
    case PUSH_CS: update_kernel<Q, false, true, true><<<grid, block, 0, s>>>(src, dst, n0, n1, n2, om_p, om_m); break;
    case PULL_CS: update_kernel<Q, true, true, false><<<grid, block, 0, s>>>(src, dst, n0, n1, n2, om_p, om_m); break;
    case COLLIDE_ONLY: update_kernel<Q, false, true, false><<<grid, block, 0, s>>>(src, dst, n0, n1, n2, om_p, om_m); break;
    case STREAM_ONLY: update_kernel<Q, true, false, false><<<grid, block, 0, s>>>(src, dst, n0, n1, n2, om_p, om_m); break;
  }
}

template <int Q>
static ffi::Error run(cudaStream_t stream, ffi::Buffer<ffi::F32> f, ffi::ResultBuffer<ffi::F32> out,
                      ffi::ResultBuffer<ffi::F32> scratch, int64_t steps, float om_p, float om_m, int64_t pull) {
  const auto dims = f.dimensions();
  const int n0 = Q == 9 ? 1 : (int)dims[1], n1 = (int)dims[Q == 9 ? 1 : 2], n2 = (int)dims[Q == 9 ? 2 : 3];
  const float* in = f.typed_data();
  float* bufs[2] = {out->typed_data(), scratch->typed_data()};
  if (steps > (int64_t)1 << 30) return ffi::Error::InvalidArgument("steps too large for one call");
  const int passes = (int)(pull && steps > 0 ? steps + 1 : steps);
  if (passes == 0) {
    cudaMemcpyAsync(bufs[0], in, f.size_bytes(), cudaMemcpyDeviceToDevice, stream);
  } else {
    // the last pass must land in `out`: start in `out` when the number of passes is odd
    int which = passes % 2 == 1 ? 0 : 1;
    const float* src = in;
    for (int p = 0; p < passes; ++p) {
      Pass pass = !pull ? PUSH_CS : (p == 0 ? COLLIDE_ONLY : (p == passes - 1 ? STREAM_ONLY : PULL_CS));
      launch<Q>(pass, stream, src, bufs[which], n0, n1, n2, om_p, om_m);
      src = bufs[which];
      which ^= 1;
    }
  }
  cudaError_t err = cudaGetLastError();
  if (err != cudaSuccess) return ffi::Error::Internal(std::string("LBM CUDA kernel: ") + cudaGetErrorString(err));
  return ffi::Error::Success();
}

static ffi::Error D2Q9Impl(cudaStream_t s, ffi::Buffer<ffi::F32> f, ffi::ResultBuffer<ffi::F32> out,
                           ffi::ResultBuffer<ffi::F32> scratch, int64_t steps, float om_p, float om_m, int64_t pull) {
  return run<9>(s, f, out, scratch, steps, om_p, om_m, pull);
}
static ffi::Error D3Q19Impl(cudaStream_t s, ffi::Buffer<ffi::F32> f, ffi::ResultBuffer<ffi::F32> out,
                            ffi::ResultBuffer<ffi::F32> scratch, int64_t steps, float om_p, float om_m, int64_t pull) {
  return run<19>(s, f, out, scratch, steps, om_p, om_m, pull);
}
static ffi::Error CopyImpl(cudaStream_t s, ffi::Buffer<ffi::F32> x, ffi::ResultBuffer<ffi::F32> out,
                           ffi::ResultBuffer<ffi::F32> scratch, int64_t repeats) {
  const int64_t n = (int64_t)x.element_count();
  float* bufs[2] = {out->typed_data(), scratch->typed_data()};
  int which = repeats % 2 == 1 ? 0 : 1;
  const float* src = x.typed_data();
  for (int64_t r = 0; r < repeats; ++r) {
    if (n % 4 == 0) copy_kernel<<<1056, 256, 0, s>>>((const float4*)src, (float4*)bufs[which], n / 4);
    else cudaMemcpyAsync(bufs[which], src, n * sizeof(float), cudaMemcpyDeviceToDevice, s);
    src = bufs[which];
    which ^= 1;
  }
  cudaError_t err = cudaGetLastError();
  if (err != cudaSuccess) return ffi::Error::Internal(std::string("copy kernel: ") + cudaGetErrorString(err));
  return ffi::Error::Success();
}

#define LBM_BIND ffi::Ffi::Bind().Ctx<ffi::PlatformStream<cudaStream_t>>().Arg<ffi::Buffer<ffi::F32>>() \
    .Ret<ffi::Buffer<ffi::F32>>().Ret<ffi::Buffer<ffi::F32>>()
XLA_FFI_DEFINE_HANDLER_SYMBOL(AtomLbmCudaD2Q9, D2Q9Impl,
    LBM_BIND.Attr<int64_t>("steps").Attr<float>("omega_p").Attr<float>("omega_m").Attr<int64_t>("pull"));
XLA_FFI_DEFINE_HANDLER_SYMBOL(AtomLbmCudaD3Q19, D3Q19Impl,
    LBM_BIND.Attr<int64_t>("steps").Attr<float>("omega_p").Attr<float>("omega_m").Attr<int64_t>("pull"));
XLA_FFI_DEFINE_HANDLER_SYMBOL(AtomLbmCudaCopy, CopyImpl, LBM_BIND.Attr<int64_t>("steps"));
#endif  // __CUDACC__

// The same passes on the host, one cell at a time (tests without a GPU): q = 9 or 19, dims (n0, n1, n2).
extern "C" int atom_lbm_cuda_host_update(int q, const float* in, float* out, float* scratch, int n0, int n1, int n2,
                                         int64_t steps, float om_p, float om_m, int64_t pull) {
  const int64_t n = (int64_t)n0 * n1 * n2 * q;
  const int passes = (int)(pull && steps > 0 ? steps + 1 : steps);
  if (passes == 0) { std::memcpy(out, in, n * sizeof(float)); return 0; }
  float* bufs[2] = {out, scratch};
  int which = passes % 2 == 1 ? 0 : 1;
  const float* src = in;
  for (int p = 0; p < passes; ++p) {
    Pass pass = !pull ? PUSH_CS : (p == 0 ? COLLIDE_ONLY : (p == passes - 1 ? STREAM_ONLY : PULL_CS));
    float* dst = bufs[which];
    for (int a = 0; a < n0; ++a) for (int b = 0; b < n1; ++b) for (int c = 0; c < n2; ++c) {
#define CELL(QQ) switch (pass) { \
        case PUSH_CS: update_cell<QQ, false, true, true>(src, dst, n0, n1, n2, a, b, c, om_p, om_m); break; \
        case PULL_CS: update_cell<QQ, true, true, false>(src, dst, n0, n1, n2, a, b, c, om_p, om_m); break; \
        case COLLIDE_ONLY: update_cell<QQ, false, true, false>(src, dst, n0, n1, n2, a, b, c, om_p, om_m); break; \
        case STREAM_ONLY: update_cell<QQ, true, false, false>(src, dst, n0, n1, n2, a, b, c, om_p, om_m); break; }
      if (q == 9) { CELL(9) } else { CELL(19) }
#undef CELL
    }
    src = dst;
    which ^= 1;
  }
  return 0;
}
"""

_FLAGS = ("-O3", "-std=c++17", "--shared", "-Xcompiler", "-fPIC")
#: without a GPU (host-only tests) the library is built for Hopper; with one, for the GPU present
_NO_GPU_ARCH = "-arch=sm_90"
_TARGETS = {9: ("atom_lbm_cuda_d2q9", "AtomLbmCudaD2Q9"), 19: ("atom_lbm_cuda_d3q19", "AtomLbmCudaD3Q19")}
_COPY_TARGET = ("atom_lbm_cuda_copy", "AtomLbmCudaCopy")
_lock = threading.Lock()
_state: dict[str, object] = {}


def nvcc() -> str | None:
    """The CUDA compiler: ``$NVCC``, else ``nvcc`` on PATH, else under ``$CUDA_HOME`` or /usr/local/cuda."""
    found = os.environ.get("NVCC") or shutil.which("nvcc")
    if found:
        return found
    for root in (os.environ.get("CUDA_HOME"), os.environ.get("CUDA_PATH"), "/usr/local/cuda"):
        if root and Path(root, "bin", "nvcc").exists():
            return str(Path(root, "bin", "nvcc"))
    return None


def _gpu_name() -> str:
    """The GPUs' kinds JAX sees (part of the library's cache key), or ``no-gpu``."""
    try:
        return ",".join(sorted({getattr(d, "device_kind", "") for d in jax.devices("gpu")}))
    except RuntimeError:
        return "no-gpu"


def _flags() -> tuple[str, ...]:
    return (*_FLAGS, "-arch=native" if _gpu_name() != "no-gpu" else _NO_GPU_ARCH)


def library_path(compiler: str, flags: tuple[str, ...]) -> Path:
    """Cache path: keyed by source, flags, ``nvcc --version``, jax version and the GPU's name."""
    version = subprocess.run([compiler, "--version"], capture_output=True, text=True).stdout
    key = hashlib.sha256("|".join([_SOURCE, *flags, version, jax.__version__, _gpu_name()]).encode()).hexdigest()[:16]
    root = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(root) / "atom-sdk" / "lbm" / f"lbm_cuda_{key}.so"


def compile_library() -> Path:
    """Compile the CUDA source once per machine and return the library's path (RuntimeError on failure)."""
    compiler, flags = nvcc(), _flags()
    if compiler is None:
        raise RuntimeError("no CUDA compiler found (set $NVCC or $CUDA_HOME, or put nvcc on PATH)")
    out = library_path(compiler, flags)
    return out if out.exists() else lbm_native.build_library([compiler, *flags], _SOURCE, out, ".cu",
                                                             "the CUDA LBM kernels")


def _build() -> Path:
    if _gpu_name() == "no-gpu":
        raise RuntimeError("JAX sees no GPU: the CUDA LBM kernels need one")
    return compile_library()


def load() -> None:
    """Build (once) and register the CUDA FFI targets; RuntimeError with the reason on failure."""
    lbm_native.register_library(_state, _lock, _build, (*_TARGETS.values(), _COPY_TARGET), "CUDA",
                                " (backend='auto' or 'xla' runs without the CUDA kernels)")


def available() -> bool:
    """True when JAX's default backend is a GPU and the CUDA kernels compiled and registered."""
    return jax.default_backend() == "gpu" and lbm_native.loads(load)


def resolve_pattern(pattern: str) -> str:
    """``push`` or ``pull``; ``auto`` is :data:`DEFAULT_PATTERN` (pull: faster on both lattices on an H200)."""
    if pattern not in PATTERNS:
        raise ValueError(f"pattern must be one of {PATTERNS}, got {pattern!r}")
    return DEFAULT_PATTERN if pattern == "auto" else pattern


def _check(f: jax.Array) -> int:
    q = int(f.shape[0])
    if q not in _TARGETS or f.ndim != {9: 3, 19: 4}[q]:
        raise ValueError(f"CUDA LBM kernels take (9, nx, ny) or (19, nx, ny, nz) states, got shape {tuple(f.shape)}")
    if f.dtype != np.float32:
        raise ValueError(f"CUDA LBM kernels are float32 only, got {f.dtype}; use backend='xla' for float64")
    if any(int(s) > 65535 for s in f.shape[1:-1]):
        raise ValueError(f"CUDA LBM kernels take at most 65535 cells along the leading axes, got {tuple(f.shape)}")
    return q


def run_periodic_cuda(f: jax.Array, steps: int, omega_p: float, omega_m: float, pattern: str = "auto") -> jax.Array:
    """``steps`` periodic collide-stream updates of a float32 (Q, nx, ny[, nz]) state on the GPU."""
    q = _check(f)
    if steps < 0:
        raise ValueError(f"steps must be >= 0, got {steps}")
    load()
    shape = jax.ShapeDtypeStruct(f.shape, f.dtype)
    call = jax.ffi.ffi_call(_TARGETS[q][0], (shape, shape), vmap_method="sequential")
    out, _ = call(f, steps=np.int64(steps), omega_p=np.float32(omega_p), omega_m=np.float32(omega_m),
                  pull=np.int64(resolve_pattern(pattern) == "pull"))
    return out


def copy_cuda(x: jax.Array, repeats: int) -> jax.Array:
    """``repeats`` float32 copies ping-ponging between two buffers on the GPU (16-byte loads and stores)."""
    if x.dtype != np.float32 or repeats < 1:
        raise ValueError(f"the CUDA copy takes float32 and repeats >= 1, got {x.dtype}, {repeats}")
    load()
    shape = jax.ShapeDtypeStruct(x.shape, x.dtype)
    out, _ = jax.ffi.ffi_call(_COPY_TARGET[0], (shape, shape), vmap_method="sequential")(x, steps=np.int64(repeats))
    return out


def host_update(f: np.ndarray, steps: int, omega_p: float, omega_m: float, pattern: str) -> np.ndarray:
    """The kernels' passes run on the host, for tests of the CUDA source's arithmetic without a GPU or nvcc.

    The same source built by the system C++ compiler: without ``__CUDACC__`` only the per-cell
    function (the one the kernels call) and the host loop over cells are compiled."""
    f = np.ascontiguousarray(f, dtype=np.float32)
    q = _check(f)
    lib = ctypes.cdll.LoadLibrary(str(lbm_native.compile_library(_SOURCE, "lbm_cuda_host",
                                                                  "the CUDA kernels' host build")))
    dims = (1, *f.shape[1:]) if q == 9 else f.shape[1:]
    out, scratch = np.empty_like(f), np.empty_like(f)
    ptr = ctypes.POINTER(ctypes.c_float)
    lib.atom_lbm_cuda_host_update(ctypes.c_int(q), f.ctypes.data_as(ptr), out.ctypes.data_as(ptr),
                                  scratch.ctypes.data_as(ptr), *(ctypes.c_int(int(d)) for d in dims),
                                  ctypes.c_int64(steps), ctypes.c_float(omega_p), ctypes.c_float(omega_m),
                                  ctypes.c_int64(resolve_pattern(pattern) == "pull"))
    return out
