"""Immersed 2D bodies for the lattice-Boltzmann channel: solid mask, wall links and link distances q.

Why a module of pure functions: interpolated bounce-back (Bouzidi, Firdaouss & Lallemand, Phys.
Fluids 13, 2001) is only as good as the wall distance q of every cut link, and q must come from the
*true* surface, not from the staircase of solid nodes. A circle gets the analytic ray-circle root,
a polygon the nearest ray-segment intersection; a bare mask has no surface beyond its cells, whose
faces lie half-way between nodes, so its links get q = 1/2 (plain half-way bounce-back). All of
this is NumPy at set-up time; the world turns the result into JAX arrays for the step.

Coordinates are lattice units: node (i, j) sits at (x, y) = (i, j); the channel walls lie half a
cell outside rows 0 and ny - 1.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple, Union

import numpy as np

from atom_sdk.errors import WorldParameterError

#: lattice velocities of D2Q9 (same order as ``lbm.C``; repeated to keep this module NumPy-only)
C = np.array([[0, 0], [1, 0], [0, 1], [-1, 0], [0, -1], [1, 1], [-1, 1], [-1, -1], [1, -1]], dtype=np.int64)
#: fluid nodes kept between a body and each channel wall / the inlet and outlet columns
WALL_GAP = 2.0


@dataclass(frozen=True)
class Circle:
    cx: float
    cy: float
    radius: float


@dataclass(frozen=True)
class Polygon:
    """A simple (non-self-intersecting) polygon, vertices (n, 2) in lattice units, either orientation."""

    vertices: np.ndarray


@dataclass(frozen=True)
class Mask:
    """A body given only as solid nodes, shape (nx, ny)."""

    solid: np.ndarray


Body = Union[Circle, Polygon, Mask]


class LinkTable(NamedTuple):
    """Every cut link: fluid node (x, y), direction i with (x, y) + c_i solid, wall fraction q in (0, 1],
    the wall point and the body's outward unit normal there."""

    solid: np.ndarray  # (nx, ny) bool
    i: np.ndarray  # (n,) direction
    x: np.ndarray  # (n,) fluid node
    y: np.ndarray
    q: np.ndarray  # (n,) fraction of the link before the wall
    wall: np.ndarray  # (n, 2) wall point
    normal: np.ndarray  # (n, 2) outward unit normal


# ---- construction helpers ------------------------------------------------------------------------
def square(cx: float, cy: float, side: float, angle_deg: float = 0.0) -> Polygon:
    """A square of side ``side`` centred at (cx, cy), rotated by ``angle_deg`` counter-clockwise."""
    h = 0.5 * side
    corners = np.array([[-h, -h], [h, -h], [h, h], [-h, h]])
    t = math.radians(angle_deg)
    rot = np.array([[math.cos(t), -math.sin(t)], [math.sin(t), math.cos(t)]])
    return Polygon(corners @ rot.T + np.array([cx, cy]))


def regular_polygon(cx: float, cy: float, radius: float, n: int) -> Polygon:
    """The n-gon inscribed in a circle (a circle through the generic polygon path when n is large)."""
    t = 2 * np.pi * np.arange(n) / n
    return Polygon(np.stack([cx + radius * np.cos(t), cy + radius * np.sin(t)], axis=1))


def mask_from_rows(rows: list[str], nx: int, ny: int) -> Mask:
    """A mask written as ``ny`` strings of ``nx`` characters, top wall first; '#' or '1' is solid."""
    if len(rows) != ny or any(len(r) != nx for r in rows):
        raise WorldParameterError(f"body_mask must be {ny} rows of {nx} characters each (the grid, top row first); "
                                  f"got {len(rows)} rows of lengths {sorted({len(r) for r in rows})}")
    bad = set("".join(rows)) - set("#1.0")
    if bad:
        raise WorldParameterError(f"body_mask may contain only '#' or '1' (solid) and '.' or '0' (fluid), "
                                  f"found {sorted(bad)}")
    grid = np.array([[ch in "#1" for ch in r] for r in rows], dtype=bool)
    return Mask(grid[::-1].T.copy())


def mask_to_rows(solid: np.ndarray) -> list[str]:
    """Inverse of :func:`mask_from_rows`."""
    return ["".join("#" if s else "." for s in row) for row in np.asarray(solid, bool).T[::-1]]


