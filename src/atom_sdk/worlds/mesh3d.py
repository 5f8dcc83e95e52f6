"""3D bodies from an STL mesh: loading, checks, placement, voxelisation and link fractions q.

Why a module of its own: interpolated bounce-back (Bouzidi, Firdaouss & Lallemand 2001) needs, for
every cut link of the D3Q19 lattice, the fraction q of the link in front of the *true* surface. For a
mesh that is the first ray-triangle crossing of the link (Moeller & Trumbore 1997), computed here in
NumPy over (link, candidate triangle) pairs found through a voxel hash, never in a Python loop over
the grid. The output feeds :func:`atom_sdk.worlds.lbm3d.build_links`, so the kernel and the force
code are the same as for the analytic sphere and cylinder.

Inside test: a ray along +x through every (y, z) node column, counting crossings. Grazing rays (a
column through a shared edge or vertex of the projected triangles) are settled exactly by the
rasteriser's tie rule: each edge function is evaluated with its end points in one canonical order, so
the two triangles on a shared edge see the same floating-point number with opposite signs, and a
zero goes to exactly one of them (the one whose interior-oriented edge runs lexicographically up).
A node on the surface counts as solid (as ``r <= R`` for the sphere).

Reading uses trimesh (the ``mesh`` extra: ``trimesh==5.2.0``), imported only when a file is read.
Conventions: lattice units, node (i, j, k) at (i, j, k); the flow runs along +x, so the mesh's own
x axis is the stream-wise direction.
"""

from __future__ import annotations

import io
import math
from pathlib import Path
from typing import NamedTuple

import numpy as np

from atom_sdk.errors import WorldParameterError
from atom_sdk.worlds import lbm_d3q19 as d3

MESH_EXTRA = "trimesh==5.2.0"
MAX_TRIANGLES = 200_000
#: a link crossing the surface closer than this (in link lengths) to its fluid node puts the node on the surface
ON_SURFACE = 1e-9
_BARY_EPS = 1e-9
#: links per batch of the ray-triangle test (bounds its memory to a few hundred MB)
LINK_CHUNK = 20_000


class MeshBody(NamedTuple):
    """A checked, outward-oriented closed mesh placed in the channel (lattice units).

    ``cx, cy, cz`` is the centre of its bounding box and ``r`` half its frontal diameter (the larger of
    its y and z extents), so code written for a sphere finds the same fields."""

    cx: float
    cy: float
    cz: float
    r: float
    triangles: np.ndarray  # (n, 3, 3) float64
    lo: tuple[float, float, float]  # bounding box
    hi: tuple[float, float, float]


# ---- reading, writing and simple shapes -------------------------------------------------------------
def read_stl(source: str | Path | bytes) -> np.ndarray:
    """Triangles (n, 3, 3) of an ASCII or binary STL given as a path or its bytes, unchecked."""
    data = source if isinstance(source, bytes) else _read_file(Path(source))
    if not data.strip():
        raise WorldParameterError("the STL file is empty; export the body again as an ASCII or binary STL")
    try:
        import trimesh
    except ImportError:
        raise WorldParameterError(f"reading an STL mesh needs trimesh: pip install '{MESH_EXTRA}'") from None
    try:
        mesh = trimesh.load(io.BytesIO(data), file_type="stl", process=False)
    except Exception as exc:  # trimesh raises many kinds on malformed files
        raise WorldParameterError(f"the STL could not be read ({type(exc).__name__}: {exc}); export it again as "
                                  "an ASCII or binary STL") from None
    parts = list(mesh.geometry.values()) if isinstance(mesh, trimesh.Scene) else [mesh]  # one per 'solid' block
    tris = [np.asarray(m.vertices, np.float64)[np.asarray(m.faces)] for m in parts if len(getattr(m, "faces", []))]
    if not tris:
        raise WorldParameterError("the STL holds no triangles; check that the file is an STL of one closed body")
    return np.concatenate(tris)


def _read_file(path: Path) -> bytes:
    if not path.is_file():
        raise WorldParameterError(f"mesh file '{path}' does not exist; give the path of an STL file")
    return path.read_bytes()


