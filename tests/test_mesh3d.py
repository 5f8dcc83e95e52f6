"""3D bodies from STL meshes (``atom_sdk.worlds.mesh3d``, ``lbm3d:body``): reading, refusals, the inside
test, link fractions against the analytic sphere and a hand-computed box, and a run against ``lbm3d:sphere``.

Tolerances for the icosphere: its vertices lie on the sphere of radius R and its faces inside it, so the
two surfaces are at most ``sag`` = R - (smallest distance from the centre to a face plane) apart (0.45 %
of R for the 1280-face icosphere). A node can change sides only inside that shell, a wall point of the
mesh lies between R - sag and R, and along a link meeting the surface at cosine mu the two crossings are
at most about sag / mu apart.
"""

from __future__ import annotations

import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from atom_sdk.errors import WorldParameterError
from atom_sdk.worlds import lbm3d, mesh3d, registry
from atom_sdk.worlds.world3d import MeshBodyWorld, SphereWorld

SHAPE = (24, 20, 20)
CENTRE = np.array([10.0, 9.0, 9.0])
R = 5.0


def _ascii_stl(tri: np.ndarray) -> bytes:
    """An ASCII STL written here, independently of mesh3d's writer (normals left zero, as readers allow)."""
    out = ["solid test"]
    for t in tri:
        out += ["facet normal 0 0 0", "outer loop", *(f"vertex {a:.17g} {b:.17g} {c:.17g}" for a, b, c in t), "endloop",
                "endfacet"]
    return ("\n".join(out + ["endsolid test"]) + "\n").encode()


def _sag(body: mesh3d.MeshBody, centre: np.ndarray, radius: float) -> float:
    tri = body.triangles
    n = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    n /= np.linalg.norm(n, axis=1, keepdims=True)
    return radius - float(np.abs(np.einsum("ij,ij->i", n, tri[:, 0] - centre)).min())


@pytest.fixture(scope="module")
def icosphere(tmp_path_factory) -> mesh3d.MeshBody:
    path = tmp_path_factory.mktemp("mesh") / "ico.stl"
    path.write_bytes(mesh3d.stl_bytes(mesh3d.icosphere(3), binary=True))
    tri = mesh3d.check_mesh(mesh3d.read_stl(path))
    assert tri.shape == (1280, 3, 3)
    return mesh3d.place(tri, 2 * R, tuple(CENTRE))


def test_icosphere_solid_mask_is_the_sphere_except_on_the_sag_shell(icosphere) -> None:
    sag = _sag(icosphere, CENTRE, R)
    assert 0.004 * R < sag < 0.005 * R
    solid = mesh3d.solid_mask(icosphere, SHAPE)
    sphere = lbm3d.body_solid(lbm3d.Sphere(*CENTRE, R), SHAPE)
    r = np.linalg.norm(np.stack(np.meshgrid(*(np.arange(n) for n in SHAPE), indexing="ij"), -1) - CENTRE, axis=-1)
    differ = solid != sphere
    assert np.all((r[differ] >= R - sag - 1e-9) & (r[differ] <= R + 1e-9))
    assert differ.sum() <= 0.1 * sphere.sum() and not np.any(solid & ~sphere)  # the polyhedron is inscribed


