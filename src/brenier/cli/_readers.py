"""Shapes in: point files (NPY, NPZ, CSV) and meshes (OBJ), as float64 point clouds.

Point files are read with numpy; OBJ meshes with :func:`brenier.io.read_obj`, then
sampled uniformly on their surface (:func:`brenier.io.sample_surface`). Other mesh
formats (PLY, STL, OFF, ...) will be read by ``brenier.io`` once its meshio/trimesh
readers land; this module is the one place to delegate to them. Inputs are only ever
opened for reading.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..io import read_obj, sample_surface
from ._errors import InputError

POINT_SUFFIXES = (".npy", ".npz", ".csv", ".txt")
MESH_SUFFIXES = (".obj",)
#: Mesh formats that brenier.io's meshio/trimesh readers will open.
PENDING_SUFFIXES = (".ply", ".stl", ".off", ".vtk", ".vtu", ".glb", ".gltf")


@dataclass(frozen=True)
class Shape:
    """A point cloud read from a file.

    Attributes:
        points: the points, shape (N, D), float64.
        weights: their masses, shape (N,), or None for uniform weights.
        path: the file it came from.
        kind: ``"points"`` or ``"mesh"`` (sampled on the surface).
    """

    points: np.ndarray
    weights: np.ndarray | None
    path: Path
    kind: str

    @property
    def size(self) -> int:
        return int(self.points.shape[0])

    @property
    def dim(self) -> int:
        return int(self.points.shape[1])


def read_shape(path: Path, *, samples: int = 2000, seed: int = 0) -> Shape:
    """Reads a point file or samples ``samples`` points on a mesh's surface.

    Raises:
        InputError: the file is missing, unreadable, or not a cloud of shape (N, D).
    """
    if not path.exists():
        raise InputError(f"no such file: {str(path)!r}.")
    if not path.is_file():
        raise InputError(f"{str(path)!r} is not a file.")
    suffix = path.suffix.lower()
    if suffix in PENDING_SUFFIXES:
        raise InputError(
            f"cannot read {suffix} meshes yet; convert {path.name!r} to OBJ, or save its "
            "points as .npy/.npz/.csv."
        )
    if suffix in MESH_SUFFIXES:
        return _read_mesh(path, samples, seed)
    if suffix not in POINT_SUFFIXES:
        known = ", ".join(POINT_SUFFIXES + MESH_SUFFIXES)
        raise InputError(f"unknown file type {suffix or '(none)'!r} of {path.name!r}; use {known}.")
    try:
        points, weights = _read_points(path, suffix)
    except InputError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
        why = "pickled objects are not read" if "allow_pickle" in str(error) else str(error)
        raise InputError(
            f"cannot read {str(path)!r} as {suffix} points: not a valid {suffix} file ({why})."
        ) from error
    return Shape(
        _checked_points(points, path), _checked_weights(weights, len(points), path), path, "points"
    )


def _read_mesh(path: Path, samples: int, seed: int) -> Shape:
    try:
        vertices, faces = read_obj(path)
        points = vertices if len(faces) == 0 else sample_surface(vertices, faces, samples, seed)
    except (OSError, ValueError) as error:
        raise InputError(f"cannot read {str(path)!r} as an OBJ mesh ({error}).") from error
    return Shape(_checked_points(points, path), None, path, "mesh")


def _read_points(path: Path, suffix: str) -> tuple[np.ndarray, np.ndarray | None]:
    if suffix == ".npy":
        return np.load(path, allow_pickle=False), None
    if suffix == ".npz":
        with np.load(path, allow_pickle=False) as archive:
            names = list(archive.files)
            key = next((k for k in ("points", "x") if k in names), None)
            if key is None and len(names) == 1:
                key = names[0]
            if key is None:
                raise InputError(
                    f"{str(path)!r} holds arrays {names}; name the points 'points' "
                    "(and optional masses 'weights')."
                )
            weights = archive["weights"] if "weights" in names else None
            return archive[key], weights
    return _read_csv(path), None


def _read_csv(path: Path) -> np.ndarray:
    """Comma- or whitespace-separated numbers; one header line of names is skipped."""
    text = path.read_text(encoding="utf-8")
    lines = [line for line in text.splitlines() if line.strip() and not line.startswith("#")]
    if lines and not _is_numeric_row(lines[0]):
        lines = lines[1:]
    rows = [line.replace(",", " ").split() for line in lines]
    if not rows:
        raise InputError(f"{str(path)!r} has no rows of numbers.")
    if len({len(r) for r in rows}) != 1:
        raise InputError(f"{str(path)!r} has rows of different lengths; one point per row.")
    return np.asarray(rows, dtype=np.float64)


def _is_numeric_row(line: str) -> bool:
    try:
        [float(t) for t in line.replace(",", " ").split()]
    except ValueError:
        return False
    return True


def _checked_points(points: np.ndarray, path: Path) -> np.ndarray:
    points = np.asarray(points)
    if points.ndim != 2 or points.shape[1] < 1:
        raise InputError(
            f"{str(path)!r} holds an array of shape {tuple(points.shape)}; expected points "
            "of shape (N, D), one point per row (D = 2 or 3 for shapes)."
        )
    if points.shape[0] < 1:
        raise InputError(f"{str(path)!r} holds no points.")
    if not np.issubdtype(points.dtype, np.number) or np.iscomplexobj(points):
        raise InputError(f"{str(path)!r} holds {points.dtype} values; expected real numbers.")
    points = points.astype(np.float64)
    if not np.isfinite(points).all():
        raise InputError(f"{str(path)!r} has NaN or infinite coordinates; remove those rows.")
    return points


def _checked_weights(weights: np.ndarray | None, n: int, path: Path) -> np.ndarray | None:
    if weights is None:
        return None
    w = np.asarray(weights, dtype=np.float64)
    if w.shape != (n,) or not np.isfinite(w).all() or (w < 0).any() or not w.sum() > 0:
        raise InputError(
            f"{str(path)!r}: 'weights' must be {n} finite non-negative masses with a positive "
            f"sum, got shape {tuple(w.shape)}."
        )
    return w / w.sum()


def check_pair(a: Shape, b: Shape) -> None:
    """Both shapes live in the same space."""
    if a.dim != b.dim:
        raise InputError(
            f"{a.path.name!r} has points in dimension {a.dim} but {b.path.name!r} in "
            f"dimension {b.dim}; both shapes need the same D."
        )


def read_pair(
    source: Path, target: Path, *, samples: int, seed: int, plot: bool
) -> tuple[Shape, Shape]:
    """Both shapes of a command (meshes sampled with seeds ``seed`` and ``seed + 1``),
    checked to live in the same space, and in 2D or 3D when a picture is asked for."""
    a = read_shape(source, samples=samples, seed=seed)
    b = read_shape(target, samples=samples, seed=seed + 1)
    check_pair(a, b)
    if plot and a.dim not in (2, 3):
        raise InputError(
            f"--plot draws 2D or 3D shapes; {a.path.name!r} has D = {a.dim}. Drop --plot."
        )
    return a, b
