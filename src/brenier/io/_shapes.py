"""Shapes in and out: meshes through meshio, point files (NPY, NPZ, CSV) through numpy.

A :class:`Shape` is points, optional triangles and per-point attributes (a vessel tree's
``radius``, a scalar field). :func:`read_cloud` turns any of them into the weighted
cloud that OT takes: an attribute as weights, area weights on a mesh's vertices, or
points sampled on its surface.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .._validation import PREFIX
from ._atomic import atomic_write
from ._sampling import sample_surface

#: Formats read and written by meshio (meshes, or point clouds without faces).
MESH_SUFFIXES = (".ply", ".obj", ".stl", ".off", ".vtk", ".vtu")
#: Point files read and written with numpy.
POINT_SUFFIXES = (".npy", ".npz", ".csv")


@dataclass
class Shape:
    """Points in 3D, optional triangles, and per-point attributes.

    Attributes:
        points: vertex or point positions, (N, 3) float64.
        faces: triangles as vertex indices, (F, 3) int64, or ``None`` for a cloud.
        attributes: per-point arrays of length N (e.g. ``"radius"``), float64.
    """

    points: np.ndarray
    faces: np.ndarray | None = None
    attributes: dict[str, np.ndarray] = field(default_factory=dict)


def _meshio():  # lazy: meshio is the optional extra `io`
    try:
        import meshio
    except ImportError as error:
        raise ImportError(
            f"{PREFIX} reading and writing meshes needs meshio: pip install 'brenier[io]'."
        ) from error
    return meshio


def _suffix(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix == ".vtp":  # VTK PolyData (XML): neither meshio (5.3) nor trimesh reads it
        raise ValueError(
            f"{PREFIX} {path}: VTK PolyData (.vtp) is not supported (meshio and trimesh have "
            "no reader for it); convert it to .vtu, .vtk or .ply (e.g. ParaView: File > Save "
            f"Data), or use one of {', '.join(MESH_SUFFIXES + POINT_SUFFIXES)}."
        )
    if suffix not in MESH_SUFFIXES + POINT_SUFFIXES:
        raise ValueError(
            f"{PREFIX} {path}: unknown shape format {suffix!r}; use one of "
            f"{', '.join(MESH_SUFFIXES + POINT_SUFFIXES)}."
        )
    return suffix


def _checked(path: Path, shape: Shape) -> Shape:
    """Rejects empty, ill-shaped and non-finite shapes, naming the file."""
    points = np.asarray(shape.points, dtype=np.float64)
    if points.ndim != 2 or points.shape[1] != 3:
        raise ValueError(
            f"{PREFIX} {path}: expected points of shape (N, 3), got {points.shape}; "
            "brenier's registration works on 3D shapes."
        )
    if len(points) == 0:
        raise ValueError(f"{PREFIX} {path} holds no points: is the file empty or truncated?")
    if not np.isfinite(points).all():
        bad = int((~np.isfinite(points).all(axis=1)).sum())
        raise ValueError(f"{PREFIX} {path}: {bad} point(s) have NaN or infinite coordinates.")
    faces = None
    if shape.faces is not None and len(shape.faces):
        faces = np.asarray(shape.faces, dtype=np.int64)
        if faces.min() < 0 or faces.max() >= len(points):
            raise ValueError(f"{PREFIX} {path} has face indices outside 0..{len(points) - 1}.")
    attributes = {}
    for name, values in shape.attributes.items():
        values = np.asarray(values, dtype=np.float64)
        if len(values) != len(points):
            raise ValueError(
                f"{PREFIX} {path}: attribute {name!r} has {len(values)} values for "
                f"{len(points)} points."
            )
        attributes[name] = values
    return Shape(points, faces, attributes)


def read_shape(path: str | os.PathLike) -> Shape:
    """Reads a mesh or a point file.

    Meshes (PLY, OBJ, STL, OFF, VTK, VTU) are read by meshio: their triangles
    (polygons are fanned into triangles) and their point data become
    :attr:`Shape.attributes`. Point files: NPY holds an (N, 3) array; NPZ a
    ``points`` array, optional ``faces``, and any other (N,) arrays as attributes;
    CSV has a header line naming the columns, ``x, y, z`` then attributes.

    Raises:
        FileNotFoundError: no such file.
        ValueError: unknown suffix, unreadable, empty or non-finite file (the message
            names the file).

    Example:
        >>> import numpy as np, tempfile, os
        >>> from brenier.io import Shape, read_shape, write_shape
        >>> path = os.path.join(tempfile.mkdtemp(), "tree.csv")
        >>> _ = write_shape(path, Shape(np.eye(3), attributes={"radius": np.ones(3)}))
        >>> read_shape(path).attributes["radius"].tolist()
        [1.0, 1.0, 1.0]
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{PREFIX} no such shape file: {path}")
    suffix = _suffix(path)
    if path.stat().st_size == 0:
        raise ValueError(f"{PREFIX} {path} is empty (0 bytes).")
    try:
        if suffix in MESH_SUFFIXES:
            shape = _read_mesh(path)
        elif suffix == ".npy":
            shape = Shape(np.load(path, allow_pickle=False))
        elif suffix == ".npz":
            shape = _read_npz(path)
        else:
            shape = _read_csv(path)
    except (ValueError, OSError, KeyError, IndexError, EOFError, UnicodeDecodeError) as error:
        if str(error).startswith(PREFIX):
            raise
        raise ValueError(f"{PREFIX} cannot read {path} as {suffix[1:]}: {error}") from None
    except (Exception, SystemExit) as error:  # meshio's ReadError; its PLY reader exits
        raise ValueError(f"{PREFIX} cannot read {path} as {suffix[1:]}: {error}") from None
    return _checked(path, shape)