def test_icosphere_link_fractions_match_the_sphere_within_the_sag(icosphere) -> None:
    sag = _sag(icosphere, CENTRE, R)
    solid = mesh3d.solid_mask(icosphere, SHAPE)
    nodes, dirs = mesh3d.cut_links(solid)
    c = lbm3d.C[dirs]
    q, normal = mesh3d.wall_fractions(icosphere, nodes, c)
    assert len(q) > 1000 and np.all((q > 0) & (q <= 1))
    wall_r = np.linalg.norm(nodes + q[:, None] * c - CENTRE, axis=1)
    assert wall_r.min() >= R - sag - 1e-9 and wall_r.max() <= R + 1e-9
    sphere = lbm3d.Sphere(*CENTRE, R)
    q_ref = lbm3d.wall_fraction(sphere, nodes, c)
    n_ref = lbm3d.outward_normal(sphere, nodes + q_ref[:, None] * c)
    length = np.linalg.norm(c, axis=1)
    mu = np.abs(np.einsum("ij,ij->i", c / length[:, None], n_ref))
    steep = mu >= 0.3
    assert np.all(np.abs(q - q_ref)[steep] * length[steep] * mu[steep] <= 1.1 * sag)
    assert np.abs(q - q_ref).mean() < 0.02
    # facet normals: within the angle a facet spans (about 4 degrees here, 6 allowed)
    assert np.degrees(np.arccos(np.clip(np.einsum("ij,ij->i", normal, n_ref), -1, 1))).max() < 6.0


def test_box_fractions_are_the_hand_computed_slab_entries() -> None:
    lo, hi = np.array([7.25, 5.6, 6.3]), np.array([12.7, 13.2, 12.45])
    tri = mesh3d.check_mesh(mesh3d.read_stl(_ascii_stl(mesh3d.box(tuple(lo), tuple(hi)))))
    body = mesh3d.place(tri, float((hi - lo)[1:].max()), tuple(0.5 * (lo + hi)))
    assert np.allclose(body.lo, lo) and np.allclose(body.hi, hi)
    solid = mesh3d.solid_mask(body, SHAPE)
    grid = np.stack(np.meshgrid(*(np.arange(n) for n in SHAPE), indexing="ij"), -1)
    assert np.array_equal(solid, np.all((grid >= lo) & (grid <= hi), axis=-1))
    nodes, dirs = mesh3d.cut_links(solid)
    c = lbm3d.C[dirs].astype(float)
    q, normal = mesh3d.wall_fractions(body, nodes, c)
    # slab method by hand: entry time along each moving axis, the latest one
    with np.errstate(divide="ignore", invalid="ignore"):
        entry = np.where(c > 0, (lo - nodes) / c, np.where(c < 0, (hi - nodes) / c, -np.inf))
    expected = entry.max(axis=1)
    assert np.allclose(q, expected, atol=1e-9)
    axis_links = np.count_nonzero(c, axis=1) == 1
    values = sorted({round(v, 9) for v in q[axis_links]})
    assert values == [0.25, 0.3, 0.55, 0.6, 0.8]  # x: 7.25 - 7, 13 - 12.7; y: 5.6 - 5, 14 - 13.2; z: 6.3 - 6, 13 - 12.45
    face = np.argmax(entry, axis=1)
    unique = np.sum(np.isclose(entry, expected[:, None]), axis=1) == 1  # not through an edge of the box
    want = np.zeros_like(normal)
    want[np.arange(len(face)), face] = -np.sign(c[np.arange(len(face)), face])
    assert unique.sum() > 0.8 * len(q) and np.allclose(normal[unique], want[unique])


def test_node_on_faces_edges_and_vertices_counts_as_solid_exactly_once() -> None:
    """A cube whose faces, edges and corners lie on node rows: every grazing column is settled by the tie rule."""
    body = mesh3d.place(mesh3d.check_mesh(mesh3d.box((0, 0, 0), (1, 1, 1))), 6.0, tuple(CENTRE))
    solid = mesh3d.solid_mask(body, SHAPE)
    grid = np.stack(np.meshgrid(*(np.arange(n) for n in SHAPE), indexing="ij"), -1)
    assert np.array_equal(solid, np.all((grid >= [7, 6, 6]) & (grid <= [13, 12, 12]), axis=-1))
    nodes, dirs = mesh3d.cut_links(solid)
    q, _ = mesh3d.wall_fractions(body, nodes, lbm3d.C[dirs])
    assert np.allclose(q, 1.0)  # every fluid neighbour is one full link from the surface


