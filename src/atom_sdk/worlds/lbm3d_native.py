"""Native CPU kernel of one D3Q19 channel update (``lbm3d.make_update``): bulk, walls, inlet, outlet, body.

Why: the pure-JAX reference (:func:`atom_sdk.worlds.lbm3d.make_update`) is a collision, nineteen
``jnp.roll`` shifts and a dozen whole-state ``where`` patches; on the shared 2-core CPU it runs about
0.4 MLUPS, so the Schäfer-Turek 3D-1Z case at H = 41 took an hour and H = 82 (eight times the cells,
twice the updates) was out of reach. The 2D channel (:mod:`atom_sdk.worlds.lbm_channel_native`) showed
that the boundaries must live inside the same native call as the bulk; this is its 3D counterpart:

* the bulk is ``lbm_native``'s D3Q19 cell (``cell<19>``: read the 19 populations once, TRT/BGK in
  registers, push each to its neighbour), in a sweep where **every face of the box is a half-way
  bounce-back wall at rest**: a population whose destination leaves the box comes back reversed into
  its own cell. That is exactly what the reference writes on the four side walls (before their
  sliding term), on the inlet (before its ``6 w_i u_in`` term) and on a closed end, so those need no
  second pass: every destination value is written once;
* then, in one thread, the small patches: the sliding-wall term ``6 w_i c_ix u_w`` on the side-wall
  populations (only when u_w != 0), the density-anchored outlet on column nx-1 from column nx-2, the
  inlet term on column 0 (or the equilibrium inlet from column 1's density), the body's Bouzidi links
  with the momentum-exchange force and the jets' mass source (post-collision values recomputed on the
  link nodes with the same ``cell<19>``: collision is local), and the solid nodes reset to rest.

The reference computes the outlet's and the equilibrium inlet's moments before its wall patch, i.e.
from the periodic roll's values on the side-wall cells of columns nx-2 and 1; the kernel recomputes
those few values (the post-collision population at the wrapped source) so the two agree to float32
round-off. Measured figures are in :mod:`atom_sdk.worlds.lbm3d_fused`.

The library is ``lbm_native``'s source plus this file's, compiled once per machine into the same cache
under a key of its own and registered as the FFI target ``atom_lbm_channel_d3q19`` (jit-able; ``vmap``
runs batch members one after another). float32, CPU, TRT or BGK only.
"""

from __future__ import annotations

import threading
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from atom_sdk.worlds import lbm_native

#: ``mode`` of the kernel: inlet kind, or a closed end (walls at rest at both ends)
MODES = {"bounce_back": 0, "equilibrium": 1, "closed": 2}

