"""Inputs: point files and meshes in, clear errors out, files never modified."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from brenier.cli._errors import InputError
from brenier.cli._readers import check_pair, read_shape


def test_reads_npy_csv_npz_and_samples_an_obj(shapes: dict[str, Path]):
    a = read_shape(shapes["a.npy"])
    c = read_shape(shapes["c.csv"])
    d = read_shape(shapes["d.npz"])
    mesh = read_shape(shapes["mesh.obj"], samples=50, seed=1)
    assert (a.size, a.dim, a.kind) == (60, 3, "points")
    assert np.array_equal(a.points, np.load(shapes["a.npy"]))
    assert (c.size, c.dim) == (40, 2)  # the header line is skipped
    assert d.weights is not None and d.weights.sum() == pytest.approx(1.0)
    assert (mesh.size, mesh.dim, mesh.kind) == (50, 3, "mesh")
    assert mesh.points.min() >= 0 and mesh.points.sum(1).max() <= 1 + 1e-12  # on the tetrahedron


def test_inputs_are_not_modified(shapes: dict[str, Path]):
    before = {name: path.read_bytes() for name, path in shapes.items()}
    for name in ("a.npy", "c.csv", "d.npz", "mesh.obj"):
        read_shape(shapes[name])
    assert before == {name: path.read_bytes() for name, path in shapes.items()}


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("missing.npy", "no such file"),
        ("junk.npy", "not a valid .npy file"),
        ("vector.npy", r"shape \(7,\)"),
        ("scan.ply", "cannot read .ply meshes yet"),
        ("points.xyz", "unknown file type"),
    ],
)
def test_bad_inputs_raise_input_errors(shapes: dict[str, Path], tmp_path: Path, name, words):
    path = shapes.get(name, tmp_path / name)
    if name in ("scan.ply", "points.xyz"):
        path.write_text("0 0 0\n")
    with pytest.raises(InputError, match=words):
        read_shape(path)


def test_non_finite_points_and_bad_weights(tmp_path: Path):
    np.save(tmp_path / "nan.npy", np.array([[0.0, np.nan]]))
    np.savez(tmp_path / "w.npz", points=np.zeros((3, 2)), weights=np.array([1.0, -1.0, 1.0]))
    with pytest.raises(InputError, match="NaN"):
        read_shape(tmp_path / "nan.npy")
    with pytest.raises(InputError, match="non-negative"):
        read_shape(tmp_path / "w.npz")


def test_shapes_of_different_dimensions_are_refused(shapes: dict[str, Path]):
    with pytest.raises(InputError, match=r"dimension 3 .* dimension 2"):
        check_pair(read_shape(shapes["a.npy"]), read_shape(shapes["c.csv"]))
