"""Point clouds from meshes."""

from __future__ import annotations

import numpy as np

from .._validation import PREFIX


def sample_surface(
    vertices: np.ndarray, faces: np.ndarray, n: int, seed: int | None = 0
) -> np.ndarray:
    """``n`` points uniformly distributed on a triangle mesh's surface, shape (n, 3).

    Triangles are drawn with probability proportional to their area, then a point
    is drawn uniformly inside each (square-root barycentric trick).
    """
    if n < 1:
        raise ValueError(f"{PREFIX} cannot sample n = {n} points; use n >= 1.")
    if len(faces) == 0:
        raise ValueError(f"{PREFIX} the mesh has no faces to sample from.")
    rng = np.random.default_rng(seed)
    corners = vertices[faces]  # (F, 3, 3)
    areas = 0.5 * np.linalg.norm(
        np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0]), axis=1
    )
    if not areas.sum() > 0:
        raise ValueError(f"{PREFIX} the mesh has zero surface area.")
    chosen = rng.choice(len(faces), size=n, p=areas / areas.sum())
    r1 = np.sqrt(rng.random(n))[:, None]
    r2 = rng.random(n)[:, None]
    tri = corners[chosen]
    return (1 - r1) * tri[:, 0] + r1 * (1 - r2) * tri[:, 1] + r1 * r2 * tri[:, 2]


def normalize(points: np.ndarray) -> np.ndarray:
    """Centres a cloud and scales it into the unit cube's size (largest side = 1)."""
    centred = points - points.mean(axis=0)
    extent = float(np.ptp(centred, axis=0).max())
    return centred / extent if extent > 0 else centred
