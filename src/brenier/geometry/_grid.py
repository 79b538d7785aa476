"""Regular grids: images and volumes as measures on the centres of their cells.

A density on a grid of shape :math:`(n_1, \\dots, n_D)` with spacing
:math:`(h_1, \\dots, h_D)` and origin :math:`o` is the measure
:math:`\\sum_{k} a_k \\delta_{o + k \\odot h}` over the multi-indices k of the cells.
Its structure is what makes grid OT fast: for :math:`C(x, y) = |x - y|^2/2` the Gibbs
kernel factorises along the axes, :math:`e^{-C/\\varepsilon} = \\prod_d
e^{-(x_d - y_d)^2/2\\varepsilon}`, so a softmin is D one-dimensional log-convolutions.
The reference kernel of this module's geometry is the dense one on the cell centres
(:attr:`Grid.support`); the separable grid kernel comes with the grid backend.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from .._validation import PREFIX, check_weights


def _per_axis(name: str, value: float | Sequence[float], dims: int) -> tuple[float, ...]:
    values = (value,) * dims if isinstance(value, (int, float)) else tuple(value)
    if len(values) != dims or not all(isinstance(v, (int, float)) for v in values):
        raise ValueError(
            f"{PREFIX} `{name}` must be a number or one number per axis ({dims}), got {value!r}."
        )
    return tuple(float(v) for v in values)


@dataclass(frozen=True, init=False)
class Grid:
    """Densities on a regular grid: an image (H, W) or a volume (D, H, W), batched or not.

    Args:
        densities: non-negative cell masses, of shape ``shape`` or ``(B, *shape)`` with
            ``batched=True``; normalised by nothing (the masses are the weights).
        spacing: the side of a cell, one number or one per axis (anisotropic voxels,
            e.g. ``(2.5, 0.7, 0.7)`` mm), in the units of ``blur``.
        origin: the centre of the first cell, one number or one per axis.
        batched: whether the first axis of ``densities`` is a batch axis.

    Attributes:
        shape: the grid's shape (n_1, ..., n_D).
        spacing, origin: per axis.
        weights: the densities flattened in C order, (B, n_1 ... n_D).
        batched: as given.

    Example:
        >>> import torch
        >>> from brenier.geometry import Grid
        >>> image = torch.zeros(4, 5); image[1, 2] = 1.0
        >>> grid = Grid(image, spacing=(2.0, 1.0))
        >>> grid.shape, tuple(grid.support.shape), grid.support[0, 7].tolist()
        ((4, 5), (1, 20, 2), [2.0, 2.0])
    """

    shape: tuple[int, ...]
    spacing: tuple[float, ...]
    origin: tuple[float, ...]
    weights: Tensor
    batched: bool

    def __init__(
        self,
        densities: Tensor,
        spacing: float | Sequence[float] = 1.0,
        origin: float | Sequence[float] = 0.0,
        *,
        batched: bool = False,
        name: str = "densities",
    ):
        if not isinstance(densities, Tensor):
            raise TypeError(
                f"{PREFIX} `{name}` must be a torch.Tensor of cell masses, got "
                f"{type(densities).__name__}."
            )
        shape = tuple(densities.shape[1:] if batched else densities.shape)
        if not 1 <= len(shape) <= 3 or min(shape, default=0) < 1:
            raise ValueError(
                f"{PREFIX} `{name}` has shape {tuple(densities.shape)}; expected an image "
                "(H, W), a volume (D, H, W) or a 1D profile (n,), with a leading batch axis "
                "when batched=True, and no empty axis."
            )
        flat = densities.reshape(densities.shape[0] if batched else 1, -1)
        centres = torch.zeros(flat.shape[0], flat.shape[1], 1, dtype=flat.dtype)
        weights = check_weights(name, flat, centres, "the grid")
        object.__setattr__(self, "shape", shape)
        object.__setattr__(self, "spacing", _per_axis("spacing", spacing, len(shape)))
        object.__setattr__(self, "origin", _per_axis("origin", origin, len(shape)))
        object.__setattr__(self, "weights", weights)
        object.__setattr__(self, "batched", batched)
        if not all(0 < h < math.inf for h in self.spacing):
            raise ValueError(
                f"{PREFIX} `spacing` must be finite and > 0 on every axis, got {spacing!r}."
            )
        if not all(math.isfinite(o) for o in self.origin):
            raise ValueError(f"{PREFIX} `origin` must be finite on every axis, got {origin!r}.")

    @property
    def dim(self) -> int:
        return len(self.shape)

    @property
    def axes(self) -> list[Tensor]:
        """The cell-centre coordinates along each axis, (n_d,) each."""
        w = self.weights
        return [
            o + h * torch.arange(n, dtype=w.dtype, device=w.device)
            for n, h, o in zip(self.shape, self.spacing, self.origin, strict=True)
        ]

    @property
    def support(self) -> Tensor:
        """The cell centres in C order, (B, n_1 ... n_D, D)."""
        mesh = torch.meshgrid(*self.axes, indexing="ij")
        points = torch.stack([m.reshape(-1) for m in mesh], dim=-1)
        return points.unsqueeze(0).expand(self.weights.shape[0], -1, -1)

    def densities(self) -> Tensor:
        """The weights in the grid's shape: ``(*shape)`` or ``(B, *shape)``."""
        out = self.weights.reshape(-1, *self.shape)
        return out if self.batched else out[0]

    def detach(self) -> Grid:
        return self.with_weights(self.weights.detach())

    def item(self, index: int) -> Grid:
        return self.with_weights(self.weights[index : index + 1], batched=False)

    def coarsened(self, levels: int = 1) -> Grid:
        """The grid with cells 2^levels times larger along every axis, masses summed.

        An axis of odd length gets an empty cell at its end first; the coarse cell
        ``m`` has its centre at the mean of the fine centres it covers,
        ``origin + (2^levels m + (2^levels - 1)/2) h``.
        """
        if levels <= 0:
            return self
        k = 2**levels
        dense = self.weights.reshape(-1, 1, *self.shape)
        pad = [p for n in reversed(self.shape) for p in (0, (-n) % k)]
        dense = torch.nn.functional.pad(dense, pad)
        pool = (None, F.avg_pool1d, F.avg_pool2d, F.avg_pool3d)[self.dim]
        pooled = pool(dense, k) * k**self.dim  # type: ignore[misc]
        coarse = Grid.__new__(Grid)
        object.__setattr__(coarse, "shape", tuple(pooled.shape[2:]))
        object.__setattr__(coarse, "spacing", tuple(h * k for h in self.spacing))
        origin = (o + h * (k - 1) / 2 for o, h in zip(self.origin, self.spacing, strict=True))
        object.__setattr__(coarse, "origin", tuple(origin))
        object.__setattr__(coarse, "weights", pooled.reshape(self.weights.shape[0], -1))
        object.__setattr__(coarse, "batched", self.batched)
        return coarse

    def with_weights(self, weights: Tensor, batched: bool | None = None) -> Grid:
        """The same grid with other (B, n) weights (trusted, not validated)."""
        grid = Grid.__new__(Grid)
        for name in ("shape", "spacing", "origin"):
            object.__setattr__(grid, name, getattr(self, name))
        object.__setattr__(grid, "weights", weights)
        object.__setattr__(grid, "batched", self.batched if batched is None else batched)
        return grid