_CHANNEL3D_SOURCE = r"""
// ---- the lbm3d channel update: the bounded single pass, then the boundary patches ----
// Post-collision populations of cell k (the bulk's own arithmetic): cell<19> writes dst[off[i] + k].
static inline void post19(const float* src, int64_t n, int64_t k, float om_p, float om_m, float* p) {
  int64_t off[19];
  for (int i = 0; i < 19; ++i) off[i] = i - k;
  cell<19>(src, p, n, k, off, om_p, om_m);
}

// One update src -> dst with every face of the box a half-way bounce-back wall at rest: population i
// leaving the box comes back into its own cell as opp(i). Rows (x, y) over the threads, z contiguous.
static void sweep19_box(const float* src, float* dst, int64_t nx, int64_t ny, int64_t nz, float om_p, float om_m,
                        int threads) {
  using L = Lat<19>;
  const int64_t n = nx * ny * nz;
#pragma omp parallel for schedule(dynamic, 4) collapse(2) num_threads(threads)
  for (int64_t x = 0; x < nx; ++x) {
    for (int64_t y = 0; y < ny; ++y) {
      const int64_t row = (x * ny + y) * nz;
      bool leaves[19];
      int64_t base[19], off[19];
      for (int i = 0; i < 19; ++i) {
        const int64_t xd = x + L::c[i][0], yd = y + L::c[i][1];
        leaves[i] = xd < 0 || xd >= nx || yd < 0 || yd >= ny;
        base[i] = leaves[i] ? 0 : i * n + (xd * ny + yd) * nz;
      }
      for (int64_t z = 0; z < nz; z += (nz > 1 ? nz - 1 : 1)) {
        for (int i = 0; i < 19; ++i) {
          const int64_t zd = z + L::c[i][2];
          off[i] = (leaves[i] || zd < 0 || zd >= nz) ? L::opp[i] * n : base[i] + zd - row - z;
        }
        cell<19>(src, dst, n, row + z, off, om_p, om_m);
      }
      for (int i = 0; i < 19; ++i) off[i] = leaves[i] ? L::opp[i] * n : base[i] + L::c[i][2] - row;
#pragma omp simd
      for (int64_t z = 1; z < nz - 1; ++z) cell<19>(src, dst, n, row + z, off, om_p, om_m);
    }
  }
}

// scalars: [jet amplitude, side-wall x velocity]; inlet: (ny, nz) x velocity (already scaled);
// link_idx: (L, 2) [flat node, direction i toward the body], sorted by node; link_coef: (L, 4) [a, b, c, jet];
// solid_idx: (S,) flat solid nodes. forces out: [F_x, F_y, F_z, injected mass].
static ffi::Error channel3d(ffi::Buffer<ffi::F32> f, ffi::Buffer<ffi::F32> inlet, ffi::Buffer<ffi::F32> scalars,
                            ffi::Buffer<ffi::S32> link_idx, ffi::Buffer<ffi::F32> link_coef,
                            ffi::Buffer<ffi::S32> solid_idx, ffi::ResultBuffer<ffi::F32> out,
                            ffi::ResultBuffer<ffi::F32> forces, float om_p, float om_m, int64_t mode,
                            int64_t threads) {
  using L = Lat<19>;
  auto dims = f.dimensions();
  if (dims.size() != 4 || dims[0] != 19) return ffi::Error::InvalidArgument("f must be (19, nx, ny, nz)");
  const int64_t nx = dims[1], ny = dims[2], nz = dims[3], n = nx * ny * nz, plane = ny * nz;
  if (nx < 4 || ny < 2 || nz < 2) return ffi::Error::InvalidArgument("the channel needs nx >= 4 and ny, nz >= 2");
  if (threads < 1) return ffi::Error::InvalidArgument("threads must be >= 1");
  if (mode < 0 || mode > 2)
    return ffi::Error::InvalidArgument("mode must be 0 (bounce-back), 1 (equilibrium) or 2 (closed)");
  auto in_dims = inlet.dimensions();
  if (in_dims.size() != 2 || in_dims[0] != ny || in_dims[1] != nz)
    return ffi::Error::InvalidArgument("inlet must be (ny, nz)");
  const int64_t nlinks = link_idx.dimensions()[0], nsolid = solid_idx.element_count();
  if (link_coef.dimensions()[0] != nlinks) return ffi::Error::InvalidArgument("link tables differ in length");
  const float* src = f.typed_data();
  float* dst = out->typed_data();
  sweep19_box(src, dst, nx, ny, nz, om_p, om_m, int(threads));

  const float amp = scalars.typed_data()[0], wall_ux = scalars.typed_data()[1];
  const float* uin = inlet.typed_data();
  // population i at (y, z) came through a side wall: its source y - c_iy or z - c_iz is outside
  auto crossed = [&](int i, int64_t y, int64_t z) {
    const int64_t sy = y - L::c[i][1], sz = z - L::c[i][2];
    return sy < 0 || sy >= ny || sz < 0 || sz >= nz;
  };
  // column X as the reference reads it (its wall patch comes later): the periodic roll's values
  auto periodic_column = [&](int64_t X, int64_t y, int64_t z, float* q) {
    const int64_t k = X * plane + y * nz + z;
    for (int i = 0; i < 19; ++i) {
      if (!crossed(i, y, z)) { q[i] = dst[i * n + k]; continue; }
      float p[19];
      post19(src, n, (X - L::c[i][0]) * plane + wrap(y - L::c[i][1], ny) * nz + wrap(z - L::c[i][2], nz),
             om_p, om_m, p);
      q[i] = p[i];
    }
  };
  auto shape_eq = [](int i, float ux, float uy, float uz) {
    const float cu = 3.f * (L::c[i][0] * ux + L::c[i][1] * uy + L::c[i][2] * uz);
    const float usq = 1.5f * (ux * ux + uy * uy + uz * uz);
    return L::w[i] * (1.f + cu + 0.5f * cu * cu - usq);
  };
  // 1. outlet (column nx-1): column nx-2's populations, density pulled to 1 through the equilibrium shape
  if (mode != 2) {
    for (int64_t y = 0; y < ny; ++y) {
      for (int64_t z = 0; z < nz; ++z) {
        float q[19];
        periodic_column(nx - 2, y, z, q);
        float rho = 0.f, jx = 0.f, jy = 0.f, jz = 0.f;
        for (int i = 0; i < 19; ++i) {
          rho += q[i]; jx += L::c[i][0] * q[i]; jy += L::c[i][1] * q[i]; jz += L::c[i][2] * q[i];
        }
        const float ux = jx / rho, uy = jy / rho, uz = jz / rho;
        const int64_t o = (nx - 1) * plane + y * nz + z;
        for (int i = 1; i < 19; ++i)
          if (L::c[i][0] == -1 && !crossed(i, y, z)) dst[i * n + o] = q[i] + (1.f - rho) * shape_eq(i, ux, uy, uz);
      }
    }
  }
  // 2. inlet (column 0): the sweep bounced the +x populations; add the moving wall's 6 w_i u_in, or
  //    (equilibrium inlet) set the column to the equilibrium at u_in and column 1's density
  if (mode == 0) {
    for (int64_t y = 0; y < ny; ++y)
      for (int64_t z = 0; z < nz; ++z)
        for (int i = 1; i < 19; ++i)
          if (L::c[i][0] == 1 && !crossed(i, y, z)) dst[i * n + y * nz + z] += (6.f * L::w[i]) * uin[y * nz + z];
  } else if (mode == 1) {
    for (int64_t y = 0; y < ny; ++y) {
      for (int64_t z = 0; z < nz; ++z) {
        float q[19];
        periodic_column(1, y, z, q);
        float rho = 0.f;
        for (int i = 0; i < 19; ++i) rho += q[i];
        const float u = uin[y * nz + z];
        for (int i = 0; i < 19; ++i)
          if (!crossed(i, y, z)) dst[i * n + y * nz + z] = rho * shape_eq(i, u, 0.f, 0.f);
      }
    }
  }
  // 3. side walls sliding along x: f_i = f*_opp(i) + 6 w_i c_ix u_w on the populations that crossed them
  if (wall_ux != 0.f) {
    for (int64_t x = 0; x < nx; ++x) {
      for (int64_t y = 0; y < ny; ++y) {
        const bool edge_y = (y == 0 || y == ny - 1);
        for (int64_t z = 0; z < nz; z += (edge_y || nz < 2) ? 1 : nz - 1) {
          const int64_t k = x * plane + y * nz + z;
          for (int i = 1; i < 19; ++i)
            if (L::c[i][0] != 0 && crossed(i, y, z)) dst[i * n + k] += (6.f * L::w[i] * L::c[i][0]) * wall_ux;
        }
      }
    }
  }
  // 4. body: f_opp(i)(x) = a f*_i(x) + b f*_i(x - c_i) + c f*_opp(i)(x) + amp jet, read before any write
  const int32_t* li = link_idx.typed_data();
  const float* lc = link_coef.typed_data();
  double fx = 0.0, fy = 0.0, fz = 0.0, injected = 0.0;
  for (int64_t s = 0; s < nlinks;) {
    const int64_t node = li[2 * s];
    int64_t e = s;
    while (e < nlinks && li[2 * e] == node) ++e;
    if (e - s > 18) return ffi::Error::InvalidArgument("a node has more than 18 links");
    float post[19], streamed[19], val[18];
    post19(src, n, node, om_p, om_m, post);
    for (int i = 0; i < 19; ++i) streamed[i] = dst[i * n + node];
    for (int64_t l = s; l < e; ++l) {
      const int i = li[2 * l + 1], b = L::opp[i];
      const float* k = lc + 4 * l;
      const float source = amp * k[3];
      const float v = k[0] * post[i] + k[1] * streamed[i] + k[2] * post[b] + source;
      val[l - s] = v;
      const double exchanged = double(post[i]) + double(v);
      fx += L::c[i][0] * exchanged; fy += L::c[i][1] * exchanged; fz += L::c[i][2] * exchanged;
      injected += source;
    }
    for (int64_t l = s; l < e; ++l) dst[L::opp[li[2 * l + 1]] * n + node] = val[l - s];
    s = e;
  }
  // 5. solid nodes at rest
  const int32_t* si = solid_idx.typed_data();
  for (int64_t s = 0; s < nsolid; ++s)
    for (int i = 0; i < 19; ++i) dst[i * n + si[s]] = L::w[i];
  float* fo = forces->typed_data();
  fo[0] = float(fx); fo[1] = float(fy); fo[2] = float(fz); fo[3] = float(injected);
  return ffi::Error::Success();
}

XLA_FFI_DEFINE_HANDLER_SYMBOL(AtomLbmChannelD3Q19, channel3d, ffi::Ffi::Bind()
    .Arg<ffi::Buffer<ffi::F32>>().Arg<ffi::Buffer<ffi::F32>>().Arg<ffi::Buffer<ffi::F32>>()
    .Arg<ffi::Buffer<ffi::S32>>().Arg<ffi::Buffer<ffi::F32>>().Arg<ffi::Buffer<ffi::S32>>()
    .Ret<ffi::Buffer<ffi::F32>>().Ret<ffi::Buffer<ffi::F32>>()
    .Attr<float>("omega_p").Attr<float>("omega_m").Attr<int64_t>("mode").Attr<int64_t>("threads"));
"""

