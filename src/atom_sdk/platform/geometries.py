"""Body shapes for the cylinder channel: a polygon (JSON points) or a mask image (PNG), validated.

Why checks by content: a file called ``body.png`` may be anything. A mask is accepted only when its
first bytes are the PNG signature *and* Pillow decodes it as a PNG of bounded size (the pixel count
is checked before the pixels are decoded, against decompression bombs).

Coordinates are cells of the channel grid ``(nx, ny)``: x from the inlet, y from the bottom wall.
In a mask image the top row is the top wall; dark opaque pixels (luminance < 128) are solid.

The ``lbm2d:cylinder`` world simulates circular bodies, so a shape is applied to a run as its
equivalent circle (same area, same centroid); the mask itself is kept for display and for worlds
that accept masks.
"""

from __future__ import annotations

import io
import json
import math
from typing import Any

import numpy as np

from atom_sdk.platform.errors import GeometryError

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
MAX_SIDE = 1024
MIN_SIDE = 8
MAX_POINTS = 512
MAX_BLOCKAGE = 0.8


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


def analyse(mask: np.ndarray) -> dict[str, Any]:
    """Check a body mask for the channel and describe it (area, centroid, blockage, equivalent circle)."""
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
            "cylinder_params": {"cylinder_x": cx, "cylinder_y": cy, "radius": radius}}


def mask_png(mask: np.ndarray) -> bytes:
    from PIL import Image

    image = Image.fromarray(np.where(mask.T[::-1], 0, 255).astype(np.uint8), mode="L")
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def scaled_cylinder_params(props: dict[str, Any], grid: tuple[int, int, int]) -> dict[str, float]:
    """The equivalent circle moved onto a run's grid (scaled by the channel height)."""
    gx, gy = props["grid"]
    sx, sy = grid[0] / gx, grid[1] / gy
    cp = props["cylinder_params"]
    return {"cylinder_x": cp["cylinder_x"] * sx, "cylinder_y": cp["cylinder_y"] * sy, "radius": cp["radius"] * sy}
