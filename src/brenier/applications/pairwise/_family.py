"""A family of shapes with known structure: deformed copies of the bundled scans.

Each shape samples the surface of one of the bundled scans (normalised to unit size)
and moves it by a smooth map with two latent parameters, a vertical *stretch* s and a
*bend* b, plus a small random rotation about the vertical axis:

.. math::

    \\phi(p) = R_\\theta \\big(p_x + b\\, p_z^2,\\; p_y,\\; (1 + s)\\, p_z\\big).

An embedding of the family's OT distances should separate the scans and spread each
one along (s, b): what the examples and the benchmark draw and time.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..._validation import PREFIX
from ...io import EXAMPLES, load_example, normalize, sample_surface


@dataclass(frozen=True)
class ShapeFamily:
    """Clouds with their names and latent parameters.

    Attributes:
        clouds: one (points, 3) float array per shape.
        names: ``"nefertiti-07"``, ...
        scans: the scan each shape comes from.
        stretch, bend: the latent parameters (n,).
    """

    clouds: list[np.ndarray]
    names: list[str]
    scans: list[str]
    stretch: np.ndarray
    bend: np.ndarray


def scan_family(
    count: int,
    points: int,
    *,
    seed: int = 0,
    scans: tuple[str, ...] = ("nefertiti", "demosthenes"),
    dtype: type = np.float32,
) -> ShapeFamily:
    """``count`` deformed copies of the bundled scans, ``points`` surface samples each
    (see the module docstring); the scans alternate, the parameters are random.

    Example:
        >>> from brenier.applications.pairwise import scan_family
        >>> family = scan_family(4, 100)
        >>> family.names[:2], family.clouds[0].shape
        (['nefertiti-00', 'demosthenes-01'], (100, 3))
    """
    if not isinstance(count, int) or count < 1 or not isinstance(points, int) or points < 1:
        raise ValueError(
            f"{PREFIX} `count` and `points` must be positive integers, got {count!r}, {points!r}."
        )
    unknown = [s for s in scans if s not in EXAMPLES]
    if unknown or not scans:
        raise ValueError(f"{PREFIX} unknown scans {unknown}; choose from {sorted(EXAMPLES)}.")
    meshes = {name: load_example(name) for name in scans}
    meshes = {name: (normalize(v), f) for name, (v, f) in meshes.items()}
    rng = np.random.default_rng(seed)
    stretch = rng.uniform(-0.25, 0.25, size=count)
    bend = rng.uniform(-0.6, 0.6, size=count)
    angles = rng.uniform(-0.2, 0.2, size=count)
    clouds, names, kinds = [], [], []
    for k in range(count):
        scan = scans[k % len(scans)]
        vertices, faces = meshes[scan]
        p = sample_surface(vertices, faces, points, seed=seed * 100_003 + k)
        moved = np.stack([p[:, 0] + bend[k] * p[:, 2] ** 2, p[:, 1], (1 + stretch[k]) * p[:, 2]], 1)
        c, s = np.cos(angles[k]), np.sin(angles[k])
        rotation = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
        clouds.append((moved @ rotation.T).astype(dtype))
        names.append(f"{scan}-{k:02d}")
        kinds.append(scan)
    return ShapeFamily(clouds, names, kinds, stretch, bend)