def stl_bytes(triangles: np.ndarray, binary: bool = True) -> bytes:
    """An STL (binary, or ASCII) of the triangles, with their normals (for tests and stored uploads)."""
    tri = np.asarray(triangles, np.float64)
    n = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    n /= np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-300)
    if binary:
        rec = np.zeros(len(tri), dtype=[("n", "<f4", 3), ("v", "<f4", (3, 3)), ("attr", "<u2")])
        rec["n"], rec["v"] = n, tri
        return b"atom-sdk mesh".ljust(80, b" ") + np.uint32(len(tri)).tobytes() + rec.tobytes()
    lines = ["solid body"]
    for normal, t in zip(n, tri):
        lines += [f" facet normal {normal[0]:.9e} {normal[1]:.9e} {normal[2]:.9e}", "  outer loop"]
        lines += [f"   vertex {v[0]:.17g} {v[1]:.17g} {v[2]:.17g}" for v in t]
        lines += ["  endloop", " endfacet"]
    return ("\n".join(lines + ["endsolid body", ""])).encode()


def icosphere(subdivisions: int = 3, radius: float = 1.0) -> np.ndarray:
    """Triangles of a sphere: the icosahedron, each face split in four ``subdivisions`` times, vertices
    pushed out to ``radius`` (all vertices on the sphere: an inscribed polyhedron)."""
    t = (1 + math.sqrt(5)) / 2
    v = [(-1, t, 0), (1, t, 0), (-1, -t, 0), (1, -t, 0), (0, -1, t), (0, 1, t), (0, -1, -t), (0, 1, -t),
         (t, 0, -1), (t, 0, 1), (-t, 0, -1), (-t, 0, 1)]
    f = [(0, 11, 5), (0, 5, 1), (0, 1, 7), (0, 7, 10), (0, 10, 11), (1, 5, 9), (5, 11, 4), (11, 10, 2), (10, 7, 6),
         (7, 1, 8), (3, 9, 4), (3, 4, 2), (3, 2, 6), (3, 6, 8), (3, 8, 9), (4, 9, 5), (2, 4, 11), (6, 2, 10),
         (8, 6, 7), (9, 8, 1)]
    verts = [np.array(p, float) / np.linalg.norm(p) for p in v]
    faces = f
    for _ in range(subdivisions):
        cache: dict[tuple[int, int], int] = {}

        def mid(a: int, b: int) -> int:
            key = (min(a, b), max(a, b))
            if key not in cache:
                m = verts[a] + verts[b]
                verts.append(m / np.linalg.norm(m))
                cache[key] = len(verts) - 1
            return cache[key]

        new = []
        for a, b, c in faces:
            ab, bc, ca = mid(a, b), mid(b, c), mid(c, a)
            new += [(a, ab, ca), (b, bc, ab), (c, ca, bc), (ab, bc, ca)]
        faces = new
    return radius * np.array(verts)[np.array(faces)]


def box(lo: tuple[float, float, float], hi: tuple[float, float, float]) -> np.ndarray:
    """Triangles of an axis-aligned box, outward-oriented (12 triangles)."""
    x0, y0, z0 = lo
    x1, y1, z1 = hi
    p = np.array([[x0, y0, z0], [x1, y0, z0], [x1, y1, z0], [x0, y1, z0],
                  [x0, y0, z1], [x1, y0, z1], [x1, y1, z1], [x0, y1, z1]], float)
    f = [(0, 2, 1), (0, 3, 2), (4, 5, 6), (4, 6, 7), (0, 1, 5), (0, 5, 4), (3, 7, 6), (3, 6, 2), (0, 4, 7),
         (0, 7, 3), (1, 2, 6), (1, 6, 5)]
    return p[np.array(f)]


