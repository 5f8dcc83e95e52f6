"""Body shapes: a polygon (JSON points) or a mask image (PNG) for the 2D cylinder channel, or an STL
mesh for the 3D ``lbm3d:body`` duct, validated.

Why checks by content: a file called ``body.png`` may be anything. A mask is accepted only when its
first bytes are the PNG signature *and* Pillow decodes it as a PNG of bounded size (the pixel count
is checked before the pixels are decoded, against decompression bombs).

Coordinates are cells of the channel grid ``(nx, ny)``: x from the inlet, y from the bottom wall.
In a mask image the top row is the top wall; dark opaque pixels (luminance < 128) are solid.

A run of ``lbm2d:cylinder`` simulates the uploaded shape itself: a polygon as a polygon body (its
wall distances come from the true edges), a mask as a mask body (half-way walls on its cell faces),
both moved onto the run's grid by :func:`scaled_cylinder_params`. The equivalent circle (same area,
same centroid) is still reported, and used only for geometries stored before shapes were kept.

An STL mesh is checked as the world checks it (:mod:`atom_sdk.worlds.mesh3d`: closed, oriented, one
body, finite, no degenerate faces) and stored as uploaded; a run of ``lbm3d:body`` reads that file (its
SHA-256 is pinned in the run's parameters) and scales it so its frontal diameter is the uploaded
fraction of the duct's smaller side.
"""

from __future__ import annotations

import base64
import io
import json
import math
import zlib
from typing import Any

import numpy as np

from atom_sdk.platform.errors import GeometryError

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
MAX_SIDE = 1024
MIN_SIDE = 8
MAX_POINTS = 512
MAX_BLOCKAGE = 0.8
#: frontal diameter of an uploaded mesh as a fraction of the duct's smaller side: default and bounds
MESH_DIAMETER_FRACTION = (0.25, 0.05, 0.6)
MESH_FILE = "body.stl"
MESH_WORLD = "lbm3d:body"
CHANNEL_WORLD = "lbm2d:cylinder"


def parse_polygon(text: str) -> list[tuple[float, float]]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise GeometryError(f"polygon must be JSON like [[x, y], ...] ({exc.msg})") from None
    if isinstance(data, dict):
        data = data.get("points")
    if not isinstance(data, list) or not 3 <= len(data) <= MAX_POINTS:
        raise GeometryError(f"polygon needs 3 to {MAX_POINTS} points [[x, y], ...]")
    points = []
    for p in data:
        if (not isinstance(p, (list, tuple)) or len(p) != 2
                or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in p)):
            raise GeometryError(f"each polygon point must be two finite numbers [x, y], got {p!r}")
        points.append((float(p[0]), float(p[1])))
    return points