def test_frontal_area_is_exact_for_convex_and_removes_hidden_parts() -> None:
    assert mesh3d.frontal_area(mesh3d.box((0, 0, 0), (3, 2, 5))) == pytest.approx(10.0, rel=1e-12)
    sphere = mesh3d.icosphere(3)
    assert mesh3d.frontal_area(sphere) == pytest.approx(np.pi, rel=0.01)
    # two boxes one behind the other (overlapping in projection): the hidden one must not count
    front, back = mesh3d.box((0, 0, 0), (1, 2, 2)), mesh3d.box((3, 0, 0), (4, 2, 2))
    assert mesh3d.frontal_area(np.concatenate([front, back])) == pytest.approx(4.0, rel=0.02)


def _open(tri):
    return tri[1:]


def _nan(tri):
    tri = tri.copy()
    tri[3, 1, 2] = np.nan
    return tri


def _flipped(tri):
    tri = tri.copy()
    tri[0] = tri[0, ::-1]
    return tri


def _degenerate(tri):
    tri = tri.copy()
    tri[0, 2] = tri[0, 1]
    return tri


def _two(tri):
    return np.concatenate([tri, tri + 5.0])


@pytest.mark.parametrize("spoil, message", [(_open, "not closed"), (_nan, "NaN or infinite"),
                                            (_flipped, "consistently oriented"), (_degenerate, "degenerate"),
                                            (_two, "2 separate bodies")])
def test_bad_meshes_are_refused_with_the_reason(spoil, message) -> None:
    with pytest.raises(WorldParameterError, match=message):
        mesh3d.check_mesh(spoil(mesh3d.icosphere(1)))


def test_inward_mesh_is_turned_outward_and_bad_files_are_refused(tmp_path) -> None:
    inward = mesh3d.box((0, 0, 0), (1, 1, 1))[:, ::-1]
    out = mesh3d.check_mesh(inward)
    n = np.cross(out[:, 1] - out[:, 0], out[:, 2] - out[:, 0])
    assert np.all(np.einsum("ij,ij->i", n, out.mean(axis=1) - 0.5) > 0)
    with pytest.raises(WorldParameterError, match="empty"):
        mesh3d.read_stl(b"")
    with pytest.raises(WorldParameterError, match="no triangles"):
        mesh3d.read_stl(b"this is not an stl file at all\n" * 4)
    with pytest.raises(WorldParameterError, match="does not exist"):
        mesh3d.read_stl(tmp_path / "missing.stl")
    two_solids = mesh3d.read_stl(_ascii_stl(mesh3d.box((0, 0, 0), (1, 1, 1))) + _ascii_stl(mesh3d.box((3, 0, 0), (4, 1, 1))))
    assert two_solids.shape == (24, 3, 3)  # every 'solid' block of the file is read ...
    with pytest.raises(WorldParameterError, match="2 separate bodies"):
        mesh3d.check_mesh(two_solids)  # ... and two bodies are refused
    nan_file = tmp_path / "nan.stl"
    nan_file.write_bytes(_ascii_stl(mesh3d.box((0, 0, 0), (1, 1, 1))).replace(b"vertex 0 0 0", b"vertex nan 0 0", 1))
    with pytest.raises(WorldParameterError, match="NaN"):
        MeshBodyWorld(grid=(32, 16, 16), mesh=str(nan_file))


@pytest.mark.parametrize("kwargs, message", [
    ({"radius": 6.0}, "from the side walls"),
    ({"center_x": 3.0}, "behind the inlet"),
    ({"radius": 1.5}, "at least 4"),
    ({"mesh_sha256": "00"}, "give 'mesh' too"),
])
def test_world_refuses_a_mesh_that_does_not_fit(kwargs, message) -> None:
    with pytest.raises(WorldParameterError, match=message):
        MeshBodyWorld(grid=(32, 16, 16), **kwargs)


