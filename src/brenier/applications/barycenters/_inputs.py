"""Checks shared by the barycenter applications: times, point clouds, weights."""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

import numpy as np
from torch import Tensor

from ..._validation import PREFIX, check_same_context
from ...geometry import PointCloud


def check_times(t: object) -> tuple[list[float], bool]:
    """The times of an interpolation: one number in [0, 1] or a non-empty sequence of them.

    Returns the times as floats and whether a single number was given (the output then
    has no leading time axis).
    """
    if isinstance(t, bool) or isinstance(t, np.bool_):
        raise TypeError(
            f"{PREFIX} `t` must be a number in [0, 1] or a sequence of them, got {t!r}."
        )
    values: list[object]
    if isinstance(t, numbers.Real):
        single, values = True, [t]
    elif isinstance(t, (Tensor, np.ndarray)) and t.ndim == 0:
        single, values = True, [t.item()]
    elif isinstance(t, (Tensor, np.ndarray)) and t.ndim == 1:
        single, values = False, t.tolist()
    elif isinstance(t, (list, tuple)):
        single, values = False, list(t)
    else:
        raise TypeError(
            f"{PREFIX} `t` must be a number in [0, 1] or a 1D sequence of them (list, tuple, "
            f"tensor), got {type(t).__name__}{getattr(t, 'shape', '')}."
        )
    if not values:
        raise ValueError(f"{PREFIX} `t` is an empty sequence; give at least one time in [0, 1].")
    times = []
    for v in values:
        if isinstance(v, bool) or not isinstance(v, numbers.Real):
            raise TypeError(f"{PREFIX} `t` must hold numbers in [0, 1], got {v!r}.")
        if math.isnan(float(v)) or not 0.0 <= float(v) <= 1.0:
            raise ValueError(
                f"{PREFIX} `t` must lie in [0, 1] (0: the source, 1: the target), got {v!r}."
            )
        times.append(float(v))
    return times, single


def check_cloud(name: str, cloud: object, weights: Tensor | None, hint: str = "") -> PointCloud:
    """One (N, D) point cloud, a tensor with optional weights or an unbatched PointCloud."""
    if isinstance(cloud, PointCloud):
        if weights is not None:
            raise ValueError(
                f"{PREFIX} `{name}` is a PointCloud with its own weights; pass its weights "
                "inside it, not again as a separate argument."
            )
        if cloud.batched:
            raise ValueError(f"{PREFIX} `{name}` is a batched PointCloud; pass one cloud (N, D).")
        return cloud
    if isinstance(cloud, Tensor) and cloud.dim() != 2:
        raise ValueError(
            f"{PREFIX} `{name}` must be a point cloud of shape (N, D), got shape "
            f"{tuple(cloud.shape)}.{hint}"
        )
    return PointCloud(cloud, weights, name=name)  # type: ignore[arg-type]


def check_clouds(clouds: object, masses: Sequence[Tensor | None] | None) -> list[PointCloud]:
    """K >= 1 point clouds of one dimension, dtype and device, with their weights."""
    if isinstance(clouds, (Tensor, PointCloud)) or not isinstance(clouds, Sequence):
        raise TypeError(
            f"{PREFIX} `clouds` must be a list of (N_k, D) tensors or PointClouds, got "
            f"{type(clouds).__name__}; for one cloud write `[cloud]`."
        )
    if len(clouds) == 0:
        raise ValueError(f"{PREFIX} `clouds` is empty; give at least one point cloud.")
    if masses is None:
        masses = [None] * len(clouds)
    elif isinstance(masses, Tensor) or len(masses) != len(clouds):
        raise ValueError(
            f"{PREFIX} `masses` must be a list with one entry ((N_k,) weights or None) per "
            f"cloud: {len(clouds)} clouds."
        )
    out = [
        check_cloud(f"clouds[{k}]", c, m)
        for k, (c, m) in enumerate(zip(clouds, masses, strict=True))
    ]
    dims = [c.dim for c in out]
    if len(set(dims)) > 1:
        raise ValueError(
            f"{PREFIX} the clouds live in different dimensions {dims}; all must be (N_k, D) "
            "with one D."
        )
    check_same_context({f"clouds[{k}]": c.points for k, c in enumerate(out)})
    return out