def _read_mesh(path: Path) -> Shape:
    mesh = _meshio().read(path)
    triangles = []
    for block in mesh.cells:
        data = np.asarray(block.data, dtype=np.int64)
        if block.type == "triangle":
            triangles.append(data)
        elif block.type in ("quad", "polygon") or block.type.startswith("polygon"):
            triangles += [data[:, [0, k, k + 1]] for k in range(1, data.shape[1] - 1)]
    faces = np.concatenate(triangles) if triangles else None
    attributes = {
        name: np.asarray(values, dtype=np.float64)
        for name, values in mesh.point_data.items()
        if np.asarray(values).ndim == 1 or np.asarray(values).shape[1:] == (1,)
    }
    attributes = {name: values.reshape(-1) for name, values in attributes.items()}
    return Shape(np.asarray(mesh.points, dtype=np.float64)[:, :3], faces, attributes)


def _read_npz(path: Path) -> Shape:
    with np.load(path, allow_pickle=False) as data:
        if "points" not in data:
            raise ValueError(f"no 'points' array (found {sorted(data.files)})")
        faces = data["faces"] if "faces" in data else None
        attributes = {k: data[k] for k in data.files if k not in ("points", "faces")}
        return Shape(data["points"], faces, attributes)


def _read_csv(path: Path) -> Shape:
    with path.open(encoding="utf-8") as handle:
        header = handle.readline()
    names = [n.strip().strip('"') for n in header.split(",")]
    try:
        [float(n) for n in names]
        skip, names = 0, ["x", "y", "z"] + [f"column{k}" for k in range(3, len(names))]
    except ValueError:
        skip = 1
    with warnings.catch_warnings():  # an empty file is reported below
        warnings.simplefilter("ignore", UserWarning)
        table = np.loadtxt(path, delimiter=",", skiprows=skip, ndmin=2, dtype=np.float64)
    if table.size == 0:
        return Shape(np.zeros((0, 3)))
    if table.shape[1] != len(names) or table.shape[1] < 3:
        raise ValueError(f"{table.shape[1]} columns for the header {names}; expected x, y, z, ...")
    attributes = {name: table[:, k] for k, name in enumerate(names) if k >= 3}
    return Shape(table[:, :3], None, attributes)