_TARGET = ("atom_lbm_channel_d3q19", "AtomLbmChannelD3Q19")
_lock = threading.Lock()
_state: dict[str, object] = {}


def _source() -> str:
    return lbm_native._SOURCE + _CHANNEL3D_SOURCE


def load() -> None:
    """Build (once, with ``lbm_native``'s flags and cache) and register the FFI target; raises RuntimeError."""
    lbm_native.load_library(_state, _lock, _source(), "lbm3d_channel", "the native D3Q19 channel kernel", (_TARGET,))


def available() -> bool:
    """True when the D3Q19 channel kernel compiled and registered on this machine."""
    return lbm_native.loads(load)


def link_table(links: Any, solid: np.ndarray | None) -> tuple[jax.Array, jax.Array, jax.Array]:
    """``lbm3d.Links`` as the kernel takes them: (L, 2) int32 [node, i] sorted by node, (L, 4) float32
    [a, b, c, jet], and the (S,) int32 flat solid nodes (none when ``solid`` is None). The ``back``
    index is not needed: f*_i(x - c_i) is the value population i streamed into x."""
    solid_idx = np.zeros(0, np.int32) if solid is None else np.flatnonzero(np.asarray(solid)).astype(np.int32)
    if links is None:
        return jnp.zeros((0, 2), jnp.int32), jnp.zeros((0, 4), jnp.float32), jnp.asarray(solid_idx)
    node, direction = np.asarray(links.node, np.int64), np.asarray(links.i, np.int64)
    order = np.lexsort((direction, node))
    idx = np.stack([node[order], direction[order]], axis=1).astype(np.int32)
    coef = np.stack([np.asarray(v, np.float32)[order] for v in (links.a, links.b, links.c, links.jet)], axis=1)
    return jnp.asarray(idx), jnp.asarray(coef), jnp.asarray(solid_idx)


