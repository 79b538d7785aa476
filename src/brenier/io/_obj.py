"""Wavefront OBJ meshes in and out (vertices and triangles), with numpy only."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np

from .._validation import PREFIX


def read_obj(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """Reads the vertices (V, 3) float64 and triangles (F, 3) int64 of an OBJ file.

    Polygons with more than three corners are fanned into triangles; texture and
    normal indices (``f 1/2/3``) are ignored; negative (relative) indices are resolved.

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: the file is not a readable OBJ mesh (with the offending line).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{PREFIX} no such mesh file: {path}")
    vertices: list[list[float]] = []
    faces: list[list[int]] = []
    with path.open("r", encoding="utf-8", errors="strict") as handle:
        try:
            for number, line in enumerate(handle, start=1):
                fields = line.split()
                if not fields or fields[0] not in ("v", "f"):
                    continue
                try:
                    if fields[0] == "v":
                        vertices.append([float(t) for t in fields[1:4]])
                        if len(vertices[-1]) != 3:
                            raise ValueError("a vertex needs 3 coordinates")
                    else:
                        corners = [int(t.split("/")[0]) for t in fields[1:]]
                        corners = [c - 1 if c > 0 else len(vertices) + c for c in corners]
                        if len(corners) < 3:
                            raise ValueError("a face needs at least 3 corners")
                        faces.extend(
                            [corners[0], corners[k], corners[k + 1]]
                            for k in range(1, len(corners) - 1)
                        )
                except ValueError as error:
                    raise ValueError(
                        f"{PREFIX} {path}:{number}: cannot parse {line.strip()!r} ({error})."
                    ) from None
        except UnicodeDecodeError as error:
            raise ValueError(f"{PREFIX} {path} is not a text OBJ file ({error}).") from None
    if not vertices:
        raise ValueError(f"{PREFIX} {path} has no vertices ('v x y z' lines): not an OBJ mesh?")
    v = np.asarray(vertices, dtype=np.float64)
    f = np.asarray(faces, dtype=np.int64).reshape(-1, 3)
    if f.size and (f.min() < 0 or f.max() >= len(v)):
        raise ValueError(f"{PREFIX} {path} has face indices outside 1..{len(v)}.")
    if not np.isfinite(v).all():
        raise ValueError(f"{PREFIX} {path} has NaN or infinite vertex coordinates.")
    return v, f


def write_obj(
    path: str | os.PathLike, vertices: np.ndarray, faces: np.ndarray | None = None
) -> None:
    """Writes an OBJ file atomically: a temporary file in the same folder, then a rename."""
    path = Path(path)
    lines = [f"v {x:.9g} {y:.9g} {z:.9g}\n" for x, y, z in np.asarray(vertices, dtype=float)]
    if faces is not None:
        lines += [f"f {i + 1} {j + 1} {k + 1}\n" for i, j, k in np.asarray(faces, dtype=np.int64)]
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.writelines(lines)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
