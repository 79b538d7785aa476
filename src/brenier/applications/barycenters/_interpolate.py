"""Displacement interpolation (McCann 1997) between two clouds or two densities.

The geodesic of the Wasserstein space between :math:`\\mu_0` and :math:`\\mu_1` is

.. math::

    \\mu_t = \\big((1 - t)\\,\\mathrm{Id} + t\\, T\\big)_\\# \\mu_0,
    \\qquad t \\in [0, 1],

with T the optimal (Brenier) map from :math:`\\mu_0` to :math:`\\mu_1`; equivalently
:math:`\\mu_t = \\arg\\min_\\mu (1 - t) W_2^2(\\mu_0, \\mu) + t\\, W_2^2(\\mu, \\mu_1)`,
the barycenter of the two with weights (1 - t, t). Point clouds use the first form
(each point moves along a straight line to its barycentric projection); densities on a
grid use the second, because pushing a density forward needs it resampled on the grid
while the debiased grid barycenter returns it on the grid, sharp (Janati et al. 2020).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from ..._validation import PREFIX, check_positive, check_same_context
from ...geometry import Grid, PointCloud
from ...solvers import BARYCENTER_TOL, barycenter, solve, warn_unless_ok
from ._inputs import check_cloud, check_times


def _grids(
    source: Tensor | Grid, target: Tensor | Grid, spacing: float | Sequence[float] | None
) -> tuple[Tensor, Tensor, tuple[float, ...]]:
    """Two densities of one grid's shape, checked, and the grid's spacing."""
    if isinstance(source, Grid) != isinstance(target, Grid):
        raise TypeError(
            f"{PREFIX} `source` and `target` must both be Grid geometries or both tensors "
            f"(with `spacing`), got {type(source).__name__} and {type(target).__name__}."
        )
    if isinstance(source, Grid) and isinstance(target, Grid):
        if spacing is not None:
            raise ValueError(
                f"{PREFIX} `spacing` comes with the Grid geometries; do not pass it again."
            )
        if source.batched or target.batched:
            raise ValueError(f"{PREFIX} interpolate takes two unbatched grids, not batches.")
        grids = (source, target)
    else:
        grids = (
            Grid(source, spacing, name="source"),  # type: ignore[arg-type]
            Grid(target, spacing, name="target"),  # type: ignore[arg-type]
        )
    if grids[0].shape != grids[1].shape or grids[0].spacing != grids[1].spacing:
        raise ValueError(
            f"{PREFIX} `source` and `target` must lie on one grid: shapes {grids[0].shape} "
            f"and {grids[1].shape}, spacings {grids[0].spacing} and {grids[1].spacing}."
        )
    a, b = (g.densities() for g in grids)
    check_same_context({"source": a, "target": b})
    return a / a.sum(), b / b.sum(), grids[0].spacing


def _interpolate_grids(
    a: Tensor,
    b: Tensor,
    times: list[float],
    spacing: tuple[float, ...],
    blur: float,
    debias: bool,
    tol: float,
    max_iter: int,
) -> list[Tensor]:
    frames = []
    for t in times:
        if t in (0.0, 1.0):
            frames.append((a if t == 0.0 else b).clone())
            continue
        pair, weights = torch.stack([a, b]), [1.0 - t, t]
        options = {"spacing": spacing, "debias": debias, "tol": tol, "max_iter": max_iter}
        frames.append(barycenter(pair, weights, blur=blur, **options))  # type: ignore[arg-type]
    return frames


def _interpolate_clouds(
    source: Tensor | PointCloud,
    target: Tensor | PointCloud,
    a: Tensor | None,
    b: Tensor | None,
    times: list[float],
    blur: float,
    max_iter: int,
) -> list[Tensor]:
    hint = " Densities on a grid (images, volumes): pass `spacing`."
    x, y = check_cloud("source", source, a, hint), check_cloud("target", target, b, hint)
    if x.dim != y.dim:
        raise ValueError(
            f"{PREFIX} `source` has points in dimension {x.dim} and `target` in {y.dim}; "
            "both must be (N, D) and (M, D) with one D."
        )
    ax, by = x.weights[0] / x.weights[0].sum(), y.weights[0] / y.weights[0].sum()
    res = solve(x.points[0], y.points[0], ax, by, blur=blur, debias=False, max_iter=max_iter)
    warn_unless_ok(res, stacklevel=4)
    T, points = res.barycentric_projection(), x.points[0]
    return [points.clone() if t == 0.0 else (1.0 - t) * points + t * T for t in times]


def interpolate(
    source: Tensor | PointCloud | Grid,
    target: Tensor | PointCloud | Grid,
    t: float | Sequence[float] | Tensor,
    *,
    blur: float,
    a: Tensor | None = None,
    b: Tensor | None = None,
    spacing: float | Sequence[float] | None = None,
    debias: bool = True,
    tol: float = BARYCENTER_TOL,
    max_iter: int = 10_000,
) -> Tensor:
    """Displacement interpolation (McCann): the Wasserstein geodesic at time t.

    **Point clouds** (tensors (N, D) and (M, D), optional weights ``a``, ``b``, or
    :class:`~brenier.geometry.PointCloud`): each source point moves on a straight line
    to its barycentric projection,

    .. math::

        x_i(t) = (1 - t)\\, x_i + t\\, T(x_i), \\qquad
        T(x_i) = \\frac{\\sum_j \\pi_{ij}\\, y_j}{\\sum_j \\pi_{ij}},

    with :math:`\\pi` the entropic plan of :func:`brenier.solve` (``debias`` does not
    apply); the moved points keep the source weights. As blur -> 0, T is the Brenier
    map; at a positive blur, T(x) averages the target over about a blur.

    **Densities on a grid** (tensors (H, W) or (D, H, W) with ``spacing``, or two
    :class:`~brenier.geometry.Grid`): the density at time t is the Wasserstein
    barycenter of the two with weights (1 - t, t),
    :math:`\\arg\\min_q (1 - t) S_\\varepsilon(\\alpha_0, q) + t\\, S_\\varepsilon(q, \\alpha_1)`,
    computed by :func:`brenier.barycenter`, debiased by default (sharp: for Gaussians
    it is the exact geodesic, mean and covariance). t = 0 and t = 1 return the inputs
    normalised to mass 1, exactly.

    Args:
        source: the measure at t = 0.
        target: the measure at t = 1.
        t: a time in [0, 1], or a sequence of times (frames).
        blur: the entropic blur, in the units of the points (clouds; about 1% of the
            diameter) or of ``spacing`` (grids; about 1-2 cells).
        a, b: the clouds' weights (N,), (M,); default uniform. Not for grids.
        spacing: the grid's cell side, one number or one per axis: tensors are read as
            densities on a grid exactly when it is given (``None``: point clouds).
        debias: grids only: the sharp debiased barycenter (default) or the blurred one.
        tol: grids: the barycenter's tolerance (L1 marginal error).
        max_iter: cap on the Sinkhorn iterations of each solve.

    Returns:
        Clouds: the moved source (N, D), or (T, N, D) for a sequence of T times.
        Grids: the density of the grid's shape with mass 1, or ``(T, *shape)``.
        Not differentiable.

    Example:
        >>> import torch, brenier
        >>> x = torch.randn(100, 2, dtype=torch.float64)
        >>> mid = brenier.interpolate(x, x + 2.0, 0.5, blur=0.01)
        >>> round(float((mid - x).mean()), 3)  # half of the shift
        1.0
        >>> line = torch.arange(32.0, dtype=torch.float64)
        >>> bump = lambda c: torch.exp(-(line - c) ** 2 / 8)
        >>> q = brenier.interpolate(bump(8.0), bump(24.0), [0.0, 0.25], blur=1.0, spacing=1.0)
        >>> [round(float((f * line).sum()), 2) for f in q]  # the centre moves linearly
        [8.0, 12.0]
    """
    times, single = check_times(t)
    blur = check_positive("blur", blur, "Clouds: about 1% of the diameter; grids: 1-2 cells.")
    if not isinstance(debias, bool):
        raise TypeError(f"{PREFIX} `debias` must be True or False, got {debias!r}.")
    if spacing is not None or isinstance(source, Grid) or isinstance(target, Grid):
        if a is not None or b is not None:
            raise ValueError(
                f"{PREFIX} `a` and `b` are the weights of point clouds; a grid's masses are "
                "its densities."
            )
        if isinstance(source, PointCloud) or isinstance(target, PointCloud):
            raise TypeError(f"{PREFIX} `spacing` is for densities on a grid, not PointClouds.")
        da, db, cells = _grids(source, target, spacing)
        frames = _interpolate_grids(da, db, times, cells, blur, debias, tol, max_iter)
    else:
        frames = _interpolate_clouds(source, target, a, b, times, blur, max_iter)
    return frames[0] if single else torch.stack(frames)