def write_shape(path: str | os.PathLike, shape: Shape) -> Path:
    """Writes a shape atomically (temporary file, then rename), in the suffix's format.

    Meshes and clouds go through meshio, readable by ParaView and MeshLab; a cloud
    without faces is written with one vertex cell per point in VTK/VTU so that
    ParaView shows it. STL needs triangles. Attributes become point data (PLY, VTK,
    VTU), NPZ arrays or CSV columns; OBJ, OFF, STL and NPY drop them.

    Returns:
        The path written.
    """
    path = Path(path)
    suffix = _suffix(path)
    shape = _checked(path, shape)
    if suffix == ".npy":
        return atomic_write(path, lambda tmp: np.save(tmp, shape.points))
    if suffix == ".npz":
        arrays = {"points": shape.points, **shape.attributes}
        if shape.faces is not None:
            arrays["faces"] = shape.faces
        return atomic_write(path, lambda tmp: np.savez_compressed(tmp, **arrays))  # type: ignore[arg-type]
    if suffix == ".csv":
        names = ["x", "y", "z", *shape.attributes]
        table = np.column_stack([shape.points, *shape.attributes.values()])
        return atomic_write(
            path,
            lambda tmp: np.savetxt(
                tmp, table, delimiter=",", header=",".join(names), comments="", fmt="%.17g"
            ),
        )
    if suffix == ".stl" and shape.faces is None:
        raise ValueError(
            f"{PREFIX} {path}: STL stores triangles only; give the shape faces, or write the "
            "cloud as PLY, VTU or NPY."
        )
    meshio = _meshio()
    cells: list[tuple[str, np.ndarray]]
    if shape.faces is not None:  # int32: PLY has no 64-bit integers
        cells = [("triangle", shape.faces.astype(np.int32))]
    elif suffix in (".vtk", ".vtu"):
        cells = [("vertex", np.arange(len(shape.points))[:, None])]
    else:
        cells = []
    point_data = {} if suffix in (".obj", ".off", ".stl") else dict(shape.attributes)
    mesh = meshio.Mesh(shape.points, cells, point_data=point_data)
    binary = suffix in (".ply", ".stl", ".vtk", ".vtu")

    def write(tmp: Path) -> None:
        if binary:
            meshio.write(tmp, mesh, binary=True)
        else:
            meshio.write(tmp, mesh)

    return atomic_write(path, write)


def vertex_areas(points: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """A third of the area of the triangles around each vertex, (V,).

    These are the weights that make the vertices a quadrature of the surface measure:
    they sum to the mesh's area.
    """
    corners = points[faces]
    areas = 0.5 * np.linalg.norm(
        np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0]), axis=1
    )
    out = np.zeros(len(points))
    np.add.at(out, faces.reshape(-1), np.repeat(areas / 3, 3))
    return out


def read_cloud(
    path: str | os.PathLike,
    *,
    weights: str | None = None,
    n_samples: int | None = None,
    seed: int | None = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Reads a shape as a weighted point cloud, weights summing to 1.

    Args:
        path: any format of :func:`read_shape`.
        weights: ``None`` (default): area weights on a mesh's vertices, uniform on a
            cloud; ``"uniform"``; ``"area"`` (needs faces); or the name of a per-point
            attribute (e.g. ``"radius"``), which must be non-negative.
        n_samples: instead of the vertices, sample this many points uniformly on the
            mesh's surface (uniform weights).
        seed: seed of the surface sampling.

    Returns:
        points (N, 3) float64 and weights (N,) float64 summing to 1.

    Example:
        >>> import numpy as np, tempfile, os
        >>> from brenier.io import Shape, read_cloud, write_shape
        >>> path = os.path.join(tempfile.mkdtemp(), "tri.ply")
        >>> tri = Shape(np.eye(3), faces=np.array([[0, 1, 2]]))
        >>> _ = write_shape(path, tri)
        >>> points, w = read_cloud(path)
        >>> np.round(w, 3).tolist()  # area weights: a third of the triangle each
        [0.333, 0.333, 0.333]
    """
    shape = read_shape(path)
    path = Path(path)
    if n_samples is not None:
        if shape.faces is None:
            raise ValueError(f"{PREFIX} {path} has no faces to sample; drop `n_samples`.")
        points = sample_surface(shape.points, shape.faces, int(n_samples), seed)
        return points, np.full(len(points), 1.0 / len(points))
    if weights is None:
        weights = "area" if shape.faces is not None else "uniform"
    if weights == "uniform":
        w = np.ones(len(shape.points))
    elif weights == "area":
        if shape.faces is None:
            raise ValueError(
                f"{PREFIX} {path} has no faces, so no area weights; use weights='uniform' "
                "or an attribute name."
            )
        w = vertex_areas(shape.points, shape.faces)
    elif weights in shape.attributes:
        w = shape.attributes[weights]
        if (w < 0).any():
            raise ValueError(f"{PREFIX} {path}: attribute {weights!r} has negative values.")
    else:
        raise ValueError(
            f"{PREFIX} {path}: weights={weights!r} is not 'uniform', 'area' nor one of the "
            f"file's attributes {sorted(shape.attributes)}."
        )
    if not w.sum() > 0:
        raise ValueError(f"{PREFIX} {path}: the weights sum to zero.")
    return shape.points, w / w.sum()
