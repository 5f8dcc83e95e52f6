"""Uploaded body shapes: upload (polygon or PNG mask for the 2D cylinder channel, STL mesh for the 3D
``lbm3d:body`` duct), list, read, mask image, mesh file.

The checks on the shape itself live in ``atom_sdk.platform.geometries``; this router stores the
accepted mask, its measurements and the shape (polygon, mask bits or the STL file) that a run simulates.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Path, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from atom_sdk.artifacts import atomic_write_bytes, write_json
from atom_sdk.platform import geometries as geo
from atom_sdk.platform import models
from atom_sdk.platform.deps import PlatformDep, ReaderDep, WriterDep
from atom_sdk.platform.errors import GeometryError
from atom_sdk.platform.state import Platform
from atom_sdk.platform.store import Geometry, new_id, utcnow

router = APIRouter(prefix="/api/v1/geometries", tags=["geometries"])
GeometryId = Annotated[str, Path(max_length=64)]
MASK_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"content": {"image/png": {"schema": {"type": "string", "format": "binary"}}},
          "description": "the body mask (black = solid, top row = top wall)"}}


def _geometry_out(row: Geometry) -> dict[str, Any]:
    props = json.loads(row.properties)
    url = ({"mesh_url": f"/api/v1/geometries/{row.id}/{geo.MESH_FILE}"} if row.source == "stl"
           else {"mask_url": f"/api/v1/geometries/{row.id}/mask.png"})
    return {"id": row.id, "name": row.name, "source": row.source, "created_at": row.created_at, **url, **props}


GeometryOut = models.GeometryInfo | models.MeshGeometryInfo


@router.get("", response_model=models.GeometryList, summary="Uploaded body shapes")
def list_geometries(p: PlatformDep, _r: ReaderDep) -> dict[str, Any]:
    from sqlalchemy import select

    with p.store.session() as s:
        rows = s.scalars(select(Geometry).order_by(Geometry.created_at.desc()).limit(500)).all()
        return {"items": [_geometry_out(r) for r in rows]}


async def _mask_from(p: Platform, polygon: str | None, grid: str | None,
                     file: UploadFile | None) -> tuple[Any, str, list[tuple[float, float]] | None]:
    """The body mask, where it came from ('mask' or 'polygon') and the polygon's points (or None).

    Exactly one of the two is sent.
    """
    if (polygon is None) == (file is None):
        raise GeometryError("send exactly one of 'polygon' (JSON points), 'file' (PNG mask) or 'mesh' (STL)")
    if file is not None:
        data = await file.read(p.settings.max_body_bytes + 1)
        return await run_in_threadpool(geo.decode_mask, data), "mask", None
    try:
        nx, ny = (int(n) for n in (grid or "96,34").split(","))
    except ValueError:
        raise GeometryError("grid must be 'nx,ny', e.g. 96,34") from None
    if not (geo.MIN_SIDE <= nx <= geo.MAX_SIDE and geo.MIN_SIDE <= ny <= geo.MAX_SIDE):
        raise GeometryError(f"grid sides must be {geo.MIN_SIDE} to {geo.MAX_SIDE} cells")
    points = geo.check_outline(geo.parse_polygon(polygon or ""))
    return await run_in_threadpool(geo.rasterize_polygon, points, (nx, ny)), "polygon", points


async def _store_mesh(p: Platform, who: Any, name: str, mesh: UploadFile,
                      diameter_fraction: float | None) -> dict[str, Any]:
    """Check and keep an uploaded STL: the file as sent (its SHA-256 pins it for runs) and its description."""
    data = await mesh.read(p.settings.max_body_bytes + 1)
    if len(data) > p.settings.max_body_bytes:
        raise GeometryError(f"the STL is larger than {p.settings.max_body_bytes} bytes; decimate the mesh or "
                            "upload it as a binary STL")
    props = await run_in_threadpool(geo.analyse_mesh, data, diameter_fraction)
    gid = new_id("geo")
    folder = p.settings.geometries_dir / gid
    atomic_write_bytes(folder / geo.MESH_FILE, data)
    write_json(folder / "geometry.json", {"name": name, "source": "stl", **props})
    with p.store.session() as s, s.begin():
        row = Geometry(id=gid, name=name, source="stl", created_at=utcnow(), owner=who.key_id,
                       properties=json.dumps(props))
        s.add(row)
    return _geometry_out(row)


@router.post("/upload", response_model=GeometryOut, status_code=201,
             summary="Upload a body: a polygon (JSON points) or a PNG mask for the cylinder channel, or an STL "
                     "mesh for lbm3d:body")
async def upload_geometry(p: PlatformDep, who: WriterDep, name: Annotated[str, Form(min_length=1, max_length=128)],
                          polygon: Annotated[str | None, Form(max_length=65536,
                                                              description="JSON [[x, y], ...] in cells")] = None,
                          grid: Annotated[str | None, Form(max_length=64,
                                                           description="'nx,ny' for a polygon (default 96,34)")] = None,
                          file: Annotated[UploadFile | None,
                                          File(description="PNG mask: dark pixels are solid")] = None,
                          mesh: Annotated[UploadFile | None,
                                          File(description="STL (ASCII or binary) of one closed body, x along "
                                                           "the flow, for lbm3d:body")] = None,
                          diameter_fraction: Annotated[float | None, Form(
                              description="STL only: frontal diameter as a fraction of the duct's smaller side "
                                          "(default 0.25)")] = None) -> dict[str, Any]:
    from atom_sdk.workspace import name_problem

    problem = name_problem(name)
    if problem is not None:
        raise GeometryError(f"geometry name {problem}; use a short plain name such as 'wing-2'")
    if mesh is not None:
        if polygon is not None or file is not None or grid is not None:
            raise GeometryError("send exactly one of 'polygon' (JSON points), 'file' (PNG mask) or 'mesh' (STL)")
        return await _store_mesh(p, who, name, mesh, diameter_fraction)
    if diameter_fraction is not None:
        raise GeometryError("diameter_fraction sizes an STL 'mesh'; drop it for a polygon or a mask")
    mask, source, points = await _mask_from(p, polygon, grid, file)
    props = geo.analyse(mask, points)
    gid = new_id("geo")
    folder = p.settings.geometries_dir / gid
    atomic_write_bytes(folder / "mask.png", geo.mask_png(mask))
    write_json(folder / "geometry.json", {"name": name, "source": source, **props})
    with p.store.session() as s, s.begin():
        row = Geometry(id=gid, name=name, source=source, created_at=utcnow(), owner=who.key_id,
                       properties=json.dumps(props))
        s.add(row)
    return _geometry_out(row)


@router.get("/{geometry_id}", response_model=GeometryOut, summary="One geometry")
def get_geometry(geometry_id: GeometryId, p: PlatformDep, _r: ReaderDep) -> dict[str, Any]:
    with p.store.session() as s:
        return _geometry_out(p.geometry_row(s, geometry_id))


@router.get("/{geometry_id}/mask.png", response_model=None, responses=MASK_RESPONSES,
            summary="The geometry's mask as a PNG")
def geometry_mask(geometry_id: GeometryId, p: PlatformDep, _r: ReaderDep) -> Response:
    p.geometry_properties(geometry_id)
    path = p.settings.geometries_dir / geometry_id / "mask.png"
    if not path.is_file():
        raise GeometryError(f"geometry '{geometry_id}' is a 3D mesh and has no mask; fetch its {geo.MESH_FILE}")
    return Response(path.read_bytes(), media_type="image/png")


@router.get("/{geometry_id}/" + geo.MESH_FILE, response_model=None,
            responses={200: {"content": {"model/stl": {"schema": {"type": "string", "format": "binary"}}},
                             "description": "the uploaded STL, as sent"}},
            summary="The geometry's STL mesh, as uploaded")
def geometry_mesh(geometry_id: GeometryId, p: PlatformDep, _r: ReaderDep) -> Response:
    if "mesh_sha256" not in p.geometry_properties(geometry_id):
        raise GeometryError(f"geometry '{geometry_id}' is a 2D shape; fetch its mask.png")
    return Response((p.settings.geometries_dir / geometry_id / geo.MESH_FILE).read_bytes(), media_type="model/stl")
