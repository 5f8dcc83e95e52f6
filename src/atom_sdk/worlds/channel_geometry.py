"""The channel's geometry for ``lbm2d:cylinder``: body, Bouzidi link coefficients, jets, inlet, probes.

Why apart from the world: this is NumPy set-up code run once per world (and by the geometry upload's
checks), while the world module holds the JAX dynamics and its benchmarks. The body's wall distances
come from :mod:`atom_sdk.worlds.bodies`.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import jax.numpy as jnp
import numpy as np

from atom_sdk.errors import WorldParameterError
from atom_sdk.worlds import bodies, lbm

#: Schäfer–Turek geometry in units of the channel height H = 0.41
ST_HEIGHT, ST_LENGTH, ST_DIAMETER, ST_CENTRE = 0.41, 2.2, 0.1, (0.2, 0.2)

class Geometry(NamedTuple):
    """NumPy description of the channel, built once per world."""

    nx: int
    ny: int
    cx: float
    cy: float
    radius: float
    solid: np.ndarray  # (nx, ny) bool
    links: lbm.BodyLinks
    inlet_ux: np.ndarray  # (ny,)
    probes: np.ndarray  # (n, 2) int node indices


def default_cylinder(nx: int, ny: int) -> tuple[float, float, float]:
    """Schäfer–Turek placement scaled so that the channel height is ny cells (walls at -1/2, ny-1/2)."""
    scale = ny / ST_HEIGHT
    return ST_CENTRE[0] * scale, ST_CENTRE[1] * scale - 0.5, 0.5 * ST_DIAMETER * scale


def inlet_profile(ny: int, u_mean: float, kind: str) -> np.ndarray:
    """Parabola with walls half a cell outside rows 0 and ny-1, mean U over the height."""
    if kind == "uniform":
        return np.full(ny, u_mean)
    eta = (np.arange(ny) + 0.5) / ny
    return 6.0 * u_mean * eta * (1.0 - eta)


def make_body(kind: str, cx: float, cy: float, radius: float, vertices: Any = None, mask_rows: Any = None,
              grid: tuple[int, int] = (0, 0)) -> bodies.Body:
    """The world's body: a circle (default), a square of side 2 radius, a polygon or a mask."""
    if kind == "circle":
        return bodies.Circle(cx, cy, radius)
    if kind == "square":
        return bodies.square(cx, cy, 2 * radius)
    if kind == "polygon":
        if vertices is None:
            raise WorldParameterError("body='polygon' needs body_vertices [[x, y], ...] in cells")
        return bodies.Polygon(bodies.check_polygon(np.asarray(vertices, float)))
    if mask_rows is None:
        raise WorldParameterError("body='mask' needs body_mask: ny strings of nx characters, '#' solid, top row first")
    return bodies.mask_from_rows(list(mask_rows), *grid)


def build_geometry(nx: int, ny: int, body: bodies.Body, u_mean: float, profile: str, jet_width_deg: float,
                   interpolated: bool, dtype: Any) -> Geometry:
    """Solid mask, Bouzidi coefficients, jet mass sources and probe nodes (NumPy, at build time).

    The wall fractions q come from the body's true surface (:mod:`atom_sdk.worlds.bodies`).
    """
    table = bodies.link_table(body, nx, ny)
    solid = table.solid
    cx, cy = bodies.centroid(body)
    radius = 0.5 * bodies.frontal_height(body)
    bx0, by0, bx1, by1 = bodies.bounds(body)
    x0, x1 = max(int(math.floor(bx0)) - 2, 1), min(int(math.ceil(bx1)) + 3, nx - 1)
    y0, y1 = max(int(math.floor(by0)) - 2, 0), min(int(math.ceil(by1)) + 3, ny)
    wx, wy = x1 - x0, y1 - y0
    mask = np.zeros((9, wx, wy), bool)
    a, b, c = (np.zeros((9, wx, wy)) for _ in range(3))
    jet_top, jet_bot = np.zeros((9, wx, wy)), np.zeros((9, wx, wy))
    half = max(math.radians(jet_width_deg) / 2, 0.75 / radius)  # at least ~1.5 cells of arc per jet
    for i, x, y, q, wall, normal in zip(table.i, table.x, table.y, table.q, table.wall, table.normal):
        lx, ly = x - x0, y - y0
        mask[i, lx, ly] = True
        back = (x - lbm.C[i, 0], y - lbm.C[i, 1])
        back_ok = 0 <= back[0] < nx and 0 <= back[1] < ny and not solid[back]
        if not interpolated or (q < 0.5 and not back_ok):
            a[i, lx, ly] = 1.0
        elif q < 0.5:
            a[i, lx, ly], b[i, lx, ly] = 2 * q, 1 - 2 * q
        else:
            a[i, lx, ly], c[i, lx, ly] = 1 / (2 * q), (2 * q - 1) / (2 * q)
        # moving-wall source of a jet normal to the wall, 6 w_i |c_i . n| cos-profile (Rabault's shape)
        theta = math.atan2(wall[1] - cy, wall[0] - cx)
        weight = 6 * lbm.W[i] * max(-(lbm.C[i].astype(float) @ normal), 0.0)
        for target, centre in ((jet_top, math.pi / 2), (jet_bot, -math.pi / 2)):
            off = abs(theta - centre)
            if off < half:
                target[i, lx, ly] = weight * math.cos(0.5 * math.pi * off / half)
    q_ref = u_mean * 2 * radius
    if jet_top.sum() <= 0 or jet_bot.sum() <= 0:
        raise WorldParameterError("the jets cover no wall link of the body (they sit at +-90 degrees about its "
                                  "centroid); enlarge the body or jet_width_deg")
    # each jet carries exactly +-Q_ref per unit action, so the discrete net mass flux is zero
    jet = q_ref * (jet_top / jet_top.sum() - jet_bot / jet_bot.sum())
    links = lbm.BodyLinks(origin=(x0, y0), mask=jnp.asarray(mask), a=jnp.asarray(a, dtype),
                          b=jnp.asarray(b, dtype), c=jnp.asarray(c, dtype), jet=jnp.asarray(jet, dtype),
                          solid=jnp.asarray(solid[x0:x1, y0:y1]))
    return Geometry(nx, ny, cx, cy, radius, solid, links, inlet_profile(ny, u_mean, profile),
                    _probe_nodes(nx, ny, cx, cy, radius, solid))


def _probe_nodes(nx: int, ny: int, cx: float, cy: float, radius: float, solid: np.ndarray) -> np.ndarray:
    """Eight probes on a ring at 1.5 R plus a 5 x 5 grid in the near wake (Rabault-style)."""
    pts = [(cx + 1.5 * radius * math.cos(t), cy + 1.5 * radius * math.sin(t))
           for t in np.linspace(0, 2 * math.pi, 8, endpoint=False)]
    d = 2 * radius
    for fx in (1.0, 1.5, 2.0, 3.0, 4.0):
        for fy in (-0.8, -0.4, 0.0, 0.4, 0.8):
            pts.append((cx + fx * d, cy + fy * d))
    nodes = np.clip(np.rint(np.array(pts)).astype(int), [0, 0], [nx - 1, ny - 1])
    return np.array([n for n in nodes if not solid[n[0], n[1]]])