# ---- checks ------------------------------------------------------------------------------------------
def check_mesh(triangles: np.ndarray) -> np.ndarray:
    """The triangles as a closed, outward-oriented surface, or a clear error: not finite, too many,
    degenerate faces, open or non-manifold edges, inconsistent orientation, several bodies."""
    tri = np.asarray(triangles, np.float64)
    if tri.ndim != 3 or tri.shape[1:] != (3, 3) or len(tri) == 0:
        raise WorldParameterError(f"a mesh is a list of triangles (n, 3, 3); got shape {tri.shape}")
    if not np.all(np.isfinite(tri)):
        bad = int(np.sum(~np.all(np.isfinite(tri), axis=(1, 2))))
        raise WorldParameterError(f"the mesh has {bad} triangle(s) with a NaN or infinite vertex coordinate; "
                                  "repair or re-export the mesh")
    if len(tri) > MAX_TRIANGLES:
        raise WorldParameterError(f"the mesh has {len(tri)} triangles, more than {MAX_TRIANGLES}; decimate it "
                                  "(a lattice cell cannot resolve finer facets anyway)")
    span = float(np.ptp(tri.reshape(-1, 3), axis=0).max())
    if not span > 0:
        raise WorldParameterError("the mesh has no extent (all vertices coincide)")
    area2 = np.linalg.norm(np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]), axis=1)
    degenerate = area2 <= 1e-12 * span * span
    if degenerate.any():
        raise WorldParameterError(f"the mesh has {int(degenerate.sum())} degenerate (zero-area) triangle(s); "
                                  "remove them (e.g. trimesh's remove_degenerate_faces or your CAD tool's repair)")
    # merge vertices that coincide to 1e-9 of the mesh size, then count every edge
    key = np.round(tri.reshape(-1, 3) / (span * 1e-9)).astype(np.int64)
    _, vid = np.unique(key, axis=0, return_inverse=True)
    f = vid.reshape(-1, 3)
    directed = np.concatenate([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]])
    undirected = np.sort(directed, axis=1)
    _, counts = np.unique(undirected, axis=0, return_counts=True)
    if np.any(counts == 1):
        raise WorldParameterError(f"the mesh is not closed: {int(np.sum(counts == 1))} edge(s) border only one "
                                  "triangle; close the holes so it is watertight")
    if np.any(counts > 2):
        raise WorldParameterError(f"the mesh is not a manifold surface: {int(np.sum(counts > 2))} edge(s) are "
                                  "shared by more than two triangles; give a single closed surface")
    _, dcounts = np.unique(directed, axis=0, return_counts=True)
    if np.any(dcounts > 1):
        raise WorldParameterError("the mesh's triangles are not consistently oriented (a neighbour pair runs an "
                                  "edge the same way); fix the winding (e.g. trimesh's fix_normals)")
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    face_of = np.tile(np.arange(len(f)), 3)
    order = np.lexsort(undirected.T[::-1])
    pairs = face_of[order].reshape(-1, 2)  # every undirected edge appears exactly twice: its two faces
    graph = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(len(f), len(f)))
    parts = connected_components(graph, directed=False)[0]
    if parts != 1:
        raise WorldParameterError(f"the mesh has {parts} separate bodies; give one closed body")
    volume = float(np.einsum("ij,ij->i", tri[:, 0], np.cross(tri[:, 1], tri[:, 2])).sum()) / 6
    return tri if volume > 0 else tri[:, ::-1].copy()


def place(triangles: np.ndarray, diameter: float, centre: tuple[float, float, float]) -> MeshBody:
    """Scale the mesh uniformly so its frontal diameter (larger y or z extent) is ``diameter`` cells and
    move its bounding-box centre to ``centre``."""
    tri = np.asarray(triangles, np.float64)
    lo, hi = tri.reshape(-1, 3).min(axis=0), tri.reshape(-1, 3).max(axis=0)
    frontal = float(max(hi[1] - lo[1], hi[2] - lo[2]))
    if not frontal > 0:
        raise WorldParameterError("the mesh is flat in both y and z; it has no frontal extent to scale")
    if not diameter > 0:
        raise WorldParameterError(f"the body diameter must be positive (got {diameter})")
    s = diameter / frontal
    placed = (tri - 0.5 * (lo + hi)) * s + np.asarray(centre, np.float64)
    plo, phi = placed.reshape(-1, 3).min(axis=0), placed.reshape(-1, 3).max(axis=0)
    return MeshBody(*(float(c) for c in centre), 0.5 * diameter, placed, tuple(map(float, plo)),
                    tuple(map(float, phi)))