def test_world_refuses_a_changed_file_and_a_plate_too_thin_to_resolve(tmp_path) -> None:
    plate = tmp_path / "plate.stl"
    plate.write_bytes(mesh3d.stl_bytes(mesh3d.box((0, 0, 0), (0.1, 1, 1))))
    with pytest.raises(WorldParameterError, match="thick along x"):
        MeshBodyWorld(grid=(40, 16, 16), mesh=str(plate), radius=3.0)
    with pytest.raises(WorldParameterError, match="SHA-256"):
        MeshBodyWorld(grid=(40, 16, 16), mesh=str(plate), mesh_sha256="ab" * 32)


def test_geometry_is_deterministic(icosphere) -> None:
    a = lbm3d.build_links(icosphere, SHAPE, True, 0.3, 1.0, np.float32)
    b = lbm3d.build_links(mesh3d.place(icosphere.triangles, 2 * R, tuple(CENTRE)), SHAPE, True, 0.3, 1.0, np.float32)
    assert np.array_equal(a[0], b[0])
    for x, y in zip(a[1], b[1]):
        assert np.array_equal(np.asarray(x), np.asarray(y))


def test_registered_and_check_env_passes(tmp_path) -> None:
    assert registry.GYM_IDS["lbm3d:body"] == "atom/Body3D-v0"
    path = tmp_path / "cube.stl"
    path.write_bytes(mesh3d.stl_bytes(mesh3d.box((0, 0, 0), (1, 1, 1))))
    world = registry.make("lbm3d:body", grid=(32, 16, 16), substeps=2, mesh=str(path))
    check_env(world, skip_render_check=True)
    assert world.reference_area() == pytest.approx(16.0)  # frontal diameter 4 cells: a 4 x 4 face
    assert world.geometry.solid.sum() == 5 * 4 * 4  # cube x 8..12 (faces on nodes: solid), y and z 5.5..9.5
    assert world.geometry.links.i.shape[0] > 0


def test_icosphere_run_gives_the_sphere_drag_within_one_percent() -> None:
    """Same grid, same run: C_D of the icosphere mesh against the analytic sphere (D = 4 cells).

    Measured (Re ~ 13 to 20, tau 0.56): +0.24 % at D = 4 after 300 updates, +0.10 % at D = 6 after 1200,
    +0.14 % at D = 8 after 1500: the inscribed polyhedron's frontal area is 0.51 % smaller and its drag
    force 0.3 to 0.4 % smaller. Here D = 4 after 80 updates."""
    kw = dict(grid=(32, 16, 16), substeps=20, perturbation=0.0)
    runs = {}
    for cls in (SphereWorld, MeshBodyWorld):
        world = cls(**kw)
        world.reset(seed=0)
        for _ in range(4):
            obs, _, _, _, info = world.step([0.0])
        runs[cls] = (float(info["diagnostics"]["drag_mean"]), obs)
    cd_sphere, cd_mesh = runs[SphereWorld][0], runs[MeshBodyWorld][0]
    assert cd_sphere > 1.0
    assert abs(cd_mesh / cd_sphere - 1) < 0.01
    world.reset(seed=0)  # the same seed again: bit for bit
    for _ in range(4):
        obs, *_ = world.step([0.0])
    assert np.array_equal(obs, runs[MeshBodyWorld][1])