# ---- geometry of a body ---------------------------------------------------------------------------
def _polygon_area(v: np.ndarray) -> float:
    x, y = v[:, 0], v[:, 1]
    return 0.5 * float(np.sum(x * np.roll(y, -1) - np.roll(x, -1) * y))


def bounds(body: Body) -> tuple[float, float, float, float]:
    """(x_min, y_min, x_max, y_max) of the body."""
    if isinstance(body, Circle):
        return body.cx - body.radius, body.cy - body.radius, body.cx + body.radius, body.cy + body.radius
    if isinstance(body, Polygon):
        v = np.asarray(body.vertices, float)
        return float(v[:, 0].min()), float(v[:, 1].min()), float(v[:, 0].max()), float(v[:, 1].max())
    xs, ys = np.nonzero(body.solid)
    return xs.min() - 0.5, ys.min() - 0.5, xs.max() + 0.5, ys.max() + 0.5


def centroid(body: Body) -> tuple[float, float]:
    """Area centroid (the centre the jets' angles and the probes refer to)."""
    if isinstance(body, Circle):
        return body.cx, body.cy
    if isinstance(body, Polygon):
        v = np.asarray(body.vertices, float)
        x, y = v[:, 0], v[:, 1]
        cross = x * np.roll(y, -1) - np.roll(x, -1) * y
        a = 0.5 * cross.sum()
        return (float(np.sum((x + np.roll(x, -1)) * cross) / (6 * a)),
                float(np.sum((y + np.roll(y, -1)) * cross) / (6 * a)))
    xs, ys = np.nonzero(body.solid)
    return float(xs.mean()), float(ys.mean())


def frontal_height(body: Body) -> float:
    """Projected height across the flow: the length D in Re = U D / nu and C = 2 F / (rho U^2 D)."""
    _, y0, _, y1 = bounds(body)
    return y1 - y0


def _segments_cross(p1: np.ndarray, p2: np.ndarray, q1: np.ndarray, q2: np.ndarray) -> np.ndarray:
    """Whether segments p1-p2 and q1-q2 (broadcast arrays (..., 2)) intersect, touching included."""
    def orient(a, b, c):
        return np.sign((b[..., 0] - a[..., 0]) * (c[..., 1] - a[..., 1]) - (b[..., 1] - a[..., 1]) * (c[..., 0] - a[..., 0]))

    def on_segment(a, b, c):  # c collinear with a-b: inside its bounding box?
        return ((np.minimum(a[..., 0], b[..., 0]) <= c[..., 0]) & (c[..., 0] <= np.maximum(a[..., 0], b[..., 0]))
                & (np.minimum(a[..., 1], b[..., 1]) <= c[..., 1]) & (c[..., 1] <= np.maximum(a[..., 1], b[..., 1])))

    o1, o2, o3, o4 = orient(p1, p2, q1), orient(p1, p2, q2), orient(q1, q2, p1), orient(q1, q2, p2)
    proper = (o1 != o2) & (o3 != o4)
    return (proper | ((o1 == 0) & on_segment(p1, p2, q1)) | ((o2 == 0) & on_segment(p1, p2, q2))
            | ((o3 == 0) & on_segment(q1, q2, p1)) | ((o4 == 0) & on_segment(q1, q2, p2)))


def check_polygon(vertices: np.ndarray) -> np.ndarray:
    """The vertices as an (n, 2) float array, or a clear error: too few, not finite, no area, self-intersecting."""
    v = np.asarray(vertices, dtype=float)
    if v.ndim != 2 or v.shape[1] != 2 or len(v) < 3:
        raise WorldParameterError(f"a polygon body needs at least 3 vertices [[x, y], ...]; got shape {v.shape}")
    if not np.all(np.isfinite(v)):
        raise WorldParameterError("polygon vertices must be finite numbers")
    if len(v) > 4096:
        raise WorldParameterError(f"a polygon body may have at most 4096 vertices, got {len(v)}; simplify it")
    n = len(v)
    a, b = v, np.roll(v, -1, axis=0)
    if np.any(np.all(a == b, axis=1)):
        raise WorldParameterError("the polygon repeats a vertex (a zero-length edge); remove the duplicate")
    ii, jj = np.triu_indices(n, k=2)
    keep = ~((ii == 0) & (jj == n - 1))  # the first and last edges share a vertex
    ii, jj = ii[keep], jj[keep]
    hit = _segments_cross(a[ii], b[ii], a[jj], b[jj])
    if np.any(hit):
        k = int(np.argmax(hit))
        raise WorldParameterError(f"the polygon is self-intersecting: edge {ii[k]} ({a[ii[k]].tolist()} -> "
                                  f"{b[ii[k]].tolist()}) crosses edge {jj[k]} ({a[jj[k]].tolist()} -> "
                                  f"{b[jj[k]].tolist()}); give the outline in order, without crossings")
    if abs(_polygon_area(v)) < 1.0:
        raise WorldParameterError(f"the polygon's area is {abs(_polygon_area(v)):.3g} cells; a body needs at "
                                  "least one cell of area (are the vertices collinear or repeated?)")
    return v


