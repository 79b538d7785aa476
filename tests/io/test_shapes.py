"""Shape files: a round trip per format, weighted clouds, clear errors on bad files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from brenier.io import Shape, read_cloud, read_shape, vertex_areas, write_shape

pytest.importorskip("meshio")

MESH_FORMATS = [".ply", ".obj", ".stl", ".off", ".vtk", ".vtu"]
WITH_ATTRIBUTES = [".ply", ".vtk", ".vtu", ".npz", ".csv"]


@pytest.fixture
def tetra() -> Shape:
    rng = np.random.default_rng(0)
    points = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]], float) + rng.random((4, 3))
    faces = np.array([[0, 2, 1], [0, 1, 3], [0, 3, 2], [1, 2, 3]])
    return Shape(points, faces, {"radius": np.array([0.5, 1.0, 1.5, 2.0])})


@pytest.mark.parametrize("suffix", [*MESH_FORMATS, ".npz"])
def test_mesh_round_trip(tmp_path: Path, tetra: Shape, suffix: str) -> None:
    path = write_shape(tmp_path / f"tetra{suffix}", tetra)
    back = read_shape(path)
    # Binary formats store float32 coordinates; STL stores triangles, meshio merges their
    # corners again, in another order.
    order = np.lexsort(back.points.T) if suffix == ".stl" else slice(None)
    expected = tetra.points[np.lexsort(tetra.points.T)] if suffix == ".stl" else tetra.points
    np.testing.assert_allclose(back.points[order], expected, rtol=1e-6, atol=1e-6)
    assert back.faces is not None
    np.testing.assert_allclose(
        np.sort(back.points[back.faces].reshape(-1, 9), axis=0),
        np.sort(tetra.points[tetra.faces].reshape(-1, 9), axis=0),
        atol=1e-6,
    )
    if suffix in WITH_ATTRIBUTES:
        np.testing.assert_allclose(back.attributes["radius"], tetra.attributes["radius"])
    assert not list(tmp_path.glob(".*")), "the temporary file was left behind"
    assert path.stat().st_mode & 0o044, "written files are readable by others, as usual"


@pytest.mark.parametrize("suffix", [".ply", ".vtu", ".vtk", ".npy", ".npz", ".csv"])
def test_cloud_round_trip(tmp_path: Path, suffix: str) -> None:
    rng = np.random.default_rng(1)
    cloud = Shape(rng.normal(size=(50, 3)), None, {"radius": rng.random(50)})
    back = read_shape(write_shape(tmp_path / f"cloud{suffix}", cloud))
    np.testing.assert_allclose(back.points, cloud.points, rtol=1e-6, atol=1e-6)
    if suffix in WITH_ATTRIBUTES:
        np.testing.assert_allclose(back.attributes["radius"], cloud.attributes["radius"], 1e-6)


def test_weights_from_attribute_area_and_sampling(tmp_path: Path, tetra: Shape) -> None:
    path = write_shape(tmp_path / "tetra.ply", tetra)
    _, w = read_cloud(path, weights="radius")
    np.testing.assert_allclose(w, tetra.attributes["radius"] / 5.0)
    _, w_area = read_cloud(path)
    areas = vertex_areas(tetra.points, tetra.faces)
    np.testing.assert_allclose(w_area, areas / areas.sum(), rtol=1e-6)
    points, w_s = read_cloud(path, n_samples=300)
    assert points.shape == (300, 3) and np.allclose(w_s, 1 / 300)
    lo, hi = tetra.points.min(0), tetra.points.max(0)
    assert ((points >= lo - 1e-9) & (points <= hi + 1e-9)).all()


def test_vertex_areas_sum_to_the_surface_area() -> None:
    square = np.array([[0, 0, 0], [2, 0, 0], [2, 3, 0], [0, 3, 0]], float)
    areas = vertex_areas(square, np.array([[0, 1, 2], [0, 2, 3]]))
    assert areas.sum() == pytest.approx(6.0)
    assert areas[0] == pytest.approx(2.0)  # a third of both triangles


def test_missing_unknown_empty_and_nonfinite_files(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no such shape file"):
        read_shape(tmp_path / "nope.ply")
    (tmp_path / "a.xyz").write_text("1 2 3\n")
    with pytest.raises(ValueError, match=r"a\.xyz.*unknown shape format"):
        read_shape(tmp_path / "a.xyz")
    (tmp_path / "empty.ply").write_bytes(b"")
    with pytest.raises(ValueError, match=r"\[brenier\] .*empty\.ply"):
        read_shape(tmp_path / "empty.ply")
    (tmp_path / "garbage.vtu").write_text("not xml at all")
    with pytest.raises(ValueError, match=r"cannot read .*garbage\.vtu"):
        read_shape(tmp_path / "garbage.vtu")
    (tmp_path / "header.csv").write_text("x,y,z\n")
    with pytest.raises(ValueError, match=r"header\.csv holds no points"):
        read_shape(tmp_path / "header.csv")
    np.save(tmp_path / "nan.npy", np.array([[0.0, np.nan, 1.0], [1, 2, 3]]))
    with pytest.raises(ValueError, match=r"nan\.npy: 1 point\(s\) have NaN"):
        read_shape(tmp_path / "nan.npy")
    np.save(tmp_path / "flat.npy", np.zeros((4, 2)))
    with pytest.raises(ValueError, match=r"flat\.npy.*\(N, 3\)"):
        read_shape(tmp_path / "flat.npy")


def test_bad_requests(tmp_path: Path) -> None:
    cloud = Shape(np.eye(3))
    with pytest.raises(ValueError, match="STL stores triangles only"):
        write_shape(tmp_path / "c.stl", cloud)
    path = write_shape(tmp_path / "c.npy", cloud)
    with pytest.raises(ValueError, match="no faces, so no area weights"):
        read_cloud(path, weights="area")
    with pytest.raises(ValueError, match="not 'uniform', 'area' nor"):
        read_cloud(path, weights="radius")


def test_failed_write_keeps_the_old_file(tmp_path: Path) -> None:
    path = write_shape(tmp_path / "keep.npy", Shape(np.eye(3)))
    with pytest.raises(ValueError):
        write_shape(path, Shape(np.full((3, 3), np.inf)))
    np.testing.assert_array_equal(read_shape(path).points, np.eye(3))


def test_vtp_is_refused_with_the_supported_formats(tmp_path: Path) -> None:
    path = tmp_path / "tree.vtp"
    path.write_text('<VTKFile type="PolyData"></VTKFile>\n')
    with pytest.raises(ValueError, match=r"\.vtp\) is not supported.*\.vtu, \.vtk or \.ply"):
        read_shape(path)
    with pytest.raises(ValueError, match=r"\.vtp\) is not supported"):
        write_shape(tmp_path / "out.vtp", Shape(np.eye(3)))