def test_uploaded_stl_runs_as_that_mesh_through_the_api(tmp_path) -> None:
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from atom_sdk.platform.api import create_app
    from atom_sdk.platform.testing import settings_for

    url = "/api/v1/geometries/upload"
    brick = mesh3d.box((0, 0, 0), (3, 1, 1))  # 3 D long along the flow: no sphere looks like this
    with TestClient(create_app(settings_for(tmp_path))) as client:
        up = client.post(url, data={"name": "brick", "diameter_fraction": "0.25"},
                         files={"mesh": ("brick.stl", _ascii_stl(brick), "model/stl")})
        assert up.status_code == 201, up.json()
        info = up.json()
        assert info["source"] == "stl" and info["triangles"] == 12 and info["length_over_diameter"] == 3.0
        assert info["frontal_area_over_diameter2"] == pytest.approx(1.0)
        assert client.get(info["mesh_url"]).content == _ascii_stl(brick)
        assert any(g["id"] == info["id"] for g in client.get("/api/v1/geometries").json()["items"])
        run = client.post("/api/v1/runs", json={"config": {"world": {"name": "lbm3d:body", "grid": [48, 16, 16]},
                                                           "steps": 2}, "geometry_id": info["id"]})
        assert run.status_code == 202, run.json()
        params = run.json()["params"]["config"]["world"]["params"]
        assert params["radius"] == 2.0 and params["mesh_sha256"] == info["mesh_sha256"]
        world = MeshBodyWorld.check_config((48, 16, 16), **params)
        assert world.mesh == params["mesh"]
        body = MeshBodyWorld(grid=(48, 16, 16), substeps=1, **params).body
        assert np.allclose(np.asarray(body.hi) - np.asarray(body.lo), [12.0, 4.0, 4.0])  # the brick, scaled to D = 4
        wrong = client.post("/api/v1/runs", json={"config": {"world": {"name": "lbm3d:sphere", "grid": [48, 16, 16]},
                                                             "steps": 2}, "geometry_id": info["id"]})
        assert wrong.status_code == 422 and "lbm3d:body" in wrong.json()["message"]
        refusals = {
            "not closed": _ascii_stl(brick[1:]),
            "empty": b"",
            "no triangles": b"\x00" * 200,
        }
        for message, data in refusals.items():
            bad = client.post(url, data={"name": "bad"}, files={"mesh": ("bad.stl", data, "model/stl")})
            assert bad.status_code == 422 and message in bad.json()["message"], (message, bad.json())
        huge = client.post(url, data={"name": "huge"}, files={"mesh": ("huge.stl", b"solid x\n" * 400_000, "model/stl")})
        assert huge.status_code in (413, 422) and "larger than" in huge.json()["message"]
        size = client.post(url, data={"name": "b", "diameter_fraction": "0.9"},
                           files={"mesh": ("b.stl", _ascii_stl(brick), "model/stl")})
        assert size.status_code == 422 and "diameter_fraction" in size.json()["message"]
        both = client.post(url, data={"name": "b", "polygon": "[[1,1],[2,2],[3,1]]"},
                           files={"mesh": ("b.stl", _ascii_stl(brick), "model/stl")})
        assert both.status_code == 422 and "exactly one" in both.json()["message"]


def test_the_api_refuses_a_mesh_path_of_the_clients_choosing(tmp_path) -> None:
    """A request cannot make the server read a file it names: `mesh` comes only from a stored geometry."""
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from atom_sdk.platform.api import create_app
    from atom_sdk.platform.testing import settings_for

    secret = tmp_path / "outside.stl"
    secret.write_bytes(_ascii_stl(mesh3d.box((0, 0, 0), (1, 1, 1))))
    with TestClient(create_app(settings_for(tmp_path / "ws"))) as client:
        run = client.post("/api/v1/runs", json={"config": {"world": {"name": "lbm3d:body", "grid": [48, 16, 16],
                                                                     "params": {"mesh": str(secret)}}, "steps": 2}})
        assert run.status_code == 422 and "geometry_id" in run.json()["message"], run.json()
        design = client.post("/api/v1/inverse-design/jobs", json={"spec": {"world": "lbm3d:body", "world_params": {"mesh": "/etc/hostname"}}})
        assert design.status_code == 422 and "geometries/upload" in design.json()["message"], design.json()
        assert client.get("/api/v1/runs").json()["items"] == [] and client.get("/api/v1/jobs").json()["items"] == []
