"""Landmark files: CSV of positions, and the DIR-Lab text format of voxel indices.

DIR-Lab (the 4D-CT lung benchmark) lists each landmark as three whitespace-separated
voxel indices, counted from 1; with the scan's voxel spacing (mm) the physical
position is :math:`(\\text{index} - 1) \\cdot \\text{spacing}`.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .._validation import PREFIX
from ._atomic import atomic_write

#: Suffixes read as DIR-Lab voxel indices (need a spacing); ``.csv`` holds positions.
DIRLAB_SUFFIXES = (".txt", ".pts")


def _spacing(path: Path, spacing: Sequence[float] | None) -> np.ndarray:
    if spacing is None:
        raise ValueError(
            f"{PREFIX} {path} holds voxel indices (DIR-Lab text): pass the scan's voxel "
            "spacing, e.g. spacing=(0.97, 0.97, 2.5) in mm."
        )
    s = np.asarray(spacing, dtype=np.float64).reshape(-1)
    if s.shape != (3,) or not (np.isfinite(s).all() and (s > 0).all()):
        raise ValueError(f"{PREFIX} `spacing` must be 3 positive numbers, got {spacing!r}.")
    return s


def read_landmarks(
    path: str | os.PathLike, *, spacing: Sequence[float] | None = None, first_index: int = 1
) -> np.ndarray:
    """Reads landmark positions, (K, 3) float64.

    ``.csv``: one landmark per line, ``x, y, z`` (an optional header line is skipped).
    ``.txt`` / ``.pts``: DIR-Lab voxel indices ``i j k``, converted to
    ``(index - first_index) * spacing``.

    Args:
        path: the landmark file.
        spacing: voxel size along the three axes (DIR-Lab files only).
        first_index: the index of the first voxel in the file (1 for DIR-Lab).

    Raises:
        FileNotFoundError: no such file.
        ValueError: unreadable, empty or non-finite file, or a missing spacing.

    Example:
        >>> import numpy as np, tempfile, os
        >>> from brenier.io import read_landmarks
        >>> path = os.path.join(tempfile.mkdtemp(), "case1_300_T00_xyz.txt")
        >>> with open(path, "w") as f:
        ...     _ = f.write("1 1 1\\n11 21 3\\n")
        >>> read_landmarks(path, spacing=(0.5, 0.5, 2.5)).tolist()
        [[0.0, 0.0, 0.0], [5.0, 10.0, 5.0]]
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{PREFIX} no such landmark file: {path}")
    suffix = path.suffix.lower()
    if suffix not in (*DIRLAB_SUFFIXES, ".csv"):
        raise ValueError(
            f"{PREFIX} {path}: unknown landmark format {suffix!r}; use .csv (positions) or "
            ".txt/.pts (DIR-Lab voxel indices)."
        )
    try:
        if suffix == ".csv":
            with path.open(encoding="utf-8") as handle:
                first = handle.readline()
            try:
                [float(t) for t in first.split(",")]
                skip = 0
            except ValueError:
                skip = 1
            with warnings.catch_warnings():  # an empty file is reported below
                warnings.simplefilter("ignore", UserWarning)
                table = np.loadtxt(path, delimiter=",", skiprows=skip, ndmin=2, dtype=np.float64)
        else:
            with warnings.catch_warnings():  # an empty file is reported below
                warnings.simplefilter("ignore", UserWarning)
                table = np.loadtxt(path, ndmin=2, dtype=np.float64)
    except (ValueError, OSError, UnicodeDecodeError) as error:
        raise ValueError(f"{PREFIX} cannot read landmarks from {path}: {error}") from None
    if table.size == 0:
        raise ValueError(f"{PREFIX} {path} holds no landmarks: is the file empty?")
    if table.shape[1] != 3:
        raise ValueError(
            f"{PREFIX} {path}: expected 3 columns (x y z) per landmark, got {table.shape[1]}."
        )
    if not np.isfinite(table).all():
        raise ValueError(f"{PREFIX} {path} has NaN or infinite landmark coordinates.")
    if suffix == ".csv":
        return table
    return (table - first_index) * _spacing(path, spacing)


def write_landmarks(
    path: str | os.PathLike,
    points: np.ndarray,
    *,
    spacing: Sequence[float] | None = None,
    first_index: int = 1,
) -> Path:
    """Writes landmarks atomically; the inverse of :func:`read_landmarks`.

    ``.csv`` gets a header ``x,y,z`` and full-precision positions; ``.txt``/``.pts``
    get DIR-Lab voxel indices ``position / spacing + first_index``, written as integers
    when they are whole numbers (as in DIR-Lab's files), else as decimals.

    Returns:
        The path written.
    """
    path = Path(path)
    points = np.asarray(points, dtype=np.float64)
    if points.ndim != 2 or points.shape[1] != 3 or len(points) == 0:
        raise ValueError(f"{PREFIX} landmarks must have shape (K, 3), K >= 1, got {points.shape}.")
    if not np.isfinite(points).all():
        raise ValueError(f"{PREFIX} the landmarks for {path} have NaN or infinite coordinates.")
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return atomic_write(
            path,
            lambda tmp: np.savetxt(tmp, points, delimiter=",", header="x,y,z", comments="",
                                   fmt="%.17g"),
        )  # fmt: skip
    if suffix not in DIRLAB_SUFFIXES:
        raise ValueError(f"{PREFIX} {path}: landmarks are written as .csv, .txt or .pts.")
    index = points / _spacing(path, spacing) + first_index
    whole = np.allclose(index, np.round(index), atol=1e-6)
    fmt = "%d" if whole else "%.9g"
    values = np.round(index).astype(np.int64) if whole else index
    return atomic_write(path, lambda tmp: np.savetxt(tmp, values, fmt=fmt, delimiter="\t"))