def check_outline(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """The polygon, refused with the reason when it crosses itself or has no area (as the world would)."""
    from atom_sdk.errors import WorldParameterError
    from atom_sdk.worlds.bodies import check_polygon

    try:
        check_polygon(np.asarray(points, float))
    except WorldParameterError as exc:
        raise GeometryError(str(exc)) from None
    return points


def encode_mask(mask: np.ndarray) -> str:
    """Compact text form of a mask (bits packed, deflated, base64) kept with the geometry's properties."""
    return base64.b64encode(zlib.compress(np.packbits(np.asarray(mask, bool).ravel()).tobytes(), 9)).decode()


def decode_mask_bits(text: str, grid: tuple[int, int]) -> np.ndarray:
    nx, ny = grid
    bits = np.unpackbits(np.frombuffer(zlib.decompress(base64.b64decode(text)), np.uint8))[: nx * ny]
    return bits.astype(bool).reshape(nx, ny)


def rasterize_polygon(points: list[tuple[float, float]], grid: tuple[int, int]) -> np.ndarray:
    """(nx, ny) bool mask of the cells whose centres lie inside the polygon."""
    from PIL import Image, ImageDraw

    nx, ny = grid
    area = 0.5 * abs(sum(x0 * y1 - x1 * y0 for (x0, y0), (x1, y1) in zip(points, points[1:] + points[:1])))
    if area < 1.0:
        raise GeometryError(f"polygon area is {area:.3g} cells; draw a body of at least a few cells")
    for x, y in points:
        if not (0 <= x <= nx - 1 and 0 <= y <= ny - 1):
            raise GeometryError(f"point ({x:g}, {y:g}) is outside the {nx}x{ny} channel; use cell coordinates "
                                f"0..{nx - 1} along x and 0..{ny - 1} along y")
    image = Image.new("1", (nx, ny), 0)
    ImageDraw.Draw(image).polygon([(x, ny - 1 - y) for x, y in points], fill=1, outline=1)
    return np.asarray(image, dtype=bool)[::-1].T.copy()


def decode_mask(data: bytes) -> np.ndarray:
    """(nx, ny) bool mask from PNG bytes (checked by signature and by decoding)."""
    from PIL import Image, UnidentifiedImageError

    if not data.startswith(PNG_SIGNATURE):
        raise GeometryError("the mask is not a PNG image (its content does not start with the PNG signature); "
                            "upload a PNG whatever its file name")
    # the size from the IHDR chunk's header bytes, before Pillow reads anything (Pillow's own bomb guard would
    # otherwise answer a huge mask with its message instead of this one)
    if len(data) >= 24 and data[12:16] == b"IHDR":
        width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
        if not (MIN_SIDE <= width <= MAX_SIDE and MIN_SIDE <= height <= MAX_SIDE):
            raise GeometryError(f"mask is {width}x{height} pixels; use {MIN_SIDE} to {MAX_SIDE} pixels per side")
    try:
        with Image.open(io.BytesIO(data), formats=["PNG"]) as probe:
            width, height = probe.size
            if not (MIN_SIDE <= width <= MAX_SIDE and MIN_SIDE <= height <= MAX_SIDE):
                raise GeometryError(f"mask is {width}x{height} pixels; use {MIN_SIDE} to {MAX_SIDE} pixels per side")
            probe.verify()
        with Image.open(io.BytesIO(data), formats=["PNG"]) as image:
            image.load()
            rgba = image.convert("RGBA")
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise GeometryError(f"the PNG could not be decoded ({exc}); export it again as a plain PNG") from None
    arr = np.asarray(rgba, dtype=np.float64)
    luminance = 0.299 * arr[..., 0] + 0.587 * arr[..., 1] + 0.114 * arr[..., 2]
    solid = (luminance < 128) & (arr[..., 3] >= 128)
    return solid[::-1].T.copy()  # image rows top-down -> (x, y) with y up


def analyse(mask: np.ndarray, polygon: list[tuple[float, float]] | None = None) -> dict[str, Any]:
    """Check a body mask for the channel and describe it (area, centroid, blockage, equivalent circle).

    The shape itself is kept for runs: the polygon's vertices when one was uploaded, else the mask's bits.
    """
    from scipy import ndimage

    nx, ny = mask.shape
    cells = int(mask.sum())
    if cells < 4:
        raise GeometryError(f"the body covers {cells} cells; it needs at least 4 solid cells")
    _, components = ndimage.label(mask)
    if components != 1:
        raise GeometryError(f"the body has {components} separate parts; upload one connected body")
    xs, ys = np.nonzero(mask)
    if ys.min() < 1 or ys.max() > ny - 2:
        raise GeometryError("the body touches the top or bottom wall; leave at least one fluid cell to each wall")
    if xs.min() < 2 or xs.max() > nx - 3:
        raise GeometryError("the body touches the inlet or outlet; leave at least two fluid cells to each end")
    blockage = (ys.max() - ys.min() + 1) / ny
    if blockage > MAX_BLOCKAGE:
        raise GeometryError(f"the body blocks {blockage:.0%} of the channel height; keep it under "
                            f"{MAX_BLOCKAGE:.0%}")
    radius = math.sqrt(cells / math.pi)
    cx, cy = float(xs.mean()), float(ys.mean())
    return {"grid": [nx, ny], "solid_cells": cells, "area_fraction": cells / (nx * ny), "centroid": [cx, cy],
            "bbox": [int(xs.min()), int(ys.min()), int(xs.max()), int(ys.max())], "blockage": float(blockage),
            "equivalent_radius": radius,
            "cylinder_params": {"cylinder_x": cx, "cylinder_y": cy, "radius": radius},
            **({"polygon": [list(p) for p in polygon]} if polygon is not None else {"mask_bits": encode_mask(mask)})}


def mask_png(mask: np.ndarray) -> bytes:
    from PIL import Image

    image = Image.fromarray(np.where(mask.T[::-1], 0, 255).astype(np.uint8), mode="L")
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def scaled_cylinder_params(props: dict[str, Any], grid: tuple[int, int, int]) -> dict[str, Any]:
    """The uploaded body as ``lbm2d:cylinder`` parameters on a run's grid.

    Why this scaling: the channel height fixes the body's size (both axes scale by ny_run / ny, so the
    shape keeps its aspect ratio) while the centroid keeps its fraction of the channel length. Walls
    lie half a cell outside the first and last rows, so y maps as (y + 1/2) s - 1/2. A polygon stays a
    polygon (true wall distances), a mask is resampled to the run's nodes (nearest neighbour).
    Geometries stored before shapes were kept run as their equivalent circle.
    """
    gx, gy = props["grid"]
    nx, ny = int(grid[0]), int(grid[1])
    s, sx = ny / gy, nx / gx
    cx, cy = props["centroid"]
    cx_run = cx * sx

    def to_run(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return cx_run + (x - cx) * s, (y + 0.5) * s - 0.5

    if "polygon" in props:
        v = np.asarray(props["polygon"], float)
        x, y = to_run(v[:, 0], v[:, 1])
        return {"body": "polygon", "body_vertices": [[float(a), float(b)] for a, b in zip(x, y)]}
    if "mask_bits" in props:
        mask = decode_mask_bits(props["mask_bits"], (gx, gy))
        # source node of every run node: invert to_run and round to the nearest node
        ii = np.rint(cx + (np.arange(nx) - cx_run) / s).astype(int)
        jj = np.rint((np.arange(ny) + 0.5) / s - 0.5).astype(int)
        inside = (ii[:, None] >= 0) & (ii[:, None] < gx) & (jj[None, :] >= 0) & (jj[None, :] < gy)
        run_mask = np.where(inside, mask[np.clip(ii, 0, gx - 1)][:, np.clip(jj, 0, gy - 1)], False)
        if not run_mask.any():
            raise GeometryError(f"the body vanishes on the {nx}x{ny} grid; use a finer grid for this run")
        from atom_sdk.worlds.bodies import mask_to_rows

        return {"body": "mask", "body_mask": mask_to_rows(run_mask)}
    cp = props["cylinder_params"]
    return {"cylinder_x": cp["cylinder_x"] * sx, "cylinder_y": cp["cylinder_y"] * (ny / gy), "radius": cp["radius"] * s}


def analyse_mesh(data: bytes, diameter_fraction: float | None) -> dict[str, Any]:
    """Check an uploaded STL as ``lbm3d:body`` would and describe it (file units); refusals say what to fix."""
    import hashlib

    from atom_sdk.errors import WorldParameterError
    from atom_sdk.worlds import mesh3d

    default, lo, hi = MESH_DIAMETER_FRACTION
    fraction = default if diameter_fraction is None else float(diameter_fraction)
    if not (math.isfinite(fraction) and lo <= fraction <= hi):
        raise GeometryError(f"diameter_fraction is {fraction:g}; give the body's frontal diameter as {lo:g} to "
                            f"{hi:g} of the duct's smaller side")
    try:
        tri = mesh3d.check_mesh(mesh3d.read_stl(data))
    except WorldParameterError as exc:
        raise GeometryError(str(exc)) from None
    lo3, hi3 = tri.reshape(-1, 3).min(axis=0), tri.reshape(-1, 3).max(axis=0)
    extent = hi3 - lo3
    frontal = float(max(extent[1], extent[2]))
    if not frontal > 0:
        raise GeometryError("the mesh is flat in both y and z; it has no frontal extent (x is the flow direction)")
    volume = float(np.einsum("ij,ij->i", tri[:, 0], np.cross(tri[:, 1], tri[:, 2])).sum()) / 6
    return {"world": MESH_WORLD, "triangles": int(len(tri)), "extent": [float(v) for v in extent],
            "length_over_diameter": float(extent[0] / frontal), "volume": volume,
            "frontal_area_over_diameter2": mesh3d.frontal_area(tri) / frontal**2, "diameter_fraction": fraction,
            "mesh_sha256": hashlib.sha256(data).hexdigest()}


#: world parameters that name a file on the server: a client sets them only through a stored geometry
SERVER_FILE_PARAMS = ("mesh",)


def refuse_server_paths(params: dict[str, Any], where: str) -> None:
    """Refuse a request whose world parameters name a file on the server: an API client uploads the
    STL first and passes its ``geometry_id``, so no request can make the server read a path of its choosing."""
    from atom_sdk.errors import ConfigError

    named = sorted(k for k in SERVER_FILE_PARAMS if params.get(k) is not None)
    if named:
        raise ConfigError(f"{where}.{named[0]} names a file on the server, which the API does not accept; upload the "
                          "STL with POST /api/v1/geometries/upload and pass its geometry_id instead")


def run_params(props: dict[str, Any], world: str, grid: tuple[int, int, int], folder: Any) -> dict[str, Any]:
    """The stored geometry as parameters of the run's world: an STL for ``lbm3d:body`` (the stored file,
    pinned by its SHA-256, scaled to ``diameter_fraction`` of the duct), a 2D shape for ``lbm2d:cylinder``."""
    from atom_sdk.errors import ConfigError

    if "mesh_sha256" in props:
        if world != MESH_WORLD:
            raise ConfigError(f"this geometry is a 3D STL body; it runs in the '{MESH_WORLD}' world only: set "
                              f"world.name to '{MESH_WORLD}' or drop geometry_id")
        radius = 0.5 * props["diameter_fraction"] * min(int(grid[1]), int(grid[2]))
        return {"mesh": str(folder / MESH_FILE), "mesh_sha256": props["mesh_sha256"], "radius": radius}
    if world != CHANNEL_WORLD:
        raise ConfigError(f"geometry_id applies to the '{CHANNEL_WORLD}' world only (this is a 2D shape); drop it or "
                          "change world.name")
    return scaled_cylinder_params(props, grid)
