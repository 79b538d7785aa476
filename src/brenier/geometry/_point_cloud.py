"""Weighted point clouds: the measures :math:`\\sum_i a_i \\delta_{x_i}` on free points."""

from __future__ import annotations

from dataclasses import dataclass, field

from torch import Tensor

from .._validation import check_points, check_same_context, check_weights


@dataclass(frozen=True, init=False)
class PointCloud:
    """A point cloud with weights: (N, D) points or a batch (B, N, D).

    Args:
        points: (N, D) or (B, N, D) floating-point coordinates, finite.
        weights: (N,) or (B, N) non-negative masses with a positive total; default
            uniform 1/N.

    Attributes:
        points: the points in batched form, (B, N, D).
        weights: the weights in batched form, (B, N).
        batched: whether ``points`` had a batch dimension.

    Example:
        >>> import torch
        >>> from brenier.geometry import PointCloud
        >>> cloud = PointCloud(torch.zeros(4, 3))
        >>> tuple(cloud.points.shape), cloud.weights.sum().item(), cloud.batched
        ((1, 4, 3), 1.0, False)
    """

    points: Tensor
    weights: Tensor
    batched: bool = field(default=False)

    def __init__(self, points: Tensor, weights: Tensor | None = None, *, name: str = "x"):
        batched = isinstance(points, Tensor) and points.dim() == 3
        named = {name: points}
        if weights is not None:
            named[f"{name} weights"] = weights
        xb = check_points(name, points)
        if weights is not None:
            check_same_context(named)
        wb = check_weights(f"{name} weights", weights, xb, name)
        self._set(xb, wb, batched)

    def _set(self, points: Tensor, weights: Tensor, batched: bool) -> None:
        object.__setattr__(self, "points", points)
        object.__setattr__(self, "weights", weights)
        object.__setattr__(self, "batched", batched)

    @classmethod
    def trusted(cls, points: Tensor, weights: Tensor, batched: bool = True) -> PointCloud:
        """A cloud from already checked, batched tensors (no validation, no copy)."""
        cloud = cls.__new__(cls)
        cloud._set(points, weights, batched)
        return cloud

    @property
    def support(self) -> Tensor:
        return self.points

    @property
    def dim(self) -> int:
        return int(self.points.shape[-1])

    def detach(self) -> PointCloud:
        return PointCloud.trusted(self.points.detach(), self.weights.detach(), self.batched)

    def item(self, index: int) -> PointCloud:
        rows = slice(index, index + 1)
        return PointCloud.trusted(self.points[rows], self.weights[rows], batched=False)

    def __repr__(self) -> str:
        B, N, D = self.points.shape
        return f"PointCloud(B={B}, N={N}, D={D}, dtype={self.points.dtype}, batched={self.batched})"