def channel_update(f: jax.Array, inlet_ux: jax.Array, amplitude: jax.Array, wall_ux: jax.Array, idx: jax.Array,
                   coef: jax.Array, solid_idx: jax.Array, omega_p: float, omega_m: float, mode: str = "bounce_back",
                   threads: int | None = None) -> tuple[jax.Array, jax.Array]:
    """One channel update of a float32 (19, nx, ny, nz) state; returns (f, [F_x, F_y, F_z, injected mass]).

    ``inlet_ux`` (ny, nz) and ``wall_ux`` are the (already ramped) inlet profile and side-wall speed;
    ``mode`` is a key of :data:`MODES`; ``idx, coef, solid_idx`` come from :func:`link_table`.
    """
    if f.dtype != np.float32 or f.ndim != 4 or f.shape[0] != 19:
        raise ValueError(f"the native D3Q19 channel kernel takes a float32 (19, nx, ny, nz) state, got {f.dtype} "
                         f"{f.shape}")
    if mode not in MODES:
        raise ValueError(f"mode must be one of {sorted(MODES)}, got {mode!r}")
    n = lbm_native.default_threads() if threads is None else int(threads)
    if n < 1:
        raise ValueError(f"threads must be >= 1, got {threads}")
    load()
    scalars = jnp.stack([jnp.reshape(jnp.asarray(amplitude, jnp.float32), ()),
                         jnp.reshape(jnp.asarray(wall_ux, jnp.float32), ())])
    call = jax.ffi.ffi_call(_TARGET[0], (jax.ShapeDtypeStruct(f.shape, f.dtype), jax.ShapeDtypeStruct((4,), f.dtype)),
                            vmap_method="sequential")
    return call(f, jnp.asarray(inlet_ux, jnp.float32), scalars, idx, coef, solid_idx, omega_p=np.float32(omega_p),
                omega_m=np.float32(omega_m), mode=np.int64(MODES[mode]), threads=np.int64(n))
