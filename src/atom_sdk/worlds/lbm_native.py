"""Native single-pass CPU kernels for periodic D2Q9 / D3Q19 (BGK and TRT), called from JAX via XLA FFI.

Why native code on the CPU: XLA's CPU backend emits the nine (or nineteen) periodic shifts of a
collide-stream update as concatenates, whose per-element operand selection defeats
vectorisation; no XLA restructuring measured here (pull streaming of a tuple of arrays,
ghost layers updated in place) reached a quarter of the copy bound (see ``lbm_fused``). A
C++ loop that reads a cell's populations once, collides in registers and pushes each
post-collision value straight to its neighbour's slot touches every population exactly once per
update - the 72 B/update assumed by the copy bound - and is vectorised by the compiler along
the contiguous (last) axis, with OpenMP threads over the first axis.

The source is compiled once per machine with the system C++ compiler (``g++``/``c++``, found
on ``$CXX`` or ``PATH``) into ``$XDG_CACHE_HOME/atom-sdk/lbm`` and registered as an XLA FFI
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

import jax
import numpy as np

_SOURCE = r"""
#include <cstdint>
#include <cstring>
#include <vector>
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

// 2D: the contiguous axis is y, so loop x and vectorise over y with y's wrap peeled.
static void update2(const float* src, float* dst, int64_t nx, int64_t ny, float om_p, float om_m, int threads) {
  using L = Lat<9>;
  const int64_t n = nx * ny;
#pragma omp parallel for schedule(dynamic, 8) num_threads(threads)
  for (int64_t x = 0; x < nx; ++x) {
    int64_t off[9];
    const int64_t row = x * ny;
    for (int64_t y = 0; y < ny; y += (ny > 1 ? ny - 1 : 1)) {
      for (int i = 0; i < 9; ++i)
        off[i] = i * n + ((x + L::c[i][0] + nx) % nx) * ny + (y + L::c[i][1] + ny) % ny - row - y;
      cell<9>(src, dst, n, row + y, off, om_p, om_m);
    }
    for (int i = 0; i < 9; ++i) off[i] = i * n + ((x + L::c[i][0] + nx) % nx) * ny + L::c[i][1] - row;
#pragma omp simd
    for (int64_t y = 1; y < ny - 1; ++y) cell<9>(src, dst, n, row + y, off, om_p, om_m);
  }
}

template <int Q>
static ffi::Error run(ffi::Buffer<ffi::F32> f, ffi::ResultBuffer<ffi::F32> out, int64_t steps, float om_p,
                      float om_m, int64_t threads) {
  auto dims = f.dimensions();
  const int64_t nx = dims[1], ny = dims[2], nz = (Q == 19) ? dims[3] : 1;
  const int64_t total = f.element_count();
  float* res = out->typed_data();
  if (steps <= 0) { std::memcpy(res, f.typed_data(), total * sizeof(float)); return ffi::Error::Success(); }
  std::vector<float> tmp(steps > 1 ? total : 0);
  const float* src = f.typed_data();
  for (int64_t k = 1; k <= steps; ++k) {
    float* dst = ((steps - k) % 2 == 0) ? res : tmp.data();
    if (Q == 9) update2(src, dst, nx, ny, om_p, om_m, int(threads));
    else update<Q>(src, dst, nx, ny, nz, om_p, om_m, int(threads));
    src = dst;
  }
  return ffi::Error::Success();
}

XLA_FFI_DEFINE_HANDLER_SYMBOL(AtomLbmD2Q9, run<9>, ffi::Ffi::Bind().Arg<ffi::Buffer<ffi::F32>>()
    .Ret<ffi::Buffer<ffi::F32>>().Attr<int64_t>("steps").Attr<float>("omega_p").Attr<float>("omega_m").Attr<int64_t>("threads"));
XLA_FFI_DEFINE_HANDLER_SYMBOL(AtomLbmD3Q19, run<19>, ffi::Ffi::Bind().Arg<ffi::Buffer<ffi::F32>>()
    .Ret<ffi::Buffer<ffi::F32>>().Attr<int64_t>("steps").Attr<float>("omega_p").Attr<float>("omega_m").Attr<int64_t>("threads"));
