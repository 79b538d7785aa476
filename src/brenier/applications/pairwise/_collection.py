"""A collection of shapes, checked once on the client before any Dask work.

Every item becomes an unbatched geometry (:class:`~brenier.geometry.PointCloud` or
:class:`~brenier.geometry.Grid`); a bad item is reported by its index and its name, with
the library's own message, so that a mistake in shape 137 of 500 reads as such and not
as a traceback from a worker an hour later.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ..._validation import PREFIX, mass_tolerance
from ...geometry import Geometry, Grid, PointCloud


@dataclass(frozen=True)
class Collection:
    """The checked shapes of a job.

    Attributes:
        shapes: one unbatched geometry per shape.
        names: one name per shape (``"0"``, ``"1"``, ... when none were given).
        dim: the dimension D shared by all shapes.
        dtype: the floating dtype shared by all shapes.
    """

    shapes: tuple[Geometry, ...]
    names: tuple[str, ...]
    dim: int
    dtype: torch.dtype

    def __len__(self) -> int:
        return len(self.shapes)

    def label(self, i: int) -> str:
        """``shape 3 ('bust-2')``: how messages point at a shape."""
        return f"shape {i} ({self.names[i]!r})"


def _describe(i: int, names: Sequence[str] | None) -> str:
    return f"shape {i}" + ("" if names is None else f" ({names[i]!r})")


def _as_tensor(value: Any) -> Any:
    return torch.from_numpy(value) if isinstance(value, np.ndarray) else value


def as_geometry(item: Any) -> Geometry:
    """One item as an unbatched geometry: points (N, D), (points, weights), a geometry."""
    if isinstance(item, (PointCloud, Grid)):
        if item.batched or item.weights.shape[0] != 1:
            raise ValueError(
                f"it is a batched {type(item).__name__} (B = {item.weights.shape[0]}); "
                "pass each shape of the collection as its own unbatched geometry."
            )
        return item
    if isinstance(item, Geometry):
        return item
    weights = None
    if isinstance(item, tuple):
        if len(item) != 2:
            raise TypeError(
                f"it is a tuple of {len(item)} items; pass points (N, D), a "
                "(points, weights) pair or a PointCloud/Grid."
            )
        item, weights = item
        weights = _as_tensor(weights)
    points = _as_tensor(item)
    if not isinstance(points, Tensor):
        raise TypeError(
            f"it is a {type(points).__name__}; pass points as a torch.Tensor or a "
            "numpy array of shape (N, D), a (points, weights) pair or a PointCloud/Grid."
        )
    if points.dim() != 2:
        raise ValueError(
            f"it has shape {tuple(points.shape)}; each shape of a collection is one "
            "cloud of shape (N, D) (not a batch)."
        )
    return PointCloud(points, weights, name="points")


def collect(shapes: Sequence[Any], names: Sequence[str] | None = None) -> Collection:
    """Checks a collection: every shape valid, one dimension, dtype and device.

    Raises:
        ValueError / TypeError: naming the first bad shape by index (and name).
    """
    if isinstance(shapes, (Tensor, np.ndarray)) or not isinstance(shapes, Sequence):
        raise TypeError(
            f"{PREFIX} `shapes` must be a sequence (list, tuple) of shapes, got "
            f"{type(shapes).__name__}; for a batch tensor (B, N, D) pass list(batch)."
        )
    if len(shapes) < 2:
        raise ValueError(f"{PREFIX} `shapes` holds {len(shapes)} shape(s); pass at least two.")
    if names is not None:
        names = [str(name) for name in names]
        if len(names) != len(shapes):
            raise ValueError(
                f"{PREFIX} {len(names)} names for {len(shapes)} shapes; pass one name per shape."
            )
    geometries: list[Geometry] = []
    for i, item in enumerate(shapes):
        try:
            geometries.append(as_geometry(item))
        except (ValueError, TypeError) as error:
            raise type(error)(_at(i, names, error)) from None
    first = geometries[0]
    dtype, device = first.weights.dtype, first.weights.device
    for i, g in enumerate(geometries):
        why = None
        if g.dim != first.dim:
            why = f"lives in dimension {g.dim} but shape 0 in {first.dim}"
        elif g.weights.dtype != dtype:
            why = f"has dtype {g.weights.dtype} but shape 0 has {dtype}; cast them to one dtype"
        elif g.weights.device != device:
            why = f"is on {g.weights.device} but shape 0 on {device}; move them to one device"
        if why is not None:
            raise ValueError(f"{PREFIX} {_describe(i, names)} {why}.")
    return Collection(
        tuple(geometries),
        tuple(names) if names is not None else tuple(str(i) for i in range(len(shapes))),
        first.dim,
        dtype,
    )


def _at(i: int, names: Sequence[str] | None, error: Exception) -> str:
    message = str(error).removeprefix(PREFIX).strip()
    return f"{PREFIX} {_describe(i, names)} is invalid: {message}"


def check_masses(collection: Collection) -> None:
    """Balanced OT (``reach=None``) needs one total mass across the collection."""
    masses = [float(g.weights.sum()) for g in collection.shapes]
    rtol = mass_tolerance(collection.dtype)
    for i, mass in enumerate(masses):
        if abs(mass - masses[0]) > rtol * max(mass, masses[0]):
            raise ValueError(
                f"{PREFIX} {collection.label(i)} has total mass {mass:.6g} but shape 0 has "
                f"{masses[0]:.6g}; balanced OT (reach=None) needs equal masses: normalise "
                "the weights (w / w.sum()) or pass reach= for unbalanced OT."
            )


def fingerprint(collection: Collection, options: dict[str, Any]) -> str:
    """A SHA-256 of every shape's numbers and the solve options: a checkpoint is resumed
    only by the job that wrote it."""
    digest = hashlib.sha256()
    digest.update(repr(sorted(options.items())).encode())
    for g in collection.shapes:
        digest.update(type(g).__name__.encode())
        if isinstance(g, Grid):
            digest.update(repr((g.shape, g.spacing, g.origin)).encode())
        else:
            digest.update(np.ascontiguousarray(g.support.detach().cpu().numpy()).tobytes())
        digest.update(np.ascontiguousarray(g.weights.detach().cpu().numpy()).tobytes())
    return digest.hexdigest()
