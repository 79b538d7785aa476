"""The one protocol of a measure's geometry: where its mass sits, and how much.

A discrete measure :math:`\\alpha = \\sum_i a_i \\delta_{x_i}` is a *geometry* (the
support :math:`x_i`, with its structure: a free point cloud, or the cells of a regular
grid) and its weights :math:`a_i`. The solvers only ever see the flattened weights
(B, n); the kernels see the geometry, and may use its structure (a grid kernel is
separable along its axes; a cloud kernel is not). OTT-JAX splits its ``Geometry`` and
its solvers the same way.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import torch
from torch import Tensor


@runtime_checkable
class Geometry(Protocol):
    """A batch of B discrete measures of n atoms each, in dimension D.

    Attributes:
        weights: (B, n) non-negative masses of the atoms, flattened in C order.
        batched: whether the user gave a batch dimension (outputs keep that form).
    """

    @property
    def weights(self) -> Tensor: ...

    @property
    def batched(self) -> bool: ...

    @property
    def support(self) -> Tensor:
        """The positions of the atoms, (B, n, D): the input of a point-cloud kernel."""
        ...

    @property
    def dim(self) -> int:
        """The dimension D of the ambient space."""
        ...

    def detach(self) -> Geometry:
        """The same geometry with its tensors detached from autograd."""
        ...

    def item(self, index: int) -> Geometry:
        """Batch item ``index`` as an unbatched geometry (a view, batch dimension 1)."""
        ...


def bounding_diameter(*geometries: Geometry) -> float:
    """Diagonal of the bounding box of all supports: an upper bound on |x_i - y_j|."""
    with torch.no_grad():
        lo = torch.stack([g.support.amin(dim=(0, 1)) for g in geometries]).amin(0)
        hi = torch.stack([g.support.amax(dim=(0, 1)) for g in geometries]).amax(0)
        return float((hi - lo).norm())
