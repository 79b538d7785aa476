"""Validation of the Sinkhorn entry points' inputs: measures and loop options."""

from __future__ import annotations

from torch import Tensor

from .._validation import PREFIX, check_measures, check_positive, check_same_context
from ..geometry import Geometry, PointCloud
from ._stages import Callback, LoopOptions


def measures_of(
    x: Tensor | Geometry, y: Tensor | Geometry, a: Tensor | None, b: Tensor | None
) -> tuple[Geometry, Geometry]:
    """Two geometries from tensors (validated here) or from geometries (validated when
    built); a geometry carries its own weights, so ``a``/``b`` must then be ``None``."""
    if isinstance(x, Tensor) and isinstance(y, Tensor):
        m = check_measures(x, y, a, b)
        return PointCloud.trusted(m.x, m.a, m.batched), PointCloud.trusted(m.y, m.b, m.batched)
    for name, t in (("x", x), ("y", y)):
        if not isinstance(t, (Tensor, Geometry)):
            raise TypeError(
                f"{PREFIX} `{name}` must be a torch.Tensor of points or a geometry "
                f"(PointCloud, Grid), got {type(t).__name__}."
            )
    if isinstance(x, Tensor) or isinstance(y, Tensor):
        raise TypeError(
            f"{PREFIX} `x` is a {type(x).__name__} and `y` a {type(y).__name__}: pass two "
            "tensors of points, or two geometries (PointCloud, Grid)."
        )
    if a is not None or b is not None:
        raise ValueError(
            f"{PREFIX} `a`/`b` were given with geometries, which carry their own weights: "
            "pass the weights to PointCloud(points, weights) or Grid(densities)."
        )
    check_same_context({"x": x.support, "y": y.support})
    if x.dim != y.dim or x.weights.shape[0] != y.weights.shape[0] or x.batched != y.batched:
        raise ValueError(
            f"{PREFIX} the measures differ in dimension ({x.dim} vs {y.dim}), batch size "
            f"({x.weights.shape[0]} vs {y.weights.shape[0]}) or batching ({x.batched} vs "
            f"{y.batched}); both must live in one space with one batch."
        )
    return x, y


def check_loop_options(
    tol: float | None, max_iter: int, relaxation: float, anderson: int, callback: Callback | None
) -> LoopOptions:
    if tol is not None:
        tol = check_positive("tol", tol)
    if not isinstance(max_iter, int) or isinstance(max_iter, bool) or max_iter < 1:
        raise ValueError(f"{PREFIX} `max_iter` must be a positive integer, got {max_iter!r}.")
    if not isinstance(relaxation, (int, float)) or not 1 <= relaxation < 2:
        raise ValueError(f"{PREFIX} `relaxation` must lie in [1, 2), got {relaxation!r}.")
    if not isinstance(anderson, int) or isinstance(anderson, bool) or anderson < 0:
        raise ValueError(
            f"{PREFIX} `anderson` must be a non-negative integer (0 turns the acceleration "
            f"off), got {anderson!r}."
        )
    if callback is not None and not callable(callback):
        raise TypeError(f"{PREFIX} `callback` must be callable, got {type(callback).__name__}.")
    return LoopOptions(tol, max_iter, float(relaxation), anderson, callback)