def check_body(body: Body, nx: int, ny: int) -> None:
    """Refuse a body that is malformed, leaves the channel or leaves no fluid between it and a wall."""
    if isinstance(body, Polygon):
        check_polygon(body.vertices)
    elif isinstance(body, Mask):
        if body.solid.shape != (nx, ny):
            raise WorldParameterError(f"the body mask is {body.solid.shape[0]}x{body.solid.shape[1]} nodes but the "
                                      f"grid is {nx}x{ny}; give one entry per node")
        if not body.solid.any():
            raise WorldParameterError("the body mask has no solid node; mark the body with '#' (or 1)")
        from scipy import ndimage

        parts = ndimage.label(body.solid)[1]
        if parts != 1:
            raise WorldParameterError(f"the body mask has {parts} separate parts; give one connected body")
    elif not body.radius > 0:
        raise WorldParameterError(f"the circle's radius must be positive (got {body.radius})")
    x0, y0, x1, y1 = bounds(body)
    if x1 < 0 or x0 > nx - 1 or y1 < -0.5 or y0 > ny - 0.5:
        raise WorldParameterError(f"the body (x {x0:.1f}..{x1:.1f}, y {y0:.1f}..{y1:.1f}) lies outside the "
                                  f"{nx}x{ny} channel; give coordinates in cells, 0..{nx - 1} along x, 0..{ny - 1} "
                                  "along y")
    if y0 < WALL_GAP or y1 > ny - 1 - WALL_GAP:
        raise WorldParameterError(f"the body (y {y0:.1f}..{y1:.1f}) touches or nearly touches a channel wall; keep "
                                  f"it within y = {WALL_GAP:g}..{ny - 1 - WALL_GAP:g} so fluid passes on both sides")
    if x0 < WALL_GAP or x1 > nx - 1 - WALL_GAP:
        raise WorldParameterError(f"the body (x {x0:.1f}..{x1:.1f}) touches the inlet or outlet; keep it within "
                                  f"x = {WALL_GAP:g}..{nx - 1 - WALL_GAP:g}")


def _inside_polygon(v: np.ndarray, px: np.ndarray, py: np.ndarray) -> np.ndarray:
    """Closed inside test (boundary counts as solid) by the even-odd rule plus an on-edge test."""
    inside = np.zeros(px.shape, bool)
    on_edge = np.zeros(px.shape, bool)
    for (x1, y1), (x2, y2) in zip(v, np.roll(v, -1, axis=0)):
        crosses = (y1 > py) != (y2 > py)
        with np.errstate(divide="ignore", invalid="ignore"):
            xc = x1 + (py - y1) * (x2 - x1) / (y2 - y1)
        inside ^= crosses & (px < xc)
        cross = (x2 - x1) * (py - y1) - (y2 - y1) * (px - x1)
        within = ((np.minimum(x1, x2) - 1e-12 <= px) & (px <= np.maximum(x1, x2) + 1e-12)
                  & (np.minimum(y1, y2) - 1e-12 <= py) & (py <= np.maximum(y1, y2) + 1e-12))
        on_edge |= within & (np.abs(cross) <= 1e-12 * max(1.0, math.hypot(x2 - x1, y2 - y1)))
    return inside | on_edge


def solid_mask(body: Body, nx: int, ny: int) -> np.ndarray:
    """(nx, ny) bool: the nodes inside the body or on its surface."""
    if isinstance(body, Mask):
        return np.asarray(body.solid, bool).copy()
    xs, ys = np.meshgrid(np.arange(nx), np.arange(ny), indexing="ij")
    if isinstance(body, Circle):
        return (xs - body.cx) ** 2 + (ys - body.cy) ** 2 <= body.radius**2
    return _inside_polygon(np.asarray(body.vertices, float), xs.astype(float), ys.astype(float))


