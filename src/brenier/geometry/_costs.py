"""Ground costs between points.

Conventions (GeomLoss / OTT): ``p = 2`` is :math:`C(x, y) = \\tfrac{1}{2}|x - y|^2`,
``p = 1`` is :math:`C(x, y) = |x - y|`; any other cost is a user callable that
returns the (B, N, M) cost matrix, and then only the dense kernel can use it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from .._validation import PREFIX

CostFunction = Callable[[Tensor, Tensor], Tensor]


@dataclass(frozen=True)
class Cost:
    """A ground cost: a power ``p`` of the Euclidean distance, or a callable.

    Attributes:
        p: 1 or 2 for the built-in costs, ``None`` for a custom callable.
        function: the custom callable ``(x (B,N,D), y (B,M,D)) -> (B,N,M)``, or ``None``.
    """

    p: int | None
    function: CostFunction | None = None

    @property
    def name(self) -> str:
        if self.function is not None:
            return getattr(self.function, "__name__", "custom")
        return "|x-y|^2/2" if self.p == 2 else "|x-y|"

    @property
    def exponent(self) -> int:
        """The homogeneity degree used for eps = blur^p (2 for custom costs)."""
        return 2 if self.p is None else self.p

    def matrix(self, x: Tensor, y: Tensor) -> Tensor:
        """The dense cost matrix, shape (B, N, M), differentiable wrt. both arguments."""
        if self.function is not None:
            C = self.function(x, y)
            if not isinstance(C, Tensor) or C.shape != (*x.shape[:-1], y.shape[-2]):
                shape = getattr(C, "shape", type(C).__name__)
                raise ValueError(
                    f"{PREFIX} the custom cost returned {shape}; expected a tensor of shape "
                    f"{(*x.shape[:-1], y.shape[-2])} for x {tuple(x.shape)} and y {tuple(y.shape)}."
                )
            return C
        if self.p == 2:
            return squared_distances(x, y) / 2
        # |x - y| from the differences, not from the matmul form of squared_distances:
        # near 0 the latter's rounding (finfo.eps |x|^2) becomes sqrt(finfo.eps) |x| under
        # the square root, 3e-4 |x| in float32 (sweep seed 7655: duplicate points, a plan
        # off by 8e-4 while the loop saw 1e-7). torch's backward is 0 where x_i = y_j.
        return torch.cdist(x, y, compute_mode="donot_use_mm_for_euclid_dist")


def squared_distances(x: Tensor, y: Tensor) -> Tensor:
    """:math:`|x_i - y_j|^2` for (B, N, D) and (B, M, D) inputs, as a (B, N, M) tensor."""
    if x.shape[-1] == 1:  # exact, and as cheap as the matmul form in 1D
        return (x - y.transpose(-1, -2)) ** 2
    x2 = (x * x).sum(-1, keepdim=True)
    y2 = (y * y).sum(-1, keepdim=True).transpose(-1, -2)
    return (x2 + y2 - 2 * x @ y.transpose(-1, -2)).clamp_min(0)


def make_cost(p: int | None = 2, cost: CostFunction | None = None) -> Cost:
    """Validates the cost arguments of the public API and builds a :class:`Cost`."""
    if cost is not None:
        if not callable(cost):
            raise TypeError(
                f"{PREFIX} `cost` must be a callable (x, y) -> (B, N, M) tensor, got "
                f"{type(cost).__name__}."
            )
        return Cost(p=None, function=cost)
    if p not in (1, 2) or isinstance(p, bool):
        raise ValueError(
            f"{PREFIX} `p` must be 1 (|x-y|) or 2 (|x-y|^2/2), got {p!r}. For another cost, "
            "pass `cost=callable` returning the (B, N, M) cost matrix."
        )
    return Cost(p=int(p))


def diameter(x: Tensor, y: Tensor) -> float:
    """Diagonal of the bounding box of both (B, N, D) clouds: an upper bound on |x_i - y_j|."""
    with torch.no_grad():
        lo = torch.minimum(x.amin(dim=(0, 1)), y.amin(dim=(0, 1)))
        hi = torch.maximum(x.amax(dim=(0, 1)), y.amax(dim=(0, 1)))
        return float((hi - lo).norm())