# ---- rays along x through columns (voxelisation, frontal area) -------------------------------------
def _column_hits(tri: np.ndarray, y0: float, dy: float, ny: int, z0: float, dz: float,
                 nz: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every crossing of a ray along x at (y0 + j dy, z0 + k dz) with a triangle: (j, k, x), one entry per
    crossing, shared edges and vertices counted exactly once (the canonical-edge tie rule)."""
    p = tri[:, :, 1:]
    s = (p[:, 1, 0] - p[:, 0, 0]) * (p[:, 2, 1] - p[:, 0, 1]) - (p[:, 1, 1] - p[:, 0, 1]) * (p[:, 2, 0] - p[:, 0, 0])
    keep = s != 0  # a face parallel to x is grazed, never crossed
    tri, p, s = tri[keep], p[keep], s[keep]
    jlo = np.clip(np.ceil((p[:, :, 0].min(axis=1) - y0) / dy), 0, ny).astype(np.int64)
    jhi = np.clip(np.floor((p[:, :, 0].max(axis=1) - y0) / dy), -1, ny - 1).astype(np.int64)
    klo = np.clip(np.ceil((p[:, :, 1].min(axis=1) - z0) / dz), 0, nz).astype(np.int64)
    khi = np.clip(np.floor((p[:, :, 1].max(axis=1) - z0) / dz), -1, nz - 1).astype(np.int64)
    nj, nk = np.maximum(jhi - jlo + 1, 0), np.maximum(khi - klo + 1, 0)
    count = nj * nk
    t = np.repeat(np.arange(len(tri)), count)
    local = np.arange(int(count.sum())) - np.repeat(np.cumsum(count) - count, count)
    j = jlo[t] + local // np.maximum(nk[t], 1)
    k = klo[t] + local % np.maximum(nk[t], 1)
    py, pz = y0 + j * dy, z0 + k * dz
    sign = np.sign(s[t])
    lam = []
    for a, b in ((1, 2), (2, 0), (0, 1)):  # edge opposite vertex 0, 1, 2
        pa, pb = p[t, a], p[t, b]
        swap = (pa[:, 0] > pb[:, 0]) | ((pa[:, 0] == pb[:, 0]) & (pa[:, 1] > pb[:, 1]))
        lo_, hi_ = np.where(swap[:, None], pb, pa), np.where(swap[:, None], pa, pb)
        e = (hi_[:, 0] - lo_[:, 0]) * (pz - lo_[:, 1]) - (hi_[:, 1] - lo_[:, 1]) * (py - lo_[:, 0])
        sigma = np.where(swap, -sign, sign)
        lam.append((sigma * e, sigma > 0))
    inside = np.ones(len(t), bool)
    for o, up in lam:
        inside &= (o > 0) | ((o == 0) & up)
    w = np.stack([o for o, _ in lam], axis=1)[inside]
    x = np.sum(w * tri[t[inside], :, 0], axis=1) / np.sum(w, axis=1)
    return j[inside], k[inside], x


def frontal_area(triangles: np.ndarray, samples: int = 256) -> float:
    """Projected area of the closed mesh on the y-z plane (the reference area of its coefficients).

    Half the projected area of all faces is exact when every line along x crosses the surface at most
    twice (a sphere, a cube); otherwise it is scaled by the fraction of covered sample columns among the
    crossings counted on a ``samples``-per-side raster, which removes the hidden (overlapping) parts."""
    tri = np.asarray(triangles, np.float64)
    p = tri[:, :, 1:]
    s = (p[:, 1, 0] - p[:, 0, 0]) * (p[:, 2, 1] - p[:, 0, 1]) - (p[:, 1, 1] - p[:, 0, 1]) * (p[:, 2, 0] - p[:, 0, 0])
    weighted = 0.25 * float(np.abs(s).sum())
    lo, hi = p.reshape(-1, 2).min(axis=0), p.reshape(-1, 2).max(axis=0)
    h = float((hi - lo).max()) / samples
    ny, nz = (np.ceil((hi - lo) / h).astype(int) + 1)
    j, k, _ = _column_hits(tri, lo[0] + 0.5 * h, h, int(ny), lo[1] + 0.5 * h, h, int(nz))
    if len(j) == 0:
        return weighted
    covered = len(np.unique(j * int(nz) + k))
    return weighted * covered / (0.5 * len(j))


def _parity_solid(tri: np.ndarray, shape: tuple[int, int, int]) -> np.ndarray:
    nx, ny, nz = shape
    j, k, x = _column_hits(tri, 0.0, 1.0, ny, 0.0, 1.0, nz)
    solid = np.zeros(shape, bool)
    for first in (np.ceil(x), np.floor(x) + 1):  # nodes at or behind the crossing, strictly behind it
        start = np.clip(first, 0, nx).astype(np.int64)
        diff = np.zeros((ny, nz, nx + 1), np.int64)
        np.add.at(diff, (j, k, start), 1)
        solid |= (np.cumsum(diff, axis=2)[:, :, :nx] % 2 == 1).transpose(2, 0, 1)
    return solid


# ---- links --------------------------------------------------------------------------------------------
def cut_links(solid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Fluid nodes (L, 3) and directions (L,) of every D3Q19 link into a solid node inside the box."""
    shape = np.array(solid.shape)
    nodes, dirs = [], []
    for i in range(1, 19):
        tgt = np.argwhere(solid)
        src = tgt - d3.C[i]
        ok = np.all((src >= 0) & (src < shape), axis=1)
        src = src[ok]
        src = src[~solid[tuple(src.T)]]
        nodes.append(src)
        dirs.append(np.full(len(src), i))
    return np.concatenate(nodes), np.concatenate(dirs)


def _voxel_table(tri: np.ndarray, dims: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Triangles by the unit voxels [i, i+1]^3 (offset by one) their bounding boxes touch: (sorted keys, triangle)."""
    lo = np.floor(tri.min(axis=1) - 1e-7).astype(np.int64) + 1
    hi = np.floor(tri.max(axis=1) + 1e-7).astype(np.int64) + 1
    lo, hi = np.clip(lo, 0, dims - 1), np.clip(hi, 0, dims - 1)
    n = hi - lo + 1
    count = n.prod(axis=1)
    t = np.repeat(np.arange(len(tri)), count)
    local = np.arange(int(count.sum())) - np.repeat(np.cumsum(count) - count, count)
    iz = local % n[t, 2]
    iy = (local // n[t, 2]) % n[t, 1]
    ix = local // (n[t, 2] * n[t, 1])
    key = np.ravel_multi_index(((lo[t, 0] + ix), (lo[t, 1] + iy), (lo[t, 2] + iz)), dims)
    order = np.argsort(key, kind="stable")
    return key[order], t[order]


def link_fractions(tri: np.ndarray, nodes: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """First crossing of each link ``nodes -> nodes + c`` with the mesh (Moeller & Trumbore 1997):
    (t in link lengths, np.inf where none; outward unit normal of the triangle hit; its index)."""
    nodes = np.asarray(nodes, np.int64)
    c = np.asarray(c, np.int64)
    L = len(nodes)
    if L == 0:
        return np.zeros(0), np.zeros((0, 3)), np.zeros(0, np.int64)
    dims = np.maximum(nodes.max(axis=0), (nodes + c).max(axis=0)).clip(min=0) + 3
    dims = np.maximum(dims, np.floor(tri.reshape(-1, 3).max(axis=0)).astype(np.int64) + 3)
    table = _voxel_table(tri, dims)
    n = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    n /= np.linalg.norm(n, axis=1, keepdims=True)
    parts = [_first_crossings(tri, n, table, dims, nodes[s:s + LINK_CHUNK], c[s:s + LINK_CHUNK])
             for s in range(0, L, LINK_CHUNK)]
    return tuple(np.concatenate(part) for part in zip(*parts))  # type: ignore[return-value]


def _first_crossings(tri: np.ndarray, n: np.ndarray, table: tuple[np.ndarray, np.ndarray], dims: np.ndarray,
                     nodes: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`link_fractions` for one chunk of links (bounded memory: about 40 pairs per link)."""
    keys, tri_of = table
    L = len(nodes)
    # the voxels a link can touch: along an axis it moves, the one it crosses; along one it does not, both sides
    opts = [np.where(c[:, a] != 0, np.minimum(nodes[:, a], nodes[:, a] + c[:, a]), nodes[:, a] - 1) for a in range(3)]
    opts2 = [np.where(c[:, a] != 0, opts[a], nodes[:, a]) for a in range(3)]
    vk, vl = [], []
    for bits in range(8):
        v = [(opts2 if (bits >> a) & 1 else opts)[a] + 1 for a in range(3)]
        inside = np.all([(v[a] >= 0) & (v[a] < dims[a]) for a in range(3)], axis=0)
        vk.append(np.where(inside, np.ravel_multi_index([np.clip(v[a], 0, dims[a] - 1) for a in range(3)], dims), -1))
        vl.append(np.arange(L))
    vk, vl = np.concatenate(vk), np.concatenate(vl)
    uniq = np.unique(np.stack([vl, vk], axis=1)[vk >= 0], axis=0)
    vl, vk = uniq[:, 0], uniq[:, 1]
    start, stop = np.searchsorted(keys, vk, "left"), np.searchsorted(keys, vk, "right")
    count = stop - start
    link = np.repeat(vl, count)
    pos = np.repeat(start - (np.cumsum(count) - count), count) + np.arange(int(count.sum()))
    t_idx = tri_of[pos]
    # Moeller-Trumbore on every (link, triangle) pair
    v0, v1, v2 = tri[t_idx, 0], tri[t_idx, 1], tri[t_idx, 2]
    e1, e2 = v1 - v0, v2 - v0
    d = c[link].astype(np.float64)
    pvec = np.cross(d, e2)
    det = np.einsum("ij,ij->i", e1, pvec)
    ok = np.abs(det) > 1e-14 * np.einsum("ij,ij->i", e1, e1)
    inv = np.where(ok, 1.0 / np.where(ok, det, 1.0), 0.0)
    tvec = nodes[link] - v0
    u = np.einsum("ij,ij->i", tvec, pvec) * inv
    qvec = np.cross(tvec, e1)
    v = np.einsum("ij,ij->i", d, qvec) * inv
    t = np.einsum("ij,ij->i", e2, qvec) * inv
    hit = ok & (u >= -_BARY_EPS) & (v >= -_BARY_EPS) & (u + v <= 1 + _BARY_EPS) & (t >= -_BARY_EPS) & (t <= 1 + _BARY_EPS)
    link, t, t_idx = link[hit], t[hit], t_idx[hit]
    best_t = np.full(L, np.inf)
    best_tri = np.full(L, -1, np.int64)
    if len(link):
        order = np.lexsort((t, link))
        first = order[np.r_[True, link[order][1:] != link[order][:-1]]]
        best_t[link[first]], best_tri[link[first]] = t[first], t_idx[first]
    normal = np.where(best_tri[:, None] >= 0, n[np.maximum(best_tri, 0)], -c / np.linalg.norm(c, axis=1, keepdims=True))
    return best_t, normal, best_tri


def solid_mask(body: MeshBody, shape: tuple[int, int, int]) -> np.ndarray:
    """(nx, ny, nz) bool: nodes inside the mesh or on its surface (a fluid node whose link into the body
    meets the surface at its own position is moved into the body, as ``r <= R`` does for a sphere)."""
    solid = _parity_solid(body.triangles, shape)
    for _ in range(3):
        nodes, dirs = cut_links(solid)
        t, _, _ = link_fractions(body.triangles, nodes, d3.C[dirs])
        on = nodes[t <= ON_SURFACE]
        if len(on) == 0:
            break
        solid[tuple(on.T)] = True
    return solid


def wall_fractions(body: MeshBody, nodes: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(q in (0, 1], outward normal) for the cut links; a link that finds no crossing (only possible for
    a node that the inside test and the ray disagree on by round-off) gets the half-way q = 1/2."""
    t, normal, _ = link_fractions(body.triangles, nodes, c)
    q = np.where(np.isfinite(t), t, 0.5)
    return np.clip(q, 1e-6, 1.0), normal


def centreline_crossings(triangles: np.ndarray, y: float, z: float) -> np.ndarray:
    """Sorted x of the crossings of the line (y, z) along x with the mesh."""
    _, _, x = _column_hits(np.asarray(triangles, np.float64), y, 1.0, 1, z, 1.0, 1)
    return np.sort(x)