def circle_fraction(d: np.ndarray, c: np.ndarray, radius: float) -> float:
    """Fraction q in (0, 1] of the link x -> x + c where the circle |p| = R is crossed (d = x - centre)."""
    cc = float(c @ c)
    dc = float(d @ c)
    disc = dc * dc - cc * (float(d @ d) - radius * radius)
    return float((-dc - math.sqrt(max(disc, 0.0))) / cc)


def polygon_fraction(v: np.ndarray, p: np.ndarray, c: np.ndarray) -> tuple[float, np.ndarray]:
    """First crossing of the link p -> p + c with the polygon's edges: (q, outward normal of that edge)."""
    a, b = v, np.roll(v, -1, axis=0)
    e = b - a
    denom = c[0] * e[:, 1] - c[1] * e[:, 0]
    w = a - p
    best_t, best = math.inf, -1
    for k in range(len(v)):
        if abs(denom[k]) > 1e-14:
            t = (w[k, 0] * e[k, 1] - w[k, 1] * e[k, 0]) / denom[k]
            s = (w[k, 0] * c[1] - w[k, 1] * c[0]) / denom[k]
            if -1e-12 <= s <= 1 + 1e-12 and 0.0 <= t <= 1 + 1e-12 and t < best_t:
                best_t, best = t, k
        elif abs(w[k, 0] * c[1] - w[k, 1] * c[0]) <= 1e-12:  # link runs along the edge: enters at an end point
            cc = float(c @ c)
            for t in (float((a[k] - p) @ c) / cc, float((b[k] - p) @ c) / cc):
                if 0.0 <= t <= 1 + 1e-12 and t < best_t:
                    best_t, best = t, k
    if best < 0:  # pragma: no cover - a cut link always crosses the closed polygon
        raise RuntimeError(f"no polygon edge on the cut link from {p.tolist()} along {c.tolist()}")
    # outward normal: rotate the edge by -90 degrees for counter-clockwise outlines (positive area)
    sign = 1.0 if _polygon_area(v) > 0 else -1.0
    n = sign * np.array([e[best, 1], -e[best, 0]])
    return float(min(max(best_t, 0.0), 1.0)), n / math.hypot(*n)


def link_table(body: Body, nx: int, ny: int) -> LinkTable:
    """All cut links of the body with their wall fractions, wall points and normals (NumPy, set-up time).

    Links leaving through the channel walls (y outside 0..ny-1) belong to the walls, not the body.
    """
    solid = solid_mask(body, nx, ny)
    rows: list[tuple[int, int, int, float, float, float, float, float]] = []
    poly = np.asarray(body.vertices, float) if isinstance(body, Polygon) else None
    for i in range(1, 9):
        ci = C[i].astype(float)
        tx, ty = np.nonzero(solid)
        fx, fy = tx - C[i, 0], ty - C[i, 1]  # fluid candidates pointing into solid (tx, ty)
        ok = (fx >= 0) & (fx < nx) & (fy >= 0) & (fy < ny)
        fx, fy = fx[ok], fy[ok]
        ok = ~solid[fx, fy]
        for x, y in zip(fx[ok], fy[ok]):
            p = np.array([x, y], float)
            if isinstance(body, Circle):
                d = np.array([x - body.cx, y - body.cy])
                q = circle_fraction(d, ci, body.radius)
                px, py = x + q * ci[0] - body.cx, y + q * ci[1] - body.cy
                normal = np.array([px, py]) / math.hypot(px, py)
            elif poly is not None:
                q, normal = polygon_fraction(poly, p, ci)
            else:
                q, normal = 0.5, -ci / math.hypot(*ci)
            rows.append((i, int(x), int(y), q, x + q * ci[0], y + q * ci[1], normal[0], normal[1]))
    rows.sort(key=lambda r: (r[0], r[1], r[2]))
    arr = np.array(rows, dtype=float).reshape(-1, 8)
    return LinkTable(solid, arr[:, 0].astype(int), arr[:, 1].astype(int), arr[:, 2].astype(int), arr[:, 3],
                     arr[:, 4:6], arr[:, 6:8])