"""

_TARGETS = {9: ("atom_lbm_d2q9", "AtomLbmD2Q9"), 19: ("atom_lbm_d3q19", "AtomLbmD3Q19")}
_FLAGS = ["-O3", "-march=native", "-ffp-contract=off", "-fopenmp", "-shared", "-fPIC", "-std=c++17"]
_lock = threading.Lock()
_state: dict[str, object] = {}


def _cache_dir() -> Path:
    root = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(root) / "atom-sdk" / "lbm"


def _compiler() -> str | None:
    return os.environ.get("CXX") or shutil.which("g++") or shutil.which("c++")


def _build() -> Path:
    """Compile the kernel library (cached by source, flags, compiler and CPU) and return its path."""
    cxx = _compiler()
    if cxx is None:
        raise RuntimeError("no C++ compiler on PATH (install g++ or set $CXX) for the native LBM kernels")
    key = hashlib.sha256("|".join([_SOURCE, *_FLAGS, cxx, platform.machine(), platform.processor(),
                                   jax.__version__]).encode()).hexdigest()[:16]
    out = _cache_dir() / f"lbm_{key}.so"
    if out.exists():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    src = out.with_suffix(f".{os.getpid()}.cc")  # per process: concurrent first builds never share a file
    src.write_text(_SOURCE, encoding="utf-8")
    tmp = out.with_suffix(f".{os.getpid()}.tmp")
    cmd = [cxx, *_FLAGS, f"-I{jax.ffi.include_dir()}", str(src), "-o", str(tmp)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"compiling the native LBM kernels failed ({' '.join(cmd)}):\n{proc.stderr[-2000:]}")
    os.replace(tmp, out)
    src.unlink(missing_ok=True)
    return out


def load() -> None:
    """Build (once) and register the FFI targets; raises RuntimeError with the reason on failure."""
    with _lock:
        if "error" in _state:
            raise RuntimeError(str(_state["error"]))
        if "lib" in _state:
            return
        # sleeping (not spinning) OpenMP workers: on a shared machine a spinning barrier waits
        # on a descheduled thread; read by libgomp when the library loads
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
        try:
            lib = ctypes.cdll.LoadLibrary(str(_build()))
            for name, symbol in _TARGETS.values():
                jax.ffi.register_ffi_target(name, jax.ffi.pycapsule(getattr(lib, symbol)), platform="cpu")
        except (OSError, RuntimeError, AttributeError) as exc:
            _state["error"] = exc
            raise RuntimeError(str(exc)) from exc
        _state["lib"] = lib


def available() -> bool:
    """True when the native kernels compiled and registered on this machine."""
    try:
        load()
    except RuntimeError:
        return False
    return True


def default_threads() -> int:
    """OpenMP threads per call: $ATOM_LBM_THREADS, else the CPUs this process may run on."""
    value = os.environ.get("ATOM_LBM_THREADS")
    if value:
        return max(1, int(value))
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def run_periodic_native(f: jax.Array, steps: int, omega_p: float, omega_m: float,
                        threads: int | None = None) -> jax.Array:
    """``steps`` periodic collide-stream updates of a float32 (Q, nx, ny[, nz]) state on the CPU.

    Runs on the host CPU only; traceable under jit, and vmap runs the batch one member at a time.
    """
    q = int(f.shape[0])
    if q not in _TARGETS or f.ndim != {9: 3, 19: 4}[q]:
        raise ValueError(f"native LBM kernels take (9, nx, ny) or (19, nx, ny, nz) states, got shape {f.shape}")
    if f.dtype != np.float32:
        raise ValueError(f"native LBM kernels are float32 only, got {f.dtype}; use backend='xla' for float64")
    if jax.default_backend() != "cpu":
        raise ValueError(f"the native LBM kernels run on the CPU only (default backend is {jax.default_backend()!r}); "
                         "use backend='xla' on an accelerator")
    load()
    call = jax.ffi.ffi_call(_TARGETS[q][0], jax.ShapeDtypeStruct(f.shape, f.dtype), vmap_method="sequential")
    n = default_threads() if threads is None else int(threads)
    if n < 1:
        raise ValueError(f"threads must be >= 1, got {threads}")
    return call(f, steps=np.int64(steps), omega_p=np.float32(omega_p), omega_m=np.float32(omega_m),
                threads=np.int64(n))
