"""Geometry upload -> run: the uploaded shape itself is simulated (polygon or mask), not an equal-area circle."""

from __future__ import annotations

import io

import numpy as np
import pytest

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

from atom_sdk.platform import geometries as geo  # noqa: E402
from atom_sdk.platform.api import create_app  # noqa: E402
from atom_sdk.platform.testing import settings_for  # noqa: E402
from atom_sdk.worlds import bodies  # noqa: E402
from atom_sdk.worlds.cylinder import CylinderWorld  # noqa: E402

URL = "/api/v1/geometries/upload"
TRIANGLE = "[[20,12],[34,17],[20,22]]"  # wedge pointing downstream, 14 x 10 cells


@pytest.fixture()
def client(tmp_path):
    app = create_app(settings_for(tmp_path))
    with TestClient(app) as c:
        yield c


def _png(width: int, height: int, draw) -> bytes:
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (width, height), "white")
    draw(ImageDraw.Draw(image))
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def _world_params(client, gid: str, grid: list[int]) -> dict:
    run = client.post("/api/v1/runs", json={"config": {"world": {"name": "lbm2d:cylinder", "grid": grid},
                                                       "steps": 4}, "geometry_id": gid})
    assert run.status_code == 202, run.json()
    return run.json()["params"]["config"]["world"]["params"]


def test_uploaded_polygon_runs_as_that_polygon(client) -> None:
    up = client.post(URL, data={"name": "wedge", "polygon": TRIANGLE, "grid": "96,34"})
    assert up.status_code == 201, up.json()
    params = _world_params(client, up.json()["id"], [96, 34, 1])
    assert params["body"] == "polygon" and "radius" not in params
    assert np.allclose(params["body_vertices"], [[20, 12], [34, 17], [20, 22]])  # same grid: unchanged
    twice = _world_params(client, up.json()["id"], [192, 68, 1])  # twice the resolution: scaled about the centroid
    v = np.asarray(twice["body_vertices"])
    assert v[:, 1] == pytest.approx([24.5, 34.5, 44.5]) and v[1, 0] - v[0, 0] == pytest.approx(28.0)
    world = CylinderWorld(grid=(96, 34, 1), substeps=5, **params)
    assert abs(world.geometry.solid.sum() - 70) <= 8  # the triangle's area is 70 cells
    q = np.asarray(bodies.link_table(world.body, 96, 34).q)
    assert not np.all(q == 0.5)  # slanted faces: wall distances from the true edges, not half-way
    crossing = client.post(URL, data={"name": "bowtie", "polygon": "[[20,12],[30,22],[30,12],[20,22]]"})
    assert crossing.status_code == 422 and "self-intersecting" in crossing.json()["message"]


def test_uploaded_mask_runs_as_that_mask(client) -> None:
    png = _png(96, 34, lambda d: d.rectangle((20, 10, 29, 21), fill="black"))  # 10 x 12 px block
    up = client.post(URL, data={"name": "block"}, files={"file": ("b.png", png, "image/png")})
    assert up.status_code == 201, up.json()
    params = _world_params(client, up.json()["id"], [96, 34, 1])
    assert params["body"] == "mask" and len(params["body_mask"]) == 34
    world = CylinderWorld(grid=(96, 34, 1), substeps=5, **params)
    solid = world.geometry.solid
    assert solid.sum() == 120 and np.array_equal(solid, geo.decode_mask(png))  # the uploaded block, not a disc
    world.reset(seed=0)
    obs, *_ = world.step([0.0])
    assert np.all(np.isfinite(obs))
